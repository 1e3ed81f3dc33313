using GestaltLab.Data;
using GestaltLab.Runtime;
using OpenCvSharp;
using SkiaSharp;

namespace GestaltLab.Tests.Faces;

/// <summary>Photos as users have them; every odd file is made here, in the test.</summary>
public sealed class ImageLoaderTests : IDisposable
{
    private readonly string _dir = FacesFixture.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, byte[] bytes)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    /// <summary>40×20: left half red, right half blue.</summary>
    private static RgbImage Halves()
    {
        var img = new RgbImage(40, 20);
        for (int y = 0; y < 20; y++)
            for (int x = 0; x < 40; x++)
            {
                int o = (y * 40 + x) * 3;
                if (x < 20) img.Pixels[o] = 220; else img.Pixels[o + 2] = 220;
            }
        return img;
    }

    private static byte[] SkiaEncode(RgbImage img, SKEncodedImageFormat format, int quality = 95)
    {
        using var bmp = img.ToSKBitmap();
        using var data = bmp.Encode(format, quality);
        return data.ToArray();
    }

    private static void AssertHalves(RgbImage img, int tolerance)
    {
        Assert.Equal(40, img.Width);
        Assert.Equal(20, img.Height);
        var left = img.Pixels.AsSpan((10 * 40 + 5) * 3, 3).ToArray();
        var right = img.Pixels.AsSpan((10 * 40 + 35) * 3, 3).ToArray();
        Assert.InRange(left[0], 220 - tolerance, 255);
        Assert.InRange(left[2], 0, tolerance);
        Assert.InRange(right[2], 220 - tolerance, 255);
        Assert.InRange(right[0], 0, tolerance);
    }

    [Fact]
    public void JpegPngWebPAndBmpDecodeToTheSamePixels()
    {
        var img = Halves();
        AssertHalves(ImageLoader.Load(Write("a.png", SkiaEncode(img, SKEncodedImageFormat.Png))), 0);
        AssertHalves(ImageLoader.Load(Write("a.jpg", SkiaEncode(img, SKEncodedImageFormat.Jpeg))), 30);
        AssertHalves(ImageLoader.Load(Write("a.webp", SkiaEncode(img, SKEncodedImageFormat.Webp, 100))), 30);
        using var mat = img.ToMat();
        Cv2.ImEncode(".bmp", mat, out byte[] bmp);
        Assert.Equal((byte)'B', bmp[0]);
        var fromBmp = ImageLoader.Load(Write("a.bmp", bmp));
        AssertHalves(fromBmp, 0);
        Assert.Equal(img.Pixels, fromBmp.Pixels); // BMP is lossless, and RGB/BGR order is right
        // The extension does not matter, the content does.
        AssertHalves(ImageLoader.Load(Write("really-a-png.jpg", SkiaEncode(img, SKEncodedImageFormat.Png))), 0);
    }

    [Fact]
    public void GrayscalePhotosBecomeEqualChannels()
    {
        using var gray = new Mat(16, 24, MatType.CV_8UC1, Scalar.All(77));
        Cv2.ImEncode(".png", gray, out byte[] png);
        Cv2.ImEncode(".jpg", gray, out byte[] jpg);
        foreach (var bytes in new[] { png, jpg })
        {
            var img = ImageLoader.Decode(bytes, "gray");
            Assert.Equal(24, img.Width);
            Assert.All(Enumerable.Range(0, img.Width * img.Height), i =>
            {
                Assert.InRange(img.Pixels[3 * i], 75, 79);
                Assert.Equal(img.Pixels[3 * i], img.Pixels[3 * i + 1]);
                Assert.Equal(img.Pixels[3 * i], img.Pixels[3 * i + 2]);
            });
            Assert.Equal(img.Pixels[0], img.Intensity(0, 0));
        }
    }

    [Fact]
    public void SixteenBitPngIsReducedTo8Bit()
    {
        using var deep = new Mat(10, 10, MatType.CV_16UC3, new Scalar(65535, 32896, 0)); // BGR: blue full, green half
        Cv2.ImEncode(".png", deep, out byte[] png);
        Assert.Equal(16, png[24]); // IHDR bit depth
        var img = ImageLoader.Decode(png, "deep.png");
        Assert.InRange(img.Pixels[0], 0, 1);      // R
        Assert.InRange(img.Pixels[1], 126, 130);  // G
        Assert.InRange(img.Pixels[2], 254, 255);  // B
    }

    [Fact]
    public void ExifOrientationIsApplied()
    {
        // Stored 40×20 (red left, blue right) with EXIF orientation 6: a viewer rotates it 90° clockwise.
        var jpeg = SkiaEncode(Halves(), SKEncodedImageFormat.Jpeg, 100);
        byte[] app1 =
        [
            0xFF, 0xE1, 0x00, 0x22, (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
            (byte)'I', (byte)'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, // TIFF header, little-endian, IFD at 8
            0x01, 0x00,                                               // one entry
            0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, // Orientation (0x0112), SHORT, 1, value 6
            0x00, 0x00, 0x00, 0x00,                                   // no next IFD
        ];
        var withExif = jpeg.Take(2).Concat(app1).Concat(jpeg.Skip(2)).ToArray();
        var img = ImageLoader.Decode(withExif, "rotated.jpg");
        Assert.Equal(20, img.Width);
        Assert.Equal(40, img.Height);
        Assert.True(img.Pixels[(5 * 20 + 10) * 3] > 180, "top is the red half after rotation");
        Assert.True(img.Pixels[(35 * 20 + 10) * 3 + 2] > 180, "bottom is the blue half after rotation");

        var upright = ImageLoader.Decode(jpeg, "upright.jpg");
        Assert.Equal(40, upright.Width);
    }

    [Fact]
    public void CmykJpegIsConverted()
    {
        // Adobe CMYK JPEGs store inverted ink values: C'=255, M'=0, Y'=0, K'=255 is pure red.
        var img = ImageLoader.Decode(HandMadeCmykJpeg(255, 0, 0, 255), "cmyk.jpg");
        Assert.Equal(8, img.Width);
        Assert.InRange(img.Pixels[0], 235, 255);
        Assert.InRange(img.Pixels[1], 0, 20);
        Assert.InRange(img.Pixels[2], 0, 20);
    }

    [Fact]
    public void A_PNG_eXIf_orientation_is_applied_as_a_JPEG_one_is()
    {
        // Browsers show a PNG carrying EXIF orientation turned upright; read as stored, its face lay on its side.
        var image = new RgbImage(4, 2);
        image.Pixels[0] = 255;                                   // top-left red, to see where it goes
        var plain = SkiaEncode(image, SKEncodedImageFormat.Png);
        foreach (bool little in new[] { true, false })
        {
            // eXIf: a TIFF header, IFD0 with one entry, Orientation (0x0112) = 6, SHORT.
            byte[] exif = little
                ? [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0]
                : [(byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0];
            var chunk = new byte[12 + exif.Length];
            GestaltLab.Figures.FigureExport.WriteBE(chunk, 0, (uint)exif.Length);
            "eXIf"u8.CopyTo(chunk.AsSpan(4));
            exif.CopyTo(chunk, 8);
            GestaltLab.Figures.FigureExport.WriteBE(chunk, 8 + exif.Length, GestaltLab.Figures.FigureExport.Crc32(chunk.AsSpan(4, 4 + exif.Length)));
            // After IHDR (8-byte signature, 25-byte chunk), before the pixels.
            byte[] png = [.. plain[..33], .. chunk, .. plain[33..]];
            Assert.Equal(SKEncodedOrigin.RightTop, ImageLoader.PngExifOrigin(png));
            var turned = ImageLoader.Decode(png, "turned.png");
            var expected = ImageLoader.ApplyOrientation(ImageLoader.Decode(plain, "plain.png"), SKEncodedOrigin.RightTop);
            Assert.Equal((2, 4), (turned.Width, turned.Height));
            Assert.Equal(expected.Pixels, turned.Pixels);
        }
        Assert.Equal(SKEncodedOrigin.TopLeft, ImageLoader.PngExifOrigin(plain));
        // A chunk that is not EXIF costs the rotation, never the photo.
        Assert.Equal(SKEncodedOrigin.TopLeft, ImageLoader.PngExifOrigin([.. plain[..33], 0, 0, 0, 2, (byte)'e', (byte)'X', (byte)'I', (byte)'f', 1, 2, 0, 0, 0, 0, .. plain[33..]]));
    }

    [Fact]
    public void HugeImageIsRefusedFromItsHeaderBeforeDecoding()
    {
        var png = SkiaEncode(new RgbImage(8, 8), SKEncodedImageFormat.Png);
        // Claim 60000×60000 in IHDR (and fix the chunk's CRC so the header itself is valid).
        GestaltLab.Figures.FigureExport.WriteBE(png, 16, 60000);
        GestaltLab.Figures.FigureExport.WriteBE(png, 20, 60000);
        GestaltLab.Figures.FigureExport.WriteBE(png, 29, GestaltLab.Figures.FigureExport.Crc32(png.AsSpan(12, 17)));
        string path = Write("huge.png", png);
        var e = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(path));
        Assert.Contains("huge.png", e.Message);
        Assert.Contains("60000×60000", e.Message);
        Assert.Contains("above the limit", e.Message);

        var small = SkiaEncode(new RgbImage(100, 100), SKEncodedImageFormat.Png);
        // A small limit is stated as it is, not rounded to "0.0 megapixels"; the message says what to do.
        var tight = Assert.Throws<GestaltLabException>(() => ImageLoader.Decode(small, "small.png", maxPixels: 5000));
        Assert.Contains("limit of 0.005 megapixels; downscale it", tight.Message);
        Assert.Equal(100, ImageLoader.Decode(small, "small.png", maxPixels: 10000).Width);
    }

    [Fact]
    public void NonImagesAreRejectedByContent()
    {
        var e = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("notes.jpg", "patient notes, not a photo"u8.ToArray())));
        Assert.Contains("notes.jpg", e.Message);
        Assert.Contains("not a supported image", e.Message);
        Assert.Contains("patient", e.Message);
        var pdf = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("scan.png", "%PDF-1.7\n%âãÏÓ"u8.ToArray())));
        Assert.Contains("not a supported image", pdf.Message);
        // An iPhone photo: named as such, with how to get a JPEG; and found in a folder rather than passed over.
        byte[] heic = [0, 0, 0, 0x18, .. "ftypheic"u8.ToArray(), 0, 0, 0, 0, .. "mif1heic"u8.ToArray()];
        var iphone = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("IMG_0001.HEIC", heic)));
        Assert.Contains("HEIC", iphone.Message);
        Assert.Contains("JPEG", iphone.Fix);
        Assert.Contains("IMG_0001.HEIC", ImageLoader.FindPhotos(_dir, requireAny: true));
        // A HEIF whose major brand is generic says what it is among its compatible brands; one of a burst ('hevs') too.
        byte[] generic = [0, 0, 0, 0x1c, .. "ftypmp42"u8.ToArray(), 0, 0, 0, 0, .. "mp41iso8heix"u8.ToArray()];
        Assert.Contains("brand 'heix'", Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("export.heif", generic))).Message);
        byte[] burst = [0, 0, 0, 0x14, .. "ftyphevs"u8.ToArray(), 0, 0, 0, 0, .. "msf1"u8.ToArray()];
        Assert.Contains("HEIC", Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("burst.heic", burst))).Message);
        // A video shares the container but is not called a photo.
        byte[] mp4 = [0, 0, 0, 0x18, .. "ftypisom"u8.ToArray(), 0, 0, 2, 0, .. "isomiso2"u8.ToArray()];
        var video = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("clip.jpg", mp4)));
        Assert.DoesNotContain("HEIC", video.Message);
        // A TIFF (a scanner's) is named as one.
        byte[] tiff = [(byte)'I', (byte)'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00];
        Assert.Contains("a TIFF image", Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("scan.tif", tiff))).Message);
        // From the first bytes alone, as a manifest's review reads many photos: what cannot be read, and why; null for a
        // photo that begins as a supported image.
        Assert.Equal("a TIFF image", ImageLoader.HeaderProblem(Path.Combine(_dir, "scan.tif")));
        Assert.StartsWith("a HEIC/HEIF or AVIF photo, brand 'heic'", ImageLoader.HeaderProblem(Path.Combine(_dir, "IMG_0001.HEIC")));
        Assert.StartsWith("not an image: starts with text \"%PDF-1.7\"", ImageLoader.HeaderProblem(Path.Combine(_dir, "scan.png")));
        Assert.Equal("missing", ImageLoader.HeaderProblem(Path.Combine(_dir, "gone.jpg")));
        Assert.Equal("missing", ImageLoader.HeaderProblem(Path.Combine(_dir, "no-folder", "gone.jpg")));
        Assert.Equal("a folder, not a photo", ImageLoader.HeaderProblem(_dir));
        // A pipe named as a photo is not opened (the open would block): no length, said so.
        if (!OperatingSystem.IsWindows())
        {
            string fifo = Path.Combine(_dir, "fifo.jpg");
            using (var mk = System.Diagnostics.Process.Start("mkfifo", [fifo])) mk.WaitForExit();
            Assert.Equal("empty (0 bytes), or not a regular file", ImageLoader.HeaderProblem(fifo));
        }
        Assert.Null(ImageLoader.HeaderProblem(Write("fine.jpg", SkiaEncode(Halves(), SKEncodedImageFormat.Jpeg, 90))));
        Assert.Contains("not a supported image", video.Message);
        var empty = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write("empty.png", [])));
        Assert.Contains("empty", empty.Message);
        // A pipe or a device listed as a photo is refused before it is opened (opening a pipe would wait for a writer;
        // reading /dev/zero would not end).
        string pipe = Path.Combine(_dir, "pipe.jpg");
        using (var mk = System.Diagnostics.Process.Start("mkfifo", [pipe])) mk.WaitForExit();
        Assert.Contains("not a regular file", Assert.Throws<GestaltLabException>(() => ImageLoader.Load(pipe)).Message);
        Assert.Contains("not a regular file", Assert.Throws<GestaltLabException>(() => ImageLoader.Load("/dev/zero")).Message);
        var missing = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Path.Combine(_dir, "nope.jpg")));
        Assert.Contains("not found", missing.Message);
        Assert.NotNull(missing.Fix);
    }

    [Fact]
    public void FolderSearchListsEachPhotoOnceAndLeavesOutGestaltLabOutputs()
    {
        string root = Path.Combine(_dir, "search");
        Directory.CreateDirectory(Path.Combine(root, "P1"));
        byte[] png = new RgbImage(8, 8).EncodePng();
        File.WriteAllBytes(Path.Combine(root, "P1", "a.png"), png);
        File.WriteAllBytes(Path.Combine(root, "b.png"), png);
        // A link to a sibling folder, a loop back to the top, a linked copy of a photo: nothing counts twice, nothing hangs.
        Directory.CreateSymbolicLink(Path.Combine(root, "latest"), "P1");
        Directory.CreateSymbolicLink(Path.Combine(root, "0-first"), "P1");   // sorts before the real folder: still listed as P1/
        // A folder of the user's that happens to hold an aligned/ folder and a qc.csv is searched like any other.
        Directory.CreateDirectory(Path.Combine(root, "cohortA", "aligned"));
        File.WriteAllText(Path.Combine(root, "cohortA", "qc.csv"), "");
        File.WriteAllBytes(Path.Combine(root, "cohortA", "aligned", "p1.png"), png);
        Directory.CreateSymbolicLink(Path.Combine(root, "P1", "self"), "..");
        File.CreateSymbolicLink(Path.Combine(root, "c.png"), Path.Combine(root, "b.png"));
        // A broken link is listed (and reported as unreadable when read), not passed over.
        File.CreateSymbolicLink(Path.Combine(root, "gone.png"), Path.Combine(root, "nowhere.png"));
        // An alignment written inside the folder, and a run: their faces and crops are not more photos.
        Directory.CreateDirectory(Path.Combine(root, "al", "aligned"));
        Directory.CreateDirectory(Path.Combine(root, "al", "regions", "nose"));
        File.WriteAllBytes(Path.Combine(root, "al", "aligned", "P1_a.png"), png);
        File.WriteAllBytes(Path.Combine(root, "al", "regions", "nose", "P1_a.png"), png);
        Directory.CreateDirectory(Path.Combine(root, "run", "data"));
        File.WriteAllText(Path.Combine(root, "run", RunFolder.Marker), "");
        File.WriteAllBytes(Path.Combine(root, "run", "data", "x.png"), png);
        // Figures `export` wrote (named in its export.json), here into a sub-folder and into the photos' own folder: a
        // composite face would otherwise be scored as a patient. A photo the record does not name is still a photo.
        Directory.CreateDirectory(Path.Combine(root, "figures"));
        foreach (var dir in new[] { Path.Combine(root, "figures"), Path.Combine(root, "P1") })
        {
            File.WriteAllText(Path.Combine(dir, "export.json"), "{\"figures\": [\"confusion\", \"tsne\"], \"composite_faces\": \"composite-faces.png\", \"plotly_js\": \"2.35.2\"}");
            foreach (var f in new[] { "confusion.png", "tsne.png", "composite-faces.png" }) File.WriteAllBytes(Path.Combine(dir, f), png);
        }
        File.WriteAllBytes(Path.Combine(root, "figures", "mine.png"), png);
        Assert.Equal(["P1/a.png", "b.png", "cohortA/aligned/p1.png", "figures/mine.png", "gone.png"], ImageLoader.FindPhotos(root));
        // Given itself, an alignment is refused: its faces and every region's crops would each be taken for a photo. Its
        // aligned faces alone are there to be had by their own folder.
        Assert.Contains("an alignment GestaltLab wrote", Assert.Throws<GestaltLabException>(() => ImageLoader.FindPhotos(Path.Combine(root, "al"))).Message);
        Assert.Equal(["P1_a.png"], ImageLoader.FindPhotos(Path.Combine(root, "al", "aligned")));
        Assert.Contains("a link to", Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Path.Combine(root, "gone.png"))).Message);
    }

    [Fact]
    public void A_photo_whose_name_is_not_UTF8_is_found_and_said_to_need_renaming()
    {
        // .NET cannot make such a name: the shell writes "café.jpg" in Latin-1, as an old Windows ZIP unpacks it.
        string root = Path.Combine(_dir, "latin1");
        Directory.CreateDirectory(root);
        File.WriteAllBytes(Path.Combine(root, "ok.png"), new RgbImage(8, 8).EncodePng());
        void Shell(string script)
        {
            using var sh = System.Diagnostics.Process.Start("sh", ["-c", script, "sh", root])!;
            sh.WaitForExit();
        }
        Shell("cp \"$1/ok.png\" \"$1/$(printf 'caf\\351.png')\"");
        try
        {
            var found = ImageLoader.FindPhotos(root);
            Assert.Equal(2, found.Count);
            string latin1 = found.Single(f => f != "ok.png");
            Assert.Contains('\uFFFD', latin1);
            var e = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Path.Combine(root, latin1)));
            Assert.Contains("name is not UTF-8", e.Message);
            Assert.Contains("convmv", e.Fix);
            Assert.Equal(8, ImageLoader.Load(Path.Combine(root, "ok.png")).Width);
        }
        finally
        {
            Shell("rm -rf \"$1\"");   // nor can .NET delete a file by a name it cannot write
        }
    }

    [Fact]
    public void Jfif_jpe_and_jif_JPEGs_are_found_in_a_folder_and_read_like_jpg()
    {
        // Other names JPEGs are saved under (browsers save .jfif; .jpe and .jif are older): found, not passed over.
        string root = Path.Combine(_dir, "jfif");
        Directory.CreateDirectory(root);
        byte[] jpeg = SkiaEncode(Halves(), SKEncodedImageFormat.Jpeg);
        foreach (var f in new[] { "a.jfif", "b.jpe", "c.JIF", "d.jpg" }) File.WriteAllBytes(Path.Combine(root, f), jpeg);
        var found = ImageLoader.FindPhotos(root, requireAny: true);
        Assert.Equal(["a.jfif", "b.jpe", "c.JIF", "d.jpg"], found);
        foreach (var f in found)
        {
            Assert.Null(ImageLoader.HeaderProblem(Path.Combine(root, f)));
            AssertHalves(ImageLoader.Load(Path.Combine(root, f)), 30);
        }
        // Labels name them like any photo; the alignment names their faces as PNGs, apart from each other.
        string labels = Path.Combine(_dir, "jfif.csv");
        File.WriteAllText(labels, "image,subject,syndrome\na.jfif,P1,cdls_like\nb.jpe,P2,williams_like\n");
        var manifest = Manifest.FromImageFolder(root, labels);
        Assert.Equal("cdls_like", manifest.Find("a.jfif")!.Syndrome);
        Assert.Equal("williams_like", manifest.Find("b.jpe")!.Syndrome);
        Assert.Equal(["a.png", "b.png", "c.png", "d.png"], GestaltLab.Regions.FaceDatasetAligner.OutputNames(found));
    }

    [Fact]
    public void TruncatedFilesAreReportedAsTruncated()
    {
        var photo = ImageLoader.Load(FacesFixture.Astronaut);
        foreach (var (format, name) in new[] { (SKEncodedImageFormat.Jpeg, "cut.jpg"), (SKEncodedImageFormat.Png, "cut.png") })
        {
            var bytes = SkiaEncode(photo, format, 90);
            var cut = bytes.AsSpan(0, bytes.Length * 6 / 10).ToArray();
            var e = Assert.Throws<GestaltLabException>(() => ImageLoader.Load(Write(name, cut)));
            Assert.Contains(name, e.Message);
            Assert.Contains("truncated", e.Message);
        }
        // Cut inside the header.
        var head = SkiaEncode(photo, SKEncodedImageFormat.Png).AsSpan(0, 20).ToArray();
        var h = Assert.Throws<GestaltLabException>(() => ImageLoader.Decode(head, "head.png"));
        Assert.Contains("head.png", h.Message);
    }

    [Fact]
    public void TransparentPixelsBecomeWhiteTheSameWayThroughMLNetAsThroughTheLoader()
    {
        // One colour under every alpha value: a background-removed portrait's edge, as PNG stores it (unpremultiplied).
        string path = Path.Combine(_dir, "cutout.png");
        using (var bmp = new SKBitmap(new SKImageInfo(256, 3, SKColorType.Rgba8888, SKAlphaType.Unpremul)))
        {
            for (int x = 0; x < 256; x++)
                for (int y = 0; y < 3; y++) bmp.SetPixel(x, y, new SKColor(200, 100, 50, (byte)x));
            using var data = bmp.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(path, data.ToArray());
        }
        var loaded = ImageLoader.Load(path);
        using var ml = Microsoft.ML.Data.MLImage.CreateFromFile(path);
        Assert.Equal(loaded.Pixels, RgbImage.FromMLImage(ml).Pixels);

        byte[] Px(int x) => loaded.Pixels.AsSpan(x * 3, 3).ToArray();
        Assert.Equal(new byte[] { 255, 255, 255 }, Px(0));
        Assert.Equal(new byte[] { 200, 100, 50 }, Px(255));
        var half = Px(128); // ≈ halfway between the colour and white
        Assert.InRange(half[0], 226, 229);
        Assert.InRange(half[1], 176, 179);
        Assert.InRange(half[2], 151, 154);
    }

    [Fact]
    public void ConversionsRoundTrip()
    {
        var img = Halves();
        using (var mat = img.ToMat()) Assert.Equal(img.Pixels, RgbImage.FromMat(mat).Pixels);
        using (var bmp = img.ToSKBitmap()) Assert.Equal(img.Pixels, RgbImage.FromSKBitmap(bmp).Pixels);
        using (var ml = img.ToMLImage()) Assert.Equal(img.Pixels, RgbImage.FromMLImage(ml).Pixels);
        using var gray = img.ToGrayMat();
        Assert.Equal(1, gray.Channels());
    }

    /// <summary>
    /// An 8×8 baseline JPEG with four components (Adobe CMYK, no colour transform), each one flat block: written
    /// byte by byte because neither SkiaSharp nor OpenCV can encode CMYK.
    /// </summary>
    private static byte[] HandMadeCmykJpeg(byte c, byte m, byte y, byte k)
    {
        var o = new List<byte> { 0xFF, 0xD8 };
        o.AddRange([0xFF, 0xEE, 0x00, 0x0E, (byte)'A', (byte)'d', (byte)'o', (byte)'b', (byte)'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);
        o.AddRange([0xFF, 0xDB, 0x00, 0x43, 0x00]);
        o.AddRange(Enumerable.Repeat((byte)1, 64)); // quantisation 1: exact DC
        o.AddRange([0xFF, 0xC0, 0x00, 0x14, 0x08, 0x00, 0x08, 0x00, 0x08, 0x04]);
        for (byte id = 1; id <= 4; id++) o.AddRange([id, 0x11, 0x00]);
        // Huffman: the standard luminance DC table, and an AC table holding only EOB (code "0").
        byte[] dcBits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
        o.AddRange([0xFF, 0xC4, 0x00, (byte)(2 + 17 + 12), 0x00]);
        o.AddRange(dcBits);
        o.AddRange(Enumerable.Range(0, 12).Select(i => (byte)i));
        o.AddRange([0xFF, 0xC4, 0x00, (byte)(2 + 17 + 1), 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]);
        o.AddRange([0xFF, 0xDA, 0x00, 0x0E, 0x04]);
        for (byte id = 1; id <= 4; id++) o.AddRange([id, 0x00]);
        o.AddRange([0x00, 0x3F, 0x00]);

        // DC category codes of the standard table.
        string[] dcCodes = ["00", "010", "011", "100", "101", "110", "1110", "11110", "111110", "1111110", "11111110", "111111110"];
        var bits = new System.Text.StringBuilder();
        foreach (byte v in new[] { c, m, y, k })
        {
            int dc = 8 * (v - 128); // flat block: F(0,0) = 8·(v − 128)
            int cat = dc == 0 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)Math.Abs(dc));
            bits.Append(dcCodes[cat]);
            if (cat > 0)
            {
                int raw = dc > 0 ? dc : dc - 1 + (1 << cat); // negative values: one's complement in cat bits
                bits.Append(Convert.ToString(raw, 2).PadLeft(cat, '0')[^cat..]);
            }
            bits.Append('0'); // EOB
        }
        while (bits.Length % 8 != 0) bits.Append('1');
        for (int i = 0; i < bits.Length; i += 8)
        {
            byte b = Convert.ToByte(bits.ToString(i, 8), 2);
            o.Add(b);
            if (b == 0xFF) o.Add(0x00);
        }
        o.AddRange([0xFF, 0xD9]);
        return o.ToArray();
    }
}
