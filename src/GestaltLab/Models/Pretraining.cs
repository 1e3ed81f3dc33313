using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Runtime;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>What <see cref="Pretraining.Pretrain"/> produced.</summary>
/// <param name="BackbonePath">The backbone file.</param>
/// <param name="Identities">Identities (classes) it learned.</param>
/// <param name="Curve">Per-epoch statistics.</param>
/// <param name="ValAccuracy">Identity accuracy on held-out photos of the same people (the kept epoch's).</param>
/// <param name="TestPhotosLeftOut">Test-split photos of a syndrome data set left out (see <see cref="Pretraining.Pretrain"/>); 0 for identity data.</param>
public sealed record PretrainingResult(string BackbonePath, int Identities, IReadOnlyList<EpochStats> Curve, double ValAccuracy, int TestPhotosLeftOut = 0);

/// <summary>
/// Face-recognition pretraining, DeepGestalt's CASIA-WebFace step: one backbone learns to tell people apart from crops of
/// every facial region (the synthetic <c>identities</c> preset: many people × several photos), so its features transfer
/// to every region net. The result is a backbone file (weights without the classifier head, plus its config).
/// </summary>
public static class Pretraining
{
    /// <summary>
    /// Pretrains on an aligned identities folder (labels = subjects; validation = held-out photos of the same people).
    /// Given a data set of syndromes instead (two or more syndromes labelled), its test split is left out: those are the
    /// people a model fine-tuned on that data is scored on, and a backbone that had learned their faces would flatter it.
    /// </summary>
    /// <param name="alignedDirectory">Output of <c>gestaltlab align</c> on an identities data set.</param>
    /// <param name="backbonePath">Where the backbone goes; checkpoints go beside it (<c>PATH.checkpoints/</c>) so it resumes, with
    /// the training curve (<c>curve.csv</c>, as <see cref="RegionTrainer.WriteCurve"/> writes it).</param>
    /// <param name="net">Architecture (its input size must match the crops).</param>
    /// <param name="options">Training settings (balanced sampling is irrelevant here).</param>
    /// <param name="progress">Stage <c>train all-regions</c>.</param>
    /// <param name="cancellationToken">Cancels between batches.</param>
    /// <param name="startOver">Delete the checkpoints of an earlier pretraining to this path first (a cell run again on
    /// freshly generated data, say) instead of resuming them — or being refused when their data or settings differ.</param>
    /// <param name="command">What made the backbone, as the record beside its checkpoints names it (the CLI passes
    /// <c>gestaltlab train --pretrain</c>).</param>
    public static PretrainingResult Pretrain(string alignedDirectory, string backbonePath, RegionNetConfig net, TrainingOptions options,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default, bool startOver = false,
        string command = "Pretraining.Pretrain")
    {
        var manifest = Manifest.Load(alignedDirectory);
        bool syndromes = manifest.Rows.Where(r => r.IsLabelled).Select(r => r.Syndrome).Distinct(StringComparer.Ordinal).Skip(1).Any();
        var data = new AlignedRegionDataset(alignedDirectory, splits: syndromes ? [SplitNames.Train, SplitNames.Val] : null, labelOf: r => r.Subject);
        // (The dataset would hold them as it holds the rest: every row with a subject.)
        int testLeftOut = syndromes ? manifest.Rows.Count(r => r.Split == SplitNames.Test && r.Subject.Length > 0) : 0;
        // Identity recognition: hold out one photo of each person with several photos (validation by photo, not by person).
        var byPerson = Enumerable.Range(0, data.Count).GroupBy(data.Label).ToList();
        var val = byPerson.Where(g => g.Count() > 2).Select(g => g.OrderBy(i => StableHash.Of(options.Seed, data.Rows[i].Image)).First()).ToHashSet();
        var train = Enumerable.Range(0, data.Count).Where(i => !val.Contains(i)).ToArray();
        string checkpoints = backbonePath + ".checkpoints";
        if (startOver && Directory.Exists(checkpoints))
        {
            // Only what a pretraining writes there (checkpoints, its best net, curve, settings and run record) is deleted.
            var other = Directory.EnumerateFileSystemEntries(checkpoints).Select(e => Path.GetFileName(e))
                .Where(n => !(n is "best.pt" or "curve.csv" or "settings.json" or "run.json" || System.Text.RegularExpressions.Regex.IsMatch(n, @"^epoch-\d+\.pt$")
                              || n.StartsWith('.') && n.EndsWith(".tmp", StringComparison.Ordinal))).ToList();
            if (other.Count > 0)
                throw new GestaltLabException($"{checkpoints}: holds files a pretraining does not write ({string.Join(", ", other.Take(3))}); starting over would delete them",
                    "move them away, or write the backbone to another path");
            Directory.Delete(checkpoints, recursive: true);
        }
        // The crops themselves: the same people cut with other regions, padding or landmarks are other data.
        string crops = data.ContentHash();
        CheckResumable(checkpoints, alignedDirectory, crops, data.Classes.Count, wholeFolder: testLeftOut == 0, net, options);
        // Held for the whole pretraining, so that the count recorded below is the one that trained (the trainer's own
        // scope would have given the caller's back by then).
        using var threads = TorchRuntime.UseThreads(options.Threads);
        var result = RegionTrainer.Train(new RegionTrainingData(data, null, train, val.Order().ToArray(), data.Classes.Count), net,
            options with { BalancedSampling = false }, checkpoints, null, progress, cancellationToken);
        RegionTrainer.WriteCurve(Path.Combine(checkpoints, "curve.csv"), result.Curve);
        using var model = result.Net;
        // Named by content, not by where it lay: the same pretraining in another folder gives the same backbone bytes.
        SaveBackbone(model, backbonePath, $"pretrained on {data.Classes.Count} identities ({data.Count} photos), data {DataIdentity(alignedDirectory)}");
        // How the backbone was made, beside its checkpoints (the backbone file itself stays deterministic: no clock in it).
        new RunManifest
        {
            Command = command, Seed = options.Seed,
            Config = new JsonObject
            {
                // As trained: identities are not balanced per class (each person's photos as they come).
                ["net"] = JsonNode.Parse(net.ToJson()), ["training"] = System.Text.Json.JsonSerializer.SerializeToNode(options with { BalancedSampling = false }),
                ["data"] = Path.GetFullPath(alignedDirectory), ["backbone"] = Path.GetFullPath(backbonePath),
                ["backbone_sha256"] = RunManifest.ComputeFileHash(backbonePath), ["crops_sha256"] = crops,
                // Another count rounds differently: the backbone's bytes depend on it.
                ["threads_used"] = ThreadsUsed(checkpoints, trainedNow: result.Curve.Count > result.ResumedFromEpoch),
            },
            DataHash = DataIdentity(alignedDirectory),
        }.Save(checkpoints);
        double bestVal = result.Curve.Where(c => c.Epoch == result.BestEpoch).Select(c => c.ValAccuracy).DefaultIfEmpty(double.NaN).First();
        return new PretrainingResult(backbonePath, data.Classes.Count, result.Curve, bestVal, testLeftOut);
    }

