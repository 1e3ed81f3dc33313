using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Foundation;

public class StratumAccuracyTests
{
    private const int Classes = 4;

    /// <summary>A scored photo: its person, syndrome, strata, and whether its true class ranks first (else third).</summary>
    private sealed record Photo(string Subject, int Syndrome, bool Hit, string Sex = "", string Skin = "", string Age = "", string Family = "");

    private static (List<ManifestRow> Rows, List<int> Truth, List<float[]> Probabilities) Scored(IEnumerable<Photo> photos)
    {
        var rows = new List<ManifestRow>();
        var truth = new List<int>();
        var probs = new List<float[]>();
        foreach (var (p, i) in photos.Select((p, i) => (p, i)))
        {
            rows.Add(new ManifestRow
            {
                Image = $"images/{p.Subject}_{i}.jpg", Subject = p.Subject, Syndrome = $"s{p.Syndrome}", Split = SplitNames.Test,
                Sex = p.Sex, SkinTone = p.Skin, AgeBand = p.Age, Family = p.Family,
            });
            truth.Add(p.Syndrome);
            // Hit: the truth first. Miss: two other classes above it (rank 3 of 4: a top-1 miss, a top-5 hit).
            var v = Enumerable.Repeat(0.1f, Classes).ToArray();
            if (p.Hit) v[p.Syndrome] = 0.7f;
            else
            {
                v[(p.Syndrome + 1) % Classes] = 0.4f;
                v[(p.Syndrome + 2) % Classes] = 0.3f;
                v[p.Syndrome] = 0.15f;
                v[(p.Syndrome + 3) % Classes] = 0.15f;
            }
            probs.Add(v);
        }
        return (rows, truth, probs);
    }

    // People × 2 photos each; group and hit per person.
    private static IEnumerable<Photo> People(int count, Func<int, string> skin, Func<int, bool> hit, Func<int, int>? syndrome = null) =>
        Enumerable.Range(0, count).SelectMany(k => Enumerable.Repeat(new Photo($"P{k:D3}", (syndrome ?? (j => j % Classes))(k), hit(k), Skin: skin(k), Sex: k % 2 == 0 ? "female" : "male"), 2));

