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
    private readonly List<JsonObject> _outputs = [];
    private readonly object _gate = new();

    public void Stream(string name, string text)
    {
        if (text.Length == 0) return;
        lock (_gate)
        {
            if (_outputs.Count > 0 && _outputs[^1]["output_type"]!.GetValue<string>() == "stream"
                && _outputs[^1]["name"]!.GetValue<string>() == name)
            {
                _outputs[^1]["text"] = _outputs[^1]["text"]!.GetValue<string>() + text;
                return;
            }
            _outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = name, ["text"] = text });
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
            return _outputs.Select(o =>
            {
                var copy = (JsonObject)o.DeepClone();
                if (copy["output_type"]!.GetValue<string>() == "stream")
                    copy["text"] = NotebookCell.Lines(copy["text"]!.GetValue<string>());
                return copy;
            }).ToList();
    }
}
