using System.Xml.Linq;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Figures;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Figures;

/// <summary>One headless Chromium for every browser test in this collection (launching costs ~1 s each time).</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public HeadlessBrowser Browser { get; private set; } = null!;
    public string Work { get; } = TestTemp.Dir("gestaltlab-figures");

    public async Task InitializeAsync() => Browser = await HeadlessBrowser.LaunchAsync();

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        try { Directory.Delete(Work, true); } catch (IOException) { }
    }
}

[CollectionDefinition("browser")]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>;

public class OfflineHtmlTests
{
    [Fact]
    public void Saved_chart_inlines_plotly_and_references_nothing_remote()
    {
        string dir = TestTemp.Dir("gestaltlab-html");
        try
        {
            string path = Path.Combine(dir, "topk.html");
            FigureHtml.Save(Charts.TopK([("ours", [0.5, 0.7, 0.8])], PublishedResults.All), path);
            string html = File.ReadAllText(path);
            Assert.Empty(FigureHtml.RemoteReferences(html));
            Assert.DoesNotContain("<script src", html, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("2.28.0", FigureHtml.PlotlyJsVersion);
            Assert.True(html.Length > 3_000_000, "plotly.js is not inlined");
            // A page carries its chart's data (hover text may name photos): its owner's alone unless said otherwise.
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(path) & (UnixFileMode)Convert.ToInt32("007", 8));
                string shared = Path.Combine(dir, "shared.html");
                FigureHtml.Save(Charts.TopK([("ours", [0.5, 0.7, 0.8])], PublishedResults.All), shared, ownerOnly: false);
                Assert.NotEqual(UnixFileMode.None, File.GetUnixFileMode(shared) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead));
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Plotly_net_own_html_is_offline_once_charts_are_used()
    {
        var chart = Charts.RegionAccuracy([new("nose", 0.4, 0.7, 0.8)]);
        string html = Plotly.NET.GenericChart.toEmbeddedHTML(chart);
        Assert.Empty(FigureHtml.RemoteReferences(html));
        Assert.Contains(FigureHtml.PlotlyJs[..100], html);
    }

    [Fact]
    public void A_chart_in_a_page_is_named_for_screen_readers_and_says_what_it_is_without_scripts()
    {
        var chart = Charts.RegionAccuracy([new("nose", 0.4, 0.7, 0.8)], title: "Regions <br><sub>a & b</sub>");
        string html = FigureHtml.ChartFragment(chart, "c1");
        Assert.Contains("role=\"img\" aria-label=\"Chart: Regions — a &amp; b\">Chart: Regions — a &amp; b (interactive:", html);
        // The words are cleared before plotly draws (they would sit above the chart).
        Assert.True(html.IndexOf("e.textContent=''", StringComparison.Ordinal) < html.IndexOf("Plotly.newPlot(e", StringComparison.Ordinal));
    }

    [Fact]
    public void Remote_reference_check_catches_cdn_scripts_links_images_and_css()
    {
        Assert.NotEmpty(FigureHtml.RemoteReferences("<script src=\"https://cdn.plot.ly/plotly-2.28.0.min.js\"></script>"));
        Assert.NotEmpty(FigureHtml.RemoteReferences("<link rel=stylesheet href=//fonts.example.org/a.css>"));
        Assert.NotEmpty(FigureHtml.RemoteReferences("<img src='http://example.org/x.png'>"));
        Assert.NotEmpty(FigureHtml.RemoteReferences("<style>body{background:url(https://example.org/b.png)}</style>"));
        Assert.Empty(FigureHtml.RemoteReferences("<script>var u = \"https://example.org\"; // data, not a reference</script><img src=\"data:image/png;base64,AAAA\"><a href=\"#top\">x</a><img src=\"faces/a.png\">"));
    }

    [Fact]
    public void Report_embeds_plotly_once_and_lists_every_section_from_a_computed_run()
    {
        string dir = TestTemp.Dir("gestaltlab-run");
        try
        {
            var names = SyntheticRun.Write(dir, classes: 8);
            var result = Report.Write(dir, options: new ReportOptions { BootstrapIterations = 200 });
            Assert.Equal(Path.Combine(dir, "report.html"), result.Path);
            // Displayed in a notebook as the CLI says it, not as type names.
            Assert.StartsWith($"{result.Path} ({result.ChartCount} charts; sections: Metrics, ", result.ToString());
            string html = File.ReadAllText(result.Path);
            Assert.Empty(FigureHtml.RemoteReferences(html));
            Assert.True(CountOf(html, FigureHtml.PlotlyJs[..200]) == 1, "plotly.js must be inlined exactly once for all charts");
            Assert.Contains("Metrics", result.Sections);
            Assert.Contains("Top-k accuracy", result.Sections);
            Assert.Contains("Confusion matrix", result.Sections);
            Assert.Contains("Face space (t-SNE)", result.Sections);
            Assert.Contains("Syndromic vs unaffected (ROC)", result.Sections); // the run has an 'unaffected' class
            Assert.Contains("Facial regions", result.Sections);
            Assert.Contains("Accuracy by stratum", result.Sections);
            Assert.Contains("Training curves", result.Sections);
            // top-k, confusion, ROC, t-SNE by true class, t-SNE by gene (from the manifest named in run.json), regions, strata, curves
            Assert.Equal(8, result.ChartCount);
            Assert.Equal(result.ChartCount, CountOf(html, "class=\"gl-chart\""));
            Assert.Contains("91.0%", html); // DeepGestalt's published top-10 beside ours
            Assert.Contains("79.2%", html); // GestaltMatcher frequent per-disorder top-10
            var metrics = ClassificationMetrics.Load(Path.Combine(dir, "metrics.json"));
            Assert.Contains((metrics.Top1 * 100).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + "%", html);
            Assert.Contains(names[0], html);
            // The regions table says, with a paired interval, how much better the ensemble ranks than each region.
            Assert.Contains("ensemble − region, top-1 (points) [95% CI]", html);
            // Its chart's top-1 bars carry their own intervals as whiskers; the ensemble's is the metrics table's top-1 interval.
            var content = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 200 });
            var top1Bars = ChartTests.Figure(content.Charts.Single(c => c.Name.Contains("facial-regions")).Chart).GetProperty("data")[0];
            var whisker = top1Bars.GetProperty("error_y");
            int last = top1Bars.GetProperty("x").GetArrayLength() - 1;
            Assert.Equal("ensemble", top1Bars.GetProperty("x")[last].GetString());
            double top1 = top1Bars.GetProperty("y")[last].GetDouble();
            string Pct(double v) => (v * 100).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + "%";
            Assert.Contains($"[{Pct(top1 - whisker.GetProperty("arrayminus")[last].GetDouble())}, {Pct(top1 + whisker.GetProperty("array")[last].GetDouble())}]", html);
            // Accuracy by stratum as metrics.json records it: each group's row with its interval, the column's test, the forest plot.
            var strata = metrics.Strata!;
            Assert.Equal(["sex", "skin_tone"], strata.Columns.Keys);
            Assert.Equal(["III", "IV", "V"], strata.Columns["skin_tone"].Values.Keys);
            var female = strata.Columns["sex"].Values["female"];
            Assert.Contains($"<th scope=\"row\">sex</th><td>female</td><td>{female.NImages}</td><td>{female.NSubjects}</td><td>{Pct(female.Top1)} <span class=\"muted\">[{Pct(female.Top1Interval![0])}, {Pct(female.Top1Interval[1])}]</span>", html);
            Assert.Contains(strata.Columns["sex"].PText!, html);
            var forest = ChartTests.Figure(content.Charts.Single(c => c.Name == "accuracy-by-stratum").Chart).GetProperty("data");
            var groupsDrawn = forest.EnumerateArray().Single(t => t.GetProperty("name").GetString()!.StartsWith("top-1"));
            Assert.Equal(2 + 3, groupsDrawn.GetProperty("x").GetArrayLength());
            Assert.Equal(female.Top1, groupsDrawn.GetProperty("x")[0].GetDouble());
            // The ROC says what it rests on, and cautions when one side has few people.
            var probs = ImageTable.Load(Path.Combine(dir, "probabilities.csv"));
            var negatives = Enumerable.Range(0, probs.Count).Where(i => probs.TrueLabels[i] == "unaffected").ToList();
            Assert.Contains($"{probs.Count - negatives.Count} vs {negatives.Count} photos", html);
            bool few = negatives.Select(i => probs.Subjects[i]).Distinct().Count() < 30;
            Assert.Equal(few, html.Contains("Caution (ROC): the unaffected side rests on"));
            // … in the notes too, which report and export print (an exported ROC travels without the page).
            Assert.Equal(few, content.Notes.Any(n => n.StartsWith("Caution (ROC): the unaffected side rests on")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_page_for_sharing_shows_no_figures_of_a_stratum_group_of_a_few_people()
    {
        string dir = TestTemp.Dir("gestaltlab-run");
        SyntheticRun.Write(dir, classes: 8);
        // Skin tone VI: two people of the test split, whom colleagues could name.
        string metricsFile = Path.Combine(dir, "metrics.json");
        var metrics = ClassificationMetrics.Load(metricsFile);
        var skin = metrics.Strata!.Columns["skin_tone"];
        var few = skin.Values["III"] with { NImages = 4, NSubjects = 2, Top1 = 0.25, Top1Interval = [0.01, 0.8] };
        var strata = metrics.Strata with
        {
            Columns = new Dictionary<string, StratumColumn>(metrics.Strata.Columns)
            {
                ["skin_tone"] = skin with { Values = new Dictionary<string, StratumScore>(skin.Values) { ["VI"] = few } },
                ["clinic"] = skin with { },   // a manifest's own column: not on a page for sharing
            },
        };
        (metrics with { Strata = strata }).Save(metricsFile);
        var team = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0 });
        var shared = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0, PhotoNames = false });
        Assert.Contains("<th scope=\"row\">skin_tone</th><td>VI</td><td>4</td><td>2</td><td>25.0%", team.Html);
        Assert.Contains("<th scope=\"row\">clinic</th>", team.Html);
        Assert.Contains($"<th scope=\"row\">skin_tone</th><td>VI</td><td><span class=\"muted\">fewer than {Report.SharedStratumMinimum} people", shared.Html);
        Assert.DoesNotContain("25.0%", shared.Html);
        Assert.DoesNotContain("<th scope=\"row\">clinic</th>", shared.Html);
        int Drawn(ReportContent c) => ChartTests.Figure(c.Charts.Single(x => x.Name == "accuracy-by-stratum").Chart).GetProperty("data")
            .EnumerateArray().Single(t => t.GetProperty("name").GetString()!.StartsWith("top-1")).GetProperty("x").GetArrayLength();
        // VI and, not to be given back by subtraction, the next smallest skin tone; the clinic column's three.
        Assert.Equal(Drawn(team) - 2 - skin.Values.Count, Drawn(shared));
        Assert.Contains("left out with the group of fewer, which it would give away", shared.Html);
        Assert.Contains("VI  (not shown: few people)", ChartTests.Figure(shared.Charts.Single(x => x.Name == "accuracy-by-stratum").Chart).GetProperty("layout").GetProperty("yaxis").GetProperty("ticktext").ToString());
        // Strata a shared run's file holds that no evaluation writes are left out with the reason, never drawn.
        File.WriteAllText(metricsFile, File.ReadAllText(metricsFile).Replace("\"n_unknown\": 0", "\"n_unknown\": -3"));
        var damaged = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0 });
        Assert.Contains("Accuracy by stratum skipped: metrics.json&#39;s strata column", damaged.Html);
        Assert.DoesNotContain(damaged.Charts, c => c.Name == "accuracy-by-stratum");
    }

    [Fact]
    public void A_t_SNE_map_of_many_classes_highlights_the_ones_asked_for()
    {
        string dir = Path.Combine(TestTemp.Dir("gl-report-highlight"), "run");
        var names = SyntheticRun.Write(dir, classes: 8, withManifest: false);
        var content = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0, TsneHighlight = [names[0], names[2]] });
        var map = content.Charts.Single(c => c.Name.Contains("t-sne", StringComparison.OrdinalIgnoreCase));
        var traces = ChartTests.Figure(map.Chart).GetProperty("data").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToArray();
        Assert.Equal(["6 other classes", names[0], names[2]], traces);
        Assert.Contains("t-SNE highlights", content.Html);
        // A name that is not a class of the run is refused before the work, naming it.
        var e = Assert.Throws<GestaltLabException>(() => Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0, TsneHighlight = ["Noonan"] }));
        Assert.Contains("'Noonan': not a class of this run", e.Message);
        // Asked for beside maps that cannot show it, it is refused rather than ignored.
        e = Assert.Throws<GestaltLabException>(() => Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0, TsneHighlight = [names[0]], TsneColourBy = ["gene"] }));
        Assert.Contains("maps coloured by gene only", e.Message);
    }

    [Fact]
    public void A_t_SNE_map_of_more_classes_than_markers_colours_the_most_frequent_unless_told_otherwise()
    {
        string dir = Path.Combine(TestTemp.Dir("gl-report-many"), "run");
        var names = SyntheticRun.Write(dir, classes: 60, withManifest: false, epochs: 3);
        var run = RunResults.Load(dir);
        string[] Traces(ReportContent c) => ChartTests.Figure(c.Charts.Single(x => x.Name.Contains("t-sne", StringComparison.OrdinalIgnoreCase)).Chart)
            .GetProperty("data").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToArray();
        var content = Report.Build(run, new ReportOptions { BootstrapIterations = 0 });
        // More classes than the 56 colour-and-shape pairs: the 8 with the most mapped photos (ties by name), the rest grey.
        var mostFrequent = run.Embeddings!.TrueLabels.GroupBy(l => l).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .Take(8).Select(g => g.Key).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["52 other classes", .. mostFrequent], Traces(content));
        Assert.Contains("the 8 most frequent of 60 classes coloured", content.Html);
        Assert.Contains("--highlight", content.Html);
        // Chosen classes replace them; a map of few classes is coloured in full as before.
        Assert.Equal(["59 other classes", names[3]], Traces(Report.Build(run, new ReportOptions { BootstrapIterations = 0, TsneHighlight = [names[3]] })));
        Assert.Null(Charts.DefaultHighlight(names.Take(Charts.DistinctMarkers).ToArray()));
        // By count first: two classes with more points lead, whatever their names.
        Assert.Equal(["zz", "zy", .. names.Order(StringComparer.Ordinal).Take(6)], Charts.DefaultHighlight([.. names, "zy", "zy", "zz", "zz", "zz"]));
        Directory.Delete(Path.GetDirectoryName(dir)!, true);
    }

    [Fact]
    public void A_manifest_of_other_photos_is_said_to_be_one()
    {
        string dir = Path.Combine(TestTemp.Dir("gl-report-manifest"), "run");
        SyntheticRun.Write(dir, classes: 5);
        var own = Manifest.Load(Path.Combine(dir, "data"));
        // Another data set's manifest: none of the scored photos; one missing a few of them.
        string other = Path.Combine(Path.GetDirectoryName(dir)!, "other", Manifest.FileName);
        Directory.CreateDirectory(Path.GetDirectoryName(other)!);
        new Manifest(Path.GetDirectoryName(other)!, own.Rows.Select(r => r with { Image = "x-" + r.Image })).Save(other);
        var content = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0, ManifestPath = other });
        Assert.Contains(content.Notes, n => n.Contains("names none of the") && n.Contains("not used"));
        string partial = Path.Combine(Path.GetDirectoryName(dir)!, "partial", Manifest.FileName);
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        var test = own.Rows.Where(r => r.Split == "test").ToList();
        new Manifest(Path.GetDirectoryName(partial)!, own.Rows.Where(r => r != test[0] && r != test[1])).Save(partial);
        content = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0, ManifestPath = partial });
        Assert.Contains(content.Notes, n => n.StartsWith("2 of the", StringComparison.Ordinal) && n.Contains("are not in the data manifest"));
        // Its own manifest: no such note.
        content = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 0 });
        Assert.DoesNotContain(content.Notes, n => n.Contains("data manifest") && n.Contains("scored photos"));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]   // file modes
    public void Tables_not_as_their_evaluation_wrote_them_are_left_out_and_said()
    {
        string dir = TestTemp.Dir("gestaltlab-run");
        try
        {
            SyntheticRun.Write(dir, classes: 6);
            // An evaluation from before the record kept hashes: a probabilities.csv cut short disagrees with the metrics'
            // photo count, and is not drawn under their figures.
            string table = Path.Combine(dir, "probabilities.csv");
            var lines = File.ReadAllLines(table);
            File.WriteAllLines(table, lines.Take(lines.Length / 2));
            var run = RunResults.Load(dir);
            Assert.Null(run.Probabilities);
            Assert.Contains(run.Notes, n => n.StartsWith("probabilities.csv: left out — ") && n.Contains($"metrics.json counts {lines.Length - 1}"));
            // One that recorded its tables' hashes: an edited embeddings.csv is left out; a region's deleted table stops the
            // paired region comparison (the ensemble must not be found to beat "every region" among two of three).
            File.WriteAllLines(table, lines);
            EvaluationRecord.Finished(dir, Path.Combine(dir, "metrics.json"),
                ["classes.json", "region_metrics.csv", "probabilities.csv", "embeddings.csv", .. SyntheticRun.Regions.Select(r => $"region_probabilities/{r}.csv")]);
            Assert.Empty(EvaluationRecord.ChangedFiles(dir));
            Assert.NotNull(RunResults.Load(dir).Probabilities);
            string embeddings = Path.Combine(dir, "embeddings.csv");
            File.WriteAllText(embeddings, File.ReadAllText(embeddings).Replace("e0,", "e0 ,"));
            run = RunResults.Load(dir);
            Assert.Null(run.Embeddings);
            Assert.Contains(run.Notes, n => n.StartsWith("embeddings.csv: left out — changed since the evaluation wrote it"));
            File.Delete(Path.Combine(dir, "region_probabilities", "nose.csv"));
            Assert.Contains("nose.csv: missing", Assert.Throws<GestaltLabException>(() => RunComparison.CompareRegions(dir)).Message);
            var page = Report.Write(dir, options: new ReportOptions { BootstrapIterations = 200 });
            Assert.Matches("Paired region comparison skipped: [^<]*nose.csv: missing", File.ReadAllText(page.Path));
            // A trained net whose training curve is gone: said, not a chart a region short.
            Directory.CreateDirectory(Path.Combine(dir, "regions"));
            foreach (var r in SyntheticRun.Regions) File.WriteAllText(Path.Combine(dir, "regions", r + ".pt"), "");
            File.Delete(Path.Combine(dir, "curves", "eyes.csv"));
            Assert.Contains(RunResults.Load(dir).Notes, n => n.StartsWith("curves/eyes.csv: not in the run directory"));
            // A page naming photos is its owner's alone wherever it goes; a folder made for it too.
            string elsewhere = Path.Combine(TestTemp.Dir("gl-report-out"), "paper", "report.html");
            Report.Write(dir, elsewhere, new ReportOptions { BootstrapIterations = 0 });
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(elsewhere));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(elsewhere)!));
            // Five resamples are no "95% CI": refused, as compare refuses them.
            foreach (int few in new[] { 5, -1 })
                Assert.Contains("too few for a 95% interval", Assert.Throws<GestaltLabException>(() => Report.Build(run, new ReportOptions { BootstrapIterations = few })).Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Default_tsne_colourings_leave_out_an_empty_gene_column_quietly_and_a_requested_one_is_named()
    {
        string dir = TestTemp.Dir("gestaltlab-run");
        try
        {
            SyntheticRun.Write(dir, classes: 6);
            string data = Path.Combine(dir, "data");
            var m = Manifest.Load(data);
            new Manifest(m.Root, m.Rows.Select(r => r with { Gene = "" }).ToList()).Save(Path.Combine(data, Manifest.FileName));
            var quiet = Report.Write(dir, options: new ReportOptions { BootstrapIterations = 0 });
            Assert.DoesNotContain(quiet.Notes, n => n.Contains("'gene'"));
            Assert.Equal(7, quiet.ChartCount); // the true-class map only (and the strata's forest plot)
            var asked = Report.Write(dir, options: new ReportOptions { BootstrapIterations = 0, TsneColourBy = ["true", "gene"] });
            Assert.Contains(asked.Notes, n => n.Contains("t-SNE by 'gene' skipped: the column is empty"));
            Assert.Equal(7, asked.ChartCount);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Top_k_band_is_the_interval_the_metrics_table_prints()
    {
        string dir = TestTemp.Dir("gestaltlab-run");
        try
        {
            SyntheticRun.Write(dir, classes: 12);
            var content = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 400, Seed = 2, TsneColourBy = ["true"] });
            var traces = ChartTests.Figure(content.Charts.Single(c => c.Name.Contains("top-k")).Chart).GetProperty("data").EnumerateArray().ToArray();
            // The band: its upper edge, then its lower edge (the filled trace, named in the legend).
            int lowerEdge = Array.FindIndex(traces, t => t.TryGetProperty("name", out var name) && name.GetString()!.StartsWith("95% interval"));
            double upper = traces[lowerEdge - 1].GetProperty("y")[0].GetDouble(), lower = traces[lowerEdge].GetProperty("y")[0].GetDouble();
            // Chance, k / C, drawn beneath.
            Assert.Contains(traces, t => t.TryGetProperty("name", out var name) && name.GetString() == "chance (k / 12)");
            string Pct(double v) => (v * 100).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + "%";
            Assert.Contains($"[{Pct(lower)}, {Pct(upper)}]", content.Html);
            Assert.DoesNotContain("no interval", content.Html);
            // One syndrome left with a single test person: its per-disorder share would be the same in every resample,
            // so the per-disorder rows go without an interval and say why; per-image intervals stay.
            string probsCsv = Path.Combine(dir, "probabilities.csv");
            File.WriteAllLines(probsCsv, File.ReadAllLines(probsCsv).Where(l => !l.Contains(",s00-05,")));
            // … as an evaluation of those photos would have counted them (a table shorter than its metrics' count is left out).
            string metricsPath = Path.Combine(dir, "metrics.json");
            var metricsNode = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(metricsPath))!;
            metricsNode["n_images"] = File.ReadAllLines(probsCsv).Length - 1;
            File.WriteAllText(metricsPath, metricsNode.ToJsonString());
            var single = Report.Build(RunResults.Load(dir), new ReportOptions { BootstrapIterations = 400, Seed = 2, TsneColourBy = ["true"] });
            Assert.Contains("(no interval: 1 syndrome has a single person)", single.Html);
            Assert.Matches(@"top-1 \(per image\)</th><td>\d+\.\d% <span class=""muted"">\[", single.Html);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Intervals_resample_whole_families_when_the_data_names_them()
    {
        string dir = TestTemp.Dir("gestaltlab-run");
        try
        {
            SyntheticRun.Write(dir, classes: 24);
            var options = new ReportOptions { BootstrapIterations = 200, TsneColourBy = ["true"] };
            string page = File.ReadAllText(Report.Write(dir, options: options).Path);
            Assert.Contains("bootstrap over subjects", page);
            // The oracle is explained where there is one (synthetic data), not on a run of real photos.
            Assert.Contains("Oracle: the Bayes classifier", page);
            string metricsPath = Path.Combine(dir, "metrics.json");
            string synthetic = File.ReadAllText(metricsPath);
            (ClassificationMetrics.Load(metricsPath) with { Oracle = null }).Save(metricsPath);
            Assert.DoesNotContain("Oracle: the Bayes classifier", File.ReadAllText(Report.Write(dir, options: options).Path));
            // A shared run's metrics.json is held to what evaluate writes: markup in its words is refused (named in a note),
            // never put into the page.
            (ClassificationMetrics.Load(metricsPath) with { Split = "<img src=x onerror=alert(1)>", Priors = "<script>alert(2)</script>" }).Save(metricsPath);
            Assert.Throws<GestaltLabException>(() => ClassificationMetrics.Load(metricsPath));
            string crafted = File.ReadAllText(Report.Write(dir, options: options).Path);
            Assert.DoesNotContain("<img src=x", crafted);
            Assert.DoesNotContain("<script>alert(2)", crafted);
            Assert.Contains("metrics.json: unreadable", crafted);
            File.WriteAllText(metricsPath, synthetic);
            // Composites' privacy floor is checked before any section is built.
            Assert.Contains("floor", Assert.Throws<GestaltLabException>(() => Report.Write(dir, options: options with { MinimumCohort = 5 })).Message);
            Assert.DoesNotContain("over families", page);
            // Relatives share genes and faces: with families in the manifest, each family is resampled whole.
            string data = Path.Combine(dir, "data");
            var m = Manifest.Load(data);
            var tested = m.Rows.Where(r => r.Split == SplitNames.Test).Select(r => r.Subject).Distinct().Order(StringComparer.Ordinal).ToList();
            new Manifest(m.Root, m.Rows.Select(r => r with { Family = tested.Contains(r.Subject) ? "fam" + tested.IndexOf(r.Subject) / 3 : r.Subject }).ToList())
                .Save(Path.Combine(data, Manifest.FileName));
            string withFamilies = File.ReadAllText(Report.Write(dir, options: options).Path);
            Assert.Contains("bootstrap over families (relatives together)", withFamilies);
            Assert.DoesNotContain("bootstrap over subjects", withFamilies);
            // Fewer, larger resampling units: the intervals are not those of the subject-level page.
            Assert.NotEqual(Intervals(page), Intervals(withFamilies));
            // The page says how many units were resampled, and cautions where they are few.
            Assert.Matches(@"bootstrap over subjects \(\d+ of them\)", page);
            // Probabilities without a subject column: photos are the units, and the page says so rather than "subjects".
            string probsCsv = Path.Combine(dir, "probabilities.csv");
            File.WriteAllLines(probsCsv, File.ReadAllLines(probsCsv).Select(l => string.Join(",", l.Split(',').Where((_, i) => i != 1))));
            string withoutSubjects = File.ReadAllText(Report.Write(dir, options: options).Path);
            Assert.Contains("bootstrap over photos (probabilities.csv names no subjects", withoutSubjects);
        }
        finally { Directory.Delete(dir, true); }

        static string Intervals(string html) => string.Join(";", System.Text.RegularExpressions.Regex.Matches(html, @"\[\d+\.\d%, \d+\.\d%\]").Select(x => x.Value));
    }

    [Fact]
    public void Report_of_a_partial_run_skips_missing_figures_with_notes()
    {
        string dir = TestTemp.Dir("gestaltlab-run");
        try
        {
            SyntheticRun.Write(dir, classes: 5, withManifest: false);
            File.Delete(Path.Combine(dir, "embeddings.csv"));
            Directory.Delete(Path.Combine(dir, "curves"), true);
            File.WriteAllText(Path.Combine(dir, "region_metrics.csv"), "region,top1\nnose,not-a-number\n");
            var result = Report.Write(dir, Path.Combine(dir, "out", "r.html"), new ReportOptions { BootstrapIterations = 100 });
            Assert.True(File.Exists(result.Path));
            Assert.Contains(result.Notes, n => n.StartsWith("embeddings.csv: not in the run directory"));
            Assert.Contains(result.Notes, n => n.StartsWith("curves/"));
            Assert.Contains(result.Notes, n => n.Contains("region_metrics.csv") && n.Contains("line 2"));
            Assert.DoesNotContain(result.Notes, n => n.Contains("did not finish") || n.StartsWith("no evaluation"));
            string html = File.ReadAllText(result.Path);
            Assert.Contains("t-SNE skipped", html);
            Assert.Contains("Training curves skipped", html);
            Assert.Throws<GestaltLabException>(() => Report.Write(Path.Combine(dir, "no-such-run")));
            // A folder holding nothing a run writes (here: a data folder) gets an error, not an empty report inside it.
            string notARun = Path.Combine(dir, "photos");
            Directory.CreateDirectory(notARun);
            File.WriteAllText(Path.Combine(notARun, "manifest.csv"), "image,syndrome\n");
            Assert.Contains("no run results", Assert.Throws<GestaltLabException>(() => Report.Write(notARun)).Message);
            Assert.False(File.Exists(Path.Combine(notARun, "report.html")));
            // A run folder whose training did not finish, and that no evaluation scored, says so first, with what to run,
            // instead of a note per missing table.
            string stopped = Path.Combine(dir, "stopped-run");
            Directory.CreateDirectory(Path.Combine(stopped, "curves"));
            File.WriteAllText(Path.Combine(stopped, "config.json"), "{}");
            File.Copy(Path.Combine(dir, "classes.json"), Path.Combine(stopped, "classes.json"));
            File.WriteAllText(Path.Combine(stopped, "curves", "face.csv"), "epoch,train_loss,train_acc,val_loss,val_acc,seconds\n1,2.0,0.1,2.1,0.1,3\n");
            var partial = RunResults.Load(stopped).Notes;
            Assert.StartsWith("the training of this run did not finish", partial[0]);
            Assert.Contains(partial, n => n.StartsWith("no evaluation of the model in the run directory: `gestaltlab evaluate --model"));
            Assert.DoesNotContain(partial, n => n.Contains("not in the run directory") && !n.StartsWith("run.json"));
            File.WriteAllText(Path.Combine(stopped, "ensemble.json"), "{}");
            Assert.DoesNotContain(RunResults.Load(stopped).Notes, n => n.Contains("did not finish"));
            // Scored on data that is no longer here (a moved or received run): what that costs is said.
            string scoredOn = Path.Combine(dir, "metrics.json");
            var beforeMove = File.ReadAllText(scoredOn);
            (ClassificationMetrics.Load(scoredOn) with { Data = Path.Combine(dir, "gone-data") }).Save(scoredOn);
            Assert.Contains(Report.Write(dir, Path.Combine(dir, "out", "moved.html"), new ReportOptions { BootstrapIterations = 100 }).Notes, n => n.Contains("has no manifest.csv here"));
            File.WriteAllText(scoredOn, beforeMove);
            // Validation photos chose the model's settings: their figures are said not to be held out.
            string metricsPath = Path.Combine(dir, "metrics.json");
            (ClassificationMetrics.Load(metricsPath) with { Split = SplitNames.Val }).Save(metricsPath);
            Assert.Contains("not held out", File.ReadAllText(Report.Write(dir, Path.Combine(dir, "out", "val.html"), new ReportOptions { BootstrapIterations = 100 }).Path));
            // An evaluation that stopped part-way (no metrics.json, written last) left tables that may be of two
            // evaluations: none of them is drawn, and the page says why.
            File.Delete(metricsPath);
            var unfinished = Report.Write(dir, Path.Combine(dir, "out", "unfinished.html"), new ReportOptions { BootstrapIterations = 100 });
            Assert.Contains(unfinished.Notes, n => n.Contains("did not finish"));
            Assert.Contains("No metrics", File.ReadAllText(unfinished.Path));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_shared_run_cannot_bring_other_files_of_this_machine_into_its_report()
    {
        string dir = TestTemp.Dir("gestaltlab-run"), elsewhere = TestTemp.Dir("gl-elsewhere");
        try
        {
            SyntheticRun.Write(dir, classes: 5);
            // A curve that is a link to a file of the user's: an error about it would quote its first line into the page.
            string secret = Path.Combine(elsewhere, "credentials.csv");
            File.WriteAllText(secret, "user:TOPSECRET\n");
            File.CreateSymbolicLink(Path.Combine(dir, "curves", "stolen.csv"), secret);
            // An aligned manifest naming a photo outside the run, as twelve "people": it would be drawn as a composite.
            string photo = Path.Combine(elsewhere, "someone.png");
            File.WriteAllBytes(photo, new GestaltLab.Data.RgbImage(96, 96).EncodePng());
            Directory.CreateDirectory(Path.Combine(dir, "aligned"));
            File.WriteAllLines(Path.Combine(dir, "aligned", Manifest.FileName),
                ["image,subject,syndrome,split", .. Enumerable.Range(0, 12).Select(i => $"{elsewhere}/{string.Concat(Enumerable.Repeat("./", i))}someone.png,x{i},s00,test")]);
            var result = Report.Write(dir, Path.Combine(dir, "out", "r.html"), new ReportOptions { BootstrapIterations = 100 });
            string page = File.ReadAllText(result.Path);
            Assert.Contains(result.Notes, n => n.Contains("a link out of the run directory"));
            Assert.DoesNotContain("TOPSECRET", page);
            Assert.Contains("12 photo(s) the aligned manifest lists outside", page);
            Assert.DoesNotContain("TOPSECRET", string.Join("\n", result.Notes));
            Assert.DoesNotContain("alt=\"Composite faces", page);
        }
        finally
        {
            Directory.Delete(dir, true);
            Directory.Delete(elsewhere, true);
        }
    }

    [Fact]
    public void A_page_for_sharing_names_folders_without_the_paths_above_them()
    {
        // The folders above a run often name a clinic, a user or a cohort (and may hold spaces).
        string parent = TestTemp.Dir("gestaltlab-Jane Doe clinic");
        try
        {
            string dir = Path.Combine(parent, "nf1 run");
            SyntheticRun.Write(dir, classes: 5);
            // Paths outside the known folders too: a --pretrained backbone of the user's, metrics of data elsewhere.
            string runJson = Path.Combine(dir, RunManifest.FileName), metricsJson = Path.Combine(dir, "metrics.json");
            var record = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(runJson))!;
            record["config"]!["pretrained"] = Path.Combine(parent, "models, O'Brien (old)", "b.pt");
            File.WriteAllText(runJson, record.ToJsonString());
            var metrics = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(metricsJson))!;
            metrics["data"] = Path.Combine(parent, "other data");
            File.WriteAllText(metricsJson, metrics.ToJsonString());
            // A note naming a file: the manifest given is unreadable.
            string badManifest = Path.Combine(parent, "bad", "manifest.csv");
            Directory.CreateDirectory(Path.GetDirectoryName(badManifest)!);
            File.WriteAllText(badManifest, "not,a,manifest\n");
            var shared = new ReportOptions { BootstrapIterations = 0, PhotoNames = false, FolderPaths = false, ManifestPath = badManifest };
            var content = Report.Build(RunResults.Load(dir), shared);
            Assert.DoesNotContain("Jane Doe", content.Html);
            Assert.DoesNotContain("O&#39;Brien", content.Html);
            Assert.DoesNotContain("models, O", content.Html);
            Assert.DoesNotContain(parent, content.Html);
            Assert.Contains("…/b.pt", content.Html);
            Assert.Contains("…/other data", content.Html);
            Assert.All(content.Notes, n => Assert.DoesNotContain(parent, n));
            Assert.Contains(content.Notes, n => n.Contains("…/manifest.csv") || n.Contains("…/bad"));
            Assert.Contains("…/nf1 run", content.Html);
            // Nor does its map name people through the legend: colouring by subject, family, image or a column of the
            // manifest's own is refused on a page without photo names; by sex it is allowed.
            foreach (var column in new[] { "subject", "family", "image", "site" })
                Assert.Contains($"'{column}'", Assert.Throws<GestaltLabException>(() => Report.Build(RunResults.Load(dir), shared with { TsneColourBy = ["true", column] })).Message);
            Report.Build(RunResults.Load(dir), shared with { TsneColourBy = ["true", "sex"] });
            // For the team's own page (the default) the paths stay: they say where things are.
            var team = Report.Build(RunResults.Load(dir), shared with { PhotoNames = true, FolderPaths = true });
            Assert.Contains(System.Net.WebUtility.HtmlEncode(dir), team.Html);
        }
        finally { Directory.Delete(parent, true); }
    }

    private static int CountOf(string s, string what)
    {
        int n = 0;
        for (int i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}

[Collection("browser")]
public class BrowserTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Report_renders_every_chart_in_headless_chromium_without_console_errors()
    {
        string run = Path.Combine(fixture.Work, "run");
        SyntheticRun.Write(run, classes: 8);
        var result = Report.Write(run, options: new ReportOptions { BootstrapIterations = 100 });
        var check = await fixture.Browser.CheckPageAsync(result.Path);
        Assert.Empty(check.ConsoleErrors);
        Assert.Empty(check.FailedRequests);
        Assert.Equal(result.ChartCount, check.ChartCount);
        Assert.Equal(check.ChartCount, check.RenderedCharts);
        Assert.True(check.Ok);
    }

    [Fact]
    public async Task The_fonts_a_family_list_resolves_to_are_the_ones_Chromium_draws_with()
    {
        // DejaVu comes with setup.sh (fonts-dejavu-core): named, it is used; a missing family before it is passed over.
        Assert.Equal("DejaVu Sans Mono", (await fixture.Browser.FontsForAsync("NoSuchFamilyAnywhere, 'DejaVu Sans Mono', sans-serif"))[0]);
        Assert.Equal("DejaVu Serif", (await fixture.Browser.FontsForAsync("\"DejaVu Serif\""))[0]);
        // The charts' own list resolves to some installed face (DejaVu Sans on a bare Debian).
        Assert.NotEmpty(await fixture.Browser.FontsForAsync(Charts.FontFamily));
    }

    /// <summary>A synthetic run of <paramref name="classes"/> classes exported as SVG with <paramref name="options"/>; its export.json.</summary>
    private async Task<(string Run, string Figures, System.Text.Json.Nodes.JsonNode Record)> ExportSvg(string runName, string figuresName, int classes, params string[] options)
    {
        string run = Path.Combine(fixture.Work, runName), figures = Path.Combine(fixture.Work, figuresName);
        SyntheticRun.Write(run, classes: classes);
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
            ["export", "--run", run, "--out", figures, "--format", "svg", .. options]));
        return (run, figures, System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(figures, "export.json")))!);
    }

    [Fact]
    public async Task A_confusion_matrix_too_narrow_for_its_class_names_says_which_it_left_out()
    {
        // 30 classes in one column: plotly would thin the names on its own; export thins them evenly and records it.
        var (_, figures, record) = await ExportSvg("run-narrow", "figures-narrow", 30, "--width", "89");
        string confusion = record["figures"]!.AsArray().Select(n => (string)n!).First(n => n.Contains("confusion-matrix"));
        Assert.Contains(record["left_out"]![confusion]!.AsArray(), v => ((string)v!).Contains("category labels"));
        // The ROC's subtitle (what it rests on) keeps a line of its own, whole, at one column's width.
        string roc = File.ReadAllText(Path.Combine(figures, record["figures"]!.AsArray().Select(n => (string)n!).Single(n => n.Contains("roc")) + ".svg"));
        Assert.Matches(@"<tspan class=""line""[^>]*>[^<]*<tspan[^>]*>positive vs negative: \d+ vs \d+ photos, \d+ vs \d+ subjects</tspan>", roc);
    }

    [Fact]
    public async Task Export_writes_every_report_figure_and_records_where_they_came_from()
    {
        var (run, figures, record) = await ExportSvg("run-export", "figures", 5, "--seed", "3");
        // Figures leave the team: the record names the run's folder without the paths above it (the run's creation time
        // and data hash still say which run it was); --photo-names keeps the full path.
        Assert.Equal("…/run-export", (string?)record["run"]);
        Assert.False((bool)record["folder_paths"]!);
        Assert.DoesNotContain(fixture.Work, record.ToJsonString());
        // Chromium kept its sandbox wherever it could have it (not as root).
        Assert.Equal(Doctor.ChromiumSandboxPossible, (bool)record["chromium_sandbox"]!);
        Assert.Equal(3, (int)record["seed"]!);
        Assert.Equal(RunManifest.PackageVersions()["GestaltLab"], (string?)record["packages"]!["GestaltLab"]);
        Assert.Contains("chromium", (string?)record["chromium"]);
        Assert.Equal(FigureHtml.PlotlyJsVersion, (string?)record["plotly_js"]);
        var names = record["figures"]!.AsArray().Select(n => (string)n! + ".svg").Order().ToList();
        Assert.NotEmpty(names);
        Assert.Equal(names, Directory.GetFiles(figures, "*.svg").Select(f => Path.GetFileName(f)).Order().ToList());
        Assert.Equal(names.Count, record["height_mm"]!.AsObject().Count);
        // What the bands and intervals are travels with the figures, not only on the report's page.
        Assert.Equal("subjects", (string?)record["bootstrap"]!["unit"]);
        Assert.Equal(1000, (int)record["bootstrap"]!["resamples"]!);
        // What a figure's print layout left out is recorded by figure (and printed), so the caption can make up for it.
        Assert.NotNull(record["left_out"]);
        Assert.All(record["left_out"]!.AsObject(), kv => Assert.Contains(kv.Key + ".svg", names));
        // A legend's title is set at the size of its entries (a pixel under the axes' titles), not the chart's own.
        string tsneSvg = File.ReadAllText(Path.Combine(figures, names.First(n => n.Contains("t-sne"))));
        string Size(string cls) => System.Text.RegularExpressions.Regex.Match(tsneSvg, $@"class=""{cls}""[^>]*font-size: (\d+)px").Groups[1].Value;
        Assert.NotEqual("", Size("legendtext"));
        Assert.Equal(Size("legendtext"), Size("legendtitletext"));
        // The confusion matrix is vector, one square a non-empty cell (plotly's heatmap would embed a screen-resolution raster).
        string matrix = File.ReadAllText(Path.Combine(figures, names.Single(n => n.Contains("confusion"))));
        Assert.DoesNotContain("<image", matrix);
        Assert.Contains("point", matrix);
        // Exported again, the same bytes (plotly's random clip-path ids are fixed).
        var first = names.ToDictionary(n => n, n => File.ReadAllBytes(Path.Combine(figures, n)));
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
            ["export", "--run", run, "--out", figures, "--format", "svg", "--seed", "3"]));
        Assert.All(names, n => Assert.Equal(first[n], File.ReadAllBytes(Path.Combine(figures, n))));
        // Exported again with fewer formats: the earlier export's PNGs and pages go (they would pass for this run's), and a
        // file export did not write stays.
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
            ["export", "--run", run, "--out", figures, "--format", "svg", "png", "--html", "--seed", "3"]));
        Assert.Equal(names.Count, Directory.GetFiles(figures, "*.png").Count(f => !f.EndsWith("composite-faces.png")));
        // The record names the font the PNGs' words were set in, as Chromium resolved the charts' list on this machine;
        // an SVG-only export names none (the SVG leaves the choice to what opens it).
        var fonts = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(figures, "export.json")))!["fonts"]!;
        Assert.Equal(Charts.FontFamily, (string?)fonts["asked"]);
        Assert.Equal((await fixture.Browser.FontsForAsync(Charts.FontFamily))[0], (string?)fonts["png"]);
        Assert.Null(record["fonts"]!["png"]);
        // Pages made to be shared carry no photo file names (they often hold patients' names); the report, for the team, does.
        string tsnePage = Directory.GetFiles(figures, "*t-sne*.html").First();
        Assert.DoesNotContain("images/c0", File.ReadAllText(tsnePage));
        Assert.Contains("photo 1", File.ReadAllText(tsnePage));
        File.WriteAllText(Path.Combine(figures, "my-notes.png"), "mine");
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
            ["export", "--run", run, "--out", figures, "--format", "svg", "--seed", "3"]));
        Assert.Empty(Directory.GetFiles(figures, "*.html"));
        Assert.Equal(["my-notes.png"], Directory.GetFiles(figures, "*.png").Select(f => Path.GetFileName(f)).Where(f => f != "composite-faces.png").ToArray());
        Assert.All(names, n => Assert.Equal(first[n], File.ReadAllBytes(Path.Combine(figures, n))));
        // A narrow width works: the heights it derives from each chart's aspect ratio are kept to what can be laid out
        // (at 45 mm a landscape 0.62 of the width, 28 mm, was refused before any chart's own height was asked).
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
            ["export", "--run", run, "--out", Path.Combine(fixture.Work, "narrow"), "--width", "45mm", "--format", "svg", "--photo-names"]));
        Assert.Equal(Path.GetFullPath(run), (string?)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(fixture.Work, "narrow", "export.json")))!["run"]);
        // A chart plotly cannot draw at an allowed size (30 labelled classes in 40 × 30 mm) stops the export with its name,
        // and the folder keeps the earlier export whole: its figures, its record, no half-drawn one beside them.
        string run30 = Path.Combine(fixture.Work, "run-30"), figures30 = Path.Combine(fixture.Work, "figures-30");
        SyntheticRun.Write(run30, classes: 30);
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["export", "--run", run30, "--out", figures30, "--format", "svg"]));
        var before = Directory.GetFiles(figures30).ToDictionary(f => f, File.ReadAllBytes);
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
            ["export", "--run", run30, "--out", figures30, "--width", "40", "--height", "30", "--format", "svg", "png"]));
        Assert.Equal(before.Keys.Order(), Directory.GetFiles(figures30).Order());
        Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllBytes(kv.Key)));
        Assert.Empty(Directory.GetDirectories(figures30));
        // A size no chart can be laid out at, or more pixels than Chromium draws: refused before anything is written.
        string tiny = Path.Combine(fixture.Work, "tiny");
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["export", "--run", run, "--out", tiny, "--width", "20", "--height", "20"]));
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["export", "--run", run, "--out", tiny, "--width", "single", "--dpi", "12000"]));
        Assert.False(Directory.Exists(tiny));
        // A folder that cannot be written is said before any figure is computed.
        var errors = new StringWriter();
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["export", "--run", run, "--out", "/proc/figures"], errors));
        Assert.Contains("/proc/figures: cannot be written", errors.ToString());
        var tooWide = Assert.Throws<GestaltLabException>(() => FigureExport.CheckSize(new FigureSize(89, 60, 12000)));
        Assert.Contains("32767", tooWide.Message);
        Assert.StartsWith("89 mm wide at 12000 dpi", tooWide.Message);   // the width alone: the height is not what is too large
        Assert.Contains("--dpi", tooWide.Fix);
        Assert.Contains("lower --height", Assert.Throws<GestaltLabException>(() => FigureExport.CheckSize(new FigureSize(89, 5000, 300))).Fix);
        // The page says which plotly.js it carries, even when it is the first thing asked of the bundle.
        string reportPage = File.ReadAllText(Report.Write(run, Path.Combine(fixture.Work, "page.html"), new ReportOptions { BootstrapIterations = 0, TsneColourBy = ["true"], Seed = 5 }).Path);
        Assert.Matches(@"plotly\.js \d+\.\d+\.\d+ inlined", reportPage);
        // The page says what drew it: its own seed and bootstrap, not only the run's.
        Assert.Contains("This page: seed 5 for bootstraps and t-SNE · 0 bootstrap resamples", reportPage);
        Assert.Contains("images/c0", reportPage);
    }

    [Fact]
    public async Task A_misspelt_colour_by_column_is_refused_by_name_without_a_manifest_option_too()
    {
        // Without --manifest the maps are coloured from the run's data's manifest: a typo there was a note under figures
        // that exited 0 (with --photo-names), or a refusal for privacy of a column that does not exist (without).
        string run = Path.Combine(fixture.Work, "run-colour");
        SyntheticRun.Write(run, classes: 4);
        foreach (var args in new[]
        {
            new[] { "export", "--run", run, "--out", Path.Combine(fixture.Work, "colour-a"), "--colour-by", "nosuchcol" },
            ["export", "--run", run, "--out", Path.Combine(fixture.Work, "colour-b"), "--colour-by", "nosuchcol", "--photo-names"],
            ["report", "--run", run, "--out", Path.Combine(fixture.Work, "colour.html"), "--colour-by", "gene", "nosuchcol"],
        })
        {
            var errors = new StringWriter();
            Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), args, errors));
            Assert.Contains("--colour-by nosuchcol: ", errors.ToString());
            Assert.Contains("has no such column", errors.ToString());
            Assert.DoesNotContain("would name photos", errors.ToString());
        }
        Assert.False(Directory.Exists(Path.Combine(fixture.Work, "colour-a")));
        Assert.False(File.Exists(Path.Combine(fixture.Work, "colour.html")));
    }

    [Fact]
    public async Task Export_as_pdf_and_tiff_writes_the_composite_faces_as_tiff_and_a_later_png_export_replaces_them()
    {
        string run = Path.Combine(fixture.Work, "run-pdf"), figures = Path.Combine(fixture.Work, "figures-pdf");
        SyntheticRun.Write(run, classes: 4);
        // Ten people of one syndrome among the aligned faces: one composite cohort (distinct faces, so ten people).
        string images = Path.Combine(run, "aligned", "images");
        Directory.CreateDirectory(images);
        var lines = new List<string> { "image,subject,syndrome,split" };
        for (int i = 0; i < 10; i++)
        {
            var px = new byte[32 * 32 * 3];
            Array.Fill(px, (byte)(90 + 7 * i));
            new RgbImage(32, 32, px).SavePng(Path.Combine(images, $"f{i}.png"));
            lines.Add($"images/f{i}.png,s{i},c00,test");
        }
        File.WriteAllLines(Path.Combine(run, "aligned", Manifest.FileName), lines);
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
            ["export", "--run", run, "--out", figures, "--width", "single", "--format", "pdf", "tiff"]));
        var record = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(figures, "export.json")))!;
        var names = record["figures"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.NotEmpty(names);
        // Each chart in both formats; the composite grid, a picture, as TIFF only (its PNG is not what was asked for).
        Assert.Equal(names.SelectMany(n => new[] { n + ".pdf", n + ".tif" }).Append("composite-faces.tif").Append("export.json").Order(),
            Directory.GetFiles(figures).Select(f => Path.GetFileName(f)).Order());
        Assert.Equal(["pdf", "tif"], record["formats"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("composite-faces.tif", (string?)record["composite_faces"]);
        var tags = TiffTags(File.ReadAllBytes(Path.Combine(figures, "composite-faces.tif")));
        Assert.Equal(1051, tags[256]);   // 89 mm at 300 dpi, as the charts beside it
        Assert.Equal(300, tags[282]);
        // The PDFs' words are set in this machine's face, named as the PNGs' would be.
        Assert.Equal((await fixture.Browser.FontsForAsync(Charts.FontFamily))[0], (string?)record["fonts"]!["pdf"]);
        Assert.Equal((string?)record["fonts"]!["pdf"], (string?)record["fonts"]!["png"]);
        // Figures are not patients' photos: a folder of them gives none to align (a TIFF would be named as one it skips).
        Assert.Empty(ImageLoader.FindPhotos(figures));
        // The record names each file it wrote, with its hash: a later export replaces or removes those and nothing else.
        Assert.Equal(Directory.GetFiles(figures).Select(f => Path.GetFileName(f)).Where(f => f != "export.json").Order(),
            record["files"]!.AsObject().Select(kv => kv.Key).Order());
        // A file of the user's under a name this export did not write (a PNG beside its PDF), and an exported figure touched
        // up in place: a later PNG export would replace the one and remove the other, so it is refused, naming them.
        string confusion = names.First(n => n.Contains("confusion-matrix"));
        string mine = Path.Combine(figures, confusion + ".png"), edited = Path.Combine(figures, names[0] + ".pdf");
        File.WriteAllText(mine, "mine");
        var errors = new StringWriter();
        string[] pngExport = ["export", "--run", run, "--out", figures, "--width", "single", "--format", "png"];
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), pngExport, errors));
        Assert.Contains($"holds {confusion}.png, which no export wrote here; the export would replace it", errors.ToString());
        File.Delete(mine);
        File.AppendAllText(edited, "% touched up\n");
        errors = new StringWriter();
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), pngExport, errors));
        Assert.Contains($"{names[0]}.pdf was changed since the export that wrote it", errors.ToString());
        Assert.EndsWith("% touched up\n", File.ReadAllText(edited));
        File.Delete(edited);
        // A page of the user's beside them is no export's: never removed, though an export may write pages of that name.
        File.WriteAllText(Path.Combine(figures, confusion + ".html"), "mine");
        // A record no export could have written (a name twice, a hand edit) is refused as the user's, not a crash; so is
        // a record whose hash of a file is not one (that file would otherwise be replaced unchecked).
        string recordPath = Path.Combine(figures, "export.json"), kept = File.ReadAllText(recordPath);
        File.WriteAllText(recordPath, "{\"plotly_js\": \"2\", \"files\": {\"a.png\": \"x\", \"a.png\": \"y\"}}");
        errors = new StringWriter();
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), pngExport, errors));
        Assert.Contains("holds export.json, which is no export's record", errors.ToString());
        Assert.DoesNotContain(ImageLoader.FindPhotos(figures), f => !f.EndsWith(".tif", StringComparison.Ordinal));
        var notAHash = System.Text.Json.Nodes.JsonNode.Parse(kept)!;
        notAHash["files"]![names[1] + ".pdf"] = 5;
        File.WriteAllText(recordPath, notAHash.ToJsonString());
        errors = new StringWriter();
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), pngExport, errors));
        Assert.Contains($"{names[1]}.pdf was changed since", errors.ToString());
        // An export killed while moving its files in leaves its partial record (the earlier and its own files) and no
        // export.json: the next export still knows the files as export's.
        File.Delete(recordPath);
        File.WriteAllText(Path.Combine(figures, "export.json.partial"), kept);
        // Then a PNG export removes this one's PDFs and TIFFs (they would pass for the new run's figures).
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), pngExport));
        Assert.False(File.Exists(Path.Combine(figures, "export.json.partial")));
        File.Delete(Path.Combine(figures, confusion + ".html"));
        Assert.Equal(names.Select(n => n + ".png").Append("composite-faces.png").Append("export.json").Order(),
            Directory.GetFiles(figures).Select(f => Path.GetFileName(f)).Order());
        Assert.Null(System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(figures, "export.json")))!["fonts"]!["pdf"]);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]   // file modes
    public async Task A_notebook_exports_a_runs_figures_through_the_library_as_the_command_does()
    {
        // What `gestaltlab export` does is one library call, so that a notebook gets the same staging, record and notes.
        string run = Path.Combine(fixture.Work, "run-lib"), figures = Path.Combine(fixture.Work, "figures-lib");
        SyntheticRun.Write(run, classes: 30);
        var steps = new List<ProgressUpdate>();
        var progress = ProgressReporters.Synchronous(steps.Add);
        var result = await RunFigureExport.ExportAsync(run, figures, new RunExportOptions { WidthMm = 89, Formats = [FigureFormat.Svg], Seed = 3 }, progress);
        var record = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(result.RecordPath))!;
        var names = record["figures"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(names.Count, result.FigureCount);
        Assert.Equal(names.Select(n => Path.Combine(result.Directory, n + ".svg")).Order(), result.Files.Where(f => f.EndsWith(".svg")).Order());
        Assert.All(result.Files, f => Assert.True(File.Exists(f), f));
        Assert.Equal("…/run-lib", (string?)record["run"]);
        // The drawing shows progress, one step a figure, to the last.
        var drawing = steps.Where(s => s.Stage == "draw figures").ToList();
        Assert.Equal(Enumerable.Range(1, names.Count).Select(i => (long)i), drawing.Select(s => s.Done));
        // What a figure's layout left out at one column is a note for the caption, as the command prints it.
        string confusion = names.First(n => n.Contains("confusion-matrix"));
        Assert.Contains(result.Notes, n => n.StartsWith($"{confusion} at 89×") && n.Contains("category labels"));
        // Again without the confusion matrix's format asked before: nothing of the earlier export is left to pass for this one.
        var again = await RunFigureExport.ExportAsync(run, figures, new RunExportOptions { WidthMm = 89, Formats = [FigureFormat.Png], Seed = 3 });
        Assert.Equal(names.Select(n => Path.Combine(result.Directory, n + ".svg")).Order(), again.Removed.Select(r => r.Path).Order());
        Assert.Equal(names.Order(), again.HeightsMm.Keys.Order());
        Assert.All(again.HeightsMm, kv => Assert.Equal((double)record["height_mm"]![kv.Key]!, kv.Value));
        Assert.Empty(Directory.GetFiles(figures, "*.svg"));
        // With photo names in the pages and paths in the record, a new folder and those files are their owner's alone.
        if (!OperatingSystem.IsWindows())
        {
            string named = Path.Combine(fixture.Work, "figures-named");
            var withNames = await RunFigureExport.ExportAsync(run, named, new RunExportOptions { WidthMm = 89, Formats = [FigureFormat.Svg], Html = true, PhotoNames = true, Seed = 3 });
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(named));
            Assert.All(withNames.Files.Where(f => f.EndsWith(".html", StringComparison.Ordinal)).Append(withNames.RecordPath),
                f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f)));
        }
        // Refused before anything is read or made: no format, or a size no chart fits.
        string none = Path.Combine(fixture.Work, "figures-none");
        await Assert.ThrowsAsync<GestaltLabException>(() => RunFigureExport.ExportAsync(run, none, new RunExportOptions { Formats = [] }));
        var tooSmall = await Assert.ThrowsAsync<GestaltLabException>(() => RunFigureExport.ExportAsync(run, none, new RunExportOptions { WidthMm = 20 }));
        // The short side named alone: no height was given (the floor stands in for it).
        Assert.StartsWith("figure width 20 mm is too small", tooSmall.Message);
        Assert.False(Directory.Exists(none));
        // A file where a folder on the way should be is said so, not in .NET's words ("could not find a part of the path").
        string notes = Path.Combine(fixture.Work, "notes.txt");
        File.WriteAllText(notes, "mine");
        var throughFile = await Assert.ThrowsAsync<GestaltLabException>(() => RunFigureExport.ExportAsync(run, Path.Combine(notes, "figures"), new RunExportOptions { WidthMm = 89 }));
        Assert.Contains($"{notes} is a file, where a folder is needed", throughFile.Message);
        Assert.Equal("mine", File.ReadAllText(notes));
        // Figures are named by what they show (not numbered): a file of the user's under such a name is not replaced, but
        // refused before anything is drawn; the earlier export's own files of that name are replaced as before.
        Assert.Contains("training-curves", names);
        Assert.DoesNotContain(names, n => char.IsAsciiDigit(n[0]));
        string theirs = Path.Combine(fixture.Work, "paper-figures");
        Directory.CreateDirectory(theirs);
        File.WriteAllText(Path.Combine(theirs, "training-curves.svg"), "<svg>mine</svg>");
        var refused = await Assert.ThrowsAsync<GestaltLabException>(() => RunFigureExport.ExportAsync(run, theirs, new RunExportOptions { WidthMm = 89, Formats = [FigureFormat.Svg], Seed = 3 }));
        Assert.Contains("training-curves.svg, which no export wrote here", refused.Message);
        Assert.Equal("<svg>mine</svg>", File.ReadAllText(Path.Combine(theirs, "training-curves.svg")));
        Assert.Single(Directory.GetFileSystemEntries(theirs));
    }

    [Fact]
    public async Task Page_check_reports_a_broken_chart_and_a_remote_request()
    {
        string path = Path.Combine(fixture.Work, "broken.html");
        string body = "<div class=\"gl-chart\" id=\"a\"></div><script>Plotly.newPlot('a',[{type:'bar',x:[1],y:[2]}]);</script>" +
                      "<div class=\"gl-chart\" id=\"b\"></div><script>undefinedFunction();</script><img src=\"http://192.0.2.1/x.png\">";
        // The check itself, on a page without GestaltLab's policy (a page of someone else's, say).
        string page = FigureHtml.Page("broken", body);
        File.WriteAllText(path, System.Text.RegularExpressions.Regex.Replace(page, "<meta http-equiv=\"Content-Security-Policy\"[^>]*>", ""));
        var check = await fixture.Browser.CheckPageAsync(path, timeoutMs: 6000); // chart b never draws: the wait runs out
        Assert.Equal(2, check.ChartCount);
        Assert.Equal(1, check.RenderedCharts);
        Assert.NotEmpty(check.ConsoleErrors);
        Assert.Contains(check.FailedRequests, r => r.StartsWith("http://192.0.2.1"));
        Assert.False(check.Ok);
        // GestaltLab's own pages forbid every load from the network: the image is refused by the page, not even asked for.
        File.WriteAllText(path, page);
        var guarded = await fixture.Browser.CheckPageAsync(path, timeoutMs: 6000);
        Assert.DoesNotContain(guarded.FailedRequests, r => r.StartsWith("http://192.0.2.1"));
        Assert.Contains(guarded.ConsoleErrors, e => e.Contains("Content Security Policy"));
    }

    /// <summary>A small chart of two regions' accuracies, and a single column 60 mm high to draw it at.</summary>
    private static (Plotly.NET.GenericChart Chart, FigureSize Size) RegionsAtOneColumn() =>
        (Charts.RegionAccuracy([new("nose", 0.4, 0.7, 0.8), new("ensemble", 0.6, 0.85, 0.95)]), FigureSize.SingleColumn(60));

    /// <summary>The bytes of <paramref name="chart"/> saved as <paramref name="name"/> (its extension gives the format).</summary>
    private async Task<byte[]> Saved(Plotly.NET.GenericChart chart, string name, FigureSize size)
    {
        string path = Path.Combine(fixture.Work, name);
        await FigureExport.SaveAsync(chart, path, size, browser: fixture.Browser);
        return File.ReadAllBytes(path);
    }

    [Fact]
    public async Task Static_export_writes_svg_and_png_at_journal_sizes()
    {
        var (chart, single) = RegionsAtOneColumn();
        var bytes = await Saved(chart, "regions.png", single);
        Assert.Equal((1051, 709), FigureExport.PngSize(bytes)); // 89 mm × 60 mm at 300 dpi
        using (var decoded = SkiaSharp.SKBitmap.Decode(bytes))
        {
            Assert.Equal(1051, decoded.Width);
            // Not blank: the bars are drawn in colour on white.
            int coloured = 0;
            for (int y = 0; y < decoded.Height; y += 4)
                for (int x = 0; x < decoded.Width; x += 4)
                {
                    var c = decoded.GetPixel(x, y);
                    if (Math.Abs(c.Red - c.Blue) > 60) coloured++;
                }
            Assert.True(coloured > 100, $"only {coloured} coloured samples");
        }
        int phys = bytes.AsSpan().IndexOf("pHYs"u8);
        Assert.True(phys > 0, "no pHYs chunk");
        Assert.Equal(11811, (bytes[phys + 4] << 24) | (bytes[phys + 5] << 16) | (bytes[phys + 6] << 8) | bytes[phys + 7]); // 300 dpi in px/m
        Assert.Equal(2, bytes[25]);   // colour type RGB: no alpha channel, which some journals' checks refuse
        Assert.True(bytes.AsSpan().IndexOf("sRGB"u8) > 0, "no sRGB chunk");

        string svg = Path.Combine(fixture.Work, "regions.svg");
        await FigureExport.SaveAsync(chart, svg, FigureSize.DoubleColumn(100), browser: fixture.Browser);
        var doc = XDocument.Load(svg);
        Assert.Equal("svg", doc.Root!.Name.LocalName);
        Assert.Equal("183mm", doc.Root.Attribute("width")!.Value);
        Assert.Equal("100mm", doc.Root.Attribute("height")!.Value);
        Assert.Contains("ensemble", File.ReadAllText(svg));
        Assert.Equal((2161, 1181), (FigureSize.DoubleColumn(100).PixelWidth, FigureSize.DoubleColumn(100).PixelHeight));

        await Assert.ThrowsAsync<GestaltLabException>(() => FigureExport.SaveAsync(chart, Path.Combine(fixture.Work, "x.gif"), single, browser: fixture.Browser));

        // Laid out for the page, not the screen: at one column a long title wraps, fonts are print-sized (9 CSS px ≈ 7 pt)
        // and the legend sits under the plot instead of taking half its width.
        var topK = Charts.TopK([("per image", [0.4, 0.6, 0.7, 0.8]), ("per disorder", [0.3, 0.5, 0.6, 0.7])], null, null,
            "Top-k accuracy of the ensemble on the held-out test photos, per image and per disorder, k = 1…4");
        string narrow = Path.Combine(fixture.Work, "topk.svg");
        await FigureExport.SaveAsync(topK, narrow, single, browser: fixture.Browser);
        var page = XDocument.Load(narrow);
        XNamespace ns = "http://www.w3.org/2000/svg";
        var titleLines = page.Descendants(ns + "text").Single(t => (string?)t.Attribute("class") == "gtitle").Elements(ns + "tspan").ToList();
        Assert.True(titleLines.Count >= 2, "the title was not wrapped");
        Assert.Contains("font-size: 9px", File.ReadAllText(narrow));
        var legend = page.Descendants(ns + "g").Single(g => (string?)g.Attribute("class") == "legend");
        var at = System.Text.RegularExpressions.Regex.Match((string)legend.Attribute("transform")!, @"translate\(([^,]+),([^)]+)\)");
        double lx = double.Parse(at.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), ly = double.Parse(at.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(lx < 0.3 * single.CssWidth && ly > 0.4 * single.CssHeight, $"the legend is at ({lx}, {ly}), not under the plot");
        // A legend that cannot fit (the published points as well) is left out rather than clipped in silence.
        string crowded = Path.Combine(fixture.Work, "topk-crowded.svg");
        var curve = Enumerable.Range(0, 30).Select(k => 0.4 + 0.02 * k).ToArray();
        var crowdedLeftOut = await FigureExport.SaveAsync(Charts.TopK([("per image", curve), ("per disorder", curve.Select(v => v - 0.1).ToArray())], PublishedResults.All),
            crowded, single, browser: fixture.Browser);
        Assert.DoesNotContain(XDocument.Load(crowded).Descendants(ns + "g"), g => (string?)g.Attribute("class") == "legend");
        // … and the author is told, so that the caption can name the lines instead.
        Assert.Contains(crowdedLeftOut, w => w.StartsWith("the legend ("));
        Assert.Empty((await FigureExport.DrawAsync(topK, FigureFormat.Svg, single, fixture.Browser)).LeftOut);
    }

    [Fact]
    public async Task Static_export_writes_pdf_and_tiff_for_journals_that_ask_for_them()
    {
        var (chart, single) = RegionsAtOneColumn();
        // PDF: one page of exactly 89 × 60 mm (Chromium rounds its paper up), vector: words as text in an embedded face,
        // no picture of the chart.
        var pdf = await Saved(chart, "regions.pdf", single);
        string text = System.Text.Encoding.Latin1.GetString(pdf);
        Assert.StartsWith("%PDF-", text);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(text, @"/Type\s*/Page\b"));
        var box = System.Text.RegularExpressions.Regex.Match(text, @"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]");
        double At(int g) => double.Parse(box.Groups[g].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(box.Success, "no page size");
        Assert.Equal(89 / 25.4 * 72, At(3) - At(1), 0.02);
        Assert.Equal(60 / 25.4 * 72, At(4) - At(2), 0.02);
        AssertCrossReferences(pdf);
        Assert.Contains("/FontFile2", text);
        Assert.DoesNotMatch(@"/Subtype\s*/Image", text);
        Assert.Contains(PdfStreams(pdf), s => s.Contains(" Tj"));
        // Titled by its chart, not by the blank page it was printed from; undated, so the same figure gives the same bytes.
        Assert.DoesNotContain("about:blank", text);
        Assert.DoesNotContain("CreationDate", text);
        await Task.Delay(1100);   // past the second a date would carry
        Assert.Equal(pdf, await FigureExport.RenderAsync(chart, FigureFormat.Pdf, single, fixture.Browser));
        // At 183 × 110 mm Chromium's page box is shorter in words than the exact one: exact all the same.
        string wide = System.Text.Encoding.Latin1.GetString(await FigureExport.RenderAsync(chart, FigureFormat.Pdf, FigureSize.DoubleColumn(110), fixture.Browser));
        var wideBox = System.Text.RegularExpressions.Regex.Match(wide, @"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]");
        Assert.Equal(183 / 25.4 * 72, double.Parse(wideBox.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture), 0.002);
        Assert.Equal(110 / 25.4 * 72, double.Parse(wideBox.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture) - double.Parse(wideBox.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), 0.002);
        Assert.Contains("/Creator (GestaltLab figure export", wide);

        // TIFF: the PNG's very pixels (LZW is lossless), with its dpi and compression in its tags.
        var tiff = await Saved(chart, "regions.tif", single);
        using (var fromTiff = OpenCvSharp.Cv2.ImDecode(tiff, OpenCvSharp.ImreadModes.Color))
        using (var fromPng = OpenCvSharp.Cv2.ImDecode(await FigureExport.RenderAsync(chart, FigureFormat.Png, single, fixture.Browser), OpenCvSharp.ImreadModes.Color))
        {
            Assert.Equal((1051, 709), (fromTiff.Width, fromTiff.Height));
            Assert.Equal(0, OpenCvSharp.Cv2.Norm(fromTiff, fromPng, OpenCvSharp.NormTypes.L1));
        }
        var tags = TiffTags(tiff);
        Assert.Equal(5, tags[259]);      // LZW
        Assert.Equal(2, tags[296]);      // resolution in inches …
        Assert.Equal(300, tags[282]);    // … 300 across
        Assert.Equal(300, tags[283]);    // and down
        Assert.Equal(FigureFormat.Tiff, FigureExport.FormatOf("fig.TIFF"));
        Assert.Contains(".pdf", Assert.Throws<GestaltLabException>(() => FigureExport.FormatOf("fig.eps")).Fix);
    }

    /// <summary>The inflated content of each Flate stream of a PDF, as Latin-1 text.</summary>
    private static List<string> PdfStreams(byte[] pdf)
    {
        var streams = new List<string>();
        string text = System.Text.Encoding.Latin1.GetString(pdf);
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, "stream\r?\n"))
        {
            int end = text.IndexOf("endstream", m.Index + m.Length, StringComparison.Ordinal);
            if (end < 0) continue;
            try
            {
                using var inflate = new System.IO.Compression.ZLibStream(new MemoryStream(pdf, m.Index + m.Length, end - m.Index - m.Length), System.IO.Compression.CompressionMode.Decompress);
                using var read = new StreamReader(inflate, System.Text.Encoding.Latin1);
                streams.Add(read.ReadToEnd());
            }
            catch (InvalidDataException) { }
        }
        return streams;
    }

    /// <summary>The first image's tags of a little-endian TIFF: SHORT and LONG values, and RATIONALs as their quotient.</summary>
    internal static Dictionary<int, double> TiffTags(byte[] tiff)
    {
        Assert.Equal("II*\0"u8.ToArray(), tiff[..4]);
        var b = tiff.AsSpan();
        int ifd = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        int n = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(b[ifd..]);
        var tags = new Dictionary<int, double>();
        for (int i = 0; i < n; i++)
        {
            var e = b.Slice(ifd + 2 + 12 * i, 12);
            int tag = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(e), type = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(e[2..]);
            uint value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(e[8..]);
            tags[tag] = type switch
            {
                3 => System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(e[8..]),
                5 => (double)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b[(int)value..]) / System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b[((int)value + 4)..]),
                _ => value,
            };
        }
        return tags;
    }

    /// <summary>A PDF shaped as Chromium (Skia) prints one: objects, a classic cross-reference table, a trailer.</summary>
    private static byte[] SkiaShapedPdf(string info, string page, string trailerExtra = "")
    {
        var objects = new[] { info, "<</Type /Catalog\n/Pages 3 0 R>>", "<</Type /Pages\n/Kids [4 0 R]\n/Count 1>>", page };
        var text = new System.Text.StringBuilder("%PDF-1.4\n");
        var offsets = new List<int>();
        for (int i = 0; i < objects.Length; i++)
        {
            offsets.Add(text.Length);
            text.Append($"{i + 1} 0 obj\n{objects[i]}\nendobj\n");
        }
        int xref = text.Length;
        text.Append($"xref\n0 {objects.Length + 1}\n0000000000 65535 f \n");
        foreach (int o in offsets) text.Append($"{o:D10} 00000 n \n");
        text.Append($"trailer\n<</Size {objects.Length + 1}\n/Root 2 0 R\n/Info 1 0 R{trailerExtra}>>\nstartxref\n{xref}\n%%EOF\n");
        return System.Text.Encoding.Latin1.GetBytes(text.ToString());
    }

    /// <summary>Whether each object the cross-reference table names starts where it says.</summary>
    private static void AssertCrossReferences(byte[] pdf)
    {
        string text = System.Text.Encoding.Latin1.GetString(pdf);
        int xref = int.Parse(System.Text.RegularExpressions.Regex.Match(text, @"startxref\s+(\d+)\s+%%EOF\s*$").Groups[1].Value);
        Assert.StartsWith("xref", text[xref..]);
        var table = System.Text.RegularExpressions.Regex.Match(text[xref..], @"\Axref\r?\n0 (\d+)\r?\n");
        for (int i = 1; i < int.Parse(table.Groups[1].Value); i++)
        {
            string entry = text.Substring(xref + table.Length + 20 * i, 20);
            Assert.StartsWith($"{i} 0 obj", text[int.Parse(entry[..10])..]);
        }
    }

    [Fact]
    public void A_printed_pdf_is_cut_to_the_figure_undated_and_named_by_its_content()
    {
        // As Chromium prints: the page rounded up, the print time and an id drawn from it, its user agent as creator,
        // every font subset tagged AAAAAA.
        static byte[] Printed(string when, string id) => SkiaShapedPdf(
            $"<</Title (t)\n/Creator (Mozilla/5.0 \\(X11\\) HeadlessChrome/156.0.0.0)\n/Producer (Skia/PDF m156)\n/CreationDate (D:{when}+00'00')\n/ModDate (D:{when}+00'00')>>",
            "<</Type /Page\n/Parent 3 0 R\n/MediaBox [0 0 519.12 312]\n/Resources <</Font <</F1 <</BaseFont /AAAAAA+DejaVuSans>>\n/F2 <</BaseFont /AAAAAA+DejaVuSans-Bold>>\n/D1 <</FontName /AAAAAA+DejaVuSans>>>>>>>>",
            $"\n/ID [<{id}> <{id}>]");
        var size = FigureSize.DoubleColumn(110);
        var a = FigureExport.FinishPdf(Printed("20261203070101", "0123456789ABCDEF0123456789ABCDEF"), size, "GestaltLab figure export (x)");
        var b = FigureExport.FinishPdf(Printed("20261203070102", "FEDCBA9876543210FEDCBA9876543210"), size, "GestaltLab figure export (x)");
        Assert.Equal(a, b);
        string text = System.Text.Encoding.Latin1.GetString(a);
        Assert.DoesNotContain("Date", text);
        Assert.Contains("/Creator (GestaltLab figure export \\(x\\))", text);
        // Exactly 183 × 110 mm, cut from the top left where the figure is drawn (the box grew: the offsets moved with it).
        var box = System.Text.RegularExpressions.Regex.Match(text, @"/MediaBox \[0 ([\d.]+) ([\d.]+) 312\]");
        Assert.True(box.Success, text);
        Assert.Equal(183 / 25.4 * 72, double.Parse(box.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), 0.002);
        Assert.Equal(312 - 110 / 25.4 * 72, double.Parse(box.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 0.002);
        AssertCrossReferences(a);
        Assert.Matches(@"/ID \[<[0-9A-F]{32}> <[0-9A-F]{32}>\]", text);
        Assert.DoesNotContain("0123456789ABCDEF", text);
        Assert.Matches(@"/BaseFont /[A-Z]{6}\+DejaVuSans", text);
        Assert.DoesNotContain("AAAAAA+", text);
        // One tag per subset: the regular face keeps its tag wherever it is named, the bold face has its own.
        string regular = System.Text.RegularExpressions.Regex.Match(text, @"/BaseFont /([A-Z]{6})\+DejaVuSans>").Groups[1].Value;
        Assert.Contains($"/FontName /{regular}+DejaVuSans", text);
        Assert.DoesNotContain($"/{regular}+DejaVuSans-Bold", text);
        // Another figure gets another id and another subset tag.
        var other = System.Text.Encoding.Latin1.GetString(FigureExport.FinishPdf(SkiaShapedPdf(
            "<</Title (u)\n/Creator (c)>>", "<</Type /Page\n/MediaBox [0 0 519.12 312]\n/Resources <</Font <</F1 <</BaseFont /AAAAAA+DejaVuSans>>>>>>>>",
            "\n/ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>]"), size, "c"));
        static string Tag(string pdf) => System.Text.RegularExpressions.Regex.Match(pdf, @"/BaseFont /([A-Z]{6})\+").Groups[1].Value;
        static string Id(string pdf) => System.Text.RegularExpressions.Regex.Match(pdf, @"/ID \[<([0-9A-F]+)>").Groups[1].Value;
        Assert.NotEqual(Tag(text), Tag(other));
        Assert.NotEqual(Id(text), Id(other));
        // A PDF of another shape (no classic cross-reference table) is left as it was printed; a file that is not one is refused.
        var unknown = System.Text.Encoding.Latin1.GetBytes("%PDF-1.7\n1 0 obj\n<</CreationDate (D:2026)>>\nendobj\n");
        Assert.Equal(unknown, FigureExport.FinishPdf(unknown, size, "c"));
        // So is one with an incremental update, whose earlier table this would not move.
        var updated = SkiaShapedPdf("<</Title (t)\n/CreationDate (D:2026)>>", "<</Type /Page>>", "\n/Prev 9");
        Assert.Equal(updated, FigureExport.FinishPdf(updated, size, "c"));
        Assert.Throws<GestaltLabException>(() => FigureExport.FinishPdf("<html>"u8.ToArray(), size, "c"));
    }

    [Fact]
    public async Task Print_layout_leaves_out_bar_values_and_cell_words_that_would_overprint()
    {
        string[] regions = ["face", "upper_face", "periorbital_left", "periorbital_right", "nose", "mouth_philtrum", "lower_face", "ensemble"];
        var bars = Charts.RegionAccuracy(regions.Select((r, i) => new RegionScore(r, 0.1 + 0.05 * i, 0.4 + 0.05 * i, 0.6 + 0.04 * i)).ToList());
        string Svg(byte[] b) => System.Text.Encoding.UTF8.GetString(b);
        var wide = await FigureExport.DrawAsync(bars, FigureFormat.Svg, FigureSize.DoubleColumn(90), fixture.Browser);
        Assert.Contains("bartext", Svg(wide.Bytes));
        Assert.Empty(wide.LeftOut);
        var narrow = await FigureExport.DrawAsync(bars, FigureFormat.Svg, FigureSize.SingleColumn(60), fixture.Browser);
        Assert.DoesNotContain("bartext", Svg(narrow.Bytes));
        Assert.Equal(["the values written over the bars (the bars are narrower than their labels)"], narrow.LeftOut);
        // A forest plot of 14 rows squeezed into 40 mm: its rows would overprint one another, said with the height that
        // holds them; at that height, nothing is said.
        var groups = Enumerable.Range(0, 6).ToDictionary(i => $"g{i}", _ => new StratumScore { NImages = 10, NSubjects = 5, Top1 = 0.5, Top5 = 0.7, Top10 = 0.8 });
        var forest = Charts.StratumAccuracy(new StrataScores { Columns = new Dictionary<string, StratumColumn> { ["sex"] = new() { Values = groups }, ["clinic"] = new() { Values = groups } } });
        var squeezed = (await FigureExport.DrawAsync(forest, FigureFormat.Svg, FigureSize.SingleColumn(40), fixture.Browser)).LeftOut;
        var rows = Assert.Single(squeezed, w => w.StartsWith("room for its 14 labelled rows"));
        int holds = int.Parse(System.Text.RegularExpressions.Regex.Match(rows, @"about (\d+) mm").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(holds, 41, 150);
        Assert.DoesNotContain((await FigureExport.DrawAsync(forest, FigureFormat.Svg, FigureSize.SingleColumn(holds), fixture.Browser)).LeftOut, w => w.Contains("labelled rows"));
        // The compact confusion view of 40 classes: at one column the rows are shorter than its words, which are left out.
        var counts = new int[40, 40];
        for (int c = 0; c < 40; c++) { counts[c, c] = 4; counts[c, (c + 1) % 40] = 1; }
        var names = Enumerable.Range(0, 40).Select(c => $"class{c:00}").ToList();
        var compact = Charts.ConfusionTopK(counts, names, 3);
        static string Cells(string svg) => svg.Split("<g class=\"heatmaplayer")[1].Split("<g class=\"overplot")[0];
        Assert.Contains(">class01<", Cells(Svg(await FigureExport.RenderAsync(compact, FigureFormat.Svg, new FigureSize(183, Math.Round(183.0 * (140 + 18 * 40) / (260 + 120 * 4), 1)), fixture.Browser))));
        var cramped = await FigureExport.DrawAsync(compact, FigureFormat.Svg, FigureSize.SingleColumn(60), fixture.Browser);
        Assert.DoesNotContain(">class01<", Cells(Svg(cramped.Bytes)));
        Assert.Contains("the words in the cells (the rows are lower than their font)", cramped.LeftOut);
        // The height export gives it when none is asked for keeps them, at one column as at two; charts without words in
        // rows keep their aspect ratio.
        double singleHeight = FigureExport.DefaultHeightMm(compact, 89);
        Assert.Contains(">class01<", Cells(Svg(await FigureExport.RenderAsync(compact, FigureFormat.Svg, new FigureSize(89, singleHeight), fixture.Browser))));
        Assert.True(FigureExport.DefaultHeightMm(compact, 183) >= singleHeight);
        Assert.Equal(Math.Round(89.0 * 420 / 840, 1), FigureExport.DefaultHeightMm(bars, 89));   // RegionAccuracy: 840 × 420 px for 8 regions
        // A confusion matrix (a square plot) gets a page about as high as it is wide, so that the matrix fills the width:
        // at its screen aspect ratio it filled a third of a single column, its height the limit.
        var square = Charts.Confusion(counts, names);
        Assert.Equal((96.0, 190.0), (FigureExport.DefaultHeightMm(square, 89), FigureExport.DefaultHeightMm(square, 183)));
        // A top-k chart's legend (the curves and the published points) at one column: at its aspect ratio's height the
        // layout leaves it out; the default height keeps it.
        var curve = Enumerable.Range(0, 29).Select(k => 0.4 + 0.02 * k).ToArray();
        var topK = Charts.TopK([("this run, per image", curve), ("this run, per disorder", curve.Select(v => v - 0.1).ToArray())], PublishedResults.All, title: "Top-k accuracy");
        double keeps = FigureExport.DefaultHeightMm(topK, 89);
        Assert.True(keeps > Math.Round(89.0 * 0.62, 1) + 5, $"{keeps} mm");
        Assert.Contains((await FigureExport.DrawAsync(topK, FigureFormat.Svg, FigureSize.SingleColumn(Math.Round(89.0 * 0.62, 1)), fixture.Browser)).LeftOut, w => w.StartsWith("the legend ("));
        Assert.DoesNotContain((await FigureExport.DrawAsync(topK, FigureFormat.Svg, new FigureSize(89, keeps), fixture.Browser)).LeftOut, w => w.StartsWith("the legend ("));
    }

    [Fact]
    public async Task An_occlusion_map_over_its_face_exports_as_a_smooth_map()
    {
        // A map over a picture, without category names and with signed values: export once turned every heatmap whose
        // axes are tied into vector squares, which needs category names, and failed on it. (A face of 64 px: plotly.js
        // fails on a 32 px one at any size; aligned faces are 256 px.)
        var px = new byte[64 * 64 * 3];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)(i / 3 % 64 is < 16 or >= 48 ? 220 : 40);
        var face = new RgbImage(64, 64, px);
        float[] Predict(RgbImage img)
        {
            double left = 0, right = 0;
            for (int y = 0; y < 64; y++)
                for (int x = 0; x < 64; x++)
                    if (x < 16) left += img.Pixels[(y * 64 + x) * 3];
                    else if (x >= 48) right += img.Pixels[(y * 64 + x) * 3];
            float p = (float)Math.Clamp(0.5 + (left - right) / (2 * 16 * 64 * 255.0), 0, 1);
            return [p, 1 - p];
        }
        var map = OcclusionSensitivity.Compute(face, Predict, cellSize: 16, stride: 8, classNames: ["A", "B"]);
        Assert.True(map.Drop.Min() < 0 && map.Drop.Max() > 0);
        var drawn = await FigureExport.DrawAsync(Charts.Occlusion(face, map), FigureFormat.Svg, FigureSize.SingleColumn(80), fixture.Browser);
        string svg = System.Text.Encoding.UTF8.GetString(drawn.Bytes);
        // plotly draws a smoothed heatmap as one picture in its heatmap layer (vector squares would be points of a scatter).
        Assert.Contains("<image", svg.Split("<g class=\"heatmaplayer")[1].Split("</g>")[0]);
    }

    [Fact]
    public async Task Missing_browser_gives_a_clear_error()
    {
        var e = await Assert.ThrowsAsync<GestaltLabException>(() => HeadlessBrowser.LaunchAsync("/nonexistent/chromium"));
        Assert.Contains("/nonexistent/chromium", e.Message);
        Assert.Contains("chromium", e.Fix);
    }
}
