using System.Globalization;
using System.Text.Json.Serialization;
using GestaltLab.Data;
using GestaltLab.Synthetic;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>Options of <see cref="StratumAccuracy.Compute"/>.</summary>
public sealed record StratumOptions
{
    /// <summary>Manifest columns to score by (default <see cref="StratumAccuracy.DefaultColumns"/>): standard columns, or
    /// columns of the manifest's own (<see cref="ManifestRow.Extra"/>). A standard column no scored photo has a value in
    /// is left out.</summary>
    public IReadOnlyList<string> Columns { get; init; } = StratumAccuracy.DefaultColumns;
    /// <summary>Permutations of each column's test of its groups' differences: 0 (no test) or at least 100.</summary>
    public int Permutations { get; init; } = 1000;
    /// <summary>Seed of the permutations (same seed, same p-values).</summary>
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
    /// <summary>95% interval of <see cref="Top1"/> as [lower, upper] (<see cref="StratumAccuracy.Interval"/>: Wilson's,
    /// with the design effect of several photos per person); null for a group of one person (or family), whose figure
    /// is that one person's.</summary>
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

    /// <summary>The oracle's top-1 on the group's photos with the priors a model ranks with (<paramref name="equalPriors"/>:
    /// every syndrome equally likely, the default; else the training frequencies); null without an oracle, or without
    /// the equal-prior figures asked for (data generated before they were recorded).</summary>
    public double? OracleTop1(bool equalPriors) => Oracle is not { } o ? null : equalPriors ? o.EqualPriors?.Top1 : o.Top1;
}

