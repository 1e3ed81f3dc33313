using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>
/// Temperature scaling (Guo et al., ICML 2017): one scalar T per region net, fitted on the validation split, divides the
/// logits so that the net's softmax confidence matches how often it is right. The ensemble combines region softmaxes, so
/// calibration decides how much each region weighs: an overconfident weak region (sharp but often wrong) is flattened
/// towards uniform and stops drowning out the informative ones. T does not change any region's ranking. The ensemble's
/// region weights are fitted here too (<see cref="FitLogLinearWeights"/>, <see cref="FitMixtureWeights"/>).
/// </summary>
public static class Calibration
{
    /// <summary>Temperatures tried: log-spaced from 0.25 to 50, then refined by golden-section search.</summary>
    public const double MinTemperature = 0.25, MaxTemperature = 50;

    /// <summary>The temperature minimising the validation cross-entropy of <paramref name="logits"/> (1 when there are none).</summary>
    /// <param name="logits">Validation logits.</param>
    /// <param name="labels">Their classes.</param>
    /// <param name="minTemperature">Lowest temperature tried (<see cref="MinTemperature"/> unless a head's logits may be far too flat).</param>
    /// <param name="maxTemperature">Highest temperature tried.</param>
    public static double FitTemperature(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels,
        double minTemperature = MinTemperature, double maxTemperature = MaxTemperature) =>
        FitTemperature(logits, null, labels, minTemperature, maxTemperature);

    /// <summary>
    /// The temperature minimising the validation cross-entropy of the average of softmax(<paramref name="logits"/>/T) and
    /// softmax(<paramref name="flippedLogits"/>/T): what flip test-time augmentation predicts, so the temperature is
    /// fitted for the probabilities users see (averaging two views makes them less sharp than either). Without flipped
    /// logits, the plain fit.
    /// </summary>
    /// <param name="logits">Validation logits of the photos as they are.</param>
    /// <param name="flippedLogits">The same photos' logits mirrored (null: no augmentation).</param>
    /// <param name="labels">Their classes.</param>
    /// <param name="minTemperature">Lowest temperature tried.</param>
    /// <param name="maxTemperature">Highest temperature tried.</param>
    public static double FitTemperature(IReadOnlyList<float[]> logits, IReadOnlyList<float[]>? flippedLogits, IReadOnlyList<int> labels,
        double minTemperature = MinTemperature, double maxTemperature = MaxTemperature) =>
        Fit(logits, flippedLogits, labels, minTemperature, maxTemperature, smoothing: 0);

    /// <summary>
    /// The temperature minimising the validation cross-entropy with the true class's probability held to Laplace's rule of
    /// succession: a target of 1 − ε for it and ε for "another class", ε = 1 / (n + 2) for n photos. Validation photos all (or
    /// nearly all) ranked right make the plain cross-entropy fall without end as the logits sharpen, so the plain fit runs
    /// to the bottom of its range, where every prediction reads 100 % — certainty that a handful of photos cannot show
    /// (a user's first run: 8 validation photos, temperature 0.01, "noonan 100 %" for a syndrome never trained on). With
    /// n photos right out of n, the rule expects the next to be right (n + 1)/(n + 2) of the time, and the fit stops there;
    /// with hundreds of photos ε is negligible and the fit is the plain one.
    /// </summary>
    /// <param name="logits">Validation logits, one row per photo.</param>
    /// <param name="labels">True class per photo.</param>
    /// <param name="minTemperature">Lowest temperature tried.</param>
    /// <param name="maxTemperature">Highest temperature tried.</param>
    public static double FitTemperatureSmoothed(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels,
        double minTemperature = MinTemperature, double maxTemperature = MaxTemperature) =>
        FitTemperatureSmoothed(logits, null, labels, minTemperature, maxTemperature);

