using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Runtime;

namespace GestaltLab.Notebooks;

/// <summary>
/// A Jupyter notebook (<c>.ipynb</c>, nbformat 4) held as its JSON tree, so metadata the runner does not know about
/// (widgets, editor settings, other tools' keys) survives a run unchanged. Saving upgrades it to nbformat 4.5
/// (cell ids) with the C# kernelspec that VS Code's .NET kernel writes.
/// </summary>
public sealed class Notebook
{
    private readonly JsonObject _root;

    private Notebook(JsonObject root, string? path)
    {
        _root = root;
        Path = path;
        if (_root["cells"] is not JsonArray) _root["cells"] = new JsonArray();
        Cells = _root["cells"]!.AsArray().Select(c => new NotebookCell(c as JsonObject
            ?? throw new GestaltLabException($"{path ?? "notebook"}: a cell is not a JSON object"))).ToList();
    }

    /// <summary>The file this notebook was read from, or null when built in memory.</summary>
    public string? Path { get; }

    /// <summary>All cells in order (markdown, code, raw).</summary>
    public IReadOnlyList<NotebookCell> Cells { get; private set; }

    /// <summary>The code cells in order.</summary>
    public IEnumerable<NotebookCell> CodeCells => Cells.Where(c => c.IsCode);

    /// <summary>Notebook-level metadata (kernelspec, language_info, …).</summary>
    public JsonObject Metadata => _root["metadata"] as JsonObject ?? (JsonObject)(_root["metadata"] = new JsonObject());

