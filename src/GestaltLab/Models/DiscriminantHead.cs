using GestaltLab.Runtime;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>
/// A region net's classifier refitted as shrinkage linear discriminant analysis (LDA) on the penultimate embeddings of
/// the training photos: one mean per syndrome and one within-class covariance shared by all of them. With hundreds of
/// syndromes and a few dozen people each, the head trained by gradient descent estimates every class from its own few
/// photos; LDA's shared covariance learns how faces vary <i>within</i> a syndrome from all the photos at once, which is
/// what separates syndromes whose means are close. It is still a linear layer (logit_c = w_c·x + b_c), so the net, its
/// ONNX graph and the ML.NET pipeline are unchanged. docs/learning.md has the measurements.
/// </summary>
public static class DiscriminantHead
{
    /// <summary>
    /// Shrinkage values tried: the share of the within-class covariance replaced by its mean variance × the identity.
    /// None below 0.1: on small validation sets the lowest loss is often a lucky, nearly unshrunk fit whose weights are
    /// large enough to amplify float noise (TorchSharp vs ONNX Runtime) past 1e-4; gestalt216 and the demo chose 0.1–0.4.
    /// </summary>
    public static IReadOnlyList<double> ShrinkageGrid { get; } = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

    /// <summary>Shrinkage used when there are no validation photos to choose one.</summary>
    public const double DefaultShrinkage = 0.5;

    /// <summary>A fitted head: <c>C × D</c> weights (row-major, like a linear layer), <c>C</c> biases and the shrinkage used.</summary>
    /// <param name="Weight">Row c is w_c = Σ⁻¹μ_c.</param>
    /// <param name="Bias">b_c = −½ μ_c·w_c (equal priors, as class-balanced training assumes).</param>
    /// <param name="Shrinkage">The shrinkage of the within-class covariance.</param>
    /// <param name="ValidationLoss">Validation cross-entropy after temperature scaling (NaN without validation photos).</param>
    /// <param name="ValidationAccuracy">Validation top-1 (NaN without validation photos).</param>
    public sealed record Fit(float[] Weight, float[] Bias, double Shrinkage, double ValidationLoss, double ValidationAccuracy);

    /// <summary>
    /// Fits the head on <paramref name="train"/> embeddings and picks the shrinkage with the lowest temperature-scaled
    /// validation cross-entropy (<see cref="DefaultShrinkage"/> when <paramref name="val"/> is empty).
    /// </summary>
    /// <param name="train">Training embeddings (each <c>D</c> long).</param>
    /// <param name="trainLabels">Their classes.</param>
    /// <param name="classCount">Number of classes; every class needs at least one training embedding.</param>
    /// <param name="val">Validation embeddings (may be empty).</param>
    /// <param name="valLabels">Their classes.</param>
    /// <param name="valFlipped">
    /// The validation photos' mirrored embeddings, when prediction averages each photo with its flip: the shrinkage is then
    /// judged on the averaged probabilities, as predictions are made (null: on the photos alone).
    /// </param>
    public static Fit FitSelected(IReadOnlyList<float[]> train, IReadOnlyList<int> trainLabels, int classCount,
        IReadOnlyList<float[]> val, IReadOnlyList<int> valLabels, IReadOnlyList<float[]>? valFlipped = null)
    {
        var stats = new Statistics(train, trainLabels, classCount);
        if (val.Count == 0)
        {
            var (w, b) = stats.Solve(DefaultShrinkage);
            return new Fit(w, b, DefaultShrinkage, double.NaN, double.NaN);
        }
        Fit? best = null;
        foreach (double alpha in ShrinkageGrid)
        {
            var (w, b) = stats.Solve(alpha);
            var logits = Logits(val, w, b, classCount);
            var flipped = valFlipped is null ? null : Logits(valFlipped, w, b, classCount);
            double t = Calibration.FitTemperature(logits, flipped, valLabels);
            double loss = Calibration.CrossEntropy(logits, flipped, valLabels, t);
            if (best is null || loss < best.ValidationLoss)
                best = new Fit(w, b, alpha, loss, Calibration.Accuracy(logits, flipped, valLabels, t));
        }
        return best!;
    }

    /// <summary>Fits the head with a given shrinkage (0 = the pooled covariance, 1 = a scaled identity: nearest class mean).</summary>
    public static Fit FitFixed(IReadOnlyList<float[]> train, IReadOnlyList<int> trainLabels, int classCount, double shrinkage)
    {
        if (shrinkage is < 0 or > 1 || double.IsNaN(shrinkage)) throw new ArgumentOutOfRangeException(nameof(shrinkage), "shrinkage must be in [0, 1]");
        var (w, b) = new Statistics(train, trainLabels, classCount).Solve(shrinkage);
        return new Fit(w, b, shrinkage, double.NaN, double.NaN);
    }

    /// <summary>Logits of the head for each embedding.</summary>
    public static float[][] Logits(IReadOnlyList<float[]> x, float[] weight, float[] bias, int classCount)
    {
        int d = weight.Length / classCount;
        var rows = new float[x.Count][];
        for (int i = 0; i < x.Count; i++)
        {
            var row = new float[classCount];
            var xi = x[i].AsSpan();
            for (int c = 0; c < classCount; c++)
            {
                double s = bias[c];
                var wc = weight.AsSpan(c * d, d);
                for (int j = 0; j < d; j++) s += wc[j] * xi[j];
                row[c] = (float)s;
            }
            rows[i] = row;
        }
        return rows;
    }

