using System.Text.Json;
using System.Text.Json.Nodes;

namespace GestaltLab.Runtime;

/// <summary>
/// The record of what made an output file (a landmarks table, a manifest), written beside it as JSON: the command or
/// library call, the fields that say how (model files and their hashes, seeds), the package versions and the time. A
/// table handed to a colleague or cited in a paper carries where it came from; another model or detector gives other
/// numbers for the same photos.
/// </summary>
public static class Provenance
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// Where the record of <paramref name="output"/> goes: the same name with <c>.json</c>, unless that would be the
    /// output itself, one of <paramref name="avoid"/>, or a file there that is not a record of this output (a user's
    /// own <c>manifest.json</c>, another command's output): then <c>OUTPUT.provenance.json</c>. Never a user's file.
    /// </summary>
    /// <param name="output">The file the record is about.</param>
    /// <param name="command">What made it (as <see cref="Write"/> records it).</param>
    /// <param name="avoid">Files the record must not replace (the command's inputs).</param>
    public static string PathFor(string output, string command, params string[] avoid)
    {
        ArgumentNullException.ThrowIfNull(output);
        string full = Path.GetFullPath(output);
        string candidate = Path.GetFullPath(Path.ChangeExtension(output, ".json"));
        bool ours = true;
        if (File.Exists(candidate))
        {
            try
            {
                // A record of this same output, whether the CLI or a notebook made it, may be replaced by a newer one, and
                // so may a record whose output is gone (moved, or renamed with its folder); one of another output that is
                // still there (a.csv's beside a.txt) may not. Records from before `output` named theirs as `table`
                // (landmarks) or `manifest`, or by their command alone.
                var earlier = JsonNode.Parse(File.ReadAllText(candidate)) as JsonObject;
                string? Text(string key) => earlier?[key] is JsonValue v && v.TryGetValue(out string? t) ? t : null;
                string? of = Text("output") ?? Text("table") ?? Text("manifest");
                ours = Text("command") is { } made
                       && (of is null ? made == command : of == full || !File.Exists(of));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or IOException or UnauthorizedAccessException) { ours = false; }
        }
        return ours && candidate != full && !avoid.Any(a => Path.GetFullPath(a) == candidate) ? candidate : full + ".provenance.json";
    }

    /// <summary>
    /// Writes the record of <paramref name="output"/> (at <see cref="PathFor"/>, atomically): <c>command</c>,
    /// <c>output</c> (its full path), then <paramref name="fields"/> in their order, <c>packages</c> and <c>created_utc</c>.
    /// </summary>
    /// <param name="output">The file the record is about (written before).</param>
    /// <param name="command">What made it: the command line's verb (<c>gestaltlab landmarks</c>) or the library call.</param>
    /// <param name="fields">What else says how it was made; copied, not taken.</param>
    /// <param name="avoid">Files the record must not replace (the command's inputs).</param>
    /// <returns>The record's path.</returns>
    public static string Write(string output, string command, JsonObject fields, params string[] avoid)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(fields);
        string path = PathFor(output, command, avoid);
        var record = new JsonObject { ["command"] = command, ["output"] = Path.GetFullPath(output) };
        foreach (var (key, value) in fields) record[key] = value?.DeepClone();
        record["packages"] = RunManifest.PackageVersionsJson();
        record["created_utc"] = DateTime.UtcNow.ToString("O");
        // As private as the file it describes (it names that file's folder and inputs).
        bool ownerOnly = !OperatingSystem.IsWindows() && File.Exists(output)
            && (File.GetUnixFileMode(output) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) == 0;
        AtomicFile.WriteAllText(path, record.ToJsonString(Indented) + "\n", ownerOnly);
        return path;
    }
}
