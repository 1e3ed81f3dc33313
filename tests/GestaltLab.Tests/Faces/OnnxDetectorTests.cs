using System.Text;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Faces;

/// <summary>
/// The ONNX detector adapter, run by the real ONNX Runtime on a tiny detector written here as raw protobuf bytes:
/// input [1,3,H,W]; two fixed candidate boxes; scores = the mean brightness of the left / right half of the input.
/// </summary>
public sealed class OnnxDetectorTests : IDisposable
{
    private readonly string _dir = FacesFixture.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void DetectorFollowsTheContract()
    {
        string model = Path.Combine(_dir, "tiny-detector.onnx");
        File.WriteAllBytes(model, TinyDetector(64, 32, scoresAsPairs: false));
        using var det = new OnnxFaceDetector(new OnnxDetectorOptions { ModelPath = model, ScoreThreshold = 0.5f });
        Assert.Equal((64, 32), det.InputSize);

        // Bright left half, dark right half: only the left candidate box (x 0.05–0.45) passes.
        var img = new RgbImage(200, 100);
        for (int y = 0; y < 100; y++)
            for (int x = 0; x < 100; x++)
                img.Pixels[(y * 200 + x) * 3] = img.Pixels[(y * 200 + x) * 3 + 1] = img.Pixels[(y * 200 + x) * 3 + 2] = 255;
        var boxes = det.Detect(img);
        var box = Assert.Single(boxes);
        Assert.InRange(box.Score, 0.95f, 1f);
        // Box (0.05, 0.2)-(0.45, 0.8) of 200×100 → x 10–90, y 20–80; the identity calibration makes it a square of side 80.
        Assert.InRange(box.CenterX, 49, 51);
        Assert.InRange(box.CenterY, 49, 51);
        Assert.Equal(80, box.Width);
        Assert.Equal(80, box.Height);

        Assert.Empty(det.Detect(new RgbImage(200, 100))); // dark everywhere: nothing scores 0.5
    }

    [Fact]
    public void UltraFaceStyleScorePairsAndNmsWork()
    {
        string model = Path.Combine(_dir, "pairs.onnx");
        File.WriteAllBytes(model, TinyDetector(32, 32, scoresAsPairs: true));
        using var det = new OnnxFaceDetector(new OnnxDetectorOptions { ModelPath = model, ScoreThreshold = 0.3f, NmsIoU = 0.0f });
        var white = new RgbImage(100, 100);
        Array.Fill(white.Pixels, (byte)255);
        // Both candidates score 1 (as "face" in the second column), they do not overlap, so both survive NMS at IoU 0.
        Assert.Equal(2, det.Detect(white).Count);
    }

    [Fact]
    public void ModelsThatBreakTheContractAreRejected()
    {
        string notOnnx = Path.Combine(_dir, "notes.onnx");
        File.WriteAllText(notOnnx, "not a model");
        var e = Assert.Throws<GestaltLabException>(() => new OnnxFaceDetector(new OnnxDetectorOptions { ModelPath = notOnnx }));
        Assert.Contains("not a valid ONNX model", e.Message);

        string oneOutput = Path.Combine(_dir, "one-output.onnx");
        File.WriteAllBytes(oneOutput, TinyDetector(32, 32, scoresAsPairs: false, withBoxes: false));
        var c = Assert.Throws<GestaltLabException>(() => new OnnxFaceDetector(new OnnxDetectorOptions { ModelPath = oneOutput }));
        Assert.Contains("contract", c.Message);

        Assert.Contains("not found", Assert.Throws<GestaltLabException>(() => new OnnxFaceDetector(new OnnxDetectorOptions { ModelPath = Path.Combine(_dir, "none.onnx") })).Message);
    }

    // ---- a minimal ONNX writer (protobuf wire format) ----

