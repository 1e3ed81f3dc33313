using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>How <see cref="Tsne"/> computes gradients.</summary>
public enum TsneMethod
{
    /// <summary>Exact below <see cref="TsneOptions.ExactMaxPoints"/> points, Barnes-Hut above.</summary>
    Auto,
    /// <summary>All N² pairs every iteration: exact, O(N²) time and memory.</summary>
    Exact,
    /// <summary>Sparse k-nearest-neighbour affinities and a quadtree for the repulsion: O(N log N) per iteration.</summary>
    BarnesHut,
}

/// <summary>
/// Settings of <see cref="Tsne.Fit"/>; the defaults are scikit-learn 1.2's, so results compare directly — except
/// Barnes-Hut θ = 0.3 (scikit-learn: 0.5), which costs ~20% more time and keeps trustworthiness at or above
/// scikit-learn's on 5,000 points (docs/benchmarks.md).
/// </summary>
public sealed record TsneOptions
{
    /// <summary>Effective number of neighbours each point keeps (clipped to (N−1)/3 for small N).</summary>
    public double Perplexity { get; init; } = 30;
    /// <summary>Gradient-descent iterations in all.</summary>
    public int Iterations { get; init; } = 1000;
    /// <summary>Iterations with exaggerated attraction at the start (clusters form first, then settle).</summary>
    public int ExaggerationIterations { get; init; } = 250;
    /// <summary>Factor on P during the exaggeration phase.</summary>
    public double EarlyExaggeration { get; init; } = 12;
    /// <summary>Step size; null = scikit-learn's "auto": max(N / exaggeration / 4, 50).</summary>
    public double? LearningRate { get; init; }
    /// <summary>Barnes-Hut accuracy: a cell is summarised when its size / distance is below this.</summary>
    public double Theta { get; init; } = 0.3;
    /// <summary>Largest N for which <see cref="TsneMethod.Auto"/> uses the exact method.</summary>
    public int ExactMaxPoints { get; init; } = 1000;
    /// <summary>Gradient method.</summary>
    public TsneMethod Method { get; init; } = TsneMethod.Auto;
    /// <summary>Seed for the tiny jitter that breaks ties in the PCA start; the result is a function of data and seed.</summary>
    public int Seed { get; init; } = 0;
    /// <summary>Standardise each input dimension first (off by default, as in scikit-learn).</summary>
    public bool Standardize { get; init; }
}

/// <summary>A 2-D t-SNE embedding.</summary>
/// <param name="X">First coordinate per point.</param>
/// <param name="Y">Second coordinate per point.</param>
/// <param name="KlDivergence">KL(P‖Q) at the end (exact for the exact method; Barnes-Hut estimate otherwise).</param>
/// <param name="Method">The gradient method actually used.</param>
/// <param name="Perplexity">The perplexity actually used (after clipping for small N).</param>
public readonly record struct TsneResult(double[] X, double[] Y, double KlDivergence, TsneMethod Method, double Perplexity)
{
    /// <summary>The embedding as rows of (x, y).</summary>
    public double[][] Points()
    {
        var y = Y;
        return X.Select((x, i) => new[] { x, y[i] }).ToArray();
    }
}

/// <summary>
/// t-distributed stochastic neighbour embedding (van der Maaten &amp; Hinton 2008; Barnes-Hut: van der Maaten 2014), as
/// scikit-learn implements it: Gaussian input affinities calibrated to a perplexity by binary search on squared
/// Euclidean distances, symmetrised; Student-t output affinities; PCA start scaled to σ = 1e-4; early exaggeration
/// with momentum 0.5, then momentum 0.8; per-parameter adaptive gains. Deterministic: no random start, and the
/// parallel loops only split independent per-point sums.
/// </summary>
public static class Tsne
{
    private const double MachineEpsilon = 2.220446049250313e-16;

