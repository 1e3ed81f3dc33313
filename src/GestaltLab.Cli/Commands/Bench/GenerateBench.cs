using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab bench generate</c>: synthetic generation throughput (images/s written to disk, PNG/JPEG included), and
/// how well the real pipeline sees the renders: OpenCV Haar detection rate on clean renders, and the C# dlib 68-point
/// model's error against the ground-truth landmarks (normalised by the 300-W inter-ocular distance ‖p36 − p45‖).
/// </summary>
internal sealed class GenerateBench : IBenchCommand
{
    public Command Create()
    {
        var images = new Option<int>("--images") { Description = "Images to generate for the throughput figure.", DefaultValueFactory = _ => 2400 };
        var threads = new Option<int>("--threads") { Description = "Rendering threads.", DefaultValueFactory = _ => 2 };
        var faces = new Option<int>("--faces") { Description = "Renders per nuisance level for the detection / landmark figures (0 skips them).", DefaultValueFactory = _ => 400 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 7, Description = "Seed." };
        var cmd = new Command("generate", "Synthetic faces: generation images/s, Haar detection rate and dlib landmark error on the renders.")
            { images, threads, faces, seed };
        cmd.SetAction((p, ct) => Task.FromResult(Run(p.GetValue(images), Math.Max(1, p.GetValue(threads)), p.GetValue(faces), p.GetValue(seed), ct)));
        return cmd;
    }

    private static int Run(int images, int threads, int faces, int seed, CancellationToken ct)
    {
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, {DateTime.UtcNow:yyyy-MM-dd}");
        if (images > 0)
        {
            // demo preset scaled to the requested image count: 30 classes, varied nuisance, PNG and JPEG.
            double scale = images / (double)DatasetPresets.Plan("demo", seed).ImageCount;
            string dir = Path.Combine(Path.GetTempPath(), $"gestaltlab-bench-generate-{Environment.ProcessId}");
            try
            {
                // Warm-up (JIT, Skia) on a tiny set, then the timed run.
                SyntheticDataset.Generate("mini", seed, dir, 0.2, options: new GenerateOptions { Threads = threads, Force = true }, cancellationToken: ct);
                var sw = Stopwatch.StartNew();
                var r = SyntheticDataset.Generate("demo", seed, dir, scale, options: new GenerateOptions { Threads = threads, Force = true }, cancellationToken: ct);
                double s = sw.Elapsed.TotalSeconds;
                long bytes = Directory.EnumerateFiles(Path.Combine(dir, "images")).Sum(f => new FileInfo(f).Length);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"generate demo×{scale:F2}: {r.Images} images 256×256 in {s:F2} s with {threads} threads = {r.Images / s:F0} images/s (incl. planning, encoding, CSV/JSON, oracle); {bytes / r.Images / 1024.0:F1} KiB/image"));
            }
            finally
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, true);
            }
        }
        if (faces <= 0) return 0;

        using var haar = new HaarFaceDetector();
        ShapePredictor? sp = null;
        try { sp = ShapePredictor.LoadShared(); }
        catch (GestaltLabException e) { Console.WriteLine($"dlib model unavailable, landmark error skipped: {e.Message}"); }
        foreach (var level in new[] { NuisanceLevel.Clean, NuisanceLevel.Varied })
        {
            // One photo each of people from all 216 syndromes (and so all strata): gestalt216's test subjects first.
            var plan = DatasetPresets.Plan("gestalt216", seed, 0.05, nuisance: level);
            var subjects = plan.Subjects.OrderBy(s => StableHash.Of(seed, s.Id)).Take(faces).ToList();
            int found = 0, several = 0;
            var errors = new List<double>();
            var eyeErrors = new List<double>();
            foreach (var s in subjects)
            {
                ct.ThrowIfCancellationRequested();
                var photo = SyntheticDataset.RenderPhoto(plan, s, 1);
                var image = ImageLoader.Decode(photo.Encoded, s.Id);
                var boxes = haar.Detect(image);
                var gt = photo.Landmarks;
                var tip = gt[30];
                var hits = boxes.Where(b => tip.X >= b.Left && tip.X <= b.Right && tip.Y >= b.Top && tip.Y <= b.Bottom).ToList();
                if (boxes.Count > 1) several++;
                if (hits.Count == 0)
                {
                    if (Environment.GetEnvironmentVariable("GESTALTLAB_BENCH_MISSES") is string missDir)
                    {
                        Directory.CreateDirectory(missDir);
                        File.WriteAllBytes(Path.Combine(missDir, $"{level}_{s.Id}_{s.SyndromeId}_{s.AgeBand}_{TraitSpace.SkinTones[s.SkinTone]}{photo.Extension}"), photo.Encoded);
                    }
                    continue;
                }
                found++;
                if (sp is null) continue;
                var box = hits.OrderByDescending(b => b.Area).First();
                var pred = sp.Predict(image, box);
                double mean = 0;
                for (int i = 0; i < 68; i++) mean += Vector2.Distance(pred[i], gt[i]);
                mean /= 68;
                errors.Add(mean / Vector2.Distance(gt[36], gt[45]));
                var le = Mean(gt, 36, 41); var re = Mean(gt, 42, 47);
                eyeErrors.Add(mean / Vector2.Distance(le, re));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{level.ToString().ToLowerInvariant()} renders: Haar frontalface_default found the face in {found}/{subjects.Count} = {100.0 * found / subjects.Count:F1}% ({several} with more than one box)"));
            if (errors.Count > 0)
            {
                errors.Sort(); eyeErrors.Sort();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  dlib 68-point (C# ShapePredictor on calibrated Haar boxes) vs ground truth: median mean-point error {100 * errors[errors.Count / 2]:F1}% of outer-canthal distance ‖p36−p45‖ ({100 * eyeErrors[eyeErrors.Count / 2]:F1}% of eye-centre distance); 90th percentile {100 * errors[(int)(errors.Count * 0.9)]:F1}%; {100.0 * errors.Count(e => e <= 0.1) / errors.Count:F0}% of faces within 10%"));
            }
        }
        return 0;
    }

    private static Vector2 Mean(Vector2[] p, int a, int b)
    {
        var s = Vector2.Zero;
        for (int i = a; i <= b; i++) s += p[i];
        return s / (b - a + 1);
    }
}
