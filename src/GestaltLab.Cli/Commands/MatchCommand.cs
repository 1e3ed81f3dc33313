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
    // What every JSON file this command writes holds, so that --out replaces only such a file.
    private const string Mark = "\"kind\": \"face_space_";

    // A photo this close to a gallery photo is taken for that photo (a copy, another path to it, a re-saved one).
    private const double SamePhoto = 0.999;

    public Command Create()
    {
        var model = new Option<string>("--model", "--run") { Description = "Run directory written by `gestaltlab train` or `demo`: its nets span the face space.", Required = true };
        var gallery = new Option<string>("--gallery") { Description = "Aligned data folder (`gestaltlab align` with the run's regions, or the run's own RUN/aligned) whose labelled photos are the gallery: every syndrome there is ranked, those the model does not know included; or a gallery file written by --save-gallery (to match photos without embedding the gallery again).", Required = true };
        var images = new Argument<string[]>("IMAGE") { Description = "Photos to match against every labelled gallery photo; a folder stands for every photo in it. Without photos: the gallery folder's test photos are matched against its train and val photos, and the figures printed.", Arity = ArgumentArity.ZeroOrMore };
        var top = new Option<int>("--top") { Description = "How many syndromes to list per photo.", DefaultValueFactory = _ => 10 };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var output = new Option<string?>("--out") { Description = "Also write the result as JSON to this file (the figures without photos, as face_space.json; the rankings with them)." };
        var shrinkage = new Option<double>("--shrinkage") { Description = "Shrinkage of the gallery's within-syndrome covariance (0–1; 1 = no whitening beyond standardising).", DefaultValueFactory = _ => FaceSpace.DefaultShrinkage };
        var landmarks = new Option<string?>("--landmark-model") { Description = "dlib 68-point model (default: the system's)." };
        var saveGallery = new Option<string?>("--save-gallery") { Description = "Embed every labelled photo of the --gallery folder and write them to this file (readable by you only: it names photos), for later `match --gallery FILE` runs; then match the photos given, if any." };
        var noNames = new Option<bool>("--no-photo-names") { Description = "In the JSON (--json, --out), for a file that leaves the team: number the photos matched instead of naming them, leave out the nearest gallery photos' names and the people left out, and cut the model's and gallery's paths to their last name." };
        var cmd = new Command("match", "Rank syndromes by face-space matching against a labelled gallery (also syndromes the model was not trained on), or score that matching on the gallery folder's test photos.")
            { model, gallery, images, top, json, output, shrinkage, landmarks, saveGallery, noNames };
        cmd.SetAction(async (p, ct) =>
        {
            if (p.GetValue(top) < 1) throw new GestaltLabException($"--top {p.GetValue(top)}: must be at least 1");
            double alpha = p.GetValue(shrinkage);
            if (alpha is < 0 or > 1 || double.IsNaN(alpha)) throw new GestaltLabException(string.Create(CultureInfo.InvariantCulture, $"--shrinkage {alpha}: must be between 0 and 1"));
            string source = p.GetValue(gallery)!;
            var arguments = p.GetValue(images) ?? [];
            string? saveTo = p.GetValue(saveGallery);
            bool savedGallery = File.Exists(source);
            // Said before the model loads or the gallery is embedded (tens of seconds to minutes).
            if (!savedGallery && !Directory.Exists(source))
                throw new GestaltLabException($"{source}: no such folder or gallery file", "give an aligned data folder (the demo's run holds one: --gallery RUN/aligned) or a file written by --save-gallery");
            if (savedGallery && !FaceSpace.IsSaved(source))
                throw new GestaltLabException($"{source}: not a face-space gallery file", "give an aligned data folder, or a file written by `gestaltlab match --save-gallery`");
            if (saveTo is not null && arguments.Length == 0 && p.GetValue(output) is not null)
                throw new GestaltLabException("--out: with --save-gallery and no photos nothing is matched, so there is nothing to write there", "name photos to match, or leave out --out");
            if (savedGallery && arguments.Length == 0)
                throw new GestaltLabException($"{source}: a saved gallery matches photos; name them, or give the aligned folder to score the matching on its test photos");
            if (savedGallery && saveTo is not null)
                throw new GestaltLabException($"--save-gallery {saveTo}: the gallery is a saved one already ({source})");
            if (!savedGallery && !FaceDatasetAligner.IsAligned(source))
                throw new GestaltLabException($"{source}: not an aligned data folder (no regions.json or regions/)",
                    $"align it with the model's regions first: gestaltlab align --data {source} --out ALIGNED --regions {Path.Combine(p.GetValue(model)!, "regions.json")}"
                    + (Path.Combine(p.GetValue(model)!, "aligned") is var own && Directory.Exists(own) ? $"; the run's own aligned photos are --gallery {own}" : ""));
            // Held to the end: a second match into the same file would replace this one's when it finished.
            using var outLock = p.GetValue(output) is { } lockedFile ? FolderLock.AcquireFile(lockedFile, "write the matching to") : null;
            if (p.GetValue(output) is { } outFile)
            {
                OwnerOnlyFolder.Create(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
                AtomicFile.CheckWritable(outFile, "face_space.json");
                AtomicFile.CheckReplaceable(outFile, Mark, "gestaltlab match");
            }
            if (saveTo is not null)
            {
                AtomicFile.CheckWritable(saveTo, "gallery.pt", ownerOnly: true);
                AtomicFile.CheckReplaceable(saveTo, "\"kind\":\"face_space_gallery\"", "gestaltlab match --save-gallery", "--save-gallery");
            }
            // A misspelt photo is a mistake in the command: said before the gallery is embedded, not after.
            var withoutPhotos = new List<string>();
            var photos = ModelCli.ExpandFolders(arguments, withoutPhotos).ToList();
            var missing = ModelCli.Missing(arguments);
            if (arguments.Length > 0 && photos.Count == 0)
                throw new GestaltLabException(missing.Count > 0 ? $"{string.Join(", ", missing.Take(5))}: no such file or folder" : $"{string.Join(", ", arguments.Take(5))}: no photos there");

            using var m = GestaltModel.Load(p.GetValue(model)!);
            var options = new Output(p.GetValue(top), p.GetValue(json), p.GetValue(output), !p.GetValue(noNames));
            if (arguments.Length == 0 && saveTo is null) return await Evaluate(m, source, alpha, options, ct);
            // Every labelled photo of the folder is a gallery photo: a new face is matched against all the data there is.
            var space = savedGallery ? FaceSpace.Load(source, m, alpha)
                : await CliProgress.RunAsync(progress => FaceSpace.FromAligned(m, source, null, alpha, progress, ct));
            if (saveTo is not null)
            {
                space.Save(saveTo);
                if (!options.Json) Console.WriteLine($"gallery saved: {saveTo} ({space.Gallery.Count} photos of {space.Syndromes.Count} syndromes)");
                else if (arguments.Length == 0)
                    Console.WriteLine(JsonSerializer.Serialize(new { kind = "face_space_gallery_saved", file = Path.GetFullPath(saveTo), gallery_images = space.Gallery.Count, gallery_syndromes = space.Syndromes.Count },
                        new JsonSerializerOptions { WriteIndented = true }));
                if (arguments.Length == 0) return 0;
            }
            int code = await MatchPhotos(m, space, source, photos, options, p.GetValue(landmarks), ct);
            if (ModelCli.ReportPathMistakes(withoutPhotos, missing)) return 1;
            return code;
        });
        return cmd;
    }

    private sealed record Output(int Top, bool Json, string? File, bool Named);

    private static string Plural(int n, string one, string many) => n == 1 ? $"{n} {one}" : $"{n:N0} {many}";

    private static async Task<int> Evaluate(GestaltModel m, string galleryDir, double shrinkage, Output o, CancellationToken ct)
    {
        var r = await CliProgress.RunAsync(progress => FaceSpaceEvaluation.Evaluate(m, galleryDir, shrinkage, progress, ct));
        // A run holds one set of face-space figures: those of other data it replaces are said, not dropped unseen.
        string? replaced = null;
        if (o.File is not null && File.Exists(o.File))
        {
            try
            {
                var before = FaceSpaceMetrics.Load(o.File);
                string Trim(string path) => Path.TrimEndingDirectorySeparator(path);
                // Written with --no-photo-names, the earlier file names its folder by its last name only.
                bool otherFolder = Path.IsPathRooted(before.Data) ? Trim(before.Data) != Trim(r.Data) : Path.GetFileName(Trim(r.Data)) != before.Data;
                if (otherFolder) replaced = $"  (it replaces the figures of {before.Data}, written {before.CreatedUtc})";
                else if (before.DataHash is { } was && r.DataHash is { } now && was != now) replaced = $"  (it replaces the figures of this folder's earlier content, written {before.CreatedUtc})";
            }
            catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException) { }
        }
        // The figures name no photo but in the notes of possibly shared people and of a left-out oracle; with
        // --no-photo-names those notes name nobody and the folders are cut to their last name.
        if (!o.Named) r = r with
        {
            Model = m.Directory is { } d ? Path.GetFileName(Path.TrimEndingDirectorySeparator(d)) : null, Data = Path.GetFileName(Path.TrimEndingDirectorySeparator(r.Data)),
            SharedPeople = r.SharedPeople is null ? null : FaceSpaceMetrics.SharedPeopleUnnamed,
            // Only the note of edited labels names a photo and its person.
            OracleLeftOut = r.OracleLeftOut is { } why && why.EndsWith(FaceSpaceMetrics.OracleLabelsChanged, StringComparison.Ordinal) ? FaceSpaceMetrics.OracleLabelsChanged : r.OracleLeftOut,
        };
        string text = r.ToJson();
        if (o.File is not null) AtomicFile.WriteAllText(o.File, text + "\n", ownerOnly: true);
        if (o.Json)
        {
            Console.WriteLine(text);
            return 0;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"face-space matching: {Plural(r.All.NImages, "test photo", "test photos")} against {Plural(r.NGalleryImages, "gallery photo", "gallery photos")} ({string.Join(" + ", r.GallerySplits)}) of {r.NGallerySyndromes} syndromes, {r.NGallerySyndromesUnknown} of them unknown to the model"));
        string K(int k, double v) => k >= r.NGallerySyndromes ? "—" : v.ToString("P1", CultureInfo.InvariantCulture);
        Console.WriteLine($"  {"photos",-22} {"n",5} {"syndromes",9}  {"top-1 (95% interval)",-22} {"top-5",7} {"top-10",7} {"top-30",7}   per syndrome: {"top-1",7} {"top-10",7}");
        foreach (var (name, s) in r.Groups)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-22} {s.NImages,5} {s.NSyndromes,9}  {K(1, s.Top1) + (s.Top1Interval is [var lo, var hi] ? $" ({lo * 100:F0}–{hi * 100:F0})" : ""),-22} {K(5, s.Top5),7} {K(10, s.Top10),7} {K(30, s.Top30),7}                 {K(1, s.PerDisorderTop1),7} {K(10, s.PerDisorderTop10),7}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  chance: top-1 {r.ChanceTop1:P1}, top-10 {K(10, r.ChanceTop10)} (a random ranking of {r.NGallerySyndromes} syndromes)"));
        if (r.Oracle is { } oracle)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  the data's oracle (Bayes on the true traits, equal priors) on the same photos: top-1 {oracle.Top1:P1}, top-5 {K(5, oracle.Top5)}, top-10 {K(10, oracle.Top10)}"));
            // Whether the syndromes the model never learned are harder in themselves, or only to the model.
            if (r.Groups.Count > 1)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    top-1 by group: {string.Join(", ", r.Groups.Skip(1).Where(x => x.Scores.Oracle is not null).Select(x => $"{x.Name} {x.Scores.Oracle!.Top1:P1}"))}"));
        }
        if (r.OracleLeftOut is { } leftOut) Console.WriteLine($"  note: {Terminal.Printable(leftOut)}");
        if (r.VersusClassifier is { } v)
        {
            bool ten = v.ClassifierSyndromes > 10 && r.NGallerySyndromes > 10;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  the model's classifier on the same {Plural(v.NImages, "photo", "photos")} (ranking its {v.ClassifierSyndromes} syndromes): top-1 {v.ClassifierTop1:P1}{(ten ? $", top-10 {v.ClassifierTop10:P1}" : "")}; matching minus classifier, points (95% interval paired over people): top-1 {v.DifferenceText(1)}{(ten ? $", top-10 {v.DifferenceText(10)}" : "")}"));
        }
        if (r.Strata is { } strata) EvaluateCommand.PrintStrata(strata);
        if (r.NWithoutGallery > 0)
            Console.WriteLine($"  note: {Plural(r.NWithoutGallery, "test photo", "test photos")} of syndromes without gallery photos were not scored (they cannot be matched)");
        if (r.SharedPeople is { } shared) Console.WriteLine($"  warning: {Terminal.Printable(shared)}");
        if (o.File is not null)
        {
            Console.WriteLine($"figures: {o.File}");
            if (replaced is not null) Console.WriteLine(o.Named ? replaced : "  (it replaces figures of other data)");
            // Filed in the model's own run under the name the report reads, they become a section of its report.
            string folder = Path.GetDirectoryName(Path.GetFullPath(o.File))!;
            if (Path.GetFileName(o.File) == FaceSpaceMetrics.FileName && m.Directory is { } run && Path.TrimEndingDirectorySeparator(folder) == Path.TrimEndingDirectorySeparator(Path.GetFullPath(run)))
                Console.WriteLine($"  `gestaltlab report --run {run}` shows them in its \"Face-space matching\" section");
            else if (m.Directory is { } own)
                Console.WriteLine($"  (written as {Path.Combine(own, FaceSpaceMetrics.FileName)}, the run's report would show them)");
        }
        return 0;
    }

    private static Task<int> MatchPhotos(GestaltModel m, FaceSpace space, string gallerySource, IReadOnlyList<string> photos, Output o,
        string? landmarkModel, CancellationToken ct) => Task.Run(() =>
    {
        // A photo of the gallery's own data is recognised by its path, so that it is not matched to itself and its person.
        string? dataFolder = space.PhotoFolder;
        var subjectOf = new Dictionary<string, string>(StringComparer.Ordinal);
        if (dataFolder is not null)
            foreach (var g in space.Gallery) subjectOf.TryAdd(Path.GetFullPath(Path.Combine(dataFolder, g.Image)), g.Subject);
        // A copy of a gallery photo is recognised by its bytes: the gallery's files are listed by length once a photo is not
        // found by its path, and at most a few of the same length are read to compare (uncompressed photos of one size all
        // have one length; those are left to the embedding test below).
        Dictionary<long, List<(string File, string Subject)>>? bySize = null;
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        string Hash(string file) => hashes.TryGetValue(file, out var h) ? h : hashes[file] = RunManifest.ComputeFileHash(file);
        string? CopyOf(string image)
        {
            var info = new FileInfo(image);
            if (dataFolder is null || !info.Exists) return null;
            bySize ??= subjectOf.Select(kv => (File: kv.Key, Subject: kv.Value, Info: new FileInfo(kv.Key))).Where(g => g.Info.Exists)
                .GroupBy(g => g.Info.Length).ToDictionary(g => g.Key, g => g.Select(x => (x.File, x.Subject)).ToList());
            if (!bySize.TryGetValue(info.Length, out var same) || same.Count > 8) return null;
            string mine = Hash(info.FullName);
            return same.FirstOrDefault(g => Hash(g.File) == mine).Subject;
        }
        using var torchThreads = TorchRuntime.UseThreads(1);   // one photo at a time: see PredictCommand
        using var faces = new FacePipeline(m.FacePipelineOptions(landmarkModel));
        var results = new List<object>();
        int failed = 0;
        if (!o.Json)
        {
            Console.WriteLine($"gallery: {Plural(space.Gallery.Count, "photo", "photos")} of {space.Syndromes.Count} syndromes, {space.Syndromes.Count(s => !space.KnownSyndromes.Contains(s))} of them unknown to the model ({gallerySource})");
            // Fewer photos than dimensions: the whitening rests on its shrinkage, and similarities spread towards ±1.
            if (space.Gallery.Count < space.Dimensions)
                Console.WriteLine($"  note: fewer gallery photos ({space.Gallery.Count}) than the embedding has dimensions ({space.Dimensions}): similarities are cosines in a space fitted to few photos, not probabilities; read the order, not the values");
        }
        var progress = o.Json && photos.Count > 1 ? ProgressReporters.Console() : null;
        string Shown(string image, int index) => o.Named ? image : $"photo {index + 1}";
        foreach (var image in photos)
        {
            int index = results.Count;
            ct.ThrowIfCancellationRequested();
            progress?.Report(new ProgressUpdate("match", results.Count, photos.Count));
            var prediction = m.PredictImage(faces, image, out var face);
            string? problem = o.Named ? face.Problem : ModelCli.UnnamedProblem(image, index, face.Problem);
            if (prediction is null)
            {
                failed++;
                if (!o.Json) Console.Error.WriteLine($"{Terminal.Printable(image)}: skipped ({face.Status.ToCsv()}: {Terminal.Printable(ModelCli.ProblemAfterPath(image, face.Problem) ?? "")})");
                results.Add(new { image = Shown(image, index), status = face.Status.ToCsv(), problem });
                continue;
            }
            string? own = subjectOf.GetValueOrDefault(Path.GetFullPath(image)) ?? CopyOf(image);
            string? sameAs = null;
            // (Without the gallery's photos at hand — a saved gallery — or for a re-saved copy, by its embedding.)
            if (own is null && space.Nearest(prediction.Embedding, 1) is [var nearest] && nearest.Similarity >= SamePhoto)
                (own, sameAs) = (nearest.Subject, nearest.Image);
            var ranked = space.Rank(prediction.Embedding, o.Top, excludeSubject: own);
            results.Add(new
            {
                image = Shown(image, index), status = face.Status.ToCsv(), problem,
                in_gallery = own is not null,
                gallery_person_left_out = o.Named ? own : null,
                syndromes = ranked.Select(r => new
                {
                    rank = r.Rank, syndrome = r.Syndrome, similarity = r.Similarity, known_to_model = r.KnownToModel, gallery_photos = r.GalleryPhotos,
                    nearest_image = o.Named ? r.NearestImage : null, nearest_similarity = r.NearestSimilarity,
                }).ToList(),
            });
            if (o.Json) continue;
            Console.WriteLine($"{Terminal.Printable(image)} ({face.Status.ToCsv()}{(face.Problem is null ? "" : ": " + Terminal.Printable(face.Problem))})");
            if (sameAs is not null)
                Console.WriteLine($"  (the same photo as gallery photo {Terminal.Printable(sameAs)}, similarity ≥ {SamePhoto}: its person {Terminal.Printable(own!)}'s photos are left out of the gallery)");
            else if (own is not null)
                Console.WriteLine($"  (a photo of the gallery: its person {Terminal.Printable(own)}'s photos are left out of it)");
            if (ranked.Count == 0)
            {
                Console.WriteLine("  no gallery photos are left once its person's are left out: nothing to rank");
                continue;
            }
            Console.WriteLine($"  {"rank",4}  {"syndrome",-32} {"similarity",10}  {"model",-7} {"photos",6}  nearest gallery photo");
            foreach (var r in ranked)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {r.Rank,4}  {Terminal.Printable(r.Syndrome),-32} {r.Similarity,10:F3}  {(r.KnownToModel ? "known" : "unknown"),-7} {r.GalleryPhotos,6}  {Terminal.Printable(r.NearestImage)} ({r.NearestSimilarity:F3})"));
        }
        progress?.Report(new ProgressUpdate("match", results.Count, photos.Count));
        // The rankings with what made them, as predict's JSON: which model and gallery, which landmark model and versions.
        string runDir = Path.GetFullPath(m.Directory ?? ".");
        var (modelCreated, modelDataHash) = ModelPackage.RunProvenance(runDir);
        string landmarks = faces.Predictor.Source;
        string Cut(string path) => o.Named ? path : Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
        var document = new
        {
            kind = "face_space_matches",
            command = "gestaltlab match",
            model = Cut(runDir),
            model_created_utc = modelCreated,
            model_data_hash = modelDataHash,
            gallery = Cut(Path.GetFullPath(gallerySource)),
            gallery_images = space.Gallery.Count,
            gallery_syndromes = space.Syndromes.Count,
            gallery_syndromes_unknown_to_model = space.Syndromes.Count(s => !space.KnownSyndromes.Contains(s)),
            shrinkage = space.Shrinkage,
            top = o.Top,
            landmark_model = Cut(landmarks),
            landmark_model_sha256 = File.Exists(landmarks) ? RunManifest.ComputeFileHash(landmarks) : null,
            photo_names = o.Named,
            packages = RunManifest.PackageVersions(),
            created_utc = DateTime.UtcNow.ToString("O"),
            matches = results,
        };
        string text = JsonSerializer.Serialize(document, new JsonSerializerOptions { WriteIndented = true });
        if (o.Json) Console.WriteLine(text);
        if (o.File is not null)
        {
            AtomicFile.WriteAllText(o.File, text + "\n", ownerOnly: true);
            if (!o.Json) Console.WriteLine($"matches: {o.File}");
        }
        if (failed > 0) Console.Error.WriteLine($"{Plural(failed, "photo", "photos")} skipped{(o.Json ? " (each with its status and problem in the JSON)" : "")}");
        // One unusable photo never fails the batch: exit code 1 only when no photo could be matched.
        return failed == photos.Count ? 1 : 0;
    }, ct);
}
