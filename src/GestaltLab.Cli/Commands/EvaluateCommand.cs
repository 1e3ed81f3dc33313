using System.CommandLine;
using System.Globalization;
using GestaltLab.Ensemble;
using GestaltLab.Evaluation;

namespace GestaltLab.Cli;

/// <summary><c>gestaltlab evaluate --model RUN --data DIR --out metrics.json</c>: top-k per image and per disorder, with the oracle beside.</summary>
internal sealed class EvaluateCommand : ICliCommand
{
    public Command Create()
    {
        var model = new Option<string>("--model", "--run") { Description = "Run directory written by `gestaltlab train` or `demo`.", Required = true };
        var data = new Option<string>("--data") { Description = "Data folder (generated, your photos with their manifest.csv, or aligned) whose split (--split, default test) is scored.", Required = true };
        var output = new Option<string?>("--out") { Description = "metrics file (FILE.json) or folder (an existing one, or a name ending in / or without an extension: FOLDER/metrics.json) to write (default: RUN/metrics.json for the run's own data and test split; RUN/eval-SPLIT/ for another split, RUN/eval-on-DATA[-SPLIT]/ for other data, a -priors-P suffix for priors other than the run's); the CSV files go beside it." };
        var split = new Option<string>("--split") { Description = "Split to score.", DefaultValueFactory = _ => "test" };
        var truth = new Option<bool>("--ground-truth") { Description = "Align synthetic data with its ground-truth landmarks instead of detecting faces." };
        var priors = ModelCli.PriorsOption();
        var strata = new Option<string[]>("--strata")
        {
            Description = "Manifest columns to break accuracy down by (default: sex age_band skin_tone); columns of your own too, e.g. clinic or camera: does the model serve one site worse? A page for sharing shows only the standard three.",
            AllowMultipleArgumentsPerToken = true,
        };
        var cmd = new Command("evaluate", "Score a trained model on a data set: metrics.json, region_metrics.csv, probabilities.csv, embeddings.csv, region_probabilities/.")
            { model, data, output, split, truth, priors, strata };
        cmd.SetAction(async (p, ct) =>
        {
            string run = p.GetValue(model)!;
            // Said before the model loads (the library would refuse it too, later).
            string? outFile = p.GetValue(output) is { } o ? ModelEvaluation.MetricsFile(o) : null;
            using var m = GestaltModel.Load(run, p.GetValue(priors));
            string splitName = p.GetValue(split)!;
            if (!GestaltLab.Data.SplitNames.IsValid(splitName))
                throw new GestaltLab.Runtime.GestaltLabException($"--split {splitName}: not a split", $"use one of {string.Join(", ", GestaltLab.Data.SplitNames.All)}");
            var options = new DataEvaluationOptions
            {
                Split = splitName, MetricsPath = outFile, GroundTruth = p.GetValue(truth),
                Strata = p.GetValue(strata) is { Length: > 0 } columns ? columns.Distinct(StringComparer.Ordinal).ToList() : null,
            };
            var r = await CliProgress.RunAsync(progress => ModelEvaluation.EvaluateOn(m, p.GetValue(data)!, options, progress, ct));
            if (r.Alignment is { } alignment) ModelCli.PrintAlignment(alignment, p.GetValue(data)!);
            PrintEvaluation(r.Evaluation, r.MetricsPath, r.AlignedDirectory);
            return 0;
        });
        return cmd;
    }

