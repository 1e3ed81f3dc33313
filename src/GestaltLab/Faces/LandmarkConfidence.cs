using GestaltLab.Data;

namespace GestaltLab.Faces;

/// <summary>
/// A landmark confidence proxy: dlib's regression trees give no probability, so the face is re-landmarked from
/// slightly shifted and rescaled boxes and the spread of the answers is measured. On a real, well-framed face the
/// cascade converges to the same points (spread ≈ 1–2% of the inter-ocular distance); on a non-face, a profile or a
/// badly placed box the answers wander. Confidence = clamp(1 − spread / (0.15 · inter-ocular), 0, 1).
/// </summary>
public static class LandmarkConfidence
{
    /// <summary>Relative box perturbations: (dx, dy, scale) as fractions of the box side.</summary>
    private static readonly (double Dx, double Dy, double Scale)[] Jitters = [(0.04, -0.03, 0.94), (-0.03, 0.04, 1.06)];

    /// <summary>Confidence in [0, 1] of <paramref name="landmarks"/> predicted in <paramref name="box"/>, and the spread in pixels.</summary>
    public static (float Confidence, double SpreadPixels) Estimate(ShapePredictor predictor, RgbImage image, FaceBox box, FaceLandmarks landmarks)
    {
        double spread = 0;
        foreach (var (dx, dy, s) in Jitters)
        {
            double side = box.Width * s;
            double cx = box.CenterX + dx * box.Width, cy = box.CenterY + dy * box.Height;
            int l = (int)Math.Round(cx - (side - 1) / 2), t = (int)Math.Round(cy - (side - 1) / 2), n = Math.Max(1, (int)Math.Round(side));
            var other = predictor.Predict(image, new FaceBox(l, t, l + n - 1, t + n - 1));
            spread += landmarks.MeanDistance(other);
        }
        spread /= Jitters.Length;
        double scale = landmarks.Count == 68 ? Math.Max(1.0, landmarks.InterOcular) : Math.Max(1.0, box.Width * 0.5);
        return ((float)Math.Clamp(1 - spread / (0.15 * scale), 0, 1), spread);
    }
}
