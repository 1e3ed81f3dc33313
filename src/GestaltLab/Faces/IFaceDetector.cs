using GestaltLab.Data;

namespace GestaltLab.Faces;

/// <summary>
/// Finds faces in a photo. Implementations return boxes in dlib's convention, already calibrated to the box the
/// 68-point shape predictor expects (see <see cref="BoxCalibration"/>), best first. Implementations are thread-safe.
/// </summary>
public interface IFaceDetector
{
    /// <summary>Short name for reports, e.g. <c>haar</c>.</summary>
    string Name { get; }

    /// <summary>All faces found, sorted by score (highest first); empty when there is none.</summary>
    IReadOnlyList<FaceBox> Detect(RgbImage image);
}
