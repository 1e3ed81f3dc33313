using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>One epoch of training (a row of <c>curves/&lt;region&gt;.csv</c>).</summary>
/// <param name="Epoch">1-based.</param>
/// <param name="TrainLoss">Mean class loss over the epoch's training batches (with the geometry task: class loss + its weighted loss).</param>
/// <param name="TrainAccuracy">Training accuracy over the epoch's batches (augmented photos).</param>
/// <param name="ValLoss">Validation cross-entropy (NaN without a validation split).</param>
/// <param name="ValAccuracy">Validation accuracy (NaN without a validation split).</param>
/// <param name="Seconds">Wall time of the epoch's training batches.</param>
/// <param name="GeometryLoss">The auxiliary geometry task's training loss (1 = no better than the mean shape); NaN when the task is off.</param>
/// <param name="ValGeometryLoss">The geometry task's validation loss; NaN when the task is off or there is no validation split.</param>
public readonly record struct EpochStats(int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy, double Seconds,
    double GeometryLoss = double.NaN, double ValGeometryLoss = double.NaN);

/// <summary>The outcome of <see cref="RegionTrainer.Train"/>.</summary>
/// <param name="Net">The net with the best validation weights, in eval mode (caller disposes).</param>
/// <param name="Curve">Per-epoch statistics.</param>
/// <param name="BestEpoch">Epoch whose weights <see cref="Net"/> holds (1-based).</param>
/// <param name="ResumedFromEpoch">Epoch a previous, interrupted run had finished (0 = fresh start).</param>
/// <param name="ImagesPerSecond">Training throughput (forward + backward), images per second.</param>
public sealed record RegionTrainingResult(RegionNet Net, IReadOnlyList<EpochStats> Curve, int BestEpoch, int ResumedFromEpoch, double ImagesPerSecond);

/// <summary>What one net learns from.</summary>
/// <param name="Samples">The crops.</param>
/// <param name="Region">Region to train on; null = every region, one drawn at random per sample (backbone pretraining).</param>
/// <param name="Train">Training sample indices.</param>
/// <param name="Val">Validation sample indices (other subjects; may be empty: then no early stopping).</param>
/// <param name="ClassCount">Outputs of the classifier.</param>
public sealed record RegionTrainingData(IRegionSamples Samples, string? Region, IReadOnlyList<int> Train, IReadOnlyList<int> Val, int ClassCount);

