using System.Globalization;
using System.Text.Json;
using GestaltLab.Data;
using GestaltLab.Ensemble;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>What <see cref="ModelEvaluation.Evaluate"/> found.</summary>
/// <param name="Metrics">Ensemble metrics (written as <c>metrics.json</c>; the oracle's figures only when the test split was scored).</param>
/// <param name="Regions">Each single region's top-1/5/10, then the <c>ensemble</c> row.</param>
/// <param name="Skipped">Photos of the scored split whose syndrome the model does not know (not scored).</param>
/// <param name="Split">The split that was scored.</param>
/// <param name="OracleLeftOut">Why the data's oracle figures were left out of the metrics (they would not be comparable), or null.</param>
/// <param name="SharedPeople">When scored photos carry subject ids of the model's training people (in other data than its
/// own), a note saying so (<see cref="TrainingOverlap"/>); else null.</param>
/// <param name="Unlabelled">Photos of the scored split without a syndrome in the manifest (not scored).</param>
/// <param name="OverlapUnchecked">Why the photos could not be checked against the model's training people (its training data
/// is not here: <see cref="TrainingOverlap.Unchecked"/>), or null.</param>
/// <param name="OtherData">Whether the photos are of other data than the run was trained on (by its crops' hash), so that a
/// train or val split is new to the model rather than the photos it fitted or chose its epochs by; false for the run's own
/// data, and where the run records no hash to tell.</param>
public sealed record ModelEvaluationResult(ClassificationMetrics Metrics, IReadOnlyList<RegionScore> Regions, int Skipped, string Split = SplitNames.Test,
    string? OracleLeftOut = null, string? SharedPeople = null, int Unlabelled = 0, bool OtherData = false, string? OverlapUnchecked = null)
{
    /// <summary>
    /// The folder the run's own earlier evaluation was kept in (<c>RUN/eval-earlier-STAMP</c>) because this one, of the
    /// same model on the same photos, gave other probabilities (a run received from another machine or version, scored
    /// again); null when there was none, or it gave the very same.
    /// </summary>
    public string? EarlierKept { get; init; }
}

/// <summary>
/// Scores a <see cref="GestaltModel"/> on one split of an aligned data folder (test by default) and writes the run-directory files the
/// figures and reports read: <c>metrics.json</c>, <c>region_metrics.csv</c>, <c>probabilities.csv</c>,
/// <c>embeddings.csv</c> and <c>classes.json</c> (see docs/run-directory.md).
/// </summary>
public static partial class ModelEvaluation
{
    /// <summary>
    /// Whether <paramref name="alignedFolder"/> holds the very crops the run in <paramref name="run"/> was trained on (their
    /// content hash is the one its run.json records); false for a run that records no such hash, or an unreadable one.
    /// </summary>
    internal static bool HoldsTrainingData(string run, string alignedFolder)
    {
        if (TrainedCropsHash(run) is not { } trained) return false;
        try { return new AlignedRegionDataset(alignedFolder).ContentHash() == trained; }
        catch (Exception e) when (e is GestaltLabException or IOException or InvalidOperationException) { return false; }
    }

    // The content hash of the aligned crops the run was trained on, as its run.json records it; null for a run from before
    // that hash was recorded, or an unreadable record.
    private static string? TrainedCropsHash(string run)
    {
        try
        {
            var record = RunManifest.Load(run);
            return (string?)record.Config["data_hash"] == AlignedRegionDataset.ContentHashKind ? record.DataHash : null;
        }
        catch (Exception e) when (e is GestaltLabException or IOException or InvalidOperationException) { return null; }
    }

    /// <summary>
    /// The alignment the run's run.json records as its data, outside the run (a notebook trains on an alignment beside
    /// its run), while it still holds the crops the run was trained on; null otherwise.
    /// </summary>
    internal static string? RecordedTrainingAlignment(string run) =>
        RunManifest.RecordedData(run) is { } recorded && Regions.FaceDatasetAligner.IsAligned(recorded) && HoldsTrainingData(run, recorded) ? recorded : null;

    // The crops' hash the run was trained on and the one the data given has, when they differ; null when they agree or
    // the run records no such hash (a run from before it was recorded).
    private static (string Trained, string Given)? TrainedOnOtherData(string run, AlignedRegionDataset data) =>
        TrainedCropsHash(run) is { } trained && data.ContentHash() is var given && given != trained ? (trained, given) : null;

