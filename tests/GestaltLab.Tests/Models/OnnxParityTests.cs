using GestaltLab.Ensemble;
using GestaltLab.Models;
using GestaltLab.Regions;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace GestaltLab.Tests.Models;

public class OnnxParityTests
{
    private static readonly RegionSet Set = RegionSet.Default.Only("face", "periorbital_left", "periorbital_right");

    // Uneven, so that reweighting by them changes the answer.
    private static readonly ClassPriors Uneven = new([0.55, 0.25, 0.15, 0.05], 0.8);

    private static GestaltModel TrainedModel(int channels, string pooling = RegionNetConfig.PoolingAverage, string combination = EnsembleCombination.Average,
        string priors = ClassPriors.Equal, int convsPerStage = 1)
    {
        var s = ModelFixture.Patterns();
        var nets = new List<(string, RegionNet)>();
        foreach (var region in new[] { "face", "periorbital_left" })
        {
            var all = Enumerable.Range(0, s.Count).ToArray();
            // One short epoch gives batch-norm statistics far from identity, which is what the folding must get right.
            var r = RegionTrainer.Train(new RegionTrainingData(s, region, all, [], 4),
                ModelFixture.Net(channels) with { Pooling = pooling, FlattenEmbeddingSize = 24, ConvsPerStage = convsPerStage }, ModelFixture.Options(1));
            nets.Add((region, r.Net));
        }
        // Unequal weights (not summing to 1 for the log-linear pool) so that the exported weighting is checked too.
        var weights = new Dictionary<string, double> { ["face"] = 0.7, ["periorbital_left"] = 0.45 };
        string[] classes = ["c0", "c1", "c2", "c3"];
        if (combination != EnsembleCombination.Joint)
            return new GestaltModel(nets, classes, Set, regionWeights: weights, combination: combination, classPriors: Uneven, priors: priors);
        // The joint head fitted as training does: on the embeddings the pooled model computes (flip TTA included).
        // Not disposed: it shares the nets with the model returned.
        var pooled = new GestaltModel(nets, classes, Set, regionWeights: weights, combination: EnsembleCombination.LogLinear);
        var embeddings = pooled.Predict(s.Crops).Select(p => p.Embedding).ToList();
        var head = JointHead.Fit(embeddings, s.Labels, classes.Length, embeddings, s.Labels);
        return new GestaltModel(nets, classes, Set, regionWeights: weights, combination: combination, jointHead: head, classPriors: Uneven, priors: priors);
    }

