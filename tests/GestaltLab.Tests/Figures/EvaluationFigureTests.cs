using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Figures;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Figures;

public class TsneTests
{
    private static (float[][] X, int[] Y) Clusters(int perCluster, int clusters, int dim, int seed)
    {
        var rng = new Random(seed);
        var x = new List<float[]>();
        var y = new List<int>();
        for (int c = 0; c < clusters; c++)
        {
            var centre = Enumerable.Range(0, dim).Select(_ => rng.NextDouble() * 20 - 10).ToArray();
            for (int i = 0; i < perCluster; i++)
            {
                x.Add(centre.Select(v => (float)(v + (rng.NextDouble() - 0.5) * 2)).ToArray());
                y.Add(c);
            }
        }
        return (x.ToArray(), y.ToArray());
    }

    /// <summary>Fraction of points whose nearest embedded neighbour has the same cluster label.</summary>
    private static double NeighbourPurity(TsneResult r, int[] y)
    {
        int same = 0;
        for (int i = 0; i < y.Length; i++)
        {
            int best = -1;
            double bd = double.MaxValue;
            for (int j = 0; j < y.Length; j++)
            {
                if (j == i) continue;
                double d = Math.Pow(r.X[i] - r.X[j], 2) + Math.Pow(r.Y[i] - r.Y[j], 2);
                if (d < bd) { bd = d; best = j; }
            }
            if (y[best] == y[i]) same++;
        }
        return same / (double)y.Length;
    }

    /// <summary>Smallest between-cluster centroid distance over the largest within-cluster spread (≫ 1 = separated).</summary>
    private static double SeparationRatio(TsneResult r, int[] y)
    {
        var labels = y.Distinct().ToArray();
        var centre = labels.ToDictionary(l => l, l => (X: y.Select((v, i) => (v, i)).Where(t => t.v == l).Average(t => r.X[t.i]),
                                                       Y: y.Select((v, i) => (v, i)).Where(t => t.v == l).Average(t => r.Y[t.i])));
        double maxSpread = labels.Max(l => y.Select((v, i) => (v, i)).Where(t => t.v == l)
            .Max(t => Math.Sqrt(Math.Pow(r.X[t.i] - centre[l].X, 2) + Math.Pow(r.Y[t.i] - centre[l].Y, 2))));
        double minGap = labels.SelectMany(a => labels.Where(b => b > a).Select(b =>
            Math.Sqrt(Math.Pow(centre[a].X - centre[b].X, 2) + Math.Pow(centre[a].Y - centre[b].Y, 2)))).Min();
        return minGap / maxSpread;
    }

    [Fact]
    public void Exact_tsne_separates_known_clusters_and_is_deterministic()
    {
        var (x, y) = Clusters(30, 4, 10, 7);
        var opts = new TsneOptions { Iterations = 500, Perplexity = 15 };
        var a = Tsne.Fit(x, opts);
        Assert.Equal(TsneMethod.Exact, a.Method);
        Assert.Equal(1.0, NeighbourPurity(a, y));
        Assert.True(SeparationRatio(a, y) > 1.0, $"clusters overlap: ratio {SeparationRatio(a, y):F2}");
        Assert.True(Trustworthiness.Compute(x, a.Points(), 5) > 0.9);
        Assert.True(double.IsFinite(a.KlDivergence) && a.KlDivergence >= 0);
        var b = Tsne.Fit(x, opts);
        Assert.Equal(a.X, b.X);
        Assert.Equal(a.Y, b.Y);
    }

    [Fact]
    public void Barnes_hut_tsne_separates_known_clusters()
    {
        var (x, y) = Clusters(60, 5, 16, 11);
        var r = Tsne.Fit(x, new TsneOptions { Method = TsneMethod.BarnesHut, Iterations = 400 });
        // Settings that would give a map of nothing without a word are refused, naming the setting.
        foreach (var (bad, named) in new (TsneOptions, string)[]
                 {
                     (new() { Perplexity = -1 }, "perplexity"), (new() { Perplexity = double.NaN }, "perplexity"),
                     (new() { Iterations = 10 }, "iterations (10)"), (new() { LearningRate = -10 }, "learning rate"), (new() { Theta = 2 }, "theta"),
                 })
            Assert.Contains(named, Assert.Throws<GestaltLabException>(() => Tsne.Fit(x, bad)).Message);
        Assert.Throws<ArgumentNullException>(() => Tsne.Fit(null!));
        Assert.Equal(TsneMethod.BarnesHut, r.Method);
        Assert.True(NeighbourPurity(r, y) >= 0.99, $"purity {NeighbourPurity(r, y):F3}");
        Assert.True(SeparationRatio(r, y) > 1.0, $"clusters overlap: ratio {SeparationRatio(r, y):F2}");
        Assert.True(Trustworthiness.Compute(x, r.Points(), 5) > 0.9);
    }