/// <summary>
/// Trains one <see cref="RegionNet"/>: class-balanced sampling, anatomy-aware flips (a flipped left region is read from its
/// mirror), small shifts and colour jitter, AdamW with cosine decay, early stopping on validation accuracy (or loss), a checkpoint
/// after every epoch (model, optimiser, curve) and resumption from it. With the same seed and thread count on CPU, two runs
/// — or one run interrupted and resumed — give bit-identical weights: all randomness derives from (seed, region, epoch).
/// </summary>
public static class RegionTrainer
{
    /// <summary>Trains (or resumes, or reloads a finished run from <paramref name="checkpointDirectory"/>).</summary>
    /// <param name="data">Samples and split.</param>
    /// <param name="net">Architecture.</param>
    /// <param name="options">Training settings.</param>
    /// <param name="checkpointDirectory">Where checkpoints go (<c>epoch-NNN.pt</c>, <c>best.pt</c>); null = none, no resume.</param>
    /// <param name="pretrained">Backbone weights to start from (the head is always fresh); null = from scratch.</param>
    /// <param name="progress">Stage <c>train REGION</c>, one unit per batch, detail with loss and accuracy.</param>
    /// <param name="cancellationToken">Cancels between batches; the last finished epoch's checkpoint remains for resuming.</param>
    public static RegionTrainingResult Train(RegionTrainingData data, RegionNetConfig net, TrainingOptions options, string? checkpointDirectory = null,
        IReadOnlyDictionary<string, Tensor>? pretrained = null, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        TorchRuntime.EnsureLoaded();
        options.Validate();
        net.Validate();
        if (data.Samples.CropSize != net.InputSize)
            throw new GestaltLabException($"crops are {data.Samples.CropSize} px but the net expects {net.InputSize} px",
                $"align with --crop-size {net.InputSize} (in C#: FacePipelineOptions.Regions = RegionSet.Default.WithSize({net.InputSize})), or set net.input_size to {data.Samples.CropSize}");
        if (data.Train.Count < 2) throw new GestaltLabException($"region {data.Region ?? "(all)"}: {data.Train.Count} training images; at least 2 are needed");
        using var threads = TorchRuntime.UseThreads(options.Threads);
        string regionName = data.Region ?? "all-regions";
        ulong regionKey = StableHash.Of(options.Seed, regionName);
        var device = TorchRuntime.DefaultDevice();

        var geometry = options.GeometryLoss > 0
            ? new GeometryTargets(data.Samples, data.Train, data.Region is null ? data.Samples.Regions : [data.Region])
            : null;
        RegionNet model;
        TorchSharp.Modules.Linear? geometryHead = null;
        // torch's generator is process-global: seeding and initialising under one lock keeps concurrent trainings reproducible.
        lock (RegionNet.InitGate)
        {
            torch.manual_seed((long)(regionKey & 0x7FFF_FFFF_FFFF));
            model = new RegionNet(net, data.ClassCount);
            // Drawn after the net, and only when on, so runs without it keep their exact initialisation.
            if (geometry is not null) geometryHead = nn.Linear(net.EmbeddingSize, geometry.Width);
        }
        // A failed or cancelled training frees its native tensors now, not whenever the GC finalises them (a notebook
        // session that retries would otherwise hold several nets' worth).
        using var cleanup = new DisposeUnlessKept(model, geometryHead);
        if (pretrained is not null) WeightsFile.CopyInto(model, pretrained, "pretrained backbone", RegionNet.IsHead);
        model.to(device);
        geometryHead?.to(device);
        int frozenStages = pretrained is null ? 0 : options.FreezeStages;
        bool Frozen(string name) => Enumerable.Range(0, frozenStages).Any(s => RegionNet.InStage(name, s));
        var trainable = model.named_parameters().Where(p => !Frozen(p.name)).ToList();
        // A frozen stage computes what it did after pretraining: its batch norms keep their running statistics too.
        var frozenModules = model.named_modules().Where(m => m.name.Length > 0 && Frozen(m.name)).Select(m => m.module).ToList();
        foreach (var (name, p) in model.named_parameters()) p.requires_grad = trainable.Any(t => t.name == name);
        if (geometryHead is not null) trainable.AddRange(geometryHead.named_parameters().Select(p => (GeometryPrefix + p.name, p.parameter)));
        var adam = new AdamW(trainable, options.WeightDecay);
        cleanup.Add(adam);

        var curve = new List<EpochStats>();
        double bestLoss = double.PositiveInfinity, bestAcc = double.NegativeInfinity;
        int bestEpoch = 0, badEpochs = 0, startEpoch = 0;
        bool finished = false;
        if (checkpointDirectory is not null)
        {
            Directory.CreateDirectory(checkpointDirectory);
            AtomicFile.RemoveLeftovers(checkpointDirectory);
            var latest = LatestCheckpoint(checkpointDirectory);
            if (latest is not null)
            {
                var (meta, tensors) = WeightsFile.Load(latest);
                try
                {
                    var m = JsonNode.Parse(meta)!.AsObject();
                    WeightsFile.CopyInto(model, tensors.Where(t => t.Key.StartsWith("model.", StringComparison.Ordinal)).ToDictionary(t => t.Key[6..], t => t.Value), latest);
                    if (geometryHead is not null)
                        WeightsFile.CopyInto(geometryHead, tensors.Where(t => t.Key.StartsWith(GeometryPrefix, StringComparison.Ordinal))
                            .ToDictionary(t => t.Key[GeometryPrefix.Length..], t => t.Value), latest);
                    adam.Load(tensors, latest);
                    startEpoch = (int)m["epoch"]!;
                    bestLoss = (double?)m["best_val_loss"] ?? double.PositiveInfinity;
                    bestAcc = (double?)m["best_val_acc"] ?? double.NegativeInfinity;
                    bestEpoch = (int)m["best_epoch"]!;
                    badEpochs = (int)m["bad_epochs"]!;
                    finished = (bool)m["finished"]!;
                    curve = JsonSerializer.Deserialize<List<EpochStats>>(m["curve"]!.ToJsonString(), CurveJson)!;
                }
                finally
                {
                    foreach (var t in tensors.Values) t.Dispose();
                }
                // best.pt is written after the epoch's checkpoint: a kill between the two leaves the checkpoint's epoch best
                // but best.pt older. Those weights are the checkpoint's own, now in the model.
                string bestPath = Path.Combine(checkpointDirectory, "best.pt");
                if (bestEpoch == startEpoch && bestEpoch > 0 && SavedEpoch(bestPath) != bestEpoch)
                    WeightsFile.Save(bestPath, Meta(net, data.ClassCount, bestEpoch), model.state_dict());
                // Any other best epoch's weights live only in best.pt: without them the run would end with the last
                // epoch's net in its place, quietly not the one validation chose.
                else if (bestEpoch > 0 && SavedEpoch(bestPath) is var saved && saved != bestEpoch)
                    throw new GestaltLabException(
                        $"{bestPath}: {(saved < 0 ? "missing or unreadable" : $"holds epoch {saved}'s weights")}; the checkpoint {Path.GetFileName(latest)} records epoch {bestEpoch} as the best on validation, whose weights are then lost",
                        $"delete {checkpointDirectory} to train this net again from the start (or train with --force to start the whole run over)");
            }
        }
        int resumedFrom = startEpoch;

        int batchesPerEpoch = Math.Max(1, data.Train.Count / options.BatchSize);
        long totalBatches = (long)options.Epochs * batchesPerEpoch;
        string stage = $"train {regionName}";
        double trainSeconds = 0;
        long trainImages = 0;
        progress?.Report(new ProgressUpdate(stage, (long)startEpoch * batchesPerEpoch, totalBatches, startEpoch > 0 ? $"resumed after epoch {startEpoch}" : null));

        for (int epoch = startEpoch; epoch < options.Epochs && !finished; epoch++)
        {
            // Holds, then frees, whatever the epoch makes outside the scopes of its batches, passes and saves (the
            // optimiser's step count for the checkpoint, and anything added later): unheld, an intermediate tensor can be
            // freed by the GC while libtorch still reads it (see HeldScalars).
            using var epochScope = torch.NewDisposeScope();
            var started = DateTime.UtcNow;
            var rng = new Random((int)(StableHash.Of((long)regionKey, epoch) & 0x7FFF_FFFF));
            var order = EpochOrder(data, options, rng, batchesPerEpoch * options.BatchSize);
            double lr = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / options.Epochs));
            model.train();
            foreach (var m in frozenModules) m.eval();
            double lossSum = 0, geometrySum = 0;
            long correct = 0, seen = 0;
            for (int b = 0; b < batchesPerEpoch; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var batch = order.Skip(b * options.BatchSize).Take(options.BatchSize).ToArray();
                var augment = batch.Select(_ => Augmentation.Draw(rng, options)).ToArray();
                using var scope = torch.NewDisposeScope();
                var (x, y, g) = LoadBatch(data, batch, augment, net, options.LoaderThreads, device, geometry);
                var (logits, loss, geometryLoss) = Loss(model, x, y, options, rng, device, geometryHead, g);
                model.zero_grad();
                geometryHead?.zero_grad();
                loss.backward();
                float lossValue = loss.item<float>();
                // Checked before the step, so that neither the weights nor any checkpoint ever holds a NaN: one non-finite
                // gradient would turn every weight it reaches into NaN and every later prediction with it.
                if (!float.IsFinite(lossValue) || !AllFinite(trainable))
                    throw new GestaltLabException(
                        FormattableString.Invariant($"region {regionName}: epoch {epoch + 1}, batch {b + 1}: the {(float.IsFinite(lossValue) ? "gradients are" : "loss is")} not finite (NaN or infinite); training stopped before the update so that no weights were changed by it"),
                        FormattableString.Invariant($"run the same command again (it resumes after the last finished epoch, if any); if it stops at the same place again, lower training.learning_rate (now {options.LearningRate})"));
                adam.Step(lr, pretrained is null ? 1.0 : options.BackboneLrFactor);
                lossSum += lossValue * batch.Length;
                if (geometryLoss is not null) geometrySum += geometryLoss.item<float>() * batch.Length;
                correct += logits.argmax(1).eq(y).sum().item<long>();
                seen += batch.Length;
                // The epoch's last batch is reported by the epoch's summary below (with its validation figures), so that a
                // line log printing at fixed steps shows them rather than a batch line at the same point.
                if (b + 1 < batchesPerEpoch)
                    progress?.Report(new ProgressUpdate(stage, (long)epoch * batchesPerEpoch + b + 1, totalBatches,
                        FormattableString.Invariant($"epoch {epoch + 1}/{options.Epochs} loss {lossSum / seen:F3} acc {100.0 * correct / seen:F0}%")
                        + (geometry is null ? "" : FormattableString.Invariant($" geometry {geometrySum / seen:F3}"))));
            }
            double epochSeconds = (DateTime.UtcNow - started).TotalSeconds;
            trainSeconds += epochSeconds;
            trainImages += seen;

