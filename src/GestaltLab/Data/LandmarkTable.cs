using System.Globalization;
using System.Numerics;
using GestaltLab.Runtime;

namespace GestaltLab.Data;

/// <summary>
/// Ground-truth (or predicted) landmarks per image: <c>landmarks.csv</c> with columns <c>image,x0,y0,…,x67,y67</c>,
/// pixel coordinates of the image as stored, in iBUG 300-W order for 68 points. <c>image</c> matches the manifest's
/// <c>image</c> column. The synthetic generator writes it beside <c>manifest.csv</c>.
/// </summary>
public sealed class LandmarkTable
{
    /// <summary>File name inside a data folder.</summary>
    public const string FileName = "landmarks.csv";

    private readonly Dictionary<string, Vector2[]> _points = new(StringComparer.Ordinal);
    private readonly List<string> _order = new();

    /// <summary>An empty table of <paramref name="pointCount"/> points per image.</summary>
    public LandmarkTable(int pointCount = 68)
    {
        if (pointCount <= 0) throw new ArgumentOutOfRangeException(nameof(pointCount));
        PointCount = pointCount;
    }

    /// <summary>Points per image.</summary>
    public int PointCount { get; }
    /// <summary>Number of images.</summary>
    public int Count => _order.Count;
    /// <summary>Images in insertion (file) order.</summary>
    public IReadOnlyList<string> Images => _order;

    /// <summary>The points of an image (throws a clear error when absent).</summary>
    public Vector2[] this[string image] => _points.TryGetValue(image, out var p) ? p
        : throw new GestaltLabException($"no landmarks for image '{image}'");

    /// <summary>Looks up an image's points.</summary>
    public bool TryGet(string image, out Vector2[] points) => _points.TryGetValue(image, out points!);

    /// <summary>Adds (or replaces) an image's points.</summary>
    public void Set(string image, Vector2[] points)
    {
        if (points.Length != PointCount) throw new ArgumentException($"'{image}': {points.Length} points, table holds {PointCount}");
        if (!_points.ContainsKey(image)) _order.Add(image);
        _points[image] = points;
    }

    /// <summary>Writes the table atomically; coordinates with 3 decimals (invariant culture), so output is byte-stable.</summary>
    public void Save(string path)
    {
        var header = new List<string>(1 + 2 * PointCount) { "image" };
        for (int i = 0; i < PointCount; i++) { header.Add($"x{i}"); header.Add($"y{i}"); }
        Csv.Write(path, header, _order.Select(img =>
        {
            var row = new List<string>(header.Count) { img };
            foreach (var p in _points[img]) { row.Add(Csv.Format(p.X, 3)); row.Add(Csv.Format(p.Y, 3)); }
            return (IReadOnlyList<string>)row;
        }));
    }

    /// <summary>Reads <c>landmarks.csv</c> (or the folder holding it). Errors name the file and line.</summary>
    public static LandmarkTable Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        var t = Csv.Read(file);
        int image = t.Column("image");
        int n = 0;
        while (t.Has($"x{n}") && t.Has($"y{n}")) n++;
        if (n == 0) throw new GestaltLabException($"{file}: no landmark columns (expected image,x0,y0,x1,y1,…)");
        var xs = Enumerable.Range(0, n).Select(i => t.Column($"x{i}")).ToArray();
        var ys = Enumerable.Range(0, n).Select(i => t.Column($"y{i}")).ToArray();
        var table = new LandmarkTable(n);
        for (int r = 0; r < t.Rows.Count; r++)
        {
            var f = t.Rows[r];
            string name = f[image].Trim();
            if (name.Length == 0) throw new GestaltLabException($"{file}: line {t.LineOf(r)}: empty 'image'");
            if (table._points.ContainsKey(name)) throw new GestaltLabException($"{file}: line {t.LineOf(r)}: image '{name}' is listed twice");
            var pts = new Vector2[n];
            for (int i = 0; i < n; i++)
            {
                if (!float.TryParse(f[xs[i]], NumberStyles.Float, CultureInfo.InvariantCulture, out float x) ||
                    !float.TryParse(f[ys[i]], NumberStyles.Float, CultureInfo.InvariantCulture, out float y))
                    throw new GestaltLabException($"{file}: line {t.LineOf(r)}: point {i} of '{name}' is not a number ('{f[xs[i]]}', '{f[ys[i]]}')");
                pts[i] = new Vector2(x, y);
            }
            table.Set(name, pts);
        }
        return table;
    }
}
