using GestaltLab.Data;
using GestaltLab.Faces;

namespace GestaltLab.Regions;

/// <summary>Everything <see cref="FacePipeline"/> found in one photo.</summary>
public sealed record FaceResult
{
    /// <summary>The photo's path or name.</summary>
    public required string Source { get; init; }
    /// <summary>Quality-control status.</summary>
    public required FaceStatus Status { get; init; }
    /// <summary>Why the status is not <c>ok</c> (human-readable), or null.</summary>
    public string? Problem { get; init; }
    /// <summary>
    /// True when face processing itself failed on the photo (an error inside detection, landmarking or alignment, such
    /// as landmarks that collapse to a point), rather than finding no usable face: <see cref="Problem"/> holds the error.
    /// </summary>
    public bool ProcessingFailed { get; init; }
    /// <summary>Photo size (0 when unreadable).</summary>
    public int ImageWidth { get; init; }
    /// <summary>Photo height (0 when unreadable).</summary>
    public int ImageHeight { get; init; }
    /// <summary>Every face box the detector found (best first); empty when none or when the box was given.</summary>
    public IReadOnlyList<FaceBox> Detections { get; init; } = [];
    /// <summary>The face box used (dlib convention), or null when no face.</summary>
    public FaceBox? Box { get; init; }
    /// <summary>The 68 landmarks in photo pixels, or null.</summary>
    public FaceLandmarks? Landmarks { get; init; }
    /// <summary>Landmark confidence proxy in [0, 1] (see <see cref="LandmarkConfidence"/>); NaN when not computed.</summary>
    public float Confidence { get; init; } = float.NaN;
    /// <summary>The aligned face, or null.</summary>
    public AlignedFace? Aligned { get; init; }
    /// <summary>Region crops by name, in the region set's order; empty when no face.</summary>
    public IReadOnlyDictionary<string, RegionCrop> Regions { get; init; } = new Dictionary<string, RegionCrop>();

    /// <summary>True when there are landmarks, an aligned face and crops (status ok, multiple_faces or low_quality).</summary>
    public bool HasFace => Aligned is not null;

    /// <summary>A region crop as CHW floats in [0, 1] (RGB, or 1-channel luminance with <paramref name="gray"/>).</summary>
    public float[] RegionTensor(string region, bool gray = false) =>
        Regions.TryGetValue(region, out var crop) ? crop.ToTensor(gray)
            : throw new Runtime.GestaltLabException($"{Source}: no crop '{region}' (status {Status.ToCsv()}{(Problem is null ? "" : ": " + Problem)})");
}
