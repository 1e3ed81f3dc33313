using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>
/// Whether photos about to be scored show people a model was trained on (its training or validation people): scored,
/// they would flatter it. Within one data set the splits keep people apart; across data sets only their subject ids can
/// tell — and their bytes: a photo of a training photo's bytes is one, whatever its name and subject id now. Two synthetic
/// data sets generated with the same seed share their people (person <c>p000004</c> of <c>mini</c>
/// is the same face as <c>p000004</c> of <c>demo</c>; <c>identities</c> and <c>demo-novel</c> have people of their own),
/// so there a shared id is certain; elsewhere an id alone may be a
/// coincidence of numbering, and only a photo with the file name of that person's training photo too is reported, as a
/// possibility.
/// </summary>
public static class TrainingOverlap
{
    /// <summary>
    /// Checks the scored photos' people against the training people of the run in <paramref name="runDirectory"/>.
    /// </summary>
    /// <param name="runDirectory">The model's run folder (its <c>run.json</c> names the aligned data it trained on).</param>
    /// <param name="scored">The photos to score, as held-out figures (a test split).</param>
    /// <param name="scoredDataFolder">The folder those photos' data came from (for its generator record), or null.</param>
    /// <returns>A note when some scored photos have the subject id and file name of training photos in data that is not
    /// known to share its people, though other bytes, or when the run's own data holds copies of training photos among
    /// its test photos (the same photo filed twice); null when none do (or the training data can no longer be found).</returns>
    /// <exception cref="GestaltLabException">Both data sets were generated with the same seed, or some photos to score are
    /// training photos (the same files, or files of the same bytes, whatever their names and ids): the shared people are certain.</exception>
    public static string? Check(string? runDirectory, IReadOnlyList<ManifestRow> scored, string? scoredDataFolder)
    {
        if (runDirectory is null) return null;
        var record = Recorded(runDirectory);
        var (trainingFolder, trainingRows) = TrainingData(runDirectory, record.DataFolder);
        var scoredFrom = Generator(scoredDataFolder);
        if (trainingRows is null)
        {
            // The training photos' table is gone (a run moved without its data, a model package), but the record of how
            // the generator made them may remain: another preset of the same seed draws the same people, in other splits.
            if (record.Generator is { } recorded && scoredFrom is { } from && recorded.Seed == from.Seed
                && Synthetic.DatasetPresets.SharePeople(recorded.Preset, from.Preset) && !SameData(recorded.Record, from.Record))
                throw new GestaltLabException(
                    $"the photos to score may show people the model was trained on: the data ({from.Preset}, seed {from.Seed}) and the model's training data "
                    + $"({recorded.Preset}, seed {recorded.Seed}, as its record says; the data itself is not here to tell which people) come from the same generator seed, "
                    + "and these presets draw the people of one seed from the same random streams, so these figures would be inflated",
                    $"generate the data to score with another seed (`gestaltlab generate --preset {from.Preset} --seed {from.Seed + 1}`), or score the model's own data again (the same preset, seed and scale)");
            return null;
        }
        var fitOn = trainingRows.Where(r => r.Split is SplitNames.Train or SplitNames.Val && r.IsLabelled).ToList();
        var trainedRows = fitOn.Where(r => r.Subject.Length > 0).ToList();
        var trained = trainedRows.Select(r => r.Subject).ToHashSet(StringComparer.Ordinal);
        var sharedIds = scored.Where(r => trained.Contains(r.Subject)).ToList();

        var trainedOn = Generator(Regions.FaceDatasetAligner.DataFolderOf(trainingFolder!)) ?? Generator(trainingFolder) ?? record.Generator;
        if (sharedIds.Count > 0 && trainedOn is { } t && scoredFrom is { } s && t.Seed == s.Seed && Synthetic.DatasetPresets.SharePeople(t.Preset, s.Preset))
            throw new GestaltLabException(
                $"{sharedIds.Count} of the {scored.Count} photos to score show {People(sharedIds)} the model was trained on: "
                + $"the data ({s.Preset}, seed {s.Seed}) and the run's training data ({t.Preset}, seed {t.Seed}) come from the same generator seed, "
                + "and these presets draw the people of one seed from the same random streams, so these figures would be inflated",
                $"generate the data to score with another seed (`gestaltlab generate --preset {s.Preset} --seed {s.Seed + 1}`)"
                + (s.Preset == "demo" ? ", or new people of the demo's syndromes beside 10 more (`--preset demo-novel`)" : "") + ", or score the run's own test split");
        // A photo of the same bytes is a photo the model was trained on, whatever it is called now and whoever the data
        // says it shows (copies renamed into a folder of "new" photos, or the run's own photos split again by a new
        // manifest, whose test split now holds training photos): certain, and refused.
        string? trainedData = Regions.FaceDatasetAligner.DataFolderOf(trainingFolder!);
        var copies = trainedData is null || scoredDataFolder is null ? [] : Copies(scored, scoredDataFolder, fitOn, trainedData);
        // Within the run's own data (its test split, under its own manifest) the copies are the data's: the same photo filed
        // twice, under two people or splits. Training accepted it, so the figures are said to be inflated, not refused.
        if (copies.Count > 0 && RunFolder.RealPath(trainedData!) == RunFolder.RealPath(scoredDataFolder!)
            && fitOn.Select(t => t.SourceImage).ToHashSet(StringComparer.Ordinal) is var trainedFiles && !scored.Any(s => trainedFiles.Contains(s.SourceImage)))
            return $"{copies.Count} of the {scored.Count} test photos have the bytes of training photos of the same data (e.g. {copies[0].Scored} is {copies[0].Trained}): "
                   + "the data holds those photos twice, under other people or splits, and these figures are inflated by them (remove the copies and train again)";
        if (copies.Count > 0)
            throw new GestaltLabException(
                $"{copies.Count} of the {scored.Count} photos to score are photos the model was trained on (the same bytes; e.g. {copies[0].Scored} is {copies[0].Trained}), "
                + "so these figures would be inflated",
                "score the run's test split with the manifest it was trained with (a manifest made again, with another --seed, puts training photos in its test split), or score photos of other people");
        if (sharedIds.Count == 0) return null;
        // Generated with other seeds, or by presets with people of their own: other people, ids aside.
        if (trainedOn is not null && scoredFrom is not null) return null;
        // Elsewhere a shared id alone may be a coincidence of numbering (two cohorts each numbered 1…N): only a photo that
        // also has the file name of one of that person's training photos is reported — the same photos in another folder.
        var trainedPhotos = trainedRows.ToLookup(r => (r.Subject, PhotoName(r)));
        var shared = sharedIds.Where(r => trainedPhotos.Contains((r.Subject, PhotoName(r)))).ToList();
        if (shared.Count == 0) return null;
        return $"{shared.Count} scored photo(s) have the subject id and file name of photos the model was trained on ({People(shared)}), "
               + "though not their bytes: if they are the same photos (re-encoded, edited), these figures are inflated";
    }

