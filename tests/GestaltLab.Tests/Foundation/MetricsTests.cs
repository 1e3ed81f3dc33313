using GestaltLab.Evaluation;

namespace GestaltLab.Tests.Foundation;

public class MetricsTests
{
    // Three classes, four images; hand-checked ranks of the truth: 0, 1, 2, 0.
    private static readonly int[] Truth = [0, 1, 2, 2];
    private static readonly float[][] Probs =
    [
        [0.7f, 0.2f, 0.1f],
        [0.5f, 0.3f, 0.2f],
        [0.6f, 0.3f, 0.1f],
        [0.1f, 0.1f, 0.8f],
    ];

    [Fact]
    public void TopKPerImageAndPerDisorderMatchHandCounts()
    {
        Assert.Equal(0.5, Metrics.TopK(Truth, Probs, 1));
        Assert.Equal(0.75, Metrics.TopK(Truth, Probs, 2));
        Assert.Equal(1.0, Metrics.TopK(Truth, Probs, 3));
        // per disorder top-1: class0 1/1, class1 0/1, class2 1/2 → mean 0.5
        Assert.Equal(0.5, Metrics.PerDisorderTopK(Truth, Probs, 1));
        // per disorder top-2: 1, 1, 1/2 → 0.8333
        Assert.Equal(2.5 / 3, Metrics.PerDisorderTopK(Truth, Probs, 2), 12);
        Assert.Equal([0.5, 0.75, 1.0], Metrics.TopKCurve(Truth, Probs, 3));
        // A k below 1 is a mistake, not a 0 % accuracy.
        Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.TopK(Truth, Probs, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.PerDisorderTopK(Truth, Probs, -1));
    }

    [Fact]
    public void TiesAndNaNsCountAgainstTheTruth()
    {
        // A flat answer ranks every class last: no top-k hit for any class index (by index it gave 10/216 classes a top-10 hit).
        float[] flat = [0.25f, 0.25f, 0.25f, 0.25f];
        Assert.Equal(3, Metrics.RankOfTruth(flat, 0));
        Assert.Equal(3, Metrics.RankOfTruth(flat, 3));
        Assert.Equal(2, Metrics.RankOfTruth([0.5f, 0.2f, 0.2f, 0.1f], 1));   // above: 0.5, and the tied 0.2
        Assert.Equal(0.0, Metrics.TopK([0, 1, 2], [flat, flat, flat], 3));
        // A broken model's NaNs are misses, never hits.
        float[] nan = [float.NaN, float.NaN, float.NaN, float.NaN];
        Assert.Equal(3, Metrics.RankOfTruth(nan, 0));
        Assert.Equal(1, Metrics.RankOfTruth([0.9f, float.NaN, 0.05f, 0.05f], 0));
        Assert.Equal(0.0, Metrics.TopK([0, 2], [nan, nan], 1));
        // The confusion matrix agrees: its diagonal holds exactly the top-1 hits, a tie counting under the class tied with.
        int[] truth = [0, 1, 2, 0];
        float[][] probs = [flat, [0.5f, 0.5f, 0f, 0f], [0.1f, 0.1f, 0.7f, 0.1f], [0.9f, float.NaN, 0.05f, 0.05f]];
        var m = Metrics.ConfusionMatrix(truth, probs, 4);
        Assert.Equal(Metrics.TopK(truth, probs, 1) * truth.Length, Enumerable.Range(0, 4).Sum(c => m[c, c]));
        Assert.Equal(2, m[0, 1]);   // flat: the first class tied with the truth; and a NaN, which ranks above it
        Assert.Equal(1, m[1, 0]);   // 0.5 / 0.5
        Assert.Equal(1, m[2, 2]);
    }

    [Fact]
    public void LogLossAndConfusionMatchHandValues()
    {
        double expected = -(Math.Log(0.7) + Math.Log(0.3) + Math.Log(0.1) + Math.Log(0.8)) / 4;
        Assert.Equal(expected, Metrics.LogLoss(Truth, Probs), 5);
        var m = Metrics.ConfusionMatrix(Truth, Probs, 3);
        Assert.Equal(1, m[0, 0]);
        Assert.Equal(1, m[1, 0]);
        Assert.Equal(1, m[2, 0]);
        Assert.Equal(1, m[2, 2]);
        Assert.Equal(4, m.Cast<int>().Sum());
    }

