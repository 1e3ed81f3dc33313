using GestaltLab.Runtime;
using SkiaSharp;

namespace GestaltLab.Data;

/// <summary>
/// Decodes photos as users have them into <see cref="RgbImage"/>: JPEG (including gray and CMYK), PNG (including
/// 8/16-bit, gray, palette, alpha), BMP, WebP and GIF (first frame). The EXIF orientation is applied, so the face is
/// upright as a photo viewer shows it. Transparent pixels are composited onto white, as a viewer shows them on a page
/// (<see cref="RgbImage.FromSKBitmap"/>, which ML.NET's images go through, does the same). Images larger than
/// <see cref="DefaultMaxPixels"/> are refused from their header, before any pixel memory is allocated. Every failure is a
/// <see cref="GestaltLabException"/> that names the file and the problem. Thread-safe.
/// </summary>
public static class ImageLoader
{
    /// <summary>
    /// Default pixel limit: 100 megapixels (a 10,000 × 10,000 photo; ≈ 700 MB while decoding). Phone cameras save 48–64
    /// megapixels at full resolution (8160 × 6144 = 50.1), which a face needs far fewer of, but users have them.
    /// </summary>
    public const long DefaultMaxPixels = 100_000_000;

    /// <summary>The image formats recognised from a file's first bytes.</summary>
    public enum Format
    {
        /// <summary>Not a recognised image.</summary>
        Unknown,
        /// <summary>JPEG/JFIF/EXIF.</summary>
        Jpeg,
        /// <summary>PNG.</summary>
        Png,
        /// <summary>Windows bitmap.</summary>
        Bmp,
        /// <summary>WebP (lossy or lossless).</summary>
        WebP,
        /// <summary>GIF (first frame).</summary>
        Gif,
    }

