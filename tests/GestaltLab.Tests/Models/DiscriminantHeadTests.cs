using GestaltLab.Models;
using GestaltLab.Runtime;
using static TorchSharp.torch;

namespace GestaltLab.Tests.Models;

public class DiscriminantHeadTests
{
    // Two features with a shared, strongly correlated covariance: classes differ along the narrow direction, so
    // Euclidean nearest-mean is misled by the wide one while LDA (which whitens by the shared covariance) is not.
    // Class means given along the wide and the narrow axis (the 45° diagonals); the narrow coordinates are 4 SD apart.
    private const double SdWide = 3, SdNarrow = 0.15;
    private static readonly double[] WideAt = [0, 1, -1, 0.5], NarrowAt = [-0.9, -0.3, 0.3, 0.9];
    private static readonly double[][] Means = WideAt.Select((w, k) =>
        new[] { (w + NarrowAt[k]) * Math.Sqrt(0.5), (w - NarrowAt[k]) * Math.Sqrt(0.5) }).ToArray();

    private static (List<float[]> X, List<int> Y) Draw(int perClass, int seed, int extraNoiseDims = 0)
    {
        var rng = new Random(seed);
        var x = new List<float[]>();
        var y = new List<int>();
        double c = Math.Sqrt(0.5);
        for (int k = 0; k < Means.Length; k++)
            for (int i = 0; i < perClass; i++)
            {
                double a = SdWide * rng.NextGaussian(), b = SdNarrow * rng.NextGaussian();
                var v = new float[2 + extraNoiseDims];
                v[0] = (float)(Means[k][0] + c * (a + b));
                v[1] = (float)(Means[k][1] + c * (a - b));
                for (int j = 2; j < v.Length; j++) v[j] = (float)rng.NextGaussian();
                x.Add(v);
                y.Add(k);
            }
        return (x, y);
    }

    [Fact]
    public void Weights_match_the_closed_form_and_beat_nearest_mean_under_a_shared_correlated_covariance()
    {
        var (x, y) = Draw(4000, 1);
        var fit = DiscriminantHead.FitFixed(x, y, Means.Length, shrinkage: 0);

        // Σ = R diag(wide², narrow²) Rᵀ with R the 45° rotation, so Σ⁻¹ = R diag(1/wide², 1/narrow²) Rᵀ.
        double p = 0.5 / (SdWide * SdWide), q = 0.5 / (SdNarrow * SdNarrow);
        double[,] inv = { { p + q, p - q }, { p - q, p + q } };
        for (int k = 0; k < Means.Length; k++)
        {
            double w0 = inv[0, 0] * Means[k][0] + inv[0, 1] * Means[k][1], w1 = inv[1, 0] * Means[k][0] + inv[1, 1] * Means[k][1];
            double scale = Math.Max(1, Math.Abs(w0) + Math.Abs(w1));
            Assert.InRange(fit.Weight[2 * k] - w0, -0.08 * scale, 0.08 * scale);
            Assert.InRange(fit.Weight[2 * k + 1] - w1, -0.08 * scale, 0.08 * scale);
            double b = -0.5 * (w0 * Means[k][0] + w1 * Means[k][1]);
            Assert.InRange(fit.Bias[k] - b, -0.08 * scale, 0.08 * scale);
        }

        var (tx, ty) = Draw(500, 2);
        double lda = Calibration.Accuracy(DiscriminantHead.Logits(tx, fit.Weight, fit.Bias, Means.Length), ty);
        double nearest = tx.Select((v, i) => Enumerable.Range(0, Means.Length)
            .MinBy(k => Math.Pow(v[0] - Means[k][0], 2) + Math.Pow(v[1] - Means[k][1], 2)) == ty[i] ? 1.0 : 0.0).Average();
        Assert.True(lda > 0.9, $"LDA accuracy {lda:P1}"); // Bayes: ≈ 0.97
        Assert.True(lda > nearest + 0.3, $"LDA {lda:P1} vs nearest mean {nearest:P1}");
    }

    [Fact]
    public void Validation_picks_more_shrinkage_when_training_photos_are_few_for_the_dimensions()
    {
        var (val, valY) = Draw(200, 5, extraNoiseDims: 40);
        var (many, manyY) = Draw(3000, 3, extraNoiseDims: 40);
        var (few, fewY) = Draw(8, 4, extraNoiseDims: 40);
        var plenty = DiscriminantHead.FitSelected(many, manyY, Means.Length, val, valY);
        var scarce = DiscriminantHead.FitSelected(few, fewY, Means.Length, val, valY);
        Assert.True(scarce.Shrinkage > plenty.Shrinkage, $"few photos: {scarce.Shrinkage}, many: {plenty.Shrinkage}");
        Assert.True(plenty.ValidationAccuracy > scarce.ValidationAccuracy);
        Assert.Contains(plenty.Shrinkage, DiscriminantHead.ShrinkageGrid);

        var noVal = DiscriminantHead.FitSelected(few, fewY, Means.Length, [], []);
        Assert.Equal(DiscriminantHead.DefaultShrinkage, noVal.Shrinkage);
        Assert.True(double.IsNaN(noVal.ValidationAccuracy));
    }

    [Fact]
    public void Installed_head_is_the_nets_classifier_and_bad_input_is_refused()
    {
        manual_seed(3);
        var cfg = ModelFixture.Net();
        using var net = new RegionNet(cfg, 3);
        net.eval();
        var rng = new Random(9);
        int d = cfg.EmbeddingSize;
        var w = Enumerable.Range(0, 3 * d).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var b = new float[] { 0.5f, -0.25f, 1 };
        DiscriminantHead.Install(net, new DiscriminantHead.Fit(w, b, 0.3, double.NaN, double.NaN));

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = rand(4, cfg.Channels, cfg.InputSize, cfg.InputSize);
        var logits = net.forward(input).data<float>().ToArray();
        var emb = net.Embed(input).data<float>().ToArray();
        var rows = Enumerable.Range(0, 4).Select(i => emb.AsSpan(i * d, d).ToArray()).ToList();
        var expected = DiscriminantHead.Logits(rows, w, b, 3).SelectMany(r => r).ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], logits[i], 1e-4f);

        Assert.Throws<GestaltLabException>(() => DiscriminantHead.Install(net, new DiscriminantHead.Fit(w[..d], b[..1], 0.3, double.NaN, double.NaN)));
        var e = Assert.Throws<GestaltLabException>(() => DiscriminantHead.FitFixed([[1f, 2f], [2f, 1f]], [0, 0], 2, 0.5));
        Assert.Contains("class 1 has no training photos", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DiscriminantHead.FitFixed([[1f, 2f], [2f, 1f]], [0, 1], 2, 1.5));
    }
}
