using System.Text.Json.Nodes;

namespace GestaltLab.Notebooks;

/// <summary>
/// One displayed value as Jupyter's MIME bundle: the same value in several formats (e.g. <c>text/html</c> and
/// <c>text/plain</c>); the front end shows the richest one it can render.
/// </summary>
public sealed class MimeBundle
{
    private readonly Dictionary<string, JsonNode> _data = new(StringComparer.Ordinal);

    /// <summary>The formats and their content (a string, or JSON for <c>application/…+json</c> types).</summary>
    public IReadOnlyDictionary<string, JsonNode> Data => _data;

    /// <summary>Adds or replaces a text-based format (text/plain, text/html, base64 image/png, …).</summary>
    public MimeBundle With(string mimeType, string content)
    {
        _data[mimeType] = JsonValue.Create(content)!;
        return this;
    }

    /// <summary>Adds or replaces a JSON format such as <c>application/vnd.plotly.v1+json</c>.</summary>
    public MimeBundle WithJson(string mimeType, JsonNode content)
    {
        _data[mimeType] = content;
        return this;
    }

    /// <summary>The content of a text format, or null.</summary>
    public string? Text(string mimeType) => _data.TryGetValue(mimeType, out var v) && v is JsonValue ? v.GetValue<string>() : null;

    /// <summary>Plain text only.</summary>
    public static MimeBundle Plain(string text) => new MimeBundle().With("text/plain", text);

    internal JsonObject ToJson()
    {
        var data = new JsonObject();
        foreach (var (mime, content) in _data.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // nbformat stores text as a list of lines (Jupyter's layout), binary (base64) and JSON as is.
            bool lines = mime.StartsWith("text/", StringComparison.Ordinal) && content is JsonValue;
            data[mime] = lines ? NotebookCell.Lines(content.GetValue<string>()) : content.DeepClone();
        }
        return data;
    }
}
