using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Ensemble;

/// <summary>What <see cref="GestaltTraining.Train"/> wrote.</summary>
/// <param name="RunDirectory">The run directory.</param>
/// <param name="Model">The trained ensemble (caller disposes).</param>
/// <param name="Regions">Per region: its training result summary.</param>
/// <param name="ModelZip">Path of the ML.NET <c>model.zip</c>, or null when it could not be built (see <paramref name="Notes"/>).</param>
/// <param name="Notes">What was skipped and why.</param>
public sealed record GestaltTrainingResult(string RunDirectory, GestaltModel Model, IReadOnlyDictionary<string, RegionSummary> Regions, string? ModelZip, IReadOnlyList<string> Notes);

/// <summary>One region's training in a run.</summary>
/// <param name="Region">Region name.</param>
/// <param name="BestEpoch">Epoch whose weights were kept (1-based).</param>
/// <param name="Epochs">Epochs trained.</param>
/// <param name="BestValAccuracy">Validation accuracy of the kept epoch.</param>
/// <param name="ImagesPerSecond">Training throughput.</param>
/// <param name="ResumedFromEpoch">Epoch an interrupted run had finished (0 = fresh start).</param>
/// <param name="Temperature">Softmax temperature fitted on the validation split and folded into the classifier (1 = not calibrated).</param>
/// <param name="Shrinkage">Shrinkage of the discriminant head (NaN: the softmax head was kept).</param>
/// <param name="HeadValAccuracy">Validation accuracy of the discriminant head (NaN: softmax head, or no validation photos).</param>
public readonly record struct RegionSummary(string Region, int BestEpoch, int Epochs, double BestValAccuracy, double ImagesPerSecond, int ResumedFromEpoch, double Temperature = 1,
    double Shrinkage = double.NaN, double HeadValAccuracy = double.NaN);

