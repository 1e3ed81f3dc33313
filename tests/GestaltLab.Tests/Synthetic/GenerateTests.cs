using System.Numerics;
using System.Text.Json.Nodes;
using GestaltLab.Cli;
using GestaltLab.Data;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;
using OpenCvSharp;

namespace GestaltLab.Tests.Synthetic;

/// <summary>Generates the mini preset twice (one thread, two threads) once for all tests in this class.</summary>
public sealed class MiniDataFixture : IDisposable
{
    public MiniDataFixture()
    {
        Root = TestTemp.Dir("gl-synth");
        A = SyntheticDataset.Generate("mini", 3, Path.Combine(Root, "a"), options: new GenerateOptions { Threads = 1 });
        B = SyntheticDataset.Generate("mini", 3, Path.Combine(Root, "b"), options: new GenerateOptions { Threads = 2 });
    }

    public string Root { get; }
    public GenerateResult A { get; }
    public GenerateResult B { get; }

    public void Dispose() => Directory.Delete(Root, true);
}

public class GenerateTests(MiniDataFixture data) : IClassFixture<MiniDataFixture>
{
    [Fact]
    public void SameSeedGivesByteIdenticalFilesWhateverTheThreadCount()
    {
        static List<string> Files(string d) => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(d, f)).Order(StringComparer.Ordinal).ToList();
        var fa = Files(data.A.Directory);
        Assert.Equal(fa, Files(data.B.Directory));
        Assert.Contains(fa, f => f.EndsWith(".png")); // lossless photos…
        Assert.Contains(fa, f => f.EndsWith(".jpg")); // …and JPEG-compressed ones (nuisance)
        foreach (var f in fa)
            Assert.True(File.ReadAllBytes(Path.Combine(data.A.Directory, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(data.B.Directory, f))), f);
        foreach (var f in new[] { "manifest.csv", "landmarks.csv", "traits.csv", "catalog.json", "oracle.json", "dataset.json" })
            Assert.Contains(f, fa);
        // Another seed is other people: other traits and other pixels (a generator or CLI ignoring the seed fails here).
        string other = Path.Combine(data.Root, "seed4");
        // A killed generation's half-written data set beside it, for another folder: cleared too (it was left until a
        // data set of its own name was generated again).
        string killed = Path.Combine(data.Root, $".elsewhere.{int.MaxValue}.0123456789abcdef0123456789abcdef.tmp");
        Directory.CreateDirectory(Path.Combine(killed, "images"));
        SyntheticDataset.Generate("mini", 4, other, scale: 0.2);
        Assert.False(Directory.Exists(killed));
        Assert.NotEqual(File.ReadAllText(Path.Combine(data.A.Directory, "traits.csv")).Split('\n')[1], File.ReadAllText(Path.Combine(other, "traits.csv")).Split('\n')[1]);
        string firstPhoto = Manifest.Load(other).Rows.Select(r => r.Image).First(i => File.Exists(Path.Combine(data.A.Directory, i)));
        Assert.False(File.ReadAllBytes(Path.Combine(other, firstPhoto)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(data.A.Directory, firstPhoto))));
        // The versions the pixels depend on are recorded with the seed.
        var info = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(data.A.Directory, "dataset.json")))!;
        Assert.NotNull(info["seed"]);
        Assert.Equal(RunManifest.PackageVersions()["SkiaSharp"], (string?)info["packages"]!["SkiaSharp"]);
        // GestaltLab's own with the commit it was built from (0.1.0+<sha>): one version number spans many builds.
        Assert.Equal(System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(
            typeof(RunManifest).Assembly)!.InformationalVersion, (string?)info["packages"]!["GestaltLab"]);
    }

    [Fact]
    public void ManifestLandmarksAndSplitsAreConsistent()
    {
        var m = Manifest.Load(data.A.Directory);
        Assert.Equal(100, m.Count);
        Assert.Equal(10, m.Syndromes.Count);
        Assert.Contains(Manifest.Unaffected, m.Syndromes);
        Assert.Empty(Splits.FindLeaks(m.Rows));
        Assert.All(SplitNames.All, s => Assert.NotEmpty(m.InSplit(s)));
        Assert.All(m.Rows.Where(r => r.Syndrome == "noonan_like"), r => Assert.Contains(r.Gene, new[] { "PTPN11", "SOS1", "RAF1", "RIT1", "KRAS" }));
        Assert.All(m.Rows, r => Assert.True(File.Exists(m.ResolveImage(r)), r.Image));

        var lm = LandmarkTable.Load(data.A.Directory);
        Assert.Equal(m.Count, lm.Count);
        foreach (var r in m.Rows)
        {
            var p = lm[r.Image];
            Assert.All(p, q => { Assert.InRange(q.X, 0, 255); Assert.InRange(q.Y, 0, 255); });
            Assert.True(p[36].X < p[45].X && p[39].X < p[42].X, "image-left eye is on the left");
            Assert.True(p[27].Y < p[30].Y && p[30].Y < p[33].Y && p[33].Y < p[51].Y && p[51].Y < p[57].Y && p[57].Y < p[8].Y, "vertical order brow → chin");
        }

        var oracle = JsonNode.Parse(File.ReadAllText(Path.Combine(data.A.Directory, "oracle.json")))!;
        Assert.Equal(20, (int)oracle["n_test"]!);
        Assert.InRange((double)oracle["top1"]!, 0, 1);
        Assert.Equal(data.A.Oracle.Top10, (double)oracle["top10"]!, 4);
        // Beside it, the oracle a model ranking with equal priors is measured against.
        Assert.Equal(data.A.EqualPriorOracle!.Value.Top1, (double)oracle["equal_priors"]!["top1"]!, 4);
        Assert.Equal(data.A.EqualPriorOracle!.Value.Top10, GestaltLab.Evaluation.OracleFigures.TryLoad(data.A.Directory)!.EqualPriors!.Top10, 4);
        var traits = Csv.Read(Path.Combine(data.A.Directory, "traits.csv"));
        Assert.Equal(50, traits.Rows.Count);
        Assert.All(TraitSpace.Traits, t => Assert.True(traits.Has(t.Name), t.Name));
        // One row per person, agreeing with the manifest on syndrome and split, and with the photos' count.
        var manifestRows = Manifest.Load(data.A.Directory).Rows;
        foreach (var row in traits.Rows)
        {
            var photos = manifestRows.Where(r => r.Subject == row[traits.Column("subject")]).ToList();
            Assert.NotEmpty(photos);
            Assert.All(photos, r => Assert.Equal(r.Syndrome, row[traits.Column("syndrome")]));
            Assert.All(photos, r => Assert.Equal(r.Split, row[traits.Column("split")]));
            Assert.Equal(photos.Count, int.Parse(row[traits.Column("photos")], System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Equal(manifestRows.Select(r => r.Subject).Distinct().Count(), traits.Rows.Count);
        // Trait values are z-scores of the population: centred near 0 across people, and not all alike.
        var icd = traits.Rows.Select(r => double.Parse(r[traits.Column("inner_canthal_distance")], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.InRange(icd.Average(), -1.0, 1.0);
        Assert.True(icd.Max() - icd.Min() > 0.5);
    }

    [Fact]
    public void RealHaarCascadeFindsRenderedFaces()
    {
        string? cascadePath = SystemResources.HaarCascadePath();
        Assert.True(cascadePath is not null, "haarcascade_frontalface_default.xml not found: install opencv-data");
        using var cascade = new CascadeClassifier(cascadePath);
        var plan = DatasetPresets.Plan("demo", 11, 0.2, nuisance: NuisanceLevel.Clean);
        var subjects = plan.Subjects.Take(30).ToList();
        int found = 0;
        foreach (var s in subjects)
        {
            var photo = SyntheticDataset.RenderPhoto(plan, s, 1);
            using var mat = Cv2.ImDecode(photo.Encoded, ImreadModes.Grayscale);
            var faces = cascade.DetectMultiScale(mat, 1.1, 5, HaarDetectionTypes.ScaleImage, new Size(26, 26));
            var tip = photo.Landmarks[30];
            if (faces.Any(f => f.Contains((int)tip.X, (int)tip.Y) && f.Width > 60)) found++;
        }
        // Issue 3 asks for ≥ 98 % on clean renders; on 30 photos that allows no miss (measured: 30 of 30 for this seed).
        Assert.True(found >= 30, $"Haar found {found}/{subjects.Count} rendered faces");
    }

    [Fact]
    public void Both_brows_taper_outwards_and_landmarks_sit_on_pixel_centres()
    {
        var app = SubjectAppearance.Draw(new SyntheticRandom(1), 2) with { Jitter = new float[136] };
        using var r = new FaceRenderer();
        var photo = r.Render(new double[TraitSpace.Count], [], app, new PhotoNuisance { HairStyle = 0 }, 1);
        using var bmp = SkiaSharp.SKBitmap.Decode(photo.Encoded);
        var lm = photo.Landmarks;
        // Brow thickness in pixels: the pixels much darker than the cheek in the column a quarter of the way in from one
        // end of the brow towards the other, just around the brow.
        static float Lum(SkiaSharp.SKColor c) => c.Red + c.Green + c.Blue;
        var cheek = (lm[2] + lm[31]) / 2;
        float skin = Lum(bmp.GetPixel((int)Math.Round(cheek.X), (int)Math.Round(cheek.Y)));
        int Thickness(int end, int other)
        {
            var p = lm[end] + 0.25f * (lm[other] - lm[end]);
            int x = (int)Math.Round(p.X), n = 0;
            for (int y = (int)p.Y - 10; y <= (int)p.Y + 6; y++)
                if (Lum(bmp.GetPixel(x, y)) < 0.6f * skin) n++;
            return n;
        }
        int leftOuter = Thickness(17, 21), leftInner = Thickness(21, 17), rightInner = Thickness(22, 26), rightOuter = Thickness(26, 22);
        Assert.True(leftOuter < leftInner && rightOuter < rightInner,
            $"brows must thin outwards: left outer {leftOuter} / inner {leftInner}, right outer {rightOuter} / inner {rightInner}");
        Assert.InRange(Math.Abs(leftOuter - rightOuter), 0, 1);
        // The neutral face is drawn centred: in dlib's pixel convention (pixel i's centre at i) its mirror axis is the
        // image's, (width − 1) / 2, for the landmarks as for the pixels.
        Assert.InRange(lm[36].X + lm[45].X - (bmp.Width - 1), -0.02f, 0.02f);
        Assert.InRange(lm[30].X - (bmp.Width - 1) / 2f, -0.01f, 0.01f);
    }

    [Fact]
    public void TraitsMoveTheRenderedLandmarksAndPixels()
    {
        var app = SubjectAppearance.Draw(new SyntheticRandom(1), 2) with { Jitter = new float[136] };
        var clean = new PhotoNuisance { HairStyle = 0 };
        using var r = new FaceRenderer();
        (Vector2[] Lm, byte[] Png) Render(string trait, double z)
        {
            var t = new double[TraitSpace.Count];
            if (trait.Length > 0) t[TraitSpace.IndexOf(trait)] = z;
            var p = r.Render(t, [], app, clean, 1);
            return (p.Landmarks, p.Encoded);
        }
        float D(Vector2[] p, int a, int b) => Vector2.Distance(p[a], p[b]);
        Assert.True(D(Render("inner_canthal_distance", 2).Lm, 39, 42) > D(Render("inner_canthal_distance", -2).Lm, 39, 42) + 2);
        Assert.True(D(Render("mouth_width", 2).Lm, 48, 54) > D(Render("mouth_width", -2).Lm, 48, 54) + 4);
        Assert.True(D(Render("philtrum_length", 2).Lm, 33, 51) > D(Render("philtrum_length", -2).Lm, 33, 51) + 2);
        Assert.True(D(Render("palpebral_fissure_length", 2).Lm, 36, 39) > D(Render("palpebral_fissure_length", -2).Lm, 36, 39) + 2);
        var up = Render("palpebral_fissure_slant", 2).Lm;
        Assert.True(up[36].Y < up[39].Y - 2, "up-slanting: outer canthus above inner");
        var down = Render("palpebral_fissure_slant", -2).Lm;
        Assert.True(down[36].Y > down[39].Y + 1, "down-slanting: outer canthus below inner");
        // Traits without landmarks still change pixels (synophrys, bridge height, philtrum depth, ears).
        var baseline = Render("", 0).Png;
        foreach (var t in new[] { "synophrys", "nasal_bridge_height", "philtrum_depth", "ear_position", "eyebrow_thickness", "epicanthus" })
            Assert.False(Render(t, 2.5).Png.AsSpan().SequenceEqual(baseline), t);
    }

    [Theory]
    [InlineData("identities")]
    [InlineData("demo-novel")]
    public void People_of_a_preset_with_streams_of_its_own_are_nobody_in_a_syndrome_data_set_of_the_same_seed(string own)
    {
        // With shared random streams person i of a seed was one face in every preset: the shipped backbones, pretrained on
        // identities seed 1, had seen the demo's unaffected test people; and demo-novel's "new" test people of the demo's
        // syndromes would have been a demo model's training people.
        var ownPlan = DatasetPresets.Plan(own, 1, 0.5);
        static string Key(SyntheticSubject s) => string.Join(",", s.Traits.Select(t => t.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        var seen = ownPlan.Subjects.Select(Key).ToHashSet();
        foreach (var preset in new[] { "mini", "demo" })
        {
            var plan = DatasetPresets.Plan(preset, 1);
            Assert.DoesNotContain(plan.Subjects, s => seen.Contains(Key(s)));
            Assert.NotEqual(ownPlan.StreamBase, plan.StreamBase);   // appearance and photos too
            Assert.False(DatasetPresets.SharePeople(own, preset));
        }
        Assert.True(DatasetPresets.SharePeople("mini", "demo"));
        Assert.False(DatasetPresets.SharePeople("identities", "demo-novel"));
    }

    [Fact]
    public void Demo_novel_holds_the_demos_syndromes_and_ten_it_leaves_out_each_with_a_gallery_and_test_people()
    {
        var demo = DatasetPresets.Plan("demo", 3);
        var novel = DatasetPresets.Plan("demo-novel", 3);
        var demoLabels = demo.Classes.Select(c => c.Label).ToList();
        var novelLabels = novel.Classes.Select(c => c.Label).ToList();
        Assert.Subset(novelLabels.ToHashSet(), demoLabels.ToHashSet());
        var added = novelLabels.Except(demoLabels).ToList();
        Assert.Equal(DatasetPresets.NovelSyndromes, added.Count);
        // The next most frequent generated syndromes after the demo's: none rarer than a demo one left out for it.
        var catalog = SyndromeCatalog.Default;
        double rarestDemo = demoLabels.Where(l => catalog.Contains(l) && catalog[l].Kind != "teaching" && l != SyndromeCatalog.ControlId).Min(l => catalog[l].Frequency);
        Assert.All(added, l => Assert.True(catalog[l].Frequency <= rarestDemo, l));
        // ... and no generated syndrome left out of both is more frequent than the rarest one added.
        double rarestAdded = added.Min(l => catalog[l].Frequency);
        Assert.All(catalog.Affected.Where(s => s.Kind != "teaching" && !novelLabels.Contains(s.Id)), s => Assert.True(s.Frequency <= rarestAdded, s.Id));
        // Every syndrome has people to match against (train, val) and new people to match (test, 3 each); one person, one split.
        foreach (var label in novelLabels)
        {
            var people = novel.Subjects.Where(s => s.Label == label).ToList();
            Assert.Equal(3, people.Count(s => s.Split == SplitNames.Test));
            Assert.Equal(7, people.Count(s => s.Split is SplitNames.Train or SplitNames.Val));
        }
        Assert.Equal(novel.Subjects.Count, novel.Subjects.Select(s => s.Id).Distinct().Count());
        // The same seed, the same plan.
        Assert.Equal(novel.Subjects.Select(s => s.Traits[0]), DatasetPresets.Plan("demo-novel", 3).Subjects.Select(s => s.Traits[0]));
    }

    [Fact]
    public async Task GenerateRefusesANonEmptyFolderWithoutForce()
    {
        string dir = Path.Combine(data.Root, "occupied");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "keep.txt"), "mine");
        var e = Assert.Throws<GestaltLabException>(() => SyntheticDataset.Generate("mini", 1, dir, 0.2));
        Assert.Contains("not empty", e.Message);
        Assert.Contains("--force", e.Fix);
        Assert.True(File.Exists(Path.Combine(dir, "keep.txt")));
        Assert.Empty(Directory.EnumerateDirectories(data.Root, ".occupied*"));

        // The CLI says so and exits 1; --force replaces only a data set generate wrote, so a folder of the user's (or a
        // training run: its nets, its model) is refused with it too, and nothing in it is touched.
        var root = CliRunner.BuildRoot();
        Assert.Equal(1, await CliRunner.InvokeAsync(root, ["generate", "--preset", "mini", "--seed", "1", "--scale", "0.2", "--out", dir]));
        Assert.Equal(1, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["generate", "--preset", "mini", "--seed", "1", "--scale", "0.2", "--out", dir, "--force"]));
        Assert.Contains("keep.txt", Assert.Throws<GestaltLabException>(() => SyntheticDataset.Generate("mini", 1, dir, 0.2, options: new GenerateOptions { Force = true })).Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(dir, "keep.txt")));
        string run = Path.Combine(data.Root, "a-run");
        RunFolder.Prepare(run);
        File.WriteAllText(Path.Combine(run, "model.zip"), "trained");
        Assert.Contains("training run", Assert.Throws<GestaltLabException>(() => SyntheticDataset.Generate("mini", 1, run, 0.2, options: new GenerateOptions { Force = true })).Message);
        Assert.Equal("trained", File.ReadAllText(Path.Combine(run, "model.zip")));

        // A data set it wrote is replaced atomically, the multi-task preset's task folders included.
        File.Delete(Path.Combine(dir, "keep.txt"));
        SyntheticDataset.Generate("mini", 1, dir, 0.2);
        Assert.Equal(0, await CliRunner.InvokeAsync(CliRunner.BuildRoot(), ["generate", "--preset", "mini", "--seed", "2", "--scale", "0.2", "--out", dir, "--force"]));
        Assert.Contains("\"seed\": 2", File.ReadAllText(Path.Combine(dir, "dataset.json")));
        SyntheticDataset.Generate("specialized", 1, dir, 0.05, options: new GenerateOptions { Force = true });
        SyntheticDataset.Generate("specialized", 2, dir, 0.05, options: new GenerateOptions { Force = true });
        Assert.True(File.Exists(Path.Combine(dir, "cdls", Manifest.FileName)));
        Assert.Empty(Directory.EnumerateDirectories(data.Root, ".occupied*"));
        // While another process generates into the folder, a second generation is refused and replaces nothing.
        using (new LockHeldElsewhere(dir))
            Assert.Contains("another GestaltLab command", Assert.Throws<GestaltLabException>(() =>
                SyntheticDataset.Generate("mini", 3, dir, 0.2, options: new GenerateOptions { Force = true })).Message);
        Assert.True(File.Exists(Path.Combine(dir, "cdls", Manifest.FileName)));
    }
}
