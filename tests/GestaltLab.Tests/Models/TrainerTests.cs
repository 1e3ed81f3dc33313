using GestaltLab.Models;
using GestaltLab.Runtime;
using TorchSharp;

namespace GestaltLab.Tests.Models;

public class TrainerTests
{
    [Fact]
    public void Validation_split_never_separates_a_subject()
    {
        var s = ModelFixture.Patterns();
        var (train, val) = RegionTrainer.SplitByGroup(s, Enumerable.Range(0, s.Count).ToArray(), 0.3, 5);
        Assert.NotEmpty(val);
        Assert.Empty(train.Select(s.Group).Intersect(val.Select(s.Group)));
        Assert.Equal(s.Count, train.Length + val.Length);
    }

    [Fact]
    public void Validation_split_keeps_every_class_in_training()
    {
        // Two people per class and most of them drawn for validation: held out by group alone, several classes would
        // lose both (nothing to learn, no head to fit); each gets one back, and no person is split.
        var s = ModelFixture.Patterns(classes: 8, subjects: 2);
        var (train, val) = RegionTrainer.SplitByGroup(s, Enumerable.Range(0, s.Count).ToArray(), 0.7, 5);
        Assert.Equal(Enumerable.Range(0, 8), train.Select(s.Label).Distinct().Order());
        Assert.NotEmpty(val);
        Assert.Empty(train.Select(s.Group).Intersect(val.Select(s.Group)));
        Assert.Equal(s.Count, train.Length + val.Length);
        var (train2, val2) = RegionTrainer.SplitByGroup(s, Enumerable.Range(0, s.Count).ToArray(), 0.7, 5);
        Assert.Equal(train, train2);
        Assert.Equal(val, val2);
    }

