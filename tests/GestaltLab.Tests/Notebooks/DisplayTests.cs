using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GestaltLab.Notebooks;
using SkiaSharp;
using static GestaltLab.Tests.Notebooks.NotebookTestKit;

namespace GestaltLab.Tests.Notebooks;

public class DisplayTests
{
    [Fact]
    public void TextValuesAreTextPlain()
    {
        var f = new DisplayFormatter();
        Assert.Equal("hello", f.Format("hello").Text("text/plain"));
        Assert.Equal("0.333333", f.Format(1.0 / 3).Text("text/plain"));
        Assert.Equal("null", f.Format(null).Text("text/plain"));
        Assert.Equal("[1, 2, 3]", f.Format(new[] { 1, 2, 3 }).Text("text/plain"));
        Assert.Single(f.Format("x").Data);
    }

    [Fact]
    public void BitmapsBecomePngOfTheRightSize()
    {
        var f = new DisplayFormatter();
        using var bitmap = new SKBitmap(12, 7);
        bitmap.Erase(SKColors.Red);

        var bundle = f.Format(bitmap);

        byte[] png = Convert.FromBase64String(bundle.Text("image/png")!);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        using var decoded = SKBitmap.Decode(png);
        Assert.Equal(12, decoded.Width);
        Assert.Equal(7, decoded.Height);
        Assert.Equal(SKColors.Red, decoded.GetPixel(3, 3));
        Assert.Equal("SKBitmap 12×7", bundle.Text("text/plain"));

        // The library's own image type is shown as a picture too.
        var rgb = new GestaltLab.Data.RgbImage(5, 4);
        using var fromLibrary = SKBitmap.Decode(Convert.FromBase64String(f.Format(rgb).Text("image/png")!));
        Assert.Equal(5, fromLibrary.Width);
    }

    public sealed record Score(string Syndrome, double Top1, int N);

    [Fact]
    public void RecordsBecomeHtmlTables()
    {
        var f = new DisplayFormatter { MaxTableRows = 2 };
        var rows = new[] { new Score("CdLS-like", 0.91, 32), new Score("Angelman <like>", 0.5, 25), new Score("Noonan-like", 0.25, 10) };

        var bundle = f.Format(rows);

        string html = bundle.Text("text/html")!;
        Assert.Contains("<th>Syndrome</th><th>Top1</th><th>N</th>", html);
        Assert.Contains("<td>CdLS-like</td><td>0.91</td><td>32</td>", html);
        Assert.Contains("Angelman &lt;like&gt;", html);
        Assert.DoesNotContain("Noonan-like", html);
        Assert.Contains("2 of 3 rows shown", html);
        Assert.StartsWith("Syndrome\tTop1\tN\nCdLS-like\t0.91\t32", bundle.Text("text/plain"));

        var dict = f.Format(new Dictionary<string, int> { ["a"] = 1 }).Text("text/html")!;
        Assert.Contains("<td>a</td><td>1</td>", dict);
        // Keys are text too: a class named like markup is shown, not run.
        var keyed = f.Format(new Dictionary<string, double> { ["<img src=x onerror=alert(1)>"] = 0.5 }).Text("text/html")!;
        Assert.Contains("<td>&lt;img src=x onerror=alert(1)&gt;</td>", keyed);
        // Rows as dictionaries (a CSV read by hand): one column per key, in first-seen order; a key a row lacks is blank.
        var table = f.Format(new List<Dictionary<string, string>> { new() { ["image"] = "a.png", ["syndrome"] = "x" }, new() { ["image"] = "b.png", ["age"] = "3" } });
        Assert.Contains("<th>image</th><th>syndrome</th><th>age</th>", table.Text("text/html"));
        Assert.Contains("<td>b.png</td><td></td><td>3</td>", table.Text("text/html"));
        Assert.StartsWith("image\tsyndrome\tage\na.png\tx\t\n", table.Text("text/plain"));
        // A dictionary in a cell (a ranked syndrome's contributions by region) shows its pairs.
        var ranked = f.Format(new[] { new GestaltLab.Ensemble.RankedSyndrome("cdls_like", 0.3, 1, new Dictionary<string, double> { ["face"] = 0.1, ["nose"] = 0.2 }) });
        Assert.Contains("<td>{face: 0.1, nose: 0.2}</td>", ranked.Text("text/html"));
        Assert.Equal("1. cdls_like 30.0 % (nose 20.0 %, face 10.0 %)", new GestaltLab.Ensemble.RankedSyndrome("cdls_like", 0.3, 1, new Dictionary<string, double> { ["face"] = 0.1, ["nose"] = 0.2 }).ToString());
        var matrix = f.Format(new double[,] { { 1, 0.5 }, { 0, 1 } }).Text("text/html")!;
        Assert.Contains("<td>0</td><td>1</td><td>0.5</td>", matrix);
    }

    public sealed class Row
    {
        public string Name { get; set; } = "";
        public float Score { get; set; }
        [Microsoft.ML.Data.VectorType(3)] public float[] Features { get; set; } = [];
    }

