using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab bench faces</c>: photos per second through detect + landmarks (+ confidence) + align + all region crops,
/// in memory (decoding and file writing excluded, reported separately), on 256² photos, with a given thread count;
/// plus the time of each stage on one thread.
/// </summary>
internal sealed class FacesThroughputBench : IBenchCommand
{
    public Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder of photos or a dataset with manifest.csv (default: astronaut.png variants at 256²)." };
        var threads = new Option<int>("--threads") { Description = "Worker threads.", DefaultValueFactory = _ => 2 };
        var count = new Option<int>("--count") { Description = "Photos to process (cycled).", DefaultValueFactory = _ => 400 };
        var noConf = new Option<bool>("--no-confidence") { Description = "Skip the landmark confidence proxy." };
        var minFace = new Option<double>("--min-face") { Description = "Smallest face searched, as a fraction of the shorter side.", DefaultValueFactory = _ => 0.1 };
        var cmd = new Command("faces", "Face pipeline throughput (detect + landmarks + align + crops) on 256² photos.") { data, threads, count, noConf, minFace };
        cmd.SetAction(p => Run(p.GetValue(data), Math.Max(1, p.GetValue(threads)), Math.Max(1, p.GetValue(count)), !p.GetValue(noConf), p.GetValue(minFace)));
        return cmd;
    }

    private static int Run(string? dataDir, int threads, int count, bool confidence, double minFace)
    {
        var sw = Stopwatch.StartNew();
        List<RgbImage> photos;
        if (dataDir is not null)
        {
            string manifest = Path.Combine(dataDir, "manifest.csv");
            var files = File.Exists(manifest)
                ? Csv.Read(manifest).Rows.Select(r => Path.Combine(dataDir, r[0])).ToList()
                : Directory.EnumerateFiles(dataDir).Where(f => ImageLoader.Sniff(File.ReadAllBytes(f).AsSpan(0, Math.Min(16, (int)new FileInfo(f).Length))) != ImageLoader.Format.Unknown).ToList();
            photos = files.Take(count).Select(f => ImageLoader.Load(f)).ToList();
        }
        else
        {
            var astro = ImageLoader.Load(SystemResources.AstronautPhoto() ?? throw new GestaltLabException("astronaut.png not installed", "install python3-skimage or pass --data"));
            photos = [FaceAligner.Warp(astro, SimilarityTransform.ScaleTranslate(0.5, 0, 0), 256, 256)];
        }
        double decodeMs = sw.Elapsed.TotalMilliseconds / photos.Count;
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, {DateTime.UtcNow:yyyy-MM-dd}, load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a")}");
        Console.WriteLine($"{photos.Count} distinct photos ({photos[0].Width}×{photos[0].Height}), decode {decodeMs:F2} ms/photo (not in the figures below)");

        using var detector = new HaarFaceDetector(new HaarOptions { MinFaceFraction = minFace });
        using var pipeline = new FacePipeline(new FacePipelineOptions { ComputeConfidence = confidence, Detector = detector });
        // Warm up: JIT, cascades per thread, model pages.
        Parallel.For(0, Math.Min(photos.Count, threads * 4), new ParallelOptions { MaxDegreeOfParallelism = threads }, i => pipeline.Process(photos[i % photos.Count]));

        // Stage times on one thread.
        var one = photos[0];
        int reps = 30;
        double Time(Action a) { a(); var t = Stopwatch.StartNew(); for (int i = 0; i < reps; i++) a(); return t.Elapsed.TotalMilliseconds / reps; }
        var box = pipeline.Detector.Detect(one).FirstOrDefault();
        var lm = pipeline.Predictor.Predict(one, box);
        var aligned = pipeline.Aligner.Align(one, lm);
        Console.WriteLine($"stages (1 thread, {one.Width}×{one.Height}): detect {Time(() => pipeline.Detector.Detect(one)):F2} ms, landmarks {Time(() => pipeline.Predictor.Predict(one, box)):F2} ms, " +
                          $"confidence {Time(() => LandmarkConfidence.Estimate(pipeline.Predictor, one, box, lm)):F2} ms, align {Time(() => pipeline.Aligner.Align(one, lm)):F2} ms, " +
                          $"crops {Time(() => pipeline.Cropper.Crop(one, aligned)):F2} ms, tensors {Time(() => { foreach (var c in pipeline.Cropper.Crop(one, aligned)) c.ToTensor(); }):F2} ms (crops incl.)");

        sw.Restart();
        int faces = 0;
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            var r = pipeline.Process(photos[i % photos.Count]);
            if (r.HasFace) Interlocked.Increment(ref faces);
        });
        double s = sw.Elapsed.TotalSeconds;
        Console.WriteLine($"throughput: {count / s:F1} photos/s with {threads} thread(s) ({count} photos, {faces} with a face, confidence {(confidence ? "on" : "off")}, min face {minFace:P0}); goal ≥ 100 photos/s on 2 cores");
        return 0;
    }
}