    /// <summary>
    /// <see cref="FitTemperatureSmoothed(IReadOnlyList{float[]}, IReadOnlyList{int}, double, double)"/> for what flip
    /// test-time augmentation predicts: the true class's probability is the average of the photo's and its mirror's.
    /// </summary>
    /// <param name="logits">Validation logits of the photos as they are.</param>
    /// <param name="flippedLogits">The same photos' logits mirrored (null: no augmentation).</param>
    /// <param name="labels">True class per photo.</param>
    /// <param name="minTemperature">Lowest temperature tried.</param>
    /// <param name="maxTemperature">Highest temperature tried.</param>
    public static double FitTemperatureSmoothed(IReadOnlyList<float[]> logits, IReadOnlyList<float[]>? flippedLogits, IReadOnlyList<int> labels,
        double minTemperature = MinTemperature, double maxTemperature = MaxTemperature) =>
        Fit(logits, flippedLogits, labels, minTemperature, maxTemperature, smoothing: 1.0 / (logits.Count + 2));

    private static double Fit(IReadOnlyList<float[]> logits, IReadOnlyList<float[]>? flippedLogits, IReadOnlyList<int> labels,
        double minTemperature, double maxTemperature, double smoothing)
    {
        if (logits.Count == 0) return 1;
        if (flippedLogits is not null && flippedLogits.Count != logits.Count)
            throw new ArgumentException("one flipped row per row is needed", nameof(flippedLogits));
        double CrossEntropy(double t) => smoothing > 0 ? SmoothedCrossEntropy(logits, flippedLogits, labels, t, smoothing) : Calibration.CrossEntropy(logits, flippedLogits, labels, t);
        double best = 1, bestLoss = CrossEntropy(1);
        for (double t = minTemperature; t <= maxTemperature * 1.0001; t *= 1.1)
        {
            double loss = CrossEntropy(t);
            if (loss < bestLoss) (best, bestLoss) = (t, loss);
        }
        // Golden-section search in log T around the best grid point.
        double a = Math.Log(Math.Max(minTemperature, best / 1.1)), b = Math.Log(Math.Min(maxTemperature, best * 1.1));
        const double phi = 0.6180339887498949;
        for (int i = 0; i < 40; i++)
        {
            double c = b - phi * (b - a), d = a + phi * (b - a);
            if (CrossEntropy(Math.Exp(c)) < CrossEntropy(Math.Exp(d))) b = d; else a = c;
        }
        double refined = Math.Exp((a + b) / 2);
        return CrossEntropy(refined) <= bestLoss ? refined : best;
    }

    /// <summary>
    /// Softmax of <paramref name="z"/> in place, in float and in the ONNX graph's order of operations (max, exp of the
    /// difference, sum, divide), so the TorchSharp ensemble and the exported graph give the same numbers.
    /// </summary>
    internal static void SoftmaxInPlace(Span<float> z)
    {
        float max = float.NegativeInfinity, sum = 0;
        foreach (float v in z) max = MathF.Max(max, v);
        for (int c = 0; c < z.Length; c++) sum += z[c] = MathF.Exp(z[c] - max);
        for (int c = 0; c < z.Length; c++) z[c] /= sum;
    }

    /// <summary>Softmax of <paramref name="z"/> as a new array (see <see cref="SoftmaxInPlace"/>).</summary>
    public static float[] Softmax(ReadOnlySpan<float> z)
    {
        var p = z.ToArray();
        SoftmaxInPlace(p);
        return p;
    }

    /// <summary>
    /// Mean cross-entropy (natural log) of the average of softmax(<paramref name="logits"/>/T) and
    /// softmax(<paramref name="flippedLogits"/>/T), as flip test-time augmentation predicts; the plain cross-entropy
    /// when <paramref name="flippedLogits"/> is null.
    /// </summary>
    public static double CrossEntropy(IReadOnlyList<float[]> logits, IReadOnlyList<float[]>? flippedLogits, IReadOnlyList<int> labels, double temperature)
    {
        if (flippedLogits is null) return CrossEntropy(logits, labels, temperature);
        if (logits.Count == 0) return double.NaN;
        double sum = 0;
        for (int i = 0; i < logits.Count; i++)
        {
            // log((p + q) / 2) from the two log-probabilities, without leaving log space.
            double lp = -NegLogSoftmaxAt(logits[i], labels[i], temperature), lq = -NegLogSoftmaxAt(flippedLogits[i], labels[i], temperature);
            sum -= LogMeanExp(lp, lq);
        }
        return sum / logits.Count;
    }

