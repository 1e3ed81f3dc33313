using GestaltLab.Ensemble;
using GestaltLab.Evaluation;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Models;

/// <summary>
/// Does the pipeline learn syndromes at all? The <c>mini</c> preset (9 teaching analogues + controls, chance 10 %) at
/// three times its size, ground-truth alignment, three regions fine-tuned from the shipped backbone: the ensemble must
/// beat chance by a wide margin on held-out people. Real training, real data; a broken loss, label mix-up, bad
/// augmentation or a no-op calibration fails it.
/// </summary>
public class LearningTests
{
    private static readonly TrainConfig Config = TrainConfig.Demo with
    {
        Training = TrainConfig.Demo.Training with { Epochs = 12, Patience = 0, Seed = 5, Threads = 2 },
        Regions = ["face", "upper_face", "mouth_philtrum"],
    };

    [Fact]
    public void Pretrained_ensemble_on_mini_beats_chance_by_a_wide_margin()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data"), aligned = Path.Combine(root, "aligned"), run = Path.Combine(root, "run");
        SyntheticDataset.Generate("mini", 5, data, scale: 3);
        using (var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(64), ComputeConfidence = false }))
            FaceDatasetAligner.Run(data, aligned, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });

        var trained = GestaltTraining.Train(aligned, run, Config, ShippedBackbone.Path());
        using var model = trained.Model;
        var result = ModelEvaluation.Evaluate(model, aligned, Path.Combine(root, "eval"), data);
        double chance = 1.0 / model.Classes.Count;
        Assert.Equal(10, model.Classes.Count);
        Assert.True(result.Metrics.NImages >= 50, $"only {result.Metrics.NImages} test images");
        Assert.True(result.Metrics.Top1 >= 3 * chance, $"ensemble top-1 {result.Metrics.Top1:P1}, chance {chance:P1}");
        Assert.True(result.Metrics.Top5 >= 0.8, $"ensemble top-5 {result.Metrics.Top5:P1}, chance 50 %");
        Assert.All(trained.Regions.Values, r => Assert.InRange(r.Temperature, Calibration.MinTemperature, Calibration.MaxTemperature));
    }
}