    private static byte[] TinyDetector(int w, int h, bool scoresAsPairs, bool withBoxes = true)
    {
        var nodes = new List<byte[]>();
        var inits = new List<byte[]>();
        // Left and right halves of the input: Slice along the width axis, then the mean over C, H, W.
        inits.Add(TensorInt64("starts_l", [0])); inits.Add(TensorInt64("ends_l", [w / 2]));
        inits.Add(TensorInt64("starts_r", [w / 2])); inits.Add(TensorInt64("ends_r", [w]));
        inits.Add(TensorInt64("axis3", [3]));
        nodes.Add(Node("Slice", ["input", "starts_l", "ends_l", "axis3"], ["left"]));
        nodes.Add(Node("Slice", ["input", "starts_r", "ends_r", "axis3"], ["right"]));
        nodes.Add(Node("ReduceMean", ["left"], ["mean_l"], IntsAttr("axes", [0, 1, 2, 3]), IntAttr("keepdims", 0)));
        nodes.Add(Node("ReduceMean", ["right"], ["mean_r"], IntsAttr("axes", [0, 1, 2, 3]), IntAttr("keepdims", 0)));
        inits.Add(TensorInt64("shape1", [1]));
        nodes.Add(Node("Reshape", ["mean_l", "shape1"], ["s_l"]));
        nodes.Add(Node("Reshape", ["mean_r", "shape1"], ["s_r"]));
        long[] scoreDims;
        if (scoresAsPairs)
        {
            // (background, face) = (1 − s, s), shape [1, 2, 2]
            inits.Add(TensorFloat("one", [1], [1f]));
            nodes.Add(Node("Concat", ["s_l", "s_r"], ["face2"], IntAttr("axis", 0)));
            nodes.Add(Node("Sub", ["one", "face2"], ["bg2"]));
            inits.Add(TensorInt64("shape21", [2, 1]));
            nodes.Add(Node("Reshape", ["face2", "shape21"], ["face21"]));
            nodes.Add(Node("Reshape", ["bg2", "shape21"], ["bg21"]));
            nodes.Add(Node("Concat", ["bg21", "face21"], ["pairs"], IntAttr("axis", 1)));
            inits.Add(TensorInt64("shape122", [1, 2, 2]));
            nodes.Add(Node("Reshape", ["pairs", "shape122"], ["scores"]));
            scoreDims = [1, 2, 2];
        }
        else
        {
            nodes.Add(Node("Concat", ["s_l", "s_r"], ["scores"], IntAttr("axis", 0)));
            scoreDims = [2];
        }
        inits.Add(TensorFloat("box_const", [1, 2, 4], [0.05f, 0.2f, 0.45f, 0.8f, 0.55f, 0.2f, 0.95f, 0.8f]));
        nodes.Add(Node("Identity", ["box_const"], ["boxes"]));

        var graph = new List<byte>();
        foreach (var n in nodes) graph.AddRange(Field(1, n));
        graph.AddRange(Field(2, "tiny-detector"u8.ToArray()));
        foreach (var t in inits) graph.AddRange(Field(5, t));
        graph.AddRange(Field(11, ValueInfo("input", [1, 3, h, w])));
        if (withBoxes) graph.AddRange(Field(12, ValueInfo("boxes", [1, 2, 4])));
        graph.AddRange(Field(12, ValueInfo("scores", scoreDims)));

        var model = new List<byte>();
        model.AddRange(Varint(1, 7));                                  // ir_version
        model.AddRange(Field(2, "gestaltlab-test"u8.ToArray()));         // producer_name
        model.AddRange(Field(7, graph.ToArray()));                      // graph
        model.AddRange(Field(8, [.. Field(1, []), .. Varint(2, 13)]));  // opset_import: "" v13
        return model.ToArray();
    }

    private static byte[] Node(string op, string[] inputs, string[] outputs, params byte[][] attributes)
    {
        var b = new List<byte>();
        foreach (var i in inputs) b.AddRange(Field(1, Encoding.UTF8.GetBytes(i)));
        foreach (var o in outputs) b.AddRange(Field(2, Encoding.UTF8.GetBytes(o)));
        b.AddRange(Field(4, Encoding.UTF8.GetBytes(op)));
        foreach (var a in attributes) b.AddRange(Field(5, a));
        return b.ToArray();
    }

    private static byte[] IntAttr(string name, long v) => [.. Field(1, Encoding.UTF8.GetBytes(name)), .. Varint(3, (ulong)v), .. Varint(20, 2)];

    private static byte[] IntsAttr(string name, long[] v)
    {
        var b = new List<byte>(Field(1, Encoding.UTF8.GetBytes(name)));
        foreach (var x in v) b.AddRange(Varint(8, (ulong)x));
        b.AddRange(Varint(20, 7));
        return b.ToArray();
    }

    private static byte[] TensorFloat(string name, long[] dims, float[] values)
    {
        var b = new List<byte>();
        foreach (var d in dims) b.AddRange(Varint(1, (ulong)d));
        b.AddRange(Varint(2, 1)); // FLOAT
        b.AddRange(Field(8, Encoding.UTF8.GetBytes(name)));
        b.AddRange(Field(9, values.SelectMany(BitConverter.GetBytes).ToArray()));
        return b.ToArray();
    }

    private static byte[] TensorInt64(string name, long[] values) => TensorInt64(name, [values.Length], values);

    private static byte[] TensorInt64(string name, long[] dims, long[] values)
    {
        var b = new List<byte>();
        foreach (var d in dims) b.AddRange(Varint(1, (ulong)d));
        b.AddRange(Varint(2, 7)); // INT64
        b.AddRange(Field(8, Encoding.UTF8.GetBytes(name)));
        b.AddRange(Field(9, values.SelectMany(BitConverter.GetBytes).ToArray()));
        return b.ToArray();
    }

    private static byte[] ValueInfo(string name, long[] dims)
    {
        var shape = new List<byte>();
        foreach (var d in dims) shape.AddRange(Field(1, Varint(1, (ulong)d)));
        byte[] tensorType = [.. Varint(1, 1), .. Field(2, shape.ToArray())];
        return [.. Field(1, Encoding.UTF8.GetBytes(name)), .. Field(2, Field(1, tensorType))];
    }

    private static byte[] Varint(int field, ulong value) => [.. RawVarint((ulong)(field << 3)), .. RawVarint(value)];

    private static byte[] Field(int field, byte[] payload) => [.. RawVarint((ulong)((field << 3) | 2)), .. RawVarint((ulong)payload.Length), .. payload];

    private static byte[] RawVarint(ulong v)
    {
        var b = new List<byte>();
        do
        {
            byte x = (byte)(v & 0x7F);
            v >>= 7;
            if (v != 0) x |= 0x80;
            b.Add(x);
        } while (v != 0);
        return b.ToArray();
    }
}
