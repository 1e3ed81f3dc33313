using GestaltLab.Regions;
using GestaltLab.Runtime;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace GestaltLab.Ensemble;

/// <summary>Input row of a saved GestaltLab pipeline: a photo's path.</summary>
public sealed class GestaltImageInput
{
    /// <summary>Path of the photo (absolute, or relative to the working directory).</summary>
    public string ImagePath { get; set; } = "";
}

/// <summary>
/// The whole fitted model as one ML.NET pipeline: <c>LoadImages → DetectFaceLandmarks → CropFacialRegions →
/// ApplyOnnxModel(ensemble)</c>, saved to one zip (the ONNX bytes live inside it). Output columns: <c>probabilities</c>,
/// <c>embedding</c>, <c>REGION_probabilities</c>, and the face steps' <c>FaceStatus</c>. The zip also names the classes the
/// probabilities are in the order of (<see cref="ClassNames"/>), so that it is one artefact.
/// </summary>
public static class GestaltPipeline
{
    /// <summary>Builds and fits the pipeline for a model and saves it as <paramref name="zipPath"/> (atomically).</summary>
    /// <exception cref="GestaltLabException">The model's crops are not what the ML.NET crop step makes (the default regions, cut as the
    /// default region set cuts them, at 64, 96 or 112 px).</exception>
    public static void Save(GestaltModel model, string zipPath, MLContext? ml = null)
    {
        ml ??= new MLContext(seed: 0);
        ml.RegisterFaceSteps();
        if (WhyNoZip(model) is { } why) throw why;
        // Beside model.zip (in the run's folder, its owner's), not in the shared temp folder; named as the halves of
        // killed writes are, so that a kill's leftover is swept like theirs.
        string onnx = AtomicFile.TempPath(Path.ChangeExtension(Path.GetFullPath(zipPath), ".ensemble.onnx"));
        Directory.CreateDirectory(Path.GetDirectoryName(onnx)!);
        try
        {
            // (Inside the try: a disk that fills while the graph is written leaves no half of it behind.)
            try { File.WriteAllBytes(onnx, model.ExportOnnx()); }
            catch (IOException e)
            {
                throw new GestaltLabException($"{zipPath}: could not be written ({AtomicFile.WithoutTempNames(e.Message)})", "check that the disk has room and the folder can be written, then run the command again", e);
            }
            var outputs = new[] { "probabilities", "embedding" }.Concat(model.Regions.Select(r => r + "_probabilities")).ToArray();
            var pipeline = ml.Transforms.LoadImages("Image", imageFolder: "", inputColumnName: nameof(GestaltImageInput.ImagePath))
                .Append(ml.Transforms.DetectFaceLandmarks())
                .Append(ml.Transforms.CropFacialRegions(model.InputSize))
                .Append(ml.Transforms.ApplyOnnxModel(outputs, model.InputRegions.ToArray(), onnx));
            var empty = ml.Data.LoadFromEnumerable(Array.Empty<GestaltImageInput>());
            using var fitted = pipeline.Fit(empty);
            AtomicFile.Write(zipPath, s =>
            {
                using var saved = new MemoryStream();
                ml.Model.Save(fitted, empty.Schema, saved);
                saved.Position = 0;
                WithFixedTimes(saved, s, System.Text.Json.JsonSerializer.Serialize(model.Classes));
            });
        }
        finally
        {
            try { File.Delete(onnx); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Why <see cref="Save"/> cannot make a model.zip of <paramref name="model"/> (crops the ML.NET crop step does not cut:
    /// another size, other regions, regions cut otherwise), as the error it throws; null when it can.
    /// </summary>
    internal static GestaltLabException? WhyNoZip(GestaltModel model)
    {
        if (!FaceMappings.CropSizes.Contains(model.InputSize))
            return new GestaltLabException($"the ML.NET crop step offers {string.Join(", ", FaceMappings.CropSizes)} px crops; this model takes {model.InputSize} px",
                "train with net.input_size 64, 96 or 112 to get a model.zip (region nets and ensemble.onnx are written anyway)");
        var defaults = RegionSet.Default.Names;
        var foreign = model.InputRegions.Where(r => !defaults.Contains(r)).ToList();
        if (foreign.Count > 0)
            return new GestaltLabException($"regions {string.Join(", ", foreign)} are not in the default region set the ML.NET crop step cuts");
        // Same names are not the same crops: a region set with other landmarks or padding (align --regions) would
        // feed the nets crops they were not trained on, and model.zip would disagree with the run it came from.
        var reshaped = model.InputRegions.Where(r => !model.RegionSet[r].CutsLike(RegionSet.Default[r])).ToList();
        if (reshaped.Count > 0)
            return new GestaltLabException($"regions {string.Join(", ", reshaped)} are cut differently from the default region set the ML.NET crop step cuts",
                "the region nets and ensemble.onnx are written anyway; use them through GestaltModel (predict, evaluate)");
        return null;
    }

    /// <summary>When every entry of a saved model.zip says it was written: a fixed date, so that the same model saves to the same bytes.</summary>
    public static readonly DateTimeOffset EntryTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The zip entry naming the classes, in the order of the <c>probabilities</c> column (ML.NET's loader reads only its own entries).</summary>
    public const string ClassesEntry = "GestaltLab/classes.json";

    // ML.NET stamps each zip entry with the clock, so two identical trainings gave model.zip files that differ in
    // their timestamps alone; the entries are copied, in order and unchanged, under one fixed time, and the class names
    // added after them.
    private static void WithFixedTimes(Stream source, Stream target, string classesJson)
    {
        using var input = new System.IO.Compression.ZipArchive(source, System.IO.Compression.ZipArchiveMode.Read, leaveOpen: true);
        using var output = new System.IO.Compression.ZipArchive(target, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true);
        foreach (var entry in input.Entries)
        {
            var copy = output.CreateEntry(entry.FullName, System.IO.Compression.CompressionLevel.Optimal);
            copy.LastWriteTime = EntryTime;
            if (entry.FullName.EndsWith('/')) continue;
            using var from = entry.Open();
            using var to = copy.Open();
            from.CopyTo(to);
        }
        var classes = output.CreateEntry(ClassesEntry, System.IO.Compression.CompressionLevel.Optimal);
        classes.LastWriteTime = EntryTime;
        using var writer = new StreamWriter(classes.Open(), new System.Text.UTF8Encoding(false));
        writer.Write(classesJson);
    }

    /// <summary>
    /// The class (syndrome) names a saved pipeline's <c>probabilities</c> are in the order of, read from the zip itself.
    /// </summary>
    /// <param name="zipPath">A <c>model.zip</c>, or the run folder holding it.</param>
    /// <exception cref="GestaltLabException">No such zip, not a zip, or one saved before model.zip named its classes (the
    /// run's <c>classes.json</c> has them).</exception>
    public static IReadOnlyList<string> ClassNames(string zipPath)
    {
        string zip = ZipOf(zipPath);
        try
        {
            using var archive = System.IO.Compression.ZipFile.OpenRead(zip);
            var entry = archive.GetEntry(ClassesEntry)
                ?? throw new GestaltLabException($"{zip}: saved before model.zip named its classes",
                    $"read them from the run's classes.json ({Path.Combine(Path.GetDirectoryName(zip)!, "classes.json")}), or train the run again (it rewrites model.zip)");
            using var reader = new StreamReader(entry.Open());
            return System.Text.Json.JsonSerializer.Deserialize<string[]>(reader.ReadToEnd()) is { Length: > 0 } names
                ? names : throw new GestaltLabException($"{zip}: {ClassesEntry} names no classes", "the file is damaged: copy it again, or train the run again");
        }
        catch (Exception e) when (e is InvalidDataException or System.Text.Json.JsonException)
        {
            throw new GestaltLabException($"{zip}: not a readable model zip ({e.Message.Split('\n')[0]})", "copy the file again if it was cut short, or train the run again", e);
        }
    }

    // A run's folder stands for the model.zip in it.
    private static string ZipOf(string path)
    {
        if (Directory.Exists(path))
            return File.Exists(Path.Combine(path, "model.zip")) ? Path.Combine(path, "model.zip")
                : throw new GestaltLabException($"{path}: a folder without model.zip", "pass a finished run's folder (`gestaltlab train` writes model.zip into it) or the zip itself");
        return File.Exists(path) ? path
            : throw new GestaltLabException($"{path}: model zip not found", "pass the model.zip of a finished run (RUN/model.zip), or the run's folder");
    }

    /// <summary>Loads a saved pipeline (registers the face steps with <paramref name="ml"/>).</summary>
    /// <param name="zipPath">A <c>model.zip</c>, or the run folder holding it.</param>
    /// <param name="ml">The context to load into (a new one when null).</param>
    /// <remarks>
    /// Dispose the returned transformer when done with it (it is an <see cref="IDisposable"/> chain): it holds ONNX
    /// Runtime sessions, and ML.NET unpacks the ensemble's graph into a temporary file that only disposing removes.
    /// </remarks>
    public static ITransformer Load(string zipPath, MLContext? ml = null)
    {
        ml ??= new MLContext(seed: 0);
        ml.RegisterFaceSteps();
        zipPath = ZipOf(zipPath);
        using var s = File.OpenRead(zipPath);
        try
        {
            return ml.Model.Load(s, out _);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or EndOfStreamException)
        {
            throw new GestaltLabException($"{zipPath}: not a readable ML.NET model zip ({e.Message})",
                "copy the file again if it was cut short, or delete it and train the run again (`gestaltlab train` on a finished run writes a missing model.zip anew)", e);
        }
    }

    /// <summary>
    /// Runs a loaded pipeline on photo paths: face status and ensemble probabilities per photo, in order (empty arrays when
    /// the photo has no usable face, <c>no_face</c>, or cannot be read, <c>unreadable</c>). One bad photo never costs the
    /// others their result: ML.NET's image loader stops the whole batch at a missing, foreign or corrupt file, so such
    /// files are set aside first and, should the batch still fail, each photo is scored on its own.
    /// </summary>
    public static IReadOnlyList<(string Status, float[] Probabilities, float[] Embedding)> Predict(ITransformer pipeline, IEnumerable<string> imagePaths, MLContext? ml = null)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ml ??= new MLContext(seed: 0);
        var paths = imagePaths.Select(Path.GetFullPath).ToList();
        var results = new (string Status, float[] Probabilities, float[] Embedding)[paths.Count];
        (string, float[], float[]) unreadable = ("unreadable", [], []);
        var readable = new List<int>();
        for (int i = 0; i < paths.Count; i++)
        {
            if (LooksReadable(paths[i])) readable.Add(i);
            else results[i] = unreadable;
        }
        try
        {
            var scored = Score(pipeline, readable.Select(i => paths[i]).ToList(), ml);
            for (int k = 0; k < readable.Count; k++) results[readable[k]] = scored[k];
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
        {
            // A file that starts like a photo but is damaged further in: find it by scoring the photos one by one.
            foreach (int i in readable)
            {
                try { results[i] = Score(pipeline, [paths[i]], ml)[0]; }
                catch (Exception one) when (one is InvalidOperationException or ArgumentException or FormatException) { results[i] = unreadable; }
            }
        }
        return results;
    }

    /// <summary>The file exists and starts as a photo ML.NET decodes (JPEG, PNG, BMP, WebP, GIF).</summary>
    private static bool LooksReadable(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            Span<byte> head = stackalloc byte[16];
            int n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            return Data.ImageLoader.Sniff(head[..n]) != Data.ImageLoader.Format.Unknown;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    private static List<(string Status, float[] Probabilities, float[] Embedding)> Score(ITransformer pipeline, List<string> paths, MLContext ml)
    {
        var data = ml.Data.LoadFromEnumerable(paths.Select(p => new GestaltImageInput { ImagePath = p }).ToList());
        var scored = pipeline.Transform(data);
        var status = scored.GetColumn<string>("FaceStatus").ToList();
        var probs = scored.GetColumn<float[]>("probabilities").ToList();
        var emb = scored.GetColumn<float[]>("embedding").ToList();
        return status.Select((s, i) => (s, s is "no_face" or "unreadable" ? [] : probs[i], s is "no_face" or "unreadable" ? [] : emb[i])).ToList();
    }
}
