using System.CommandLine;
using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Ensemble;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab train --data DIR --out RUN [--config FILE] [--pretrained PATH | --from-scratch]</c>: fine-tunes one net per
/// facial region (from the shipped backbone by default) and writes the run directory; with <c>--pretrain</c>, face-identity
/// pretraining of a backbone file instead.
/// </summary>
internal sealed class TrainCommand : ICliCommand
{
    public Command Create()
    {
        var data = new Option<string>("--data") { Description = "Data folder: one `gestaltlab generate` wrote, or a folder of your photos with its manifest.csv (`gestaltlab manifest`), aligned into RUN/aligned first; or a `gestaltlab align` output.", Required = true };
        var output = new Option<string>("--out") { Description = "Run directory (resumes when it holds an interrupted run); with --pretrain, the backbone file.", Required = true };
        var config = new Option<string?>("--config") { Description = "Training config JSON (see RUN/config.json of any run; omitted fields take defaults)." };
        var pretrained = new Option<string?>("--pretrained") { Description = "Pretrained backbone to fine-tune from (default: the shipped data/pretrained/backbone.pt)." };
        var scratch = new Option<bool>("--from-scratch") { Description = "Train the region nets from random weights instead of a pretrained backbone." };
        var pretrain = new Option<bool>("--pretrain") { Description = "Face-identity pretraining on DIR (labels = subjects, e.g. the identities preset); writes a backbone file to --out." };
        var truth = new Option<bool>("--ground-truth") { Description = "Align synthetic data with its ground-truth landmarks instead of detecting faces." };
        var epochs = new Option<int?>("--epochs") { Description = "Override the number of epochs." };
        var seed = new Option<int?>("--seed") { Description = "Override the seed." };
        var force = new Option<bool>("--force") { Description = "Start over: clear what the run in --out wrote first (only in a folder a run took; files of yours there are kept; without it an interrupted run resumes)." };
        var cmd = new Command("train", "Fine-tune one CNN per facial region on syndrome labels (or pretrain a backbone on identities) and export ONNX + model.zip.")
            { data, output, config, pretrained, scratch, pretrain, truth, epochs, seed, force };
        cmd.SetAction(async (p, ct) =>
        {
            var cfg = p.GetValue(config) is string c ? TrainConfig.Load(c) : new TrainConfig();
            if (p.GetValue(epochs) is int e) cfg = cfg with { Training = cfg.Training with { Epochs = e } };
            if (p.GetValue(seed) is int s) cfg = cfg with { Training = cfg.Training with { Seed = s } };
            string outPath = p.GetValue(output)!;
            if (p.GetValue(pretrain))
            {
                string aligned = ModelCli.EnsureAligned(p.GetValue(data)!, outPath + ".aligned", cfg.Net.InputSize, p.GetValue(truth), ct);
                ModelCli.NoteBusyCores();
                var r = await CliProgress.RunAsync(progress => Pretraining.Pretrain(aligned, outPath, cfg.Net, cfg.Training, progress, ct, command: "gestaltlab train --pretrain"));
                string heldOut = double.IsNaN(r.ValAccuracy)
                    ? "no held-out photos: every person has at most two"
                    : string.Create(CultureInfo.InvariantCulture, $"held-out identity accuracy {r.ValAccuracy:P1}");
                Console.WriteLine($"backbone: {r.BackbonePath} ({r.Identities} identities, {r.Curve.Count} epochs, {heldOut})");
                if (r.TestPhotosLeftOut > 0)
                    Console.WriteLine($"  note: a data set of syndromes: its {r.TestPhotosLeftOut} test photo(s) were left out, as models fine-tuned on it are scored on them");
                return 0;
            }
            // Fine-tuning, as DeepGestalt does: from the shipped backbone unless told otherwise.
            if (p.GetValue(scratch) && p.GetValue(pretrained) is not null)
                throw new GestaltLabException("--from-scratch and --pretrained contradict each other", "pass one of them");
            if (p.GetValue(pretrained) is string named && !File.Exists(named))
                throw new GestaltLabException($"{named}: backbone file not found", "pass a file written by `gestaltlab train --pretrain`, e.g. data/pretrained/backbone.pt");
            cfg.Validate(p.GetValue(config) ?? "training config");
            FaceDatasetAligner.CheckLabelled(p.GetValue(data)!);
            // What training would refuse is refused before the run folder is taken and, for photos not aligned yet, before
            // minutes of alignment: a person in two splits, a region the crops do not include.
            // (An aligned folder whose alignment did not finish is told so first, not that its manifest or regions are missing.)
            // The data inside the run folder is refused as such (the data's lock below would otherwise refuse the run's).
            if (RunFolder.IsWithin(Path.GetFullPath(p.GetValue(data)!).TrimEnd('/'), Path.GetFullPath(outPath).TrimEnd('/')))
                throw new GestaltLabException($"{p.GetValue(data)}: the data lies inside the run folder {outPath}", "choose an --out folder outside the data (inside it is fine)");
            bool alignedData = FaceDatasetAligner.IsAligned(p.GetValue(data)!);
            // An alignment still being written is said to be one (without run.json, it would be taken for an interrupted one).
            using var dataLock = alignedData ? FolderLock.AcquireData(p.GetValue(data)!, "train on", shared: true) : null;
            if (alignedData) _ = FaceDatasetAligner.EnsureAligned(p.GetValue(data)!, p.GetValue(data)!, cfg.Net.InputSize);
            Splits.EnsureNoLeaks(Manifest.Load(p.GetValue(data)!));
            var cut = alignedData ? RegionSet.Load(Path.Combine(p.GetValue(data)!, "regions.json")) : RegionSet.Default;
            foreach (var r in cfg.Regions ?? []) _ = cut[r];
            // Held for the whole command (the library takes it again, re-entrantly): a second `train --force` must not
            // delete this run while it aligns or trains.
            using var runLock = FolderLock.Acquire(outPath, "train");
            string? shipped = p.GetValue(pretrained) is null ? ShippedBackbone.Path() : null;
            string? backbone = p.GetValue(scratch) ? null : p.GetValue(pretrained) ?? shipped;
            if (backbone is null && !p.GetValue(scratch)) Console.WriteLine("note: this build carries no shipped backbone: training from scratch");
            // Read once, before the run folder is touched, with a config or without: a file that is no backbone must not
            // cost a --force start-over its earlier run. From scratch without a config, the shipped one's shape is taken.
            string? shapeFrom = backbone ?? (p.GetValue(scratch) && p.GetValue(config) is null ? shipped : null);
            var backboneNet = shapeFrom is null ? null : Pretraining.ReadBackboneConfig(shapeFrom);
            if (p.GetValue(config) is null) cfg = ModelCli.WithBackboneShape(cfg, backboneNet);
            // Before the run folder is made (the library checks it too, but only after it: a folder holding nothing but its
            // marker was left).
            GestaltTraining.CheckFrozenStages(cfg, backbone is null ? null : backboneNet);
            ModelCli.NoteKept(outPath, RunFolder.Prepare(outPath, p.GetValue(force), p.GetValue(data)));
            string alignedDir = ModelCli.EnsureAligned(p.GetValue(data)!, Path.Combine(outPath, "aligned"), cfg.Net.InputSize, p.GetValue(truth), ct, outPath);
            ModelCli.NoteBusyCores();
            var result = await CliProgress.RunAsync(progress => GestaltTraining.Train(alignedDir, outPath, cfg, backbone, "gestaltlab train", progress, ct));
            using var model = result.Model;
            ModelCli.PrintTraining(result);
            return 0;
        });
        return cmd;
    }
}