    /// <summary>Recognises the format from the first bytes (file extensions are not trusted).</summary>
    public static Format Sniff(ReadOnlySpan<byte> head)
    {
        if (head.Length >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return Format.Jpeg;
        if (head.Length >= 8 && head[..8].SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A })) return Format.Png;
        if (head.Length >= 2 && head[0] == 'B' && head[1] == 'M') return Format.Bmp;
        if (head.Length >= 12 && head[..4].SequenceEqual("RIFF"u8) && head.Slice(8, 4).SequenceEqual("WEBP"u8)) return Format.WebP;
        if (head.Length >= 6 && (head[..6].SequenceEqual("GIF87a"u8) || head[..6].SequenceEqual("GIF89a"u8))) return Format.Gif;
        return Format.Unknown;
    }

    /// <summary>
    /// File extensions taken for photos when a folder is searched (<see cref="FindPhotos"/>). TIFF, HEIC/HEIF (iPhone
    /// photos) and AVIF are listed although they cannot be decoded, so each gives one clear "not a supported image"
    /// instead of being passed over in silence (or a folder of them giving "no photos"). JPEGs also come as <c>.jfif</c>
    /// (as browsers save them), <c>.jpe</c> and <c>.jif</c>.
    /// </summary>
    public static IReadOnlyList<string> PhotoExtensions { get; } = [".jpg", ".jpeg", ".jpe", ".jfif", ".jif", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"];

    /// <summary>
    /// The photos under <paramref name="folder"/> (recursively; hidden files and folders skipped), as paths relative to it
    /// with '/' separators, sorted ordinally so every machine lists them in the same order. Each photo is listed once:
    /// links are followed, but a folder or photo reached twice (a link to a sibling folder, a link loop, a linked copy)
    /// is listed under its real path (the first in name order when it has no path without links). GestaltLab's own
    /// output folders inside it — an alignment (<c>aligned/</c> beside <c>regions/</c>) or a run
    /// (<see cref="RunFolder.IsRun"/>) — are left out: their aligned faces and crops are not more photos of the same people;
    /// so are the figures <c>gestaltlab export</c> wrote (named in an <c>export.json</c> beside them).
    /// </summary>
    /// <param name="folder">Folder to search.</param>
    /// <param name="exclude">A folder inside <paramref name="folder"/> to leave out (e.g. an output folder), or null.</param>
    /// <param name="requireAny">Throw when the folder holds no photo (naming it and the extensions looked for).</param>
    /// <exception cref="GestaltLabException">The folder does not exist, is itself an output folder of GestaltLab's, or holds
    /// no photo and <paramref name="requireAny"/> is set.</exception>
    public static IReadOnlyList<string> FindPhotos(string folder, string? exclude = null, bool requireAny = false)
    {
        if (!Directory.Exists(folder)) throw new GestaltLabException($"{folder}: folder not found");
        string root = Path.GetFullPath(folder);
        // Its aligned faces and crops would be taken for photos (hundreds of them, each "predicted").
        if (IsOutputFolder(root))
            throw new GestaltLabException($"{folder}: {(RunFolder.IsRun(root) ? "a training run" : "an alignment")} GestaltLab wrote; its aligned faces and region crops are not photos",
                RunFolder.IsRun(root) ? "pass the folder of the photos themselves" : $"pass the folder of the photos themselves (or {Path.Combine(folder, "aligned")} for the aligned faces alone)");
        string? skip = exclude is null ? null : Path.GetFullPath(exclude).TrimEnd(Path.DirectorySeparatorChar);
        var found = new List<(string Relative, string Real, bool ViaLink)>();
        var visited = new HashSet<string>(StringComparer.Ordinal);
        var one = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = 0 };
        var linked = new List<(string Dir, string Relative)>();
        // Real folders first, linked ones after: a photo reachable both ways is listed under its real path (as a labels
        // file written from the folder names it), whatever the link is called.
        void Walk(string dir, string relative, bool viaLink)
        {
            if (!visited.Add(RunFolder.RealPath(dir))) return;
            var figures = ExportedFigures(dir);
            foreach (var f in Directory.EnumerateFiles(dir, "*", one))
            {
                string name = Path.GetFileName(f);
                if (!name.StartsWith('.') && PhotoExtensions.Contains(Path.GetExtension(name).ToLowerInvariant()) && !figures.Contains(name))
                    found.Add((relative + name, RunFolder.RealPath(f), viaLink || new FileInfo(f).LinkTarget is not null));
            }
            // In name order, so that the path a folder reached twice is listed under is the same on every machine.
            foreach (var d in Directory.EnumerateDirectories(dir, "*", one).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(d);
                if (name.StartsWith('.') || string.Equals(d.TrimEnd(Path.DirectorySeparatorChar), skip, StringComparison.Ordinal) || IsOutputFolder(d)) continue;
                if (!viaLink && new DirectoryInfo(d).LinkTarget is not null) linked.Add((d, relative + name + "/"));
                else Walk(d, relative + name + "/", viaLink);
            }
        }
        Walk(root, "", false);
        for (int k = 0; k < linked.Count; k++) Walk(linked[k].Dir, linked[k].Relative, true);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var photos = found.OrderBy(p => p.ViaLink).ThenBy(p => p.Relative, StringComparer.Ordinal).Where(p => seen.Add(p.Real))
            .Select(p => p.Relative).Order(StringComparer.Ordinal).ToList();
        return photos.Count > 0 || !requireAny ? photos
            : throw new GestaltLabException($"{folder}: no photos found (none named .jpg .jpeg .jfif .jpe .jif .png .bmp .webp or .gif, nor .tif .tiff .heic .heif .avif, which are named and skipped: convert those to JPEG)");
    }

    /// <summary>
    /// The files <c>gestaltlab export</c> wrote into <paramref name="dir"/> (named in its <c>export.json</c>): figures and
    /// the composite faces are not photos of patients, even in a folder of photos (a composite would be scored as one).
    /// </summary>
    private static HashSet<string> ExportedFigures(string dir) =>
        Figures.ExportRecord.Files(dir)?.Keys.ToHashSet(StringComparer.Ordinal) ?? new HashSet<string>(StringComparer.Ordinal);

    /// <summary>A folder an alignment (its <c>aligned/</c> faces beside <c>regions/</c> crops, from its first photo on) or a run wrote.</summary>
    private static bool IsOutputFolder(string dir) =>
        (Directory.Exists(Path.Combine(dir, "aligned")) && Directory.Exists(Path.Combine(dir, "regions"))) || RunFolder.IsRun(dir);

    /// <summary>Loads a photo from a file.</summary>
    /// <param name="path">The photo.</param>
    /// <param name="maxPixels">Refuse images with more pixels than this (checked from the header).</param>
    /// <exception cref="GestaltLabException">Missing, unreadable, not an image, truncated, corrupt or too large.</exception>
    public static RgbImage Load(string path, long maxPixels = DefaultMaxPixels)
    {
        if (Directory.Exists(path))
            throw new GestaltLabException($"{path}: is a folder, not a photo", "pass the photos inside it, or a folder where the command takes one");
        byte[] bytes;
        try
        {
            // Checked before opening: a pipe listed as a photo would block the open itself, and a device (/dev/zero in a
            // received manifest) be read until memory runs out; both, like an empty file, have no length.
            if (new FileInfo(path) is { Exists: true, Length: 0 })
                throw new GestaltLabException($"{path}: the file is empty (0 bytes), or not a regular file; not a photo", "replace it with the original photo");
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            // More bytes than the largest image allowed could hold (4 per pixel, uncompressed, and room for metadata).
            long cap = maxPixels * 4 + (64L << 20);
            if (!file.CanSeek || file.Length > cap)
            {
                var head = new byte[Math.Min(64, (int)Math.Min(int.MaxValue, file.CanSeek ? file.Length : 64))];
                int read = file.Read(head);
                if (Sniff(head.AsSpan(0, read)) == Format.Unknown) Decode(head.AsSpan(0, read), path, maxPixels);   // says what it is not
                throw new GestaltLabException(FormattableString.Invariant($"{path}: {(file.CanSeek ? FormattableString.Invariant($"{file.Length / 1e6:F0} MB") : "not a regular file")}, more than an image of at most {maxPixels / 1e6:F0} megapixels takes"), "list photo files only, or resize the photo");
            }
            bytes = new byte[file.Length];
            file.ReadExactly(bytes);
        }
        catch (FileNotFoundException) when (new FileInfo(path).LinkTarget is { } target)
        {
            throw new GestaltLabException($"{path}: a link to {target}, which does not exist", "fix or remove the link");
        }
        // A name written in another encoding (Latin-1 from an old Windows ZIP, say) is listed with U+FFFD in place of the
        // bytes that are not UTF-8, and no file has that name: the file is there, but cannot be opened by it.
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException && path.Contains('\uFFFD'))
        {
            throw new GestaltLabException($"{path}: the {(e is FileNotFoundException ? "file's" : "folder's")} name is not UTF-8 (shown here with \uFFFD for bytes of another encoding, such as Latin-1 from an old Windows ZIP), so it cannot be opened by that name",
                "rename it with UTF-8 characters, e.g. `convmv -r -f latin1 -t utf-8 --notest FOLDER` (Debian package convmv)");
        }
        catch (FileNotFoundException)
        {
            throw new GestaltLabException($"{path}: photo not found", "check the path (relative paths in a manifest are relative to the manifest's folder)");
        }
        catch (DirectoryNotFoundException)
        {
            throw new GestaltLabException($"{path}: photo not found (folder does not exist)", "check the path");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GestaltLabException($"{path}: cannot read the photo: {e.Message}", "check the file's permissions", e);
        }
        return Decode(bytes, path, maxPixels);
    }

    private static readonly HashSet<string> HeifBrands =
        ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "mif2", "msf1", "avif", "avis", "avio"];

    /// <summary>
    /// Why the photo at <paramref name="path"/> cannot be read, judged from its first bytes alone, or null when it begins
    /// as a supported image does. For checks over many files before the full decode alignment makes (a truncated or
    /// corrupt photo of a supported format passes here and is reported then).
    /// </summary>
    public static string? HeaderProblem(string path)
    {
        if (Directory.Exists(path)) return "a folder, not a photo";
        var info = new FileInfo(path);
        if (!info.Exists) return "missing";
        // Not opened: a pipe would block the open itself (as in Load), and a pipe, a device and an empty file all have no length.
        if (info.Length == 0) return "empty (0 bytes), or not a regular file";
        var head = new byte[64];
        int n;
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (FileNotFoundException) { return "missing"; }
        catch (DirectoryNotFoundException) { return "missing"; }
        catch (IOException e) { return $"unreadable ({e.Message})"; }
        catch (UnauthorizedAccessException) { return "unreadable (permission denied)"; }
        var bytes = head.AsSpan(0, n);
        if (Sniff(bytes) != Format.Unknown) return null;
        if (HeifBrand(bytes) is { } brand) return $"a HEIC/HEIF or AVIF photo, brand '{brand}': export it as JPEG";
        if (IsTiff(bytes)) return "a TIFF image";
        return $"not an image: starts with {Describe(bytes)}";
    }

    private static bool IsTiff(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 4 && (bytes[..4].SequenceEqual("II*\0"u8) || bytes[..4].SequenceEqual("MM\0*"u8));

    /// <summary>
    /// The HEIF-family brand an ISO media file declares in its leading <c>ftyp</c> box — the major brand, else the first
    /// compatible one (some writers put a generic major brand first) — or null for other files (an MP4 video, say).
    /// </summary>
    private static string? HeifBrand(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 12 || !bytes.Slice(4, 4).SequenceEqual("ftyp"u8)) return null;
        long size = ((long)bytes[0] << 24) | ((long)bytes[1] << 16) | ((long)bytes[2] << 8) | bytes[3];
        int end = (int)Math.Min(bytes.Length, size < 16 ? 12 : size);
        string major = System.Text.Encoding.ASCII.GetString(bytes.Slice(8, 4));
        if (HeifBrands.Contains(major)) return major;
        // Compatible brands follow the major brand and its 4-byte minor version.
        for (int o = 16; o + 4 <= end; o += 4)
        {
            string b = System.Text.Encoding.ASCII.GetString(bytes.Slice(o, 4));
            if (HeifBrands.Contains(b)) return b;
        }
        return null;
    }

    /// <summary>Decodes an encoded photo held in memory; <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="GestaltLabException">Not an image, truncated, corrupt or too large.</exception>
    public static RgbImage Decode(ReadOnlySpan<byte> bytes, string name, long maxPixels = DefaultMaxPixels)
    {
        if (bytes.Length == 0) throw new GestaltLabException($"{name}: the file is empty (0 bytes), not a photo", "replace it with the original photo");
        var format = Sniff(bytes);
        // ISO media: HEIC/HEIF, as iPhones save photos, or AVIF. Common enough to name.
        if (format == Format.Unknown && HeifBrand(bytes) is { } brand)
            throw new GestaltLabException(
                $"{name}: a HEIC/HEIF or AVIF photo (brand '{brand}'), which GestaltLab cannot decode; it reads JPEG, PNG, BMP, WebP and GIF",
                "export the photo as JPEG (on an iPhone: Settings → Camera → Formats → Most Compatible), or remove it from the list");
        if (format == Format.Unknown && IsTiff(bytes))
            throw new GestaltLabException($"{name}: a TIFF image, which GestaltLab cannot decode; it reads JPEG, PNG, BMP, WebP and GIF",
                "convert the photo to JPEG or PNG, or remove it from the list");
        if (format == Format.Unknown)
            throw new GestaltLabException(
                $"{name}: not a supported image (starts with {Describe(bytes)}); GestaltLab reads JPEG, PNG, BMP, WebP and GIF",
                "convert the photo to JPEG or PNG, or remove it from the list");

        // As the formats are written ("JPEG file", not the enum's "Jpeg file").
        string kind = format switch { Format.Jpeg => "JPEG", Format.Png => "PNG", Format.Bmp => "BMP", Format.Gif => "GIF", _ => format.ToString() };
        using var data = SKData.CreateCopy(bytes);
        using var stream = new SKMemoryStream(data);
        using var codec = SKCodec.Create(stream, out var createResult);
        if (codec is null)
        {
            bool truncated = createResult == SKCodecResult.IncompleteInput;
            throw new GestaltLabException(
                truncated
                    ? $"{name}: the {kind} file is truncated (it ends before its header is complete)"
                    : $"{name}: the {kind} file is corrupt and cannot be decoded ({createResult})",
                "replace it with an intact copy of the photo");
        }

        var info = codec.Info;
        long pixels = (long)info.Width * info.Height;
        if (info.Width <= 0 || info.Height <= 0)
            throw new GestaltLabException($"{name}: the {kind} header gives an empty size {info.Width}×{info.Height}", "replace it with an intact copy of the photo");
        if (pixels > maxPixels)
            throw new GestaltLabException(
                FormattableString.Invariant($"{name}: the image is {info.Width}×{info.Height} = {pixels / 1e6:0.#} megapixels, above the limit of {maxPixels / 1e6:0.###} megapixels; downscale it (a face needs no more than a few hundred pixels across)"),
                "downscale the photo, or raise the limit in the library (FacePipelineOptions.MaxPixels, ImageLoader.Load's maxPixels)");

        // Premultiplied, as SKBitmap.Decode (and so ML.NET's LoadImages) decodes: both paths then composite the same bytes.
        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        var rgba = new byte[checked(pixels * 4)];
        SKCodecResult result;
        unsafe
        {
            fixed (byte* p = rgba) result = codec.GetPixels(target, (IntPtr)p);
        }
        switch (result)
        {
            case SKCodecResult.Success:
                break;
            case SKCodecResult.IncompleteInput:
            case SKCodecResult.ErrorInInput:
                throw new GestaltLabException(
                    result == SKCodecResult.IncompleteInput
                        ? $"{name}: the {kind} file is truncated (the pixel data ends early)"
                        : $"{name}: the {kind} pixel data is corrupt",
                    "replace it with an intact copy of the photo");
            default:
                throw new GestaltLabException($"{name}: the {kind} file cannot be decoded ({result})", "convert the photo to JPEG or PNG");
        }

        var rgb = new byte[checked(pixels * 3)];
        RgbImage.CompositeOnWhite(rgba, rgb);
        // Skia reads the orientation of JPEG and WebP, not a PNG's eXIf chunk, which browsers honour as well (a photo shown
        // upright would be aligned sideways, and found faceless).
        var origin = codec.EncodedOrigin == SKEncodedOrigin.TopLeft && format == Format.Png ? PngExifOrigin(bytes) : codec.EncodedOrigin;
        return ApplyOrientation(new RgbImage(info.Width, info.Height, rgb), origin);
    }

    /// <summary>
    /// The EXIF orientation (tag 0x0112 of IFD0) of a PNG's <c>eXIf</c> chunk, or top-left when it has none or it cannot
    /// be read: a damaged chunk costs the rotation, never the photo.
    /// </summary>
    internal static SKEncodedOrigin PngExifOrigin(ReadOnlySpan<byte> png)
    {
        for (int at = 8; at + 12 <= png.Length;)
        {
            uint length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(png[at..]);
            var type = png.Slice(at + 4, 4);
            if (length > int.MaxValue || at + 12 + (long)length > png.Length || type.SequenceEqual("IEND"u8)) break;
            if (type.SequenceEqual("eXIf"u8)) return ExifOrigin(png.Slice(at + 8, (int)length));
            at += 12 + (int)length;
        }
        return SKEncodedOrigin.TopLeft;
    }

    // Orientation from raw EXIF (a TIFF header, then IFD0's entries), as a PNG's eXIf chunk holds it.
    private static SKEncodedOrigin ExifOrigin(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8) return SKEncodedOrigin.TopLeft;
        bool little = tiff[0] == 'I' && tiff[1] == 'I';
        if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return SKEncodedOrigin.TopLeft;
        if (U16(tiff, 2, little) != 42) return SKEncodedOrigin.TopLeft;
        uint ifd = U32(tiff, 4, little);
        if (ifd > (uint)tiff.Length - 2) return SKEncodedOrigin.TopLeft;
        int count = U16(tiff, (int)ifd, little);
        for (int e = 0; e < count; e++)
        {
            int entry = (int)ifd + 2 + 12 * e;
            if (entry + 12 > tiff.Length) break;
            // SHORT (type 3), one value, stored in the entry itself.
            if (U16(tiff, entry, little) == 0x0112 && U16(tiff, entry + 2, little) == 3 && U16(tiff, entry + 8, little) is >= 1 and <= 8 and var value)
                return (SKEncodedOrigin)value;
        }
        return SKEncodedOrigin.TopLeft;
    }

    private static ushort U16(ReadOnlySpan<byte> b, int i, bool little) =>
        little ? System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(b[i..]) : System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(b[i..]);

    private static uint U32(ReadOnlySpan<byte> b, int i, bool little) =>
        little ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b[i..]) : System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b[i..]);

    /// <summary>Turns stored pixels upright according to the EXIF orientation (1–8).</summary>
    public static RgbImage ApplyOrientation(RgbImage image, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft || (int)origin < 1 || (int)origin > 8) return image;
        int w = image.Width, h = image.Height;
        bool swap = (int)origin >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        var src = image.Pixels;
        var dst = new byte[src.Length];
        for (int y = 0; y < oh; y++)
        {
            for (int x = 0; x < ow; x++)
            {
                // (x, y) in the upright image comes from (sx, sy) in the stored one.
                (int sx, int sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),
                    _ => (x, y),
                };
                int s = (sy * w + sx) * 3, d = (y * ow + x) * 3;
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(ow, oh, dst);
    }

    private static string Describe(ReadOnlySpan<byte> bytes)
    {
        var head = bytes[..Math.Min(8, bytes.Length)];
        bool text = true;
        foreach (byte b in head) text &= b is >= 0x20 and < 0x7F or (byte)'\n' or (byte)'\r' or (byte)'\t';
        string hex = Convert.ToHexString(head);
        return text ? $"text \"{System.Text.Encoding.ASCII.GetString(head).Trim()}\"…, bytes {hex}" : $"bytes {hex}";
    }
}
