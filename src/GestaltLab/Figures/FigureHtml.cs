using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using GestaltLab.Runtime;
using Plotly.NET;

namespace GestaltLab.Figures;

/// <summary>
/// Offline HTML for charts: plotly.js (the 2.28.0 bundle Plotly.NET carries as a resource) is inlined once per page,
/// and every chart is a <c>div</c> plus a call to <c>Plotly.newPlot</c> with its figure JSON. No tag refers to anything
/// off the machine, so saved figures and reports open on offline and hospital-network computers.
/// </summary>
public static partial class FigureHtml
{
    /// <summary>The tag every GestaltLab page carries in its head: what tells a page of ours from someone else's file.</summary>
    public const string GeneratorMeta = "<meta name=\"generator\" content=\"GestaltLab\">";

    /// <summary>
    /// The Content-Security-Policy of GestaltLab's pages: nothing from the network, whatever text they carry (inline
    /// scripts and styles, data: images), so a name from a shared run, or a remote image in a notebook's markdown, cannot
    /// make the page fetch anything when it is opened.
    /// </summary>
    public const string OfflinePolicyMeta = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:\">";

    private static readonly Lazy<string> Bundle = new(LoadBundle);

    /// <summary>The minified plotly.js source inlined in every page.</summary>
    public static string PlotlyJs => Bundle.Value;

    /// <summary>The plotly.js version of <see cref="PlotlyJs"/>.</summary>
    public static string PlotlyJsVersion
    {
        get
        {
            _ = Bundle.Value; // read from the bundle's resource name when it is loaded
            return _plotlyJsVersion;
        }
    }

    private static string _plotlyJsVersion = "";

    private static string LoadBundle()
    {
        var asm = typeof(GenericChart).Assembly;
        string name = asm.GetManifestResourceNames().FirstOrDefault(n => PlotlyResource().IsMatch(n))
            ?? throw new GestaltLabException($"plotly.js is not embedded in {asm.GetName().Name} {asm.GetName().Version}", "restore the Plotly.NET 6 package");
        _plotlyJsVersion = PlotlyResource().Match(name).Groups[1].Value;
        using var s = asm.GetManifestResourceStream(name)!;
        using var r = new StreamReader(s, Encoding.UTF8);
        // Inside an inline <script>, "</script" would end the element: escape it (the JavaScript meaning is unchanged).
        return r.ReadToEnd().Replace("</script", "<\\/script", StringComparison.OrdinalIgnoreCase);
    }

    [GeneratedRegex(@"plotly-(\d+\.\d+\.\d+)\.min\.js$")]
    private static partial Regex PlotlyResource();

    /// <summary>
    /// Makes Plotly.NET's own HTML output (<c>GenericChart.SaveHtml</c>, <c>Show</c>, <c>toEmbeddedHTML</c>) inline
    /// plotly.js instead of loading it from a CDN, for charts made anywhere in the process from then on. Called by
    /// <see cref="Charts"/> on first use and by the notebook runner before the first cell; a program of your own that
    /// makes charts with Plotly.NET alone calls it first. Safe to call again.
    /// </summary>
    public static void UseOfflineDefaults() =>
        Defaults.DefaultDisplayOptions = DisplayOptions.init(null, null, null, null, null, null, PlotlyJSReference.Full);

    /// <summary>Figure JSON (<c>{"data": …, "layout": …}</c>) plus the chart's config, as plotly.js takes them.</summary>
    public static (string Figure, string Config) Json(GenericChart chart)
    {
        string figure = GenericChart.toFigureJson(chart);
        string config = Newtonsoft.Json.JsonConvert.SerializeObject(GenericChart.getConfig(chart));
        return (figure, config);
    }

    /// <summary>
    /// A <c>div</c> and the script that draws <paramref name="chart"/> into it. The page must load plotly.js first
    /// (see <see cref="Page"/>). <paramref name="id"/> must be unique in the page.
    /// </summary>
    public static string ChartFragment(GenericChart chart, string id)
    {
        var (figure, config) = Json(chart);
        string safeId = WebUtility.HtmlEncode(id);
        // Named by its title for screen readers; the text inside is what a viewer that blocks scripts (a mail or chat
        // preview, a locked-down browser) shows instead of an empty box. The script clears it before drawing.
        string name = WebUtility.HtmlEncode(TitleText(figure) is { Length: > 0 } t ? "Chart: " + t : "Chart");
        return $"<div id=\"{safeId}\" class=\"gl-chart\" role=\"img\" aria-label=\"{name}\">{name} (interactive: open the page in a browser that runs its scripts)</div>\n" +
               $"<script>(function(){{var f={ScriptSafe(figure)};var c={ScriptSafe(config)};var e=document.getElementById({System.Text.Json.JsonSerializer.Serialize(id)});" +
               "e.textContent='';Plotly.newPlot(e,f.data,f.layout,c);})();</script>\n";
    }