    [Fact]
    public void Two_runs_with_one_seed_give_identical_weights_and_training_learns()
    {
        var s = ModelFixture.Patterns();
        var data = ModelFixture.Data(s);
        using var a = RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(3)).Net;
        // A line log (a CI log, a notebook) shows each printed epoch's validation figures, not a bare batch line.
        var lines = new List<string>();
        var second = RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(3), progress: ProgressReporters.Lines(lines.Add, everyPercent: 50));
        Assert.Contains(lines, l => l.Contains("epoch 3/3") && l.Contains("val acc"));
        Assert.DoesNotContain(lines, l => l.Contains("epoch 3/3") && !l.Contains("val acc"));
        using var b = second.Net;
        Assert.Equal(ModelFixture.Flat(a), ModelFixture.Flat(b));
        Assert.Equal(3, second.Curve.Count);
        Assert.True(second.Curve[^1].TrainLoss < second.Curve[0].TrainLoss, $"loss did not fall: {second.Curve[0].TrainLoss} → {second.Curve[^1].TrainLoss}");
        var other = RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(3) with { Seed = 12 });
        using var c = other.Net;
        Assert.NotEqual(ModelFixture.Flat(a), ModelFixture.Flat(c));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cancelled_run_resumes_to_the_same_final_weights(bool regularised)
    {
        var s = ModelFixture.Patterns();
        var data = ModelFixture.Data(s);
        // Mixup and dropout draw from the epoch's own Random, so they must resume bit-identically too.
        var options = regularised ? ModelFixture.Options(3) with { Mixup = 0.4, Dropout = 0.3, LabelSmoothing = 0.1 } : ModelFixture.Options(3);
        string straightDir = ModelFixture.TempDir(), resumedDir = ModelFixture.TempDir();
        using var straight = RegionTrainer.Train(data, ModelFixture.Net(), options, straightDir).Net;

        var resumed = ModelFixture.CancelInEpochTwoThenResume(data, options, resumedDir);
        using var r = resumed.Net;
        Assert.Equal(3, resumed.Curve.Count);
        Assert.Equal(ModelFixture.Flat(straight), ModelFixture.Flat(r));

        // A finished run reloads without training again.
        var again = RegionTrainer.Train(data, ModelFixture.Net(), options, resumedDir);
        using var g = again.Net;
        Assert.Equal(3, again.ResumedFromEpoch);
        Assert.Equal(ModelFixture.Flat(straight), ModelFixture.Flat(g));
    }

    [Fact]
    public void A_kill_between_the_checkpoint_and_best_pt_resumes_to_the_best_weights()
    {
        // The epoch's checkpoint is written, then best.pt; killed in between, best.pt still holds an older epoch. Resuming
        // must take the best weights from the checkpoint, not return the older ones.
        var data = ModelFixture.Data(ModelFixture.Patterns());
        var options = ModelFixture.Options(2);
        string straightDir = ModelFixture.TempDir(), dir = ModelFixture.TempDir();
        var straight = RegionTrainer.Train(data, ModelFixture.Net(), options, straightDir);
        using var s = straight.Net;
        Assert.Equal(1, straight.BestEpoch);   // the scenario: epoch 1 is the best, and the run is killed right after it
        using (var cts = new CancellationTokenSource())
        {
            var stop = ProgressReporters.Synchronous(u => { if (u.Detail?.StartsWith("epoch 2/2", StringComparison.Ordinal) == true) cts.Cancel(); });
            Assert.ThrowsAny<OperationCanceledException>(() => RegionTrainer.Train(data, ModelFixture.Net(), options, dir, progress: stop, cancellationToken: cts.Token));
        }
        Assert.EndsWith("epoch-001.pt", RegionTrainer.LatestCheckpoint(dir));
        // best.pt as a kill between the two writes would leave it after the first epoch: not written yet.
        File.Delete(Path.Combine(dir, "best.pt"));
        var resumed = RegionTrainer.Train(data, ModelFixture.Net(), options, dir);
        using var r = resumed.Net;
        Assert.Equal(ModelFixture.Flat(s), ModelFixture.Flat(r));
        // An earlier best epoch's weights live only in best.pt: gone, the finished run is refused rather than ending with
        // the last epoch's net in their place.
        File.Delete(Path.Combine(straightDir, "best.pt"));
        var e = Assert.Throws<GestaltLabException>(() => RegionTrainer.Train(data, ModelFixture.Net(), options, straightDir));
        Assert.Contains("best.pt: missing", e.Message);
        Assert.Contains("epoch 1", e.Message);
    }

    [Fact]
    public void A_non_finite_loss_stops_training_before_any_weight_or_checkpoint_takes_it()
    {
        // One person's crops hold a NaN (as a corrupt value would): the first batch drawing them gives a NaN loss, whose
        // update would turn every weight NaN and every later prediction with it.
        var s = ModelFixture.Patterns();
        var crops = s.Crops.Select((c, i) => s.Groups[i] == "subject1_0"
            ? (IReadOnlyDictionary<string, float[]>)c.ToDictionary(kv => kv.Key, kv => kv.Value.Select((v, k) => k == 40 ? float.NaN : v).ToArray())
            : c).ToList();
        var poisoned = s with { Crops = crops };
        string dir = ModelFixture.TempDir();
        var e = Assert.Throws<GestaltLabException>(() => RegionTrainer.Train(ModelFixture.Data(poisoned), ModelFixture.Net(), ModelFixture.Options(2), dir));
        Assert.Contains("region periorbital_left: epoch 1, batch ", e.Message);
        Assert.Contains("loss is not finite", e.Message);
        Assert.Contains("resume", e.Fix);
        // Stopped inside the first epoch: no checkpoint, let alone a NaN one, was written.
        Assert.Empty(Directory.GetFiles(dir, "*.pt"));
        // The same people without the NaN train as before.
        using var net = RegionTrainer.Train(ModelFixture.Data(s), ModelFixture.Net(), ModelFixture.Options(1), dir).Net;
        Assert.True(ModelFixture.Flat(net).All(float.IsFinite));
        // A weights file holding a NaN (a net trained into NaN by an older version) is refused where it is read, named.
        var state = net.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        using (torch.no_grad())
        using (var nanValue = float.NaN.ToScalar())
            state["fc.bias"].fill_(nanValue);
        string nan = Path.Combine(dir, "nan.pt");
        WeightsFile.Save(nan, "{}", state);
        var refused = Assert.Throws<GestaltLabException>(() => WeightsFile.Load(nan));
        Assert.Contains("nan.pt: tensor 'fc.bias' holds 4 NaN or infinite values of 4", refused.Message);
        foreach (var t in state.Values) t.Dispose();
    }

    [Fact]
    public void Regularisers_change_training_and_bad_values_are_refused()
    {
        var data = ModelFixture.Data(ModelFixture.Patterns());
        using var plain = RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(1)).Net;
        foreach (var o in new[] { ModelFixture.Options(1) with { Mixup = 0.4 }, ModelFixture.Options(1) with { Dropout = 0.3 }, ModelFixture.Options(1) with { LabelSmoothing = 0.1 } })
        {
            using var other = RegionTrainer.Train(data, ModelFixture.Net(), o).Net;
            Assert.NotEqual(ModelFixture.Flat(plain), ModelFixture.Flat(other));
        }
        Assert.Contains("mixup", Assert.Throws<GestaltLabException>(() => new TrainingOptions { Mixup = -1 }.Validate()).Message);
        Assert.Contains("dropout", Assert.Throws<GestaltLabException>(() => new TrainingOptions { Dropout = 1 }.Validate()).Message);
        Assert.Contains("label_smoothing", Assert.Throws<GestaltLabException>(() => new TrainingOptions { LabelSmoothing = 1 }.Validate()).Message);
        // Values that used to fail deep inside training (or train backwards) are refused up front, naming the field.
        foreach (var (bad, field) in new (TrainingOptions, string)[]
                 {
                     (new() { ShiftPixels = -1 }, "shift_pixels"), (new() { FreezeStages = -1 }, "freeze_stages"), (new() { ColorJitter = 1.5 }, "color_jitter"),
                     (new() { BackboneLrFactor = -0.5 }, "backbone_lr_factor"), (new() { WeightDecay = -1e-4 }, "weight_decay"), (new() { Patience = -1 }, "patience"),
                     (new() { Threads = -2 }, "threads"), (new() { LoaderThreads = -1 }, "loader_threads"),
                 })
            Assert.Contains(field, Assert.Throws<GestaltLabException>(() => bad.Validate()).Message);
        // A net too large to build (a received run's config, say) is refused from its shape, before any tensor exists;
        // the default and the optional width-32 nets are far below the limit.
        Assert.Contains("million weights", Assert.Throws<GestaltLabException>(() => new RegionNetConfig { InputSize = 256, Width = 512, Stages = 8 }.Validate()).Message);
        new RegionNetConfig().Validate();
        new RegionNetConfig { Width = 32 }.Validate();
        Assert.InRange(new RegionNetConfig().ApproximateParameters, 1e5, 1e6);
    }

    [Fact]
    public void Pretrained_backbone_is_loaded_and_a_mismatched_one_is_refused()
    {
        var s = ModelFixture.Patterns();
        var data = ModelFixture.Data(s, region: null);
        string dir = ModelFixture.TempDir();
        var pre = RegionTrainer.Train(data with { ClassCount = 4 }, ModelFixture.Net(), ModelFixture.Options(1));
        string path = Path.Combine(dir, "backbone.pt");
        Pretraining.SaveBackbone(pre.Net, path, "test");
        var (config, weights) = Pretraining.LoadBackbone(path);
        Assert.Equal(ModelFixture.Net(), config);
        Assert.DoesNotContain(weights.Keys, RegionNet.IsHead);
        var tuned = RegionTrainer.Train(ModelFixture.Data(s), config, ModelFixture.Options(1) with { Epochs = 1 }, pretrained: weights);
        Assert.True(tuned.Curve.Count == 1);
        // Frozen stages come out as they went in, batch-norm statistics included; the next stage learns.
        using (var frozen = RegionTrainer.Train(ModelFixture.Data(s), config, ModelFixture.Options(1) with { FreezeStages = 1 }, pretrained: weights).Net)
        {
            var after = frozen.state_dict();
            var stage0 = weights.Keys.Where(k => RegionNet.InStage(k, 0)).ToList();
            Assert.Contains(stage0, k => k.EndsWith("running_mean", StringComparison.Ordinal));
            foreach (var k in stage0) Assert.True(weights[k].eq(after[k]).all().item<bool>(), $"{k} changed in a frozen stage");
            var stage1 = weights.Keys.Where(k => RegionNet.InStage(k, 1)).ToList();
            Assert.Contains(stage1, k => !weights[k].eq(after[k]).all().item<bool>());
        }
        var wrong = ModelFixture.Net() with { Width = 6 };
        var e = Assert.Throws<GestaltLabException>(() => RegionTrainer.Train(ModelFixture.Data(s), wrong, ModelFixture.Options(1), pretrained: weights));
        Assert.Contains("shape", e.Message);
        Assert.Throws<GestaltLabException>(() => WeightsFile.Load(Path.Combine(dir, "missing.pt")));
        File.WriteAllBytes(Path.Combine(dir, "bad.pt"), File.ReadAllBytes(path)[..100]);
        Assert.Contains("truncated", Assert.Throws<GestaltLabException>(() => WeightsFile.Load(Path.Combine(dir, "bad.pt"))).Message);
        // Crafted sizes (a shared run's file): dimensions whose product wraps round, negative ones, and one far larger
        // than the file are named as a damaged file — not a native libtorch failure, nor gigabytes allocated first.
        foreach (long[] dims in new[] { new[] { 1L << 32, 1L << 32 }, [-1, -1], [1 << 20, 100] })
        {
            string crafted = Path.Combine(dir, "crafted.pt");
            using (var w = new BinaryWriter(File.Create(crafted)))
            {
                w.Write(File.ReadAllBytes(path)[..4]);   // the magic
                w.Write(1u);
                w.Write(2u); w.Write("{}"u8);
                w.Write(1u);
                w.Write(1u); w.Write("x"u8);
                w.Write((byte)0);
                w.Write((uint)dims.Length);
                foreach (long d in dims) w.Write(d);
                w.Write(new byte[64]);
            }
            var bad = Assert.Throws<GestaltLabException>(() => WeightsFile.Load(crafted));
            Assert.Contains("crafted.pt", bad.Message);
        }
    }

    [Fact]
    public void Flip_reads_the_mirror_region_and_mirrors_pixels()
    {
        var rgb = new float[3 * 4 * 4];
        rgb[1 * 4 + 0] = 1f; // red channel, row 1, column 0
        var dst = new float[3 * 16];
        RegionTrainer.WriteInput(rgb, dst, 4, 3, RegionTrainer.Augmentation.None with { Flip = true });
        Assert.Equal(1f, dst[1 * 4 + 3]);
        Assert.Equal(0f, dst[1 * 4 + 0]);
    }

    [Fact]
    public void A_flipped_sample_of_a_left_region_is_its_right_crop_mirrored()
    {
        // Set A: the left crop blank, the right crop an asymmetric pattern. Set B: the left crop is that pattern mirrored.
        // What the net sees of A's left region flipped (training augmentation, flip TTA) must be B's left crop as it is:
        // reading the left crop (blank) or not mirroring the right one would give other embeddings.
        const int size = 32;
        var pattern = new float[3 * size * size];
        var rng = new Random(5);
        for (int i = 0; i < pattern.Length; i++) pattern[i] = (float)rng.NextDouble() * (i % size < size / 3 ? 1f : 0.2f);
        var mirrored = new float[pattern.Length];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                    mirrored[(c * size + y) * size + x] = pattern[(c * size + y) * size + (size - 1 - x)];
        InMemoryRegionSamples Set(float[] left, float[] right) => new(
            [new Dictionary<string, float[]> { ["face"] = left, ["periorbital_left"] = left, ["periorbital_right"] = right }],
            [0], ["s0"], size, ModelFixture.Mirrors);
        var a = new RegionTrainingData(Set(new float[pattern.Length], pattern), "periorbital_left", [0], [0], 2);
        var b = new RegionTrainingData(Set(mirrored, new float[pattern.Length]), "periorbital_left", [0], [0], 2);
        using var net = new RegionNet(ModelFixture.Net(), 2);
        var options = ModelFixture.Options();
        var flippedA = RegionTrainer.Embeddings(net, a, [0], flip: true, options)[0];
        var plainB = RegionTrainer.Embeddings(net, b, [0], flip: false, options)[0];
        var plainA = RegionTrainer.Embeddings(net, a, [0], flip: false, options)[0];
        for (int j = 0; j < plainB.Length; j++) Assert.Equal(plainB[j], flippedA[j], 5);
        Assert.True(plainA.Zip(plainB).Max(t => Math.Abs(t.First - t.Second)) > 1e-3, "the net does not tell the two crops apart");
        // Validation logits take the same path.
        Assert.Equal(RegionTrainer.ValidationLogits(net, b, options)[0], RegionTrainer.ValidationLogits(net, a, options, flip: true)[0]);
    }

    [Fact]
    public void Balanced_sampling_draws_every_syndrome_equally_often_and_each_of_its_photos_in_turn()
    {
        // 40 photos of syndrome 0, 4 of syndrome 1 (rare syndromes are the rule): balanced, each is half the draws.
        var crop = new float[3 * 8 * 8];
        var samples = new InMemoryRegionSamples(
            Enumerable.Range(0, 44).Select(_ => (IReadOnlyDictionary<string, float[]>)new Dictionary<string, float[]> { ["face"] = crop }).ToList(),
            Enumerable.Range(0, 44).Select(i => i < 40 ? 0 : 1).ToList(), Enumerable.Range(0, 44).Select(i => $"s{i}").ToList(), 8,
            new Dictionary<string, string> { ["face"] = "face" });
        var data = new RegionTrainingData(samples, "face", Enumerable.Range(0, 44).ToArray(), [], 2);
        var balanced = RegionTrainer.EpochOrder(data, ModelFixture.Options() with { BalancedSampling = true }, new Random(1), 4000);
        double rare = balanced.Count(i => i >= 40) / 4000.0;
        Assert.InRange(rare, 0.46, 0.54);
        // Within the rare syndrome the photos take turns (none is drawn twice before all were drawn once).
        var rarePhotos = balanced.Where(i => i >= 40).ToArray();
        for (int start = 0; start + 4 <= rarePhotos.Length; start += 4)
            Assert.Equal(4, rarePhotos.Skip(start).Take(4).Distinct().Count());
        // Without balancing, draws follow the photos: the rare syndrome gets its 4 of 44.
        var plain = RegionTrainer.EpochOrder(data, ModelFixture.Options() with { BalancedSampling = false }, new Random(1), 4400);
        Assert.Equal(400, plain.Count(i => i >= 40));
    }
}

