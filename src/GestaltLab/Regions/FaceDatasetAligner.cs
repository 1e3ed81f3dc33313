using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Runtime;

namespace GestaltLab.Regions;

/// <summary>Settings of <see cref="FaceDatasetAligner.Run"/>.</summary>
public sealed record AlignDatasetOptions
{
    /// <summary>Worker threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Use the dataset's ground-truth <c>landmarks.csv</c> (synthetic data) instead of detecting and landmarking.</summary>
    public bool UseGroundTruthLandmarks { get; init; }
    /// <summary>Write region crops (<c>regions/NAME/…png</c>).</summary>
    public bool WriteRegions { get; init; } = true;
    /// <summary>Write an overlay per photo (<c>overlays/…png</c>: landmarks and region squares on the aligned face).</summary>
    public bool WriteOverlays { get; init; }
    /// <summary>Replace an earlier alignment in the output folder (what it wrote; a training run or a data set there is still refused).</summary>
    public bool Force { get; init; }
    /// <summary>
    /// Start an interrupted alignment over rather than take up the photos it finished (<c>align --force</c>). Without it,
    /// an interrupted alignment of the same data and settings resumes, <see cref="Force"/> or not.
    /// </summary>
    public bool StartOver { get; init; }
}

/// <summary>What <see cref="FaceDatasetAligner.Run"/> did.</summary>
/// <param name="Images">Photos listed.</param>
/// <param name="Aligned">Photos with a face (ok, multiple_faces or low_quality), written out.</param>
/// <param name="StatusCounts">Photos per QC status (CSV names).</param>
/// <param name="Skipped">Photos skipped (unreadable or no face), with the reason.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Resumed">Photos an interrupted alignment had finished, kept rather than aligned again in <paramref name="Seconds"/>.</param>
public sealed record AlignDatasetSummary(int Images, int Aligned, IReadOnlyDictionary<string, int> StatusCounts,
    IReadOnlyList<(string Image, string Problem)> Skipped, double Seconds, int Resumed = 0);

/// <summary>What <see cref="FaceDatasetAligner.EnsureAligned"/> found or did.</summary>
/// <param name="Directory">The aligned folder to train or score on.</param>
/// <param name="Summary">The alignment it ran; null when an existing one was used.</param>
/// <param name="Realigned">Why an earlier alignment in the folder was not reused; null when there was none, or it was used.</param>
public sealed record EnsuredAlignment(string Directory, AlignDatasetSummary? Summary, string? Realigned);

/// <summary>
/// Aligns a whole dataset folder: for every photo of <c>DIR/manifest.csv</c> (column <c>image</c>, relative to DIR; or
/// every image file under DIR when there is no manifest) it writes the aligned face, the region crops and a QC row.
/// Output: <c>aligned/…png</c>, <c>regions/NAME/…png</c>, <c>qc.csv</c>, <c>landmarks.csv</c> (photo pixels),
/// <c>manifest.csv</c> (the input manifest's rows for photos with a face, <c>image</c> now the aligned face, the original in
/// <c>source_image</c>), <c>regions.json</c> and <c>run.json</c>. Bad photos are reported and skipped, never fatal.
/// </summary>
public static class FaceDatasetAligner
{
    // The files an alignment writes beside its image folders (run.json last).
    private static readonly string[] OwnTables = ["qc.csv", "landmarks.csv", "regions.json", Manifest.FileName];

    /// <summary>Whether <paramref name="folder"/>'s <c>run.json</c> was written by an alignment.</summary>
    private static bool IsAlignment(string folder)
    {
        if (File.Exists(Path.Combine(folder, AlignmentMarker))) return true;
        if (!File.Exists(Path.Combine(folder, RunManifest.FileName))) return false;
        try { return RunManifest.Load(folder).Command == AlignCommandName; }
        catch (GestaltLabException) { return false; }
    }

    private const string AlignCommandName = "gestaltlab align";

    /// <summary>
    /// Whether <paramref name="folder"/> is an alignment's output (region crops and their set), finished or not: an
    /// alignment marks its folder before writing anything, so one killed part-way is never taken for photos to align
    /// (<see cref="EnsureAligned"/> refuses it as unfinished).
    /// </summary>
    public static bool IsAligned(string folder) =>
        File.Exists(Path.Combine(folder, AlignmentMarker)) || File.Exists(Path.Combine(folder, "regions.json")) && Directory.Exists(Path.Combine(folder, "regions"));

    // A data folder named by a file in it (its manifest.csv, a photo) is said to be one, with the folder to pass instead.
    private static GestaltLabException NoDataFolder(string data, string fix) =>
        File.Exists(data)
            ? new GestaltLabException($"{data}: is a file; a data folder is expected here", $"pass the folder holding it: {Path.GetDirectoryName(Path.GetFullPath(data))}")
            : new GestaltLabException($"{data}: data folder not found", fix);

    /// <summary>
    /// Training and scoring need each photo's syndrome and subject: a data folder that is not aligned must have a
    /// manifest, readable as training will read it (a missing column, an unknown split or a photo listed twice is
    /// reported in the user's file and line before any photo is aligned).
    /// </summary>
    /// <exception cref="GestaltLabException">No manifest, or one training could not read.</exception>
    public static void CheckLabelled(string data)
    {
        if (IsAligned(data) || !Directory.Exists(data)) return;
        if (File.Exists(Path.Combine(data, Manifest.FileName))) { Manifest.Load(data); return; }
        throw new GestaltLabException($"{data}: no {Manifest.FileName}, so no syndrome or subject per photo",
            "write one from a labels CSV (`gestaltlab manifest --images DIR --labels labels.csv`, or Manifest.FromImageFolder in C#)");
    }