    /// <summary>Reads a notebook file; a missing file, invalid JSON or a non-nbformat-4 file gets a clear error.</summary>
    /// <exception cref="GestaltLabException">The file is missing or is not an nbformat 4 notebook.</exception>
    public static Notebook Load(string path)
    {
        if (!File.Exists(path))
            throw new GestaltLabException($"{path}: notebook not found", "check the path; notebooks live in notebooks/*.ipynb");
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GestaltLabException($"{path}: cannot read the notebook: {e.Message}", inner: e);
        }
        return Parse(text, path);
    }

    /// <summary>Parses notebook JSON text.</summary>
    /// <exception cref="GestaltLabException">The text is not an nbformat 4 notebook.</exception>
    public static Notebook Parse(string json, string? path = null)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e)
        {
            throw new GestaltLabException($"{path ?? "notebook"}: not valid JSON ({e.Message})",
                "the file is not a Jupyter notebook, or it was damaged (e.g. by a merge conflict)", e);
        }
        if (node is not JsonObject root || root["cells"] is not JsonArray)
            throw new GestaltLabException($"{path ?? "notebook"}: not a Jupyter notebook (no \"cells\" array)");
        int major = root["nbformat"]?.GetValueKind() == JsonValueKind.Number ? root["nbformat"]!.GetValue<int>() : 0;
        if (major != 4)
            throw new GestaltLabException($"{path ?? "notebook"}: nbformat {major} is not supported, only nbformat 4",
                "open and save it once in Jupyter or VS Code to upgrade it");
        return new Notebook(root, path);
    }

    /// <summary>A new empty notebook with the C# kernelspec.</summary>
    public static Notebook Create()
    {
        var nb = Parse("""{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}""");
        nb.Normalize();
        return nb;
    }

    /// <summary>Appends a cell built from source text.</summary>
    public NotebookCell AddCell(string cellType, string source, params string[] tags) => InsertCell(Cells.Count, cellType, source, tags);

    /// <summary>Inserts a cell at <paramref name="index"/> among all cells.</summary>
    public NotebookCell InsertCell(int index, string cellType, string source, params string[] tags)
    {
        var obj = new JsonObject { ["cell_type"] = cellType, ["metadata"] = new JsonObject(), ["source"] = NotebookCell.Lines(source) };
        if (cellType == "code")
        {
            obj["execution_count"] = null;
            obj["outputs"] = new JsonArray();
        }
        if (tags.Length > 0) obj["metadata"]!["tags"] = new JsonArray(tags.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
        _root["cells"]!.AsArray().Insert(index, obj);
        var cell = new NotebookCell(obj);
        var list = Cells.ToList();
        list.Insert(index, cell);
        Cells = list;
        EnsureIds();
        return cell;
    }

    /// <summary>Removes a cell.</summary>
    public void RemoveCell(NotebookCell cell)
    {
        _root["cells"]!.AsArray().Remove(cell.Json);
        Cells = Cells.Where(c => !ReferenceEquals(c, cell)).ToList();
    }

    /// <summary>
    /// Brings the notebook to nbformat 4.5 with the C# kernel metadata: unique cell ids, the <c>.net-csharp</c>
    /// kernelspec and language_info as VS Code's .NET kernel writes them, and the per-cell kernel name.
    /// Existing values are kept.
    /// </summary>
    public void Normalize()
    {
        _root["nbformat"] = 4;
        int minor = _root["nbformat_minor"]?.GetValueKind() == JsonValueKind.Number ? _root["nbformat_minor"]!.GetValue<int>() : 0;
        _root["nbformat_minor"] = Math.Max(minor, 5);
        var md = Metadata;
        md["kernelspec"] ??= new JsonObject { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = ".net-csharp" };
        md["language_info"] ??= new JsonObject
        {
            ["file_extension"] = ".cs", ["mimetype"] = "text/x-csharp", ["name"] = "polyglot-notebook", ["pygments_lexer"] = "csharp",
        };
        // A cell that names no language is in the notebook's default one: Polyglot's, else the .NET kernel's (.net-fsharp:
        // F#), else C#.
        string defaultKernel = NotebookCell.Text(md["polyglot_notebook"]?["kernelInfo"]?["defaultKernelName"])
            ?? (NotebookCell.Text(md["kernelspec"]?["name"]) is { } spec && spec.StartsWith(".net-", StringComparison.OrdinalIgnoreCase) ? spec[5..] : null)
            ?? "csharp";
        md["polyglot_notebook"] ??= new JsonObject
        {
            ["kernelInfo"] = new JsonObject
            {
                ["defaultKernelName"] = defaultKernel,
                ["items"] = new JsonArray(new JsonObject { ["aliases"] = new JsonArray(), ["languageName"] = defaultKernel, ["name"] = defaultKernel }),
            },
        };
        foreach (var cell in Cells)
        {
            cell.Json["metadata"] ??= new JsonObject();
            if (cell.IsCode)
            {
                if (cell.KernelName is null)
                    cell.Json["metadata"]!["polyglot_notebook"] = new JsonObject { ["kernelName"] = defaultKernel };
                cell.Json["outputs"] ??= new JsonArray();
                if (!cell.Json.ContainsKey("execution_count")) cell.Json["execution_count"] = null;
            }
            else
            {
                cell.Json.Remove("outputs");
                cell.Json.Remove("execution_count");
            }
        }
        EnsureIds();
    }

    /// <summary>
    /// Gives every cell a valid, unique id (nbformat 4.5: 1–64 characters of [a-zA-Z0-9-_]). Missing ids are derived
    /// from the cell's position and source, so re-running an old notebook gives the same ids every time.
    /// </summary>
    private void EnsureIds()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Cells.Count; i++)
        {
            var cell = Cells[i];
            string? id = cell.Id;
            if (id is null || !IsValidId(id) || !seen.Add(id))
            {
                int salt = 0;
                do
                {
                    var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{i}\n{salt++}\n{cell.Source}"));
                    id = Convert.ToHexStringLower(hash, 0, 4);
                } while (!seen.Add(id));
                cell.Json["id"] = id;
            }
        }
    }

    private static bool IsValidId(string id) =>
        id.Length is >= 1 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>The notebook as JSON text, formatted like Jupyter writes it (one-space indent, trailing newline).</summary>
    public string ToJson()
    {
        Normalize();
        var options = new JsonWriterOptions { Indented = true, IndentSize = 1, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, options)) Sorted(_root)!.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>Writes the notebook atomically (a reader never sees half a file).</summary>
    public void Save(string path) => Save(path, ownerOnly: false);

    /// <summary>Writes the notebook atomically; <paramref name="ownerOnly"/>: readable by its owner alone (0600), a folder made for it 0700.</summary>
    public void Save(string path, bool ownerOnly) => AtomicFile.WriteAllText(path, ToJson(), ownerOnly);

    // Jupyter writes keys sorted, which keeps diffs of committed notebooks small and stable.
    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sorted).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };
}

