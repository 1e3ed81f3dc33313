using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Synthetic;

/// <summary>
/// The named synthetic data sets. Each turns (catalog, seed, scale) into a <see cref="DatasetPlan"/>; <c>--scale F</c>
/// multiplies subject and image counts (at least one per cell). Splits are decided per subject when the plan is made, so
/// a person (and all their photos) is in exactly one split.
/// </summary>
public static class DatasetPresets
{
    /// <summary>Preset names with one-line descriptions.</summary>
    public static IReadOnlyDictionary<string, string> Descriptions { get; } = new Dictionary<string, string>
    {
        ["mini"] = "CI-sized: 9 teaching analogues + controls, 5 subjects × 2 photos each (100 images)",
        ["demo"] = "30 classes (11 teaching analogues, 18 generated syndromes, controls), 15 subjects each, 1,200 images: the README's demo",
        ["demo-novel"] = "the demo's 30 classes with other people, plus 10 syndromes the demo leaves out; 10 subjects each (3 in test), ~920 images: face-space matching of syndromes a demo model never learned",
        ["specialized-cdls"] = "binary CdLS-like vs 215 other syndromes; test set of 32 images (16/16), like DeepGestalt's CdLS experiment",
        ["specialized-angelman"] = "binary Angelman-like vs others: train 766 vs 2,699 images, test 25 (10 Angelman-like / 15 other)",
        ["specialized-noonan"] = "5-gene Noonan-like genotype task (PTPN11, SOS1, RAF1, RIT1, KRAS), classes are genes",
        ["specialized"] = "all three specialized tasks, each in its own subfolder (cdls/, angelman/, noonan/)",
        ["gestalt216"] = "216 syndromes, ~17,000 training images (long-tailed), a 502-image test set spanning 100 syndromes",
        ["identities"] = "1,000 unaffected people × 6 photos, for face-recognition pretraining",
    };

    /// <summary>All preset names.</summary>
    public static IReadOnlyList<string> Names => Descriptions.Keys.ToList();

    /// <summary>Sub-presets of a preset that writes several data sets (only <c>specialized</c>), with their folder names.</summary>
    public static IReadOnlyList<(string Folder, string Preset)> Parts(string preset) => preset == "specialized"
        ? [("cdls", "specialized-cdls"), ("angelman", "specialized-angelman"), ("noonan", "specialized-noonan")]
        : [];

