using GestaltLab.Data;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Synthetic;

public class CatalogAndOracleTests
{
    [Fact]
    public void TraitSpaceHasNamedTraitsAndAValidCorrelation()
    {
        Assert.True(TraitSpace.Count >= 24);
        Assert.Equal(TraitSpace.Count, TraitSpace.Traits.Select(t => t.Name).Distinct().Count());
        Assert.All(TraitSpace.Traits, t => Assert.True(t.Sd > 0));
        var l = TraitSpace.CholeskyFactor();
        Assert.Equal(TraitSpace.Count, l.GetLength(0));
        Assert.Equal(6, TraitSpace.SkinTones.Count);
    }

    [Fact]
    public void ShippedCatalogIsTheDeterministicDefaultWithTeachingAnalogues()
    {
        var generated = SyndromeCatalog.Generate();
        Assert.Equal(generated.ToJson(), SyndromeCatalog.Generate().ToJson());
        // data/synthetic/catalog.json must be exactly what the generator makes (rebuild: gestaltlab generate --write-catalog).
        Assert.Equal(generated.ToJson(), File.ReadAllText(TestTemp.RepoFile("data/synthetic/catalog.json")));
        var c = SyndromeCatalog.Default;
        Assert.True(c.Affected.Count() >= 216);
        Assert.NotNull(c.Control);
        var noonan = c["noonan_like"];
        Assert.Equal(["PTPN11", "SOS1", "RAF1", "RIT1", "KRAS"], noonan.Genes.Select(g => g.Gene));
        Assert.All(c.Affected.Where(s => s.Kind == "teaching"), s => Assert.Contains("synthetic analogue", s.Name));
        Assert.All(c.Affected.Where(s => s.Kind == "generated"), s => Assert.StartsWith("Synthetic syndrome", s.Name));
        var cdls = c["cdls_like"].Effects;
        Assert.True(cdls["synophrys"] > 0 && cdls["philtrum_length"] > 0 && cdls["upper_lip_thickness"] < 0 && cdls["mouth_corner_angle"] < 0);
        // Syndromes overlap: many share at least one shifted trait with another.
        var affected = c.Affected.ToList();
        Assert.True(affected.Count(a => affected.Any(b => b != a && b.Effects.Keys.Intersect(a.Effects.Keys).Count() >= 2)) > 100);
    }