    // −log softmax(z / T)[label], stable: max + log Σ exp(z/T − max) − z[label]/T.
    private static double NegLogSoftmaxAt(float[] z, int label, double temperature)
    {
        double max = double.NegativeInfinity;
        foreach (var v in z) max = Math.Max(max, v / temperature);
        double norm = 0;
        foreach (var v in z) norm += Math.Exp(v / temperature - max);
        return max + Math.Log(norm) - z[label] / temperature;
    }

    // Mean of −[(1 − ε)·log p_y + ε·log(1 − p_y)] under softmax(logits / T), p_y averaged with the mirror's under flip TTA:
    // the true class's probability held to the rule of succession. (Against targets spreading ε over every other class, a
    // class far from all the others — a large negative logit — would weigh in too, and flatten a well-fitted temperature
    // of hundreds of photos by 10 %.)
    private static double SmoothedCrossEntropy(IReadOnlyList<float[]> logits, IReadOnlyList<float[]>? flippedLogits, IReadOnlyList<int> labels,
        double temperature, double smoothing)
    {
        if (logits.Count > 0 && logits[0].Length < 2) return CrossEntropy(logits, flippedLogits, labels, temperature);
        double sum = 0;
        for (int i = 0; i < logits.Count; i++)
        {
            var (own, rest) = TrueAndOtherLogProbability(logits[i], labels[i], temperature);
            if (flippedLogits is not null)
            {
                // log of the mean of two probabilities, each given as a log: (p + q) / 2 and (1 − p + 1 − q) / 2.
                var (ownQ, restQ) = TrueAndOtherLogProbability(flippedLogits[i], labels[i], temperature);
                (own, rest) = (LogMeanExp(own, ownQ), LogMeanExp(rest, restQ));
            }
            sum -= (1 - smoothing) * own + smoothing * rest;
        }
        return sum / logits.Count;
    }

    // log p_y and log(1 − p_y) under softmax(z / T), stable for either near 0.
    private static (double Own, double Other) TrueAndOtherLogProbability(float[] z, int y, double temperature)
    {
        double maxOther = double.NegativeInfinity, normOther = 0;
        for (int c = 0; c < z.Length; c++)
            if (c != y) maxOther = Math.Max(maxOther, z[c] / temperature);
        for (int c = 0; c < z.Length; c++)
            if (c != y) normOther += Math.Exp(z[c] / temperature - maxOther);
        double own = NegLogSoftmaxAt(z, y, temperature);                                      // −log p_y
        // −log(1 − p_y) = log Σ_all − log Σ_others = (−log p_y + z_y/T) − log Σ_others
        double rest = own + z[y] / temperature - (maxOther + Math.Log(normOther));
        return (-own, -rest);
    }

    private static double LogMeanExp(double a, double b)
    {
        double hi = Math.Max(a, b);
        return hi + Math.Log((Math.Exp(a - hi) + Math.Exp(b - hi)) / 2);
    }

    /// <summary>Mean cross-entropy of softmax(logits / T) (natural log).</summary>
    public static double CrossEntropy(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels, double temperature)
    {
        if (logits.Count == 0) return double.NaN;
        double sum = 0;
        for (int i = 0; i < logits.Count; i++) sum += NegLogSoftmaxAt(logits[i], labels[i], temperature);
        return sum / logits.Count;
    }