/// <summary>Steps the model commands share.</summary>
internal static class ModelCli
{
    /// <summary>
    /// The net a training without <c>--config</c> trains: the default net is only a placeholder, so it takes the backbone's
    /// shape <paramref name="backboneNet"/> (at the config's input size) rather than print that it was replaced. From
    /// scratch it is the shipped backbone's, read for its shape alone, so that <c>train --from-scratch</c> trains the same
    /// nets as the default run it is compared with (as <c>demo --from-scratch</c> does).
    /// </summary>
    public static TrainConfig WithBackboneShape(TrainConfig cfg, RegionNetConfig? backboneNet) =>
        backboneNet is null ? cfg : cfg with { Net = backboneNet with { InputSize = cfg.Net.InputSize } };

    /// <summary>Says which of the user's files a <c>--force</c> start-over left in the run folder.</summary>
    public static void NoteKept(string run, IReadOnlyList<string> kept)
    {
        if (kept.Count > 0) Console.WriteLine($"note: started over in {run}, keeping what is yours there: {string.Join(", ", kept)}");
    }

    /// <summary>The <c>--priors</c> option of the commands that load a run (evaluate, predict).</summary>
    public static Option<string?> PriorsOption()
    {
        var o = new Option<string?>("--priors")
        {
            Description = "Class priors to rank with: equal (every syndrome alike) or training (the training photos' syndrome frequencies, at the strength fitted on validation). Default: the run's own (config \"priors\").",
        };
        o.AcceptOnlyFromAmong([.. GestaltLab.Ensemble.ClassPriors.All]);
        return o;
    }

