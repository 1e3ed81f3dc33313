using GestaltLab.Runtime;

namespace GestaltLab.Synthetic;

/// <summary>One Gaussian component of a class: a share of the class, a mean trait vector and a severity SD.</summary>
/// <param name="Weight">Share of the class (components of a class are normalised to sum to 1).</param>
/// <param name="Mean">Mean trait vector μ (SD units).</param>
/// <param name="Expressivity">SD τ of the severity multiplier; the component's covariance is Σ + τ²μμᵀ.</param>
public sealed record OracleComponent(double Weight, double[] Mean, double Expressivity);

/// <summary>A class the oracle ranks: its label, prior and Gaussian components (one per genotype; several when a class pools syndromes).</summary>
public sealed record OracleClass(string Label, double Prior, IReadOnlyList<OracleComponent> Components);

/// <summary>Top-k accuracies of the oracle on a test set.</summary>
/// <param name="Top1">Fraction of test items whose true class ranks first.</param>
/// <param name="Top5">… within the first 5.</param>
/// <param name="Top10">… within the first 10.</param>
/// <param name="NTest">Number of test items.</param>
public readonly record struct OracleResult(double Top1, double Top5, double Top10, int NTest)
{
    /// <summary>The top-k of items whose true class ranked as given (1 = first).</summary>
    public static OracleResult FromRanks(IReadOnlyCollection<int> ranks)
    {
        int n = ranks.Count;
        double Share(int k) => n == 0 ? 0 : (double)ranks.Count(r => r <= k) / n;
        return new OracleResult(Share(1), Share(5), Share(10), n);
    }
}

/// <summary>
/// The Bayes classifier on true trait vectors: it knows the generative model (class-conditional Gaussians with the
/// population correlation Σ, each syndrome's mean shift μ and its variable expressivity, which makes the class
/// covariance Σ + τ²μμᵀ) and the class priors, and ranks classes by posterior probability. Its top-k on a test split is
/// what reading the traits exactly gives under those priors: the reference an image model is measured against (it sees
/// pixels, not traits). It is a ceiling only for models with the same priors: where the test split's class frequencies
/// differ from the priors (gestalt216's), a classifier that knew the test frequencies would score higher.
/// </summary>
public sealed class Oracle
{
    private readonly OracleClass[] _classes;
    private readonly (double LogW, double[] Mean, double[,] L, double LogDet)[][] _components;

    /// <summary>Builds the oracle for <paramref name="classes"/> over traits with correlation <paramref name="sigma"/> (default: <see cref="TraitSpace"/>).</summary>
    public Oracle(IReadOnlyList<OracleClass> classes, double[,]? sigma = null)
    {
        if (classes.Count == 0) throw new GestaltLabException("the oracle needs at least one class");
        sigma ??= TraitSpace.CorrelationMatrix();
        int d = sigma.GetLength(0);
        _classes = classes.ToArray();
        _components = new (double, double[], double[,], double)[_classes.Length][];
        for (int c = 0; c < _classes.Length; c++)
        {
            var comps = _classes[c].Components;
            double total = comps.Sum(x => x.Weight);
            if (!(total > 0)) throw new GestaltLabException($"oracle class '{_classes[c].Label}' has no positive component weight");
            _components[c] = comps.Select(x =>
            {
                if (x.Mean.Length != d) throw new ArgumentException($"class '{_classes[c].Label}': mean has {x.Mean.Length} values, Σ is {d}×{d}");
                var cov = (double[,])sigma.Clone();
                double t2 = x.Expressivity * x.Expressivity;
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++)
                        cov[i, j] += t2 * x.Mean[i] * x.Mean[j];
                var l = LinearAlgebra.Cholesky(cov) ?? throw new GestaltLabException($"class '{_classes[c].Label}': covariance is not positive definite");
                double logDet = 0;
                for (int i = 0; i < d; i++) logDet += 2 * Math.Log(l[i, i]);
                return (Math.Log(x.Weight / total), x.Mean, l, logDet);
            }).ToArray();
        }
        Dimension = d;
    }

    /// <summary>Trait dimension.</summary>
    public int Dimension { get; }
    /// <summary>Class labels in order.</summary>
    public IReadOnlyList<string> Labels => _classes.Select(c => c.Label).ToList();

    /// <summary>Unnormalised log posterior of every class (log prior + log likelihood, up to a shared constant).</summary>
    public double[] LogPosterior(ReadOnlySpan<double> traits)
    {
        if (traits.Length != Dimension) throw new ArgumentException($"expected {Dimension} traits, got {traits.Length}");
        var result = new double[_classes.Length];
        var diff = new double[Dimension];
        for (int c = 0; c < _classes.Length; c++)
        {
            double best = double.NegativeInfinity;
            var terms = new double[_components[c].Length];
            for (int k = 0; k < terms.Length; k++)
            {
                var (logW, mean, l, logDet) = _components[c][k];
                for (int i = 0; i < Dimension; i++) diff[i] = traits[i] - mean[i];
                var y = LinearAlgebra.ForwardSolve(l, diff);
                double m = 0;
                foreach (var v in y) m += v * v;
                terms[k] = logW - 0.5 * (m + logDet);
                best = Math.Max(best, terms[k]);
            }
            double s = 0;
            foreach (var t in terms) s += Math.Exp(t - best);
            result[c] = Math.Log(Math.Max(_classes[c].Prior, 1e-300)) + best + Math.Log(s);
        }
        return result;
    }

    /// <summary>Class indices ranked by posterior, best first (ties keep class order).</summary>
    public int[] Rank(ReadOnlySpan<double> traits)
    {
        var lp = LogPosterior(traits);
        return Enumerable.Range(0, lp.Length).OrderByDescending(i => lp[i]).ThenBy(i => i).ToArray();
    }

    /// <summary>Where each labelled trait vector's true class ranks (1 = first), in input order.</summary>
    public int[] TrueClassRanks(IEnumerable<(double[] Traits, string Label)> items, CancellationToken cancellationToken = default)
    {
        var index = _classes.Select((c, i) => (c.Label, i)).ToDictionary(p => p.Label, p => p.i, StringComparer.Ordinal);
        var list = items.ToList();
        var ranks = new int[list.Count];
        Parallel.For(0, list.Count, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            if (!index.TryGetValue(list[i].Label, out int truth)) throw new GestaltLabException($"oracle: unknown label '{list[i].Label}'");
            ranks[i] = Array.IndexOf(Rank(list[i].Traits), truth) + 1;
        });
        return ranks;
    }

    /// <summary>Top-1/5/10 accuracy on labelled trait vectors (labels must be class labels of this oracle).</summary>
    public OracleResult Evaluate(IEnumerable<(double[] Traits, string Label)> test, CancellationToken cancellationToken = default) =>
        OracleResult.FromRanks(TrueClassRanks(test, cancellationToken));
}
