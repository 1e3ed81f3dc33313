using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GestaltLab.Runtime;

namespace GestaltLab.Synthetic;

/// <summary>
/// The synthetic syndrome catalog: named teaching analogues, generated syndromes and the unaffected controls, stored as
/// editable JSON (<c>data/synthetic/catalog.json</c>, schema <c>data/synthetic/catalog.schema.json</c>). The shipped
/// catalog is <see cref="Default"/>; it is exactly what <see cref="Generate"/> produces with the default arguments, so it
/// can always be rebuilt. Users add their own syndromes by editing a copy and passing it with <c>--catalog</c>.
/// </summary>
public sealed partial class SyndromeCatalog
{
    /// <summary>Id of the unaffected control class.</summary>
    public const string ControlId = Data.Manifest.Unaffected;
    /// <summary>Format version written to and accepted from JSON.</summary>
    public const int FormatVersion = 1;
    /// <summary>Disclaimer carried by every catalog.</summary>
    public const string Disclaimer = "Synthetic analogues for teaching and benchmarking. Trait shifts echo textbook descriptions; they are not diagnostic criteria and no entry is a diagnosis.";

    private readonly Dictionary<string, Syndrome> _byId;

    /// <summary>Creates a catalog; validates ids, traits and numbers.</summary>
    public SyndromeCatalog(string name, IEnumerable<Syndrome> syndromes, string source = "catalog")
    {
        Name = name;
        Syndromes = syndromes.ToList();
        _byId = new Dictionary<string, Syndrome>(StringComparer.Ordinal);
        foreach (var s in Syndromes)
        {
            Validate(s, source);
            if (!_byId.TryAdd(s.Id, s)) throw new GestaltLabException($"{source}: syndrome id '{s.Id}' is used twice");
        }
    }

    /// <summary>Catalog name.</summary>
    public string Name { get; }
    /// <summary>All entries (controls included), in file order.</summary>
    public IReadOnlyList<Syndrome> Syndromes { get; }
    /// <summary>Entries that are syndromes (controls excluded).</summary>
    public IEnumerable<Syndrome> Affected => Syndromes.Where(s => !s.IsControl);
    /// <summary>The unaffected control entry, or null when the catalog has none.</summary>
    public Syndrome? Control => Syndromes.FirstOrDefault(s => s.IsControl);

    /// <summary>An entry by id.</summary>
    public Syndrome this[string id] => _byId.TryGetValue(id, out var s) ? s
        : throw new GestaltLabException($"catalog '{Name}': no syndrome '{id}'");

    /// <summary>Whether the catalog has an entry.</summary>
    public bool Contains(string id) => _byId.ContainsKey(id);

    /// <summary>A catalog with only the given entries (in this catalog's order).</summary>
    public SyndromeCatalog Subset(IEnumerable<string> ids, string? name = null)
    {
        var keep = ids.ToHashSet(StringComparer.Ordinal);
        foreach (var id in keep) _ = this[id];
        return new SyndromeCatalog(name ?? Name, Syndromes.Where(s => keep.Contains(s.Id)));
    }

    private static SyndromeCatalog? _default;

    /// <summary>The shipped catalog (216 syndromes + controls), read from the library's embedded copy of data/synthetic/catalog.json.</summary>
    public static SyndromeCatalog Default
    {
        get
        {
            if (_default is not null) return _default;
            using var s = typeof(SyndromeCatalog).Assembly.GetManifestResourceStream("GestaltLab.data.synthetic.catalog.json");
            _default = s is null ? Generate() : Parse(new StreamReader(s).ReadToEnd(), "embedded data/synthetic/catalog.json");
            return _default;
        }
    }

    // ---------------------------------------------------------------- JSON

