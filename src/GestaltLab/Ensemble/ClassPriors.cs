using GestaltLab.Models;
using GestaltLab.Runtime;

namespace GestaltLab.Ensemble;

/// <summary>
/// How often each syndrome occurs among the training photos, and how strongly a <see cref="GestaltModel"/> that ranks
/// with <see cref="Training"/> priors lets that frequency move its answer: p'_c ∝ p_c · f_c^β, where p is the ensemble's
/// equal-prior posterior (class-balanced training and the discriminant heads give every syndrome the same prior), f the
/// training frequencies and β the <see cref="Strength"/> fitted on the validation photos.
/// </summary>
/// <remarks>
/// Equal priors are the default because a clinician's question is which syndrome this face resembles, and a rare one
/// must not be pushed down the list for being rare. Training priors answer a different question — which syndrome is most
/// likely for a photo drawn like the training photos — and that is what per-image top-k on a test split drawn the same
/// way rewards, and what the synthetic oracle does (it uses the training frequencies). β = 1 would be Bayes' rule for
/// perfectly calibrated probabilities; a fitted β (usually below 1) discounts the prior as far as the ensemble's own
/// probabilities are over- or under-confident.
/// </remarks>
/// <param name="Frequencies">Share of the training photos in each class, in class order (sums to 1); copied.</param>
/// <param name="Strength">β, the exponent on the frequencies (0 = equal priors).</param>
public sealed record ClassPriors(IReadOnlyList<double> Frequencies, double Strength)
{
    /// <summary>Share of the training photos in each class, in class order (sums to 1).</summary>
    /// <remarks>
    /// A read-only copy: a <see cref="GestaltModel"/> reckons its prior factors once, when it is made, and saves these
    /// numbers with the run, so frequencies changed afterwards would be saved without ever being used.
    /// </remarks>
    public IReadOnlyList<double> Frequencies { get; init => field = Array.AsReadOnly(value.ToArray()); } = Array.AsReadOnly(Frequencies.ToArray());

    /// <summary>Rank with every syndrome equally likely a priori (the default).</summary>
    public const string Equal = "equal";

    /// <summary>Rank with the training photos' syndrome frequencies as priors, at the fitted <see cref="Strength"/>.</summary>
    public const string Training = "training";

    /// <summary>The accepted names.</summary>
    public static IReadOnlyList<string> All { get; } = [Equal, Training];

    /// <summary>The strengths tried by <see cref="Fit"/>: 0 to 2 in steps of 0.05.</summary>
    public static IReadOnlyList<double> StrengthGrid { get; } = Enumerable.Range(0, 41).Select(k => k * 0.05).ToArray();

    /// <summary>Returns <paramref name="name"/> when it is <see cref="Equal"/> or <see cref="Training"/>; throws a <see cref="GestaltLabException"/> naming <paramref name="source"/> otherwise.</summary>
    public static string Check(string? name, string source) =>
        name is not null && All.Contains(name) ? name
            : throw new GestaltLabException($"{source}: priors must be one of {string.Join(", ", All.Select(a => $"\"{a}\""))}, got \"{name}\"");

    /// <summary>
    /// The training frequencies of <paramref name="trainLabels"/>, with the strength that minimises the cross-entropy of
    /// the reweighted <paramref name="valProbabilities"/> (the ensemble's equal-prior output on the validation photos);
    /// β = 1 without validation photos.
    /// </summary>
    /// <exception cref="GestaltLabException">No training labels, a label outside the classes, or a class without training photos.</exception>
    public static ClassPriors Fit(IReadOnlyList<int> trainLabels, int classCount, IReadOnlyList<float[]> valProbabilities, IReadOnlyList<int> valLabels)
    {
        if (trainLabels.Count == 0) throw new GestaltLabException("class priors: no training labels");
        var counts = new double[classCount];
        foreach (int y in trainLabels)
        {
            if ((uint)y >= (uint)classCount) throw new GestaltLabException($"class priors: label {y} outside 0–{classCount - 1}");
            counts[y]++;
        }
        int empty = Array.IndexOf(counts, 0.0);
        if (empty >= 0) throw new GestaltLabException($"class priors: class {empty} has no training photos");
        var frequencies = counts.Select(c => c / trainLabels.Count).ToArray();
        if (valProbabilities.Count != valLabels.Count) throw new ArgumentException("one label per validation prediction", nameof(valLabels));
        if (valProbabilities.Count == 0) return new ClassPriors(frequencies, 1);
        // Ties (e.g. a single class) go to the weaker prior.
        double best = StrengthGrid.MinBy(beta => CrossEntropy(new ClassPriors(frequencies, beta), valProbabilities, valLabels));
        return new ClassPriors(frequencies, best);
    }

    /// <summary>The per-class factors f_c^β, scaled so the largest is 1 (what the ONNX graph multiplies by).</summary>
    public float[] Weights()
    {
        var log = Frequencies.Select(f => Strength * Math.Log(f)).ToArray();
        double max = log.Max();
        return log.Select(v => (float)Math.Exp(v - max)).ToArray();
    }

    /// <summary>Reweights an equal-prior distribution in place and renormalises it (in float, as the ONNX graph does).</summary>
    /// <param name="probabilities">The distribution, in class order.</param>
    /// <param name="weights"><see cref="Weights"/> of the priors.</param>
    public static void ApplyInPlace(Span<float> probabilities, float[] weights)
    {
        if (probabilities.Length != weights.Length) throw new GestaltLabException($"class priors: {weights.Length} classes, the distribution has {probabilities.Length}");
        float sum = 0;
        for (int c = 0; c < probabilities.Length; c++) sum += probabilities[c] *= weights[c];
        if (sum > 0) for (int c = 0; c < probabilities.Length; c++) probabilities[c] /= sum;
    }

    private static double CrossEntropy(ClassPriors priors, IReadOnlyList<float[]> probabilities, IReadOnlyList<int> labels)
    {
        var w = priors.Weights();
        var q = new float[w.Length];
        double sum = 0;
        for (int i = 0; i < probabilities.Count; i++)
        {
            probabilities[i].CopyTo(q, 0);
            ApplyInPlace(q, w);
            sum -= Math.Log(Math.Max(q[labels[i]], Calibration.LogFloor));
        }
        return sum / probabilities.Count;
    }
}
