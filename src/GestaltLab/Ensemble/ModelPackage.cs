using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Runtime;

namespace GestaltLab.Ensemble;

/// <summary>
/// A trained model without the data it was trained on, for sharing: a run folder trained on one's own photos holds every
/// photo's aligned face and region crops, the test photos' names and face embeddings, a report naming photos and the
/// data's absolute paths (docs/run-directory.md). A package holds only what <see cref="GestaltModel.Load(string, string?)"/> and
/// <see cref="GestaltPipeline.Load"/> read — the nets, the ensemble, the class names, the region set and the config —
/// and a record (<see cref="RecordFile"/>) of where it came from without any path.
/// </summary>
public static class ModelPackage
{
    /// <summary>The package's own record: what it is, the run's provenance (creation time, data hash, versions) and each file's SHA-256.</summary>
    public const string RecordFile = "model.json";

    private const string Kind = "gestaltlab-model";

    /// <summary>
    /// Copies the model of the finished run <paramref name="runDirectory"/> into <paramref name="outDirectory"/> (new,
    /// empty, or an earlier package, which is replaced whole), checks that the copy loads, and returns the files written.
    /// Written beside the target and renamed into place, so an interrupted export leaves no half package.
    /// </summary>
    /// <exception cref="GestaltLabException">The run is not finished or damaged, or the output folder holds something else.</exception>
    /// <param name="runDirectory">The finished run (or an earlier package).</param>
    /// <param name="outDirectory">The package folder.</param>
    /// <param name="command">What made the package, as its record names it (the CLI passes <c>gestaltlab export-model</c>).</param>
    public static IReadOnlyList<string> Write(string runDirectory, string outDirectory, string command = "ModelPackage.Write")
    {
        string run = Path.GetFullPath(runDirectory).TrimEnd('/'), target = Path.GetFullPath(outDirectory).TrimEnd('/');
        if (RunFolder.IsWithin(target, run) || RunFolder.IsWithin(run, target))
            throw new GestaltLabException($"{outDirectory}: the package must lie outside the run folder (and not around it)", "choose a folder of its own, e.g. next to the run");
        if (File.Exists(target)) throw new GestaltLabException($"{outDirectory}: is a file; --out names a folder for the model");
        // The package is renamed into place: a link would be replaced by a folder, the folder it points at left empty.
        if (new DirectoryInfo(target).LinkTarget is { } linked)
            throw new GestaltLabException($"{outDirectory}: a link (to {linked}); the package is renamed into place, which would replace the link",
                $"pass the folder itself: {Path.GetFullPath(linked, Path.GetDirectoryName(target)!)}");
        using var folderLock = FolderLock.Acquire(target, "export the model into");
        // Held until the copy is made: a training of the run in another process meanwhile would give a package of half
        // old, half new files that still loads.
        using var runLock = FolderLock.AcquireShared(run, "export the model in");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any() && !IsPackage(target))
            throw new GestaltLabException($"{outDirectory}: holds files that are not an exported model's; nothing was written", "choose a new or empty folder");
        // An earlier package is replaced whole: not when something was added to it since (an evaluation of the package
        // writes its tables and aligned crops beside the model), which would go with it.
        if (IsPackage(target) && AddedSince(target) is { Count: > 0 } added)
            throw new GestaltLabException($"{outDirectory}: an exported model with more in it since ({string.Join(", ", added.Take(3))}); replacing it would delete them",
                "move them out (evaluations of the model hold photos' crops and names), or choose a new folder");

        // Loading checks that the run is finished and whole before anything is copied.
        List<string> files;
        using (var model = GestaltModel.Load(run))
        {
            files = ["config.json", "classes.json", "regions.json", GestaltModel.EnsembleFile];
            if (model.JointHead is not null) files.Add(JointHead.FileName);
            foreach (var region in model.Regions)
            {
                files.Add($"regions/{region}.pt");
                if (File.Exists(Path.Combine(run, "regions", region + ".onnx"))) files.Add($"regions/{region}.onnx");
            }
            foreach (var optional in new[] { "ensemble.onnx", "model.zip" })
                if (File.Exists(Path.Combine(run, optional))) files.Add(optional);
        }

        // A package exported again: each file must still be the one its record vouched for (a damaged copy would be
        // vouched for anew).
        if (ReadRecord(run)?["files"] is JsonObject recorded)
            foreach (var f in files)
                if (recorded[f]?.GetValue<string>() is { } sha && RunManifest.ComputeFileHash(Path.Combine(run, f)) != sha)
                    throw new GestaltLabException($"{Path.Combine(run, f)}: not the file the package's {RecordFile} records (its SHA-256 differs): damaged or changed since it was exported",
                        "export again from the run it came from, or restore the package from a copy");
        // What users of other tools get (ONNX Runtime, ML.NET): a truncated or empty file must not ship as working.
        foreach (var f in files.Where(f => f.EndsWith(".onnx", StringComparison.Ordinal) || f == "model.zip"))
            CheckReadable(Path.Combine(run, f));

