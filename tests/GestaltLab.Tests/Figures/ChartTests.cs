using System.Text.Json;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Figures;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Figures;

public class ChartTests
{
    internal static JsonElement Figure(Plotly.NET.GenericChart chart) => JsonDocument.Parse(FigureHtml.Json(chart).Figure).RootElement;

    private static readonly string[] Names = ["delta", "alpha", "charlie", "bravo", "empty"];

    private static int[,] Counts() => new int[,]
    {
        { 5, 1, 0, 0, 0 },
        { 2, 7, 1, 0, 0 },
        { 0, 0, 4, 4, 0 },
        { 0, 0, 3, 6, 0 },
        { 0, 0, 0, 0, 0 },
    };

    [Fact]
    public void A_chart_is_retitled_and_sized_as_a_copy_leaving_the_original_as_it_was()
    {
        var chart = Charts.Confusion(Counts(), Names, new ConfusionOptions { Title = "first" });
        string before = FigureHtml.Json(chart).Figure;
        var retitled = Charts.WithSize(Charts.WithTitle(chart, "second"), 500, 400);
        var layout = Figure(retitled).GetProperty("layout");
        Assert.Equal("second", layout.GetProperty("title").GetProperty("text").GetString());
        Assert.Equal((500, 400), (layout.GetProperty("width").GetInt32(), layout.GetProperty("height").GetInt32()));
        // The rest of the layout (axes, font) is the chart's own.
        Assert.Equal("category", layout.GetProperty("xaxis").GetProperty("type").GetString());
        Assert.Equal(Charts.FontFamily, layout.GetProperty("font").GetProperty("family").GetString());
        Assert.Equal(before, FigureHtml.Json(chart).Figure);
        Assert.Throws<ArgumentOutOfRangeException>(() => Charts.WithSize(chart, 10, 400));
    }

    [Fact]
    public void Confusion_cells_carry_the_counts_and_row_fractions()
    {
        var counts = Counts();
        var fig = Figure(Charts.Confusion(counts, Names, new ConfusionOptions { Order = ClassOrder.Given }));
        var trace = fig.GetProperty("data")[0];
        Assert.Equal("heatmap", trace.GetProperty("type").GetString());
        var x = trace.GetProperty("x").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(["delta", "alpha", "charlie", "bravo"], x); // the empty class is dropped
        // Category axes, so that names that look like numbers (OMIM ids) stay labels, not a numeric scale.
        var layout = fig.GetProperty("layout");
        Assert.Equal("category", layout.GetProperty("xaxis").GetProperty("type").GetString());
        Assert.Equal("category", layout.GetProperty("yaxis").GetProperty("type").GetString());
        var custom = trace.GetProperty("customdata");
        var z = trace.GetProperty("z");
        for (int t = 0; t < 4; t++)
        {
            int rowTotal = Enumerable.Range(0, 5).Sum(p => counts[t, p]);
            double rowSum = 0;
            for (int p = 0; p < 4; p++)
            {
                Assert.Equal(counts[t, p], custom[t][p][0].GetInt32());
                Assert.Equal(rowTotal, custom[t][p][1].GetInt32());
                Assert.Equal(counts[t, p] / (double)rowTotal, z[t][p].GetDouble(), 12);
                rowSum += z[t][p].GetDouble();
            }
            Assert.Equal(1.0, rowSum, 12);
        }
        Assert.Contains("true: %{y}", trace.GetProperty("hovertemplate").GetString());
    }

    [Fact]
    public void Confusion_orders_by_name_or_by_similarity()
    {
        var byName = Figure(Charts.Confusion(Counts(), Names, new ConfusionOptions { Order = ClassOrder.Name }));
        Assert.Equal(["alpha", "bravo", "charlie", "delta"], byName.GetProperty("data")[0].GetProperty("y").EnumerateArray().Select(e => e.GetString()!).ToArray());

        // charlie and bravo confuse each other; alpha and delta do: similarity order keeps each pair adjacent.
        var bySim = Figure(Charts.Confusion(Counts(), Names, new ConfusionOptions { Order = ClassOrder.Similarity }));
        var y = bySim.GetProperty("data")[0].GetProperty("y").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(1, Math.Abs(y.IndexOf("charlie") - y.IndexOf("bravo")));
        Assert.Equal(1, Math.Abs(y.IndexOf("alpha") - y.IndexOf("delta")));
    }

