using System.Numerics;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Faces;

/// <summary>Detection, landmarks, alignment and regions on synthetic faces, against the generator's ground truth.</summary>
public sealed class SyntheticFacesTests : IClassFixture<SyntheticFacesTests.CleanSet>
{
    /// <summary>A small clean synthetic set, generated once for this class.</summary>
    public sealed class CleanSet : IDisposable
    {
        public CleanSet()
        {
            Dir = FacesFixture.TempDir();
            SyntheticDataset.Generate("mini", 11, Path.Combine(Dir, "data"), scale: 0.3, nuisance: NuisanceLevel.Clean);
            Truth = FaceDatasetAligner.ReadLandmarks(Path.Combine(Dir, "data", "landmarks.csv"));
        }

        public string Dir { get; }
        public string Data => Path.Combine(Dir, "data");
        public Dictionary<string, FaceLandmarks> Truth { get; }
        public RgbImage Load(string image) => ImageLoader.Load(Path.Combine(Data, image));
        public void Dispose() => Directory.Delete(Dir, true);
    }

    private readonly CleanSet _set;

    public SyntheticFacesTests(CleanSet set) => _set = set;

    [Fact]
    public void DetectedLandmarksLandNearTheTruth()
    {
        Assert.True(_set.Truth.Count >= 20, $"only {_set.Truth.Count} synthetic photos");
        var errors = new List<double>();
        int found = 0;
        foreach (var (image, truth) in _set.Truth)
        {
            var r = FacesFixture.Pipeline.Process(_set.Load(image), image);
            if (!r.HasFace) continue;
            found++;
            errors.Add(r.Landmarks!.MeanDistance(truth) / truth.InterOcular);
        }
        Assert.True(found >= 0.98 * _set.Truth.Count, $"Haar found {found} of {_set.Truth.Count} clean synthetic faces (goal ≥ 98 %)");
        errors.Sort();
        double median = errors[errors.Count / 2];
        Assert.True(median < 0.10, $"median landmark error {median:P1} of the inter-ocular distance");
    }

    [Fact]
    public void AlignmentPutsTrueLandmarksOnTheTemplate()
    {
        var template = FaceTemplate.Default;
        foreach (var (image, truth) in _set.Truth.Take(8))
        {
            var r = FacesFixture.Pipeline.FromLandmarks(_set.Load(image), truth, image);
            var a = r.Aligned!;
            Assert.Equal(256, a.Image.Width);
            // Stable points land within 4% of the aligned size of the template; the eyes are level after alignment.
            foreach (int i in template.AlignmentPoints)
                Assert.True(Vector2.Distance(a.Landmarks[i] / a.Size, template.Points[i]) < 0.04, $"{image}: point {i} is off the template");
            var le = a.Landmarks.LeftEyeCenter; var re = a.Landmarks.RightEyeCenter;
            Assert.True(MathF.Abs(le.Y - re.Y) < 0.02f * a.Size, $"{image}: eyes not level after alignment");
            // The transform is a similarity: the inter-ocular ratio equals its scale.
            Assert.Equal(truth.InterOcular * a.ToAligned.Scale, a.Landmarks.InterOcular, 2);
        }
    }

    [Fact]
    public void EachRegionContainsItsLandmarks()
    {
        var cropper = FacesFixture.Pipeline.Cropper;
        foreach (var (image, truth) in _set.Truth.Take(6))
        {
            var r = FacesFixture.Pipeline.FromLandmarks(_set.Load(image), truth, image);
            Assert.Equal(RegionSet.Default.Regions.Count, r.Regions.Count);
            foreach (var region in RegionSet.Default.Regions)
            {
                var crop = r.Regions[region.Name];
                Assert.Equal(region.Size, crop.Size);
                foreach (int i in region.Landmarks)
                {
                    var p = crop.ToCrop.Apply(truth[i]);
                    Assert.True(p.X >= 0 && p.Y >= 0 && p.X < crop.Size && p.Y < crop.Size, $"{image}: landmark {i} falls outside region {region.Name} at {p}");
                }
            }
        }
        Assert.True(RegionSet.Default.Regions.Count >= 6);
    }

