using GestaltLab.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Tests.Models;

public class CalibrationTests
{
    [Fact]
    public void Overconfident_logits_get_a_temperature_above_one_and_underconfident_below()
    {
        // 3 classes, right 60 % of the time. Overconfident: margin 10 (p ≈ 1 for the argmax); the calibrated T brings
        // the confidence near 0.6, so it must be well above 1. The same logits scaled down by 50 are underconfident.
        var rng = new Random(3);
        var logits = new List<float[]>();
        var labels = new List<int>();
        for (int i = 0; i < 500; i++)
        {
            int label = rng.Next(3);
            int predicted = rng.NextDouble() < 0.6 ? label : (label + 1 + rng.Next(2)) % 3;
            var z = new float[3];
            z[predicted] = 10;
            logits.Add(z);
            labels.Add(label);
        }
        double t = Calibration.FitTemperature(logits, labels);
        Assert.InRange(t, 5, 20);
        // Optimum: softmax confidence = accuracy, i.e. e^(10/T) / (e^(10/T) + 2) ≈ observed accuracy.
        double acc = Calibration.Accuracy(logits, labels);
        double conf = Math.Exp(10 / t) / (Math.Exp(10 / t) + 2);
        Assert.InRange(conf, acc - 0.02, acc + 0.02);
        Assert.True(Calibration.CrossEntropy(logits, labels, t) < Calibration.CrossEntropy(logits, labels, 1));

        var weak = logits.Select(z => z.Select(v => v / 50).ToArray()).ToList();
        Assert.True(Calibration.FitTemperature(weak, labels) < 1);
        Assert.Equal(1, Calibration.FitTemperature([], []));
    }

    [Fact]
    public void A_few_validation_photos_all_ranked_right_do_not_make_every_prediction_certain()
    {
        // Eight photos of four classes, each ranked first by a margin: the plain cross-entropy falls without end as the
        // temperature drops, and the plain fit runs to the bottom of its range (every probability 100 %).
        var rng = new Random(5);
        var labels = Enumerable.Range(0, 8).Select(i => i % 4).ToList();
        var logits = labels.Select(y => Enumerable.Range(0, 4).Select(c => (float)(c == y ? 1.0 + rng.NextDouble() : rng.NextDouble())).ToArray()).ToList();
        Assert.InRange(Calibration.FitTemperature(logits, labels, 0.01, 100), 0.01, 0.0111);
        // Smoothed by the rule of succession (ε = 1/10), the fit stops where the true class gets about 9 in 10 on average.
        double t = Calibration.FitTemperatureSmoothed(logits, labels, 0.01, 100);
        double meanTrue = logits.Select((z, i) => Calibration.Softmax(z.Select(v => (float)(v / t)).ToArray())[labels[i]]).Average();
        Assert.InRange(meanTrue, 0.75, 0.97);
        // With hundreds of photos that are not separable, it is the plain fit within a few per cent.
        var many = Enumerable.Range(0, 600).Select(i => i % 4).ToList();
        var noisy = many.Select(y => Enumerable.Range(0, 4).Select(c => (float)((c == y ? 1.0 : 0.0) + 1.5 * rng.NextDouble())).ToArray()).ToList();
        Assert.Equal(Calibration.FitTemperature(noisy, many, 0.01, 100), Calibration.FitTemperatureSmoothed(noisy, many, 0.01, 100), 0.05);

        // Under flip augmentation (region nets): identical views give the fit of one view; mirrored views of their own
        // noise, each ranked right, still run the plain fit to the floor, and the smoothed fit stops as without them.
        Assert.Equal(t, Calibration.FitTemperatureSmoothed(logits, logits, labels, 0.01, 100), 6);
        var mirrored = labels.Select(y => Enumerable.Range(0, 4).Select(c => (float)(c == y ? 1.0 + rng.NextDouble() : rng.NextDouble())).ToArray()).ToList();
        Assert.InRange(Calibration.FitTemperature(logits, mirrored, labels, 0.01, 100), 0.01, 0.0111);
        double tFlip = Calibration.FitTemperatureSmoothed(logits, mirrored, labels, 0.01, 100);
        double meanTrueFlip = logits.Select((z, i) =>
            (Calibration.Softmax(z.Select(v => (float)(v / tFlip)).ToArray())[labels[i]]
             + Calibration.Softmax(mirrored[i].Select(v => (float)(v / tFlip)).ToArray())[labels[i]]) / 2).Average();
        Assert.InRange(meanTrueFlip, 0.75, 0.97);
    }

    [Fact]
    public void With_flip_augmentation_the_temperature_is_fitted_for_the_averaged_probabilities()
    {
        // Each view alone is sharp and right 70 % of the time; the two views of a photo often disagree, so their average
        // is already less confident than either: the temperature for the average must be lower than for one view.
        var rng = new Random(7);
        var (logits, flipped, labels) = (new List<float[]>(), new List<float[]>(), new List<int>());
        float[] View(int label)
        {
            var z = new float[5];
            z[rng.NextDouble() < 0.7 ? label : rng.Next(5)] = 8;
            return z;
        }
        for (int i = 0; i < 800; i++)
        {
            int label = rng.Next(5);
            labels.Add(label);
            logits.Add(View(label));
            flipped.Add(View(label));
        }
        double single = Calibration.FitTemperature(logits, labels);
        double averaged = Calibration.FitTemperature(logits, flipped, labels);
        Assert.True(averaged < 0.9 * single, $"averaged {averaged:F2} vs single {single:F2}");
        // It minimises the averaged cross-entropy, which is what flip TTA is scored by.
        double Ce(double t) => Calibration.CrossEntropy(logits, flipped, labels, t);
        Assert.True(Ce(averaged) < Ce(single) - 1e-3);
        Assert.True(Ce(averaged) <= Ce(averaged * 1.05) && Ce(averaged) <= Ce(averaged / 1.05));
        // Identical views: the same as no augmentation.
        Assert.Equal(Calibration.CrossEntropy(logits, labels, 2.5), Calibration.CrossEntropy(logits, logits, labels, 2.5), 9);
        Assert.Equal(single, Calibration.FitTemperature(logits, logits, labels), 6);
        // Accuracy of the averaged softmax: a photo whose views disagree goes to the more confident one.
        Assert.Equal(1.0, Calibration.Accuracy([[0f, 3f], [0f, 3f]], [[1f, 0f], [0f, 2f]], [1, 1], 1));
        Assert.Equal(0.5, Calibration.Accuracy([[0f, 1f], [0f, 3f]], [[4f, 0f], [0f, 2f]], [1, 1], 1));
    }