    /// <summary>Writes the head into <paramref name="net"/>'s classifier layer.</summary>
    public static void Install(RegionNet net, Fit fit)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(fit);
        int d = net.Config.EmbeddingSize, c = net.ClassCount;
        if (fit.Weight.Length != c * d || fit.Bias.Length != c)
            throw new GestaltLabException($"discriminant head is {fit.Bias.Length} × {fit.Weight.Length / Math.Max(1, fit.Bias.Length)}, the net's classifier is {c} × {d}");
        using var noGrad = no_grad();
        var head = net.named_parameters().Where(p => RegionNet.IsHead(p.name)).ToDictionary(p => p.name, p => p.parameter);
        using var w = tensor(fit.Weight, [c, d]);
        using var b = tensor(fit.Bias, [c]);
        head["fc.weight"].copy_(w);
        head["fc.bias"].copy_(b);
    }

    /// <summary>Class means and the pooled within-class covariance.</summary>
    private sealed class Statistics
    {
        private readonly int _d, _c;
        private readonly double[] _means;   // C × D
        private readonly double[] _cov;     // D × D
        private readonly double _meanVariance;

        public Statistics(IReadOnlyList<float[]> x, IReadOnlyList<int> y, int classCount)
        {
            if (x.Count == 0) throw new GestaltLabException("discriminant head: no training embeddings");
            if (x.Count != y.Count) throw new ArgumentException("one label per embedding is needed");
            if (y.Any(c => c < 0 || c >= classCount)) throw new ArgumentOutOfRangeException(nameof(y), "a label is outside 0…classCount−1");
            _d = x[0].Length; _c = classCount;
            _means = new double[_c * _d];
            var counts = new int[_c];
            for (int i = 0; i < x.Count; i++)
            {
                counts[y[i]]++;
                var m = _means.AsSpan(y[i] * _d, _d);
                for (int j = 0; j < _d; j++) m[j] += x[i][j];
            }
            int missing = Array.IndexOf(counts, 0);
            if (missing >= 0) throw new GestaltLabException($"discriminant head: class {missing} has no training photos");
            for (int c = 0; c < _c; c++)
                for (int j = 0; j < _d; j++) _means[c * _d + j] /= counts[c];

            // Pooled within-class scatter (upper triangle, then mirrored).
            _cov = new double[_d * _d];
            var r = new double[_d];
            for (int i = 0; i < x.Count; i++)
            {
                var m = _means.AsSpan(y[i] * _d, _d);
                for (int j = 0; j < _d; j++) r[j] = x[i][j] - m[j];
                for (int j = 0; j < _d; j++)
                {
                    double rj = r[j];
                    if (rj == 0) continue;
                    var row = _cov.AsSpan(j * _d, _d);
                    for (int k = j; k < _d; k++) row[k] += rj * r[k];
                }
            }
            double dof = Math.Max(1, x.Count - _c);
            for (int j = 0; j < _d; j++)
                for (int k = j; k < _d; k++)
                    _cov[k * _d + j] = _cov[j * _d + k] /= dof;
            _meanVariance = Enumerable.Range(0, _d).Average(j => _cov[j * _d + j]);
            // Nothing varies within classes (e.g. one photo per class): any positive scale gives the same ranking.
            if (!(_meanVariance > 0)) _meanVariance = 1;
        }

        /// <summary>
        /// w_c = Σ_α⁻¹ μ_c with Σ_α = (1 − α)Σ + α·v̄·I (v̄ = mean variance), b_c = −½ μ_c·w_c. Shrinking towards a scaled
        /// identity (Ledoit–Wolf's target) keeps every eigenvalue ≥ α·v̄, so units that hardly vary (dying ReLUs)
        /// cannot get huge weights that would amplify float noise between TorchSharp and ONNX Runtime.
        /// </summary>
        public (float[] Weight, float[] Bias) Solve(double alpha)
        {
            var a = new double[_d * _d];
            for (int j = 0; j < _d; j++)
                for (int k = 0; k < _d; k++)
                    a[j * _d + k] = (1 - alpha) * _cov[j * _d + k] + (j == k ? alpha * _meanVariance : 0);
            var chol = Cholesky(a, _d, alpha == 0 ? 1e-9 * _meanVariance : 0);
            var weight = new float[_c * _d];
            var bias = new float[_c];
            var v = new double[_d];
            for (int c = 0; c < _c; c++)
            {
                var mu = _means.AsSpan(c * _d, _d);
                mu.CopyTo(v);
                CholeskySolve(chol, _d, v);
                double dot = 0;
                for (int j = 0; j < _d; j++)
                {
                    weight[c * _d + j] = (float)v[j];
                    dot += v[j] * mu[j];
                }
                bias[c] = (float)(-0.5 * dot);
            }
            return (weight, bias);
        }

        private static double[] Cholesky(double[] a, int n, double jitter)
        {
            for (int i = 0; i < n; i++) a[i * n + i] += jitter;
            var l = new double[n * n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++)
                {
                    double s = a[i * n + j];
                    for (int k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
                    if (i == j)
                    {
                        if (!(s > 0)) throw new GestaltLabException("discriminant head: the within-class covariance is not positive definite");
                        l[i * n + i] = Math.Sqrt(s);
                    }
                    else l[i * n + j] = s / l[j * n + j];
                }
            return l;
        }

        private static void CholeskySolve(double[] l, int n, double[] b)
        {
            for (int i = 0; i < n; i++)
            {
                double s = b[i];
                for (int k = 0; k < i; k++) s -= l[i * n + k] * b[k];
                b[i] = s / l[i * n + i];
            }
            for (int i = n - 1; i >= 0; i--)
            {
                double s = b[i];
                for (int k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
                b[i] = s / l[i * n + i];
            }
        }
    }
}
