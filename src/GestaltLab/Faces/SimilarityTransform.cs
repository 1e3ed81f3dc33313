using System.Numerics;

namespace GestaltLab.Faces;

/// <summary>
/// A 2-D similarity transform (rotation, uniform scale, translation):
/// x′ = A·x − B·y + Tx, y′ = B·x + A·y + Ty. Scale = √(A² + B²), angle = atan2(B, A).
/// </summary>
public readonly record struct SimilarityTransform(double A, double B, double Tx, double Ty)
{
    /// <summary>The identity.</summary>
    public static SimilarityTransform Identity => new(1, 0, 0, 0);

    /// <summary>Uniform scale factor.</summary>
    public double Scale => Math.Sqrt(A * A + B * B);
    /// <summary>Rotation in radians.</summary>
    public double Angle => Math.Atan2(B, A);

    /// <summary>Maps a point.</summary>
    public Vector2 Apply(Vector2 p) => new((float)(A * p.X - B * p.Y + Tx), (float)(B * p.X + A * p.Y + Ty));

    /// <summary>Maps a point in double precision.</summary>
    public (double X, double Y) Apply(double x, double y) => (A * x - B * y + Tx, B * x + A * y + Ty);

    /// <summary>The inverse transform.</summary>
    public SimilarityTransform Inverse()
    {
        double d = A * A + B * B;
        double ia = A / d, ib = -B / d;
        return new SimilarityTransform(ia, ib, -(ia * Tx - ib * Ty), -(ib * Tx + ia * Ty));
    }

    /// <summary>This transform followed by <paramref name="next"/>.</summary>
    public SimilarityTransform Then(SimilarityTransform next) => new(
        next.A * A - next.B * B, next.B * A + next.A * B,
        next.A * Tx - next.B * Ty + next.Tx, next.B * Tx + next.A * Ty + next.Ty);

    /// <summary>Scaling about the origin followed by a translation.</summary>
    public static SimilarityTransform ScaleTranslate(double scale, double tx, double ty) => new(scale, 0, tx, ty);

    /// <summary>The 2×3 affine matrix [[A, −B, Tx], [B, A, Ty]] (row-major), as OpenCV's warpAffine takes it.</summary>
    public double[] ToAffine2x3() => [A, -B, Tx, B, A, Ty];

    /// <summary>
    /// Least-squares similarity mapping <paramref name="from"/> onto <paramref name="to"/> over the given point indices
    /// (all points when null): minimises Σ‖T(fᵢ) − tᵢ‖² (closed form; Umeyama 1991 without reflection).
    /// </summary>
    public static SimilarityTransform Fit(ReadOnlySpan<Vector2> from, ReadOnlySpan<Vector2> to, ReadOnlySpan<int> indices = default)
    {
        if (from.Length != to.Length) throw new ArgumentException($"point counts differ: {from.Length} vs {to.Length}");
        int n = indices.IsEmpty ? from.Length : indices.Length;
        if (n < 2) throw new ArgumentException("a similarity transform needs at least 2 points");
        double fmx = 0, fmy = 0, tmx = 0, tmy = 0;
        for (int k = 0; k < n; k++)
        {
            int i = indices.IsEmpty ? k : indices[k];
            fmx += from[i].X; fmy += from[i].Y; tmx += to[i].X; tmy += to[i].Y;
        }
        fmx /= n; fmy /= n; tmx /= n; tmy /= n;
        double ss = 0, sa = 0, sb = 0;
        for (int k = 0; k < n; k++)
        {
            int i = indices.IsEmpty ? k : indices[k];
            double fx = from[i].X - fmx, fy = from[i].Y - fmy, tx = to[i].X - tmx, ty = to[i].Y - tmy;
            ss += fx * fx + fy * fy;
            sa += fx * tx + fy * ty;
            sb += fx * ty - fy * tx;
        }
        if (ss <= 0) throw new ArgumentException("the source points are all identical");
        double a = sa / ss, b = sb / ss;
        return new SimilarityTransform(a, b, tmx - (a * fmx - b * fmy), tmy - (b * fmx + a * fmy));
    }
}