    [Fact]
    public void Log_linear_weights_favour_informative_regions_and_beat_the_geometric_mean()
    {
        // Two regions see independent evidence for the true class (p 0.35 where chance is 0.1); a third is noise.
        var rng = new Random(5);
        const int classes = 10, n = 600;
        var labels = Enumerable.Range(0, n).Select(_ => rng.Next(classes)).ToArray();
        float[] Informative(int label)
        {
            var p = Enumerable.Range(0, classes).Select(_ => (float)rng.NextDouble()).ToArray();
            p[rng.NextDouble() < 0.5 ? label : rng.Next(classes)] += 3;
            float sum = p.Sum();
            return p.Select(v => v / sum).ToArray();
        }
        float[] Noise()
        {
            var p = Enumerable.Range(0, classes).Select(_ => (float)Math.Pow(rng.NextDouble(), 4)).ToArray();
            float sum = p.Sum();
            return p.Select(v => v / sum).ToArray();
        }
        var regions = new List<IReadOnlyList<float[]>>
        {
            labels.Select(Informative).ToList(), labels.Select(Informative).ToList(), labels.Select(_ => Noise()).ToList(),
        };
        var w = Calibration.FitLogLinearWeights(regions, labels);
        Assert.All(w, v => Assert.True(v >= 0));
        Assert.True(w[0] > 3 * w[2] && w[1] > 3 * w[2], $"weights {string.Join(", ", w)}");

        double Nll(double[] weights) => Enumerable.Range(0, n).Average(i =>
        {
            var z = Enumerable.Range(0, classes).Select(c => Enumerable.Range(0, 3).Sum(k => weights[k] * Math.Log(Math.Max(regions[k][i][c], Calibration.LogFloor)))).ToArray();
            double max = z.Max();
            return max + Math.Log(z.Sum(v => Math.Exp(v - max))) - z[labels[i]];
        });
        Assert.True(Nll(w) < Nll([1.0 / 3, 1.0 / 3, 1.0 / 3]) - 0.05, $"fitted {Nll(w)} vs geometric mean {Nll([1.0 / 3, 1.0 / 3, 1.0 / 3])}");
        // One informative region alone: its weight sharpens or flattens it like a temperature, never below 0.
        Assert.True(Assert.Single(Calibration.FitLogLinearWeights([regions[0]], labels)) > 0);
    }

    [Fact]
    public void Folding_the_temperature_divides_the_logits_and_keeps_the_embedding()
    {
        using var scope = torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        var net = new RegionNet(ModelFixture.Net(), 4);
        net.eval();
        using var x = torch.rand(5, 3, 32, 32);
        using var before = net.forward(x);
        using var embBefore = net.Embed(x);
        Calibration.FoldTemperature(net, 2.5);
        using var after = net.forward(x);
        using var embAfter = net.Embed(x);
        using var t = 2.5.ToScalar();   // explicit: an implicit one can be freed by the GC mid-call (see HeldScalars)
        Assert.True(after.allclose(before.div(t), rtol: 1e-5, atol: 1e-6));
        Assert.True(embAfter.allclose(embBefore));
        Assert.Throws<ArgumentOutOfRangeException>(() => Calibration.FoldTemperature(net, 0));
    }

    [Fact]
    public void Stable_batch_norm_computes_what_TorchSharps_BatchNorm2d_does()
    {
        using var scope = torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        torch.manual_seed(4);
        using var reference = nn.BatchNorm2d(6);
        var ours = new StableBatchNorm2d(6);
        Assert.Equal(reference.state_dict().Keys.Order(), ours.state_dict().Keys.Order());
        foreach (var (k, v) in reference.state_dict()) Assert.Equal(v.shape, ours.state_dict()[k].shape);
        for (int step = 0; step < 3; step++)
        {
            using var three = 3.ToScalar();
            using var one = 1.ToScalar();
            using var x = torch.randn(8, 6, 5, 5).mul(three).add(one, one);
            using var a = reference.forward(x);
            using var b = ours.forward(x);
            Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-5));
        }
        foreach (var (k, v) in reference.state_dict()) Assert.True(v.to_type(ScalarType.Float64).allclose(ours.state_dict()[k].to_type(ScalarType.Float64)), k);
        Assert.Equal(3L, ours.state_dict()["num_batches_tracked"].item<long>());
        reference.eval();
        ours.eval();
        using var y = torch.randn(2, 6, 5, 5);
        Assert.True(reference.forward(y).allclose(ours.forward(y), rtol: 1e-5, atol: 1e-5));
    }
}
