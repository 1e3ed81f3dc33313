using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Models;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Faces;

/// <summary>
/// The ONNX detector adapter, run by the real ONNX Runtime on a tiny detector graph written with the library's <see cref="OnnxGraph"/>:
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

        // Two candidates on nearly the same place: NMS keeps the better scoring one only, unless its threshold is above
        // their overlap. Left half white (score 1), right half grey (score ≈ 0.6): the first box wins.
        string overlapping = Path.Combine(_dir, "overlap.onnx");
        File.WriteAllBytes(overlapping, TinyDetector(32, 32, scoresAsPairs: true, overlapping: true));
        var halves = new RgbImage(100, 100);
        for (int y = 0; y < 100; y++)
            for (int x = 0; x < 100; x++)
                for (int c = 0; c < 3; c++) halves.Pixels[(y * 100 + x) * 3 + c] = (byte)(x < 50 ? 255 : 153);
        using (var nms = new OnnxFaceDetector(new OnnxDetectorOptions { ModelPath = overlapping, ScoreThreshold = 0.3f, NmsIoU = 0.5f }))
        {
            var kept = Assert.Single(nms.Detect(halves));
            Assert.InRange(kept.Score, 0.95f, 1f);
            Assert.InRange(kept.CenterX, 24, 26); // the first box, x 5–45
        }
        using (var loose = new OnnxFaceDetector(new OnnxDetectorOptions { ModelPath = overlapping, ScoreThreshold = 0.3f, NmsIoU = 0.9f }))
            Assert.Equal(2, loose.Detect(halves).Count);
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

    // ---- a tiny detector graph, written with the library's own ONNX writer ----

    private static byte[] TinyDetector(int w, int h, bool scoresAsPairs, bool withBoxes = true, bool overlapping = false)
    {
        var g = new OnnxGraph { Name = "tiny-detector" };
        g.Input("input", 1, 3, h, w);
        // Left and right halves of the input: Slice along the width axis, then the mean over C, H, W.
        g.Initializer("starts_l", [0L], 1); g.Initializer("ends_l", [(long)(w / 2)], 1);
        g.Initializer("starts_r", [(long)(w / 2)], 1); g.Initializer("ends_r", [(long)w], 1);
        g.Initializer("axis3", [3L], 1);
        g.Node("Slice", ["input", "starts_l", "ends_l", "axis3"], "left");
        g.Node("Slice", ["input", "starts_r", "ends_r", "axis3"], "right");
        g.Node("ReduceMean", ["left"], "mean_l", ("axes", new long[] { 0, 1, 2, 3 }), ("keepdims", 0L));
        g.Node("ReduceMean", ["right"], "mean_r", ("axes", new long[] { 0, 1, 2, 3 }), ("keepdims", 0L));
        g.Initializer("shape1", [1L], 1);
        g.Node("Reshape", ["mean_l", "shape1"], "s_l");
        g.Node("Reshape", ["mean_r", "shape1"], "s_r");
        long?[] scoreDims;
        if (scoresAsPairs)
        {
            // (background, face) = (1 − s, s), shape [1, 2, 2]
            g.Initializer("one", [1f], 1);
            g.Node("Concat", ["s_l", "s_r"], "face2", ("axis", 0L));
            g.Node("Sub", ["one", "face2"], "bg2");
            g.Initializer("shape21", [2L, 1L], 2);
            g.Node("Reshape", ["face2", "shape21"], "face21");
            g.Node("Reshape", ["bg2", "shape21"], "bg21");
            g.Node("Concat", ["bg21", "face21"], "pairs", ("axis", 1L));
            g.Initializer("shape122", [1L, 2L, 2L], 3);
            g.Node("Reshape", ["pairs", "shape122"], "scores");
            scoreDims = [1, 2, 2];
        }
        else
        {
            g.Node("Concat", ["s_l", "s_r"], "scores", ("axis", 0L));
            scoreDims = [2];
        }
        // Two candidate boxes, scored by the left and the right half: apart, or nearly the same box (IoU ≈ 0.78).
        g.Initializer("box_const", overlapping ? [0.05f, 0.2f, 0.45f, 0.8f, 0.10f, 0.2f, 0.50f, 0.8f] : [0.05f, 0.2f, 0.45f, 0.8f, 0.55f, 0.2f, 0.95f, 0.8f], 1, 2, 4);
        g.Node("Identity", ["box_const"], "boxes");
        if (withBoxes) g.Output("boxes", 1, 2, 4);
        g.Output("scores", scoreDims);
        return g.ToModelBytes();
    }
}