    [Fact]
    public void Confusion_from_probabilities_equals_metrics_counts_at_216_classes()
    {
        int c = 216;
        var rng = new Random(3);
        var truth = new List<int>();
        var probs = new List<float[]>();
        for (int i = 0; i < 700; i++)
        {
            int t = rng.Next(c);
            var p = new float[c];
            for (int k = 0; k < c; k++) p[k] = (float)rng.NextDouble() * 0.1f;
            p[rng.NextDouble() < 0.6 ? t : (t + 1) % c] += 1; // the neighbour class is the usual confusion
            truth.Add(t);
            probs.Add(p);
        }
        var names = Enumerable.Range(0, c).Select(k => $"syn{k:D3}").ToArray();
        var counts = Metrics.ConfusionMatrix(truth, probs, c);
        var trace = Figure(Charts.Confusion(truth, probs, names)).GetProperty("data")[0];
        var shown = trace.GetProperty("y").EnumerateArray().Select(e => Array.IndexOf(names, e.GetString())).ToArray();
        Assert.Equal(shown, trace.GetProperty("x").EnumerateArray().Select(e => Array.IndexOf(names, e.GetString())).ToArray());
        long total = 0;
        for (int r = 0; r < shown.Length; r++)
            for (int q = 0; q < shown.Length; q++)
            {
                int n = trace.GetProperty("customdata")[r][q][0].GetInt32();
                Assert.Equal(counts[shown[r], shown[q]], n);
                total += n;
            }
        Assert.Equal(700, total);

        var compact = Figure(Charts.ConfusionTopK(counts, names, 3)).GetProperty("data")[0];
        var rows = compact.GetProperty("y").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(rows.Length, compact.GetProperty("z").GetArrayLength());
        // Each row's first confusion is the neighbour class, by construction.
        int row0 = Array.IndexOf(names, rows[0]);
        Assert.Equal(names[(row0 + 1) % c], compact.GetProperty("text")[0][1].GetString());
    }

