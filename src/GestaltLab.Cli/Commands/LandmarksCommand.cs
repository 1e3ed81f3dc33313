using System.CommandLine;
using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Faces;
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
        var model = new Option<string?>("--model") { Description = "dlib shape_predictor .dat (default: the system's 68-point model)." };
        var output = new Option<string>("--out") { Description = "Output CSV: image,face,status,left,top,right,bottom,x0,y0,…,x67,y67.", Required = true };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("landmarks", "68-point facial landmarks (dlib's model, run in C#) for photos, as CSV.") { images, manifest, boxes, model, output, threads };
        cmd.SetAction(async (p, ct) =>
        {
            var list = new List<string>();
            if (p.GetValue(images) is { Length: > 0 } given) list.AddRange(ModelCli.ExpandFolders(given));
            if (p.GetValue(manifest) is { } m)
            {
                var t = Csv.Read(m);
                int col = t.Column("image");
                string baseDir = Path.GetDirectoryName(Path.GetFullPath(m))!;
                // Paths as Manifest.Load and align read them: trimmed, Windows separators accepted.
                list.AddRange(t.Rows.Select(r => r[col].Trim().Replace('\\', '/')).Select(r => Path.IsPathRooted(r) ? r : Path.Combine(baseDir, r)));
            }
            Dictionary<string, List<FaceBox>>? boxMap = null;
            // A malformed row costs its photo, not the batch: the photo is listed without landmarks, with the row's problem.
            var boxErrors = new Dictionary<string, string>(StringComparer.Ordinal);
            if (p.GetValue(boxes) is { } b)
            {
                var t = Csv.Read(b);
                int ci = t.Column("image"), cl = t.Column("left"), ctp = t.Column("top"), cr = t.Column("right"), cb = t.Column("bottom");
                boxMap = new Dictionary<string, List<FaceBox>>(StringComparer.Ordinal);
                for (int i = 0; i < t.Rows.Count; i++)
                {
                    var row = t.Rows[i];
                    if (!boxMap.TryGetValue(row[ci], out var l)) boxMap[row[ci]] = l = [];
                    string? problem = null;
                    int I(int c)
                    {
                        if (int.TryParse(row[c], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)) return v;
                        problem ??= $"{b}: line {i + 2}, column {t.Header[c]}: '{row[c]}' is not an integer";
                        return 0;
                    }
                    var box = new FaceBox(I(cl), I(ctp), I(cr), I(cb));
                    if (problem is null && (box.Width < 1 || box.Height < 1)) problem = $"{b}: line {i + 2}: box {box} is empty (right < left or bottom < top)";
                    if (problem is null) l.Add(box);
                    else
                    {
                        boxErrors.TryAdd(row[ci], problem);
                        Console.Error.WriteLine($"skipped box: {problem}");
                    }
                }
                if (list.Count == 0) list.AddRange(boxMap.Keys);
            }
            if (list.Count == 0) throw new GestaltLabException("no photos given", "pass --images PATH…, --manifest FILE or --boxes FILE.csv");
            // Before any photo: a table that cannot be written at the end would cost the whole batch.
            AtomicFile.CheckWritable(p.GetValue(output)!, "landmarks.csv");
            AtomicFile.CheckReplaceable(p.GetValue(output)!, "image,face,status,", "gestaltlab landmarks");

            // Boxes are matched to photos by the path as listed, by the path relative to the manifest's folder (as the
            // manifest lists it), or by file name when no other listed photo shares it (never one photo's box for another).
            Func<string, IReadOnlyList<FaceBox>>? boxesOf = null;
            Func<string, string?> boxProblemOf = _ => null;
            if (boxMap is not null)
            {
                string? manifestDir = p.GetValue(manifest) is { } mf ? Path.GetDirectoryName(Path.GetFullPath(mf)) : null;
                var uniqueNames = list.GroupBy(Path.GetFileName, StringComparer.Ordinal).Where(g => g.Count() == 1).Select(g => g.Key!).ToHashSet(StringComparer.Ordinal);
                string? KeyOf(string path)
                {
                    if (boxMap.ContainsKey(path)) return path;
                    if (manifestDir is not null && boxMap.ContainsKey(Path.GetRelativePath(manifestDir, path))) return Path.GetRelativePath(manifestDir, path);
                    string name = Path.GetFileName(path);
                    return uniqueNames.Contains(name) && boxMap.ContainsKey(name) ? name : null;
                }
                boxesOf = path => KeyOf(path) is { } key ? boxMap[key] : [];
                boxProblemOf = path => KeyOf(path) is { } key && boxErrors.TryGetValue(key, out var why) ? why : null;
            }
            var predictor = ShapePredictor.LoadShared(p.GetValue(model));
            using var detector = boxMap is null ? new HaarFaceDetector() : null;
            var rows = new List<string[]>[list.Count];
            int bad = 0;
            var noFaceWhy = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.Ordinal);
            await CliProgress.RunAsync(progress =>
            {
                long done = 0;
                var po = new ParallelOptions { MaxDegreeOfParallelism = p.GetValue(threads) > 0 ? p.GetValue(threads) : Environment.ProcessorCount, CancellationToken = ct };
                Parallel.For(0, list.Count, po, i =>
                {
                    rows[i] = LandmarkPhoto(list[i], predictor, detector, boxesOf, boxProblemOf, ref bad, noFaceWhy);
                    progress.Report(new ProgressUpdate("landmarks", Interlocked.Increment(ref done), list.Count));
                });
                return 0;
            });
            var header = new List<string> { "image", "face", "status", "left", "top", "right", "bottom" };
            for (int j = 0; j < 68; j++) { header.Add($"x{j}"); header.Add($"y{j}"); }
            var all = rows.SelectMany(r => r).ToList();
            Csv.Write(p.GetValue(output)!, header, all);
            // Beside the table, what made it: another model file or detector gives other points for the same photos.
            string record = ModelCli.WriteProvenance(p.GetValue(output)!, "gestaltlab landmarks", new System.Text.Json.Nodes.JsonObject
            {
                ["table"] = Path.GetFullPath(p.GetValue(output)!),
                ["photos"] = list.Count,
                ["landmark_model"] = predictor.Source,
                ["landmark_model_sha256"] = File.Exists(predictor.Source) ? RunManifest.ComputeFileHash(predictor.Source) : null,
                ["boxes"] = p.GetValue(boxes) is { } bf ? Path.GetFullPath(bf) : null,
                ["detector"] = detector is null ? "given boxes" : detector.Name,
                ["min_face_fraction"] = detector?.Options.MinFaceFraction,
            });
            int faces = all.Count(r => r[1] != "");
            int noFace = all.Count(r => r[2] == FaceStatus.NoFace.ToCsv());
            Console.WriteLine($"{faces} face(s) in {list.Count} photo(s) → {p.GetValue(output)} (how it was made: {Path.GetFileName(record)})"
                              + (noFace > 0 ? $"; {noFace} photo(s) without a face (status no_face)" : "")
                              + (bad > 0 ? $"; {bad} photo(s) unreadable and skipped (status unreadable)" : ""));
            // Each by name, as predict names the photos it skips (the table's rows say no_face but not where to look).
            if (noFace > 0)
                ModelCli.PrintSkipped(all.Where(r => r[2] == FaceStatus.NoFace.ToCsv()).Select(r => (r[0], noFaceWhy.GetValueOrDefault(r[0], "no face"))).ToList());
            // As predict: one bad photo never fails the batch, but a batch where no photo gave a face did not do its job.
            return faces > 0 ? 0 : 1;
        });
        return cmd;
    }

    private static readonly FacePipelineOptions Quality = new();

    private static List<string[]> LandmarkPhoto(string path, ShapePredictor predictor, IFaceDetector? detector,
        Func<string, IReadOnlyList<FaceBox>>? boxesOf, Func<string, string?> boxProblemOf, ref int bad, System.Collections.Concurrent.ConcurrentDictionary<string, string> noFaceWhy)
    {
        RgbImage image;
        try
        {
            image = ImageLoader.Load(path);
        }
        catch (GestaltLabException e)
        {
            Interlocked.Increment(ref bad);
            Console.Error.WriteLine($"skipped: {e.Message.Split('\n')[0]}");
            return [Row(path, "", FaceStatus.Unreadable, null, null)];
        }
        try
        {
            IReadOnlyList<FaceBox> boxes = boxesOf is not null ? boxesOf(path) : detector!.Detect(image);
            // A given box that misses the photo entirely would give landmarks far outside it: no face there.
            if (boxesOf is not null && boxes.Count > 0 && boxes.All(b => b.Right < 0 || b.Bottom < 0 || b.Left >= image.Width || b.Top >= image.Height))
            {
                noFaceWhy[path] = $"its box{(boxes.Count > 1 ? "es lie" : " lies")} outside the {image.Width}×{image.Height} photo";
                return [Row(path, "", FaceStatus.NoFace, null, null)];
            }
            boxes = boxesOf is null ? boxes : boxes.Where(b => !(b.Right < 0 || b.Bottom < 0 || b.Left >= image.Width || b.Top >= image.Height)).ToList();
            if (boxes.Count == 0)
            {
                noFaceWhy[path] = boxesOf is null ? "no face found" : boxProblemOf(path) is { } why ? why : "no face box for it in --boxes";
                return [Row(path, "", FaceStatus.NoFace, null, null)];
            }
            var status = boxes.Count > 1 && boxesOf is null ? FaceStatus.MultipleFaces : FaceStatus.Ok;
            // As predict and align flag them (small or cut off; no confidence passes here), low_quality taking precedence.
            FaceStatus StatusOf(FaceBox b) => FacePipeline.QualityProblems(image, b, float.NaN, Quality).Count > 0 ? FaceStatus.LowQuality : status;
            return boxes.Select((b, k) => Row(path, k.ToString(CultureInfo.InvariantCulture), StatusOf(b), b, predictor.Predict(image, b))).ToList();
        }
        catch (Exception e) when (FacePipeline.IsPhotoFailure(e))
        {
            // One photo no step can work on (e.g. a box outside it) must not lose the other photos' landmarks. It was read,
            // so it is no_face (as FacePipeline reports such a photo), not unreadable.
            string message = e.Message.Split('\n')[0];
            noFaceWhy[path] = message.StartsWith(path + ": ", StringComparison.Ordinal) ? message[(path.Length + 2)..] : message;
            return [Row(path, "", FaceStatus.NoFace, null, null)];
        }
    }

    private static string[] Row(string image, string face, FaceStatus status, FaceBox? box, FaceLandmarks? lm)
    {
        var r = new string[7 + 136];
        r[0] = image; r[1] = face; r[2] = status.ToCsv();
        string I(int? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "";
        r[3] = I(box?.Left); r[4] = I(box?.Top); r[5] = I(box?.Right); r[6] = I(box?.Bottom);
        for (int k = 0; k < 136; k++) r[7 + k] = lm is null ? "" : lm.Points[k / 2][k % 2].ToString("R", CultureInfo.InvariantCulture);
        return r;
    }
}
