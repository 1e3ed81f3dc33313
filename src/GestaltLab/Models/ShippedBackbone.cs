using System.Security.Cryptography;

namespace GestaltLab.Models;

/// <summary>
/// The small pretrained backbone shipped in <c>data/pretrained/backbone.pt</c> (embedded in the library so it is found from
/// any working directory). It was made by face-identity pretraining on the synthetic <c>identities</c> preset, with the
/// auxiliary landmark-geometry task (<see cref="TrainingOptions.GeometryLoss"/>); the exact commands are in
/// <c>data/pretrained/README.md</c>.
/// </summary>
public static class ShippedBackbone
{
    private const string ResourceName = "GestaltLab.data.pretrained.backbone.pt";

    /// <summary>Whether this build carries the shipped backbone.</summary>
    public static bool IsAvailable => typeof(ShippedBackbone).Assembly.GetManifestResourceInfo(ResourceName) is not null;

    /// <summary>How run records name the shipped backbone: its extracted copy in the temp folder is not a lasting path.</summary>
    public const string Description = "shipped: data/pretrained/backbone.pt (embedded in GestaltLab.dll)";

    /// <summary>Whether <paramref name="path"/> holds the shipped backbone (same bytes).</summary>
    public static bool Is(string path)
    {
        using var s = typeof(ShippedBackbone).Assembly.GetManifestResourceStream(ResourceName);
        if (s is null || !File.Exists(path) || new FileInfo(path).Length != s.Length) return false;
        using var file = File.OpenRead(path);
        return SHA256.HashData(s).AsSpan().SequenceEqual(SHA256.HashData(file));
    }

    /// <summary>
    /// A file path of the shipped backbone (written once per content hash to the user's own temp folder, and written again
    /// when that file's content differs), or null when this build does not carry one.
    /// </summary>
    public static string? Path()
    {
        using var s = typeof(ShippedBackbone).Assembly.GetManifestResourceStream(ResourceName);
        if (s is null) return null;
        using var buffer = new MemoryStream();
        s.CopyTo(buffer);
        return PathIn(Runtime.PrivateTemp.Folder, buffer.ToArray());
    }

    /// <summary>The copy of <paramref name="bytes"/> in <paramref name="folder"/>, or, when null, in the fallback file.</summary>
    internal static string PathIn(string? folder, byte[] bytes)
    {
        // In the user's own temp folder (no one else can put a file of the right name there first), and reused only with
        // the same content: training from a backbone that is not the shipped one would pass for it in every record.
        if (folder is not null) return CopyInto(folder, bytes);
        // No private folder (another user holds its name, or /tmp is read-only): a new, uniquely named file that no one
        // could have planted, made once per process and removed when the process ends, not one left behind per call.
        lock (FallbackGate)
        {
            // Reused only with the same content: its name can be listed, so after a temp cleaner removed it anyone could
            // put a file of that name there.
            if (fallback is null || !File.Exists(fallback) || !SHA256.HashData(File.ReadAllBytes(fallback)).AsSpan().SequenceEqual(SHA256.HashData(bytes)))
            {
                string unique = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"gestaltlab-backbone-{Guid.NewGuid():N}.pt");
                using (var f = new FileStream(unique, FileMode.CreateNew, FileAccess.Write)) f.Write(bytes);
                if (fallback is null) AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { File.Delete(fallback!); } catch (IOException) { } catch (UnauthorizedAccessException) { } };
                fallback = unique;
            }
            return fallback;
        }
    }

    private static readonly object FallbackGate = new();
    private static string? fallback;

    /// <summary><paramref name="bytes"/> as <c>backbone-HASH.pt</c> in <paramref name="folder"/>: an existing file is reused only when its content is the same.</summary>
    internal static string CopyInto(string folder, byte[] bytes)
    {
        var sha = SHA256.HashData(bytes);
        string path = System.IO.Path.Combine(folder, $"backbone-{Convert.ToHexString(sha)[..16].ToLowerInvariant()}.pt");
        bool same = File.Exists(path) && new FileInfo(path).Length == bytes.Length && SHA256.HashData(File.ReadAllBytes(path)).AsSpan().SequenceEqual(sha);
        if (!same) Runtime.AtomicFile.WriteAllBytes(path, bytes);
        return path;
    }
}
