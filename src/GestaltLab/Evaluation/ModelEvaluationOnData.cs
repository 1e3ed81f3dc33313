using GestaltLab.Data;
using GestaltLab.Ensemble;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>Options of <see cref="ModelEvaluation.EvaluateOn"/>.</summary>
public sealed record DataEvaluationOptions
{
    /// <summary>The split to score (default test).</summary>
    public string Split { get; init; } = SplitNames.Test;
    /// <summary>
    /// Where <c>metrics.json</c> goes — a <c>.json</c> file, or a folder (an existing one, or a name ending in a
    /// separator or without an extension) for its <c>metrics.json</c> (<see cref="ModelEvaluation.MetricsFile"/>) — with
    /// the tables beside it (and other data aligned beside them). Null (the default): the
    /// run's own <c>RUN/metrics.json</c> for its own data's test split ranked with its own priors; else a folder beside
    /// it: <c>RUN/eval-SPLIT/</c> for another split, <c>RUN/eval-on-DATA[-SPLIT]/</c> for other data, with
    /// <c>-priors-P</c> for other priors than the run's.
    /// </summary>
    public string? MetricsPath { get; init; }
    /// <summary>Align synthetic data with its ground-truth landmarks instead of detecting faces.</summary>
    public bool GroundTruth { get; init; }
    /// <summary>The manifest columns accuracy is broken down by in <c>metrics.json</c>'s <c>strata</c> (null: sex, age band
    /// and skin tone, <see cref="StratumAccuracy.DefaultColumns"/>): standard columns or the data's own (a clinic, a camera:
    /// does the model serve one site worse?). A column the data's manifest lacks is refused before any photo is scored.</summary>
    public IReadOnlyList<string>? Strata { get; init; }
}

/// <summary>What <see cref="ModelEvaluation.EvaluateOn"/> did.</summary>
/// <param name="Evaluation">The figures.</param>
/// <param name="MetricsPath">The metrics file written (the tables lie beside it).</param>
/// <param name="AlignedDirectory">The aligned faces scored: the run's own, the data itself when aligned, or an alignment
/// beside the run or the metrics (made now, or by an earlier evaluation and reused).</param>
/// <param name="Alignment">What aligning found (<see cref="EnsuredAlignment.Summary"/> when photos were aligned now); null
/// when the run's own alignment served.</param>
public sealed record DataEvaluationResult(ModelEvaluationResult Evaluation, string MetricsPath, string AlignedDirectory, EnsuredAlignment? Alignment)
{
    /// <summary>The figures' metrics (<c>Evaluation.Metrics</c>), as <see cref="ModelEvaluationResult.Metrics"/> names them.</summary>
    public ClassificationMetrics Metrics => Evaluation.Metrics;
}

