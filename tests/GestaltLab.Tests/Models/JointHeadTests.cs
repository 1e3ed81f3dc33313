using GestaltLab.Ensemble;
using GestaltLab.Models;
using GestaltLab.Runtime;
using static TorchSharp.torch;

namespace GestaltLab.Tests.Models;

public class JointHeadTests
{
    // Two "regions" of two values each. A per-subject nuisance (think face size) shifts both regions' first value by
    // the same large amount; the class is in the difference between them. Each region alone sees mostly the nuisance,
    // so region-wise discriminants (and any pool of them) are near chance; one discriminant over both learns the
    // correlation and cancels it. Region B is in other units (×50), which the standardisation must absorb. Not separable
    // (classes ≈ 3.5 SD of the difference apart), so that the validation photos pin down a finite temperature.
    private static readonly double[] Offsets = [-1.5, -0.5, 0.5, 1.5];
    private const double Nuisance = 5, Noise = 0.4, UnitsB = 50;

    private static (List<float[]> X, List<int> Y) Draw(int perClass, int seed)
    {
        var rng = new Random(seed);
        var x = new List<float[]>();
        var y = new List<int>();
        for (int k = 0; k < Offsets.Length; k++)
            for (int i = 0; i < perClass; i++)
            {
                double s = Nuisance * rng.NextGaussian();
                x.Add([(float)(s + Offsets[k] + Noise * rng.NextGaussian()), (float)rng.NextGaussian(),
                       (float)(UnitsB * (s - Offsets[k] + Noise * rng.NextGaussian())), (float)(UnitsB * rng.NextGaussian())]);
                y.Add(k);
            }
        return (x, y);
    }

    private static List<float[]> Block(List<float[]> x, int start) => x.Select(v => v[start..(start + 2)]).ToList();

    [Fact]
    public void Joint_discriminant_separates_what_no_region_alone_can_and_comes_calibrated()
    {
        var (train, trainY) = Draw(300, 1);
        var (val, valY) = Draw(100, 2);
        var (test, testY) = Draw(200, 3);
        var head = JointHead.Fit(train, trainY, Offsets.Length, val, valY);
        Assert.Equal(4, head.InputSize);
        Assert.Equal(Offsets.Length, head.ClassCount);
        Assert.Contains(head.Shrinkage, DiscriminantHead.ShrinkageGrid);

        double joint = Calibration.Accuracy(test.Select(v => head.Logits(v)).ToList(), testY);
        foreach (int start in new[] { 0, 2 })
        {
            var region = DiscriminantHead.FitSelected(Block(train, start), trainY, Offsets.Length, Block(val, start), valY);
            var logits = DiscriminantHead.Logits(Block(test, start), region.Weight, region.Bias, Offsets.Length);
            double alone = Calibration.Accuracy(logits, testY);
            Assert.True(alone < 0.5, $"region at {start} alone: {alone:P1}");
        }
        Assert.True(joint > 0.85, $"joint head: {joint:P1}"); // Bayes: ≈ 0.94

        // Standardisation and temperature are folded into the weights: the raw logits need no further scaling.
        var valLogits = val.Select(v => head.Logits(v)).ToList();
        Assert.InRange(Calibration.FitTemperature(valLogits, valY, 0.01, 100), 0.95, 1.05);
    }

    [Fact]
    public void Saves_reloads_and_refuses_other_files_naming_them()
    {
        var (train, trainY) = Draw(50, 4);
        var head = JointHead.Fit(train, trainY, Offsets.Length, [], []);
        Assert.Equal(DiscriminantHead.DefaultShrinkage, head.Shrinkage);
        Assert.Equal(1, head.Temperature);
        string dir = ModelFixture.TempDir();
        string path = Path.Combine(dir, JointHead.FileName);
        head.Save(path);
        var back = JointHead.Load(path);
        Assert.Equal(head.Weight, back.Weight);
        Assert.Equal(head.Bias, back.Bias);
        Assert.Equal(head.Shrinkage, back.Shrinkage);

        string other = Path.Combine(dir, "other.pt");
        using (var t = zeros(3)) WeightsFile.Save(other, "{}", [new("x", t)]);
        Assert.Contains(other, Assert.Throws<GestaltLabException>(() => JointHead.Load(other)).Message);
        Assert.Contains("embedding has 3 values, expected 4", Assert.Throws<GestaltLabException>(() => head.Logits(new float[3])).Message);
    }
}
