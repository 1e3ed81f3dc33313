using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>
/// Whether an evaluation's folder holds a finished evaluation, and which file its metrics are in (<c>evaluate --out
/// FILE.json</c> names them otherwise than <c>metrics.json</c>). An evaluation marks its folder unfinished before it
/// writes a table and finished, naming its metrics file, after the last one: a folder whose evaluation stopped part-way
/// may hold tables of two evaluations (a new <c>probabilities.csv</c> beside older embeddings), which nothing should
/// compare or draw.
/// </summary>
public static class EvaluationRecord
{
    /// <summary>The hidden record in an evaluation's folder.</summary>
    public const string FileName = RunFolder.EvaluationRecordName;

    /// <summary>
    /// The metrics file of the finished evaluation in <paramref name="folder"/>, or null when the evaluation there did not
    /// finish (or there is none). Folders evaluated before the record existed count as finished when they hold
    /// <c>metrics.json</c>.
    /// </summary>
    public static string? FinishedMetrics(string folder)
    {
        string record = Path.Combine(folder, FileName);
        if (!File.Exists(record))
            return File.Exists(Path.Combine(folder, "metrics.json")) ? Path.Combine(folder, "metrics.json") : null;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(record)) is not JsonObject o || o["metrics"] is not JsonValue v || !v.TryGetValue(out string? name)) return null;
            // A name in the folder; a record naming a path elsewhere is not followed.
            if (name.Length == 0 || Path.GetFileName(name) != name) return null;
            string metrics = Path.Combine(folder, name);
            return File.Exists(metrics) ? metrics : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException) { return null; }
    }

    internal static void Started(string folder) => AtomicFile.WriteAllText(Path.Combine(folder, FileName), "{\"finished\": false}\n");

    /// <summary>
    /// Marks the evaluation in <paramref name="folder"/> finished, with the SHA-256 of its metrics file and of each of
    /// <paramref name="tables"/> (paths relative to the folder, '/'-separated), so that a table cut short, edited or
    /// deleted since is not drawn or compared as the evaluation's (<see cref="ChangedFiles"/>).
    /// </summary>
    internal static void Finished(string folder, string metricsFile, IEnumerable<string> tables)
    {
        var hashes = new JsonObject();
        foreach (var table in tables.Prepend(Path.GetFileName(metricsFile)))
            hashes[table] = RunManifest.ComputeFileHash(Path.Combine(folder, table));
        AtomicFile.WriteAllText(Path.Combine(folder, FileName),
            new JsonObject { ["finished"] = true, ["metrics"] = Path.GetFileName(metricsFile), ["sha256"] = hashes }.ToJsonString() + "\n");
    }

    /// <summary>
    /// The files of the finished evaluation in <paramref name="folder"/> that are not as it wrote them, keyed by their path
    /// relative to the folder ('/'-separated), each with what is wrong ("missing", or "changed since the evaluation wrote
    /// it"). Empty when all are as written, and for an evaluation that recorded no hashes (before GestaltLab did) or did
    /// not finish (<see cref="FinishedMetrics"/> says so).
    /// </summary>
    public static IReadOnlyDictionary<string, string> ChangedFiles(string folder)
    {
        var changed = new SortedDictionary<string, string>(StringComparer.Ordinal);
        try
        {
            if (JsonNode.Parse(File.ReadAllText(Path.Combine(folder, FileName))) is not JsonObject o || o["sha256"] is not JsonObject hashes) return changed;
            foreach (var (table, hash) in hashes)
            {
                // Names in the folder only: a record naming a path elsewhere is not followed.
                if (table.Length == 0 || Path.IsPathRooted(table) || table.Split('/').Any(part => part is "" or "." or "..")) continue;
                string path = Path.Combine(folder, table);
                if (!File.Exists(path)) changed[table] = "missing";
                else if (hash is not JsonValue v || !v.TryGetValue(out string? expected) || RunManifest.ComputeFileHash(path) != expected)
                    changed[table] = "changed since the evaluation wrote it (cut short, edited or replaced)";
            }
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException) { }
        return changed;
    }
}
