using GestaltLab.Runtime;

namespace GestaltLab.Ensemble;

/// <summary>How a <see cref="GestaltModel"/> turns its regions into one distribution over syndromes.</summary>
public static class EnsembleCombination
{
    /// <summary>Weighted arithmetic mean of the region softmaxes, Σ w_r·p_r (DeepGestalt's averaging; weights sum to 1).</summary>
    public const string Average = "average";

    /// <summary>
    /// Log-linear pool (weighted geometric mean): p ∝ exp(Σ w_r·log max(p_r, <see cref="Models.Calibration.LogFloor"/>)).
    /// Each region's evidence multiplies, so agreement between weak regions adds up; the weights need not sum to 1.
    /// </summary>
    public const string LogLinear = "log_linear";

    /// <summary>
    /// One discriminant over all regions' embeddings together (<see cref="JointHead"/>), fitted after the region nets; the
    /// region softmaxes are still computed, pooled log-linearly only to say how much each region supports a class.
    /// </summary>
    public const string Joint = "joint";

    /// <summary>The accepted names.</summary>
    public static IReadOnlyList<string> All { get; } = [Joint, LogLinear, Average];

    /// <summary>Returns <paramref name="name"/> when it is a known combination; throws a <see cref="GestaltLabException"/> naming <paramref name="source"/> otherwise.</summary>
    public static string Check(string? name, string source) =>
        name is not null && All.Contains(name) ? name
            : throw new GestaltLabException($"{source}: combination must be one of {string.Join(", ", All.Select(a => $"\"{a}\""))}, got \"{name}\"");
}
