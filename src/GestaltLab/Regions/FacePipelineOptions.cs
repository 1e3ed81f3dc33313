using GestaltLab.Data;
using GestaltLab.Faces;

namespace GestaltLab.Regions;

/// <summary>Settings of <see cref="FacePipeline"/>; the defaults suit portraits and the synthetic presets.</summary>
public sealed record FacePipelineOptions
{
    /// <summary>dlib shape_predictor file; null = the system's 68-point model.</summary>
    public string? ModelPath { get; init; }
    /// <summary>Face detector; null = OpenCV Haar (<see cref="HaarFaceDetector"/>) with the calibrated box.</summary>
    public IFaceDetector? Detector { get; init; }
    /// <summary>Side of the aligned face in pixels.</summary>
    public int AlignedSize { get; init; } = 256;
    /// <summary>Regions to crop; null = <see cref="RegionSet.Default"/>.</summary>
    public RegionSet? Regions { get; init; }
    /// <summary>Template to align to; null = <see cref="FaceTemplate.Default"/>.</summary>
    public FaceTemplate? Template { get; init; }
    /// <summary>Compute the landmark confidence proxy (two extra landmark passes per face).</summary>
    public bool ComputeConfidence { get; init; } = true;
    /// <summary>Below this confidence the photo is <c>low_quality</c>.</summary>
    public float MinConfidence { get; init; } = 0.5f;
    /// <summary>Faces with a smaller box side (pixels) are <c>low_quality</c>.</summary>
    public int MinFacePixels { get; init; } = 40;
    /// <summary>Faces with less of their box inside the photo are <c>low_quality</c>.</summary>
    public double MinFractionInside { get; init; } = 0.8;
    /// <summary>Crop the regions (off: landmarks and alignment only).</summary>
    public bool CropRegions { get; init; } = true;
    /// <summary>Pixel limit for photos read from files.</summary>
    public long MaxPixels { get; init; } = ImageLoader.DefaultMaxPixels;
}
