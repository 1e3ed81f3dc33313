using System.Text.Json.Nodes;
using GestaltLab.Cli;
using GestaltLab.Data;
using GestaltLab.Ensemble;
using GestaltLab.Evaluation;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Models;

/// <summary>Face-space matching: the metric on embeddings with a known structure, then a real model and the <c>match</c> command.</summary>
public class FaceSpaceTests
{
    /// <summary>
    /// Six syndromes whose means differ a little in the first three dimensions, and a strong nuisance (say, head size)
    /// moving every photo along one direction through all six: raw cosine mostly reads the nuisance, the within-syndrome
    /// whitening removes it.
    /// </summary>
    private static (List<GalleryFace> Gallery, List<GalleryFace> Queries) Nuisance(int seed = 5)
    {
        var rng = new Random(seed);
        const int d = 6, classes = 6;
        var means = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, d).Select(j => j < 3 ? 1.2 * rng.NextGaussian() : 0).ToArray()).ToArray();
        GalleryFace Photo(int c, int person, int photo)
        {
            double t = 3 * rng.NextGaussian();
            var e = means[c].Select(m => (float)(m + t + 0.15 * rng.NextGaussian())).ToArray();
            return new GalleryFace($"images/c{c}_p{person}_{photo}.png", $"c{c}-p{person}", $"syndrome-{c}", e);
        }
        var gallery = Enumerable.Range(0, classes).SelectMany(c => Enumerable.Range(0, 8).SelectMany(p => Enumerable.Range(0, 2).Select(k => Photo(c, p, k)))).ToList();
        var queries = Enumerable.Range(0, classes).SelectMany(c => Enumerable.Range(100, 6).Select(p => Photo(c, p, 0))).ToList();
        return (gallery, queries);
    }

    private static double Top1(FaceSpace space, IEnumerable<GalleryFace> queries) =>
        queries.Average(q => space.Rank(q.Embedding, 1)[0].Syndrome == q.Syndrome ? 1.0 : 0.0);

    [Fact]
    public void Whitening_by_the_within_syndrome_covariance_ranks_through_a_nuisance_that_raw_cosine_follows()
    {
        var (gallery, queries) = Nuisance();
        double whitened = Top1(FaceSpace.Fit(gallery, shrinkage: 0.05), queries);
        double standardisedOnly = Top1(FaceSpace.Fit(gallery, shrinkage: 1), queries);
        // (Chance is 1 in 6. Cosine cannot part syndromes whose centres lie in nearly one direction from the gallery's mean,
        // so even the whitened space is not perfect on three informative dimensions.)
        Assert.True(whitened >= 0.8, $"whitened top-1 {whitened:P0}");
        Assert.True(standardisedOnly <= 0.4, $"standardised-only top-1 {standardisedOnly:P0}");

        // Fitted twice on the same gallery: the same space, to the bit.
        var a = FaceSpace.Fit(gallery).Rank(queries[0].Embedding, 6);
        var b = FaceSpace.Fit(gallery).Rank(queries[0].Embedding, 6);
        Assert.Equal(a, b);
        // A negative count is a mistake, not an empty list.
        Assert.Throws<ArgumentOutOfRangeException>(() => FaceSpace.Fit(gallery).Rank(queries[0].Embedding, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => FaceSpace.Fit(gallery).Nearest(queries[0].Embedding, -1));
    }

    [Fact]
    public void A_ranking_lists_every_gallery_syndrome_once_closest_first_saying_which_the_model_knows()
    {
        var (gallery, queries) = Nuisance();
        var space = FaceSpace.Fit(gallery, knownSyndromes: ["syndrome-0", "syndrome-1", "not-in-the-gallery"]);
        Assert.Equal(["syndrome-0", "syndrome-1"], space.KnownSyndromes.Order());
        var ranked = space.Rank(queries[^1].Embedding, 100);
        Assert.Equal(6, ranked.Count);
        Assert.Equal(space.Syndromes.Order(), ranked.Select(r => r.Syndrome).Order());
        Assert.Equal(Enumerable.Range(1, 6), ranked.Select(r => r.Rank));
        Assert.True(ranked.Zip(ranked.Skip(1)).All(p => p.First.Similarity >= p.Second.Similarity));
        Assert.All(ranked, r => Assert.Equal(r.Syndrome is "syndrome-0" or "syndrome-1", r.KnownToModel));
        Assert.All(ranked, r => Assert.Equal(16, r.GalleryPhotos));
        Assert.All(ranked, r => Assert.InRange(r.Similarity, -1 - 1e-6, 1 + 1e-6));
        // The nearest photo named for a syndrome is that syndrome's, and the closest of them.
        var nearest = space.Nearest(queries[^1].Embedding, gallery.Count);
        foreach (var r in ranked)
        {
            var best = nearest.First(n => n.Syndrome == r.Syndrome);
            Assert.Equal(best.Image, r.NearestImage);
            Assert.Equal(best.Similarity, r.NearestSimilarity, 12);
        }
        Assert.Equal(3, space.Rank(queries[0].Embedding, 3).Count);
    }

    [Fact]
    public void A_face_of_the_gallery_is_matched_without_its_own_person()
    {
        var (gallery, _) = Nuisance();
        // One syndrome with one person only: without that person it has no photos left, and is not ranked.
        gallery = [.. gallery, new GalleryFace("images/lone.png", "lone", "syndrome-lone", gallery[0].Embedding.Select(v => v + 0.5f).ToArray())];
        var space = FaceSpace.Fit(gallery);
        var self = gallery[3];
        Assert.Equal(self.Image, space.Nearest(self.Embedding, 1)[0].Image);
        Assert.Equal(1.0, space.Nearest(self.Embedding, 1)[0].Similarity, 5);
        var without = space.Rank(self.Embedding, 100, excludeSubject: self.Subject);
        Assert.DoesNotContain(space.Nearest(self.Embedding, gallery.Count, self.Subject), n => n.Subject == self.Subject);
        Assert.Equal(14, without.Single(r => r.Syndrome == self.Syndrome).GalleryPhotos);
        Assert.NotEqual(self.Image, without.Single(r => r.Syndrome == self.Syndrome).NearestImage);
        Assert.DoesNotContain(space.Rank(gallery[^1].Embedding, 100, excludeSubject: "lone"), r => r.Syndrome == "syndrome-lone");
        // The centre is drawn again without the person: the similarity to their own syndrome falls.
        Assert.True(space.Rank(self.Embedding, 100).Single(r => r.Syndrome == self.Syndrome).Similarity
                    > without.Single(r => r.Syndrome == self.Syndrome).Similarity);
    }

    [Fact]
    public void Embeddings_the_space_cannot_read_are_refused_naming_the_photo()
    {
        var (gallery, _) = Nuisance();
        Assert.Contains("at least two", Assert.Throws<GestaltLabException>(() => FaceSpace.Fit(gallery.Take(1).ToList())).Message);
        var ragged = gallery.Take(5).Append(new GalleryFace("images/short.png", "x", "syndrome-0", [1f, 2f])).ToList();
        Assert.Contains("images/short.png", Assert.Throws<GestaltLabException>(() => FaceSpace.Fit(ragged)).Message);
        var nan = gallery.Take(5).Append(new GalleryFace("images/nan.png", "x", "syndrome-0", [.. Enumerable.Repeat(float.NaN, 6)])).ToList();
        Assert.Contains("images/nan.png", Assert.Throws<GestaltLabException>(() => FaceSpace.Fit(nan)).Message);
        var unlabelled = gallery.Take(5).Append(gallery[6] with { Syndrome = "", Image = "images/blank.png" }).ToList();
        Assert.Contains("images/blank.png", Assert.Throws<GestaltLabException>(() => FaceSpace.Fit(unlabelled)).Message);
        var space = FaceSpace.Fit(gallery);
        Assert.Contains("another model", Assert.Throws<GestaltLabException>(() => space.Rank(new float[7])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => FaceSpace.Fit(gallery, shrinkage: 1.5));
    }

    [Fact]
    public void A_gallery_of_fewer_photos_than_dimensions_is_fitted_even_unshrunk_and_one_syndrome_is_refused()
    {
        var rng = new Random(3);
        // 3 syndromes × 2 photos of 20 dimensions, two of them dead: the unshrunk covariance is singular.
        var gallery = Enumerable.Range(0, 6).Select(i => new GalleryFace($"images/{i}.png", $"p{i}", $"syndrome-{i / 2}",
            [.. Enumerable.Range(0, 20).Select(j => j < 2 ? 0f : (float)(i / 2 + rng.NextGaussian()))])).ToList();
        var space = FaceSpace.Fit(gallery, shrinkage: 0);
        Assert.All(space.Rank(gallery[0].Embedding, 3), r => Assert.True(double.IsFinite(r.Similarity) && Math.Abs(r.Similarity) <= 1));
        Assert.Equal(1.0, space.Nearest(gallery[0].Embedding, 1)[0].Similarity, 6);
        var one = gallery.Select(g => g with { Syndrome = "only" }).ToList();
        Assert.Contains("one syndrome", Assert.Throws<GestaltLabException>(() => FaceSpace.Fit(one)).Message);
    }

    [Fact]
    public void Similarities_are_cosines_under_the_inverse_shrunk_covariance_over_galleries_of_several_blocks()
    {
        // 2,100 photos (the scatter and the whitening go a block of 1,024 at a time) of 8 correlated dimensions: each
        // similarity must be the cosine of the standardised face and the syndrome's summed photos under S⁻¹, S the shrunk
        // pooled within-syndrome covariance, computed here directly in double precision.
        var rng = new Random(11);
        const int d = 8, n = 2100, classes = 5;
        var gallery = Enumerable.Range(0, n).Select(i =>
        {
            double shared = rng.NextGaussian();
            return new GalleryFace($"images/{i}.png", $"p{i / 3}", $"s{i % classes}",
                [.. Enumerable.Range(0, d).Select(j => (float)(0.7 * (i % classes) * (j % 3) + shared * (j + 1) * 0.4 + rng.NextGaussian()))]);
        }).ToList();
        const double alpha = 0.2;
        var space = FaceSpace.Fit(gallery, shrinkage: alpha);
        var mean = Enumerable.Range(0, d).Select(j => gallery.Average(g => (double)g.Embedding[j])).ToArray();
        var sd = Enumerable.Range(0, d).Select(j => Math.Sqrt(gallery.Average(g => Math.Pow(g.Embedding[j] - mean[j], 2)))).ToArray();
        double[] Std(float[] x) => [.. Enumerable.Range(0, d).Select(j => (x[j] - mean[j]) / sd[j])];
        var z = gallery.Select(g => Std(g.Embedding)).ToList();
        var centre = Enumerable.Range(0, classes).Select(c => Enumerable.Range(0, d).Select(j => Enumerable.Range(0, n).Where(i => i % classes == c).Average(i => z[i][j])).ToArray()).ToArray();
        var cov = new double[d, d];
        for (int i = 0; i < n; i++)
            for (int a = 0; a < d; a++)
                for (int b = 0; b < d; b++) cov[a, b] += (z[i][a] - centre[i % classes][a]) * (z[i][b] - centre[i % classes][b]) / n;
        double meanVariance = Enumerable.Range(0, d).Average(j => cov[j, j]);
        for (int a = 0; a < d; a++) for (int b = 0; b < d; b++) cov[a, b] = (1 - alpha) * cov[a, b] + (a == b ? (alpha + 1e-4) * meanVariance : 0);
        var inverse = Invert(cov, d);
        double Form(double[] u, double[] v) { double t = 0; for (int a = 0; a < d; a++) for (int b = 0; b < d; b++) t += u[a] * inverse[a, b] * v[b]; return t; }
        foreach (var query in gallery.Take(7).Select(g => g.Embedding.Select(v => v + 0.3f).ToArray()))
        {
            var q = Std(query);
            foreach (var r in space.Rank(query, classes))
            {
                var sum = centre[int.Parse(r.Syndrome[1..])];
                Assert.Equal(Form(q, sum) / Math.Sqrt(Form(q, q) * Form(sum, sum)), r.Similarity, 4);
            }
        }
    }

    private static double[,] Invert(double[,] m, int d)
    {
        var a = (double[,])m.Clone();
        var inv = new double[d, d];
        for (int i = 0; i < d; i++) inv[i, i] = 1;
        for (int c = 0; c < d; c++)
        {
            double p = a[c, c];
            for (int j = 0; j < d; j++) { a[c, j] /= p; inv[c, j] /= p; }
            for (int r = 0; r < d; r++)
            {
                if (r == c) continue;
                double f = a[r, c];
                for (int j = 0; j < d; j++) { a[r, j] -= f * a[c, j]; inv[r, j] -= f * inv[c, j]; }
            }
        }
        return inv;
    }

    [Fact]
    public void A_saved_gallery_reads_back_into_the_same_space()
    {
        var (gallery, queries) = Nuisance();
        var space = FaceSpace.Fit(gallery, ["syndrome-2"], shrinkage: 0.2);
        string dir = ModelFixture.TempDir(), file = Path.Combine(dir, "gallery.pt");
        space.Save(file);
        var again = FaceSpace.Load(file);
        Assert.Equal(0.2, again.Shrinkage);
        Assert.True(FaceSpace.IsSaved(file));
        Assert.Equal(0.5, FaceSpace.Load(file, shrinkage: 0.5).Shrinkage);
        Assert.Equal(space.KnownSyndromes.Order(), again.KnownSyndromes.Order());
        Assert.Equal(space.Gallery.Select(g => (g.Image, g.Subject, g.Syndrome)), again.Gallery.Select(g => (g.Image, g.Subject, g.Syndrome)));
        foreach (var q in queries.Take(5)) Assert.Equal(space.Rank(q.Embedding, 6), again.Rank(q.Embedding, 6));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        File.WriteAllText(Path.Combine(dir, "notes.pt"), "mine");
        Assert.Contains("notes.pt", Assert.Throws<GestaltLabException>(() => FaceSpace.Load(Path.Combine(dir, "notes.pt"))).Message);
        Assert.False(FaceSpace.IsSaved(Path.Combine(dir, "notes.pt")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Scores_count_photos_and_average_syndromes_alike()
    {
        // Syndrome A: 3 photos ranked 1, 2, 40; B: 1 photo ranked 6.
        var s = FaceSpaceScores.Of([("A", 1), ("A", 2), ("A", 40), ("B", 6)])!;
        Assert.Equal((4, 2), (s.NImages, s.NSyndromes));
        Assert.Equal(0.25, s.Top1, 12);
        Assert.Equal(0.5, s.Top5, 12);
        Assert.Equal(0.75, s.Top10, 12);
        Assert.Equal(0.75, s.Top30, 12);
        Assert.Equal((1.0 / 3 + 0) / 2, s.PerDisorderTop1, 12);
        Assert.Equal((2.0 / 3 + 1) / 2, s.PerDisorderTop10, 12);
        Assert.Null(FaceSpaceScores.Of([]));
        Assert.Null(s.Top1Interval);
        // With people, an interval by person around the estimate; one person's photos move together.
        var ranked = Enumerable.Range(0, 40).Select(i => ($"S{i % 4}", i % 3 == 0 ? 1 : 7)).ToList();
        var withPeople = FaceSpaceScores.Of(ranked, [.. Enumerable.Range(0, 40).Select(i => $"p{i / 2}")])!;
        Assert.True(withPeople.Top1Interval is [var lo, var hi] && lo <= withPeople.Top1 && withPeople.Top1 <= hi && lo < hi && lo >= 0 && hi <= 1);
        Assert.Equal([1.0, 1.0], withPeople.Top10Interval!);
        Assert.Null(FaceSpaceScores.Of(ranked, [.. Enumerable.Repeat("one", 40)])!.Top1Interval);
    }

    /// <summary>
    /// A real model trained on mini's syndromes but one, matched on all of them: that one is ranked through its gallery
    /// photos alone, as the command prints and writes it; photos of the gallery are not matched to themselves; a folder of
    /// photos that is not aligned, and a photo that is not one, are said as such.
    /// </summary>
    [Fact]
    public async Task A_model_matches_a_syndrome_it_was_not_trained_on_through_the_command()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data"), aligned = Path.Combine(root, "aligned"), withheld = Path.Combine(root, "withheld"), run = Path.Combine(root, "run");
        SyntheticDataset.Generate("mini", 4, data);
        FaceDatasetAligner.EnsureAligned(data, aligned, 64, groundTruth: true);
        // The training folder: the same crops, one syndrome's labels blanked (the model never learns it).
        var manifest = Manifest.Load(aligned);
        string hidden = manifest.Rows.Select(r => r.Syndrome).First(s => s.Length > 0 && s != Manifest.Unaffected);
        CommandLineTests.CopyTree(aligned, withheld);
        string manifestCsv = Path.Combine(withheld, Manifest.FileName);
        var lines = File.ReadAllLines(manifestCsv);
        File.WriteAllLines(manifestCsv, [lines[0], .. lines.Skip(1).Select(l => l.Replace($",{hidden},", ",,", StringComparison.Ordinal))]);
        string config = Path.Combine(root, "tiny.json");
        File.WriteAllText(config, new TrainConfig
        {
            Net = new RegionNetConfig { InputSize = 64, Width = 8, Stages = 4, ConvsPerStage = 1 },
            Training = new TrainingOptions { Epochs = 2, BatchSize = 16, Patience = 0, Seed = 3, Threads = 2 },
            Regions = ["face", "nose"],
        }.ToJson());
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["train", "--data", withheld, "--out", run, "--config", config]));

        int syndromes = manifest.Rows.Where(r => r.IsLabelled).Select(r => r.Syndrome).Distinct().Count();
        using (var model = GestaltModel.Load(run))
        {
            Assert.DoesNotContain(hidden, model.Classes);
            var metrics = FaceSpaceEvaluation.Evaluate(model, aligned);
            Assert.Equal(syndromes, metrics.NGallerySyndromes);
            Assert.Equal(1, metrics.NGallerySyndromesUnknown);
            Assert.Equal(manifest.Rows.Count(r => r.Split != SplitNames.Test && r.IsLabelled), metrics.NGalleryImages);
            Assert.Equal(manifest.Rows.Count(r => r.Split == SplitNames.Test && r.IsLabelled), metrics.All.NImages);
            Assert.Equal((1, metrics.All.NImages - metrics.Unknown!.NImages), (metrics.Unknown.NSyndromes, metrics.Known!.NImages));
            Assert.All(metrics.Queries, q => Assert.InRange(q.Rank, 1, syndromes));
            Assert.All(metrics.Queries, q => Assert.Equal(q.Syndrome != hidden, q.KnownToModel));
            Assert.Equal(metrics.Queries.Average(q => q.Rank == 1 ? 1.0 : 0.0), metrics.All.Top1, 12);
            Assert.Equal(1.0 / syndromes, metrics.ChanceTop1, 12);
            // Named as metrics.json names what it scored: the data folder the gallery was aligned from.
            Assert.Equal(Path.GetFullPath(data).TrimEnd('/'), metrics.Data);
            // The classifier on the same photos of the syndromes it knows, paired with matching photo by photo.
            var versus = metrics.VersusClassifier!;
            Assert.Equal((metrics.Known.NImages, model.Classes.Count), (versus.NImages, versus.ClassifierSyndromes));
            Assert.Equal(metrics.Known.Top1 - versus.ClassifierTop1, versus.Top1Difference, 12);
            Assert.True(versus.Top1DifferenceInterval is [var low, var high] && -1 <= low && low <= high && high <= 1);
            Assert.Null(metrics.SharedPeople);
            // Synthetic data whose syndromes are the gallery's: its oracle with equal priors (matching favours no syndrome
            // for being frequent) on the very photos matched, the ceiling beside the figures.
            var equalPriors = OracleFigures.TryLoad(data)!.EqualPriors!;
            var oracleHits = metrics.Queries.Select(q => equalPriors.TestRanks![q.Subject]).ToList();
            Assert.Equal(oracleHits.Average(r => r == 1 ? 1.0 : 0.0), metrics.Oracle!.Top1, 12);
            Assert.Equal(oracleHits.Average(r => r <= 5 ? 1.0 : 0.0), metrics.Oracle.Top5, 12);
            // ... and per group, on each group's photos: whether the syndromes the model never learned are harder in themselves.
            Assert.Equal(metrics.Oracle, metrics.All.Oracle);
            double OracleTop1(bool knownToModel) => metrics.Queries.Where(q => q.KnownToModel == knownToModel).Average(q => equalPriors.TestRanks![q.Subject] == 1 ? 1.0 : 0.0);
            Assert.Equal(OracleTop1(true), metrics.Known.Oracle!.Top1, 12);
            Assert.Equal(OracleTop1(false), metrics.Unknown.Oracle!.Top1, 12);
            // By sex (and the other strata): each group's photos scored on matching's own ranks, the oracle beside them.
            var sex = metrics.Strata!.Columns["sex"];
            var testRows = manifest.Rows.Where(r => r.Split == SplitNames.Test && r.IsLabelled).ToDictionary(r => r.SourceImage);
            foreach (var (value, group) in sex.Values)
            {
                var photos = metrics.Queries.Where(q => testRows[q.Image].Sex == value).ToList();
                Assert.Equal((photos.Count, photos.Average(q => q.Rank == 1 ? 1.0 : 0.0)), (group.NImages, group.Top1));
                Assert.Equal(photos.Average(q => equalPriors.TestRanks![q.Subject] == 1 ? 1.0 : 0.0), group.OracleTop1(equalPriors: true)!.Value, 12);
            }
            Assert.Equal(metrics.All.NImages, sex.Values.Values.Sum(v => v.NImages));
            // The oracle ranks among every syndrome of its data: beside a gallery lacking one (its labels blanked) it
            // would answer another question, and is left out.
            var withoutHidden = FaceSpaceEvaluation.Evaluate(model, withheld);
            Assert.Equal(syndromes - 1, withoutHidden.NGallerySyndromes);
            Assert.Null(withoutHidden.Oracle);
            // Its labels are no longer its source's: it is named by its own content, and the oracle's absence is explained.
            Assert.Contains("labels differ from its source data's", withoutHidden.OracleLeftOut);
            Assert.Equal(new AlignedRegionDataset(withheld).ContentHash(), withoutHidden.DataHash);
            Assert.NotEqual(metrics.DataHash, withoutHidden.DataHash);
            Assert.Null(metrics.OracleLeftOut);
            Assert.EndsWith(FaceSpaceMetrics.OracleLabelsChanged, withoutHidden.OracleLeftOut);

            // The model's training photos filed as test photos (the folder split anew) would flatter matching as they
            // would the classifier: refused as `evaluate` refuses them, before anything is embedded.
            string resplit = Path.Combine(root, "resplit");
            CommandLineTests.CopyTree(aligned, resplit);
            string resplitCsv = Path.Combine(resplit, Manifest.FileName);
            var resplitLines = File.ReadAllLines(resplitCsv);
            File.WriteAllLines(resplitCsv, [resplitLines[0], .. resplitLines.Skip(1).Select(l => l.Replace($",{SplitNames.Train},", $",{SplitNames.Test},", StringComparison.Ordinal))]);
            var refused = Assert.Throws<GestaltLabException>(() => FaceSpaceEvaluation.Evaluate(model, resplit));
            Assert.Contains("the model was trained on", refused.Message);
        }

        // Written for sharing (--no-photo-names), the note of edited labels names no photo and no person.
        string shared = Path.Combine(root, "out", "shared.json");
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", withheld, "--out", shared, "--no-photo-names"]));
        Assert.Equal(FaceSpaceMetrics.OracleLabelsChanged, FaceSpaceMetrics.Load(shared).OracleLeftOut);
        Assert.DoesNotContain("images/", File.ReadAllText(shared));

        // The command: the figures written (no photo names), then photos matched — one of the unknown syndrome, one of
        // the gallery itself, one file that is no photo (skipped; the others are still matched).
        string figures = Path.Combine(root, "out", "face_space.json"), matches = Path.Combine(root, "out", "matches.json");
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", aligned, "--out", figures]));
        var json = JsonNode.Parse(File.ReadAllText(figures))!;
        Assert.Equal(1, (int)json["n_gallery_syndromes_unknown_to_model"]!);
        Assert.Equal(1, (int)json["unknown"]!["n_syndromes"]!);
        Assert.DoesNotContain("images/", File.ReadAllText(figures));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(figures));

        var hiddenRow = manifest.Rows.First(r => r.Syndrome == hidden && r.Split == SplitNames.Test);
        var ownRow = manifest.Rows.First(r => r.Split == SplitNames.Train && r.IsLabelled);
        string notAPhoto = Path.Combine(root, "notes.jpg");
        File.WriteAllText(notAPhoto, "not a photo");
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(),
            ["match", "--model", run, "--gallery", aligned, Path.Combine(data, hiddenRow.SourceImage), Path.Combine(data, ownRow.SourceImage), notAPhoto, "--top", "100", "--out", matches]));
        var found = JsonNode.Parse(File.ReadAllText(matches))!["matches"]!.AsArray();
        Assert.Equal(3, found.Count);
        var hiddenRanking = found[0]!["syndromes"]!.AsArray();
        Assert.Equal(syndromes, hiddenRanking.Count);
        Assert.False((bool)hiddenRanking.Single(x => (string?)x!["syndrome"] == hidden)!["known_to_model"]!);
        // Photos are matched against every labelled photo of the gallery folder, their own person's left out.
        Assert.Equal(hiddenRow.Subject, (string?)found[0]!["gallery_person_left_out"]);
        Assert.Equal(ownRow.Subject, (string?)found[1]!["gallery_person_left_out"]);
        var ownPhotos = manifest.Rows.Where(r => r.Subject == ownRow.Subject).Select(r => r.SourceImage).ToHashSet();
        Assert.DoesNotContain(found[1]!["syndromes"]!.AsArray(), x => ownPhotos.Contains((string)x!["nearest_image"]!));
        Assert.Null(found[2]!["syndromes"]);
        Assert.Contains("notes.jpg", (string?)found[2]!["problem"]);

        // A copy of a gallery photo elsewhere is recognised by its bytes (with a saved gallery, whose photos are not at
        // hand, by its embedding when the gallery was aligned as the photo is; this one was aligned with true landmarks).
        string copy = Path.Combine(root, "copy" + Path.GetExtension(ownRow.SourceImage));
        File.Copy(Path.Combine(data, ownRow.SourceImage), copy);
        // A saved gallery matches as the folder does, without the nets running over the gallery again; with --no-photo-names
        // the JSON names no photo and no person.
        string saved = Path.Combine(root, "gallery.pt"), fromSaved = Path.Combine(root, "out", "saved.json");
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", aligned, "--save-gallery", saved]));
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", saved, Path.Combine(data, hiddenRow.SourceImage), copy, "--top", "100", "--out", fromSaved, "--no-photo-names"]));
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", aligned, copy, "--out", matches]));
        Assert.Equal(ownRow.Subject, (string?)JsonNode.Parse(File.ReadAllText(matches))!["matches"]![0]!["gallery_person_left_out"]);
        var savedFound = JsonNode.Parse(File.ReadAllText(fromSaved))!["matches"]!.AsArray();
        Assert.Equal(found[1]!["syndromes"]!.AsArray().Select(x => (string?)x!["syndrome"]), savedFound[1]!["syndromes"]!.AsArray().Select(x => (string?)x!["syndrome"]));
        Assert.Equal(hiddenRanking.Select(x => (double)x!["similarity"]!), savedFound[0]!["syndromes"]!.AsArray().Select(x => (double)x!["similarity"]!));
        string savedText = File.ReadAllText(fromSaved);
        Assert.DoesNotContain("images/", savedText);
        Assert.DoesNotContain(hiddenRow.Subject, savedText);
        Assert.Contains("\"photo 1\"", savedText);
        // Another model's embeddings do not share the gallery's space: refused, saying how to embed it again.
        string other = Path.Combine(root, "other");
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["train", "--data", withheld, "--out", other, "--config", config, "--seed", "9"]));
        var refusal = new StringWriter();
        Assert.Equal(1, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", other, "--gallery", saved, copy], refusal));
        Assert.Contains("embedded by another model", refusal.ToString());
        // A gallery cut short is saved again by match, not by the training the default fix names.
        string cut = Path.Combine(root, "cut.pt");
        File.WriteAllBytes(cut, File.ReadAllBytes(saved)[..(int)(new FileInfo(saved).Length * 2 / 3)]);
        var cutRefusal = new StringWriter();
        Assert.Equal(1, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", cut, copy], cutRefusal));
        Assert.Contains("weights file is truncated", cutRefusal.ToString());
        Assert.Contains("--save-gallery", cutRefusal.ToString());
        Assert.DoesNotContain("training step", cutRefusal.ToString());
        // Filed in the run, the figures are a section of its report: table and top-k chart, with the unknown syndrome's row.
        // Another model's run does not take them for its own (a copy, or the run trained again since): left out, with a note.
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", aligned, "--out", Path.Combine(run, FaceSpaceMetrics.FileName)]));
        var filed = RunResults.Load(run);
        Assert.NotNull(filed.FaceSpace);
        var page = GestaltLab.Figures.Report.Build(filed, new GestaltLab.Figures.ReportOptions { BootstrapIterations = 0 });
        Assert.Contains("Face-space matching", page.Sections);
        Assert.Contains("<th scope=\"row\">unknown to the model</th>", page.Html);
        Assert.Contains(page.Charts, c => c.Section == "Face-space matching");
        Assert.Contains("<h3>Matching by sex, age band and skin tone</h3>", page.Html);
        Assert.DoesNotContain("Caution:", page.Html);
        Assert.Contains("<th scope=\"row\">oracle (Bayes on the true traits, every syndrome equally likely), the same photos</th>", page.Html);
        // Figures that may rest on the model's own training people say so, without naming them (face_space.json does).
        var suspect = JsonNode.Parse(File.ReadAllText(Path.Combine(run, FaceSpaceMetrics.FileName)))!.AsObject();
        suspect["shared_people"] = "2 scored photo(s) have the subject id and file name of photos the model was trained on (1 person: p000123)";
        File.WriteAllText(Path.Combine(run, FaceSpaceMetrics.FileName), suspect.ToJsonString());
        string cautioned = GestaltLab.Figures.Report.Build(RunResults.Load(run), new GestaltLab.Figures.ReportOptions { BootstrapIterations = 0 }).Html;
        Assert.Contains("<strong>Caution:</strong> " + FaceSpaceMetrics.SharedPeopleUnnamed, cautioned);
        Assert.DoesNotContain("p000123", cautioned);
        File.Copy(Path.Combine(run, FaceSpaceMetrics.FileName), Path.Combine(other, FaceSpaceMetrics.FileName));
        var stale = RunResults.Load(other);
        Assert.Null(stale.FaceSpace);
        Assert.Contains(stale.Notes, n => n.Contains(FaceSpaceMetrics.FileName) && n.Contains("another model"));
        Assert.DoesNotContain("Face-space matching", GestaltLab.Figures.Report.Build(stale, new GestaltLab.Figures.ReportOptions { BootstrapIterations = 0 }).Sections);
        // Nor figures that do not say which model they scored.
        var unsigned = JsonNode.Parse(File.ReadAllText(Path.Combine(run, FaceSpaceMetrics.FileName)))!.AsObject();
        unsigned.Remove("model_ensemble_sha256");
        File.WriteAllText(Path.Combine(other, FaceSpaceMetrics.FileName), unsigned.ToJsonString());
        Assert.Contains(RunResults.Load(other).Notes, n => n.Contains("does not record which model"));
        // The classifier's figures likewise: an evaluation is its run's while the run's ensemble.json is unchanged; beside
        // another model (copied, or left from before the run was trained again) it is left out, with a note.
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["evaluate", "--model", run, "--data", withheld, "--out", Path.Combine(run, "metrics.json")]));
        Assert.NotNull(RunResults.Load(run).Metrics);
        string[] evaluationFiles = ["metrics.json", "probabilities.csv", "embeddings.csv", "region_metrics.csv", "classes.json", ".gestaltlab-evaluation"];
        foreach (var f in evaluationFiles) File.Copy(Path.Combine(run, f), Path.Combine(other, f), overwrite: true);
        CommandLineTests.CopyTree(Path.Combine(run, "region_probabilities"), Path.Combine(other, "region_probabilities"));
        var otherModels = RunResults.Load(other);
        Assert.Equal((null, null, null), (otherModels.Metrics, otherModels.Probabilities, (object?)otherModels.Embeddings));
        Assert.Contains(otherModels.Notes, n => n.StartsWith("metrics.json, probabilities.csv") && n.Contains("another model than"));
        foreach (var f in evaluationFiles.Where(f => f != "classes.json")) File.Delete(Path.Combine(other, f));
        Directory.Delete(Path.Combine(other, "region_probabilities"), true);
        // Figures out of range (a damaged or hand-edited file) are refused, naming the file, not drawn.
        string damaged = Path.Combine(root, "damaged.json");
        File.WriteAllText(damaged, File.ReadAllText(figures).Replace("\"top1\": ", "\"top1\": 7", StringComparison.Ordinal));
        Assert.Contains("damaged.json", Assert.Throws<GestaltLabException>(() => FaceSpaceMetrics.Load(damaged)).Message);
        Assert.Equal(Top1Of(figures), FaceSpaceMetrics.Load(figures).All.Top1, 12);
        // Damaged figures by stratum cost those alone, with the reason; the rest is read.
        var badStrata = JsonNode.Parse(File.ReadAllText(figures))!.AsObject();
        Assert.NotNull(badStrata["strata"]);
        badStrata["strata"]!["columns"]!["sex"]!["values"]!.AsObject().First().Value!["top1"] = 3.5;
        File.WriteAllText(damaged, badStrata.ToJsonString());
        var dropped = FaceSpaceMetrics.Load(damaged);
        Assert.Equal((null, Top1Of(figures)), (dropped.Strata, dropped.All.Top1));
        Assert.Contains("outside 0–1", dropped.StrataProblem);

        // A file that is no gallery is said to be none, before the model loads.
        var notGallery = new StringWriter();
        Assert.Equal(1, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", notAPhoto, copy], notGallery));
        Assert.Contains("not a face-space gallery", notGallery.ToString());
        // --out replaces only a file this command wrote.
        string notes = Path.Combine(root, "out", "notes.json");
        File.WriteAllText(notes, "{\"mine\": \"gallery notes\"}");
        Assert.Equal(1, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", saved, copy, "--out", notes], new StringWriter()));
        Assert.Contains("gallery notes", File.ReadAllText(notes));

        // A folder of photos is not a gallery until aligned: said, with the command that aligns it.
        var errors = new StringWriter();
        Assert.Equal(1, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", data], errors));
        Assert.Contains("not an aligned data folder", errors.ToString());
        Assert.Contains("gestaltlab align", errors.ToString());
        // An alignment stopped before its regions.json is said to be one, with how to finish it.
        string stopped = Directory.CreateDirectory(Path.Combine(root, "stopped-alignment")).FullName;
        File.WriteAllText(Path.Combine(stopped, GestaltLab.Regions.FaceDatasetAligner.AlignmentMarker), "");
        Directory.CreateDirectory(Path.Combine(stopped, "regions", "face"));
        var unfinished = new StringWriter();
        Assert.Equal(1, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["match", "--model", run, "--gallery", stopped], unfinished));
        Assert.Contains("an unfinished alignment", unfinished.ToString());
        Directory.Delete(root, true);

        static double Top1Of(string file) => (double)JsonNode.Parse(File.ReadAllText(file))!["all"]!["top1"]!;
    }
}
