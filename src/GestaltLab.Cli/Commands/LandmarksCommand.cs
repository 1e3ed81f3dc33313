using System.CommandLine;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab landmarks (--images PATH… | --manifest FILE) [--boxes FILE.csv] [--model PATH] --out FILE.csv</c>:
/// dlib-compatible 68-point landmarks, one row per face (every detected face, or each given box).
/// </summary>
internal sealed class LandmarksCommand : ICliCommand
{
    public Command Create()
    {
        var images = new Option<string[]>("--images") { Description = "Photos (a folder: every photo in it).", AllowMultipleArgumentsPerToken = true };
        var manifest = new Option<string?>("--manifest") { Description = "CSV with an 'image' column (paths relative to the CSV's folder)." };
        var boxes = new Option<string?>("--boxes") { Description = "CSV image,left,top,right,bottom (dlib inclusive boxes): landmark these boxes, skip detection." };
        var model = new Option<string?>("--model", "--landmark-model") { Description = "dlib shape_predictor .dat (default: the system's 68-point model)." };
        var output = new Option<string>("--out") { Description = "Output CSV: image,face,status,left,top,right,bottom,x0,y0,…,x67,y67.", Required = true };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        threads.RefuseNegativeThreads();
        var cmd = new Command("landmarks", "68-point facial landmarks (dlib's model, run in C#) for photos, as CSV.") { images, manifest, boxes, model, output, threads };
        cmd.SetAction(async (p, ct) =>
        {
            var list = new List<string>();
            var withoutPhotos = new List<string>();
            if (p.GetValue(images) is { Length: > 0 } given) list.AddRange(ModelCli.ExpandFolders(given, withoutPhotos));
            // As predict: a path typed that does not exist is a typo, not a bad photo in a batch; the others are still
            // landmarked, but the exit code says so.
            var missing = ModelCli.Missing(p.GetValue(images) ?? []);
            if (p.GetValue(manifest) is { } m) list.AddRange(LandmarkBatch.PhotosOf(m));
            FaceBoxTable? boxTable = null;
            if (p.GetValue(boxes) is { } b)
            {
                boxTable = FaceBoxTable.Load(b);
                // A malformed row costs its photo, not the batch: the photo is listed without landmarks, with the row's problem.
                foreach (var problem in boxTable.Problems) Console.Error.WriteLine($"skipped box: {problem}");
                if (list.Count == 0) list.AddRange(boxTable.Images);
            }
            if (list.Count == 0) throw new GestaltLabException("no photos given", "pass --images PATH…, --manifest FILE or --boxes FILE.csv");
            string outCsv = p.GetValue(output)!;
            // Before any photo: a table that cannot be written at the end would cost the whole batch.
            AtomicFile.CheckWritable(outCsv, "landmarks.csv");
            AtomicFile.CheckReplaceable(outCsv, "image,face,status,", "gestaltlab landmarks");
            var options = new LandmarkBatchOptions
            {
                ModelPath = p.GetValue(model), Boxes = boxTable, Threads = p.GetValue(threads),
                ManifestDirectory = p.GetValue(manifest) is { } mf ? Path.GetDirectoryName(Path.GetFullPath(mf)) : null,
            };
            var result = await CliProgress.RunAsync(progress => LandmarkBatch.Run(list, options, progress, ct));
            foreach (var unreadable in result.Unreadable) Console.Error.WriteLine($"skipped: {unreadable.Problem}");
            // Beside the table, what made it: another model file or detector gives other points for the same photos.
            string record = result.Save(outCsv, "gestaltlab landmarks");
            var noFace = result.NoFace;
            int bad = result.Unreadable.Count;
            Console.WriteLine($"{result.Faces} face(s) in {result.PhotoCount} photo(s) → {outCsv} (how it was made: {Path.GetFileName(record)})"
                              // With given boxes a photo is also no_face for want of a usable box (a malformed row, said above).
                              + (noFace.Count > 0 ? $"; {noFace.Count} photo(s) without a face{(boxTable is null ? "" : " or a usable box")} (status no_face)" : "")
                              + (bad > 0 ? $"; {bad} photo(s) unreadable and skipped (status unreadable)" : ""));
            // Each by name, as predict names the photos it skips (the table's rows say no_face but not where to look).
            if (noFace.Count > 0) ModelCli.PrintSkipped([.. noFace.Select(r => (r.Image, r.Problem ?? "no face"))]);
            // Folders named that held no photos are a mistake in the command, like a path that does not exist.
            if (ModelCli.ReportPathMistakes(withoutPhotos, missing)) return 1;
            // As predict: one bad photo never fails the batch, but a batch where no photo gave a face did not do its job.
            return result.Faces > 0 ? 0 : 1;
        });
        return cmd;
    }
}
