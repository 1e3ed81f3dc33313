using System.Text.Json.Nodes;
using GestaltLab.Cli;
using GestaltLab.Data;
using GestaltLab.Ensemble;
using GestaltLab.Evaluation;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Models;

/// <summary>The model commands as a user runs them: <c>train</c> (aligning on the way), <c>predict</c>, <c>evaluate</c>.</summary>
public class CommandLineTests
{
    private static Task<int> Cli(params string[] args) => CliRunner.InvokeAsync(CliRunner.BuildRoot(), args);

    /// <summary>Runs a command that must be refused, and returns what it said (exit code 1, else the test fails).</summary>
    private static async Task<string> Refused(params string[] args)
    {
        var errors = new StringWriter();
        int code = await CliRunner.InvokeAsync(CliRunner.BuildRoot(), args, errors);
        Assert.True(code == 1, $"expected a refusal (exit 1), got {code}: {string.Join(" ", args)}\n{errors}");
        return errors.ToString();
    }

    internal static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
    }

    [Fact]
    public void A_misspelt_option_is_not_taken_for_a_path_but_values_that_begin_with_a_dash_are()
    {
        var root = CliRunner.BuildRoot();
        string? Check(params string[] args) => CliRunner.MisspeltOption(CliRunner.Parse(root, args));
        Assert.Contains("did you mean --top?", Check("predict", "--model", "run", "a.jpg", "--tpo", "3"));
        Assert.Contains("did you mean --top?", Check("predict", "--model", "run", "-top", "3", "a.jpg"));
        Assert.Contains("'--frobnicate' is not an option of `predict`", Check("predict", "--model", "run", "a.jpg", "--frobnicate"));
        Assert.Null(Check("predict", "--model", "run", "a.jpg", "--top", "3"));
        Assert.Null(Check("predict", "--model", "run", "a.jpg", "-1"));                       // a number, not an option
        Assert.Null(Check("notebook", "run", "nb.ipynb", "-p", "Seed=-1", "-p", "Rate=.5"));  // parameter values
        // A subcommand is named with its parent, as its help is reached; a one-letter flag is matched to a long name.
        string? quick = Check("notebook", "run", "nb.ipynb", "-q");
        Assert.Contains("not an option of `notebook run`", quick);
        Assert.Contains("did you mean --quick?", quick);
        Assert.Contains("see `gestaltlab notebook run --help`", quick);
    }

    [Fact]
    public void A_photo_whose_name_starts_with_an_at_sign_is_a_photo_not_a_response_file()
    {
        // System.CommandLine's default reads @FILE as more arguments: "@home.jpg" was not found, or home.jpg's bytes were
        // parsed as the command line and the command crashed.
        var root = CliRunner.BuildRoot();
        var parsed = CliRunner.Parse(root, ["predict", "--model", "run", "@home.jpg", "--top", "3"]);
        Assert.Empty(parsed.Errors);
        Assert.Equal(["@home.jpg"], parsed.GetValue<string[]>("IMAGE")!);
        Assert.Equal(3, parsed.GetValue<int>("--top"));
        Assert.Equal(["@home.jpg"], CliRunner.Parse(root, ["landmarks", "--images", "@home.jpg", "--out", "l.csv"]).GetValue<string[]>("--images")!);
    }

    [Fact]
    public void A_run_and_the_landmark_model_are_named_alike_on_every_command()
    {
        // `report --run` and `predict --model` named one thing differently; `align --model` and `predict --landmark-model`
        // another. Each now takes both names.
        var root = CliRunner.BuildRoot();
        foreach (var args in new[]
        {
            new[] { "report", "--model", "RUN" }, ["report", "--run", "RUN"], ["export", "--model", "RUN", "--out", "D"], ["export-model", "--model", "RUN", "--out", "D"],
            ["predict", "--run", "RUN", "a.jpg"], ["evaluate", "--run", "RUN", "--data", "D"], ["match", "--run", "RUN", "--gallery", "G"],
            ["align", "--data", "D", "--out", "A", "--landmark-model", "M.dat"], ["landmarks", "--images", "a.jpg", "--out", "l.csv", "--landmark-model", "M.dat"],
            ["doctor", "--landmark-model", "M.dat"], ["predict", "--model", "RUN", "--landmark-model", "M.dat", "a.jpg"],
        })
        {
            var parse = CliRunner.Parse(root, args);
            Assert.True(parse.Errors.Count == 0, $"{string.Join(" ", args)}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
            Assert.Null(CliRunner.MisspeltOption(parse));
        }
    }

    [Fact]
    public async Task Train_predict_and_evaluate_from_a_generated_folder()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data"), run = Path.Combine(root, "run"), config = Path.Combine(root, "tiny.json");
        SyntheticDataset.Generate("mini", 2, data);
        File.WriteAllText(config, new TrainConfig
        {
            Net = new RegionNetConfig { InputSize = 64, Width = 8, Stages = 4, ConvsPerStage = 1 },
            Training = new TrainingOptions { Epochs = 1, BatchSize = 16, Patience = 0, Seed = 3, Threads = 2 },
            Regions = ["face", "nose"],
        }.ToJson());
        string[] train = ["train", "--data", data, "--out", run, "--config", config, "--ground-truth"];
        // More frozen stages than the net has: refused before the run folder is made (it was left holding its marker).
        string frozenConfig = Path.Combine(root, "frozen.json"), frozen = Path.Combine(root, "frozen-run");
        File.WriteAllText(frozenConfig, TrainConfig.Load(config) is var tiny ? (tiny with { Training = tiny.Training with { FreezeStages = 9 } }).ToJson() : "");
        Assert.Contains("freeze_stages 9", await Refused("train", "--data", data, "--out", frozen, "--config", frozenConfig, "--ground-truth", "--from-scratch"));
        Assert.False(Directory.Exists(frozen));

        Assert.Equal(0, await Cli(train));
        string aligned = Path.Combine(run, "aligned");
        Assert.True(File.Exists(Path.Combine(run, "model.zip")));
        // ensemble.json, which makes the run count as finished, is written after the exports it stands for.
        Assert.True(File.GetLastWriteTimeUtc(Path.Combine(run, "ensemble.json")) >= File.GetLastWriteTimeUtc(Path.Combine(run, "model.zip")));
        Assert.True(File.GetLastWriteTimeUtc(Path.Combine(run, "ensemble.json")) >= File.GetLastWriteTimeUtc(Path.Combine(run, "ensemble.onnx")));
        // The run records what made it: its config, seed, package versions and data hash; curves and checkpoints per region.
        var made = RunManifest.Load(run);
        Assert.Equal(3, made.Seed);
        Assert.Equal(3, (int)made.Config["train"]!["training"]!["seed"]!);
        Assert.Equal(new GestaltLab.Models.AlignedRegionDataset(aligned).ContentHash(), made.DataHash);
        Assert.Equal(GestaltLab.Models.AlignedRegionDataset.ContentHashKind, (string?)made.Config["data_hash"]);
        foreach (var package in new[] { "GestaltLab", "TorchSharp", "Microsoft.ML", "Microsoft.ML.OnnxRuntime", "OpenCvSharp4", "SkiaSharp" })
            Assert.False(string.IsNullOrEmpty(made.Packages.GetValueOrDefault(package)), package);
        Assert.Equal(3, TrainConfig.Load(Path.Combine(run, "config.json")).Training.Seed);
        foreach (var region in new[] { "face", "nose" })
        {
            Assert.Equal("epoch", GestaltLab.Data.Csv.Read(Path.Combine(run, "curves", region + ".csv")).Header[0]);
            Assert.NotNull(RegionTrainer.LatestCheckpoint(Path.Combine(run, "checkpoints", region)));
        }
        Assert.Null(FaceDatasetAligner.ReuseProblem(data, aligned, 64, groundTruth: true));
        string AlignedAt() => RunManifest.Load(aligned).CreatedUtc;
        string firstAlignment = AlignedAt();

        // The same seed on the same data, trained again from nothing (two threads, as configured): the same run, file
        // for file — nets, heads, ensemble weights, joint head, ONNX graphs.
        string twin = Path.Combine(root, "twin");
        Assert.Equal(0, await Cli(["train", "--data", data, "--out", twin, "--config", config, "--ground-truth"]));
        foreach (var f in new[] { "regions/face.pt", "regions/nose.pt", "regions/face.onnx", "ensemble.json", "joint_head.pt", "ensemble.onnx" })
            Assert.True(File.ReadAllBytes(Path.Combine(run, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(twin, f))), f);
        // A run trained on an alignment beside it (as a notebook trains): `evaluate --data` its photos scores the run's own
        // test split from that alignment, into RUN/metrics.json, without aligning every photo again.
        string beside = Path.Combine(root, "beside");
        Assert.Equal(0, await Cli(["train", "--data", aligned, "--out", beside, "--config", config]));
        Assert.Equal(0, await Cli("evaluate", "--model", beside, "--data", data, "--ground-truth"));
        Assert.True(File.Exists(Path.Combine(beside, "metrics.json")));
        // Its report draws composite faces from that alignment (here every cohort is below the minimum, so it says that),
        // not "the run holds no aligned faces".
        var besideNotes = GestaltLab.Figures.Report.Build(GestaltLab.Evaluation.RunResults.Load(beside), new GestaltLab.Figures.ReportOptions { BootstrapIterations = 0 }).Notes;
        // … naming the cohorts and their sizes, as a page with a grid does under it.
        Assert.Contains(besideNotes, n => n.Contains("no class has the minimum cohort") && n.Contains("people (") && n.Contains("fewer than the minimum cohort of 10 people"));
        Assert.DoesNotContain(besideNotes, n => n.Contains("holds no aligned faces"));
        Assert.False(Directory.Exists(Path.Combine(beside, "aligned-data")) || Directory.Exists(Path.Combine(beside, "eval-on-data")));

        // Again: the finished run and its alignment are reused as they are, nothing rewritten (run.json not resumed).
        Assert.Null(made.ResumedUtc);
        Assert.Equal(0, await Cli(train));
        Assert.Equal(firstAlignment, AlignedAt());
        Assert.Equal(made.CreatedUtc, RunManifest.Load(run).CreatedUtc);
        Assert.Null(RunManifest.Load(run).ResumedUtc);
        // train fine-tunes from the shipped backbone unless told otherwise, and a run keeps the backbone it started from.
        string? shipped = ShippedBackbone.Path();
        Assert.NotNull(shipped);
        Assert.Equal(RunManifest.ComputeFileHash(shipped!), (string?)RunManifest.Load(run).Config["pretrained_sha256"]);
        // Named as the shipped one, not by the temp-folder copy it was read from (which may be gone tomorrow).
        Assert.Equal(ShippedBackbone.Description, (string?)RunManifest.Load(run).Config["pretrained"]);
        Assert.True(ShippedBackbone.Is(shipped!));
        Assert.False(ShippedBackbone.Is(config));
        Assert.Contains("fine-tuned from another backbone", await Refused([.. train, "--from-scratch"]));
        Assert.Contains("contradict each other", await Refused([.. train, "--from-scratch", "--pretrained", shipped!]));
        // Resumed with other settings: refused, saying which, and how to start over.
        var otherSettings = await Refused([.. train, "--epochs", "7"]);
        Assert.Contains("training.epochs: 1 in the run, 7 now", otherSettings);
        Assert.Contains("--force", otherSettings);

        // A crop lost from the alignment: it is made again (not trusted), and the finished run still resumes from it.
        var lost = Directory.GetFiles(Path.Combine(aligned, "regions", "nose"), "*.png", SearchOption.AllDirectories).Order().First();
        File.Delete(lost);
        Assert.Equal(0, await Cli(train));
        Assert.NotEqual(firstAlignment, AlignedAt());
        Assert.True(File.Exists(lost));

        // predict takes photos and folders (every photo inside); a folder without photos is an error.
        string photos = Path.Combine(root, "photos");
        Directory.CreateDirectory(Path.Combine(photos, "visit2"));
        var test = GestaltLab.Data.Manifest.Load(data).InSplit("test").Take(3).Select(r => Path.Combine(data, r.Image)).ToList();
        File.Copy(test[0], Path.Combine(photos, "a.jpg"));
        File.Copy(test[1], Path.Combine(photos, "visit2", "b.jpg"));
        Assert.Equal(0, await Cli("predict", "--model", run, photos, test[2], "--json"));
        // What it says: per photo, the top syndromes ranked 1…k by falling probability, each with the regions' shares.
        string predictions = Path.Combine(root, "predictions.json");
        Assert.Equal(0, await Cli("predict", "--model", run, photos, test[2], "--top", "3", "--out", predictions));
        var document = JsonNode.Parse(File.ReadAllText(predictions))!;
        // Photo names with their ranked syndromes: readable by their owner alone, in a folder made for them likewise.
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(predictions));
        Assert.Equal(0, await Cli("predict", "--model", run, test[2], "--out", Path.Combine(root, "new-folder", "p.json")));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(root, "new-folder")));
        // With what made them: the model, the priors it ranked with, the landmark model and the versions.
        Assert.Equal(Path.GetFullPath(run), (string?)document["model"]);
        Assert.Equal("equal", (string?)document["priors"]);
        Assert.Equal(RunManifest.Load(run).DataHash, (string?)document["model_data_hash"]);
        // The run records how its photos were aligned (a run trained on a folder aligned beforehand holds no copy of it).
        var alignment = RunManifest.Load(run).Config["alignment"]!;
        Assert.Equal(RunManifest.Load(Path.Combine(run, "aligned")).DataHash, (string?)alignment["data_hash"]);
        Assert.Equal((string?)RunManifest.Load(Path.Combine(run, "aligned")).Config["detector"], (string?)alignment["config"]!["detector"]);
        Assert.Equal(64, ((string?)document["landmark_model_sha256"])!.Length);
        Assert.NotNull(document["packages"]!["GestaltLab"]);
        var listed = document["predictions"]!.AsArray();
        Assert.Equal(3, listed.Count);
        Assert.Equal([Path.Combine(photos, "a.jpg"), Path.Combine(photos, "visit2", "b.jpg"), test[2]], listed.Select(e => (string)e!["image"]!).ToArray());
        foreach (var entry in listed)
        {
            var syndromes = entry!["syndromes"]!.AsArray();
            Assert.Equal([1, 2, 3], syndromes.Select(x => (int)x!["rank"]!).ToArray());
            var probabilities = syndromes.Select(x => (double)x!["probability"]!).ToArray();
            Assert.True(probabilities.Zip(probabilities.Skip(1)).All(t => t.First >= t.Second) && probabilities.Sum() <= 1 + 1e-6 && probabilities[0] > 0);
            Assert.Equal(3, syndromes.Select(x => (string)x!["syndrome"]!).Distinct().Count());
            Assert.Equal(["face", "nose"], syndromes[0]!["contributions"]!.AsObject().Select(kv => kv.Key).Order().ToArray());
        }
        // The photo's own prediction, as the library gives it.
        using (var loaded = GestaltLab.Ensemble.GestaltModel.Load(run))
        using (var faces = new FacePipeline(loaded.FacePipelineOptions()))
        {
            var fromFile = loaded.PredictImage(faces, test[2], out _)!;
            var top = fromFile.Top(1)[0];
            Assert.Equal(top.Syndrome, (string)listed[2]!["syndromes"]![0]!["syndrome"]!);
            Assert.Equal(top.Probability, (double)listed[2]!["syndromes"]![0]!["probability"]!, 6);
            // The same photo already in memory: the same prediction; and shown in a notebook as its ranking, not type names.
            var fromMemory = loaded.PredictImage(faces, GestaltLab.Data.ImageLoader.Load(test[2]), out var memoryFace, "frame")!;
            Assert.Equal(fromFile.Probabilities, fromMemory.Probabilities);
            Assert.True(memoryFace.HasFace);
            Assert.StartsWith($"{top.Syndrome} ", fromMemory.ToString());
            Assert.Contains($"({loaded.Classes.Count} syndromes, 2 regions, embedding {fromMemory.Embedding.Length})", fromMemory.ToString());
        }
        // One unreadable photo among good ones is reported and skipped; the batch succeeds (table and JSON alike).
        string broken = Path.Combine(photos, "broken.jpg");
        File.WriteAllText(broken, "not a photo");
        Assert.Equal(0, await Cli("predict", "--model", run, photos));
        Assert.Equal(0, await Cli("predict", "--model", run, photos, "--json"));
        Assert.Equal(1, await Cli("predict", "--model", run, broken));
        File.Delete(broken);
        string empty = Path.Combine(root, "empty");
        Directory.CreateDirectory(empty);
        Assert.Contains("no photos found", await Refused("predict", "--model", run, empty));
        // Among other photos, it costs them nothing (they are scored; the exit code says the command named an empty folder).
        string scoredBeside = Path.Combine(root, "scored-beside.json");
        Assert.Equal(1, await Cli("predict", "--model", run, test[2], empty, "--out", scoredBeside));
        Assert.Single(JsonNode.Parse(File.ReadAllText(scoredBeside))!["predictions"]!.AsArray());
        // An alignment's aligned faces and crops are not photos to rank, nor an alignment a run to report on.
        Assert.Contains("an alignment GestaltLab wrote", await Refused("predict", "--model", run, aligned));
        Assert.Contains("an alignment (aligned faces and crops), not a training run", await Refused("report", "--run", aligned));
        // A file where a folder is expected, and the reverse, are said as such.
        string manifestFile = Path.Combine(data, "manifest.csv");
        Assert.Contains("is a file; a data folder is expected here", await Refused("train", "--data", manifestFile, "--out", Path.Combine(root, "r-file")));
        Assert.Contains($"pass the folder holding it: {data}", await Refused("align", "--data", manifestFile, "--out", Path.Combine(root, "a-file")));
        Assert.Contains("is a file, where align writes a folder", await Refused("align", "--data", data, "--out", config));
        Assert.Contains("is a folder; a config file (JSON) is expected here", await Refused("train", "--data", data, "--out", Path.Combine(root, "r-cfg"), "--config", root));
        Assert.Contains("is a file; --images names the folder of your photos", await Refused("manifest", "--images", manifestFile, "--labels", manifestFile));
        Assert.Contains($"{config} is a file, where a folder is needed", await Refused("evaluate", "--model", run, "--data", data, "--out", Path.Combine(config, "m.json")));
        Assert.Contains("the data lies inside the run folder", await Refused("train", "--data", aligned, "--out", run));
        // A folder where one photo is expected says so (here through the aligner's photo loader).
        var folderAsPhoto = Assert.Throws<GestaltLabException>(() => GestaltLab.Data.ImageLoader.Load(photos));
        Assert.Contains("is a folder", folderAsPhoto.Message);

        // evaluate scores the test split and writes the metrics with the oracle beside them (not while another process
        // writes into that folder).
        string metrics = Path.Combine(root, "eval", "metrics.json");
        using (new LockHeldElsewhere(Path.Combine(root, "eval")))
            Assert.Contains("another GestaltLab command is writing to this folder", await Refused("evaluate", "--model", run, "--data", data, "--out", metrics, "--ground-truth"));
        Assert.False(File.Exists(metrics));
        // Nor while another process trains the run (holds it exclusively): the model could be read half old, half new.
        using (new LockHeldElsewhere(run))
        {
            Assert.Contains("another GestaltLab command is writing to this folder", await Refused("predict", "--model", run, photos));
            Assert.Contains("another GestaltLab command is writing to this folder", await Refused("report", "--run", run));
        }
        // Readers share the run (another evaluation, a prediction), but a training of it waits for them: here while a
        // `train --force` would delete the evaluation's folder under it.
        using (new LockHeldElsewhere(run, shared: true))
        {
            Assert.Equal(0, await Cli("predict", "--model", run, photos));
            Assert.Contains("another GestaltLab command is reading the run in this folder", await Refused(train.Append("--force").ToArray()));
        }
        Assert.True(File.Exists(Path.Combine(run, "ensemble.json")));
        // A model loaded before the run was trained again is not scored as the run's: its results would pass for the new
        // model's (here the training is stood for by ensemble.json rewritten, as a training of the run rewrites it).
        using (var stale = GestaltLab.Ensemble.GestaltModel.Load(run))
        {
            string ensemble = Path.Combine(run, "ensemble.json"), before = File.ReadAllText(ensemble);
            File.WriteAllText(ensemble, before + "\n");
            try
            {
                Assert.Contains("trained again since this model was loaded", Assert.Throws<GestaltLabException>(() =>
                    GestaltLab.Evaluation.ModelEvaluation.Evaluate(stale, aligned, Path.Combine(root, "stale"))).Message);
                Assert.Contains("trained again since this model was loaded", Assert.Throws<GestaltLabException>(() =>
                    GestaltLab.Evaluation.ModelEvaluation.EvaluateOn(stale, data)).Message);
            }
            finally { File.WriteAllText(ensemble, before); }
        }
        Assert.False(Directory.Exists(Path.Combine(root, "stale")));
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", data, "--out", metrics, "--ground-truth"));
        // The data the run was trained on is scored from the run's own alignment, not aligned again beside the metrics.
        Assert.False(Directory.Exists(Path.Combine(root, "eval", "aligned-data")));
        var m = JsonNode.Parse(File.ReadAllText(metrics))!;
        foreach (var key in new[] { "top1", "top5", "top10", "n_images", "n_classes", "per_disorder_top1", "per_disorder_top10", "log_loss", "oracle" })
            Assert.NotNull(m[key]);
        Assert.Equal(10, (int)m["n_classes"]!);
        Assert.Equal("equal", (string?)m["priors"]);
        // Accuracy by the strata the generated manifest gives, every scored photo in one group of each column, each group
        // with the oracle on its photos (the metrics have one) and the column's test.
        var columns = m["strata"]!["columns"]!.AsObject();
        Assert.Equal(["sex", "age_band", "skin_tone"], columns.Select(c => c.Key));
        foreach (var (_, column) in columns)
        {
            var groups = column!["values"]!.AsObject();
            Assert.Equal((int)m["n_images"]!, groups.Sum(g => (int)g.Value!["n_images"]!) + (int)column["n_unknown"]!);
            Assert.All(groups, g => Assert.NotNull(g.Value!["oracle"]));
            Assert.True(column["p_differences"] is not null || column["not_tested"] is not null);
        }
        // --priors ranks the same run with the training frequencies as priors, and the metrics say so.
        string withPriors = Path.Combine(root, "eval-priors", "metrics.json");
        // (--strata names the columns broken down by; one the manifest lacks is refused before any photo is scored.)
        Assert.Contains("no column 'clinic' to score accuracy by", await Refused("evaluate", "--model", run, "--data", aligned, "--out", withPriors, "--strata", "clinic"));
        Assert.Contains("'syndrome' is no stratum", await Refused("evaluate", "--model", run, "--data", aligned, "--out", withPriors, "--strata", "syndrome"));
        Assert.False(File.Exists(withPriors));
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", aligned, "--out", withPriors, "--priors", "training", "--strata", "skin_tone"));
        var mp = JsonNode.Parse(File.ReadAllText(withPriors))!;
        Assert.Equal(["skin_tone"], mp["strata"]!["columns"]!.AsObject().Select(c => c.Key));
        Assert.Equal("training", (string?)mp["priors"]);
        Assert.InRange((double)mp["prior_strength"]!, 0, 2);
        Assert.Equal(0, await Cli("predict", "--model", run, test[2], "--priors", "training", "--json"));
        Assert.NotEqual(0, await Cli("predict", "--model", run, test[2], "--priors", "uniform"));
        Assert.Contains("--top 0: must be at least 1", await Refused("predict", "--model", run, test[2], "--top", "0"));
        // An --out that cannot be written is refused before the first photo, not after the last.
        Assert.Contains("a file name is expected here", await Refused("predict", "--model", run, test[2], "--out", root));
        // Nor is a file of someone else's replaced by the predictions; an earlier predictions file is.
        string mine = Path.Combine(root, "mine.json");
        File.WriteAllText(mine, "{\"mine\": true}");
        Assert.Contains("is not a file `gestaltlab predict` wrote", await Refused("predict", "--model", run, test[2], "--out", mine));
        Assert.Equal("{\"mine\": true}", File.ReadAllText(mine));
        string predictionsJson = Path.Combine(root, "predictions.json");
        // A misspelt option is an error, not a photo path among the results; a named photo that does not exist lets the
        // others be scored but fails the command, so a script notices the typo.
        Assert.Contains("did you mean --top?", await Refused("predict", "--model", run, test[2], "--tpo", "3"));
        Assert.Equal(1, await Cli("predict", "--model", run, test[2], Path.Combine(root, "no-such-photo.jpg"), "--out", predictionsJson));
        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(predictionsJson))!["predictions"]!.AsArray().Count);
        Assert.Equal(0, await Cli("predict", "--model", run, test[2], "--out", predictionsJson));
        Assert.Equal(0, await Cli("predict", "--model", run, test[2], "--out", predictionsJson));
        // For a file that leaves the team: photos numbered, no path of this machine anywhere in it.
        string anonymous = Path.Combine(root, "predictions-anonymous.json");
        Assert.Equal(0, await Cli("predict", "--model", run, test[2], "--out", anonymous, "--no-photo-names"));
        var anon = JsonNode.Parse(File.ReadAllText(anonymous))!;
        Assert.Equal(("photo 1", false), ((string?)anon["predictions"]![0]!["image"], (bool)anon["photo_names"]!));
        Assert.DoesNotContain(root, File.ReadAllText(anonymous));
        Assert.DoesNotContain(Path.GetFileName(test[2]), File.ReadAllText(anonymous));
        // A broken link's target names a folder too (a patient's, a record number): not quoted in its problem either.
        string links = Path.Combine(root, "links");
        Directory.CreateDirectory(links);
        File.CreateSymbolicLink(Path.Combine(links, "case1.jpg"), "/archive/Smith_John_MRN1234/face.jpg");
        Assert.Equal(0, await Cli("predict", "--model", run, test[2], links, "--out", anonymous, "--no-photo-names"));
        var brokenLink = JsonNode.Parse(File.ReadAllText(anonymous))!["predictions"]!.AsArray().Single(p => p!["problem"] is not null)!;
        Assert.Equal("photo 2: a link to (a path), which does not exist", (string?)brokenLink["problem"]);
        Assert.DoesNotContain("Smith", File.ReadAllText(anonymous));
        // The model alone, for sharing: no crops, photo names, embeddings or paths, and it predicts what the run predicts.
        string shared = Path.Combine(root, "shared-model");
        Assert.Equal(0, await Cli("export-model", "--run", run, "--out", shared));
        var packaged = Directory.GetFiles(shared, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(shared, f)).ToList();
        Assert.DoesNotContain(packaged, f => f.StartsWith("aligned") || f.EndsWith(".csv") || f.EndsWith(".html") || f == "run.json" || f == "metrics.json");
        Assert.Contains("model.zip", packaged);
        // No file of the package names a folder of the machine it came from (regions.json used to name its source file).
        foreach (var text in Directory.GetFiles(shared, "*.json", SearchOption.AllDirectories).Select(File.ReadAllText))
            Assert.DoesNotContain(root, text);
        Assert.Equal(RegionSet.Load(Path.Combine(run, "regions.json")).Regions.Select(r => r.Name), RegionSet.Load(Path.Combine(shared, "regions.json")).Regions.Select(r => r.Name));
        string fromPackage = Path.Combine(root, "predictions-package.json");
        Assert.Equal(0, await Cli("predict", "--model", shared, test[2], "--out", fromPackage));
        Assert.Equal(JsonNode.Parse(File.ReadAllText(predictionsJson))!["predictions"]!.ToJsonString(),
            JsonNode.Parse(File.ReadAllText(fromPackage))!["predictions"]!.ToJsonString());
        // … and its predictions still say which training run and data made the model (from the package's record).
        Assert.Equal((string?)JsonNode.Parse(File.ReadAllText(predictionsJson))!["model_data_hash"],
            (string?)JsonNode.Parse(File.ReadAllText(fromPackage))!["model_data_hash"]);
        Assert.NotNull((string?)JsonNode.Parse(File.ReadAllText(fromPackage))!["model_created_utc"]);
        // Exported again over itself: replaced — but not once something was added (an evaluation's tables and crops);
        // over a folder of something else: refused, untouched.
        Assert.Equal(0, await Cli("export-model", "--run", run, "--out", shared));
        Directory.CreateDirectory(Path.Combine(shared, "eval-on-clinic"));
        Assert.Contains("an exported model with more in it since", await Refused("export-model", "--run", run, "--out", shared));
        Assert.True(Directory.Exists(Path.Combine(shared, "eval-on-clinic")));
        string occupied = Path.Combine(root, "occupied-dir");
        Directory.CreateDirectory(occupied);
        File.WriteAllText(Path.Combine(occupied, "mine.txt"), "mine");
        Assert.Contains("holds files that are not an exported model's", await Refused("export-model", "--run", run, "--out", occupied));
        Assert.Equal(["mine.txt"], Directory.GetFileSystemEntries(occupied).Select(e => Path.GetFileName(e)!).ToArray());
        Assert.Contains("is a folder", Assert.Throws<GestaltLabException>(() => AtomicFile.CheckWritable(root)).Message);
        // A package exported again must still be what its record vouched for; an ONNX file that cannot be opened is not
        // shipped as working.
        string changed = Path.Combine(root, "changed-model");
        Assert.Equal(0, await Cli("export-model", "--run", run, "--out", changed));
        File.AppendAllText(Path.Combine(changed, "config.json"), " ");
        Assert.Contains("not the file the package's model.json records", await Refused("export-model", "--run", changed, "--out", Path.Combine(root, "changed-again")));
        Assert.False(Directory.Exists(Path.Combine(root, "changed-again")));
        File.WriteAllBytes(Path.Combine(changed, "config.json"), File.ReadAllBytes(Path.Combine(shared, "config.json")));
        string onnx = Directory.GetFiles(Path.Combine(changed, "regions"), "*.onnx")[0];
        File.WriteAllBytes(onnx, []);
        Assert.Contains("SHA-256 differs", Assert.Throws<GestaltLabException>(() => GestaltLab.Ensemble.ModelPackage.Write(changed, Path.Combine(root, "changed-again"))).Message);
        // Even when its record was changed to match: an empty ONNX file is refused as unreadable.
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(changed, "model.json")))!;
        record["files"]![Path.GetRelativePath(changed, onnx)] = RunManifest.ComputeFileHash(onnx);
        File.WriteAllText(Path.Combine(changed, "model.json"), record.ToJsonString());
        Assert.Contains("cannot be read", Assert.Throws<GestaltLabException>(() => GestaltLab.Ensemble.ModelPackage.Write(changed, Path.Combine(root, "changed-again"))).Message);
        // .NET's messages name the hidden half-written file a write goes through: the user's file is named instead, with a fix.
        string described = CliRunner.Describe(new UnauthorizedAccessException("Access to the path '/data/out/.m.csv.123.0123456789abcdef0123456789abcdef.tmp' is denied."));
        Assert.Contains("'/data/out/m.csv'", described);
        Assert.Contains("fix:", described);
        // A read-only or full disk gets its own fix; a file name with a terminal escape prints harmlessly.
        Assert.Contains("read-only file system", CliRunner.Describe(new IOException("Read-only file system : '/mnt/ro/x.csv'")));
        Assert.Contains("free some space", CliRunner.Describe(new IOException("No space left on device : '/data/x.csv'")));
        Assert.Equal("photo?]0;pwned?.png: unreadable\n  fix: x", Terminal.Printable("photo\u001b]0;pwned\u0007.png: unreadable\n  fix: x", keepLines: true));
        // evaluate --out: a file of someone else's is left alone (before any photo is scored), as are tables of the same
        // names beside it; a folder (trailing slash, or no extension) gets metrics.json and the tables inside it.
        string notes = Path.Combine(root, "notes");
        Directory.CreateDirectory(notes);
        File.WriteAllText(Path.Combine(notes, "mine.json"), "{\"mine\": true}");
        File.WriteAllText(Path.Combine(notes, "probabilities.csv"), "my,table\n");
        Assert.Contains("mine.json: exists and is not a file `gestaltlab evaluate` wrote", await Refused("evaluate", "--model", run, "--data", aligned, "--out", Path.Combine(notes, "mine.json")));
        Assert.Contains("probabilities.csv: exists and is not a file `gestaltlab evaluate` wrote", await Refused("evaluate", "--model", run, "--data", aligned, "--out", Path.Combine(notes, "metrics.json")));
        // … refused before photos of other data are aligned there (crops of patients among one's notes).
        string unaligned = Path.Combine(root, "unaligned");
        SyntheticDataset.Generate("mini", 5, unaligned, scale: 0.3);
        Assert.Contains("probabilities.csv: exists and is not a file `gestaltlab evaluate` wrote", await Refused("evaluate", "--model", run, "--data", unaligned, "--out", Path.Combine(notes, "metrics.json")));
        Assert.Equal("my,table\n", File.ReadAllText(Path.Combine(notes, "probabilities.csv")));
        Assert.Equal(["mine.json", "probabilities.csv"], Directory.GetFileSystemEntries(notes).Select(e => Path.GetFileName(e)!).Order().ToArray());
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", aligned, "--out", Path.Combine(root, "eval-folder") + "/"));
        Assert.True(File.Exists(Path.Combine(root, "eval-folder", "metrics.json")) && File.Exists(Path.Combine(root, "eval-folder", "probabilities.csv")));
        // Each region's own probabilities beside the ensemble's, for a paired region-vs-ensemble comparison.
        Assert.Equal(["face.csv", "nose.csv"], Directory.GetFiles(Path.Combine(root, "eval-folder", "region_probabilities")).Select(f => Path.GetFileName(f)!).Order().ToArray());
        string regionsJson = Path.Combine(root, "regions-comparison.json");
        Assert.Equal(0, await Cli("compare", Path.Combine(root, "eval-folder"), "--regions", "--iterations", "200", "--out", regionsJson));
        var regionsRecord = JsonNode.Parse(File.ReadAllText(regionsJson))!;
        Assert.Equal(["face", "nose"], regionsRecord["regions"]!.AsObject().Select(kv => kv.Key).Order().ToArray());
        Assert.Equal("equal", (string?)regionsRecord["regions_priors"]);
        Assert.Contains("name one folder, not two", await Refused("compare", Path.Combine(root, "eval-folder"), Path.Combine(root, "eval-folder"), "--regions"));
        Assert.Contains("compare needs two evaluations", await Refused("compare", Path.Combine(root, "eval-folder")));
        // Evaluated again into the folder: a table of the user's there stays, a region this model lacks goes.
        string regionTables = Path.Combine(root, "eval-folder", "region_probabilities");
        File.WriteAllText(Path.Combine(regionTables, "my-baseline.csv"), "image,score\n");
        File.Copy(Path.Combine(regionTables, "nose.csv"), Path.Combine(regionTables, "mouth_philtrum.csv"));
        File.AppendAllText(Path.Combine(root, "eval-folder", "region_metrics.csv"), "mouth_philtrum,0.1,0.5,0.9\n");
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", aligned, "--out", Path.Combine(root, "eval-folder") + "/"));
        Assert.Equal(["face.csv", "my-baseline.csv", "nose.csv"], Directory.GetFiles(regionTables).Select(f => Path.GetFileName(f)!).Order().ToArray());
        Assert.Contains("neither a .json metrics file nor a folder", await Refused("evaluate", "--model", run, "--data", aligned, "--out", Path.Combine(root, "results.txt")));
        // Another split goes beside the run's test results, never over them, and says which split it is.
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", aligned, "--split", "val"));
        // Named explicitly, the run's own metrics.json is still not replaced by another split's.
        Assert.Contains("the 'val' split would replace them", await Refused("evaluate", "--model", run, "--data", aligned, "--split", "val", "--out", Path.Combine(run, "metrics.json")));
        Assert.Equal("val", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-val", "metrics.json")))!["split"]);
        Assert.False(File.Exists(Path.Combine(run, "metrics.json")));
        Assert.Equal("test", (string?)m["split"]);

        // Other data (same syndromes) into the finished run: refused before its aligned faces are touched.
        string other = Path.Combine(root, "other");
        SyntheticDataset.Generate("mini", 5, other);
        string alignedBefore = AlignedAt();
        Assert.Contains("trained on faces aligned from other data", await Refused("train", "--data", other, "--out", run, "--config", config, "--ground-truth"));
        Assert.Equal(alignedBefore, AlignedAt());
        // So is the same data aligned another way (detected instead of ground-truth landmarks).
        Assert.Contains("aligned with ground-truth landmarks", await Refused("train", "--data", data, "--out", run, "--config", config));
        Assert.Equal(alignedBefore, AlignedAt());

        // Without --out, the run's own test result goes to RUN/metrics.json and names what it scored; other data goes
        // beside it (RUN/eval-NAME/), never over it.
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", data, "--ground-truth"));
        var own = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")))!;
        Assert.Equal(Path.GetFullPath(data), (string?)own["data"]);
        Assert.Equal(RunManifest.Load(aligned).DataHash, (string?)own["data_hash"]);
        Assert.Equal(Path.GetFullPath(run), (string?)own["model"]);
        string ownText = File.ReadAllText(Path.Combine(run, "metrics.json"));
        // Ranked with other priors than the run's, the result goes beside the run's own, for comparing the two.
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", data, "--ground-truth", "--priors", "training"));
        Assert.Equal(ownText, File.ReadAllText(Path.Combine(run, "metrics.json")));
        Assert.Equal("training", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-priors-training", "metrics.json")))!["priors"]);
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", other, "--ground-truth"));
        Assert.Equal(ownText, File.ReadAllText(Path.Combine(run, "metrics.json")));
        var onOther = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-on-other", "metrics.json")))!;
        Assert.Equal(Path.GetFullPath(other), (string?)onOther["data"]);
        Assert.NotEqual((string?)own["data_hash"], (string?)onOther["data_hash"]);
        Assert.NotNull(onOther["oracle"]);
        // Another data folder of the same name keeps its own aligned copy and results beside the first's.
        string namesake = Path.Combine(root, "elsewhere", "other");
        SyntheticDataset.Generate("mini", 8, namesake);
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", namesake, "--ground-truth"));
        Assert.Equal(Path.GetFullPath(namesake), (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-on-other-2", "metrics.json")))!["data"]);
        Assert.Equal(Path.GetFullPath(other), (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-on-other", "metrics.json")))!["data"]);
        Assert.Equal(Path.GetFullPath(namesake), FaceDatasetAligner.DataFolderOf(Path.Combine(run, "aligned-other-2")));
        // And the first folder aligned with detected landmarks instead of its ground truth: filed apart too.
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", other));
        Assert.Equal(Path.GetFullPath(other), (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-on-other-3", "metrics.json")))!["data"]);
        Assert.True(FaceDatasetAligner.AlignedWithGroundTruth(Path.Combine(run, "aligned-other")));
        foreach (var k in new[] { 2, 3 })
        {
            Directory.Delete(Path.Combine(run, $"eval-on-other-{k}"), true);
            Directory.Delete(Path.Combine(run, $"aligned-other-{k}"), true);
        }
        // Two aligned folders of one name (…/x/aligned, …/y/aligned), given as they are, keep their results apart too.
        foreach (var (source, parent) in new[] { (namesake, "x"), (other, "y") })
            Assert.Equal(0, await Cli("align", "--data", source, "--out", Path.Combine(root, parent, "aligned"), "--ground-truth"));
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", Path.Combine(root, "x", "aligned")));
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", Path.Combine(root, "y", "aligned")));
        Assert.Equal(Path.GetFullPath(namesake), (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-on-aligned", "metrics.json")))!["data"]);
        Assert.Equal(Path.GetFullPath(other), (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(run, "eval-on-aligned-2", "metrics.json")))!["data"]);
        foreach (var evaluation in new[] { "eval-on-aligned", "eval-on-aligned-2" }) Directory.Delete(Path.Combine(run, evaluation), true);
        Assert.Equal(0, (int)onOther["n_skipped"]!);
        Assert.Equal(10, (int)onOther["n_disorders"]!);
        // From code, the same call: the other data's alignment beside the run is reused, and another split of it lands
        // beside the run's results under its own name.
        using (var loaded = GestaltModel.Load(run))
        {
            var fromCode = ModelEvaluation.EvaluateOn(loaded, other, new DataEvaluationOptions { GroundTruth = true, Split = SplitNames.Val });
            Assert.Equal(Path.Combine(Path.GetFullPath(run), "eval-on-other-val", "metrics.json"), fromCode.MetricsPath);
            Assert.Equal(Path.Combine(run, "aligned-other"), fromCode.AlignedDirectory);
            Assert.Null(fromCode.Alignment!.Summary);
            Assert.Equal(SplitNames.Val, fromCode.Evaluation.Split);
            Assert.Equal(ownText, File.ReadAllText(Path.Combine(run, "metrics.json")));
            Assert.Throws<GestaltLabException>(() => ModelEvaluation.EvaluateOn(loaded, other, new DataEvaluationOptions { Split = "holdout" }));
        }
        // Data with a syndrome the model does not know: its photos are skipped and counted, and the data's oracle — which
        // ranks among that syndrome too and scores its photos — is not set beside figures of another task.
        string relabelled = Path.Combine(root, "relabelled");
        CopyTree(other, relabelled);
        string manifestCsv = Path.Combine(relabelled, "manifest.csv");
        File.WriteAllText(manifestCsv, File.ReadAllText(manifestCsv).Replace(",fas_like,", ",unknown_like,"));
        string relabelledMetrics = Path.Combine(root, "eval-relabelled", "metrics.json");
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", relabelled, "--ground-truth", "--out", relabelledMetrics));
        var onRelabelled = JsonNode.Parse(File.ReadAllText(relabelledMetrics))!;
        Assert.Null(onRelabelled["oracle"]);
        Assert.InRange((int)onRelabelled["n_skipped"]!, 1, 10);
        Assert.Equal(9, (int)onRelabelled["n_disorders"]!);
        Assert.Equal((int)onOther["n_images"]! - (int)onRelabelled["n_skipped"]!, (int)onRelabelled["n_images"]!);
        // A syndrome's cells left blank: its photos are unlabelled, counted as such and left out (the oracle with them).
        File.WriteAllText(manifestCsv, File.ReadAllText(manifestCsv).Replace(",unknown_like,", ",,"));
        string blankMetrics = Path.Combine(root, "eval-blank", "metrics.json");
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", relabelled, "--ground-truth", "--out", blankMetrics));
        var onBlank = JsonNode.Parse(File.ReadAllText(blankMetrics))!;
        Assert.Null(onBlank["oracle"]);
        Assert.Equal((int)onRelabelled["n_skipped"]!, (int)onBlank["n_unlabelled"]!);
        Assert.Equal((int)onRelabelled["n_images"]!, (int)onBlank["n_images"]!);
        // Metrics under another name (--out FILE.json) are the folder's finished evaluation: compared and drawn; the same
        // folder while an evaluation into it is under way (recorded unfinished) is neither.
        string named = Path.Combine(root, "eval-named");
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", other, "--ground-truth", "--out", Path.Combine(named, "scores.json")));
        Assert.False(File.Exists(Path.Combine(named, "metrics.json")));
        Assert.Equal(0, await Cli("compare", Path.Combine(run, "eval-on-other"), named, "--iterations", "100"));
        // A run evaluated on other data only: compare names its evaluations rather than asking for one.
        Assert.Equal(0, await Cli("evaluate", "--model", twin, "--data", other, "--ground-truth"));
        Assert.Contains("its evaluations: eval-on-other", await Refused("compare", twin, run, "--iterations", "100"));
        Assert.NotNull(GestaltLab.Evaluation.RunResults.Load(named).Metrics);
        File.WriteAllText(Path.Combine(named, GestaltLab.Evaluation.EvaluationRecord.FileName), "{\"finished\": false}");
        Assert.Contains("did not finish", await Refused("compare", Path.Combine(run, "eval-on-other"), named, "--iterations", "100"));
        Assert.Null(GestaltLab.Evaluation.RunResults.Load(named).Probabilities);
        // A folder evaluate makes by itself that stands there as a link (in a run received from someone) is not written
        // through: the tables, crops and deletions would land elsewhere.
        string victim = Path.Combine(root, "victim");
        Directory.CreateDirectory(victim);
        File.WriteAllText(Path.Combine(victim, "notes.csv"), "mine\n");
        string linked = Path.Combine(root, "eval-linked");
        Directory.CreateDirectory(linked);
        Directory.CreateSymbolicLink(Path.Combine(linked, GestaltLab.Evaluation.ModelEvaluation.RegionProbabilitiesFolder), victim);
        File.WriteAllText(Path.Combine(linked, "region_metrics.csv"), "region,top1,top5,top10\nnotes,0,0,0\n");
        Assert.Contains("is a link", await Refused("evaluate", "--model", run, "--data", other, "--ground-truth", "--out", Path.Combine(linked, "metrics.json")));
        CopyTree(other, Path.Combine(root, "other-copy"));
        Directory.CreateSymbolicLink(Path.Combine(run, "aligned-other-copy"), victim);
        Assert.Contains("is a link", await Refused("evaluate", "--model", run, "--data", Path.Combine(root, "other-copy"), "--ground-truth"));
        Assert.Equal(["notes.csv"], Directory.GetFileSystemEntries(victim).Select(e => Path.GetFileName(e)!).ToArray());
        File.Delete(Path.Combine(run, "aligned-other-copy"));
        // A test photo without a usable face leaves the model's figures, and so the oracle's: it is scored on the same
        // photos from the ranks oracle.json records per person. Data without those ranks keeps no oracle beside them.
        string faceless = Path.Combine(root, "faceless");
        CopyTree(other, faceless);
        var testRow = GestaltLab.Data.Manifest.Load(faceless).Rows.First(r => r.Split == GestaltLab.Data.SplitNames.Test);
        File.WriteAllText(Path.Combine(faceless, testRow.Image), "not a photo");
        string facelessMetrics = Path.Combine(root, "eval-faceless", "metrics.json");
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", faceless, "--ground-truth", "--out", facelessMetrics));
        var onFaceless = JsonNode.Parse(File.ReadAllText(facelessMetrics))!;
        Assert.Equal(1, (int)onFaceless["n_unscored"]!);
        Assert.Equal((int)onOther["n_images"]! - 1, (int)onFaceless["n_images"]!);
        var ranks = JsonNode.Parse(File.ReadAllText(Path.Combine(other, "oracle.json")))!["test_ranks"]!.AsObject();
        var scoredSubjects = GestaltLab.Data.Manifest.Load(faceless).Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Test && r.Image != testRow.Image).Select(r => r.Subject).ToList();
        Assert.Equal((int)onFaceless["n_images"]!, (int)onFaceless["oracle"]!["n_test"]!);
        Assert.Equal(scoredSubjects.Count(s => (int)ranks[s]! == 1) / (double)scoredSubjects.Count, (double)onFaceless["oracle"]!["top1"]!, 9);
        Assert.Null(onFaceless["oracle"]!["test_ranks"]);
        var oracleFile = JsonNode.Parse(File.ReadAllText(Path.Combine(faceless, "oracle.json")))!.AsObject();
        oracleFile.Remove("test_ranks");
        File.WriteAllText(Path.Combine(faceless, "oracle.json"), oracleFile.ToJsonString());
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", faceless, "--ground-truth", "--out", facelessMetrics));
        Assert.Null(JsonNode.Parse(File.ReadAllText(facelessMetrics))!["oracle"]);
        // An aligned folder relabelled by hand after alignment is not its source's data: metrics.json names the folder
        // scored, by its own content, and sets no oracle of the source's labels beside it.
        string handEdited = Path.Combine(root, "aligned-edited");
        CopyTree(aligned, handEdited);
        var editedManifest = GestaltLab.Data.Manifest.Load(handEdited);
        var relabelledRow = editedManifest.Rows.First(r => r.Split == GestaltLab.Data.SplitNames.Test);
        string otherSyndrome = editedManifest.Rows.Select(r => r.Syndrome).First(x => x != relabelledRow.Syndrome);
        new GestaltLab.Data.Manifest(handEdited, editedManifest.Rows.Select(r => r == relabelledRow ? r with { Syndrome = otherSyndrome } : r).ToList()).Save(Path.Combine(handEdited, "manifest.csv"));
        string editedMetrics = Path.Combine(root, "eval-edited", "metrics.json");
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", handEdited, "--out", editedMetrics));
        // Its folder, made by the evaluation, holds per-photo tables: its owner's alone.
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(editedMetrics)!));
        // Its tables too, so that a folder of the user's (`--out .`, group-readable) does not show them to others.
        string sharedEval = Directory.CreateDirectory(Path.Combine(root, "shared-eval")).FullName;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(sharedEval, (UnixFileMode)Convert.ToInt32("755", 8));
            Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", handEdited, "--out", sharedEval));
            foreach (var table in Directory.GetFiles(sharedEval, "*.csv", SearchOption.AllDirectories).Where(f => !f.EndsWith("region_metrics.csv", StringComparison.Ordinal)))
                Assert.True(File.GetUnixFileMode(table) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), $"{table}: {File.GetUnixFileMode(table)}");
            Assert.True(File.Exists(Path.Combine(sharedEval, "embeddings.csv")));
            // A folder a team opened to its group and closed to others: the group may read them.
            string teamEval = Directory.CreateDirectory(Path.Combine(root, "team-eval")).FullName;
            File.SetUnixFileMode(teamEval, (UnixFileMode)Convert.ToInt32("750", 8));
            Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", handEdited, "--out", teamEval));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(Path.Combine(teamEval, "probabilities.csv")));
        }
        var onEdited = JsonNode.Parse(File.ReadAllText(editedMetrics))!;
        Assert.Equal(Path.GetFullPath(handEdited), (string?)onEdited["data"]);
        Assert.Equal(new GestaltLab.Models.AlignedRegionDataset(handEdited).ContentHash(), (string?)onEdited["data_hash"]);
        Assert.Null(onEdited["oracle"]);
        // Data generated with the run's own seed (here twice as many people) shares its people: scoring it is refused,
        // nothing written. Without the generator's record, shared ids are only a possibility: a warning.
        string sameSeed = Path.Combine(root, "same-seed");
        SyntheticDataset.Generate("mini", 2, sameSeed, scale: 2);
        string sameSeedMetrics = Path.Combine(root, "eval-same-seed", "metrics.json");
        Assert.Contains("same generator seed", await Refused("evaluate", "--model", run, "--data", sameSeed, "--ground-truth", "--out", sameSeedMetrics));
        Assert.False(File.Exists(sameSeedMetrics));
        Assert.False(Directory.Exists(Path.Combine(root, "eval-same-seed", "aligned-same-seed")));   // refused before aligning
        var sameSeedTest = GestaltLab.Data.Manifest.Load(sameSeed).Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Test).ToList();
        Assert.Contains("same generator seed", Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.TrainingOverlap.Check(run, sameSeedTest, sameSeed)).Message);
        // A run recorded before the crops' hash was: its own recorded folder still names its training people.
        string runRecord = Path.Combine(run, "run.json"), runRecordText = File.ReadAllText(runRecord);
        var unhashed = JsonNode.Parse(runRecordText)!.AsObject();
        unhashed.Remove("data_hash");
        File.WriteAllText(runRecord, unhashed.ToJsonString());
        Assert.Contains("same generator seed", Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.TrainingOverlap.Check(run, sameSeedTest, sameSeed)).Message);
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Unchecked(run));
        File.WriteAllText(runRecord, runRecordText);
        // A run received without its data (run.json's data folder is not on this machine): its own aligned copy names its
        // training people while it holds the crops the run was trained on; without it, the generator's record in run.json
        // (or a package's model.json) still tells that another preset or scale of the same seed shares its people.
        string received = Path.Combine(root, "received-run");
        CopyTree(run, received);
        var receivedRecord = JsonNode.Parse(File.ReadAllText(Path.Combine(received, "run.json")))!;
        receivedRecord["config"]!["data"] = "/nonexistent/author/aligned";
        File.WriteAllText(Path.Combine(received, "run.json"), receivedRecord.ToJsonString());
        Assert.Matches("^[0-9]+ of the [0-9]+ photos to score show .*same generator seed", Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.TrainingOverlap.Check(received, sameSeedTest, sameSeed)).Message);
        // Scored on its own aligned copy, whose source data is not here either: metrics.json names that copy, and the
        // oracle the source held is said to be missing (the CLI's note), not dropped in silence.
        var alignedRecord = JsonNode.Parse(File.ReadAllText(Path.Combine(received, "aligned", "run.json")))!;
        alignedRecord["config"]!["data"] = "/nonexistent/author/data";
        File.WriteAllText(Path.Combine(received, "aligned", "run.json"), alignedRecord.ToJsonString());
        File.Delete(Path.Combine(received, "metrics.json"));
        using (var receivedModel = GestaltLab.Ensemble.GestaltModel.Load(received))
        {
            // (No oracle folder named: the one the aligned folder was aligned from, as `gestaltlab evaluate` takes it.)
            var rescored = GestaltLab.Evaluation.ModelEvaluation.Evaluate(receivedModel, Path.Combine(received, "aligned"), received);
            Assert.Contains("/nonexistent/author/data, the data folder these photos were aligned from, is not here", rescored.OracleLeftOut);
            Assert.Equal(Path.GetFullPath(Path.Combine(received, "aligned")), rescored.Metrics.Data);
            Assert.Null(rescored.Metrics.Oracle);
            Assert.Null(rescored.SharedPeople);
        }
        Directory.Delete(Path.Combine(received, "aligned"), true);
        Assert.Contains("the data itself is not here", Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.TrainingOverlap.Check(received, sameSeedTest, sameSeed)).Message);
        Assert.Contains("the data itself is not here", Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.TrainingOverlap.Check(shared, sameSeedTest, sameSeed)).Message);
        Assert.Equal("mini", (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(shared, "model.json")))!["run_data_generator"]!["preset"]);
        // The model's own data generated again (the same preset, seed and scale): its test people were held out.
        var ownTestAgain = GestaltLab.Data.Manifest.Load(data).Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Test).ToList();
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Check(received, ownTestAgain, data));
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Unchecked(received));
        // With no record of the generator either, whether the photos show training people is said to be unknown.
        receivedRecord["config"]!["data_generator"] = null;
        File.WriteAllText(Path.Combine(received, "run.json"), receivedRecord.ToJsonString());
        Assert.Contains("is not at /nonexistent/author/aligned", GestaltLab.Evaluation.TrainingOverlap.Unchecked(received));
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Unchecked(run));
        File.Delete(Path.Combine(sameSeed, "dataset.json"));
        Assert.Contains("if they are the same photos", GestaltLab.Evaluation.TrainingOverlap.Check(run, sameSeedTest, sameSeed));
        // Ids alone, as two cohorts each numbered from 1 share them, are not reported.
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Check(run, sameSeedTest.Select(r => r with { Image = Path.Combine(Path.GetDirectoryName(r.Image)!, "renamed-" + Path.GetFileName(r.Image)) }).ToList(), sameSeed));
        // The run's own photos split again (a manifest made anew, another seed) put training photos in the test split: the
        // same bytes make that certain, wherever the copy lies and whatever its record says.
        string resplitFolder = Path.Combine(root, "resplit");
        CopyTree(data, resplitFolder);
        File.Delete(Path.Combine(resplitFolder, "dataset.json"));
        var resplit = GestaltLab.Data.Manifest.Load(resplitFolder).Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Train).Select(r => r with { Split = GestaltLab.Data.SplitNames.Test }).ToList();
        Assert.Contains("are photos the model was trained on", Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.TrainingOverlap.Check(run, resplit, resplitFolder)).Message);
        // ... and copies renamed, under other people's ids: only their bytes tell, and they do.
        string renamedFolder = Path.Combine(root, "renamed-copies");
        Directory.CreateDirectory(renamedFolder);
        var renamed = resplit.Take(4).Select((r, i) =>
        {
            string name = $"fresh-{i}{Path.GetExtension(r.Image)}";
            File.Copy(Path.Combine(resplitFolder, r.Image), Path.Combine(renamedFolder, name));
            return r with { Image = name, Subject = $"newcomer{i}" };
        }).ToList();
        var copies = Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.TrainingOverlap.Check(run, renamed, renamedFolder));
        Assert.Contains("4 of the 4 photos to score are photos the model was trained on (the same bytes", copies.Message);
        Assert.Contains("fresh-0", copies.Message);
        // Within the run's own data, a test photo with a training photo's bytes is the data's own copy (training accepted
        // it): said, not refused, so that the run's own test split can still be scored.
        var ownRows = GestaltLab.Data.Manifest.Load(data).Rows;
        var ownTest = ownRows.Where(r => r.Split == GestaltLab.Data.SplitNames.Test).ToList();
        string testPhoto = Path.Combine(data, ownTest[0].Image), keptBytes = testPhoto + ".kept";
        File.Copy(testPhoto, keptBytes);
        File.Copy(Path.Combine(data, ownRows.First(r => r.Split == GestaltLab.Data.SplitNames.Train).Image), testPhoto, overwrite: true);
        Assert.Contains("have the bytes of training photos of the same data", GestaltLab.Evaluation.TrainingOverlap.Check(run, ownTest, data));
        File.Move(keptBytes, testPhoto, overwrite: true);
        // The run's own test people, and other seeds' people, are not the training people.
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Check(run, GestaltLab.Data.Manifest.Load(data).Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Test).ToList(), data));
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Check(run, GestaltLab.Data.Manifest.Load(other).Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Test).ToList(), other));
        // demo-novel draws people of its own: with the run's seed it shares the run's subject ids, not its people.
        string novel = Path.Combine(root, "novel");
        SyntheticDataset.Generate("demo-novel", 2, novel, scale: 0.1);
        var novelTest = GestaltLab.Data.Manifest.Load(novel).Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Test).ToList();
        var trainedIds = GestaltLab.Data.Manifest.Load(data).Rows.Where(r => r.Split != GestaltLab.Data.SplitNames.Test).Select(r => r.Subject).ToHashSet();
        Assert.Contains(novelTest, r => trainedIds.Contains(r.Subject));
        Assert.Null(GestaltLab.Evaluation.TrainingOverlap.Check(run, novelTest, novel));

        // A model trained on regions cut otherwise (align --regions) has other data aligned with its own regions, and an
        // aligned folder cut with the default ones is refused rather than scored on crops its nets were not trained on.
        string runRegions = Path.Combine(run, "regions.json"), savedRegions = File.ReadAllText(runRegions);
        var reshaped = GestaltLab.Regions.RegionSet.Load(runRegions);
        reshaped = new GestaltLab.Regions.RegionSet(reshaped.Regions.Select(r => r.Name == "face" ? r with { PadTop = r.PadTop + 0.05 } : r).ToList());
        File.WriteAllText(runRegions, reshaped.ToJson());
        string reshapedMetrics = Path.Combine(root, "eval-reshaped", "metrics.json");
        // (The folder held another model's evaluation: its classes.json is replaced along with its probabilities.)
        Directory.CreateDirectory(Path.GetDirectoryName(reshapedMetrics)!);
        File.WriteAllText(Path.Combine(root, "eval-reshaped", "classes.json"), "[\"KRAS\"]");
        Assert.Equal(0, await Cli("evaluate", "--model", run, "--data", other, "--ground-truth", "--out", reshapedMetrics));
        var alignedWith = GestaltLab.Regions.RegionSet.Load(Path.Combine(root, "eval-reshaped", "aligned-other", "regions.json"));
        Assert.True(alignedWith["face"].CutsLike(reshaped["face"]));
        Assert.Equal(File.ReadAllText(Path.Combine(run, "classes.json")), File.ReadAllText(Path.Combine(root, "eval-reshaped", "classes.json")));
        Assert.Contains("cut otherwise than the model's", await Refused("evaluate", "--model", run, "--data", aligned, "--out", Path.Combine(root, "eval-refused", "metrics.json")));
        File.WriteAllText(runRegions, savedRegions);
        // Nor is another run's folder written over (its classes.json names that run's outputs).
        string otherRun = Path.Combine(root, "other-run");
        Directory.CreateDirectory(otherRun);
        File.WriteAllText(Path.Combine(otherRun, RunFolder.Marker), "");
        Assert.Contains("another run's folder", await Refused("evaluate", "--model", run, "--data", aligned, "--out", Path.Combine(otherRun, "metrics.json")));
        Assert.False(File.Exists(Path.Combine(otherRun, "classes.json")));

        // A run copied elsewhere with its data (as runs/demo holds data/) still knows its own data and alignment: scored
        // from its own crops into its own metrics.json, not aligned again into aligned-data/ as other data.
        string moved = Path.Combine(root, "moved");
        CopyTree(run, Path.Combine(moved, "run"));
        CopyTree(data, Path.Combine(moved, "data"));
        File.Delete(Path.Combine(moved, "run", "metrics.json"));
        Assert.Equal(0, await Cli("evaluate", "--model", Path.Combine(moved, "run"), "--data", Path.Combine(moved, "data"), "--ground-truth"));
        Assert.True(File.Exists(Path.Combine(moved, "run", "metrics.json")));
        Assert.False(Directory.Exists(Path.Combine(moved, "run", "aligned-data")));
        // Its metrics name the data folder given, not the one the copy was made from (still there), whose manifest the
        // report would otherwise read.
        Assert.Equal(Path.GetFullPath(Path.Combine(moved, "data")), (string?)JsonNode.Parse(File.ReadAllText(Path.Combine(moved, "run", "metrics.json")))!["data"]);
        Assert.Equal(0, await Cli("evaluate", "--model", Path.Combine(moved, "run"), "--data", Path.Combine(moved, "run", "aligned"), "--split", "val"));
        Assert.True(File.Exists(Path.Combine(moved, "run", "eval-val", "metrics.json")));

        // A damaged classes.json is named, not a JSON stack trace.
        // So is one whose names carry terminal control sequences (they would rewrite the printed ranking).
        foreach (var damaged in new[] { "", "[\"a\"", "[\"a\\u001b[2J\"]", "[\"=HYPERLINK(1)\"]" })
        {
            File.WriteAllText(Path.Combine(run, "classes.json"), damaged);
            Assert.Contains("classes.json", Assert.Throws<GestaltLabException>(() => GestaltLab.Ensemble.GestaltModel.Load(run)).Message);
            Assert.Equal(1, await Cli("predict", "--model", run, test[2]));
        }
    }

    [Fact]
    public async Task Demo_runs_end_to_end_resumes_when_finished_and_its_report_can_be_rebuilt()
    {
        // The README's main job, small: generate, align, fine-tune from the shipped backbone, evaluate, report.
        string run = Path.Combine(ModelFixture.TempDir(), "demo");
        string[] demo = ["demo", "--out", run, "--scale", "0.2", "--epochs", "1"];
        Assert.Equal(0, await Cli(demo));
        var m = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "metrics.json")))!;
        Assert.Equal(30, (int)m["n_classes"]!);
        Assert.True((double)m["top10"]! > 10.0 / 30, "the demo's ensemble is not above chance on top-10");
        Assert.NotNull(m["oracle"]);
        foreach (var f in new[] { "model.zip", "ensemble.onnx", "run.json", "config.json", "report.html", "probabilities.csv", ".gestaltlab-run" })
            Assert.True(File.Exists(Path.Combine(run, f)), f);
        string page = File.ReadAllText(Path.Combine(run, "report.html"));
        Assert.Empty(GestaltLab.Figures.FigureHtml.RemoteReferences(page));
        // Face-space matching of the same test photos, filed as this model's (by its ensemble.json) and shown in the report
        // beside the classifier on those very photos.
        var faceSpace = FaceSpaceMetrics.Load(Path.Combine(run, FaceSpaceMetrics.FileName));
        Assert.Equal(RunManifest.ComputeFileHash(Path.Combine(run, GestaltLab.Ensemble.GestaltModel.EnsembleFile)), faceSpace.ModelHash);
        Assert.Equal((int)m["n_images"]!, faceSpace.All.NImages);
        Assert.Contains("<h2>Face-space matching</h2>", page);
        Assert.Contains("classifier (this model's own ranking of its 30 syndromes), the same photos", page);
        Assert.Contains("Matching − classifier on the same", page);
        // Ranked from the same predictions, the classifier's figures are the evaluation's own, photo for photo.
        var versus = faceSpace.VersusClassifier!;
        Assert.Equal(((int)m["n_images"]!, (double)m["top1"]!, (double)m["top10"]!), (versus.NImages, versus.ClassifierTop1, versus.ClassifierTop10));
        Assert.Equal(faceSpace.All.Top1 - versus.ClassifierTop1, versus.Top1Difference, 12);
        // Beside matching, the evaluation's own oracle with equal priors, on the same photos.
        Assert.Equal(((double)m["oracle"]!["equal_priors"]!["top1"]!, (double)m["oracle"]!["equal_priors"]!["top10"]!), (faceSpace.Oracle!.Top1, faceSpace.Oracle.Top10));
        Assert.Contains("oracle (Bayes on the true traits, every syndrome equally likely), the same photos", page);
        // Run again, the finished demo is reused (same figures), not trained again; `report` rebuilds the very page.
        string metrics = File.ReadAllText(Path.Combine(run, "metrics.json"));
        var weights = File.ReadAllBytes(Path.Combine(run, "regions", "face.pt"));
        Assert.Equal(0, await Cli(demo));
        Assert.Equal(metrics, File.ReadAllText(Path.Combine(run, "metrics.json")));
        Assert.Equal((faceSpace with { CreatedUtc = "" }).ToJson(), (FaceSpaceMetrics.Load(Path.Combine(run, FaceSpaceMetrics.FileName)) with { CreatedUtc = "" }).ToJson());
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(run, "regions", "face.pt")));
        // A demo stopped after generating its data, resumed with another seed: refused rather than trained with seed 9 on
        // data of seed 1 (and recorded as seed 9).
        string stopped = Path.Combine(ModelFixture.TempDir(), "demo-stopped");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(run, "data"), "*", SearchOption.AllDirectories).Append(Path.Combine(run, RunFolder.Marker)))
        {
            string target = Path.Combine(stopped, Path.GetRelativePath(run, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        Assert.Contains("the demo data here was generated with --seed 1", await Refused(["demo", "--out", stopped, "--scale", "0.2", "--epochs", "1", "--seed", "9"]));
        Assert.False(File.Exists(Path.Combine(stopped, "config.json")));
        string rebuilt = Path.Combine(run, "..", "rebuilt.html");
        Assert.Equal(0, await Cli("report", "--run", run, "--out", rebuilt));
        // Rebuilt over its own page again: fine; over someone's file: refused before anything is built, the file kept.
        Assert.Equal(0, await Cli("report", "--run", run, "--out", rebuilt));
        string notes = Path.Combine(run, "..", "notes.html");
        File.WriteAllText(notes, "<p>my notes</p>");
        Assert.Contains("is not a file `gestaltlab report` wrote", await Refused("report", "--run", run, "--out", notes));
        Assert.Equal("<p>my notes</p>", File.ReadAllText(notes));
        Assert.Equal(File.ReadAllText(Path.Combine(run, "report.html")), File.ReadAllText(rebuilt));
    }

    [Fact]
    public async Task Manifest_builds_the_training_table_for_ones_own_photos_from_a_labels_csv()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data"), photos = Path.Combine(root, "photos");
        SyntheticDataset.Generate("mini", 2, data, scale: 0.5);
        Directory.CreateDirectory(photos);
        var source = GestaltLab.Data.Manifest.Load(data).Rows;
        foreach (var r in source) File.Copy(Path.Combine(data, r.Image), Path.Combine(photos, Path.GetFileName(r.Image)));
        string labels = Path.Combine(root, "labels.csv");
        File.WriteAllLines(labels, ["image,subject,syndrome", .. source.Select(r => $"{Path.GetFileName(r.Image)},{r.Subject},{r.Syndrome}")]);

        Assert.Equal(0, await Cli("manifest", "--images", photos, "--labels", labels, "--seed", "4"));
        // Photo names with people and diagnoses: the owner's alone (as the record beside, naming the folders).
        if (!OperatingSystem.IsWindows())
            foreach (var file in new[] { "manifest.csv", "manifest.json" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(photos, file)));
        // Beside it, how its splits were drawn.
        var how = JsonNode.Parse(File.ReadAllText(Path.Combine(photos, "manifest.json")))!;
        Assert.Equal(4, (int)how["seed"]!);
        Assert.Equal(RunManifest.ComputeFileHash(labels), (string?)how["labels_sha256"]);
        // A file of the user's under that name is never written over: the record goes beside the manifest instead.
        string mine = Path.Combine(root, "mine.json");
        File.WriteAllText(mine, "{\"command\": \"gestaltlab predict\"}");
        Assert.Equal(0, await Cli("manifest", "--images", photos, "--labels", labels, "--out", Path.Combine(root, "mine.csv")));
        Assert.Equal("{\"command\": \"gestaltlab predict\"}", File.ReadAllText(mine));
        Assert.Equal(0, (int)JsonNode.Parse(File.ReadAllText(Path.Combine(root, "mine.csv.provenance.json")))!["seed"]!);
        var written = GestaltLab.Data.Manifest.Load(photos);
        Assert.Equal(source.Count, written.Rows.Count(r => r.IsLabelled));
        // Split by person: no one's photos on two sides.
        Assert.All(written.Rows.GroupBy(r => r.Subject), g => Assert.Single(g.Select(r => r.Split).Distinct()));
        Assert.Contains(written.Rows, r => r.Split == "test");
        Assert.Equal(source.First().Syndrome, written.Find(Path.GetFileName(source.First().Image))!.Syndrome);
        // A photo nobody labelled never joins a person across splits, even when its file is named like a subject id.
        File.Copy(Path.Combine(data, source.First().Image), Path.Combine(photos, source.First().Subject + ".jpg"));
        Assert.Equal(0, await Cli("manifest", "--images", photos, "--labels", labels, "--out", Path.Combine(root, "with-extra.csv")));
        GestaltLab.Data.Splits.EnsureNoLeaks(GestaltLab.Data.Manifest.Load(Path.Combine(root, "with-extra.csv")));
        File.Delete(Path.Combine(photos, source.First().Subject + ".jpg"));
        // --out naming a folder that holds a manifest is the same as naming the manifest: refused without --force.
        Assert.Contains("a manifest is already there", await Refused("manifest", "--images", photos, "--labels", labels, "--out", photos));
        // Never over an existing manifest without --force; labels without subjects are refused.
        Assert.Contains("a manifest is already there", await Refused("manifest", "--images", photos, "--labels", labels));
        Assert.Equal(0, await Cli("manifest", "--images", photos, "--labels", labels, "--force", "--fractions", "60,20,20"));
        File.WriteAllLines(labels, ["image,syndrome", .. source.Select(r => $"{Path.GetFileName(r.Image)},{r.Syndrome}")]);
        Assert.Contains("no subject column", await Refused("manifest", "--images", photos, "--labels", labels, "--out", Path.Combine(root, "other.csv")));
        Assert.False(File.Exists(Path.Combine(root, "other.csv")));
        Assert.Contains("expected three numbers", await Refused("manifest", "--images", photos, "--labels", labels, "--out", Path.Combine(root, "other.csv"), "--fractions", "70,30"));
        // Shares that add up to neither 100 nor 1 are a typo, not a ratio; fractions of 1 are fine.
        File.WriteAllLines(labels, ["image,subject,syndrome", .. source.Select(r => $"{Path.GetFileName(r.Image)},{r.Subject},{r.Syndrome}")]);
        Assert.Contains("add up to 130", await Refused("manifest", "--images", photos, "--labels", labels, "--out", Path.Combine(root, "other.csv"), "--fractions", "80,30,20"));
        Assert.False(File.Exists(Path.Combine(root, "other.csv")));
        Assert.Equal(0, await Cli("manifest", "--images", photos, "--labels", labels, "--out", Path.Combine(root, "other.csv"), "--fractions", "0.6,0.2,0.2"));
        // A spreadsheet saved with semicolons: the error says so.
        string semicolons = Path.Combine(root, "labels-semicolons.csv");
        File.WriteAllLines(semicolons, ["image;subject;syndrome", .. source.Select(r => $"{Path.GetFileName(r.Image)};{r.Subject};{r.Syndrome}")]);
        Assert.Contains("semicolons", Assert.Throws<GestaltLabException>(() => GestaltLab.Data.Manifest.FromImageFolder(photos, semicolons, GestaltLab.Data.SplitFractions.Default, 0)).Message);
    }

    [Fact]
    public async Task Train_refuses_bad_folders_and_configs_before_writing_anything()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data");
        SyntheticDataset.Generate("mini", 2, data);
        string Config(string name, string json)
        {
            string path = Path.Combine(root, name);
            File.WriteAllText(path, json);
            return path;
        }
        bool Untouched(string run) => !Directory.Exists(run) || !Directory.EnumerateFileSystemEntries(run).Any();

        // The root command keeps System.CommandLine's [suggest] directive (shell completion).
        Assert.Equal(0, await Cli("[suggest]", "al"));
        // A misspelt or miscased key is an error naming it, not a silent default.
        string typo = Config("typo.json", """{"training": {"epochs": 1, "learnig_rate": 0.1}}""");
        Assert.Contains("unknown key \"training.learnig_rate\" (the keys of \"training\": epochs, batch_size, learning_rate,", await Refused("train", "--data", data, "--out", Path.Combine(root, "r1"), "--config", typo));
        Assert.True(Untouched(Path.Combine(root, "r1")));
        Assert.Contains("learnig_rate", Assert.Throws<GestaltLabException>(() => TrainConfig.Load(typo)).Message);
        Assert.Contains("unknown key \"region\" (the keys: net, training, regions,", Assert.Throws<GestaltLabException>(() => TrainConfig.Load(Config("typo2.json", """{"region": ["face"]}"""))).Message);
        // Regions listed twice or none at all.
        Assert.Contains("region face is listed twice", await Refused("train", "--data", data, "--out", Path.Combine(root, "r2"), "--config", Config("twice.json", """{"regions": ["face", "face"]}""")));
        Assert.Contains("regions is empty", await Refused("train", "--data", data, "--out", Path.Combine(root, "r2"), "--config", Config("none.json", """{"regions": []}""")));
        Assert.True(Untouched(Path.Combine(root, "r2")));
        // Alignment settings no net or aligner can take are parse errors: nothing is read or written.
        foreach (var bad in new[] { new[] { "--crop-size", "10" }, ["--size", "8"], ["--min-face", "0"], ["--threads", "-1"] })
        {
            Assert.Contains($"{bad[0]} {bad[1]}: expected", await Refused(["align", "--data", data, "--out", Path.Combine(root, "a1"), .. bad]));
            Assert.True(Untouched(Path.Combine(root, "a1")));
        }
        // A manifest error (an unknown split, a photo listed twice) is reported in the user's file and line before any
        // photo is aligned, by train and by align alike.
        string manifest = Path.Combine(data, "manifest.csv");
        var lines = File.ReadAllLines(manifest);
        foreach (var (name, edited) in new[]
                 {
                     ("split", lines.Select((l, i) => i == 4 ? l.Replace(",val,", ",validation,").Replace(",train,", ",validation,").Replace(",test,", ",validation,") : l).ToArray()),
                     ("twice", lines.Append(lines[1]).ToArray()),
                 })
        {
            File.WriteAllLines(manifest, edited);
            var error = Assert.Throws<GestaltLabException>(() => FaceDatasetAligner.CheckLabelled(data));
            Assert.Contains(manifest, error.Message);
            Assert.Contains(name == "split" ? "line 5" : $"line {lines.Length + 1}", error.Message);
            Assert.Contains(error.Message.Split('\n')[0], await Refused("train", "--data", data, "--out", Path.Combine(root, "r-" + name), "--ground-truth"));
            Assert.True(Untouched(Path.Combine(root, "r-" + name)));
            Assert.Contains(error.Message.Split('\n')[0], await Refused("align", "--data", data, "--out", Path.Combine(root, "a-" + name), "--ground-truth"));
            Assert.True(Untouched(Path.Combine(root, "a-" + name)));
        }
        File.WriteAllLines(manifest, lines);
        // A folder of photos without labels is refused before any photo is aligned.
        string photos = Path.Combine(root, "photos");
        Directory.CreateDirectory(photos);
        string photo = Directory.GetFiles(Path.Combine(data, "images"), "*", SearchOption.AllDirectories).Order().First();
        File.Copy(photo, Path.Combine(photos, "a" + Path.GetExtension(photo)));
        Assert.Contains("no manifest.csv", await Refused("train", "--data", photos, "--out", Path.Combine(root, "r3")));
        Assert.True(Untouched(Path.Combine(root, "r3")));
        // --out naming a file, or a folder with someone else's files: refused, and --force deletes nothing there.
        string file = Path.Combine(root, "notes.txt");
        File.WriteAllText(file, "mine");
        Assert.Contains("is a file; --out names a run folder", await Refused("train", "--data", data, "--out", file));
        string theirs = Path.Combine(root, "thesis");
        Directory.CreateDirectory(theirs);
        File.WriteAllText(Path.Combine(theirs, "chapter1.docx"), "mine");
        Assert.Contains("not a GestaltLab run's (chapter1.docx", await Refused("train", "--data", data, "--out", theirs, "--force"));
        Assert.Contains("not a GestaltLab run's (chapter1.docx", await Refused("demo", "--out", theirs, "--force"));
        Assert.Equal(["chapter1.docx"], Directory.GetFileSystemEntries(theirs).Select(Path.GetFileName));
        // A person on both sides of a split (here one training photo moved to the test split) is refused before training.
        string leaky = Path.Combine(root, "leaky");
        SyntheticDataset.Generate("mini", 4, leaky);
        var table = GestaltLab.Data.Csv.Read(Path.Combine(leaky, GestaltLab.Data.Manifest.FileName));
        int split = table.Column("split");
        int first = table.Rows.ToList().FindIndex(x => x[split] == "train");
        var moved = table.Rows.Select((r, i) => (IReadOnlyList<string>)(i == first ? [.. r[..split], "test", .. r[(split + 1)..]] : r)).ToList();
        GestaltLab.Data.Csv.Write(Path.Combine(leaky, GestaltLab.Data.Manifest.FileName), table.Header, moved);
        string leakRun = Path.Combine(root, "r-leak");
        Assert.Contains("leak(s) between splits", await Refused("train", "--data", leaky, "--out", leakRun, "--config", Config("one.json", """{"regions": ["nose"], "training": {"epochs": 1}}"""), "--ground-truth"));
        Assert.True(Untouched(leakRun));   // refused before the alignment, and before the run folder is taken
        // An aligned folder's own regions decide: a config naming one it was not cut with is refused before the run folder
        // is taken, by the command and the library alike.
        string alignedMini = Path.Combine(root, "aligned-mini"), mouthRun = Path.Combine(root, "r-mouth");
        Assert.Equal(0, await Cli("align", "--data", data, "--out", alignedMini, "--ground-truth"));
        string mouth = Config("mouth.json", """{"regions": ["face", "mouth"]}""");
        Assert.Contains("no region 'mouth'", await Refused("train", "--data", alignedMini, "--out", mouthRun, "--config", mouth));
        Assert.True(Untouched(mouthRun));
        Assert.Contains("no region 'mouth'", Assert.Throws<GestaltLabException>(() =>
            GestaltLab.Ensemble.GestaltTraining.Train(alignedMini, mouthRun, TrainConfig.Load(mouth), pretrainedBackbone: null)).Message);
        Assert.True(Untouched(mouthRun));
        // The library likewise, on the leaky photos aligned (alignment does not look at splits), before the run folder is made.
        string leakyAligned = Path.Combine(root, "leaky-aligned");
        Assert.Equal(0, await Cli("align", "--data", leaky, "--out", leakyAligned, "--ground-truth"));
        Assert.Contains("leak(s) between splits", Assert.Throws<GestaltLabException>(() =>
            GestaltLab.Ensemble.GestaltTraining.Train(leakyAligned, leakRun, new TrainConfig { Regions = ["nose"] }, pretrainedBackbone: null)).Message);
        Assert.True(Untouched(leakRun));
        // --force deletes only a folder a run took: not an alignment's output, not one holding the data, not one with
        // other files; a folder with only hidden files is as good as empty.
        string alignedOut = Path.Combine(root, "study");
        Directory.CreateDirectory(Path.Combine(alignedOut, "aligned", "aligned"));
        File.WriteAllText(Path.Combine(alignedOut, "run.json"), "{}");
        Assert.Throws<GestaltLabException>(() => RunFolder.Prepare(alignedOut, force: true));
        Assert.True(File.Exists(Path.Combine(alignedOut, "run.json")));
        string holder = Path.Combine(root, "holder");
        RunFolder.Prepare(holder, force: false);
        Directory.CreateDirectory(Path.Combine(holder, "photos"));
        Assert.Contains("inside the run folder", Assert.Throws<GestaltLabException>(() => RunFolder.Prepare(holder, force: true, Path.Combine(holder, "photos"))).Message);
        Assert.True(Directory.Exists(Path.Combine(holder, "photos")));
        // A run folder it took: --force starts it over, clearing what a run writes and keeping what the user put there.
        Directory.CreateDirectory(Path.Combine(holder, "checkpoints", "nose"));
        File.WriteAllText(Path.Combine(holder, "metrics.json"), "{}");
        string half = Path.Combine(holder, $".metrics.json.{int.MaxValue}.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(half, "");
        File.WriteAllText(Path.Combine(holder, EvaluationRecord.FileName), """{"finished": true, "metrics": "metrics.json"}""");
        File.WriteAllText(Path.Combine(holder, ".gitkeep"), "");
        Assert.Equal(["photos"], RunFolder.Prepare(holder, force: true));
        Assert.True(Directory.Exists(Path.Combine(holder, "photos")));
        Assert.False(Directory.Exists(Path.Combine(holder, "checkpoints")));
        Assert.False(File.Exists(Path.Combine(holder, "metrics.json")));
        Assert.False(File.Exists(half));
        // The old evaluation's record goes with its metrics; other hidden files are the user's.
        Assert.False(File.Exists(Path.Combine(holder, EvaluationRecord.FileName)));
        Assert.True(File.Exists(Path.Combine(holder, ".gitkeep")));
        Assert.True(File.Exists(Path.Combine(holder, RunFolder.Marker)));
        Directory.Delete(Path.Combine(holder, "photos"));
        // A folder the library trained into before runs were marked, holding a file of the user's: not a run, so --force
        // refuses it rather than deleting the file; and the library itself no longer writes a run among other files.
        string shared = Path.Combine(root, "thesis");
        Directory.CreateDirectory(shared);
        File.WriteAllText(Path.Combine(shared, "config.json"), "{}");
        File.WriteAllText(Path.Combine(shared, "classes.json"), "[]");
        File.WriteAllText(Path.Combine(shared, "thesis.docx"), "years of work");
        Assert.Contains("not a GestaltLab run", Assert.Throws<GestaltLabException>(() => RunFolder.Prepare(shared, force: true)).Message);
        Assert.True(File.Exists(Path.Combine(shared, "thesis.docx")));
        File.Delete(Path.Combine(shared, "config.json"));
        Assert.Contains("not a GestaltLab run", Assert.Throws<GestaltLabException>(() =>
            GestaltLab.Ensemble.GestaltTraining.Train(alignedMini, shared, new TrainConfig { Regions = ["nose"] }, pretrainedBackbone: null)).Message);
        Assert.False(File.Exists(Path.Combine(shared, RunFolder.Marker)));
        // Two trainings into one folder at once: the second is refused at once.
        using (new LockHeldElsewhere(holder))
            Assert.Contains("another GestaltLab command", Assert.Throws<GestaltLabException>(() =>
                GestaltLab.Ensemble.GestaltTraining.Train(alignedMini, holder, new TrainConfig { Regions = ["nose"] }, pretrainedBackbone: null)).Message);
        // Nor does a second `train --force` delete a run another process is writing: refused before anything is touched.
        File.WriteAllText(Path.Combine(holder, "checkpoints-in-use.txt"), "");
        using (new LockHeldElsewhere(holder))
            Assert.Contains("another GestaltLab command is writing to this folder", await Refused("train", "--data", data, "--out", holder, "--force", "--config", Config("one.json", """{"regions": ["nose"], "training": {"epochs": 1}}"""), "--ground-truth"));
        Assert.True(File.Exists(Path.Combine(holder, "checkpoints-in-use.txt")));
        string hiddenOnly = Path.Combine(root, "fresh");
        Directory.CreateDirectory(hiddenOnly);
        File.WriteAllText(Path.Combine(hiddenOnly, ".DS_Store"), "");
        RunFolder.Prepare(hiddenOnly, force: false);
        Assert.True(File.Exists(Path.Combine(hiddenOnly, RunFolder.Marker)));
        // A backbone that is not there is named before anything is aligned.
        Assert.Contains("backbone file not found", await Refused("train", "--data", data, "--out", Path.Combine(root, "r4"), "--pretrained", Path.Combine(root, "missing.pt")));
        Assert.True(Untouched(Path.Combine(root, "r4")));
        // Nor does a file that is no backbone cost a --force start-over the run it would replace: read before anything goes.
        string notBackbone = Path.Combine(root, "notes.pt");
        File.WriteAllText(notBackbone, "not weights");
        File.WriteAllText(Path.Combine(holder, "metrics.json"), "{}");
        Assert.Contains("not a GestaltLab weights file", await Refused("train", "--data", data, "--out", holder, "--force", "--pretrained", notBackbone, "--ground-truth"));
        Assert.True(File.Exists(Path.Combine(holder, "metrics.json")));
        // With a config too (whose net the backbone's would not replace).
        Assert.Contains("not a GestaltLab weights file", await Refused("train", "--data", data, "--out", holder, "--force", "--pretrained", notBackbone, "--ground-truth", "--config", Config("plain.json", "{}")));
        Assert.True(File.Exists(Path.Combine(holder, "metrics.json")));
        // An aligned folder whose alignment was stopped is said to be one, before anything else is looked at.
        string stoppedAlignment = Path.Combine(root, "stopped-alignment");
        CopyTree(alignedMini, stoppedAlignment);
        File.Delete(Path.Combine(stoppedAlignment, RunManifest.FileName));
        Assert.Contains("an unfinished alignment", await Refused("train", "--data", stoppedAlignment, "--out", Path.Combine(root, "r6")));
        Assert.True(Untouched(Path.Combine(root, "r6")));
    }
}
