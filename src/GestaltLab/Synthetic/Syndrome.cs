namespace GestaltLab.Synthetic;

/// <summary>
/// A genotype within a syndrome (e.g. one of the Noonan-like family's five genes): its share of the syndrome's
/// subjects and its own, usually subtler, trait shifts added to the syndrome's core.
/// </summary>
/// <param name="Gene">Gene symbol (written to the manifest's <c>gene</c> column).</param>
/// <param name="Weight">Relative share of the syndrome's subjects carrying this gene.</param>
/// <param name="Effects">Extra trait shifts in SD units, added to the syndrome's core effects.</param>
public sealed record GeneVariant(string Gene, double Weight, IReadOnlyDictionary<string, double> Effects);

/// <summary>
/// One synthetic syndrome: a few trait shifts (SD units) applied to every affected subject, scaled by that subject's
/// severity s ~ N(1, <see cref="Expressivity"/>²) (variable expressivity), optionally split into genotypes. A synthetic
/// analogue for teaching and benchmarking, never a diagnosis.
/// </summary>
public sealed record Syndrome
{
    /// <summary>Identifier written to the manifest's <c>syndrome</c> column (lower case, digits, '_' and '-').</summary>
    public required string Id { get; init; }
    /// <summary>Human-readable name, always marked as a synthetic analogue.</summary>
    public required string Name { get; init; }
    /// <summary><c>teaching</c> (named analogue), <c>generated</c>, <c>control</c> or <c>user</c>.</summary>
    public string Kind { get; init; } = "user";
    /// <summary>The real syndrome whose textbook gestalt the analogue echoes (teaching analogues only).</summary>
    public string? AnalogueOf { get; init; }
    /// <summary>Relative frequency among syndromes; presets size cohorts by it (a long tail, as in the paper's data).</summary>
    public double Frequency { get; init; } = 1;
    /// <summary>SD of the subject's severity multiplier (0 = every subject shows the full shift).</summary>
    public double Expressivity { get; init; } = 0.3;
    /// <summary>Trait shifts in SD units by trait name (see <see cref="TraitSpace.Traits"/>).</summary>
    public IReadOnlyDictionary<string, double> Effects { get; init; } = new Dictionary<string, double>();
    /// <summary>Genotypes (empty when the syndrome is not split by gene).</summary>
    public IReadOnlyList<GeneVariant> Genes { get; init; } = [];
    /// <summary>Free-text note (e.g. which textbook signs the shifts stand for).</summary>
    public string? Note { get; init; }

    /// <summary>Whether this is the unaffected control class.</summary>
    public bool IsControl => Kind == "control";

    /// <summary>Mean trait vector (z) of the syndrome's subjects with <paramref name="gene"/> (null: the core only).</summary>
    public double[] MeanShift(string? gene = null)
    {
        var mu = new double[TraitSpace.Count];
        foreach (var (t, v) in Effects) mu[TraitSpace.IndexOf(t)] += v;
        if (gene is not null)
        {
            var g = Genes.FirstOrDefault(x => x.Gene == gene)
                    ?? throw new ArgumentException($"syndrome '{Id}' has no gene '{gene}'");
            foreach (var (t, v) in g.Effects) mu[TraitSpace.IndexOf(t)] += v;
        }
        return mu;
    }
}