    [Fact]
    public void Tsne_refuses_bad_input_clearly()
    {
        Assert.Throws<GestaltLabException>(() => Tsne.Fit([[1f], [2f]]));
        var e = Assert.Throws<GestaltLabException>(() => Tsne.Fit([[1f, 2f], [2f, 3f], [float.NaN, 0f]]));
        Assert.Contains("row 2", e.Message);
    }

    [Fact]
    public void Trustworthiness_is_one_for_an_isometry_and_lower_for_a_scramble()
    {
        var (x, _) = Clusters(15, 3, 2, 5);
        var same = x.Select(v => new double[] { v[1] * 3 + 1, -v[0] * 3 }).ToArray(); // rotation + scale keeps every ranking
        Assert.Equal(1.0, Trustworthiness.Compute(x, same, 5), 12);
        var rng = new Random(1);
        var scrambled = x.Select(_ => new[] { rng.NextDouble(), rng.NextDouble() }).ToArray();
        Assert.True(Trustworthiness.Compute(x, scrambled, 5) < 0.8);
        Assert.Throws<GestaltLabException>(() => Trustworthiness.Compute(x, same, 40));
    }
}

public class RocAndBootstrapTests
{
    [Fact]
    public void Roc_matches_a_hand_computed_example()
    {
        // scikit-learn's roc_auc_score example: y = [0, 0, 1, 1], scores = [0.1, 0.4, 0.35, 0.8] → 0.75.
        var roc = Roc.Compute([false, false, true, true], [0.1, 0.4, 0.35, 0.8]);
        Assert.Equal(0.75, roc.Auc, 12);
        Assert.Equal([0, 0, 0.5, 0.5, 1], roc.FalsePositiveRate);
        Assert.Equal([0, 0.5, 0.5, 1, 1], roc.TruePositiveRate);
        // On a vertical step the envelope is its top, exactly at the step as just beside it (bands are read on a grid
        // that can land on steps).
        Assert.Equal(1, Roc.TprAt(roc, 0.5), 12);
        Assert.Equal(1, Roc.TprAt(roc, 0.5000001), 6);
        Assert.Equal(0.5, Roc.TprAt(roc, 0.25), 12);
        // Ties count half: every score equal → AUC 0.5.
        Assert.Equal(0.5, Roc.Compute([true, false, true, false], [1, 1, 1, 1]).Auc, 12);
        Assert.Throws<GestaltLabException>(() => Roc.Compute([true, true], [0.2, 0.3]));
    }