    [Fact]
    public void SchemaListsExactlyTheLibrarysTraits()
    {
        var schema = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(TestTemp.RepoFile("data/synthetic/catalog.schema.json")))!;
        var names = schema["$defs"]!["trait"]!["enum"]!.AsArray().Select(n => (string)n!).ToList();
        Assert.Equal(TraitSpace.Traits.Select(t => t.Name), names);
    }

    [Fact]
    public void CatalogJsonRoundTripsAndUserErrorsAreClear()
    {
        var c = SyndromeCatalog.Default;
        var back = SyndromeCatalog.Parse(c.ToJson(), "roundtrip.json");
        Assert.Equal(c.ToJson(), back.ToJson());

        var user = """
            { "name": "mine", "syndromes": [
              { "id": "my_syndrome", "name": "My analogue", "effects": { "philtrum_length": 1.5, "no_such_trait": 1 } } ] }
            """;
        var e = Assert.Throws<GestaltLabException>(() => SyndromeCatalog.Parse(user, "/home/u/my.json"));
        Assert.Contains("/home/u/my.json", e.Message);
        Assert.Contains("my_syndrome", e.Message);
        Assert.Contains("unknown trait 'no_such_trait'", e.Message);
        Assert.Contains("philtrum_length", e.Fix);

        Assert.Contains("not valid JSON", Assert.Throws<GestaltLabException>(() => SyndromeCatalog.Parse("{ nope", "x.json")).Message);
        var dup = """{ "syndromes": [ { "id": "a" }, { "id": "a" } ] }""";
        Assert.Contains("used twice", Assert.Throws<GestaltLabException>(() => SyndromeCatalog.Parse(dup, "d.json")).Message);
        var bad = """{ "syndromes": [ { "id": "a", "effects": { "ptosis": "big" } } ] }""";
        Assert.Contains("must be a number", Assert.Throws<GestaltLabException>(() => SyndromeCatalog.Parse(bad, "b.json")).Message);

        // A valid user catalog with controls drives a preset.
        var ok = """
            { "name": "mine", "syndromes": [
              { "id": "cdls_like", "kind": "teaching", "effects": { "synophrys": 2 } },
              { "id": "angelman_like", "effects": { "mouth_width": 2 } },
              { "id": "unaffected", "kind": "control" } ] }
            """;
        var plan = DatasetPresets.Plan("specialized-cdls", 1, 0.02, SyndromeCatalog.Parse(ok, "ok.json"));
        Assert.Equal(["cdls_like", "other"], plan.Classes.Select(k => k.Label));
    }

    [Fact]
    public void OracleMatchesTheBayesRuleWorkedOutByHand()
    {
        // One trait, Σ = 1. Classes: A ~ N(0, 1), B ~ N(2, 1), priors 3 : 1.
        // log p(A|x) − log p(B|x) = ln 3 − x²/2 + (x−2)²/2 = ln 3 + 2 − 2x → boundary at x = 1 + ln(3)/2 ≈ 1.549.
        var sigma = new double[,] { { 1 } };
        var oracle = new Oracle([
            new OracleClass("A", 3, [new OracleComponent(1, [0.0], 0)]),
            new OracleClass("B", 1, [new OracleComponent(1, [2.0], 0)]),
        ], sigma);
        Assert.Equal([0, 1], oracle.Rank([1.5]));
        Assert.Equal([1, 0], oracle.Rank([1.6]));
        var lp = oracle.LogPosterior([1.0]);
        Assert.Equal(Math.Log(3) + 2 - 2 * 1.0, lp[0] - lp[1], 10);

        // Variable expressivity: B's variance is 1 + τ²μ² = 1 + 0.25·4 = 2.
        var ex = new Oracle([
            new OracleClass("A", 1, [new OracleComponent(1, [0.0], 0)]),
            new OracleClass("B", 1, [new OracleComponent(1, [2.0], 0.5)]),
        ], sigma);
        double x = 0.7;
        double expected = (-0.5 * x * x) - (-0.5 * (x - 2) * (x - 2) / 2 - 0.5 * Math.Log(2));
        var l2 = ex.LogPosterior([x]);
        Assert.Equal(expected, l2[0] - l2[1], 10);

        // Top-k on a four-item test set: three on the right side of the boundary, one not.
        var r = oracle.Evaluate([([0.2], "A"), ([1.4], "A"), ([2.5], "B"), ([1.2], "B")]);
        Assert.Equal(0.75, r.Top1, 10);
        Assert.Equal(1.0, r.Top5, 10);
        Assert.Equal(4, r.NTest);

        // A class may be a mixture (a gene family, or "other"): the likelihood is the weighted sum.
        var mix = new Oracle([
            new OracleClass("M", 1, [new OracleComponent(1, [-3.0], 0), new OracleComponent(1, [3.0], 0)]),
            new OracleClass("Z", 1, [new OracleComponent(1, [0.0], 0)]),
        ], sigma);
        Assert.Equal(0, mix.Rank([3.0])[0]);
        Assert.Equal(1, mix.Rank([0.0])[0]);
    }

    [Fact]
    public void Gestalt216PlanMatchesThePaperAndTheOracleIsInItsBand()
    {
        var plan = DatasetPresets.Plan("gestalt216", seed: 1);
        Assert.Equal(216, plan.Classes.Count);
        var test = plan.Subjects.Where(s => s.Split == SplitNames.Test).ToList();
        Assert.Equal(502, test.Sum(s => s.Photos));
        Assert.True(test.Select(s => s.Label).Distinct().Count() >= 92);
        int train = plan.Subjects.Where(s => s.Split == SplitNames.Train).Sum(s => s.Photos);
        Assert.InRange(train, 16000, 18000);
        Assert.Equal(plan.Subjects.Count, plan.Subjects.Select(s => s.Id).Distinct().Count());

        var o = plan.EvaluateOracle();
        Assert.InRange(o.Top1, 0.60, 0.85);
        Assert.True(o.Top10 >= 0.95, $"oracle top-10 {o.Top10}");
        Assert.Equal(502, o.NTest);
        // The test photos follow the training frequencies (a few syndromes are common), so the oracle that knows them
        // ranks better than the same oracle with equal priors.
        var equal = plan.EvaluateOracle(equalPriors: true);
        Assert.True(equal.Top1 < o.Top1 - 0.02, $"equal-prior oracle top-1 {equal.Top1}, with training priors {o.Top1}");
    }

    [Fact]
    public void SpecializedPresetsHaveThePapersCounts()
    {
        var ang = DatasetPresets.Plan("specialized-angelman", 1);
        int Images(DatasetPlan p, string label, string split) => p.Subjects.Where(s => s.Label == label && s.Split == split).Sum(s => s.Photos);
        Assert.Equal(766, Images(ang, "angelman_like", SplitNames.Train));
        Assert.Equal(2699, Images(ang, "other", SplitNames.Train));
        Assert.Equal(10, Images(ang, "angelman_like", SplitNames.Test));
        Assert.Equal(15, Images(ang, "other", SplitNames.Test));
        var cdls = DatasetPresets.Plan("specialized-cdls", 1);
        Assert.Equal(32, cdls.Subjects.Where(s => s.Split == SplitNames.Test).Sum(s => s.Photos));
        var noonan = DatasetPresets.Plan("specialized-noonan", 1, 0.2);
        Assert.Equal(["PTPN11", "SOS1", "RAF1", "RIT1", "KRAS"], noonan.Classes.Select(c => c.Label));
        Assert.All(noonan.Subjects, s => Assert.Equal(s.Label, s.Gene));
        Assert.Contains("unknown preset", Assert.Throws<GestaltLabException>(() => DatasetPresets.Plan("nope", 1)).Message);
    }
}
