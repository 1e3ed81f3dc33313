using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>A receiver operating characteristic curve.</summary>
/// <param name="FalsePositiveRate">FPR at each threshold, from 0 to 1 (non-decreasing).</param>
/// <param name="TruePositiveRate">TPR at each threshold, from 0 to 1 (non-decreasing).</param>
/// <param name="Thresholds">Score thresholds (score ≥ threshold counts as positive); the first is +∞.</param>
/// <param name="Auc">Area under the curve (trapezoidal; equals the Mann-Whitney probability with ties as ½).</param>
/// <param name="Positives">Positive examples.</param>
/// <param name="Negatives">Negative examples.</param>
public readonly record struct RocCurve(double[] FalsePositiveRate, double[] TruePositiveRate, double[] Thresholds, double Auc, int Positives, int Negatives);

/// <summary>A ROC curve with percentile bootstrap confidence limits.</summary>
/// <param name="Curve">The curve on all data.</param>
/// <param name="Auc">AUC with its interval.</param>
/// <param name="Grid">FPR grid on which the band is given.</param>
/// <param name="TprLower">Lower band limit of TPR at each grid FPR.</param>
/// <param name="TprUpper">Upper band limit of TPR at each grid FPR.</param>
public readonly record struct RocWithBand(RocCurve Curve, ConfidenceInterval Auc, double[] Grid, double[] TprLower, double[] TprUpper);

/// <summary>ROC analysis of binary experiments (e.g. CdLS-like vs others, or syndromic vs unaffected).</summary>
public static class Roc
{
    /// <summary>The ROC curve of <paramref name="scores"/> (higher = more positive) against <paramref name="positive"/>.</summary>
    /// <exception cref="GestaltLabException">Mismatched lengths, or no positive or no negative example.</exception>
    public static RocCurve Compute(IReadOnlyList<bool> positive, IReadOnlyList<double> scores)
    {
        if (positive.Count != scores.Count) throw new GestaltLabException($"ROC: {positive.Count} labels but {scores.Count} scores");
        int pos = positive.Count(p => p), neg = positive.Count - pos;
        if (pos == 0 || neg == 0) throw new GestaltLabException($"ROC needs positive and negative examples (got {pos} positive, {neg} negative)");
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).ToArray();
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        var thr = new List<double> { double.PositiveInfinity };
        int tp = 0, fp = 0;
        for (int r = 0; r < order.Length; r++)
        {
            if (positive[order[r]]) tp++; else fp++;
            // One point per distinct score: tied scores move the curve diagonally, as in scikit-learn.
            if (r + 1 < order.Length && scores[order[r + 1]] == scores[order[r]]) continue;
            fpr.Add((double)fp / neg);
            tpr.Add((double)tp / pos);
            thr.Add(scores[order[r]]);
        }
        double auc = 0;
        for (int i = 1; i < fpr.Count; i++) auc += (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2;
        return new RocCurve(fpr.ToArray(), tpr.ToArray(), thr.ToArray(), auc, pos, neg);
    }

    /// <summary>TPR of the curve at a given FPR (the step-wise upper envelope, by linear interpolation between points).</summary>
    public static double TprAt(RocCurve curve, double fpr)
    {
        var f = curve.FalsePositiveRate;
        var t = curve.TruePositiveRate;
        if (fpr <= 0) return t[Array.FindLastIndex(f, v => v <= 0)];
        for (int i = 1; i < f.Length; i++)
        {
            // Exactly on a vertical step: the top of it (the upper envelope), as just above that FPR.
            if (f[i] == fpr)
            {
                int last = i;
                while (last + 1 < f.Length && f[last + 1] == fpr) last++;
                return t[last];
            }
            if (f[i] > fpr)
                return f[i] == f[i - 1] ? t[i] : t[i - 1] + (t[i] - t[i - 1]) * (fpr - f[i - 1]) / (f[i] - f[i - 1]);
        }
        return 1;
    }