/// <summary>One column's groups, in their natural order (age bands by age, skin tones I to VI), and the test of their differences.</summary>
public sealed record StratumColumn
{
    /// <summary>Each value's figures, by value.</summary>
    [JsonPropertyName("values")] public IReadOnlyDictionary<string, StratumScore> Values { get; init; } = new Dictionary<string, StratumScore>();
    /// <summary>Scored photos whose manifest leaves this column blank (in no group).</summary>
    [JsonPropertyName("n_unknown")] public int NUnknown { get; init; }
    /// <summary>
    /// Permutation p-value of the groups' top-1 differences: how often groups as different (by the photo-weighted spread of
    /// their top-1 about the mean) arise when the column's values are shuffled among the people (or families) of the same
    /// syndrome, each keeping their photos and hits. Small: these people's groups differ by more than chance makes people
    /// differ. It says nothing of why (the groups' figures are not adjusted for their syndromes), nor that the next people
    /// will differ alike. Null when not tested (<see cref="NotTested"/> says why).
    /// </summary>
    [JsonPropertyName("p_differences")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PDifferences { get; init; }
    /// <summary><see cref="PDifferences"/> adjusted by Holm's method for the number of columns tested (the smallest of
    /// three p-values is multiplied by three, and so on): below 0.05, a difference survives testing every column.</summary>
    [JsonPropertyName("p_holm")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PHolm { get; init; }
    /// <summary>What the test shuffled: <c>families</c> or <c>subjects</c>; null when not tested.</summary>
    [JsonPropertyName("test_unit")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? TestUnit { get; init; }
    /// <summary>People left out of the test because their photos carry different values (age bands of photos years
    /// apart), or their family's do where families are shuffled: they cannot be shuffled as one; their photos stay in their
    /// groups' figures. Null when none.</summary>
    [JsonPropertyName("test_left_out")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? TestLeftOut { get; init; }
    /// <summary>Why there is no test (a single group, no permutations asked, groups that never meet within a syndrome); else null.</summary>
    [JsonPropertyName("not_tested")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? NotTested { get; init; }

    /// <summary>The test's p-values as printed: <c>p = 0.62</c>, <c>p = 0.004</c> (three decimals below 0.1), or
    /// <c>p &lt; 0.001</c> below what 1,000 permutations can show; with Holm's adjusted one where several columns were
    /// tested and it differs. Null when not tested.</summary>
    [JsonIgnore] public string? PText => PDifferences is not { } p ? null
        : (p < 0.001 ? "p < 0.001" : "p = " + Format(p)) + (PHolm is { } h && h != p ? $" (Holm {(h < 0.001 ? "< 0.001" : Format(h))})" : "");

    // Two or three decimals, more where rounding would carry p across 0.05: p = 50/1001 must not print as 0.050 beside
    // a mark saying it is below 0.05 (it prints 0.04995).
    private static string Format(double p)
    {
        for (int decimals = p < 0.1 ? 3 : 2; ; decimals++)
        {
            string text = p.ToString("0." + new string('0', decimals), CultureInfo.InvariantCulture);
            if (decimals >= 6 || double.Parse(text, CultureInfo.InvariantCulture) < 0.05 == p < 0.05) return text;
        }
    }

    /// <summary>Whether the groups differ by more than chance at 5 % once every column tested is counted (Holm).</summary>
    [JsonIgnore] public bool Differs => (PHolm ?? PDifferences) < 0.05;

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
    /// <summary>What the intervals count as independent: <c>subjects</c>, or <c>families</c> where the manifest names
    /// them (relatives together).</summary>
    [JsonPropertyName("unit")] public string Unit { get; init; } = "subjects";
    /// <summary>Permutations of each column's test (0: none).</summary>
    [JsonPropertyName("permutations")] public int Permutations { get; init; }
    /// <summary>Their seed.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; }
    /// <summary>Each column scored (those with a value in some scored photo), by manifest column name.</summary>
    [JsonPropertyName("columns")] public IReadOnlyDictionary<string, StratumColumn> Columns { get; init; } = new Dictionary<string, StratumColumn>();

    // A file's text without its "strata" member, or null when it has none (or is no JSON object): figures by stratum
    // that cannot be read cost those figures, not the file's others.
    internal static string? WithoutStrata(string text)
    {
        try { return System.Text.Json.Nodes.JsonNode.Parse(text) is System.Text.Json.Nodes.JsonObject o && o.Remove("strata") ? o.ToJsonString() : null; }
        catch (System.Text.Json.JsonException) { return null; }
    }

    /// <summary>
    /// What makes these figures unusable, or null: a file of a shared run, edited by hand or written by another tool, may
    /// hold no columns, null groups, intervals that are not [lower, upper] or figures outside 0–1. The report leaves such
    /// strata out with this reason rather than fail or draw them.
    /// </summary>
    public string? Problem()
    {
        if (Columns is null || Columns.Count == 0) return "no column";
        if (Permutations < 0) return "a negative number of permutations";
        foreach (var (column, scores) in Columns)
        {
            if (scores?.Values is not { Count: > 0 } values) return $"column '{column}' has no groups";
            if (scores.PHolm is not null && scores.PDifferences is null) return $"column '{column}' has an adjusted p-value without its p-value";
            if (scores.NUnknown < 0 || scores.TestLeftOut < 0) return $"column '{column}' has a negative count";
            if (scores.PDifferences is { } p && !(p is > 0 and <= 1) || scores.PHolm is { } h && !(h is > 0 and <= 1)) return $"column '{column}' has a p-value outside 0–1";
            foreach (var (value, s) in values)
            {
                string where = $"'{column}' = '{value}'";
                if (s is null) return $"{where} has no figures";
                if (s.NImages < 1 || s.NSubjects < 1 || s.NSubjects > s.NImages || s.NUnscored < 0) return $"{where} has impossible counts";
                if (s.Oracle is { } o && new[] { o.Top1, o.Top5, o.Top10, o.EqualPriors?.Top1 ?? 0, o.EqualPriors?.Top5 ?? 0, o.EqualPriors?.Top10 ?? 0 }.Any(v => !(v is >= 0 and <= 1)))
                    return $"{where} has an oracle figure outside 0–1";
                foreach (var (figure, interval) in new[] { (s.Top1, s.Top1Interval), (s.Top5, s.Top5Interval), (s.Top10, s.Top10Interval) })
                {
                    if (!(figure is >= 0 and <= 1)) return $"{where} has a figure outside 0–1";
                    if (interval is not null && (interval.Length != 2 || !(interval[0] is >= 0 and <= 1) || !(interval[1] is >= 0 and <= 1) || interval[0] > interval[1]))
                        return $"{where} has an interval that is not [lower, upper] within 0–1";
                }
                if (!(s.Top1 <= s.Top5 && s.Top5 <= s.Top10)) return $"{where} has a top-1 above its top-5 or top-10";
            }
        }
        return null;
    }
}

/// <summary>
/// Top-k accuracy per group of a stratum column (sex, age band, skin tone): the figures, 95% intervals, the oracle on the
/// same photos for synthetic data, the photos left unscored for want of a face, and a permutation test of whether the
/// groups differ by more than chance. Small groups scatter widely by chance alone (a 30-class demo test split has 9–23
/// people per skin tone; docs/figures.md shows one such run): read the intervals and the test, not the spread of the figures.
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
    /// <param name="options">Columns, permutations, seed, oracle, all photos of the split.</param>
    /// <exception cref="ArgumentException">Counts differ; <see cref="StratumOptions.Permutations"/> is negative or 1–99.</exception>
    /// <exception cref="GestaltLabException">A column is neither a standard one nor one of the manifest's own (a misspelt name).</exception>
    public static StrataScores? Compute(IReadOnlyList<ManifestRow> rows, IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, StratumOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(probabilities);
        if (rows.Count != truth.Count || truth.Count != probabilities.Count)
            throw new ArgumentException($"{rows.Count} rows, {truth.Count} labels and {probabilities.Count} probability vectors");
        var rank = new int[rows.Count];
        for (int i = 0; i < rows.Count; i++) rank[i] = Metrics.RankOfTruth(probabilities[i], truth[i]);
        return Scores(rows, rank, options ?? new StratumOptions());
    }

    /// <summary>
    /// The same figures from where each photo's true syndrome already ranked — face-space matching's ranks among the
    /// gallery's syndromes (<see cref="FaceSpaceQuery.Rank"/>), say; null when no photo has a value in any of the columns.
    /// The permutation test's blocks are the photos' syndromes as their rows name them.
    /// </summary>
    /// <param name="rows">The scored photos' manifest rows, in the order of <paramref name="ranks"/>.</param>
    /// <param name="ranks">Per photo, the rank of its true syndrome (1 = first).</param>
    /// <param name="options">As for <see cref="Compute"/>.</param>
    /// <exception cref="ArgumentException">Counts differ, a rank below 1, or what <see cref="Compute"/> refuses.</exception>
    public static StrataScores? FromRanks(IReadOnlyList<ManifestRow> rows, IReadOnlyList<int> ranks, StratumOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(ranks);
        if (rows.Count != ranks.Count) throw new ArgumentException($"{rows.Count} rows and {ranks.Count} ranks");
        if (ranks.Any(r => r < 1)) throw new ArgumentException("ranks start at 1 (first)", nameof(ranks));
        return Scores(rows, ranks.Select(r => r - 1).ToArray(), options ?? new StratumOptions());
    }

    // rank: per photo, how many syndromes ranked above its true one (0 = first).
    private static StrataScores? Scores(IReadOnlyList<ManifestRow> rows, int[] rank, StratumOptions options)
    {
        // A handful of permutations would print p-values that are nothing of the kind.
        if (options.Permutations is < 0 or > 0 and < 100)
            throw new ArgumentException($"{options.Permutations} permutations: use 0 (no test) or at least 100", nameof(options));
        // A misspelt column would otherwise vanish from the figures without a word.
        if (options.Columns.FirstOrDefault(c => !Manifest.Columns.Contains(c.ToLowerInvariant()) && !rows.Any(r => r.Extra.ContainsKey(c))) is { } unknown)
            throw new GestaltLabException($"no column '{unknown}' in the scored photos' manifest (standard columns: {string.Join(", ", Manifest.Columns)})",
                "name a column the manifest has (StratumOptions.Columns; `evaluate --strata`), or add it to the manifest");
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
            var (p, unit, leftOut, why) = Differences(rows, values, rank, units, families, options, column);
            columns[column] = new StratumColumn { Values = groups, NUnknown = values.Count(v => v.Length == 0), PDifferences = p, TestUnit = unit, TestLeftOut = leftOut, NotTested = why };
        }
        if (columns.Count == 0) return null;
        // Holm: the i-th smallest of m p-values times (m − i + 1), never below the one before, at most 1.
        var tested = columns.Where(c => c.Value.PDifferences is not null).OrderBy(c => c.Value.PDifferences).ToList();
        double running = 0;
        for (int i = 0; i < tested.Count; i++)
        {
            running = Math.Min(1, Math.Max(running, tested[i].Value.PDifferences!.Value * (tested.Count - i)));
            columns[tested[i].Key] = tested[i].Value with { PHolm = running };
        }
        return new StrataScores { Unit = families ? "families" : "subjects", Permutations = options.Permutations, Seed = options.Seed, Columns = columns };
    }

    /// <summary>
    /// <paramref name="values"/> in the column's natural order: sex female, male; age bands infant, child, adolescent,
    /// adult; skin tones I–VI (Fitzpatrick) — known values matched whatever their case; then any others by the number they
    /// begin with (age bands such as <c>0-2</c>, <c>3-11</c>, <c>12-17</c>, <c>18+</c>), then by name.
    /// </summary>
    public static IEnumerable<string> Ordered(string column, IEnumerable<string> values)
    {
        IReadOnlyList<string> known = column.ToLowerInvariant() switch
        {
            "sex" => TraitSpace.Sexes, "age_band" => TraitSpace.AgeBands, "skin_tone" => TraitSpace.SkinTones, _ => [],
        };
        int Position(string v)
        {
            for (int i = 0; i < known.Count; i++)
                if (known[i].Equals(v, StringComparison.OrdinalIgnoreCase)) return i;
            return int.MaxValue;
        }
        static double Leading(string v)
        {
            int n = 0;
            while (n < v.Length && char.IsAsciiDigit(v[n])) n++;
            return n == 0 ? double.MaxValue : double.Parse(v[..n], CultureInfo.InvariantCulture);
        }
        return values.OrderBy(Position).ThenBy(Leading).ThenBy(v => v, StringComparer.OrdinalIgnoreCase).ThenBy(v => v, StringComparer.Ordinal);
    }

    /// <summary>
    /// 95% interval of a share of photos when several photos show one person (or family): Wilson's score interval on the
    /// effective number of photos — the photos divided by the design effect their clustering in <paramref name="hits"/>'
    /// units causes, then shrunk for a variance estimated from few units (Korn and Graubard's approach for clustered
    /// proportions). Photos of one person are not independent evidence; a percentile bootstrap over the few people of a
    /// small group covers the truth far less often than 95 % (with 3 people at a true 80 %, 42 % of the time) and gives
    /// an all-hit group [100 %, 100 %]. In simulation this one covers 95 % or more for groups of 2–13 people, more for the
    /// smallest (wide, as they should be), and 88–95 % for 30 people at rates near 0 or 1 with strongly agreeing photos.
    /// With every photo a hit (or a miss) the units count as the independent evidence. Null for fewer than two units.
    /// </summary>
    /// <param name="hits">Per unit: its photos that are hits, and its photos.</param>
    public static double[]? Interval(IReadOnlyList<(int Hits, int Photos)> hits)
    {
        ArgumentNullException.ThrowIfNull(hits);
        int m = hits.Count;
        double n = hits.Sum(h => h.Photos);
        if (m < 2 || n == 0) return null;
        double p = hits.Sum(h => h.Hits) / n;
        // The ratio estimator's variance over units (the sandwich), against the variance of as many independent photos.
        double clustered = m / (m - 1.0) * hits.Sum(h => Math.Pow(h.Hits - p * h.Photos, 2)) / (n * n);
        double independent = p * (1 - p) / n;
        const double z = 1.959963984540054;
        // Korn and Graubard's degrees-of-freedom step: the variance is estimated from m units only, so the effective size
        // shrinks by (z / t)² with m − 1 degrees of freedom (for 3 people, to a fifth). Without it, 3–4 people whose photos
        // agree with each other were covered 82–87 % of the time in simulation; with it 95 % or more.
        double t = StudentT975(m - 1);
        double effective = Math.Min(n, (independent > 0 ? n / Math.Max(1, clustered / independent) : m) * (z / t) * (z / t));
        double d = 1 + z * z / effective, centre = (p + z * z / (2 * effective)) / d;
        double half = z * Math.Sqrt(p * (1 - p) / effective + z * z / (4 * effective * effective)) / d;
        // With none or all right the bound is exactly 0 or 1 (the arithmetic leaves 5.6e-17 in the file otherwise).
        return [p == 0 ? 0 : Math.Max(0, centre - half), p == 1 ? 1 : Math.Min(1, centre + half)];
    }

    // The 97.5 % quantile of Student's t: tabled up to 30 degrees of freedom, then Cornish–Fisher's expansion (within 1e-4 there).
    private static double StudentT975(int df)
    {
        ReadOnlySpan<double> table = [12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448, 2.1314,
            2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423];
        if (df <= table.Length) return table[df - 1];
        const double z = 1.959963984540054;
        double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
        return z + (z3 + z) / (4.0 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96.0 * df * df) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384.0 * df * df * df);
    }

    private static StratumScore Score(IReadOnlyList<ManifestRow> rows, int[] rank, string[] units, int[] photos, StratumOptions o, int? unscored)
    {
        double Share(int k) => photos.Count(i => rank[i] < k) / (double)photos.Length;
        var byUnit = photos.GroupBy(i => units[i], StringComparer.Ordinal).ToList();
        double[]? Ci(int k) => Interval(byUnit.Select(u => (u.Count(i => rank[i] < k), u.Count())).ToList());
        return new StratumScore
        {
            NImages = photos.Length,
            NSubjects = photos.Select(i => rows[i].Subject).Distinct(StringComparer.Ordinal).Count(),
            Top1 = Share(1), Top1Interval = Ci(1),
            Top5 = Share(5), Top5Interval = Ci(5),
            Top10 = Share(10), Top10Interval = Ci(10),
            NUnscored = unscored,
            Oracle = o.Oracle?.On(photos.Select(i => rows[i].Subject).ToList()),
        };
    }

    // The permutation test of the top-1 differences between a column's groups. Its unit must carry one value: the family
    // (as the intervals) where at least half the families do, the mixed ones left out, else the person — people whose
    // photos differ (age bands of photos years apart) are left out of it and counted.
    private static (double? P, string? Unit, int? LeftOut, string? Why) Differences(IReadOnlyList<ManifestRow> rows, string[] values,
        int[] rank, string[] units, bool families, StratumOptions o, string column)
    {
        var valued = Enumerable.Range(0, rows.Count).Where(i => values[i].Length > 0).ToArray();
        var groups = values.Where(v => v.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (groups.Count < 2) return (null, null, null, $"a single {column} value");
        if (o.Permutations == 0) return (null, null, null, "no permutations asked (0)");
        var candidates = families ? new[] { ("families", units), ("subjects", rows.Select(r => "subject:" + r.Subject).ToArray()) } : [("subjects", units)];
        string? why = null;
        foreach (var (name, unitOf) in candidates)
        {
            var all = valued.GroupBy(i => unitOf[i], StringComparer.Ordinal).ToList();
            var mixed = all.Where(u => u.Select(i => values[i]).Distinct(StringComparer.Ordinal).Count() > 1).ToList();
            // A value relatives share (skin tone) keeps families whole, its few mixed families left out; one where most
            // differ (a brother and a sister) is shuffled as their members instead.
            if (name == "families" && mixed.Count * 2 > all.Count) continue;
            var byUnit = all.Except(mixed).ToList();
            int leftOut = mixed.Sum(u => u.Select(i => rows[i].Subject).Distinct(StringComparer.Ordinal).Count());
            if (mixed.Count > 0 && byUnit.Select(u => values[u.First()]).Distinct(StringComparer.Ordinal).Count() < 2)
                return (null, null, null, $"{(leftOut == 1 ? "1 person's" : $"{leftOut} people's")} photos carry different {column} values, and too few others are left to shuffle");
            var assigned = byUnit.Select(u => groups.IndexOf(values[u.First()])).ToArray();
            var hits = byUnit.Select(u => u.Count(i => rank[i] == 0)).ToArray();
            var counts = byUnit.Select(u => u.Count()).ToArray();
            // Values move only among people of the same syndrome(s): a group that happens to hold harder syndromes (or, in
            // real data, ancestries that go with some syndromes) is not taken for a group the model serves worse.
            // A family's block is its patients' syndromes: an unaffected sibling does not make it a block of its own.
            string Block(IEnumerable<int> photos)
            {
                var affected = photos.Where(i => !rows[i].IsUnaffected).ToList();
                return string.Join('\n', (affected.Count > 0 ? affected : photos).Select(i => rows[i].Syndrome).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
            }
            var blocks = Enumerable.Range(0, byUnit.Count)
                .GroupBy(u => Block(byUnit[u]))
                .Select(g => g.ToArray()).Where(g => g.Select(u => assigned[u]).Distinct().Count() > 1).ToList();
            if (blocks.Count == 0)
            {
                // Shuffled as people instead, families may still meet others of their syndrome.
                why = $"no two {(name == "families" ? "families" : "people")} of one syndrome differ in {column}, so the test could not tell {column} from syndrome";
                continue;
            }
            double observed = Spread(hits, counts, assigned, groups.Count);
            var rng = new Random(o.Seed);
            var shuffled = (int[])assigned.Clone();
            int asLarge = 0;
            for (int b = 0; b < o.Permutations; b++)
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
            return ((1.0 + asLarge) / (1.0 + o.Permutations), name, leftOut > 0 ? leftOut : null, null);
        }
        return (null, null, null, why);
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
