using GestaltLab.Data;
using GestaltLab.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenCvSharp;

namespace GestaltLab.Faces;

/// <summary>Settings of <see cref="OnnxFaceDetector"/> (see its contract).</summary>
public sealed record OnnxDetectorOptions
{
    /// <summary>The ONNX model file (required).</summary>
    public required string ModelPath { get; init; }
    /// <summary>Input width when the model's input has a dynamic width.</summary>
    public int InputWidth { get; init; } = 320;
    /// <summary>Input height when the model's input has a dynamic height.</summary>
    public int InputHeight { get; init; } = 240;
    /// <summary>Per-channel mean subtracted from pixel values scaled to [0, 1] (RGB order).</summary>
    public float[] Mean { get; init; } = [0f, 0f, 0f];
    /// <summary>Per-channel divisor applied after the mean (RGB order).</summary>
    public float[] Std { get; init; } = [1f, 1f, 1f];
    /// <summary>Feed channels as BGR instead of RGB.</summary>
    public bool Bgr { get; init; }
    /// <summary>Keep detections scoring at least this.</summary>
    public float ScoreThreshold { get; init; } = 0.7f;
    /// <summary>Non-maximum suppression: drop a box overlapping a better one by more than this IoU.</summary>
    public float NmsIoU { get; init; } = 0.4f;
    /// <summary>Name of the boxes output (default: the output named "boxes", else the first).</summary>
    public string? BoxesOutput { get; init; }
    /// <summary>Name of the scores output (default: the output named "scores", else the second).</summary>
    public string? ScoresOutput { get; init; }
    /// <summary>Raw box → dlib box mapping; fit one for your model (the default only makes the box square).</summary>
    public BoxCalibration Calibration { get; init; } = BoxCalibration.Identity;
}

/// <summary>
/// Runs a user-supplied ONNX face detector through ONNX Runtime (CPU). Contract:
/// <list type="bullet">
/// <item>one float32 input, NCHW <c>[1, 3, H, W]</c>: the photo resized (stretched) to W×H, RGB (or BGR with
/// <see cref="OnnxDetectorOptions.Bgr"/>), value = (pixel/255 − mean) / std;</item>
/// <item>output <c>boxes</c>: float32 <c>[N, 4]</c> or <c>[1, N, 4]</c>, corners x1, y1, x2, y2 relative to the input
/// (0–1);</item>
/// <item>output <c>scores</c>: float32 <c>[N]</c>, <c>[1, N]</c>, or <c>[1, N, 2]</c> / <c>[N, 2]</c> as
/// (background, face) — the layout of the common UltraFace (version-RFB-320) models.</item>
/// </list>
/// Boxes scoring below the threshold are dropped, the rest pass non-maximum suppression, are mapped to photo pixels
/// and then through <see cref="OnnxDetectorOptions.Calibration"/> into dlib's box convention. Thread-safe (ONNX Runtime
/// sessions may run concurrently).
/// </summary>
public sealed class OnnxFaceDetector : IFaceDetector, IDisposable
{
    private readonly OnnxDetectorOptions _options;
    private readonly InferenceSession _session;
    private readonly string _input, _boxes, _scores;
    private readonly int _width, _height;

    /// <summary>Loads the model and checks it against the contract.</summary>
    /// <exception cref="GestaltLabException">Missing file, not an ONNX model, or inputs/outputs that break the contract.</exception>
    public OnnxFaceDetector(OnnxDetectorOptions options)
    {
        _options = options;
        string path = options.ModelPath;
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: ONNX detector model not found", "check the path");
        try
        {
            _session = new InferenceSession(path, new SessionOptions { IntraOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR });
        }
        catch (OnnxRuntimeException e)
        {
            throw new GestaltLabException($"{path}: not a valid ONNX model ({e.Message.Split('\n')[0]})", "pass an ONNX face detector exported with opset ≥ 7", e);
        }
        if (_session.InputMetadata.Count != 1)
            throw Contract($"it has {_session.InputMetadata.Count} inputs, the contract is one [1,3,H,W] image tensor");
        var (inName, inMeta) = _session.InputMetadata.First();
        if (inMeta.ElementType != typeof(float) || inMeta.Dimensions.Length != 4 || (inMeta.Dimensions[1] != 3 && inMeta.Dimensions[1] > 0))
            throw Contract($"input '{inName}' is {inMeta.ElementType.Name}[{string.Join(",", inMeta.Dimensions)}], the contract is float[1,3,H,W]");
        _input = inName;
        _height = inMeta.Dimensions[2] > 0 ? inMeta.Dimensions[2] : options.InputHeight;
        _width = inMeta.Dimensions[3] > 0 ? inMeta.Dimensions[3] : options.InputWidth;
        var outs = _session.OutputMetadata.Keys.ToList();
        if (outs.Count < 2) throw Contract($"it has {outs.Count} output(s), the contract is 'boxes' and 'scores'");
        _boxes = options.BoxesOutput ?? (outs.Contains("boxes") ? "boxes" : outs[0]);
        _scores = options.ScoresOutput ?? (outs.Contains("scores") ? "scores" : outs.First(o => o != _boxes));
        foreach (var o in new[] { _boxes, _scores })
            if (!outs.Contains(o)) throw Contract($"it has no output '{o}' (outputs: {string.Join(", ", outs)})");
    }