public static partial class ModelEvaluation
{
    /// <summary>
    /// Scores a run's model on a data folder, as <c>gestaltlab evaluate</c> does: the run's own alignment serves when it
    /// is of this data (found again by content after the run or the data moved); other data is aligned once, the way
    /// the model's crops were cut, beside the metrics (or in the run); the figures go where
    /// <see cref="DataEvaluationOptions.MetricsPath"/> says, never over the run's own test results unless that names
    /// them (and then only this data's test split, ranked with the run's priors). Photos of the
    /// model's own training people in another data set's test split are refused before any alignment.
    /// </summary>
    /// <param name="model">A model loaded from its run (<see cref="GestaltModel.Load(string, string?)"/>), with the priors to rank by.</param>
    /// <param name="dataDirectory">A data folder (photos and manifest) or an aligned one.</param>
    /// <param name="options">Split, metrics file, landmark source.</param>
    /// <param name="progress">Stages <c>align</c> (when photos are aligned) and <c>evaluate</c>.</param>
    /// <param name="cancellationToken">Cancels between photos and batches.</param>
    /// <exception cref="ArgumentException">The model was not loaded from a run folder.</exception>
    /// <exception cref="GestaltLabException">Not a split; files of the evaluation's names there that an evaluation did not
    /// write; the model's training people in another data set's test split; what <see cref="Evaluate"/> and
    /// <see cref="FaceDatasetAligner.EnsureAligned"/> refuse.</exception>
    public static DataEvaluationResult EvaluateOn(GestaltModel model, string dataDirectory, DataEvaluationOptions? options = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(dataDirectory);
        var o = options ?? new DataEvaluationOptions();
        string run = model.Directory ?? throw new ArgumentException("the model was not loaded from a run folder (GestaltModel.Load(RUN))", nameof(model));
        // Held from before the alignment beside or inside the run: a `train --force` of the run would delete it under us.
        using var runLock = FolderLock.AcquireShared(run, "evaluate the model in");
        // Before minutes of alignment, as Evaluate checks again.
        if (model.ChangedSinceLoad() is { } changed)
            throw new GestaltLabException($"{run}: {changed}", "load the model again (GestaltModel.Load) and evaluate that");
        string? outFile = o.MetricsPath is null ? null : MetricsFile(o.MetricsPath);
        // Before photos are aligned beside it (crops of patients in a folder of one's notes) or scored: files of the
        // evaluation's names there that an evaluation did not write are left alone, and the evaluation stops.
        if (outFile is not null) CheckOutputs(Path.GetDirectoryName(outFile)!, outFile, model.Regions);
        string split = o.Split;
        if (!SplitNames.IsValid(split))
            throw new GestaltLabException($"split '{split}': not a split", $"use one of {string.Join(", ", SplitNames.All)}");
        // Photos of the model's own training people in another data set's test split are refused before minutes of
        // alignment, not after (Evaluate checks again, on the aligned photos, and warns where it can only suspect).
        if (split == SplitNames.Test && !FaceDatasetAligner.IsAligned(dataDirectory) && File.Exists(Path.Combine(dataDirectory, Manifest.FileName)))
            _ = TrainingOverlap.Check(run, Manifest.Load(dataDirectory).Rows.Where(r => r.Split == SplitNames.Test && r.IsLabelled).ToList(), dataDirectory);
        // The run's own alignment serves when it is of this data (the usual case: scoring the data it was trained on),
        // instead of aligning every photo again beside the metrics. Only asked (it reads every photo) when that alignment
        // names this folder as its data; a run copied or moved with its data (runs/demo holds data/) records the folder
        // where the data was: a folder of the same name is asked too, and the content hash decides.
        // The run's own alignment is RUN/aligned, or the aligned folder its run.json records (a notebook trains on an
        // alignment beside the run).
        string runAligned = Path.Combine(run, "aligned");
        string dataFull = Path.GetFullPath(dataDirectory).TrimEnd('/');
        // RUN/aligned is the run's own wherever the run lies; a folder outside it only while it still holds the crops the
        // run trained on (their hash, as run.json records it): one aligned again since (other photos, another split)
        // would have other data's figures filed as the run's own, its training people unchecked.
        string? recordedAligned = RunManifest.RecordedData(run);
        bool TrainedOn(string folder)
        {
            folder = Path.GetFullPath(folder).TrimEnd('/');
            if (folder == Path.GetFullPath(runAligned).TrimEnd('/')) return true;
            return folder == recordedAligned && HoldsTrainingData(run, folder);
        }
        string? ownAlignment = FaceDatasetAligner.IsAligned(dataDirectory) ? null
            : new[] { runAligned, recordedAligned }.OfType<string>().Distinct().FirstOrDefault(candidate =>
                FaceDatasetAligner.DataFolderOf(candidate) is { } recordedSource
                && (recordedSource == dataFull || Path.GetFileName(recordedSource) == Path.GetFileName(dataFull))
                && FaceDatasetAligner.ReuseProblem(dataDirectory, candidate, model.InputSize, o.GroundTruth, model.RegionSet) is null
                && TrainedOn(candidate));
        bool runsOwn = ownAlignment is not null;
        // Other data is aligned once beside the run (whatever split is scored) or beside the metrics.
        string alignedHome = outFile is { } f ? Path.GetDirectoryName(f)! : run;
        // The evaluation's folder holds crops and per-photo tables: its owner's alone when made here (before the
        // alignment inside it makes it as a mere parent).
        OwnerOnlyFolder.Create(alignedHome);
        EnsuredAlignment? alignment = null;
        string aligned = ownAlignment ?? runAligned;
        // Two data folders of one name (…/a/mini and …/b/mini), or one aligned with and without its ground-truth landmarks,
        // each keep their own aligned copy and results: the second is filed as mini-2, and so on (each would otherwise
        // replace the other's, silently).
        string dataName = Path.GetFileName(dataFull);
        string dataReal = RunFolder.RealPath(dataFull);
        bool Taken(string alignedX) =>
            (FaceDatasetAligner.DataFolderOf(alignedX) is { } holds && RunFolder.RealPath(holds) != dataReal)
            || (FaceDatasetAligner.AlignedWithGroundTruth(alignedX) is bool truth && truth != o.GroundTruth);
        // Data given aligned has no aligned copy here: its results' folder says whose they are (their metrics' data).
        string? scoredAs = FaceDatasetAligner.IsAligned(dataDirectory) ? RunFolder.RealPath(FaceDatasetAligner.DataFolderOf(dataDirectory) ?? dataFull) : null;
        bool ResultsTaken(string name)
        {
            string metrics = Path.Combine(run, "eval-on-" + name + (split == SplitNames.Test ? "" : "-" + split), "metrics.json");
            try { return File.Exists(metrics) && ClassificationMetrics.Load(metrics).Data is { } d && RunFolder.RealPath(d) != scoredAs; }
            catch (Exception e) when (e is GestaltLabException or IOException or System.Text.Json.JsonException) { return false; }
        }
        if (!runsOwn)
            for (int k = 2; scoredAs is null ? Taken(Path.Combine(alignedHome, "aligned-" + dataName)) : ResultsTaken(dataName); k++)
                dataName = $"{Path.GetFileName(dataFull)}-{k}";
        if (!runsOwn)
        {
            string alignedHere = Path.Combine(alignedHome, "aligned-" + dataName);
            RunFolder.RefuseLink(alignedHere);
            // Cut as the model's crops were, whatever regions it was aligned with.
            alignment = FaceDatasetAligner.EnsureAligned(dataDirectory, alignedHere, model.InputSize, o.GroundTruth, model.RegionSet,
                progress: progress, cancellationToken: cancellationToken);
            aligned = alignment.Directory;
        }
        // RUN/metrics.json is the run's own test result, which the report shows beside run.json's record of the training
        // data: another split, or other data, goes beside it and never over it. (A run's run.json records the aligned
        // folder it trained on as its data; RUN/aligned is always the run's own, wherever the run now lies.)
        string alignedFull = Path.GetFullPath(aligned).TrimEnd('/');
        bool ownData = runsOwn || TrainedOn(alignedFull);
        // eval-SPLIT for the run's own data, eval-on-DATA[-SPLIT] for other data: a data folder named "val" must not
        // land on the run's own validation results.
        string evalName = ownData ? "eval-" + split : "eval-on-" + dataName + (split == SplitNames.Test ? "" : "-" + split);
        // Ranked with other priors than the run's own, it is another result too (kept beside, for comparing the two).
        bool ownPriors = model.Priors == GestaltModel.SavedPriors(run);
        if (!ownPriors) evalName = (ownData && split == SplitNames.Test ? "eval" : evalName) + "-priors-" + model.Priors;
        string metricsPath = outFile
            ?? Path.GetFullPath(ownData && ownPriors && split == SplitNames.Test ? Path.Combine(run, "metrics.json") : Path.Combine(run, evalName, "metrics.json"));
        string outDir = Path.GetDirectoryName(metricsPath)!;
        // RUN/eval-…, made by the evaluation itself.
        if (outFile is null && outDir != Path.GetFullPath(run).TrimEnd('/')) RunFolder.RefuseLink(outDir);
        var result = EvaluateChecked(model, aligned, outDir, OracleDirectory(dataDirectory, aligned), split, metricsPath, progress, cancellationToken, trainingDataChecked: ownData, o.Strata);
        return new DataEvaluationResult(result, metricsPath, aligned, alignment);
    }