    // The layout's title as plain words (plotly titles carry <br> and <sub> markup).
    private static string TitleText(string figureJson)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(figureJson);
        if (!doc.RootElement.TryGetProperty("layout", out var layout) || !layout.TryGetProperty("title", out var title)) return "";
        string? text = title.ValueKind == System.Text.Json.JsonValueKind.String ? title.GetString()
            : title.ValueKind == System.Text.Json.JsonValueKind.Object && title.TryGetProperty("text", out var t) ? t.GetString() : null;
        return string.IsNullOrWhiteSpace(text) ? "" : PlainText(text);
    }

    /// <summary>
    /// A plotly title or label as plain words, for a description read out or shown where the chart is not drawn: line
    /// breaks (<c>&lt;br&gt;</c>) as a dash, other markup (<c>&lt;sub&gt;</c>, <c>&lt;b&gt;</c>) removed, entities decoded.
    /// </summary>
    public static string PlainText(string plotlyText)
    {
        ArgumentNullException.ThrowIfNull(plotlyText);
        string words = Regex.Replace(Regex.Replace(plotlyText, "<br\\s*/?>", " — ", RegexOptions.IgnoreCase), "<[^>]+>", "");
        return Regex.Replace(WebUtility.HtmlDecode(words), "\\s+", " ").Trim();
    }

    /// <summary>
    /// A complete HTML page: head with the inlined plotly.js and a small style sheet, then <paramref name="bodyHtml"/>
    /// (which may contain any number of <see cref="ChartFragment"/>s).
    /// </summary>
    public static string Page(string title, string bodyHtml, string? extraCss = null)
    {
        var sb = new StringBuilder(PlotlyJs.Length + bodyHtml.Length + 4096);
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        // Nothing from the network, whatever text the charts carry: the page is whole (inline scripts and styles, data:
        // images), and a name from a shared run's files that the chart library renders as markup cannot fetch anything.
        sb.Append(OfflinePolicyMeta).Append('\n');
        sb.Append(GeneratorMeta).Append('\n');
        sb.Append("<title>").Append(WebUtility.HtmlEncode(title)).Append("</title>\n");
        sb.Append("<style>\n").Append(BaseCss).Append(extraCss ?? "").Append("</style>\n");
        sb.Append("<script>/* plotly.js ").Append(PlotlyJsVersion).Append(" (MIT licence), inlined so the page works offline */\n");
        sb.Append(PlotlyJs).Append("\n</script>\n</head>\n<body>\n");
        sb.Append(bodyHtml);
        sb.Append("\n</body>\n</html>\n");
        return sb.ToString();
    }

    /// <summary>
    /// Saves one chart as a self-contained offline HTML page (atomic write), readable by its owner alone unless
    /// <paramref name="ownerOnly"/> is false: a page carries its chart's data, and a t-SNE map's or ROC's hover text names
    /// the photos (as a report naming photos is its owner's alone).
    /// </summary>
    /// <param name="chart">The chart.</param>
    /// <param name="path">The HTML file to write.</param>
    /// <param name="title">The page's title.</param>
    /// <param name="ownerOnly">False for a chart that names no photo or person, to share the file with other accounts.</param>
    public static void Save(GenericChart chart, string path, string title = "GestaltLab figure", bool ownerOnly = true) =>
        AtomicFile.WriteAllText(path, Page(title, ChartFragment(chart, "chart")), ownerOnly);

    /// <summary>
    /// Tag attributes that point off the machine: <c>src</c>, <c>href</c>, <c>srcset</c>, <c>poster</c>, <c>data</c>,
    /// <c>action</c> and CSS <c>url(…)</c>/<c>@import</c> with an http(s), protocol-relative or other remote scheme.
    /// Script bodies are data, not references, and are not inspected. Empty when the page is fully offline.
    /// </summary>
    public static IReadOnlyList<string> RemoteReferences(string html)
    {
        var found = new List<string>();
        string withoutScripts = ScriptBody().Replace(html, "$1</script>");
        foreach (Match tag in Tag().Matches(withoutScripts))
            foreach (Match a in Attribute().Matches(tag.Value))
            {
                string name = a.Groups[1].Value.ToLowerInvariant();
                string value = WebUtility.HtmlDecode(a.Groups[3].Success ? a.Groups[3].Value : a.Groups[4].Success ? a.Groups[4].Value : a.Groups[5].Value);
                if (name is "src" or "href" or "srcset" or "poster" or "data" or "action" or "formaction" or "background" or "manifest")
                    if (IsRemote(value)) found.Add($"<{tag.Groups[1].Value} {name}=\"{value}\">");
                if (name == "style" && CssRemote(value)) found.Add($"<{tag.Groups[1].Value} style=\"{value}\">");
            }
        foreach (Match s in StyleBody().Matches(withoutScripts))
            if (CssRemote(s.Groups[1].Value)) found.Add("<style> with a remote url()/@import");
        return found;
    }

    private static bool IsRemote(string value)
    {
        string v = value.Trim();
        if (v.Length == 0 || v.StartsWith('#') || v.StartsWith("data:", StringComparison.OrdinalIgnoreCase)
            || v.StartsWith("javascript:", StringComparison.OrdinalIgnoreCase) || v.StartsWith("about:", StringComparison.OrdinalIgnoreCase)
            || v.StartsWith("blob:", StringComparison.OrdinalIgnoreCase) || v.StartsWith("mailto:", StringComparison.OrdinalIgnoreCase))
            return false;
        if (v.StartsWith("//", StringComparison.Ordinal)) return true;
        var scheme = Regex.Match(v, @"^([a-zA-Z][a-zA-Z0-9+.\-]*):");
        // A relative path or file: stays on the machine; any other scheme (http, https, ftp, ws …) does not.
        return scheme.Success && !scheme.Groups[1].Value.Equals("file", StringComparison.OrdinalIgnoreCase);
    }

    private static bool CssRemote(string css) =>
        CssUrl().Matches(css).Any(m => IsRemote(m.Groups[2].Value)) || Regex.IsMatch(css, @"@import\s+(url\()?\s*['""]?\s*(https?:|//)", RegexOptions.IgnoreCase);

    [GeneratedRegex(@"(<script\b[^>]*>)[\s\S]*?</script>", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptBody();

    [GeneratedRegex(@"<style\b[^>]*>([\s\S]*?)</style>", RegexOptions.IgnoreCase)]
    private static partial Regex StyleBody();

    [GeneratedRegex(@"<([a-zA-Z][a-zA-Z0-9\-]*)\b[^>]*>")]
    private static partial Regex Tag();

    [GeneratedRegex(@"\s([a-zA-Z\-:]+)\s*=\s*(""([^""]*)""|'([^']*)'|([^\s>]+))")]
    private static partial Regex Attribute();

    [GeneratedRegex(@"url\(\s*(['""]?)([^'"")]*)\1\s*\)", RegexOptions.IgnoreCase)]
    private static partial Regex CssUrl();

    /// <summary>
    /// JSON made safe to place inside an inline script element: "&lt;/" would close the element and "&lt;!--" would open a
    /// comment state (a class name such as "&lt;!--&lt;script&gt;" would keep the element from closing). For a JavaScript
    /// literal only (<c>var f = …;</c>), which reads the escapes back unchanged: "&lt;\!--" is not valid JSON for
    /// <c>JSON.parse</c>.
    /// </summary>
    public static string ScriptSafe(string json) => json.Replace("</", "<\\/").Replace("<!--", "<\\!--");

    private const string BaseCss = """
body { font-family: Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1200px; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92em; } th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f3f3f3; } tbody th { background: none; font-weight: normal; }
/* A chart wider than the window (a 216-class matrix, a phone, 200 % zoom) scrolls by itself rather than the whole page. */
.gl-chart { margin: 8px 0 20px; max-width: 100%; overflow-x: auto; } .gl-table { max-width: 100%; overflow-x: auto; }
body { overflow-wrap: break-word; } code, pre { overflow-wrap: anywhere; }
@media print { .gl-chart, table, img { break-inside: avoid; } h2 { break-after: avoid; } .modebar-container { display: none !important; } } .note { color: #8a5a00; background: #fff8e6; border-left: 4px solid #e6a700; padding: 6px 10px; margin: 6px 0; }
.muted { color: #666; font-size: 0.9em; } code { background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
""";
}
