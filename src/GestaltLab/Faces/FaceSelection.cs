using GestaltLab.Data;

namespace GestaltLab.Faces;

/// <summary>
/// Which face to use when a detector finds several: the largest, with ties (within 20% of its area) going to the one
/// nearest the image centre. Portraits of patients put the patient large and central; a parent or a poster in the
/// background is smaller or off-centre. The photo is flagged <see cref="FaceStatus.MultipleFaces"/> so it can be checked.
/// </summary>
public static class FaceSelection
{
    /// <summary>Index of the face to use in <paramref name="boxes"/>; −1 when empty.</summary>
    public static int Choose(IReadOnlyList<FaceBox> boxes, int imageWidth, int imageHeight)
    {
        if (boxes.Count == 0) return -1;
        long largest = boxes.Max(b => b.Area);
        int best = -1;
        double bestDist = double.MaxValue;
        for (int i = 0; i < boxes.Count; i++)
        {
            if (boxes[i].Area < 0.8 * largest) continue;
            double dx = boxes[i].CenterX - imageWidth / 2.0, dy = boxes[i].CenterY - imageHeight / 2.0;
            double d = dx * dx + dy * dy;
            if (d < bestDist) { bestDist = d; best = i; }
        }
        return best;
    }

    /// <summary>Fraction of the box's area inside the image (0–1).</summary>
    public static double FractionInside(FaceBox box, RgbImage image)
    {
        int l = Math.Max(0, box.Left), t = Math.Max(0, box.Top);
        int r = Math.Min(image.Width - 1, box.Right), b = Math.Min(image.Height - 1, box.Bottom);
        if (r < l || b < t) return 0;
        return (double)(r - l + 1) * (b - t + 1) / box.Area;
    }
}
