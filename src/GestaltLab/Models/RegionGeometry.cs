using System.Numerics;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>
/// Samples whose facial landmarks are known in each region crop's pixels: what the auxiliary geometry task of
/// <see cref="TrainingOptions.GeometryLoss"/> regresses.
/// </summary>
public interface IRegionGeometry
{
    /// <summary>Landmarks per face (68, iBUG layout).</summary>
    int PointCount { get; }
    /// <summary>The landmark that takes landmark <paramref name="point"/>'s place under a horizontal flip.</summary>
    int MirrorPoint(int point);
    /// <summary>
    /// Sample <paramref name="index"/>'s landmarks in the pixels of its <paramref name="region"/> crop, interleaved
    /// (x0, y0, x1, …); points outside the crop keep their (outside) coordinates. Null when the sample has none.
    /// </summary>
    float[]? CropLandmarks(int index, string region);
}

/// <summary>
/// Region crop landmarks computed from an aligned folder's <c>landmarks.csv</c> (the landmarks each face was aligned
/// with, in photo pixels) and its region set: the same similarity fit and region squares <c>gestaltlab align</c> used,
/// applied to the points instead of the pixels.
/// </summary>
internal sealed class AlignedCropLandmarks
{
    private readonly Dictionary<string, FaceLandmarks> _bySource;
    private readonly FaceAligner _aligner;
    private readonly RegionCropper _cropper;
    private readonly Dictionary<string, int> _regionIndex;

    public AlignedCropLandmarks(string alignedDirectory, RegionSet regions, int alignedSize)
    {
        string path = Path.Combine(alignedDirectory, "landmarks.csv");
        if (!File.Exists(path))
            throw new GestaltLabException($"{path}: no landmarks.csv in the aligned folder", "re-run `gestaltlab align`: it writes one");
        _bySource = FaceDatasetAligner.ReadLandmarks(path);
        _aligner = new FaceAligner(alignedSize);
        _cropper = new RegionCropper(regions);
        _regionIndex = regions.Names.Select((n, i) => (n, i)).ToDictionary(t => t.n, t => t.i, StringComparer.Ordinal);
    }

    /// <summary>Landmarks of the photo <paramref name="source"/> (as the aligned manifest's <c>source_image</c> names it) in <paramref name="region"/>'s crop pixels.</summary>
    public float[]? For(string source, string region)
    {
        if (!_bySource.TryGetValue(source, out var photo) || !_regionIndex.TryGetValue(region, out int r)) return null;
        var toAligned = _aligner.FitTransform(photo);
        // The transform the crop's pixels were cut with (RegionCropper.CropTransforms), applied to the points.
        var toCrop = _cropper.CropTransforms(toAligned, _aligner.Size, photo.Transform(toAligned.Apply))[r].ToCrop;
        var xy = new float[2 * photo.Count];
        for (int i = 0; i < photo.Count; i++)
        {
            var q = toCrop.Apply(photo.Points[i]);
            xy[2 * i] = q.X;
            xy[2 * i + 1] = q.Y;
        }
        return xy;
    }
}

/// <summary>
/// The auxiliary geometry task's targets for one training run: each crop's landmarks moved with the crop's augmentation
/// (flip, shift), taken relative to their centroid (so a shift, which moves every point alike, changes nothing: the
/// task is the face's shape, not where the crop happens to sit) and standardised per region and coordinate over the
/// training samples. A mask keeps only the points that lie inside the region's crop on average: a net cannot measure
/// what it does not see.
/// </summary>
internal sealed class GeometryTargets
{
    private readonly IRegionGeometry _geometry;
    private readonly Dictionary<string, (float[] Mean, float[] Scale, float[] Mask)> _stats = new(StringComparer.Ordinal);

    /// <summary>Values per sample (x and y of every landmark).</summary>
    public int Width { get; }

    // Standard deviations below this many pixels are floored: a point the alignment pins down would otherwise turn
    // float noise into a large target.
    private const float MinScalePixels = 0.25f;