    /// <summary>
    /// An aligned folder for <paramref name="data"/>, as <c>gestaltlab train</c> and <c>evaluate</c> get one: the data
    /// itself when it is a finished alignment; else <paramref name="alignedDirectory"/>, reused when it holds this data
    /// aligned the same way (crop size, landmark source, regions; <see cref="ReuseProblem"/>), or aligned (again).
    /// </summary>
    /// <param name="data">A data folder with its manifest, or an aligned folder.</param>
    /// <param name="alignedDirectory">Where to align it.</param>
    /// <param name="cropSize">The nets' input size.</param>
    /// <param name="groundTruth">Use the data's exact landmarks (<c>landmarks.csv</c>, synthetic data) instead of dlib's.</param>
    /// <param name="regions">The region set to cut (default: <see cref="RegionSet.Default"/> at <paramref name="cropSize"/>).</param>
    /// <param name="runDirectory">A run trained on the faces in <paramref name="alignedDirectory"/>: when they came from
    /// other data, the folder is not aligned again over them (refused).</param>
    /// <param name="progress">Stage <c>align</c>.</param>
    /// <param name="cancellationToken">Cancels between photos.</param>
    /// <exception cref="GestaltLabException">An unfinished alignment passed as data; no data folder or manifest; the run
    /// in <paramref name="runDirectory"/> was trained on faces of other data.</exception>
    public static EnsuredAlignment EnsureAligned(string data, string alignedDirectory, int cropSize, bool groundTruth = false, RegionSet? regions = null,
        string? runDirectory = null, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        if (IsAligned(data))
        {
            // run.json is written last: without it the alignment stopped part-way (its manifest may be an older run's), or
            // is being written right now (another command holds it: said as such, not as an interruption).
            if (!File.Exists(Path.Combine(data, RunManifest.FileName)))
                using (FolderLock.AcquireData(data, "read the alignment in", shared: true)) { }
            if (!File.Exists(Path.Combine(data, RunManifest.FileName)))
                throw new GestaltLabException($"{data}: an unfinished alignment (no run.json: it was interrupted)", "run the same `gestaltlab align` again (it resumes an unfinished alignment of the same data and settings), or pass the data folder it aligns");
            return new EnsuredAlignment(data, null, null);
        }
        if (!Directory.Exists(data)) throw NoDataFolder(data, "pass the folder written by `gestaltlab generate` or one holding your photos and their manifest.csv (`gestaltlab manifest`)");
        CheckLabelled(data);
        string? realigned = null;
        if (Directory.Exists(alignedDirectory))
        {
            realigned = ReuseProblem(data, alignedDirectory, cropSize, groundTruth, regions);
            if (realigned is null) return new EnsuredAlignment(alignedDirectory, null, null);
            if (!File.Exists(Path.Combine(alignedDirectory, RunManifest.FileName)) && File.Exists(Path.Combine(alignedDirectory, AlignmentMarker)))
                realigned = "the alignment there had been interrupted (taken up where it stopped, when its photos and settings are the same)";
            // A damaged alignment of the run's own data is made again identically; one of other data would replace the
            // faces the run was trained on.
            if (runDirectory is not null && File.Exists(Path.Combine(runDirectory, "config.json"))
                && SourceProblem(data, alignedDirectory, groundTruth) is string other)
                throw new GestaltLabException($"{runDirectory}: holds a run trained on faces aligned from other data or another landmark source ({other})",
                    "run it with the data and landmark source it started from, or choose a new run folder");
        }
        // An alignment a run made inside its own folder before alignments were marked, and interrupted then, is the run's
        // own: marked, so that it starts over as any interrupted alignment does (unmarked, it would be refused as a
        // folder of someone else's).
        string alignedFull = Path.GetFullPath(alignedDirectory).TrimEnd('/');
        if (Directory.Exists(alignedFull) && RunFolder.IsRun(Path.GetDirectoryName(alignedFull)!)
            && !File.Exists(Path.Combine(alignedFull, RunManifest.FileName)) && !File.Exists(Path.Combine(alignedFull, AlignmentMarker)))
            File.WriteAllText(Path.Combine(alignedFull, AlignmentMarker), "");
        using var pipeline = new FacePipeline(new FacePipelineOptions { Regions = regions ?? RegionSet.Default.WithSize(cropSize), ComputeConfidence = false });
        var summary = Run(data, alignedDirectory, pipeline, new AlignDatasetOptions { UseGroundTruthLandmarks = groundTruth, Force = true }, progress, cancellationToken);
        return new EnsuredAlignment(alignedDirectory, summary, realigned);
    }

    /// <summary>
    /// Hidden file an alignment writes into its output folder before it deletes or writes anything there: the folder is
    /// an alignment's (finished when run.json is there too) whatever an interruption left of it, and a folder without it
    /// is never taken for one by the names inside (a user's own aligned/ and manifest.csv).
    /// </summary>
    public const string AlignmentMarker = ".gestaltlab-align";