    /// <summary>
    /// Top-1 accuracy of the average of softmax(<paramref name="logits"/>/T) and softmax(<paramref name="flippedLogits"/>/T)
    /// (flip test-time augmentation); of the logits alone when <paramref name="flippedLogits"/> is null.
    /// </summary>
    public static double Accuracy(IReadOnlyList<float[]> logits, IReadOnlyList<float[]>? flippedLogits, IReadOnlyList<int> labels, double temperature)
    {
        if (flippedLogits is null) return Accuracy(logits, labels);
        if (logits.Count == 0) return double.NaN;
        int correct = 0;
        for (int i = 0; i < logits.Count; i++)
        {
            var p = Scaled(logits[i]);
            var q = Scaled(flippedLogits[i]);
            SoftmaxInPlace(p);
            SoftmaxInPlace(q);
            int arg = 0;
            for (int c = 1; c < p.Length; c++) if (p[c] + q[c] > p[arg] + q[arg]) arg = c;
            if (arg == labels[i]) correct++;
        }
        return (double)correct / logits.Count;

        float[] Scaled(float[] z) => z.Select(v => (float)(v / temperature)).ToArray();
    }

    /// <summary>Top-1 accuracy of logits.</summary>
    public static double Accuracy(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels)
    {
        if (logits.Count == 0) return double.NaN;
        int correct = 0;
        for (int i = 0; i < logits.Count; i++)
        {
            var z = logits[i];
            int arg = 0;
            for (int c = 1; c < z.Length; c++) if (z[c] > z[arg]) arg = c;
            if (arg == labels[i]) correct++;
        }
        return (double)correct / logits.Count;
    }

    /// <summary>
    /// Mixture weights for averaging region softmaxes, fitted on validation data by EM to maximise the likelihood of the
    /// true class under Σ_r w_r p_r, with a symmetric Dirichlet prior (one pseudo-observation per region) that pulls small
    /// validation sets towards equal weights. Regions that add evidence get more weight; one that only adds noise gets less.
    /// </summary>
    /// <param name="regionProbabilities">Per region: per sample, its class probabilities.</param>
    /// <param name="labels">True class per sample.</param>
    /// <param name="iterations">EM iterations (the likelihood never decreases).</param>
    public static double[] FitMixtureWeights(IReadOnlyList<IReadOnlyList<float[]>> regionProbabilities, IReadOnlyList<int> labels, int iterations = 200)
    {
        int r = regionProbabilities.Count, n = labels.Count;
        var w = Enumerable.Repeat(1.0 / Math.Max(1, r), r).ToArray();
        if (r <= 1 || n == 0) return w;
        const double prior = 1.0;
        // Each region's probability of the true class, per sample: all EM needs, fixed across iterations.
        var likelihood = new double[r][];
        for (int k = 0; k < r; k++)
        {
            likelihood[k] = new double[n];
            for (int i = 0; i < n; i++) likelihood[k][i] = Math.Max(regionProbabilities[k][i][labels[i]], 1e-12);
        }
        var share = new double[r];
        for (int it = 0; it < iterations; it++)
        {
            var responsibility = new double[r];
            for (int i = 0; i < n; i++)
            {
                double total = 0;
                for (int k = 0; k < r; k++) total += share[k] = w[k] * likelihood[k][i];
                for (int k = 0; k < r; k++) responsibility[k] += share[k] / total;
            }
            for (int k = 0; k < r; k++) w[k] = (responsibility[k] + prior) / (n + r * prior);
        }
        return w;
    }

