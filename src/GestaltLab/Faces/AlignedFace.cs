using GestaltLab.Data;

namespace GestaltLab.Faces;

/// <summary>A face warped onto the canonical template.</summary>
/// <param name="Image">The aligned face, <c>Size × Size</c> pixels (outside the photo is black).</param>
/// <param name="Landmarks">The landmarks carried through the transform, in aligned pixel coordinates.</param>
/// <param name="ToAligned">Photo pixel coordinates → aligned pixel coordinates.</param>
/// <param name="FitError">Root-mean-square distance (aligned pixels) between the alignment landmarks and the template's.</param>
public sealed record AlignedFace(RgbImage Image, FaceLandmarks Landmarks, SimilarityTransform ToAligned, double FitError)
{
    /// <summary>Side of the aligned image in pixels.</summary>
    public int Size => Image.Width;
}
