using System.Text.Json.Serialization;
using GestaltLab.Data;
using GestaltLab.Synthetic;

namespace GestaltLab.Evaluation;

/// <summary>Options of <see cref="StratumAccuracy.Compute"/>.</summary>
public sealed record StratumOptions
{
    /// <summary>Manifest columns to score by (default <see cref="StratumAccuracy.DefaultColumns"/>); a column no scored
    /// photo has a value in is left out.</summary>
    public IReadOnlyList<string> Columns { get; init; } = StratumAccuracy.DefaultColumns;
    /// <summary>Bootstrap resamples of each group's intervals and permutations of each column's test: 0 (figures only,
    /// no intervals, no test) or at least 100.</summary>
    public int Iterations { get; init; } = 1000;
    /// <summary>Seed of the resamples and permutations (same seed, same intervals).</summary>
    public int Seed { get; init; }
    /// <summary>The synthetic data's oracle with its per-person ranks (<see cref="OracleFigures.TryLoad"/> of the data
    /// folder), scored on each group's photos; null on real data or when its figures are not comparable.</summary>
    public OracleFigures? Oracle { get; init; }
    /// <summary>Every photo of the scored split of syndromes the model knows, scored or not (the data's manifest rows):
    /// per group, those that were not scored (no usable face) are counted. Null when unknown.</summary>
    public IReadOnlyList<ManifestRow>? AllPhotos { get; init; }
}

