using GestaltLab.Models;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Models;

/// <summary>Small in-memory region data with learnable class patterns, and temp folders.</summary>
internal static class ModelFixture
{
    public static readonly IReadOnlyDictionary<string, string> Mirrors = new Dictionary<string, string>
    {
        ["face"] = "face", ["periorbital_left"] = "periorbital_right", ["periorbital_right"] = "periorbital_left",
    };

    /// <summary>
    /// <paramref name="classes"/> classes × <paramref name="subjects"/> subjects × 2 photos. Class c draws a bright blob
    /// whose position depends on c (and, mirrored, on the region side), plus per-photo noise: learnable but not trivial.
    /// </summary>
    public static InMemoryRegionSamples Patterns(int classes = 4, int subjects = 6, int size = 32, int seed = 7)
    {
        var rng = new Random(seed);
        var crops = new List<IReadOnlyDictionary<string, float[]>>();
        var labels = new List<int>();
        var groups = new List<string>();
        for (int c = 0; c < classes; c++)
            for (int s = 0; s < subjects; s++)
                for (int photo = 0; photo < 2; photo++)
                {
                    var dict = new Dictionary<string, float[]>();
                    foreach (var region in Mirrors.Keys)
                    {
                        bool right = region.EndsWith("_right", StringComparison.Ordinal);
                        double angle = 2 * Math.PI * c / classes;
                        double cx = size / 2.0 + size / 4.0 * Math.Cos(angle), cy = size / 2.0 + size / 4.0 * Math.Sin(angle);
                        if (right) cx = size - 1 - cx;
                        var t = new float[3 * size * size];
                        for (int y = 0; y < size; y++)
                            for (int x = 0; x < size; x++)
                            {
                                double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
                                float v = (float)Math.Clamp(Math.Exp(-d2 / (2 * 9.0)) + 0.25 * rng.NextDouble(), 0, 1);
                                for (int ch = 0; ch < 3; ch++) t[ch * size * size + y * size + x] = v * (ch == c % 3 ? 1f : 0.7f);
                            }
                        dict[region] = t;
                    }
                    crops.Add(dict);
                    labels.Add(c);
                    groups.Add($"subject{c}_{s}");
                }
        return new InMemoryRegionSamples(crops, labels, groups, size, Mirrors);
    }

    public static RegionNetConfig Net(int channels = 3) => new() { InputSize = 32, Channels = channels, Width = 4, Stages = 3, ConvsPerStage = 1 };

    public static TrainingOptions Options(int epochs = 2) => new() { Epochs = epochs, BatchSize = 8, LearningRate = 5e-3, Patience = 0, Seed = 11, Threads = 1, LoaderThreads = 1 };

    public static string TempDir() => TestTemp.Dir("models");

    /// <summary>All of <paramref name="s"/>, a quarter of its people held out for validation (seed 3), for one region.</summary>
    public static RegionTrainingData Data(IRegionSamples s, string? region = "periorbital_left")
    {
        var (train, val) = RegionTrainer.SplitByGroup(s, Enumerable.Range(0, s.Count).ToArray(), 0.25, 3);
        return new RegionTrainingData(s, region, train, val, 4);
    }

    /// <summary>
    /// Trains with checkpoints in <paramref name="dir"/>, cancels in the middle of epoch 2 (after epoch 1's checkpoint),
    /// then trains again, which must resume from that checkpoint. Returns the resumed run (caller disposes its net).
    /// </summary>
    public static RegionTrainingResult CancelInEpochTwoThenResume(RegionTrainingData data, TrainingOptions options, string dir)
    {
        using var cts = new CancellationTokenSource();
        string epochTwo = $"epoch 2/{options.Epochs}";
        var stop = ProgressReporters.Synchronous(u => { if (u.Detail?.StartsWith(epochTwo, StringComparison.Ordinal) == true && u.Done % 3 == 1) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => RegionTrainer.Train(data, Net(), options, dir, progress: stop, cancellationToken: cts.Token));
        Assert.EndsWith("epoch-001.pt", RegionTrainer.LatestCheckpoint(dir));
        var resumed = RegionTrainer.Train(data, Net(), options, dir);
        Assert.Equal(1, resumed.ResumedFromEpoch);
        return resumed;
    }

    public static float[] Flat(TorchSharp.torch.nn.Module m)
    {
        // The scope holds each chain's intermediate tensor until libtorch is done with it (see HeldScalars).
        using var scope = TorchSharp.torch.NewDisposeScope();
        return m.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Where(kv => kv.Value.dtype == TorchSharp.torch.ScalarType.Float32)
            .SelectMany(kv => kv.Value.cpu().contiguous().data<float>().ToArray()).ToArray();
    }

    static ModelFixture() => TorchRuntime.EnsureLoaded();
}