    [Fact]
    public void MetricsJsonUsesTheDocumentedKeys()
    {
        string dir = TestTemp.Dir("gl-metrics");
        try
        {
            string path = Path.Combine(dir, "metrics.json");
            ClassificationMetrics.Compute(Truth, Probs, 3, new OracleFigures { Top1 = 0.9, Top5 = 1, Top10 = 1, NTest = 4 }).Save(path);
            string json = File.ReadAllText(path);
            foreach (var key in new[] { "top1", "top5", "top10", "n_images", "n_classes", "per_disorder_top1", "per_disorder_top10", "log_loss", "oracle", "n_test" })
                Assert.Contains($"\"{key}\"", json);
            var back = ClassificationMetrics.Load(path);
            Assert.Equal(0.5, back.Top1);
            Assert.Equal(4, back.NImages);
            Assert.Equal(0.9, back.Oracle!.Top1);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

public class ApiMisuseTests
{
    private static readonly float[][] Probs = [[0.7f, 0.2f, 0.1f], [0.5f, 0.3f, 0.2f]];

    [Fact]
    public void Mismatched_inputs_are_named_rather_than_failing_deep_inside()
    {
        // A label outside the probability vector: which image, which class (was an IndexOutOfRangeException in LogLoss).
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.LogLoss([0, 3], Probs));
        Assert.Contains("image 1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Metrics.TopKCurve([0, 1], Probs, 0));
        // Fewer class names than probabilities (was an IndexOutOfRangeException while counting the confusion matrix).
        Assert.Contains("3 probabilities for 2 classes", Assert.Throws<ArgumentException>(() =>
            GestaltLab.Figures.Charts.Confusion([0, 1], Probs, ["a", "b"])).Message);
        Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltLab.Figures.Charts.ConfusionTopK(new int[3, 3], ["a", "b"]));
        Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() =>
            GestaltLab.Figures.Charts.RegionContributions(new Dictionary<string, float[]> { ["face"] = Probs[0] }, Probs[0], ["a", "b"]));
        // 68-point measures of another layout, and image sizes that are not sizes.
        Assert.Contains("68-point", Assert.Throws<InvalidOperationException>(() =>
            new GestaltLab.Faces.FaceLandmarks(new System.Numerics.Vector2[5]).InterOcular).Message);
        Assert.Throws<ArgumentException>(() => new GestaltLab.Data.RgbImage(-1, 5));
        // A photo number the subject does not have would render another photo's nuisance.
        var plan = GestaltLab.Synthetic.DatasetPresets.Plan("mini", 1, 0.2);
        var subject = plan.Subjects[0];
        Assert.Throws<ArgumentOutOfRangeException>(() => GestaltLab.Synthetic.SyntheticDataset.RenderPhoto(plan, subject, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => GestaltLab.Synthetic.SyntheticDataset.RenderPhoto(plan, subject, subject.Photos + 1));
        // Errors of any kind inside a parallel load come out as themselves, not as "One or more errors occurred".
        Assert.Throws<InvalidOperationException>(() => GestaltLab.Runtime.ParallelLoad.For(4, 2, i => { if (i == 2) throw new InvalidOperationException("x"); }));
    }

    [Fact]
    public void A_damaged_model_zip_is_named()
    {
        string dir = TestTemp.Dir("gl-badzip");
        try
        {
            string zip = Path.Combine(dir, "model.zip");
            File.WriteAllText(zip, "not a zip");
            var e = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => GestaltLab.Ensemble.GestaltPipeline.Load(zip));
            Assert.StartsWith(zip, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void The_oracle_is_scored_on_the_photos_given_or_not_at_all()
    {
        var oracle = new OracleFigures
        {
            Top1 = 0.5, Top5 = 0.75, Top10 = 1, NTest = 4, TestRanks = new Dictionary<string, int> { ["a"] = 1, ["b"] = 3, ["c"] = 7, ["d"] = 12 },
            EqualPriors = new OracleTopK { Top1 = 0.25, Top5 = 0.5, Top10 = 0.75, TestRanks = new Dictionary<string, int> { ["a"] = 2, ["b"] = 1, ["c"] = 7, ["d"] = 11 } },
        };
        // One photo per entry: "b" twice counts twice, as a person with two scored photos does.
        var on = oracle.On(["a", "b", "b", "d"])!;
        Assert.Equal((0.25, 0.75, 0.75, 4), (on.Top1, on.Top5, on.Top10, on.NTest));
        Assert.Equal((0.5, 0.75, 0.75), (on.EqualPriors!.Top1, on.EqualPriors.Top5, on.EqualPriors.Top10));
        Assert.Null(on.TestRanks);
        // Someone the oracle never ranked, or data from before the ranks were recorded: no figures rather than other photos'.
        Assert.Null(oracle.On(["a", "zz"]));
        Assert.Null((oracle with { TestRanks = null }).On(["a"]));
    }
}
