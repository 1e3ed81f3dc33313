using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Models;

/// <summary>
/// Labelled region crops the trainer reads by index, one batch at a time (so a data set need not fit in memory).
/// Crops are CHW floats in [0, 1] (RGB) of <see cref="CropSize"/>².
/// </summary>
public interface IRegionSamples
{
    /// <summary>Number of samples (photos).</summary>
    int Count { get; }
    /// <summary>Side of every crop.</summary>
    int CropSize { get; }
    /// <summary>Region names available.</summary>
    IReadOnlyList<string> Regions { get; }
    /// <summary>The region replacing <paramref name="region"/> under a horizontal flip.</summary>
    string MirrorOf(string region);
    /// <summary>Class index of sample <paramref name="index"/>.</summary>
    int Label(int index);
    /// <summary>Subject (or family) of a sample: validation splits never separate a group.</summary>
    string Group(int index);
    /// <summary>RGB CHW crop of one region of one sample.</summary>
    float[] Load(int index, string region);
}

/// <summary>Samples held in memory (tests, notebooks, small experiments).</summary>
/// <param name="Crops">Per sample, region name → RGB CHW crop.</param>
/// <param name="Labels">Class per sample.</param>
/// <param name="Groups">Subject per sample.</param>
/// <param name="CropSize">Crop side.</param>
/// <param name="Mirrors">Region → mirror region (absent = symmetric).</param>
public sealed record InMemoryRegionSamples(IReadOnlyList<IReadOnlyDictionary<string, float[]>> Crops, IReadOnlyList<int> Labels,
    IReadOnlyList<string> Groups, int CropSize, IReadOnlyDictionary<string, string>? Mirrors = null) : IRegionSamples
{
    /// <inheritdoc />
    public int Count => Labels.Count;
    /// <inheritdoc />
    public IReadOnlyList<string> Regions => Crops.Count == 0 ? [] : Crops[0].Keys.ToList();
    /// <inheritdoc />
    public string MirrorOf(string region) => Mirrors is not null && Mirrors.TryGetValue(region, out var m) ? m : region;
    /// <inheritdoc />
    public int Label(int index) => Labels[index];
    /// <inheritdoc />
    public string Group(int index) => Groups[index];
    /// <inheritdoc />
    public float[] Load(int index, string region) => Crops[index][region];
}

/// <summary>
/// An aligned data folder as <c>gestaltlab align</c> writes it (<c>manifest.csv</c> with <c>image = aligned/…png</c>,
/// crops in <c>regions/NAME/…png</c>, <c>regions.json</c>), read lazily from disk: memory does not grow with the data set.
/// </summary>
public sealed class AlignedRegionDataset : IRegionSamples, IRegionGeometry
{
    private readonly int[] _labels;
    private readonly string[] _groups;
    private readonly RegionSet _set;
    // Decoded crops kept while they fit in CacheBytes: small data sets (the demo, notebooks) decode each PNG once instead
    // of once per epoch; large ones stream the rest from disk, so memory stays bounded whatever the data set's size.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(int, string), RgbImage> _cache = new();
    private long _cachedBytes;

    /// <summary>Opens an aligned folder. Rows of <paramref name="splits"/> (all when null) whose label is in <paramref name="classes"/> are kept.</summary>
    /// <param name="alignedDirectory">Output folder of <c>gestaltlab align</c>.</param>
    /// <param name="classes">Class names in output order; null = every label found (sorted).</param>
    /// <param name="splits">Splits to keep (e.g. train and val), or null for all.</param>
    /// <param name="labelOf">What the class is (default: the syndrome column; pretraining uses the subject).</param>
    public AlignedRegionDataset(string alignedDirectory, IReadOnlyList<string>? classes = null, IReadOnlyCollection<string>? splits = null,
        Func<ManifestRow, string>? labelOf = null)
    {
        Root = Path.GetFullPath(alignedDirectory);
        string regionsJson = Path.Combine(Root, "regions.json");
        if (!File.Exists(regionsJson) || !Directory.Exists(Path.Combine(Root, "regions")))
        {
            // An alignment marks its folder first and writes regions.json late: one stopped part-way is said as such.
            if (File.Exists(Path.Combine(Root, FaceDatasetAligner.AlignmentMarker)) && !File.Exists(Path.Combine(Root, RunManifest.FileName)))
                throw new GestaltLabException($"{alignedDirectory}: an unfinished alignment (no run.json: it was interrupted)",
                    "run the same `gestaltlab align` again (it resumes an unfinished alignment of the same data and settings)");
            throw new GestaltLabException($"{alignedDirectory}: not an aligned data folder (no regions.json or regions/)",
                "run `gestaltlab align --data DIR --out ALIGNED` first, or pass the raw data folder to `gestaltlab train` (it aligns; in C#: FaceDatasetAligner.EnsureAligned, or ModelEvaluation.EvaluateOn to score it)");
        }
        _set = RegionSet.Load(regionsJson);
        Manifest = Manifest.Load(Root);
        labelOf ??= r => r.Syndrome;
        var rows = Manifest.Rows.Where(r => (splits is null || splits.Contains(r.Split)) && labelOf(r).Length > 0).ToList();
        Classes = classes ?? rows.Select(labelOf).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = Classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        rows = rows.Where(r => index.ContainsKey(labelOf(r))).ToList();
        Rows = rows;
        _labels = rows.Select(r => index[labelOf(r)]).ToArray();
        _groups = rows.Select(r => r.SplitGroup).ToArray();
        CropSize = _set.Regions[0].Size;
    }