    /// <summary>
    /// Returns an aligned folder for <paramref name="data"/>: itself when already aligned, else aligns it into
    /// <paramref name="alignedDir"/> (reused when done). With <paramref name="runDirectory"/>, the aligned faces a run
    /// was trained on are never replaced by those of other data or another landmark source: that is refused. With
    /// <paramref name="regions"/> (a trained model's), crops are cut as that model's were, and an earlier alignment
    /// cut otherwise is not reused.
    /// </summary>
    public static string EnsureAligned(string data, string alignedDir, int cropSize, bool groundTruth, CancellationToken ct, string? runDirectory = null,
        RegionSet? regions = null)
    {
        var result = CliProgress.RunAsync(progress => FaceDatasetAligner.EnsureAligned(data, alignedDir, cropSize, groundTruth, regions, runDirectory, progress, ct)).GetAwaiter().GetResult();
        PrintAlignment(result, data);
        return result.Directory;
    }

    /// <summary>Says which aligned faces serve (<paramref name="data"/> itself, an earlier alignment) or what aligning found.</summary>
    public static void PrintAlignment(EnsuredAlignment result, string data)
    {
        if (result.Summary is not { } summary)
        {
            if (result.Directory != data) Console.WriteLine($"using aligned faces in {result.Directory}");
            return;
        }
        if (result.Realigned is { } why) Console.WriteLine($"aligned again into {result.Directory}: {why}");
        Console.WriteLine($"aligned {summary.Aligned} of {summary.Images} photos in {summary.Seconds:F1} s" +
                          (summary.Resumed > 0 ? $" ({summary.Resumed} kept from the interrupted alignment)" : "") +
                          (summary.Skipped.Count > 0 ? $"; skipped {summary.Skipped.Count} (see {Path.Combine(result.Directory, "qc.csv")}):" : ""));
        PrintSkipped(summary.Skipped);
        // Kept, not skipped, so not listed above: said, as align says it, for the user to check or filter them (docs/faces.md).
        foreach (var (status, count) in summary.StatusCounts.Where(c => c.Key is "low_quality" or "multiple_faces" && c.Value > 0).OrderBy(c => c.Key, StringComparer.Ordinal))
            Console.WriteLine($"  note: {count} photo(s) aligned and kept with status {status} (see {Path.Combine(result.Directory, "qc.csv")})");
    }

    /// <summary>
    /// Each folder argument becomes the photos inside it, in path order; files are passed through as given. Among several
    /// arguments a folder without photos (or one GestaltLab wrote) is left out and named in <paramref name="withoutPhotos"/>
    /// with why, so that the other photos are still scored; alone, it is refused.
    /// </summary>
    public static IEnumerable<string> ExpandFolders(IReadOnlyList<string> arguments, List<string>? withoutPhotos = null)
    {
        foreach (var a in arguments)
        {
            if (!Directory.Exists(a))
            {
                yield return a;
                continue;
            }
            IReadOnlyList<string> found;
            try { found = GestaltLab.Data.ImageLoader.FindPhotos(a, requireAny: true); }
            catch (GestaltLabException e) when (arguments.Count > 1 && withoutPhotos is not null)
            {
                withoutPhotos.Add(e.Message.Split('\n')[0]);
                continue;
            }
            foreach (var rel in found) yield return Path.Combine(a, rel);
        }
    }

    /// <summary>A face result's problem without the photo's path that the loader's messages begin with (it is printed before).</summary>
    public static string? ProblemAfterPath(string image, string? problem) =>
        problem is { } pr && pr.StartsWith(image + ": ", StringComparison.Ordinal) ? pr[(image.Length + 2)..] : problem;

