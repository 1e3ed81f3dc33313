using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Markdig;

namespace GestaltLab.Notebooks;

/// <summary>
/// Renders an executed notebook as one self-contained HTML page (markdown as HTML, code, outputs; charts keep their
/// inlined plotly.js), so it opens offline in any browser, e.g. from a CI artefact or a workshop USB stick.
/// </summary>
public static class NotebookHtml
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseAdvancedExtensions().Build();

    // The order Jupyter's nbconvert prefers: richest first.
    private static readonly string[] Preferred = ["text/html", "image/svg+xml", "image/png", "image/jpeg", "text/markdown", "text/plain"];

    /// <summary>The HTML page of a notebook.</summary>
    public static string Render(Notebook notebook, string title)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
          // A remote image or script in a cell's markdown or HTML output would be fetched when the page is opened.
          .Append(Figures.FigureHtml.OfflinePolicyMeta).Append('\n')
          .Append("<title>").Append(WebUtility.HtmlEncode(title)).Append("</title>\n<style>\n").Append(Css).Append("</style>\n</head>\n<body>\n<main>\n");
        foreach (var cell in notebook.Cells)
        {
            switch (cell.CellType)
            {
                case "markdown":
                    sb.Append("<section class=\"cell markdown\">\n").Append(Markdown.ToHtml(cell.Source, Pipeline)).Append("</section>\n");
                    break;
                case "code":
                    sb.Append("<section class=\"cell code\">\n<div class=\"input\"><span class=\"prompt\">[")
                      .Append(cell.ExecutionCount?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? " ")
                      .Append("]</span><pre><code class=\"language-csharp\">").Append(WebUtility.HtmlEncode(cell.Source)).Append("</code></pre></div>\n");
                    foreach (var output in cell.Outputs.OfType<JsonObject>()) Output(sb, output);
                    sb.Append("</section>\n");
                    break;
                default:
                    sb.Append("<section class=\"cell raw\"><pre>").Append(WebUtility.HtmlEncode(cell.Source)).Append("</pre></section>\n");
                    break;
            }
        }
        sb.Append("</main>\n</body>\n</html>\n");
        return sb.ToString();
    }

    private static void Output(StringBuilder sb, JsonObject output)
    {
        switch (output["output_type"]?.GetValue<string>())
        {
            case "stream":
                string name = output["name"]?.GetValue<string>() == "stderr" ? "stderr" : "stdout";
                sb.Append("<pre class=\"output stream ").Append(name).Append("\">").Append(WebUtility.HtmlEncode(Text(output["text"]))).Append("</pre>\n");
                break;
            case "display_data" or "execute_result":
                if (output["data"] is not JsonObject data) break;
                string? mime = Preferred.FirstOrDefault(data.ContainsKey);
                if (mime is null) break;
                string content = Text(data[mime]);
                sb.Append("<div class=\"output rich\">");
                sb.Append(mime switch
                {
                    "text/html" or "image/svg+xml" => content,
                    // The output's plain-text form (a chart's summary, say) describes the picture for screen readers.
                    "image/png" or "image/jpeg" => $"<img src=\"data:{mime};base64,{content.Replace("\n", "")}\" alt=\"{WebUtility.HtmlEncode(data["text/plain"] is { } plain ? Text(plain) : "output image")}\"/>",
                    "text/markdown" => Markdown.ToHtml(content, Pipeline),
                    _ => $"<pre>{WebUtility.HtmlEncode(content)}</pre>",
                });
                sb.Append("</div>\n");
                break;
            case "error":
                var lines = output["traceback"] is JsonArray tb ? tb.Select(l => l?.GetValue<string>() ?? "") : [];
                sb.Append("<pre class=\"output error\">").Append(WebUtility.HtmlEncode(StripAnsi(string.Join("\n", lines)))).Append("</pre>\n");
                break;
        }
    }

    private static string Text(JsonNode? node) => node switch
    {
        JsonArray a => string.Concat(a.Select(l => l?.GetValue<string>() ?? "")),
        JsonValue v => v.ToString(),
        null => "",
        _ => node.ToJsonString(),
    };

    private static string StripAnsi(string s) => System.Text.RegularExpressions.Regex.Replace(s, "\u001b\\[[0-9;]*m", "");

    private const string Css = """
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #fafafa; color: #1d1d1f; }
        main { max-width: 1000px; margin: 0 auto; padding: 2rem 1rem 4rem; }
        .cell { margin: 1rem 0; }
        .markdown { line-height: 1.55; }
        .markdown table, table.gestaltlab-table { border-collapse: collapse; margin: .5rem 0; }
        .markdown th, .markdown td, table.gestaltlab-table th, table.gestaltlab-table td { border: 1px solid #d0d0d0; padding: .25rem .6rem; text-align: left; }
        .input { display: flex; gap: .5rem; }
        .prompt { color: #666; font-family: ui-monospace, monospace; font-size: .85rem; padding-top: .6rem; min-width: 2.5rem; }
        pre { margin: 0; padding: .6rem .8rem; overflow-x: auto; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
        .input pre { background: #f0f2f5; border: 1px solid #e0e3e8; border-radius: 4px; flex: 1; }
        .output { margin: .3rem 0 0 3rem; }
        .stream { white-space: pre-wrap; word-break: break-word; }
        .stream.stderr { background: #fff6e5; }
        .error { background: #fdecec; color: #a00; }
        .rich img { max-width: 100%; }
        """;
}
