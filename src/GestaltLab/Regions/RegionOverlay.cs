using GestaltLab.Data;
using GestaltLab.Faces;
using SkiaSharp;

namespace GestaltLab.Regions;

/// <summary>Draws the 68 landmarks and the region squares over an aligned face: for checking a photo by eye and for the docs' figure.</summary>
public static class RegionOverlay
{
    private static readonly SKColor[] Palette =
    [
        new(0xE6, 0x19, 0x4B), new(0x3C, 0xB4, 0x4B), new(0x43, 0x63, 0xD8), new(0xF5, 0x82, 0x31),
        new(0x91, 0x1E, 0xB4), new(0x42, 0xD4, 0xF4), new(0xF0, 0x32, 0xE6), new(0xBF, 0xEF, 0x45),
    ];

    /// <summary>
    /// The aligned face of <paramref name="result"/> scaled to <paramref name="size"/> pixels, with landmarks (dots), the
    /// region squares (one colour each) and their names. Null when the result has no face.
    /// </summary>
    public static RgbImage? Draw(FaceResult result, RegionCropper cropper, int size = 512, bool labels = true)
    {
        if (result.Aligned is null) return null;
        var aligned = result.Aligned;
        float k = (float)size / aligned.Size;
        using var bmp = aligned.Image.ToSKBitmap();
        using var surface = SKSurface.Create(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        using (var image = SKImage.FromBitmap(bmp))
            canvas.DrawImage(image, new SKRect(0, 0, size, size), new SKSamplingOptions(SKFilterMode.Linear));

        var unit = aligned.Landmarks.Points.Select(p => p / aligned.Size).ToArray();
        var squares = cropper.Squares(unit);
        using var font = new SKFont(SKTypeface.Default, size / 34f);
        for (int i = 0; i < squares.Count; i++)
        {
            var (name, cx, cy, side) = squares[i];
            var color = Palette[i % Palette.Length];
            using var stroke = new SKPaint { Color = color, Style = SKPaintStyle.Stroke, StrokeWidth = Math.Max(1.5f, size / 256f), IsAntialias = true };
            float inset = i * size / 400f; // keeps coincident edges of nested regions distinguishable
            var rect = new SKRect((float)((cx - side / 2) * size) + inset, (float)((cy - side / 2) * size) + inset,
                (float)((cx + side / 2) * size) - inset, (float)((cy + side / 2) * size) - inset);
            canvas.DrawRect(rect, stroke);
            if (labels)
            {
                using var fill = new SKPaint { Color = color, IsAntialias = true };
                using var shadow = new SKPaint { Color = SKColors.Black.WithAlpha(160), IsAntialias = true };
                var at = new SKPoint(rect.Left + 3, rect.Top + font.Size);
                canvas.DrawText(name, at.X + 1, at.Y + 1, font, shadow);
                canvas.DrawText(name, at.X, at.Y, font, fill);
            }
        }
        using var dot = new SKPaint { Color = SKColors.Yellow, IsAntialias = true };
        foreach (var p in aligned.Landmarks.Points) canvas.DrawCircle(p.X * k, p.Y * k, Math.Max(1.5f, size / 200f), dot);

        using var snapshot = surface.Snapshot();
        using var raster = SKBitmap.FromImage(snapshot);
        return RgbImage.FromSKBitmap(raster);
    }
}
