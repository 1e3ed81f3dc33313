using System.Numerics;
using System.Text.Json;
using GestaltLab.Runtime;

namespace GestaltLab.Faces;

/// <summary>
/// The canonical 68-point face every photo is aligned to, in unit coordinates of the aligned image ((0,0) top-left,
/// (1,1) bottom-right), the landmarks the alignment is fitted on, and the left/right landmark pairs (for flips).
/// The default (<c>data/faces/template68.json</c>, embedded) is the symmetrised mean shape of dlib's 68-point model,
/// placed so the forehead fits above the brows.
/// </summary>
public sealed class FaceTemplate
{
    private FaceTemplate(Vector2[] points, int[] alignmentPoints, (int, int)[] mirrorPairs, string source)
    {
        Points = points;
        AlignmentPoints = alignmentPoints;
        MirrorPairs = mirrorPairs;
        Source = source;
    }

    /// <summary>68 points in unit coordinates.</summary>
    public IReadOnlyList<Vector2> Points { get; }
    /// <summary>Landmark indices the similarity transform is fitted on (nose and eyes by default: the most stable).</summary>
    public IReadOnlyList<int> AlignmentPoints { get; }
    /// <summary>iBUG index pairs that swap under a horizontal flip.</summary>
    public IReadOnlyList<(int Left, int Right)> MirrorPairs { get; }
    /// <summary>Where the template came from.</summary>
    public string Source { get; }

    private static readonly Lazy<FaceTemplate> DefaultLazy = new(() =>
    {
        using var s = typeof(FaceTemplate).Assembly.GetManifestResourceStream("GestaltLab.data.faces.template68.json")
            ?? throw new GestaltLabException("the embedded face template is missing from GestaltLab.dll", "rebuild the library");
        using var reader = new StreamReader(s);
        return Parse(reader.ReadToEnd(), "data/faces/template68.json (embedded)");
    });

    /// <summary>The shipped template.</summary>
    public static FaceTemplate Default => DefaultLazy.Value;

    /// <summary>Reads a template JSON file (same schema as <c>data/faces/template68.json</c>).</summary>
    public static FaceTemplate Load(string path)
    {
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: face template not found", "check the path");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses template JSON; <paramref name="source"/> names it in errors.</summary>
    public static FaceTemplate Parse(string json, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var pts = root.GetProperty("points").EnumerateArray()
                .Select(p => new Vector2(p[0].GetSingle(), p[1].GetSingle())).ToArray();
            if (pts.Length != 68) throw new GestaltLabException($"{source}: the template has {pts.Length} points, expected 68");
            int[] align = root.TryGetProperty("alignment_points", out var a) ? a.EnumerateArray().Select(e => e.GetInt32()).ToArray() : Enumerable.Range(0, 68).ToArray();
            if (align.Length < 2 || align.Any(i => i is < 0 or >= 68)) throw new GestaltLabException($"{source}: alignment_points must list at least 2 indices in 0–67");
            var pairs = root.TryGetProperty("mirror_pairs", out var m)
                ? m.EnumerateArray().Select(p => (p[0].GetInt32(), p[1].GetInt32())).ToArray() : [];
            return new FaceTemplate(pts, align, pairs, source);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException or FormatException)
        {
            throw new GestaltLabException($"{source}: invalid face template JSON: {e.Message}", "compare it with data/faces/template68.json", e);
        }
    }

    /// <summary>Index of the landmark that takes landmark <paramref name="i"/>'s place under a horizontal flip.</summary>
    public int MirrorOf(int i)
    {
        foreach (var (l, r) in MirrorPairs)
        {
            if (l == i) return r;
            if (r == i) return l;
        }
        return i;
    }
}
