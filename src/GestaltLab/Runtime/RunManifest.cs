using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GestaltLab.Runtime;

/// <summary>
/// The provenance record every run directory carries (<c>run.json</c>): what was run, with which configuration and
/// seed, on which package versions and machine, over which data (content hash). Enough to regenerate any figure.
/// </summary>
public sealed record RunManifest
{
    /// <summary>File name inside a run directory.</summary>
    public const string FileName = "run.json";

    /// <summary>What produced the run, e.g. <c>gestaltlab train</c>.</summary>
    public required string Command { get; init; }
    /// <summary>The seed that fixes data generation, splits and training.</summary>
    public required int Seed { get; init; }
    /// <summary>The full configuration as JSON.</summary>
    public required JsonNode Config { get; init; }
    /// <summary>SHA-256 of the input data (see <see cref="DataHash"/>), or null when the run has no data input.</summary>
    public string? DataHash { get; init; }
    /// <summary>Versions of GestaltLab and the packages that shape results.</summary>
    public IReadOnlyDictionary<string, string> Packages { get; init; } = PackageVersions();
    /// <summary>OS, runtime, architecture and core count.</summary>
    public string Machine { get; init; } =
        $"{RuntimeInformation.OSDescription}; {RuntimeInformation.FrameworkDescription}; {RuntimeInformation.ProcessArchitecture}; {Environment.ProcessorCount} cores";
    /// <summary>When the run started (UTC, ISO 8601).</summary>
    public string CreatedUtc { get; init; } = DateTime.UtcNow.ToString("O");
    /// <summary>When the run was last taken up again (an interrupted or finished run trained again), or null.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? ResumedUtc { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Writes <c>run.json</c> into <paramref name="runDirectory"/> atomically.</summary>
    public void Save(string runDirectory) => AtomicFile.WriteAllText(Path.Combine(runDirectory, FileName), JsonSerializer.Serialize(this, Json));

    /// <summary>Reads <c>run.json</c> from a run directory.</summary>
    public static RunManifest Load(string runDirectory)
    {
        string path = Path.Combine(runDirectory, FileName);
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: not found — is {runDirectory} a GestaltLab run directory?");
        try
        {
            return JsonSerializer.Deserialize<RunManifest>(File.ReadAllText(path), Json)
                   ?? throw new GestaltLabException($"{path}: empty run manifest");
        }
        catch (JsonException e)
        {
            throw new GestaltLabException($"{path}: not a valid run manifest ({e.Message})");
        }
    }

    /// <summary>
    /// The data folder a run or an alignment in <paramref name="directory"/> was made from (the full path its
    /// <c>run.json</c> records under <c>data</c>, without a trailing slash), or null when there is no readable record.
    /// </summary>
    public static string? RecordedData(string directory)
    {
        if (!File.Exists(Path.Combine(directory, FileName))) return null;
        try { return Load(directory).Config["data"]?.GetValue<string>()?.TrimEnd('/'); }
        catch (Exception e) when (e is GestaltLabException or InvalidOperationException or IOException) { return null; }
    }