    // Settings that would run without a word and give a map of nothing: a perplexity of −1 collapses every point onto one
    // (with a KL divergence of ~0 that reads like a perfect fit); fewer iterations than the exaggeration phase end the run
    // with clusters still exaggerated.
    private static void Check(TsneOptions o)
    {
        static GestaltLabException Bad(string what) => new($"t-SNE: {what}", "leave the option at its default (TsneOptions' defaults are scikit-learn's)");
        if (!(o.Perplexity > 0) || double.IsInfinity(o.Perplexity)) throw Bad($"perplexity must be a positive number, got {o.Perplexity}");
        if (o.ExaggerationIterations < 0) throw Bad($"exaggeration_iterations must be ≥ 0, got {o.ExaggerationIterations}");
        if (o.Iterations <= o.ExaggerationIterations)
            throw Bad($"iterations ({o.Iterations}) must exceed the exaggeration phase's ({o.ExaggerationIterations}), which only forms clusters");
        if (!(o.EarlyExaggeration >= 1) || double.IsInfinity(o.EarlyExaggeration)) throw Bad($"early exaggeration must be ≥ 1, got {o.EarlyExaggeration}");
        if (o.LearningRate is { } rate && (!(rate > 0) || double.IsInfinity(rate))) throw Bad($"learning rate must be a positive number, got {rate}");
        if (!(o.Theta >= 0) || o.Theta > 1) throw Bad($"theta must be in [0, 1], got {o.Theta}");
        if (o.ExactMaxPoints < 0) throw Bad($"exact_max_points must be ≥ 0, got {o.ExactMaxPoints}");
    }

    /// <summary>Embeds <paramref name="data"/> (N rows of D values) in two dimensions.</summary>
    /// <exception cref="GestaltLabException">Fewer than 3 points, ragged rows, or non-finite values.</exception>
    public static TsneResult Fit(IReadOnlyList<float[]> data, TsneOptions? options = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        options ??= new TsneOptions();
        Check(options);
        int n = data.Count;
        if (n < 3) throw new GestaltLabException($"t-SNE needs at least 3 points, got {n}");
        int d = data[0].Length;
        for (int i = 0; i < n; i++)
        {
            if (data[i].Length != d) throw new GestaltLabException($"t-SNE input row {i} has {data[i].Length} values, row 0 has {d}");
            foreach (var v in data[i])
                if (!float.IsFinite(v)) throw new GestaltLabException($"t-SNE input row {i} holds a non-finite value");
        }
        var x = ToDouble(data, options.Standardize);
        double perplexity = Math.Min(options.Perplexity, Math.Max(1, (n - 1) / 3.0));
        var method = options.Method == TsneMethod.Auto ? (n <= options.ExactMaxPoints ? TsneMethod.Exact : TsneMethod.BarnesHut) : options.Method;
        double learningRate = options.LearningRate ?? Math.Max(n / options.EarlyExaggeration / 4, 50);

        // Counted in points, so a line-per-step reporter prints "t-SNE affinities: 0/N" and then "N/N", not "0/1".
        progress?.Report(new ProgressUpdate("t-SNE affinities", 0, n));
        var y = PcaStart(x, n, d, options.Seed);
        double kl;
        if (method == TsneMethod.Exact)
        {
            var p = ExactAffinities(x, n, d, perplexity, cancellationToken);
            progress?.Report(new ProgressUpdate("t-SNE affinities", n, n));
            var q = new double[n * n]; // reused every iteration
            kl = Optimise(n, y, learningRate, options, progress, cancellationToken,
                (yy, grad, exag, wantKl) => ExactGradient(p, q, yy, grad, n, exag, wantKl));
        }
        else
        {
            var p = SparseAffinities(x, n, d, perplexity, cancellationToken);
            progress?.Report(new ProgressUpdate("t-SNE affinities", n, n));
            kl = Optimise(n, y, learningRate, options, progress, cancellationToken,
                (yy, grad, exag, wantKl) => BarnesHutGradient(p, yy, grad, n, exag, options.Theta, wantKl));
        }
        var xs = new double[n];
        var ys = new double[n];
        for (int i = 0; i < n; i++) { xs[i] = y[2 * i]; ys[i] = y[2 * i + 1]; }
        return new TsneResult(xs, ys, kl, method, perplexity);
    }

