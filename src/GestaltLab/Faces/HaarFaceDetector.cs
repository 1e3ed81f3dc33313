using GestaltLab.Data;
using GestaltLab.Runtime;
using OpenCvSharp;

namespace GestaltLab.Faces;

/// <summary>Settings of <see cref="HaarFaceDetector"/>.</summary>
public sealed record HaarOptions
{
    /// <summary>Cascade file; null = OpenCV's <c>haarcascade_frontalface_default.xml</c> from Debian <c>opencv-data</c>.</summary>
    public string? CascadePath { get; init; }
    /// <summary>Pyramid step between scales (OpenCV's scaleFactor).</summary>
    public double ScaleFactor { get; init; } = 1.1;
    /// <summary>Neighbouring detections needed to keep a face (OpenCV's minNeighbors).</summary>
    public int MinNeighbors { get; init; } = 5;
    /// <summary>Smallest face side as a fraction of the shorter image side.</summary>
    public double MinFaceFraction { get; init; } = 0.1;
    /// <summary>Smallest face side in pixels (floor for <see cref="MinFaceFraction"/>).</summary>
    public int MinFacePixels { get; init; } = 24;
    /// <summary>
    /// Coarse-to-fine search: first look only for faces at least this fraction of the shorter side (a quick pass, ≈ 7×
    /// fewer pixels in the cascade's pyramid at 0.25); only when it finds none is the full search down to
    /// <see cref="MinFaceFraction"/> run. The chosen face is the same either way (a competing face must be ≥ 80 % of the
    /// largest's area, so ≥ 0.89× its side); what is lost is the <c>multiple_faces</c> flag for small background faces
    /// beside a portrait-sized one. 0 (or ≤ <see cref="MinFaceFraction"/>) = always search fully.
    /// </summary>
    public double CoarseFaceFraction { get; init; } = 0.25;
    /// <summary>Photos whose longer side exceeds this are downscaled for detection (boxes are scaled back): a 12-megapixel
    /// photo is searched at ~640 px, where a portrait's face is still ≥ 100 px.</summary>
    public int MaxDetectionSide { get; init; } = 640;
    /// <summary>
    /// When no face is found, the photo is searched once more with a border of this fraction of its longer side on every
    /// side (filled with its mean gray), for faces at least <see cref="CoarseFaceFraction"/> of the shorter side whose
    /// window reaches past the photo's edge. The cascade's window is about a fifth larger than the face, so a face that
    /// fills a tightly cropped photo (common in clinical collections) or touches its edge is otherwise never found; found
    /// this way, its box may reach past the edge, which the pipeline reports as <c>low_quality</c> (cut off). 0 = no
    /// second search.
    /// </summary>
    public double EdgePadding { get; init; } = 0.25;
    /// <summary>Raw Haar box → dlib box mapping.</summary>
    public BoxCalibration Calibration { get; init; } = BoxCalibration.HaarFrontalDefault;
}

/// <summary>
/// OpenCV's Viola–Jones Haar cascade face detector. Boxes are calibrated to dlib's convention; the score is the
/// cascade's level weight (higher = more certain). Thread-safe: each thread gets its own cascade instance, since
/// OpenCV does not promise that one classifier may be used by two threads at once. Creating one sets OpenCV's own
/// worker pool to one thread for the whole process (<c>Cv2.SetNumThreads(1)</c>): GestaltLab runs photos in parallel
/// itself, and OpenCV's pool on top oversubscribes the cores. Code of yours that wants OpenCV's pool back can call
/// <c>Cv2.SetNumThreads</c> after creating the detector.
/// </summary>
public sealed class HaarFaceDetector : IFaceDetector, IDisposable
{
    private readonly HaarOptions _options;
    private readonly string _cascadePath;
    private readonly ThreadLocal<CascadeClassifier> _cascades;

    /// <summary>Loads the cascade (once per thread, lazily).</summary>
    /// <exception cref="GestaltLabException">The cascade file is missing or invalid.</exception>
    public HaarFaceDetector(HaarOptions? options = null)
    {
        _options = options ?? new HaarOptions();
        _cascadePath = _options.CascadePath ?? SystemResources.HaarCascadePath() ?? throw new GestaltLabException(
            "OpenCV's haarcascade_frontalface_default.xml was not found",
            $"install Debian package opencv-data (`bash environment/setup.sh`) or set {SystemResources.HaarFolderVariable}");
        if (!File.Exists(_cascadePath)) throw new GestaltLabException($"{_cascadePath}: Haar cascade file not found", "check the path");
        // The pipeline parallelises over photos itself; OpenCV's own worker pool on top of that oversubscribes the
        // cores and made detection ~2× slower in `gestaltlab bench faces`.
        Cv2.SetNumThreads(1);
        _cascades = new ThreadLocal<CascadeClassifier>(Create, trackAllValues: true);
        _ = _cascades.Value; // fail now, not on the first photo
    }