    [Fact]
    public void MlNetDataViewsShowTheirFirstRows()
    {
        var ml = new Microsoft.ML.MLContext(seed: 1);
        var rows = Enumerable.Range(0, 60).Select(i => new Row { Name = $"img{i}", Score = i / 2f, Features = [i, 1, 2] }).ToList();
        var view = ml.Data.LoadFromEnumerable(rows);

        var bundle = new DisplayFormatter { MaxTableRows = 3 }.Format(view);

        string html = bundle.Text("text/html")!;
        Assert.Contains("<th>Name</th><th>Score</th><th>Features</th>", html);
        Assert.Contains("<td>img1</td><td>0.5</td><td>[1, 1, 2]</td>", html);
        Assert.DoesNotContain("img3", html);
        Assert.Contains("3 of 60 rows shown", html);
    }

    [Fact]
    public void ChartsCarryPlotlyJsonHtmlAndASummary()
    {
        var f = new DisplayFormatter();
        var chart = Plotly.NET.CSharp.Chart.Line<double, double, string>(x: new[] { 1.0, 2, 3 }, y: new[] { 1.0, 4, 9 }, Name: "squares");

        var first = f.Format(chart);
        var second = f.Format(chart);

        var figure = first.Data["application/vnd.plotly.v1+json"].AsObject();
        Assert.Equal([1.0, 4, 9], figure["data"]![0]!["y"]!.AsArray().Select(v => v!.GetValue<double>()));
        Assert.Equal("Plotly chart: 1 trace (scatter “squares”)", first.Text("text/plain"));
        // plotly.js is inlined once per notebook (3.6 MB), later charts reuse the global it defines.
        string html1 = first.Text("text/html")!, html2 = second.Text("text/html")!;
        Assert.Contains("data-plotlyjs=", html1);
        Assert.True(html1.Length > 1_000_000);
        Assert.DoesNotContain("data-plotlyjs=", html2);
        Assert.True(html2.Length < 10_000);
        Assert.Contains("Plotly.newPlot", html2);
        Assert.DoesNotMatch("<script[^>]*src=", html1);
        var ids = Regex.Matches(html1 + html2, "<div id=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, ids.Distinct().Count());
    }

    [Fact]
    public async Task CellResultsAndDisplaysUseTheFormatters()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("display.ipynb",
            "#r \"nuget: Plotly.NET.CSharp, 0.14.0\"\nusing Plotly.NET.CSharp;\nrecord Row(string Name, int Count);\n" +
            "display(Chart.Bar<int, string, string>(values: new[] { 3, 4 }, Keys: new[] { \"a\", \"b\" }));\n" +
            "display(new SkiaSharp.SKBitmap(2, 2));\ndisplay(\"<b>bold</b>\", \"text/html\");\ndisplay(HTML(\"<i>it</i>\"));\nnew[] { new Row(\"x\", 1) }",
            "Display(Chart.Point<int, int, string>(x: new[] { 1 }, y: new[] { 2 }));\n\"plain\"");

        var (result, nb) = await Run(path);

        Assert.True(result.Succeeded, result.Failure?.ToString());
        var cells = nb.CodeCells.ToList();
        var outputs = Outputs(cells[0]).ToList();
        Assert.Equal(["display_data", "display_data", "display_data", "display_data", "execute_result"], outputs.Select(o => o["output_type"]!.GetValue<string>()));
        Assert.True(outputs[0]["data"]!.AsObject().ContainsKey("application/vnd.plotly.v1+json"));
        Assert.True(outputs[1]["data"]!.AsObject().ContainsKey("image/png"));
        Assert.Equal("<b>bold</b>", Text(outputs[2]["data"]!["text/html"]));
        Assert.Equal("<i>it</i>", Text(outputs[3]["data"]!["text/html"]));
        Assert.Contains("<td>x</td><td>1</td>", Text(outputs[4]["data"]!["text/html"]));
        Assert.Equal("plain", Text(Single(cells[1], "execute_result")["data"]!["text/plain"]));
        // One plotly.js bundle in the whole notebook.
        Assert.Single(Regex.Matches(File.ReadAllText(path), "data-plotlyjs="));
    }

    [Fact]
    public async Task HtmlRenderingDrawsEveryChartInRealChromiumOffline()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("charts.ipynb",
            "md:# Two charts, one plotly.js",
            "using Plotly.NET.CSharp;\ndisplay(Chart.Line<int, int, string>(x: new[] { 1, 2, 3 }, y: new[] { 2, 4, 8 }));",
            "Chart.Column<int, string, string>(values: new[] { 5, 3 }, Keys: new[] { \"a\", \"b\" })");

        var (result, _) = await Run(path, new NotebookRunOptions { WriteHtml = true, ChartImages = true });

        Assert.True(result.Succeeded, result.Failure?.ToString());
        await using var browser = await GestaltLab.Figures.HeadlessBrowser.LaunchAsync();
        var check = await browser.CheckPageAsync(result.HtmlPath!);
        Assert.Equal(2, check.ChartCount);
        Assert.Equal(2, check.RenderedCharts);
        Assert.Empty(check.ConsoleErrors);
        Assert.Empty(check.FailedRequests);
        // With --chart-images every chart also carries a static PNG, for viewers that strip scripts.
        var nb = Notebook.Load(path);
        var charts = nb.CodeCells.SelectMany(Outputs).Where(o => o["data"]?["application/vnd.plotly.v1+json"] is not null).ToList();
        Assert.Equal(2, charts.Count);
        Assert.All(charts, c =>
        {
            byte[] png = Convert.FromBase64String(Text(c["data"]!["image/png"]));
            using var decoded = SKBitmap.Decode(png);
            Assert.Equal(720, decoded.Width);
            Assert.Contains("<img src=\"data:image/png;base64,", Text(c["data"]!["text/html"]));
        });
    }
}