    internal static void PrintEvaluation(ModelEvaluationResult r, string metricsPath, string alignedDirectory)
    {
        var x = r.Metrics;
        // Top-k over k or fewer classes is 100 % by construction: shown as "—", as the report does.
        string K(int k, double v) => k >= x.NClasses ? "—" : v.ToString("P1", CultureInfo.InvariantCulture);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{x.NImages} {r.Split} images, {x.NClasses} classes: top-1 {x.Top1:P1}  top-5 {K(5, x.Top5)}  top-10 {K(10, x.Top10)}  per-disorder top-1 {x.PerDisorderTop1:P1}{(x.NDisorders is int nd && nd != x.NClasses ? $" (mean of {nd} disorders with {r.Split} photos)" : "")}  log loss {x.LogLoss:F3}"));
        if (x.NUnscored is > 0 and int unscored)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{unscored} more {r.Split} photo(s) are not scored: no usable face, or not readable (see {Path.Combine(alignedDirectory, "qc.csv")}); counted as misses, top-1 would be {x.Top1 * x.NImages / (x.NImages + unscored):P1}"));
        if (x.Priors == ClassPriors.Training && x.PriorStrength is double beta)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ranked with the training photos' syndrome frequencies as priors (strength {beta:F2}); the regions below with equal priors"));
        if (x.Oracle is { } o)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"oracle (Bayes on true traits, training frequencies as priors): top-1 {o.Top1:P1}  top-5 {K(5, o.Top5)}  top-10 {K(10, o.Top10)}"));
            if (o.DistinctEqualPriors is { } e)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"oracle with equal priors: top-1 {e.Top1:P1}  top-5 {K(5, e.Top5)}  top-10 {K(10, e.Top10)}"));
        }
        foreach (var reg in r.Regions)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {reg.Region,-18} top-1 {reg.Top1:P1}  top-5 {K(5, reg.Top5)}  top-10 {K(10, reg.Top10)}"));
        if (x.Strata is { } strata) PrintStrata(strata);
        if (r.Skipped > 0) Console.WriteLine($"  note: {r.Skipped} {r.Split} photo(s) of syndromes the model does not know were not scored");
        if (r.Unlabelled > 0) Console.WriteLine($"  note: {r.Unlabelled} {r.Split} photo(s) without a syndrome in the manifest (a blank cell) were not scored");
        if (r.OracleLeftOut is { } why) Console.WriteLine($"  note: {why}");
        if (r.OtherData) { }   // another data set's train or val people are new to the model
        else if (r.Split == GestaltLab.Data.SplitNames.Val)
            Console.WriteLine("  note: validation photos chose the best epochs, the heads' shrinkage and temperatures: not held out, so these figures are optimistic");
        else if (r.Split == GestaltLab.Data.SplitNames.Train)
            Console.WriteLine("  note: training photos: these figures say how well the model fits them, not how it generalises");
        if (r.SharedPeople is { } shared) Console.WriteLine($"  warning: {shared}");
        if (r.OverlapUnchecked is { } notChecked) Console.WriteLine($"  note: {notChecked}");
        if (r.EarlierKept is { } kept)
            Console.WriteLine($"  note: the run's earlier evaluation of these photos by this model gave other probabilities (another machine or version rounds otherwise): kept in {kept}; `gestaltlab compare {kept} {Path.GetDirectoryName(kept)}` pairs the two");
        Console.WriteLine($"metrics: {metricsPath}");
    }

    // One line per stratum column: each group's top-1 with its interval and people, and the test of their differences;
    // a difference beyond chance is said with what it takes to believe it. (Evaluate's and match's figures alike.)
    internal static void PrintStrata(StrataScores strata)
    {
        string unit = strata.Unit == "families" ? "families" : "people";
        Console.WriteLine($"by stratum: top-1 [95% interval over {unit}] (people{(strata.Columns.Values.Any(c => c.Values.Values.Any(v => v.NUnscored > 0)) ? "; photos not scored: no usable face, or not readable" : "")}); p: do the groups differ by more than chance?");
        int width = strata.Columns.Keys.Max(c => c.Length);
        foreach (var (column, scores) in strata.Columns)
        {
            var groups = scores.Ordered(column).Select(g => string.Create(CultureInfo.InvariantCulture,
                $"{g.Key} {g.Value.Top1:P0}{(g.Value.Top1Interval is [var lo, var hi] ? $" [{lo * 100:0}–{hi * 100:0}]" : "")} ({g.Value.NSubjects}{(g.Value.NUnscored is > 0 and int u ? $"; {u} not scored" : "")})"));
            Console.WriteLine($"  {column.PadRight(width)}  {string.Join("  ", groups)}  {scores.PText ?? $"(not tested: {scores.NotTested})"}");
        }
        int tested = strata.Columns.Values.Count(c => c.PDifferences is not null);
        foreach (var (column, scores) in strata.Columns.Where(c => c.Value.Differs))
            Console.WriteLine($"  note: {column}: the groups' top-1 differs by more than chance among these people, {scores.PText}{(tested > 1 ? $" with Holm's adjustment for the {tested} columns tested" : "")}; that does not say the next people's will, nor why: confirm it on new people before concluding (the report's \"Accuracy by stratum\" explains)");
    }
}
