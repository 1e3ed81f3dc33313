using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>
/// How well an embedding keeps local structure (Venna &amp; Kaski 2001), defined as scikit-learn's
/// <c>sklearn.manifold.trustworthiness</c>: 1 − 2/(n·k·(2n − 3k − 1)) · Σᵢ Σ_{j ∈ Uᵢ} (r(i, j) − k), where Uᵢ are the
/// k nearest neighbours of i in the embedding that are not among its k nearest in the input, and r(i, j) is j's rank
/// by input distance. 1 = every embedded neighbourhood is a true neighbourhood.
/// </summary>
public static class Trustworthiness
{
    /// <summary>Trustworthiness of <paramref name="embedded"/> with respect to <paramref name="input"/> (Euclidean).</summary>
    /// <exception cref="GestaltLabException">Mismatched sizes, or k ≥ n/2 (undefined).</exception>
    public static double Compute(IReadOnlyList<float[]> input, IReadOnlyList<double[]> embedded, int k = 5)
    {
        int n = input.Count;
        if (embedded.Count != n) throw new GestaltLabException($"trustworthiness: {n} input rows but {embedded.Count} embedded rows");
        if (k < 1 || k >= n / 2.0) throw new GestaltLabException(FormattableString.Invariant($"trustworthiness: k = {k} must lie in 1 … {Math.Ceiling(n / 2.0) - 1} for n = {n}"));
        var penalties = new double[n];
        Parallel.For(0, n, i =>
        {
            var inputDist = new double[n];
            var embDist = new double[n];
            for (int j = 0; j < n; j++)
            {
                inputDist[j] = Squared(input[i], input[j]);
                embDist[j] = Squared(embedded[i], embedded[j]);
            }
            // Only the k embedded neighbours need an input rank: count the points nearer to i than each of them
            // (ties broken by index, so the result is deterministic). O(n·k) per point instead of a full sort.
            var nearest = new int[k];
            var nearestD = new double[k];
            int found = 0;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                double d = embDist[j];
                if (found < k) { nearest[found] = j; nearestD[found] = d; found++; }
                else
                {
                    int worst = 0;
                    for (int t = 1; t < k; t++) if (nearestD[t] > nearestD[worst] || (nearestD[t] == nearestD[worst] && nearest[t] > nearest[worst])) worst = t;
                    if (d < nearestD[worst]) { nearest[worst] = j; nearestD[worst] = d; }
                }
            }
            double p = 0;
            for (int t = 0; t < k; t++)
            {
                int j = nearest[t];
                double dj = inputDist[j];
                int rank = 1;
                for (int m = 0; m < n; m++)
                    if (m != i && m != j && (inputDist[m] < dj || (inputDist[m] == dj && m < j))) rank++;
                if (rank > k) p += rank - k;
            }
            penalties[i] = p;
        });
        double t = penalties.Sum();
        return 1 - t * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)));
    }

    private static double Squared(float[] a, float[] b)
    {
        double s = 0;
        for (int j = 0; j < a.Length; j++) { double t = a[j] - b[j]; s += t * t; }
        return s;
    }

    private static double Squared(double[] a, double[] b)
    {
        double s = 0;
        for (int j = 0; j < a.Length; j++) { double t = a[j] - b[j]; s += t * t; }
        return s;
    }
}
