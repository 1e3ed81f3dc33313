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
    /// The manifest of the data an evaluation scored: <c>manifest.csv</c> in the folder its <c>metrics.json</c> names
    /// (<see cref="ClassificationMetrics.Data"/>); null when the folder or its manifest is not there.
    /// </summary>
    public static string? DataManifestPath(ClassificationMetrics? metrics) =>
        metrics?.Data is { Length: > 0 } data && Path.Combine(data, Manifest.FileName) is var file && File.Exists(file) ? file : null;
}
