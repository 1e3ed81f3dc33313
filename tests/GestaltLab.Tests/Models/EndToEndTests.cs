using System.Text.Json;
using GestaltLab.Ensemble;
using GestaltLab.Evaluation;
using GestaltLab.Faces;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Models;

/// <summary>The real path on the <c>mini</c> preset: generate → align → fine-tune → run directory → ML.NET zip → evaluate.</summary>
public class EndToEndTests
{
    [Fact]
    public void A_run_that_can_have_no_model_zip_is_loaded_as_it_is_when_trained_again()
    {
        // 32 px crops, which the ML.NET crop step does not cut: the run has nets and ensemble.onnx, no model.zip.
        string root = ModelFixture.TempDir();
        try
        {
            string data = Path.Combine(root, "data"), aligned = Path.Combine(root, "aligned"), run = Path.Combine(root, "run");
            SyntheticDataset.Generate("mini", 5, data);
            using (var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(32), ComputeConfidence = false }))
                FaceDatasetAligner.Run(data, aligned, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });
            var config = Tiny with { Net = Tiny.Net with { InputSize = 32 }, Regions = ["face"] };
            var first = GestaltTraining.Train(aligned, run, config, pretrainedBackbone: null);
            first.Model.Dispose();
            Assert.Null(first.ModelZip);
            var again = GestaltTraining.Train(aligned, run, config, pretrainedBackbone: null);
            again.Model.Dispose();
            Assert.Contains(again.Notes, n => n.StartsWith("already trained", StringComparison.Ordinal));
            Assert.Null(again.ModelZip);
        }
        finally { Directory.Delete(root, true); }
    }

    private static readonly TrainConfig Tiny = new()
    {
        Net = new RegionNetConfig { InputSize = 64, Width = 8, Stages = 4, ConvsPerStage = 1 },
        Training = new TrainingOptions { Epochs = 1, BatchSize = 16, Patience = 0, Seed = 3, Threads = 2 },
        Regions = ["face", "periorbital_left", "periorbital_right"],
    };

    [Fact]
    public void Mini_trains_into_a_run_directory_whose_model_zip_reloads_and_predicts_like_TorchSharp()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data"), aligned = Path.Combine(root, "aligned"), run = Path.Combine(root, "run");
        SyntheticDataset.Generate("mini", 1, data);
        // Aligned once, as train does it; asked again, the same folder is reused, and an aligned folder is its own alignment.
        var alignment = FaceDatasetAligner.EnsureAligned(data, aligned, 64, groundTruth: true);
        Assert.True(alignment.Summary is { Aligned: > 0 } && alignment.Realigned is null && alignment.Directory == aligned);
        Assert.Null(FaceDatasetAligner.EnsureAligned(data, aligned, 64, groundTruth: true).Summary);
        Assert.Equal(aligned, FaceDatasetAligner.EnsureAligned(aligned, Path.Combine(root, "unused"), 64).Directory);
        Assert.False(Directory.Exists(Path.Combine(root, "unused")));

        // The crop cache keeps what the current region needs and gives the rest back.
        var samples = new AlignedRegionDataset(aligned);
        var first = samples.Load(0, "face");
        _ = samples.Load(0, "periorbital_left");
        _ = samples.Load(1, "periorbital_left");
        Assert.Equal(3L * 64 * 64 * 3, samples.CachedBytes);
        samples.RetainCache(["face"]);
        Assert.Equal(64L * 64 * 3, samples.CachedBytes);
        Assert.Equal(first, samples.Load(0, "face"));
        Assert.Equal(first, new AlignedRegionDataset(aligned) { CacheBytes = 0 }.Load(0, "face"));

        var trained = GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null);
        trained.Model.Dispose();
        // A damaged classes.json would label the outputs with the wrong syndromes: two names swapped, one listed twice, or
        // one missing are refused when the model loads, naming the file.
        string classesPath = Path.Combine(run, "classes.json");
        string savedClasses = File.ReadAllText(classesPath);
        var names = JsonSerializer.Deserialize<string[]>(savedClasses)!;
        foreach (var (damagedList, why) in new[]
        {
            (new[] { names[1], names[0] }.Concat(names.Skip(2)).ToArray(), "not the classes the ensemble was trained with"),
            (new[] { names[0], names[0] }.Concat(names.Skip(2)).ToArray(), "listed twice"),
            (names.Skip(1).ToArray(), "not the classes the ensemble was trained with"),
        })
        {
            File.WriteAllText(classesPath, JsonSerializer.Serialize(damagedList));
            var refused = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltModel.Load(run));
            Assert.Contains(classesPath, refused.Message);
            Assert.Contains(why, refused.Message);
        }
        File.WriteAllText(classesPath, savedClasses);
        // Crops of patients' faces: the folders GestaltLab makes for them are their owner's alone.
        if (!OperatingSystem.IsWindows())
            foreach (var folder in new[] { run, aligned })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
        foreach (var f in new[] { "run.json", "config.json", "classes.json", "regions.json", "curves/face.csv", "regions/face.pt", "regions/face.onnx", "ensemble.onnx", "model.zip" })
            Assert.True(File.Exists(Path.Combine(run, f)), $"{f} missing");
        Assert.NotNull(trained.ModelZip);
        Assert.Single(Directory.GetFiles(Path.Combine(run, "checkpoints", "face"), "epoch-*.pt"));
        // The default head is the discriminant refit; its shrinkage comes from the grid and is recorded with the weights.
        Assert.All(trained.Regions.Values, r => Assert.Contains(r.Shrinkage, DiscriminantHead.ShrinkageGrid));
        var (meta, tensors) = WeightsFile.Load(Path.Combine(run, "regions", "face.pt"));
        foreach (var t in tensors.Values) t.Dispose();
        var metaNode = System.Text.Json.Nodes.JsonNode.Parse(meta)!;
        Assert.Equal(TrainConfig.HeadLda, (string?)metaNode["head"]);
        Assert.Equal(trained.Regions["face"].Shrinkage, (double)metaNode["lda_shrinkage"]!);
        var classes = JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(run, "classes.json")))!;
        Assert.Equal(10, classes.Length);

        // Reload from the run directory; predict a test photo from its path through TorchSharp and through the ML.NET zip.
        using var model = GestaltModel.Load(run);
        using var pipeline = new FacePipeline(model.FacePipelineOptions());
        var testImages = GestaltLab.Data.Manifest.Load(data).InSplit("test").Take(3).Select(r => Path.Combine(data, r.Image)).ToList();
        var zip = GestaltPipeline.Load(Path.Combine(run, "model.zip"));
        using var disposeZip = zip as IDisposable;   // its temporary copy of the graph goes with it
        // The zip names its classes (the order of its probabilities), and a run's folder stands for its zip.
        Assert.Equal(model.Classes, GestaltPipeline.ClassNames(Path.Combine(run, "model.zip")));
        Assert.Equal(model.Classes, GestaltPipeline.ClassNames(run));
        Assert.Contains("a folder without model.zip", Assert.Throws<GestaltLabException>(() => GestaltPipeline.Load(aligned)).Message);
        var fromZip = GestaltPipeline.Predict(zip, testImages);
        for (int i = 0; i < testImages.Count; i++)
        {
            var torchPrediction = model.PredictImage(pipeline, testImages[i], out var face);
            Assert.NotNull(torchPrediction);
            Assert.Equal(face.Status.ToCsv(), fromZip[i].Status);
            double maxDiff = torchPrediction!.Probabilities.Zip(fromZip[i].Probabilities, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(maxDiff <= 1e-4, $"{testImages[i]}: max |p_zip - p_torch| = {maxDiff}");
            Assert.Equal(torchPrediction.Embedding.Length, fromZip[i].Embedding.Length);
            var top = torchPrediction.Top(3);
            Assert.Equal(top[0].Probability, top[0].Contributions.Values.Sum(), 5);
        }
        // One bad photo never costs the others their result: a missing file, a text file and a damaged photo (that starts
        // as one, so only decoding finds it) are unreadable; the good photo is scored as it was alone.
        string junk = Path.Combine(Path.GetDirectoryName(run)!, "junk-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(junk);
        File.WriteAllText(Path.Combine(junk, "notes.jpg"), "not a photo");
        File.WriteAllBytes(Path.Combine(junk, "cut.png"), File.ReadAllBytes(testImages[1])[..120]);
        var mixed = GestaltPipeline.Predict(zip, [Path.Combine(junk, "missing.jpg"), Path.Combine(junk, "notes.jpg"), testImages[0], Path.Combine(junk, "cut.png")]);
        Assert.Equal(["unreadable", "unreadable", fromZip[0].Status, "unreadable"], mixed.Select(m => m.Status).ToArray());
        Assert.Equal(fromZip[0].Probabilities, mixed[2].Probabilities);
        Assert.Empty(mixed[3].Probabilities);
        Directory.Delete(junk, true);

        // Occlusion sensitivity as docs/figures.md shows it: occluded copies of the aligned face, each cut with the face's own
        // aligned landmarks, so only the grey square differs; unoccluded, that is the photo's own prediction.
        var faceResult = pipeline.Process(testImages[0]);
        var alignedFace = faceResult.Aligned!;
        float[] Occluded(GestaltLab.Data.RgbImage img) => model.Predict(model.CropsOf(pipeline.FromLandmarks(img, alignedFace.Landmarks))).Probabilities;
        var direct = model.PredictImage(pipeline, testImages[0])!.Probabilities;
        // A crop with a NaN pixel is refused, naming it: its ranking would be the classes' own order, all NaN.
        var poisoned = model.CropsOf(faceResult).ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
        poisoned[poisoned.Keys.First()][0] = float.NaN;
        Assert.Contains("holds a value that is not a finite number", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => model.Predict(poisoned)).Message);
        Assert.Throws<ArgumentNullException>(() => model.PredictImage(null!, testImages[0]));
        var unoccluded = Occluded(alignedFace.Image);
        Assert.True(unoccluded.Zip(direct, (a, b) => Math.Abs(a - b)).Max() < 0.02);
        var occlusion = GestaltLab.Figures.OcclusionSensitivity.Compute(alignedFace.Image, Occluded, cellSize: 64, stride: 64, classNames: model.Classes);
        Assert.Equal(Array.IndexOf(unoccluded, unoccluded.Max()), occlusion.ClassIndex);
        Assert.All(occlusion.Drop, d => Assert.True(float.IsFinite(d)));
        Assert.Contains(occlusion.Drop, d => Math.Abs(d) > 1e-4);

        // Evaluate writes the run-directory files the figures read.
        var result = ModelEvaluation.Evaluate(model, aligned, run, data);
        var loaded = RunResults.Load(run);
        Assert.NotNull(loaded.Metrics);
        Assert.NotNull(loaded.Metrics!.Oracle);
        Assert.Equal(result.Metrics.NImages, loaded.Probabilities!.Count);
        Assert.Equal(4, loaded.RegionMetrics!.Count);
        Assert.Equal("ensemble", loaded.RegionMetrics[^1].Region);
        // Each region net's own table, of the same photos in the same order: its top-1 is the region's row above.
        var truthIndex = loaded.TruthIndices()!;
        Assert.Equal(["face", "periorbital_left", "periorbital_right"], loaded.RegionProbabilities.Keys);
        foreach (var score in loaded.RegionMetrics.Where(r => r.Region != "ensemble"))
        {
            var table = loaded.RegionProbabilities[score.Region];
            Assert.Equal(loaded.Probabilities.Images, table.Images);
            Assert.Equal(score.Top1, Metrics.TopK(truthIndex, table.Values, 1), 9);
        }
        // A region's table changed since (here cut short) is left out, said, while the rest stand.
        string faceTable = Path.Combine(run, ModelEvaluation.RegionProbabilitiesFolder, "face.csv");
        byte[] kept = File.ReadAllBytes(faceTable);
        File.WriteAllLines(faceTable, File.ReadAllLines(faceTable)[..^1]);
        var cut = RunResults.Load(run);
        Assert.DoesNotContain("face", cut.RegionProbabilities.Keys);
        Assert.Equal(2, cut.RegionProbabilities.Count);
        Assert.Contains(cut.Notes, n => n.StartsWith("region_probabilities/face.csv: left out", StringComparison.Ordinal));
        File.WriteAllBytes(faceTable, kept);
        Assert.Equal(3, loaded.Curves.Count);
        Assert.Empty(loaded.Notes.Where(n => n.StartsWith("curves/", StringComparison.Ordinal)));
        // A curve cut at a line break (no error reading it) would show the region stopping early: left out, said.
        string faceCurve = Path.Combine(run, "curves", "face.csv");
        byte[] curveKept = File.ReadAllBytes(faceCurve);
        File.WriteAllLines(faceCurve, File.ReadAllLines(faceCurve)[..^1]);
        var cutCurve = RunResults.Load(run);
        Assert.DoesNotContain("face", cutCurve.Curves.Keys);
        Assert.Contains(cutCurve.Notes, n => n.StartsWith("curves/face.csv: left out — it ends at epoch", StringComparison.Ordinal));
        File.WriteAllBytes(faceCurve, curveKept);
        // Scored again into the run's folder: the same tables, byte for byte, so nothing is kept aside.
        Assert.Null(ModelEvaluation.Evaluate(model, aligned, run, data).EarlierKept);
        Assert.Empty(Directory.GetDirectories(run, ModelEvaluation.EarlierEvaluationPrefix + "*"));
        // A run received from a machine that rounds otherwise: its evaluation (one probability differs, its record agreeing)
        // is kept whole beside the new one, as an evaluation of its own, rather than replaced.
        string probabilitiesFile = Path.Combine(run, "probabilities.csv");
        var probLines = File.ReadAllLines(probabilitiesFile);
        var firstRow = probLines[1].Split(',');
        firstRow[3] = (double.Parse(firstRow[3], System.Globalization.CultureInfo.InvariantCulture) + 1e-6).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        probLines[1] = string.Join(",", firstRow);
        File.WriteAllLines(probabilitiesFile, probLines);
        EvaluationRecord.Finished(run, Path.Combine(run, "metrics.json"),
            ["classes.json", "region_metrics.csv", "probabilities.csv", "embeddings.csv", .. model.Regions.Select(r => $"{ModelEvaluation.RegionProbabilitiesFolder}/{r}.csv")]);
        string authors = File.ReadAllText(probabilitiesFile);
        var reviewed = ModelEvaluation.Evaluate(model, aligned, run, data);
        Assert.NotNull(reviewed.EarlierKept);
        Assert.StartsWith(ModelEvaluation.EarlierEvaluationPrefix, Path.GetFileName(reviewed.EarlierKept));
        Assert.Equal(authors, File.ReadAllText(Path.Combine(reviewed.EarlierKept!, "probabilities.csv")));
        Assert.NotEqual(authors, File.ReadAllText(probabilitiesFile));
        Assert.Equal(Path.Combine(reviewed.EarlierKept!, "metrics.json"), EvaluationRecord.FinishedMetrics(reviewed.EarlierKept!));
        Assert.Empty(EvaluationRecord.ChangedFiles(reviewed.EarlierKept!));
        Assert.Contains(Path.GetFileName(reviewed.EarlierKept!), RunResults.EvaluationsInside(run));
        Assert.NotNull(RunResults.Load(reviewed.EarlierKept!).Probabilities);
        Directory.Delete(reviewed.EarlierKept!, recursive: true);
        Assert.Equal(3 * 64, loaded.Embeddings!.Columns.Count);
        // The oracle was scored on the test split: another split's metrics must not carry it beside them.
        // Another split into the run's own folder would replace its test results: refused, nothing written.
        string testMetrics = File.ReadAllText(Path.Combine(run, "metrics.json"));
        Assert.Contains("eval-train", Assert.Throws<GestaltLabException>(() => ModelEvaluation.Evaluate(model, aligned, run, data, GestaltLab.Data.SplitNames.Train)).Fix);
        Assert.Equal(testMetrics, File.ReadAllText(Path.Combine(run, "metrics.json")));
        // A split's name where the oracle's folder goes (the parameter before the split) is caught, not read as a folder.
        Assert.Equal("oracleDataDirectory", Assert.Throws<ArgumentException>(() => ModelEvaluation.Evaluate(model, aligned, run, "val")).ParamName);
        // Nor does ranking with other priors than the run's replace its results.
        using (var withTraining = GestaltModel.Load(run, ClassPriors.Training))
            Assert.Contains("eval-priors-training", Assert.Throws<GestaltLabException>(() => ModelEvaluation.Evaluate(withTraining, aligned, run, data)).Fix);
        Assert.Equal(testMetrics, File.ReadAllText(Path.Combine(run, "metrics.json")));
        var onTrain = ModelEvaluation.Evaluate(model, aligned, Path.Combine(root, "eval-train"), data, GestaltLab.Data.SplitNames.Train);
        Assert.Equal(GestaltLab.Data.SplitNames.Train, onTrain.Split);
        Assert.Null(onTrain.Metrics.Oracle);
        Assert.True(onTrain.Metrics.NImages > result.Metrics.NImages);

        // Training records the training frequencies and their fitted strength whatever the config says; the run ranks with
        // equal priors (the default) and can be loaded with training priors instead, which reweights the same answers.
        Assert.Equal(ClassPriors.Equal, result.Metrics.Priors);
        Assert.Null(result.Metrics.PriorStrength);
        var recorded = Assert.IsType<ClassPriors>(model.ClassPriors);
        var trainCounts = samples.Rows.Where(r => r.Split == GestaltLab.Data.SplitNames.Train).GroupBy(r => r.Syndrome).ToDictionary(g => g.Key, g => g.Count());
        for (int c = 0; c < classes.Length; c++)
            Assert.Equal((double)trainCounts[classes[c]] / trainCounts.Values.Sum(), recorded.Frequencies[c], 9);
        Assert.Contains(recorded.Strength, ClassPriors.StrengthGrid);
        using (var withPriors = GestaltModel.Load(run, ClassPriors.Training))
        {
            Assert.Equal(ClassPriors.Training, withPriors.Priors);
            var some = Enumerable.Range(0, 5).ToList();
            var w = recorded.Weights();
            foreach (var (plain, reweighted) in model.Predict(samples, some).Zip(withPriors.Predict(samples, some)))
            {
                var expected = plain.Probabilities.ToArray();
                ClassPriors.ApplyInPlace(expected, w);
                for (int c = 0; c < expected.Length; c++) Assert.Equal(expected[c], reweighted.Probabilities[c], 6);
            }
            var evaluated = ModelEvaluation.Evaluate(withPriors, aligned, Path.Combine(root, "eval-priors"), data);
            Assert.Equal(ClassPriors.Training, evaluated.Metrics.Priors);
            Assert.Equal(recorded.Strength, evaluated.Metrics.PriorStrength);
        }
        // A run from before priors were recorded ranks with equal priors, and says why it cannot use training priors.
        string ensemblePath = Path.Combine(run, GestaltModel.EnsembleFile), savedEnsemble = File.ReadAllText(ensemblePath);
        var withoutPriors = System.Text.Json.Nodes.JsonNode.Parse(savedEnsemble)!.AsObject();
        withoutPriors.Remove("priors");
        withoutPriors.Remove("class_priors");
        File.WriteAllText(ensemblePath, withoutPriors.ToJsonString());
        using (var older = GestaltModel.Load(run)) Assert.Null(older.ClassPriors);
        Assert.Contains("training priors", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltModel.Load(run, ClassPriors.Training)).Message);
        // Weights that lack a region are named with their file.
        var damaged = System.Text.Json.Nodes.JsonNode.Parse(savedEnsemble)!.AsObject();
        damaged["weights"]!.AsObject().Remove("face");
        File.WriteAllText(ensemblePath, damaged.ToJsonString());
        var noWeight = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltModel.Load(run));
        Assert.StartsWith($"{ensemblePath}: ensemble weights: region face has no valid weight", noWeight.Message);
        File.WriteAllText(ensemblePath, savedEnsemble);

        // A run configured for training priors uses them (mini's classes are balanced, so they are uniform here) ...
        string priorRun = Path.Combine(root, "run-priors");
        GestaltTraining.Train(aligned, priorRun, Tiny with { Priors = ClassPriors.Training }, pretrainedBackbone: null).Model.Dispose();
        using (var priorModel = GestaltModel.Load(priorRun)) Assert.Equal(ClassPriors.Training, priorModel.Priors);
        // ... and model.zip carries uneven priors through ONNX: it ranks as the TorchSharp model does.
        var uneven = new ClassPriors([.. Enumerable.Range(1, classes.Length).Select(c => c / (classes.Length * (classes.Length + 1) / 2.0))], 1);
        var skewed = new GestaltModel(model.Nets, model.Classes, model.RegionSet, model.FlipTta, model.RegionWeights, model.Combination, model.JointHead,
            uneven, ClassPriors.Training);   // shares the nets with `model`: not disposed
        string skewedZip = Path.Combine(root, "skewed.zip");
        GestaltPipeline.Save(skewed, skewedZip);
        // Saved at another moment, the same model is the same bytes: no clock in its entries.
        using (var saved = System.IO.Compression.ZipFile.OpenRead(skewedZip))
            // (Zip times have no zone: read back, the same wall-clock time in the machine's zone.)
            Assert.All(saved.Entries, e => Assert.Equal(GestaltPipeline.EntryTime.DateTime, e.LastWriteTime.DateTime));
        var skewedPipeline = GestaltPipeline.Load(skewedZip);
        var fromSkewedZip = GestaltPipeline.Predict(skewedPipeline, testImages);
        (skewedPipeline as IDisposable)?.Dispose();
        for (int i = 0; i < testImages.Count; i++)
        {
            var p = skewed.PredictImage(pipeline, testImages[i])!;
            Assert.True(p.Probabilities.Zip(fromSkewedZip[i].Probabilities, (a, b) => Math.Abs(a - b)).Max() <= 1e-4, testImages[i]);
            Assert.True(skewed.EqualPriorProbabilities(p).Zip(p.Probabilities, (a, b) => Math.Abs(a - b)).Max() > 1e-3, "the priors moved nothing");
        }

        // model.zip cuts the default regions: a model whose face region is cut otherwise (same name) gets no zip rather than
        // one that disagrees with it.
        var reshapedSet = new RegionSet(model.RegionSet.Regions.Select(r => r.Name == "face" ? r with { PadTop = r.PadTop + 0.1 } : r).ToList());
        var reshaped = new GestaltModel(model.Nets, model.Classes, reshapedSet, model.FlipTta, model.RegionWeights, model.Combination, model.JointHead,
            model.ClassPriors, model.Priors);   // shares the nets with `model`: not disposed
        var cutOtherwise = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltPipeline.Save(reshaped, Path.Combine(root, "reshaped.zip")));
        Assert.Contains("face", cutOtherwise.Message);
        Assert.False(File.Exists(Path.Combine(root, "reshaped.zip")));

        // A crop that vanished after alignment stops prediction with an error naming it, not "one or more errors".
        var uncached = new AlignedRegionDataset(aligned) { CacheBytes = 0 };
        string lost = uncached.CropPath(2, "face");
        File.Move(lost, lost + ".bak");
        var missing = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => model.Predict(uncached, Enumerable.Range(0, 4).ToList()));
        Assert.Contains(lost, missing.Message);
        File.Move(lost + ".bak", lost);

        // Running train again on the finished run loads it as it is: nothing trained, refitted or written again, and what
        // each region's training recorded reported as before.
        var faceWeights = File.ReadAllBytes(Path.Combine(run, "regions", "face.pt"));
        string zipPath = Path.Combine(run, "model.zip"), runJsonPath = Path.Combine(run, "run.json");
        var (zipWritten, runJsonBefore) = (File.GetLastWriteTimeUtc(zipPath), File.ReadAllBytes(runJsonPath));
        var again = GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null);
        Assert.Equal(model.Classes, again.Model.Classes);
        var firstPhoto = new AlignedRegionDataset(aligned);
        Assert.Equal(model.Predict(firstPhoto, [0])[0].Probabilities, again.Model.Predict(firstPhoto, [0])[0].Probabilities);
        again.Model.Dispose();
        Assert.All(again.Regions.Values, r => Assert.Equal((1, 1, 0.0), (r.ResumedFromEpoch, r.BestEpoch, r.ImagesPerSecond)));
        Assert.Equal(model.Regions.Select(r => trained.Regions[r]).Select(r => (r.BestValAccuracy, r.Temperature, r.Shrinkage, r.HeadValAccuracy)),
            model.Regions.Select(r => again.Regions[r]).Select(r => (r.BestValAccuracy, r.Temperature, r.Shrinkage, r.HeadValAccuracy)));
        Assert.Contains(again.Notes, n => n.StartsWith("already trained on this data with these settings", StringComparison.Ordinal));
        Assert.Equal(zipWritten, File.GetLastWriteTimeUtc(zipPath));
        Assert.Equal(runJsonBefore, File.ReadAllBytes(runJsonPath));
        Assert.Equal(faceWeights, File.ReadAllBytes(Path.Combine(run, "regions", "face.pt")));
        // A config.json edited since the ensemble was fitted (to refit it on the trained nets another way) is not taken for
        // the fitted one: training again refits (here the same settings, rewritten), and the run is then loaded as it is.
        string runConfig = Path.Combine(run, "config.json");
        File.AppendAllText(runConfig, "\n");
        var refitted = GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null);
        refitted.Model.Dispose();
        Assert.DoesNotContain(refitted.Notes, n => n.StartsWith("already trained", StringComparison.Ordinal));
        var loadedAgain = GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null);
        loadedAgain.Model.Dispose();
        Assert.Contains(loadedAgain.Notes, n => n.StartsWith("already trained", StringComparison.Ordinal));
        // A model.zip cut short (a copy stopped part-way) is no finished run's: training again writes it anew.
        var zipBytes = File.ReadAllBytes(zipPath);
        File.WriteAllBytes(zipPath, zipBytes[..(zipBytes.Length / 2)]);
        var mended = GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null);
        mended.Model.Dispose();
        Assert.DoesNotContain(mended.Notes, n => n.StartsWith("already trained", StringComparison.Ordinal));
        Assert.Equal(model.Classes, GestaltPipeline.ClassNames(zipPath));
        // So is one whose ensemble.onnx was cut, or whose region net was swapped for another file: every file the fit was
        // made with and to is recorded by content (ensemble.json's fitted_files), and training again writes them anew.
        string ensembleOnnx = Path.Combine(run, "ensemble.onnx"), faceOnnx = Path.Combine(run, "regions", "face.onnx");
        var (onnxBytes, faceOnnxBytes) = (File.ReadAllBytes(ensembleOnnx), File.ReadAllBytes(faceOnnx));
        File.WriteAllBytes(ensembleOnnx, onnxBytes[..(onnxBytes.Length / 2)]);
        File.WriteAllBytes(faceOnnx, File.ReadAllBytes(Path.Combine(run, "regions", "periorbital_left.onnx")));
        Assert.NotNull(GestaltModel.FittedFilesChanged(run));
        var mendedExports = GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null);
        mendedExports.Model.Dispose();
        Assert.DoesNotContain(mendedExports.Notes, n => n.StartsWith("already trained", StringComparison.Ordinal));
        Assert.Equal(onnxBytes, File.ReadAllBytes(ensembleOnnx));
        Assert.Equal(faceOnnxBytes, File.ReadAllBytes(faceOnnx));
        Assert.Null(GestaltModel.FittedFilesChanged(run));
        // Taken up again with another thread count (allowed) after a stop in the exports (which delete ensemble.json
        // first): config.json keeps the count the nets were trained with, and run.json lists every count that trained the run.
        File.Delete(ensemblePath);
        GestaltTraining.Train(aligned, run, Tiny with { Training = Tiny.Training with { Threads = 1 } }, pretrainedBackbone: null).Model.Dispose();
        Assert.Equal(faceWeights, File.ReadAllBytes(Path.Combine(run, "regions", "face.pt")));
        Assert.Equal(2, TrainConfig.Load(Path.Combine(run, "config.json")).Training.Threads);
        Assert.Equal([2, 1], GestaltLab.Runtime.RunManifest.Load(run).Config["threads_used"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray());
        Assert.Equal(2, (int)GestaltLab.Runtime.RunManifest.Load(run).Config["train"]!["training"]!["threads"]!);
        // ... with where each count took over (every net had finished its one epoch when the second did), and how the
        // synthetic data was made, so the run can be repeated from its folder alone.
        var record = GestaltLab.Runtime.RunManifest.Load(run).Config;
        var from = record["threads_from"]!.AsArray();
        Assert.Equal(2, from.Count);
        Assert.All(from[0]!.AsObject(), kv => Assert.Equal(0, (int)kv.Value!));
        Assert.All(from[1]!.AsObject(), kv => Assert.Equal(1, (int)kv.Value!));
        Assert.Equal(model.Regions.Order(), from[1]!.AsObject().Select(kv => kv.Key).Order());
        Assert.Equal(("mini", 1), ((string)record["data_generator"]!["preset"]!, (int)record["data_generator"]!["seed"]!));
        // Nets whose record is gone (a start-over killed part-way) are not resumed on whatever data comes next.
        string runRecord = Path.Combine(run, "run.json");
        File.Move(runRecord, runRecord + ".bak");
        Assert.Contains("without the run's run.json", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null)).Message);
        File.Move(runRecord + ".bak", runRecord);
        // A run that stopped after its nets, before the ensemble was fitted, is not served as some other ensemble.
        File.Move(ensemblePath, ensemblePath + ".bak");
        var unfinished = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltModel.Load(run));
        Assert.Contains(ensemblePath, unfinished.Message);
        Assert.Contains("did not finish", unfinished.Message);
        File.Move(ensemblePath + ".bak", ensemblePath);
        // Nor one stopped while a region was training (its final net not yet written): said as such, with what to do.
        string facePt = Path.Combine(run, "regions", "face.pt");
        File.Move(facePt, facePt + ".bak");
        var midRegion = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltModel.Load(run));
        Assert.Contains("did not finish", midRegion.Message);
        Assert.Contains("resumes", midRegion.Fix);
        File.Move(facePt + ".bak", facePt);
        // The run belongs to its data: the aligned folder's own provenance may be rewritten (aligned again, same crops),
        // but a run is not resumed on changed data.
        string alignedRunJson = Path.Combine(aligned, GestaltLab.Runtime.RunManifest.FileName), qc = Path.Combine(aligned, "qc.csv");
        File.WriteAllText(alignedRunJson, File.ReadAllText(alignedRunJson) + "\n");
        GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null).Model.Dispose();
        // What training does not read (the QC table, a note beside the crops) is not its data; a changed crop is.
        string savedQc = File.ReadAllText(qc);
        File.AppendAllText(qc, "extra.png,ok\n");
        File.WriteAllText(Path.Combine(aligned, "notes.txt"), "reviewed\n");
        GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null).Model.Dispose();
        File.WriteAllText(qc, savedQc);
        File.Delete(Path.Combine(aligned, "notes.txt"));
        string crop = new AlignedRegionDataset(aligned).CropPath(0, "face"), otherCrop = new AlignedRegionDataset(aligned).CropPath(1, "face");
        var savedCrop = File.ReadAllBytes(crop);
        File.Copy(otherCrop, crop, overwrite: true);
        var otherData = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null));
        Assert.Contains("other data", otherData.Message);
        // Nor are other data's figures written into the run's folder as its own test results (EvaluateOn files them apart).
        using (var onChangedData = GestaltModel.Load(run))
        {
            var notItsData = Assert.Throws<GestaltLabException>(() => ModelEvaluation.Evaluate(onChangedData, aligned, run));
            Assert.Contains("not the data the run", notItsData.Message);
            Assert.Contains("EvaluateOn", notItsData.Fix);
        }
        File.WriteAllBytes(crop, savedCrop);
        // Only the priors changed: the finished run switches to them (nets reloaded, not retrained) and back.
        var switched = GestaltTraining.Train(aligned, run, Tiny with { Priors = ClassPriors.Training }, pretrainedBackbone: null);
        Assert.Equal(ClassPriors.Training, switched.Model.Priors);
        switched.Model.Dispose();
        Assert.Equal(faceWeights, File.ReadAllBytes(Path.Combine(run, "regions", "face.pt")));
        Assert.Contains("\"training\"", File.ReadAllText(Path.Combine(run, GestaltModel.EnsembleFile)));
        GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null).Model.Dispose();
        Assert.Contains("\"equal\"", File.ReadAllText(Path.Combine(run, GestaltModel.EnsembleFile)));
        // A config.json written before a setting existed (here: no "combination") still resumes.
        string configPath = Path.Combine(run, "config.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        Assert.True(node.Remove("combination"));
        File.WriteAllText(configPath, node.ToJsonString());
        GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null).Model.Dispose();
        // One edited into something that is no config is said to be that (not "another configuration").
        string resumable = File.ReadAllText(configPath);
        File.WriteAllText(configPath, "{\"training\": {\"epochs\": \"many\"}}");
        Assert.Contains("its config.json cannot be read as a training config", Assert.Throws<GestaltLabException>(() => GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null)).Message);
        File.WriteAllText(configPath, resumable);
        // An unknown head is refused, naming the file.
        string badConfig = Path.Combine(root, "bad-head.json");
        File.WriteAllText(badConfig, "{\"head\": \"svm\"}");
        var bad = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => TrainConfig.Load(badConfig));
        Assert.Contains(badConfig, bad.Message);
        Assert.Contains("head", bad.Message);
        File.WriteAllText(badConfig, "{\"priors\": \"uniform\"}");
        bad = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => TrainConfig.Load(badConfig));
        Assert.Contains(badConfig, bad.Message);
        Assert.Contains("priors", bad.Message);
        // Settings JSON lets through its types' checks are refused too, before any work, naming the setting: a null net or
        // training block, a null region, a learning rate beyond float's range, more frozen stages than the net has.
        foreach (var (json, setting) in new[]
        {
            ("{\"net\": null}", "net"), ("{\"training\": null}", "training"), ("{\"regions\": [\"face\", null]}", "regions"),
            ("{\"training\": {\"learning_rate\": 1e300}}", "learning_rate"),
            ("{\"training\": {\"epochs\": 3, \"epochs\": 5}}", "\"training.epochs\" is given twice"),
        })
        {
            File.WriteAllText(badConfig, json);
            bad = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => TrainConfig.Load(badConfig));
            Assert.Contains(setting, bad.Message);
        }
        // More frozen stages than the net that trains has (checked against it, a backbone's net replacing the config's).
        Assert.Contains("freeze_stages", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() =>
            GestaltTraining.Train(aligned, Path.Combine(root, "frozen"), Tiny with { Training = Tiny.Training with { FreezeStages = 9 } }, pretrainedBackbone: null)).Message);
        // Refused before the run folder is made: one left holding only its marker would be taken for a run.
        Assert.False(Directory.Exists(Path.Combine(root, "frozen")));
        // A different config in the same folder is refused.
        Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltTraining.Train(aligned, run, Tiny with { Training = Tiny.Training with { Epochs = 2 } }, pretrainedBackbone: null));

        // The default combination is the joint head, saved beside ensemble.json; without its file the run says which is missing.
        Assert.Equal(EnsembleCombination.Joint, model.Combination);
        Assert.NotNull(model.JointHead);
        Assert.Contains(model.JointHead!.Shrinkage, DiscriminantHead.ShrinkageGrid);
        string headPath = Path.Combine(run, JointHead.FileName);
        File.Move(headPath, headPath + ".bak");
        Assert.Contains(headPath, Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltModel.Load(run)).Message);
        File.Move(headPath + ".bak", headPath);
        // The pools load from the same run (their weights are saved with the joint head); a run directory from before
        // log-linear pooling (its ensemble.json says "weighted softmax average") still loads as the average it was fitted for.
        string ensembleJson = Path.Combine(run, GestaltModel.EnsembleFile);
        File.WriteAllText(ensembleJson, File.ReadAllText(ensembleJson).Replace("\"joint\"", "\"log_linear\""));
        using (var pooled = GestaltModel.Load(run))
        {
            Assert.Equal(EnsembleCombination.LogLinear, pooled.Combination);
            Assert.Null(pooled.JointHead);
        }
        File.WriteAllText(ensembleJson, File.ReadAllText(ensembleJson).Replace("\"log_linear\"", "\"weighted softmax average\""));
        using (var old = GestaltModel.Load(run)) Assert.Equal(EnsembleCombination.Average, old.Combination);
        File.WriteAllText(ensembleJson, File.ReadAllText(ensembleJson).Replace("\"weighted softmax average\"", "\"median\""));
        Assert.Contains("combination", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltModel.Load(run)).Message);
        File.WriteAllText(ensembleJson, File.ReadAllText(ensembleJson).Replace("\"median\"", "\"joint\""));

        // A run recorded before the data hash covered only what training reads (a hash of the whole aligned folder, no
        // "data_hash" kind) resumes on the same folder, and is refused on another.
        var legacy = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(runJsonPath))!.AsObject();
        Assert.Equal(AlignedRegionDataset.ContentHashKind, (string?)legacy["config"]!["data_hash"]);
        legacy["config"]!.AsObject().Remove("data_hash");
        legacy["data_hash"] = GestaltLab.Runtime.RunManifest.ComputeContentHash(aligned);
        File.WriteAllText(runJsonPath, legacy.ToJsonString());
        GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null).Model.Dispose();
        legacy["data_hash"] = new string('0', 64);
        File.WriteAllText(runJsonPath, legacy.ToJsonString());
        Assert.Contains("other data", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltTraining.Train(aligned, run, Tiny, pretrainedBackbone: null)).Message);

        // A run kept inside its own aligned folder resumes: its checkpoints are not part of the data it was trained on.
        string inside = Path.Combine(aligned, "run-inside");
        var one = Tiny with { Regions = ["face"] };
        GestaltTraining.Train(aligned, inside, one, pretrainedBackbone: null).Model.Dispose();
        var resumed = GestaltTraining.Train(aligned, inside, one, pretrainedBackbone: null);
        resumed.Model.Dispose();
        Assert.Equal(1, resumed.Regions["face"].ResumedFromEpoch);

        // Training afresh (a notebook cell run again): the new run trains beside the last one — which here would no
        // longer resume — and takes its place only once finished; stopped early, the last complete run stays.
        string full = Path.GetFullPath(run);
        File.WriteAllText(Path.Combine(run, "notes.md"), "mine\n");
        File.WriteAllText(Path.Combine(run, ".gitkeep"), "");
        // An evaluation of the old model: its record is not carried into the new run as if it were the user's.
        File.WriteAllText(Path.Combine(run, GestaltLab.Evaluation.EvaluationRecord.FileName), """{"finished": true, "metrics": "metrics.json"}""");
        using (var stop = new CancellationTokenSource())
        {
            stop.Cancel();
            Assert.ThrowsAny<OperationCanceledException>(() => GestaltTraining.TrainAfresh(aligned, run, Tiny, pretrainedBackbone: null, cancellationToken: stop.Token));
        }
        Assert.True(File.Exists(ensemblePath));
        // Data or a backbone inside the run would go with it: refused before anything moves.
        Assert.Contains("inside", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() =>
            GestaltTraining.TrainAfresh(aligned, run, Tiny, Path.Combine(run, "regions", "face.pt"))).Message);
        var afresh = GestaltTraining.TrainAfresh(aligned, run + "/", Tiny, pretrainedBackbone: null);
        using (afresh.Model)
        {
            Assert.Equal(full, afresh.RunDirectory);
            Assert.Equal(Path.Combine(full, "model.zip"), afresh.ModelZip);
            Assert.All(afresh.Regions.Values, r => Assert.Equal(0, r.ResumedFromEpoch));
            // The same seed trains the same nets.
            Assert.Equal(faceWeights, File.ReadAllBytes(Path.Combine(run, "regions", "face.pt")));
            Assert.False(Directory.Exists(full + ".training-afresh") || Directory.Exists(full + ".replaced"));
            // The user's files crossed into the new run, and the result says so.
            Assert.Equal("mine\n", File.ReadAllText(Path.Combine(run, "notes.md")));
            Assert.True(File.Exists(Path.Combine(run, ".gitkeep")));
            Assert.False(File.Exists(Path.Combine(run, GestaltLab.Evaluation.EvaluationRecord.FileName)));
            Assert.Contains(afresh.Notes, n => n.Contains("notes.md"));
            Assert.DoesNotContain(afresh.Notes, n => n.Contains(GestaltLab.Evaluation.EvaluationRecord.FileName));
        }
        // Files of the user's left in the old run by a stopped call go across to the new one, never deleted; one whose name
        // the new run already has is refused, named, and stays.
        string inTheWay = full + ".replaced";
        Directory.CreateDirectory(inTheWay);
        File.WriteAllText(Path.Combine(inTheWay, "notes.md"), "older notes\n");
        Assert.Contains("notes.md", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltTraining.TrainAfresh(aligned, run, Tiny, pretrainedBackbone: null)).Message);
        Assert.Equal("older notes\n", File.ReadAllText(Path.Combine(inTheWay, "notes.md")));
        // What is left of a run whose deletion was stopped (only what runs write) is cleared.
        File.Delete(Path.Combine(inTheWay, "notes.md"));
        Directory.CreateDirectory(Path.Combine(inTheWay, "curves"));
        File.WriteAllText(Path.Combine(inTheWay, "curves", "face.csv"), "epoch\n");
        Assert.True(RunFolder.Foreign(inTheWay).Count == 0 && !RunFolder.IsRun(inTheWay));
        GestaltTraining.TrainAfresh(aligned, run, Tiny, pretrainedBackbone: null).Model.Dispose();
        Assert.False(Directory.Exists(inTheWay));
        Assert.True(File.Exists(Path.Combine(run, "notes.md")));
        // Stopped between its last moves (the old run aside with a file of the user's, the finished new one not yet in
        // place): the next call puts the new run in place and carries the file across before it trains.
        Directory.Move(full, full + ".training-afresh");
        Directory.CreateDirectory(inTheWay);
        File.WriteAllText(Path.Combine(inTheWay, "config.json"), "{}");
        File.WriteAllText(Path.Combine(inTheWay, "later.md"), "mine too\n");
        GestaltTraining.TrainAfresh(aligned, run, Tiny, pretrainedBackbone: null).Model.Dispose();
        Assert.Equal("mine too\n", File.ReadAllText(Path.Combine(run, "later.md")));
        Assert.True(File.Exists(Path.Combine(run, "notes.md")));
        Assert.False(Directory.Exists(inTheWay) || Directory.Exists(full + ".training-afresh"));
        // The photos an aligned folder was made from, inside the run, would be deleted with it: refused.
        string photosInside = Path.Combine(run, "photos"), alignedOutside = Path.Combine(root, "aligned-from-inside");
        Directory.CreateDirectory(alignedOutside);
        new RunManifest { Command = "test", Seed = 1, Config = new System.Text.Json.Nodes.JsonObject { ["data"] = photosInside } }.Save(alignedOutside);
        Assert.Contains("photos the aligned data came from", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() =>
            GestaltTraining.TrainAfresh(alignedOutside, run, Tiny, pretrainedBackbone: null)).Message);
    }
}
