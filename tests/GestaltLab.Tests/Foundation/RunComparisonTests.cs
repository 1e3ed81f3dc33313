using System.Globalization;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Foundation;

public class RunComparisonTests
{
    private static readonly string[] Classes = ["kabuki", "noonan", "williams", "unaffected"];

    /// <summary>An evaluation folder: 40 people × 2 photos; <paramref name="right"/> says whether a photo's true class ranks first.</summary>
    private static string Evaluation(string name, Func<int, bool> right, string[]? columns = null, Func<int, string>? image = null,
        Func<int, string>? subject = null, string[]? classesJson = null)
    {
        columns ??= Classes;
        string dir = Path.Combine(TestTemp.Dir("gl-compare"), name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "classes.json"), System.Text.Json.JsonSerializer.Serialize(classesJson ?? columns));
        var lines = new List<string> { "image,subject,true," + string.Join(",", columns) };
        for (int i = 0; i < 80; i++)
        {
            string truth = Classes[i / 2 % Classes.Length];
            // The true class gets 0.7 when right, else 0.1 (with another class at 0.7): every photo's rank is fixed.
            string wrong = Classes[(Array.IndexOf(Classes, truth) + 1) % Classes.Length];
            var raw = columns.Select(c => c == truth ? (right(i) ? 0.7 : 0.1) : c == wrong && !right(i) ? 0.7 : 0.1).ToArray();
            // Probabilities add up to 1 (a table whose rows do not is refused as damaged).
            var p = raw.Select(v => v / raw.Sum()).ToArray();
            lines.Add($"{(image ?? (k => $"images/p{k:D3}.jpg"))(i)},{(subject ?? (k => $"P{k / 2:D2}"))(i)},{truth},{string.Join(",", p.Select(v => v.ToString(CultureInfo.InvariantCulture)))}");
        }
        File.WriteAllLines(Path.Combine(dir, "probabilities.csv"), lines);
        // Written last by an evaluation: it finished.
        File.WriteAllText(Path.Combine(dir, "metrics.json"), "{\"n_images\": 80, \"priors\": \"equal\"}");
        return dir;
    }

    [Fact]
    public void Float_rounding_between_two_scorings_of_one_model_is_no_difference()
    {
        // The same ranking scored along another path (training priors of fitted strength 0): the tables' float32
        // probabilities differ in the last bits, the log loss by ~1e-7 on every photo alike — a paired interval as narrow,
        // which excludes 0 without being a difference.
        string a = Evaluation("same-a", i => i % 3 != 0), b = Evaluation("same-b", i => i % 3 != 0);
        string table = Path.Combine(b, "probabilities.csv");
        var lines = File.ReadAllLines(table);
        for (int r = 1; r < lines.Length; r++)
        {
            var cells = lines[r].Split(',');
            int truth = 3 + Array.IndexOf(Classes, cells[2]);
            var p = cells[3..].Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            p[truth - 3] *= 1 + 3e-7;   // a few float32 ulps
            double sum = p.Sum();
            lines[r] = string.Join(",", cells[..3].Concat(p.Select(v => (v / sum).ToString("R", CultureInfo.InvariantCulture))));
        }
        File.WriteAllLines(table, lines);
        var logLoss = RunComparison.Compare(a, b, iterations: 500).Measures.Single(m => m.Measure == "log_loss");
        Assert.True(logLoss.Difference.Upper < 0 && logLoss.Difference.Lower > -1e-6);   // B's loss lower on every photo, by a hair
        Assert.Null(logLoss.Better);
        Assert.False(logLoss.IntervalExcludesZero);
        // A table cut short under metrics that count every photo (an evaluation from before tables were hashed) is not
        // compared as the evaluation's.
        File.WriteAllLines(table, lines.Take(41));
        Assert.Contains("40 photos, where metrics.json counts 80", Assert.Throws<GestaltLabException>(() => RunComparison.Compare(a, b)).Message);
    }

    [Fact]
    public void A_better_model_is_found_better_with_a_paired_interval_that_excludes_zero()
    {
        string a = Evaluation("a", i => i % 2 == 0), b = Evaluation("b", i => i % 10 != 9);
        var steps = new List<ProgressUpdate>();
        var r = RunComparison.Compare(a, b, iterations: 1000, progress: ProgressReporters.Synchronous(steps.Add));
        // Progress one measure at a time, to the last (the bootstraps take seconds at 10,000 resamples).
        Assert.Equal(Enumerable.Range(0, r.Measures.Count + 1).Select(i => (long)i), steps.Where(s => s.Stage == "compare").Select(s => s.Done));
        Assert.Throws<OperationCanceledException>(() => RunComparison.Compare(a, b, cancellationToken: new CancellationToken(true)));
        var top1 = r.Measures.Single(m => m.Measure == "top1");
        Assert.Equal(0.5, top1.A, 6);
        Assert.Equal(0.9, top1.B, 6);
        Assert.Equal(0.4, top1.Difference.Estimate, 6);
        Assert.True(top1.Difference.Lower > 0 && top1.IntervalExcludesZero);
        Assert.Equal(32, r.OnlyBRight);          // even photos are right in both; of the odd ones B gets 32 of 40
        Assert.Equal(0, r.OnlyARight);
        Assert.Equal(40, r.NSubjects);
        var logLoss = r.Measures.Single(m => m.Measure == "log_loss");
        Assert.True(logLoss.Difference.Upper < 0);
        // Lower log loss is better: B wins both.
        Assert.Equal("B", logLoss.Better);
        Assert.Equal("B", top1.Better);
        Assert.Equal("A", RunComparison.Compare(b, a, iterations: 500).Measures.Single(m => m.Measure == "log_loss").Better);
        // Four classes: top-5 and top-10 would be 100 % by construction and are not compared.
        Assert.DoesNotContain(r.Measures, m => m.Measure is "top5" or "top10");
        Assert.Null(r.Note);
        Assert.False(r.Identical);
        // Metrics naming data of other content under the same photo names: the pairing is in doubt, and said so.
        foreach (var (folder, hash) in new[] { (a, "aa"), (b, "bb") })
            File.WriteAllText(Path.Combine(folder, "metrics.json"), $"{{\"n_images\": 80, \"priors\": \"equal\", \"data_hash\": \"{hash}{new string('0', 62)}\"}}");
        Assert.Contains("scored data of other content", RunComparison.Compare(a, b, iterations: 100).Note);
        File.WriteAllText(Path.Combine(b, "metrics.json"), File.ReadAllText(Path.Combine(a, "metrics.json")));
        Assert.Null(RunComparison.Compare(a, b, iterations: 100).Note);
        // The same model against itself: no difference at all.
        // Not while an evaluation writes one of the two (its tables could be of two evaluations).
        using (new LockHeldElsewhere(b))
            Assert.Contains("another GestaltLab command is writing to this folder right now", Assert.Throws<GestaltLabException>(() => RunComparison.Compare(a, b, iterations: 10)).Message);
        var same = RunComparison.Compare(a, a, iterations: 200);
        Assert.All(same.Measures, m => Assert.Equal((0.0, 0.0, 0.0), (m.Difference.Estimate, m.Difference.Lower, m.Difference.Upper)));
        Assert.True(same.Identical);   // by construction, not by chance: said so
    }

    [Fact]
    public void The_interval_is_paired_so_two_close_models_are_told_apart_by_how_much_they_differ_not_by_how_well_they_do()
    {
        // Half right each, differing on the 2 photos of one person among 80: separate intervals of 50 % would each be
        // about ±11 points wide; the paired difference is 0 without that person in a resample and 2.5 points per copy of
        // them, so its interval is a few points wide and never below 0.
        string a = Evaluation("a", i => i < 40), b = Evaluation("b", i => i < 42);
        var top1 = RunComparison.Compare(a, b, iterations: 1000).Measures.Single(m => m.Measure == "top1");
        Assert.Equal(0.025, top1.Difference.Estimate, 6);
        Assert.Equal(0, top1.Difference.Lower, 9);
        Assert.InRange(top1.Difference.Upper, 0.025, 0.1);
    }

    [Fact]
    public async Task The_compare_command_prints_and_writes_the_comparison()
    {
        string a = Evaluation("a", i => i % 2 == 0), b = Evaluation("b", i => i % 10 != 9);
        string json = Path.Combine(TestTemp.Dir("gl-compare-out"), "comparison.json");
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["compare", a, b, "--out", json, "--iterations", "500"]));
        var written = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!;
        Assert.Equal(32, (int)written["top1_only_b_right"]!);
        Assert.Equal("top1", (string?)written["measures"]![0]!["measure"]);
        Assert.True((double)written["measures"]![0]!["difference"]!["lower"]! > 0);
        // Not over a file the command did not write (exit 1, the message on stderr).
        File.WriteAllText(json, "{\"mine\": 1}");
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["compare", a, b, "--out", json]));
        Assert.Equal("{\"mine\": 1}", File.ReadAllText(json));
    }

    [Fact]
    public void Each_region_is_compared_with_the_ensemble_of_the_same_evaluation()
    {
        string ensemble = Evaluation("run", i => i % 10 != 9), weak = Evaluation("weak", i => i % 2 == 0), equal = Evaluation("equal", i => i % 10 != 9);
        Assert.Contains("evaluate the model again", Assert.Throws<GestaltLabException>(() => RunComparison.CompareRegions(ensemble)).Message);
        string regions = Path.Combine(ensemble, GestaltLab.Evaluation.ModelEvaluation.RegionProbabilitiesFolder);
        Directory.CreateDirectory(regions);
        File.Copy(Path.Combine(weak, "probabilities.csv"), Path.Combine(regions, "nose.csv"));
        File.Copy(Path.Combine(equal, "probabilities.csv"), Path.Combine(regions, "face.csv"));
        // Without metrics.json (written last) the evaluation did not finish: its tables may be of two evaluations.
        string finished = File.ReadAllText(Path.Combine(ensemble, "metrics.json"));
        File.Delete(Path.Combine(ensemble, "metrics.json"));
        Assert.Contains("did not finish", Assert.Throws<GestaltLabException>(() => RunComparison.CompareRegions(ensemble)).Message);
        Assert.Contains("did not finish", Assert.Throws<GestaltLabException>(() => RunComparison.Compare(weak, ensemble)).Message);
        File.WriteAllText(Path.Combine(ensemble, "metrics.json"), finished);
        var all = RunComparison.CompareRegions(ensemble, iterations: 500);
        Assert.Equal(["face", "nose"], all.Select(x => x.Region));
        var nose = all.Single(x => x.Region == "nose").Comparison.Measures.Single(m => m.Measure == "top1");
        Assert.Equal((0.5, 0.9, "B"), (nose.A, nose.B, nose.Better));      // B is the ensemble
        Assert.Null(all.Single(x => x.Region == "face").Comparison.Measures.Single(m => m.Measure == "top1").Better);
        // Each side's own interval, from the same draws as the difference (whiskers for the regions chart): the ensemble's
        // is the same in every region's comparison.
        var whiskers = RunComparison.Top1Intervals(all);
        Assert.Equal(["ensemble", "face", "nose"], whiskers.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(nose.IntervalA, whiskers["nose"]);
        Assert.Equal(all[0].Comparison.Measures[0].IntervalB, whiskers["ensemble"]);
        Assert.Equal(nose.IntervalB, whiskers["ensemble"]);
        // (Every person has one photo right and one wrong under the nose: 50 % in every resample.)
        Assert.Equal((0.5, 0.5), (whiskers["nose"].Lower, whiskers["nose"].Upper));
        Assert.True(whiskers["ensemble"].Lower < 0.9 && 0.9 < whiskers["ensemble"].Upper);
        // The ensemble's is the plain subject bootstrap of its top-1, as the report's metrics table computes it.
        var ensembleTable = ImageTable.Load(Path.Combine(ensemble, "probabilities.csv"));
        var truth = ensembleTable.TrueLabels.Select(t => Array.IndexOf(Classes, t)).ToArray();
        Assert.Equal(Bootstrap.TopK(truth, ensembleTable.Values, 1, ensembleTable.Subjects, 500), whiskers["ensemble"]);
        // A region table of other photos is refused, naming it.
        File.Copy(Path.Combine(Evaluation("other", i => true, image: k => $"images/q{k:D3}.jpg"), "probabilities.csv"), Path.Combine(regions, "lower_face.csv"));
        Assert.Contains("lower_face.csv", Assert.Throws<GestaltLabException>(() => RunComparison.CompareRegions(ensemble)).Message);
    }

    [Fact]
    public void Columns_in_another_order_compare_as_the_same_classes()
    {
        string a = Evaluation("a", i => i % 3 == 0), b = Evaluation("b", i => i % 3 == 0, columns: ["unaffected", "williams", "kabuki", "noonan"]);
        Assert.All(RunComparison.Compare(a, b, iterations: 200).Measures, m => Assert.Equal(0, m.Difference.Estimate, 9));
        // Also when a table's columns are in another order than its own classes.json.
        string c = Evaluation("c", i => i % 3 == 0, columns: ["unaffected", "williams", "kabuki", "noonan"], classesJson: Classes);
        Assert.All(RunComparison.Compare(a, c, iterations: 200).Measures, m => Assert.Equal(0, m.Difference.Estimate, 9));
    }

    [Fact]
    public async Task Relatives_the_data_names_are_drawn_together()
    {
        string a = Evaluation("a", i => i % 2 == 0), b = Evaluation("b", i => i % 10 != 9);
        var byPerson = RunComparison.Compare(a, b, iterations: 1000);
        Assert.Equal(("people", 40, (int?)null), (byPerson.Unit, byPerson.NUnits, byPerson.NFamilies));
        // Ten families of four people (the test's people, two photos each), as a manifest's family column names them.
        string data = Path.Combine(Path.GetDirectoryName(a)!, "data");
        Directory.CreateDirectory(data);
        var manifest = new GestaltLab.Data.Manifest(data, Enumerable.Range(0, 40).Select(k => new GestaltLab.Data.ManifestRow
            { Image = $"images/p{2 * k:D3}.jpg", Subject = $"P{k:D2}", Syndrome = Classes[k % Classes.Length], Family = $"F{k / 4}" }));
        var byFamily = RunComparison.Compare(a, b, iterations: 1000, data: manifest);
        Assert.Equal(("families", 10, 40, (int?)10), (byFamily.Unit, byFamily.NUnits, byFamily.NSubjects, byFamily.NFamilies));
        Assert.Contains("whole families", byFamily.Method);
        var top1 = byFamily.Measures.Single(m => m.Measure == "top1");
        // Same estimate, other draws: ten units, not forty.
        Assert.Equal(byPerson.Measures[0].Difference.Estimate, top1.Difference.Estimate, 12);
        Assert.NotEqual(byPerson.Measures[0].Difference, top1.Difference);
        // Found without being named, from the data folder the evaluation's metrics.json records.
        manifest.Save(Path.Combine(data, GestaltLab.Data.Manifest.FileName));
        // (Its figures are not what is compared; its photo count is checked against the table's.)
        (ClassificationMetrics.Compute([0, 1], [[0.9f, 0.1f, 0f, 0f], [0.1f, 0.9f, 0f, 0f]], 4) with { Data = data, NImages = 80 }).Save(Path.Combine(a, "metrics.json"));
        Assert.Equal(top1.Difference, RunComparison.Compare(a, b, iterations: 1000).Measures[0].Difference);
        // Found but unreadable: people are drawn, and the result says why rather than passing over it in silence.
        string saved = File.ReadAllText(Path.Combine(data, GestaltLab.Data.Manifest.FileName));
        File.WriteAllText(Path.Combine(data, GestaltLab.Data.Manifest.FileName), "image,subject,split\nx.png,,train\n");
        var unread = RunComparison.Compare(a, b, iterations: 200);
        Assert.Equal("people", unread.Unit);
        Assert.Contains("could not be read", unread.Note);
        File.WriteAllText(Path.Combine(data, GestaltLab.Data.Manifest.FileName), saved);
        Assert.Null(RunComparison.Compare(a, b, iterations: 200).Note);
        // Families that leave a syndrome a single family: no per-disorder interval (drawn within it, it never varies).
        var oneFamilyEach = new GestaltLab.Data.Manifest(data, manifest.Rows.Select(r => r with { Family = r.Syndrome }));
        var perDisorder = RunComparison.Compare(a, b, iterations: 500, data: oneFamilyEach).Measures.Single(m => m.Measure == "per_disorder_top1");
        Assert.True(double.IsNaN(perDisorder.Difference.Lower));
        // The ensemble against its regions draws the same families.
        Directory.CreateDirectory(Path.Combine(a, ModelEvaluation.RegionProbabilitiesFolder));
        File.Copy(Path.Combine(b, "probabilities.csv"), Path.Combine(a, ModelEvaluation.RegionProbabilitiesFolder, "nose.csv"));
        Assert.Equal(("families", 10), (RunComparison.CompareRegions(a, iterations: 200)[0].Comparison.Unit, RunComparison.CompareRegions(a, iterations: 200)[0].Comparison.NUnits));
        // From the command line, a manifest named with --manifest (here one without families: people are drawn, and said).
        string json = Path.Combine(TestTemp.Dir("gl-compare-out"), "families.json");
        string noFamilies = Path.Combine(TestTemp.Dir("gl-compare-manifest"), GestaltLab.Data.Manifest.FileName);
        new GestaltLab.Data.Manifest(Path.GetDirectoryName(noFamilies)!, manifest.Rows.Select(r => r with { Family = "" })).Save(noFamilies);
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["compare", a, b, "--out", json, "--iterations", "200", "--manifest", noFamilies]));
        Assert.Equal("people", (string?)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!["bootstrap_unit"]);
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["compare", a, b, "--out", json, "--iterations", "200"]));
        var written = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(json))!;
        Assert.Equal(("families", 10), ((string?)written["bootstrap_unit"], (int)written["n_families"]!));
        // Found through run.json's data folder when metrics.json names none (a run evaluated before it recorded its data).
        File.WriteAllText(Path.Combine(a, "metrics.json"), "{\"n_images\": 80, \"priors\": \"equal\"}");
        Assert.Null(ResamplingUnits.DataManifestPath(a));
        new RunManifest { Command = "test", Seed = 1, Config = new System.Text.Json.Nodes.JsonObject { ["data"] = data } }.Save(a);
        Assert.Equal(Path.Combine(data, GestaltLab.Data.Manifest.FileName), ResamplingUnits.DataManifestPath(a));
        Assert.Equal("families", RunComparison.Compare(a, b, iterations: 200).Unit);
        // A run received without its data: its own aligned copy's manifest (which carries the data's columns).
        new RunManifest { Command = "test", Seed = 1, Config = new System.Text.Json.Nodes.JsonObject { ["data"] = "/nonexistent/author/aligned" } }.Save(a);
        Assert.Null(ResamplingUnits.DataManifestPath(a));
        Directory.CreateDirectory(Path.Combine(a, "aligned"));
        File.Copy(Path.Combine(data, GestaltLab.Data.Manifest.FileName), Path.Combine(a, "aligned", GestaltLab.Data.Manifest.FileName));
        Assert.Equal(Path.Combine(a, "aligned", GestaltLab.Data.Manifest.FileName), ResamplingUnits.DataManifestPath(a));
        Assert.Equal("families", RunComparison.Compare(a, b, iterations: 200).Unit);
    }

    [Fact]
    public void A_syndrome_of_one_person_gets_no_per_disorder_interval_and_one_person_no_comparison()
    {
        // One person per syndrome: drawn within each syndrome, every resample would be the same (a certain-looking
        // difference); the per-image measures, drawn over the 4 people, still get intervals.
        string a = Evaluation("a", i => i % 2 == 0, subject: i => "P" + Classes[i / 2 % 4]), b = Evaluation("b", i => true, subject: i => "P" + Classes[i / 2 % 4]);
        var r = RunComparison.Compare(a, b, iterations: 300);
        Assert.True(double.IsNaN(r.Measures.Single(m => m.Measure == "per_disorder_top1").Difference.Lower));
        Assert.Null(r.Measures.Single(m => m.Measure == "per_disorder_top1").Better);
        Assert.False(double.IsNaN(r.Measures.Single(m => m.Measure == "top1").Difference.Lower));
        Assert.Equal(4, r.NUnits);
        var one = Assert.Throws<GestaltLabException>(() => RunComparison.Compare(Evaluation("c", i => true, subject: _ => "P1"), Evaluation("d", i => true, subject: _ => "P1")));
        Assert.Contains("1 person", one.Message);
    }

    [Fact]
    public void Evaluations_of_other_photos_or_other_syndromes_are_refused_naming_what_differs()
    {
        string a = Evaluation("a", i => true);
        var other = Assert.Throws<GestaltLabException>(() => RunComparison.Compare(a, Evaluation("b", i => true, image: k => $"images/q{k:D3}.jpg")));
        Assert.Contains("scored different photos", other.Message);
        Assert.Contains("images/p000.jpg", other.Message);
        var classes = Assert.Throws<GestaltLabException>(() => RunComparison.Compare(a, Evaluation("c", i => true, columns: ["kabuki", "noonan", "williams", "sotos"])));
        Assert.Contains("other syndromes", classes.Message);
        Assert.Contains("probabilities.csv", Assert.Throws<GestaltLabException>(() => RunComparison.Compare(a, TestTemp.Dir("gl-compare-empty"))).Message);
        // A photo listed twice (the counts would match another table's) is named.
        Assert.Contains("listed twice", Assert.Throws<GestaltLabException>(() => RunComparison.Compare(a, Evaluation("e", i => true, image: k => $"images/p{Math.Max(k, 1):D3}.jpg"))).Message);
        // A damaged table (values that are not probabilities) is refused, naming its line, not scored.
        string damaged = Evaluation("f", i => true);
        string csv = Path.Combine(damaged, "probabilities.csv");
        var lines = File.ReadAllLines(csv);
        lines[3] = string.Join(",", lines[3].Split(',').Take(3).Concat(["-5", "7", "0", "0"]));
        File.WriteAllLines(csv, lines);
        Assert.Contains("line 4", Assert.Throws<GestaltLabException>(() => RunComparison.Compare(a, damaged)).Message);
    }
}