    /// <summary>
    /// The metrics file <paramref name="output"/> names: a <c>.json</c> file itself (or any existing file: an earlier run
    /// of the same script wrote it, and it is replaced only if an evaluation wrote it); a folder — existing, or a name
    /// ending in a separator or without an extension — gets its <c>metrics.json</c>.
    /// </summary>
    /// <exception cref="GestaltLabException">Another extension: the tables go beside the metrics file, so a name
    /// mistaken for a folder would scatter them into the folder above it. Refused before anything is written.</exception>
    public static string MetricsFile(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        string full = Path.GetFullPath(output);
        if (File.Exists(full)) return full;
        if (System.IO.Directory.Exists(full) || output.EndsWith('/') || output.EndsWith(Path.DirectorySeparatorChar) || Path.GetExtension(full).Length == 0)
            return Path.Combine(full, "metrics.json");
        if (!Path.GetExtension(full).Equals(".json", StringComparison.OrdinalIgnoreCase))
            throw new GestaltLabException($"{output}: neither a .json metrics file nor a folder",
                $"name the metrics file (e.g. {Path.ChangeExtension(output, ".json")}) or a folder for it (e.g. {output}/)");
        return full;
    }

    /// <summary>The synthetic data folder with oracle.json: the folder given, or the one an aligned folder came from.</summary>
    private static string? OracleDirectory(string dataDir, string alignedDir) =>
        File.Exists(Path.Combine(dataDir, "oracle.json")) ? dataDir : FaceDatasetAligner.DataFolderOf(alignedDir);
}