    public GeometryTargets(IRegionSamples samples, IReadOnlyList<int> train, IEnumerable<string> regions)
    {
        _geometry = samples as IRegionGeometry
            ?? throw new GestaltLabException("geometry_loss needs landmarks for every crop: train from a `gestaltlab align` folder (it writes landmarks.csv)");
        Width = 2 * _geometry.PointCount;
        int size = samples.CropSize;
        foreach (string region in regions)
        {
            var all = train.Select(i => _geometry.CropLandmarks(i, region)).OfType<float[]>().ToList();
            if (all.Count < 2) throw new GestaltLabException($"geometry_loss: region {region} has landmarks for {all.Count} training samples; at least 2 are needed");
            var mask = new float[Width];
            for (int p = 0; p < _geometry.PointCount; p++)
            {
                double mx = all.Average(xy => xy[2 * p]), my = all.Average(xy => xy[2 * p + 1]);
                mask[2 * p] = mask[2 * p + 1] = mx >= 0 && mx <= size - 1 && my >= 0 && my <= size - 1 ? 1 : 0;
            }
            if (mask.All(m => m == 0)) throw new GestaltLabException($"geometry_loss: no landmark lies inside region {region}'s crop");
            var sum = new double[Width];
            var sq = new double[Width];
            var centred = new float[Width];
            foreach (var xy in all)
            {
                Centre(xy, mask, centred);
                for (int j = 0; j < Width; j++)
                {
                    sum[j] += centred[j];
                    sq[j] += (double)centred[j] * centred[j];
                }
            }
            var mean = new float[Width];
            var scale = new float[Width];
            for (int j = 0; j < Width; j++)
            {
                double m = sum[j] / all.Count;
                mean[j] = (float)m;
                scale[j] = (float)Math.Max(MinScalePixels, Math.Sqrt(Math.Max(0, sq[j] / all.Count - m * m)));
            }
            _stats[region] = (mean, scale, mask);
        }
    }

    // Coordinates minus the centroid of the masked points (x and y separately).
    private static void Centre(ReadOnlySpan<float> xy, ReadOnlySpan<float> mask, Span<float> output)
    {
        double cx = 0, cy = 0, n = 0;
        for (int j = 0; j < xy.Length; j += 2)
        {
            if (mask[j] == 0) continue;
            cx += xy[j];
            cy += xy[j + 1];
            n++;
        }
        cx /= n;
        cy /= n;
        for (int j = 0; j < xy.Length; j += 2)
        {
            output[j] = (float)(xy[j] - cx);
            output[j + 1] = (float)(xy[j + 1] - cy);
        }
    }

    /// <summary>
    /// Writes the standardised target and mask of sample <paramref name="index"/> shown as <paramref name="region"/>,
    /// flipped or not: a flipped sample is the mirror region's crop mirrored, so its landmark j lands at x' = s − 1 − x
    /// as the mirror landmark of j (what <see cref="RegionTrainer"/>'s input writer does to the pixels). Shifts need no
    /// handling: the targets are relative to the centroid. A sample without landmarks gets a zero mask.
    /// </summary>
    public void Write(IRegionSamples samples, int index, string region, bool flip, Span<float> target, Span<float> mask)
    {
        var xy = _geometry.CropLandmarks(index, flip ? samples.MirrorOf(region) : region);
        var (mean, scale, regionMask) = _stats[region];
        if (xy is null)
        {
            target.Clear();
            mask.Clear();
            return;
        }
        int s = samples.CropSize;
        var shown = new float[Width];
        for (int p = 0; p < _geometry.PointCount; p++)
        {
            int q = flip ? _geometry.MirrorPoint(p) : p;
            shown[2 * q] = flip ? s - 1 - xy[2 * p] : xy[2 * p];
            shown[2 * q + 1] = xy[2 * p + 1];
        }
        Centre(shown, regionMask, target);
        for (int j = 0; j < Width; j++) target[j] = (target[j] - mean[j]) / scale[j];
        regionMask.CopyTo(mask);
    }

    /// <summary>Masked mean squared error between predictions and targets (N × Width each).</summary>
    public static Tensor Loss(Tensor predicted, Tensor target, Tensor mask) =>
        MaskedSquaredErrors(predicted, target, mask).sum().div(mask.sum().clamp_min(HeldScalars.One));

    /// <summary>
    /// The geometry loss of a mixup batch: like the class loss, the blend of the two samples' losses, each under its own
    /// mask (λ for the sample's own targets, 1 − λ for its partner's). Blending the targets instead would average in the
    /// points a partner lacks (masked zeros) and, in pretraining, where each sample shows its own region, positions from
    /// two different crops.
    /// </summary>
    public static Tensor MixedLoss(Tensor predicted, Tensor target, Tensor mask, Tensor partnerIndex, double lambda)
    {
        using var own = lambda.ToScalar();
        using var other = (1 - lambda).ToScalar();
        return Loss(predicted, target, mask).mul_(own)
            .add_(Loss(predicted, target.index_select(0, partnerIndex), mask.index_select(0, partnerIndex)).mul_(other), HeldScalars.One);
    }

    /// <summary>Per sample: the masked squared errors' sum and the number of values counted (N × 2), to pool over many batches.</summary>
    public static Tensor PerSample(Tensor predicted, Tensor target, Tensor mask) =>
        torch.stack([MaskedSquaredErrors(predicted, target, mask).sum(1), mask.sum(1)], 1);

    private static Tensor MaskedSquaredErrors(Tensor predicted, Tensor target, Tensor mask) => predicted.sub(target).pow_(HeldScalars.Two).mul_(mask);
}