    /// <summary>Runs the job; progress stage <c>align</c>.</summary>
    /// <exception cref="GestaltLabException">The input folder or manifest is missing or malformed, or the output folder is not empty without <see cref="AlignDatasetOptions.Force"/> (or, with it, holds a run or data set rather than an earlier alignment).</exception>
    public static AlignDatasetSummary Run(string dataDir, string outDir, FacePipeline pipeline, AlignDatasetOptions? options = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new AlignDatasetOptions();
        var started = DateTime.UtcNow;
        if (!Directory.Exists(dataDir)) throw NoDataFolder(dataDir, "pass the folder written by `gestaltlab generate` or one holding your photos");
        string dataFull = Path.GetFullPath(dataDir), outFull = Path.GetFullPath(outDir);
        if (File.Exists(outFull)) throw new GestaltLabException($"{outDir}: is a file, where align writes a folder", "pass a new folder for the aligned faces and crops");
        if (string.Equals(dataFull.TrimEnd('/'), outFull.TrimEnd('/'), StringComparison.Ordinal))
            throw new GestaltLabException($"{outDir}: the output folder must differ from the data folder");
        // Two alignments into one folder would delete each other's faces and both report success.
        using var folderLock = FolderLock.AcquireData(outFull, "align", shared: false);
        bool replace = Directory.Exists(outFull) && Directory.EnumerateFileSystemEntries(outFull).Any();
        // An interrupted alignment (its marker there, run.json, written last, missing; nothing but what alignment writes)
        // carries on without --force, as users expect an interrupted command to: before or after its tables were written,
        // and a --force re-run interrupted while or after it cleared the old results. Of the same data with the same
        // settings it resumes from its journal; otherwise it starts over.
        bool interrupted = replace && !File.Exists(Path.Combine(outFull, RunManifest.FileName))
                           && File.Exists(Path.Combine(outFull, AlignmentMarker))
                           && Directory.EnumerateFileSystemEntries(outFull).Select(Path.GetFileName).All(n =>
                               n is "aligned" or "regions" or "overlays" || OwnTables.Contains(n!) || n!.StartsWith('.'));
        if (replace && !options.Force && !interrupted) throw new GestaltLabException($"{outDir}: output folder is not empty", "choose a new folder or pass --force to replace it (in C#: AlignDatasetOptions.Force)");
        // Replacing deletes what an alignment writes by name; in a training run (its nets in regions/) or a data set (its
        // manifest and landmarks) those names hold something else.
        if (replace && !interrupted && !IsAlignment(outFull)
            && Directory.EnumerateFileSystemEntries(outFull).Select(Path.GetFileName).FirstOrDefault(n => n is RunManifest.FileName or "aligned" or "regions" or "overlays" || OwnTables.Contains(n!)) is { } taken)
            throw new GestaltLabException(
                $"{outDir}: holds {taken}, which no alignment wrote here{(RunFolder.IsRun(outFull) ? " (it is a training run)" : "")}; --force replaces only an earlier alignment",
                "choose another --out folder (in C#: another output folder)");
        // Nor into a folder of photos: crops written among them would make later photo searches take it for an
        // alignment and find none of them.
        if (replace && !interrupted && !IsAlignment(outFull)
            && Directory.EnumerateFiles(outFull).Select(Path.GetFileName).FirstOrDefault(n => !n!.StartsWith('.') && ImageLoader.PhotoExtensions.Contains(Path.GetExtension(n!).ToLowerInvariant())) is { } photo)
            throw new GestaltLabException($"{outDir}: holds photos ({photo}, …); --force replaces only an earlier alignment", "choose another --out folder (in C#: another output folder), outside the photos");

        // The photo list and the manifest rows to carry over.
        var (manifest, images) = ListImages(dataFull, outFull);
        if (images.Count == 0) throw new GestaltLabException($"{dataDir}: no photos found", "add photos or a manifest.csv with an 'image' column");

        Dictionary<string, FaceLandmarks>? truth = null;
        if (options.UseGroundTruthLandmarks)
        {
            string lmPath = Path.Combine(dataFull, "landmarks.csv");
            if (!File.Exists(lmPath)) throw new GestaltLabException($"{lmPath}: no ground-truth landmarks", "drop --ground-truth to detect faces instead");
            truth = ReadLandmarks(lmPath);
        }

        var outNames = OutputNames(images);
        var po = new ParallelOptions { MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount, CancellationToken = cancellationToken };
        // What run.json records of how the faces were found and cut (the thread count aside, the same settings give the
        // same faces), and what was read: an interrupted alignment of the same data with the same settings resumes.
        var settings = new JsonObject
        {
            ["data"] = dataFull,
            ["aligned_size"] = pipeline.Aligner.Size,
            ["regions"] = pipeline.Regions.Source,
            ["detector"] = truth is null ? pipeline.Detector.Name : GroundTruthDetector,
            ["landmark_model"] = pipeline.Predictor.Source,
            // The file itself, not just where it was: another libdlib-data or a user's model lands at the same path.
            ["landmark_model_sha256"] = truth is null && File.Exists(pipeline.Predictor.Source) ? RunManifest.ComputeFileHash(pipeline.Predictor.Source) : null,
            // What decides which faces pass and how (a --min-face or --no-confidence alignment differs from the default).
            ["detector_options"] = truth is null && pipeline.Detector is HaarFaceDetector haar
                ? new JsonObject
                {
                    ["min_face_fraction"] = haar.Options.MinFaceFraction, ["min_face_pixels"] = haar.Options.MinFacePixels,
                    ["coarse_face_fraction"] = haar.Options.CoarseFaceFraction, ["scale_factor"] = haar.Options.ScaleFactor,
                    ["min_neighbors"] = haar.Options.MinNeighbors, ["max_detection_side"] = haar.Options.MaxDetectionSide,
                    ["cascade"] = haar.Options.CascadePath ?? SystemResources.HaarCascadePath(),
                }
                : null,
            ["compute_confidence"] = pipeline.Options.ComputeConfidence,
            ["min_confidence"] = pipeline.Options.MinConfidence,
            ["min_face_pixels"] = pipeline.Options.MinFacePixels,
            ["min_fraction_inside"] = pipeline.Options.MinFractionInside,
            ["max_pixels"] = pipeline.Options.MaxPixels,
            ["overlays"] = options.WriteOverlays,
            ["threads"] = po.MaxDegreeOfParallelism,
            ["data_hash"] = InputsHashKind,
        };
        var photoHashes = new Dictionary<string, string>(StringComparer.Ordinal);
        string inputsHash = InputHash(dataFull, images, photoHashes);
        var journalSettings = settings.DeepClone().AsObject();
        journalSettings.Remove("threads");
        journalSettings["region_set"] = pipeline.Regions.ToJson();
        journalSettings["write_regions"] = options.WriteRegions;
        // Another build (its commit), OpenCV or cascade file could find or cut faces otherwise: not mixed with these.
        journalSettings["packages"] = System.Text.Json.JsonSerializer.SerializeToNode(RunManifest.PackageVersions());
        if (settings["detector_options"]?["cascade"]?.GetValue<string>() is { } cascade)
            journalSettings["cascade_sha256"] = RunManifest.FileHashOrState(cascade);
        string journalKey = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            string.Join("\n", [inputsHash, journalSettings.ToJsonString(), .. outNames])))).ToLowerInvariant();
        string journalPath = Path.Combine(outFull, JournalName);
        if (Directory.Exists(journalPath))
            throw new GestaltLabException($"{journalPath}: a folder, where align keeps the journal of the photos it has finished", "remove it, then run align again");
        var resumed = interrupted && !options.StartOver ? ReadJournal(journalPath, journalKey) : null;

        // Only now that the input is known to be usable: an error above leaves no empty or emptied output folder behind.
        // The marker first, so that whatever a kill leaves from here on is known for an alignment's. Faces of patients:
        // the folder is its owner's alone when made here.
        OwnerOnlyFolder.Create(outFull);
        AtomicFile.RemoveLeftovers(outFull);   // halves of tables a killed alignment was writing
        if (!File.Exists(Path.Combine(outFull, AlignmentMarker)))
            AtomicFile.WriteAllText(Path.Combine(outFull, AlignmentMarker), "written by gestaltlab align: this folder is an alignment's (finished when run.json is here)\n");
        if (replace)
        {
            // run.json goes first: it is written last, so its absence marks the folder unfinished until this run ends.
            File.Delete(Path.Combine(outFull, RunManifest.FileName));
            // The faces and crops of an interrupted alignment of the same data and settings are kept (its journal names
            // the photos it finished); anything else's go.
            if (resumed is null)
                foreach (var sub in new[] { "aligned", "regions", "overlays" })
                    if (Directory.Exists(Path.Combine(outFull, sub))) Directory.Delete(Path.Combine(outFull, sub), true);
            // The old tables too: this data may have no manifest, and another alignment's would label these faces.
            foreach (var table in OwnTables) File.Delete(Path.Combine(outFull, table));
        }
        Directory.CreateDirectory(outFull);

        var rows = new (FaceResult Result, string Out)[images.Count];
        // A photo the journal says was finished counts as done while its files are all there (a kill mid-write leaves a
        // photo unlisted, and it is aligned again).
        var done0 = new bool[images.Count];
        if (resumed is not null)
            for (int i = 0; i < images.Count; i++)
                // Aligned from the bytes the photo holds now (one changed and put back while the alignment was stopped is not).
                if (resumed.TryGetValue(images[i], out var entry) && entry.Sha == photoHashes.GetValueOrDefault(images[i]) && entry.Result(Placeholder) is var earlier
                    && (!earlier.HasFace || JournalFilesPresent(outFull, outNames[i], options, pipeline, entry)))
                {
                    rows[i] = (earlier, outNames[i]);
                    done0[i] = true;
                }
        long done = done0.Count(d => d);
        // The halves of crops the kill left in the kept folders (the sweep above only looks at the top).
        if (resumed is not null)
            foreach (var sub in new[] { "aligned", "regions", "overlays" }.Select(d => Path.Combine(outFull, d)).Where(Directory.Exists))
                foreach (var dir in Directory.EnumerateDirectories(sub, "*", SearchOption.AllDirectories).Prepend(sub))
                    AtomicFile.RemoveLeftovers(dir);
        // Said when an interrupted alignment's work is not taken up (so that the minutes it takes again are not a surprise).
        string? startedOver = resumed is null && interrupted && File.Exists(journalPath)
            ? options.StartOver ? "starting over, as asked (--force)" : "starting over: the interrupted alignment here was of other photos or settings, or by another build" : null;
        if (resumed is null) File.Delete(journalPath);
        using var journal = new StreamWriter(new FileStream(journalPath, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        if (resumed is null) journal.WriteLine(journalKey);
        progress?.Report(new ProgressUpdate("align", done, images.Count, done > 0 ? $"resumed: {done} photo(s) aligned before" : startedOver));
        Parallel.For(0, images.Count, po, i =>
        {
            if (done0[i]) return;
            string rel = images[i];
            string path = Path.Combine(dataFull, rel);
            // Taken up again (its journal line names other bytes, or files are missing), its earlier face, crops and overlay
            // go first: aligned now without a face or an overlay, none of them may stay behind.
            if (resumed is not null)
                foreach (var earlierFile in new[] { Path.Combine(outFull, "aligned", outNames[i]), Path.Combine(outFull, "overlays", outNames[i]) }
                             .Concat(pipeline.Regions.Names.Select(name => Path.Combine(outFull, "regions", name, outNames[i]))))
                    if (File.Exists(earlierFile)) File.Delete(earlierFile);
            // The bytes this photo is aligned from, for the journal (a resumed alignment keeps it only while they are the same).
            string sha = RunManifest.FileHashOrState(path);
            FaceResult r;
            try
            {
                if (truth is not null)
                {
                    if (!truth.TryGetValue(rel, out var lm))
                        r = new FaceResult { Source = rel, Status = FaceStatus.NoFace, Problem = "no row in landmarks.csv" };
                    else
                    {
                        try
                        {
                            r = pipeline.FromLandmarks(ImageLoader.Load(path, pipeline.Options.MaxPixels), lm, rel);
                        }
                        catch (GestaltLabException e)
                        {
                            r = new FaceResult { Source = rel, Status = FaceStatus.Unreadable, Problem = e.Message.Split('\n')[0] };
                        }
                    }
                }
                else
                {
                    r = pipeline.Process(path) with { Source = rel };
                }
            }
            catch (Exception e) when (FacePipeline.IsPhotoFailure(e))
            {
                // E.g. landmarks that collapse to one point, which no alignment can fit: this photo's problem, not the batch's.
                r = new FaceResult { Source = rel, Status = FaceStatus.NoFace, Problem = $"alignment failed: {e.Message.Split('\n')[0]}", ProcessingFailed = true };
            }
            string outRel = outNames[i];
            if (r.HasFace)
            {
                r.Aligned!.Image.SavePng(Path.Combine(outFull, "aligned", outRel));
                if (options.WriteRegions)
                    foreach (var (name, crop) in r.Regions) crop.Image.SavePng(Path.Combine(outFull, "regions", name, outRel));
                if (options.WriteOverlays) RegionOverlay.Draw(r, pipeline.Cropper)?.SavePng(Path.Combine(outFull, "overlays", outRel));
            }
            // Keep only what the tables need, not the pixels.
            rows[i] = (r with { Aligned = r.Aligned is null ? null : r.Aligned with { Image = Placeholder }, Regions = new Dictionary<string, RegionCrop>() }, outRel);
            // Once its files are written: a resumed alignment takes it as done.
            string line = JournalEntry.Of(rows[i].Result, sha, overlay: options.WriteOverlays && File.Exists(Path.Combine(outFull, "overlays", outRel))).ToJson();
            lock (journal) journal.WriteLine(line);
            long d = Interlocked.Increment(ref done);
            progress?.Report(new ProgressUpdate("align", d, images.Count));
        });

        WriteQc(Path.Combine(outFull, "qc.csv"), rows.Select(r => r.Result).ToList());
        // One photo's failure is that photo's; every photo failing inside face processing is rarely the photos' (a bug, a
        // broken install, landmarks no alignment can fit), and must stop the batch rather than pass for a data set without
        // faces. (qc.csv, written above, lists every photo's error.)
        if (images.Count >= 3 && rows.All(r => r.Result.ProcessingFailed))
            throw new GestaltLabException($"{dataDir}: every one of the {images.Count} photos failed inside face processing, the first with: {rows[0].Result.Problem} (all errors: {Path.Combine(outFull, "qc.csv")})",
                options.UseGroundTruthLandmarks
                    ? "check the data's landmarks.csv (every photo's points must span a face), or run `gestaltlab doctor`"
                    : "run `gestaltlab doctor` to check the installation; if it passes, report the message");
        WriteLandmarks(Path.Combine(outFull, "landmarks.csv"), rows.Where(r => r.Result.Landmarks is not null).Select(r => (r.Result.Source, r.Result.Landmarks!)).ToList());
        if (manifest is not null)
        {
            int col = manifest.Column("image");
            // The input may have these columns already (a clinical "status", or an aligned folder aligned again): they are
            // overwritten, never repeated, which would make the manifest unreadable.
            var header = manifest.Header.ToList();
            int Own(string name)
            {
                int at = header.IndexOf(name);
                if (at < 0) { header.Add(name); at = header.Count - 1; }
                return at;
            }
            int sourceCol = Own("source_image"), statusCol = Own("status");
            var outRows = new List<IReadOnlyList<string>>();
            for (int i = 0; i < images.Count; i++)
            {
                if (!rows[i].Result.HasFace) continue;
                var row = new string[header.Count];
                manifest.Rows[i].ToArray().CopyTo(row, 0);
                row[col] = "aligned/" + rows[i].Out;
                row[sourceCol] = images[i];
                row[statusCol] = rows[i].Result.Status.ToCsv();
                outRows.Add(row);
            }
            Csv.Write(Path.Combine(outFull, "manifest.csv"), header, outRows);
        }
        AtomicFile.WriteAllText(Path.Combine(outFull, "regions.json"), pipeline.Regions.ToJson());
        new RunManifest
        {
            Command = AlignCommandName,
            Seed = 0,
            Config = settings,
            DataHash = inputsHash,
        }.Save(outFull);
        // Finished: what an interrupted run would have resumed from is not needed any more.
        File.Delete(journalPath);

        var counts = rows.GroupBy(r => r.Result.Status.ToCsv()).ToDictionary(g => g.Key, g => g.Count());
        var skipped = rows.Where(r => !r.Result.HasFace).Select(r => (r.Result.Source, r.Result.Problem ?? r.Result.Status.ToCsv())).ToList();
        return new AlignDatasetSummary(images.Count, images.Count - skipped.Count, counts, skipped, (DateTime.UtcNow - started).TotalSeconds, done0.Count(d => d));
    }

    private static readonly RgbImage Placeholder = new(1, 1);

    // How run.json names the landmark source of an alignment made from the data's own landmarks.
    private const string GroundTruthDetector = "ground-truth landmarks";

    /// <summary>Hidden file of an alignment under way: its settings' key, then one line per photo finished (for resuming).</summary>
    public const string JournalName = ".gestaltlab-align-journal";

    // The photos an interrupted alignment finished, by photo, when its journal was written for the same data and settings
    // (its first line); null otherwise. A line cut by the kill is passed over.
    private static Dictionary<string, JournalEntry>? ReadJournal(string path, string key)
    {
        if (!File.Exists(path)) return null;
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != key) return null;
        var entries = new Dictionary<string, JournalEntry>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
            if (JournalEntry.Parse(line) is { } e) entries[e.Image] = e;
        return entries;
    }

    private static bool JournalFilesPresent(string outFull, string outRel, AlignDatasetOptions options, FacePipeline pipeline, JournalEntry entry) =>
        File.Exists(Path.Combine(outFull, "aligned", outRel))
        && (!options.WriteRegions || pipeline.Regions.Names.All(name => File.Exists(Path.Combine(outFull, "regions", name, outRel))))
        && (!entry.Overlay || File.Exists(Path.Combine(outFull, "overlays", outRel)));

    /// <summary>What the tables need of one aligned photo, as a line of the journal (numbers round-trip exactly).</summary>
    private sealed record JournalEntry(string Image, string Sha, string Status, string? Problem, bool Failed, int Width, int Height, int Detections,
        int[]? Box, float? Confidence, bool Face, double? FitError, float[]? Landmarks, bool Overlay)
    {
        // Landmarks read from a table may be NaN or infinite (a point outside the ones alignment uses): written, not thrown on.
        private static readonly System.Text.Json.JsonSerializerOptions Json = new()
        {
            PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower,
            NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        };

        public static JournalEntry Of(FaceResult r, string sha, bool overlay) => new(r.Source, sha, r.Status.ToString(), r.Problem, r.ProcessingFailed, r.ImageWidth, r.ImageHeight,
            r.Detections.Count, r.Box is { } b ? [b.Left, b.Top, b.Right, b.Bottom] : null, float.IsNaN(r.Confidence) ? null : r.Confidence,
            r.HasFace, r.Aligned is { FitError: var fe } && !double.IsNaN(fe) ? fe : null, r.Landmarks?.ToInterleaved().ToArray(), overlay);

        public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, Json);

        public static JournalEntry? Parse(string line)
        {
            try { return System.Text.Json.JsonSerializer.Deserialize<JournalEntry>(line, Json) is { Image.Length: > 0 } e && Enum.TryParse<FaceStatus>(e.Status, out _) ? e : null; }
            catch (System.Text.Json.JsonException) { return null; }
        }

        public FaceResult Result(RgbImage placeholder)
        {
            var landmarks = Landmarks is { Length: 136 } l ? FaceLandmarks.FromInterleaved(l) : null;
            return new FaceResult
            {
                Source = Image, Status = Enum.Parse<FaceStatus>(Status), Problem = Problem, ProcessingFailed = Failed, ImageWidth = Width, ImageHeight = Height,
                // Only their number is tabled.
                Detections = Enumerable.Repeat(new FaceBox(0, 0, 0, 0), Detections).ToList(),
                Box = Box is [var left, var top, var right, var bottom] ? new FaceBox(left, top, right, bottom) : null,
                Confidence = Confidence ?? float.NaN, Landmarks = landmarks,
                Aligned = Face && landmarks is not null ? new AlignedFace(placeholder, landmarks, default, FitError ?? double.NaN) : null,
            };
        }
    }

    /// <summary>
    /// Where each photo's aligned face and crops go, relative to the output folder's <c>aligned/</c> and
    /// <c>regions/NAME/</c>: the photo's own relative path as PNG, except that a path outside the data folder (absolute,
    /// or climbing with <c>..</c>) goes under <c>external/</c> with a hash of its path (it must never land beside the
    /// original photo, nor two regions' crops on one file), and a name another photo already took (<c>x.jpg</c> and
    /// <c>x.png</c>) keeps its extension (<c>x.jpg.png</c>). A file name too long to be written atomically (255 bytes less
    /// <see cref="AtomicFile.TempNameOverhead"/>: a photo's own long name, or one given <c>.jpeg.png</c>) is shortened, with
    /// a hash of the photo's path keeping it apart.
    /// Deterministic: the same list gives the same names.
    /// </summary>
    internal static string[] OutputNames(IReadOnlyList<string> images)
    {
        var names = new string[images.Count];
        var taken = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < images.Count; i++)
        {
            string rel = images[i].Replace('\\', '/');
            bool outside = Path.IsPathRooted(rel) || rel.Split('/').Any(part => part == "..");
            string stem = outside ? $"external/{StableHash.Of(0, rel):x16}_{Path.GetFileName(rel)}" : rel;
            string name = Path.ChangeExtension(stem, ".png");
            if (taken.Contains(name)) name = stem + ".png";
            if (System.Text.Encoding.UTF8.GetByteCount(Path.GetFileName(name)) > MaxFileNameBytes)
            {
                stem = Shortened(stem, rel);
                name = stem + ".png";
            }
            for (int k = 2; taken.Contains(name); k++) name = $"{stem}-{k}.png";
            taken.Add(name);
            names[i] = name;
        }
        return names;
    }

    // NAME_MAX of Linux file systems less the atomic write's temporary name: one photo's aligned name over it would fail
    // the whole alignment when written. (Names this long could never be written, so no earlier alignment had one.)
    private const int MaxFileNameBytes = 255 - AtomicFile.TempNameOverhead;

    // The stem's folder and as much of its file name as leaves room for a path hash, ".png" and a "-k" suffix.
    private static string Shortened(string stem, string rel)
    {
        string folder = stem.Contains('/') ? stem[..(stem.LastIndexOf('/') + 1)] : "", file = stem[folder.Length..];
        string tag = $"_{StableHash.Of(1, rel):x16}";
        int budget = MaxFileNameBytes - 16 - System.Text.Encoding.UTF8.GetByteCount(tag) - ".png".Length;
        var kept = new System.Text.StringBuilder();
        foreach (var rune in file.EnumerateRunes())
        {
            if (System.Text.Encoding.UTF8.GetByteCount(kept.ToString()) + rune.Utf8SequenceLength > budget) break;
            kept.Append(rune.ToString());
        }
        return folder + kept + tag;
    }

    /// <summary>
    /// Why the folder <paramref name="alignedDir"/> cannot stand in for aligning <paramref name="dataDir"/> again, or null
    /// when it can: it must be a finished alignment (<c>run.json</c> is written last) of the same data (content hash),
    /// with the same landmark source, crops of <paramref name="cropSize"/> pixels, and every aligned face and crop its
    /// manifest lists still on disk. Lets commands reuse an earlier alignment without trusting a stale or damaged one.
    /// </summary>
    /// <param name="dataDir">The data folder that would be aligned.</param>
    /// <param name="alignedDir">A folder an earlier <see cref="Run"/> may have written.</param>
    /// <param name="cropSize">Region crop side the caller needs (the net's input size).</param>
    /// <param name="groundTruth">Whether the caller wants ground-truth landmarks (<see cref="AlignDatasetOptions.UseGroundTruthLandmarks"/>).</param>
    /// <param name="regions">The regions the caller's model was trained on, when it needs them cut alike (null: any).</param>
    public static string? ReuseProblem(string dataDir, string alignedDir, int cropSize, bool groundTruth, RegionSet? regions = null)
    {
        string runJson = Path.Combine(alignedDir, RunManifest.FileName), regionsJson = Path.Combine(alignedDir, "regions.json");
        if (!File.Exists(runJson) || !File.Exists(regionsJson) || !File.Exists(Path.Combine(alignedDir, Manifest.FileName)))
            return "no finished alignment there";
        RunManifest run;
        RegionSet set;
        Manifest manifest;
        try
        {
            run = RunManifest.Load(alignedDir);
            set = RegionSet.Load(regionsJson);
            manifest = Manifest.Load(alignedDir);
        }
        catch (GestaltLabException e)
        {
            return e.Message.Split('\n')[0];
        }
        if (LandmarkSourceProblem(run, groundTruth) is string source) return source;
        if (set.Regions.Count == 0 || set.Regions.Any(r => r.Size != cropSize))
            return $"its crops are {(set.Regions.Count == 0 ? 0 : set.Regions[0].Size)} px, the net needs {cropSize} px";
        if (regions is not null && FacialRegion.CutOtherwise(regions.Regions, set) is { Count: > 0 } cut)
            return $"its region(s) {string.Join(", ", cut)} are missing or cut otherwise than the model's";
        foreach (var row in manifest.Rows)
        {
            string face = manifest.ResolveImage(row);
            if (!File.Exists(face)) return $"{face} is missing";
            foreach (var region in set.Names)
            {
                string crop = CropPath(alignedDir, region, row.Image);
                if (!File.Exists(crop)) return $"{crop} is missing";
            }
        }
        // Last: the only check that reads every photo of the data.
        return DataProblem(run, dataDir, alignedDir);
    }

    /// <summary>
    /// The data folder a finished alignment in <paramref name="alignedDir"/> was made from (the full path its
    /// <c>run.json</c> records, without a trailing slash), or null when there is no readable record.
    /// </summary>
    public static string? DataFolderOf(string alignedDir) => RunManifest.RecordedData(alignedDir);

    /// <summary>
    /// Why the finished alignment in <paramref name="alignedDir"/> is not of <paramref name="dataDir"/> with the landmark
    /// source <paramref name="groundTruth"/> asks for (other photos, or other landmarks), or null when it is, or when the
    /// folder holds no finished alignment to tell. Unlike <see cref="ReuseProblem"/> it does not look for missing files:
    /// a damaged alignment of the right data can be made again identically; one of other data cannot.
    /// </summary>
    public static string? SourceProblem(string dataDir, string alignedDir, bool groundTruth)
    {
        if (!File.Exists(Path.Combine(alignedDir, RunManifest.FileName))) return null;
        RunManifest run;
        try { run = RunManifest.Load(alignedDir); }
        catch (GestaltLabException) { return null; }
        // An alignment from before the data hash covered only the inputs cannot tell other data from its own folder grown
        // (a run written inside it): unknown, as then, and re-aligning it is left to the caller's other checks.
        if (run.Config["data_hash"]?.GetValue<string>() != InputsHashKind) return LandmarkSourceProblem(run, groundTruth);
        return LandmarkSourceProblem(run, groundTruth) ?? DataProblem(run, dataDir, alignedDir);
    }

    /// <summary>Whether the finished alignment in <paramref name="alignedDir"/> used ground-truth landmarks (null: no finished, readable alignment there).</summary>
    internal static bool? AlignedWithGroundTruth(string alignedDir)
    {
        if (!File.Exists(Path.Combine(alignedDir, RunManifest.FileName))) return null;
        try { return RunManifest.Load(alignedDir).Config["detector"]?.GetValue<string>() == GroundTruthDetector; }
        catch (Exception e) when (e is GestaltLabException or InvalidOperationException) { return null; }
    }

    private static string? LandmarkSourceProblem(RunManifest run, bool groundTruth)
    {
        bool wasTruth = run.Config["detector"]?.GetValue<string>() == GroundTruthDetector;
        if (wasTruth == groundTruth) return null;
        return wasTruth ? "it was aligned with ground-truth landmarks" : "it was aligned with detected landmarks";
    }

    private static string? DataProblem(RunManifest run, string dataDir, string alignedDir)
    {
        if (!Directory.Exists(dataDir) || run.DataHash is null) return null;
        string dataFull = Path.GetFullPath(dataDir), inputs;
        try
        {
            inputs = InputHash(dataFull, ListImages(dataFull, Path.GetFullPath(alignedDir)).Images);
        }
        catch (GestaltLabException e)
        {
            return e.Message.Split('\n')[0];
        }
        if (run.DataHash == inputs) return null;
        // Alignments written before the hash covered only what alignment reads hashed the whole data folder; one that still
        // matches is brought up to date, so that the next check reads the photos once.
        if (run.Config["data_hash"]?.GetValue<string>() != InputsHashKind && run.DataHash == RunManifest.ComputeDataHash(dataDir))
        {
            if (run.Config is System.Text.Json.Nodes.JsonObject config)
            {
                config["data_hash"] = InputsHashKind;
                (run with { DataHash = inputs }).Save(alignedDir);
            }
            return null;
        }
        return $"the data in {dataDir} changed since, or is another folder";
    }

    // What run.json's data hash covers: the inputs alignment reads (older alignments hashed the whole data folder).
    private const string InputsHashKind = "inputs";

    /// <summary>
    /// The photos <see cref="Run"/> reads from a data folder: its manifest's <c>image</c> column (with the manifest), or
    /// every photo under it outside <paramref name="outFull"/>.
    /// </summary>
    private static (Csv.Table? Manifest, List<string> Images) ListImages(string dataFull, string outFull)
    {
        string manifestPath = Path.Combine(dataFull, Manifest.FileName);
        if (!File.Exists(manifestPath)) return (null, ImageLoader.FindPhotos(dataFull, exclude: outFull).ToList());
        var manifest = Csv.Read(manifestPath);
        int col = manifest.Column("image");
        // A labelled manifest is checked as training will read it (splits, subjects, each photo once), so its errors name
        // this file and line before any photo is aligned; a list of photos alone needs each photo once.
        // One naming syndromes is meant for training, which needs its subject and split columns: missing, said now, naming
        // this file (not later by training, naming the aligned copy).
        if ((manifest.Has("subject") && manifest.Has("split")) || manifest.Has("syndrome")) Manifest.Load(manifestPath);
        var images = manifest.Rows.Select(r => Manifest.ImagePath(r[col])).ToList();
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < images.Count; i++)
        {
            if (images[i].Length == 0) throw new GestaltLabException($"{manifestPath}: line {manifest.LineOf(i)}: empty 'image'");
            if (!seen.TryAdd(images[i], manifest.LineOf(i)))
                throw new GestaltLabException($"{manifestPath}: line {manifest.LineOf(i)}: image '{images[i]}' is already listed on line {seen[images[i]]}", "list each photo once");
        }
        return (manifest, images);
    }

    /// <summary>
    /// SHA-256 of what an alignment reads: the manifest and ground-truth landmarks when present, and each listed photo
    /// (its name and bytes). Unlike a hash of the whole folder it does not change when a run or an aligned folder is
    /// written inside the data folder, which would otherwise make every alignment there look stale.
    /// </summary>
    // The same bytes as before the hash moved to RunManifest (recorded alignments stay valid): manifest and landmarks
    // when present, then every photo listed.
    private static string InputHash(string dataFull, IReadOnlyList<string> images, IDictionary<string, string>? perFile = null) =>
        RunManifest.ComputeFilesHash(dataFull, new[] { Manifest.FileName, "landmarks.csv" }
            .Where(f => File.Exists(Path.Combine(dataFull, f))).Concat(images), perFile);

    /// <summary>
    /// Where <see cref="Run"/> writes <paramref name="region"/>'s crop of the photo whose aligned face the output manifest
    /// lists as <paramref name="alignedImage"/>: <c>aligned/X.png</c> → <c>ALIGNED_DIR/regions/REGION/X.png</c>.
    /// </summary>
    public static string CropPath(string alignedDir, string region, string alignedImage) =>
        Path.Combine(alignedDir, "regions", region,
            alignedImage.StartsWith("aligned/", StringComparison.Ordinal) ? alignedImage["aligned/".Length..] : alignedImage);

    /// <summary>The QC table columns.</summary>
    public static readonly IReadOnlyList<string> QcColumns = Array.AsReadOnly<string>(["image", "status", "confidence", "faces", "left", "top", "right", "bottom", "fit_error", "problem"]);

    /// <summary>Writes QC rows: image, status, landmark confidence, faces found, box, alignment fit error (aligned px), problem.</summary>
    public static void WriteQc(string path, IReadOnlyList<FaceResult> results)
    {
        static string F(double v) => double.IsNaN(v) ? "" : v.ToString("0.####", CultureInfo.InvariantCulture);
        Csv.Write(path, QcColumns, results.Select(r => (IReadOnlyList<string>)
        [
            r.Source, r.Status.ToCsv(), F(r.Confidence), r.Detections.Count.ToString(CultureInfo.InvariantCulture),
            r.Box?.Left.ToString(CultureInfo.InvariantCulture) ?? "", r.Box?.Top.ToString(CultureInfo.InvariantCulture) ?? "",
            r.Box?.Right.ToString(CultureInfo.InvariantCulture) ?? "", r.Box?.Bottom.ToString(CultureInfo.InvariantCulture) ?? "",
            F(r.Aligned?.FitError ?? double.NaN), r.Problem ?? "",
        ]));
    }

    /// <summary>Writes <c>image,x0,y0,…,x67,y67</c>.</summary>
    public static void WriteLandmarks(string path, IReadOnlyList<(string Image, FaceLandmarks Landmarks)> rows)
    {
        var header = new List<string> { "image" };
        for (int j = 0; j < 68; j++) { header.Add($"x{j}"); header.Add($"y{j}"); }
        Csv.Write(path, header, rows.Select(r => (IReadOnlyList<string>)[r.Image, .. r.Landmarks.ToInterleaved().Select(v => v.ToString("R", CultureInfo.InvariantCulture))]));
    }

    /// <summary>Reads <c>image,x0,y0,…,x67,y67</c> (the synthetic generator's ground truth, or this toolkit's output).</summary>
    public static Dictionary<string, FaceLandmarks> ReadLandmarks(string path)
    {
        var t = Csv.Read(path);
        int img = t.Column("image");
        var cols = Enumerable.Range(0, 68).SelectMany(j => new[] { t.Column($"x{j}"), t.Column($"y{j}") }).ToArray();
        var d = new Dictionary<string, FaceLandmarks>(StringComparer.Ordinal);
        for (int r = 0; r < t.Rows.Count; r++)
        {
            var xy = new float[136];
            for (int k = 0; k < 136; k++)
                if (!float.TryParse(t.Rows[r][cols[k]], NumberStyles.Float, CultureInfo.InvariantCulture, out xy[k]))
                    throw new GestaltLabException($"{path}: line {t.LineOf(r)}, column {t.Header[cols[k]]}: '{t.Rows[r][cols[k]]}' is not a number");
            // Two rows for one photo: which is right cannot be told, so neither is used silently.
            if (!d.TryAdd(t.Rows[r][img], FaceLandmarks.FromInterleaved(xy)))
                throw new GestaltLabException($"{path}: line {t.LineOf(r)}: image '{t.Rows[r][img]}' has landmarks on an earlier line too", "keep one row per photo");
        }
        return d;
    }
}