            var (valLoss, valAcc, valGeometry) = Evaluate(model, data, device, options, geometryHead, geometry);
            string geometryDetail = geometry is null ? "" : FormattableString.Invariant($" geometry {geometrySum / seen:F3} val {valGeometry:F3}");
            var stats = new EpochStats(epoch + 1, lossSum / seen, (double)correct / seen, valLoss, valAcc, epochSeconds,
                geometry is null ? double.NaN : geometrySum / seen, geometry is null ? double.NaN : valGeometry);
            curve.Add(stats);
            bool improved = data.Val.Count == 0 || Improves(options.SelectBy, valAcc, valLoss, bestAcc, bestLoss);
            if (improved)
            {
                bestLoss = data.Val.Count == 0 ? double.NaN : valLoss;
                bestAcc = data.Val.Count == 0 ? double.NaN : valAcc;
                bestEpoch = epoch + 1;
                badEpochs = 0;
                // With checkpoints, best.pt follows the epoch's checkpoint below (see the resume's repair above).
                if (checkpointDirectory is null) SnapshotBest(model);
            }
            else badEpochs++;
            finished = epoch + 1 >= options.Epochs || (options.Patience > 0 && badEpochs >= options.Patience);
            progress?.Report(new ProgressUpdate(stage, (long)(finished ? options.Epochs : epoch + 1) * batchesPerEpoch, totalBatches,
                FormattableString.Invariant($"epoch {epoch + 1}/{options.Epochs} loss {stats.TrainLoss:F3} acc {100 * stats.TrainAccuracy:F0}% val loss {valLoss:F3} val acc {100 * valAcc:F0}%{geometryDetail}")
                + (finished && epoch + 1 < options.Epochs ? " (early stop)" : "")));
            if (checkpointDirectory is not null)
            {
                var meta = new JsonObject
                {
                    ["epoch"] = epoch + 1, ["best_val_loss"] = double.IsFinite(bestLoss) ? bestLoss : null,
                    ["best_val_acc"] = double.IsFinite(bestAcc) ? bestAcc : null, ["best_epoch"] = bestEpoch,
                    ["bad_epochs"] = badEpochs, ["finished"] = finished, ["region"] = regionName,
                    ["curve"] = JsonNode.Parse(JsonSerializer.Serialize(curve, CurveJson)),
                };
                var tensors = model.state_dict().Select(kv => new KeyValuePair<string, Tensor>("model." + kv.Key, kv.Value))
                    .Concat(geometryHead?.state_dict().Select(kv => new KeyValuePair<string, Tensor>(GeometryPrefix + kv.Key, kv.Value)) ?? [])
                    .Concat(adam.State());
                string file = Path.Combine(checkpointDirectory, $"epoch-{epoch + 1:D3}.pt");
                WeightsFile.Save(file, meta.ToJsonString(), tensors);
                if (improved) WeightsFile.Save(Path.Combine(checkpointDirectory, "best.pt"), Meta(net, data.ClassCount, epoch + 1), model.state_dict());
                foreach (var old in Directory.GetFiles(checkpointDirectory, "epoch-*.pt"))
                    if (!string.Equals(Path.GetFullPath(old), Path.GetFullPath(file), StringComparison.Ordinal)) File.Delete(old);
            }
        }

        // Best weights back into the model.
        if (checkpointDirectory is not null && File.Exists(Path.Combine(checkpointDirectory, "best.pt")))
        {
            var (_, best) = WeightsFile.Load(Path.Combine(checkpointDirectory, "best.pt"));
            try { WeightsFile.CopyInto(model, best, Path.Combine(checkpointDirectory, "best.pt")); }
            finally { foreach (var t in best.Values) t.Dispose(); }
        }
        else RestoreBest(model);
        model.eval();
        foreach (var p in model.parameters()) p.requires_grad = false;
        adam.Dispose();
        geometryHead?.Dispose();
        cleanup.Keep();
        return new RegionTrainingResult(model, curve, bestEpoch, resumedFrom, trainSeconds > 0 ? trainImages / trainSeconds : 0);
    }

    // One sum over every gradient: a NaN or infinity anywhere makes it non-finite (the sums are of gradients, far from
    // float's range in any training that has not already diverged). One synchronisation per batch instead of one per tensor.
    private static bool AllFinite(IReadOnlyList<(string Name, TorchSharp.Modules.Parameter P)> parameters)
    {
        using var scope = torch.NewDisposeScope();
        var sums = parameters.Select(p => p.P.grad).OfType<Tensor>().Select(g => g.sum()).ToList();
        return sums.Count == 0 || float.IsFinite(torch.stack(sums).sum().item<float>());
    }

    /// <summary>Disposes what it holds when the scope ends by an exception, i.e. unless <see cref="Keep"/> was called.</summary>
    private sealed class DisposeUnlessKept(params IDisposable?[] items) : IDisposable
    {
        private readonly List<IDisposable?> _items = [.. items];
        private bool _kept;
        public void Add(IDisposable item) => _items.Add(item);
        public void Keep() => _kept = true;
        public void Dispose()
        {
            if (_kept) return;
            foreach (var item in _items) item?.Dispose();
        }
    }

    /// <summary>The epoch recorded in a weights file's metadata, or −1 when there is no readable file.</summary>
    private static int SavedEpoch(string path)
    {
        if (!File.Exists(path)) return -1;
        try
        {
            // The whole file, not its header alone: a best.pt cut short after its header is no best epoch's weights.
            var (meta, tensors) = WeightsFile.Load(path);
            foreach (var t in tensors.Values) t.Dispose();
            return (int?)JsonNode.Parse(meta)?["epoch"] ?? -1;
        }
        catch (GestaltLabException) { return -1; }
    }

    // Without a validation split (e.g. pretraining people with two photos or fewer) the validation figures are NaN, which
    // plain JSON cannot hold: the checkpoint's curve writes them as "NaN" and reads them back.
    private static readonly JsonSerializerOptions CurveJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    // Checkpoint names of the auxiliary geometry head's tensors; the head itself never leaves the trainer.
    private const string GeometryPrefix = "geometry.";

    // Accuracy: higher wins, a tie goes to the lower loss. Loss alone is a poor guide on small validation sets: it is lowest
    // while the net still predicts near-uniformly and rises with confidence even as accuracy climbs.
    private static bool Improves(string selectBy, double acc, double loss, double bestAcc, double bestLoss) =>
        selectBy == TrainingOptions.SelectByLoss
            ? loss < bestLoss - 1e-6
            : acc > bestAcc + 1e-9 || (Math.Abs(acc - bestAcc) <= 1e-9 && loss < bestLoss - 1e-6);

    /// <summary>Metadata stored with a net's weights: its config and class count.</summary>
    /// <param name="net">Architecture.</param>
    /// <param name="classCount">Outputs.</param>
    /// <param name="epoch">Epoch the weights come from.</param>
    /// <param name="temperature">Softmax temperature already folded into the classifier (recorded, not applied again).</param>
    /// <param name="ldaShrinkage">Shrinkage of a discriminant head in the classifier (null: the trained softmax head).</param>
    /// <param name="ldaValidationAccuracy">That head's accuracy on the validation photos (null or NaN: not measured).</param>
    public static string Meta(RegionNetConfig net, int classCount, int epoch, double temperature = 1, double? ldaShrinkage = null, double? ldaValidationAccuracy = null)
    {
        var meta = new JsonObject { ["net"] = JsonNode.Parse(net.ToJson()), ["classes"] = classCount, ["epoch"] = epoch, ["temperature"] = temperature };
        meta["head"] = ldaShrinkage is null ? TrainConfig.HeadSoftmax : TrainConfig.HeadLda;
        if (ldaShrinkage is double a) meta["lda_shrinkage"] = a;
        if (ldaValidationAccuracy is double v && double.IsFinite(v)) meta["lda_val_acc"] = v;
        return meta.ToJsonString();
    }

    /// <summary>
    /// What a region's latest checkpoint records of its training: the curve so far and the epoch validation chose
    /// (0: none yet). Null when the folder holds no checkpoint.
    /// </summary>
    /// <param name="checkpointDirectory">The region's checkpoint folder (<c>RUN/checkpoints/REGION</c>).</param>
    /// <exception cref="GestaltLabException">The checkpoint is truncated or not a GestaltLab weights file.</exception>
    public static (IReadOnlyList<EpochStats> Curve, int BestEpoch)? CheckpointRecord(string checkpointDirectory)
    {
        if (!Directory.Exists(checkpointDirectory) || LatestCheckpoint(checkpointDirectory) is not { } latest) return null;
        var meta = JsonNode.Parse(WeightsFile.ReadMetadata(latest))!;
        return (JsonSerializer.Deserialize<List<EpochStats>>(meta["curve"]!.ToJsonString(), CurveJson)!, (int)meta["best_epoch"]!);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<RegionNet, Dictionary<string, Tensor>> BestSnapshots = new();

    private static void SnapshotBest(RegionNet model)
    {
        // Under a scope, so that each detach() result is held until its clone is made (see HeldScalars).
        using var scope = torch.NewDisposeScope();
        var copy = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
        if (BestSnapshots.TryGetValue(model, out var old)) foreach (var t in old.Values) t.Dispose();
        BestSnapshots.AddOrUpdate(model, copy);
    }

    private static void RestoreBest(RegionNet model)
    {
        if (!BestSnapshots.TryGetValue(model, out var best)) return;
        WeightsFile.CopyInto(model, best, "best snapshot");
        foreach (var t in best.Values) t.Dispose();
        BestSnapshots.Remove(model);
    }

    /// <summary>The latest <c>epoch-NNN.pt</c> in a folder, or null.</summary>
    public static string? LatestCheckpoint(string directory) =>
        Directory.Exists(directory)
            ? Directory.GetFiles(directory, "epoch-*.pt").OrderBy(f => f, StringComparer.Ordinal).LastOrDefault()
            : null;

    // Dropout masks and mixup draws come from the epoch's own Random (not torch's global generator), so a resumed run
    // and a run trained next to another still see exactly the same randomness. Nothing is drawn when they are off.
    private static (Tensor Logits, Tensor Loss, Tensor? GeometryLoss) Loss(RegionNet model, Tensor x, Tensor y, TrainingOptions o, Random rng,
        Device device, nn.Module<Tensor, Tensor>? geometryHead, (Tensor Target, Tensor Mask)? geometry)
    {
        int n = (int)x.shape[0];
        double lambda = 1;
        long[]? partner = null;
        if (o.Mixup > 0)
        {
            lambda = Beta(rng, o.Mixup);
            partner = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
            rng.Shuffle(partner);
        }
        // One partner index and one pair of shares serve both the input blend and the loss blend.
        using var partnerIndex = partner is null ? null : torch.tensor(partner, device: device);
        using var ownShare = lambda.ToScalar();
        using var partnerShare = (1 - lambda).ToScalar();
        if (partnerIndex is not null) x = x.mul(ownShare).add_(x.index_select(0, partnerIndex).mul_(partnerShare), HeldScalars.One);
        var e = model.Embed(x);
        Tensor? geometryLoss = null;
        if (geometryHead is not null && geometry is var (target, mask))
        {
            var predicted = geometryHead.forward(e);
            geometryLoss = partnerIndex is null
                ? GeometryTargets.Loss(predicted, target, mask)
                : GeometryTargets.MixedLoss(predicted, target, mask, partnerIndex, lambda);
        }
        if (o.Dropout > 0)
        {
            int d = (int)e.shape[1];
            var keep = new float[n * d];
            float scale = (float)(1 / (1 - o.Dropout));
            for (int i = 0; i < keep.Length; i++) keep[i] = rng.NextDouble() >= o.Dropout ? scale : 0f;
            e = e.mul(torch.tensor(keep, [n, d], device: device));
        }
        var logits = model.Classify(e);
        var loss = nn.functional.cross_entropy(logits, y, label_smoothing: o.LabelSmoothing);
        if (partnerIndex is not null)
            loss = loss.mul(ownShare).add_(nn.functional.cross_entropy(logits, y.index_select(0, partnerIndex), label_smoothing: o.LabelSmoothing).mul_(partnerShare), HeldScalars.One);
        if (geometryLoss is not null)
        {
            using var weight = o.GeometryLoss.ToScalar();
            loss = loss.add(geometryLoss.mul(weight), HeldScalars.One);
        }
        return (logits, loss, geometryLoss);
    }

    // Beta(a, a) from two Gamma(a) draws (Marsaglia–Tsang, with the a < 1 boost).
    private static double Beta(Random rng, double a)
    {
        double g1 = Gamma(rng, a), g2 = Gamma(rng, a);
        return g1 + g2 > 0 ? g1 / (g1 + g2) : 0.5;
    }

    private static double Gamma(Random rng, double a)
    {
        if (a < 1) return Gamma(rng, a + 1) * Math.Pow(1 - rng.NextDouble(), 1 / a);
        double d = a - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double z, v;
            do
            {
                z = rng.NextGaussian();
                v = 1 + c * z;
            } while (v <= 0);
            v = v * v * v;
            double u = 1 - rng.NextDouble();
            if (Math.Log(u) < 0.5 * z * z + d - d * v + d * Math.Log(v)) return d * v;
        }
    }

    internal static int[] EpochOrder(RegionTrainingData data, TrainingOptions options, Random rng, int count)
    {
        var train = data.Train;
        if (!options.BalancedSampling)
        {
            var perm = train.ToArray();
            var result = new List<int>(count);
            while (result.Count < count)
            {
                rng.Shuffle(perm);
                result.AddRange(perm);
            }
            return result.Take(count).ToArray();
        }
        // Class-balanced: every class is drawn equally often; within a class, samples cycle in shuffled order.
        var byClass = train.GroupBy(i => data.Samples.Label(i)).OrderBy(g => g.Key).Select(g => g.ToArray()).ToArray();
        foreach (var c in byClass) rng.Shuffle(c);
        var cursor = new int[byClass.Length];
        var order = new int[count];
        for (int k = 0; k < count; k++)
        {
            int c = rng.Next(byClass.Length);
            var members = byClass[c];
            order[k] = members[cursor[c]++ % members.Length];
            if (cursor[c] % members.Length == 0) rng.Shuffle(members);
        }
        return order;
    }

    internal readonly record struct Augmentation(bool Flip, int Dx, int Dy, float Gain, float Bias, int RegionPick,
        float GainR = 1, float GainG = 1, float GainB = 1, bool Gray = false)
    {
        public static readonly Augmentation None = new(false, 0, 0, 1, 0, 0);

        public static Augmentation Draw(Random rng, TrainingOptions o)
        {
            bool flip = o.Flip && rng.Next(2) == 1;
            int dx = o.ShiftPixels > 0 ? rng.Next(-o.ShiftPixels, o.ShiftPixels + 1) : 0;
            int dy = o.ShiftPixels > 0 ? rng.Next(-o.ShiftPixels, o.ShiftPixels + 1) : 0;
            float gain = (float)(1 + o.ColorJitter * (2 * rng.NextDouble() - 1));
            float bias = (float)(o.ColorJitter * 0.5 * (2 * rng.NextDouble() - 1));
            int pick = rng.Next(1 << 20);
            // Drawn only when enabled, so runs without them keep their exact random stream (and checkpoints stay valid).
            float r = 1, g = 1, b = 1;
            if (o.ChannelJitter > 0)
            {
                r = (float)(1 + o.ChannelJitter * (2 * rng.NextDouble() - 1));
                g = (float)(1 + o.ChannelJitter * (2 * rng.NextDouble() - 1));
                b = (float)(1 + o.ChannelJitter * (2 * rng.NextDouble() - 1));
            }
            bool gray = o.GrayscaleProbability > 0 && rng.NextDouble() < o.GrayscaleProbability;
            return new Augmentation(flip, dx, dy, gain, bias, pick, r, g, b, gray);
        }
    }

    private static (Tensor X, Tensor Y, (Tensor Target, Tensor Mask)? Geometry) LoadBatch(RegionTrainingData data, int[] batch,
        Augmentation[] augment, RegionNetConfig net, int loaderThreads, Device device, GeometryTargets? geometry = null)
    {
        int s = net.InputSize, c = net.Channels, plane = s * s, gw = geometry?.Width ?? 0;
        var x = new float[batch.Length * c * plane];
        var y = new long[batch.Length];
        var target = new float[batch.Length * gw];
        var mask = new float[batch.Length * gw];
        var regions = data.Samples.Regions;
        ParallelLoad.For(batch.Length, Math.Max(1, loaderThreads), k =>
        {
            var a = augment[k];
            string region = data.Region ?? regions[a.RegionPick % regions.Count];
            string source = a.Flip ? data.Samples.MirrorOf(region) : region;
            float[] rgb = data.Samples.Load(batch[k], source);
            WriteInput(rgb, x.AsSpan(k * c * plane, c * plane), s, c, a);
            y[k] = data.Samples.Label(batch[k]);
            geometry?.Write(data.Samples, batch[k], region, a.Flip, target.AsSpan(k * gw, gw), mask.AsSpan(k * gw, gw));
        });
        var g = geometry is null ? ((Tensor, Tensor)?)null
            : (torch.tensor(target, [batch.Length, gw], device: device), torch.tensor(mask, [batch.Length, gw], device: device));
        return (torch.tensor(x, [batch.Length, c, s, s], device: device), torch.tensor(y, device: device), g);
    }

    /// <summary>RGB CHW [0,1] → net input (gray if 1 channel), with flip, shift (edge-clamped), colour casts and jitter.</summary>
    internal static void WriteInput(float[] rgb, Span<float> dst, int s, int channels, Augmentation a)
    {
        int plane = s * s;
        if (rgb.Length != 3 * plane) throw new GestaltLabException($"crop has {rgb.Length} values, expected 3×{s}×{s}");
        float gr = a.GainR, gg = a.GainG, gb = a.GainB;
        for (int yy = 0; yy < s; yy++)
        {
            int sy = Math.Clamp(yy - a.Dy, 0, s - 1);
            for (int xx = 0; xx < s; xx++)
            {
                int sx = Math.Clamp(xx - a.Dx, 0, s - 1);
                if (a.Flip) sx = s - 1 - sx;
                int src = sy * s + sx, d = yy * s + xx;
                float r = rgb[src] * gr, g = rgb[plane + src] * gg, b = rgb[2 * plane + src] * gb;
                if (channels == 1 || a.Gray)
                {
                    float luma = (0.299f * r + 0.587f * g + 0.114f * b) * a.Gain + a.Bias;
                    for (int ch = 0; ch < channels; ch++) dst[ch * plane + d] = luma;
                }
                else
                {
                    dst[d] = r * a.Gain + a.Bias;
                    dst[plane + d] = g * a.Gain + a.Bias;
                    dst[2 * plane + d] = b * a.Gain + a.Bias;
                }
            }
        }
    }

    // Validation loss and accuracy, and with the geometry task its masked mean squared error over all validation
    // samples, from one pass: the logits are Classify(Embed(x)), the same computation as the net's forward.
    private static (double Loss, double Accuracy, double Geometry) Evaluate(RegionNet model, RegionTrainingData data, Device device,
        TrainingOptions options, nn.Module<Tensor, Tensor>? geometryHead, GeometryTargets? geometry)
    {
        if (data.Val.Count == 0) return (double.NaN, double.NaN, double.NaN);
        var labels = data.Val.Select(data.Samples.Label).ToArray();
        if (geometryHead is null || geometry is null)
        {
            var plain = ValidationLogits(model, data, options, device);
            return (Calibration.CrossEntropy(plain, labels, 1), Calibration.Accuracy(plain, labels), double.NaN);
        }
        int classes = model.ClassCount;
        var rows = Forward(model, data, data.Val, flip: false, options, device, (x, g) =>
        {
            var e = model.Embed(x);
            var (target, mask) = g!.Value;
            return torch.cat([model.Classify(e), GeometryTargets.PerSample(geometryHead.forward(e), target, mask)], 1);
        }, geometry);
        var logits = rows.Select(r => r[..classes]).ToArray();
        double errors = rows.Sum(r => (double)r[classes]), values = rows.Sum(r => (double)r[classes + 1]);
        return (Calibration.CrossEntropy(logits, labels, 1), Calibration.Accuracy(logits, labels), errors / Math.Max(1, values));
    }

    /// <summary>
    /// Logits of <paramref name="model"/> (left in eval mode) on the validation samples, unaugmented, or mirrored when
    /// <paramref name="flip"/> (as flip test-time augmentation feeds the net); when every region is trained at once
    /// (pretraining) each sample is read from a fixed region so the figure is comparable across epochs.
    /// </summary>
    public static float[][] ValidationLogits(RegionNet model, RegionTrainingData data, TrainingOptions options, Device? device = null, bool flip = false) =>
        Forward(model, data, data.Val, flip, options, device, (x, _) => model.forward(x));

    /// <summary>
    /// Penultimate-layer embeddings of <paramref name="model"/> (left in eval mode) for <paramref name="indices"/>,
    /// unaugmented, or mirrored when <paramref name="flip"/> (the crop of the mirror region, flipped: what flip
    /// test-time augmentation feeds the net).
    /// </summary>
    public static float[][] Embeddings(RegionNet model, RegionTrainingData data, IReadOnlyList<int> indices, bool flip,
        TrainingOptions options, Device? device = null) =>
        Forward(model, data, indices, flip, options, device, (x, _) => model.Embed(x));

    private static float[][] Forward(RegionNet model, RegionTrainingData data, IReadOnlyList<int> indices, bool flip,
        TrainingOptions options, Device? device, Func<Tensor, (Tensor Target, Tensor Mask)?, Tensor> output, GeometryTargets? geometry = null)
    {
        device ??= TorchRuntime.DefaultDevice();
        model.eval();
        var rows = new List<float[]>(indices.Count);
        using var noGrad = torch.no_grad();
        for (int start = 0; start < indices.Count; start += options.BatchSize)
        {
            using var scope = torch.NewDisposeScope();
            var batch = indices.Skip(start).Take(options.BatchSize).ToArray();
            var aug = batch.Select(i => Augmentation.None with { RegionPick = i, Flip = flip }).ToArray();
            var (x, _, g) = LoadBatch(data, batch, aug, model.Config, options.LoaderThreads, device, geometry);
            var y = output(x, g).cpu().contiguous();
            var flat = y.data<float>().ToArray();
            int k = (int)y.shape[1];
            for (int i = 0; i < batch.Length; i++) rows.Add(flat.AsSpan(i * k, k).ToArray());
        }
        return rows.ToArray();
    }

    /// <summary>
    /// Splits sample indices into training and validation by group (subject or family): a group is never on both sides,
    /// and every class keeps at least one training group (a class held out whole could be neither learnt nor given a
    /// discriminant head). Deterministic for a seed.
    /// </summary>
    public static (int[] Train, int[] Val) SplitByGroup(IRegionSamples samples, IReadOnlyList<int> indices, double valFraction, int seed)
    {
        var groups = indices.Select(samples.Group).Distinct().Order(StringComparer.Ordinal).ToList();
        var val = new HashSet<string>(groups.Where(g => (StableHash.Of(seed, g) % 10_000) / 10_000.0 < valFraction), StringComparer.Ordinal);
        // Groups are drawn regardless of class (so that splits drawn before this rule stay as they were wherever it does
        // not bite); a class left without training photos gets its first group back.
        var trained = indices.Where(i => !val.Contains(samples.Group(i))).Select(samples.Label).ToHashSet();
        foreach (var orphan in indices.Where(i => !trained.Contains(samples.Label(i))).GroupBy(samples.Label))
        {
            if (trained.Contains(orphan.Key)) continue;   // a family given back for another class brought it along
            string back = orphan.Select(samples.Group).Order(StringComparer.Ordinal).First();
            val.Remove(back);
            trained.UnionWith(indices.Where(i => samples.Group(i) == back).Select(samples.Label));
        }
        return (indices.Where(i => !val.Contains(samples.Group(i))).ToArray(), indices.Where(i => val.Contains(samples.Group(i))).ToArray());
    }

    /// <summary>
    /// Writes a curve as CSV (<c>epoch,train_loss,train_acc,val_loss,val_acc,seconds</c>, plus
    /// <c>geometry_loss,val_geometry_loss</c> when the geometry task ran); missing figures are empty cells.
    /// </summary>
    public static void WriteCurve(string path, IReadOnlyList<EpochStats> curve)
    {
        // The geometry columns only appear when the task ran, so a plain run's file keeps its columns.
        bool geometry = curve.Any(e => double.IsFinite(e.GeometryLoss));
        string[] header = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"];
        Csv.Write(path, geometry ? [.. header, "geometry_loss", "val_geometry_loss"] : header, curve.Select(e =>
        {
            IReadOnlyList<string> row = [e.Epoch.ToString(CultureInfo.InvariantCulture), F(e.TrainLoss), F(e.TrainAccuracy), F(e.ValLoss), F(e.ValAccuracy), F(e.Seconds)];
            return geometry ? [.. row, F(e.GeometryLoss), F(e.ValGeometryLoss)] : row;
        }));
    }

    private static string F(double v) => double.IsFinite(v) ? Csv.Format(v) : "";
}
