using System.Numerics;
using GestaltLab.Data;
using OpenCvSharp;

namespace GestaltLab.Faces;

/// <summary>
/// Aligns a face to the canonical <see cref="FaceTemplate"/>: the least-squares similarity transform from the photo's
/// landmarks to the template (over the template's stable alignment points), then a bilinear warp to a square image
/// of <see cref="Size"/> pixels. A similarity (not affine) keeps the face's proportions, which carry the syndrome signal.
/// Stateless and thread-safe.
/// </summary>
public sealed class FaceAligner
{
    /// <summary>An aligner for <paramref name="size"/>×<paramref name="size"/> output.</summary>
    public FaceAligner(int size = 256, FaceTemplate? template = null)
    {
        if (size < 16) throw new ArgumentOutOfRangeException(nameof(size), size, "aligned face must be at least 16 px");
        Size = size;
        Template = template ?? FaceTemplate.Default;
        _target = Template.Points.Select(p => p * size).ToArray();
        _alignIdx = Template.AlignmentPoints.ToArray();
    }

    private readonly Vector2[] _target;
    private readonly int[] _alignIdx;

    /// <summary>Side of the aligned image.</summary>
    public int Size { get; }
    /// <summary>The template aligned to.</summary>
    public FaceTemplate Template { get; }

    /// <summary>The photo → aligned transform for these landmarks (68 points).</summary>
    public SimilarityTransform FitTransform(FaceLandmarks landmarks)
    {
        if (landmarks.Count != 68) throw new ArgumentException($"alignment needs the 68-point layout, got {landmarks.Count} points");
        return SimilarityTransform.Fit(landmarks.Points, _target, _alignIdx);
    }

    /// <summary>Aligns the face: warped image, landmarks carried through, fit error.</summary>
    public AlignedFace Align(RgbImage image, FaceLandmarks landmarks)
    {
        var t = FitTransform(landmarks);
        var aligned = landmarks.Transform(t.Apply);
        double se = 0;
        foreach (int i in _alignIdx) se += Vector2.DistanceSquared(aligned[i], _target[i]);
        return new AlignedFace(Warp(image, t, Size, Size), aligned, t, Math.Sqrt(se / _alignIdx.Length));
    }

    /// <summary>
    /// Warps <paramref name="image"/> through <paramref name="transform"/> (photo → output pixels) into a
    /// <paramref name="width"/>×<paramref name="height"/> image, bilinear, black outside the photo.
    /// </summary>
    public static RgbImage Warp(RgbImage image, SimilarityTransform transform, int width, int height)
    {
        var output = new byte[width * height * 3];
        using var src = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC3, image.Pixels);
        using var dst = Mat.FromPixelData(height, width, MatType.CV_8UC3, output);
        using var m = Mat.FromPixelData(2, 3, MatType.CV_64FC1, transform.ToAffine2x3());
        Cv2.WarpAffine(src, dst, m, new Size(width, height), InterpolationFlags.Linear, BorderTypes.Constant, Scalar.All(0));
        return new RgbImage(width, height, output);
    }
}
