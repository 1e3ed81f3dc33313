using System.Text.Json;
using GestaltLab.Runtime;

namespace GestaltLab.Regions;

/// <summary>
/// An ordered set of <see cref="FacialRegion"/>s read from JSON (schema: <c>data/regions/regions.json</c>, which is
/// embedded as <see cref="Default"/>). Left/right pairs are named by each region's <c>mirror</c>, which
/// <see cref="MirrorOf"/> exposes for flip augmentation.
/// </summary>
public sealed class RegionSet
{
    private readonly Dictionary<string, FacialRegion> _byName;

    /// <summary>A set from regions (validated: unique names, landmarks in 0–67, mirrors present and reciprocal).</summary>
    public RegionSet(IReadOnlyList<FacialRegion> regions, string source = "code")
    {
        Source = source;
        Regions = regions.ToArray();   // a copy: the caller's list changing later must not disagree with the lookup below
        _byName = new Dictionary<string, FacialRegion>(StringComparer.Ordinal);
        foreach (var r in regions)
        {
            if (string.IsNullOrWhiteSpace(r.Name)) throw new GestaltLabException($"{source}: a region has no name");
            // A name becomes a folder and file name (regions/NAME/, checkpoints/NAME/, NAME.pt), and a region set comes
            // with shared runs: "../x" or "/tmp/x" would write patients' face crops outside the output folder.
            if (!r.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') || r.Name.Length > 64)
                throw new GestaltLabException($"{source}: region name '{r.Name}' must be 1–64 letters, digits, '_' or '-' (it names folders and files)");
            if (!_byName.TryAdd(r.Name, r)) throw new GestaltLabException($"{source}: region '{r.Name}' is defined twice");
            if (r.Landmarks.Count == 0 || r.Landmarks.Any(i => i is < 0 or > 67))
                throw new GestaltLabException($"{source}: region '{r.Name}' needs landmark indices in 0–67");
            if (r.Size is < 8 or > 1024) throw new GestaltLabException($"{source}: region '{r.Name}' has crop size {r.Size}, expected 8–1024");
        }
        foreach (var r in regions)
        {
            if (!_byName.TryGetValue(r.Mirror, out var m))
                throw new GestaltLabException($"{source}: region '{r.Name}' names mirror '{r.Mirror}', which is not defined");
            if (m.Mirror != r.Name)
                throw new GestaltLabException($"{source}: region '{r.Name}' mirrors '{r.Mirror}', but '{r.Mirror}' mirrors '{m.Mirror}'");
        }
    }

    /// <summary>Where the set came from.</summary>
    public string Source { get; }
    /// <summary>The regions in file order.</summary>
    public IReadOnlyList<FacialRegion> Regions { get; }
    /// <summary>Region names in order.</summary>
    public IReadOnlyList<string> Names => Regions.Select(r => r.Name).ToList();
    /// <summary>A region by name.</summary>
    public FacialRegion this[string name] => _byName.TryGetValue(name, out var r) ? r
        : throw new GestaltLabException($"no region '{name}' in {Source} (regions: {string.Join(", ", _byName.Keys)})", "name one of these regions (in a training config's \"regions\", for one)");

    /// <summary>The region that replaces <paramref name="name"/> when the face is flipped horizontally.</summary>
    public string MirrorOf(string name) => this[name].Mirror;

    /// <summary>The same regions with every crop resized to <paramref name="size"/> pixels.</summary>
    public RegionSet WithSize(int size) => new(Regions.Select(r => r with { Size = size }).ToList(), $"{Source} (size {size})");

    /// <summary>Only the named regions (in the given order).</summary>
    public RegionSet Only(params string[] names) => new(names.Select(n => this[n]).Select(r => names.Contains(r.Mirror) ? r : r with { Mirror = r.Name }).ToList(), Source);

    private static readonly Lazy<RegionSet> DefaultLazy = new(() =>
    {
        using var s = typeof(RegionSet).Assembly.GetManifestResourceStream("GestaltLab.data.regions.regions.json")
            ?? throw new GestaltLabException("the embedded region set is missing from GestaltLab.dll", "rebuild the library");
        using var reader = new StreamReader(s);
        return Parse(reader.ReadToEnd(), "data/regions/regions.json (embedded)");
    });

    /// <summary>The shipped seven regions: face, upper_face, periorbital_left/right, nose, mouth_philtrum, lower_face.</summary>
    public static RegionSet Default => DefaultLazy.Value;

    /// <summary>The set as JSON in the <c>regions.json</c> schema (landmarks as explicit index lists).</summary>
    public string ToJson()
    {
        var regions = new System.Text.Json.Nodes.JsonArray();
        foreach (var r in Regions)
            regions.Add(new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = r.Name,
                ["landmarks"] = new System.Text.Json.Nodes.JsonArray(r.Landmarks.Select(i => (System.Text.Json.Nodes.JsonNode?)i).ToArray()),
                ["padding"] = new System.Text.Json.Nodes.JsonArray(r.PadLeft, r.PadTop, r.PadRight, r.PadBottom),
                ["size"] = r.Size,
                ["mirror"] = r.Mirror,
            });
        var root = new System.Text.Json.Nodes.JsonObject { ["description"] = $"GestaltLab region set (from {Source})", ["version"] = 1, ["regions"] = regions };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Reads a region set from a JSON file.</summary>
    public static RegionSet Load(string path)
    {
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: region set file not found", "check the path, or use the default set");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses region JSON; <paramref name="source"/> names it in errors.</summary>
    public static RegionSet Parse(string json, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var list = new List<FacialRegion>();
            foreach (var e in doc.RootElement.GetProperty("regions").EnumerateArray())
            {
                string name = e.GetProperty("name").GetString() ?? "";
                var idx = new List<int>();
                foreach (var item in e.GetProperty("landmarks").EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Number) { idx.Add(item.GetInt32()); continue; }
                    string s = item.GetString() ?? "";
                    var parts = s.Split('-');
                    if (parts.Length == 1) idx.Add(int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture));
                    else if (parts.Length == 2)
                    {
                        int from = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), to = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                        // Checked before expanding: "0-2147483647" would otherwise run out of memory first.
                        if (from is < 0 or > 67 || to is < 0 or > 67) throw new FormatException($"landmark range '{s}' in region '{name}' is outside 0–67");
                        for (int i = from; i <= to; i++) idx.Add(i);
                    }
                    else throw new FormatException($"bad landmark range '{s}' in region '{name}'");
                }
                var pad = e.TryGetProperty("padding", out var p) ? p.EnumerateArray().Select(x => x.GetDouble()).ToArray() : [0.0, 0, 0, 0];
                if (pad.Length != 4) throw new FormatException($"region '{name}': padding needs 4 numbers [left, top, right, bottom]");
                int size = e.TryGetProperty("size", out var sz) ? sz.GetInt32() : 96;
                string mirror = e.TryGetProperty("mirror", out var m) ? m.GetString() ?? name : name;
                list.Add(new FacialRegion(name, idx.Distinct().Order().ToArray(), pad[0], pad[1], pad[2], pad[3], size, mirror));
            }
            if (list.Count == 0) throw new FormatException("no regions defined");
            return new RegionSet(list, source);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new GestaltLabException($"{source}: invalid region set: {e.Message}", "compare it with data/regions/regions.json", e);
        }
    }
}
