namespace GestaltLab.Faces;

/// <summary>
/// Maps a detector's raw box (x, y, w, h) to the square box dlib's 68-point model was trained on (the box dlib's HOG
/// detector reports): centre shifted by (<paramref name="OffsetX"/>·w, <paramref name="OffsetY"/>·h), side scaled by
/// <paramref name="Scale"/>·w. The 68-point model only works well on boxes placed like dlib's, and warps on non-square ones.
/// </summary>
/// <param name="OffsetX">Horizontal shift of the box centre as a fraction of the raw width.</param>
/// <param name="OffsetY">Vertical shift of the box centre as a fraction of the raw width.</param>
/// <param name="Scale">Side of the calibrated square as a fraction of the raw width.</param>
public readonly record struct BoxCalibration(double OffsetX, double OffsetY, double Scale)
{
    /// <summary>No change (the raw box, made square on its width).</summary>
    public static BoxCalibration Identity => new(0, 0, 1);

    /// <summary>
    /// OpenCV <c>haarcascade_frontalface_default</c> → dlib box, fitted by least squares on faces where both boxes are
    /// known (real photos with dlib's HOG detector and synthetic faces; fit and residuals in docs/faces.md, reproduced by
    /// <c>gestaltlab bench calibrate-haar</c>).
    /// </summary>
    public static BoxCalibration HaarFrontalDefault => new(0.0005, 0.0538, 0.8245);

    /// <summary>The calibrated dlib box for a raw (x, y, w, h) box.</summary>
    public FaceBox Apply(double x, double y, double w, double h, float score = 1f)
    {
        double cx = x + w / 2.0 + OffsetX * w, cy = y + h / 2.0 + OffsetY * w;
        double side = Math.Max(1, Scale * w);
        int left = (int)Math.Round(cx - side / 2.0), top = (int)Math.Round(cy - side / 2.0);
        int s = (int)Math.Round(side);
        return new FaceBox(left, top, left + s - 1, top + s - 1, score);
    }

    /// <summary>Least-squares fit from pairs of raw (x, y, w, h) boxes and target dlib boxes.</summary>
    public static (BoxCalibration Calibration, double MeanIoU, int Pairs) Fit(IReadOnlyList<((double X, double Y, double W, double H) Raw, FaceBox Target)> pairs)
    {
        if (pairs.Count == 0) throw new ArgumentException("no box pairs to fit a calibration on");
        double ox = 0, oy = 0, sNum = 0, sDen = 0;
        foreach (var (raw, t) in pairs)
        {
            double tcx = (t.Left + t.Right + 1) / 2.0, tcy = (t.Top + t.Bottom + 1) / 2.0;
            ox += (tcx - (raw.X + raw.W / 2.0)) / raw.W;
            oy += (tcy - (raw.Y + raw.H / 2.0)) / raw.W;
            sNum += t.Width * raw.W;
            sDen += raw.W * raw.W;
        }
        var cal = new BoxCalibration(ox / pairs.Count, oy / pairs.Count, sNum / sDen);
        double iou = pairs.Average(p => cal.Apply(p.Raw.X, p.Raw.Y, p.Raw.W, p.Raw.H).IoU(p.Target));
        return (cal, iou, pairs.Count);
    }
}