    [Fact]
    public void Each_group_is_scored_on_its_own_photos_in_its_natural_order()
    {
        var photos = new List<Photo>
        {
            new("A", 0, true, Sex: "male", Skin: "V", Age: "adult"), new("A", 0, false, Sex: "male", Skin: "V", Age: "adult"),
            new("B", 1, true, Sex: "female", Skin: "II", Age: "infant"),
            new("C", 2, false, Sex: "female", Skin: "II", Age: "child"), new("C", 2, false, Sex: "female", Skin: "II", Age: "child"),
            new("D", 3, true, Sex: "female", Age: "child"),   // no skin tone: in no skin-tone group
        };
        var (rows, truth, probs) = Scored(photos);
        var strata = StratumAccuracy.Compute(rows, truth, probs, new StratumOptions { Permutations = 200 })!;
        Assert.Equal(["sex", "age_band", "skin_tone"], strata.Columns.Keys);
        Assert.Equal("subjects", strata.Unit);
        // Natural order, not the order met: female before male, infant … adult, II before V.
        Assert.Equal(["female", "male"], strata.Columns["sex"].Ordered("sex").Select(g => g.Key));
        Assert.Equal(["infant", "child", "adult"], strata.Columns["age_band"].Ordered("age_band").Select(g => g.Key));
        Assert.Equal(["II", "V"], strata.Columns["skin_tone"].Ordered("skin_tone").Select(g => g.Key));
        var female = strata.Columns["sex"].Values["female"];
        Assert.Equal((4, 3), (female.NImages, female.NSubjects));
        Assert.Equal(2 / 4.0, female.Top1);
        Assert.Equal(1.0, female.Top5);   // every miss ranks third
        Assert.NotNull(female.Top1Interval);
        // One person: the same in every resample, so no interval rather than a certain-looking one.
        var male = strata.Columns["sex"].Values["male"];
        Assert.Equal((2, 1, 0.5), (male.NImages, male.NSubjects, male.Top1));
        Assert.Null(male.Top1Interval);
        Assert.Equal(1, strata.Columns["skin_tone"].NUnknown);
        Assert.Equal(3, strata.Columns["skin_tone"].Values["II"].NImages);
        // Age bands of one person differ by photo in none here: tested. No figures from a data set without strata at all.
        Assert.Null(StratumAccuracy.Compute(rows.Select(r => r with { Sex = "", SkinTone = "", AgeBand = "" }).ToList(), truth, probs));
        // p-values from a handful of permutations would be nothing of the kind; a misspelt column is said, not dropped.
        Assert.Throws<ArgumentException>(() => StratumAccuracy.Compute(rows, truth, probs, new StratumOptions { Permutations = 50 }));
        Assert.Contains("'skin_colour'", Assert.Throws<GestaltLabException>(() => StratumAccuracy.Compute(rows, truth, probs, new StratumOptions { Columns = ["skin_colour"] })).Message);
        // From ranks already known (face-space matching's), the same figures and the same test.
        var ranks = truth.Select((t, i) => Metrics.RankOfTruth(probs[i], t) + 1).ToList();
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(StratumAccuracy.Compute(rows, truth, probs, new StratumOptions { Permutations = 200 })),
            System.Text.Json.JsonSerializer.Serialize(StratumAccuracy.FromRanks(rows, ranks, new StratumOptions { Permutations = 200 })));
        Assert.Throws<ArgumentException>(() => StratumAccuracy.FromRanks(rows, ranks.Select(r => r - 1).ToList()));
        var plain = StratumAccuracy.Compute(rows, truth, probs, new StratumOptions { Permutations = 0 })!;
        Assert.NotNull(plain.Columns["sex"].Values["female"].Top1Interval);
        Assert.Null(plain.Columns["sex"].PDifferences);
        Assert.Contains("no permutations", plain.Columns["sex"].NotTested);
        // Values as users write them: known ones whatever their case, others by the number they begin with.
        Assert.Equal(["Female", "male"], StratumAccuracy.Ordered("sex", ["male", "Female"]));
        Assert.Equal(["0-2", "3-11", "12-17", "18+", "unknown age"], StratumAccuracy.Ordered("age_band", ["18+", "unknown age", "3-11", "0-2", "12-17"]));
        Assert.Equal(["ii", "V", "Fitzpatrick I"], StratumAccuracy.Ordered("skin_tone", ["Fitzpatrick I", "V", "ii"]));
    }

    [Fact]
    public void Intervals_keep_their_coverage_in_small_groups_of_people_with_several_photos()
    {
        // Every photo of three people right: not [100 %, 100 %] (what a bootstrap over three people gives) but Wilson's
        // interval on three independent people, shrunk for a variance known from three only: n = 3 (z / t₂)², n / (n + z²) up to 1.
        const double z = 1.959963984540054;
        double n = 3 * Math.Pow(z / 4.3027, 2);
        var allHit = StratumAccuracy.Interval([(2, 2), (3, 3), (1, 1)])!;
        Assert.Equal(n / (n + z * z), allHit[0], 4);
        Assert.Equal(1.0, allHit[1]);
        Assert.Equal(0.0, StratumAccuracy.Interval([(0, 2), (0, 3), (0, 1)])![0]);   // exactly, not 5.6e-17
        Assert.Null(StratumAccuracy.Interval([(2, 4)]));   // one person: their own figure, no interval
        // Photos of one person that agree are worth less than as many people: the same 50 % is wider over 4 people of 10
        // photos each than over 40 people of one photo each.
        var clustered = StratumAccuracy.Interval([(10, 10), (0, 10), (10, 10), (0, 10)])!;
        var independent = StratumAccuracy.Interval(Enumerable.Range(0, 40).Select(i => (i % 2, 1)).ToList())!;
        Assert.True(clustered[1] - clustered[0] > 2 * (independent[1] - independent[0]), $"{clustered[0]}–{clustered[1]} vs {independent[0]}–{independent[1]}");
        // Coverage, simulated: 7 people of 1–3 photos whose own chance of a hit varies about a true 80 % (a percentile
        // bootstrap over people held it 76 % of the time), and 4 people of 8 photos each whose photos mostly agree, about a
        // true 50 % (Wilson with the design effect alone held it 87 %): both at least 93 %.
        var rng = new Random(5);
        double Coverage(int people, Func<int> photos, double truth, double spread)
        {
            int covered = 0, trials = 2000;
            for (int t = 0; t < trials; t++)
            {
                var group = Enumerable.Range(0, people).Select(_ =>
                {
                    double own = Math.Clamp(truth + (rng.NextDouble() - 0.5) * 2 * spread, 0, 1);
                    int k = photos();
                    return (Enumerable.Range(0, k).Count(_ => rng.NextDouble() < own), k);
                }).ToList();
                if (StratumAccuracy.Interval(group) is [var lo, var hi] && lo <= truth && truth <= hi) covered++;
            }
            return covered / (double)trials;
        }
        Assert.InRange(Coverage(7, () => 1 + rng.Next(3), 0.8, 0.2), 0.93, 1.0);
        Assert.InRange(Coverage(4, () => 8, 0.5, 0.5), 0.93, 1.0);
    }

    [Fact]
    public void The_test_finds_a_group_served_worse_and_not_one_that_only_differs_by_chance()
    {
        // 80 people of 4 syndromes, 2 photos each. Skin tone V misses far more often than III, within every syndrome.
        var (rows, truth, probs) = Scored(People(80, k => k % 4 < 2 ? "III" : "V", k => k % 4 < 2 ? k % 5 != 0 : k % 5 == 0, k => k / 20));
        var worse = StratumAccuracy.Compute(rows, truth, probs)!;
        Assert.True(worse.Columns["skin_tone"].PDifferences < 0.01, $"p = {worse.Columns["skin_tone"].PDifferences}");
        Assert.Equal("subjects", worse.Columns["skin_tone"].TestUnit);
        Assert.True(worse.Columns["skin_tone"].Values["III"].Top1 > worse.Columns["skin_tone"].Values["V"].Top1);
        // Sex has nothing to do with hits here (every other person, across both skin tones): no evidence.
        Assert.True(worse.Columns["sex"].PDifferences > 0.2, $"p = {worse.Columns["sex"].PDifferences}");
        // Deterministic for a seed.
        Assert.Equal(worse.Columns["skin_tone"].PDifferences, StratumAccuracy.Compute(rows, truth, probs)!.Columns["skin_tone"].PDifferences);
        // Holm over the two columns tested: the smaller p doubled, the larger kept (never below the first).
        var (skin, sex) = (worse.Columns["skin_tone"], worse.Columns["sex"]);
        Assert.Equal(Math.Min(1, 2 * skin.PDifferences!.Value), skin.PHolm!.Value, 12);
        Assert.Equal(Math.Max(skin.PHolm.Value, sex.PDifferences!.Value), sex.PHolm!.Value, 12);
        Assert.True(skin.Differs);
        Assert.Contains("(Holm ", skin.PText);
        // A p of 50/1001 is not "0.050" beside a mark saying it is below 0.05; others keep three decimals, rounded.
        Assert.Equal("p = 0.04995", new StratumColumn { PDifferences = 50 / 1001.0 }.PText);
        Assert.Equal("p < 0.001 (Holm 0.003)", new StratumColumn { PDifferences = 1 / 1001.0, PHolm = 3 / 1001.0 }.PText);
        Assert.Equal("p = 0.002 (Holm 0.006)", new StratumColumn { PDifferences = 2 / 1001.0, PHolm = 6 / 1001.0 }.PText);
    }

    [Fact]
    public void A_group_that_holds_harder_syndromes_is_not_taken_for_one_served_worse()
    {
        // Syndrome 0 is always recognised, syndrome 1 never, whatever the skin tone; skin tone V is mostly syndrome 1.
        // Shuffled among all people, V looks served worse; shuffled among people of one syndrome, nothing is left of it.
        var (rows, truth, probs) = Scored(People(80, k => k < 40 ? (k % 8 == 0 ? "V" : "III") : (k % 8 == 0 ? "III" : "V"), k => k < 40, k => k < 40 ? 0 : 1));
        var strata = StratumAccuracy.Compute(rows, truth, probs)!;
        var skin = strata.Columns["skin_tone"];
        Assert.True(skin.Values["III"].Top1 - skin.Values["V"].Top1 > 0.5);
        Assert.True(skin.PDifferences > 0.5, $"p = {skin.PDifferences}");
        // Fully confounded — every III person of syndrome 0, every V of syndrome 1 — the test cannot tell the two apart and says so.
        var (r2, t2, p2) = Scored(People(40, k => k < 20 ? "III" : "V", k => k < 20, k => k < 20 ? 0 : 1));
        var confounded = StratumAccuracy.Compute(r2, t2, p2)!.Columns["skin_tone"];
        Assert.Null(confounded.PDifferences);
        Assert.Contains("could not tell skin_tone from syndrome", confounded.NotTested);
    }

    [Fact]
    public void Photos_of_one_person_are_one_unit_and_families_are_kept_together_where_they_can_be()
    {
        // One person in many photos is one person: 40 photos of P000 (all missed, skin V) against people of III who are
        // all hit, 1 photo each, would look decisive photo by photo; the test shuffles people, and the interval has none.
        var photos = Enumerable.Repeat(new Photo("P000", 0, false, Skin: "V"), 40)
            .Concat(Enumerable.Range(1, 7).Select(k => new Photo($"P{k:D3}", 0, true, Skin: "III")));
        var (rows, truth, probs) = Scored(photos);
        var skin = StratumAccuracy.Compute(rows, truth, probs)!.Columns["skin_tone"];
        // One person of eight carries V: among 8 people, that the V one is the missed one comes once in eight shuffles.
        Assert.InRange(skin.PDifferences!.Value, 0.08, 0.17);
        Assert.Null(skin.Values["V"].Top1Interval);
        // Families: skin tone is one per family, so families are shuffled; sex differs within families, so people are.
        var family = Enumerable.Range(0, 40).SelectMany(k => new[]
        {
            new Photo($"P{k:D3}a", k % Classes, k % 3 == 0, Sex: "female", Skin: k / 4 % 2 == 0 ? "II" : "IV", Family: $"F{k:D2}"),
            new Photo($"P{k:D3}b", k % Classes, k % 3 != 1, Sex: "male", Skin: k / 4 % 2 == 0 ? "II" : "IV", Family: $"F{k:D2}"),
        });
        var (fr, ft, fp) = Scored(family);
        var strata = StratumAccuracy.Compute(fr, ft, fp)!;
        Assert.Equal("families", strata.Unit);
        Assert.Equal("families", strata.Columns["skin_tone"].TestUnit);
        Assert.Null(strata.Columns["skin_tone"].TestLeftOut);
        Assert.Equal("subjects", strata.Columns["sex"].TestUnit);
        // One family of mixed skin tones is left out (its two people counted), not a reason to shuffle everyone singly;
        // an unaffected sibling keeps a family in its patient's syndrome's block.
        var (gr, gt, gp) = Scored(family.Select(ph => ph.Family == "F00" && ph.Sex == "male" ? ph with { Skin = "VI" } : ph)
            .Select(ph => ph.Family is "F01" or "F05" && ph.Sex == "male" ? ph with { Syndrome = 0 } : ph));
        var rows2 = gr.Select(r => r.Family is "family:F01" or "F01" or "F05" && r.Sex == "male" ? r with { Syndrome = Manifest.Unaffected } : r).ToList();
        var mixedFamily = StratumAccuracy.Compute(rows2, gt, gp)!.Columns["skin_tone"];
        Assert.Equal("families", mixedFamily.TestUnit);
        Assert.Equal(2, mixedFamily.TestLeftOut);
        Assert.NotNull(mixedFamily.PDifferences);
        // An age band that differs among one person's photos cannot be shuffled with the person: such people are left out
        // of the test and counted; with nobody else left, the column is not tested, and that is said.
        var (ar, at, ap) = Scored(Enumerable.Range(0, 20).SelectMany(k => new[] { new Photo($"P{k}", k % Classes, true, Age: "child"), new Photo($"P{k}", k % Classes, k % 2 == 0, Age: "adult") }));
        var age = StratumAccuracy.Compute(ar, at, ap)!.Columns["age_band"];
        Assert.Null(age.PDifferences);
        Assert.Contains("20 people's photos carry different age_band values", age.NotTested);
        var (br, bt, bp) = Scored(Enumerable.Range(0, 40).SelectMany(k => k < 4
            ? new[] { new Photo($"P{k}", k % Classes, true, Age: "child"), new Photo($"P{k}", k % Classes, false, Age: "adult") }
            : new[] { new Photo($"P{k}", k % Classes, k % 3 == 0, Age: k / 4 % 2 == 0 ? "child" : "adult") }));
        var some = StratumAccuracy.Compute(br, bt, bp)!.Columns["age_band"];
        Assert.NotNull(some.PDifferences);
        Assert.Equal(4, some.TestLeftOut);
    }

    [Fact]
    public void Unscored_photos_and_the_oracle_are_counted_per_group_and_the_figures_survive_metrics_json()
    {
        var photos = new List<Photo>
        {
            new("A", 0, true, Skin: "I"), new("B", 1, false, Skin: "I"), new("C", 2, true, Skin: "VI"), new("D", 3, true, Skin: "VI"),
        };
        var (rows, truth, probs) = Scored(photos);
        // The split held two more photos of skin tone VI without a usable face (and one of I).
        var all = rows.Concat([rows[0] with { Image = "images/x1.jpg" }, rows[2] with { Image = "images/x2.jpg" }, rows[3] with { Image = "images/x3.jpg" }]).ToList();
        var oracle = new OracleFigures
        {
            Top1 = 0.5, Top5 = 1, Top10 = 1, NTest = 4,
            TestRanks = new Dictionary<string, int> { ["A"] = 1, ["B"] = 2, ["C"] = 1, ["D"] = 1 },
            EqualPriors = new OracleTopK { Top1 = 0.5, Top5 = 1, Top10 = 1, TestRanks = new Dictionary<string, int> { ["A"] = 2, ["B"] = 2, ["C"] = 1, ["D"] = 1 } },
        };
        var strata = StratumAccuracy.Compute(rows, truth, probs, new StratumOptions { Oracle = oracle, AllPhotos = all })!;
        var (one, six) = (strata.Columns["skin_tone"].Values["I"], strata.Columns["skin_tone"].Values["VI"]);
        Assert.Equal((1, 2), (one.NUnscored, six.NUnscored));
        Assert.Equal((0.5, 0.0), (one.Oracle!.Top1, one.Oracle.EqualPriors!.Top1));
        Assert.Equal(1.0, six.Oracle!.Top1);
        // Into metrics.json and back, as evaluate writes it and the report reads it; none written without strata.
        string dir = TestTemp.Dir("gl-strata");
        var metrics = ClassificationMetrics.Compute(truth, probs, Classes) with { Strata = strata };
        metrics.Save(Path.Combine(dir, "metrics.json"));
        var loaded = ClassificationMetrics.Load(Path.Combine(dir, "metrics.json")).Strata!;
        Assert.Equal(["I", "VI"], loaded.Columns["skin_tone"].Values.Keys);
        Assert.Equal(six.Top1, loaded.Columns["skin_tone"].Values["VI"].Top1);
        Assert.Equal(2, loaded.Columns["skin_tone"].Values["VI"].NUnscored);
        Assert.Equal(one.Top1Interval, loaded.Columns["skin_tone"].Values["I"].Top1Interval);
        (metrics with { Strata = null }).Save(Path.Combine(dir, "plain.json"));
        Assert.DoesNotContain("strata", File.ReadAllText(Path.Combine(dir, "plain.json")));
        // A shared run's strata that no evaluation writes cost those figures alone, with the reason; the rest stands.
        string saved = File.ReadAllText(Path.Combine(dir, "metrics.json"));
        foreach (var (damage, said) in new[]
        {
            (saved.Replace("\"n_images\": 2,", "\"n_images\": null,"), "could not be read"),
            (System.Text.RegularExpressions.Regex.Replace(saved, "\"values\": \\{\\s*\"I\": \\{", "\"values\": { \"I\": null, \"x\": {"), "has no figures"),
            (saved.Replace("\"columns\": {", "\"columns\": { \"sex\": { \"values\": null },"), "has no groups"),
            (saved.Replace("\"top1\": 1,", "\"top1\": 7,"), "outside 0–1"),
            // A group named twice: the second would pass for the first.
            (saved.Replace("\"VI\": {", "\"VI\": { \"n_images\": 9, \"n_subjects\": 1, \"top1\": 0, \"top5\": 0, \"top10\": 0 }, \"VI\": {"), "could not be read"),
        })
        {
            Assert.NotEqual(saved, damage);
            File.WriteAllText(Path.Combine(dir, "damaged.json"), damage);
            var read = ClassificationMetrics.Load(Path.Combine(dir, "damaged.json"));
            Assert.Null(read.Strata);
            Assert.Contains(said, read.StrataProblem);
            Assert.Equal(metrics.Top1, read.Top1);
        }
    }
}
