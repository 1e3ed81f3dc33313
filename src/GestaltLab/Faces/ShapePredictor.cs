using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Faces;

/// <summary>
/// dlib's <c>shape_predictor</c> (an ensemble of regression trees, Kazemi &amp; Sullivan 2014) read from dlib's own
/// <c>.dat</c> files and run in pure C#, reproducing dlib 19.24 exactly: same float arithmetic, same nearest-pixel
/// sampling with <c>floor(x+0.5)</c>, same <c>(R+G+B)/3</c> intensity, same integer output points. Immutable after
/// loading, so one instance (≈ 70 MB for the 68-point model) is shared by all threads.
/// </summary>
/// <remarks>File format and algorithm: <c>docs/faces.md</c>. The 68-point model is Debian <c>libdlib-data</c>'s
/// <c>shape_predictor_68_face_landmarks.dat</c> (trained on iBUG 300-W: non-commercial use only).</remarks>
public sealed class ShapePredictor
{
    private readonly float[] _initialShape;   // x0,y0,x1,y1,… in unit-box coordinates
    private readonly Cascade[] _cascades;
    private readonly int _splitsPerTree;       // complete trees: 2^depth − 1 splits, 2^depth leaves
    private readonly int _maxFeatures;

    private sealed class Cascade
    {
        public required int[] Anchors;         // landmark index per feature pixel
        public required float[] Deltas;        // dx,dy per feature pixel (unit-box coordinates)
        public required int[] Splits;          // per tree, per split: idx1 | idx2 << 16
        public required float[] Thresholds;    // per tree, per split
        public required float[] Leaves;        // per tree, per leaf: LandmarkCount*2 floats
        public required int TreeCount;
    }

    private ShapePredictor(string source, float[] initialShape, Cascade[] cascades, int splitsPerTree)
    {
        Source = source;
        _initialShape = initialShape;
        _cascades = cascades;
        _splitsPerTree = splitsPerTree;
        _maxFeatures = cascades.Length == 0 ? 0 : cascades.Max(c => c.Anchors.Length);
    }

    /// <summary>Where the model was read from.</summary>
    public string Source { get; }
    /// <summary>Number of landmarks the model predicts (68 for the iBUG model).</summary>
    public int LandmarkCount => _initialShape.Length / 2;
    /// <summary>Number of cascade stages (15 for the 68-point model).</summary>
    public int CascadeCount => _cascades.Length;
    /// <summary>Trees per cascade stage (500 for the 68-point model).</summary>
    public int TreesPerCascade => _cascades.Length == 0 ? 0 : _cascades[0].TreeCount;
    /// <summary>Depth of every tree (4 for the 68-point model).</summary>
    public int TreeDepth => BitOperations.Log2((uint)_splitsPerTree + 1);
    /// <summary>Feature pixels sampled per cascade stage (500 for the 68-point model).</summary>
    public int FeaturesPerCascade => _maxFeatures;

    /// <summary>The model's mean shape in unit-box coordinates (box left/top = 0, right/bottom = 1).</summary>
    public FaceLandmarks MeanShape => FaceLandmarks.FromInterleaved(_initialShape);

    private static readonly ConcurrentDictionary<string, Lazy<ShapePredictor>> Shared = new();

