using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using static TorchSharp.torch;

namespace GestaltLab.Ensemble;

/// <summary>One labelled photo of a <see cref="FaceSpace"/> gallery.</summary>
/// <param name="Image">The photo (as its manifest names it: the data's own photo, not the aligned copy).</param>
/// <param name="Subject">Its person.</param>
/// <param name="Syndrome">Its syndrome.</param>
/// <param name="Embedding">Its face-space embedding (<see cref="GestaltPrediction.Embedding"/>).</param>
public sealed record GalleryFace(string Image, string Subject, string Syndrome, float[] Embedding);

/// <summary>A syndrome of a face-space ranking.</summary>
/// <param name="Syndrome">The syndrome.</param>
/// <param name="Similarity">Cosine similarity of the face to the syndrome's centre in the face space (−1…1; higher is closer).</param>
/// <param name="Rank">1-based rank.</param>
/// <param name="KnownToModel">Whether the model was trained on the syndrome (false: it is matched through its gallery photos alone).</param>
/// <param name="GalleryPhotos">How many gallery photos the syndrome's centre is drawn from.</param>
/// <param name="NearestImage">The syndrome's gallery photo closest to the face.</param>
/// <param name="NearestSimilarity">That photo's cosine similarity to the face.</param>
public readonly record struct SyndromeMatch(string Syndrome, double Similarity, int Rank, bool KnownToModel, int GalleryPhotos,
    string NearestImage, double NearestSimilarity);

/// <summary>A gallery photo close to a face.</summary>
/// <param name="Image">The gallery photo.</param>
/// <param name="Subject">Its person.</param>
/// <param name="Syndrome">Its syndrome.</param>
/// <param name="Similarity">Cosine similarity to the face.</param>
public readonly record struct FaceMatch(string Image, string Subject, string Syndrome, double Similarity);

/// <summary>
/// Face-space matching (after GestaltMatcher, Hsieh et al. 2022): syndromes ranked by how close a face's embedding lies to
/// each syndrome's labelled gallery photos, not by the model's classifier — so a syndrome the model was never trained on
/// is ranked too, once a few of its photos are in the gallery. The space is the model's concatenated region embeddings,
/// standardised on the gallery and whitened by its pooled within-syndrome covariance (shrunk towards a scaled identity):
/// directions in which faces of one syndrome differ among themselves (age, pose, lighting the nets still see) count
/// less than those in which syndromes differ, the metric linear discriminant analysis uses, learned from every gallery
/// syndrome at once and so carried over to syndromes with few photos. A syndrome's score is the cosine similarity of the
/// face to the mean of its gallery photos there; the nearest photos are listed too. docs/learning.md has the
/// measurements that chose this (whitening and syndrome centres over raw cosine and nearest photo).
/// </summary>
/// <example>
/// <code>
/// using var model = GestaltModel.Load("runs/demo");
/// var space = FaceSpace.FromAligned(model, "runs/demo/aligned");           // every labelled photo as the gallery
/// using var faces = new FacePipeline(model.FacePipelineOptions());
/// var p = model.PredictImage(faces, "photo.jpg");
/// foreach (var m in space.Rank(p!.Embedding, 5)) Console.WriteLine($"{m.Rank}. {m.Syndrome} {m.Similarity:F3}");
/// </code>
/// </example>
public sealed class FaceSpace
{
    /// <summary>Default shrinkage of the within-syndrome covariance (see docs/learning.md, "Face-space matching").</summary>
    public const double DefaultShrinkage = 0.3;

    private readonly double[] _mean, _scale;
    private readonly float[] _whiten;          // D × D, row-major: z = W · ((x − mean) / scale)
    private readonly float[][] _galleryZ;      // whitened gallery embeddings
    private readonly double[] _galleryNorm;    // their lengths
    private readonly double[][] _centreSum;    // per syndrome: the sum of its photos' whitened embeddings
    private readonly int[] _galleryClass;

    /// <summary>The gallery photos, in the order given.</summary>
    public IReadOnlyList<GalleryFace> Gallery { get; }