    /// <summary>Evaluates and writes the files into <paramref name="outDirectory"/> (metrics to <paramref name="metricsPath"/> when given).</summary>
    /// <param name="model">The model.</param>
    /// <param name="alignedDirectory">Aligned data folder (crops at the model's input size).</param>
    /// <param name="outDirectory">Where the CSV files go: the run directory for its test split (another split there is
    /// refused, as it would replace the run's test results), or a folder of its own.</param>
    /// <param name="oracleDataDirectory">The synthetic data folder holding <c>oracle.json</c>; null: the data folder the
    /// aligned folder was aligned from (its <c>run.json</c> names it), as <c>gestaltlab evaluate</c> finds it.</param>
    /// <param name="split">Split to score.</param>
    /// <param name="metricsPath">Where <c>metrics.json</c> goes (default: in <paramref name="outDirectory"/>). Named in the
    /// folder's <see cref="EvaluationRecord"/> when it lies in <paramref name="outDirectory"/>; elsewhere, the tables there
    /// are not taken for a finished evaluation by <c>compare</c> or the report.</param>
    /// <param name="progress">Stage <c>evaluate</c>.</param>
    /// <param name="cancellationToken">Cancels between batches.</param>
    /// <exception cref="ArgumentException"><paramref name="oracleDataDirectory"/> is a split's name (and no oracle's
    /// folder): the split goes in <paramref name="split"/>.</exception>
    /// <exception cref="GestaltLabException">The output would replace the run's own test results (another split, other
    /// priors than the run's, or other data than the run was trained on), or another run's; no photos of the split; crops
    /// of another size; a file cannot be written; another process evaluates into the same folder, or trains or replaces
    /// the model's run right now.</exception>
    public static ModelEvaluationResult Evaluate(GestaltModel model, string alignedDirectory, string outDirectory, string? oracleDataDirectory = null,
        string split = SplitNames.Test, string? metricsPath = null, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default) =>
        EvaluateChecked(model, alignedDirectory, outDirectory, oracleDataDirectory ?? Regions.FaceDatasetAligner.DataFolderOf(alignedDirectory),
            split, metricsPath, progress, cancellationToken, trainingDataChecked: false);

