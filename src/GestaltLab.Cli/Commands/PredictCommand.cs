using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GestaltLab.Data;
using GestaltLab.Ensemble;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary><c>gestaltlab predict --model RUN IMAGE… [--top 10] [--json]</c>: ranked syndromes with per-region contributions.</summary>
internal sealed class PredictCommand : ICliCommand
{
    public Command Create()
    {
        var model = new Option<string>("--model", "--run") { Description = "Run directory written by `gestaltlab train` or `demo`.", Required = true };
        var images = new Argument<string[]>("IMAGE") { Description = "Photos to analyse; a folder stands for every photo in it (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var top = new Option<int>("--top") { Description = "How many syndromes to list.", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var output = new Option<string?>("--out") { Description = "Also write the predictions as JSON to this file (as --json prints them: the model, priors, landmark model and versions, then \"predictions\")." };
        var landmarks = new Option<string?>("--landmark-model") { Description = "dlib 68-point model (default: the system's)." };
        var priors = ModelCli.PriorsOption();
        var noNames = new Option<bool>("--no-photo-names") { Description = "In the JSON (--json, --out), for a file that leaves the team: number the photos (photo 1, 2, … in the order they were scored) instead of naming them, and cut the model's and the landmark model's paths to their last name (photo paths often name the patient, the clinic or a record number)." };
        var cmd = new Command("predict", "Rank syndromes for face photos with a trained model, with each facial region's contribution.") { model, images, top, json, output, landmarks, priors, noNames };
        cmd.SetAction((p, ct) => Task.Run(() =>
        {
            // Held to the end: a second prediction into the same file would replace this one's when it finished.
            using var outLock = p.GetValue(output) is { } lockedFile ? FolderLock.AcquireFile(lockedFile, "write predictions to") : null;
            // Before any photo: a result that cannot be written at the end would cost the whole batch.
            if (p.GetValue(output) is { } outFile)
            {
                // Photo names and their ranked syndromes: a folder made for them is its owner's alone, as runs are.
                OwnerOnlyFolder.Create(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
                AtomicFile.CheckWritable(outFile, "predictions.json");
                AtomicFile.CheckReplaceable(outFile, "\"predictions\"", "gestaltlab predict");
            }
            using var m = GestaltModel.Load(p.GetValue(model)!, p.GetValue(priors));
            // One photo at a time is many small operations: on one libtorch thread they run as fast (5.4 s against 6.1 s
            // for 200 photos, idle) and are not stalled when another program shares the cores (2.4 s against 5.5 s for 50
            // photos beside one busy core; 25 times slower beside a heavier one), as OpenMP's threads wait on each other.
            using var torchThreads = TorchRuntime.UseThreads(1);
            using var faces = new FacePipeline(m.FacePipelineOptions(p.GetValue(landmarks)));
            if (p.GetValue(top) < 1) throw new GestaltLabException($"--top {p.GetValue(top)}: must be at least 1");
            int k = p.GetValue(top);
            var results = new List<object>();
            int failed = 0;
            var withoutPhotos = new List<string>();
            var photos = ModelCli.ExpandFolders(p.GetValue(images)!, withoutPhotos).ToList();
            // A path typed on the command line that does not exist is a typo, not a bad photo in a batch: the others are
            // still scored, but the exit code says so (scripts would otherwise take a misspelt name for a finished job).
            var missing = ModelCli.Missing(p.GetValue(images)!);
            // Regions the fitted pool gives weight 0 contribute 0 % to everything: named once instead of in every row.
            var unused = m.RegionWeights.Where(w => w.Value == 0).Select(w => w.Key).ToHashSet(StringComparer.Ordinal);
            // Said above the first table (not when no photo gets one).
            string? unusedNote = unused.Count == 0 || p.GetValue(json) ? null : m.JointHead is null
                ? $"(not used by this model's ensemble, weight 0: {string.Join(", ", unused)})"
                : $"({string.Join(", ", unused)}: not in the per-region contributions below, whose region weights training fitted to 0 for {(unused.Count == 1 ? "it" : "them")}; "
                  + "the ranking comes from the joint head over every region's embedding, this one's included)";
            if (m.Priors == ClassPriors.Training && !p.GetValue(json))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"(ranked with the training photos' syndrome frequencies as priors, strength {m.ClassPriors!.Strength:F2}: a common syndrome ranks above an equally similar rare one)"));
            // The table prints each photo as it is done; JSON comes at the end, so it reports progress on stderr meanwhile.
            var progress = p.GetValue(json) && photos.Count > 1 ? ProgressReporters.Console() : null;
            bool named = !p.GetValue(noNames);
            // What the JSON calls a photo, and its problem without the paths a file leaving the team must not name.
            string Shown(string image, int index) => named ? image : $"photo {index + 1}";
            string? ShownProblem(string image, int index, string? problem) => named ? problem : ModelCli.UnnamedProblem(image, index, problem);
            foreach (var image in photos)
            {
                int index = results.Count;
                // Ctrl-C stops between photos, saying so (the table has printed what was done; JSON is written whole or not at all).
                ct.ThrowIfCancellationRequested();
                progress?.Report(new ProgressUpdate("predict", results.Count, photos.Count));
                var prediction = m.PredictImage(faces, image, out var face);
                if (prediction is null)
                {
                    failed++;
                    string? why = ModelCli.ProblemAfterPath(image, face.Problem);
                    if (!p.GetValue(json)) Console.Error.WriteLine($"{Terminal.Printable(image)}: skipped ({face.Status.ToCsv()}: {Terminal.Printable(why ?? "")})");
                    results.Add(new { image = Shown(image, index), status = face.Status.ToCsv(), problem = ShownProblem(image, index, face.Problem) });
                    continue;
                }
                var ranked = prediction.Top(k);
                results.Add(new
                {
                    image = Shown(image, index), status = face.Status.ToCsv(), problem = ShownProblem(image, index, face.Problem),
                    syndromes = ranked.Select(r => new { rank = r.Rank, syndrome = r.Syndrome, probability = r.Probability, contributions = r.Contributions }).ToList(),
                });
                if (!p.GetValue(json))
                {
                    if (unusedNote is not null) { Console.WriteLine(unusedNote); unusedNote = null; }
                    Console.WriteLine($"{Terminal.Printable(image)} ({face.Status.ToCsv()}{(face.Problem is null ? "" : ": " + Terminal.Printable(face.Problem))})");
                    Console.WriteLine($"  {"rank",4}  {"syndrome",-32} {"prob",7}   per-region contribution");
                    foreach (var r in ranked)
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {r.Rank,4}  {r.Syndrome,-32} {r.Probability,7:P1}   {string.Join("  ", r.Contributions.Where(c => !unused.Contains(c.Key)).Select(c => $"{c.Key} {c.Value:P1}"))}"));
                }
            }
            progress?.Report(new ProgressUpdate("predict", results.Count, photos.Count));
            // The predictions with what made them: a file of rankings kept for months must say which model (and its
            // record), which priors, which landmark model and which versions ranked them.
            string runDir = Path.GetFullPath(p.GetValue(model)!);
            // (From run.json, or from an exported model's own record.)
            var (modelCreated, modelDataHash) = ModelPackage.RunProvenance(runDir);
            string landmarkModel = faces.Predictor.Source;
            var document = new
            {
                command = "gestaltlab predict",
                model = named ? runDir : Path.GetFileName(Path.TrimEndingDirectorySeparator(runDir)),
                model_created_utc = modelCreated,
                model_data_hash = modelDataHash,
                priors = m.Priors,
                prior_strength = m.Priors == ClassPriors.Training ? m.ClassPriors?.Strength : null,
                top = k,
                landmark_model = named ? landmarkModel : Path.GetFileName(landmarkModel),
                photo_names = named,
                landmark_model_sha256 = File.Exists(landmarkModel) ? RunManifest.ComputeFileHash(landmarkModel) : null,
                packages = RunManifest.PackageVersions(),
                created_utc = DateTime.UtcNow.ToString("O"),
                predictions = results,
            };
            string text = JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true });
            if (p.GetValue(json)) Console.WriteLine(text);
            if (p.GetValue(output) is { } file)
            {
                AtomicFile.WriteAllText(file, text + "\n", ownerOnly: true);
                if (!p.GetValue(json)) Console.WriteLine($"predictions: {file}");
            }
            // The count on standard error in either form (with --json, the JSON on standard output says which and why).
            if (failed > 0) Console.Error.WriteLine($"{failed} photo(s) skipped{(p.GetValue(json) ? " (each with its status and problem in the JSON)" : "")}");
            // Folders named that held no photos are a mistake in the command, like a path that does not exist.
            if (ModelCli.ReportPathMistakes(withoutPhotos, missing)) return 1;
            // One unusable photo never fails the batch: exit code 1 only when no photo could be scored, or a named path does not exist (or holds no photos).
            return failed == photos.Count ? 1 : 0;
        }, ct));
        return cmd;
    }
}