    [Fact]
    public void Stratified_bootstrap_keeps_every_class_in_every_resample()
    {
        // 20 classes of 1–3 people each, one photo per person: unstratified, some class is missing from most resamples,
        // which silently drops it from a mean over disorders.
        var truth = Enumerable.Range(0, 20).SelectMany(c => Enumerable.Repeat(c, 1 + c % 3)).ToArray();
        var people = truth.Select((_, i) => $"p{i}").ToArray();
        double Classes(IReadOnlyList<int> idx) => idx.Select(i => truth[i]).Distinct().Count();
        var plain = Bootstrap.Interval(truth.Length, Classes, 300, seed: 1, groups: people);
        Assert.True(plain.Lower < 20);
        var stratified = Bootstrap.Interval(truth.Length, Classes, 300, seed: 1, groups: people, strata: truth);
        Assert.Equal((20.0, 20.0), (stratified.Lower, stratified.Upper));
        // Without strata the draws are the ones they always were (per-image intervals unchanged).
        Assert.Equal(plain, Bootstrap.Interval(truth.Length, Classes, 300, seed: 1, groups: people, strata: null));
        // Classes 0, 3, 6 … have one person: drawn within their class, each is the same in every resample.
        Assert.Equal((7, false), Bootstrap.PoolsWithOneUnit(truth, people));
        // Two photos of one person are still one unit; without groups, each photo is one.
        var twoPhotos = truth.Concat(truth).ToArray();
        Assert.Equal((7, false), Bootstrap.PoolsWithOneUnit(twoPhotos, people.Concat(people).ToArray()));
        Assert.Equal((0, false), Bootstrap.PoolsWithOneUnit(twoPhotos));
        // Families spanning two classes are drawn among such mixed units: two of them make a pool of two (classes 0 and 3
        // leave the count), one alone a pool of one, said apart from the classes.
        Assert.Equal((5, false), Bootstrap.PoolsWithOneUnit(truth, people.Select((p, i) => truth[i] is 0 or 1 ? "famA" : truth[i] is 3 or 4 ? "famB" : p).ToArray()));
        Assert.Equal((6, true), Bootstrap.PoolsWithOneUnit(truth, people.Select((p, i) => truth[i] is 0 or 1 ? "famA" : p).ToArray()));
    }

