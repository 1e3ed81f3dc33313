using GestaltLab.Data;
using GestaltLab.Faces;

namespace GestaltLab.Regions;

/// <summary>One region cropped from a photo.</summary>
/// <param name="Name">Region name.</param>
/// <param name="Image">The crop, <c>Size × Size</c> RGB.</param>
/// <param name="ToCrop">Photo pixel coordinates → crop pixel coordinates.</param>
public sealed record RegionCrop(string Name, RgbImage Image, SimilarityTransform ToCrop)
{
    /// <summary>Crop side in pixels.</summary>
    public int Size => Image.Width;

    /// <summary>
    /// The crop as a network input: CHW floats in [0, 1]; 3 channels (RGB) or, with <paramref name="gray"/>, 1 channel
    /// (BT.601 luminance 0.299 R + 0.587 G + 0.114 B).
    /// </summary>
    public float[] ToTensor(bool gray = false) => Tensors.ToChw(Image, gray);
}

/// <summary>Conversions of images to network inputs.</summary>
public static class Tensors
{
    /// <summary>CHW floats in [0, 1]: RGB planes, or one luminance plane when <paramref name="gray"/>.</summary>
    public static float[] ToChw(RgbImage image, bool gray = false)
    {
        int n = image.Width * image.Height;
        var px = image.Pixels;
        const float inv = 1f / 255f;
        if (gray)
        {
            var g = new float[n];
            for (int i = 0; i < n; i++) g[i] = (0.299f * px[3 * i] + 0.587f * px[3 * i + 1] + 0.114f * px[3 * i + 2]) * inv;
            return g;
        }
        var t = new float[3 * n];
        for (int i = 0; i < n; i++)
        {
            t[i] = px[3 * i] * inv;
            t[n + i] = px[3 * i + 1] * inv;
            t[2 * n + i] = px[3 * i + 2] * inv;
        }
        return t;
    }
}
