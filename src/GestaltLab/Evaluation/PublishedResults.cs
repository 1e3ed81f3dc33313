namespace GestaltLab.Evaluation;

/// <summary>One published accuracy figure.</summary>
/// <param name="Source">Paper and model, e.g. <c>DeepGestalt (Gurovich 2019)</c>.</param>
/// <param name="Setting">What was measured on which data.</param>
/// <param name="Measure">e.g. <c>top-10</c> or <c>per-disorder top-1</c>.</param>
/// <param name="K">The k of the top-k measure.</param>
/// <param name="Value">The figure as a fraction.</param>
/// <param name="PerDisorder">Whether the figure is a mean over disorders (not over images).</param>
/// <param name="Label">Short label for legends, e.g. <c>GestaltMatcher 2022, rare</c>.</param>
public readonly record struct PublishedFigure(string Source, string Setting, string Measure, int K, double Value, bool PerDisorder, string Label);

/// <summary>The field's published figures that GestaltLab's results are drawn beside (see docs/figures.md for sources).</summary>
public static class PublishedResults
{
    /// <summary>DeepGestalt (Gurovich et al., Nat. Med. 2019): Gestalt model, 216 syndromes, 502 test images of 92 syndromes.</summary>
    public static IReadOnlyList<PublishedFigure> DeepGestalt { get; } =
    [
        new("DeepGestalt (Gurovich 2019)", "216 syndromes; 502 test images of 92 syndromes", "top-10", 10, 0.91, false, "DeepGestalt 2019"),
    ];

    /// <summary>GestaltMatcher (Hsieh et al., Nat. Genet. 2022), GMDB v1.0.3: mean per-disorder top-k, frequent vs frequent.</summary>
    public static IReadOnlyList<PublishedFigure> GestaltMatcherFrequent { get; } =
    [
        new("GestaltMatcher (Hsieh 2022)", "frequent disorders (GMDB v1.0.3)", "per-disorder top-1", 1, 0.530, true, "GestaltMatcher 2022, frequent"),
        new("GestaltMatcher (Hsieh 2022)", "frequent disorders (GMDB v1.0.3)", "per-disorder top-5", 5, 0.710, true, "GestaltMatcher 2022, frequent"),
        new("GestaltMatcher (Hsieh 2022)", "frequent disorders (GMDB v1.0.3)", "per-disorder top-10", 10, 0.792, true, "GestaltMatcher 2022, frequent"),
        new("GestaltMatcher (Hsieh 2022)", "frequent disorders (GMDB v1.0.3)", "per-disorder top-30", 30, 0.900, true, "GestaltMatcher 2022, frequent"),
    ];

    /// <summary>GestaltMatcher, rare vs rare disorders (unseen-disorder matching).</summary>
    public static IReadOnlyList<PublishedFigure> GestaltMatcherRare { get; } =
    [
        new("GestaltMatcher (Hsieh 2022)", "rare disorders (GMDB v1.0.3)", "per-disorder top-1", 1, 0.360, true, "GestaltMatcher 2022, rare"),
        new("GestaltMatcher (Hsieh 2022)", "rare disorders (GMDB v1.0.3)", "per-disorder top-5", 5, 0.539, true, "GestaltMatcher 2022, rare"),
        new("GestaltMatcher (Hsieh 2022)", "rare disorders (GMDB v1.0.3)", "per-disorder top-10", 10, 0.624, true, "GestaltMatcher 2022, rare"),
        new("GestaltMatcher (Hsieh 2022)", "rare disorders (GMDB v1.0.3)", "per-disorder top-30", 30, 0.766, true, "GestaltMatcher 2022, rare"),
    ];

    /// <summary>Independent re-evaluation (Reiter 2024): 4,796 images, 486 syndromes + 323 unaffected controls.</summary>
    public static IReadOnlyList<PublishedFigure> Reiter2024 { get; } =
    [
        new("Reiter 2024 (independent)", "4,796 images, 486 syndromes", "top-30", 30, 0.88, false, "Reiter 2024"),
    ];

    /// <summary>Every figure above.</summary>
    public static IReadOnlyList<PublishedFigure> All { get; } =
        [.. DeepGestalt, .. GestaltMatcherFrequent, .. GestaltMatcherRare, .. Reiter2024];

    /// <summary>AUROC for separating patients from unaffected controls, reported by the independent check of Reiter 2024.</summary>
    public const double Reiter2024UnaffectedAuroc = 0.73;
}