    /// <summary>Memory budget for decoded crops (bytes; default 512 MiB, 0 = no cache). Crops beyond it are read from disk each time.</summary>
    public long CacheBytes { get; init; } = 512L << 20;

    /// <summary>The folder.</summary>
    public string Root { get; }
    /// <summary>Its manifest (all rows).</summary>
    public Manifest Manifest { get; }
    /// <summary>The rows kept, in sample order.</summary>
    public IReadOnlyList<ManifestRow> Rows { get; }
    /// <summary>Class names in output order.</summary>
    public IReadOnlyList<string> Classes { get; }
    /// <summary>The folder's region set.</summary>
    public RegionSet RegionSet => _set;

    /// <inheritdoc />
    public int Count => _labels.Length;
    /// <inheritdoc />
    public int CropSize { get; }
    /// <inheritdoc />
    public IReadOnlyList<string> Regions => _set.Names;
    /// <inheritdoc />
    public string MirrorOf(string region) => _set.MirrorOf(region);
    /// <inheritdoc />
    public int Label(int index) => _labels[index];
    /// <inheritdoc />
    public string Group(int index) => _groups[index];

    /// <summary>
    /// Drops cached crops of every region not in <paramref name="regions"/>. Training goes region by region, so without
    /// this the first regions would fill the budget for good and every later one would decode its crops each epoch.
    /// </summary>
    public void RetainCache(IReadOnlyCollection<string> regions)
    {
        foreach (var key in _cache.Keys)
            if (!regions.Contains(key.Item2) && _cache.TryRemove(key, out var image))
                Interlocked.Add(ref _cachedBytes, -image.Pixels.Length);
    }

    /// <summary>Bytes of decoded crops held in memory now.</summary>
    internal long CachedBytes => Interlocked.Read(ref _cachedBytes);

    /// <summary>What a run records as the data it was trained on (<see cref="ContentHashKind"/>).</summary>
    public const string ContentHashKind = "aligned-crops";

    /// <summary>
    /// SHA-256 of what training and evaluation read from this folder: <c>manifest.csv</c>, <c>regions.json</c>,
    /// <c>landmarks.csv</c> and every region's crop of every listed photo (all splits). Files beside them (a run
    /// directory kept inside the folder, hidden or temporary files, QC tables, overlays) do not change it.
    /// </summary>
    public string ContentHash()
    {
        var files = new[] { Manifest.FileName, "regions.json", "landmarks.csv" }.Where(f => File.Exists(Path.Combine(Root, f))).ToList();
        foreach (var row in Manifest.Rows)
            foreach (var region in _set.Names)
                files.Add(Path.GetRelativePath(Root, FaceDatasetAligner.CropPath(Root, region, row.Image)).Replace('\\', '/'));
        return RunManifest.ComputeFilesHash(Root, files);
    }

    /// <summary>Path of a sample's crop.</summary>
    public string CropPath(int index, string region) => FaceDatasetAligner.CropPath(Root, region, Rows[index].Image);

    private AlignedCropLandmarks? _landmarks;

    /// <inheritdoc />
    public int PointCount => 68;

    /// <inheritdoc />
    public int MirrorPoint(int point) => FaceTemplate.Default.MirrorOf(point);

    /// <inheritdoc />
    /// <remarks>From the folder's <c>landmarks.csv</c>, read on first use (the rows' <c>source_image</c> column links them).</remarks>
    public float[]? CropLandmarks(int index, string region) =>
        Rows[index].Extra.TryGetValue("source_image", out var source) ? CropLandmarksSource.For(source, region) : null;

    private AlignedCropLandmarks CropLandmarksSource => LazyInitializer.EnsureInitialized(ref _landmarks, () =>
    {
        int alignedSize = 256;
        if (File.Exists(Path.Combine(Root, RunManifest.FileName)) && RunManifest.Load(Root).Config["aligned_size"] is { } size)
            alignedSize = size.GetValue<int>();
        return new AlignedCropLandmarks(Root, _set, alignedSize);
    });

    /// <inheritdoc />
    public float[] Load(int index, string region)
    {
        if (_cache.TryGetValue((index, region), out var cached)) return Tensors.ToChw(cached);
        var image = ImageLoader.Load(CropPath(index, region));
        if (image.Width != CropSize || image.Height != CropSize)
            throw new GestaltLabException($"{CropPath(index, region)}: crop is {image.Width}×{image.Height}, expected {CropSize}×{CropSize}");
        long size = image.Pixels.Length;
        if (Interlocked.Add(ref _cachedBytes, size) > CacheBytes || !_cache.TryAdd((index, region), image)) Interlocked.Add(ref _cachedBytes, -size);
        return Tensors.ToChw(image);
    }
}
