namespace GestaltLab.Faces;

/// <summary>
/// A face box in dlib's convention: an inclusive pixel rectangle, so <see cref="Width"/> = Right − Left + 1. This is
/// the box the 68-point shape predictor is run on; detectors report their boxes in this form (after calibration).
/// </summary>
/// <param name="Left">Leftmost column (may lie outside the image).</param>
/// <param name="Top">Top row.</param>
/// <param name="Right">Rightmost column, inclusive.</param>
/// <param name="Bottom">Bottom row, inclusive.</param>
/// <param name="Score">Detector confidence (higher is more certain; 1 for given boxes).</param>
public readonly record struct FaceBox(int Left, int Top, int Right, int Bottom, float Score = 1f)
{
    /// <summary>Width in pixels (inclusive rectangle).</summary>
    public int Width => Right - Left + 1;
    /// <summary>Height in pixels (inclusive rectangle).</summary>
    public int Height => Bottom - Top + 1;
    /// <summary>Area in pixels.</summary>
    public long Area => (long)Width * Height;
    /// <summary>Centre x.</summary>
    public double CenterX => (Left + Right) / 2.0;
    /// <summary>Centre y.</summary>
    public double CenterY => (Top + Bottom) / 2.0;

    /// <summary>From an OpenCV/System.Drawing-style rectangle (x, y, width, height).</summary>
    public static FaceBox FromXywh(int x, int y, int width, int height, float score = 1f) =>
        new(x, y, x + width - 1, y + height - 1, score);

    /// <summary>Intersection over union with another box.</summary>
    public double IoU(FaceBox other)
    {
        int l = Math.Max(Left, other.Left), t = Math.Max(Top, other.Top);
        int r = Math.Min(Right, other.Right), b = Math.Min(Bottom, other.Bottom);
        if (r < l || b < t) return 0;
        double inter = (double)(r - l + 1) * (b - t + 1);
        return inter / (Area + other.Area - inter);
    }

    /// <inheritdoc />
    public override string ToString() => $"[{Left},{Top},{Right},{Bottom}]";
}
