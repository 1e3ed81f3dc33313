using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Tests.Models;

public class GeometryTaskTests
{
    /// <summary>
    /// <see cref="ModelFixture.Patterns"/> with four landmarks per crop: 0 on the class blob and 1 at its mirror position
    /// (a left/right pair), 2 fixed on the midline, 3 far outside the crop. The right region's points are
    /// the left's mirrored with the pair swapped, as anatomy has it, so a flipped right crop is a left crop; with
    /// <paramref name="asymmetry"/>, the right crop's point 0 is moved that many pixels (faces are not symmetric).
    /// </summary>
    private sealed class GeometrySamples(InMemoryRegionSamples inner, float asymmetry = 0) : IRegionSamples, IRegionGeometry
    {
        public int Count => inner.Count;
        public int CropSize => inner.CropSize;
        public IReadOnlyList<string> Regions => inner.Regions;
        public string MirrorOf(string region) => inner.MirrorOf(region);
        public int Label(int index) => inner.Label(index);
        public string Group(int index) => inner.Group(index);
        public float[] Load(int index, string region) => inner.Load(index, region);
        public int PointCount => 4;
        public int MirrorPoint(int point) => point switch { 0 => 1, 1 => 0, _ => point };

        public float[]? CropLandmarks(int index, string region)
        {
            int s = CropSize, c = Label(index);
            float cx = (float)(s / 2.0 + s / 4.0 * Math.Cos(2 * Math.PI * c / 4)), cy = (float)(s / 2.0 + s / 4.0 * Math.Sin(2 * Math.PI * c / 4));
            float mid = (s - 1) / 2f, h = 8;
            float[] left = [cx, cy, s - 1 - cx, cy, mid, h, -40, -40];
            if (!region.EndsWith("_right", StringComparison.Ordinal)) return left;
            // Mirror every point and swap the pair (and move point 0 by the asymmetry).
            return [s - 1 - left[2] + asymmetry, left[3], s - 1 - left[0], left[1], s - 1 - left[4], left[5], s - 1 - left[6], left[7]];
        }
    }

    private static GeometrySamples Samples() => new(ModelFixture.Patterns());

    [Fact]
    public void Targets_are_standardised_mirrored_with_the_pixels_and_mask_what_the_crop_does_not_show()
    {
        // The right crops 2 px asymmetric: a flip that read the left crop, or did not mirror or swap, gives other targets.
        var s = new GeometrySamples(ModelFixture.Patterns(), asymmetry: 2);
        var train = Enumerable.Range(0, s.Count).ToArray();
        var targets = new GeometryTargets(s, train, s.Regions);
        Assert.Equal(8, targets.Width);
        var t = new float[8];
        var m = new float[8];
        var flipped = new float[8];
        var fm = new float[8];
        var columns = Enumerable.Range(0, 8).Select(_ => new List<double>()).ToArray();
        foreach (int i in train)
        {
            targets.Write(s, i, "periorbital_left", flip: false, t, m);
            Assert.Equal([1f, 1f, 1f, 1f, 1f, 1f, 0f, 0f], m);
            for (int j = 0; j < 8; j++) columns[j].Add(t[j]);
            // A flipped right crop is the left crop but for the right crop's own 2 px asymmetry: its point 0, mirrored,
            // becomes point 1 two pixels further left, and the centroid of the three points moves by 2/3 px with it.
            targets.Write(s, i, "periorbital_left", flip: true, flipped, fm);
            Assert.Equal(m, fm);
            Assert.True(flipped[0] > t[0] + 1e-3 && flipped[4] > t[4] + 1e-3 && flipped[2] < t[2] - 1e-3,
                $"x targets {flipped[0]}, {flipped[2]}, {flipped[4]} vs {t[0]}, {t[2]}, {t[4]}");
            Assert.Equal((flipped[0] - t[0]) * -2, flipped[2] - t[2], 2); // +2/3 px and −4/3 px, on the same scale here
            foreach (int j in new[] { 1, 3, 5 }) Assert.Equal(t[j], flipped[j], 4); // y untouched
        }
        // Standardised over the training samples: mean 0, and SD 1 wherever the points vary by more than the floor.
        foreach (var col in columns.Take(6))
        {
            double mean = col.Average(), sd = Math.Sqrt(col.Average(v => (v - mean) * (v - mean)));
            Assert.InRange(mean, -1e-4, 1e-4);
            Assert.True(sd < 1e-4 || Math.Abs(sd - 1) < 1e-3, $"sd {sd}");
        }
        Assert.Contains(columns.Take(6), c => c.Distinct().Count() > 1);
    }

