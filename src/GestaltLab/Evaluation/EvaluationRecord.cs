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

    internal static void Finished(string folder, string metricsFile) =>
        AtomicFile.WriteAllText(Path.Combine(folder, FileName), new JsonObject { ["finished"] = true, ["metrics"] = Path.GetFileName(metricsFile) }.ToJsonString() + "\n");
}
