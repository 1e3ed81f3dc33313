using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab compare A B [--out FILE.json]</c>: two models scored on the same photos, each measure's difference with a
/// paired bootstrap interval over people.
/// </summary>
internal sealed class CompareCommand : ICliCommand
{
    public Command Create()
    {
        var a = new Argument<string>("A") { Description = "First evaluation: a run folder or an evaluation's folder (holding probabilities.csv and classes.json)." };
        var b = new Argument<string?>("B") { Description = "Second evaluation, of the same photos (none with --regions).", Arity = ArgumentArity.ZeroOrOne };
        var regions = new Option<bool>("--regions") { Description = "Compare A's ensemble with each of its own regions, on the same photos (B − A = ensemble − region)." };
        var output = new Option<string?>("--out") { Description = "Also write the comparison as JSON to this file." };
        var iterations = new Option<int>("--iterations") { Description = "Bootstrap resamples, 100 to 100,000 (the report uses 1,000, so both give the same intervals).", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the resamples.", DefaultValueFactory = _ => 0 };
        var manifest = new Option<string?>("--manifest") { Description = "The data's manifest.csv (or its folder): relatives it names (its family column) are drawn together (default: the manifest of the data A's metrics.json or run.json names)." };
        var cmd = new Command("compare", "Compare two models evaluated on the same photos: each measure's difference B − A with a paired bootstrap interval over people (families where the data names them).")
            { a, b, regions, output, iterations, seed, manifest };
        cmd.SetAction(p =>
        {
            var data = p.GetValue(manifest) is { } manifestPath ? Manifest.Load(manifestPath) : null;
            if (p.GetValue(regions))
            {
                if (p.GetValue(b) is not null) throw new GestaltLabException("--regions compares one evaluation's ensemble with its regions: name one folder, not two");
                return CompareRegions(p.GetValue(a)!, p.GetValue(output), p.GetValue(iterations), p.GetValue(seed), data, p.GetValue(manifest));
            }
            if (p.GetValue(b) is null) throw new GestaltLabException("compare needs two evaluations, A and B (or one with --regions)");
            if (p.GetValue(output) is { } outFile)
            {
                AtomicFile.CheckWritable(outFile, "comparison.json");
                AtomicFile.CheckReplaceable(outFile, Mark, "gestaltlab compare");
            }
            // Shown as it goes: three bootstraps a measure take seconds at 10,000 resamples. (A synchronous action: Ctrl+C ends
            // it at once, and nothing is written before the end.)
            var r = CliProgress.RunAsync(progress => RunComparison.Compare(p.GetValue(a)!, p.GetValue(b)!, p.GetValue(iterations), p.GetValue(seed), data: data, progress: progress))
                .GetAwaiter().GetResult();
            NamedManifestUnused(p.GetValue(manifest), r);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"A: {r.A}");
            Console.WriteLine($"B: {r.B}");
            Console.WriteLine(r.Unit == "photos"
                ? $"{r.NImages} photos scored by both (no subject column: each photo is drawn on its own), {r.NClasses} syndromes"
                : $"{r.NImages} photos of {People(r)} scored by both, {r.NClasses} syndromes");
            Console.WriteLine($"  {"measure",-18} {"A",8} {"B",8} {"B − A",8}   95% interval of B − A (paired, over {r.Unit})");
            foreach (var m in r.Measures)
            {
                bool percent = m.Measure != "log_loss";
                string F(double v) => percent ? (100 * v).ToString("F1", inv) + " %" : v.ToString("F3", inv);
                string D(double v) => percent ? (100 * v).ToString("+0.0;−0.0;0.0", inv) : v.ToString("+0.000;−0.000;0.000", inv);
                string name = m.Measure switch { "top1" => "top-1", "top5" => "top-5", "top10" => "top-10", "per_disorder_top1" => "per-disorder top-1", "log_loss" => "log loss", var other => other };
                string interval = double.IsNaN(m.Difference.Lower) ? $"—  (no interval: a syndrome, or the {(r.Unit == "families" ? "families" : "people")} spanning several, rest on a single {(r.Unit == "families" ? "family" : "person")})" : $"[{D(m.Difference.Lower)}, {D(m.Difference.Upper)}]";
                Console.WriteLine($"  {name,-18} {F(m.A),8} {F(m.B),8} {D(m.Difference.Estimate),8}   {interval}"
                                  + (m.Better is { } winner ? $"  {winner} better" : ""));
            }
            Console.WriteLine($"top-1: B right where A is wrong on {r.OnlyBRight} photo(s), A right where B is wrong on {r.OnlyARight}");
            if (r.Identical) Console.WriteLine("identical: both models gave every photo the very same probabilities (the same model, or a run re-created bit for bit)");
            if (r.Note is { } note) Console.WriteLine($"caution: {note}");
            if (r.NUnits < 30)
                Console.WriteLine($"caution: {r.NUnits} {r.Unit} only; with fewer than 30 the intervals are too narrow (they cover the truth less often than 95 %): read them as rough");
            Console.WriteLine($"({r.Iterations} resamples, seed {r.Seed}; percentage points for accuracies. An interval that excludes 0 is one comparison "
                              + "at 95 %: with many measures or many model pairs, some will by chance.)");
            if (p.GetValue(output) is { } file) Write(file, JsonSerializer.SerializeToNode(r, JsonOptions)!.AsObject());
            return 0;
        });
        return cmd;
    }

