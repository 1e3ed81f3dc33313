namespace GestaltLab.Ensemble;

/// <summary>One syndrome in a ranked list, with what each region said about it.</summary>
/// <param name="Syndrome">Class name.</param>
/// <param name="Probability">Ensemble probability.</param>
/// <param name="Rank">1-based rank.</param>
/// <param name="Contributions">Region → its share of <see cref="Probability"/>: the probability split in proportion to
/// weight × region probability, so the shares sum to it (for a weighted average they are exactly weight × region probability).
/// With the <see cref="EnsembleCombination.Joint"/> head the probability comes from all embeddings at once; the shares then
/// say how much each region's own (calibrated) net supports the class, with the log-linear pool's weights.</param>
public readonly record struct RankedSyndrome(string Syndrome, double Probability, int Rank, IReadOnlyDictionary<string, double> Contributions)
{
    /// <summary>Rank, syndrome and probability, then each region's share of it, largest first (<c>predict</c> prints the
    /// same shares in region order).</summary>
    public override string ToString()
    {
        static string Percent(double p) => p.ToString("P1", System.Globalization.CultureInfo.InvariantCulture);
        return $"{Rank}. {Syndrome} {Percent(Probability)} ({string.Join(", ", Contributions.OrderByDescending(c => c.Value).Select(c => $"{c.Key} {Percent(c.Value)}"))})";
    }
}

/// <summary>
/// The ensemble's answer for one face: class probabilities combined over regions (each averaged over the flip test-time
/// augmentation), each region's own probabilities, and the face-space embedding (penultimate layers, concatenated).
/// </summary>
public sealed record GestaltPrediction
{
    /// <summary>Class names in output order.</summary>
    public required IReadOnlyList<string> Classes { get; init; }
    /// <summary>Ensemble probabilities (sum to 1).</summary>
    public required float[] Probabilities { get; init; }
    /// <summary>Each region's (TTA-averaged) softmax.</summary>
    public required IReadOnlyDictionary<string, float[]> RegionProbabilities { get; init; }
    /// <summary>Weight of each region in the combination (<see cref="GestaltModel.RegionWeights"/>); null = equal weights.</summary>
    public IReadOnlyDictionary<string, double>? RegionWeights { get; init; }
    /// <summary>Concatenated region embeddings (region order of the model).</summary>
    public required float[] Embedding { get; init; }
    /// <summary>Each region's (TTA-averaged) embedding.</summary>
    public required IReadOnlyDictionary<string, float[]> RegionEmbeddings { get; init; }

    /// <summary>
    /// The three most probable syndromes with their probabilities and the embedding's size ("cdls_like 86.0 %, kabuki_like
    /// 3.8 %, … (30 syndromes, 7 regions, embedding 896)"), as a notebook displays the prediction: the record's own
    /// listing showed type names.
    /// </summary>
    public override string ToString() =>
        string.Join(", ", Top(3).Select(r => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{r.Syndrome} {r.Probability:P1}")))
        + (Classes.Count > 3 ? ", …" : "")
        + $" ({Classes.Count} syndromes, {RegionProbabilities.Count} regions, embedding {Embedding.Length})";

    /// <summary>The <paramref name="k"/> most probable syndromes, best first (ties by class order).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is negative (a mistake, not "none").</exception>
    public IReadOnlyList<RankedSyndrome> Top(int k = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        var order = Enumerable.Range(0, Probabilities.Length).OrderByDescending(c => Probabilities[c]).ThenBy(c => c).Take(k).ToList();
        int n = RegionProbabilities.Count;
        double Weight(string region) => RegionWeights is null ? 1.0 / n : RegionWeights[region];
        return order.Select((c, i) =>
        {
            double support = RegionProbabilities.Sum(r => Weight(r.Key) * r.Value[c]);
            return new RankedSyndrome(Classes[c], Probabilities[c], i + 1, RegionProbabilities.ToDictionary(r => r.Key,
                r => support > 0 ? Probabilities[c] * Weight(r.Key) * r.Value[c] / support : Probabilities[c] / n));
        }).ToList();
    }

    /// <summary>The most probable syndrome.</summary>
    public string Best => Top(1)[0].Syndrome;
}
