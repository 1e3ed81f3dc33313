namespace GestaltLab.Regions;

/// <summary>
/// One facial region: a square crop of the aligned face whose centre follows the subject's aligned landmarks
/// (<see cref="Landmarks"/>) and whose side is fixed by the canonical template, so all subjects are cropped at the
/// same scale (a long philtrum stays long). Defined as data in <c>data/regions/regions.json</c>.
/// </summary>
/// <param name="Name">Identifier, e.g. <c>periorbital_left</c> (image-left = the subject's right).</param>
/// <param name="Landmarks">iBUG 300-W indices (0–67) that place the region; copied.</param>
/// <param name="PadLeft">Padding left of the landmarks' template box, in template units (aligned face = 1 × 1).</param>
/// <param name="PadTop">Padding above.</param>
/// <param name="PadRight">Padding right.</param>
/// <param name="PadBottom">Padding below.</param>
/// <param name="Size">Crop side in pixels.</param>
/// <param name="Mirror">The region that takes this one's place when the face is flipped horizontally (itself when symmetric).</param>
public sealed record FacialRegion(string Name, IReadOnlyList<int> Landmarks, double PadLeft, double PadTop, double PadRight, double PadBottom, int Size, string Mirror)
{
    /// <summary>iBUG 300-W indices (0–67) that place the region.</summary>
    /// <remarks>A read-only copy: a <see cref="RegionSet"/> checks them once and a cropper places its squares once, so
    /// indices changed afterwards would crop elsewhere than the saved regions.json says.</remarks>
    public IReadOnlyList<int> Landmarks { get; init => field = Array.AsReadOnly(value.ToArray()); } = Array.AsReadOnly(Landmarks.ToArray());

    /// <summary>True when a horizontal flip maps the region onto itself.</summary>
    public bool IsSymmetric => Mirror == Name;

    /// <summary>
    /// True when <paramref name="other"/> cuts the same square of the face (same landmarks and padding; the pixel size
    /// may differ): a net trained on one region's crops reads the other's as it was trained to.
    /// </summary>
    public bool CutsLike(FacialRegion other) =>
        Landmarks.SequenceEqual(other.Landmarks) && PadLeft == other.PadLeft && PadTop == other.PadTop && PadRight == other.PadRight
        && PadBottom == other.PadBottom;

    /// <summary>
    /// Names of the regions of <paramref name="wanted"/> that <paramref name="available"/> lacks or cuts otherwise
    /// (<see cref="CutsLike"/>); empty when every one is cut alike.
    /// </summary>
    public static IReadOnlyList<string> CutOtherwise(IEnumerable<FacialRegion> wanted, RegionSet available) =>
        wanted.Where(w => available.Regions.FirstOrDefault(a => a.Name == w.Name) is not { } a || !a.CutsLike(w)).Select(w => w.Name).ToList();
}