    /// <summary>Makes the plan of a preset. <paramref name="catalog"/> defaults to <see cref="SyndromeCatalog.Default"/>.</summary>
    public static DatasetPlan Plan(string preset, int seed, double scale = 1, SyndromeCatalog? catalog = null, NuisanceLevel nuisance = NuisanceLevel.Varied)
    {
        if (!(scale > 0) || scale > 100) throw new GestaltLabException(FormattableString.Invariant($"--scale must be in (0, 100], got {scale}"));
        catalog ??= SyndromeCatalog.Default;
        var b = new Builder(catalog, seed, scale, StreamBaseOf(preset));
        var affected = catalog.Affected.ToList();
        TaskClass Single(Syndrome s) => new(s.Id, s.Genes.Count == 0
            ? [(s, null, 1.0)]
            : s.Genes.Select(g => (s, (string?)g.Gene, g.Weight)).ToList());
        TaskClass Pool(string label, IEnumerable<Syndrome> ss) => new(label, ss.SelectMany(s => Single(s).Sources.Select(x => (x.Syndrome, x.Gene, x.Weight * s.Frequency / Single(s).Sources.Sum(y => y.Weight)))).ToList());
        Syndrome Need(string id) => catalog.Contains(id) ? catalog[id]
            : throw new GestaltLabException($"preset '{preset}' needs syndrome '{id}', which the catalog '{catalog.Name}' lacks");
        Syndrome Control() => catalog.Control ?? throw new GestaltLabException($"preset '{preset}' needs the '{SyndromeCatalog.ControlId}' control entry in catalog '{catalog.Name}'");

        switch (preset)
        {
            case "mini":
            {
                var classes = affected.Where(s => s.Kind == "teaching").Take(9).Append(Control()).Select(Single).ToList();
                foreach (var c in classes) { b.Subjects(c, SplitNames.Train, 3, 2, 2); b.Subjects(c, SplitNames.Val, 1, 2, 2); b.Subjects(c, SplitNames.Test, 1, 2, 2); }
                return b.Finish(preset, classes, nuisance);
            }
            case "demo":
            {
                var classes = DemoSyndromes(affected).Demo.Append(Control()).Select(Single).ToList();
                foreach (var c in classes) { b.Subjects(c, SplitNames.Train, 10, 3, 3); b.Subjects(c, SplitNames.Val, 2, 2, 2); b.Subjects(c, SplitNames.Test, 3, 2, 2); }
                return b.Finish(preset, classes, nuisance);
            }
            case "demo-novel":
            {
                // A second cohort for a model trained on the demo: the demo's syndromes with people of their own (streams of
                // their own), so its test people are new to the model, beside the next most frequent syndromes, which a demo
                // model never learned. A small gallery per syndrome (7 people) is the rare-disorder case matching is for.
                var (demo, leftOut) = DemoSyndromes(affected);
                var novel = leftOut.Take(NovelSyndromes).ToList();
                if (novel.Count == 0)
                    throw new GestaltLabException($"preset '{preset}' needs syndromes beyond the demo's 29, and the catalog '{catalog.Name}' has none",
                        "add entries to the catalog (--catalog), or match against photos of syndromes of your own");
                var classes = demo.Concat(novel).Append(Control()).Select(Single).ToList();
                foreach (var c in classes) { b.Subjects(c, SplitNames.Train, 6, 2, 3); b.Subjects(c, SplitNames.Val, 1, 2, 2); b.Subjects(c, SplitNames.Test, 3, 2, 2); }
                return b.Finish(preset, classes, nuisance);
            }
            case "specialized-cdls":
            case "specialized-angelman":
            {
                bool cdls = preset == "specialized-cdls";
                var target = Need(cdls ? "cdls_like" : "angelman_like");
                var pos = new TaskClass(target.Id, Single(target).Sources);
                var neg = Pool("other", affected.Where(s => s.Id != target.Id));
                var classes = new List<TaskClass> { pos, neg };
                b.Images(pos, SplitNames.Train, cdls ? 400 : 766, 1, 4); b.Images(neg, SplitNames.Train, cdls ? 1200 : 2699, 1, 4);
                b.Images(pos, SplitNames.Val, cdls ? 40 : 76, 1, 2); b.Images(neg, SplitNames.Val, cdls ? 120 : 270, 1, 2);
                b.Subjects(pos, SplitNames.Test, cdls ? 16 : 10, 1, 1); b.Subjects(neg, SplitNames.Test, cdls ? 16 : 15, 1, 1);
                return b.Finish(preset, classes, nuisance);
            }
            case "specialized-noonan":
            {
                var noonan = Need("noonan_like");
                if (noonan.Genes.Count < 2) throw new GestaltLabException($"catalog '{catalog.Name}': noonan_like needs genes for the genotype task");
                var classes = noonan.Genes.Select(g => new TaskClass(g.Gene, [(noonan, g.Gene, 1.0)])).ToList();
                foreach (var c in classes) { b.Images(c, SplitNames.Train, 200, 1, 4); b.Images(c, SplitNames.Val, 20, 1, 2); b.Subjects(c, SplitNames.Test, 10, 1, 1); }
                return b.Finish(preset, classes, nuisance);
            }
            case "gestalt216":
            {
                var classes = affected.Select(Single).ToList();
                double total = affected.Sum(s => s.Frequency);
                // Long-tailed training set of ~17,000 images, every syndrome with at least 25.
                double t = 17000;
                int[] alloc = [];
                for (int it = 0; it < 30; it++)
                {
                    alloc = affected.Select(s => Math.Max(25, (int)Math.Round(t * s.Frequency / total))).ToArray();
                    t *= 17000.0 / alloc.Sum();
                }
                for (int i = 0; i < classes.Count; i++)
                {
                    b.Images(classes[i], SplitNames.Train, alloc[i], 1, 4);
                    b.Images(classes[i], SplitNames.Val, Math.Max(2, (int)Math.Round(alloc[i] * 0.06)), 1, 2);
                }
                // Test: 502 photos of distinct people from 100 syndromes (weighted by √frequency), ≥ 2 each, rest by frequency.
                var pick = SyntheticRandom.For(seed, 11);
                var weights = affected.Select(s => Math.Sqrt(s.Frequency)).ToList();
                int nTestSyndromes = Math.Min(100, affected.Count);
                var chosen = new List<int>();
                while (chosen.Count < nTestSyndromes)
                {
                    int k = pick.Pick(weights);
                    chosen.Add(k);
                    weights[k] = 0;
                }
                chosen.Sort();
                int testTotal = 502;
                var counts = chosen.ToDictionary(i => i, _ => 2);
                double fsum = chosen.Sum(i => affected[i].Frequency);
                int rest = testTotal - 2 * chosen.Count;
                var share = chosen.Select(i => (i, q: rest * affected[i].Frequency / fsum)).ToList();
                foreach (var (i, q) in share) counts[i] += (int)q;
                int left = testTotal - counts.Values.Sum();
                foreach (var (i, _) in share.OrderByDescending(x => x.q - Math.Floor(x.q)).ThenBy(x => x.i).Take(left)) counts[i]++;
                foreach (int i in chosen) b.Subjects(classes[i], SplitNames.Test, counts[i], 1, 1);
                return b.Finish(preset, classes, nuisance);
            }
            case "identities":
            {
                var c = Single(Control());
                b.Subjects(c, SplitNames.Train, 900, 6, 6); b.Subjects(c, SplitNames.Val, 50, 6, 6); b.Subjects(c, SplitNames.Test, 50, 6, 6);
                return b.Finish(preset, [c], nuisance);
            }
            case "specialized":
                throw new GestaltLabException("'specialized' holds three data sets; plan 'specialized-cdls', 'specialized-angelman' or 'specialized-noonan' (the CLI writes all three)");
            default:
                throw new GestaltLabException($"unknown preset '{preset}'", $"use one of: {string.Join(", ", Names)}");
        }
    }

