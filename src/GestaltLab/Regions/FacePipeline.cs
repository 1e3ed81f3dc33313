using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Runtime;

namespace GestaltLab.Regions;

/// <summary>
/// DeepGestalt's first half in one call: photo → face detection → 68 dlib landmarks → alignment to the canonical
/// template → region crops, with quality control. Thread-safe: one pipeline (and its shared ~70 MB landmark model) serves
/// all threads. Bad photos never throw: they come back with status <see cref="FaceStatus.Unreadable"/> and the reason.
/// </summary>
/// <example>
/// <code>
/// using var faces = new FacePipeline();
/// var r = faces.Process("photo.jpg");
/// if (r.HasFace) { float[] nose = r.RegionTensor("nose"); }   // CHW RGB in [0,1], 96×96 by default
/// </code>
/// </example>
public sealed class FacePipeline : IDisposable
{
    private readonly bool _ownsDetector;
    private IFaceDetector? _detector;
    private readonly object _detectorGate = new();

    /// <summary>A pipeline; the landmark model is loaded now (once per process), the detector on first use.</summary>
    /// <exception cref="GestaltLabException">The landmark model is missing or invalid.</exception>
    public FacePipeline(FacePipelineOptions? options = null)
    {
        Options = options ?? new FacePipelineOptions();
        Predictor = ShapePredictor.LoadShared(Options.ModelPath);
        if (Predictor.LandmarkCount != 68)
            throw new GestaltLabException($"{Predictor.Source}: the model predicts {Predictor.LandmarkCount} landmarks; alignment and regions need the 68-point model");
        Aligner = new FaceAligner(Options.AlignedSize, Options.Template);
        Cropper = new RegionCropper(Options.Regions, Aligner.Template);
        _detector = Options.Detector;
        _ownsDetector = Options.Detector is null;
    }

    /// <summary>The settings.</summary>
    public FacePipelineOptions Options { get; }
    /// <summary>The shared landmark model.</summary>
    public ShapePredictor Predictor { get; }
    /// <summary>The aligner.</summary>
    public FaceAligner Aligner { get; }
    /// <summary>The region cropper.</summary>
    public RegionCropper Cropper { get; }
    /// <summary>The region set in use.</summary>
    public RegionSet Regions => Cropper.Regions;

    /// <summary>The detector (created on first use).</summary>
    public IFaceDetector Detector
    {
        get
        {
            if (_detector is not null) return _detector;
            lock (_detectorGate) return _detector ??= new HaarFaceDetector();
        }
    }