    /// <summary>"90 people", or "90 people in 41 families" when relatives are drawn together.</summary>
    private static string People(RunComparisonResult r) =>
        $"{r.NSubjects} people" + (r.Unit == "families" ? $" in {r.NUnits} families (relatives drawn together)" : "");

    /// <summary>Text every file compare writes holds (what it may replace).</summary>
    private const string Mark = "\"command\": \"gestaltlab compare\"";

    // NaN (no interval) is written as "NaN", as JSON has no number for it.
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static void Write(string file, System.Text.Json.Nodes.JsonObject json)
    {
        json["command"] = "gestaltlab compare";
        json["packages"] = RunManifest.PackageVersionsJson();
        json["created_utc"] = DateTime.UtcNow.ToString("O");
        AtomicFile.WriteAllText(file, json.ToJsonString(JsonOptions) + "\n");
        Console.WriteLine($"comparison: {file}");
    }

    /// <summary>A manifest the user named that gave no family to these photos' people: said, not silently passed over.</summary>
    private static void NamedManifestUnused(string? manifestPath, RunComparisonResult r)
    {
        if (manifestPath is not null && r.Unit != "families")
            Console.WriteLine(r.Unit == "photos"
                ? $"note: {manifestPath} was not used: the tables name no subjects, so each photo is drawn on its own"
                : $"note: {manifestPath} gives none of these {r.NSubjects} people a family (no family column, or other subject names): people are drawn");
    }

    /// <summary>The ensemble against each of its regions: top-1 and top-10 differences with their intervals, one line a region.</summary>
    private static int CompareRegions(string evaluation, string? output, int iterations, int seed, Manifest? data, string? manifestPath)
    {
        if (output is not null)
        {
            AtomicFile.CheckWritable(output, "comparison.json");
            AtomicFile.CheckReplaceable(output, Mark, "gestaltlab compare");
        }
        var all = CliProgress.RunAsync(progress => RunComparison.CompareRegions(evaluation, iterations, seed, data: data, progress: progress)).GetAwaiter().GetResult();
        NamedManifestUnused(manifestPath, all[0].Comparison);
        var inv = CultureInfo.InvariantCulture;
        var first = all[0].Comparison;
        Console.WriteLine($"{evaluation}: the ensemble against each region on the same {first.NImages} photos"
                          + (first.Unit == "photos" ? " (no subject column: each drawn on its own)" : $" of {People(first)}")
                          + "; ensemble − region in percentage points, 95% interval paired over " + first.Unit);
        string Cell(PairedMeasure? m) => m is null ? "—" : m.DifferenceText();
        Console.WriteLine($"  {"region",-18} {"top-1",8}  {"ensemble − region, top-1",-28} {"top-10",8}  {"ensemble − region, top-10",-28}");
        foreach (var (region, c) in all)
        {
            var top1 = c.Measures.Single(m => m.Measure == "top1");
            var top10 = c.Measures.SingleOrDefault(m => m.Measure == "top10");
            // Per measure whose interval excludes 0 (both, when both do): top-1 alone undersold a clear top-10 lead.
            var told = new[] { top1, top10 }.OfType<PairedMeasure>().Where(m => m.Better is "A" or "B").ToList();
            string verdict = told.Count == 0 ? "not told apart"
                : string.Join("; ", told.GroupBy(m => m.Better).Select(g => $"{(g.Key == "B" ? "ensemble" : "region")} better ({string.Join(", ", g.Select(m => m.Measure == "top1" ? "top-1" : "top-10"))})"));
            Console.WriteLine($"  {region,-18} {(100 * top1.A).ToString("F1", inv) + " %",8}  {Cell(top1),-28} {(top10 is null ? "—" : (100 * top10.A).ToString("F1", inv) + " %"),8}  {Cell(top10),-28} {verdict}");
        }
        Console.WriteLine($"  {"ensemble",-18} {(100 * first.Measures.Single(m => m.Measure == "top1").B).ToString("F1", inv) + " %",8}");
        // The intervals printed: top-10 has none where it is 100 % by construction ("—").
        int intervals = all.Sum(t => 1 + (t.Comparison.Measures.Any(m => m.Measure == "top10") ? 1 : 0));
        Console.WriteLine($"({first.Iterations} resamples, seed {first.Seed}. {intervals} interval{(intervals == 1 ? "" : "s")}: at 95 % each, one may exclude 0 by chance.)");
        if (first.Note is { } note) Console.WriteLine($"caution: {note}");
        string? priors = RunComparison.EnsemblePriors(evaluation);
        if (priors == GestaltLab.Ensemble.ClassPriors.Training)
            Console.WriteLine("caution: the ensemble ranked with the training photos' syndrome frequencies as priors, the regions with equal priors: "
                              + "part of its lead is the priors, not the combining (evaluate with --priors equal to measure the combining alone)");
        if (first.NUnits < 30)
            Console.WriteLine($"caution: {first.NUnits} {first.Unit} only; with fewer than 30 the intervals are too narrow: read them as rough");
        if (output is not null)
        {
            var json = new System.Text.Json.Nodes.JsonObject
            {
                ["evaluation"] = Path.GetFullPath(evaluation),
                ["ensemble_priors"] = priors,
                ["regions_priors"] = "equal",
                ["regions"] = new System.Text.Json.Nodes.JsonObject(all.Select(x => KeyValuePair.Create(x.Region, (System.Text.Json.Nodes.JsonNode?)JsonSerializer.SerializeToNode(x.Comparison, JsonOptions)))),
            };
            Write(output, json);
        }
        return 0;
    }
}