/// <summary>libtorch's thread count is one per process: tests that read it run alone, after the parallel ones.</summary>
[CollectionDefinition("process-wide torch threads", DisableParallelization = true)]
public sealed class TorchThreadsCollection;

[Collection("process-wide torch threads")]
public class TorchThreadsTests
{
    [Fact]
    public void A_training_uses_its_thread_count_and_gives_the_caller_its_own_back()
    {
        TorchRuntime.EnsureLoaded();
        int before = TorchSharp.torch.get_num_threads();
        var data = ModelFixture.Data(ModelFixture.Patterns());
        try
        {
            TorchSharp.torch.set_num_threads(2);
            var during = new List<int>();
            var progress = ProgressReporters.Synchronous(_ => during.Add(TorchSharp.torch.get_num_threads()));
            // threads: 1 (a notebook cell keeping a core free) holds for the training only; a later cell gets its 2 back.
            RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(1) with { Threads = 1 }, progress: progress).Net.Dispose();
            Assert.NotEmpty(during);
            Assert.All(during, t => Assert.Equal(1, t));
            Assert.Equal(2, TorchSharp.torch.get_num_threads());
            // threads: 0 keeps the caller's count.
            during.Clear();
            RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(1) with { Threads = 0 }, progress: progress).Net.Dispose();
            Assert.All(during, t => Assert.Equal(2, t));
            Assert.Equal(2, TorchSharp.torch.get_num_threads());
        }
        finally { TorchSharp.torch.set_num_threads(before); }
    }
}