    /// <summary>
    /// Records what a pretraining's checkpoints belong to (<c>settings.json</c>: net, training settings, the aligned
    /// data's content hash) and refuses to resume checkpoints of another: a finished 6-epoch pretraining run again with
    /// 60 epochs, another seed or other people would otherwise return the old backbone, or mix the two.
    /// </summary>
    private static void CheckResumable(string checkpoints, string alignedDirectory, string crops, int identities, bool wholeFolder, RegionNetConfig net, TrainingOptions options)
    {
        var json = new System.Text.Json.JsonSerializerOptions { WriteIndented = true };
        var earlierForm = new JsonObject
        {
            ["net"] = JsonNode.Parse(net.ToJson()),
            // Thread counts change float rounding only, as for fine-tuning runs.
            ["training"] = System.Text.Json.JsonSerializer.SerializeToNode(options with { Threads = 0, LoaderThreads = 0 }),
            ["data_sha256"] = DataIdentity(alignedDirectory),
        };
        // As trained (identities are not balanced per class), with the crops' own hash.
        var current = (JsonObject)earlierForm.DeepClone();
        current["training"] = System.Text.Json.JsonSerializer.SerializeToNode(options with { Threads = 0, LoaderThreads = 0, BalancedSampling = false });
        current["crops_sha256"] = crops;
        // Recorded before the count of people was: the same people whenever the whole folder is used (identity data).
        string beforeIdentities = current.ToJsonString(json);
        // Which people: the same folder gives fewer when its test split is left out (a data set of syndromes).
        current["identities"] = identities;
        string settings = current.ToJsonString(json);
        string path = Path.Combine(checkpoints, "settings.json");
        // Checkpoints from before settings were recorded resume as they did; those recorded before the crops' hash or the
        // count of people was (same net, settings, manifest and photos) resume too, and are recorded anew.
        if (File.Exists(path) && File.ReadAllText(path) is var saved && saved != settings && saved != earlierForm.ToJsonString(json)
            && !(wholeFolder && saved == beforeIdentities))
            throw new GestaltLabException($"{checkpoints}: holds a pretraining with other settings or data ({path} differs: another net, training settings, people or crops)",
                $"delete {checkpoints} to start over, or write the backbone to another path");
        Directory.CreateDirectory(checkpoints);
        AtomicFile.WriteAllText(path, settings);
    }

    // The libtorch thread counts of the sessions that trained epochs, in order (a new entry when the count changed), from
    // the earlier record beside the checkpoints and this session's.
    private static JsonArray ThreadsUsed(string checkpoints, bool trainedNow)
    {
        var used = new JsonArray();
        try
        {
            if (File.Exists(Path.Combine(checkpoints, RunManifest.FileName))) used = RunManifest.Load(checkpoints).ThreadsUsed().Used;
        }
        catch (GestaltLabException) { }
        int now = get_num_threads();
        if (trainedNow && (used.Count == 0 || used[^1]!.GetValue<int>() != now)) used.Add(now);
        return used;
    }