    private CascadeClassifier Create()
    {
        var c = new CascadeClassifier();
        if (!c.Load(_cascadePath) || c.Empty())
        {
            c.Dispose();
            throw new GestaltLabException($"{_cascadePath}: not a valid OpenCV cascade file", "reinstall Debian package opencv-data");
        }
        return c;
    }

    /// <inheritdoc />
    public string Name => "haar";

    /// <summary>The settings it searches with (recorded with an alignment: they decide which faces are found).</summary>
    public HaarOptions Options => _options;

    /// <summary>The calibration applied to raw boxes.</summary>
    public BoxCalibration Calibration => _options.Calibration;

    /// <inheritdoc />
    public IReadOnlyList<FaceBox> Detect(RgbImage image) =>
        DetectRaw(image).Select(r => _options.Calibration.Apply(r.X, r.Y, r.Width, r.Height, r.Score)).ToList();

    /// <summary>Raw OpenCV boxes (x, y, w, h) with scores, best first; used to fit <see cref="BoxCalibration"/>.</summary>
    public IReadOnlyList<(int X, int Y, int Width, int Height, float Score)> DetectRaw(RgbImage image)
    {
        // A strip a few pixels high (a panorama, a scanned margin) cannot hold a face; downscaled it could round to 0 px,
        // which OpenCV refuses with an exception instead of an empty answer.
        if (Math.Min(image.Width, image.Height) < _options.MinFacePixels) return [];
        using var full = image.ToGrayMat();
        double scale = Math.Min(1.0, (double)_options.MaxDetectionSide / Math.Max(image.Width, image.Height));
        // The guard only: the resize keeps OpenCV's own scale factors, so boxes map back by exactly 1 / scale.
        if (Math.Round(Math.Min(image.Width, image.Height) * scale) < _options.MinFacePixels) return [];
        using var gray = scale < 1 ? full.Resize(new Size(0, 0), scale, scale, InterpolationFlags.Area) : full.Clone();
        int shorter = Math.Min(gray.Width, gray.Height);
        int minSide = Math.Max(_options.MinFacePixels, (int)(_options.MinFaceFraction * shorter));
        int coarseSide = Math.Max(minSide, (int)(_options.CoarseFaceFraction * shorter));
        Rect[] rects = [];
        double[] weights = [];
        if (coarseSide > minSide) rects = Search(gray, coarseSide, out weights);
        if (rects.Length == 0) rects = Search(gray, minSide, out weights);
        int pad = 0;
        if (rects.Length == 0 && _options.EdgePadding > 0)
        {
            pad = (int)Math.Round(_options.EdgePadding * Math.Max(gray.Width, gray.Height));
            using var padded = new Mat();
            Cv2.CopyMakeBorder(gray, padded, pad, pad, pad, pad, BorderTypes.Constant, Cv2.Mean(gray));
            // Only what the first search could not see: a face large in the photo (a tight crop: the coarse pass's size)
            // whose window reaches past the photo's edge. A window wholly inside was searched already, and a second
            // look at texture (text, a checkerboard) would only add false faces.
            var found = Search(padded, Math.Max(coarseSide, minSide), out var w);
            var keep = Enumerable.Range(0, found.Length).Where(i =>
                found[i].X < pad || found[i].Y < pad || found[i].Right > pad + gray.Width || found[i].Bottom > pad + gray.Height).ToArray();
            rects = keep.Select(i => found[i]).ToArray();
            weights = keep.Select(i => i < w.Length ? w[i] : 1.0).ToArray();
        }
        var list = new List<(int, int, int, int, float)>(rects.Length);
        for (int i = 0; i < rects.Length; i++)
            list.Add(((int)Math.Round((rects[i].X - pad) / scale), (int)Math.Round((rects[i].Y - pad) / scale), (int)Math.Round(rects[i].Width / scale),
                (int)Math.Round(rects[i].Height / scale), i < weights.Length ? (float)weights[i] : 1f));
        list.Sort((a, b) => b.Item5.CompareTo(a.Item5));
        return list;
    }

    private Rect[] Search(Mat gray, int minSide, out double[] weights) =>
        _cascades.Value!.DetectMultiScale(gray, out _, out weights, _options.ScaleFactor, _options.MinNeighbors,
            HaarDetectionTypes.ScaleImage, new Size(minSide, minSide), default, outputRejectLevels: true);

    /// <summary>Releases every thread's cascade.</summary>
    public void Dispose()
    {
        foreach (var c in _cascades.Values) c.Dispose();
        _cascades.Dispose();
    }
}