    [Fact]
    public void Bootstrap_band_brackets_the_curve_and_is_seeded()
    {
        var rng = new Random(2);
        var labels = Enumerable.Range(0, 80).Select(i => i % 2 == 0).ToArray();
        var scores = labels.Select(l => (l ? 0.6 : 0.4) + (rng.NextDouble() - 0.5) * 0.6).ToArray();
        var a = Roc.Bootstrap(labels, scores, 300, seed: 4);
        Assert.True(a.Auc.Lower <= a.Auc.Estimate && a.Auc.Estimate <= a.Auc.Upper);
        Assert.True(a.Auc.Upper - a.Auc.Lower is > 0.02 and < 0.4);
        for (int g = 0; g < a.Grid.Length; g++) Assert.True(a.TprLower[g] <= a.TprUpper[g]);
        var b = Roc.Bootstrap(labels, scores, 300, seed: 4);
        Assert.Equal(a.Auc, b.Auc);
        // Eight photos of each of 10 people: resampling people, not photos, gives the honest (wider) interval.
        var people = Enumerable.Range(0, 80).Select(i => $"p{i / 8}").ToArray();
        var personLabels = Enumerable.Range(0, 80).Select(i => i / 8 % 2 == 0).ToArray();
        var personScores = Enumerable.Range(0, 80).Select(i => (i / 8 % 2 == 0 ? 0.55 : 0.45) + 0.3 * Math.Sin(i / 8 * 2.1)).ToArray();
        var byPhoto = Roc.Bootstrap(personLabels, personScores, 300, seed: 4);
        var byPerson = Roc.Bootstrap(personLabels, personScores, 300, seed: 4, groups: people);
        Assert.Equal(byPhoto.Auc.Estimate, byPerson.Auc.Estimate, 12);
        Assert.True(byPerson.Auc.Upper - byPerson.Auc.Lower > 1.5 * (byPhoto.Auc.Upper - byPhoto.Auc.Lower),
            $"{byPerson.Auc.Lower}–{byPerson.Auc.Upper} vs {byPhoto.Auc.Lower}–{byPhoto.Auc.Upper}");
        // Families whose first member is a patient and whose others are unaffected siblings: every resample still holds
        // negatives (a stratum by first member alone would draw none and fail).
        var families = Enumerable.Range(0, 40).Select(i => $"f{i / 4}").ToArray();
        var sibling = Enumerable.Range(0, 40).Select(i => i % 4 == 0).ToArray();
        var familyScores = sibling.Select((p, i) => (p ? 0.6 : 0.4) + 0.2 * Math.Sin(i)).ToArray();
        var byFamily = Roc.Bootstrap(sibling, familyScores, 200, seed: 1, groups: families);
        Assert.True(byFamily.Auc.Lower <= byFamily.Auc.Estimate && byFamily.Auc.Estimate <= byFamily.Auc.Upper);
        Assert.True(byFamily.Auc.Upper > byFamily.Auc.Lower);
        var fig = ChartTests.Figure(Charts.Roc([("test", a)]));
        Assert.Contains(fig.GetProperty("data").EnumerateArray(), t => t.TryGetProperty("name", out var n) && n.GetString()!.Contains("AUC"));
        // The interval and the band say what they are on the figure itself (an exported figure has no page around it).
        Assert.Contains(fig.GetProperty("data").EnumerateArray(), t => t.TryGetProperty("name", out var n) && n.GetString()!.Contains("(95% CI "));
        Assert.Contains(fig.GetProperty("data").EnumerateArray(), t => t.TryGetProperty("name", out var n) && n.GetString() == "shaded: 95% bootstrap band"
            && t.GetProperty("showlegend").GetBoolean());
        // The legend goes under the plot: inside it, the AUC entry (wider than the square plot at the report's size) made
        // plotly grow the margins until the plot was a third of the chart, with the legend over the x axis.
        var legend = fig.GetProperty("layout").GetProperty("legend");
        Assert.True(legend.GetProperty("y").GetDouble() < 0 && legend.GetProperty("yanchor").GetString() == "top", legend.ToString());
        // One unaffected person among the test photos: that side would be redrawn as itself each time, and the interval
        // pass for the AUC's with half its spread: none, as for a per-disorder figure resting on a single person.
        var oneNegative = Enumerable.Range(0, 80).Select(i => i / 8 != 1).ToArray();   // person p1's photos
        var single = Roc.Bootstrap(oneNegative, personScores, 300, seed: 4, groups: people);
        Assert.True(double.IsNaN(single.Auc.Lower) && single.Grid.Length == 0);
        Assert.Equal(Roc.Compute(oneNegative, personScores).Auc, single.Auc.Estimate, 12);
        var singleFigure = ChartTests.Figure(Charts.Roc([("test", single)]));
        Assert.DoesNotContain(singleFigure.GetProperty("data").EnumerateArray(),
            t => t.TryGetProperty("name", out var n) && n.GetString()!.Contains("CI"));
        // A small side is said under the title (8 negative photos here), unless the caller's title says what it rests on.
        Assert.Contains("72 positive and 8 negative photos", singleFigure.GetProperty("layout").GetProperty("title").GetProperty("text").GetString());
        Assert.DoesNotContain("read as indicative", ChartTests.Figure(Charts.Roc([("test", single)], "ROC<br><sub>8 photos of 1 person</sub>"))
            .GetProperty("layout").GetProperty("title").GetProperty("text").GetString());
        // No resamples asked for: the curve alone, no band and no interval (not a band the caller did not ask for).
        var bare = Roc.Bootstrap(labels, scores, 0);
        Assert.Equal(a.Curve.Auc, bare.Auc.Estimate, 12);
        Assert.Empty(bare.Grid);
        Assert.True(double.IsNaN(bare.Auc.Lower));
        var bareTraces = ChartTests.Figure(Charts.Roc([("test", bare)])).GetProperty("data").EnumerateArray().ToArray();
        Assert.Equal(2, bareTraces.Length);   // chance and the curve
        Assert.DoesNotContain("[", bareTraces[1].GetProperty("name").GetString());
    }