    /// <summary><see cref="Evaluate(GestaltModel, string, string, string?, string, string?, IProgress{ProgressUpdate}?, CancellationToken)"/>,
    /// told whether the caller has found the data to be what the run trained on (its content hash read already).</summary>
    private static ModelEvaluationResult EvaluateChecked(GestaltModel model, string alignedDirectory, string outDirectory, string? oracleDataDirectory,
        string split, string? metricsPath, IProgress<ProgressUpdate>? progress, CancellationToken cancellationToken, bool trainingDataChecked,
        IReadOnlyList<string>? strata = null)
    {
        // The run folder's own metrics are its test result (the report and `report --run` read them as such): another split
        // written there would replace them without a trace.
        // By the folders themselves: a link to the run is the run.
        static string Full(string p) => RunFolder.RealPath(p).TrimEnd('/');
        // The parameter after the output folder is the oracle's folder, not the split: Evaluate(model, aligned, out, "val")
        // compiles, and would score the test split where validation results were expected.
        if (oracleDataDirectory is not null && SplitNames.IsValid(oracleDataDirectory) && !File.Exists(Path.Combine(oracleDataDirectory, "oracle.json")))
            throw new ArgumentException($"'{oracleDataDirectory}' is a split's name, passed as the oracle's data folder; name the split: split: \"{oracleDataDirectory}\"", nameof(oracleDataDirectory));
        bool intoRun = model.Directory is { } ownRun
            && (Full(outDirectory) == Full(ownRun) || Full(Path.GetDirectoryName(Path.GetFullPath(metricsPath ?? Path.Combine(outDirectory, "metrics.json")))!) == Full(ownRun));
        if (intoRun && split != SplitNames.Test)
            throw new GestaltLabException($"{outDirectory}: the run's own folder holds its test results; the '{split}' split would replace them",
                $"write it beside them, e.g. into {Path.Combine(model.Directory!, "eval-" + split)} (as `gestaltlab evaluate --split {split}` does)");
        // Nor ranked with other priors than the run ranks with by default (its ensemble.json): another result, kept beside.
        if (intoRun && File.Exists(Path.Combine(model.Directory!, GestaltModel.EnsembleFile)) && GestaltModel.SavedPriors(model.Directory!) is var runPriors && runPriors != model.Priors)
            throw new GestaltLabException($"{outDirectory}: the run's own folder holds its test results with its '{runPriors}' priors; this model ranks with '{model.Priors}' priors and would replace them",
                $"write it beside them, e.g. into {Path.Combine(model.Directory!, "eval-priors-" + model.Priors)} (as `gestaltlab evaluate --priors {model.Priors}` does)");
        // Another run's folder holds that run's own classes.json (the names of its outputs) and test metrics: written
        // over, that run would label its predictions with this model's classes.
        if (RunFolder.IsRun(outDirectory) && (model.Directory is null || Full(outDirectory) != Full(model.Directory)))
            throw new GestaltLabException($"{outDirectory}: another run's folder; evaluating this model there would replace that run's classes.json and metrics",
                "write the evaluation to a folder of its own (evaluate --out DIR/metrics.json)");
        // Two evaluations into one folder would interleave their tables. Into the run's own folder the lock is that of its
        // own test results (a report reading them waits): the run itself is held shared below (and by EvaluateOn around
        // its alignment), which another evaluation or a prediction may share but a training of the run may not.
        using var folderLock = intoRun ? FolderLock.AcquireRunResults(model.Directory!, "evaluate into", shared: false) : FolderLock.Acquire(outDirectory, "evaluate into");
        // Not while the run is trained again or replaced (`train --force` would delete this evaluation's folder under it).
        using var runLock = model.Directory is { } runFolder ? FolderLock.AcquireShared(runFolder, "evaluate the model in") : null;
        // Nor while the data is aligned again under it (its crops would be scored half old, half new).
        using var dataLock = FolderLock.AcquireData(alignedDirectory, "evaluate on", shared: true);
        if (model.ChangedSinceLoad() is { } changed)
            throw new GestaltLabException($"{model.Directory}: {changed}", "load the model again (GestaltModel.Load) and evaluate that");
        var all = new AlignedRegionDataset(alignedDirectory, splits: [split]);
        // A misspelt stratum column is said now, not after minutes of scoring.
        // (Not the photo, person, syndrome, split or family: groups of one photo, person or syndrome test nothing.)
        string[] stratumColumns = ["gene", "sex", "age_band", "skin_tone", .. all.Manifest.ExtraColumns];
        if (strata?.FirstOrDefault(c => !stratumColumns.Contains(c, StringComparer.Ordinal)) is { } missing)
            throw new GestaltLabException($"{Path.Combine(alignedDirectory, Manifest.FileName)}: {(Manifest.Columns.Contains(missing) ? $"'{missing}' is no stratum to score accuracy by" : $"no column '{missing}' to score accuracy by")}",
                $"name one of: {string.Join(", ", stratumColumns)}"
                + (all.Manifest.ExtraColumns.Count == 0 ? " (a column of your own reaches the aligned folder from the data's manifest.csv: align the data again after adding it)" : ""));
        // Each crop is read once here: a cache would only hold every photo's crops (≈ 86 KB a photo at 64 px) to the end,
        // the memory growing with the data up to the cache's 512 MiB (1.6 GB max RSS on 4,490 photos).
        var data = new AlignedRegionDataset(alignedDirectory, model.Classes, [split]) { CacheBytes = 0 };
        int skipped = all.Count - data.Count;
        // A blank syndrome cell leaves its photo out of every figure: counted, so that it is said.
        int unlabelled = all.Manifest.Rows.Count(r => r.Split == split && !r.IsLabelled);
        if (data.Count == 0)
            throw new GestaltLabException($"{alignedDirectory}: no '{split}' photos of the model's {model.Classes.Count} syndromes to evaluate");
        // The run's own folder holds its results on the data it was trained on: other data's (a folder aligned again
        // since from photos made anew, with another seed, say) would pass for them in the report and in `compare`.
        if (intoRun && !trainingDataChecked && TrainedOnOtherData(model.Directory!, all) is { } other)
            throw new GestaltLabException($"{alignedDirectory}: not the data the run in {model.Directory} was trained on (its crops hash to {other.Given[..12]}…, run.json records {other.Trained[..12]}…), whose test results that folder holds",
                "leave out --out: `gestaltlab evaluate --model RUN --data DIR` files other data's results under RUN/eval-on-NAME (in C#: ModelEvaluation.EvaluateOn); or write them into a folder of their own (--out DIR/metrics.json)");
        if (data.CropSize != model.InputSize)
            throw new GestaltLabException($"{alignedDirectory}: crops are {data.CropSize} px, the model expects {model.InputSize} px", $"align with --crop-size {model.InputSize} (in C#: FacePipelineOptions.Regions = RegionSet.Default.WithSize({model.InputSize}))");
        // Same names are not the same crops: scored on regions cut with other landmarks or padding, the nets read what
        // they were not trained on, and the figures would be quietly wrong.
        var cutOtherwise = FacialRegion.CutOtherwise(model.InputRegions.Select(r => model.RegionSet[r]), data.RegionSet);
        if (cutOtherwise.Count > 0)
            throw new GestaltLabException($"{alignedDirectory}: region(s) {string.Join(", ", cutOtherwise)} are missing or cut otherwise than the model's (its regions.json differs from the run's)",
                "align the photos with the model's regions (`gestaltlab align --regions RUN/regions.json`), or pass the photos' data folder to `gestaltlab evaluate`, which does");

        // Before the photos are scored: files of the same names that an evaluation did not write (a user's own notes, tables
        // of another tool) are left alone, and said so, rather than replaced at the end.
        string metricsFile = metricsPath ?? Path.Combine(outDirectory, "metrics.json");
        CheckOutputs(outDirectory, metricsFile, model.Regions);

        // The train or val split of other data than the run's (another seed's people, say) is new to the model: neither
        // the photos it fitted nor those it chose its epochs by. Only those splits need the crops hashed to tell.
        bool otherData = split != SplitNames.Test && !trainingDataChecked && model.Directory is { } trainedRun && TrainedOnOtherData(trainedRun, all) is not null;
        // Before the photos are scored: people the model trained on, met again in other data, would flatter it.
        // (Another split of the run's own data is the user's choice of figures that are not held out, and says so.)
        string? sharedPeople = split != SplitNames.Test && !otherData ? null
            : TrainingOverlap.Check(model.Directory, data.Rows, Regions.FaceDatasetAligner.DataFolderOf(alignedDirectory) ?? alignedDirectory);
        var predictions = model.Predict(data, Enumerable.Range(0, data.Count).ToArray(), progress, "evaluate", cancellationToken);
        // A diverged or broken model answers NaN; scored, that would look like anything but what it is.
        int broken = predictions.ToList().FindIndex(p => p.Probabilities.Any(v => !float.IsFinite(v)));
        if (broken >= 0)
            throw new GestaltLabException($"{data.Rows[broken].SourceImage}: the model's probabilities are not finite (NaN or infinity); nothing was written",
                "the training diverged or the model files are damaged: train again (a lower learning_rate), or check the run's curves");
        var truth = Enumerable.Range(0, data.Count).Select(data.Label).ToList();
        var probs = predictions.Select(p => p.Probabilities).ToList();
        // The generator scores its oracle on the test split only: beside another split's figures it would mislead.
        var oracle = oracleDataDirectory is null || split != SplitNames.Test ? null : OracleFigures.TryLoad(oracleDataDirectory);
        // Kept with its per-person ranks (the one below is scored on all the model's photos): each stratum scores it on its own.
        var oracleWithRanks = oracle;
        string? source = Regions.FaceDatasetAligner.DataFolderOf(alignedDirectory);
        // The folder the photos were aligned from is gone (a run received from elsewhere, scored on its own aligned/): the
        // aligned folder names what was scored, and an oracle it may have held is said to be missing rather than dropped.
        string? sourceMissing = source is not null && !Directory.Exists(source) ? source : null;
        if (sourceMissing is not null) source = null;
        // A data folder moved (or copied with its run) since it was aligned: the folder given, when it holds the data's
        // manifest, stands for it — also while the original is still there, so that metrics.json (and the report, which
        // reads that folder's manifest) names the folder the user scored, not the one the copy came from.
        var sourceRows = SourceRows(source);
        if (oracleDataDirectory is not null && !Regions.FaceDatasetAligner.IsAligned(oracleDataDirectory) && SourceRows(oracleDataDirectory) is { } given
            && (sourceRows is null || SameLabels(given, sourceRows)))
            (source, sourceRows) = (Path.GetFullPath(oracleDataDirectory).TrimEnd('/'), given);
        // An aligned folder whose labels were changed after alignment (by hand, say) is no longer its source's data:
        // metrics.json names the folder scored, by its own content, and no oracle of the source's labels stands beside it.
        string? changedSince = sourceRows is null ? null : ChangedSinceAlignment(data.Rows, sourceRows);
        if (changedSince is not null)
        {
            source = null;
            sourceRows = null;
        }
        // The oracle ranks among all the data's syndromes and scores every test photo: beside a model that knows other
        // syndromes, or whose unknown syndromes' photos were left unscored, it measures another task on other photos.
        var dataClasses = (sourceRows ?? all.Manifest.Rows).Where(r => r.IsLabelled).Select(r => r.Syndrome).ToHashSet(StringComparer.Ordinal);
        string? oracleLeftOut = null;
        if (oracle is not null && changedSince is not null)
        {
            oracleLeftOut = $"{changedSince}: the aligned folder's labels differ from its source data's, whose oracle is therefore not comparable; its figures are left out";
            oracle = null;
        }
        if (oracle is not null && (skipped > 0 || !dataClasses.SetEquals(model.Classes)))
        {
            oracleLeftOut = $"the data's oracle ranks among its {dataClasses.Count} syndromes and scores every {split} photo; this model knows {model.Classes.Count}"
                + (skipped > 0 ? $" and {skipped} {split} photo(s) of the others were not scored" : (dataClasses.IsSubsetOf(model.Classes) ? " (more than the data has)" : " (others than the data has)"))
                + ": not comparable, so its figures are left out";
            oracle = null;
        }
        if (oracle is not null && unlabelled > 0)
        {
            oracleLeftOut = $"the data's oracle scores every {split} photo; {unlabelled} of them have no syndrome in the manifest and were not scored: not comparable, so its figures are left out";
            oracle = null;
        }
        if (oracle is null && oracleLeftOut is null && sourceMissing is not null && split == SplitNames.Test && oracleDataDirectory == sourceMissing
            && TrainingOverlap.TrainedOnGeneratedData(model.Directory))
            oracleLeftOut = $"{sourceMissing}, the data folder these photos were aligned from, is not here: an oracle it may hold (synthetic data's oracle.json) cannot be read, so none stands beside these figures (pass that folder as --data to have it)";
        var known = model.Classes.ToHashSet(StringComparer.Ordinal);
        // Photos of syndromes the model does not know are skipped, not missing faces: counted apart.
        // The split's photos of syndromes the model knows, scored or not: those beyond the scored ones had no usable face.
        var splitPhotos = sourceRows?.Where(r => r.Split == split && r.IsLabelled && known.Contains(r.Syndrome)).ToList();
        int? unscored = splitPhotos is null ? null : Math.Max(0, splitPhotos.Count - data.Count);
        if (oracle is not null)
        {
            // Scored on the model's own photos: a photo without a usable face leaves the model's figures, so it leaves the oracle's.
            var same = oracle.On(data.Rows.Select(r => r.Subject).ToList());
            if (same is not null) oracle = same;
            else if (oracle.TestRanks is not null || unscored is not 0)
            {
                oracleLeftOut = oracle.TestRanks is not null
                    ? $"some scored {split} photos are of people the data's oracle did not score (the manifest was changed after generation): not comparable, so its figures are left out"
                    : $"{(unscored is null ? "the data's photos without a usable face cannot be counted" : $"{unscored} {split} photo(s) had no usable face")} and the data predates the oracle's per-person ranks, so it cannot be scored on the same photos: its figures are left out (generate the data again to have them)";
                oracle = null;
            }
        }
        var metrics = ClassificationMetrics.Compute(truth, probs, model.Classes.Count, oracle) with
        {
            Split = split,
            NSkipped = skipped,
            NUnscored = unscored,
            NUnlabelled = unlabelled,
            Priors = model.Priors,
            PriorStrength = model.Priors == ClassPriors.Training ? model.ClassPriors!.Strength : null,
            // What was scored, so metrics.json says it wherever it is copied (the run's own run.json names its training data).
            Model = model.Directory,
            ModelHash = model.EnsembleHash,
            Data = source ?? Path.GetFullPath(alignedDirectory),
            DataHash = changedSince is null ? AlignedDataHash(alignedDirectory) : all.ContentHash(),
            // By the strata the aligned manifest carries from the data's; the oracle (per person) only where its figures
            // stand beside the model's at all, and the photos without a usable face counted per group from the data's manifest.
            Strata = StratumAccuracy.Compute(data.Rows, truth, probs, new StratumOptions
            {
                Columns = strata ?? StratumAccuracy.DefaultColumns,
                Oracle = oracle is null ? null : oracleWithRanks,
                AllPhotos = splitPhotos,
            }),
        };

        // The run's own evaluation is replaced only when the new one gives the same: scored again where other rounding gives
        // other probabilities (a run received from another machine, another version), the author's figures would be gone.
        // Copied aside first, whole, and removed again below if nothing differs.
        string? earlierCopy = intoRun ? CopyEarlier(outDirectory) : null;
        // An earlier metrics.json goes first and the new one is written last: a failure part-way leaves tables without
        // metrics (plainly unfinished), never metrics beside tables of another evaluation.
        OwnerOnlyFolder.Create(outDirectory);   // one row per patient photo: its owner's alone when made here
        AtomicFile.RemoveLeftovers(outDirectory);   // halves of tables a killed evaluation was writing
        EvaluationRecord.Started(outDirectory);
        if (File.Exists(metricsFile)) File.Delete(metricsFile);
        // The columns of probabilities.csv: an earlier evaluation of another model into the same folder left its own.
        string classes = Path.Combine(outDirectory, "classes.json"), classesJson = JsonSerializer.Serialize(model.Classes);
        if (!File.Exists(classes) || File.ReadAllText(classes) != classesJson) AtomicFile.WriteAllText(classes, classesJson);
        // The regions an earlier evaluation here wrote tables for (its region_metrics.csv names them): those this model
        // lacks go below; any other file in region_probabilities/ is not an evaluation's and stays.
        var earlierRegions = EarlierRegions(Path.Combine(outDirectory, "region_metrics.csv"));
        var regions = model.Regions.Select(r => RegionScore.Of(r, truth, predictions.Select(p => p.RegionProbabilities[r]).ToList()))
            .Append(new RegionScore("ensemble", metrics.Top1, metrics.Top5, metrics.Top10)).ToList();
        RegionScore.WriteCsv(Path.Combine(outDirectory, "region_metrics.csv"), regions);
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var rows = data.Rows;
        // Photo, person and diagnosis per row: the owner's alone, in a folder of the user's (`--out .`) as in one made here.
        Csv.Write(Path.Combine(outDirectory, "probabilities.csv"), ["image", "subject", "true", .. model.Classes],
            rows.Select((r, i) => (IReadOnlyList<string>)[r.SourceImage, r.Subject, r.Syndrome, .. predictions[i].Probabilities.Select(p => F(p))]), ownerOnly: true);
        // Each region's own probabilities, as probabilities.csv holds the ensemble's: what a paired comparison of a region
        // with the ensemble (`gestaltlab compare RUN --regions`) needs, on the same photos.
        string regionDir = Path.Combine(outDirectory, RegionProbabilitiesFolder);
        OwnerOnlyFolder.Create(regionDir);
        // An earlier evaluation's regions that this model does not have would pass for its own.
        foreach (var stale in earlierRegions.Where(r => !model.Regions.Contains(r)).Select(r => Path.Combine(regionDir, r + ".csv")).Where(File.Exists))
            File.Delete(stale);
        foreach (var r in model.Regions)
            Csv.Write(Path.Combine(regionDir, r + ".csv"), ["image", "subject", "true", .. model.Classes],
                rows.Select((row, i) => (IReadOnlyList<string>)[row.SourceImage, row.Subject, row.Syndrome, .. predictions[i].RegionProbabilities[r].Select(p => F(p))]), ownerOnly: true);
        int dims = predictions[0].Embedding.Length;
        Csv.Write(Path.Combine(outDirectory, "embeddings.csv"), ["image", "subject", "true", .. Enumerable.Range(0, dims).Select(d => "e" + d)],
            rows.Select((r, i) => (IReadOnlyList<string>)[r.SourceImage, r.Subject, r.Syndrome, .. predictions[i].Embedding.Select(p => F(p))]), ownerOnly: true);
        metrics.Save(metricsFile);
        if (Full(Path.GetDirectoryName(Path.GetFullPath(metricsFile))!) == Full(outDirectory))
            EvaluationRecord.Finished(outDirectory, metricsFile,
                ["classes.json", "region_metrics.csv", "probabilities.csv", "embeddings.csv", .. model.Regions.Select(r => $"{RegionProbabilitiesFolder}/{r}.csv")]);
        if (earlierCopy is not null && SameTables(earlierCopy, outDirectory, model.Regions))
        {
            Directory.Delete(earlierCopy, recursive: true);
            earlierCopy = null;
        }
        // (Crops known to be the run's own training data hold only its held-out people in their test split: nothing to check.)
        return new ModelEvaluationResult(metrics, regions, skipped, split, oracleLeftOut, sharedPeople, unlabelled, otherData,
            (split != SplitNames.Test && !otherData) || trainingDataChecked ? null : TrainingOverlap.Unchecked(model.Directory))
        { EarlierKept = earlierCopy };
    }

