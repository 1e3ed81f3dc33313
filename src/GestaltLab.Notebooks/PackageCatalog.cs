using System.Text.Json;

namespace GestaltLab.Notebooks;

/// <summary>
/// The NuGet packages (and projects) the runner itself was built with, read from its <c>.deps.json</c>. A notebook's
/// <c>#r "nuget: …"</c> is satisfied from this list, because the runner never downloads anything.
/// </summary>
public sealed class PackageCatalog
{
    private readonly Dictionary<string, string> _versions;

    /// <summary>Creates a catalog from package ids and versions.</summary>
    public PackageCatalog(IEnumerable<KeyValuePair<string, string>> packages)
    {
        _versions = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (id, version) in packages) _versions.TryAdd(id, version);
    }

    /// <summary>Package ids and versions, sorted by id.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Packages =>
        _versions.OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase).ToList();

    /// <summary>The version the runner has of <paramref name="id"/>, or null when it does not have the package.</summary>
    public string? VersionOf(string id) => _versions.TryGetValue(id, out var v) ? v : null;

    /// <summary>The catalog of the running application (its deps.json files).</summary>
    public static PackageCatalog Current { get; } = FromDepsFiles(DepsFiles());

    private static IEnumerable<string> DepsFiles()
    {
        var listed = (AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Where(File.Exists).ToList();
        if (listed.Count > 0) return listed;
        return Directory.Exists(AppContext.BaseDirectory)
            ? Directory.EnumerateFiles(AppContext.BaseDirectory, "*.deps.json")
            : [];
    }

    /// <summary>Reads the <c>libraries</c> section of deps.json files (keys are <c>Id/Version</c>).</summary>
    public static PackageCatalog FromDepsFiles(IEnumerable<string> files)
    {
        var list = new List<KeyValuePair<string, string>>();
        foreach (var file in files)
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(file));
                if (!doc.RootElement.TryGetProperty("libraries", out var libraries)) continue;
                foreach (var lib in libraries.EnumerateObject())
                {
                    string type = lib.Value.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
                    if (type is not ("package" or "project")) continue;
                    int slash = lib.Name.LastIndexOf('/');
                    if (slash <= 0) continue;
                    list.Add(KeyValuePair.Create(lib.Name[..slash], lib.Name[(slash + 1)..]));
                }
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                // An unreadable deps file only means fewer packages can be matched; the #r check then says so.
            }
        }
        return new PackageCatalog(list);
    }
}
