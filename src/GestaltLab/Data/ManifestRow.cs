namespace GestaltLab.Data;

/// <summary>
/// One photo in a <see cref="Manifest"/>: which image, whose face, which label, which split, and the strata a
/// paper reports accuracy by (sex, age band, skin tone). Rows are immutable; use <c>with</c> to change one.
/// </summary>
/// <remarks>
/// <see cref="Image"/> is relative to the manifest's folder (<see cref="Manifest.Root"/>), with '/' separators, so a
/// data set can be moved or zipped as a whole. An empty <see cref="Syndrome"/> means "not labelled" (a user's photo to
/// predict); <see cref="Manifest.Unaffected"/> marks controls. Columns the toolkit does not know are kept in
/// <see cref="Extra"/> and written back on save.
/// </remarks>
public sealed record ManifestRow
{
    /// <summary>Image path relative to the manifest's folder ('/' separators); absolute paths are allowed for user data.</summary>
    public required string Image { get; init; }
    /// <summary>Identity of the person photographed; splits never separate one subject's photos.</summary>
    public required string Subject { get; init; }
    /// <summary>Syndrome label, <see cref="Manifest.Unaffected"/> for controls, empty when unlabelled.</summary>
    public string Syndrome { get; init; } = "";
    /// <summary>Gene (genotype) label, empty when none or unknown.</summary>
    public string Gene { get; init; } = "";
    /// <summary>One of <see cref="SplitNames.Train"/>, <see cref="SplitNames.Val"/>, <see cref="SplitNames.Test"/>.</summary>
    public string Split { get; init; } = SplitNames.Test;
    /// <summary>Sex (<c>female</c>/<c>male</c>), empty when unknown.</summary>
    public string Sex { get; init; } = "";
    /// <summary>Age band (e.g. <c>child</c>), empty when unknown.</summary>
    public string AgeBand { get; init; } = "";
    /// <summary>Skin tone band (e.g. <c>III</c>), empty when unknown.</summary>
    public string SkinTone { get; init; } = "";
    /// <summary>Family identifier; relatives share it and splits keep a family together. Empty when unknown.</summary>
    public string Family { get; init; } = "";
    /// <summary>Values of columns beyond the standard ones, by column name (kept through load and save).</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = EmptyExtra;

    /// <summary>Whether the row carries a syndrome label (controls count as labelled).</summary>
    public bool IsLabelled => Syndrome.Length > 0;

    /// <summary>Whether the row is an unaffected control.</summary>
    public bool IsUnaffected => Syndrome == Manifest.Unaffected;

    /// <summary>
    /// The photo as its data set names it: an aligned folder's row names its own aligned image in <see cref="Image"/> and
    /// the photo it came from in its <c>source_image</c> column; any other row's is <see cref="Image"/> itself.
    /// </summary>
    public string SourceImage => Extra.TryGetValue("source_image", out var source) && source.Length > 0 ? source : Image;

    /// <summary>The unit splits keep together: the family when known, else the subject.</summary>
    public string SplitGroup => Family.Length > 0 ? "family:" + Family : "subject:" + Subject;

    /// <summary>
    /// The value of a column by its manifest name (a standard column, e.g. <c>skin_tone</c>, or one of <see cref="Extra"/>);
    /// null when the row has no such column.
    /// </summary>
    public string? ValueOf(string column) => column.ToLowerInvariant() switch
    {
        "image" => Image, "subject" => Subject, "syndrome" => Syndrome, "gene" => Gene, "split" => Split, "sex" => Sex,
        "age_band" => AgeBand, "skin_tone" => SkinTone, "family" => Family,
        _ => Extra.TryGetValue(column, out var v) ? v : null,
    };

    internal static readonly IReadOnlyDictionary<string, string> EmptyExtra = new Dictionary<string, string>();
}

/// <summary>The split names a manifest may use.</summary>
public static class SplitNames
{
    /// <summary>Training photos.</summary>
    public const string Train = "train";
    /// <summary>Validation photos (early stopping, model selection).</summary>
    public const string Val = "val";
    /// <summary>Held-out test photos: reported figures come from these only.</summary>
    public const string Test = "test";

    /// <summary>All valid split names, in order.</summary>
    public static IReadOnlyList<string> All { get; } = [Train, Val, Test];

    /// <summary>Whether <paramref name="split"/> is a valid split name.</summary>
    public static bool IsValid(string split) => split is Train or Val or Test;
}