    // The scored photos whose bytes are a training photo's (the same file counts too). Files are compared by length
    // first, so only photos of a training photo's exact length are read: a stat per photo otherwise.
    private static List<(string Scored, string Trained)> Copies(IReadOnlyList<ManifestRow> scored, string scoredFolder, IReadOnlyList<ManifestRow> trained, string trainedFolder)
    {
        var bySize = trained.Select(r => Path.Combine(trainedFolder, r.SourceImage)).Distinct(StringComparer.Ordinal)
            .Select(p => (Path: p, Length: LengthOf(p))).Where(t => t.Length > 0).ToLookup(t => t.Length, t => t.Path);
        var hashes = new Dictionary<string, string?>(StringComparer.Ordinal);
        string? Hash(string path)
        {
            if (hashes.TryGetValue(path, out var known)) return known;
            try { return hashes[path] = RunManifest.ComputeFileHash(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return hashes[path] = null; }
        }
        var copies = new List<(string, string)>();
        foreach (var row in scored)
        {
            string path = Path.Combine(scoredFolder, row.SourceImage);
            long length = LengthOf(path);
            if (length <= 0 || !bySize.Contains(length)) continue;
            if (bySize[length].FirstOrDefault(t => Hash(t) is { } h && h == Hash(path)) is { } match) copies.Add((path, match));
        }
        return copies;
    }

    private static long LengthOf(string path)
    {
        try { return new FileInfo(path) is { Exists: true } f ? f.Length : -1; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return -1; }
    }

    /// <summary>
    /// Why the training people of the model in <paramref name="runDirectory"/> cannot be checked against photos to score:
    /// neither the table of its training photos (its <c>run.json</c>'s data folder, or the run's own <c>aligned/</c>) nor a
    /// generator's record of them is here — a run moved without its data, a model package of one's own photos. Null when
    /// they can be.
    /// </summary>
    public static string? Unchecked(string? runDirectory)
    {
        if (runDirectory is null) return null;
        var record = Recorded(runDirectory);
        if (record.Generator is not null || TrainingData(runDirectory, record.DataFolder).Rows is not null) return null;
        return record.DataFolder is null
            ? "the model does not name the photos it was trained on (a model package, or a run without its record), so whether these photos show its training people cannot be checked: if they may, these figures are inflated"
            : $"the data the model was trained on is not at {record.DataFolder} (its run.json's data folder) and the run holds no aligned copy, so whether these photos show its training people cannot be checked: if they may, these figures are inflated";
    }

    // The run's training photos: the data folder its run.json names, or — moved, or that folder deleted — the aligned copy a
    // run makes of data it aligned itself (RUN/aligned, which only training writes there). Nulls when neither can be read.
    private static (string? Folder, IReadOnlyList<ManifestRow>? Rows) TrainingData(string runDirectory, string? recorded)
    {
        if (recorded is null) return (null, null);
        if (File.Exists(Path.Combine(recorded, Manifest.FileName)))
        {
            try { return (recorded, Manifest.Load(recorded).Rows); }
            catch (GestaltLabException) { return (null, null); }
        }
        // The run's own copy stands in for a recorded folder that is gone, only while it holds the very crops the run was
        // trained on (its recorded hash): read it otherwise and other data's people would pass for the training people.
        string own = Path.Combine(runDirectory, "aligned");
        if (!File.Exists(Path.Combine(own, Manifest.FileName)) || !ModelEvaluation.HoldsTrainingData(runDirectory, own)) return (null, null);
        try { return (own, Manifest.Load(own).Rows); }
        catch (GestaltLabException) { return (null, null); }
    }

    // What the run (run.json: its data folder and the generator's record of that data) or a package (model.json: the
    // generator's record alone) says of the training data; nulls for what it does not say, or a record that cannot be read.
    private static (string? DataFolder, GeneratorRecord? Generator) Recorded(string runDirectory)
    {
        try
        {
            if (!File.Exists(Path.Combine(runDirectory, RunManifest.FileName)))
                return (null, GeneratorRecord.Of(Ensemble.ModelPackage.RecordedDataGenerator(runDirectory)));
            var config = RunManifest.Load(runDirectory).Config;
            return (config["data"] is JsonValue v && v.TryGetValue(out string? d) ? d : null, GeneratorRecord.Of(config["data_generator"]));
        }
        catch (GestaltLabException) { return (null, null); }
    }

    /// <summary>Whether the model in <paramref name="runDirectory"/> records that the generator made its training data.</summary>
    internal static bool TrainedOnGeneratedData(string? runDirectory) => runDirectory is not null && Recorded(runDirectory).Generator is not null;

    // Whether two generator records describe one data set (so the scored test split is the training data's own held-out people).
    private static bool SameData(JsonObject trained, JsonObject? scored) =>
        scored is not null && new[] { "preset", "seed", "scale", "nuisance", "catalog", "catalog_sha256" }
            .All(k => trained[k] is null || JsonNode.DeepEquals(trained[k], scored[k]));

    private static string People(IReadOnlyList<ManifestRow> rows)
    {
        var ids = rows.Select(r => r.Subject).Distinct(StringComparer.Ordinal).ToList();
        return $"{ids.Count} {(ids.Count == 1 ? "person" : "people")}: {string.Join(", ", ids.Take(3))}{(ids.Count > 3 ? ", …" : "")}";
    }

    private static string PhotoName(ManifestRow r) => Path.GetFileName(r.SourceImage.Replace('\\', '/'));

    // What the generator recorded of a data folder's making, when it made it (a damaged record counts as none).
    private static GeneratorRecord? Generator(string? dataFolder)
    {
        try { return GeneratorRecord.Of(Synthetic.SyntheticDataset.ReadRecord(dataFolder)); }
        catch (GestaltLabException) { return null; }
    }

    // A generator's record (dataset.json, or a copy of it in run.json / model.json) with its preset and seed read out.
    private readonly record struct GeneratorRecord(string Preset, int Seed, JsonObject Record)
    {
        public static GeneratorRecord? Of(JsonNode? record) =>
            record is JsonObject o && o["preset"] is JsonValue p && p.TryGetValue(out string? preset) && o["seed"] is JsonValue sd && sd.TryGetValue(out int seed)
                ? new GeneratorRecord(preset, seed, o) : null;
    }
}