    /// <summary>The gallery's syndromes (ordinal order): the ones a face is ranked among.</summary>
    public IReadOnlyList<string> Syndromes { get; }

    /// <summary>The syndromes of <see cref="Syndromes"/> the model was trained on.</summary>
    public IReadOnlySet<string> KnownSyndromes { get; }

    /// <summary>The shrinkage the within-syndrome covariance was fitted with.</summary>
    public double Shrinkage { get; }

    /// <summary>Length of the embeddings the space reads.</summary>
    public int Dimensions => _mean.Length;

    /// <summary>The run folder of the model that embedded the gallery (<see cref="FromAligned"/>), or null.</summary>
    public string? Model { get; private set; }

    /// <summary>The data folder the gallery photos' names are relative to (the photos the aligned folder was made from), when known.</summary>
    public string? PhotoFolder { get; private set; }

    // SHA-256 of that model's ensemble.json: a saved gallery is only read back for the same model.
    private string? _modelHash;

    private FaceSpace(IReadOnlyList<GalleryFace> gallery, IReadOnlyList<string> syndromes, IReadOnlySet<string> known, double shrinkage,
        double[] mean, double[] scale, float[] whiten, int[] galleryClass, float[][] galleryZ)
    {
        Gallery = gallery;
        Syndromes = syndromes;
        KnownSyndromes = known;
        Shrinkage = shrinkage;
        _mean = mean;
        _scale = scale;
        _whiten = whiten;
        _galleryClass = galleryClass;
        _galleryZ = galleryZ;
        _galleryNorm = galleryZ.Select(z => Math.Sqrt(Dot(z, z))).ToArray();
        _centreSum = syndromes.Select(_ => new double[mean.Length]).ToArray();
        for (int i = 0; i < gallery.Count; i++)
            for (int j = 0; j < mean.Length; j++) _centreSum[galleryClass[i]][j] += galleryZ[i][j];
    }