    /// <summary>Reads a photo and processes it; an unreadable photo gives status <c>unreadable</c> (never throws for bad photos).</summary>
    public FaceResult Process(string imagePath)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        RgbImage image;
        try
        {
            image = ImageLoader.Load(imagePath, Options.MaxPixels);
        }
        catch (GestaltLabException e)
        {
            return new FaceResult { Source = imagePath, Status = FaceStatus.Unreadable, Problem = e.Message.Split('\n')[0] };
        }
        return Process(image, imagePath);
    }

    /// <summary>
    /// Detects faces, chooses one (largest, then most central), landmarks, aligns and crops it. A photo no step can work
    /// on (landmarks that collapse to a point, an image OpenCV refuses) gives a result with status <c>no_face</c> and
    /// the reason, never an exception: one photo must not stop a batch.
    /// </summary>
    public FaceResult Process(RgbImage image, string source = "image")
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            return ProcessChosen(image, source);
        }
        catch (Exception e) when (IsPhotoFailure(e))
        {
            return new FaceResult
            {
                Source = source, Status = FaceStatus.NoFace, Problem = $"face processing failed: {e.Message.Split('\n')[0]}", ProcessingFailed = true,
                ImageWidth = image.Width, ImageHeight = image.Height,
            };
        }
    }

    /// <summary>
    /// Whether <paramref name="e"/>, thrown while detecting, landmarking, aligning or cropping one photo, is that photo's
    /// problem (landmarks that collapse to a point, an image OpenCV refuses), to be reported with it, rather than a
    /// programming error (a disposed pipeline) that must stop the batch.
    /// </summary>
    public static bool IsPhotoFailure(Exception e) =>
        e is ArgumentException or InvalidOperationException or OpenCvSharp.OpenCVException && e is not ObjectDisposedException;

    private FaceResult ProcessChosen(RgbImage image, string source)
    {
        var boxes = Detector.Detect(image);
        if (boxes.Count == 0)
            return new FaceResult { Source = source, Status = FaceStatus.NoFace, Problem = $"{Detector.Name} detector found no face ({NoFaceHint(image)})", ImageWidth = image.Width, ImageHeight = image.Height };
        int chosen = FaceSelection.Choose(boxes, image.Width, image.Height);
        var result = Process(image, boxes[chosen], source);
        // A low-quality face stays low_quality (the status QC filters on), with the other faces named in its problem.
        if (boxes.Count > 1 && result.Status is FaceStatus.Ok or FaceStatus.LowQuality)
            result = result with
            {
                Status = result.Status == FaceStatus.Ok ? FaceStatus.MultipleFaces : FaceStatus.LowQuality,
                Problem = $"{boxes.Count} faces found; used the largest, most central one {boxes[chosen]}" + (result.Problem is null ? "" : "; " + result.Problem),
            };
        return result with { Detections = boxes };
    }

    /// <summary>What a user can check when no face was found: the likely causes, the photo's size first when it is tiny.</summary>
    private static string NoFaceHint(RgbImage image) =>
        Math.Min(image.Width, image.Height) < 48
            ? $"the photo is only {image.Width}×{image.Height} px; a face needs 40 px or more"
            : "it finds upright, frontal faces: a photo turned sideways or a face tilted by more than about 15° is missed";

    /// <summary>Processes the face in a given box (dlib convention), skipping detection.</summary>
    /// <exception cref="ArgumentException"><paramref name="box"/> is empty or inverted (a caller's mistake, not a photo's).</exception>
    public FaceResult Process(RgbImage image, FaceBox box, string source = "image")
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(image);
        if (box.Width < 2 || box.Height < 2)
            throw new ArgumentException($"face box {box} is {box.Width}×{box.Height} px: it needs Right > Left and Bottom > Top (an inclusive rectangle)", nameof(box));
        var landmarks = Predictor.Predict(image, box);
        float confidence = float.NaN;
        if (Options.ComputeConfidence) confidence = LandmarkConfidence.Estimate(Predictor, image, box, landmarks).Confidence;
        var r = FromLandmarks(image, landmarks, source) with { Box = box, Confidence = confidence };
        var problems = QualityProblems(image, box, confidence, Options);
        return problems.Count == 0 ? r : r with { Status = FaceStatus.LowQuality, Problem = string.Join("; ", problems) };
    }

    /// <summary>
    /// Why a face in <paramref name="box"/> is <c>low_quality</c> under <paramref name="options"/>' thresholds (small,
    /// cut off by the photo's edge, unstable landmarks when <paramref name="confidence"/> is known); empty when it is not.
    /// </summary>
    public static IReadOnlyList<string> QualityProblems(RgbImage image, FaceBox box, float confidence, FacePipelineOptions options)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(options);
        // Invariant: these words go into qc.csv, which must read the same whatever the machine's language.
        var problems = new List<string>();
        if (Math.Min(box.Width, box.Height) < options.MinFacePixels) problems.Add(FormattableString.Invariant($"face is small ({Math.Min(box.Width, box.Height)} px < {options.MinFacePixels} px)"));
        double inside = FaceSelection.FractionInside(box, image);
        if (inside < options.MinFractionInside) problems.Add(FormattableString.Invariant($"face is cut off ({inside:P0} of its box inside the photo)"));
        if (!float.IsNaN(confidence) && confidence < options.MinConfidence) problems.Add(FormattableString.Invariant($"landmarks are unstable (confidence {confidence:F2} < {options.MinConfidence:F2})"));
        return problems;
    }

    /// <summary>Aligns and crops a face whose landmarks are already known (e.g. synthetic ground truth), skipping detection and landmarking.</summary>
    public FaceResult FromLandmarks(RgbImage image, FaceLandmarks landmarks, string source = "image")
    {
        var aligned = Aligner.Align(image, landmarks);
        var regions = new Dictionary<string, RegionCrop>(StringComparer.Ordinal);
        if (Options.CropRegions)
            foreach (var c in Cropper.Crop(image, aligned)) regions[c.Name] = c;
        return new FaceResult
        {
            Source = source, Status = FaceStatus.Ok, ImageWidth = image.Width, ImageHeight = image.Height,
            Landmarks = landmarks, Aligned = aligned, Regions = regions,
        };
    }

    /// <summary>
    /// Processes many photos on <paramref name="threads"/> threads (0 = all cores), in input order. Bad photos are
    /// reported in their result (status <c>unreadable</c>), never thrown.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative.</exception>
    public IReadOnlyList<FaceResult> ProcessMany(IReadOnlyList<string> imagePaths, int threads = 0,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        // Said of the pipeline, not of the OpenCV detector inside it that a photo would reach first.
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(imagePaths);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        var results = new FaceResult[imagePaths.Count];
        long done = 0;
        var po = new ParallelOptions
        {
            MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount,
            CancellationToken = cancellationToken,
        };
        progress?.Report(new ProgressUpdate("faces", 0, imagePaths.Count));
        Parallel.For(0, imagePaths.Count, po, i =>
        {
            results[i] = Process(imagePaths[i]);
            long d = Interlocked.Increment(ref done);
            progress?.Report(new ProgressUpdate("faces", d, imagePaths.Count));
        });
        return results;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _disposed = true;
        if (_ownsDetector && _detector is IDisposable d) d.Dispose();
    }

    private volatile bool _disposed;
}
