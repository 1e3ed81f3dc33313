using System.Numerics;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Faces;

public class FacePipelineTests
{
    [Fact]
    public void Aligned_file_names_fit_the_file_system_and_stay_apart()
    {
        // A 248-character stem as .jpeg and .png: the second keeps its extension (….jpeg.png), 257 bytes, which no Linux
        // file system takes; and a crop is written through a temporary name ~50 bytes longer than its own, so a photo's
        // own 230-byte name failed too. Written as they were, either stopped the whole alignment.
        string stem = new string('s', 248), wide = new string('é', 130), long230 = new string('t', 226);
        string[] images = [$"{stem}.png", $"{stem}.jpeg", "sub/x.jpg", "sub/x.png", $"sub/{wide}.jpg", "ok.jpg", $"{long230}.jpg"];
        var names = FaceDatasetAligner.OutputNames(images);
        Assert.Equal(names.Length, names.Distinct(StringComparer.Ordinal).Count());
        Assert.All(names, n => Assert.True(System.Text.Encoding.UTF8.GetByteCount(Path.GetFileName(n)) <= 255 - AtomicFile.TempNameOverhead, n));
        Assert.All(names, n => Assert.EndsWith(".png", n));
        // Names that fit are as before (an alignment made earlier keeps its files); a shortened one keeps its folder.
        Assert.Equal(["sub/x.png", "sub/x.png.png", "ok.png"], new[] { names[2], names[3], names[5] });
        Assert.StartsWith("sub/éé", names[4]);
        Assert.StartsWith("tttt", names[6]);
        Assert.Equal(names, FaceDatasetAligner.OutputNames(images));
        // Written as alignment writes its crops.
        string dir = TestTemp.Dir("gl-long-names");
        foreach (var n in names) new RgbImage(4, 4).SavePng(Path.Combine(dir, n));
        Assert.Equal(names.Length, Directory.GetFiles(dir, "*.png", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public void Force_never_aligns_into_a_folder_of_photos()
    {
        // Crops written among photos would make later photo searches take the folder for an alignment and find none.
        string root = TestTemp.Dir("gl-align-photos"), data = Path.Combine(root, "data"), photos = Path.Combine(root, "photos");
        Directory.CreateDirectory(data);
        Directory.CreateDirectory(photos);
        File.Copy(FacesFixture.Messi, Path.Combine(photos, "patient.jpg"));
        var e = Assert.Throws<GestaltLabException>(() => FaceDatasetAligner.Run(data, photos, FacesFixture.Pipeline, new AlignDatasetOptions { Force = true }));
        Assert.Contains("holds photos (patient.jpg", e.Message);
        Assert.Equal(["patient.jpg"], Directory.GetFileSystemEntries(photos).Select(f => Path.GetFileName(f)!).ToArray());
    }

    [Fact]
    public void AstronautGivesOneConfidentAlignedFaceWithAllRegions()
    {
        var r = FacesFixture.Pipeline.Process(FacesFixture.Astronaut);
        Assert.Equal(FaceStatus.Ok, r.Status);
        Assert.NotNull(r.Box);
        Assert.InRange(r.Confidence, 0.6f, 1f);
        Assert.Equal(7, r.Regions.Count);
        Assert.Equal(RegionSet.Default.Names, r.Regions.Keys.ToList());
        foreach (var crop in r.Regions.Values) Assert.Equal(96, crop.Size);

        // The landmarks on the Haar box agree with dlib's own landmarks on its HOG box (same face, different box).
        var hog = FacesFixture.ReferenceLandmarks().First(x => x.Image == "astronaut.png" && x.Kind == "hog").Landmarks;
        double err = r.Landmarks!.MeanDistance(hog) / hog.InterOcular;
        Assert.True(err < 0.05, $"Haar-box landmarks differ from HOG-box landmarks by {err:P1} of the inter-ocular distance");

        // Aligned: the eyes land on the template's eyes.
        var a = r.Aligned!;
        var t = FaceTemplate.Default.Points;
        Assert.True(Vector2.Distance(a.Landmarks[36] / a.Size, t[36]) < 0.03);
        Assert.True(Vector2.Distance(a.Landmarks[45] / a.Size, t[45]) < 0.03);
        Assert.True(a.FitError < 0.03 * a.Size);
        // The carried landmarks are the photo landmarks mapped through the transform.
        Assert.True(Vector2.Distance(a.ToAligned.Apply(r.Landmarks[30]), a.Landmarks[30]) < 1e-3);
    }

    [Fact]
    public void A_region_keeps_its_own_copy_of_its_landmark_indices()
    {
        // A region set is checked once and a cropper places its squares once: indices changed afterwards would crop
        // somewhere other than what the saved regions.json says.
        int[] given = [36, 39];
        var region = new FacialRegion("eye", given, 0.1, 0.1, 0.1, 0.1, 32, "eye");
        given[0] = 99;
        Assert.Equal([36, 39], region.Landmarks);
        Assert.Throws<NotSupportedException>(() => ((IList<int>)RegionSet.Default.Regions[0].Landmarks)[0] = 99);
        Assert.True(region.CutsLike(region with { Size = 64 }));
        int[] other = [36, 45];
        var moved = region with { Landmarks = other };
        other[0] = 99;
        Assert.Equal([36, 45], moved.Landmarks);
        // A region set comes with shared runs, and a region's name becomes folder and file names: "../x" or "/tmp/x" would
        // put patients' face crops outside the output folder.
        foreach (var name in new[] { "../escaped", "/tmp/x", "a b", "" })
            Assert.Throws<GestaltLabException>(() => new RegionSet([new FacialRegion(name, [36, 39], 0.1, 0.1, 0.1, 0.1, 32, name)]));
        // A landmark range is bounded before it is expanded (one to 2^31 would exhaust memory first).
        Assert.Contains("0–67", Assert.Throws<GestaltLabException>(() => RegionSet.Parse(
            """{"regions": [{"name": "eye", "landmarks": ["0-2147483647"], "mirror": "eye"}]}""", "crafted.json")).Message);
    }

    [Fact]
    public void RegionTensorsAreChwInUnitRange()
    {
        var r = FacesFixture.Pipeline.Process(FacesFixture.Astronaut);
        var rgb = r.RegionTensor("nose");
        var gray = r.RegionTensor("nose", gray: true);
        Assert.Equal(3 * 96 * 96, rgb.Length);
        Assert.Equal(96 * 96, gray.Length);
        Assert.All(rgb, v => Assert.InRange(v, 0f, 1f));
        Assert.True(rgb.Average() > 0.2, "a nose crop of a lit face is not dark");
        var crop = r.Regions["nose"].Image;
        Assert.Equal(crop.Pixels[3] / 255f, rgb[1], 6); // R of pixel (1,0)
        Assert.Equal(crop.Pixels[4] / 255f, rgb[96 * 96 + 1], 6); // G plane
    }

    [Fact]
    public void NoFaceAndUnreadablePhotosAreReportedNotThrown()
    {
        var blank = new RgbImage(200, 200);
        var r = FacesFixture.Pipeline.Process(blank, "blank");
        Assert.Equal(FaceStatus.NoFace, r.Status);
        Assert.False(r.HasFace);
        Assert.Empty(r.Regions);

        string dir = FacesFixture.TempDir();
        string bad = Path.Combine(dir, "notes.jpg");
        File.WriteAllText(bad, "this is not a photo");
        var u = FacesFixture.Pipeline.Process(bad);
        Assert.Equal(FaceStatus.Unreadable, u.Status);
        Assert.Contains("notes.jpg", u.Problem);

        // A strip thousands of pixels wide and two high (downscaled for detection it would round to 0 px, which OpenCV
        // refuses): no face, not an exception that would stop the batch.
        foreach (var (w, h) in new[] { (20000, 2), (2, 3000), (3000, 30) })
            Assert.Equal(FaceStatus.NoFace, FacesFixture.Pipeline.Process(new RgbImage(w, h), "strip").Status);
        string strip = Path.Combine(dir, "strip.png");
        new RgbImage(20000, 2).SavePng(strip);
        var many = FacesFixture.Pipeline.ProcessMany([strip, FacesFixture.Astronaut], threads: 2);
        Assert.Equal(FaceStatus.NoFace, many[0].Status);
        Assert.True(many[1].HasFace);
        // A programming error is not a photo's problem: a disposed pipeline still says so.
        var disposed = new FacePipeline(new FacePipelineOptions { ComputeConfidence = false });
        disposed.Process(new RgbImage(64, 64), "blank");
        disposed.Dispose();
        // ... naming the pipeline, not the OpenCV detector inside it, whichever way it is called.
        Assert.Equal(typeof(FacePipeline).FullName, Assert.Throws<ObjectDisposedException>(() => disposed.Process(ImageLoader.Load(FacesFixture.Astronaut), "astronaut")).ObjectName);
        Assert.Equal(typeof(FacePipeline).FullName, Assert.Throws<ObjectDisposedException>(() => disposed.Process(FacesFixture.Astronaut)).ObjectName);
        Assert.Equal(typeof(FacePipeline).FullName, Assert.Throws<ObjectDisposedException>(() => disposed.ProcessMany([FacesFixture.Astronaut])).ObjectName);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void TwoFacesAreFlaggedAndTheLargerIsUsed()
    {
        var astro = ImageLoader.Load(FacesFixture.Astronaut);
        // A canvas with the astronaut twice: full size on the left, at 70% on the right.
        var canvas = FaceAligner.Warp(astro, SimilarityTransform.ScaleTranslate(0.7, 530, 80), 900, 512);
        Blit(astro, canvas, 0, 0, 1);
        var r = FacesFixture.Pipeline.Process(canvas, "two");
        Assert.Equal(FaceStatus.MultipleFaces, r.Status);
        Assert.True(r.Detections.Count >= 2);
        Assert.True(r.Box!.Value.CenterX < 450, "the larger face (left) is chosen");
        Assert.Contains("faces found", r.Problem);
        // A chosen face of low quality stays low_quality, the status QC filters on; the other faces are still named.
        using var strict = new FacePipeline(new FacePipelineOptions { MinFacePixels = 10_000, ComputeConfidence = false });
        var poor = strict.Process(canvas, "two");
        Assert.Equal(FaceStatus.LowQuality, poor.Status);
        Assert.Contains("faces found", poor.Problem);
        Assert.Contains("small", poor.Problem);
    }

    [Fact]
    public void CoarseToFineSearchFindsSmallFacesAndChoosesWhatAFullSearchChooses()
    {
        var astro = ImageLoader.Load(FacesFixture.Astronaut);
        using var coarse = new HaarFaceDetector();
        using var full = new HaarFaceDetector(new HaarOptions { CoarseFaceFraction = 0 });
        // Portrait: the coarse pass finds it; the box chosen is the one a full search chooses.
        var a = coarse.Detect(astro);
        var b = full.Detect(astro);
        Assert.NotEmpty(a);
        var chosenA = a[FaceSelection.Choose(a, astro.Width, astro.Height)];
        var chosenB = b[FaceSelection.Choose(b, astro.Width, astro.Height)];
        Assert.Equal(chosenB, chosenA);
        // A face of ~12 % of the side, below the coarse pass's 25 %: the fallback full search still finds it.
        var small = FaceAligner.Warp(astro, SimilarityTransform.ScaleTranslate(0.6, 320, 300), 640, 640);
        var found = coarse.Detect(small);
        Assert.NotEmpty(found);
        var box = found[FaceSelection.Choose(found, small.Width, small.Height)];
        Assert.InRange(box.CenterX, 320, 320 + 0.6 * astro.Width);
        Assert.InRange(box.CenterY, 300, 300 + 0.6 * astro.Height);
        Assert.True(box.Width < 0.8 * 0.25 * 640, $"face width {box.Width} px: not below the coarse pass's minimum, so the fallback was not exercised");
    }

    [Fact]
    public void A_face_that_fills_a_tightly_cropped_photo_is_found_through_a_border()
    {
        var astro = ImageLoader.Load(FacesFixture.Astronaut);
        var hog = FacesFixture.ReferenceLandmarks().First(x => x.Image == "astronaut.png" && x.Kind == "hog");
        // The photo cut to the face's box and 6 px around it, as clinical collections often crop: the cascade's window
        // (about a fifth larger than the face) no longer fits inside it.
        int m = 6, left = hog.Box.Left - m, top = hog.Box.Top - m;
        var tight = FaceAligner.Warp(astro, SimilarityTransform.ScaleTranslate(1, -left, -top), hog.Box.Width + 2 * m, hog.Box.Height + 2 * m);
        using (var plain = new HaarFaceDetector(new HaarOptions { EdgePadding = 0 }))
            Assert.Empty(plain.Detect(tight));
        var r = FacesFixture.Pipeline.Process(tight, "tight");
        Assert.True(r.HasFace, r.Problem);
        // The same face, the same landmarks (within a few per cent of the eye distance) as in the whole photo.
        var whole = FacesFixture.Pipeline.Process(astro, "whole");
        var shifted = new FaceLandmarks(r.Landmarks!.Points.Select(p => p + new Vector2(left, top)).ToArray());
        double err = shifted.MeanDistance(whole.Landmarks!) / whole.Landmarks!.InterOcular;
        Assert.True(err < 0.05, $"landmarks of the cropped face differ by {err:P1} of the eye distance");
        // The second search looks only past the photo's edge: texture with no face in it (the sample images below once
        // gave "faces" to a search of the whole padded photo, and predict ranked syndromes for a page of text) stays no_face.
        using var haar = new HaarFaceDetector();
        foreach (var sample in new[]
        {
            "/usr/lib/python3/dist-packages/skimage/data/bw_text.png", "/usr/share/doc/opencv-doc/examples/data/basketball1.png",
            "/usr/share/doc/opencv-doc/examples/data/left03.jpg", "/usr/share/doc/opencv-doc/examples/data/left04.jpg",
            "/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg", "/usr/share/doc/opencv-doc/examples/data/right12.jpg",
        })
            Assert.True(haar.Detect(ImageLoader.Load(sample)).Count == 0, $"{sample}: a face where there is none");
        // No face at all still says what to check.
        Assert.Contains("upright", FacesFixture.Pipeline.Process(new RgbImage(200, 200), "blank").Problem);
        Assert.Contains("only 40×40 px", FacesFixture.Pipeline.Process(new RgbImage(40, 40), "tiny").Problem);
    }

    [Fact]
    public void BoxOffTheFaceIsLowQuality()
    {
        var astro = ImageLoader.Load(FacesFixture.Astronaut);
        var r = FacesFixture.Pipeline.Process(astro, new FaceBox(300, 330, 420, 450), "astronaut shoulder");
        Assert.Equal(FaceStatus.LowQuality, r.Status);
        var good = FacesFixture.Pipeline.Process(astro, FacesFixture.ReferenceLandmarks().First(x => x.Kind == "hog").Box, "astronaut");
        Assert.Equal(FaceStatus.Ok, good.Status);
        Assert.True(good.Confidence > r.Confidence);
        // An empty or inverted box is the caller's mistake, named as such (was "the source points are all identical").
        Assert.Contains("Right > Left", Assert.Throws<ArgumentException>(() => FacesFixture.Pipeline.Process(astro, new FaceBox(10, 10, 10, 10))).Message);
        Assert.Throws<ArgumentException>(() => FacesFixture.Pipeline.Process(astro, new FaceBox(100, 100, 10, 10)));
    }

    [Fact]
    public void ProcessManyReportsProgressKeepsOrderAndCancels()
    {
        string dir = FacesFixture.TempDir();
        string bad = Path.Combine(dir, "bad.png");
        File.WriteAllText(bad, "nope");
        var paths = new[] { FacesFixture.Astronaut, bad, FacesFixture.Astronaut };
        var updates = new List<ProgressUpdate>();
        var progress = ProgressReporters.Synchronous(u => { lock (updates) updates.Add(u); });
        var results = FacesFixture.Pipeline.ProcessMany(paths, threads: 2, progress);
        Assert.Equal([FaceStatus.Ok, FaceStatus.Unreadable, FaceStatus.Ok], results.Select(r => r.Status).ToArray());
        Assert.Equal(paths, results.Select(r => r.Source).ToArray());
        Assert.Contains(updates, u => u.Stage == "faces" && u.Done == 3 && u.Total == 3);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => FacesFixture.Pipeline.ProcessMany(paths, 2, null, cts.Token));
        Directory.Delete(dir, true);
    }

    private static void Blit(RgbImage src, RgbImage dst, int ox, int oy, int step)
    {
        for (int y = 0; y < src.Height / step; y++)
            for (int x = 0; x < src.Width / step; x++)
            {
                int dx = ox + x, dy = oy + y;
                if (dx >= dst.Width || dy >= dst.Height) continue;
                Array.Copy(src.Pixels, ((y * step) * src.Width + x * step) * 3, dst.Pixels, (dy * dst.Width + dx) * 3, 3);
            }
    }

    [Fact]
    public void Aligning_never_writes_beside_the_photos_nor_one_file_for_two()
    {
        // A manifest naming a photo by absolute path, one outside the folder (..), and two that differ only in
        // extension, with a clinical "status" column of its own: the originals stay untouched, every photo gets its own
        // aligned face and crops inside the output, and the output manifest reads back.
        string root = TestTemp.Dir("gl-align-names");
        try
        {
            string data = Path.Combine(root, "data"), outside = Path.Combine(root, "outside"), aligned = Path.Combine(root, "aligned");
            Directory.CreateDirectory(Path.Combine(data, "img"));
            Directory.CreateDirectory(outside);
            string[] photos = [Path.Combine(data, "img", "x.png"), Path.Combine(data, "img", "x.jpg"), Path.Combine(outside, "y.png"), Path.Combine(outside, "z.jpg")];
            File.Copy(FacesFixture.Astronaut, photos[0]);
            File.Copy(FacesFixture.Messi, photos[1]);
            File.Copy(FacesFixture.Astronaut, photos[2]);
            File.Copy(FacesFixture.Messi, photos[3]);
            var before = photos.Select(File.ReadAllBytes).ToList();
            Csv.Write(Path.Combine(data, Manifest.FileName), ["image", "subject", "syndrome", "gene", "split", "sex", "age_band", "skin_tone", "status"],
            [
                ["img/x.png", "s1", "a", "", "train", "female", "adult", "II", "confirmed"],
                ["img/x.jpg", "s2", "a", "", "train", "male", "adult", "II", "confirmed"],
                ["../outside/y.png", "s3", "b", "", "train", "female", "adult", "II", "suspected"],
                [photos[3], "s4", "b", "", "train", "male", "adult", "II", "suspected"],
            ]);
            using (var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(32), ComputeConfidence = false }))
                FaceDatasetAligner.Run(data, aligned, faces, new AlignDatasetOptions { Threads = 2 });
            for (int i = 0; i < photos.Length; i++) Assert.Equal(before[i], File.ReadAllBytes(photos[i]));
            var manifest = Manifest.Load(aligned);
            Assert.Equal(4, manifest.Rows.Count);
            Assert.Equal(4, manifest.Rows.Select(r => r.Image).Distinct().Count());
            var crops = manifest.Rows.SelectMany(r => RegionSet.Default.Names.Select(n => Path.GetFullPath(FaceDatasetAligner.CropPath(aligned, n, r.Image)))).ToList();
            Assert.Equal(crops.Count, crops.Distinct().Count());
            Assert.All(crops, c => Assert.True(File.Exists(c) && c.StartsWith(Path.GetFullPath(aligned) + "/", StringComparison.Ordinal), c));
            // The alignment's own status replaced the clinical column's values (one column, not two of one name).
            Assert.All(manifest.Rows, r => Assert.Contains(r.Extra["status"], new[] { "ok", "low_quality", "multiple_faces" }));
        }
        finally { Directory.Delete(root, true); }
    }

    private sealed class StopAfter(int photos, CancellationTokenSource stop) : IProgress<ProgressUpdate>
    {
        public List<ProgressUpdate> Seen { get; } = [];
        public void Report(ProgressUpdate value)
        {
            lock (Seen) Seen.Add(value);
            if (value.Done >= photos) stop.Cancel();
        }
    }

    [Fact]
    public void An_interrupted_alignment_resumes_with_the_files_and_tables_of_an_uninterrupted_one()
    {
        string root = TestTemp.Dir("gl-align-resume");
        try
        {
            string data = Path.Combine(root, "data"), whole = Path.Combine(root, "whole"), resumed = Path.Combine(root, "resumed");
            GestaltLab.Synthetic.SyntheticDataset.Generate("mini", 7, data);
            var options = new AlignDatasetOptions { UseGroundTruthLandmarks = true, Threads = 2 };
            using var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(32), ComputeConfidence = false });
            FaceDatasetAligner.Run(data, whole, faces, options);
            // Stopped after 30 photos: its journal keeps them.
            using (var stop = new CancellationTokenSource())
                Assert.ThrowsAny<OperationCanceledException>(() => FaceDatasetAligner.Run(data, resumed, faces, options, new StopAfter(30, stop), stop.Token));
            Assert.False(File.Exists(Path.Combine(resumed, "run.json")));
            Assert.True(File.Exists(Path.Combine(resumed, FaceDatasetAligner.JournalName)));
            using (var never = new CancellationTokenSource())
            {
                var progress = new StopAfter(int.MaxValue, never);
                var summary = FaceDatasetAligner.Run(data, resumed, faces, options, progress);
                // It says how many it kept, and aligns only the rest.
                Assert.StartsWith("resumed: ", progress.Seen[0].Detail);
                Assert.True(progress.Seen[0].Done >= 30);
                Assert.Equal(progress.Seen[0].Done, summary.Resumed);
            }
            Assert.False(File.Exists(Path.Combine(resumed, FaceDatasetAligner.JournalName)));
            // The same tables and the same faces and crops, file for file.
            foreach (var table in new[] { "qc.csv", "landmarks.csv", "manifest.csv", "regions.json" })
                Assert.Equal(File.ReadAllText(Path.Combine(whole, table)), File.ReadAllText(Path.Combine(resumed, table)));
            var files = Directory.GetFiles(whole, "*.png", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(whole, f)).Order().ToList();
            Assert.Equal(files, Directory.GetFiles(resumed, "*.png", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(resumed, f)).Order().ToList());
            Assert.All(files, f => Assert.Equal(File.ReadAllBytes(Path.Combine(whole, f)), File.ReadAllBytes(Path.Combine(resumed, f))));
            Assert.Equal(RunManifest.Load(whole).DataHash, RunManifest.Load(resumed).DataHash);
            // No half of a crop the stop left behind in the kept folders.
            Assert.Empty(Directory.GetFiles(resumed, ".*.tmp", SearchOption.AllDirectories));
            // A photo aligned from other bytes than it holds now (replaced while that alignment ran, and put back while it
            // was stopped) is aligned again: the journal names the bytes each photo was aligned from. Here one kept line is
            // made to name other bytes.
            string again = Path.Combine(root, "again");
            using (var stop = new CancellationTokenSource())
                Assert.ThrowsAny<OperationCanceledException>(() => FaceDatasetAligner.Run(data, again, faces, options, new StopAfter(30, stop), stop.Token));
            string journalFile = Path.Combine(again, FaceDatasetAligner.JournalName);
            var journalLines = File.ReadAllLines(journalFile);
            var edited = System.Text.Json.Nodes.JsonNode.Parse(journalLines[1])!;
            edited["sha"] = new string('0', 64);
            journalLines[1] = edited.ToJsonString();
            File.WriteAllLines(journalFile, journalLines);
            using (var never = new CancellationTokenSource())
            {
                var progress = new StopAfter(int.MaxValue, never);
                FaceDatasetAligner.Run(data, again, faces, options, progress);
                Assert.Equal(journalLines.Length - 2, progress.Seen[0].Done);
            }
            Assert.Equal(File.ReadAllText(Path.Combine(whole, "qc.csv")), File.ReadAllText(Path.Combine(again, "qc.csv")));
            // Commands that align for themselves (train, evaluate, demo: EnsureAligned) take an interrupted alignment up too;
            // align --force (StartOver) starts it over, and says so.
            string ensured = Path.Combine(root, "ensured");
            using (var stop = new CancellationTokenSource())
                Assert.ThrowsAny<OperationCanceledException>(() => FaceDatasetAligner.EnsureAligned(data, ensured, 32, groundTruth: true, progress: new StopAfter(30, stop), cancellationToken: stop.Token));
            var taken = FaceDatasetAligner.EnsureAligned(data, ensured, 32, groundTruth: true);
            Assert.True(taken.Summary!.Resumed >= 30);
            Assert.StartsWith("the alignment there had been interrupted", taken.Realigned);
            using (var stop = new CancellationTokenSource())
                Assert.ThrowsAny<OperationCanceledException>(() => FaceDatasetAligner.Run(data, again, faces, options with { Force = true }, new StopAfter(30, stop), stop.Token));
            using (var never = new CancellationTokenSource())
            {
                var progress = new StopAfter(int.MaxValue, never);
                Assert.Equal(0, FaceDatasetAligner.Run(data, again, faces, options with { StartOver = true }, progress).Resumed);
                Assert.StartsWith("starting over, as asked", progress.Seen[0].Detail);
            }
            // Stopped, then asked for with other settings (another crop size), it starts over: nothing of the first is kept.
            string other = Path.Combine(root, "other");
            using (var stop = new CancellationTokenSource())
                Assert.ThrowsAny<OperationCanceledException>(() => FaceDatasetAligner.Run(data, other, faces, options, new StopAfter(30, stop), stop.Token));
            using var larger = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(48), ComputeConfidence = false });
            using (var never = new CancellationTokenSource())
            {
                var progress = new StopAfter(int.MaxValue, never);
                FaceDatasetAligner.Run(data, other, larger, options, progress);
                Assert.StartsWith("starting over: the interrupted alignment here was of other photos or settings", progress.Seen[0].Detail);
                Assert.Equal(0, progress.Seen[0].Done);
            }
            Assert.Equal(48, new GestaltLab.Models.AlignedRegionDataset(other).CropSize);
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void An_alignment_inside_its_data_folder_stays_reusable()
    {
        // train --data D --out D/runs/x aligns into D/runs/x/aligned and then writes the run beside it: neither is data.
        string root = TestTemp.Dir("gl-align-inside");
        try
        {
            string data = Path.Combine(root, "data"), aligned = Path.Combine(data, "runs", "x", "aligned");
            GestaltLab.Synthetic.SyntheticDataset.Generate("mini", 6, data);
            using (var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(32), ComputeConfidence = false }))
                FaceDatasetAligner.Run(data, aligned, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });
            File.WriteAllText(Path.Combine(data, "runs", "x", "config.json"), "{}");
            // An alignment interrupted part-way (its marker and image folders written) starts over without --force; a folder
            // with anything else in it still needs --force.
            string interrupted = Path.Combine(root, "interrupted");
            Directory.CreateDirectory(Path.Combine(interrupted, "aligned", "images"));
            Directory.CreateDirectory(Path.Combine(interrupted, "regions", "nose"));
            File.WriteAllText(Path.Combine(interrupted, FaceDatasetAligner.AlignmentMarker), "");
            using (var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(32), ComputeConfidence = false }))
            {
                // Without the marker the same names are someone's own folder: an aligned/ of hand-picked faces and a
                // manifest are not taken for an interrupted alignment and deleted.
                string mine = Path.Combine(root, "mine");
                Directory.CreateDirectory(Path.Combine(mine, "aligned"));
                File.WriteAllText(Path.Combine(mine, "aligned", "my-face.png"), "mine");
                File.WriteAllText(Path.Combine(mine, "manifest.csv"), "image,syndrome\n");
                Assert.Contains("not empty", Assert.Throws<GestaltLabException>(() =>
                    FaceDatasetAligner.Run(data, mine, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true })).Message);
                Assert.Equal("mine", File.ReadAllText(Path.Combine(mine, "aligned", "my-face.png")));

                FaceDatasetAligner.Run(data, interrupted, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });
                Assert.True(File.Exists(Path.Combine(interrupted, "run.json")));
                Assert.Contains("not empty", Assert.Throws<GestaltLabException>(() =>
                    FaceDatasetAligner.Run(data, interrupted, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true })).Message);
                // Interrupted after its tables (only run.json missing): starts over too.
                File.Delete(Path.Combine(interrupted, "run.json"));
                // Given to training or scoring meanwhile, it is an unfinished alignment, not photos to align again.
                Assert.True(FaceDatasetAligner.IsAligned(interrupted));
                Assert.Contains("unfinished alignment", Assert.Throws<GestaltLabException>(() =>
                    FaceDatasetAligner.EnsureAligned(interrupted, Path.Combine(root, "realigned"), 32, groundTruth: true)).Message);
                // ... unless another command is writing it right now: then that is said.
                using (new LockHeldElsewhere(interrupted))
                    Assert.Contains("another GestaltLab command is writing to this folder right now", Assert.Throws<GestaltLabException>(() =>
                        FaceDatasetAligner.EnsureAligned(interrupted, Path.Combine(root, "realigned"), 32, groundTruth: true)).Message);
                File.Delete(Path.Combine(interrupted, "regions.json"));
                Assert.Contains("unfinished alignment", Assert.Throws<GestaltLabException>(() =>
                    FaceDatasetAligner.EnsureAligned(interrupted, Path.Combine(root, "realigned"), 32, groundTruth: true)).Message);
                File.WriteAllText(Path.Combine(interrupted, "qc.csv"), "half a table");
                FaceDatasetAligner.Run(data, interrupted, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });
                Assert.True(File.Exists(Path.Combine(interrupted, "run.json")));
                // A --force re-run killed while clearing the old results (run.json and aligned/ gone, the crops and tables
                // left): a plain run carries on rather than refusing the folder it left.
                File.Delete(Path.Combine(interrupted, "run.json"));
                Directory.Delete(Path.Combine(interrupted, "aligned"), true);
                // (and the half of a table a killed write left is swept)
                string half = Path.Combine(interrupted, $".qc.csv.{int.MaxValue}.{Guid.NewGuid():N}.tmp");
                File.WriteAllText(half, "half");
                FaceDatasetAligner.Run(data, interrupted, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });
                Assert.True(File.Exists(Path.Combine(interrupted, "run.json")));
                Assert.False(File.Exists(half));
                Assert.NotEqual("half a table", File.ReadAllText(Path.Combine(interrupted, "qc.csv")));
                // Started over with photos that have no manifest, it keeps none of the old tables: another alignment's
                // manifest would label these faces with other people's syndromes.
                File.Delete(Path.Combine(interrupted, "run.json"));
                Assert.True(File.Exists(Path.Combine(interrupted, "manifest.csv")));
                string loose = Path.Combine(root, "loose");
                Directory.CreateDirectory(loose);
                File.Copy(FacesFixture.Astronaut, Path.Combine(loose, "astronaut.png"));
                FaceDatasetAligner.Run(loose, interrupted, faces);
                Assert.False(File.Exists(Path.Combine(interrupted, "manifest.csv")));
                Assert.Equal(FaceDatasetAligner.DataFolderOf(interrupted), Path.GetFullPath(loose));
                // A folder of someone's tables without aligned/ is not an alignment: refused.
                string tables = Path.Combine(root, "tables");
                Directory.CreateDirectory(tables);
                File.WriteAllText(Path.Combine(tables, "manifest.csv"), "image,label\n");
                Assert.Contains("not empty", Assert.Throws<GestaltLabException>(() =>
                    FaceDatasetAligner.Run(data, tables, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true })).Message);
                Assert.Equal("image,label\n", File.ReadAllText(Path.Combine(tables, "manifest.csv")));
                // --force replaces an earlier alignment, but not a data set's tables nor a training run (its nets sit in
                // regions/, the name of the alignment's crop folder): both refused untouched.
                Assert.Contains("no alignment wrote", Assert.Throws<GestaltLabException>(() =>
                    FaceDatasetAligner.Run(data, tables, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true, Force = true })).Message);
                Assert.Equal("image,label\n", File.ReadAllText(Path.Combine(tables, "manifest.csv")));
                string run = Path.Combine(root, "run");
                RunFolder.Prepare(run);
                Directory.CreateDirectory(Path.Combine(run, "regions"));
                File.WriteAllText(Path.Combine(run, "regions", "face.pt"), "trained weights");
                new RunManifest { Command = "gestaltlab train", Seed = 1, Config = new System.Text.Json.Nodes.JsonObject() }.Save(run);
                Assert.Contains("training run", Assert.Throws<GestaltLabException>(() =>
                    FaceDatasetAligner.Run(data, run, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true, Force = true })).Message);
                Assert.Equal("trained weights", File.ReadAllText(Path.Combine(run, "regions", "face.pt")));
                Assert.True(File.Exists(Path.Combine(run, RunManifest.FileName)));
                FaceDatasetAligner.Run(data, interrupted, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true, Force = true });
                Assert.Equal(FaceDatasetAligner.DataFolderOf(interrupted), Path.GetFullPath(data));
            }
            Assert.Null(FaceDatasetAligner.ReuseProblem(data, aligned, 32, groundTruth: true));
            Assert.Null(FaceDatasetAligner.SourceProblem(data, aligned, groundTruth: true));
            // A changed photo is still noticed.
            string photo = Path.Combine(data, Manifest.Load(data).Rows[0].Image);
            File.WriteAllBytes(photo, [.. File.ReadAllBytes(photo), 0]);
            Assert.Contains("changed", FaceDatasetAligner.SourceProblem(data, aligned, groundTruth: true));

            // An alignment recorded the old way (the whole folder hashed, a run since written inside it) is not called
            // other data, which would refuse its run; whether it is reused is for ReuseProblem (here: aligned again).
            string runJson = Path.Combine(aligned, "run.json");
            var old = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(runJson))!.AsObject();
            old["config"]!.AsObject().Remove("data_hash");
            old["data_hash"] = RunManifest.ComputeDataHash(data);
            File.WriteAllText(runJson, old.ToJsonString());
            File.WriteAllText(Path.Combine(data, "runs", "x", "classes.json"), "[]");
            Assert.Null(FaceDatasetAligner.SourceProblem(data, aligned, groundTruth: true));
            Assert.NotNull(FaceDatasetAligner.ReuseProblem(data, aligned, 32, groundTruth: true));
        }
        finally { Directory.Delete(root, true); }
    }

    // A detector that fails as a bug in face processing would (not as a photo without a face), for some photos or all.
    private sealed class FailingDetector(Func<RgbImage, bool> fails) : IFaceDetector
    {
        private readonly HaarFaceDetector _real = new();
        public string Name => "failing";
        public IReadOnlyList<FaceBox> Detect(RgbImage image) => fails(image) ? throw new InvalidOperationException("bug") : _real.Detect(image);
    }

    [Fact]
    public void One_photo_failing_in_face_processing_is_that_photos_but_every_photo_failing_stops_the_batch()
    {
        string root = TestTemp.Dir("gl-align-failing"), data = Path.Combine(root, "data");
        try
        {
            GestaltLab.Synthetic.SyntheticDataset.Generate("mini", 3, data, scale: 0.3);
            int calls = 0;
            using (var some = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(32), ComputeConfidence = false, Detector = new FailingDetector(_ => Interlocked.Increment(ref calls) == 1) }))
            {
                var summary = FaceDatasetAligner.Run(data, Path.Combine(root, "some"), some, new AlignDatasetOptions());
                Assert.True(summary.Aligned > 0);
                Assert.Contains(summary.Skipped, s => s.Problem.Contains("bug"));
            }
            using var all = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(32), ComputeConfidence = false, Detector = new FailingDetector(_ => true) });
            var e = Assert.Throws<GestaltLabException>(() => FaceDatasetAligner.Run(data, Path.Combine(root, "all"), all, new AlignDatasetOptions()));
            Assert.Contains("every one of the", e.Message);
            Assert.Contains("bug", e.Message);
        }
        finally { Directory.Delete(root, true); }
    }
}
