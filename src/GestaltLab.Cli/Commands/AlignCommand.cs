using System.CommandLine;
using GestaltLab.Data;
using GestaltLab.Regions;

namespace GestaltLab.Cli;

/// <summary><c>gestaltlab align --data DIR --out DIR2</c>: aligned faces, region crops and qc.csv for a dataset folder.</summary>
internal sealed class AlignCommand : ICliCommand
{
    private static readonly int DefaultCropSize = new Models.RegionNetConfig().InputSize;

    public Command Create()
    {
        var data = new Option<string>("--data") { Description = "Dataset folder: manifest.csv with an 'image' column (as `gestaltlab generate` writes), or just photos.", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder (aligned/, regions/NAME/, qc.csv, landmarks.csv, run.json, and manifest.csv when --data has one).", Required = true };
        var model = new Option<string?>("--model", "--landmark-model") { Description = "dlib shape_predictor_68_face_landmarks.dat (default: the system's)." };
        var regions = new Option<string?>("--regions") { Description = "Region set JSON (default: data/regions/regions.json)." };
        var size = new Option<int>("--size") { Description = "Side of the aligned face in pixels.", DefaultValueFactory = _ => 256 };
        var cropSize = new Option<int?>("--crop-size") { Description = $"Side of every region crop in pixels; it must equal the net's input_size (default: {DefaultCropSize}, the default net's; with --regions, that file's sizes)." };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var truth = new Option<bool>("--ground-truth") { Description = "Use DIR/landmarks.csv (synthetic ground truth) instead of detecting faces." };
        var overlays = new Option<bool>("--overlays") { Description = "Also write overlays/ (landmarks and region squares drawn on each aligned face)." };
        var noConfidence = new Option<bool>("--no-confidence") { Description = "Skip the landmark confidence proxy (faster; QC then uses size and position only)." };
        var force = new Option<bool>("--force") { Description = "Replace an earlier alignment in the output folder (a run or data set there is refused)." };
        var minFace = new Option<double>("--min-face") { Description = "Smallest face to detect, as a fraction of the shorter photo side (faces of 0.25 and more are searched first; a smaller one is looked for only when none is found).", DefaultValueFactory = _ => 0.1 };
        // Checked when parsing, before any photo is read: a crop no net can take (16–256 px) or an aligned face smaller than
        // the aligner allows would otherwise surface as a failed `train` or a stack trace after the whole alignment.
        size.Validators.Add(r => { if (r.GetValueOrDefault<int>() is < 16 or > 4096) r.AddError($"--size {r.GetValueOrDefault<int>()}: expected 16–4096 pixels"); });
        cropSize.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is { } c and (< 16 or > 256)) r.AddError($"--crop-size {c}: expected 16–256 pixels (the range a region net takes)"); });
        threads.RefuseNegativeThreads();
        minFace.Validators.Add(r => { if (r.GetValueOrDefault<double>() is not (> 0 and <= 1)) r.AddError($"--min-face {r.GetValueOrDefault<double>()}: expected a fraction above 0 and at most 1"); });
        var cmd = new Command("align", "Detect, landmark and align every face of a dataset and cut the facial regions.")
            { data, output, model, regions, size, cropSize, threads, truth, overlays, noConfidence, force, minFace };
        cmd.SetAction(async (p, ct) =>
        {
            // The default crops are cut at the default net's input size, so `align` then `train` with defaults fit together.
            var set = p.GetValue(regions) is { } r ? RegionSet.Load(r) : RegionSet.Default.WithSize(DefaultCropSize);
            if (p.GetValue(cropSize) is { } cs)
            {
                // A run's regions.json passed with another size cuts crops its nets cannot read: said, as it may be meant
                // (the same regions for a new model of another input size).
                var given = set.Regions.Select(x => x.Size).Distinct().ToList();
                if (p.GetValue(regions) is { } file && given.Any(x => x != cs))
                    Console.WriteLine($"note: --crop-size {cs} replaces the {string.Join("/", given)} px of {file}: a model trained with those regions expects {string.Join("/", given)} px crops (leave out --crop-size to cut them so)");
                set = set.WithSize(cs);
            }
            using var detector = new Faces.HaarFaceDetector(new Faces.HaarOptions { MinFaceFraction = p.GetValue(minFace) });
            using var pipeline = new FacePipeline(new FacePipelineOptions
            {
                ModelPath = p.GetValue(model), AlignedSize = p.GetValue(size), Regions = set, ComputeConfidence = !p.GetValue(noConfidence),
                Detector = detector,
            });
            var options = new AlignDatasetOptions
            {
                Threads = p.GetValue(threads), UseGroundTruthLandmarks = p.GetValue(truth), WriteOverlays = p.GetValue(overlays), Force = p.GetValue(force),
                StartOver = p.GetValue(force),
            };
            string outDir = p.GetValue(output)!;
            var summary = await CliProgress.RunAsync(progress => FaceDatasetAligner.Run(p.GetValue(data)!, outDir, pipeline, options, progress, ct));
            // The rate of the photos aligned in this run: those an interrupted one had finished took no time here.
            Console.WriteLine($"aligned {summary.Aligned} of {summary.Images} photos in {summary.Seconds:F1} s ({(summary.Images - summary.Resumed) / Math.Max(summary.Seconds, 1e-9):F0} photos/s"
                + (summary.Resumed > 0 ? $"; {summary.Resumed} kept from the interrupted alignment" : "") + $") → {outDir}");
            Console.WriteLine("status: " + string.Join(", ", summary.StatusCounts.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
            if (summary.Skipped.Count > 0)
            {
                Console.WriteLine($"skipped {summary.Skipped.Count} photo(s):");
                foreach (var (image, problem) in summary.Skipped.Take(20)) Console.WriteLine($"  {Terminal.Printable(image)}: {Terminal.Printable(problem)}");
                if (summary.Skipped.Count > 20) Console.WriteLine($"  … and {summary.Skipped.Count - 20} more (see qc.csv)");
            }
            // Said now, not when `match --gallery` or `train` later finds no labels in the alignment.
            if (!File.Exists(Path.Combine(outDir, Manifest.FileName)))
                Console.WriteLine($"note: {Terminal.Printable(p.GetValue(data)!)} has no {Manifest.FileName}, so these faces carry no labels: enough for looking at them, not for a `match --gallery` or training; "
                    + $"label the photos with `gestaltlab manifest --images {Terminal.Printable(p.GetValue(data)!)} --labels labels.csv`, then align again with --force");
            return 0;
        });
        return cmd;
    }
}
