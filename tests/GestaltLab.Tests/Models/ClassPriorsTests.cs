using GestaltLab.Ensemble;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Models;

public class ClassPriorsTests
{
    // Training labels: class 0 six times as common as class 2.
    private static readonly int[] TrainLabels = [.. Enumerable.Repeat(0, 60), .. Enumerable.Repeat(1, 30), .. Enumerable.Repeat(2, 10)];

    private static float[][] Uninformative(int n) => Enumerable.Range(0, n).Select(_ => new[] { 1 / 3f, 1 / 3f, 1 / 3f }).ToArray();

    [Fact]
    public void Strength_follows_what_the_validation_photos_reward()
    {
        // An ensemble that knows nothing: the best answer is the class frequencies themselves, so when validation is
        // drawn like training the fit picks full strength (β = 1), and when it is balanced it picks none (β = 0).
        var drawnLikeTraining = ClassPriors.Fit(TrainLabels, 3, Uninformative(TrainLabels.Length), TrainLabels);
        Assert.Equal([0.6, 0.3, 0.1], drawnLikeTraining.Frequencies);
        Assert.Equal(1.0, drawnLikeTraining.Strength, 6);
        int[] balanced = [.. Enumerable.Range(0, 90).Select(i => i % 3)];
        Assert.Equal(0.0, ClassPriors.Fit(TrainLabels, 3, Uninformative(balanced.Length), balanced).Strength, 6);

        // A calibrated equal-prior ensemble (its output is the likelihood, normalised): Bayes' rule, β ≈ 1, is best again.
        // Each photo shows a noisy cue g with P(g | y) = 0.6 when g = y, else 0.2; labels drawn like the training photos.
        var rng = new Random(5);
        var labels = Enumerable.Range(0, 4000).Select(_ => TrainLabels[rng.Next(TrainLabels.Length)]).ToArray();
        var calibrated = labels.Select(y =>
        {
            double u = rng.NextDouble();
            int cue = u < 0.6 ? y : (y + (u < 0.8 ? 1 : 2)) % 3;
            var p = new float[3];
            for (int c = 0; c < 3; c++) p[c] = c == cue ? 0.6f : 0.2f;
            return p;
        }).ToArray();
        Assert.InRange(ClassPriors.Fit(TrainLabels, 3, calibrated, labels).Strength, 0.8, 1.2);

        // Without validation photos: Bayes' rule.
        Assert.Equal(1.0, ClassPriors.Fit(TrainLabels, 3, [], []).Strength);
    }

    [Fact]
    public void Frequencies_are_a_copy_no_caller_can_change()
    {
        // A model reckons its prior factors once; frequencies changed later would be saved with the run but never used.
        double[] given = [0.5, 0.3, 0.2];
        var priors = new ClassPriors(given, 1);
        float[] before = priors.Weights();
        given[0] = 0.01;
        Assert.Equal(0.5, priors.Frequencies[0]);
        Assert.False(priors.Frequencies is double[]);
        Assert.Throws<NotSupportedException>(() => ((IList<double>)priors.Frequencies)[0] = 0.01);
        Assert.Equal(before, priors.Weights());
        double[] other = [0.2, 0.3, 0.5];
        var changed = priors with { Frequencies = other };
        other[0] = 0.9;
        Assert.Equal(0.2, changed.Frequencies[0]);
    }

    [Fact]
    public void Reweighting_keeps_a_distribution_and_favours_the_common_class()
    {
        var priors = new ClassPriors([0.6, 0.3, 0.1], 1);
        var w = priors.Weights();
        Assert.Equal(1f, w.Max());
        Assert.Equal(6.0, w[0] / w[2], 4);
        var p = new[] { 0.3f, 0.3f, 0.4f };
        ClassPriors.ApplyInPlace(p, w);
        Assert.Equal(1.0, p.Sum(), 5);
        Assert.Equal(0, Array.IndexOf(p, p.Max()));
        Assert.Equal(0.18 / (0.18 + 0.09 + 0.04), p[0], 5);
        // Strength 0 changes nothing.
        var same = new[] { 0.3f, 0.3f, 0.4f };
        ClassPriors.ApplyInPlace(same, new ClassPriors([0.6, 0.3, 0.1], 0).Weights());
        Assert.Equal([0.3f, 0.3f, 0.4f], same);
    }

    [Fact]
    public void Bad_labels_and_names_are_refused()
    {
        Assert.Contains("class 2 has no training photos", Assert.Throws<GestaltLabException>(() => ClassPriors.Fit([0, 1, 1], 3, [], [])).Message);
        Assert.Contains("label 3", Assert.Throws<GestaltLabException>(() => ClassPriors.Fit([0, 3], 3, [], [])).Message);
        Assert.Contains("no training labels", Assert.Throws<GestaltLabException>(() => ClassPriors.Fit([], 3, [], [])).Message);
        var e = Assert.Throws<GestaltLabException>(() => ClassPriors.Check("frequency", "cfg.json"));
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains("\"training\"", e.Message);
    }
}
