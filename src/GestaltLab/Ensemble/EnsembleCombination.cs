using GestaltLab.Runtime;

namespace GestaltLab.Ensemble;

/// <summary>How a <see cref="GestaltModel"/> turns its regions' softmaxes into one distribution.</summary>
public static class EnsembleCombination
{
    /// <summary>Weighted arithmetic mean of the region softmaxes, Σ w_r·p_r (DeepGestalt's averaging; weights sum to 1).</summary>
    public const string Average = "average";

    /// <summary>
    /// Log-linear pool (weighted geometric mean): p ∝ exp(Σ w_r·log max(p_r, <see cref="Models.Calibration.LogFloor"/>)).
    /// Each region's evidence multiplies, so agreement between weak regions adds up; the weights need not sum to 1.
    /// </summary>
    public const string LogLinear = "log_linear";

    /// <summary>The accepted names.</summary>
    public static IReadOnlyList<string> All { get; } = [LogLinear, Average];

    /// <summary>Returns <paramref name="name"/> when it is a known combination; throws a <see cref="GestaltLabException"/> naming <paramref name="source"/> otherwise.</summary>
    public static string Check(string? name, string source) =>
        name is not null && All.Contains(name) ? name
            : throw new GestaltLabException($"{source}: combination must be \"{LogLinear}\" or \"{Average}\", got \"{name}\"");
}