    /// <summary>Name prefix of the folder a run's earlier evaluation is kept in when scoring it again changed its figures.</summary>
    public const string EarlierEvaluationPrefix = "eval-earlier-";

    // The tables of an evaluation that hold its figures (metrics and region_metrics.csv are computed from them).
    private static IEnumerable<string> ScoreTables(IEnumerable<string> regions) =>
        new[] { "probabilities.csv", "embeddings.csv" }.Concat(regions.Select(r => $"{RegionProbabilitiesFolder}/{r}.csv"));

    // Copies the finished evaluation in the run's folder into RUN/eval-earlier-STAMP, its record last (so that the copy is
    // taken for an evaluation only once whole); null when there is none, or its tables were changed since it wrote them.
    private static string? CopyEarlier(string runDirectory)
    {
        if (EvaluationRecord.FinishedMetrics(runDirectory) is not { } earlierMetrics || EvaluationRecord.ChangedFiles(runDirectory).Count > 0) return null;
        var regions = EarlierRegions(Path.Combine(runDirectory, "region_metrics.csv"));
        string stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture), target = Path.Combine(runDirectory, EarlierEvaluationPrefix + stamp);
        for (int n = 2; Directory.Exists(target); n++) target = Path.Combine(runDirectory, $"{EarlierEvaluationPrefix}{stamp}-{n}");
        OwnerOnlyFolder.Create(target);   // per-photo tables: the owner's alone, as the run's
        if (regions.Count > 0) OwnerOnlyFolder.Create(Path.Combine(target, RegionProbabilitiesFolder));
        foreach (var name in ScoreTables(regions).Prepend("region_metrics.csv").Prepend("classes.json").Prepend(Path.GetFileName(earlierMetrics)).Append(EvaluationRecord.FileName))
            if (File.Exists(Path.Combine(runDirectory, name))) File.Copy(Path.Combine(runDirectory, name), Path.Combine(target, name));
        return target;
    }

    // Whether the evaluation just written gave byte for byte the tables of the earlier one kept in earlierCopy.
    private static bool SameTables(string earlierCopy, string outDirectory, IReadOnlyList<string> regions) =>
        EarlierRegions(Path.Combine(earlierCopy, "region_metrics.csv")).Order(StringComparer.Ordinal).SequenceEqual(regions.Order(StringComparer.Ordinal), StringComparer.Ordinal)
        && ScoreTables(regions).All(t => File.Exists(Path.Combine(earlierCopy, t)) && File.Exists(Path.Combine(outDirectory, t))
            && RunManifest.ComputeFileHash(Path.Combine(earlierCopy, t)) == RunManifest.ComputeFileHash(Path.Combine(outDirectory, t)));

    /// <summary>
    /// Refuses when <paramref name="outDirectory"/> holds a file of the names an evaluation writes (<paramref name="metricsFile"/>,
    /// classes.json, the three tables and each of <paramref name="regions"/>' tables) that no evaluation wrote: a user's
    /// notes are not replaced by tables. Refuses too when the folder (or the metrics file's) cannot be written.
    /// </summary>
    /// <exception cref="GestaltLabException">Such a file exists (it is named), or a folder cannot be written.</exception>
    public static void CheckOutputs(string outDirectory, string metricsFile, IEnumerable<string> regions)
    {
        // A folder that cannot be written fails now, not after every photo was scored. Made here, the folders are their
        // owner's alone (per-photo tables of patients), as the evaluation would have made them.
        AtomicFile.CheckWritable(metricsFile, "metrics.json", ownerOnly: true);
        AtomicFile.CheckWritable(Path.Combine(outDirectory, "probabilities.csv"), "probabilities.csv", ownerOnly: true);
        string regionDir = Path.Combine(outDirectory, RegionProbabilitiesFolder);
        RunFolder.RefuseLink(regionDir);
        if (File.Exists(regionDir))
            throw new GestaltLabException($"{regionDir}: a file where the evaluation writes a folder of each region's probabilities; it is left as it is",
                "choose another --out folder (in C#: another output folder), or move that file away first");
        foreach (var (file, mark) in OwnFiles(outDirectory, metricsFile)
                     .Concat(regions.Select(r => (Path.Combine(regionDir, r + ".csv"), "image,subject,true,"))))
            AtomicFile.CheckReplaceable(file, mark, "gestaltlab evaluate");
    }

    /// <summary>The regions an earlier evaluation's <c>region_metrics.csv</c> names (none when there is none or it is not one).</summary>
    private static IReadOnlyList<string> EarlierRegions(string regionMetrics)
    {
        try
        {
            if (!File.Exists(regionMetrics)) return [];
            var table = Csv.Read(regionMetrics);
            return table.Has("region") ? table.Rows.Select(r => r[table.Column("region")]).Where(r => r != "ensemble" && r == Path.GetFileName(r)).ToList() : [];
        }
        catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException) { return []; }
    }

    /// <summary>Folder beside <c>probabilities.csv</c> holding each region's probabilities, <c>REGION.csv</c>, in the same form.</summary>
    public const string RegionProbabilitiesFolder = "region_probabilities";

    /// <summary>The files an evaluation writes into <paramref name="outDirectory"/>, each with text every such file holds.</summary>
    private static IEnumerable<(string File, string Mark)> OwnFiles(string outDirectory, string metricsFile) =>
    [
        (metricsFile, "\"n_images\""),
        (Path.Combine(outDirectory, "classes.json"), "[\""),
        (Path.Combine(outDirectory, "region_metrics.csv"), "region,top1,top5,top10"),
        (Path.Combine(outDirectory, "probabilities.csv"), "image,subject,true,"),
        (Path.Combine(outDirectory, "embeddings.csv"), "image,subject,true,e0"),
    ];

    /// <summary>
    /// The photos of the data the aligned folder was made from (<paramref name="source"/>), or null when that data cannot
    /// be read: those alignment dropped (no usable face) are counted as unscored, so that a photo no face was found in
    /// does not vanish from the denominator, flattering the figures beside an oracle that scores every photo.
    /// </summary>
    internal static IReadOnlyList<ManifestRow>? SourceRows(string? source)
    {
        try
        {
            if (source is null || !File.Exists(Path.Combine(source, Manifest.FileName))) return null;
            return Manifest.Load(source).Rows;
        }
        catch (Exception e) when (e is GestaltLabException or InvalidOperationException or FormatException) { return null; }
    }

    internal static string? AlignedDataHash(string alignedDirectory)
    {
        try { return File.Exists(Path.Combine(alignedDirectory, RunManifest.FileName)) ? RunManifest.Load(alignedDirectory).DataHash : null; }
        catch (Exception e) when (e is GestaltLabException or JsonException or IOException) { return null; }
    }

    // Whether two manifests list the same photos with the same people, syndromes and splits, in order.
    private static bool SameLabels(IReadOnlyList<ManifestRow> a, IReadOnlyList<ManifestRow> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First.Image == p.Second.Image && p.First.Subject == p.Second.Subject
                                                && p.First.Syndrome == p.Second.Syndrome && p.First.Split == p.Second.Split);

    // The first of these aligned photos whose person, syndrome or split differs from its source manifest's row (or that
    // the source no longer lists), described; null when every one matches.
    internal static string? ChangedSinceAlignment(IReadOnlyList<ManifestRow> aligned, IReadOnlyList<ManifestRow> sourceRows)
    {
        var byImage = new Dictionary<string, ManifestRow>(StringComparer.Ordinal);
        foreach (var r in sourceRows) byImage.TryAdd(r.Image, r);
        foreach (var row in aligned)
        {
            string image = row.SourceImage;
            if (!byImage.TryGetValue(image, out var original)) return $"{image} is not in the source data's manifest";
            if (original.Syndrome != row.Syndrome || original.Subject != row.Subject || original.Split != row.Split)
                return $"{image} is labelled {row.Syndrome} ({row.Subject}, {row.Split}) in the aligned folder and {original.Syndrome} ({original.Subject}, {original.Split}) in the source";
        }
        return null;
    }
}
