using System.Numerics;
using SkiaSharp;

namespace GestaltLab.Synthetic;

/// <summary>A rendered photo: encoded bytes, its file extension, and the ground-truth 68 landmarks in image pixels.</summary>
/// <param name="Encoded">PNG or JPEG bytes.</param>
/// <param name="Extension"><c>.png</c> or <c>.jpg</c>.</param>
/// <param name="Landmarks">The 68 iBUG-order landmarks in pixel coordinates of the image.</param>
public readonly record struct RenderedPhoto(byte[] Encoded, string Extension, Vector2[] Landmarks);

/// <summary>
/// Draws synthetic faces with SkiaSharp: shaded skin, eye sockets, eyes with sclera, iris, pupil, lids and lashes,
/// brows, a shaded nose with nostrils, philtrum, lips, jaw, ears, hair, neck, clothes and background, then applies the
/// photo's pose, lighting, blur, noise and compression. The drawing is a pure function of its inputs (no shared state),
/// so renders are byte-identical whatever thread runs them. One renderer per thread is cheapest (it reuses its bitmap).
/// </summary>
public sealed class FaceRenderer : IDisposable
{
    private readonly SKBitmap _bitmap;
    private readonly SKCanvas _canvas;

    /// <summary>Creates a renderer for square images of <paramref name="size"/> pixels.</summary>
    public FaceRenderer(int size = 256)
    {
        if (size < 64 || size > 2048) throw new ArgumentOutOfRangeException(nameof(size), "image size must be 64–2048 px");
        Size = size;
        _bitmap = new SKBitmap(new SKImageInfo(size, size, SKColorType.Rgba8888, SKAlphaType.Premul));
        _canvas = new SKCanvas(_bitmap);
    }

    /// <summary>Image width and height in pixels.</summary>
    public int Size { get; }

