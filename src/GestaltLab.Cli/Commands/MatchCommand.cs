using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GestaltLab.Ensemble;
using GestaltLab.Evaluation;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab match --model RUN --gallery ALIGNED [IMAGE…]</c>: face-space matching — syndromes ranked by the labelled
/// gallery photos a face lies closest to, those the model was never trained on included; without photos, the figures of
/// matching the gallery folder's test photos against its training and validation photos.
/// </summary>
internal sealed class MatchCommand : ICliCommand
{
    public Command Create()
    {
        var model = new Option<string>("--model") { Description = "Run directory written by `gestaltlab train` or `demo`: its nets span the face space.", Required = true };
        var gallery = new Option<string>("--gallery") { Description = "Aligned data folder (`gestaltlab align` with the run's regions, or the run's own RUN/aligned) whose labelled photos are the gallery: every syndrome there is ranked, those the model does not know included.", Required = true };
        var images = new Argument<string[]>("IMAGE") { Description = "Photos to match against every labelled gallery photo; a folder stands for every photo in it. Without photos: the gallery folder's test photos are matched against its train and val photos, and the figures printed.", Arity = ArgumentArity.ZeroOrMore };
        var top = new Option<int>("--top") { Description = "How many syndromes to list per photo.", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var output = new Option<string?>("--out") { Description = "Also write the result as JSON to this file (the figures, face_space.json, without photos; the rankings with them)." };
        var shrinkage = new Option<double>("--shrinkage") { Description = "Shrinkage of the gallery's within-syndrome covariance (0–1; 1 = no whitening).", DefaultValueFactory = _ => FaceSpace.DefaultShrinkage };
        var landmarks = new Option<string?>("--landmark-model") { Description = "dlib 68-point model (default: the system's)." };
        var cmd = new Command("match", "Rank syndromes by face-space matching against a labelled gallery (also syndromes the model was not trained on), or score that matching on the gallery folder's test photos.")
            { model, gallery, images, top, json, output, shrinkage, landmarks };
        cmd.SetAction(async (p, ct) =>
        {
            if (p.GetValue(top) < 1) throw new GestaltLabException($"--top {p.GetValue(top)}: must be at least 1");
            double alpha = p.GetValue(shrinkage);
            if (alpha is < 0 or > 1 || double.IsNaN(alpha)) throw new GestaltLabException(string.Create(CultureInfo.InvariantCulture, $"--shrinkage {alpha}: must be between 0 and 1"));
            string galleryDir = p.GetValue(gallery)!;
            // A data folder of photos is not a gallery yet: said before the model loads.
            if (!FaceDatasetAligner.IsAligned(galleryDir))
                throw new GestaltLabException($"{galleryDir}: not an aligned data folder (no regions.json or regions/)",
                    $"align it with the model's regions first: gestaltlab align --data {galleryDir} --out ALIGNED --regions {Path.Combine(p.GetValue(model)!, "regions.json")}; the demo's run holds its own: --gallery RUN/aligned");
            // Before any work: a result that cannot be written at the end would cost it all.
            if (p.GetValue(output) is { } outFile)
            {
                OwnerOnlyFolder.Create(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
                AtomicFile.CheckWritable(outFile, "face_space.json");
                AtomicFile.CheckReplaceable(outFile, "\"gallery", "gestaltlab match");
            }
            using var m = GestaltModel.Load(p.GetValue(model)!);
            var photos = p.GetValue(images) ?? [];
            return photos.Length == 0
                ? await Evaluate(m, galleryDir, alpha, p.GetValue(json), p.GetValue(output), ct)
                : await MatchPhotos(m, galleryDir, photos, alpha, p.GetValue(top), p.GetValue(json), p.GetValue(output), p.GetValue(landmarks), ct);
        });
        return cmd;
    }

    private static async Task<int> Evaluate(GestaltModel m, string galleryDir, double shrinkage, bool json, string? outFile, CancellationToken ct)
    {
        var r = await CliProgress.RunAsync(progress => FaceSpaceEvaluation.Evaluate(m, galleryDir, shrinkage, progress, ct));
        string text = JsonSerializer.Serialize(r, new JsonSerializerOptions { WriteIndented = true });
        if (outFile is not null) ModelCli.WriteOwnerOnly(outFile, text + "\n");
        if (json)
        {
            Console.WriteLine(text);
            return 0;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"face-space matching: {r.All.NImages} test photos against {r.NGalleryImages} gallery photos ({string.Join(" + ", r.GallerySplits)}) of {r.NGallerySyndromes} syndromes, {r.NGallerySyndromesUnknown} of them unknown to the model"));
        string K(int k, double v) => k >= r.NGallerySyndromes ? "—" : v.ToString("P1", CultureInfo.InvariantCulture);
        Console.WriteLine($"  {"photos",-22} {"n",5} {"syndromes",9}  {"top-1",7} {"top-5",7} {"top-10",7} {"top-30",7}   per syndrome: {"top-1",7} {"top-10",7}");
        // Known and unknown apart only when there are both (one of them would repeat the first row).
        var rows = r.Known is not null && r.Unknown is not null ? new[] { ("all", r.All), ("known to the model", r.Known), ("unknown to the model", r.Unknown) } : [("all", r.All)];
        foreach (var (name, s) in rows)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {name,-22} {s.NImages,5} {s.NSyndromes,9}  {K(1, s.Top1),7} {K(5, s.Top5),7} {K(10, s.Top10),7} {K(30, s.Top30),7}                 {K(1, s.PerDisorderTop1),7} {K(10, s.PerDisorderTop10),7}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  chance: top-1 {r.ChanceTop1:P1}, top-10 {K(10, r.ChanceTop10)} (a random ranking of {r.NGallerySyndromes} syndromes)"));
        if (r.NWithoutGallery > 0)
            Console.WriteLine($"  note: {r.NWithoutGallery} test photo(s) of syndromes without gallery photos were not scored (they cannot be matched)");
        if (outFile is not null) Console.WriteLine($"figures: {outFile}");
        return 0;
    }

    private static async Task<int> MatchPhotos(GestaltModel m, string galleryDir, string[] arguments, double shrinkage, int top, bool json, string? outFile,
        string? landmarkModel, CancellationToken ct)
    {
        // Every labelled photo of the folder is a gallery photo: a new face is matched against all the data there is.
        var space = await CliProgress.RunAsync(progress => FaceSpace.FromAligned(m, galleryDir, null, shrinkage, progress, ct));
        // A photo of the gallery's own data is recognised by its path, so that it is not matched to itself and its person.
        string? dataFolder = FaceDatasetAligner.DataFolderOf(galleryDir);
        var subjectOf = new Dictionary<string, string>(StringComparer.Ordinal);
        if (dataFolder is not null)
            foreach (var g in space.Gallery) subjectOf.TryAdd(Path.GetFullPath(Path.Combine(dataFolder, g.Image)), g.Subject);
        var withoutPhotos = new List<string>();
        var photos = ModelCli.ExpandFolders(arguments, withoutPhotos).ToList();
        var missing = arguments.Where(a => !File.Exists(a) && !Directory.Exists(a)).Distinct().ToList();
        using var torchThreads = TorchRuntime.UseThreads(1);   // one photo at a time: see PredictCommand
        using var faces = new FacePipeline(m.FacePipelineOptions(landmarkModel));
        var results = new List<object>();
        int failed = 0;
        if (!json)
            Console.WriteLine($"gallery: {space.Gallery.Count} photos of {space.Syndromes.Count} syndromes, {space.Syndromes.Count(s => !space.KnownSyndromes.Contains(s))} of them unknown to the model ({galleryDir})");
        var progress = json && photos.Count > 1 ? ProgressReporters.Console() : null;
        foreach (var image in photos)
        {
            ct.ThrowIfCancellationRequested();
            progress?.Report(new ProgressUpdate("match", results.Count, photos.Count));
            var prediction = m.PredictImage(faces, image, out var face);
            if (prediction is null)
            {
                failed++;
                string? why = ModelCli.ProblemAfterPath(image, face.Problem);
                if (!json) Console.Error.WriteLine($"{Terminal.Printable(image)}: skipped ({face.Status.ToCsv()}: {Terminal.Printable(why ?? "")})");
                results.Add(new { image, status = face.Status.ToCsv(), problem = face.Problem });
                continue;
            }
            string? own = subjectOf.GetValueOrDefault(Path.GetFullPath(image));
            var ranked = space.Rank(prediction.Embedding, top, excludeSubject: own);
            results.Add(new
            {
                image, status = face.Status.ToCsv(), problem = face.Problem,
                gallery_person_left_out = own,
                syndromes = ranked.Select(r => new
                {
                    rank = r.Rank, syndrome = r.Syndrome, similarity = r.Similarity, known_to_model = r.KnownToModel,
                    gallery_photos = r.GalleryPhotos, nearest_image = r.NearestImage, nearest_similarity = r.NearestSimilarity,
                }).ToList(),
            });
            if (json) continue;
            Console.WriteLine($"{Terminal.Printable(image)} ({face.Status.ToCsv()}{(face.Problem is null ? "" : ": " + Terminal.Printable(face.Problem))})");
            if (own is not null) Console.WriteLine($"  (a photo of the gallery: its person {Terminal.Printable(own)}'s photos are left out of it)");
            Console.WriteLine($"  {"rank",4}  {"syndrome",-32} {"similarity",10}  {"model",-7} {"photos",6}  nearest gallery photo");
            foreach (var r in ranked)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {r.Rank,4}  {Terminal.Printable(r.Syndrome),-32} {r.Similarity,10:F3}  {(r.KnownToModel ? "known" : "unknown"),-7} {r.GalleryPhotos,6}  {Terminal.Printable(r.NearestImage)} ({r.NearestSimilarity:F3})"));
        }
        progress?.Report(new ProgressUpdate("match", results.Count, photos.Count));
        var document = new
        {
            command = "gestaltlab match",
            model = m.Directory,
            gallery = Path.GetFullPath(galleryDir),
            gallery_images = space.Gallery.Count,
            gallery_syndromes = space.Syndromes.Count,
            shrinkage = space.Shrinkage,
            top,
            packages = RunManifest.PackageVersions(),
            created_utc = DateTime.UtcNow.ToString("O"),
            matches = results,
        };
        string text = JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true });
        if (json) Console.WriteLine(text);
        if (outFile is not null)
        {
            ModelCli.WriteOwnerOnly(outFile, text + "\n");
            if (!json) Console.WriteLine($"matches: {outFile}");
        }
        if (failed > 0) Console.Error.WriteLine($"{failed} photo(s) skipped{(json ? " (each with its status and problem in the JSON)" : "")}");
        foreach (var folder in withoutPhotos) Console.Error.WriteLine($"error: {Terminal.Printable(folder)}");
        if (missing.Count > 0)
            Console.Error.WriteLine($"error: {missing.Count} of the paths named do not exist: {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
        if (missing.Count > 0 || withoutPhotos.Count > 0) return 1;
        return failed == photos.Count ? 1 : 0;
    }
}