/// <summary>One cell of a <see cref="Notebook"/>; edits go straight into the notebook's JSON.</summary>
public sealed class NotebookCell
{
    internal NotebookCell(JsonObject json) => Json = json;

    internal JsonObject Json { get; }

    /// <summary><c>code</c>, <c>markdown</c> or <c>raw</c>.</summary>
    public string CellType => Json["cell_type"]?.GetValue<string>() ?? "";

    /// <summary>Whether this is a code cell.</summary>
    public bool IsCode => CellType == "code";

    /// <summary>The cell id (nbformat 4.5), or null in older notebooks before saving.</summary>
    public string? Id => Json["id"]?.GetValueKind() == JsonValueKind.String ? Json["id"]!.GetValue<string>() : null;

    /// <summary>The cell's text (nbformat stores it as a string or a list of lines; both are read).</summary>
    public string Source
    {
        get => Json["source"] switch
        {
            JsonArray a => string.Concat(a.Select(l => l?.GetValue<string>() ?? "")),
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            _ => "",
        };
        set => Json["source"] = Lines(value);
    }

    /// <summary>The cell's tags (metadata.tags), e.g. <c>parameters</c>.</summary>
    public IReadOnlyList<string> Tags =>
        Json["metadata"]?["tags"] is JsonArray a ? a.Select(t => t?.GetValue<string>() ?? "").ToList() : [];

    /// <summary>
    /// The language a code cell is written in, as Polyglot Notebooks records it (<c>metadata.polyglot_notebook.kernelName</c>,
    /// or the older <c>metadata.dotnet_interactive.language</c>): <c>csharp</c>, <c>fsharp</c>, <c>pwsh</c>…; null when
    /// the cell does not say (it then takes the notebook's default, filled in by <see cref="Notebook.Normalize"/>).
    /// </summary>
    public string? KernelName =>
        Text(Json["metadata"]?["polyglot_notebook"]?["kernelName"]) ?? Text(Json["metadata"]?["dotnet_interactive"]?["language"]);

    internal static string? Text(JsonNode? node) =>
        node?.GetValueKind() == JsonValueKind.String && node.GetValue<string>() is { Length: > 0 } s ? s : null;

    /// <summary>The execution count of a code cell (null when not run).</summary>
    public int? ExecutionCount
    {
        get => Json["execution_count"]?.GetValueKind() == JsonValueKind.Number ? Json["execution_count"]!.GetValue<int>() : null;
        set => Json["execution_count"] = value;
    }

    /// <summary>The outputs of a code cell as nbformat JSON objects.</summary>
    public JsonArray Outputs => Json["outputs"] as JsonArray ?? (JsonArray)(Json["outputs"] = new JsonArray());

    /// <summary>Replaces the outputs of a code cell.</summary>
    public void SetOutputs(IEnumerable<JsonObject> outputs) => Json["outputs"] = new JsonArray(outputs.Cast<JsonNode>().ToArray());

    /// <summary>Splits text into nbformat's list of lines, each keeping its newline (Jupyter's own layout).</summary>
    internal static JsonArray Lines(string text)
    {
        var lines = new JsonArray();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '\n') continue;
            lines.Add(text[start..(i + 1)]);
            start = i + 1;
        }
        if (start < text.Length) lines.Add(text[start..]);
        return lines;
    }
}