    [Fact]
    public void Subject_bootstrap_of_topk_contains_the_estimate()
    {
        var truth = new[] { 0, 0, 1, 1, 2, 2, 0, 1 };
        var probs = truth.Select((t, i) => i % 3 == 0 ? new[] { 0.1f, 0.1f, 0.1f }.Select((v, k) => k == (t + 1) % 3 ? 0.8f : v).ToArray()
                                                      : new[] { 0.1f, 0.1f, 0.1f }.Select((v, k) => k == t ? 0.8f : v).ToArray()).ToArray();
        var ci = Bootstrap.TopK(truth, probs, 1, ["a", "a", "b", "b", "c", "c", "d", "d"], 500, 1);
        Assert.Equal(Metrics.TopK(truth, probs, 1), ci.Estimate, 12);
        Assert.True(ci.Lower <= ci.Estimate && ci.Estimate <= ci.Upper);
        Assert.True(ci.Upper - ci.Lower > 0.1, $"a degenerate interval {ci.Lower}–{ci.Upper}");
        // Resampling whole subjects: when a subject's photos are all right or all wrong, the interval is wider than
        // resampling photos one by one (the photos of one person are not independent evidence).
        var sameTruth = Enumerable.Range(0, 40).Select(i => i % 3).ToArray();
        var bySubject = Enumerable.Range(0, 40).Select(i => i / 4 % 2 == 0
            ? new[] { 0.1f, 0.1f, 0.1f }.Select((v, k) => k == sameTruth[i] ? 0.8f : v).ToArray()
            : new[] { 0.1f, 0.1f, 0.1f }.Select((v, k) => k == (sameTruth[i] + 1) % 3 ? 0.8f : v).ToArray()).ToArray();
        var grouped = Bootstrap.TopK(sameTruth, bySubject, 1, Enumerable.Range(0, 40).Select(i => $"s{i / 4}").ToArray(), 500, 1);
        var photoByPhoto = Bootstrap.TopK(sameTruth, bySubject, 1, Enumerable.Range(0, 40).Select(i => $"p{i}").ToArray(), 500, 1);
        Assert.True(grouped.Upper - grouped.Lower > 1.5 * (photoByPhoto.Upper - photoByPhoto.Lower),
            $"{grouped.Lower}–{grouped.Upper} vs {photoByPhoto.Lower}–{photoByPhoto.Upper}");
        // A probability table carries its people: the overload taking it resamples them, as the grouped call does.
        string[] classes = ["c0", "c1", "c2"];
        var table = new ImageTable(Enumerable.Range(0, 40).Select(i => $"img{i}.png").ToArray(), Enumerable.Range(0, 40).Select(i => $"s{i / 4}").ToArray(),
            sameTruth.Select(t => classes[t]).ToArray(), bySubject, classes);
        Assert.Equal(grouped, Bootstrap.TopK(table, 1, 500, 1));
        // ... and reads row by row, for LINQ.
        Assert.Equal(Metrics.TopK(sameTruth, bySubject, 1), table.Rows.Average(r => r.Top == r.True ? 1.0 : 0.0), 12);
        Assert.Equal(bySubject[5][1], table.Rows.ElementAt(5)["c1"]);
        Assert.Throws<KeyNotFoundException>(() => table.Rows.First()["c9"]);
    }
}

public class FaceFigureTests
{
    private static RgbImage Flat(int w, int h, byte v) => new(w, h, Enumerable.Repeat(v, w * h * 3).ToArray());

    // A flat face told apart from other people's by one value (people's faces are never identical: identical faces under
    // two ids are taken for one person). Values from index 16 on are the flat ones.
    private static RgbImage Marked(byte v, int person)
    {
        var face = Flat(8, 8, v);
        face.Pixels[person] = (byte)(v + 1);
        return face;
    }

