using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Plotly.NET;

namespace GestaltLab.Notebooks;

/// <summary>
/// Shows Plotly.NET charts in notebook outputs, offline. Each chart becomes three formats:
/// <list type="bullet">
/// <item><c>application/vnd.plotly.v1+json</c>: the figure itself, drawn natively by VS Code's and JupyterLab's
/// Plotly renderers (no script needed);</item>
/// <item><c>text/html</c>: a div and a small script that draws it with plotly.js. plotly.js (~3.6 MB, carried inside
/// Plotly.NET) is inlined once per notebook, in the first chart's output, and later charts use the global it defines:
/// front ends that run output scripts share one document per notebook;</item>
/// <item><c>text/plain</c>: a summary (title, traces), which is what viewers that strip scripts, such as GitHub, can
/// show in place of the chart.</item>
/// </list>
/// </summary>
internal sealed class PlotlyDisplay
{
    private static readonly Lazy<string> Bundle = new(LoadBundle);
    private bool _bundleEmitted;
    private int _count;

    /// <summary>The plotly.js version Plotly.NET carries (from its resource name).</summary>
    public static string PlotlyJsVersion { get; } = typeof(GenericChart).Assembly.GetManifestResourceNames()
        .Select(n => System.Text.RegularExpressions.Regex.Match(n, @"plotly-(\d+\.\d+\.\d+)\.min\.js$"))
        .FirstOrDefault(m => m.Success)?.Groups[1].Value ?? "unknown";

    /// <summary>Renders a chart to PNG for viewers that cannot run scripts, or null to skip the picture.</summary>
    public Func<GenericChart, byte[]?>? RenderPng { get; set; }

    public MimeBundle Format(GenericChart chart, string displayId)
    {
        byte[]? png = RenderPng?.Invoke(chart);
        string json = GenericChart.toJson(chart);
        var figure = JsonNode.Parse(json)!.AsObject();
        string id = $"gestaltlab-plot-{Sanitize(displayId)}-{++_count}";
        string summary = Summary(figure);

        var html = new StringBuilder();
        if (!_bundleEmitted)
        {
            html.Append(BundleHtml());
            _bundleEmitted = true;
        }
        // The div's content is what a viewer without scripts shows; the script replaces it with the live chart.
        html.Append($"<div id=\"{id}\" class=\"gestaltlab-plotly gl-chart\">");
        if (png is not null)
            html.Append($"<img src=\"data:image/png;base64,{Convert.ToBase64String(png)}\" alt=\"{WebUtility.HtmlEncode(summary)}\" style=\"max-width:100%\"/>");
        else
            html.Append(WebUtility.HtmlEncode(summary))
                .Append(" — interactive: open in VS Code or Jupyter, or use the notebook's HTML rendering (gestaltlab notebook run --html).");
        html.Append("</div>\n")
            .Append("<script type=\"text/javascript\">\n(function () {\n  var figure = ")
            .Append(GestaltLab.Figures.FigureHtml.ScriptSafe(json))
            .Append(";\n  function draw(tries) {\n    var el = document.getElementById(\"").Append(id).Append("\");\n")
            .Append("    if (!el) return;\n")
            .Append("    if (window.Plotly) { el.textContent = \"\"; window.Plotly.newPlot(el, figure.data, figure.layout, figure.config || {}); }\n")
            .Append("    else if (tries < 400) setTimeout(function () { draw(tries + 1); }, 50);\n")
            .Append("  }\n  draw(0);\n})();\n</script>");

        var plotlyJson = new JsonObject { ["data"] = figure["data"]?.DeepClone() ?? new JsonArray(), ["layout"] = figure["layout"]?.DeepClone() ?? new JsonObject() };
        if (figure["config"] is JsonObject config) plotlyJson["config"] = config.DeepClone();
        var bundle = new MimeBundle()
            .WithJson("application/vnd.plotly.v1+json", plotlyJson)
            .With("text/html", html.ToString())
            .With("text/plain", summary);
        return png is null ? bundle : bundle.With("image/png", Convert.ToBase64String(png));
    }

    /// <summary>The script tags that define <c>window.Plotly</c> from the inlined bundle.</summary>
    /// <remarks>
    /// Classic Jupyter pages load RequireJS; plotly.js's UMD header would then register an AMD module instead of the
    /// global, so <c>define</c> is hidden while the bundle runs.
    /// </remarks>
    internal static string BundleHtml() =>
        $"<script type=\"text/javascript\">window.PlotlyConfig = {{MathJaxConfig: 'local'}}; window.__gestaltlabDefine = window.define; window.define = undefined;</script>\n" +
        $"<script type=\"text/javascript\" data-plotlyjs=\"{PlotlyJsVersion}\">{Bundle.Value}</script>\n" +
        "<script type=\"text/javascript\">window.define = window.__gestaltlabDefine;</script>\n";

    private static string LoadBundle()
    {
        var asm = typeof(GenericChart).Assembly;
        string name = asm.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(".min.js", StringComparison.Ordinal) && n.Contains("plotly-", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("plotly.js is not embedded in this Plotly.NET assembly");
        using var stream = asm.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return ScriptSafe(reader.ReadToEnd());
    }

    /// <summary>Keeps inline script text from closing its own script element.</summary>
    private static string ScriptSafe(string js) => js.Replace("</", "<\\/", StringComparison.Ordinal);

    private static string Sanitize(string s)
    {
        var sb = new StringBuilder();
        foreach (char c in s) sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-');
        return sb.ToString();
    }

    /// <summary>"Plotly chart “title”: 2 traces (scatter “train”, scatter “validation”)".</summary>
    internal static string Summary(JsonObject figure)
    {
        string? title = figure["layout"]?["title"] switch
        {
            JsonObject t => t["text"]?.GetValue<string>(),
            JsonValue v => v.ToString(),
            _ => null,
        } is { } markup ? GestaltLab.Figures.FigureHtml.PlainText(markup) : null;
        var traces = figure["data"] as JsonArray ?? [];
        var parts = traces.Take(8).Select(t =>
        {
            string type = t?["type"]?.ToString() ?? "trace";
            string? name = t?["name"]?.ToString();
            return name is null ? type : $"{type} “{name}”";
        });
        string list = string.Join(", ", parts) + (traces.Count > 8 ? ", …" : "");
        return $"Plotly chart{(title is null ? "" : $" “{title}”")}: {traces.Count} trace{(traces.Count == 1 ? "" : "s")} ({list})";
    }
}