    /// <summary>Saves a net's backbone (everything but the classifier head) with its config.</summary>
    public static void SaveBackbone(RegionNet net, string path, string description)
    {
        var meta = new JsonObject { ["kind"] = "gestaltlab-backbone", ["net"] = JsonNode.Parse(net.Config.ToJson()), ["description"] = description };
        WeightsFile.Save(path, meta.ToJsonString(), net.state_dict().Where(kv => !RegionNet.IsHead(kv.Key)));
    }

    /// <summary>
    /// The net to fine-tune from a backbone: the backbone's architecture, at the requested input size when the backbone
    /// pools globally (its weights are convolutions and do not depend on the image size; a <c>flatten</c> backbone's
    /// embedding layer does, so it keeps its own size). Returns a note when the requested config was not used as is.
    /// </summary>
    /// <param name="backbone">The backbone's net config.</param>
    /// <param name="requested">The training config's net.</param>
    /// <param name="backboneName">How the note names the backbone (its file); null: not named.</param>
    /// <param name="namedKeys">The <c>net</c> keys the config file names (<see cref="TrainConfig.NetKeys"/>): only those are
    /// said to have given way; null: the settings other than their defaults.</param>
    public static (RegionNetConfig Config, string? Note) FineTuneConfig(RegionNetConfig backbone, RegionNetConfig requested, string? backboneName = null,
        IReadOnlySet<string>? namedKeys = null)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(requested);
        var config = backbone.Pooling == RegionNetConfig.PoolingAverage ? backbone with { InputSize = requested.InputSize } : backbone;
        config.Validate("fine-tuning net");
        if (config == requested) return (config, null);
        string size = config.InputSize == backbone.InputSize ? "" : $" at {config.InputSize} px (the backbone was pretrained at {backbone.InputSize} px)";
        // Which of the config's choices gave way, so that a config asking for a gray or narrower net is not trained as
        // another without its author seeing which.
        // Only settings the config names: a default nobody wrote ("convs_per_stage 2") did not give way to anything.
        var differ = new List<string>();
        var defaults = new RegionNetConfig();
        void Field(string name, object used, object asked, object byDefault)
        {
            if (!Equals(used, asked) && (namedKeys?.Contains(name) ?? !Equals(asked, byDefault))) differ.Add($"{name} {used} where the config asks {asked}");
        }
        Field("input_size", config.InputSize, requested.InputSize, defaults.InputSize);
        Field("channels", config.Channels, requested.Channels, defaults.Channels);
        Field("width", config.Width, requested.Width, defaults.Width);
        Field("stages", config.Stages, requested.Stages, defaults.Stages);
        Field("convs_per_stage", config.ConvsPerStage, requested.ConvsPerStage, defaults.ConvsPerStage);
        Field("pooling", config.Pooling, requested.Pooling, defaults.Pooling);
        if (config.Pooling == RegionNetConfig.PoolingFlatten || requested.Pooling == RegionNetConfig.PoolingFlatten)
            Field("embedding_size", config.FlattenEmbeddingSize, requested.FlattenEmbeddingSize, defaults.FlattenEmbeddingSize);
        string which = differ.Count == 0 ? "" : $": {string.Join(", ", differ)}; --from-scratch trains the config's own net";
        return (config, $"net architecture taken from the pretrained backbone{(backboneName is null ? "" : $", {backboneName}")}{size}{which}");
    }

    // Which people and photos, cheaply: the aligned manifest (names, labels) and the alignment's record of its input
    // photos' content, rather than reading every crop again on each call.
    private static string DataIdentity(string alignedDirectory)
    {
        string manifest = Path.Combine(alignedDirectory, Manifest.FileName);
        string? inputs = null;
        try { if (File.Exists(Path.Combine(alignedDirectory, RunManifest.FileName))) inputs = RunManifest.Load(alignedDirectory).DataHash; }
        catch (GestaltLabException) { }
        return (File.Exists(manifest) ? RunManifest.ComputeFileHash(manifest) : "no-manifest") + "/" + (inputs ?? "no-record");
    }

    /// <summary>A backbone file's net config alone.</summary>
    /// <exception cref="GestaltLabException">Not a backbone file.</exception>
    public static RegionNetConfig ReadBackboneConfig(string path)
    {
        var (config, weights) = LoadBackbone(path);
        foreach (var t in weights.Values) t.Dispose();
        return config;
    }

    /// <summary>Loads a backbone file: its net config and weights (caller disposes the tensors).</summary>
    /// <exception cref="GestaltLabException">Not a backbone file.</exception>
    public static (RegionNetConfig Config, Dictionary<string, Tensor> Weights) LoadBackbone(string path)
    {
        var (meta, tensors) = WeightsFile.Load(path);
        var m = JsonNode.Parse(meta) as JsonObject;
        if (m?["kind"]?.GetValue<string>() != "gestaltlab-backbone" || m["net"] is null)
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw new GestaltLabException($"{path}: not a pretrained backbone (a region net or checkpoint?)", "pass a file written by pretraining, e.g. data/pretrained/backbone.pt");
        }
        return (RegionNetConfig.FromJson(m["net"]!.ToJsonString(), path), tensors);
    }
}
