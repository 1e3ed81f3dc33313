using System.Runtime.InteropServices;
using GestaltLab.Runtime;
using Microsoft.ML.Data;
using OpenCvSharp;
using SkiaSharp;

namespace GestaltLab.Data;

/// <summary>
/// The in-memory image every face step works on: 8-bit RGB, 3 bytes per pixel, rows top to bottom with no padding
/// (stride = 3 × <see cref="Width"/>), orientation already applied. Gray photos are stored with R = G = B, so dlib's
/// intensity <c>(R+G+B)/3</c> gives back the gray value exactly. Immutable by convention: steps that change pixels
/// return a new image, so one image can be shared across threads. Converts to and from SkiaSharp's <see cref="SKBitmap"/>,
/// OpenCV's <see cref="Mat"/> (BGR) and ML.NET's <see cref="MLImage"/>.
/// </summary>
public sealed class RgbImage
{
    /// <summary>Wraps (does not copy) RGB24 pixels.</summary>
    /// <exception cref="ArgumentException">The buffer is not 3 × width × height bytes.</exception>
    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentException($"image size must be positive, got {width}×{height}");
        if (pixels.Length != checked(width * height * 3))
            throw new ArgumentException($"RGB buffer of {pixels.Length} bytes does not match {width}×{height}×3");
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>A black image.</summary>
    public RgbImage(int width, int height) : this(width, height, new byte[width > 0 && height > 0 ? checked(width * height * 3) : 0]) { }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }
    /// <summary>Height in pixels.</summary>
    public int Height { get; }
    /// <summary>RGB24 pixels, row-major, stride 3 × <see cref="Width"/>.</summary>
    public byte[] Pixels { get; }

    /// <summary>dlib's pixel intensity: <c>(R+G+B)/3</c> with integer truncation.</summary>
    public int Intensity(int x, int y)
    {
        int i = (y * Width + x) * 3;
        return (Pixels[i] + Pixels[i + 1] + Pixels[i + 2]) / 3;
    }

    /// <summary>
    /// Copies a SkiaSharp bitmap (any colour type). Transparent pixels are composited onto white, exactly as
    /// <see cref="ImageLoader"/> does, so a PNG with an alpha channel gives the same pixels through ML.NET's
    /// <c>LoadImages</c> as through the loader.
    /// </summary>
    public static RgbImage FromSKBitmap(SKBitmap bitmap)
    {
        // Premultiplied RGBA: what the loader decodes to and what ML.NET's images hold, so the composite below sees the
        // same bytes on both paths (an unpremultiplied or opaque source converts without loss).
        SKBitmap? converted = null;
        var source = bitmap;
        if (bitmap.ColorType != SKColorType.Rgba8888 || bitmap.AlphaType == SKAlphaType.Unpremul)
        {
            converted = new SKBitmap(new SKImageInfo(bitmap.Width, bitmap.Height, SKColorType.Rgba8888,
                bitmap.AlphaType == SKAlphaType.Opaque ? SKAlphaType.Opaque : SKAlphaType.Premul));
            using var pixmap = bitmap.PeekPixels();
            if (pixmap is null || !pixmap.ReadPixels(converted.Info, converted.GetPixels(), converted.RowBytes, 0, 0))
            {
                converted.Dispose();
                throw new GestaltLabException($"a {bitmap.ColorType} image cannot be converted to RGBA", "save the photo as an 8-bit JPEG or PNG");
            }
            source = converted;
        }
        try
        {
            int w = source.Width, h = source.Height, rowBytes = source.RowBytes;
            ReadOnlySpan<byte> rgba = source.GetPixelSpan();
            var rgb = new byte[checked(w * h * 3)];
            for (int y = 0; y < h; y++)
                CompositeOnWhite(rgba.Slice(y * rowBytes, w * 4), rgb.AsSpan(y * w * 3, w * 3));
            return new RgbImage(w, h, rgb);
        }
        finally
        {
            converted?.Dispose();
        }
    }

    /// <summary>
    /// Premultiplied RGBA → RGB over a white background: c + (255 − a) per channel (opaque pixels unchanged). Photos
    /// with transparency are mostly portraits whose background was removed, and a viewer shows them on white.
    /// </summary>
    internal static void CompositeOnWhite(ReadOnlySpan<byte> premultipliedRgba, Span<byte> rgb)
    {
        for (int i = 0, o = 0; o < rgb.Length; i += 4, o += 3)
        {
            int white = 255 - premultipliedRgba[i + 3];
            rgb[o] = (byte)Math.Min(255, premultipliedRgba[i] + white);
            rgb[o + 1] = (byte)Math.Min(255, premultipliedRgba[i + 1] + white);
            rgb[o + 2] = (byte)Math.Min(255, premultipliedRgba[i + 2] + white);
        }
    }

    /// <summary>A new opaque RGBA SkiaSharp bitmap with these pixels (caller disposes).</summary>
    public SKBitmap ToSKBitmap()
    {
        var bmp = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Span<byte> dst = bmp.GetPixelSpan();
        int rowBytes = bmp.RowBytes;
        for (int y = 0; y < Height; y++)
        {
            int s = y * Width * 3, d = y * rowBytes;
            for (int x = 0; x < Width; x++, s += 3, d += 4)
            {
                dst[d] = Pixels[s];
                dst[d + 1] = Pixels[s + 1];
                dst[d + 2] = Pixels[s + 2];
                dst[d + 3] = 255;
            }
        }
        return bmp;
    }

    /// <summary>Copies an OpenCV image (8-bit, 1, 3 (BGR) or 4 (BGRA) channels).</summary>
    public static RgbImage FromMat(Mat mat)
    {
        if (mat.Depth() != MatType.CV_8U) throw new GestaltLabException($"OpenCV image has depth {mat.Depth()}, expected 8-bit");
        using var bgr = new Mat();
        switch (mat.Channels())
        {
            case 1: Cv2.CvtColor(mat, bgr, ColorConversionCodes.GRAY2RGB); break;
            case 3: Cv2.CvtColor(mat, bgr, ColorConversionCodes.BGR2RGB); break;
            case 4: Cv2.CvtColor(mat, bgr, ColorConversionCodes.BGRA2RGB); break;
            default: throw new GestaltLabException($"OpenCV image has {mat.Channels()} channels, expected 1, 3 or 4");
        }
        var rgb = new byte[checked(bgr.Width * bgr.Height * 3)];
        using var cont = bgr.IsContinuous() ? bgr : bgr.Clone();
        Marshal.Copy(cont.Data, rgb, 0, rgb.Length);
        return new RgbImage(bgr.Width, bgr.Height, rgb);
    }

    /// <summary>A new OpenCV BGR image (caller disposes).</summary>
    public Mat ToMat()
    {
        using var rgb = Mat.FromPixelData(Height, Width, MatType.CV_8UC3, Pixels);
        var bgr = new Mat();
        Cv2.CvtColor(rgb, bgr, ColorConversionCodes.RGB2BGR);
        return bgr;
    }

    /// <summary>A new OpenCV 8-bit gray image (BT.601 luminance, as OpenCV's detectors expect; caller disposes).</summary>
    public Mat ToGrayMat()
    {
        using var rgb = Mat.FromPixelData(Height, Width, MatType.CV_8UC3, Pixels);
        var gray = new Mat();
        Cv2.CvtColor(rgb, gray, ColorConversionCodes.RGB2GRAY);
        return gray;
    }

    private static readonly System.Reflection.FieldInfo? MLImageBitmap =
        typeof(MLImage).GetField("_image", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);

    /// <summary>Copies an ML.NET image (transparent pixels composited onto white, as <see cref="ImageLoader"/> does).</summary>
    /// <remarks>
    /// ML.NET 5.0.1's <c>MLImage.Pixels</c> was compiled against SkiaSharp 2.88 and throws MissingMethodException under
    /// the SkiaSharp 3 this toolkit uses (<c>SKBitmap.GetPixelSpan</c> changed its return type), so the image's bitmap is
    /// read directly; <c>Pixels</c> is the fallback for a future ML.NET whose field layout differs.
    /// </remarks>
    public static RgbImage FromMLImage(MLImage image)
    {
        if (MLImageBitmap?.GetValue(image) is SKBitmap bitmap) return FromSKBitmap(bitmap);
        ReadOnlySpan<byte> px = image.Pixels;
        int w = image.Width, h = image.Height;
        var rgba = new byte[checked(w * h * 4)];
        px[..rgba.Length].CopyTo(rgba);
        if (image.PixelFormat == MLPixelFormat.Bgra32)
            for (int i = 0; i < rgba.Length; i += 4) (rgba[i], rgba[i + 2]) = (rgba[i + 2], rgba[i]);
        var rgb = new byte[checked(w * h * 3)];
        CompositeOnWhite(rgba, rgb);
        return new RgbImage(w, h, rgb);
    }

    /// <summary>A new ML.NET image (RGBA, opaque; caller disposes).</summary>
    public MLImage ToMLImage()
    {
        var rgba = new byte[checked(Width * Height * 4)];
        for (int i = 0, s = 0; i < Width * Height; i++, s += 3)
        {
            rgba[4 * i] = Pixels[s];
            rgba[4 * i + 1] = Pixels[s + 1];
            rgba[4 * i + 2] = Pixels[s + 2];
            rgba[4 * i + 3] = 255;
        }
        return MLImage.CreateFromPixels(Width, Height, MLPixelFormat.Rgba32, rgba);
    }

    /// <summary>PNG bytes of this image (lossless; deterministic for the same pixels).</summary>
    /// <remarks>One fixed filter and a light zlib level: SkiaSharp's default (every filter tried per row, zlib 6) made PNG
    /// encoding the slowest step of aligning a data set, for files only slightly smaller.</remarks>
    public byte[] EncodePng()
    {
        using var bmp = ToSKBitmap();
        using var pixmap = bmp.PeekPixels() ?? throw new InvalidOperationException("PNG encoding: no pixels");
        using var data = pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.Sub, 3)) ?? throw new InvalidOperationException("PNG encoding failed");
        return data.ToArray();
    }

    /// <summary>Writes a PNG atomically.</summary>
    public void SavePng(string path) => AtomicFile.WriteAllBytes(path, EncodePng());

    /// <summary>Writes a binary PPM (P6): the exchange format of the dlib C++ reference program.</summary>
    public void SavePpm(string path) => AtomicFile.Write(path, s =>
    {
        var header = System.Text.Encoding.ASCII.GetBytes($"P6\n{Width} {Height}\n255\n");
        s.Write(header);
        s.Write(Pixels);
    });
}