    [Fact]
    public void Embedding_chart_has_one_trace_per_category_with_image_names()
    {
        var emb = new TsneResult([0, 1, 2, 3], [0, 1, 0, 1], 0, TsneMethod.Exact, 1);
        var fig = Figure(Charts.Embedding(emb, ["a.png", "b.png", "c.png", "d.png"], ["X", "Y", "X", "Y"], "gene"));
        var data = fig.GetProperty("data");
        Assert.Equal(2, data.GetArrayLength());
        Assert.Equal("X", data[0].GetProperty("name").GetString());
        Assert.Equal(["a.png", "c.png"], data[0].GetProperty("text").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Contains("gene: X", data[0].GetProperty("hovertemplate").GetString());
        // Light palette colours (yellow) stay visible on a white page: the points have a rim.
        Assert.True(data[0].GetProperty("marker").GetProperty("line").GetProperty("width").GetDouble() > 0);
        // Past the 8 colours colour-blind readers can tell apart, no two categories share both colour and shape.
        int n = 30;
        var many = new TsneResult(Enumerable.Range(0, n).Select(i => (double)i).ToArray(), new double[n], 0, TsneMethod.Exact, 1);
        var traces = Figure(Charts.Embedding(many, Enumerable.Range(0, n).Select(i => $"{i}.png").ToArray(), Enumerable.Range(0, n).Select(i => $"c{i:00}").ToArray()))
            .GetProperty("data").EnumerateArray().Select(t => t.GetProperty("marker")).ToArray();
        Assert.Equal(n, traces.Select(m => m.GetProperty("color").GetString() + m.GetProperty("symbol").GetString()).Distinct().Count());
        Assert.True(traces.Select(m => m.GetProperty("symbol").GetString()).Distinct().Count() > 1);
        // Highlighting: the chosen categories coloured, the rest one grey trace underneath; a category with no point is refused.
        var marked = Figure(Charts.Embedding(many, Enumerable.Range(0, n).Select(i => $"{i}.png").ToArray(), Enumerable.Range(0, n).Select(i => $"c{i:00}").ToArray(),
            highlight: ["c03", "c17"])).GetProperty("data");
        Assert.Equal(["28 other classes", "c03", "c17"], marked.EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToArray());
        Assert.Equal(28, marked[0].GetProperty("x").GetArrayLength());
        Assert.Contains("c05", marked[0].GetProperty("customdata").EnumerateArray().Select(v => v.GetString()));
        Assert.Throws<GestaltLabException>(() => Charts.Embedding(many, Enumerable.Range(0, n).Select(i => $"{i}.png").ToArray(), Enumerable.Range(0, n).Select(i => $"c{i:00}").ToArray(), highlight: ["c99"]));
        // Two categories (the sexes) differ in shape too, which grayscale keeps.
        var two = Figure(Charts.Embedding(emb, ["a.png", "b.png", "c.png", "d.png"], ["F", "M", "F", "M"], "sex")).GetProperty("data");
        Assert.NotEqual(two[0].GetProperty("marker").GetProperty("symbol").GetString(), two[1].GetProperty("marker").GetProperty("symbol").GetString());
        // … using only the 8 colours colour-blind readers tell apart (near-identical hues told 30 classes apart before).
        Assert.All(traces, m => Assert.Contains(m.GetProperty("color").GetString(), PlotlyBuilder.Palette.Take(8)));
    }

    [Fact]
    public void Manifest_column_lookup_reads_standard_and_extra_columns_and_refuses_unknown_ones()
    {
        var m = new Manifest("/tmp", [
            new ManifestRow { Image = "a.png", Subject = "s1", Gene = "KRAS", Split = "test", Extra = new Dictionary<string, string> { ["site"] = "Bonn" } },
            new ManifestRow { Image = "b.png", Subject = "s2", Gene = "RIT1", Split = "test", Extra = new Dictionary<string, string> { ["site"] = "Haifa" } },
        ]);
        Assert.Equal(["RIT1", "KRAS", ""], Charts.ManifestColumn(m, ["b.png", "a.png", "zzz.png"], "gene"));
        Assert.Equal(["Bonn"], Charts.ManifestColumn(m, ["a.png"], "site"));
        var e = Assert.Throws<GestaltLabException>(() => Charts.ManifestColumn(m, ["a.png"], "ethnicity"));
        Assert.Contains("ethnicity", e.Message);
        // An aligned folder's manifest names crops; evaluations name the photos they came from (source_image).
        var aligned = new Manifest("/tmp", [
            new ManifestRow { Image = "crops/1.png", Subject = "s1", Gene = "KRAS", Split = "test", Extra = new Dictionary<string, string> { ["source_image"] = "a.png" } },
        ]);
        Assert.Equal(["KRAS", ""], Charts.ManifestColumn(aligned, ["a.png", "zzz.png"], "gene"));
        // Photos none of which the manifest lists: another data set's manifest, said rather than drawn as one grey group.
        Assert.Contains("none of the 2 photos", Assert.Throws<GestaltLabException>(() => Charts.ManifestColumn(m, ["x.png", "y.png"], "gene")).Message);
    }

    [Fact]
    public void TopK_chart_draws_our_curve_oracle_and_published_points()
    {
        var curve = Enumerable.Range(1, 30).Select(k => Math.Min(1, 0.3 + 0.03 * k)).ToArray();
        var fig = Figure(Charts.TopK([("ours", curve)], PublishedResults.All, new OracleFigures { Top1 = 0.7, Top5 = 0.9, Top10 = 0.97 }));
        var data = fig.GetProperty("data").EnumerateArray().ToArray();
        var ours = data.Single(d => d.GetProperty("name").GetString() == "ours");
        Assert.Equal(30, ours.GetProperty("y").GetArrayLength());
        Assert.Equal(curve[9], ours.GetProperty("y")[9].GetDouble(), 12);
        var dg = data.Single(d => d.GetProperty("name").GetString()!.StartsWith("DeepGestalt"));
        Assert.Equal(10, dg.GetProperty("x")[0].GetInt32());
        Assert.Equal(0.91, dg.GetProperty("y")[0].GetDouble(), 12);
        var gmFrequent = data.Single(d => d.GetProperty("name").GetString()!.Contains("frequent"));
        Assert.Equal([0.53, 0.71, 0.792, 0.9], gmFrequent.GetProperty("y").EnumerateArray().Select(e => e.GetDouble()).ToArray());
        Assert.Single(data, d => d.GetProperty("name").GetString()!.StartsWith("oracle"));

        // Where the classes are unequally frequent the equal-prior oracle is drawn too; where it is the same, once is enough.
        var skewed = new OracleFigures { Top1 = 0.79, Top5 = 0.94, Top10 = 0.96, EqualPriors = new OracleTopK { Top1 = 0.74, Top5 = 0.90, Top10 = 0.93 } };
        var both = Figure(Charts.TopK([("ours", curve)], oracle: skewed)).GetProperty("data").EnumerateArray().ToArray();
        var equal = both.Single(d => d.GetProperty("name").GetString() == "oracle, equal priors");
        Assert.Equal([0.74, 0.90, 0.93], equal.GetProperty("y").EnumerateArray().Select(e => e.GetDouble()).ToArray());
        var balanced = skewed with { EqualPriors = new OracleTopK { Top1 = 0.79, Top5 = 0.94, Top10 = 0.96 } };
        Assert.Single(Figure(Charts.TopK([("ours", curve)], oracle: balanced)).GetProperty("data").EnumerateArray(),
            d => d.GetProperty("name").GetString()!.StartsWith("oracle"));
        // Over few classes k stops early: points past it are not drawn, nor listed in the legend.
        var few = Figure(Charts.TopK([("ours", [0.6, 1.0])], PublishedResults.All, skewed)).GetProperty("data").EnumerateArray().ToArray();
        Assert.DoesNotContain(few, d => d.GetProperty("name").GetString()!.StartsWith("DeepGestalt"));
        Assert.All(few, d => Assert.All(d.GetProperty("x").EnumerateArray(), x => Assert.InRange(x.GetDouble(), 1, 2)));
        Assert.Equal([0.79], few.Single(d => d.GetProperty("name").GetString()!.StartsWith("oracle (")).GetProperty("y").EnumerateArray().Select(e => e.GetDouble()).ToArray());
        Assert.Contains(few, d => d.GetProperty("name").GetString()!.Contains("frequent"));   // its top-1 is in range
    }

    [Fact]
    public void Training_curves_region_bars_and_contributions_hold_the_values()
    {
        var curves = new Dictionary<string, IReadOnlyList<CurvePoint>>
        {
            ["nose"] = [new(1, 2.0, 0.3, 2.1, 0.25), new(2, 1.5, 0.5, 1.7, 0.45)],
            ["eyes"] = [new(1, 1.9, 0.35, 2.0, 0.3), new(2, 1.2, 0.6, 1.4, 0.55)],
        };
        var tc = Figure(Charts.TrainingCurves(curves)).GetProperty("data");
        Assert.Equal(8, tc.GetArrayLength()); // 2 regions × {train, val} × {loss, accuracy}
        Assert.Equal(1.2, tc[0].GetProperty("y")[1].GetDouble(), 12); // eyes train loss, epoch 2 (regions sorted)
        Assert.Equal("y2", tc[2].GetProperty("yaxis").GetString());
        // The two regions differ in marker shape as well as colour; a region keeps its shape on every curve.
        Assert.NotEqual(tc[0].GetProperty("marker").GetProperty("symbol").GetString(), tc[4].GetProperty("marker").GetProperty("symbol").GetString());
        Assert.Equal(tc[0].GetProperty("marker").GetProperty("symbol").GetString(), tc[3].GetProperty("marker").GetProperty("symbol").GetString());

        var bars = Figure(Charts.RegionAccuracy([new("nose", 0.4, 0.7, 0.8), new("ensemble", 0.6, 0.85, 0.95), new("eyes", 0.5, 0.75, 0.9)])).GetProperty("data");
        Assert.Equal(["eyes", "nose", "ensemble"], bars[0].GetProperty("x").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(0.6, bars[0].GetProperty("y")[2].GetDouble(), 12);
        Assert.Equal(3, bars.GetArrayLength());
        // Grayscale print keeps only lightness: top-1, top-5 and top-10 must differ in it, the stricter measure darker
        // (sky blue and orange, used before, are one grey), each step a contrast of at least 1.5 : 1.
        var luminance = bars.EnumerateArray().Select(t => RelativeLuminance(t.GetProperty("marker").GetProperty("color").GetString()!)).ToArray();
        for (int k = 1; k < luminance.Length; k++) Assert.True((luminance[k] + 0.05) / (luminance[k - 1] + 0.05) >= 1.5, string.Join(", ", luminance));
        // Over 10 classes or fewer top-10 is 100 % by construction: no such bars (the report's table prints "—").
        var fewClasses = Figure(Charts.RegionAccuracy([new("nose", 0.4, 0.7, 1.0)], classCount: 10)).GetProperty("data");
        Assert.Equal(["top-1", "top-5"], fewClasses.EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToArray());
        // Whiskers: each bar's own top-1 interval, on the top-1 bars only (their values then inside the bars); a region
        // without an interval gets none.
        var whiskered = Figure(Charts.RegionAccuracy([new("nose", 0.4, 0.7, 0.8), new("eyes", 0.45, 0.7, 0.8), new("ensemble", 0.6, 0.85, 0.95)],
            top1Intervals: new Dictionary<string, ConfidenceInterval> { ["nose"] = new(0.4, 0.3, 0.55, 0.95), ["ensemble"] = new(0.6, 0.5, 0.7, 0.95) })).GetProperty("data");
        var errors = whiskered[0].GetProperty("error_y");
        Assert.Equal("top-1 (95% interval)", whiskered[0].GetProperty("name").GetString());
        Assert.Equal("inside", whiskered[0].GetProperty("textposition").GetString());
        // Bars in order eyes, nose, ensemble.
        Assert.Equal(JsonValueKind.Null, errors.GetProperty("array")[0].ValueKind);
        Assert.Equal(0.15, errors.GetProperty("array")[1].GetDouble(), 9);
        Assert.Equal(0.1, errors.GetProperty("arrayminus")[1].GetDouble(), 9);
        Assert.Equal(0.1, errors.GetProperty("array")[2].GetDouble(), 9);
        Assert.False(whiskered[1].TryGetProperty("error_y", out _));

        var contrib = Figure(Charts.RegionContributions(
            new Dictionary<string, float[]> { ["eyes"] = [0.7f, 0.2f, 0.1f], ["mouth"] = [0.2f, 0.5f, 0.3f] },
            [0.45f, 0.35f, 0.2f], ["A", "B", "C"], top: 2)).GetProperty("data");
        Assert.Equal(3, contrib.GetArrayLength());
        Assert.Equal(["A", "B"], contrib[0].GetProperty("x").EnumerateArray().Select(e => e.GetString()!).ToArray());
        Assert.Equal(0.5, contrib[1].GetProperty("y")[1].GetDouble(), 6);
        Assert.Equal("ensemble", contrib[2].GetProperty("name").GetString());
    }

    // WCAG's relative luminance of a #rrggbb colour.
    private static double RelativeLuminance(string hex)
    {
        double Channel(int i)
        {
            double c = Convert.ToInt32(hex.Substring(1 + 2 * i, 2), 16) / 255.0;
            return c <= 0.03928 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4);
        }
        return 0.2126 * Channel(0) + 0.7152 * Channel(1) + 0.0722 * Channel(2);
    }

    [Fact]
    public void A_published_source_keeps_its_marker_in_every_chart()
    {
        // Whichever sources a chart shows (the face-space chart shows GestaltMatcher's alone): one legend serves a paper
        // with both charts.
        (string, double[])[] curve = [("model", [0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96])];
        Dictionary<string, string> Symbols(IEnumerable<PublishedFigure> shown) => Figure(Charts.TopK(curve, shown)).GetProperty("data").EnumerateArray()
            .Where(t => t.GetProperty("name").GetString()!.StartsWith("GestaltMatcher", StringComparison.Ordinal))
            .ToDictionary(t => t.GetProperty("name").GetString()!, t => t.GetProperty("marker").GetProperty("symbol").GetString()!);
        var inAll = Symbols(PublishedResults.All);
        var alone = Symbols(PublishedResults.All.Where(f => f.Source.StartsWith("GestaltMatcher", StringComparison.Ordinal)));
        Assert.Equal(2, alone.Count);
        Assert.Equal(inAll, alone);
        Assert.NotEqual(alone.Values.First(), alone.Values.Last());
    }
}
