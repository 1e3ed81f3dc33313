using System.Text;
using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>
/// GestaltLab's weights container: a JSON metadata string (config, epoch, …) and named float32/int64 tensors, little-endian.
/// Used for checkpoints, final region nets and pretrained backbones. Self-describing and independent of TorchSharp's own
/// serialisation, so a file names what is missing or mismatched instead of failing deep inside libtorch.
/// </summary>
/// <remarks>Layout: magic <c>GLWT</c>, u32 version (1), string metadata, u32 count, then per tensor: string name,
/// u8 dtype (0 = float32, 1 = int64), u32 rank, i64 dims…, raw data. Strings are u32 length + UTF-8.</remarks>
public static class WeightsFile
{
    private static readonly byte[] Magic = "GLWT"u8.ToArray();

    /// <summary>Writes named tensors (copied to CPU) and metadata atomically.</summary>
    /// <param name="path">The file.</param>
    /// <param name="metadataJson">Its metadata.</param>
    /// <param name="tensors">Its tensors, by name.</param>
    /// <param name="ownerOnly">Readable by its owner alone (<see cref="AtomicFile.Write"/>): for files that describe patients.</param>
    public static void Save(string path, string metadataJson, IEnumerable<KeyValuePair<string, Tensor>> tensors, bool ownerOnly = false)
    {
        var items = tensors.ToList();
        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(1u);
            WriteString(w, metadataJson);
            w.Write((uint)items.Count);
            foreach (var (name, t) in items)
            {
                WriteString(w, name);
                // The scope holds the chain's intermediate tensors: unheld, the GC may finalise one (freeing its native
                // handle) while libtorch still reads it in the chain's next call (see HeldScalars); it crashed a notebook.
                using var scope = torch.NewDisposeScope();
                var cpu = t.detach().cpu().contiguous();
                byte dtype = cpu.dtype switch
                {
                    ScalarType.Float32 => 0,
                    ScalarType.Int64 => 1,
                    _ => throw new GestaltLabException($"{path}: tensor '{name}' has type {cpu.dtype}; only float32 and int64 are stored"),
                };
                w.Write(dtype);
                w.Write((uint)cpu.shape.Length);
                foreach (long d in cpu.shape) w.Write(d);
                if (dtype == 0) w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()));
                else w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()));
            }
        }, ownerOnly);
    }

    /// <summary>Reads a file: its metadata and tensors (on CPU). The caller disposes the tensors.</summary>
    /// <param name="path">The file.</param>
    /// <param name="damagedFix">What to do when the file is cut short or holds NaN: how to write it again (default: the
    /// training step that wrote it, as for the nets and checkpoints; a gallery is written again by its own command).</param>
    /// <exception cref="GestaltLabException">The file is missing, truncated or not a GestaltLab weights file.</exception>
    public static (string Metadata, Dictionary<string, Tensor> Tensors) Load(string path, string? damagedFix = null)
    {
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: weights file not found");
        TorchRuntime.EnsureLoaded();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            string meta = ReadHeader(r, path);
            uint count = r.ReadUInt32();
            for (int i = 0; i < count; i++)
            {
                string name = ReadString(r);
                byte dtype = r.ReadByte();
                uint rank = r.ReadUInt32();
                if (rank > 8) throw new GestaltLabException($"{path}: tensor '{name}' has rank {rank}: file is corrupt");
                var dims = new long[rank];
                long n = 1;
                for (int k = 0; k < rank; k++)
                {
                    // Each dimension bounded before it multiplies: crafted ones could wrap the product round to a small
                    // count (2^32 × 2^32) or make it positive from negatives, and libtorch then fails natively.
                    dims[k] = r.ReadInt64();
                    if (dims[k] is < 0 or > int.MaxValue) throw new GestaltLabException($"{path}: tensor '{name}' has dimension {dims[k]}: file is corrupt");
                    n *= dims[k];
                    if (n > int.MaxValue / 8) throw new GestaltLabException($"{path}: tensor '{name}' has more than {int.MaxValue / 8} elements: file is corrupt");
                }
                int bytes = checked((int)n * (dtype == 0 ? 4 : 8));
                // Not more than the file holds: a crafted size would otherwise allocate gigabytes before the end is found.
                if (bytes > r.BaseStream.Length - r.BaseStream.Position) throw new EndOfStreamException();
                byte[] raw = r.ReadBytes(bytes);
                if (raw.Length != bytes) throw new EndOfStreamException();
                if (dtype == 0) RefuseNonFinite(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw), path, name, damagedFix);
                result[name] = dtype switch
                {
                    0 => torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).ToArray(), dims),
                    1 => torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(raw).ToArray(), dims),
                    _ => throw new GestaltLabException($"{path}: tensor '{name}' has unknown type code {dtype}"),
                };
            }
            return (meta, result);
        }
        catch (Exception e)
        {
            // Whatever stops the read (a truncated file, a corrupt size), the tensors read so far are native memory.
            foreach (var t in result.Values) t.Dispose();
            if (e is EndOfStreamException)
                throw new GestaltLabException($"{path}: weights file is truncated", damagedFix ?? TruncatedFix);
            throw;
        }
    }

    /// <summary>Reads only a file's metadata (its JSON header), without its tensors.</summary>
    /// <exception cref="GestaltLabException">The file is missing, truncated or not a GestaltLab weights file.</exception>
    public static string ReadMetadata(string path)
    {
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: weights file not found");
        try
        {
            using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            return ReadHeader(r, path);
        }
        catch (EndOfStreamException)
        {
            throw new GestaltLabException($"{path}: weights file is truncated", TruncatedFix);
        }
    }

    private const string TruncatedFix = "re-run the training step that wrote it (checkpoints resume)";

    // A NaN weight makes every prediction of the net NaN, and a NaN in a checkpoint's optimiser state every weight after
    // the next step: such a file is refused where it is read, naming it, rather than ranking syndromes by NaN. Training
    // no longer writes one (it stops at a non-finite loss or gradient), but a gray net trained before that check could
    // hold them (docs/learning.md, "Gray nets and NaN gradients"), as could a damaged file.
    private static void RefuseNonFinite(ReadOnlySpan<float> values, string path, string name, string? fix)
    {
        int bad = 0;
        foreach (float v in values) if (!float.IsFinite(v)) bad++;
        if (bad > 0)
            throw new GestaltLabException(
                FormattableString.Invariant($"{path}: tensor '{name}' holds {bad:N0} NaN or infinite value{(bad == 1 ? "" : "s")} of {values.Length:N0}; a net cannot predict with them"),
                fix ?? "train the net again (gestaltlab train --force, or delete the file); training now stops with an error where a loss or gradient turns NaN");
    }

    private static string ReadHeader(BinaryReader r, string path)
    {
        if (!r.ReadBytes(4).AsSpan().SequenceEqual(Magic))
            throw new GestaltLabException($"{path}: not a GestaltLab weights file (bad magic)", "pass a .pt file written by gestaltlab train or pretrain");
        uint version = r.ReadUInt32();
        if (version != 1) throw new GestaltLabException($"{path}: weights file version {version} is not supported (expected 1)");
        return ReadString(r);
    }

    /// <summary>Copies tensors into a module's parameters and buffers by name.</summary>
    /// <param name="module">Target.</param>
    /// <param name="tensors">Source tensors by name.</param>
    /// <param name="source">Names the file in errors.</param>
    /// <param name="skip">Names to leave untouched (e.g. the classifier head when fine-tuning).</param>
    /// <param name="allowMissing">When false, every non-skipped name of the module must be present.</param>
    public static void CopyInto(nn.Module module, IReadOnlyDictionary<string, Tensor> tensors, string source, Func<string, bool>? skip = null, bool allowMissing = false)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, target) in module.state_dict())
        {
            if (skip?.Invoke(name) == true) continue;
            if (!tensors.TryGetValue(name, out var t))
            {
                if (allowMissing) continue;
                throw new GestaltLabException($"{source}: no tensor '{name}' (the file was written for another architecture)");
            }
            if (!t.shape.SequenceEqual(target.shape))
                throw new GestaltLabException($"{source}: tensor '{name}' has shape [{string.Join(",", t.shape)}], the net expects [{string.Join(",", target.shape)}]",
                    "use a file written for the same net config (input size, channels, width, stages)");
            target.copy_(t);
        }
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        w.Write((uint)b.Length);
        w.Write(b);
    }

    private static string ReadString(BinaryReader r)
    {
        uint n = r.ReadUInt32();
        if (n > 64 << 20) throw new EndOfStreamException();
        var b = r.ReadBytes((int)n);
        if (b.Length != n) throw new EndOfStreamException();
        return Encoding.UTF8.GetString(b);
    }
}