    /// <summary>
    /// Renders one photo and encodes it (PNG when <see cref="PhotoNuisance.JpegQuality"/> is 0, else JPEG). <paramref name="z"/>
    /// is the subject's trait vector; <paramref name="covariateShift"/> (sex, age) is added for drawing only.
    /// <paramref name="noiseSeed"/> seeds the pixel noise.
    /// </summary>
    public RenderedPhoto Render(ReadOnlySpan<double> z, ReadOnlySpan<double> covariateShift, SubjectAppearance appearance, PhotoNuisance nuisance, ulong noiseSeed)
    {
        var landmarks = Draw(z, covariateShift, appearance, nuisance);
        if (nuisance.Noise > 0) AddNoise(nuisance.Noise, noiseSeed);
        using var image = SKImage.FromBitmap(_bitmap);
        byte[] bytes;
        string ext;
        if (nuisance.JpegQuality > 0)
        {
            using var data = image.Encode(SKEncodedImageFormat.Jpeg, nuisance.JpegQuality) ?? throw new InvalidOperationException("JPEG encoding failed");
            bytes = data.ToArray(); ext = ".jpg";
        }
        else
        {
            using var pixmap = _bitmap.PeekPixels()!;
            using var data = pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.Sub, 2)) ?? throw new InvalidOperationException("PNG encoding failed");
            bytes = data.ToArray(); ext = ".png";
        }
        return new RenderedPhoto(bytes, ext, landmarks);
    }

    /// <summary>Renders into a copy of the pixels (RGBA, for in-memory use such as notebooks and tests), returning the landmarks.</summary>
    public (SKBitmap Bitmap, Vector2[] Landmarks) RenderBitmap(ReadOnlySpan<double> z, ReadOnlySpan<double> covariateShift, SubjectAppearance appearance, PhotoNuisance nuisance, ulong noiseSeed)
    {
        var landmarks = Draw(z, covariateShift, appearance, nuisance);
        if (nuisance.Noise > 0) AddNoise(nuisance.Noise, noiseSeed);
        return (_bitmap.Copy(), landmarks);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _canvas.Dispose();
        _bitmap.Dispose();
    }

    // ------------------------------------------------------------------ drawing

    private static SKColor Rgb((float R, float G, float B) c, double k = 1, byte a = 255) => new(
        (byte)Math.Clamp(c.R * k * 255, 0, 255), (byte)Math.Clamp(c.G * k * 255, 0, 255), (byte)Math.Clamp(c.B * k * 255, 0, 255), a);

    private Vector2[] Draw(ReadOnlySpan<double> z, ReadOnlySpan<double> shift, SubjectAppearance app, PhotoNuisance n)
    {
        var zz = new double[z.Length];
        for (int i = 0; i < zz.Length; i++) zz[i] = z[i] + (shift.Length > 0 ? shift[i] : 0);
        var g = FaceGeometry.Build(zz, app, n.Smile, n.BrowRaise);
        float yaw = (float)(n.Yaw * Math.PI / 180);
        float cy = MathF.Cos(yaw), sy = MathF.Sin(yaw);
        Vector2 P(Vector3 v) => new(0.5f + (v.X - 0.5f) * cy + v.Z * sy, v.Y);
        var lm = g.Landmarks.Select(P).ToArray();

        var c = _canvas;
        c.ResetMatrix();
        float S = Size;
        using (var bg = new SKPaint())
        {
            bg.Shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(0, S),
                [Rgb(n.BackgroundTop), Rgb(n.BackgroundBottom)], SKShaderTileMode.Clamp);
            c.DrawRect(0, 0, S, S, bg);
        }
        // Photo blur: everything after the background is drawn into a layer that is blurred once when it is restored.
        bool blurLayer = n.Blur > 0.05;
        using var blurFilter = blurLayer ? SKImageFilter.CreateBlur((float)n.Blur, (float)n.Blur) : null;
        using var layerPaint = new SKPaint { ImageFilter = blurFilter };
        if (blurLayer) c.SaveLayer(layerPaint);
        float scale = (float)(n.Scale * S);
        var centre = new SKPoint((float)(S / 2 + n.OffsetX * S), (float)(S * 0.54 + n.OffsetY * S));
        var m = SKMatrix.CreateTranslation(centre.X, centre.Y);
        m = m.PreConcat(SKMatrix.CreateRotationDegrees((float)n.Roll));
        m = m.PreConcat(SKMatrix.CreateScale(scale, scale));
        m = m.PreConcat(SKMatrix.CreateTranslation(-0.5f, -0.62f));
        c.SetMatrix(m);

        double ex = n.Exposure;
        var skin = app.Skin;
        var hair = app.Hair;
        using var paint = new SKPaint { IsAntialias = true };
        using var blurS = SKMaskFilter.CreateBlur(SKBlurStyle.Normal, 0.012f);
        using var blurL = SKMaskFilter.CreateBlur(SKBlurStyle.Normal, 0.03f);

        int style = n.HairStyle;
        var skull = g.Skull.Select(P).ToArray();
        float faceW = lm[16].X - lm[0].X;

        // Long hair behind the head and shoulders.
        if (style == 2)
        {
            paint.Color = Rgb(hair, ex * 0.85);
            using var back = new SKPath();
            back.MoveTo(skull[1].X - 0.08f, skull[1].Y);
            back.CubicTo(skull[2].X - 0.1f, skull[3].Y - 0.05f, skull[4].X + 0.1f, skull[3].Y - 0.05f, skull[5].X + 0.08f, skull[5].Y);
            back.LineTo(lm[16].X + 0.12f, lm[8].Y + 0.15f);
            back.LineTo(lm[0].X - 0.12f, lm[8].Y + 0.15f);
            back.Close();
            c.DrawPath(back, paint);
        }

        // Clothes and neck.
        paint.Color = Rgb(n.Clothes, ex);
        using (var clothes = new SKPath())
        {
            clothes.MoveTo(-0.6f, 1.9f);
            clothes.CubicTo(-0.5f, 1.2f, 0.1f, 1.15f, 0.5f, 1.13f);
            clothes.CubicTo(0.9f, 1.15f, 1.5f, 1.2f, 1.6f, 1.9f);
            clothes.Close();
            c.DrawPath(clothes, paint);
        }
        paint.Color = SKColors.White;
        paint.Shader = SKShader.CreateLinearGradient(new SKPoint(0, lm[8].Y - 0.05f), new SKPoint(0, lm[8].Y + 0.12f),
            [Rgb(skin, ex * 0.5), Rgb(skin, ex * 0.82)], SKShaderTileMode.Clamp);
        using (var neck = new SKPath())
        {
            float nl = lm[5].X + 0.05f, nr = lm[11].X - 0.05f;
            neck.MoveTo(nl, lm[5].Y);
            neck.LineTo(nr, lm[11].Y);
            neck.CubicTo(nr, lm[8].Y + 0.1f, nr + 0.02f, lm[8].Y + 0.12f, nr + 0.1f, 1.2f);
            neck.LineTo(nl - 0.1f, 1.2f);
            neck.CubicTo(nl - 0.02f, lm[8].Y + 0.12f, nl, lm[8].Y + 0.1f, nl, lm[5].Y);
            neck.Close();
            c.DrawPath(neck, paint);
        }
        paint.Shader = null;

        // Ears.
        for (int e = 0; e < 2; e++)
        {
            var (ec, half) = g.Ears[e];
            var pc = P(ec);
            float w = half.X * (e == 0 ? Math.Clamp(cy + sy, 0.3f, 1.2f) : Math.Clamp(cy - sy, 0.3f, 1.2f));
            paint.Color = Rgb(skin, ex * 0.78); // a little shaded, at the side of the head
            c.DrawOval(pc.X, pc.Y, w, half.Y, paint);
            paint.Color = Rgb(skin, ex * 0.62, 200);
            paint.MaskFilter = blurS;
            c.DrawOval(pc.X + (e == 0 ? w * 0.15f : -w * 0.15f), pc.Y + half.Y * 0.05f, w * 0.45f, half.Y * 0.6f, paint);
            paint.MaskFilter = null;
        }

        // Head: jaw contour and skull.
        using var head = new SKPath();
        head.MoveTo(lm[0].X, lm[0].Y);
        AddSmooth(head, lm.AsSpan(0, 17), false);
        head.CubicTo(skull[5].X + 0.01f, skull[5].Y + 0.1f, skull[5].X, skull[5].Y, skull[5].X, skull[5].Y);
        Dome(head, skull[5], skull[3], skull[1], 0f);
        head.CubicTo(skull[1].X, skull[1].Y + 0.1f, lm[0].X - 0.01f, lm[0].Y - 0.1f, lm[0].X, lm[0].Y);
        head.Close();
        var faceC = new SKPoint(0.5f + 0.12f * sy, 0.5f);
        paint.Color = SKColors.White;
        // Skin shading: lightest at the face centre, darkening towards the outline, where cheeks, temples and jaw turn away
        // from the camera. The falloff is an ellipse through the temples (p0, p16) and the chin (p8), so the shaded rim
        // follows the face's own contour. This face-against-surround contrast (a bright face, a darker edge band, then the
        // surround) is what the Haar cascade's side features look for; with the old round, shallow gradient, light skin
        // under light hair on a light background lacked it and was missed. Shaded skin is a little warmer than a plain darkening.
        float ecx = (lm[0].X + lm[16].X) / 2, ecy = (lm[0].Y + lm[16].Y) / 2, erx = faceW / 2, ery = Math.Max(lm[8].Y - ecy, 0.1f);
        var rimShade = Rgb((skin.R * 0.42f, skin.G * 0.36f, skin.B * 0.32f), ex);
        var ellipse = SKMatrix.CreateTranslation(ecx, ecy).PreConcat(SKMatrix.CreateScale(1, ery / erx));
        paint.Shader = SKShader.CreateTwoPointConicalGradient(new SKPoint(faceC.X - ecx, (faceC.Y - ecy) * erx / ery), 0, new SKPoint(0, 0), erx,
            [Rgb(skin, ex * 1.07), Rgb(skin, ex * 0.98), Rgb(skin, ex * 0.95), rimShade], [0f, 0.55f, 0.72f, 1f], SKShaderTileMode.Clamp, ellipse);
        c.DrawPath(head, paint);
        paint.Shader = null;

        c.Save();
        c.ClipPath(head, SKClipOperation.Intersect, true);
        // Directional light: lighter towards the light, darker away from it.
        float la = (float)(n.LightAngle * Math.PI / 180), ls = (float)n.LightStrength;
        var lp0 = new SKPoint(0.5f + 0.6f * MathF.Cos(la), 0.55f - 0.6f * MathF.Sin(la));
        var lp1 = new SKPoint(0.5f - 0.6f * MathF.Cos(la), 0.55f + 0.6f * MathF.Sin(la));
        paint.Color = SKColors.White;
        paint.Shader = SKShader.CreateLinearGradient(lp0, lp1,
            [new SKColor(255, 255, 255, (byte)(90 * ls)), new SKColor(255, 255, 255, 0), new SKColor(0, 0, 0, 0), new SKColor(0, 0, 0, (byte)(200 * ls))],
            [0f, 0.35f, 0.55f, 1f], SKShaderTileMode.Clamp);
        c.DrawRect(-1, -1, 3, 3, paint);
        paint.Shader = null;

        // Cheeks.
        for (int e = 0; e < 2; e++)
        {
            var cc = Vector2.Lerp(lm[e == 0 ? 3 : 13], lm[e == 0 ? 31 : 35], 0.45f);
            paint.Color = SKColors.White;
            paint.Shader = SKShader.CreateRadialGradient(new SKPoint(cc.X, cc.Y - 0.03f), 0.13f * g.CheekFullness,
                [new SKColor(255, 150, 140, (byte)(40 * g.CheekFullness)), new SKColor(255, 150, 140, 0)], SKShaderTileMode.Clamp);
            c.DrawCircle(cc.X, cc.Y - 0.03f, 0.15f * g.CheekFullness, paint);
            paint.Shader = null;
        }

        // Highlights on forehead, cheekbones and nose: what gives a face its relief (stronger on darker skin, as on photos).
        float lum = 0.3f * skin.R + 0.59f * skin.G + 0.11f * skin.B;
        byte hl = (byte)Math.Clamp(35 + 110 * (1 - lum), 0, 140);
        foreach (var (hc, hr) in new[] { (new Vector2(0.5f + 0.1f * sy, (lm[19].Y + lm[24].Y) / 2 - 0.1f), 0.16f),
                     (Vector2.Lerp(lm[2], lm[30], 0.5f) + new Vector2(0, -0.03f), 0.08f), (Vector2.Lerp(lm[14], lm[30], 0.5f) + new Vector2(0, -0.03f), 0.08f) })
        {
            paint.Color = SKColors.White;
            paint.Shader = SKShader.CreateRadialGradient(new SKPoint(hc.X, hc.Y), hr, [new SKColor(255, 250, 240, hl), new SKColor(255, 250, 240, 0)], SKShaderTileMode.Clamp);
            c.DrawCircle(hc.X, hc.Y, hr, paint);
            paint.Shader = null;
        }

        // Eye sockets: the dark band Haar's eye features look for.
        for (int e = 0; e < 2; e++)
        {
            var ec = e == 0 ? Mid(lm, 36, 41) : Mid(lm, 42, 47);
            var br = e == 0 ? lm[19] : lm[24];
            float w = (e == 0 ? lm[39].X - lm[36].X : lm[45].X - lm[42].X) * 0.85f;
            paint.Color = Rgb(skin, ex * 0.4, 140);
            paint.MaskFilter = blurL;
            c.DrawOval(ec.X, (ec.Y + br.Y) / 2 + 0.012f, w, (ec.Y - br.Y) * 0.7f, paint);
            paint.MaskFilter = null;
        }

        // Nose: bridge sides in shade, dorsum and tip highlighted, soft shadow under the base.
        float bw = g.BridgeHalfWidth, bh = g.BridgeHeight;
        paint.MaskFilter = blurS;
        paint.Style = SKPaintStyle.Stroke;
        paint.StrokeWidth = 0.022f;
        paint.Color = Rgb(skin, ex * 0.55, (byte)Math.Clamp(70 + 60 * bh, 20, 230));
        for (int sgn = -1; sgn <= 1; sgn += 2)
        {
            using var side = new SKPath();
            side.MoveTo(lm[27].X + sgn * (bw * 0.9f), lm[27].Y + 0.01f);
            side.QuadTo(lm[29].X + sgn * bw * 1.05f, lm[29].Y, lm[sgn < 0 ? 31 : 35].X + sgn * 0.01f, lm[sgn < 0 ? 31 : 35].Y - 0.02f);
            c.DrawPath(side, paint);
        }
        paint.Style = SKPaintStyle.Fill;
        paint.Color = new SKColor(255, 255, 255, (byte)Math.Clamp(35 + 30 * bh + hl * 0.5f, 10, 160));
        c.DrawOval(lm[28].X, (lm[28].Y + lm[29].Y) / 2, bw * 0.35f, (lm[29].Y - lm[27].Y) * 0.5f, paint);
        // Alae and tip.
        paint.Color = Rgb(skin, ex * 0.7, 170);
        c.DrawOval(lm[31].X + 0.012f, lm[31].Y + 0.002f, 0.03f, 0.028f, paint);
        c.DrawOval(lm[35].X - 0.012f, lm[35].Y + 0.002f, 0.03f, 0.028f, paint);
        paint.MaskFilter = null;
        paint.Color = SKColors.White;
        paint.Shader = SKShader.CreateRadialGradient(new SKPoint(lm[30].X, lm[30].Y + 0.01f), 0.06f,
            [Rgb(skin, ex * 1.12), Rgb(skin, ex * 0.95, 0)], SKShaderTileMode.Clamp);
        c.DrawCircle(lm[30].X, lm[30].Y + 0.01f, 0.06f, paint);
        paint.Shader = null;
        paint.MaskFilter = blurS;
        paint.Color = Rgb(skin, ex * 0.45, 150);
        c.DrawOval(lm[33].X, lm[33].Y + 0.012f, (lm[35].X - lm[31].X) * 0.38f, 0.012f, paint);
        paint.MaskFilter = null;
        // Nostrils: larger and more visible when anteverted.
        paint.Color = new SKColor(40, 20, 15, (byte)Math.Clamp(120 + 80 * (g.NostrilShow - 1), 60, 235));
        float nh = 0.011f * Math.Clamp(g.NostrilShow, 0.5f, 2f);
        c.DrawOval((lm[32].X + lm[31].X) / 2 + 0.008f, lm[32].Y + 0.004f, 0.021f, nh, paint);
        c.DrawOval((lm[34].X + lm[35].X) / 2 - 0.008f, lm[34].Y + 0.004f, 0.021f, nh, paint);
        paint.Style = SKPaintStyle.Stroke;
        paint.StrokeWidth = 0.008f;
        paint.Color = Rgb(skin, ex * 0.5, 160);
        using (var alar = new SKPath())
        {
            alar.MoveTo(lm[31].X + 0.01f, lm[31].Y - 0.03f);
            alar.QuadTo(lm[31].X - 0.012f, lm[31].Y, lm[32].X, lm[32].Y + 0.006f);
            alar.MoveTo(lm[35].X - 0.01f, lm[35].Y - 0.03f);
            alar.QuadTo(lm[35].X + 0.012f, lm[35].Y, lm[34].X, lm[34].Y + 0.006f);
            c.DrawPath(alar, paint);
        }

        // Philtrum columns.
        paint.MaskFilter = blurS;
        paint.StrokeWidth = 0.014f;
        paint.Color = Rgb(skin, ex * 0.6, (byte)Math.Clamp(110 * g.PhiltrumDepth, 0, 200));
        using (var ph = new SKPath())
        {
            ph.MoveTo(lm[33].X - 0.012f, lm[33].Y + 0.015f); ph.LineTo(lm[50].X + 0.004f, lm[50].Y - 0.006f);
            ph.MoveTo(lm[33].X + 0.012f, lm[33].Y + 0.015f); ph.LineTo(lm[52].X - 0.004f, lm[52].Y - 0.006f);
            c.DrawPath(ph, paint);
        }
        paint.Style = SKPaintStyle.Fill;
        // Shadow under the lower lip and a chin highlight.
        paint.Color = Rgb(skin, ex * 0.55, 140);
        c.DrawOval(lm[57].X, lm[57].Y + 0.03f, (lm[55].X - lm[59].X) * 0.55f, 0.02f, paint);
        paint.MaskFilter = blurL;
        paint.Color = new SKColor(255, 255, 255, 35);
        c.DrawOval(lm[8].X, lm[8].Y - 0.08f, 0.09f, 0.045f, paint);
        paint.MaskFilter = null;
        c.Restore();

        // Eyes.
        for (int e = 0; e < 2; e++)
        {
            int o = e == 0 ? 36 : 42;
            using var eye = new SKPath();
            var pts = lm.AsSpan(o, 6);
            eye.MoveTo(pts[0].X, pts[0].Y);
            AddSmooth(eye, [pts[0], pts[1], pts[2], pts[3]], false);
            AddSmooth(eye, [pts[3], pts[4], pts[5], pts[0]], false);
            eye.Close();
            paint.Color = Rgb((0.93f, 0.91f, 0.88f), ex * 0.95);
            c.DrawPath(eye, paint);
            c.Save();
            c.ClipPath(eye, SKClipOperation.Intersect, true);
            var ic = P(g.Irises[e]);
            paint.Color = SKColors.White;
            paint.Shader = SKShader.CreateRadialGradient(new SKPoint(ic.X, ic.Y), g.IrisRadius,
                [Rgb(app.Iris, ex * 1.2), Rgb(app.Iris, ex * 0.6)], SKShaderTileMode.Clamp);
            c.DrawCircle(ic.X, ic.Y, g.IrisRadius, paint);
            paint.Shader = null;
            paint.Color = new SKColor(12, 10, 10);
            c.DrawCircle(ic.X, ic.Y, g.IrisRadius * 0.42f, paint);
            paint.Color = new SKColor(255, 255, 255, 200);
            c.DrawCircle(ic.X + g.IrisRadius * 0.3f, ic.Y - g.IrisRadius * 0.35f, g.IrisRadius * 0.16f, paint);
            // Upper-lid shadow on the eyeball.
            paint.Color = new SKColor(60, 40, 30, 70);
            c.DrawOval((pts[1].X + pts[2].X) / 2, (pts[1].Y + pts[2].Y) / 2, (pts[3].X - pts[0].X) * 0.6f * (e == 0 ? 1 : -1), 0.014f, paint);
            c.Restore();
            // Lids, lashes and crease.
            paint.Style = SKPaintStyle.Stroke;
            paint.StrokeCap = SKStrokeCap.Round;
            paint.Color = new SKColor(35, 22, 18);
            paint.StrokeWidth = 0.011f;
            using (var lid = new SKPath())
            {
                lid.MoveTo(pts[0].X, pts[0].Y);
                AddSmooth(lid, [pts[0], pts[1], pts[2], pts[3]], false);
                c.DrawPath(lid, paint);
            }
            paint.StrokeWidth = 0.004f;
            paint.Color = Rgb(skin, ex * 0.45);
            using (var low = new SKPath())
            {
                low.MoveTo(pts[3].X, pts[3].Y);
                AddSmooth(low, [pts[3], pts[4], pts[5], pts[0]], false);
                c.DrawPath(low, paint);
            }
            paint.Color = Rgb(skin, ex * 0.6, 170);
            paint.StrokeWidth = 0.006f;
            using (var crease = new SKPath())
            {
                crease.MoveTo(pts[0].X + (pts[3].X - pts[0].X) * 0.1f, pts[0].Y - 0.01f);
                crease.QuadTo((pts[1].X + pts[2].X) / 2, (pts[1].Y + pts[2].Y) / 2 - 0.035f, pts[3].X - (pts[3].X - pts[0].X) * 0.08f, pts[3].Y - 0.012f);
                c.DrawPath(crease, paint);
            }
            if (g.Epicanthus > 0.05f)
            {
                // A skin fold over the inner corner.
                paint.Color = Rgb(skin, ex * 0.55, (byte)(230 * g.Epicanthus));
                paint.StrokeWidth = 0.007f;
                float dir = e == 0 ? -1 : 1;
                using var fold = new SKPath();
                fold.MoveTo(pts[3].X + dir * 0.03f, pts[3].Y - 0.025f);
                fold.QuadTo(pts[3].X - dir * 0.012f, pts[3].Y - 0.004f, pts[3].X + dir * 0.004f, pts[3].Y + 0.016f);
                c.DrawPath(fold, paint);
            }
            paint.Style = SKPaintStyle.Fill;
        }

        // Brows: a tapered band through the landmarks, hair-coloured; synophrys joins them.
        // Brows darker than the scalp hair (as on most people), so light-haired faces still have the brow band.
        var browHair = (hair.R * 0.45f + 0.05f, hair.G * 0.45f + 0.03f, hair.B * 0.45f + 0.02f);
        var browCol = Rgb(browHair, ex * 0.9);
        for (int e = 0; e < 2; e++)
        {
            int o = e == 0 ? 17 : 22;
            var b = lm.AsSpan(o, 5).ToArray();
            // iBUG's image-left brow runs outer (17) → inner (21), the image-right one inner (22) → outer (26): only the
            // left is reversed, so that both are drawn inner → outer, as DrawBrow's widths are given (reversing both drew
            // the right brow tapering the wrong way: every face, and every flipped one, had mismatched brows).
            if (e == 0) Array.Reverse(b);
            DrawBrow(c, paint, b, g.BrowThickness, browCol);
        }
        if (g.Synophrys > 0.12f)
        {
            paint.Color = Rgb(browHair, ex * 0.9, (byte)Math.Clamp(210 * g.Synophrys, 0, 220));
            paint.MaskFilter = blurS;
            float yb = (lm[21].Y + lm[22].Y) / 2 + g.BrowThickness * 0.4f;
            c.DrawOval((lm[21].X + lm[22].X) / 2, yb, (lm[22].X - lm[21].X) * 0.6f, g.BrowThickness * 0.35f * (0.5f + g.Synophrys), paint);
            paint.MaskFilter = null;
        }

        // Mouth: interior, then lips.
        var lipCol = (Math.Clamp(skin.R * 0.85f + 0.12f, 0, 1), skin.G * 0.62f, skin.B * 0.62f);
        if (g.MouthGap > 0.004f)
        {
            using var inner = new SKPath();
            inner.MoveTo(lm[60].X, lm[60].Y);
            for (int i = 61; i <= 67; i++) inner.LineTo(lm[i].X, lm[i].Y);
            inner.Close();
            paint.Color = new SKColor(60, 20, 20);
            c.DrawPath(inner, paint);
            if (n.Smile > 0.3)
            {
                paint.Color = new SKColor(235, 230, 220);
                c.DrawRect(lm[61].X, lm[61].Y, lm[63].X - lm[61].X, Math.Min(g.MouthGap * 0.5f, 0.02f), paint);
            }
        }
        using (var upper = new SKPath())
        {
            upper.MoveTo(lm[48].X, lm[48].Y);
            AddSmooth(upper, lm.AsSpan(48, 7), false);
            upper.LineTo(lm[64].X, lm[64].Y);
            upper.LineTo(lm[63].X, lm[63].Y); upper.LineTo(lm[62].X, lm[62].Y); upper.LineTo(lm[61].X, lm[61].Y); upper.LineTo(lm[60].X, lm[60].Y);
            upper.Close();
            paint.Color = Rgb(lipCol, ex * 0.85);
            c.DrawPath(upper, paint);
        }
        using (var lower = new SKPath())
        {
            lower.MoveTo(lm[54].X, lm[54].Y);
            AddSmooth(lower, [lm[54], lm[55], lm[56], lm[57], lm[58], lm[59], lm[48]], false);
            lower.LineTo(lm[60].X, lm[60].Y);
            lower.LineTo(lm[67].X, lm[67].Y); lower.LineTo(lm[66].X, lm[66].Y); lower.LineTo(lm[65].X, lm[65].Y); lower.LineTo(lm[64].X, lm[64].Y);
            lower.Close();
            paint.Color = SKColors.White;
            paint.Shader = SKShader.CreateLinearGradient(new SKPoint(0, lm[66].Y), new SKPoint(0, lm[57].Y),
                [Rgb(lipCol, ex * 0.95), Rgb(lipCol, ex * 1.1)], SKShaderTileMode.Clamp);
            c.DrawPath(lower, paint);
            paint.Shader = null;
        }
        paint.Style = SKPaintStyle.Stroke;
        paint.StrokeWidth = 0.008f;
        paint.Color = new SKColor(70, 30, 28, 220);
        using (var line = new SKPath())
        {
            line.MoveTo(lm[48].X, lm[48].Y);
            line.QuadTo(lm[60].X, lm[60].Y, lm[61].X, lm[61].Y);
            line.LineTo(lm[62].X, lm[62].Y); line.LineTo(lm[63].X, lm[63].Y);
            line.QuadTo(lm[64].X, lm[64].Y, lm[54].X, lm[54].Y);
            c.DrawPath(line, paint);
        }
        paint.Style = SKPaintStyle.Fill;

        // Hair on top of the head, down to the hairline.
        DrawHair(c, paint, style, skull, lm, P(new Vector3(0.5f, g.HairlineY, 0)).Y, hair, ex, faceW);

        if (blurLayer) c.Restore();
        c.ResetMatrix();
        c.Flush();

        var result = new Vector2[68];
        for (int i = 0; i < 68; i++)
        {
            // Skia puts pixel i's centre at i + 0.5, dlib and OpenCV (which align and score these points) at i.
            var q = m.MapPoint(lm[i].X, lm[i].Y);
            result[i] = new Vector2(q.X - 0.5f, q.Y - 0.5f);
        }
        return result;
    }

    private static Vector2 Mid(Vector2[] p, int a, int b)
    {
        var s = Vector2.Zero;
        for (int i = a; i <= b; i++) s += p[i];
        return s / (b - a + 1);
    }

    private static void DrawBrow(SKCanvas c, SKPaint paint, Vector2[] b, float thickness, SKColor color)
    {
        // b runs from the inner end (0) to the outer end (4); thickest near the inner third, tapering outwards.
        float[] w = [0.85f, 1f, 0.9f, 0.7f, 0.4f];
        using var path = new SKPath();
        var top = new Vector2[5];
        var bottom = new Vector2[5];
        for (int i = 0; i < 5; i++)
        {
            float t = thickness * w[i];
            top[i] = new Vector2(b[i].X, b[i].Y - t * 0.35f);
            bottom[i] = new Vector2(b[i].X, b[i].Y + t * 0.65f);
        }
        path.MoveTo(top[0].X, top[0].Y);
        AddSmooth(path, top, false);
        var rb = bottom.Reverse().ToArray();
        path.LineTo(rb[0].X, rb[0].Y);
        AddSmooth(path, rb, false);
        path.Close();
        paint.Color = color;
        c.DrawPath(path, paint);
    }

    private static void DrawHair(SKCanvas c, SKPaint paint, int style, Vector2[] skull, Vector2[] lm, float hairlineY, (float R, float G, float B) hair, double ex, float faceW)
    {
        if (style == 5)
        {
            paint.Color = Rgb(hair, ex, 90);
        }
        else paint.Color = Rgb(hair, ex);
        float vol = style switch { 3 => 0.09f, 2 => 0.05f, 1 => 0.04f, 5 => 0.0f, _ => 0.025f };
        float fringe = style == 4 ? Math.Min(hairlineY + 0.07f, (lm[19].Y + lm[24].Y) / 2 - 0.06f) : hairlineY;
        using var path = new SKPath();
        var l = skull[1];
        var r = skull[5];
        path.MoveTo(l.X - vol * 0.6f, l.Y + 0.04f);
        Dome(path, new Vector2(l.X - vol * 0.6f, l.Y + 0.04f), new Vector2(skull[3].X, skull[3].Y - vol), new Vector2(r.X + vol * 0.6f, r.Y + 0.04f), vol);
        // Back down along the temple, then across the forehead at the hairline.
        path.LineTo(r.X - 0.03f, r.Y + 0.03f);
        path.CubicTo(r.X - 0.06f, fringe - 0.02f, 0.5f + faceW * 0.2f, fringe, 0.5f, fringe);
        path.CubicTo(0.5f - faceW * 0.2f, fringe, l.X + 0.06f, fringe - 0.02f, l.X + 0.03f, l.Y + 0.03f);
        path.Close();
        c.DrawPath(path, paint);
        if (style == 3)
        {
            // Curls: a few darker blobs along the outline.
            paint.Color = Rgb(hair, ex * 0.7);
            for (int i = 0; i < 9; i++)
            {
                float t = i / 8f;
                float x = l.X + (r.X - l.X) * t;
                float y = skull[3].Y - vol * 0.5f + MathF.Pow(2 * t - 1, 2) * (l.Y - skull[3].Y) * 0.8f;
                c.DrawCircle(x, y, 0.035f, paint);
            }
        }
    }

    // Two quarter-ellipse arcs: from a (temple) over the top t to b (other temple); the path must be at a.
    private static void Dome(SKPath path, Vector2 a, Vector2 t, Vector2 b, float vol)
    {
        const float k = 0.5523f;
        path.CubicTo(a.X, a.Y - k * (a.Y - t.Y), t.X + k * (a.X - t.X), t.Y, t.X, t.Y);
        path.CubicTo(t.X + k * (b.X - t.X), t.Y, b.X, b.Y - k * (b.Y - t.Y), b.X, b.Y);
    }

    // Catmull-Rom through the points as cubic Béziers (the path must already be at pts[0]).
    private static void AddSmooth(SKPath path, ReadOnlySpan<Vector2> pts, bool closed)
    {
        int n = pts.Length;
        for (int i = 0; i < n - 1; i++)
        {
            var p0 = i > 0 ? pts[i - 1] : pts[i];
            var p1 = pts[i];
            var p2 = pts[i + 1];
            var p3 = i + 2 < n ? pts[i + 2] : pts[i + 1];
            var c1 = p1 + (p2 - p0) / 6f;
            var c2 = p2 - (p3 - p1) / 6f;
            path.CubicTo(c1.X, c1.Y, c2.X, c2.Y, p2.X, p2.Y);
        }
    }

    private unsafe void AddNoise(double sd, ulong seed)
    {
        // Approximately Gaussian luminance noise: the sum of four 16-bit uniforms (Irwin–Hall), one draw per pixel.
        var rng = new SyntheticRandom(seed);
        byte* px = (byte*)_bitmap.GetPixels();
        int count = Size * Size;
        double k = sd * Math.Sqrt(12.0 / 4) / 65536.0;
        for (int i = 0; i < count; i++)
        {
            ulong r = rng.NextUInt64();
            long sum = (long)(r & 0xFFFF) + (long)((r >> 16) & 0xFFFF) + (long)((r >> 32) & 0xFFFF) + (long)(r >> 48) - 2 * 65535;
            int d = (int)Math.Round(sum * k);
            for (int c = 0; c < 3; c++)
            {
                int v = px[4 * i + c] + d;
                px[4 * i + c] = (byte)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
}
