using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Runtime;

namespace GestaltLab.Regions;

/// <summary>
/// Face boxes given per photo (dlib's inclusive boxes), from a CSV <c>image,left,top,right,bottom</c>: one row per box,
/// several rows for several faces of one photo. A malformed row is skipped with its problem (<see cref="Problems"/>), not
/// the table: a photo left without a usable box keeps the problem (<see cref="ProblemOf"/>), and a batch lists it
/// without landmarks.
/// </summary>
public sealed class FaceBoxTable
{
    private readonly Dictionary<string, List<FaceBox>> _boxes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _problems = new(StringComparer.Ordinal);
    private readonly List<string> _allProblems = [];
    private readonly List<string> _images = [];

    /// <summary>The file the boxes were read from.</summary>
    public string Source { get; }

    /// <summary>Every photo the table names, in file order (as written there: a path, relative or not, or a file name).</summary>
    public IReadOnlyList<string> Images => _images;

    /// <summary>Each malformed row's problem, naming the file, line and column, in file order.</summary>
    public IReadOnlyList<string> Problems => _allProblems;

    private FaceBoxTable(string source) => Source = source;

    /// <summary>Reads the table.</summary>
    /// <exception cref="GestaltLabException">The file cannot be read or lacks one of the columns.</exception>
    public static FaceBoxTable Load(string path)
    {
        var t = Csv.Read(path);
        int ci = t.Column("image"), cl = t.Column("left"), ctp = t.Column("top"), cr = t.Column("right"), cb = t.Column("bottom");
        var table = new FaceBoxTable(path);
        for (int i = 0; i < t.Rows.Count; i++)
        {
            var row = t.Rows[i];
            if (!table._boxes.TryGetValue(row[ci], out var list))
            {
                table._boxes[row[ci]] = list = [];
                table._images.Add(row[ci]);
            }
            string? problem = null;
            int Int(int c)
            {
                if (int.TryParse(row[c], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) return v;
                problem ??= $"{path}: line {t.LineOf(i)}, column {t.Header[c]}: '{row[c]}' is not an integer";
                return 0;
            }
            var box = new FaceBox(Int(cl), Int(ctp), Int(cr), Int(cb));
            if (problem is null && (box.Width < 1 || box.Height < 1)) problem = $"{path}: line {t.LineOf(i)}: box {box} is empty (right < left or bottom < top)";
            if (problem is null) list.Add(box);
            else
            {
                table._problems.TryAdd(row[ci], problem);
                table._allProblems.Add(problem);
            }
        }
        return table;
    }

    /// <summary>The boxes of the photo listed as <paramref name="image"/> in the table (none when it is not listed).</summary>
    public IReadOnlyList<FaceBox> this[string image] => _boxes.TryGetValue(image, out var list) ? list.AsReadOnly() : [];

    /// <summary>Whether the table lists <paramref name="image"/>, as written there.</summary>
    public bool Contains(string image) => _boxes.ContainsKey(image);

    /// <summary>The problem of the photo's first malformed row, or null.</summary>
    public string? ProblemOf(string image) => _problems.GetValueOrDefault(image);
}

/// <summary>Options of <see cref="LandmarkBatch.Run"/>.</summary>
public sealed record LandmarkBatchOptions
{
    /// <summary>dlib <c>shape_predictor</c> .dat file (default: the system's 68-point model).</summary>
    public string? ModelPath { get; init; }
    /// <summary>Landmark these boxes and skip detection (default: every face the Haar detector finds).</summary>
    public FaceBoxTable? Boxes { get; init; }
    /// <summary>
    /// The folder a manifest's relative photo paths start from, when the photos came from one: a box listed by the path
    /// as the manifest gives it is matched too.
    /// </summary>
    public string? ManifestDirectory { get; init; }
    /// <summary>Worker threads (0 = all cores).</summary>
    public int Threads { get; init; }
}

/// <summary>One face of a photo (or the photo, when it gave none) with its 68 landmarks.</summary>
/// <param name="Image">The photo as listed.</param>
/// <param name="Face">The face's number within the photo (0 first), or null when it gave none.</param>
/// <param name="Status">ok, multiple_faces (more than one found), low_quality (small or cut off), no_face or unreadable.</param>
/// <param name="Box">The face box (dlib inclusive), or null.</param>
/// <param name="Landmarks">The 68 points in the photo's pixels, or null.</param>
/// <param name="Problem">Why a photo has no face: its error, or what was missing; null otherwise.</param>
public sealed record PhotoLandmarks(string Image, int? Face, FaceStatus Status, FaceBox? Box, FaceLandmarks? Landmarks, string? Problem = null);

/// <summary>What <see cref="LandmarkBatch.Run"/> found, one row per face, in the order of the photos given.</summary>
/// <param name="Rows">Every face, and every photo without one.</param>
/// <param name="PhotoCount">Photos given.</param>
/// <param name="LandmarkModel">The shape predictor's file.</param>
/// <param name="Detector">The face detector's name, or "given boxes".</param>
/// <param name="MinFaceFraction">The detector's smallest face, as a fraction of the photo's shorter side (null with given boxes).</param>
/// <param name="BoxesFile">The table the given boxes came from (<see cref="FaceBoxTable.Source"/>); null when the detector found the faces.</param>
public sealed record LandmarkBatchResult(IReadOnlyList<PhotoLandmarks> Rows, int PhotoCount, string LandmarkModel, string Detector, double? MinFaceFraction,
    string? BoxesFile = null)
{
    /// <summary>The table's columns: image, face, status, the box, then x0, y0 … x67, y67.</summary>
    public static IReadOnlyList<string> Header { get; } =
        ["image", "face", "status", "left", "top", "right", "bottom", .. Enumerable.Range(0, 68).SelectMany(j => new[] { $"x{j}", $"y{j}" })];

    /// <summary>Faces found.</summary>
    public int Faces => Rows.Count(r => r.Face is not null);

    /// <summary>Photos without a face (no face found, or no usable box for it).</summary>
    public IReadOnlyList<PhotoLandmarks> NoFace => [.. Rows.Where(r => r.Status == FaceStatus.NoFace)];

    /// <summary>Photos that could not be read as images.</summary>
    public IReadOnlyList<PhotoLandmarks> Unreadable => [.. Rows.Where(r => r.Status == FaceStatus.Unreadable)];

    /// <summary>
    /// Writes the table (<see cref="Header"/>; points round-trip exactly) atomically: one row per face, a photo without
    /// one as a row with its status and no points. Beside it goes the record of what made it (<see cref="Provenance"/>:
    /// <c>FILE.json</c>, or <c>FILE.csv.provenance.json</c> when a file of another kind has that name): the landmark
    /// model's path and SHA-256, the boxes file or the detector and its smallest face, the photo count, the versions.
    /// </summary>
    /// <param name="path">The table to write.</param>
    /// <param name="command">What made it, as the record names it (<c>gestaltlab landmarks</c> from the command line).</param>
    /// <returns>The record's path.</returns>
    public string Save(string path, string command = "LandmarkBatch.Run")
    {
        // Each photo's name and 68 points (biometric): the owner's alone wherever it goes.
        Csv.Write(path, Header, Rows.Select(ToRow), ownerOnly: true);
        return Provenance.Write(path, command, new System.Text.Json.Nodes.JsonObject
        {
            ["photos"] = PhotoCount,
            ["landmark_model"] = Path.GetFullPath(LandmarkModel),
            ["landmark_model_sha256"] = File.Exists(LandmarkModel) ? RunManifest.ComputeFileHash(LandmarkModel) : null,
            ["boxes"] = BoxesFile is null ? null : Path.GetFullPath(BoxesFile),
            ["detector"] = Detector,
            ["min_face_fraction"] = MinFaceFraction,
        }, BoxesFile is null ? [] : [BoxesFile]);
    }

    private static string[] ToRow(PhotoLandmarks p)
    {
        var r = new string[7 + 136];
        r[0] = p.Image;
        r[1] = p.Face?.ToString(CultureInfo.InvariantCulture) ?? "";
        r[2] = p.Status.ToCsv();
        string Int(int? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "";
        r[3] = Int(p.Box?.Left); r[4] = Int(p.Box?.Top); r[5] = Int(p.Box?.Right); r[6] = Int(p.Box?.Bottom);
        for (int k = 0; k < 136; k++) r[7 + k] = p.Landmarks is null ? "" : p.Landmarks.Points[k / 2][k % 2].ToString("R", CultureInfo.InvariantCulture);
        return r;
    }
}

/// <summary>
/// dlib-compatible 68-point landmarks for a batch of photos: every face the detector finds, or each given box. One bad
/// photo never fails the batch: it is listed as unreadable or no_face with its problem. What <c>gestaltlab landmarks</c>
/// does.
/// </summary>
public static class LandmarkBatch
{
    /// <summary>
    /// The photos a manifest lists (its <c>image</c> column), as <see cref="Manifest.Load"/> reads them: trimmed, Windows
    /// separators accepted, relative paths from the manifest's folder.
    /// </summary>
    /// <exception cref="GestaltLabException">The file cannot be read or has no <c>image</c> column.</exception>
    public static IReadOnlyList<string> PhotosOf(string manifestCsv)
    {
        var t = Csv.Read(manifestCsv);
        int col = t.Column("image");
        string baseDir = Path.GetDirectoryName(Path.GetFullPath(manifestCsv))!;
        return [.. t.Rows.Select(r => Manifest.ImagePath(r[col])).Select(r => Path.IsPathRooted(r) ? r : Path.Combine(baseDir, r))];
    }

    private static readonly FacePipelineOptions Quality = new();

    /// <summary>Landmarks every photo of <paramref name="photos"/>, in parallel, reporting progress a photo at a time.</summary>
    /// <exception cref="GestaltLabException">No photos, or the landmark model cannot be loaded.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static LandmarkBatchResult Run(IReadOnlyList<string> photos, LandmarkBatchOptions? options = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(photos);
        var o = options ?? new LandmarkBatchOptions();
        if (photos.Count == 0) throw new GestaltLabException("no photos given",
            "pass photo paths: ImageLoader.FindPhotos(folder) (relative to it), LandmarkBatch.PhotosOf(manifest) or FaceBoxTable.Images");
        var predictor = ShapePredictor.LoadShared(o.ModelPath);
        using var detector = o.Boxes is null ? new HaarFaceDetector() : null;
        var boxesOf = o.Boxes is { } table ? BoxMatcher(table, photos, o.ManifestDirectory) : null;
        var rows = new IReadOnlyList<PhotoLandmarks>[photos.Count];
        long done = 0;
        var gate = new object();
        var po = new ParallelOptions { MaxDegreeOfParallelism = o.Threads > 0 ? o.Threads : Environment.ProcessorCount, CancellationToken = cancellationToken };
        Parallel.For(0, photos.Count, po, i =>
        {
            rows[i] = LandmarkPhoto(photos[i], predictor, detector, boxesOf);
            // Counted and reported together, so that the counts reach the sink in order (a sink that posts them on, as
            // Progress<T> does, may still reorder them).
            lock (gate) progress?.Report(new ProgressUpdate("landmarks", ++done, photos.Count));
        });
        return new LandmarkBatchResult([.. rows.SelectMany(r => r)], photos.Count, predictor.Source,
            detector is null ? "given boxes" : detector.Name, detector?.Options.MinFaceFraction, o.Boxes?.Source);
    }

    /// <summary>
    /// A photo's boxes and the problem of its malformed rows. Boxes are matched to photos by the path as listed, by the
    /// path relative to the manifest's folder (as the manifest lists it), or by file name when no other listed photo
    /// shares it (never one photo's box for another).
    /// </summary>
    private static Func<string, (IReadOnlyList<FaceBox> Boxes, string? Problem)> BoxMatcher(FaceBoxTable table, IReadOnlyList<string> photos, string? manifestDir)
    {
        var uniqueNames = photos.GroupBy(Path.GetFileName, StringComparer.Ordinal).Where(g => g.Count() == 1).Select(g => g.Key!).ToHashSet(StringComparer.Ordinal);
        string? KeyOf(string path)
        {
            if (table.Contains(path)) return path;
            if (manifestDir is not null && Path.GetRelativePath(manifestDir, path) is var rel && table.Contains(rel)) return rel;
            string name = Path.GetFileName(path);
            return uniqueNames.Contains(name) && table.Contains(name) ? name : null;
        }
        return path => KeyOf(path) is { } key ? (table[key], table.ProblemOf(key)) : ([], null);
    }

    private static IReadOnlyList<PhotoLandmarks> LandmarkPhoto(string path, ShapePredictor predictor, IFaceDetector? detector,
        Func<string, (IReadOnlyList<FaceBox> Boxes, string? Problem)>? boxesOf)
    {
        RgbImage image;
        try
        {
            image = ImageLoader.Load(path);
        }
        catch (GestaltLabException e)
        {
            return [new PhotoLandmarks(path, null, FaceStatus.Unreadable, null, null, e.Message.Split('\n')[0])];
        }
        PhotoLandmarks NoFace(string why) => new(path, null, FaceStatus.NoFace, null, null, why);
        try
        {
            var given = boxesOf?.Invoke(path);
            IReadOnlyList<FaceBox> boxes = given is { } g ? g.Boxes : detector!.Detect(image);
            bool Outside(FaceBox b) => b.Right < 0 || b.Bottom < 0 || b.Left >= image.Width || b.Top >= image.Height;
            // A given box that misses the photo entirely would give landmarks far outside it: no face there.
            if (given is not null && boxes.Count > 0 && boxes.All(Outside))
                return [NoFace($"its box{(boxes.Count > 1 ? "es lie" : " lies")} outside the {image.Width}×{image.Height} photo")];
            if (given is not null) boxes = [.. boxes.Where(b => !Outside(b))];
            if (boxes.Count == 0)
                return [NoFace(given is null ? "no face found" : given.Value.Problem ?? "no face box for it in the table of boxes")];
            var status = boxes.Count > 1 && given is null ? FaceStatus.MultipleFaces : FaceStatus.Ok;
            // As predict and align flag them (small or cut off; no confidence passes here), low_quality taking precedence.
            FaceStatus StatusOf(FaceBox b) => FacePipeline.QualityProblems(image, b, float.NaN, Quality).Count > 0 ? FaceStatus.LowQuality : status;
            return [.. boxes.Select((b, k) => new PhotoLandmarks(path, k, StatusOf(b), b, predictor.Predict(image, b)))];
        }
        catch (Exception e) when (FacePipeline.IsPhotoFailure(e))
        {
            // One photo no step can work on (e.g. a box outside it) must not lose the other photos' landmarks. It was read,
            // so it is no_face (as FacePipeline reports such a photo), not unreadable.
            string message = e.Message.Split('\n')[0];
            return [NoFace(message.StartsWith(path + ": ", StringComparison.Ordinal) ? message[(path.Length + 2)..] : message)];
        }
    }
}