/// <summary>
/// Fine-tunes one net per facial region on syndrome labels and writes a run directory (see docs/run-directory.md):
/// <c>run.json</c>, <c>config.json</c>, <c>classes.json</c>, <c>regions.json</c>, <c>checkpoints/REGION/</c>,
/// <c>regions/REGION.pt|.onnx</c>, <c>curves/REGION.csv</c>, <c>ensemble.onnx</c> and <c>model.zip</c>. Running it again on
/// the same folder resumes an interrupted run (finished regions are reloaded, not retrained); a finished run asked for
/// with its own settings, data and backbone is loaded as it is, nothing written.
/// </summary>
public static class GestaltTraining
{
    /// <summary>
    /// Trains a new run from the start beside <paramref name="runDirectory"/> (in <c>RUN.training-afresh</c>) and puts it
    /// in that folder's place once it has finished. A training stopped or failed part-way leaves the last complete run
    /// where it was — what a notebook cell run again needs; <see cref="Train"/> itself resumes an interrupted run in place.
    /// Files and folders of the user's at the old run's top level (notes, exported figures, hidden files) move into the
    /// new one; what runs write is replaced whole, with anything put inside it (evaluations, <c>curves/</c>,
    /// <c>region_probabilities/</c>). The old run goes through <c>RUN.replaced</c>, deleted at the end. Stopped at any
    /// point, the next call finishes what the stopped one left (the new run into place, the files across) before it trains.
    /// </summary>
    /// <param name="alignedDirectory">Output of <c>gestaltlab align</c>, outside the run folder.</param>
    /// <param name="runDirectory">The run directory to replace (or create).</param>
    /// <param name="config">Net, training and regions; with <paramref name="pretrainedBackbone"/> the net config comes from the backbone.</param>
    /// <param name="pretrainedBackbone">Backbone file to fine-tune from (outside the run folder) — <see cref="ShippedBackbone.Path"/>
    /// for the one <c>gestaltlab train</c> uses — or null to train from scratch. Required, as for <see cref="Train"/>.</param>
    /// <param name="command">What made the run, as <c>run.json</c> records it (a notebook may name itself).</param>
    /// <param name="progress">One stage per region.</param>
    /// <param name="cancellationToken">Cancels between batches; the last complete run stays.</param>
    /// <returns>The new run, loaded from its final place.</returns>
    /// <exception cref="GestaltLabException">The data (or the photos it was aligned from) or the backbone lies inside the
    /// run folder (replacing it would delete them); RUN is a link, or holds files but is no run; <c>RUN.training-afresh</c> or <c>RUN.replaced</c> holds
    /// files no run writes (left by an earlier call that was killed: the message names them); another process is using
    /// one of the three folders.</exception>
    public static GestaltTrainingResult TrainAfresh(string alignedDirectory, string runDirectory, TrainConfig config, string? pretrainedBackbone,
        string command = "GestaltTraining.TrainAfresh", IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        string run = Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDirectory));
        string fresh = run + ".training-afresh", replaced = run + ".replaced";
        // Moving a link would move the link, not the run: the new run would land beside it and the old stay behind it.
        if (new DirectoryInfo(run).LinkTarget is { } target)
            throw new GestaltLabException($"{run}: a link (to {target}); training afresh moves folders", $"pass the folder itself: {Path.GetFullPath(target, Path.GetDirectoryName(run)!)}");
        // The photos the aligned folder was made from count too: a run's data/ folder is cleared with it.
        string? source = Regions.FaceDatasetAligner.DataFolderOf(alignedDirectory);
        foreach (var (input, what) in new[] { (alignedDirectory, "the data"), (source, "the photos the aligned data came from"), (pretrainedBackbone, "the backbone") })
        {
            if (input is null) continue;
            string full = Path.GetFullPath(input);
            if (new[] { run, fresh, replaced }.Any(f => RunFolder.IsWithin(full, f)))
                throw new GestaltLabException($"{input}: {what} lies inside {run}, which training afresh replaces (and so deletes)",
                    "move it out of the run folder, or call Train, which resumes the run in place");
        }
        // Held throughout (re-entrant: Train takes the new run's again): two trainings afresh, or a `train` of the run,
        // cannot interleave, and no other process reads RUN (loads its model, evaluates it) while it is replaced.
        using var runLock = FolderLock.Acquire(run, "train afresh");
        using var freshLock = FolderLock.Acquire(fresh, "train afresh");
        using var replacedLock = FolderLock.Acquire(replaced, "train afresh");
        foreach (var folder in new[] { run, fresh, replaced })
            if (File.Exists(folder)) throw new GestaltLabException($"{folder}: a file, where training afresh puts a run folder", "move it away, or pick another run directory");
        // What no run writes: the user's files, hidden ones too (a .gitkeep, an editor's notes), but for the run's marker,
        // the old model's evaluation record and the halves of killed writes.
        static List<string> Users(string folder) => RunFolder.Foreign(folder).Concat(Directory.EnumerateFileSystemEntries(folder).Select(e => Path.GetFileName(e))
            .Where(n => n.StartsWith('.') && n != RunFolder.Marker && n != RunFolder.EvaluationRecordName && !n.EndsWith(".tmp", StringComparison.Ordinal))).ToList();
        bool Finished(string folder) => File.Exists(Path.Combine(folder, GestaltModel.EnsembleFile));

        // An earlier call stopped part-way is finished first. Between the moves at the end: the new run to its place (also
        // from RUN.new, where notebooks before this method kept theirs). During the carrying of the user's files, or the
        // deletion of the old run: the rest of the files across, the old run away.
        foreach (var waiting in new[] { fresh, run + ".new" })
            if (!Directory.Exists(run) && Finished(waiting) && (waiting == fresh || RunFolder.IsRun(waiting))) Directory.Move(waiting, run);
        if (Directory.Exists(replaced) && Directory.Exists(run) && Finished(run) && !Directory.Exists(fresh))
            CarryAcross(replaced, run, Users(replaced));
        if (Directory.Exists(run) && Directory.EnumerateFileSystemEntries(run).Any(e => !Path.GetFileName(e).StartsWith('.')) && !RunFolder.IsRun(run))
            throw new GestaltLabException($"{run}: holds files that are not a run's", "pick another run directory");
        // The two working folders now hold a run being trained, or what is left of one whose deletion was stopped: only
        // what runs write. Files of the user's there are never deleted.
        foreach (var folder in new[] { fresh, replaced })
            if (Directory.Exists(folder) && Users(folder) is { Count: > 0 } foreign)
                throw new GestaltLabException($"{folder}: holds files no run writes ({string.Join(", ", foreign.Take(3))}), left by an earlier training afresh that was stopped",
                    Directory.Exists(run) ? $"move them where you want them (into {run}, say) and run again" : $"move them out of {folder} and run again");
        if (Directory.Exists(fresh)) Directory.Delete(fresh, recursive: true);
        if (Directory.Exists(replaced)) Directory.Delete(replaced, recursive: true);

        var trained = Train(alignedDirectory, fresh, config, pretrainedBackbone, command, progress, cancellationToken);
        // Its nets know the folder they were trained in; the result is loaded again from the final one.
        trained.Model.Dispose();
        // Moves are instant and deleting is not, so the old run is moved aside first and deleted last; the user's files
        // cross from it only once the new run is in place (stopped before, they are still in the old run, never deleted).
        if (Directory.Exists(run)) Directory.Move(run, replaced);
        Directory.Move(fresh, run);
        var kept = Directory.Exists(replaced) ? Users(replaced) : [];
        if (Directory.Exists(replaced)) CarryAcross(replaced, run, kept);
        return trained with
        {
            RunDirectory = run,
            Model = GestaltModel.Load(run),
            ModelZip = trained.ModelZip is null ? null : Path.Combine(run, Path.GetRelativePath(fresh, trained.ModelZip)),
            Notes = kept.Count == 0 ? trained.Notes : [.. trained.Notes, $"kept from the run it replaced: {string.Join(", ", kept)}"],
        };
    }

    /// <summary>
    /// Moves <paramref name="names"/> (the user's entries) from the replaced run into the new one, then deletes the
    /// replaced run — unless a name is taken in the new run, in which case both stay and the message says so.
    /// </summary>
    private static void CarryAcross(string replaced, string run, IReadOnlyList<string> names)
    {
        foreach (var name in names)
        {
            string from = Path.Combine(replaced, name), to = Path.Combine(run, name);
            if (File.Exists(to) || Directory.Exists(to))
                throw new GestaltLabException($"{from}: yours, kept from the run {run} replaced, but {to} exists too", $"move {from} where you want it and run again");
            if (Directory.Exists(from)) Directory.Move(from, to); else File.Move(from, to);
        }
        Directory.Delete(replaced, recursive: true);
    }

    /// <summary>
    /// Refuses more frozen stages than the net that trains has (they would freeze nothing more, silently): the config's
    /// net, or <paramref name="backbone"/>'s shape when fine-tuning from one (<see cref="Pretraining.FineTuneConfig"/>).
    /// <see cref="Train"/> checks it; a caller that makes the run folder first (the CLI aligns into it) checks it before.
    /// </summary>
    /// <param name="config">The training config.</param>
    /// <param name="backbone">The backbone's net config when fine-tuning from one; null from scratch.</param>
    /// <exception cref="GestaltLabException">freeze_stages exceeds the training net's stages.</exception>
    public static void CheckFrozenStages(TrainConfig config, RegionNetConfig? backbone)
    {
        var net = backbone is null ? config.Net : Pretraining.FineTuneConfig(backbone, config.Net).Config;
        if (config.Training.FreezeStages > net.Stages)
            throw new GestaltLabException($"training config: freeze_stages {config.Training.FreezeStages} is more than the net's {net.Stages} stages");
    }

    /// <summary>Trains every region of <paramref name="config"/> on an aligned data folder.</summary>
    /// <param name="alignedDirectory">Output of <c>gestaltlab align</c> (manifest with train/val/test splits by subject).</param>
    /// <param name="runDirectory">Run directory to write (or resume).</param>
    /// <param name="config">Net, training and regions; with <paramref name="pretrainedBackbone"/> the net config comes from the backbone.</param>
    /// <param name="pretrainedBackbone">Backbone file to fine-tune from — <see cref="ShippedBackbone.Path"/> for the one
    /// <c>gestaltlab train</c> uses — or null to train from scratch (markedly weaker on small data: 24 % against 42 % top-1
    /// on the demo). Required, so that neither is chosen by leaving it out.</param>
    /// <param name="command">What made the run, as <c>run.json</c> records it (the CLI passes <c>gestaltlab train</c>; a
    /// notebook may name itself).</param>
    /// <param name="progress">One stage per region.</param>
    /// <param name="cancellationToken">Cancels between batches; run again to resume.</param>
    public static GestaltTrainingResult Train(string alignedDirectory, string runDirectory, TrainConfig config, string? pretrainedBackbone,
        string command = "GestaltTraining.Train", IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        TorchRuntime.EnsureLoaded();
        config.Validate("training config");
        var notes = new List<string>();
        string run = Path.GetFullPath(runDirectory);
        // The run's lock first (taking it neither makes nor writes the folder): the data may lie inside the run (RUN/aligned),
        // which a `train --force` of it elsewhere would be deleting. Then what the data alone refuses is refused before the
        // run folder is made or marked (one left holding only its marker would say nothing).
        using var folderLock = FolderLock.Acquire(run, "train");
        // The data is read throughout (crops epoch after epoch): an `align --force` into it meanwhile would train the nets
        // on a mix of two alignments, recorded under the new one's hash. Readers share it; an alignment meanwhile is refused.
        using var dataLock = FolderLock.AcquireData(alignedDirectory, "train on", shared: true);
        // A person (or family) on both sides of a split would be recognised rather than diagnosed, and every figure
        // measured on the test split inflated.
        var manifest = Manifest.Load(alignedDirectory);
        Splits.EnsureNoLeaks(manifest);
        var probe = new AlignedRegionDataset(alignedDirectory, splits: [SplitNames.Train]);
        var data = new AlignedRegionDataset(alignedDirectory, probe.Classes, [SplitNames.Train, SplitNames.Val]);
        if (data.Classes.Count < 2) throw new GestaltLabException($"{alignedDirectory}: {data.Classes.Count} syndrome(s) in the train split; at least 2 are needed");
        // The model knows the syndromes it trains on: one with photos only in val or test is left out, and said so
        // (its test photos are then skipped by evaluations, counted as such).
        var untrained = manifest.Rows.Where(r => r.IsLabelled && r.Split is SplitNames.Val or SplitNames.Test).Select(r => r.Syndrome)
            .Except(probe.Classes, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (untrained.Count > 0)
            notes.Add($"{untrained.Count} syndrome(s) with no training photos left out of the model: {string.Join(", ", untrained.Take(5))}{(untrained.Count > 5 ? ", …" : "")}");
        // A blank syndrome cell leaves its photo out, silently otherwise (a whole syndrome's, when its name was cleared).
        if (manifest.Rows.Where(r => r.Split is SplitNames.Train or SplitNames.Val && !r.IsLabelled).ToList() is { Count: > 0 } unlabelled)
            notes.Add($"{unlabelled.Count} train/val photo(s) without a syndrome in the manifest (a blank cell) left out of training, e.g. {unlabelled[0].Image}");
        // A manifest written by hand never met `gestaltlab manifest`'s review: "Kabuki" and "kabuki" would be two classes.
        notes.AddRange(ManifestReview.SpellingVariants(manifest.Rows, ["syndrome"]));
        var regions = config.Regions ?? data.Regions;
        foreach (var r in regions) _ = data.RegionSet[r];
        config = config with { Regions = regions.ToList() };
        // The heads and the ensemble after the nets are computed with the nets' thread count too (the count shapes the
        // last bits); the caller's count comes back afterwards.
        using var threads = TorchRuntime.UseThreads(config.Training.Threads);
        Dictionary<string, TorchSharp.torch.Tensor>? backbone = null;
        // How notes and run.json name the backbone: the shipped one as such, not by its temp-folder copy.
        string? backboneName = pretrainedBackbone is null ? null
            : ShippedBackbone.Is(pretrainedBackbone) ? ShippedBackbone.Description : Path.GetFullPath(pretrainedBackbone);
        try
        {
            if (pretrainedBackbone is not null)
            {
                var (backboneConfig, weights) = Pretraining.LoadBackbone(pretrainedBackbone);
                backbone = weights;
                var (netConfig, note) = Pretraining.FineTuneConfig(backboneConfig, config.Net, backboneName, config.NetKeys);
                if (note is not null) notes.Add(note);
                config = config with { Net = netConfig };
            }
            config.Validate("training config");
            CheckFrozenStages(config, backbone: null);   // config.Net is the backbone's shape already
            // Checked before anything is written into RUN, so that a corrected config is not refused as "another configuration".
            if (data.CropSize != config.Net.InputSize)
                throw new GestaltLabException($"{alignedDirectory}: crops are {data.CropSize} px but the net expects {config.Net.InputSize} px",
                    $"align with --crop-size {config.Net.InputSize} (in C#: FacePipelineOptions.Regions = RegionSet.Default.WithSize({config.Net.InputSize})), or set net.input_size to {data.CropSize}");
            // Only now is the run folder made and marked: a config refused above leaves none behind (a new folder holding
            // only its marker would then be taken for a run).
            // A folder of the user's is never written into (nor, being marked, later deleted as a run by --force).
            RunFolder.Prepare(run);
            // Hidden halves of files a killed run was writing (a net, ensemble.onnx, model.zip: megabytes each).
            AtomicFile.RemoveLeftovers(run);
            AtomicFile.RemoveLeftovers(Path.Combine(run, "regions"));

            string configJson = config.ToJson();
            string configPath = Path.Combine(run, "config.json");
            // The backbone file is identified by content: the same path may hold another backbone later (a new shipped one).
            string? backboneHash = pretrainedBackbone is null ? null : RunManifest.ComputeFileHash(pretrainedBackbone);
            string runJson = Path.Combine(run, RunManifest.FileName);
            // A run taken up again: its record and its configuration, read once for the checks below (null for a new run;
            // a config.json that does not parse is null too, and refused as another configuration).
            var earlier = File.Exists(configPath) && File.Exists(runJson) ? RunManifest.Load(run) : null;
            // Trained nets or checkpoints whose record is gone (a start-over killed part-way, files deleted by hand) would
            // be resumed on whatever data is given now, unchecked: their data, backbone and classes are no longer known.
            if (earlier is null && new[] { "checkpoints", "regions" }.Select(d => Path.Combine(run, d)).FirstOrDefault(d => Directory.Exists(d) && Directory.EnumerateFileSystemEntries(d).Any()) is { } orphan)
                throw new GestaltLabException($"{run}: holds {Path.GetFileName(orphan)}/ without the run's run.json and config.json (a start-over stopped part-way?): what they were trained on is unknown",
                    "train with --force to start over (in C#: GestaltTraining.TrainAfresh)");
            var (savedConfig, unreadableConfig) = File.Exists(configPath) ? LoadSavedConfig(configPath) : (null, null);
            // (Runs written before the hash was recorded lack the key and resume as before.)
            if (earlier?.Config is JsonObject previous
                && previous.TryGetPropertyValue("pretrained_sha256", out var recorded) && recorded?.GetValue<string>() != backboneHash)
            {
                static string Name(string? hash) => hash is null ? "none (from scratch)" : $"sha256 {hash[..16]}…";
                throw new GestaltLabException($"{run}: holds a run fine-tuned from another backbone ({Name(recorded?.GetValue<string>())}; now {Name(backboneHash)})",
                    "resume with the backbone it started from (`train --pretrained FILE`, or `--from-scratch` for none), or choose a new --out folder");
            }
            // Compared as parsed configs, so that a run written before a setting existed (absent = its default) still resumes.
            // The priors only shape what is fitted after the nets and the exported graph, so a finished run may switch them:
            // training again reloads the nets, refits the heads and priors, and exports ensemble.onnx and model.zip anew
            // (SavedConfigJson says what else may differ).
            if (File.Exists(configPath) && (savedConfig is null ? null : SavedConfigJson(savedConfig, config)) is var savedJson && savedJson != configJson)
            {
                var differs = savedJson is null ? [] : ConfigDifferences(JsonNode.Parse(savedJson), JsonNode.Parse(configJson), "").ToList();
                throw new GestaltLabException(unreadableConfig is not null
                    ? $"{run}: its config.json cannot be read as a training config ({unreadableConfig}), so the run cannot be resumed with it"
                    : $"{run}: holds a run with another configuration (config.json differs" +
                    (differs.Count == 0 ? ")" : $": {string.Join("; ", differs.Take(4))}{(differs.Count > 4 ? "; …" : "")})"),
                    "resume it with its own settings (its config.json), start it over (`train --force`; in C#, GestaltTraining.TrainAfresh), or choose a new --out folder");
            }
            // Checkpoints and finished nets belong to the crops they were trained on: a run resumed on other data (another
            // folder with the same syndromes, or the same photos aligned again another way) would silently mix the two.
            string dataHash = data.ContentHash();
            if (earlier is { DataHash: { } recordedData } && recordedData != dataHash && !LegacyDataHashMatches(earlier, recordedData, data.Root))
                throw new GestaltLabException($"{run}: holds a run trained on other data ({data.Root} changed since, or is another folder: its content hash differs)",
                    "resume with the aligned data it started from, or choose a new --out folder (`train --force` starts over; in C#: GestaltTraining.TrainAfresh)");
            var classesJson = JsonSerializer.Serialize(data.Classes);
            string classesPath = Path.Combine(run, "classes.json");
            if (File.Exists(classesPath) && File.ReadAllText(classesPath) != classesJson)
                throw new GestaltLabException($"{run}: holds a run over other classes (classes.json differs)", "choose a new --out folder");
            // A finished run asked for again with its own settings, data and backbone (a notebook cell or a script run twice,
            // `demo` again) is loaded as it is: refitting its heads would write the same files again (to the last bits,
            // which only another thread count changes) after minutes of passes over the photos.
            if (earlier is not null && AlreadyTrained(run, regions, config.Priors) is { } done)
            {
                notes.Add("already trained on this data with these settings: loaded as it is, nothing trained or written again (--force, in C# GestaltTraining.TrainAfresh, trains it afresh)");
                // Said where the work would have shown (a notebook cell prints progress, not the result's notes).
                progress?.Report(new ProgressUpdate("train", 1, 1, "already trained on this data with these settings: loaded as it is"));
                return new GestaltTrainingResult(run, done.Model, done.Regions, File.Exists(Path.Combine(run, "model.zip")) ? Path.Combine(run, "model.zip") : null, notes);
            }
            // config.json keeps the thread counts the run was first trained with: resumed with others (allowed), the later
            // epochs round differently, and run.json's threads_used lists every count that trained it, in order.
            string recordedConfig = configJson;
            if (savedConfig?.Training is { } saved)
                recordedConfig = (config with { Training = config.Training with { Threads = saved.Threads, LoaderThreads = saved.LoaderThreads } }).ToJson();
            int threadsNow = TorchSharp.torch.get_num_threads();   // the count UseThreads above left in force
            var (threadsUsed, threadsFromBefore) = earlier?.ThreadsUsed() ?? ([], null);
            // A run recorded before threads_used existed: its first sessions used what its config.json says (when it
            // names a count; 0 left libtorch's default, which is not known now).
            if (earlier is not null && threadsUsed.Count == 0 && savedConfig?.Training is { Threads: > 0 } first)
                threadsUsed.Add(first.Threads);
            // Where each count took over (the epoch each region's net had reached), so a run resumed with another count
            // can be repeated from its folder: the first from the start, each later one from its session's resume point.
            var threadsFrom = threadsFromBefore is { } fromBefore && fromBefore.Count == threadsUsed.Count
                ? fromBefore : new JsonArray(threadsUsed.Select(_ => (JsonNode?)null).ToArray());
            if (threadsUsed.Count == 0 || threadsUsed[^1]?.GetValue<int>() != threadsNow)
            {
                threadsUsed.Add(threadsNow);
                threadsFrom.Add(new JsonObject(regions.Select(r => KeyValuePair.Create(r,
                    (JsonNode?)(RegionTrainer.LatestCheckpoint(Path.Combine(run, "checkpoints", r)) is { } latest ? int.Parse(Path.GetFileNameWithoutExtension(latest)[6..], CultureInfo.InvariantCulture) : 0)))));
            }
            AtomicFile.WriteAllText(configPath, recordedConfig);
            AtomicFile.WriteAllText(classesPath, classesJson);
            AtomicFile.WriteAllText(Path.Combine(run, "regions.json"), data.RegionSet.ToJson());
            new RunManifest
            {
                // A run taken up again keeps the time it was created; the new record says when it resumed.
                Command = command, Seed = config.Training.Seed,
                CreatedUtc = earlier?.CreatedUtc ?? DateTime.UtcNow.ToString("O"),
                ResumedUtc = earlier is null ? null : DateTime.UtcNow.ToString("O"),
                Config = new JsonObject
                {
                    ["train"] = JsonNode.Parse(recordedConfig), ["data"] = data.Root, ["pretrained"] = backboneName,
                    ["pretrained_sha256"] = backboneHash, ["data_hash"] = AlignedRegionDataset.ContentHashKind,
                    ["threads_used"] = threadsUsed, ["threads_from"] = threadsFrom,
                    // How the data was made, when the generator made it: what repeating the run from its folder needs.
                    ["data_generator"] = DataGenerator(data.Root),
                    // How the photos were aligned (detector or ground truth, landmark model and its hash, confidence, sizes):
                    // a run trained on a folder aligned beforehand holds no copy of it, and repeating the run needs it.
                    ["alignment"] = Alignment(data.Root),
                },
                DataHash = dataHash,
            }.Save(run);

            var train = Enumerable.Range(0, data.Count).Where(i => data.Rows[i].Split == SplitNames.Train).ToArray();
            var val = Enumerable.Range(0, data.Count).Where(i => data.Rows[i].Split == SplitNames.Val).ToArray();
            if (val.Length == 0)
            {
                (train, val) = RegionTrainer.SplitByGroup(data, train, config.Training.ValFraction, config.Training.Seed);
                notes.Add($"no val split in the data: held out {val.Length} photos of other subjects from train for validation");
            }
            // The epochs kept, the heads' shrinkage and the probabilities' temperature are all chosen on these photos.
            if (val.Length < 30)
                notes.Add($"only {val.Length} validation photo(s): the best epochs and how sure the probabilities are were judged on them, so read predictions' percentages with care (more people in the val split steady them)");

            var nets = new List<(string, RegionNet)>();
            var summaries = new Dictionary<string, RegionSummary>();
            bool joint = config.Combination == EnsembleCombination.Joint, lda = config.Head == TrainConfig.HeadLda;
            // Region → training photos' embeddings as prediction computes them, kept for the joint head.
            var jointTrain = new Dictionary<string, float[][]>(StringComparer.Ordinal);
            try
            {
                foreach (var region in regions)
                {
                    // A flipped crop of a left region is its right mirror's crop: keep both cached, free the rest.
                    data.RetainCache([region, data.MirrorOf(region)]);
                    var regionData = new RegionTrainingData(data, region, train, val, data.Classes.Count);
                    var result = RegionTrainer.Train(regionData, config.Net, config.Training,
                        Path.Combine(run, "checkpoints", region), backbone, progress, cancellationToken);
                    nets.Add((region, result.Net));
                    DiscriminantHead.Fit? head = null;
                    if (lda || joint)
                    {
                        // One pass over the training photos serves both heads: the embedding is final once the net is trained.
                        string stage = lda ? $"{region} lda head" : $"{region} embeddings";
                        var (embeddings, labels) = TrainingEmbeddings(result.Net, regionData, config.Training, stage, lda ? val.Length : 0, progress, cancellationToken);
                        if (lda) head = FitDiscriminantHead(result.Net, regionData, embeddings, labels, config.Training, config.TtaFlip, stage, progress);
                        if (joint) jointTrain[region] = PredictionEmbeddings(embeddings, train.Length, config.TtaFlip);
                    }
                    double temperature = 1;
                    if (config.Calibrate && val.Length > 0)
                    {
                        // Fitted for what prediction outputs: with flip TTA, the average of the photo's and its mirror's softmax;
                        // smoothed as the joint head's is, so a few validation photos all ranked right do not make a region's
                        // contribution read 100 %.
                        temperature = Calibration.FitTemperatureSmoothed(RegionTrainer.ValidationLogits(result.Net, regionData, config.Training),
                            config.TtaFlip ? RegionTrainer.ValidationLogits(result.Net, regionData, config.Training, flip: true) : null,
                            val.Select(data.Label).ToArray());
                        Calibration.FoldTemperature(result.Net, temperature);
                    }
                    RegionTrainer.WriteCurve(Path.Combine(run, "curves", region + ".csv"), result.Curve);
                    WeightsFile.Save(Path.Combine(run, "regions", region + ".pt"),
                        RegionTrainer.Meta(config.Net, data.Classes.Count, result.BestEpoch, temperature, head?.Shrinkage, head?.ValidationAccuracy), result.Net.state_dict());
                    AtomicFile.WriteAllBytes(Path.Combine(run, "regions", region + ".onnx"), OnnxExporter.ExportRegion(result.Net, region));
                    double bestAcc = result.Curve.Where(c => c.Epoch == result.BestEpoch).Select(c => c.ValAccuracy).DefaultIfEmpty(double.NaN).First();
                    summaries[region] = new RegionSummary(region, result.BestEpoch, result.Curve.Count, bestAcc, result.ImagesPerSecond, result.ResumedFromEpoch, temperature,
                        head?.Shrinkage ?? double.NaN, head?.ValidationAccuracy ?? double.NaN);
                }
            }
            catch
            {
                foreach (var (_, n) in nets) n.Dispose();
                throw;
            }
            // The last region's training crops are not read again (the ensemble reads validation crops once): freed before
            // the stages that hold every region's embeddings, where the process peaks.
            data.RetainCache([]);
            // The joint head's model weighs the regions' support for a class with the log-linear pool's weights.
            string pool = config.Combination == EnsembleCombination.Joint ? EnsembleCombination.LogLinear : config.Combination;
            var model = new GestaltModel(nets, data.Classes, data.RegionSet, config.TtaFlip, combination: pool);
            IReadOnlyList<GestaltPrediction>? valPredictions = null;
            if (config.Calibrate && val.Length > 0 && nets.Count > 1)
            {
                // Region weights, fitted on the validation photos through the same inference as prediction (TTA included).
                valPredictions = model.Predict(data, val, progress, "ensemble weights", cancellationToken);
                data.RetainCache([]);   // read once: the outputs are kept, the crops need not be
                var regionProbs = model.Regions.Select(r => (IReadOnlyList<float[]>)valPredictions.Select(p => p.RegionProbabilities[r]).ToList()).ToList();
                var labels = val.Select(data.Label).ToArray();
                double[]? fitted = pool == EnsembleCombination.LogLinear
                    ? Calibration.FitLogLinearWeights(regionProbs, labels)
                    : Calibration.FitMixtureWeights(regionProbs, labels);
                if (fitted.Sum() <= 0) fitted = null; // nothing to learn from: keep equal weights
                model = new GestaltModel(nets, data.Classes, data.RegionSet, config.TtaFlip,
                    fitted is null ? null : model.Regions.Select((r, k) => (r, fitted[k])).ToDictionary(t => t.r, t => t.Item2), pool);
                progress?.Report(new ProgressUpdate("ensemble weights", val.Length, val.Length, string.Join(", ", model.RegionWeights.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:F2}")))));
            }
            // The nets' validation outputs serve the joint head and the priors' strength; computed once.
            if (val.Length > 0) valPredictions ??= model.Predict(data, val, progress, "validation", cancellationToken);
            // Between the stages after the nets too (on small data each is one batch, with no check inside): a stop here
            // keeps the trained nets, and the same command run again fits what follows.
            cancellationToken.ThrowIfCancellationRequested();
            if (config.Combination == EnsembleCombination.Joint)
            {
                var head = FitJointHead(model, jointTrain, data, train, val, valPredictions, progress, cancellationToken);
                model = new GestaltModel(nets, data.Classes, data.RegionSet, config.TtaFlip, model.RegionWeights, EnsembleCombination.Joint, head);
            }
            // Recorded whatever the config says, so that the run can also be evaluated with the other priors.
            var final = model;
            var priors = ClassPriors.Fit(train.Select(data.Label).ToArray(), data.Classes.Count,
                valPredictions?.Select(final.EqualPriorProbabilities).ToArray() ?? [], val.Select(data.Label).ToArray());
            model = new GestaltModel(nets, data.Classes, data.RegionSet, config.TtaFlip, model.RegionWeights, model.Combination, model.JointHead, priors, config.Priors)
                { Directory = Path.GetFullPath(run) };
            progress?.Report(new ProgressUpdate("class priors", 1, 1, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{config.Priors}; training frequencies {priors.Frequencies.Min():P2}–{priors.Frequencies.Max():P2}, strength {priors.Strength:F2}")));
            // ensemble.json marks the run finished (without it the run does not load), so it goes first and comes back
            // last: a kill while the exports are written leaves a run that says it is unfinished, never one whose
            // ensemble.onnx or model.zip is missing or still an earlier fit's (a priors-only re-run rewrites all three).
            cancellationToken.ThrowIfCancellationRequested();
            File.Delete(Path.Combine(run, GestaltModel.EnsembleFile));
            AtomicFile.WriteAllBytes(Path.Combine(run, "ensemble.onnx"), model.ExportOnnx());
            string? zip = Path.Combine(run, "model.zip");
            try
            {
                progress?.Report(new ProgressUpdate("save model.zip", 0, 1));
                GestaltPipeline.Save(model, zip);
                progress?.Report(new ProgressUpdate("save model.zip", 1, 1));
            }
            // A model ML.NET cannot hold is a note (the run works without model.zip); a disk that is full or read-only is the
            // command's failure: the run stays unfinished (no ensemble.json yet), and the same command run again writes it.
            catch (GestaltLabException e) when (e.InnerException is not IOException)
            {
                notes.Add("model.zip not written: " + e.Message.Split('\n')[0]);
                // An earlier fit's would pass for this one's.
                File.Delete(zip);
                zip = null;
            }
            // With the files it was fitted with and to, by content: a config.json edited by hand since (another combination,
            // head or TTA, to refit on the trained nets), a net or export cut short or swapped for another run's, is then
            // not taken for this fit's by a training run again on the finished run.
            model.SaveWeights(run, [.. FittedFiles(regions), .. (zip is null ? Array.Empty<string>() : ["model.zip"])]);
            // A report made of this run before this fit (of the unfinished run, which it says did not finish, or of an
            // earlier fit) would pass for this one's.
            if (File.Exists(Path.Combine(run, Figures.Report.FileName)))
                notes.Add($"{Figures.Report.FileName} was made before this training finished and shows the run as it was then: `gestaltlab report --run {run}` makes it again");
            return new GestaltTrainingResult(run, model, summaries, zip, notes);
        }
        finally
        {
            if (backbone is not null) foreach (var t in backbone.Values) t.Dispose();
        }
    }

    /// <summary>
    /// The finished run in <paramref name="run"/> and what its files record of each region's training, when every file its
    /// ensemble was fitted with and to is as it was then (<see cref="GestaltModel.FittedFilesChanged"/>: config, nets,
    /// exports, by content) and it was fitted with <paramref name="priors"/>; otherwise null (training again then
    /// finishes, mends or refits it). The caller has checked the run's config, data and backbone.
    /// </summary>
    private static (GestaltModel Model, Dictionary<string, RegionSummary> Regions)? AlreadyTrained(string run, IReadOnlyList<string> regions, string priors)
    {
        // Every file the fit was made with and to, as it was (runs from before this was recorded are refitted once, and
        // record it); their own nets' files among them. (No ensemble.json reads as changed.)
        if (GestaltModel.FittedFilesChanged(run, FittedFiles(regions)) is not null) return null;
        GestaltModel? model = null;
        try
        {
            var summaries = new Dictionary<string, RegionSummary>(StringComparer.Ordinal);
            foreach (var region in regions)
            {
                if (RegionTrainer.CheckpointRecord(Path.Combine(run, "checkpoints", region)) is not { } record) return null;
                var (curve, bestEpoch) = record;
                var meta = JsonNode.Parse(WeightsFile.ReadMetadata(Path.Combine(run, "regions", region + ".pt")))!;
                double bestAcc = curve.Where(c => c.Epoch == bestEpoch).Select(c => c.ValAccuracy).DefaultIfEmpty(double.NaN).First();
                summaries[region] = new RegionSummary(region, bestEpoch, curve.Count, bestAcc, ImagesPerSecond: 0, ResumedFromEpoch: curve.Count,
                    (double?)meta["temperature"] ?? 1, (double?)meta["lda_shrinkage"] ?? double.NaN, (double?)meta["lda_val_acc"] ?? double.NaN);
            }
            // The run's lock is held already (exclusively, by Train).
            model = GestaltModel.Load(run, null, takeLock: false);
            // A priors switch stopped while it refitted leaves config.json with the new priors and the old ensemble.
            if (model.Priors != priors) { model.Dispose(); return null; }
            // A model.zip cut short (a copy stopped part-way) is written anew; gone, it is written again too, unless the
            // model can have none (crops the ML.NET step does not cut: the first fit said so).
            string zipFile = Path.Combine(run, "model.zip");
            if (File.Exists(zipFile) ? !GestaltPipeline.ClassNames(zipFile).SequenceEqual(model.Classes, StringComparer.Ordinal) : GestaltPipeline.WhyNoZip(model) is null)
            {
                model.Dispose();
                return null;
            }
            return (model, summaries);
        }
        catch (Exception e) when (e is GestaltLabException or JsonException or InvalidOperationException or FormatException)
        {
            model?.Dispose();
            return null;
        }
    }

    // The files every fit of these regions is made with and to, as ensemble.json's fitted_files records them (model.zip
    // besides, when the model can have one). Not the curves, whose timing column differs between two trainings that give
    // the same model byte for byte, nor regions.json, which names the folder it was read from: ensemble.json stays the
    // same for the same training.
    private static string[] FittedFiles(IReadOnlyList<string> regions) =>
        ["config.json", "classes.json", "ensemble.onnx", .. regions.SelectMany(r => new[] { $"regions/{r}.pt", $"regions/{r}.onnx" })];

    /// <summary>
    /// Embeddings of the training photos and of their mirror images (the mirror region's crop, flipped, as flip TTA and
    /// the flip augmentation show it): all unflipped first, then all flipped, with their labels. Progress goes to
    /// <paramref name="stage"/> out of 2 × training photos + <paramref name="moreToCome"/>.
    /// </summary>
    private static (List<float[]> Embeddings, List<int> Labels) TrainingEmbeddings(RegionNet net, RegionTrainingData data, TrainingOptions options,
        string stage, int moreToCome, IProgress<ProgressUpdate>? progress, CancellationToken cancellationToken)
    {
        int total = 2 * data.Train.Count + moreToCome, done = 0;
        var embeddings = new List<float[]>(2 * data.Train.Count);
        var labels = new List<int>(2 * data.Train.Count);
        // In chunks, so that progress moves and a cancel is heard within seconds on large data sets.
        const int chunk = 2048;
        foreach (bool flip in new[] { false, true })
            for (int start = 0; start < data.Train.Count; start += chunk)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var part = data.Train.Skip(start).Take(chunk).ToArray();
                embeddings.AddRange(RegionTrainer.Embeddings(net, data, part, flip, options));
                labels.AddRange(part.Select(data.Samples.Label));
                done += part.Length;
                progress?.Report(new ProgressUpdate(stage, done, total));
            }
        return (embeddings, labels);
    }

    /// <summary>What prediction computes for each training photo from <see cref="TrainingEmbeddings"/>: the mean of its unflipped and flipped embeddings with flip TTA, the unflipped one without.</summary>
    private static float[][] PredictionEmbeddings(List<float[]> embeddings, int count, bool flipTta) =>
        Enumerable.Range(0, count).Select(i =>
        {
            if (!flipTta) return embeddings[i];
            float[] a = embeddings[i], b = embeddings[count + i], mean = new float[a.Length];
            for (int j = 0; j < a.Length; j++) mean[j] = (a[j] + b[j]) * 0.5f;
            return mean;
        }).ToArray();

    /// <summary>
    /// Refits <paramref name="net"/>'s classifier as shrinkage LDA on <see cref="TrainingEmbeddings"/> (flip is an
    /// augmentation the net was trained with, and half of what flip TTA shows it), shrinkage chosen on the validation photos.
    /// </summary>
    private static DiscriminantHead.Fit FitDiscriminantHead(RegionNet net, RegionTrainingData data, List<float[]> embeddings, List<int> labels,
        TrainingOptions options, bool ttaFlip, string stage, IProgress<ProgressUpdate>? progress)
    {
        int total = 2 * data.Train.Count + data.Val.Count;
        var val = RegionTrainer.Embeddings(net, data, data.Val, flip: false, options);
        var valFlipped = ttaFlip ? RegionTrainer.Embeddings(net, data, data.Val, flip: true, options) : null;
        var fit = DiscriminantHead.FitSelected(embeddings, labels, data.ClassCount, val, data.Val.Select(data.Samples.Label).ToArray(), valFlipped);
        DiscriminantHead.Install(net, fit);
        progress?.Report(new ProgressUpdate(stage, total, total,
            double.IsNaN(fit.ValidationAccuracy) ? FormattableString.Invariant($"shrinkage {fit.Shrinkage:F2}") : FormattableString.Invariant($"shrinkage {fit.Shrinkage:F2}, val acc {fit.ValidationAccuracy:P1}")));
        return fit;
    }

    /// <summary>
    /// Fits the <see cref="JointHead"/> on the training photos' region embeddings (<paramref name="trainEmbeddings"/>,
    /// concatenated in the model's region order, as prediction concatenates them), with shrinkage and temperature chosen
    /// on the validation photos' predictions.
    /// </summary>
    private static JointHead FitJointHead(GestaltModel model, IReadOnlyDictionary<string, float[][]> trainEmbeddings, AlignedRegionDataset data,
        int[] train, int[] val, IReadOnlyList<GestaltPrediction>? valPredictions, IProgress<ProgressUpdate>? progress, CancellationToken cancellationToken)
    {
        const string stage = "joint head";
        progress?.Report(new ProgressUpdate(stage, 0, 1));
        var concatenated = Enumerable.Range(0, train.Length).Select(i => model.Regions.SelectMany(r => trainEmbeddings[r][i]).ToArray()).ToList();
        valPredictions ??= model.Predict(data, val, cancellationToken: cancellationToken);
        var head = JointHead.Fit(concatenated, train.Select(data.Label).ToArray(), data.Classes.Count,
            valPredictions.Select(p => p.Embedding).ToArray(), val.Select(data.Label).ToArray());
        progress?.Report(new ProgressUpdate(stage, 1, 1,
            val.Length == 0 ? FormattableString.Invariant($"shrinkage {head.Shrinkage:F2} (no validation photos)") : FormattableString.Invariant($"shrinkage {head.Shrinkage:F2}, temperature {head.Temperature:F2}")));
        return head;
    }

    // The generator's record of a synthetic data set (its dataset.json: preset, seed, scale, nuisance, image size,
    // catalog), found through the alignment's record of its source folder; null for other data or a moved source.
    private static JsonNode? DataGenerator(string alignedRoot)
    {
        JsonObject? record;
        try { record = Synthetic.SyntheticDataset.ReadRecord(FaceDatasetAligner.DataFolderOf(alignedRoot)); }
        catch (GestaltLabException) { return null; }
        if (record is null) return null;
        var kept = new JsonObject();
        foreach (var key in new[] { "generator", "preset", "seed", "scale", "nuisance", "image_size", "catalog", "catalog_sha256" })
            if (record[key] is { } value) kept[key] = value.DeepClone();
        return kept;
    }

    // The aligned folder's own record of its alignment (its run.json: command, settings, inputs' hash, GestaltLab's
    // version), or null when it has none.
    private static JsonNode? Alignment(string alignedRoot)
    {
        if (!File.Exists(Path.Combine(alignedRoot, RunManifest.FileName))) return null;
        RunManifest record;
        try { record = RunManifest.Load(alignedRoot); }
        catch (GestaltLabException) { return null; }
        return new JsonObject
        {
            ["command"] = record.Command, ["config"] = record.Config.DeepClone(), ["data_hash"] = record.DataHash,
            ["gestaltlab"] = record.Packages.TryGetValue("GestaltLab", out var v) ? v : null,
        };
    }

    // Runs trained before the data hash covered only what training reads recorded a hash of every file in the aligned
    // folder (with or without its run.json); they still resume on the same, unchanged folder.
    private static bool LegacyDataHashMatches(RunManifest recorded, string recordedHash, string alignedRoot) =>
        recorded.Config["data_hash"]?.GetValue<string>() != AlignedRegionDataset.ContentHashKind
        && (recordedHash == RunManifest.ComputeContentHash(alignedRoot) || recordedHash == RunManifest.ComputeDataHash(alignedRoot));

    // Where two configs differ, key by key ("training.epochs: 4 in the run, 6 now"), for the refusal to resume.
    private static IEnumerable<string> ConfigDifferences(JsonNode? was, JsonNode? now, string at)
    {
        if (was is JsonObject a && now is JsonObject b)
        {
            foreach (var key in a.Select(p => p.Key).Union(b.Select(p => p.Key)))
                foreach (var d in ConfigDifferences(a[key], b[key], at.Length == 0 ? key : $"{at}.{key}"))
                    yield return d;
        }
        else if (!JsonNode.DeepEquals(was, now))
            yield return $"{at}: {was?.ToJsonString() ?? "none"} in the run, {now?.ToJsonString() ?? "none"} now";
    }
    // A run's config.json, or why it cannot be read (a file edited by hand: said so, rather than "another configuration").
    private static (TrainConfig? Config, string? Problem) LoadSavedConfig(string path)
    {
        try { return (TrainConfig.Load(path, allowUnknownKeys: true), null); }
        catch (GestaltLabException e) { return (null, e.Message.Split('\n')[0].Replace(path + ": ", "", StringComparison.Ordinal)); }
    }

    // What may differ between a saved config and a resumed one: the priors (fitted after the nets, exported anew) and the
    // thread counts (loader threads fill separate slices; torch threads only change float rounding, so a run moved to a
    // machine with other cores resumes, deterministic again from there on).
    private static string SavedConfigJson(TrainConfig saved, TrainConfig current) =>
        (saved with
        {
            Priors = current.Priors,
            Training = saved.Training with { Threads = current.Training.Threads, LoaderThreads = current.Training.LoaderThreads },
        }).ToJson();
}