    /// <summary>
    /// Fits the space on a labelled gallery: the standardisation and the whitening come from its photos, and each of its
    /// syndromes is ranked by the centre of its photos.
    /// </summary>
    /// <param name="gallery">Labelled embeddings, all of one length; at least two photos.</param>
    /// <param name="knownSyndromes">The syndromes the model was trained on (<see cref="GestaltModel.Classes"/>), to tell them
    /// apart in rankings and evaluations; null: none are said to be known.</param>
    /// <param name="shrinkage">Share of the within-syndrome covariance replaced by its mean variance × the identity (0…1;
    /// 1 = no whitening beyond standardising).</param>
    /// <exception cref="GestaltLabException">Fewer than two photos, embeddings of different lengths or with values that are
    /// not finite, a photo without a syndrome.</exception>
    public static FaceSpace Fit(IReadOnlyList<GalleryFace> gallery, IEnumerable<string>? knownSyndromes = null, double shrinkage = DefaultShrinkage)
    {
        ArgumentNullException.ThrowIfNull(gallery);
        if (shrinkage is < 0 or > 1 || double.IsNaN(shrinkage)) throw new ArgumentOutOfRangeException(nameof(shrinkage), shrinkage, "shrinkage must be in [0, 1]");
        if (gallery.Count < 2) throw new GestaltLabException($"face space: the gallery has {gallery.Count} photo(s); at least two labelled photos are needed");
        int d = gallery[0].Embedding.Length;
        if (d == 0) throw new GestaltLabException("face space: the gallery's embeddings are empty");
        foreach (var g in gallery)
        {
            if (string.IsNullOrEmpty(g.Syndrome)) throw new GestaltLabException($"face space: gallery photo {g.Image} has no syndrome");
            if (g.Embedding.Length != d) throw new GestaltLabException($"face space: gallery photo {g.Image} has an embedding of {g.Embedding.Length} values, the first one {d}");
            if (g.Embedding.Any(v => !float.IsFinite(v))) throw new GestaltLabException($"face space: gallery photo {g.Image} has an embedding that is not finite (NaN or infinity)");
        }
        var syndromes = gallery.Select(g => g.Syndrome).Distinct().Order(StringComparer.Ordinal).ToList();
        // One syndrome's centre is the gallery's mean, the origin of the space: a similarity to it is noise, not a ranking.
        if (syndromes.Count < 2)
            throw new GestaltLabException($"face space: the gallery's photos are all of one syndrome ({syndromes[0]}); a ranking needs at least two");
        var index = syndromes.Select((s, i) => (s, i)).ToDictionary(t => t.s, t => t.i, StringComparer.Ordinal);
        var cls = gallery.Select(g => index[g.Syndrome]).ToArray();
        var known = (knownSyndromes ?? []).Where(index.ContainsKey).ToHashSet(StringComparer.Ordinal);

        int n = gallery.Count;
        var mean = new double[d];
        var scale = new double[d];
        foreach (var g in gallery) for (int j = 0; j < d; j++) mean[j] += g.Embedding[j];
        for (int j = 0; j < d; j++) mean[j] /= n;
        foreach (var g in gallery) for (int j = 0; j < d; j++) scale[j] += (g.Embedding[j] - mean[j]) * (g.Embedding[j] - mean[j]);
        for (int j = 0; j < d; j++) scale[j] = Math.Sqrt(scale[j] / n);
        // A unit that (almost) never varies in the gallery says (almost) nothing about anyone: standardised by its own tiny
        // spread, a face that happens to fire it would dominate every similarity. Its scale is floored at a thousandth of the
        // typical unit's; a unit that never varies at all (a dead ReLU) is left out, for the faces matched as for the
        // gallery (an infinite scale standardises every value to 0).
        double floor = 1e-3 * Median(scale.Where(v => v > 0));
        for (int j = 0; j < d; j++) scale[j] = scale[j] == 0 ? double.PositiveInfinity : Math.Max(scale[j], floor);

        // Each syndrome's mean (standardised), then the pooled within-syndrome covariance in double precision, summed over
        // blocks of photos: a large gallery is never held again whole (18,000 photos × 896 values are 130 MB a copy).
        const int block = 1024;
        var classMean = new double[syndromes.Count * d];
        var counts = new int[syndromes.Count];
        double Standardised(int i, int j) => (gallery[i].Embedding[j] - mean[j]) / scale[j];
        for (int i = 0; i < n; i++)
        {
            counts[cls[i]]++;
            for (int j = 0; j < d; j++) classMean[cls[i] * d + j] += Standardised(i, j);
        }
        for (int c = 0; c < syndromes.Count; c++) for (int j = 0; j < d; j++) classMean[c * d + j] /= counts[c];

        // The products of many photos go to libtorch (BLAS); the D × D algebra after them is small (D³/3 ≈ 2·10⁸ operations
        // for seven regions) and is done here in double precision, with no Scalar or temporary tensor libtorch could lose to
        // the GC mid-call (see HeldScalars).
        var scatter = new double[d * d];
        var rows = new float[block * d];
        var rowsT = new float[d * block];
        using (no_grad())
            for (int start = 0; start < n; start += block)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(block, n - start);
                for (int k = 0; k < count; k++)
                    for (int j = 0; j < d; j++)
                        rows[k * d + j] = rowsT[j * count + k] = (float)(Standardised(start + k, j) - classMean[cls[start + k] * d + j]);
                var product = tensor(rowsT.AsSpan(0, d * count).ToArray(), [d, count]).matmul(tensor(rows.AsSpan(0, count * d).ToArray(), [count, d]))
                    .contiguous().data<float>().ToArray();
                for (int q = 0; q < product.Length; q++) scatter[q] += product[q];
            }
        double meanVariance = 0;
        for (int j = 0; j < d; j++) meanVariance += scatter[j * d + j] / n;
        meanVariance /= d;
        // With no within-syndrome variation at all (one photo each), the covariance is the shrinkage target alone.
        if (!(meanVariance > 0)) meanVariance = 1;
        // A ridge of 10⁻⁴ of the mean variance beside the shrinkage: with fewer photos than dimensions, or dead units, the
        // unshrunk covariance (shrinkage 0) is singular and has no Cholesky factor.
        var shrunk = new double[d * d];
        for (int q = 0; q < d * d; q++) shrunk[q] = (1 - shrinkage) * scatter[q] / n;
        for (int j = 0; j < d; j++) shrunk[j * d + j] += (shrinkage + 1e-4) * meanVariance;
        // Whitening by the inverse Cholesky factor: z·z' = x·S⁻¹·x', the discriminant's metric, whatever the square root.
        var w = InverseCholesky(shrunk, d, shrinkage);
        var whiten = w.Select(v => (float)v).ToArray();
        var whitenT = new float[d * d];
        for (int r = 0; r < d; r++) for (int c = 0; c < d; c++) whitenT[c * d + r] = whiten[r * d + c];
        // The gallery whitened a block at a time in one product each (a photo at a time is D² operations: seconds on a
        // large gallery).
        var galleryZ = new float[n][];
        using (no_grad())
            for (int start = 0; start < n; start += block)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(block, n - start);
                for (int k = 0; k < count; k++) for (int j = 0; j < d; j++) rows[k * d + j] = (float)Standardised(start + k, j);
                var zs = tensor(rows.AsSpan(0, count * d).ToArray(), [count, d]).matmul(tensor(whitenT, [d, d])).contiguous().data<float>().ToArray();
                for (int k = 0; k < count; k++) galleryZ[start + k] = zs.AsSpan(k * d, d).ToArray();
            }
        return new FaceSpace(gallery, syndromes, known, shrinkage, mean, scale, whiten, cls, galleryZ);
    }

    /// <summary>
    /// Builds the gallery from an aligned data folder's labelled photos of <paramref name="splits"/> — every syndrome there,
    /// those the model does not know included — and fits the space on it.
    /// </summary>
    /// <param name="model">The model whose embeddings span the space.</param>
    /// <param name="alignedDirectory">An aligned folder (<c>gestaltlab align</c>) cut with the model's regions and size.</param>
    /// <param name="splits">The splits whose photos form the gallery (null: every split). To evaluate on the test split, leave it out.</param>
    /// <param name="shrinkage">See <see cref="Fit"/>.</param>
    /// <param name="progress">Stage <c>gallery</c>, one unit per photo.</param>
    /// <param name="cancellationToken">Cancels between batches.</param>
    /// <exception cref="GestaltLabException">Not an aligned folder; crops of another size or cut otherwise than the model's;
    /// fewer than two labelled photos in those splits.</exception>
    public static FaceSpace FromAligned(GestaltModel model, string alignedDirectory, IReadOnlyCollection<string>? splits = null, double shrinkage = DefaultShrinkage,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var held = HoldForReading(model, alignedDirectory);
        var data = OpenAligned(model, alignedDirectory, splits);
        if (data.Rows.Select(r => r.Syndrome).Distinct().Count() == 1)
            throw new GestaltLabException($"{alignedDirectory}: every labelled photo{(splits is null ? "" : " of its " + string.Join("/", splits) + " split(s)")} is of one syndrome ({data.Rows[0].Syndrome}); a gallery needs at least two to rank");
        if (data.Count < 2)
            throw new GestaltLabException($"{alignedDirectory}: {data.Count} labelled photo(s) in {(splits is null ? "its manifest" : "its " + string.Join("/", splits) + " split(s)")}; a gallery needs at least two",
                "give a folder with labelled photos (a syndrome in the manifest's syndrome column)");
        var embeddings = Embed(model, data, Enumerable.Range(0, data.Count).ToArray(), "gallery", progress, cancellationToken);
        var gallery = data.Rows.Select((r, i) => new GalleryFace(r.SourceImage, r.Subject, r.Syndrome, embeddings[i])).ToList();
        var space = Fit(gallery, model.Classes, shrinkage);
        space._modelHash = model.EnsembleHash;
        space.Model = model.Directory;
        space.PhotoFolder = FaceDatasetAligner.DataFolderOf(alignedDirectory);
        return space;
    }

    private const string SavedKind = "face_space_gallery";

    /// <summary>Whether <paramref name="path"/> is a gallery file written by <see cref="Save"/> (read from its header only).</summary>
    public static bool IsSaved(string path)
    {
        try { return File.Exists(path) && (string?)JsonNode.Parse(WeightsFile.ReadMetadata(path))?["kind"] == SavedKind; }
        catch (Exception e) when (e is GestaltLabException or JsonException or IOException or InvalidOperationException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// Writes the gallery — its photos' names, people, syndromes and embeddings, the shrinkage and the model that embedded
    /// it — so that <see cref="Load"/> matches against it without running the nets over every gallery photo again. The file
    /// describes patients' photos: it is written readable by its owner only.
    /// </summary>
    /// <exception cref="GestaltLabException">The file cannot be written.</exception>
    public void Save(string path)
    {
        var meta = new JsonObject
        {
            ["kind"] = SavedKind,
            ["model"] = Model,
            ["model_ensemble_sha256"] = _modelHash,
            ["photo_folder"] = PhotoFolder,
            ["shrinkage"] = Shrinkage,
            ["known_syndromes"] = new JsonArray([.. KnownSyndromes.Order(StringComparer.Ordinal).Select(s => (JsonNode?)s)]),
            ["images"] = new JsonArray([.. Gallery.Select(g => (JsonNode?)g.Image)]),
            ["subjects"] = new JsonArray([.. Gallery.Select(g => (JsonNode?)g.Subject)]),
            ["syndromes"] = new JsonArray([.. Gallery.Select(g => (JsonNode?)g.Syndrome)]),
            ["created_utc"] = DateTime.UtcNow.ToString("O"),
        };
        var flat = new float[Gallery.Count * Dimensions];
        for (int i = 0; i < Gallery.Count; i++) Gallery[i].Embedding.CopyTo(flat, i * Dimensions);
        using var embeddings = tensor(flat, [Gallery.Count, Dimensions]);
        WeightsFile.Save(path, meta.ToJsonString(), [new("embeddings", embeddings)], ownerOnly: true);
    }

    /// <summary>
    /// Reads a gallery written by <see cref="Save"/> and fits the space on it again (as it was fitted when saved).
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="model">The model whose embeddings will be matched against it: refused unless it is the model that
    /// embedded the gallery (the same run's ensemble.json); null: not checked.</param>
    /// <param name="shrinkage">The shrinkage to fit it with (null: the one it was saved with).</param>
    /// <exception cref="GestaltLabException">Missing, damaged or not a gallery; embedded by another model.</exception>
    public static FaceSpace Load(string path, GestaltModel? model = null, double? shrinkage = null)
    {
        if (!IsSaved(path))
            throw new GestaltLabException($"{path}: not a face-space gallery", "give a file written by `gestaltlab match --save-gallery` (FaceSpace.Save), or an aligned data folder");
        // Written by match, not by training: a damaged one is saved again by match.
        var (metadata, tensors) = WeightsFile.Load(path,
            $"save the gallery again: gestaltlab match --model RUN --gallery ALIGNED --save-gallery {path} (in C#: FaceSpace.FromAligned(…).Save)");
        try
        {
            JsonNode? meta;
            try { meta = JsonNode.Parse(metadata); }
            catch (JsonException e) { throw new GestaltLabException($"{path}: unreadable gallery metadata ({e.Message})"); }
            // (Its kind was read above, by IsSaved.)
            if (!tensors.TryGetValue("embeddings", out var e2) || e2.shape.Length != 2)
                throw new GestaltLabException($"{path}: the gallery's embeddings are missing or not a matrix; the file is damaged");
            string[] Strings(string key) => meta![key]?.AsArray().Select(n => (string?)n ?? "").ToArray()
                ?? throw new GestaltLabException($"{path}: the gallery has no '{key}'");
            var images = Strings("images");
            var subjects = Strings("subjects");
            var syndromes = Strings("syndromes");
            int n = (int)e2.shape[0], d = (int)e2.shape[1];
            if (images.Length != n || subjects.Length != n || syndromes.Length != n)
                throw new GestaltLabException($"{path}: the gallery names {images.Length} photos for {n} embeddings; the file is damaged");
            string? hash = (string?)meta!["model_ensemble_sha256"];
            if (model?.EnsembleHash is { } current && hash is not null && hash != current)
                throw new GestaltLabException($"{path}: embedded by another model ({(string?)meta["model"] ?? "a run"}) than {model.Directory}; their embeddings do not share a space",
                    $"embed the gallery again with this model: gestaltlab match --model {model.Directory} --gallery ALIGNED --save-gallery {path}");
            var flat = e2.data<float>().ToArray();
            var gallery = Enumerable.Range(0, n).Select(i => new GalleryFace(images[i], subjects[i], syndromes[i], flat.AsSpan(i * d, d).ToArray())).ToList();
            var space = Fit(gallery, Strings("known_syndromes"), shrinkage ?? meta["shrinkage"]?.GetValue<double>() ?? DefaultShrinkage);
            space._modelHash = hash;
            space.Model = (string?)meta["model"];
            space.PhotoFolder = (string?)meta["photo_folder"];
            return space;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new GestaltLabException($"{path}: unreadable gallery metadata ({e.Message})");
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    /// <summary>
    /// Holds the model's run and the aligned folder for reading (shared: other readers may too), after checking the run
    /// still holds this model: not while the run is trained again or replaced, nor while the data is aligned again under
    /// the reader (its crops would be read half old, half new).
    /// </summary>
    internal static IDisposable HoldForReading(GestaltModel model, string alignedDirectory)
    {
        var runLock = model.Directory is { } run ? FolderLock.AcquireShared(run, "match with the model in") : null;
        FolderLock? dataLock = null;
        try
        {
            dataLock = FolderLock.AcquireData(alignedDirectory, "match on", shared: true);
            if (model.ChangedSinceLoad() is { } changed)
                throw new GestaltLabException($"{model.Directory}: {changed}", "load the model again (GestaltModel.Load) and match with that");
            return new Held(dataLock, runLock);
        }
        catch
        {
            dataLock?.Dispose();
            runLock?.Dispose();
            throw;
        }
    }

    private sealed class Held(params IDisposable?[] locks) : IDisposable
    {
        public void Dispose() { foreach (var l in locks) l?.Dispose(); }
    }

    /// <summary>Opens an aligned folder's labelled photos of <paramref name="splits"/> (every syndrome) for <paramref name="model"/>, checking its crops fit the model.</summary>
    internal static AlignedRegionDataset OpenAligned(GestaltModel model, string alignedDirectory, IReadOnlyCollection<string>? splits)
    {
        // Each crop is read once: a cache would only hold them all to the end.
        var data = new AlignedRegionDataset(alignedDirectory, splits: splits) { CacheBytes = 0 };
        string Realign() => $"gestaltlab align --data {FaceDatasetAligner.DataFolderOf(alignedDirectory) ?? "DATA"} --out ALIGNED --regions {Path.Combine(model.Directory ?? "RUN", "regions.json")}";
        if (data.CropSize != model.InputSize)
            throw new GestaltLabException($"{alignedDirectory}: crops are {data.CropSize} px, the model expects {model.InputSize} px",
                $"align with the model's regions, at their size (no --crop-size): {Realign()}");
        var cutOtherwise = FacialRegion.CutOtherwise(model.InputRegions.Select(r => model.RegionSet[r]), data.RegionSet);
        if (cutOtherwise.Count > 0)
            throw new GestaltLabException($"{alignedDirectory}: region(s) {string.Join(", ", cutOtherwise)} are missing or cut otherwise than the model's (its regions.json differs from the run's)",
                $"align the photos with the model's regions: {Realign()}");
        return data;
    }

    /// <summary>The embeddings of some samples, checked to be finite.</summary>
    internal static float[][] Embed(GestaltModel model, AlignedRegionDataset data, IReadOnlyList<int> indices, string stage,
        IProgress<ProgressUpdate>? progress, CancellationToken cancellationToken, Action<int, GestaltPrediction>? each = null)
    {
        // A block of photos at a time, keeping only each one's embedding: a prediction also holds every region's embedding
        // and probabilities (≈ 14 KB a photo with 216 syndromes), which a large gallery would pile up to the end.
        const int block = 512;
        var embeddings = new float[indices.Count][];
        progress?.Report(new ProgressUpdate(stage, 0, indices.Count));
        for (int start = 0; start < indices.Count; start += block)
        {
            var some = indices.Skip(start).Take(block).ToArray();
            var predictions = model.Predict(data, some, null, stage, cancellationToken);
            for (int k = 0; k < predictions.Count; k++)
            {
                if (predictions[k].Embedding.Any(v => !float.IsFinite(v)))
                    throw new GestaltLabException($"{data.Rows[some[k]].SourceImage}: the model's embedding is not finite (NaN or infinity)",
                        "the training diverged or the model files are damaged: train again (a lower learning_rate), or check the run's curves");
                embeddings[start + k] = predictions[k].Embedding;
                each?.Invoke(start + k, predictions[k]);
            }
            progress?.Report(new ProgressUpdate(stage, start + some.Length, indices.Count));
        }
        return embeddings;
    }

    /// <summary>
    /// The gallery's syndromes ranked for a face, closest first (ties by name): each by the cosine similarity of the face to
    /// the centre of the syndrome's gallery photos, with its nearest gallery photo.
    /// </summary>
    /// <param name="embedding">The face's embedding (<see cref="GestaltPrediction.Embedding"/> of the same model).</param>
    /// <param name="top">How many syndromes to return (at most all of them).</param>
    /// <param name="excludeSubject">A person whose gallery photos are left out (the face's own, when it is in the gallery);
    /// a syndrome with no other photos is then not ranked.</param>
    /// <exception cref="GestaltLabException">The embedding's length is not the space's, or it is not finite.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="top"/> is negative.</exception>
    public IReadOnlyList<SyndromeMatch> Rank(float[] embedding, int top = 10, string? excludeSubject = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(top);
        var all = Scores(embedding, excludeSubject);
        return all.OrderByDescending(s => s.Similarity).ThenBy(s => s.Syndrome, StringComparer.Ordinal).Take(top)
            .Select((s, i) => s with { Rank = i + 1 }).ToList();
    }

    /// <summary>The <paramref name="k"/> gallery photos closest to a face, closest first.</summary>
    /// <param name="embedding">The face's embedding.</param>
    /// <param name="k">How many.</param>
    /// <param name="excludeSubject">A person whose gallery photos are left out.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative.</exception>
    public IReadOnlyList<FaceMatch> Nearest(float[] embedding, int k = 5, string? excludeSubject = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var q = Unit(Whiten(Checked(embedding)));
        return Enumerable.Range(0, Gallery.Count).Where(i => excludeSubject is null || Gallery[i].Subject != excludeSubject)
            .Select(i => (i, s: Similarity(q, i))).OrderByDescending(t => t.s).ThenBy(t => t.i).Take(k)
            .Select(t => new FaceMatch(Gallery[t.i].Image, Gallery[t.i].Subject, Gallery[t.i].Syndrome, t.s)).ToList();
    }

    // Every rankable syndrome's score, unranked (Rank 0).
    internal List<SyndromeMatch> Scores(float[] embedding, string? excludeSubject)
    {
        var q = Unit(Whiten(Checked(embedding)));
        int d = Dimensions;
        var nearest = new (int Index, double Similarity)[Syndromes.Count];
        Array.Fill(nearest, (-1, double.NegativeInfinity));
        var sums = _centreSum.Select(c => (double[])c.Clone()).ToArray();
        var photos = new int[Syndromes.Count];
        for (int i = 0; i < Gallery.Count; i++)
        {
            int c = _galleryClass[i];
            if (excludeSubject is not null && Gallery[i].Subject == excludeSubject)
            {
                // The person's own photos would find the person, not the syndrome: their syndrome's centre goes without them.
                for (int j = 0; j < d; j++) sums[c][j] -= _galleryZ[i][j];
                continue;
            }
            photos[c]++;
            double s = Similarity(q, i);
            if (s > nearest[c].Similarity) nearest[c] = (i, s);
        }
        return Enumerable.Range(0, Syndromes.Count).Where(c => nearest[c].Index >= 0).Select(c =>
        {
            double dot = 0, norm = 0;
            for (int j = 0; j < d; j++) { dot += q[j] * sums[c][j]; norm += sums[c][j] * sums[c][j]; }
            return new SyndromeMatch(Syndromes[c], norm > 0 ? Math.Clamp(dot / Math.Sqrt(norm), -1, 1) : 0, 0, KnownSyndromes.Contains(Syndromes[c]), photos[c],
                Gallery[nearest[c].Index].Image, nearest[c].Similarity);
        }).ToList();
    }

    // Cosine similarity of a unit-length whitened face to gallery photo i.
    // (Clamped: rounding takes a photo's similarity to itself a hair past 1.)
    private double Similarity(float[] unitQuery, int i) => _galleryNorm[i] > 0 ? Math.Clamp(Dot(unitQuery, _galleryZ[i]) / _galleryNorm[i], -1, 1) : 0;

    private float[] Checked(float[] embedding)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        if (embedding.Length != Dimensions)
            throw new GestaltLabException($"face space: the embedding has {embedding.Length} values, the space {Dimensions} (another model's embedding?)");
        if (embedding.Any(v => !float.IsFinite(v))) throw new GestaltLabException("face space: the embedding is not finite (NaN or infinity)");
        return embedding;
    }

    private float[] Whiten(float[] x)
    {
        int d = Dimensions;
        var s = new float[d];
        for (int j = 0; j < d; j++) s[j] = (float)((x[j] - _mean[j]) / _scale[j]);
        var z = new float[d];
        for (int r = 0; r < d; r++)
        {
            // W is lower triangular: row r reads the first r + 1 values.
            var row = _whiten.AsSpan(r * d, r + 1);
            double acc = 0;
            for (int j = 0; j <= r; j++) acc += row[j] * s[j];
            z[r] = (float)acc;
        }
        return z;
    }

    /// <summary>L⁻¹ of the Cholesky factor L of a symmetric positive-definite <paramref name="d"/> × <paramref name="d"/> matrix (row-major, lower triangular).</summary>
    private static double[] InverseCholesky(double[] a, int d, double shrinkage)
    {
        var l = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i * d + j];
                for (int k = 0; k < j; k++) sum -= l[i * d + k] * l[j * d + k];
                if (i == j)
                {
                    if (!(sum > 0))
                        throw new GestaltLabException($"face space: the gallery's within-syndrome covariance is not positive definite with shrinkage {shrinkage} (unit {i})",
                            "use a larger shrinkage (--shrinkage 0.3, the default)");
                    l[i * d + i] = Math.Sqrt(sum);
                }
                else l[i * d + j] = sum / l[j * d + j];
            }
        var w = new double[d * d];
        for (int j = 0; j < d; j++)
        {
            w[j * d + j] = 1 / l[j * d + j];
            for (int i = j + 1; i < d; i++)
            {
                double sum = 0;
                for (int k = j; k < i; k++) sum += l[i * d + k] * w[k * d + j];
                w[i * d + j] = -sum / l[i * d + i];
            }
        }
        return w;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static float[] Unit(float[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        return norm > 0 ? v.Select(x => (float)(x / norm)).ToArray() : v;
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int j = 0; j < a.Length; j++) s += a[j] * b[j];
        return s;
    }
}