    /// <summary>Reads a catalog JSON file; errors name the file and the entry.</summary>
    public static SyndromeCatalog Load(string path)
    {
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: catalog not found");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses catalog JSON (see the schema in data/synthetic/catalog.schema.json).</summary>
    public static SyndromeCatalog Parse(string json, string source)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new GestaltLabException($"{source}: not valid JSON ({e.Message})"); }
        if (root is not JsonObject obj) throw new GestaltLabException($"{source}: the catalog must be a JSON object with \"syndromes\"");
        int version = obj["format_version"] is JsonNode v ? Int(v, source, "format_version") : FormatVersion;
        if (version != FormatVersion) throw new GestaltLabException($"{source}: format_version {version} is not supported (expected {FormatVersion})");
        string name = obj["name"]?.GetValueKind() == JsonValueKind.String ? obj["name"]!.GetValue<string>() : Path.GetFileNameWithoutExtension(source);
        if (obj["syndromes"] is not JsonArray arr) throw new GestaltLabException($"{source}: missing array \"syndromes\"");
        var list = new List<Syndrome>();
        for (int i = 0; i < arr.Count; i++)
        {
            string where = $"{source}: syndromes[{i}]";
            if (arr[i] is not JsonObject s) throw new GestaltLabException($"{where}: must be an object");
            string id = Str(s, "id", where, required: true)!;
            where += $" ('{id}')";
            foreach (var (key, _) in s)
                if (key is not ("id" or "name" or "kind" or "analogue_of" or "frequency" or "expressivity" or "effects" or "genes" or "note"))
                    throw new GestaltLabException($"{where}: unknown property '{key}'", "allowed: id, name, kind, analogue_of, frequency, expressivity, effects, genes, note");
            var genes = new List<GeneVariant>();
            if (s["genes"] is JsonNode gn)
            {
                if (gn is not JsonArray ga) throw new GestaltLabException($"{where}: \"genes\" must be an array");
                for (int g = 0; g < ga.Count; g++)
                {
                    string gw = $"{where}: genes[{g}]";
                    if (ga[g] is not JsonObject go) throw new GestaltLabException($"{gw}: must be an object");
                    genes.Add(new GeneVariant(Str(go, "gene", gw, true)!, go["weight"] is JsonNode w ? Num(w, gw, "weight") : 1,
                        Effects(go["effects"], gw)));
                }
            }
            list.Add(new Syndrome
            {
                Id = id,
                Name = Str(s, "name", where) ?? id,
                Kind = Str(s, "kind", where) ?? "user",
                AnalogueOf = Str(s, "analogue_of", where),
                Frequency = s["frequency"] is JsonNode f ? Num(f, where, "frequency") : 1,
                Expressivity = s["expressivity"] is JsonNode x ? Num(x, where, "expressivity") : 0.3,
                Effects = Effects(s["effects"], where),
                Genes = genes,
                Note = Str(s, "note", where),
            });
        }
        return new SyndromeCatalog(name, list, source);
    }

    /// <summary>The catalog as indented JSON (stable formatting: same catalog → same bytes).</summary>
    public string ToJson()
    {
        var arr = new JsonArray();
        foreach (var s in Syndromes)
        {
            var o = new JsonObject { ["id"] = s.Id, ["name"] = s.Name, ["kind"] = s.Kind };
            if (s.AnalogueOf is not null) o["analogue_of"] = s.AnalogueOf;
            o["frequency"] = s.Frequency;
            o["expressivity"] = s.Expressivity;
            o["effects"] = EffectsNode(s.Effects);
            if (s.Genes.Count > 0)
            {
                var ga = new JsonArray();
                foreach (var g in s.Genes) ga.Add(new JsonObject { ["gene"] = g.Gene, ["weight"] = g.Weight, ["effects"] = EffectsNode(g.Effects) });
                o["genes"] = ga;
            }
            if (s.Note is not null) o["note"] = s.Note;
            arr.Add(o);
        }
        var root = new JsonObject
        {
            ["$schema"] = "catalog.schema.json",
            ["format_version"] = FormatVersion,
            ["name"] = Name,
            ["disclaimer"] = Disclaimer,
            ["traits"] = new JsonArray(TraitSpace.Traits.Select(t => (JsonNode)JsonValue.Create(t.Name)!).ToArray()),
            ["syndromes"] = arr,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }

    /// <summary>Writes the catalog JSON atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    private static JsonObject EffectsNode(IReadOnlyDictionary<string, double> effects)
    {
        var o = new JsonObject();
        // Trait order, not insertion order, so the same effects always serialise identically.
        foreach (var t in TraitSpace.Traits)
            if (effects.TryGetValue(t.Name, out double v)) o[t.Name] = v;
        return o;
    }

    private static Dictionary<string, double> Effects(JsonNode? node, string where)
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        if (node is null) return d;
        if (node is not JsonObject o) throw new GestaltLabException($"{where}: \"effects\" must be an object of trait name → shift in SD units");
        foreach (var (k, v) in o)
        {
            TraitSpace.Require(k, where);
            d[k] = Num(v!, where, $"effects.{k}");
        }
        return d;
    }

    private static string? Str(JsonObject o, string key, string where, bool required = false)
    {
        var n = o[key];
        if (n is null) return required ? throw new GestaltLabException($"{where}: missing \"{key}\"") : null;
        if (n.GetValueKind() != JsonValueKind.String) throw new GestaltLabException($"{where}: \"{key}\" must be a string");
        return n.GetValue<string>();
    }

    private static double Num(JsonNode n, string where, string key)
    {
        if (n is null || n.GetValueKind() != JsonValueKind.Number) throw new GestaltLabException($"{where}: \"{key}\" must be a number");
        return n.GetValue<double>();
    }

    private static int Int(JsonNode n, string where, string key) => (int)Num(n, where, key);

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]*$")]
    private static partial Regex IdPattern();

    private static void Validate(Syndrome s, string source)
    {
        string where = $"{source}: syndrome '{s.Id}'";
        if (!IdPattern().IsMatch(s.Id)) throw new GestaltLabException($"{where}: id must be lower case letters, digits, '_' or '-'");
        if (s.Kind is not ("teaching" or "generated" or "control" or "user"))
            throw new GestaltLabException($"{where}: kind '{s.Kind}' must be teaching, generated, control or user");
        if (s.IsControl && (s.Effects.Count > 0 || s.Genes.Count > 0)) throw new GestaltLabException($"{where}: the control entry cannot have effects or genes");
        if (s.IsControl && s.Id != ControlId) throw new GestaltLabException($"{where}: the control entry must have id '{ControlId}'");
        if (!(s.Frequency > 0) || double.IsInfinity(s.Frequency)) throw new GestaltLabException($"{where}: frequency must be a positive number");
        if (!(s.Expressivity >= 0 && s.Expressivity <= 2)) throw new GestaltLabException($"{where}: expressivity must be in [0, 2]");
        foreach (var (t, v) in s.Effects.Concat(s.Genes.SelectMany(g => g.Effects)))
        {
            TraitSpace.Require(t, where);
            if (!double.IsFinite(v) || Math.Abs(v) > 6) throw new GestaltLabException(FormattableString.Invariant($"{where}: effect {t} = {v} must be within ±6 SD"));
        }
        var geneNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var g in s.Genes)
        {
            if (string.IsNullOrWhiteSpace(g.Gene) || g.Gene.Contains(',')) throw new GestaltLabException($"{where}: a gene needs a name without commas");
            if (!geneNames.Add(g.Gene)) throw new GestaltLabException($"{where}: gene '{g.Gene}' is listed twice");
            if (!(g.Weight > 0)) throw new GestaltLabException($"{where}: gene '{g.Gene}' weight must be positive");
        }
    }
}