    [Fact]
    public void A_model_over_another_models_nets_leaves_them_usable_when_disposed()
    {
        using var model = TrainedModel(3);
        var s = ModelFixture.Patterns(seed: 5);
        var before = model.Predict(s.Crops)[0].Probabilities;
        var other = new GestaltModel(model.Nets, model.Classes, model.RegionSet, model.FlipTta, null, EnsembleCombination.LogLinear, ownsNets: false);
        Assert.NotEqual(before, other.Predict(s.Crops)[0].Probabilities);
        other.Dispose();
        Assert.Equal(before, model.Predict(s.Crops)[0].Probabilities);
        // Used after disposal, a model says so (not an index error from an emptied list); nor can its parts be changed.
        Assert.Throws<ObjectDisposedException>(() => other.InputSize);
        Assert.Throws<ObjectDisposedException>(() => other.Predict(s.Crops));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Predict(s.Crops, batchSize: 0));
        Assert.Throws<NotSupportedException>(() => ((IList<(string, RegionNet)>)model.Nets).Clear());
        Assert.False(model.RegionWeights is IDictionary<string, double> { IsReadOnly: false });
        // A face without a needed crop is named by its place in the caller's list, not in the batch of 64 it fell in.
        var faces = Enumerable.Repeat(s.Crops[0], 70).ToList();
        faces[65] = s.Crops[0].Where(kv => kv.Key != "face").ToDictionary();
        Assert.StartsWith("face 65:", Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => model.Predict(faces)).Message);
        // Exported without flip TTA, the graph holds no flip constants (ONNX Runtime warned of each unused one at every load).
        static string Text(byte[] onnx) => System.Text.Encoding.Latin1.GetString(onnx);
        Assert.Contains("flip_starts", Text(OnnxExporter.ExportEnsemble(model.Nets, model.RegionSet.MirrorOf)));
        Assert.DoesNotContain("flip_starts", Text(OnnxExporter.ExportEnsemble(model.Nets, model.RegionSet.MirrorOf, flipTta: false)));
    }

    [Theory]
    [InlineData(3, RegionNetConfig.PoolingAverage, EnsembleCombination.Average)]
    [InlineData(3, RegionNetConfig.PoolingAverage, EnsembleCombination.LogLinear)]
    [InlineData(1, RegionNetConfig.PoolingAverage, EnsembleCombination.LogLinear)]
    [InlineData(3, RegionNetConfig.PoolingFlatten, EnsembleCombination.Average)]
    [InlineData(3, RegionNetConfig.PoolingAverage, EnsembleCombination.Joint)]
    [InlineData(3, RegionNetConfig.PoolingAverage, EnsembleCombination.Average, ClassPriors.Training)]
    [InlineData(3, RegionNetConfig.PoolingAverage, EnsembleCombination.LogLinear, ClassPriors.Training)]
    [InlineData(3, RegionNetConfig.PoolingAverage, EnsembleCombination.Joint, ClassPriors.Training)]
    // Two convolutions per stage, as the default (non-demo) config has: the pooling sits after the second.
    [InlineData(3, RegionNetConfig.PoolingAverage, EnsembleCombination.Joint, ClassPriors.Equal, 2)]
    [InlineData(1, RegionNetConfig.PoolingFlatten, EnsembleCombination.LogLinear, ClassPriors.Equal, 2)]
    public void Ensemble_onnx_matches_TorchSharp_through_OnnxRuntime(int channels, string pooling, string combination, string priors = ClassPriors.Equal,
        int convsPerStage = 1)
    {
        using var model = TrainedModel(channels, pooling, combination, priors, convsPerStage);
        var s = ModelFixture.Patterns(seed: 99);
        var faces = Enumerable.Range(0, 6).Select(i => s.Crops[i * 7 % s.Count]).ToList();
        var expected = model.Predict(faces);
        using var session = new InferenceSession(model.ExportOnnx());
        int size = s.CropSize;
        var inputs = model.InputRegions.Select(r =>
        {
            var data = faces.SelectMany(f => f[r]).ToArray();
            return NamedOnnxValue.CreateFromTensor(r, new DenseTensor<float>(data, [faces.Count, 3, size, size]));
        }).ToList();
        using var outputs = session.Run(inputs);
        var probs = outputs.First(o => o.Name == "probabilities").AsTensor<float>().ToArray();
        var emb = outputs.First(o => o.Name == "embedding").AsTensor<float>().ToArray();
        var regionProbs = outputs.First(o => o.Name == "periorbital_left_probabilities").AsTensor<float>().ToArray();
        double maxDiff = 0, maxEmb = 0;
        for (int i = 0; i < faces.Count; i++)
        {
            for (int c = 0; c < 4; c++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(probs[i * 4 + c] - expected[i].Probabilities[c]));
                maxDiff = Math.Max(maxDiff, Math.Abs(regionProbs[i * 4 + c] - expected[i].RegionProbabilities["periorbital_left"][c]));
            }
            int d = expected[i].Embedding.Length;
            for (int k = 0; k < d; k++) maxEmb = Math.Max(maxEmb, Math.Abs(emb[i * d + k] - expected[i].Embedding[k]));
            Assert.Equal(1.0, expected[i].Probabilities.Sum(), 4);
        }
        Assert.True(maxDiff <= 1e-4, $"max |p_onnx - p_torch| = {maxDiff}");
        Assert.True(maxEmb <= 1e-3, $"max embedding diff = {maxEmb}");
        // The combined prediction differs from a single region's: the ensemble really combines them.
        Assert.NotEqual(expected[0].RegionProbabilities["face"], expected[0].RegionProbabilities["periorbital_left"]);
        // Contributions split each probability among the regions.
        var top = expected[0].Top(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => expected[0].Top(-1));
        Assert.Equal(top[0].Probability, top[0].Contributions.Values.Sum(), 5);
        if (combination == EnsembleCombination.Average && priors == ClassPriors.Equal)
            Assert.Equal(0.7 / 1.15 * expected[0].RegionProbabilities["face"][model.Classes.ToList().IndexOf(top[0].Syndrome)], top[0].Contributions["face"], 5);
        // With training priors the answer is the equal-prior one times f^β, renormalised: p'_c ∝ p_c·f_c^β.
        foreach (var e in expected)
        {
            var equal = model.EqualPriorProbabilities(e);
            var want = equal.Select((p, c) => p * Math.Pow(Uneven.Frequencies[c], priors == ClassPriors.Training ? Uneven.Strength : 0)).ToArray();
            double sum = want.Sum();
            for (int c = 0; c < 4; c++) Assert.Equal(want[c] / sum, e.Probabilities[c], 5);
        }
    }

    [Fact]
    public void Region_onnx_and_MLNet_ApplyOnnxModel_match_TorchSharp()
    {
        using var model = TrainedModel(3);
        var (region, net) = model.Nets[1];
        var s = ModelFixture.Patterns(seed: 5);
        string dir = ModelFixture.TempDir();
        string onnx = Path.Combine(dir, region + ".onnx");
        File.WriteAllBytes(onnx, OnnxExporter.ExportRegion(net, region));

        var ml = new MLContext(seed: 0);
        var rows = Enumerable.Range(0, 5).Select(i => new CropRow { periorbital_left = s.Crops[i * 5]["periorbital_left"] }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var pipeline = ml.Transforms.ApplyOnnxModel([region + "_probabilities"], [region], onnx).Fit(data);
        string zip = Path.Combine(dir, "model.zip");
        ml.Model.Save(pipeline, data.Schema, zip);
        var reloaded = new MLContext(seed: 0).Model.Load(zip, out _);
        var got = reloaded.Transform(data).GetColumn<float[]>(region + "_probabilities").ToList();

        using var noGrad = TorchSharp.torch.no_grad();
        using var scope = TorchSharp.torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        double maxDiff = 0;
        for (int i = 0; i < rows.Count; i++)
        {
            using var x = TorchSharp.torch.tensor(rows[i].periorbital_left, [1, 3, 32, 32]);
            using var p = TorchSharp.torch.nn.functional.softmax(net.forward(x), 1);
            var expected = p.data<float>().ToArray();
            for (int c = 0; c < 4; c++) maxDiff = Math.Max(maxDiff, Math.Abs(got[i][c] - expected[c]));
        }
        Assert.True(maxDiff <= 1e-4, $"max |p_mlnet - p_torch| = {maxDiff}");
    }

    private sealed class CropRow
    {
#pragma warning disable IDE1006
        [VectorType(3, 32, 32)] public float[] periorbital_left { get; set; } = [];
#pragma warning restore IDE1006
    }
}
