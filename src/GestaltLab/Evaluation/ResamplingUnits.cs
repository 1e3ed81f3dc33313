using GestaltLab.Data;

namespace GestaltLab.Evaluation;

/// <summary>
/// What a bootstrap interval draws. Several photos of one person are not independent evidence, and neither are relatives:
/// they share genes and faces. Intervals therefore draw whole families where the data's manifest names them, else people.
/// </summary>
public static class ResamplingUnits
{
    /// <summary>
    /// The unit of each photo: <c>family:F</c> when <paramref name="manifest"/> gives its subject a family, else
    /// <c>subject:S</c> (the manifest's <see cref="ManifestRow.SplitGroup"/>, the grouping splits keep together). Null when
    /// there is no manifest or it gives none of these subjects a family: the subjects themselves are then the units.
    /// </summary>
    /// <param name="subjects">Subject per photo.</param>
    /// <param name="manifest">The data's manifest, or null.</param>
    public static IReadOnlyList<string>? Families(IReadOnlyList<string> subjects, Manifest? manifest)
    {
        var family = manifest?.Rows.Where(r => r.Family.Length > 0).GroupBy(r => r.Subject, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().SplitGroup, StringComparer.Ordinal);
        if (family is null || !subjects.Any(family.ContainsKey)) return null;
        return subjects.Select(s => family.TryGetValue(s, out var f) ? f : "subject:" + s).ToList();
    }

    /// <summary>
    /// The manifest of the data an evaluation scored: <c>manifest.csv</c> in the data folder its <c>metrics.json</c>
    /// names (<see cref="ClassificationMetrics.Data"/>), else in the one its run's <c>run.json</c> names (configuration
    /// keys data, data_dir, data_directory), else the run's own aligned copy (<c>aligned/manifest.csv</c>: a run moved or
    /// received without its data); null when none is there. The report and <c>gestaltlab compare</c> find
    /// the same one, so both draw the same units.
    /// </summary>
    /// <param name="folder">A run folder or an evaluation's folder.</param>
    public static string? DataManifestPath(string folder)
    {
        string? Found(string? data, string relativeTo)
        {
            if (data is not { Length: > 0 }) return null;
            foreach (var candidate in new[] { Path.IsPathRooted(data) ? data : Path.Combine(relativeTo, data), data }.Distinct(StringComparer.Ordinal))
            {
                string file = Directory.Exists(candidate) ? Path.Combine(candidate, Manifest.FileName) : candidate;
                // Only a manifest: a shared run's record naming another file (a user's credentials, say) would have its
                // first line quoted in the error a report shows.
                if (Path.GetFileName(file) == Manifest.FileName && File.Exists(file) && Path.GetFileName(Runtime.RunFolder.RealPath(file)) == Manifest.FileName) return file;
            }
            return null;
        }
        // Files that cannot be read name no manifest: what reads them reports that itself.
        try
        {
            if (EvaluationRecord.FinishedMetrics(folder) is { } metrics && Found(ClassificationMetrics.Load(metrics).Data, folder) is { } scored) return scored;
        }
        catch (Exception e) when (e is Runtime.GestaltLabException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException) { }
        try
        {
            if (File.Exists(Path.Combine(folder, Runtime.RunManifest.FileName)) && Runtime.RunManifest.Load(folder).Config is System.Text.Json.Nodes.JsonObject config)
                foreach (var key in new[] { "data", "data_dir", "data_directory", "dataDirectory", "Data" })
                    if (config.TryGetPropertyValue(key, out var value) && value is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out string? data) && Found(data, folder) is { } named)
                        return named;
        }
        catch (Exception e) when (e is Runtime.GestaltLabException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidOperationException) { }
        // A run moved or received without its data still holds the aligned copy of it that it trained on (its manifest
        // carries the data's columns and each photo's source): families and colours come from there.
        return Found(Path.Combine(folder, "aligned"), folder);
    }
}