        string parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        AtomicFile.RemoveLeftovers(parent, Path.GetFileName(target));
        string staging = AtomicFile.TempPath(target);
        try
        {
            Directory.CreateDirectory(Path.Combine(staging, "regions"));
            var hashes = new JsonObject();
            foreach (var f in files)
            {
                File.Copy(Path.Combine(run, f), Path.Combine(staging, f));
                // The region set names the file it was read from ("from /home/…/aligned/regions.json"): a folder path the
                // package promises not to carry. Only that free-text field changes; the regions are byte-for-byte the run's.
                if (f == "regions.json") WithoutSourcePath(Path.Combine(staging, f));
                hashes[f] = RunManifest.ComputeFileHash(Path.Combine(staging, f));
            }
            RunManifest? source = null;
            try { if (File.Exists(Path.Combine(run, RunManifest.FileName))) source = RunManifest.Load(run); }
            catch (GestaltLabException) { }
            // A package exported again keeps the provenance its record carries.
            var earlier = source is null ? ReadRecord(run) : null;
            // A key of the run's run.json configuration, as run_KEY; from an earlier package's record when exported again.
            JsonNode? FromRun(string key) => source is null ? earlier?["run_" + key]?.DeepClone() : source.Config[key]?.DeepClone();
            // Provenance without paths: the data's hash identifies what it was trained on without naming where it lay.
            var record = new JsonObject
            {
                ["kind"] = Kind,
                ["command"] = command,
                ["created_utc"] = DateTime.UtcNow.ToString("O"),
                ["run_command"] = source?.Command ?? earlier?["run_command"]?.DeepClone(),
                ["run_created_utc"] = source?.CreatedUtc ?? earlier?["run_created_utc"]?.DeepClone(),
                ["run_data_hash"] = source?.DataHash ?? earlier?["run_data_hash"]?.DeepClone(),
                ["run_seed"] = source?.Seed ?? earlier?["run_seed"]?.DeepClone(),
                ["run_packages"] = source is null ? earlier?["run_packages"]?.DeepClone() : JsonSerializer.SerializeToNode(source.Packages),
                // What repeating the run needs beside its config and seed, without a path: how the generator made its data
                // (synthetic data; null for one's own photos), the backbone it started from and the thread counts it ran on.
                ["run_data_generator"] = FromRun("data_generator"),
                ["run_pretrained_sha256"] = FromRun("pretrained_sha256"),
                ["run_threads_used"] = FromRun("threads_used"),
                ["run_threads_from"] = FromRun("threads_from"),
                ["packages"] = RunManifest.PackageVersionsJson(),
                ["files"] = hashes,
            };
            AtomicFile.WriteAllText(Path.Combine(staging, RecordFile), record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            // The copy must load on its own: a file the loader needs and the list above missed would show here, not on
            // a colleague's machine.
            // (Without a lock: the staging folder is this call's own, and its name is new each time.)
            using (GestaltModel.Load(staging, priors: null, takeLock: false)) { }
            AtomicFile.ReplaceDirectory(staging, target);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, true);
            throw;
        }
        return [.. files, RecordFile];
    }

    /// <summary>
    /// The creation time and data hash of the run a model comes from: from <c>run.json</c> in a run folder, from the
    /// record in a package; nulls when neither says.
    /// </summary>
    public static (string? CreatedUtc, string? DataHash) RunProvenance(string modelDirectory)
    {
        try
        {
            if (File.Exists(Path.Combine(modelDirectory, RunManifest.FileName)))
            {
                var m = RunManifest.Load(modelDirectory);
                return (m.CreatedUtc, m.DataHash);
            }
            if (ReadRecord(modelDirectory) is { } r)
                return (r["run_created_utc"]?.GetValue<string>(), r["run_data_hash"]?.GetValue<string>());
        }
        catch (Exception e) when (e is GestaltLabException or InvalidOperationException) { }
        return (null, null);
    }

    /// <summary>Top-level entries of a package that its record does not list (added after it was exported).</summary>
    private static List<string> AddedSince(string folder)
    {
        var listed = new HashSet<string>(StringComparer.Ordinal) { RecordFile, "regions" };
        if (ReadRecord(folder)?["files"] is JsonObject files)
            foreach (var (name, _) in files) listed.Add(name.Split('/')[0]);
        return Directory.EnumerateFileSystemEntries(folder).Select(e => Path.GetFileName(e)!)
            .Where(n => !listed.Contains(n)).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>An ONNX model ONNX Runtime can open, or a zip (model.zip) whose entries can be read.</summary>
    private static void CheckReadable(string path)
    {
        const string fix = "restore the file from a copy of the run, or train the model again into a new folder";
        try
        {
            if (path.EndsWith(".zip", StringComparison.Ordinal))
            {
                using var zip = System.IO.Compression.ZipFile.OpenRead(path);
                foreach (var entry in zip.Entries) { using var stream = entry.Open(); stream.CopyTo(Stream.Null); }
            }
            else
            {
                using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(path);
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            throw new GestaltLabException($"{path}: cannot be read ({e.Message.Split('\n')[0]})", fix);
        }
    }

    /// <summary>The generator's record of the data the packaged model was trained on (<c>run_data_generator</c>), or null.</summary>
    public static JsonNode? RecordedDataGenerator(string folder) => ReadRecord(folder)?["run_data_generator"];

    /// <summary>Whether <paramref name="folder"/> holds a package written by <see cref="Write"/>.</summary>
    public static bool IsPackage(string folder) => ReadRecord(folder) is not null;

    // A package's record, or null when the folder holds none (or a file of that name that is not one).
    private static JsonObject? ReadRecord(string folder)
    {
        string record = Path.Combine(folder, RecordFile);
        if (!File.Exists(record)) return null;
        try { return JsonNode.Parse(File.ReadAllText(record)) is JsonObject o && o["kind"]?.GetValue<string>() == Kind ? o : null; }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return null; }
    }

    private static void WithoutSourcePath(string regionsJson)
    {
        var root = JsonNode.Parse(File.ReadAllText(regionsJson)) as JsonObject;
        if (root?["description"] is null) return;
        root["description"] = "GestaltLab region set (exported with the model)";
        File.WriteAllText(regionsJson, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
