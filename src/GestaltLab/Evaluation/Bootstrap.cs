namespace GestaltLab.Evaluation;

/// <summary>A point estimate with a confidence interval.</summary>
/// <param name="Estimate">The statistic on all data.</param>
/// <param name="Lower">Lower limit.</param>
/// <param name="Upper">Upper limit.</param>
/// <param name="Level">Confidence level, e.g. 0.95.</param>
public readonly record struct ConfidenceInterval(double Estimate, double Lower, double Upper, double Level)
{
    /// <inheritdoc />
    public override string ToString() =>
        FormattableString.Invariant($"{Estimate:F3} [{Lower:F3}, {Upper:F3}]");
}

/// <summary>
/// Percentile bootstrap confidence intervals. Cases are resampled by group (subject) when groups are given, because
/// photos of one person are not independent: resampling images would make intervals too narrow.
/// </summary>
public static class Bootstrap
{
    /// <summary>
    /// Interval of <paramref name="statistic"/> evaluated on resampled case indices (0 … <paramref name="count"/>−1).
    /// With <paramref name="groups"/>, whole groups are drawn with replacement. With <paramref name="strata"/> (e.g. each
    /// case's class), the units of each stratum are drawn from that stratum alone, as many as it has (a unit whose cases
    /// lie in several strata, such as a family with an unaffected sibling, is drawn among such mixed units): every
    /// stratum keeps its place in every resample, as a mean over classes needs. Deterministic for a seed.
    /// </summary>
    public static ConfidenceInterval Interval(int count, Func<IReadOnlyList<int>, double> statistic, int iterations = 1000,
        int seed = 0, double level = 0.95, IReadOnlyList<string>? groups = null, IReadOnlyList<int>? strata = null)
    {
        var all = Enumerable.Range(0, count).ToArray();
        double estimate = statistic(all);
        if (count == 0) return new ConfidenceInterval(estimate, double.NaN, double.NaN, level);
        if (groups is not null && groups.Count != count) throw new ArgumentException($"{groups.Count} groups for {count} cases", nameof(groups));
        if (strata is not null && strata.Count != count) throw new ArgumentException($"{strata.Count} strata for {count} cases", nameof(strata));
        int[][][] pools = strata is null ? [Units(count, groups)] : Pools(Units(count, groups), strata);
        var rng = new Random(seed);
        var values = new double[iterations];
        var sample = new List<int>(count);
        for (int b = 0; b < iterations; b++)
        {
            sample.Clear();
            foreach (var pool in pools)
                for (int u = 0; u < pool.Length; u++) sample.AddRange(pool[rng.Next(pool.Length)]);
            values[b] = statistic(sample);
        }
        var finite = values.Where(double.IsFinite).OrderBy(v => v).ToArray();
        if (finite.Length == 0) return new ConfidenceInterval(estimate, double.NaN, double.NaN, level);
        return new ConfidenceInterval(estimate, Quantile(finite, (1 - level) / 2), Quantile(finite, (1 + level) / 2), level);
    }

    /// <summary>
    /// The pools a stratified <see cref="Interval"/> draws from that hold a single unit: how many strata (a syndrome with
    /// one person, say), and whether the pool of units spanning several strata holds just one (the only family with
    /// members in two syndromes). Such a unit is the same in every resample: its share of the statistic looks certain and
    /// the interval is too narrow, so callers give no interval when either is found.
    /// </summary>
    public static (int Strata, bool Mixed) PoolsWithOneUnit(IReadOnlyList<int> strata, IReadOnlyList<string>? groups = null)
    {
        if (groups is not null && groups.Count != strata.Count) throw new ArgumentException($"{groups.Count} groups for {strata.Count} cases", nameof(groups));
        var single = Units(strata.Count, groups).GroupBy(u => PoolKey(u, strata)).Where(g => g.Count() < 2).Select(g => g.Key).ToList();
        return (single.Count(k => k != MixedPool), single.Contains(MixedPool));
    }

    private static int[][] Units(int count, IReadOnlyList<string>? groups) => groups is null
        ? Enumerable.Range(0, count).Select(i => new[] { i }).ToArray()
        : Enumerable.Range(0, count).GroupBy(i => groups[i], StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();

    // One pool per stratum value; units spanning several strata (a family with an unaffected sibling) form a pool of their own.
    private static int[][][] Pools(int[][] units, IReadOnlyList<int> strata) =>
        units.GroupBy(u => PoolKey(u, strata)).OrderBy(g => g.Key).Select(g => g.ToArray()).ToArray();

    private const int MixedPool = int.MinValue;

    private static int PoolKey(int[] unit, IReadOnlyList<int> strata) => unit.Select(i => strata[i]).Distinct().Count() > 1 ? MixedPool : strata[unit[0]];

    /// <summary>
    /// Top-k accuracy with a bootstrap interval: whole subjects resampled when <paramref name="subjects"/> (each photo's
    /// person, or family) are given — as they should be; without them each photo is drawn on its own, and the interval
    /// is too narrow wherever people have several photos.
    /// </summary>
    public static ConfidenceInterval TopK(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, int k,
        IReadOnlyList<string>? subjects = null, int iterations = 1000, int seed = 0, double level = 0.95)
    {
        var hit = new bool[truth.Count];
        for (int i = 0; i < truth.Count; i++) hit[i] = Metrics.RankOfTruth(probabilities[i], truth[i]) < k;
        return Interval(truth.Count, idx => idx.Count == 0 ? double.NaN : idx.Count(i => hit[i]) / (double)idx.Count,
            iterations, seed, level, subjects);
    }

    /// <summary>
    /// Top-k accuracy of a probability table (<c>probabilities.csv</c>, <see cref="RunResults.Probabilities"/>) with a
    /// bootstrap interval over its people: the table names them, so the easy call is the right one.
    /// </summary>
    /// <exception cref="KeyNotFoundException">A row's true class is not one of the table's columns.</exception>
    public static ConfidenceInterval TopK(ImageTable probabilities, int k, int iterations = 1000, int seed = 0, double level = 0.95)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        var truth = probabilities.TrueLabels.Select(probabilities.ColumnIndex).ToList();
        return TopK(truth, probabilities.Values, k, probabilities.Subjects, iterations, seed, level);
    }

    /// <summary>Linear-interpolation quantile (numpy's default) of sorted values.</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) return double.NaN;
        double pos = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }
}
