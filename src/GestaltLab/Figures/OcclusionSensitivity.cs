using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Figures;

/// <summary>
/// An occlusion-sensitivity map (Zeiler &amp; Fergus 2014): cell [r, c] is how much the class probability drops when a
/// square of <see cref="CellSize"/> pixels at (c·<see cref="Stride"/>, r·<see cref="Stride"/>) is covered. Positive =
/// the area supports the prediction; negative = covering it makes the class more likely.
/// </summary>
/// <param name="Drop">Probability drop per grid cell, row-major (<see cref="GridHeight"/> × <see cref="GridWidth"/>).</param>
/// <param name="GridWidth">Cells across.</param>
/// <param name="GridHeight">Cells down.</param>
/// <param name="CellSize">Side of the occluding square in pixels.</param>
/// <param name="Stride">Step between squares in pixels.</param>
/// <param name="ClassIndex">The class whose probability was tracked.</param>
/// <param name="ClassName">Its name (or index as text).</param>
/// <param name="BaseProbability">The class probability on the unoccluded face.</param>
public sealed record OcclusionMap(float[] Drop, int GridWidth, int GridHeight, int CellSize, int Stride, int ClassIndex, string ClassName, float BaseProbability)
{
    /// <summary>The drop at a grid cell.</summary>
    public float this[int row, int column] => Drop[row * GridWidth + column];

    /// <summary>The grid as rows (for heat maps).</summary>
    public double[][] Rows() =>
        Enumerable.Range(0, GridHeight).Select(r => Enumerable.Range(0, GridWidth).Select(c => (double)Drop[r * GridWidth + c]).ToArray()).ToArray();

    /// <summary>Largest absolute drop.</summary>
    public double MaxAbs() => Drop.Length == 0 ? 0 : Drop.Max(v => Math.Abs(v));
}

/// <summary>Computes occlusion-sensitivity maps for any model given as a prediction delegate.</summary>
public static class OcclusionSensitivity
{
    /// <summary>
    /// Slides a grey square (the mean grey of the face, so the patch adds no edges of its own colour) over
    /// <paramref name="face"/> and records the drop of class <paramref name="classIndex"/>'s probability.
    /// <paramref name="predict"/> maps an image to class probabilities (any model: ensemble, single region, ONNX).
    /// With no class given, the model's top class on the intact face is used.
    /// </summary>
    public static OcclusionMap Compute(RgbImage face, Func<RgbImage, float[]> predict, int? classIndex = null,
        int cellSize = 0, int stride = 0, IReadOnlyList<string>? classNames = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        if (cellSize <= 0) cellSize = Math.Max(4, Math.Min(face.Width, face.Height) / 8);
        if (stride <= 0) stride = Math.Max(1, cellSize / 2);
        if (cellSize > Math.Min(face.Width, face.Height))
            throw new GestaltLabException($"occlusion square of {cellSize} px does not fit a {face.Width}×{face.Height} face");
        var baseline = predict(face);
        int target = classIndex ?? Evaluation.Metrics.ArgMax(baseline);
        if ((uint)target >= (uint)baseline.Length)
            throw new GestaltLabException($"class {target} outside the model's {baseline.Length} outputs");
        int gw = (face.Width - cellSize) / stride + 1, gh = (face.Height - cellSize) / stride + 1;
        long sum = 0;
        foreach (var b in face.Pixels) sum += b;
        byte grey = (byte)(sum / face.Pixels.Length);
        var drop = new float[gw * gh];
        for (int r = 0; r < gh; r++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            for (int c = 0; c < gw; c++)
            {
                var px = (byte[])face.Pixels.Clone();
                int x0 = c * stride, y0 = r * stride;
                for (int y = y0; y < y0 + cellSize; y++)
                    Array.Fill(px, grey, (y * face.Width + x0) * 3, cellSize * 3);
                var p = predict(new RgbImage(face.Width, face.Height, px));
                if (p.Length != baseline.Length) throw new GestaltLabException($"model returned {p.Length} probabilities, then {baseline.Length}");
                drop[r * gw + c] = baseline[target] - p[target];
            }
            progress?.Report(new ProgressUpdate("occlusion", r + 1, gh));
        }
        string name = classNames is not null && target < classNames.Count ? classNames[target] : target.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new OcclusionMap(drop, gw, gh, cellSize, stride, target, name, baseline[target]);
    }
}
