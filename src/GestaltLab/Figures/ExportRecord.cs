using System.Text.Json.Nodes;

namespace GestaltLab.Figures;

/// <summary>
/// An export's record read back (<c>export.json</c>, or the partial one an export writes while it moves its files in):
/// which files of the folder an export wrote. Both <see cref="RunFigureExport"/> (what it may replace or remove) and
/// <see cref="Data.ImageLoader.FindPhotos"/> (figures are not patients' photos) go by it.
/// </summary>
internal static class ExportRecord
{
    /// <summary>The record's file name inside the export folder.</summary>
    public const string FileName = "export.json";

    /// <summary>
    /// Written beside the record while an export moves its files in, naming every file of the earlier export and of this
    /// one, with each hash either may have: an export killed part-way leaves a folder the next one still knows as
    /// export's.
    /// </summary>
    public const string PartialFileName = "export.json.partial";

    /// <summary>A file's hash that matches none (a record that gives something else than a hash for it).</summary>
    private const string NoHash = "(not a hash)";

    /// <summary>
    /// The files the record in <paramref name="dir"/> names, with the SHA-256 hashes each may have as export wrote it (none:
    /// a record of an older GestaltLab, which named its figures only — their SVG, PNG and HTML files and its composite grid
    /// are taken for its own then). The partial record, when one was left, comes first. A name with a path in it is not
    /// of export's making and is left out. Null when there is no record, or the file is not one export wrote (unreadable,
    /// not JSON, without the plotly.js version every record carries).
    /// </summary>
    public static Dictionary<string, string[]>? Files(string dir)
    {
        foreach (var name in new[] { PartialFileName, FileName })
        {
            string path = Path.Combine(dir, name);
            if (!File.Exists(path)) continue;
            try
            {
                if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject record || record["plotly_js"] is null) return null;
                return Read(record);
            }
            // A hand-edited record (a name twice, a value of another type) is no export's.
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
        return null;
    }

    private static Dictionary<string, string[]> Read(JsonObject record)
    {
        var files = new Dictionary<string, string[]>(StringComparer.Ordinal);
        static bool Plain(string name) => name.Length > 0 && name == Path.GetFileName(name) && name != FileName && name != PartialFileName;
        if (record["files"] is JsonObject written)
        {
            foreach (var (name, hashes) in written)
            {
                if (!Plain(name)) continue;
                // One hash as written, or (in a partial record) the hashes of the earlier export's file and this one's.
                files[name] = hashes switch
                {
                    JsonValue v when v.TryGetValue(out string? h) => [h],
                    JsonArray a => a.Select(x => x is JsonValue xv && xv.TryGetValue(out string? h) ? h : NoHash).ToArray(),
                    _ => [NoHash],
                };
            }
            return files;
        }
        foreach (var name in (record["figures"] as JsonArray ?? []).Select(n => n is JsonValue v && v.TryGetValue(out string? s) ? s : null).OfType<string>())
            if (Plain(name))
                foreach (var ext in new[] { ".svg", ".png", ".html" }) files[name + ext] = [];
        if (record["composite_faces"] is JsonValue c && c.TryGetValue(out string? composite) && Plain(composite)) files[composite] = [];
        return files;
    }

    /// <summary>Whether <paramref name="path"/> is as an export wrote it: its hash among <paramref name="hashes"/> (none known: taken to be).</summary>
    public static bool Unchanged(string path, IReadOnlyCollection<string> hashes) => hashes.Count == 0 || hashes.Contains(Sha256(path));

    /// <summary>The file's SHA-256, lower-case hex.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }
}