/// <summary>Accuracy on the scored photos that share one value of a stratum column (one sex, age band or skin tone).</summary>
public sealed record StratumScore
{
    /// <summary>Photos scored.</summary>
    [JsonPropertyName("n_images")] public int NImages { get; init; }
    /// <summary>People those photos show.</summary>
    [JsonPropertyName("n_subjects")] public int NSubjects { get; init; }
    /// <summary>Per-image top-1 accuracy.</summary>
    [JsonPropertyName("top1")] public double Top1 { get; init; }
    /// <summary>95% percentile-bootstrap interval of <see cref="Top1"/> over the group's people (or families): [lower,
    /// upper]; null without resamples, or when the group holds a single person (or family), whose figure no resample changes.</summary>
    [JsonPropertyName("top1_ci")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double[]? Top1Interval { get; init; }
    /// <summary>Per-image top-5 accuracy.</summary>
    [JsonPropertyName("top5")] public double Top5 { get; init; }
    /// <summary>Interval of <see cref="Top5"/>, as <see cref="Top1Interval"/>.</summary>
    [JsonPropertyName("top5_ci")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double[]? Top5Interval { get; init; }
    /// <summary>Per-image top-10 accuracy.</summary>
    [JsonPropertyName("top10")] public double Top10 { get; init; }
    /// <summary>Interval of <see cref="Top10"/>, as <see cref="Top1Interval"/>.</summary>
    [JsonPropertyName("top10_ci")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double[]? Top10Interval { get; init; }
    /// <summary>The group's photos of the scored split that were not scored because alignment found no usable face in
    /// them (a detector that misses some faces more often than others shows here); null when unknown.</summary>
    [JsonPropertyName("n_unscored")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? NUnscored { get; init; }
    /// <summary>The synthetic oracle on the same photos (Bayes on the true traits: the group's reference); null on real data.</summary>
    [JsonPropertyName("oracle")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public OracleFigures? Oracle { get; init; }
}

/// <summary>One column's groups, in their natural order (age bands by age, skin tones I to VI), and the test of their differences.</summary>
public sealed record StratumColumn
{
    /// <summary>Each value's figures, by value.</summary>
    [JsonPropertyName("values")] public IReadOnlyDictionary<string, StratumScore> Values { get; init; } = new Dictionary<string, StratumScore>();
    /// <summary>Scored photos whose manifest leaves this column blank (in no group).</summary>
    [JsonPropertyName("n_unknown")] public int NUnknown { get; init; }
    /// <summary>
    /// Permutation p-value of the top-1 differences between the groups: how often groups as different (by the
    /// photo-weighted spread of their top-1 about the mean) arise when the column's values are shuffled among the people
    /// (or families), each keeping their photos and hits. Small: the groups differ by more than chance makes people
    /// differ. Null when not tested (<see cref="NotTested"/> says why).
    /// </summary>
    [JsonPropertyName("p_differences")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PDifferences { get; init; }
    /// <summary>What the test shuffled among: <c>subjects</c> or <c>families</c>; null when not tested.</summary>
    [JsonPropertyName("test_unit")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? TestUnit { get; init; }
    /// <summary>Why there is no test (a single group, no permutations asked, values differing among one person's photos); else null.</summary>
    [JsonPropertyName("not_tested")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? NotTested { get; init; }

    /// <summary>The test's p-value as printed: <c>p = 0.62</c>, <c>p = 0.004</c>, or <c>p &lt; 0.001</c> below what 1,000
    /// permutations can show; null when not tested.</summary>
    [JsonIgnore] public string? PText => PDifferences switch
    {
        null => null,
        < 0.001 => "p < 0.001",
        < 0.01 and var p => FormattableString.Invariant($"p = {p:0.000}"),
        var p => FormattableString.Invariant($"p = {p:0.00}"),
    };

    /// <summary>The groups in their natural order (see <see cref="StratumAccuracy.Ordered"/>), whatever order a file gave them in.</summary>
    public IEnumerable<KeyValuePair<string, StratumScore>> Ordered(string column) =>
        StratumAccuracy.Ordered(column, Values.Keys).Select(v => new KeyValuePair<string, StratumScore>(v, Values[v]));
}

/// <summary>
/// Accuracy by stratum as <c>metrics.json</c> records it under <c>strata</c>: each column's groups, with intervals and a
/// test of their differences. Accuracy shifts with age, sex and ancestry in the field's own evaluations; a paper reports
/// it by stratum, and a model or face detector that serves one group worse should be seen before it is used.
/// </summary>
public sealed record StrataScores
{
    /// <summary>What intervals resample: <c>subjects</c>, or <c>families</c> where the manifest names them (relatives together).</summary>
    [JsonPropertyName("unit")] public string Unit { get; init; } = "subjects";
    /// <summary>Bootstrap resamples and permutations (0: figures only).</summary>
    [JsonPropertyName("iterations")] public int Iterations { get; init; }
    /// <summary>Their seed.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; }
    /// <summary>Each column scored (those with a value in some scored photo), by manifest column name.</summary>
    [JsonPropertyName("columns")] public IReadOnlyDictionary<string, StratumColumn> Columns { get; init; } = new Dictionary<string, StratumColumn>();
}

/// <summary>
/// Top-k accuracy per group of a stratum column (sex, age band, skin tone): the figures, 95% bootstrap intervals over
/// people, the oracle on the same photos for synthetic data, the photos left unscored for want of a face, and a
/// permutation test of whether the groups differ by more than chance. Small groups scatter widely by chance alone (a
/// 30-class demo test split has 9–23 people per skin tone; docs/figures.md shows one such run): read the intervals and
/// the test, not the spread of the figures.
/// </summary>
public static class StratumAccuracy
{
    /// <summary>The columns scored by default: those a paper reports accuracy by.</summary>
    public static readonly IReadOnlyList<string> DefaultColumns = ["sex", "age_band", "skin_tone"];

    /// <summary>
    /// Scores every column of <paramref name="options"/> on the photos of <paramref name="rows"/> (one per prediction;
    /// each row's subject, family and strata); null when no photo has a value in any of the columns (data without strata).
    /// </summary>
    /// <param name="rows">The scored photos' manifest rows, in the order of <paramref name="truth"/>.</param>
    /// <param name="truth">True class index per photo.</param>
    /// <param name="probabilities">Probability vector per photo.</param>
    /// <param name="options">Columns, resamples, seed, oracle, all photos of the split.</param>
    /// <exception cref="ArgumentException">Counts differ, or <see cref="StratumOptions.Iterations"/> is negative or 1–99.</exception>
    public static StrataScores? Compute(IReadOnlyList<ManifestRow> rows, IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, StratumOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        options ??= new StratumOptions();
        if (rows.Count != truth.Count || truth.Count != probabilities.Count)
            throw new ArgumentException($"{rows.Count} rows, {truth.Count} labels and {probabilities.Count} probability vectors");
        // A handful of resamples would print intervals and p-values that are nothing of the kind.
        if (options.Iterations is < 0 or > 0 and < 100)
            throw new ArgumentException($"{options.Iterations} resamples: use 0 (figures only) or at least 100", nameof(options));
        var rank = new int[rows.Count];
        for (int i = 0; i < rows.Count; i++) rank[i] = Metrics.RankOfTruth(probabilities[i], truth[i]);
        // Relatives share genes and faces: the unit is the family where the data names one, as the report's intervals.
        bool families = rows.Any(r => r.Family.Length > 0);
        var units = rows.Select(r => families ? r.SplitGroup : "subject:" + r.Subject).ToArray();
        var columns = new Dictionary<string, StratumColumn>(StringComparer.Ordinal);
        foreach (var column in options.Columns)
        {
            var values = rows.Select(r => r.ValueOf(column) ?? "").ToArray();
            if (values.All(v => v.Length == 0)) continue;
            var groups = new Dictionary<string, StratumScore>(StringComparer.Ordinal);
            foreach (var value in Ordered(column, values.Where(v => v.Length > 0).Distinct(StringComparer.Ordinal)))
            {
                var photos = Enumerable.Range(0, rows.Count).Where(i => values[i] == value).ToArray();
                groups[value] = Score(rows, rank, units, photos, options,
                    options.AllPhotos is { } all ? Math.Max(0, all.Count(r => r.ValueOf(column) == value) - photos.Length) : null);
            }
            var (p, unit, why) = Differences(rows, truth, values, rank, units, families, options, column);
            columns[column] = new StratumColumn { Values = groups, NUnknown = values.Count(v => v.Length == 0), PDifferences = p, TestUnit = unit, NotTested = why };
        }
        return columns.Count == 0 ? null : new StrataScores { Unit = families ? "families" : "subjects", Iterations = options.Iterations, Seed = options.Seed, Columns = columns };
    }

    /// <summary>
    /// <paramref name="values"/> in the column's natural order: sex female, male; age bands infant, child, adolescent,
    /// adult; skin tones I–VI (Fitzpatrick); then any others by ordinal comparison.
    /// </summary>
    public static IEnumerable<string> Ordered(string column, IEnumerable<string> values)
    {
        IReadOnlyList<string>? known = column.ToLowerInvariant() switch
        {
            "sex" => TraitSpace.Sexes, "age_band" => TraitSpace.AgeBands, "skin_tone" => TraitSpace.SkinTones, _ => null,
        };
        int Position(string v) => known?.ToList().IndexOf(v) is int i and >= 0 ? i : int.MaxValue;
        return values.OrderBy(Position).ThenBy(v => v, StringComparer.Ordinal);
    }

    private static StratumScore Score(IReadOnlyList<ManifestRow> rows, int[] rank, string[] units, int[] photos, StratumOptions o, int? unscored)
    {
        double Share(IReadOnlyList<int> idx, int k) => idx.Count == 0 ? double.NaN : idx.Count(j => rank[photos[j]] < k) / (double)idx.Count;
        var all = Enumerable.Range(0, photos.Length).ToArray();
        var groupUnits = photos.Select(i => units[i]).ToArray();
        // One person (or family) is the same in every resample: an interval would look certain where nothing is known.
        bool interval = o.Iterations > 0 && groupUnits.Distinct(StringComparer.Ordinal).Count() > 1;
        double[]? Ci(int k)
        {
            if (!interval) return null;
            var ci = Bootstrap.Interval(photos.Length, idx => Share(idx, k), o.Iterations, o.Seed, 0.95, groupUnits);
            return [ci.Lower, ci.Upper];
        }
        return new StratumScore
        {
            NImages = photos.Length,
            NSubjects = photos.Select(i => rows[i].Subject).Distinct(StringComparer.Ordinal).Count(),
            Top1 = Share(all, 1), Top1Interval = Ci(1),
            Top5 = Share(all, 5), Top5Interval = Ci(5),
            Top10 = Share(all, 10), Top10Interval = Ci(10),
            NUnscored = unscored,
            Oracle = o.Oracle?.On(photos.Select(i => rows[i].Subject).ToList()),
        };
    }

    // The permutation test of the top-1 differences between a column's groups. Its unit must carry one value: the family
    // (as the intervals) where it does, else the person; a person whose photos differ (age bands of photos years apart)
    // leaves the column untested.
    private static (double? P, string? Unit, string? Why) Differences(IReadOnlyList<ManifestRow> rows, IReadOnlyList<int> truth, string[] values, int[] rank,
        string[] units, bool families, StratumOptions o, string column)
    {
        var valued = Enumerable.Range(0, rows.Count).Where(i => values[i].Length > 0).ToArray();
        var groups = values.Where(v => v.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (groups.Count < 2) return (null, null, $"a single {column} value");
        if (o.Iterations == 0) return (null, null, "no permutations asked (0 iterations)");
        var candidates = families ? new[] { ("families", units), ("subjects", rows.Select(r => "subject:" + r.Subject).ToArray()) } : [("subjects", units)];
        foreach (var (name, unitOf) in candidates)
        {
            var byUnit = valued.GroupBy(i => unitOf[i], StringComparer.Ordinal).ToList();
            if (byUnit.Any(u => u.Select(i => values[i]).Distinct(StringComparer.Ordinal).Count() > 1)) continue;
            var hits = byUnit.Select(u => u.Count(i => rank[i] == 0)).ToArray();
            var counts = byUnit.Select(u => u.Count()).ToArray();
            var assigned = byUnit.Select(u => groups.IndexOf(values[u.First()])).ToArray();
            // Values move only among people of the same syndrome(s): a group that happens to hold harder syndromes (or, in
            // real data, ancestries that go with some syndromes) is not taken for a group the model serves worse.
            var blocks = Enumerable.Range(0, byUnit.Count)
                .GroupBy(u => string.Join('\n', byUnit[u].Select(i => truth[i]).Distinct().Order()))
                .Select(g => g.ToArray()).Where(g => g.Select(u => assigned[u]).Distinct().Count() > 1).ToList();
            if (blocks.Count == 0) return (null, null, $"no two {(name == "families" ? "families" : "people")} of one syndrome differ in {column}, so the test could not tell {column} from syndrome");
            double observed = Spread(hits, counts, assigned, groups.Count);
            var rng = new Random(o.Seed);
            var shuffled = (int[])assigned.Clone();
            int asLarge = 0;
            for (int b = 0; b < o.Iterations; b++)
            {
                foreach (var block in blocks)
                {
                    // Fisher–Yates within the block's units.
                    for (int j = block.Length - 1; j > 0; j--)
                    {
                        int r = rng.Next(j + 1);
                        (shuffled[block[j]], shuffled[block[r]]) = (shuffled[block[r]], shuffled[block[j]]);
                    }
                }
                // A tolerance for sums that are equal but added in another order.
                if (Spread(hits, counts, shuffled, groups.Count) >= observed - 1e-12) asLarge++;
            }
            return ((1.0 + asLarge) / (1.0 + o.Iterations), name, null);
        }
        return (null, null, $"some people's photos carry different {column} values, so shuffling people would not keep the groups");
    }

    // Photo-weighted spread of the groups' top-1 about the overall top-1: Σ n_g (p_g − p̄)².
    private static double Spread(int[] hits, int[] counts, int[] group, int groups)
    {
        var h = new double[groups];
        var n = new double[groups];
        for (int u = 0; u < hits.Length; u++)
        {
            h[group[u]] += hits[u];
            n[group[u]] += counts[u];
        }
        double mean = h.Sum() / n.Sum(), spread = 0;
        for (int g = 0; g < groups; g++)
            if (n[g] > 0) spread += n[g] * Math.Pow(h[g] / n[g] - mean, 2);
        return spread;
    }
}