    /// <summary>
    /// The model at <paramref name="path"/> (or the system's 68-point model, see <see cref="SystemResources.DlibModelPath"/>),
    /// loaded once per process and shared: loading the 100 MB file takes a fraction of a second, but it need not happen twice.
    /// </summary>
    /// <exception cref="GestaltLabException">No model installed, file missing, or not a valid shape_predictor file.</exception>
    public static ShapePredictor LoadShared(string? path = null)
    {
        string resolved = SystemResources.DlibModelPath(path) ?? throw new GestaltLabException(
            $"dlib's 68-point landmark model ({SystemResources.DlibModelFileName}) was not found",
            $"install Debian package libdlib-data (`bash environment/setup.sh`), set {SystemResources.DlibModelVariable}, or pass --model PATH");
        string key = Path.GetFullPath(resolved);
        var lazy = Shared.GetOrAdd(key, k => new Lazy<ShapePredictor>(() => Load(k), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Shared.TryRemove(new KeyValuePair<string, Lazy<ShapePredictor>>(key, lazy));
            throw;
        }
    }

    /// <summary>Reads a dlib shape_predictor file.</summary>
    /// <exception cref="GestaltLabException">The file is missing, compressed, truncated, of another kind or version, or inconsistent.</exception>
    public static ShapePredictor Load(string path)
    {
        // A run folder given where the landmark model goes (`align --model RUN`): --model names a run on other commands.
        if (Directory.Exists(path))
            throw new GestaltLabException($"{path}: is a folder, not dlib's landmark model file",
                "pass the path of shape_predictor_68_face_landmarks.dat (`--landmark-model`; a trained run's folder goes to predict, evaluate, match or report)");
        if (!File.Exists(path))
            throw new GestaltLabException($"{path}: landmark model file not found",
                "install Debian package libdlib-data or pass the path of shape_predictor_68_face_landmarks.dat");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GestaltLabException($"{path}: cannot read the landmark model: {e.Message}", "check the file's permissions", e);
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses a dlib shape_predictor stream held in memory; <paramref name="source"/> names it in errors.</summary>
    public static ShapePredictor Parse(ReadOnlySpan<byte> data, string source)
    {
        if (data.Length >= 3 && data[0] == 'B' && data[1] == 'Z' && data[2] == 'h')
            throw new GestaltLabException($"{source}: the file is still bzip2-compressed",
                $"decompress it first: bunzip2 -k \"{source}\" (dlib's download is shape_predictor_68_face_landmarks.dat.bz2)");
        if (data.Length >= 2 && data[0] == 0x1F && data[1] == 0x8B)
            throw new GestaltLabException($"{source}: the file is gzip-compressed, not a raw dlib model", $"decompress it first: gunzip -k \"{source}\"");
        if (data.Length == 0)
            throw new GestaltLabException($"{source}: the file is empty", "copy the model file again");
        if (data[0] != 0x01)
            throw new GestaltLabException($"{source}: not a dlib shape_predictor file (it starts with bytes {Convert.ToHexString(data[..Math.Min(8, data.Length)])}, expected 01 01)",
                "pass a dlib shape_predictor .dat file such as Debian libdlib-data's shape_predictor_68_face_landmarks.dat");

        var r = new DlibReader(data, source);
        long version = r.ReadInt64();
        if (version != 1)
            throw new GestaltLabException($"{source}: unsupported shape_predictor version {version} (GestaltLab reads version 1, as written by dlib 19.x)",
                "use a model file written by dlib 19.x");

        float[] initial = r.ReadFloatColumn("initial_shape");
        if (initial.Length == 0 || initial.Length % 2 != 0) throw r.Error($"initial_shape has {initial.Length} values, expected 2 per landmark");
        int landmarks = initial.Length / 2;
        int dims = initial.Length;

        int cascadeCount = r.ReadCount("cascade");
        var treeCounts = new int[cascadeCount];
        var splits = new int[cascadeCount][];
        var thresholds = new float[cascadeCount][];
        var leaves = new float[cascadeCount][];
        int splitsPerTree = -1;
        for (int c = 0; c < cascadeCount; c++)
        {
            int trees = r.ReadCount("tree");
            treeCounts[c] = trees;
            for (int t = 0; t < trees; t++)
            {
                int nSplits = r.ReadCount("split");
                if (splitsPerTree < 0)
                {
                    if (!BitOperations.IsPow2(nSplits + 1)) throw r.Error($"tree has {nSplits} splits; dlib trees are complete (2^depth − 1 splits)");
                    splitsPerTree = nSplits;
                }
                else if (nSplits != splitsPerTree)
                    throw r.Error($"tree {t} of cascade {c} has {nSplits} splits, the first tree has {splitsPerTree}");
                if (t == 0)
                {
                    splits[c] = new int[trees * splitsPerTree];
                    thresholds[c] = new float[trees * splitsPerTree];
                    leaves[c] = new float[checked(trees * (splitsPerTree + 1) * dims)];
                }
                int sBase = t * splitsPerTree;
                for (int s = 0; s < nSplits; s++)
                {
                    ulong i1 = r.ReadUInt64(), i2 = r.ReadUInt64();
                    if (i1 > ushort.MaxValue || i2 > ushort.MaxValue) throw r.Error($"split feature index {Math.Max(i1, i2)} is out of range");
                    splits[c][sBase + s] = (int)i1 | ((int)i2 << 16);
                    thresholds[c][sBase + s] = r.ReadFloat();
                }
                int nLeaves = r.ReadCount("leaf");
                if (nLeaves != splitsPerTree + 1) throw r.Error($"tree has {nLeaves} leaves for {splitsPerTree} splits, expected {splitsPerTree + 1}");
                var treeLeaves = leaves[c].AsSpan(t * nLeaves * dims, nLeaves * dims);
                for (int l = 0; l < nLeaves; l++) r.ReadFloatColumnInto(treeLeaves.Slice(l * dims, dims), "leaf value");
            }
        }

        int anchorCascades = r.ReadCount("anchor list");
        if (anchorCascades != cascadeCount) throw r.Error($"{anchorCascades} anchor lists for {cascadeCount} cascades");
        var anchors = new int[cascadeCount][];
        for (int c = 0; c < cascadeCount; c++)
        {
            int n = r.ReadCount("anchor");
            anchors[c] = new int[n];
            for (int k = 0; k < n; k++)
            {
                ulong a = r.ReadUInt64();
                if (a >= (ulong)landmarks) throw r.Error($"anchor landmark {a} of cascade {c} is not below the landmark count {landmarks}");
                anchors[c][k] = (int)a;
            }
        }
        int deltaCascades = r.ReadCount("delta list");
        if (deltaCascades != cascadeCount) throw r.Error($"{deltaCascades} delta lists for {cascadeCount} cascades");
        var deltas = new float[cascadeCount][];
        for (int c = 0; c < cascadeCount; c++)
        {
            int n = r.ReadCount("delta");
            if (n != anchors[c].Length) throw r.Error($"cascade {c} has {n} pixel deltas but {anchors[c].Length} anchors");
            deltas[c] = new float[2 * n];
            for (int k = 0; k < 2 * n; k++) deltas[c][k] = r.ReadFloat();
        }
        if (r.Remaining != 0) throw r.Error($"{r.Remaining} unexpected bytes after the model");

        var cascades = new Cascade[cascadeCount];
        for (int c = 0; c < cascadeCount; c++)
        {
            int features = anchors[c].Length;
            foreach (int packed in splits[c] ?? [])
                if ((packed & 0xFFFF) >= features || (packed >> 16) >= features)
                    throw new GestaltLabException($"{source}: a split of cascade {c} uses a feature pixel beyond its {features} pixels",
                        "the model file is damaged: copy it again");
            cascades[c] = new Cascade
            {
                Anchors = anchors[c], Deltas = deltas[c], TreeCount = treeCounts[c],
                Splits = splits[c] ?? [], Thresholds = thresholds[c] ?? [], Leaves = leaves[c] ?? [],
            };
        }
        return new ShapePredictor(source, initial, cascades, Math.Max(splitsPerTree, 0));
    }

    /// <summary>Predicts the landmarks of the face in <paramref name="box"/>, exactly as dlib's <c>sp(img, rect)</c>.</summary>
    public FaceLandmarks Predict(RgbImage image, FaceBox box)
    {
        Span<float> shape = stackalloc float[_initialShape.Length];
        PredictUnit(image.Pixels, image.Width, image.Height, 3, box, shape);
        return ToImagePoints(shape, box);
    }

    /// <summary>Predicts on an 8-bit gray plane (row-major, no padding): the value is the intensity, as in dlib.</summary>
    public FaceLandmarks PredictGray(ReadOnlySpan<byte> gray, int width, int height, FaceBox box)
    {
        if (gray.Length < width * height) throw new ArgumentException("gray plane is smaller than width × height");
        Span<float> shape = stackalloc float[_initialShape.Length];
        PredictUnit(gray, width, height, 1, box, shape);
        return ToImagePoints(shape, box);
    }

    private static FaceLandmarks ToImagePoints(ReadOnlySpan<float> shape, FaceBox box)
    {
        double l = box.Left, t = box.Top, w = box.Right - box.Left, h = box.Bottom - box.Top;
        var pts = new Vector2[shape.Length / 2];
        for (int j = 0; j < pts.Length; j++)
            pts[j] = new Vector2((float)Math.Floor(l + w * shape[2 * j] + 0.5), (float)Math.Floor(t + h * shape[2 * j + 1] + 0.5));
        return new FaceLandmarks(pts);
    }

    /// <summary>Runs the cascade and leaves the final shape in unit-box coordinates in <paramref name="shape"/>.</summary>
    internal void PredictUnit(ReadOnlySpan<byte> pixels, int width, int height, int channels, FaceBox box, Span<float> shape)
    {
        _initialShape.CopyTo(shape);
        Span<float> features = stackalloc float[_maxFeatures];
        int dims = _initialShape.Length;
        int leavesPerTree = _splitsPerTree + 1;
        double left = box.Left, top = box.Top, bw = box.Right - box.Left, bh = box.Bottom - box.Top;
        ref byte px = ref MemoryMarshal.GetReference(pixels);

        foreach (var cascade in _cascades)
        {
            Similarity(_initialShape, shape, out float m00, out float m01, out float m10, out float m11);
            int[] anchors = cascade.Anchors;
            float[] deltas = cascade.Deltas;
            for (int k = 0; k < anchors.Length; k++)
            {
                int a = anchors[k];
                float dx = deltas[2 * k], dy = deltas[2 * k + 1];
                // float, in dlib's order: (M·δ) + anchor
                float u = m00 * dx + m01 * dy + shape[2 * a];
                float v = m10 * dx + m11 * dy + shape[2 * a + 1];
                double fx = Math.Floor(left + bw * u + 0.5), fy = Math.Floor(top + bh * v + 0.5);
                float value = 0;
                if (fx >= 0 && fy >= 0 && fx < width && fy < height)
                {
                    int o = ((int)fy * width + (int)fx) * channels;
                    value = channels == 3
                        ? (Unsafe.Add(ref px, o) + Unsafe.Add(ref px, o + 1) + Unsafe.Add(ref px, o + 2)) / 3
                        : Unsafe.Add(ref px, o);
                }
                features[k] = value;
            }

            int[] splits = cascade.Splits;
            float[] thresholds = cascade.Thresholds;
            float[] leaves = cascade.Leaves;
            int nSplits = _splitsPerTree;
            for (int t = 0, sBase = 0; t < cascade.TreeCount; t++, sBase += nSplits)
            {
                int i = 0;
                while (i < nSplits)
                {
                    int packed = splits[sBase + i];
                    i = features[packed & 0xFFFF] - features[packed >>> 16] > thresholds[sBase + i] ? 2 * i + 1 : 2 * i + 2;
                }
                AddInPlace(shape, leaves.AsSpan((t * leavesPerTree + i - nSplits) * dims, dims));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddInPlace(Span<float> acc, ReadOnlySpan<float> add)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float a = ref MemoryMarshal.GetReference(acc);
            ref float b = ref MemoryMarshal.GetReference(add);
            for (; i <= acc.Length - Vector256<float>.Count; i += Vector256<float>.Count)
                (Vector256.LoadUnsafe(ref a, (nuint)i) + Vector256.LoadUnsafe(ref b, (nuint)i)).StoreUnsafe(ref a, (nuint)i);
        }
        for (; i < acc.Length; i++) acc[i] += add[i];
    }

    /// <summary>
    /// 2×2 part of dlib's <c>find_tform_between_shapes(from, to)</c>: the least-squares similarity (Umeyama) in double,
    /// rounded to float as dlib's <c>matrix_cast&lt;float&gt;</c> does. Identity for a single landmark.
    /// </summary>
    private static void Similarity(ReadOnlySpan<float> from, ReadOnlySpan<float> to, out float m00, out float m01, out float m10, out float m11)
    {
        int n = from.Length / 2;
        if (n == 1) { m00 = 1; m01 = 0; m10 = 0; m11 = 1; return; }
        double fmx = 0, fmy = 0, tmx = 0, tmy = 0;
        for (int i = 0; i < n; i++)
        {
            fmx += from[2 * i]; fmy += from[2 * i + 1];
            tmx += to[2 * i]; tmy += to[2 * i + 1];
        }
        fmx /= n; fmy /= n; tmx /= n; tmy /= n;
        double ss = 0, sa = 0, sb = 0;
        for (int i = 0; i < n; i++)
        {
            double fx = from[2 * i] - fmx, fy = from[2 * i + 1] - fmy;
            double tx = to[2 * i] - tmx, ty = to[2 * i + 1] - tmy;
            ss += fx * fx + fy * fy;
            sa += fx * tx + fy * ty;
            sb += fx * ty - fy * tx;
        }
        double a = sa / ss, b = sb / ss;
        m00 = (float)a; m01 = (float)-b; m10 = (float)b; m11 = (float)a;
    }
}