    /// <summary>How many syndromes <c>demo-novel</c> adds to the demo's (fewer when the catalog has fewer left).</summary>
    public const int NovelSyndromes = 10;

    // The demo's syndromes — every teaching analogue and the most frequent generated ones, 29 in all (the control is the
    // 30th) — and the generated ones it leaves out, most frequent first.
    private static (List<Syndrome> Demo, List<Syndrome> LeftOut) DemoSyndromes(IReadOnlyList<Syndrome> affected)
    {
        var teaching = affected.Where(s => s.Kind == "teaching").ToList();
        var generated = affected.Where(s => s.Kind != "teaching").OrderByDescending(s => s.Frequency).ThenBy(s => s.Id, StringComparer.Ordinal).ToList();
        int take = Math.Max(0, 29 - teaching.Count);
        return ([.. teaching, .. generated.Take(take)], generated.Skip(take).ToList());
    }

    /// <summary>
    /// Whether two presets' data sets of one seed show the same people: the syndrome presets draw person <c>i</c> from the
    /// same streams (person <c>p000004</c> of <c>mini</c> is <c>p000004</c> of <c>demo</c>); <c>identities</c> and
    /// <c>demo-novel</c> draw from streams of their own.
    /// </summary>
    public static bool SharePeople(string preset, string otherPreset) => StreamBaseOf(preset) == StreamBaseOf(otherPreset);