    private GestaltLabException Contract(string problem) => new($"{_options.ModelPath}: this ONNX model does not fit the face detector contract: {problem}",
        "see OnnxFaceDetector's contract in docs/faces.md");

    /// <inheritdoc />
    public string Name => "onnx";

    /// <summary>Input size the model is fed (W, H).</summary>
    public (int Width, int Height) InputSize => (_width, _height);

    /// <inheritdoc />
    public IReadOnlyList<FaceBox> Detect(RgbImage image)
    {
        var tensor = new DenseTensor<float>([1, 3, _height, _width]);
        using (var src = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC3, image.Pixels))
        using (var resized = new Mat())
        {
            Cv2.Resize(src, resized, new Size(_width, _height), 0, 0, InterpolationFlags.Linear);
            var px = new byte[_width * _height * 3];
            System.Runtime.InteropServices.Marshal.Copy(resized.Data, px, 0, px.Length);
            var span = tensor.Buffer.Span;
            int plane = _width * _height;
            for (int c = 0; c < 3; c++)
            {
                int sc = _options.Bgr ? 2 - c : c;
                float mean = _options.Mean[c], std = _options.Std[c];
                for (int i = 0; i < plane; i++) span[c * plane + i] = (px[3 * i + sc] / 255f - mean) / std;
            }
        }

        using var results = _session.Run([NamedOnnxValue.CreateFromTensor(_input, tensor)], [_boxes, _scores]);
        var boxes = results.First(r => r.Name == _boxes).AsTensor<float>();
        var scores = results.First(r => r.Name == _scores).AsTensor<float>();
        var b = boxes.ToArray();
        var s = scores.ToArray();
        int n = b.Length / 4;
        if (b.Length % 4 != 0 || n == 0 && s.Length != 0)
            throw Contract($"output '{_boxes}' has shape [{string.Join(",", boxes.Dimensions.ToArray())}], expected [N,4] or [1,N,4]");
        int perBox = s.Length == n ? 1 : s.Length == 2 * n ? 2 : throw Contract(
            $"output '{_scores}' has {s.Length} values for {n} boxes, expected N or 2N (background, face)");

        var candidates = new List<(float X1, float Y1, float X2, float Y2, float Score)>();
        for (int i = 0; i < n; i++)
        {
            float score = perBox == 1 ? s[i] : s[2 * i + 1];
            if (score < _options.ScoreThreshold) continue;
            candidates.Add((b[4 * i] * image.Width, b[4 * i + 1] * image.Height, b[4 * i + 2] * image.Width, b[4 * i + 3] * image.Height, score));
        }
        candidates.Sort((p, q) => q.Score.CompareTo(p.Score));
        var kept = new List<FaceBox>();
        var keptRaw = new List<FaceBox>();
        foreach (var c in candidates)
        {
            var raw = new FaceBox((int)MathF.Round(c.X1), (int)MathF.Round(c.Y1), (int)MathF.Round(c.X2) - 1, (int)MathF.Round(c.Y2) - 1, c.Score);
            if (raw.Width < 2 || raw.Height < 2) continue;
            if (keptRaw.Any(k => k.IoU(raw) > _options.NmsIoU)) continue;
            keptRaw.Add(raw);
            kept.Add(_options.Calibration.Apply(c.X1, c.Y1, c.X2 - c.X1, c.Y2 - c.Y1, c.Score));
        }
        return kept;
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