    [Fact]
    public void FlippingThePhotoSwapsMirroredRegions()
    {
        var (image, truth) = _set.Truth.First();
        var photo = _set.Load(image);
        int w = photo.Width;
        var flipped = new byte[photo.Pixels.Length];
        for (int y = 0; y < photo.Height; y++)
            for (int x = 0; x < w; x++)
                Array.Copy(photo.Pixels, (y * w + x) * 3, flipped, (y * w + (w - 1 - x)) * 3, 3);
        var template = FaceTemplate.Default;
        // Landmarks of the mirrored face: mirror each point and swap left/right indices.
        var mirroredPts = new Vector2[68];
        for (int i = 0; i < 68; i++) mirroredPts[template.MirrorOf(i)] = new Vector2(w - 1 - truth[i].X, truth[i].Y);
        var a = FacesFixture.Pipeline.FromLandmarks(photo, truth);
        var b = FacesFixture.Pipeline.FromLandmarks(new RgbImage(w, photo.Height, flipped), new FaceLandmarks(mirroredPts));
        foreach (var region in RegionSet.Default.Regions)
        {
            var original = a.Regions[region.Name].Image;
            var partner = b.Regions[RegionSet.Default.MirrorOf(region.Name)].Image;
            // partner should be the horizontal mirror of original (up to interpolation).
            double diff = 0;
            int n = original.Width;
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++)
                    diff += Math.Abs(original.Pixels[(y * n + x) * 3 + 1] - partner.Pixels[(y * n + (n - 1 - x)) * 3 + 1]);
            double mean = diff / (n * n);
            Assert.True(mean < 12, $"{region.Name} vs mirrored {region.Mirror}: mean abs difference {mean:F1}");
        }
    }

    [Fact]
    public async Task AlignCommandWritesCropsQcAndManifest()
    {
        string outDir = Path.Combine(_set.Dir, "aligned-" + Guid.NewGuid().ToString("N")[..6]);
        {
            int rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(),
                ["align", "--data", _set.Data, "--out", outDir, "--threads", "2", "--ground-truth"]);
            Assert.Equal(0, rc);
            var qc = Csv.Read(Path.Combine(outDir, "qc.csv"));
            Assert.Equal(_set.Truth.Count, qc.Rows.Count); // the manifest lists the generated photos
            Assert.All(qc.Rows, r => Assert.Equal("ok", r[qc.Column("status")]));
            var manifest = Csv.Read(Path.Combine(outDir, "manifest.csv"));
            Assert.True(manifest.Has("syndrome") && manifest.Has("source_image"));
            string first = manifest.Rows[0][manifest.Column("image")];
            Assert.True(File.Exists(Path.Combine(outDir, first)));
            foreach (var region in RegionSet.Default.Names)
                Assert.Equal(_set.Truth.Count, Directory.GetFiles(Path.Combine(outDir, "regions", region), "*.png", SearchOption.AllDirectories).Length);
            Assert.True(File.Exists(Path.Combine(outDir, "run.json")));
            Assert.Equal(RegionSet.Default.Names, RegionSet.Load(Path.Combine(outDir, "regions.json")).Names);

            // Reusable for the same data, landmark source and crop size; anything else names why not.
            int size = RegionSet.Load(Path.Combine(outDir, "regions.json")).Regions[0].Size;
            Assert.Equal(new GestaltLab.Models.RegionNetConfig().InputSize, size); // `align` then `train` with defaults fit together
            Assert.Null(FaceDatasetAligner.ReuseProblem(_set.Data, outDir, size, groundTruth: true));
            Assert.Contains("ground-truth", FaceDatasetAligner.ReuseProblem(_set.Data, outDir, size, groundTruth: false));
            Assert.Contains($"{size} px", FaceDatasetAligner.ReuseProblem(_set.Data, outDir, size + 32, groundTruth: true));
            string crop = Directory.GetFiles(Path.Combine(outDir, "regions", "nose"), "*.png", SearchOption.AllDirectories).Order().First();
            File.Move(crop, crop + ".bak");
            Assert.Contains(crop + " is missing", FaceDatasetAligner.ReuseProblem(_set.Data, outDir, size, groundTruth: true));
            File.Move(crop + ".bak", crop);
            // A file the alignment does not read is not a change of its data; a changed photo is.
            string sidecar = Path.Combine(_set.Data, "extra-" + Guid.NewGuid().ToString("N")[..6] + ".txt");
            File.WriteAllText(sidecar, "notes beside the photos");
            try { Assert.Null(FaceDatasetAligner.ReuseProblem(_set.Data, outDir, size, groundTruth: true)); }
            finally { File.Delete(sidecar); }
            var dataManifest = Csv.Read(Path.Combine(_set.Data, "manifest.csv"));
            string photo = Path.Combine(_set.Data, dataManifest.Rows[0][dataManifest.Column("image")]);
            byte[] original = File.ReadAllBytes(photo);
            File.WriteAllBytes(photo, [.. original, 0]);
            try { Assert.Contains("changed", FaceDatasetAligner.ReuseProblem(_set.Data, outDir, size, groundTruth: true)); }
            finally { File.WriteAllBytes(photo, original); }
            Assert.Null(FaceDatasetAligner.ReuseProblem(_set.Data, outDir, size, groundTruth: true));

            // Without a manifest: every image file, the broken one reported as unreadable.
            string photos = Path.Combine(_set.Dir, "photos-" + Guid.NewGuid().ToString("N")[..6]);
            Directory.CreateDirectory(photos);
            foreach (var f in Directory.GetFiles(Path.Combine(_set.Data, "images")).Order().Take(3)) File.Copy(f, Path.Combine(photos, Path.GetFileName(f)));
            File.WriteAllText(Path.Combine(photos, "broken.png"), "not a photo");
            // A broken link is one more unreadable photo, not the end of a finished alignment (hashing its inputs opened it).
            File.CreateSymbolicLink(Path.Combine(photos, "moved.png"), Path.Combine(photos, "elsewhere.png"));
            string out2 = outDir + "-b";
            // Another command writing the same folder is waited for by no one: refused before anything is touched.
            using (new LockHeldElsewhere(out2))
                Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["align", "--data", photos, "--out", out2, "--no-confidence"]));
            Assert.False(Directory.Exists(out2));
            rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["align", "--data", photos, "--out", out2, "--no-confidence", "--min-face", "0.3"]);
            Assert.Equal(0, rc);
            Assert.True(File.Exists(Path.Combine(out2, RunManifest.FileName)));
            // The settings that decide which faces pass are recorded with the alignment.
            var record = RunManifest.Load(out2).Config;
            Assert.False((bool)record["compute_confidence"]!);
            Assert.Equal(0.3, (double)record["detector_options"]!["min_face_fraction"]!);
            var qc2 = Csv.Read(Path.Combine(out2, "qc.csv"));
            Assert.Equal(5, qc2.Rows.Count);
            Assert.Equal("unreadable", qc2.Rows.Single(r => r[0] == "broken.png")[qc2.Column("status")]);
            Assert.Contains("a link to", qc2.Rows.Single(r => r[0] == "moved.png")[qc2.Column("problem")]);
            // A non-empty output folder is refused without --force.
            Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["align", "--data", photos, "--out", out2]));
        }
    }

    [Fact]
    public async Task LandmarksCommandWritesOneRowPerFaceAndHonoursGivenBoxes()
    {
        var reference = FacesFixture.ReferenceLandmarks().Where(r => r.Image == "astronaut.png").Take(2).ToList();
        string boxes = Path.Combine(_set.Dir, "boxes-" + Guid.NewGuid().ToString("N")[..6] + ".csv");
        Csv.Write(boxes, ["image", "left", "top", "right", "bottom"],
            reference.Select(r => (IReadOnlyList<string>)[FacesFixture.Astronaut, $"{r.Box.Left}", $"{r.Box.Top}", $"{r.Box.Right}", $"{r.Box.Bottom}"]));
        string outCsv = boxes + ".out.csv";
        int rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--boxes", boxes, "--out", outCsv]);
        Assert.Equal(0, rc);
        var t = Csv.Read(outCsv);
        Assert.Equal(2, t.Rows.Count);
        Assert.Equal(7 + 136, t.Header.Count);
        Assert.Equal("x67", t.Header[^2]);
        // An --out naming a file this command did not write (here the boxes; a data set's ground-truth landmarks.csv
        // alike) is refused and left as it was; its own earlier table is replaced.
        string boxesBefore = File.ReadAllText(boxes);
        Assert.Equal(1, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--boxes", boxes, "--out", boxes]));
        Assert.Equal(boxesBefore, File.ReadAllText(boxes));
        // Beside it, the model file (by content) and the boxes that made it.
        var made = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(outCsv, ".json")))!;
        Assert.Equal("gestaltlab landmarks", (string?)made["command"]);
        Assert.Equal(64, ((string?)made["landmark_model_sha256"])!.Length);
        Assert.Equal("given boxes", (string?)made["detector"]);
        Assert.Equal(Path.GetFullPath(boxes), (string?)made["boxes"]);
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < 68; j++)
            {
                Assert.Equal(reference[k].Landmarks[j].X, float.Parse(t.Rows[k][t.Column($"x{j}")], System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(reference[k].Landmarks[j].Y, float.Parse(t.Rows[k][t.Column($"y{j}")], System.Globalization.CultureInfo.InvariantCulture));
            }

        // A face too small, or cut off by the photo's edge, is low_quality, as align and predict flag it.
        var b1 = reference[0].Box;
        int side = b1.Right - b1.Left;
        Csv.Write(boxes, ["image", "left", "top", "right", "bottom"],
        [
            [FacesFixture.Astronaut, $"{b1.Left}", $"{b1.Top}", $"{b1.Right}", $"{b1.Bottom}"],
            [FacesFixture.Astronaut, $"{b1.Left}", $"{b1.Top}", $"{b1.Left + 29}", $"{b1.Top + 29}"],
            [FacesFixture.Astronaut, $"{-side / 2 - side / 4}", $"{b1.Top}", $"{side / 4}", $"{b1.Bottom}"],
        ]);
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--boxes", boxes, "--out", outCsv]));
        Assert.Equal(["ok", "low_quality", "low_quality"], Csv.Read(outCsv).Rows.Select(r => r[2]).ToArray());
        // A malformed row costs its own photo, not the batch; a box that misses its photo gives no landmarks.
        string messiCopy = Path.Combine(_set.Dir, "messi-copy.jpg");
        File.Copy(FacesFixture.Messi, messiCopy, overwrite: true);
        string otherCopy = Path.Combine(_set.Dir, "astro-copy.png");
        File.Copy(FacesFixture.Astronaut, otherCopy, overwrite: true);
        Csv.Write(boxes, ["image", "left", "top", "right", "bottom"],
        [
            [FacesFixture.Astronaut, $"{b1.Left}", $"{b1.Top}", $"{b1.Right}", $"{b1.Bottom}"],
            [messiCopy, "a", "0", "10", "10"],
            [otherCopy, "-50000", "0", "-40000", "5"],
        ]);
        Assert.Equal(0, await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--boxes", boxes, "--out", outCsv]));
        Assert.Equal(["ok", "no_face", "no_face"], Csv.Read(outCsv).Rows.Select(r => r[2]).ToArray());

        // Detection mode with a bad photo in the list.
        string bad = Path.Combine(_set.Dir, "bad.jpg");
        File.WriteAllText(bad, "nope");
        string outCsv2 = boxes + ".det.csv";
        // A strip 20000 × 2 px (no face can be there; downscaled for detection it once crashed the whole batch).
        string strip = Path.Combine(_set.Dir, "strip.png");
        new RgbImage(20000, 2).SavePng(strip);
        rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--images", FacesFixture.Astronaut, bad, strip, "--out", outCsv2]);
        Assert.Equal(0, rc);
        var d = Csv.Read(outCsv2);
        Assert.Equal(["ok", "unreadable", "no_face"], d.Rows.Select(r => r[2]).ToArray());
        // A folder stands for the photos in it, as for predict; a batch where no photo gave a face exits 1.
        string folder = Path.Combine(_set.Dir, "folder-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(folder);
        File.Copy(FacesFixture.Astronaut, Path.Combine(folder, "astronaut.png"));
        rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--images", folder, "--out", outCsv2]);
        Assert.Equal(0, rc);
        Assert.Equal("ok", Csv.Read(outCsv2).Rows.Single()[2]);
        rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--images", bad, "--out", outCsv2]);
        Assert.Equal(1, rc);
        // A mistyped path is a mistake in the command, as for predict: the others are landmarked, the exit code says so.
        rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--images", FacesFixture.Astronaut, Path.Combine(_set.Dir, "no-such", "plian.jpg"), "--out", outCsv2]);
        Assert.Equal(1, rc);
        Assert.Equal("ok", Csv.Read(outCsv2).Rows[0][2]);
        // Boxes keyed as the manifest lists its photos (relative to the manifest's folder) reach them.
        Directory.CreateDirectory(Path.Combine(folder, "sub"));
        File.Move(Path.Combine(folder, "astronaut.png"), Path.Combine(folder, "sub", "astronaut.png"));
        Csv.Write(Path.Combine(folder, "manifest.csv"), ["image"], [["sub/astronaut.png"]]);
        string relBoxes = Path.Combine(folder, "boxes.csv");
        var b0 = reference[0].Box;
        Csv.Write(relBoxes, ["image", "left", "top", "right", "bottom"], [["sub/astronaut.png", $"{b0.Left}", $"{b0.Top}", $"{b0.Right}", $"{b0.Bottom}"]]);
        rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--manifest", Path.Combine(folder, "manifest.csv"), "--boxes", relBoxes, "--out", outCsv2]);
        Assert.Equal(0, rc);
        var viaManifest = Csv.Read(outCsv2).Rows.Single();
        Assert.Equal("ok", viaManifest[2]);
        Assert.Equal(reference[0].Landmarks[30].X, float.Parse(viaManifest[7 + 60], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(reference[0].Landmarks[30].Y, float.Parse(viaManifest[7 + 61], System.Globalization.CultureInfo.InvariantCulture));
        // Manifest paths are read as align reads them: spaces trimmed, Windows separators accepted.
        Csv.Write(Path.Combine(folder, "manifest.csv"), ["image"], [[" sub\\astronaut.png "]]);
        rc = await GestaltLab.Cli.CliRunner.InvokeAsync(GestaltLab.Cli.CliRunner.BuildRoot(), ["landmarks", "--manifest", Path.Combine(folder, "manifest.csv"), "--boxes", relBoxes, "--out", outCsv2]);
        Assert.Equal(0, rc);
        Assert.Equal("ok", Csv.Read(outCsv2).Rows.Single()[2]);
    }

    [Fact]
    public void A_notebook_landmarks_a_batch_through_the_library_and_each_bad_photo_says_why()
    {
        // What `gestaltlab landmarks` does is one library call: the rows, the table and each photo's problem.
        var reference = FacesFixture.ReferenceLandmarks().Where(r => r.Image == "astronaut.png").Take(1).Single();
        string dir = Path.Combine(_set.Dir, "batch-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        string bad = Path.Combine(dir, "bad.jpg"), blank = Path.Combine(dir, "blank.png");
        File.WriteAllText(bad, "nope");
        new RgbImage(64, 64).SavePng(blank);
        var steps = new List<ProgressUpdate>();
        var detected = LandmarkBatch.Run([FacesFixture.Astronaut, bad, blank], progress: ProgressReporters.Synchronous(steps.Add));
        Assert.Equal(["ok", "unreadable", "no_face"], detected.Rows.Select(r => r.Status.ToCsv()).ToArray());
        Assert.Equal(1, detected.Faces);
        Assert.Equal(68, detected.Rows[0].Landmarks!.Count);
        Assert.Contains(bad, detected.Unreadable.Single().Problem);
        Assert.Equal("no face found", detected.NoFace.Single().Problem);
        Assert.Equal(3, steps.Count(s => s.Stage == "landmarks"));
        Assert.Equal(3, steps.Max(s => s.Done));
        // Given boxes, matched by file name when no other photo shares it; a malformed row is its photo's problem.
        string boxes = Path.Combine(dir, "boxes.csv");
        var b = reference.Box;
        Csv.Write(boxes, ["image", "left", "top", "right", "bottom"],
            [["astronaut.png", $"{b.Left}", $"{b.Top}", $"{b.Right}", $"{b.Bottom}"], ["blank.png", "x", "0", "9", "9"], ["blank.png", "9", "9", "0", "0"]]);
        var table = FaceBoxTable.Load(boxes);
        Assert.Equal(["astronaut.png", "blank.png"], table.Images);
        // Every malformed row is said; the photo's first problem is the one its row of the table gives.
        Assert.Equal(2, table.Problems.Count);
        Assert.Contains("line 3, column left: 'x' is not an integer", table.Problems[0]);
        Assert.Contains("line 4: box [9,9,0,0] is empty", table.Problems[1]);
        var given = LandmarkBatch.Run([FacesFixture.Astronaut, blank], new LandmarkBatchOptions { Boxes = table, Threads = 1 });
        Assert.Equal("given boxes", given.Detector);
        Assert.Equal(reference.Landmarks[30], given.Rows[0].Landmarks![30]);
        Assert.Equal(FaceStatus.NoFace, given.Rows[1].Status);
        Assert.Equal(table.ProblemOf("blank.png"), given.Rows[1].Problem);
        // The table round-trips the points exactly and keeps the photo without a face as a row.
        string outCsv = Path.Combine(dir, "landmarks.csv");
        string record = given.Save(outCsv);
        var t = Csv.Read(outCsv);
        // Beside it, from a notebook as from the command line, what made it: the call, the boxes, the model by content.
        Assert.Equal(Path.Combine(dir, "landmarks.json"), record);
        // Photo names and their 68 points, and the record naming their folder: their owner's alone, whatever the folder.
        if (!OperatingSystem.IsWindows())
            foreach (var file in new[] { outCsv, record })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var made = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(record))!;
        Assert.Equal("LandmarkBatch.Run", (string?)made["command"]);
        Assert.Equal(Path.GetFullPath(outCsv), (string?)made["output"]);
        Assert.Equal(Path.GetFullPath(boxes), (string?)made["boxes"]);
        Assert.Equal(2, (int)made["photos"]!);
        Assert.Equal(64, ((string?)made["landmark_model_sha256"])!.Length);
        Assert.Equal(LandmarkBatchResult.Header, t.Header);
        Assert.Equal(reference.Landmarks[30].X, float.Parse(t.Rows[0][t.Column("x30")], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(["ok", "no_face"], t.Rows.Select(r => r[2]).ToArray());
        Assert.Throws<GestaltLabException>(() => LandmarkBatch.Run([]));
    }
}
