using GestaltLab.Ensemble;
using GestaltLab.Evaluation;
using GestaltLab.Models;
using GestaltLab.Runtime;
using GestaltLab.Regions;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Models;

/// <summary>
/// Does the pipeline learn syndromes at all? The <c>mini</c> preset (9 teaching analogues + controls, chance 10 %) at
/// eight times its size, ground-truth alignment, three regions fine-tuned from the shipped backbone: the ensemble must
/// beat chance by a wide margin on held-out people. Real training, real data; a broken loss, label mix-up, bad
/// augmentation or a no-op calibration fails it.
/// </summary>
public class LearningTests
{
    private static readonly TrainConfig Config = TrainConfig.Demo with
    {
        Training = TrainConfig.Demo.Training with { Epochs = 15, Seed = 5, Threads = 2 },
        Regions = ["face", "nose", "mouth_philtrum"],
    };

    [Fact]
    public void Pretrained_ensemble_on_mini_beats_chance_by_a_wide_margin()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data"), aligned = Path.Combine(root, "aligned"), run = Path.Combine(root, "run");
        SyntheticDataset.Generate("mini", 5, data, scale: 8, nuisance: NuisanceLevel.Clean);
        using (var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(64), ComputeConfidence = false }))
            FaceDatasetAligner.Run(data, aligned, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });

        var trained = GestaltTraining.Train(aligned, run, Config, ShippedBackbone.Path());
        using var model = trained.Model;
        // No oracle folder named: the aligned folder's own source, which holds the generator's oracle.
        var result = ModelEvaluation.Evaluate(model, aligned, Path.Combine(root, "eval"));
        Assert.NotNull(result.Metrics.Oracle);
        double chance = 1.0 / model.Classes.Count;
        var m = result.Metrics;
        string summary = $"ensemble top-1 {m.Top1:P1}, top-5 {m.Top5:P1} on {m.NImages} photos; chance {chance:P0}; regions "
            + string.Join(", ", result.Regions.Select(r => $"{r.Region} {r.Top1:P0}"));
        Console.WriteLine(summary);
        Assert.Equal(10, model.Classes.Count);
        Assert.True(m.NImages >= 70, summary);
        Assert.True(m.Top1 >= 2.5 * chance, summary);
        Assert.True(m.Top5 >= 0.75, summary);
        Assert.All(trained.Regions.Values, r => Assert.InRange(r.Temperature, Calibration.MinTemperature, Calibration.MaxTemperature));

        // The run records which backbone it started from by content, and will not resume from another (here: none).
        Assert.Equal(RunManifest.ComputeFileHash(ShippedBackbone.Path()!), RunManifest.Load(run).Config["pretrained_sha256"]?.GetValue<string>());
        var other = Assert.Throws<GestaltLabException>(() => GestaltTraining.Train(aligned, run, Config, pretrainedBackbone: null));
        Assert.Contains("another backbone", other.Message);
    }
}
