using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using GestaltLab.Ensemble;
using GestaltLab.Evaluation;
using GestaltLab.Figures;
using GestaltLab.Models;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab demo [--out RUN]</c>: the README's main job — generate the <c>demo</c> preset, align the faces, load the
/// shipped pretrained backbone (or pretrain one), fine-tune every region, evaluate, and write metrics and the HTML report.
/// </summary>
internal sealed class DemoCommand : ICliCommand
{
    public Command Create()
    {
        var output = new Option<string>("--out") { Description = "Run directory.", DefaultValueFactory = _ => "runs/demo" };
        var seed = new Option<int>("--seed") { Description = "Seed of data generation and training.", DefaultValueFactory = _ => 1 };
        var scale = new Option<double>("--scale") { Description = "Scale the demo preset's subject counts.", DefaultValueFactory = _ => 1.0 };
        var epochs = new Option<int?>("--epochs") { Description = "Override the fine-tuning epochs." };
        var pretrained = new Option<string?>("--pretrained") { Description = "Backbone file (default: the shipped data/pretrained/backbone.pt)." };
        var scratch = new Option<bool>("--from-scratch") { Description = "Train the region nets from random weights (for comparison with the pretrained ones)." };
        var truth = new Option<bool>("--ground-truth") { Description = "Align with the generator's ground-truth landmarks instead of detecting faces." };
        var force = new Option<bool>("--force") { Description = "Start over in a non-empty run directory, clearing what the demo wrote there (files of yours are kept; without it an interrupted demo resumes)." };
        var cmd = new Command("demo", "Generate the demo data set, align faces, fine-tune one CNN per region from a pretrained backbone, evaluate, and write an HTML report.")
            { output, seed, scale, epochs, pretrained, scratch, truth, force };
        cmd.SetAction(async (p, ct) =>
        {
            var sw = Stopwatch.StartNew();
            string run = Path.GetFullPath(p.GetValue(output)!);
            // Held for the whole demo: a second `demo --force` must not delete this one while it runs.
            using var runLock = FolderLock.Acquire(run, "run the demo in");
            // A --pretrained file that is no backbone is named before the run folder is touched (a --force start-over
            // would otherwise clear the earlier run first).
            if (p.GetValue(pretrained) is string named && !p.GetValue(scratch)) Pretraining.ReadBackboneConfig(named);
            ModelCli.NoteKept(run, RunFolder.Prepare(run, p.GetValue(force)));
            int s = p.GetValue(seed);
            var config = TrainConfig.Demo with { Training = TrainConfig.Demo.Training with { Seed = s } };
            if (p.GetValue(epochs) is int e) config = config with { Training = config.Training with { Epochs = e } };

            // 1. Data.
            string data = Path.Combine(run, "data");
            if (!File.Exists(Path.Combine(data, "manifest.csv")))
            {
                var g = await CliProgress.RunAsync(progress => SyntheticDataset.Generate("demo", s, data, p.GetValue(scale), null, new GenerateOptions { Force = true }, NuisanceLevel.Varied, progress, ct));
                Console.WriteLine($"[{sw.Elapsed.TotalSeconds,5:F0} s] generated {g.Images} photos of {g.Subjects} subjects in {g.Classes} classes");
            }
            else
            {
                // The run records one seed for data, splits and training: data of another seed or scale under this run
                // would pass for what --seed and --scale say.
                var info = SyntheticDataset.ReadRecord(data);
                int? dataSeed;
                double? dataScale;
                try
                {
                    dataSeed = (int?)info?["seed"];
                    dataScale = (double?)info?["scale"];
                }
                catch (Exception bad) when (bad is InvalidOperationException or FormatException)
                {
                    throw new GestaltLabException($"{Path.Combine(data, "dataset.json")}: not the generator's record ({bad.Message.Split('\n')[0]})", "pass --force to generate the demo data again");
                }
                if (info is not null && (dataSeed != s || dataScale != p.GetValue(scale)))
                    throw new GestaltLabException($"{data}: the demo data here was generated with --seed {dataSeed} --scale {dataScale}; this demo asks for --seed {s} --scale {p.GetValue(scale)}",
                        $"resume with --seed {dataSeed} --scale {dataScale}, or pass --force to start over with the new ones");
                Console.WriteLine($"using the demo data already in {data} (seed {dataSeed}, scale {dataScale})");
            }
            // 2. Faces.
            string aligned = ModelCli.EnsureAligned(data, Path.Combine(run, "aligned"), config.Net.InputSize, p.GetValue(truth), ct, run);
            Console.WriteLine($"[{sw.Elapsed.TotalSeconds,5:F0} s] faces aligned and cropped");

            // 3. Backbone.
            string? backbone = null;
            if (!p.GetValue(scratch))
            {
                backbone = p.GetValue(pretrained) ?? ShippedBackbone.Path();
                if (backbone is null)
                {
                    Console.WriteLine("no shipped backbone in this build: pretraining one on a small identities set (slower; see data/pretrained/README.md)");
                    string ids = Path.Combine(run, "identities");
                    if (!File.Exists(Path.Combine(ids, "manifest.csv")))
                        await CliProgress.RunAsync(progress => SyntheticDataset.Generate("identities", s, ids, 0.1, null, new GenerateOptions { Force = true }, NuisanceLevel.Varied, progress, ct));
                    string idsAligned = ModelCli.EnsureAligned(ids, Path.Combine(run, "identities-aligned"), config.Net.InputSize, true, ct);
                    backbone = Path.Combine(run, "backbone.pt");
                    string bb = backbone;
                    await CliProgress.RunAsync(progress => Pretraining.Pretrain(idsAligned, bb, config.Net, config.Training with { Epochs = 6 }, progress, ct, command: "gestaltlab demo"));
                }
                Console.WriteLine($"[{sw.Elapsed.TotalSeconds,5:F0} s] backbone: {(ShippedBackbone.Is(backbone) ? ShippedBackbone.Description : backbone)}");
            }

            // 4. Fine-tune every region.
            ModelCli.NoteBusyCores();
            var trained = await CliProgress.RunAsync(progress => GestaltTraining.Train(aligned, run, config, backbone, "gestaltlab demo", progress, ct));
            using var model = trained.Model;
            Console.WriteLine($"[{sw.Elapsed.TotalSeconds,5:F0} s] fine-tuned {trained.Regions.Count} region nets");
            ModelCli.PrintTraining(trained);

            // 5. Evaluate.
            var r = await CliProgress.RunAsync(progress => ModelEvaluation.Evaluate(model, aligned, run, data, progress: progress, cancellationToken: ct));
            Console.WriteLine($"[{sw.Elapsed.TotalSeconds,5:F0} s] evaluated on the test split");
            EvaluateCommand.PrintEvaluation(r, Path.Combine(run, "metrics.json"), aligned);

            // 6. Face-space matching (GestaltMatcher's step beyond the classifier): the test photos against the train and
            // val photos as a gallery, filed in the run where the report shows it beside the classifier.
            var fs = await CliProgress.RunAsync(progress => FaceSpaceEvaluation.Evaluate(model, aligned, progress: progress, cancellationToken: ct));
            fs.Save(Path.Combine(run, FaceSpaceMetrics.FileName));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{sw.Elapsed.TotalSeconds,5:F0} s] face-space matching of the same test photos against {fs.NGalleryImages} gallery photos: top-1 {fs.All.Top1:P1}, top-10 {fs.All.Top10:P1} ({FaceSpaceMetrics.FileName})"));

            // 7. Report.
            // The defaults of `gestaltlab report`, so that command (and `export`) rebuilds this very page from the run.
            var report = await CliProgress.RunAsync(progress => Report.Write(run, null, new ReportOptions(), progress, ct));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{sw.Elapsed.TotalSeconds,5:F0} s] report: {report.Path} ({report.ChartCount} charts)"));
            // A real test photo, so the hint can be pasted as it is.
            string example = GestaltLab.Data.Manifest.Load(data).InSplit(GestaltLab.Data.SplitNames.Test).Select(r => Path.Combine(data, r.Image)).FirstOrDefault()
                             ?? Path.Combine(data, "images");
            Console.WriteLine($"done in {sw.Elapsed.TotalSeconds:F0} s. Try: ./gestaltlab predict --model {run} {example}");
            Console.WriteLine($"  or match a photo in face space (a gallery may hold syndromes the model was not trained on): ./gestaltlab match --model {run} --gallery {aligned} {example}");
            return 0;
        });
        return cmd;
    }
}