    /// <summary>Versions of the assemblies whose behaviour shapes results.</summary>
    public static IReadOnlyDictionary<string, string> PackageVersions()
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        // A package's version names its release; GestaltLab's keeps the commit it was built from (0.1.0+<sha>), which is
        // what tells two builds of one version apart.
        void Add(string name, Assembly a, bool withCommit = false) =>
            result[name] = a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion is { } v
                ? (withCommit ? v : v.Split('+')[0])
                : a.GetName().Version?.ToString() ?? "unknown";
        Add("GestaltLab", typeof(RunManifest).Assembly, withCommit: true);
        Add("TorchSharp", typeof(TorchSharp.torch).Assembly);
        Add("Microsoft.ML", typeof(Microsoft.ML.MLContext).Assembly);
        Add("OpenCvSharp4", typeof(OpenCvSharp.Mat).Assembly);
        Add("Microsoft.ML.OnnxRuntime", typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly);
        Add("SkiaSharp", typeof(SkiaSharp.SKBitmap).Assembly);
        Add("Plotly.NET", typeof(Plotly.NET.GenericChart).Assembly);
        Add(".NET", typeof(object).Assembly);
        return result;
    }

    /// <summary><see cref="PackageVersions"/> as a JSON object, for records other than <c>run.json</c> (dataset.json, export.json).</summary>
    public static JsonObject PackageVersionsJson() =>
        new(PackageVersions().Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));

    /// <summary>
    /// The libtorch thread counts this record's <c>threads_used</c> lists, in order, as a new array (an entry that is no
    /// count, in a record edited by hand, is skipped rather than failing a resume), with the matching entries of
    /// <c>threads_from</c> (null when that list is missing or of another length).
    /// </summary>
    internal (JsonArray Used, JsonArray? From) ThreadsUsed()
    {
        var used = new JsonArray();
        var before = Config["threads_used"] as JsonArray;
        var fromBefore = Config["threads_from"] as JsonArray;
        var from = before is not null && fromBefore?.Count == before.Count ? new JsonArray() : null;
        for (int i = 0; i < (before?.Count ?? 0); i++)
            if (before![i] is JsonValue v && v.TryGetValue(out int t))
            {
                used.Add(t);
                from?.Add(fromBefore![i]?.DeepClone());
            }
        return (used, from);
    }

    /// <summary>SHA-256 of one file's contents (lower-case hex), e.g. the pretrained backbone a run started from.</summary>
    public static string ComputeFileHash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    /// <summary>
    /// SHA-256 over the named files of <paramref name="root"/>, in the order given: each file's relative path, then the
    /// SHA-256 of its contents (a fixed length, so no two lists of files run together into the same bytes), or
    /// <c>missing</c>/<c>unreadable</c> for one that cannot be read. A hash of what a command reads, rather than of
    /// whatever else lies in the folder (a run kept inside it, editor backups, hidden files).
    /// </summary>
    public static string ComputeFilesHash(string root, IEnumerable<string> relativePaths) => ComputeFilesHash(root, relativePaths, null);

    /// <summary>
    /// <see cref="ComputeFilesHash(string, IEnumerable{string})"/>, giving each file's own SHA-256 too (hex; <c>missing</c>
    /// or <c>unreadable</c> for a file that could not be read) in <paramref name="perFile"/>, by relative path.
    /// </summary>
    public static string ComputeFilesHash(string root, IEnumerable<string> relativePaths, IDictionary<string, string>? perFile)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var rel in relativePaths)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(rel + "\n"));
            byte[]? own = FileSha256(Path.Combine(root, rel), out string? state);
            // A file listed but gone, a broken link, one without read permission: its state is part of what was read.
            if (own is null) hash.AppendData(System.Text.Encoding.UTF8.GetBytes(state + "\n"));
            else hash.AppendData(own);
            if (perFile is not null) perFile[rel] = own is null ? state! : Convert.ToHexString(own).ToLowerInvariant();
        }
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>
    /// One file's SHA-256 as hex, as <see cref="ComputeFilesHash(string, IEnumerable{string}, IDictionary{string, string}?)"/>
    /// gives it per file (<c>missing</c> or <c>unreadable</c> when it cannot be read).
    /// </summary>
    public static string FileHashOrState(string path) => FileSha256(path, out var state) is { } own ? Convert.ToHexString(own).ToLowerInvariant() : state!;

    private static byte[]? FileSha256(string path, out string? state)
    {
        try
        {
            using var stream = File.OpenRead(path);
            state = null;
            return SHA256.HashData(stream);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            state = e is FileNotFoundException or DirectoryNotFoundException ? "missing" : "unreadable";
            return null;
        }
    }

    /// <summary>
    /// <see cref="ComputeDataHash"/> of what a data folder holds, leaving out its own top-level <c>run.json</c>: that
    /// records when and how the folder was written (an aligned folder aligned again gives the same crops), not what it holds.
    /// What runs trained before <c>AlignedRegionDataset.ContentHash</c> recorded; kept to recognise their data.
    /// </summary>
    public static string ComputeContentHash(string directory) => ComputeDataHash(directory, f => f != FileName);

    /// <summary>
    /// SHA-256 over the relative paths and contents of every file under <paramref name="directory"/> (sorted by
    /// path, ordinal), so the same data gives the same hash on any machine.
    /// </summary>
    public static string ComputeDataHash(string directory, Func<string, bool>? include = null)
    {
        string root = Path.GetFullPath(directory);
        var files = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .Where(f => include?.Invoke(f) ?? true)
            .OrderBy(f => f, StringComparer.Ordinal);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        foreach (var rel in files)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(rel + "\n"));
            using var stream = File.OpenRead(Path.Combine(root, rel));
            int n;
            while ((n = stream.Read(buffer, 0, buffer.Length)) > 0) hash.AppendData(buffer, 0, n);
        }
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }
}
