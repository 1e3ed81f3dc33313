using System.CommandLine;
using System.Globalization;
using System.Text.Json;
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
        var b = new Argument<string>("B") { Description = "Second evaluation, of the same photos." };
        var output = new Option<string?>("--out") { Description = "Also write the comparison as JSON to this file." };
        var iterations = new Option<int>("--iterations") { Description = "Bootstrap resamples.", DefaultValueFactory = _ => 2000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the resamples.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("compare", "Compare two models evaluated on the same photos: each measure's difference B − A with a paired bootstrap interval over people.")
            { a, b, output, iterations, seed };
        cmd.SetAction(p =>
        {
            if (p.GetValue(output) is { } outFile)
            {
                AtomicFile.CheckWritable(outFile);
                AtomicFile.CheckReplaceable(outFile, "\"top1_only_b_right\"", "gestaltlab compare");
            }
            var r = RunComparison.Compare(p.GetValue(a)!, p.GetValue(b)!, p.GetValue(iterations), p.GetValue(seed));
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine($"A: {r.A}");
            Console.WriteLine($"B: {r.B}");
            Console.WriteLine(r.Unit == "photos"
                ? $"{r.NImages} photos scored by both (no subject column: each photo is drawn on its own), {r.NClasses} syndromes"
                : $"{r.NImages} photos of {r.NSubjects} people scored by both, {r.NClasses} syndromes");
            Console.WriteLine($"  {"measure",-18} {"A",8} {"B",8} {"B − A",8}   95% interval of B − A (paired, over {r.Unit})");
            foreach (var m in r.Measures)
            {
                bool percent = m.Measure != "log_loss";
                string F(double v) => percent ? (100 * v).ToString("F1", inv) + " %" : v.ToString("F3", inv);
                string D(double v) => percent ? (100 * v).ToString("+0.0;−0.0;0.0", inv) : v.ToString("+0.000;−0.000;0.000", inv);
                string name = m.Measure switch { "top1" => "top-1", "top5" => "top-5", "top10" => "top-10", "per_disorder_top1" => "per-disorder top-1", "log_loss" => "log loss", var other => other };
                string interval = double.IsNaN(m.Difference.Lower) ? "—  (a syndrome has a single person: no interval)" : $"[{D(m.Difference.Lower)}, {D(m.Difference.Upper)}]";
                Console.WriteLine($"  {name,-18} {F(m.A),8} {F(m.B),8} {D(m.Difference.Estimate),8}   {interval}"
                                  + (m.Better is { } winner ? $"  {winner} better" : ""));
            }
            Console.WriteLine($"top-1: B right where A is wrong on {r.OnlyBRight} photo(s), A right where B is wrong on {r.OnlyARight}");
            if (r.NUnits < 30)
                Console.WriteLine($"caution: {r.NUnits} {r.Unit} only; with fewer than 30 the intervals are too narrow (they cover the truth less often than 95 %): read them as rough");
            Console.WriteLine($"({r.Iterations} resamples, seed {r.Seed}; percentage points for accuracies. An interval that excludes 0 is one comparison "
                              + "at 95 %: with many measures or many model pairs, some will by chance.)");
            if (p.GetValue(output) is { } file)
            {
                // NaN (no interval) is written as "NaN", as JSON has no number for it.
                var options = new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
                    NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
                var json = JsonSerializer.SerializeToNode(r, options)!.AsObject();
                json["command"] = "gestaltlab compare";
                json["packages"] = RunManifest.PackageVersionsJson();
                json["created_utc"] = DateTime.UtcNow.ToString("O");
                AtomicFile.WriteAllText(file, json.ToJsonString(options) + "\n");
                Console.WriteLine($"comparison: {file}");
            }
            return 0;
        });
        return cmd;
    }
}
