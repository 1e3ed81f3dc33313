using System.Text;
using System.Text.Json.Nodes;

namespace GestaltLab.Notebooks;

/// <summary>
/// Collects one cell's outputs in the order they happen: console text (merged into stream outputs, as Jupyter does),
/// displayed values, the trailing expression's result and an error. Thread-safe, because library code may write
/// progress from worker threads.
/// </summary>
internal sealed class CellOutputs
{
    // Console text stays in a builder until the outputs are read: appended to a JSON string instead, a cell printing a
    // line at a time cost time quadratic in its output (32,000 lines took 15 s; 300,000 lines over ten minutes).
    private sealed record StreamText(string Name, StringBuilder Text);

    private readonly List<object> _outputs = [];   // JsonObject or StreamText, in order
    private readonly object _gate = new();

    public void Stream(string name, string text)
    {
        if (text.Length == 0) return;
        lock (_gate)
        {
            if (_outputs.Count > 0 && _outputs[^1] is StreamText last && last.Name == name)
            {
                last.Text.Append(text);
                return;
            }
            _outputs.Add(new StreamText(name, new StringBuilder(text)));
        }
    }

    public void Display(MimeBundle bundle)
    {
        lock (_gate) _outputs.Add(new JsonObject { ["output_type"] = "display_data", ["data"] = bundle.ToJson(), ["metadata"] = new JsonObject() });
    }

    public void Result(MimeBundle bundle, int executionCount)
    {
        lock (_gate)
            _outputs.Add(new JsonObject
            {
                ["output_type"] = "execute_result", ["execution_count"] = executionCount,
                ["data"] = bundle.ToJson(), ["metadata"] = new JsonObject(),
            });
    }

    public void Error(string name, string value, IEnumerable<string> traceback)
    {
        lock (_gate)
            _outputs.Add(new JsonObject
            {
                ["output_type"] = "error", ["ename"] = name, ["evalue"] = value,
                ["traceback"] = new JsonArray(traceback.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray()),
            });
    }

    /// <summary>The outputs in nbformat form (stream text split into lines).</summary>
    public List<JsonObject> ToList()
    {
        lock (_gate)
            return _outputs.Select(o => o switch
            {
                StreamText t => new JsonObject { ["output_type"] = "stream", ["name"] = t.Name, ["text"] = NotebookCell.Lines(t.Text.ToString()) },
                _ => (JsonObject)((JsonObject)o).DeepClone(),
            }).ToList();
    }
}