    [Fact]
    public void Geometry_task_trains_resumes_bit_for_bit_and_leaves_the_net_as_it_was()
    {
        var s = Samples();
        var data = ModelFixture.Data(s, region: null);
        var options = ModelFixture.Options(4) with { GeometryLoss = 1, LearningRate = 1e-2 };

        var details = new List<string>();
        string straightDir = ModelFixture.TempDir(), resumedDir = ModelFixture.TempDir();
        var straight = RegionTrainer.Train(data, ModelFixture.Net(), options, straightDir,
            progress: ProgressReporters.Synchronous(u => { if (u.Detail?.Contains(" val ", StringComparison.Ordinal) == true) details.Add(u.Detail); }));
        using var a = straight.Net;
        // The geometry loss is reported per epoch, on training and validation photos, and the training figure falls.
        var trainGeometry = details.Select(d => double.Parse(d.Split(" geometry ")[1].Split(' ')[0], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(4, trainGeometry.Count);
        Assert.All(details, d => Assert.Matches(@" geometry \d\.\d{3} val \d\.\d{3}$", d));
        Assert.True(trainGeometry[^1] < 0.7 * trainGeometry[0], $"training geometry loss did not fall: {string.Join(", ", trainGeometry)}");
        // The curve keeps the same figures (rounded alike in the progress line).
        Assert.Equal(details.Select(d => d.Split(" geometry ")[1].Split(' ')[0]),
            straight.Curve.Select(e => e.GeometryLoss.ToString("F3", CultureInfo.InvariantCulture)));
        Assert.All(straight.Curve, e => Assert.True(double.IsFinite(e.ValGeometryLoss)));
        // The head is the trainer's own: the net comes back with exactly a plain net's parameters (trained differently).
        using var plain = RegionTrainer.Train(data, ModelFixture.Net(), options with { GeometryLoss = 0 }).Net;
        Assert.Equal(plain.state_dict().Keys.Order(), a.state_dict().Keys.Order());
        Assert.NotEqual(ModelFixture.Flat(plain), ModelFixture.Flat(a));

        // Cancelled in epoch 2 and resumed: the head and its optimiser state come back from the checkpoint.
        using var r = ModelFixture.CancelInEpochTwoThenResume(data, options, resumedDir).Net;
        Assert.Equal(ModelFixture.Flat(a), ModelFixture.Flat(r));
    }

    [Fact]
    public void Mixup_blends_the_two_samples_geometry_losses_each_under_its_own_mask()
    {
        using var scope = TorchSharp.torch.NewDisposeScope();   // as in training: the losses' intermediate tensors are held
        // Two samples, two values each; sample 1 lacks its second value (masked, stored as 0).
        using var predicted = TorchSharp.torch.tensor(new float[] { 1, 2, 3, 4 }, [2, 2]);
        using var target = TorchSharp.torch.tensor(new float[] { 0, 0, 1, 0 }, [2, 2]);
        using var mask = TorchSharp.torch.tensor(new float[] { 1, 1, 1, 0 }, [2, 2]);
        using var swap = TorchSharp.torch.tensor(new long[] { 1, 0 });
        double own = (1 + 4 + 4) / 3.0;             // sample 0 vs 0: 1², 2²; sample 1 vs 1: 2² (its 4 − 0 is masked)
        double partner = (0 + 9 + 16) / 3.0;        // sample 0 vs 1's target under 1's mask: 0² (2's error masked); sample 1 vs 0: 3², 4²
        Assert.Equal(own, GeometryTargets.Loss(predicted, target, mask).item<float>(), 5);
        using var mixed = GeometryTargets.MixedLoss(predicted, target, mask, swap, 0.25);
        Assert.Equal(0.25 * own + 0.75 * partner, mixed.item<float>(), 5);
        // With λ = 1 the partner does not count.
        using var whole = GeometryTargets.MixedLoss(predicted, target, mask, swap, 1);
        Assert.Equal(own, whole.item<float>(), 5);

        // And the trainer runs with both on, reporting a finite geometry loss.
        var s = Samples();
        var data = new RegionTrainingData(s, null, Enumerable.Range(0, s.Count).ToArray(), [], 4);
        var result = RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(2) with { GeometryLoss = 1, Mixup = 0.4 });
        using var net = result.Net;
        Assert.All(result.Curve, e => Assert.True(double.IsFinite(e.GeometryLoss) && e.GeometryLoss > 0, $"geometry loss {e.GeometryLoss}"));
    }

    [Fact]
    public void Geometry_task_without_landmarks_or_with_a_negative_weight_is_refused()
    {
        var plain = ModelFixture.Patterns();
        var data = new RegionTrainingData(plain, null, Enumerable.Range(0, plain.Count).ToArray(), [], 4);
        var e = Assert.Throws<GestaltLabException>(() => RegionTrainer.Train(data, ModelFixture.Net(), ModelFixture.Options(1) with { GeometryLoss = 1 }));
        Assert.Contains("geometry_loss", e.Message);
        Assert.Contains("geometry_loss", Assert.Throws<GestaltLabException>(() => new TrainingOptions { GeometryLoss = -1 }.Validate()).Message);
    }

    [Fact]
    public void Aligned_folder_gives_each_crop_its_landmarks_and_pretraining_with_them_saves_a_plain_backbone()
    {
        string root = ModelFixture.TempDir();
        string data = Path.Combine(root, "data"), aligned = Path.Combine(root, "aligned");
        SyntheticDataset.Generate("mini", 1, data);
        using var faces = new FacePipeline(new FacePipelineOptions { Regions = RegionSet.Default.WithSize(64), ComputeConfidence = false });
        FaceDatasetAligner.Run(data, aligned, faces, new AlignDatasetOptions { UseGroundTruthLandmarks = true });
        var samples = new AlignedRegionDataset(aligned);
        var truth = FaceDatasetAligner.ReadLandmarks(Path.Combine(data, "landmarks.csv"));
        foreach (int i in new[] { 0, samples.Count / 2, samples.Count - 1 })
        {
            string source = samples.Rows[i].Extra["source_image"];
            // The pipeline's own crop transforms, applied to the landmarks, must give the same points.
            var result = faces.FromLandmarks(ImageLoader.Load(Path.Combine(data, source)), truth[source], source);
            foreach (var region in samples.Regions)
            {
                var xy = samples.CropLandmarks(i, region)!;
                Assert.Equal(2 * samples.PointCount, xy.Length);
                var toCrop = result.Regions[region].ToCrop;
                for (int p = 0; p < samples.PointCount; p++)
                {
                    var expected = toCrop.Apply(truth[source][p]);
                    Assert.Equal(expected.X, xy[2 * p], 2);
                    Assert.Equal(expected.Y, xy[2 * p + 1], 2);
                }
            }
        }
        Assert.Equal(FaceTemplate.Default.MirrorOf(36), samples.MirrorPoint(36));

        // Identity pretraining with the task, as `gestaltlab train --pretrain` runs it: the backbone file holds the
        // usual backbone parameters only.
        var net = new RegionNetConfig { InputSize = 64, Width = 4, Stages = 3, ConvsPerStage = 1 };
        var details = new List<string>();
        string path = Path.Combine(root, "backbone.pt");
        var pre = Pretraining.Pretrain(aligned, path, net, ModelFixture.Options(1) with { GeometryLoss = 1 },
            ProgressReporters.Synchronous(u => { if (u.Detail is not null) details.Add(u.Detail); }));
        // mini is a data set of syndromes: its test people, on whom models fine-tuned on it are scored, are left out.
        Assert.Equal(samples.Rows.Where(r => r.Split != SplitNames.Test).Select(r => r.Subject).Distinct().Count(), pre.Identities);
        Assert.Equal(samples.Rows.Count(r => r.Split == SplitNames.Test), pre.TestPhotosLeftOut);
        // mini has two photos per person, so no photo is held out: the validation figures are NaN, and the per-epoch
        // checkpoint must still be written (its curve once failed to serialise them).
        Assert.True(double.IsNaN(pre.ValAccuracy));
        Assert.Contains(details, d => d.Contains(" geometry ", StringComparison.Ordinal) && d.Contains(" val ", StringComparison.Ordinal));
        // The curve lands beside the checkpoints, with the task's training loss and empty validation cells.
        var curve = Csv.Read(Path.Combine(path + ".checkpoints", "curve.csv"));
        Assert.Equal(["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "geometry_loss", "val_geometry_loss"], curve.Header);
        var row = Assert.Single(curve.Rows);
        Assert.True(double.Parse(row[curve.Column("geometry_loss")], CultureInfo.InvariantCulture) > 0);
        Assert.Equal("", row[curve.Column("val_geometry_loss")]);
        // How it was made is recorded beside the checkpoints: seed, settings, data, versions, and the backbone's hash.
        var made = RunManifest.Load(path + ".checkpoints");
        Assert.Equal("Pretraining.Pretrain", made.Command);   // the library call; the CLI names itself
        Assert.Equal(ModelFixture.Options(1).Seed, made.Seed);
        Assert.Equal(RunManifest.ComputeFileHash(path), (string?)made.Config["backbone_sha256"]);
        Assert.Contains("TorchSharp", made.Packages.Keys);
        Assert.NotNull(made.DataHash);
        // Recorded as trained: identities are not sampled class-balanced.
        Assert.False((bool)made.Config["training"]!["balanced_sampling"]!);
        // The same pretraining from a copy of the data elsewhere gives the same backbone, byte for byte: the file names
        // its data by content, not by the folder it lay in.
        string copy = Path.Combine(root, "elsewhere", "aligned-copy");
        foreach (var file in Directory.EnumerateFiles(aligned, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(copy, Path.GetRelativePath(aligned, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        string copyPath = Path.Combine(root, "elsewhere", "backbone.pt");
        Pretraining.Pretrain(copy, copyPath, net, ModelFixture.Options(1) with { GeometryLoss = 1 });
        Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(copyPath));
        Assert.Equal(made.Config["crops_sha256"]!.ToJsonString(), RunManifest.Load(copyPath + ".checkpoints").Config["crops_sha256"]!.ToJsonString());
        // Other crops of the same people and photos (cut with other padding, say) are other data: refused, not answered
        // with the finished backbone of the first.
        var crops = Directory.GetFiles(Path.Combine(copy, "regions"), "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        File.Copy(crops[1], crops[0], overwrite: true);
        Assert.Contains("crops", Assert.Throws<GestaltLabException>(() => Pretraining.Pretrain(copy, copyPath, net, ModelFixture.Options(1) with { GeometryLoss = 1 })).Message);
        var (config, weights) = Pretraining.LoadBackbone(path);
        try
        {
            Assert.Equal(net, config);
            using var plain = new RegionNet(net, 2);
            Assert.Equal(plain.state_dict().Keys.Where(k => !RegionNet.IsHead(k)).Order(), weights.Keys.Order());
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }

        // Pretraining again with other settings does not pass the finished backbone off as theirs (nor resume into it);
        // the same settings reload it without training.
        var more = Assert.Throws<GestaltLabException>(() => Pretraining.Pretrain(aligned, path, net, ModelFixture.Options(2) with { GeometryLoss = 1 }));
        Assert.Contains(path + ".checkpoints", more.Message);
        Assert.Contains("delete", more.Fix ?? more.Message);
        var again = Pretraining.Pretrain(aligned, path, net, ModelFixture.Options(1) with { GeometryLoss = 1, Threads = 2 });
        // Reloaded, not trained, with another count: the record keeps the count that trained it (the fixture's 1).
        Assert.Equal([1],
            RunManifest.Load(path + ".checkpoints").Config["threads_used"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray());
        Assert.Equal(pre.Curve.Count, again.Curve.Count);
        // Starting over, the other settings train from the start (a notebook cell run again on new data does this).
        var fresh = Pretraining.Pretrain(aligned, path, net, ModelFixture.Options(2) with { GeometryLoss = 1 }, startOver: true);
        Assert.Equal(2, fresh.Curve.Count);
    }
}