    /// <summary>
    /// The curve with a percentile bootstrap band: resamples cases with replacement, stratified so each resample keeps
    /// the numbers of positives and negatives, and takes the (1−level)/2 and (1+level)/2 quantiles of AUC and of TPR on
    /// a 101-point FPR grid. With <paramref name="groups"/> (each case's subject) whole subjects are resampled, all their
    /// photos together: photos of one person are not independent, and resampling them singly narrows the band.
    /// Deterministic for a seed. With no <paramref name="iterations"/>, the curve alone: no band (empty grid) and an AUC
    /// interval of NaN.
    /// </summary>
    public static RocWithBand Bootstrap(IReadOnlyList<bool> positive, IReadOnlyList<double> scores, int iterations = 1000, int seed = 0, double level = 0.95,
        IReadOnlyList<string>? groups = null)
    {
        var curve = Compute(positive, scores);
        if (iterations <= 0) return new RocWithBand(curve, new ConfidenceInterval(curve.Auc, double.NaN, double.NaN, level), [], [], []);
        if (groups is not null && groups.Count != positive.Count)
            throw new ArgumentException($"{groups.Count} groups for {positive.Count} cases", nameof(groups));
        // Units of resampling: single cases, or a group's cases (a subject, or a family, whose members may differ: an
        // unaffected sibling of a patient). Strata keep each resample's mix: units of positives only, of negatives only,
        // and mixed units; every stratum is drawn at its own size, so both classes are always there.
        var units = groups is null
            ? Enumerable.Range(0, positive.Count).Select(i => new[] { i }).ToArray()
            : Enumerable.Range(0, positive.Count).GroupBy(i => groups[i], StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToArray();
        var posUnits = units.Where(u => u.All(i => positive[i])).ToArray();
        var negUnits = units.Where(u => u.All(i => !positive[i])).ToArray();
        var mixedUnits = units.Where(u => u.Any(i => positive[i]) && u.Any(i => !positive[i])).ToArray();
        // A side resting on one person (one unaffected child among the test photos) is redrawn as itself every time: the
        // interval would hold the other side's spread alone and pass for the AUC's. None, as for a per-disorder figure
        // resting on a single person.
        if (posUnits.Length + mixedUnits.Length < 2 || negUnits.Length + mixedUnits.Length < 2)
            return new RocWithBand(curve, new ConfidenceInterval(curve.Auc, double.NaN, double.NaN, level), [], [], []);
        var grid = Enumerable.Range(0, 101).Select(i => i / 100.0).ToArray();
        var aucs = new double[iterations];
        var tprs = new double[grid.Length][];
        for (int g = 0; g < grid.Length; g++) tprs[g] = new double[iterations];
        var rng = new Random(seed);
        var labels = new List<bool>(positive.Count);
        var s = new List<double>(positive.Count);
        for (int b = 0; b < iterations; b++)
        {
            labels.Clear();
            s.Clear();
            foreach (var stratum in new[] { posUnits, negUnits, mixedUnits })
                for (int t = 0; t < stratum.Length; t++)
                    foreach (int pick in stratum[rng.Next(stratum.Length)])
                    {
                        labels.Add(positive[pick]);
                        s.Add(scores[pick]);
                    }
            var c = Compute(labels, s);
            aucs[b] = c.Auc;
            for (int g = 0; g < grid.Length; g++) tprs[g][b] = TprAt(c, grid[g]);
        }
        var lower = new double[grid.Length];
        var upper = new double[grid.Length];
        for (int g = 0; g < grid.Length; g++)
        {
            Array.Sort(tprs[g]);
            lower[g] = Evaluation.Bootstrap.Quantile(tprs[g], (1 - level) / 2);
            upper[g] = Evaluation.Bootstrap.Quantile(tprs[g], (1 + level) / 2);
        }
        Array.Sort(aucs);
        var ci = new ConfidenceInterval(curve.Auc, Evaluation.Bootstrap.Quantile(aucs, (1 - level) / 2), Evaluation.Bootstrap.Quantile(aucs, (1 + level) / 2), level);
        return new RocWithBand(curve, ci, grid, lower, upper);
    }
}