    /// <summary>
    /// What a JSON for a file that leaves the team (<c>--no-photo-names</c>) says of photo <paramref name="index"/>'s problem:
    /// the photo numbered, and no other path of this machine — a link's target names a folder just as the photo's own
    /// path may ("a link to /archive/Smith_John_MRN1234/face.jpg, which does not exist").
    /// </summary>
    public static string? UnnamedProblem(string image, int index, string? problem)
    {
        if (problem is null) return null;
        string shown = $"photo {index + 1}";
        string text = problem.StartsWith(image + ": ", StringComparison.Ordinal) ? $"{shown}: {problem[(image.Length + 2)..]}" : problem.Replace(image, shown);
        var paths = new List<string> { Path.GetFullPath(image) };
        try
        {
            if (new FileInfo(image).LinkTarget is { } target)
            {
                paths.Add(target);
                paths.Add(Path.GetFullPath(target, Path.GetDirectoryName(Path.GetFullPath(image))!));
            }
            if (File.ResolveLinkTarget(image, returnFinalTarget: true) is { } final) paths.Add(final.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { }
        foreach (var path in paths.Where(p => p.Length > 1).Distinct().OrderByDescending(p => p.Length))
            text = text.Replace(path, "(a path)", StringComparison.Ordinal);
        // Whatever path is left (a message quoting another file): cut to nothing that names a folder.
        return System.Text.RegularExpressions.Regex.Replace(text, @"(?<=^|[\s('""])(?:/|~/|\.\.?/)[^\s,;'""()]*", "(a path)");
    }

    /// <summary>The paths named on the command line that do not exist (a typo, not a bad photo in a batch).</summary>
    public static List<string> Missing(IEnumerable<string> arguments) => arguments.Where(a => !File.Exists(a) && !Directory.Exists(a)).Distinct().ToList();

    /// <summary>
    /// Says, on standard error, the folders named that held no photos and the paths named that do not exist; true when
    /// there were any. They are mistakes in the command: the other photos were still scored, but the exit code says so
    /// (scripts would otherwise take a misspelt name for a finished job).
    /// </summary>
    public static bool ReportPathMistakes(IEnumerable<string> withoutPhotos, IReadOnlyList<string> missing)
    {
        bool any = missing.Count > 0;
        foreach (var folder in withoutPhotos)
        {
            Console.Error.WriteLine($"error: {Terminal.Printable(folder)}");
            any = true;
        }
        if (missing.Count > 0)
            Console.Error.WriteLine($"error: {missing.Count} of the paths named {(missing.Count == 1 ? "does" : "do")} not exist: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
        return any;
    }

    /// <summary>Names the photos a batch skipped and why (the first 20; the rest are counted).</summary>
    public static void PrintSkipped(IReadOnlyList<(string Source, string Problem)> skipped)
    {
        const int shown = 20;
        // The loader's messages begin with the photo's full path: not repeated after its name.
        static string Why(string source, string problem) =>
            problem.IndexOf(": ", StringComparison.Ordinal) is > 0 and int at && problem[..at].EndsWith(source, StringComparison.Ordinal) ? problem[(at + 2)..] : problem;
        foreach (var (source, problem) in skipped.Take(shown)) Console.WriteLine($"  {Terminal.Printable(source)}: {Terminal.Printable(Why(source, problem))}");
        if (skipped.Count > shown) Console.WriteLine($"  … and {skipped.Count - shown} more");
    }

    /// <summary>Says so on stderr when other work already keeps the cores busy (see <see cref="SystemResources.BusyCoresNote"/>).</summary>
    public static void NoteBusyCores()
    {
        if (SystemResources.BusyCoresNote(SystemResources.LoadAverage(), Environment.ProcessorCount) is string note) Console.Error.WriteLine(note);
    }

    public static void PrintTraining(GestaltTrainingResult result)
    {
        var inv = CultureInfo.InvariantCulture;
        foreach (var r in result.Regions.Values)
            Console.WriteLine(string.Create(inv, $"  {r.Region,-18} best epoch {r.BestEpoch}/{r.Epochs}  val acc {r.BestValAccuracy:P1}")
                + (double.IsNaN(r.HeadValAccuracy) ? "" : string.Create(inv, $" (lda head {r.HeadValAccuracy:P1})"))
                // A run resumed after its last epoch trained nothing in this process: no throughput to report.
                + (r.ImagesPerSecond > 0 ? string.Create(inv, $"  {r.ImagesPerSecond:F0} img/s") : "")
                + (r.ResumedFromEpoch <= 0 ? "" : r.ImagesPerSecond > 0 ? $"  (resumed after epoch {r.ResumedFromEpoch})" : "  (trained earlier: reloaded, not trained again)"));
        if (result.Model.JointHead is { } joint)
            Console.WriteLine(string.Create(inv, $"  joint head over all regions: shrinkage {joint.Shrinkage:F2}, temperature {joint.Temperature:F2}"));
        if (result.Model.ClassPriors is { } priors)
            Console.WriteLine(string.Create(inv, $"  class priors: {result.Model.Priors} (training frequencies {priors.Frequencies.Min():P2}–{priors.Frequencies.Max():P2} recorded, fitted strength {priors.Strength:F2}; evaluate --priors chooses)"));
        foreach (var n in result.Notes) Console.WriteLine($"  note: {n}");
        Console.WriteLine($"run: {result.RunDirectory}" + (result.ModelZip is null ? "" : $" (model.zip: {result.ModelZip})"));
    }
}
