using System.Numerics;
using GestaltLab.Data;
using GestaltLab.Faces;

namespace GestaltLab.Regions;

/// <summary>
/// Cuts the regions of a <see cref="RegionSet"/> from a photo, given its alignment. Each crop is one bilinear warp
/// straight from the photo (not from the aligned image), so pixels are interpolated once. Thread-safe.
/// </summary>
public sealed class RegionCropper
{
    private readonly (FacialRegion Region, double Side, double OffX, double OffY)[] _geometry;

    /// <summary>A cropper for <paramref name="regions"/> (default set) against <paramref name="template"/> (default template).</summary>
    public RegionCropper(RegionSet? regions = null, FaceTemplate? template = null)
    {
        Regions = regions ?? RegionSet.Default;
        Template = template ?? FaceTemplate.Default;
        _geometry = Regions.Regions.Select(r =>
        {
            // Fixed side from the template's padded box; offset from the landmarks' box centre to the padded box centre.
            var (minX, minY, maxX, maxY) = Box(r.Landmarks.Select(i => Template.Points[i]));
            double l = minX - r.PadLeft, t = minY - r.PadTop, rr = maxX + r.PadRight, b = maxY + r.PadBottom;
            double side = Math.Max(rr - l, b - t);
            double offX = (l + rr) / 2 - (minX + maxX) / 2, offY = (t + b) / 2 - (minY + maxY) / 2;
            return (r, side, offX, offY);
        }).ToArray();
    }

    /// <summary>The regions cut.</summary>
    public RegionSet Regions { get; }
    /// <summary>The template that fixes region sizes.</summary>
    public FaceTemplate Template { get; }

    private static (double MinX, double MinY, double MaxX, double MaxY) Box(IEnumerable<Vector2> pts)
    {
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        foreach (var p in pts)
        {
            minX = Math.Min(minX, p.X); minY = Math.Min(minY, p.Y);
            maxX = Math.Max(maxX, p.X); maxY = Math.Max(maxY, p.Y);
        }
        return (minX, minY, maxX, maxY);
    }

    /// <summary>
    /// The square of each region in aligned-face units ((0,0)–(1,1) = the aligned face): centre and side. The centre
    /// follows <paramref name="alignedUnitLandmarks"/> (the face's landmarks in template units).
    /// </summary>
    public IReadOnlyList<(string Name, double CenterX, double CenterY, double Side)> Squares(IReadOnlyList<Vector2> alignedUnitLandmarks) =>
        _geometry.Select(g =>
        {
            var (minX, minY, maxX, maxY) = Box(g.Region.Landmarks.Select(i => alignedUnitLandmarks[i]));
            return (g.Region.Name, (minX + maxX) / 2 + g.OffX, (minY + maxY) / 2 + g.OffY, g.Side);
        }).ToList();

    /// <summary>Crops every region from <paramref name="photo"/> for a face whose photo → aligned transform is <paramref name="toAligned"/>
    /// into an aligned image of <paramref name="alignedSize"/> pixels, with its aligned landmarks.</summary>
    public IReadOnlyList<RegionCrop> Crop(RgbImage photo, SimilarityTransform toAligned, int alignedSize, FaceLandmarks alignedLandmarks) =>
        CropTransforms(toAligned, alignedSize, alignedLandmarks)
            .Select((t, k) => new RegionCrop(t.Name, FaceAligner.Warp(photo, t.ToCrop, _geometry[k].Region.Size, _geometry[k].Region.Size), t.ToCrop))
            .ToList();

    /// <summary>
    /// Photo → crop pixel transform of every region (what <see cref="Crop(RgbImage, SimilarityTransform, int, FaceLandmarks)"/>
    /// warps with), for a face whose photo → aligned transform is <paramref name="toAligned"/>: also maps the photo's
    /// landmarks into each crop (the geometry task's targets), so pixels and points can never be cut differently.
    /// </summary>
    public IReadOnlyList<(string Name, SimilarityTransform ToCrop)> CropTransforms(SimilarityTransform toAligned, int alignedSize, FaceLandmarks alignedLandmarks)
    {
        var unit = alignedLandmarks.Points.Select(p => p / alignedSize).ToArray();
        var squares = Squares(unit);
        var transforms = new List<(string, SimilarityTransform)>(squares.Count);
        for (int k = 0; k < squares.Count; k++)
        {
            var (name, cx, cy, side) = squares[k];
            int size = _geometry[k].Region.Size;
            // aligned px → unit (÷alignedSize) → crop px: (u − (c − side/2)) · size/side
            double s = size / (side * alignedSize);
            transforms.Add((name, toAligned.Then(SimilarityTransform.ScaleTranslate(s, -(cx - side / 2) * size / side, -(cy - side / 2) * size / side))));
        }
        return transforms;
    }

    /// <summary>Crops every region for an aligned face.</summary>
    public IReadOnlyList<RegionCrop> Crop(RgbImage photo, AlignedFace aligned) => Crop(photo, aligned.ToAligned, aligned.Size, aligned.Landmarks);
}
