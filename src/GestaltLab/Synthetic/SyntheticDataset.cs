using System.Globalization;
using System.Numerics;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Synthetic;

/// <summary>Options of <see cref="SyntheticDataset.Generate"/>.</summary>
public sealed record GenerateOptions
{
    /// <summary>Image size in pixels (square).</summary>
    public int ImageSize { get; init; } = 256;
    /// <summary>Replace a data set already in the output folder (a folder holding anything else is still refused).</summary>
    public bool Force { get; init; }
    /// <summary>Rendering threads (default: all cores).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
}

/// <summary>What <see cref="SyntheticDataset.Generate"/> wrote.</summary>
/// <param name="Directory">The data folder.</param>
/// <param name="Images">Photos written.</param>
/// <param name="Subjects">People.</param>
/// <param name="Classes">Task classes.</param>
/// <param name="Oracle">The oracle's top-k on the test split (training frequencies as priors).</param>
/// <param name="EqualPriorOracle">The same oracle with every class equally likely a priori, as GestaltLab's models rank by default.</param>
public readonly record struct GenerateResult(string Directory, int Images, int Subjects, int Classes, OracleResult Oracle, OracleResult? EqualPriorOracle = null);

/// <summary>
/// Writes a synthetic data set: <c>manifest.csv</c>, <c>landmarks.csv</c> (ground truth), <c>traits.csv</c> (per subject),
/// <c>catalog.json</c> (entries used), <c>oracle.json</c>, <c>dataset.json</c> (preset, seed, scale, counts) and
/// <c>images/</c>. Photos are PNG, or JPEG when the photo's nuisance includes JPEG compression. Same plan → byte-identical
/// files, whatever the thread count: each image has its own random stream from (seed, image index).
/// </summary>
public static class SyntheticDataset
{
    /// <summary>Random-stream ids (the second element of <see cref="SyntheticRandom.For"/>'s path).</summary>
    internal const long AppearanceStream = 3, ImageStream = 2, NoiseStream = 4;