    internal static long StreamBaseOf(string preset) => preset switch
    {
        "identities" => IdentityStreams,
        "demo-novel" => NovelStreams,
        _ => 0,
    };

    /// <summary>
    /// Stream ids of <c>identities</c> start here: its people are drawn from streams of their own, never the syndrome
    /// presets' (with shared streams, person i of a seed was the same face in every preset — the shipped backbones were
    /// pretrained on exact copies of the demo's unaffected test people).
    /// </summary>
    internal const long IdentityStreams = 1000;

    /// <summary>Stream ids of <c>demo-novel</c> start here: its people are new to a model trained on the demo of any seed.</summary>
    internal const long NovelStreams = 2000;

    private sealed class Builder(SyndromeCatalog catalog, int seed, double scale, long streamBase)
    {
        private readonly List<SyntheticSubject> _subjects = new();
        private readonly double[,] _chol = TraitSpace.CholeskyFactor();
        private readonly SyntheticRandom _photos = SyntheticRandom.For(seed, streamBase + 10);

        private int Scaled(int n) => n <= 0 ? 0 : Math.Max(1, (int)Math.Round(n * scale));

        public void Subjects(TaskClass c, string split, int subjects, int minPhotos, int maxPhotos)
        {
            for (int i = 0, n = Scaled(subjects); i < n; i++) Add(c, split, minPhotos + _photos.NextInt(maxPhotos - minPhotos + 1));
        }

        public void Images(TaskClass c, string split, int images, int minPhotos, int maxPhotos)
        {
            int left = Scaled(images);
            while (left > 0)
            {
                int k = Math.Min(left, minPhotos + _photos.NextInt(maxPhotos - minPhotos + 1));
                Add(c, split, k);
                left -= k;
            }
        }

        private void Add(TaskClass c, string split, int photos)
        {
            int index = _subjects.Count;
            var rng = SyntheticRandom.For(seed, streamBase + 1, index);
            var src = c.Sources[rng.Pick(c.Sources.Select(x => x.Weight).ToList())];
            string sex = TraitSpace.Sexes[rng.NextInt(2)];
            string age = TraitSpace.AgeBands[rng.Pick(TraitSpace.AgeBandWeights)];
            int skin = rng.Pick(TraitSpace.SkinToneWeights);
            double tau = src.Syndrome.Expressivity;
            double severity = tau > 0 ? 1 + tau * rng.Gaussian() : 1;
            var mu = src.Syndrome.MeanShift(src.Gene);
            var eps = new double[TraitSpace.Count];
            for (int i = 0; i < eps.Length; i++) eps[i] = rng.Gaussian();
            var noise = LinearAlgebra.LowerTimes(_chol, eps);
            var z = new double[eps.Length];
            for (int i = 0; i < z.Length; i++) z[i] = severity * mu[i] + noise[i];
            _subjects.Add(new SyntheticSubject
            {
                Id = $"p{index:000000}", Index = index, Label = c.Label, SyndromeId = src.Syndrome.Id, Gene = src.Gene ?? "",
                Sex = sex, AgeBand = age, SkinTone = skin, Split = split, Photos = photos, Severity = severity, Traits = z,
            });
        }

        public DatasetPlan Finish(string preset, List<TaskClass> classes, NuisanceLevel nuisance)
        {
            var used = _subjects.Select(s => s.SyndromeId).ToHashSet(StringComparer.Ordinal);
            foreach (var c in classes) foreach (var s in c.Sources) used.Add(s.Syndrome.Id);
            return new DatasetPlan
            {
                Preset = preset, Seed = seed, Scale = scale, Catalog = catalog.Subset(used, catalog.Name),
                Classes = classes, Subjects = _subjects, Nuisance = nuisance, StreamBase = streamBase,
            };
        }
    }
}