    [Fact]
    public void Composite_face_is_the_pixel_mean_and_small_cohorts_are_refused()
    {
        var faces = Enumerable.Range(0, 10).Select(i => (Flat(8, 8, (byte)(i * 10)), "A", $"a{i}"))
            .Concat(Enumerable.Range(0, 4).Select(i => (Marked(200, i), "B", $"b{i}")))
            // Twelve photos of three people: enough photos, too few people.
            .Concat(Enumerable.Range(0, 12).Select(i => (Marked(100, i % 3), "C", $"c{i % 3}"))).ToArray();
        var set = CompositeFaces.Build(faces, minimumCohort: 10);
        var a = Assert.Single(set.Faces);
        Assert.Equal("A", a.Label);
        Assert.Equal(10, a.Count);
        Assert.All(a.Image.Pixels, p => Assert.Equal(45, p)); // mean of 0,10,…,90
        Assert.Contains(set.Refused, r => r.StartsWith("B: 4 people (4 photos)"));
        Assert.Contains(set.Refused, r => r.StartsWith("C: 3 people (12 photos), fewer than the minimum cohort of"));
        var e = Assert.Throws<GestaltLabException>(() => CompositeFaces.Average("C", faces.Where(f => f.Item2 == "C").Select(f => (f.Item1, f.Item3)).ToArray()));
        Assert.Contains("minimum cohort of 10 people", e.Message);
        // Each person weighs once: one person's many photos do not pull the composite towards them.
        var lopsided = Enumerable.Range(0, 9).Select(i => (Marked(0, i), $"p{i}")).Concat(Enumerable.Repeat((Flat(8, 8, 200), "p9"), 11)).ToArray();
        var fair = CompositeFaces.Average("D", lopsided);
        Assert.Equal(10, fair.Count);
        Assert.Equal(20, fair.Photos);
        Assert.All(fair.Image.Pixels.Skip(16), p => Assert.Equal(20, p)); // (9 × 0 + 200) / 10 people, not 2200 / 20 photos
        // One photo filed under ten ids (visits or accession numbers taken for subjects) is one person, not a cohort.
        var copies = Enumerable.Range(0, 10).Select(i => (Marked(90, 0), "E", $"visit{i:00}")).ToArray();
        var copied = Assert.Single(CompositeFaces.Build(copies, 10).Refused);
        Assert.StartsWith("E: 1 person (10 photos under 10 ids", copied);
        Assert.Contains("identical face", Assert.Throws<GestaltLabException>(() => CompositeFaces.Average("E", copies.Select(c => (c.Item1, c.Item3)).ToArray())).Message);
        var grid = set.RenderGrid();
        Assert.True(grid.Width >= 8 && grid.Height > 8);
        // A name too long for its face at the smallest printed size goes over two lines (the grid grows), not cut.
        var face = set.Faces[0] with { Image = Flat(128, 128, 45) };
        int Height(string label) => new CompositeFaceSet([face with { Label = label }], [], 10).RenderGrid().Height;
        Assert.True(Height("treacher_collins_like") > Height("A"));
        Assert.Equal(Height("A"), Height("down_like"));
        Assert.Throws<GestaltLabException>(() => CompositeFaces.Build(faces.Where(f => f.Item2 == "B"), 10).RenderGrid());
        // The minimum is a floor: a caller cannot lower it to draw a handful of people.
        Assert.Contains("floor", Assert.Throws<GestaltLabException>(() => CompositeFaces.Average("B", faces.Where(f => f.Item2 == "B").Select(f => (f.Item1, f.Item3)).ToArray(), 1)).Message);
        Assert.Throws<GestaltLabException>(() => CompositeFaces.Build(faces, minimumCohort: 3));
        Assert.Equal(2, CompositeFaces.Build(faces, minimumCohort: 12).Refused.Count(r => r.StartsWith("A") || r.StartsWith("B")));
        // For a page that leaves the team, the cohorts not drawn without their exact sizes.
        Assert.Equal(["B: fewer than 10 people", "C: fewer than 10 people"], set.RefusedWithoutCounts());
    }

    [Fact]
    public void Occlusion_map_peaks_where_the_model_looks()
    {
        // A "model" whose class-0 probability is the brightness of the top-left quarter: covering it must hurt most there.
        var px = new byte[32 * 32 * 3];
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++) px[(y * 32 + x) * 3 + c] = (byte)(x < 16 && y < 16 ? 250 : 30);
        var face = new RgbImage(32, 32, px);
        float[] Predict(RgbImage img)
        {
            double s = 0;
            for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) s += img.Pixels[(y * 32 + x) * 3];
            float p = (float)(s / (16 * 16 * 255));
            return [p, 1 - p];
        }
        var map = OcclusionSensitivity.Compute(face, Predict, cellSize: 8, stride: 4, classNames: ["A", "B"]);
        Assert.Equal(0, map.ClassIndex);
        Assert.Equal("A", map.ClassName);
        Assert.Equal(7, map.GridWidth);
        int arg = Array.IndexOf(map.Drop, map.Drop.Max());
        Assert.True(arg % map.GridWidth <= 2 && arg / map.GridWidth <= 2, $"peak at cell {arg}");
        Assert.Equal(0f, map[6, 6], 6); // far corner: no effect
        var fig = ChartTests.Figure(Charts.Occlusion(face, map));
        Assert.Equal("image", fig.GetProperty("data")[0].GetProperty("type").GetString());
        Assert.StartsWith("data:image/png;base64,", fig.GetProperty("data")[0].GetProperty("source").GetString());
    }
}