    private static double[] ToDouble(IReadOnlyList<float[]> data, bool standardize)
    {
        int n = data.Count, d = data[0].Length;
        var x = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) x[i * d + j] = data[i][j];
        if (standardize)
        {
            for (int j = 0; j < d; j++)
            {
                double mean = 0, sq = 0;
                for (int i = 0; i < n; i++) mean += x[i * d + j];
                mean /= n;
                for (int i = 0; i < n; i++) sq += (x[i * d + j] - mean) * (x[i * d + j] - mean);
                double sd = Math.Sqrt(sq / n);
                for (int i = 0; i < n; i++) x[i * d + j] = sd > 0 ? (x[i * d + j] - mean) / sd : 0;
            }
        }
        return x;
    }

    /// <summary>The first two principal components by power iteration, scaled so the first has σ = 1e-4.</summary>
    private static double[] PcaStart(double[] x, int n, int d, int seed)
    {
        var mean = new double[d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) mean[j] += x[i * d + j];
        for (int j = 0; j < d; j++) mean[j] /= n;
        var c = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) c[i * d + j] = x[i * d + j] - mean[j];

        var components = new List<double[]>();
        var rng = new Random(seed);
        for (int comp = 0; comp < 2; comp++)
        {
            var v = new double[d];
            for (int j = 0; j < d; j++) v[j] = 1.0 + 0.01 * j + 1e-3 * rng.NextDouble();
            var proj = new double[n];
            for (int iter = 0; iter < 200; iter++)
            {
                foreach (var prev in components) Deflate(v, prev);
                Normalise(v);
                // w = Cᵀ C v, without forming the D×D covariance (D may be large).
                for (int i = 0; i < n; i++)
                {
                    double s = 0;
                    for (int j = 0; j < d; j++) s += c[i * d + j] * v[j];
                    proj[i] = s;
                }
                var w = new double[d];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < d; j++) w[j] += c[i * d + j] * proj[i];
                foreach (var prev in components) Deflate(w, prev);
                double norm = Math.Sqrt(w.Sum(t => t * t));
                if (norm < 1e-300) break;
                double change = 0;
                for (int j = 0; j < d; j++) { double nv = w[j] / norm; change += Math.Abs(nv - v[j]); v[j] = nv; }
                if (change < 1e-10) break;
            }
            // Fix the sign (largest |loading| positive) so the start does not depend on iteration details.
            int arg = 0;
            for (int j = 1; j < d; j++) if (Math.Abs(v[j]) > Math.Abs(v[arg])) arg = j;
            if (v[arg] < 0) for (int j = 0; j < d; j++) v[j] = -v[j];
            components.Add(v);
        }
        var y = new double[2 * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 2; k++)
            {
                double s = 0;
                for (int j = 0; j < d; j++) s += c[i * d + j] * components[k][j];
                y[2 * i + k] = s;
            }
        double m0 = 0, s0 = 0;
        for (int i = 0; i < n; i++) m0 += y[2 * i];
        m0 /= n;
        for (int i = 0; i < n; i++) s0 += (y[2 * i] - m0) * (y[2 * i] - m0);
        s0 = Math.Sqrt(s0 / n);
        if (s0 < 1e-300)
        {
            // Degenerate input (all points equal along every direction): a deterministic small spiral.
            for (int i = 0; i < n; i++) { y[2 * i] = 1e-4 * Math.Cos(i) * (1 + i % 7); y[2 * i + 1] = 1e-4 * Math.Sin(i) * (1 + i % 5); }
            return y;
        }
        for (int i = 0; i < 2 * n; i++) y[i] = y[i] / s0 * 1e-4;
        return y;
    }

    private static void Deflate(double[] v, double[] u)
    {
        double dot = 0;
        for (int j = 0; j < v.Length; j++) dot += v[j] * u[j];
        for (int j = 0; j < v.Length; j++) v[j] -= dot * u[j];
    }

    private static void Normalise(double[] v)
    {
        double norm = Math.Sqrt(v.Sum(t => t * t));
        if (norm > 0) for (int j = 0; j < v.Length; j++) v[j] /= norm;
    }

    private static double SquaredDistance(double[] x, int d, int a, int b)
    {
        double s = 0;
        int oa = a * d, ob = b * d;
        for (int j = 0; j < d; j++) { double t = x[oa + j] - x[ob + j]; s += t * t; }
        return s;
    }

    /// <summary>Conditional Gaussian affinities p(j|i) over the given squared distances, matching the perplexity.</summary>
    private static void BinarySearch(ReadOnlySpan<double> dist, Span<double> row, double perplexity)
    {
        double desired = Math.Log(perplexity);
        double beta = 1, betaMin = double.NegativeInfinity, betaMax = double.PositiveInfinity;
        for (int step = 0; step < 100; step++)
        {
            double sum = 0;
            for (int j = 0; j < dist.Length; j++) { row[j] = Math.Exp(-dist[j] * beta); sum += row[j]; }
            if (sum == 0) sum = 1e-8;
            double sumDp = 0;
            for (int j = 0; j < dist.Length; j++) { row[j] /= sum; sumDp += dist[j] * row[j]; }
            double entropy = Math.Log(sum) + beta * sumDp;
            double diff = entropy - desired;
            if (Math.Abs(diff) <= 1e-5) break;
            if (diff > 0)
            {
                betaMin = beta;
                beta = double.IsPositiveInfinity(betaMax) ? beta * 2 : (beta + betaMax) / 2;
            }
            else
            {
                betaMax = beta;
                beta = double.IsNegativeInfinity(betaMin) ? beta / 2 : (beta + betaMin) / 2;
            }
        }
    }

    private static double[] ExactAffinities(double[] x, int n, int d, double perplexity, CancellationToken ct)
    {
        var p = new double[n * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
        {
            var dist = new double[n - 1];
            var row = new double[n - 1];
            for (int j = 0, k = 0; j < n; j++) if (j != i) dist[k++] = SquaredDistance(x, d, i, j);
            BinarySearch(dist, row, perplexity);
            for (int j = 0, k = 0; j < n; j++) if (j != i) p[i * n + j] = row[k++];
        });
        double sum = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double s = p[i * n + j] + p[j * n + i];
                p[i * n + j] = p[j * n + i] = s;
                sum += 2 * s;
            }
        sum = Math.Max(sum, MachineEpsilon);
        for (int i = 0; i < n * n; i++) p[i] = Math.Max(p[i] / sum, MachineEpsilon);
        for (int i = 0; i < n; i++) p[i * n + i] = 0;
        return p;
    }

    /// <summary>Symmetric sparse P in CSR form.</summary>
    private sealed record SparseP(int[] RowStart, int[] Columns, double[] Values);

    private static SparseP SparseAffinities(double[] x, int n, int d, double perplexity, CancellationToken ct)
    {
        int k = Math.Min(n - 1, (int)(3 * perplexity + 1));
        var nbr = new int[n * k];
        var cond = new double[n * k];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
        {
            // Exact k nearest neighbours by a bounded max-heap over all points: O(N·D) per point, no approximation.
            var heap = new PriorityQueue<int, double>(k + 1, Comparer<double>.Create((a, b) => b.CompareTo(a)));
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                double dd = SquaredDistance(x, d, i, j);
                if (heap.Count < k) heap.Enqueue(j, dd);
                else if (heap.TryPeek(out _, out double worst) && dd < worst) { heap.Dequeue(); heap.Enqueue(j, dd); }
            }
            var found = new (int J, double D)[heap.Count];
            for (int t = found.Length - 1; heap.TryDequeue(out int jj, out double dj); t--) found[t] = (jj, dj);
            var dist = new double[k];
            for (int t = 0; t < k; t++) { nbr[i * k + t] = found[t].J; dist[t] = found[t].D; }
            BinarySearch(dist, cond.AsSpan(i * k, k), perplexity);
        });
        // Symmetrise: P = (P + Pᵀ) / (2N) over the union of neighbour lists.
        var maps = new Dictionary<int, double>[n];
        for (int i = 0; i < n; i++) maps[i] = new Dictionary<int, double>(2 * k);
        for (int i = 0; i < n; i++)
            for (int t = 0; t < k; t++)
            {
                int j = nbr[i * k + t];
                double v = cond[i * k + t];
                maps[i][j] = maps[i].GetValueOrDefault(j) + v;
                maps[j][i] = maps[j].GetValueOrDefault(i) + v;
            }
        double total = 0;
        foreach (var m in maps) foreach (var v in m.Values) total += v;
        total = Math.Max(total, MachineEpsilon);
        var start = new int[n + 1];
        for (int i = 0; i < n; i++) start[i + 1] = start[i] + maps[i].Count;
        var cols = new int[start[n]];
        var vals = new double[start[n]];
        for (int i = 0; i < n; i++)
        {
            int o = start[i];
            foreach (var kv in maps[i].OrderBy(kv => kv.Key)) { cols[o] = kv.Key; vals[o] = kv.Value / total; o++; }
        }
        return new SparseP(start, cols, vals);
    }

    private delegate double GradientFn(double[] y, double[] grad, double exaggeration, bool wantKl);

    private static double Optimise(int n, double[] y, double learningRate, TsneOptions o, IProgress<ProgressUpdate>? progress,
        CancellationToken ct, GradientFn gradient)
    {
        var update = new double[2 * n];
        var gains = new double[2 * n];
        Array.Fill(gains, 1.0);
        var grad = new double[2 * n];
        double kl = double.NaN;
        int total = Math.Max(o.Iterations, o.ExaggerationIterations);
        for (int it = 0; it < total; it++)
        {
            ct.ThrowIfCancellationRequested();
            bool exploring = it < o.ExaggerationIterations;
            double momentum = exploring ? 0.5 : 0.8;
            bool last = it == total - 1;
            kl = gradient(y, grad, exploring ? o.EarlyExaggeration : 1, last);
            for (int i = 0; i < 2 * n; i++)
            {
                bool sameSign = update[i] * grad[i] < 0;
                gains[i] = Math.Max(sameSign ? gains[i] + 0.2 : gains[i] * 0.8, 0.01);
                update[i] = momentum * update[i] - learningRate * gains[i] * grad[i];
                y[i] += update[i];
            }
            if (it % 10 == 9 || last)
                progress?.Report(new ProgressUpdate("t-SNE", it + 1, total));
        }
        return kl;
    }

    /// <summary>
    /// Runs <paramref name="body"/> for 0 … n−1, in parallel chunks only when the work is large: on a busy machine each
    /// parallel loop waits for its slowest worker, which costs more than small loops gain. Each index writes only its
    /// own outputs, so the result is the same either way.
    /// </summary>
    private static void For(int n, long workPerItem, Action<int> body)
    {
        if ((long)n * workPerItem < 2_000_000 || Environment.ProcessorCount == 1)
        {
            for (int i = 0; i < n; i++) body(i);
            return;
        }
        int chunks = Math.Min(n, Environment.ProcessorCount * 4);
        Parallel.For(0, chunks, c =>
        {
            int from = (int)((long)n * c / chunks), to = (int)((long)n * (c + 1) / chunks);
            for (int i = from; i < to; i++) body(i);
        });
    }

    private static double ExactGradient(double[] p, double[] q, double[] y, double[] grad, int n, double exaggeration, bool wantKl)
    {
        // Unnormalised Student-t kernel per pair; Z is summed per row then over rows (fixed order: deterministic).
        var rowZ = new double[n];
        For(n, n, i =>
        {
            double z = 0;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                double w = 1 / (1 + dx * dx + dy * dy);
                q[i * n + j] = w;
                z += w;
            }
            rowZ[i] = z;
        });
        double zSum = 0;
        for (int i = 0; i < n; i++) zSum += rowZ[i];
        zSum = Math.Max(zSum, MachineEpsilon);
        For(n, n, i =>
        {
            double gx = 0, gy = 0;
            for (int j = 0; j < n; j++)
            {
                if (j == i) continue;
                double w = q[i * n + j];
                double coeff = (exaggeration * p[i * n + j] - Math.Max(w / zSum, MachineEpsilon)) * w;
                gx += coeff * (y[2 * i] - y[2 * j]);
                gy += coeff * (y[2 * i + 1] - y[2 * j + 1]);
            }
            grad[2 * i] = 4 * gx;
            grad[2 * i + 1] = 4 * gy;
        });
        if (!wantKl) return double.NaN;
        double kl = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                double pij = p[i * n + j];
                kl += pij * Math.Log(Math.Max(pij, MachineEpsilon) / Math.Max(q[i * n + j] / zSum, MachineEpsilon));
            }
        return kl;
    }

    private static double BarnesHutGradient(SparseP p, double[] y, double[] grad, int n, double exaggeration, double theta, bool wantKl)
    {
        var tree = QuadTree.Build(y, n);
        var rowZ = new double[n];
        var rep = new double[2 * n];
        For(n, 200, i =>
        {
            double fx = 0, fy = 0, z = 0;
            tree.Repulsion(y[2 * i], y[2 * i + 1], theta * theta, ref fx, ref fy, ref z);
            rep[2 * i] = fx;
            rep[2 * i + 1] = fy;
            rowZ[i] = z;
        });
        double zSum = 0;
        for (int i = 0; i < n; i++) zSum += rowZ[i];
        zSum = Math.Max(zSum, MachineEpsilon);
        var rowKl = wantKl ? new double[n] : null;
        For(n, p.RowStart[n] / Math.Max(1, n), i =>
        {
            double ax = 0, ay = 0, kl = 0;
            for (int t = p.RowStart[i]; t < p.RowStart[i + 1]; t++)
            {
                int j = p.Columns[t];
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                double w = 1 / (1 + dx * dx + dy * dy);
                double pij = p.Values[t];
                ax += exaggeration * pij * w * dx;
                ay += exaggeration * pij * w * dy;
                if (rowKl is not null) kl += pij * Math.Log(Math.Max(pij, MachineEpsilon) / Math.Max(w / zSum, MachineEpsilon));
            }
            grad[2 * i] = 4 * (ax - rep[2 * i] / zSum);
            grad[2 * i + 1] = 4 * (ay - rep[2 * i + 1] / zSum);
            if (rowKl is not null) rowKl[i] = kl;
        });
        return rowKl?.Sum() ?? double.NaN;
    }

    /// <summary>A point-region quadtree over the current embedding, with the centre of mass of every cell.</summary>
    private sealed class QuadTree
    {
        // Flat node arrays: children[4*node + q] (−1 = none), bounds as centre and half-width.
        private readonly List<int> _children = new();
        private readonly List<double> _cx = new(), _cy = new(), _half = new(), _massX = new(), _massY = new();
        private readonly List<int> _count = new(), _point = new();
        private readonly double[] _y;

        private QuadTree(double[] y) { _y = y; }

        public static QuadTree Build(double[] y, int n)
        {
            double minX = double.MaxValue, maxX = double.MinValue, minY = double.MaxValue, maxY = double.MinValue;
            for (int i = 0; i < n; i++)
            {
                minX = Math.Min(minX, y[2 * i]); maxX = Math.Max(maxX, y[2 * i]);
                minY = Math.Min(minY, y[2 * i + 1]); maxY = Math.Max(maxY, y[2 * i + 1]);
            }
            var t = new QuadTree(y);
            double half = Math.Max(maxX - minX, maxY - minY) / 2 * (1 + 1e-5) + 1e-5;
            t.NewNode((minX + maxX) / 2, (minY + maxY) / 2, half);
            for (int i = 0; i < n; i++) t.Insert(0, i, 0);
            return t;
        }

        private int NewNode(double cx, double cy, double half)
        {
            int id = _cx.Count;
            _cx.Add(cx); _cy.Add(cy); _half.Add(half);
            _massX.Add(0); _massY.Add(0); _count.Add(0); _point.Add(-1);
            for (int q = 0; q < 4; q++) _children.Add(-1);
            return id;
        }

        private void Insert(int node, int i, int depth)
        {
            double px = _y[2 * i], py = _y[2 * i + 1];
            while (true)
            {
                int c = _count[node];
                _massX[node] = (_massX[node] * c + px) / (c + 1);
                _massY[node] = (_massY[node] * c + py) / (c + 1);
                _count[node] = c + 1;
                bool leaf = _children[4 * node] == -1 && _children[4 * node + 1] == -1 && _children[4 * node + 2] == -1 && _children[4 * node + 3] == -1;
                if (leaf && c == 0) { _point[node] = i; return; }
                // Duplicate points (or a very deep tree) stay together in one leaf: their mass is exact either way.
                if (leaf && (depth > 48 || (_point[node] >= 0 && _y[2 * _point[node]] == px && _y[2 * _point[node] + 1] == py))) return;
                if (leaf && _point[node] >= 0)
                {
                    int old = _point[node];
                    _point[node] = -1;
                    int qo = Child(node, _y[2 * old], _y[2 * old + 1]);
                    InsertInto(qo, old, c);
                }
                node = Child(node, px, py);
                depth++;
            }
        }

        private void InsertInto(int node, int i, int count)
        {
            // A point (with its exact duplicates) moved down from a split leaf: the new child's only content so far.
            _massX[node] = _y[2 * i];
            _massY[node] = _y[2 * i + 1];
            _count[node] = count;
            _point[node] = i;
        }

        private int Child(int node, double px, double py)
        {
            int q = (px >= _cx[node] ? 1 : 0) + (py >= _cy[node] ? 2 : 0);
            int c = _children[4 * node + q];
            if (c >= 0) return c;
            double h = _half[node] / 2;
            c = NewNode(_cx[node] + ((q & 1) == 1 ? h : -h), _cy[node] + ((q & 2) == 2 ? h : -h), h);
            _children[4 * node + q] = c;
            return c;
        }

        /// <summary>Σ_j w_ij² (y_i − y_j) and Σ_j w_ij over all j ≠ i, summarising far cells by their centre of mass.</summary>
        public void Repulsion(double px, double py, double theta2, ref double fx, ref double fy, ref double z)
        {
            var stack = new Stack<int>();
            stack.Push(0);
            while (stack.Count > 0)
            {
                int node = stack.Pop();
                int count = _count[node];
                if (count == 0) continue;
                double dx = px - _massX[node], dy = py - _massY[node];
                double d2 = dx * dx + dy * dy;
                bool leaf = _children[4 * node] == -1 && _children[4 * node + 1] == -1 && _children[4 * node + 2] == -1 && _children[4 * node + 3] == -1;
                double size = 2 * _half[node];
                if (leaf || size * size < theta2 * d2)
                {
                    if (leaf && d2 == 0)
                    {
                        // The point itself (and any exact duplicates of it): duplicates contribute w = 1, no force.
                        z += count - 1;
                        continue;
                    }
                    double w = 1 / (1 + d2);
                    z += count * w;
                    fx += count * w * w * dx;
                    fy += count * w * w * dy;
                    continue;
                }
                for (int q = 3; q >= 0; q--)
                {
                    int c = _children[4 * node + q];
                    if (c >= 0) stack.Push(c);
                }
            }
        }
    }
}
