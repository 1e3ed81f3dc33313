using System.Numerics;

namespace GestaltLab.Faces;

/// <summary>
/// Landmarks of one face in image pixel coordinates, in the iBUG 300-W 68-point order when there are 68
/// (0–16 jaw, 17–26 brows, 27–35 nose, 36–47 eyes, 48–67 mouth; "left" means image-left). Points from
/// <see cref="ShapePredictor"/> are integers, exactly as dlib returns them.
/// </summary>
public sealed class FaceLandmarks
{
    /// <summary>Wraps the points (not copied).</summary>
    public FaceLandmarks(Vector2[] points) => Points = points;

    /// <summary>The points.</summary>
    public Vector2[] Points { get; }
    /// <summary>Number of points.</summary>
    public int Count => Points.Length;
    /// <summary>One point.</summary>
    public Vector2 this[int index] => Points[index];

    /// <summary>Mean of points <paramref name="from"/>..<paramref name="to"/> inclusive.</summary>
    public Vector2 Mean(int from, int to)
    {
        var s = Vector2.Zero;
        for (int i = from; i <= to; i++) s += Points[i];
        return s / (to - from + 1);
    }

    /// <summary>Centre of the image-left eye (mean of 36–41); 68-point layout only.</summary>
    public Vector2 LeftEyeCenter => Require68().Mean(36, 41);
    /// <summary>Centre of the image-right eye (mean of 42–47); 68-point layout only.</summary>
    public Vector2 RightEyeCenter => Require68().Mean(42, 47);

    /// <summary>300-W inter-ocular distance ‖p36 − p45‖ (outer canthi), the usual error normaliser; 68 points only.</summary>
    public float InterOcular => Vector2.Distance(Require68().Points[36], Points[45]);

    private FaceLandmarks Require68() => Count == 68 ? this
        : throw new InvalidOperationException($"this needs the 68-point layout; these landmarks have {Count} points");

    /// <summary>Mean point-to-point distance to other landmarks of the same layout.</summary>
    public double MeanDistance(FaceLandmarks other)
    {
        if (other.Count != Count) throw new ArgumentException($"landmark counts differ: {Count} vs {other.Count}");
        double s = 0;
        for (int i = 0; i < Count; i++) s += Vector2.Distance(Points[i], other.Points[i]);
        return s / Count;
    }

    /// <summary>Landmarks mapped through a 2-D transform.</summary>
    public FaceLandmarks Transform(Func<Vector2, Vector2> map) => new(Points.Select(map).ToArray());

    /// <summary>Interleaved x0,y0,x1,y1,… (the CSV layout).</summary>
    public float[] ToInterleaved()
    {
        var r = new float[Count * 2];
        for (int i = 0; i < Count; i++) { r[2 * i] = Points[i].X; r[2 * i + 1] = Points[i].Y; }
        return r;
    }

    /// <summary>From interleaved x0,y0,x1,y1,….</summary>
    public static FaceLandmarks FromInterleaved(ReadOnlySpan<float> xy)
    {
        if (xy.Length % 2 != 0) throw new ArgumentException("interleaved landmarks need an even number of values");
        var p = new Vector2[xy.Length / 2];
        for (int i = 0; i < p.Length; i++) p[i] = new Vector2(xy[2 * i], xy[2 * i + 1]);
        return new FaceLandmarks(p);
    }
}