    /// <summary>
    /// Weights of a log-linear pool (product of experts), p(c) ∝ Π_r p_r(c)^w_r, fitted on validation data: w ≥ 0 minimises
    /// the mean cross-entropy of the pooled distribution plus <paramref name="l2"/>·Σw², by projected gradient descent with
    /// backtracking from the geometric mean (w = 1/R). Unlike a mixture, a pool multiplies the regions' evidence, as a Bayes
    /// classifier does with independent cues, and the sum of the weights sets how sharp the pooled answer is.
    /// </summary>
    /// <param name="regionProbabilities">Per region: per sample, its class probabilities.</param>
    /// <param name="labels">True class per sample.</param>
    /// <param name="l2">Ridge penalty keeping weights small when the validation set is small.</param>
    /// <param name="iterations">Gradient steps at most.</param>
    public static double[] FitLogLinearWeights(IReadOnlyList<IReadOnlyList<float[]>> regionProbabilities, IReadOnlyList<int> labels,
        double l2 = 0.01, int iterations = 300)
    {
        int r = regionProbabilities.Count, n = labels.Count;
        var w = Enumerable.Repeat(1.0 / Math.Max(1, r), r).ToArray();
        if (r == 0 || n == 0) return w;
        int classes = regionProbabilities[0][0].Length;
        // Log-probabilities once, as doubles: [sample][region][class].
        var logp = new double[n][][];
        for (int i = 0; i < n; i++)
        {
            logp[i] = new double[r][];
            for (int k = 0; k < r; k++)
            {
                var p = regionProbabilities[k][i];
                if (p.Length != classes) throw new ArgumentException($"region {k}, sample {i}: {p.Length} probabilities, expected {classes}");
                logp[i][k] = p.Select(v => Math.Log(Math.Max(v, LogFloor))).ToArray();
            }
        }
        double Objective(double[] weights, double[]? gradient)
        {
            if (gradient is not null) Array.Clear(gradient);
            double loss = 0;
            var z = new double[classes];
            for (int i = 0; i < n; i++)
            {
                Array.Clear(z);
                for (int k = 0; k < r; k++)
                    for (int c = 0; c < classes; c++) z[c] += weights[k] * logp[i][k][c];
                double max = z.Max(), norm = 0;
                for (int c = 0; c < classes; c++) norm += Math.Exp(z[c] - max);
                double logNorm = max + Math.Log(norm);
                loss += logNorm - z[labels[i]];
                if (gradient is null) continue;
                // ∂/∂w_k = E_pool[log p_k] − log p_k(y)
                for (int k = 0; k < r; k++)
                {
                    double expected = 0;
                    for (int c = 0; c < classes; c++) expected += Math.Exp(z[c] - logNorm) * logp[i][k][c];
                    gradient[k] += (expected - logp[i][k][labels[i]]) / n;
                }
            }
            double penalty = l2 * weights.Sum(v => v * v);
            if (gradient is not null) for (int k = 0; k < r; k++) gradient[k] += 2 * l2 * weights[k];
            return loss / n + penalty;
        }
        var grad = new double[r];
        double current = Objective(w, grad), step = 1;
        for (int it = 0; it < iterations; it++)
        {
            double[] candidate;
            double next;
            // Backtracking: halve the step until the projected move lowers the objective.
            while (true)
            {
                candidate = w.Select((v, k) => Math.Max(0, v - step * grad[k])).ToArray();
                next = Objective(candidate, null);
                if (next <= current - 1e-12 || step < 1e-8) break;
                step /= 2;
            }
            if (!(next < current)) break;
            bool converged = current - next < 1e-9;
            w = candidate;
            current = Objective(w, grad);
            step *= 2;
            if (converged) break;
        }
        return w;
    }

    /// <summary>Probabilities are floored here before their logarithm (a region sure that a class is impossible cannot veto it).</summary>
    public const double LogFloor = 1e-6;

    /// <summary>Divides the classifier's weights and bias by <paramref name="temperature"/>, so the net's own logits are calibrated
    /// (and its ONNX export, which reads the same weights, too).</summary>
    public static void FoldTemperature(RegionNet net, double temperature)
    {
        if (!(temperature > 0) || !double.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature));
        using var noGrad = no_grad();
        using var inv = (1.0 / temperature).ToScalar();
        foreach (var (name, p) in net.named_parameters())
            if (RegionNet.IsHead(name)) p.mul_(inv);
    }
}