    /// <summary>
    /// Generates the preset into <paramref name="outDir"/>, atomically: everything is written into a temporary folder next
    /// to it, which is renamed at the end. Refuses a non-empty folder unless <see cref="GenerateOptions.Force"/>, which
    /// replaces only a data set this method wrote (a folder holding anything else is refused: a run, photos). The
    /// <c>specialized</c> preset writes its three tasks into subfolders.
    /// </summary>
    public static GenerateResult Generate(string preset, int seed, string outDir, double scale = 1, SyndromeCatalog? catalog = null,
        GenerateOptions? options = null, NuisanceLevel nuisance = NuisanceLevel.Varied, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new GenerateOptions();
        // Checked before any folder is touched or any worker starts (the renderer would refuse it on every thread).
        if (options.ImageSize is < 64 or > 2048)
            throw new GestaltLabException($"image size {options.ImageSize} px: must be 64–2048", "pass --size between 64 and 2048 (256 is the default)");
        string target = Path.GetFullPath(outDir);
        // Two generations into one folder would each replace the other's data set with their own.
        using var folderLock = FolderLock.Acquire(target, "generate into");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !options.Force)
            throw new GestaltLabException($"{target}: folder is not empty", "pass --force to replace it (in C#: GenerateOptions.Force), or choose another --out");
        if (File.Exists(target)) throw new GestaltLabException($"{target}: is a file, not a folder");
        // --force replaces a data set, never a folder of something else named by mistake (a run, photos, an alignment).
        if (options.Force && Directory.Exists(target) && ForeignEntries(target).FirstOrDefault() is { } foreign)
            throw new GestaltLabException(
                $"{target}: holds {foreign} and maybe more that `generate` did not write{(RunFolder.IsRun(target) ? " (it is a training run)" : "")}; --force replaces only a data set generate wrote",
                "choose another --out (in C#: another folder), or move those files out (or delete the folder yourself) first");
        string parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        // Killed earlier generations' half-written data sets (megabytes each) beside it, whatever folder they were for.
        AtomicFile.RemoveLeftovers(parent);
        string temp = AtomicFile.TempPath(target);
        Directory.CreateDirectory(temp);
        try
        {
            GenerateResult result;
            var parts = DatasetPresets.Parts(preset);
            if (parts.Count > 0)
            {
                var results = new List<GenerateResult>();
                foreach (var (folder, sub) in parts)
                {
                    var plan = DatasetPresets.Plan(sub, seed, scale, catalog, nuisance);
                    results.Add(WritePlan(plan, Path.Combine(temp, folder), options, progress, cancellationToken));
                }
                var index = new JsonObject { ["preset"] = preset, ["seed"] = seed, ["scale"] = scale };
                var tasks = new JsonObject();
                for (int i = 0; i < parts.Count; i++) tasks[parts[i].Folder] = OracleJson(results[i].Oracle, results[i].EqualPriorOracle!.Value, parts[i].Preset);
                index["tasks"] = tasks;
                AtomicFile.WriteAllText(Path.Combine(temp, "oracle.json"), index.ToJsonString(new() { WriteIndented = true }) + "\n");
                result = new GenerateResult(target, results.Sum(r => r.Images), results.Sum(r => r.Subjects), results.Sum(r => r.Classes), results[0].Oracle, results[0].EqualPriorOracle);
            }
            else
            {
                var plan = DatasetPresets.Plan(preset, seed, scale, catalog, nuisance);
                result = WritePlan(plan, temp, options, progress, cancellationToken);
            }
            AtomicFile.ReplaceDirectory(temp, target);
            return result with { Directory = target };
        }
        catch
        {
            try { Directory.Delete(temp, true); } catch (IOException) { }
            throw;
        }
    }

    // What Generate writes at a data set's top level (hidden entries are its own temporaries or the system's).
    private static readonly HashSet<string> GeneratedEntries = new(StringComparer.Ordinal)
        { "images", Manifest.FileName, LandmarkTable.FileName, "traits.csv", "catalog.json", "oracle.json", "dataset.json" };

    /// <summary>The top-level entries of <paramref name="folder"/> that no <see cref="Generate"/> wrote (a multi-task preset's task folders count as its own).</summary>
    private static IEnumerable<string> ForeignEntries(string folder)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries(folder).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(entry);
            if (name.StartsWith('.') || GeneratedEntries.Contains(name)) continue;
            bool task = Directory.Exists(entry) && File.Exists(Path.Combine(entry, "dataset.json")) && !ForeignEntries(entry).Any();
            if (!task) yield return name;
        }
    }

    /// <summary>
    /// The generator's record of the data set in <paramref name="dataFolder"/> (its <c>dataset.json</c>: preset, seed,
    /// scale, nuisance, image size, catalog, counts), or null when the folder has none (data of one's own).
    /// </summary>
    /// <exception cref="GestaltLabException">The file is there but unreadable, or not the generator's.</exception>
    public static JsonObject? ReadRecord(string? dataFolder)
    {
        string path = dataFolder is null ? "" : Path.Combine(dataFolder, "dataset.json");
        if (!File.Exists(path)) return null;
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is JsonObject record && (string?)record["generator"] == "gestaltlab generate") return record;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new GestaltLabException($"{path}: not the generator's record ({e.Message.Split('\n')[0]})", "generate the data again (`gestaltlab generate`, or --force)");
        }
        throw new GestaltLabException($"{path}: not the generator's record", "generate the data again (`gestaltlab generate`, or --force)");
    }

    /// <summary>The oracle's top-k for a preset from trait vectors alone (no rendering: seconds even for gestalt216).</summary>
    /// <param name="preset">Preset name.</param>
    /// <param name="seed">Seed.</param>
    /// <param name="scale">Subject-count scale.</param>
    /// <param name="catalog">Catalog (default: the shipped one).</param>
    /// <param name="cancellationToken">Cancels the scoring.</param>
    /// <param name="equalPriors">Score the oracle with every class equally likely a priori instead of the training frequencies.</param>
    public static OracleResult OracleOnly(string preset, int seed, double scale = 1, SyndromeCatalog? catalog = null, CancellationToken cancellationToken = default,
        bool equalPriors = false) =>
        DatasetPresets.Plan(preset, seed, scale, catalog).EvaluateOracle(cancellationToken, equalPriors);

    /// <summary>Renders one photo of a planned subject in memory (photo numbers start at 1), e.g. for a notebook.</summary>
    public static RenderedPhoto RenderPhoto(DatasetPlan plan, SyntheticSubject subject, int photo, int imageSize = 256)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(subject);
        // Another number would render a photo of the data set that is not this subject's (its nuisance drawn for another).
        if (photo < 1 || photo > subject.Photos)
            throw new ArgumentOutOfRangeException(nameof(photo), photo, $"subject {subject.Id} has photos 1..{subject.Photos}");
        int imageIndex = plan.Subjects.TakeWhile(s => s.Index != subject.Index).Sum(s => s.Photos) + photo - 1;
        using var r = new FaceRenderer(imageSize);
        return Render(r, plan, subject, imageIndex);
    }

    private static RenderedPhoto Render(FaceRenderer renderer, DatasetPlan plan, SyntheticSubject s, int imageIndex)
    {
        var app = SubjectAppearance.Draw(SyntheticRandom.For(plan.Seed, plan.StreamBase + AppearanceStream, s.Index), s.SkinTone);
        var nuisance = PhotoNuisance.Draw(SyntheticRandom.For(plan.Seed, plan.StreamBase + ImageStream, imageIndex), plan.Nuisance, app.HairStyle);
        var shift = TraitSpace.CovariateShift(s.Sex, s.AgeBand);
        return renderer.Render(s.Traits, shift, app, nuisance, StableHash.Of(plan.Seed, plan.StreamBase + NoiseStream, imageIndex));
    }

    /// <summary>Writes a planned data set into <paramref name="dir"/> (no atomic rename; <see cref="Generate"/> wraps it).</summary>
    public static GenerateResult WritePlan(DatasetPlan plan, string dir, GenerateOptions options, IProgress<ProgressUpdate>? progress, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        var jobs = new List<(SyntheticSubject Subject, int Photo)>(plan.ImageCount);
        foreach (var s in plan.Subjects)
            for (int k = 1; k <= s.Photos; k++) jobs.Add((s, k));
        var names = new string[jobs.Count];
        var landmarks = new Vector2[jobs.Count][];
        long done = 0;
        string stage = $"render {plan.Preset}";
        progress?.Report(new ProgressUpdate(stage, 0, jobs.Count));
        Parallel.For(0, jobs.Count,
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Threads), CancellationToken = cancellationToken },
            () => new FaceRenderer(options.ImageSize),
            (i, _, renderer) =>
            {
                var (s, k) = jobs[i];
                var photo = Render(renderer, plan, s, i);
                string name = $"images/{s.Id}_{k}{photo.Extension}";
                File.WriteAllBytes(Path.Combine(dir, name), photo.Encoded);
                names[i] = name;
                landmarks[i] = photo.Landmarks;
                long d = Interlocked.Increment(ref done);
                if (d % 64 == 0 || d == jobs.Count) progress?.Report(new ProgressUpdate(stage, d, jobs.Count));
                return renderer;
            },
            r => r.Dispose());
        cancellationToken.ThrowIfCancellationRequested();

        bool sourceColumn = plan.Subjects.Any(s => s.Label != s.SyndromeId);
        var rows = new List<ManifestRow>(jobs.Count);
        var table = new LandmarkTable(68);
        for (int i = 0; i < jobs.Count; i++)
        {
            var s = jobs[i].Subject;
            rows.Add(new ManifestRow
            {
                Image = names[i], Subject = s.Id, Syndrome = s.Label, Gene = s.Gene, Split = s.Split, Sex = s.Sex, AgeBand = s.AgeBand,
                SkinTone = TraitSpace.SkinTones[s.SkinTone],
                Extra = sourceColumn ? new Dictionary<string, string> { ["source_syndrome"] = s.SyndromeId } : ManifestRow.EmptyExtra,
            });
            table.Set(names[i], landmarks[i]);
        }
        var manifest = new Manifest(dir, rows);
        Splits.EnsureNoLeaks(manifest);
        manifest.Save(Path.Combine(dir, Manifest.FileName), ownerOnly: false);   // synthetic people: shareable as its images are
        table.Save(Path.Combine(dir, LandmarkTable.FileName));
        WriteTraits(plan, Path.Combine(dir, "traits.csv"));
        plan.Catalog.Save(Path.Combine(dir, "catalog.json"));
        var ranks = plan.OracleTestRanks(cancellationToken);
        var equalRanks = plan.OracleTestRanks(cancellationToken, equalPriors: true);
        var oracle = plan.ScoreTestPhotos(ranks);
        var equal = plan.ScoreTestPhotos(equalRanks);
        AtomicFile.WriteAllText(Path.Combine(dir, "oracle.json"), OracleJson(oracle, equal, plan.Preset, ranks, equalRanks).ToJsonString(new() { WriteIndented = true }) + "\n");
        var info = new JsonObject
        {
            ["generator"] = "gestaltlab generate",
            ["preset"] = plan.Preset, ["seed"] = plan.Seed, ["scale"] = plan.Scale, ["nuisance"] = plan.Nuisance.ToString().ToLowerInvariant(),
            ["image_size"] = options.ImageSize, ["images"] = jobs.Count, ["subjects"] = plan.Subjects.Count, ["classes"] = plan.Classes.Count,
            ["catalog"] = plan.Catalog.Name,
            // The name alone does not tell a catalog of one's own that kept the built-in's name (`--write-catalog`, edited).
            ["catalog_sha256"] = RunManifest.ComputeFileHash(Path.Combine(dir, "catalog.json")),
            ["splits"] = new JsonObject(SplitNames.All.Select(sp => KeyValuePair.Create(sp, (JsonNode?)rows.Count(r => r.Split == sp)))),
            ["note"] = SyndromeCatalog.Disclaimer,
            // The renderer's output depends on these (GestaltLab's generator, SkiaSharp's rasteriser), not only on the seed.
            ["packages"] = RunManifest.PackageVersionsJson(),
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "dataset.json"), info.ToJsonString(new() { WriteIndented = true }) + "\n");
        return new GenerateResult(dir, jobs.Count, plan.Subjects.Count, plan.Classes.Count, oracle, equal);
    }

    // The ranks go in each data set's own oracle.json; the index of a preset of several data sets only summarises them.
    private static JsonObject OracleJson(OracleResult o, OracleResult equal, string preset, IReadOnlyDictionary<string, int>? ranks = null, IReadOnlyDictionary<string, int>? equalRanks = null)
    {
        static JsonObject Ranks(IReadOnlyDictionary<string, int> r) => new(r.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
        var equalJson = new JsonObject { ["top1"] = Math.Round(equal.Top1, 4), ["top5"] = Math.Round(equal.Top5, 4), ["top10"] = Math.Round(equal.Top10, 4) };
        if (equalRanks is not null) equalJson["test_ranks"] = Ranks(equalRanks);
        var json = new JsonObject
        {
            ["top1"] = Math.Round(o.Top1, 4), ["top5"] = Math.Round(o.Top5, 4), ["top10"] = Math.Round(o.Top10, 4), ["n_test"] = o.NTest,
            ["preset"] = preset,
            ["note"] = "Bayes classifier on the true trait vectors (class-conditional Gaussians of the generator, the training photos' class frequencies as priors): what reading the traits exactly gives under those priors, the reference for image models. equal_priors: the same with every class equally likely, the reference for a model that ranks with equal priors (GestaltLab's default)."
                + (ranks is null ? "" : " test_ranks: where each test person's true syndrome ranks (1 = first), so the oracle can be scored on exactly the photos a model was scored on."),
            ["equal_priors"] = equalJson,
        };
        if (ranks is not null) json["test_ranks"] = Ranks(ranks);
        return json;
    }

    /// <summary>Writes <c>traits.csv</c>: one row per subject with labels, covariates, severity and the trait z-scores.</summary>
    public static void WriteTraits(DatasetPlan plan, string path)
    {
        var header = new List<string> { "subject", "syndrome", "source_syndrome", "gene", "split", "sex", "age_band", "skin_tone", "photos", "severity" };
        header.AddRange(TraitSpace.Traits.Select(t => t.Name));
        Csv.Write(path, header, plan.Subjects.Select(s =>
        {
            var row = new List<string>(header.Count)
            {
                s.Id, s.Label, s.SyndromeId, s.Gene, s.Split, s.Sex, s.AgeBand, TraitSpace.SkinTones[s.SkinTone],
                s.Photos.ToString(CultureInfo.InvariantCulture), Csv.Format(s.Severity, 4),
            };
            row.AddRange(s.Traits.Select(v => Csv.Format(v, 4)));
            return (IReadOnlyList<string>)row;
        }));
    }
}
