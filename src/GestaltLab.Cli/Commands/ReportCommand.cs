using System.CommandLine;
using GestaltLab.Figures;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary><c>gestaltlab report --run RUN [--out FILE]</c>: the self-contained offline HTML report of a run.</summary>
internal sealed class ReportCommand : ICliCommand
{
    public Command Create()
    {
        var run = new Option<string>("--run", "--model") { Description = "Run directory (as `gestaltlab train`, `evaluate` or `demo` write it).", Required = true };
        var output = new Option<string?>("--out") { Description = "HTML file to write (default: RUN/report.html)." };
        var manifest = new Option<string?>("--manifest") { Description = "The data set's manifest.csv, to colour the t-SNE map by its columns (default: the data folder named in run.json)." };
        var colour = new Option<string[]>("--colour-by") { Description = "Manifest columns to colour t-SNE maps by ('true' = the true class).", AllowMultipleArgumentsPerToken = true };
        var highlight = new Option<string[]>("--highlight") { Description = "Classes to colour on the t-SNE map by true class, every other photo light grey (a few syndromes of interest on a map of many).", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<int>("--seed") { Description = "Seed for bootstraps and t-SNE.", DefaultValueFactory = _ => 0 };
        var check = new Option<bool>("--check") { Description = "Open the written report in headless Chromium and fail unless every chart renders without console errors." };
        var noNames = new Option<bool>("--no-photo-names") { Description = "For a page shared beyond the team: number the photos in the t-SNE hover text instead of naming them, and cut the run's, data's and manifest's paths to their last folder name (patient photos' file names often carry names or record numbers; the folders above a run often name a clinic, a user or a cohort)." };
        var cmd = new Command("report", "Write one self-contained HTML page for a run: metrics beside the oracle and the papers, top-k, confusion, t-SNE, ROC, regions, training curves.")
            { run, output, manifest, colour, highlight, seed, check, noNames };
        cmd.SetAction(async (p, ct) =>
        {
            var options = new ReportOptions { ManifestPath = p.GetValue(manifest), Seed = p.GetValue(seed), PhotoNames = !p.GetValue(noNames), FolderPaths = !p.GetValue(noNames) };
            if (p.GetValue(colour) is { Length: > 0 } c) options = options with { TsneColourBy = c };
            if (p.GetValue(highlight) is { Length: > 0 } h) options = options with { TsneHighlight = h };
            // What was asked for by name must work, not become a note under a page that exits 0: a manifest named with
            // --manifest must load, and a --colour-by column must be one of its columns.
            CheckColourBy(p.GetValue(manifest), p.GetValue(run)!, options.TsneColourBy);
            // Held to the end: a second report into the same page would replace this one's when it finished.
            using var outLock = FolderLock.AcquireFile(p.GetValue(output) ?? Path.Combine(p.GetValue(run)!, Report.FileName), "write a report to");
            // Before the report is built (t-SNE takes a while): an --out naming someone's page is refused, not replaced.
            if (p.GetValue(output) is { } outFile)
            {
                // A folder made for a page naming photos is its owner's alone, as Report.Write makes it.
                AtomicFile.CheckWritable(outFile, "report.html", ownerOnly: options.PhotoNames);
                AtomicFile.CheckReplaceable(outFile, FigureHtml.GeneratorMeta, "gestaltlab report");
            }
            var result = await CliProgress.RunAsync(progress => Report.Write(p.GetValue(run)!, p.GetValue(output), options, progress, ct));
            Console.WriteLine($"report: {result.Path} ({result.ChartCount} charts; sections: {string.Join(", ", result.Sections)})");
            foreach (var n in result.Notes) Console.WriteLine($"  note: {n}");
            if (!p.GetValue(check)) return 0;
            await using var browser = await HeadlessBrowser.LaunchAsync(cancellationToken: ct);
            if (browser.SandboxNote is { } why) Console.WriteLine($"  note: {why}");
            var pageCheck = await browser.CheckPageAsync(result.Path, cancellationToken: ct);
            Console.WriteLine($"check: {pageCheck.RenderedCharts} of {pageCheck.ChartCount} charts rendered in {browser.Executable}, " +
                              $"{pageCheck.ConsoleErrors.Count} console error(s), {pageCheck.FailedRequests.Count} blocked network request(s)");
            foreach (var e in pageCheck.ConsoleErrors) Console.WriteLine($"  console: {e}");
            foreach (var r in pageCheck.FailedRequests) Console.WriteLine($"  blocked: {r}");
            return pageCheck.Ok ? 0 : 1;
        });
        return cmd;
    }

    /// <summary>
    /// A manifest named with --manifest must load, and each --colour-by column must be one of the columns of the manifest
    /// the maps are coloured from (that one, else the run's data's, as the report finds it), report and export alike:
    /// what was asked for by name must work, not become a note under figures that exit 0 (nor, on a page without photo
    /// names, a refusal for privacy of a column that is only misspelt).
    /// </summary>
    internal static void CheckColourBy(string? manifestPath, string runDirectory, IReadOnlyList<string>? columns)
    {
        GestaltLab.Data.Manifest m;
        if (manifestPath is not null) m = GestaltLab.Data.Manifest.Load(manifestPath);
        else
        {
            if (columns is null) return;
            // The run's data may be elsewhere, gone or unreadable: the report says so in a note, and colours by class alone.
            manifestPath = Directory.Exists(runDirectory) ? GestaltLab.Evaluation.ResamplingUnits.DataManifestPath(runDirectory) : null;
            if (manifestPath is null || !File.Exists(manifestPath)) return;
            try { m = GestaltLab.Data.Manifest.Load(manifestPath); }
            catch (GestaltLabException) { return; }
        }
        // As the map reads them: standard columns in any letter case, a manifest's own columns exactly.
        bool Known(string col) => col.Equals("true", StringComparison.OrdinalIgnoreCase)
            || GestaltLab.Data.Manifest.Columns.Contains(col.ToLowerInvariant()) || m.ExtraColumns.Contains(col);
        if (columns?.FirstOrDefault(col => !Known(col)) is { } unknown)
            throw new GestaltLabException($"--colour-by {unknown}: {manifestPath} has no such column", $"use one of: true, {string.Join(", ", GestaltLab.Data.Manifest.Columns.Concat(m.ExtraColumns))}");
    }
}
