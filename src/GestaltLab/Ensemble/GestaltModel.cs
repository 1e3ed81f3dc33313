using System.Text.Json;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Ensemble;

/// <summary>
/// A trained DeepGestalt-style model: one <see cref="RegionNet"/> per facial region, combined by a joint discriminant over
/// all regions' embeddings, a weighted log-linear pool or a weighted softmax average (<see cref="EnsembleCombination"/>),
/// with flip test-time augmentation. Loads from a run directory (<c>config.json</c>, <c>classes.json</c>, <c>regions.json</c>,
/// <c>regions/REGION.pt</c>, <c>ensemble.json</c>, and <c>joint_head.pt</c> for the joint head); predicts from region
/// crops or from a photo.
/// </summary>
/// <example>
/// <code>
/// using var model = GestaltModel.Load("runs/demo");
/// using var faces = new FacePipeline(model.FacePipelineOptions());
/// var p = model.PredictImage(faces, "photo.jpg");
/// foreach (var s in p!.Top(5)) Console.WriteLine($"{s.Rank}. {s.Syndrome} {s.Probability:P1}");
/// </code>
/// </example>
public sealed class GestaltModel : IDisposable
{
    private readonly List<(string Region, RegionNet Net)> _nets;
    private readonly bool _ownsNets;
    private volatile bool _disposed;   // read by predictions on other threads (a dispose mid-prediction is said as such)

    /// <summary>A model from trained nets (all with the same classes and input size).</summary>
    /// <param name="nets">Region name and net, in ensemble order.</param>
    /// <param name="classes">Class names in output order.</param>
    /// <param name="regions">Crop geometry and mirrors.</param>
    /// <param name="flipTta">Average each region over the face and its flip.</param>
    /// <param name="regionWeights">Weight of each region; null = equal weights (1/R). For <see cref="EnsembleCombination.Average"/>
    /// they are normalised to sum 1; a log-linear pool keeps them as they are (their sum sets its sharpness).</param>
    /// <param name="combination">A <see cref="EnsembleCombination"/> name.</param>
    /// <param name="jointHead">The classifier of <see cref="EnsembleCombination.Joint"/> (required for it, not allowed otherwise);
    /// <paramref name="regionWeights"/> then only weigh the regions' support for a class (<see cref="GestaltPrediction.Top"/>).</param>
    /// <param name="classPriors">The training frequencies and fitted strength (kept and saved even when <paramref name="priors"/> is equal).</param>
    /// <param name="priors"><see cref="ClassPriors.Equal"/>, or <see cref="ClassPriors.Training"/> (needs <paramref name="classPriors"/>).</param>
    /// <param name="ownsNets">Whether disposing this model disposes the nets (the default). Pass false for a model built
    /// over another model's nets (e.g. <c>model.Nets</c> combined another way), so that disposing it leaves them usable.</param>
    /// <remarks>The combination defaults to <see cref="EnsembleCombination.Average"/> here because the joint one needs a
    /// fitted <paramref name="jointHead"/>; trained runs default to the joint head (<see cref="TrainConfig"/>).</remarks>
    public GestaltModel(IReadOnlyList<(string Region, RegionNet Net)> nets, IReadOnlyList<string> classes, RegionSet regions, bool flipTta = true,
        IReadOnlyDictionary<string, double>? regionWeights = null, string combination = EnsembleCombination.Average, JointHead? jointHead = null,
        ClassPriors? classPriors = null, string priors = ClassPriors.Equal, bool ownsNets = true)
    {
        if (nets.Count == 0) throw new GestaltLabException("a gestalt model needs at least one region net");
        _nets = nets.ToList();
        _ownsNets = ownsNets;
        Combination = EnsembleCombination.Check(combination, "gestalt model");
        if ((Combination == EnsembleCombination.Joint) != (jointHead is not null))
            throw new GestaltLabException(jointHead is null ? "gestalt model: the joint combination needs a joint head" : $"gestalt model: a joint head is only used by the \"{EnsembleCombination.Joint}\" combination, not \"{Combination}\"");
        if (jointHead is not null)
        {
            long d = nets.Sum(n => (long)n.Net.Config.EmbeddingSize);
            if (jointHead.ClassCount != classes.Count || jointHead.InputSize != d)
                throw new GestaltLabException($"gestalt model: joint head is {jointHead.ClassCount} × {jointHead.InputSize}, the model has {classes.Count} classes and {d} embedding values");
        }
        JointHead = jointHead;
        Priors = ClassPriors.Check(priors, "gestalt model");
        if (classPriors is not null && classPriors.Frequencies.Count != classes.Count)
            throw new GestaltLabException($"gestalt model: class priors for {classPriors.Frequencies.Count} classes, the model has {classes.Count}");
        if (Priors == ClassPriors.Training && classPriors is null)
            throw new GestaltLabException("gestalt model: training priors need the training frequencies, and this run has none recorded",
                "runs trained before priors were recorded rank with equal priors; train again to use training priors");
        ClassPriors = classPriors;
        _priorWeights = Priors == ClassPriors.Training ? classPriors!.Weights() : null;
        RegionWeights = new System.Collections.ObjectModel.ReadOnlyDictionary<string, double>(
            new Dictionary<string, double>(CheckWeights(nets.Select(n => n.Region).ToList(), regionWeights, normalise: Combination == EnsembleCombination.Average), StringComparer.Ordinal));
        Classes = classes;
        RegionSet = regions;
        FlipTta = flipTta;
        foreach (var (r, n) in nets)
        {
            if (n.ClassCount != classes.Count) throw new GestaltLabException($"region {r}: net has {n.ClassCount} outputs, model has {classes.Count} classes");
            n.eval();
        }
    }

    /// <summary>The run directory the model was loaded from or trained into (full path; null for a model built in memory).</summary>
    public string? Directory { get; internal init; }

    // The SHA-256 of ensemble.json as loaded: what tells this model from the run's content after a training of it.
    private string? _ensembleHash;

    /// <summary>SHA-256 of the run's ensemble.json as loaded (it records every fitted file's hash): which model this is; null when not loaded from a run.</summary>
    internal string? EnsembleHash => _ensembleHash;

    /// <summary>
    /// Null while the run folder still holds the model this one was loaded as; else why not (trained again or replaced
    /// since, by a `train` or a notebook's <c>TrainAfresh</c>): results of this model filed in the run would pass for the
    /// new model's.
    /// </summary>
    internal string? ChangedSinceLoad()
    {
        if (Directory is null || _ensembleHash is null) return null;
        string path = Path.Combine(Directory, EnsembleFile);
        if (!File.Exists(path)) return $"the run no longer holds a finished model ({EnsembleFile} is gone): it is being trained again";
        return RunManifest.ComputeFileHash(path) == _ensembleHash ? null
            : $"the run was trained again since this model was loaded ({EnsembleFile} differs): its results would be filed under the new model";
    }

    /// <summary>Class names in output order.</summary>
    public IReadOnlyList<string> Classes { get; }
    /// <summary>
    /// Weight of each region in the combination (1/R each unless training fitted them on the validation split and saved
    /// them in <c>ensemble.json</c>; see <see cref="Calibration.FitLogLinearWeights"/> and <see cref="Calibration.FitMixtureWeights"/>).
    /// </summary>
    public IReadOnlyDictionary<string, double> RegionWeights { get; }
    /// <summary>How regions are combined (<see cref="EnsembleCombination"/>).</summary>
    public string Combination { get; }
    /// <summary>The joint discriminant of <see cref="EnsembleCombination.Joint"/>; null for the pools.</summary>
    public JointHead? JointHead { get; }
    /// <summary>The priors predictions rank with: <see cref="ClassPriors.Equal"/> or <see cref="ClassPriors.Training"/>.</summary>
    public string Priors { get; }
    /// <summary>The training frequencies and their fitted strength, when the run recorded them (null for older runs).</summary>
    public ClassPriors? ClassPriors { get; }
    private readonly float[]? _priorWeights;
    /// <summary>Name of the run-directory file holding <see cref="RegionWeights"/>.</summary>
    public const string EnsembleFile = "ensemble.json";

    // source names where the weights came from in the errors (a run's ensemble.json, with the fix for a damaged one).
    private static Dictionary<string, double> CheckWeights(IReadOnlyList<string> regions, IReadOnlyDictionary<string, double>? weights, bool normalise,
        string source = "ensemble weights", string? fix = null)
    {
        if (weights is null) return regions.ToDictionary(r => r, _ => 1.0 / regions.Count, StringComparer.Ordinal);
        foreach (var r in regions)
            if (!weights.TryGetValue(r, out var w) || !(w >= 0) || !double.IsFinite(w)) throw new GestaltLabException($"{source}: region {r} has no valid weight", fix);
        double sum = regions.Sum(r => weights[r]);
        if (!(sum > 0)) throw new GestaltLabException($"{source}: the weights sum to 0", fix);
        return regions.ToDictionary(r => r, r => normalise ? weights[r] / sum : weights[r], StringComparer.Ordinal);
    }

    /// <summary>
    /// Writes <see cref="Combination"/> and <see cref="RegionWeights"/> to <c>RUN/ensemble.json</c>, and the
    /// <see cref="JointHead"/>, if any, to <c>RUN/joint_head.pt</c> (first, so that ensemble.json never names a missing head).
    /// </summary>
    /// <param name="runDirectory">The run folder.</param>
    /// <param name="fittedFiles">The run's files this ensemble was fitted with and to (paths relative to the run: its
    /// config, the region nets, the exports), recorded with their SHA-256 as <c>fitted_files</c> (the joint head's too):
    /// a file edited, cut or swapped since is no longer this fit's (<see cref="FittedFilesChanged"/>). Null records none.</param>
    public void SaveWeights(string runDirectory, IReadOnlyList<string>? fittedFiles = null)
    {
        // The classes too: classes.json alone names the outputs, and two names swapped there would swap two diagnoses
        // without a sign; Load checks the one against the other.
        var json = new Dictionary<string, object> { ["combination"] = Combination, ["flip_tta"] = FlipTta, ["weights"] = RegionWeights, ["priors"] = Priors, ["classes"] = Classes };
        if (ClassPriors is not null)
            json["class_priors"] = new Dictionary<string, object> { ["strength"] = ClassPriors.Strength, ["frequencies"] = ClassPriors.Frequencies };
        if (JointHead is not null)
        {
            JointHead.Save(Path.Combine(runDirectory, JointHead.FileName));
            json["joint_head"] = new Dictionary<string, object> { ["file"] = JointHead.FileName, ["shrinkage"] = JointHead.Shrinkage, ["temperature"] = JointHead.Temperature };
        }
        if (fittedFiles is not null)
            json["fitted_files"] = fittedFiles.Concat(JointHead is null ? [] : [JointHead.FileName]).Distinct(StringComparer.Ordinal)
                .ToDictionary(f => f.Replace('\\', '/'), f => RunManifest.FileHashOrState(Path.Combine(runDirectory, f)), StringComparer.Ordinal);
        string file = Path.Combine(runDirectory, EnsembleFile);
        AtomicFile.WriteAllText(file, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        // Saved into its own run (a training's last step), this model is that run's from now on, as if loaded from it: what
        // it scores is filed under that ensemble.json's hash, and a training of the run since is noticed.
        if (Directory is { } own && RunFolder.RealPath(own) == RunFolder.RealPath(runDirectory)) _ensembleHash = RunManifest.ComputeFileHash(file);
    }

    /// <summary>
    /// The priors a finished run ranks with unless told otherwise (its <c>ensemble.json</c>: what <see cref="Load(string, string?)"/> uses
    /// without <c>priors</c>; <c>config.json</c> may already name others while a priors-only training is under way).
    /// </summary>
    /// <exception cref="GestaltLabException">The run did not finish (no ensemble.json), or its ensemble.json is damaged.</exception>
    public static string SavedPriors(string runDirectory) => LoadWeights(runDirectory).Priors;

    /// <summary>
    /// Which of the files a finished run's ensemble was fitted with and to (its <c>ensemble.json</c>'s <c>fitted_files</c>)
    /// is no longer as it was — edited, cut short, swapped for another run's, gone — or why that cannot be told (a run that
    /// recorded none, an unreadable record); null when every one is unchanged.
    /// </summary>
    /// <param name="runDirectory">The run folder.</param>
    /// <param name="required">Files that must be among those recorded (a record edited down to fewer would hide others).</param>
    public static string? FittedFilesChanged(string runDirectory, IEnumerable<string>? required = null)
    {
        System.Text.Json.Nodes.JsonObject? files;
        try { files = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(runDirectory, EnsembleFile)))?["fitted_files"] as System.Text.Json.Nodes.JsonObject; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException) { return $"{EnsembleFile} unreadable"; }
        if (files is null || files.Count == 0) return $"{EnsembleFile} records no fitted files";
        if (required?.FirstOrDefault(f => !files.ContainsKey(f)) is { } unrecorded) return $"{unrecorded} (not recorded)";
        foreach (var (name, recorded) in files)
        {
            string? hash = recorded is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out string? h) ? h : null;
            if (name.Split('/').Contains("..") || Path.IsPathRooted(name) || hash is null || RunManifest.FileHashOrState(Path.Combine(runDirectory, name)) != hash)
                return name;
        }
        return null;
    }

    /// <summary>The class names <c>ensemble.json</c> records, or null (a run from before they were recorded, or no such file yet).</summary>
    private static string[]? SavedClasses(string runDirectory)
    {
        string path = Path.Combine(runDirectory, EnsembleFile);
        if (!File.Exists(path)) return null;
        try { return System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))?["classes"]?.AsArray().Select(n => n?.GetValue<string>() ?? "").ToArray(); }
        // Damage elsewhere in the file is reported by the weights' reader, with what to do.
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return null; }
    }

    // Runs from before log-linear pooling wrote "weighted softmax average".
    private static (Dictionary<string, double>? Weights, string Combination, string Priors, ClassPriors? ClassPriors) LoadWeights(string runDirectory)
    {
        string path = Path.Combine(runDirectory, EnsembleFile);
        // Training writes it after every region net, the weights, the joint head and the priors: without it the run stopped
        // on the way, and its nets alone are not the model it was configured to be (not even with equal weights).
        if (!File.Exists(path))
            throw new GestaltLabException($"{path}: not found — the training of {runDirectory} did not finish (it stopped after the region nets)",
                "run the same `gestaltlab train` (or `demo`) again: it reloads the finished nets and fits the rest");
        try
        {
            var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path));
            var node = root?["weights"]?.AsObject() ?? throw new GestaltLabException($"{path}: no \"weights\" object");
            string? combination = root["combination"]?.GetValue<string>();
            combination = combination is null or "weighted softmax average" ? EnsembleCombination.Average : EnsembleCombination.Check(combination, path);
            // Runs from before priors were recorded have neither key: equal priors, no frequencies.
            string priors = root["priors"] is { } p ? ClassPriors.Check(p.GetValue<string>(), path) : ClassPriors.Equal;
            ClassPriors? classPriors = null;
            if (root["class_priors"] is System.Text.Json.Nodes.JsonObject cp)
            {
                var frequencies = cp["frequencies"]?.AsArray().Select(v => v!.GetValue<double>()).ToArray();
                double strength = cp["strength"]?.GetValue<double>() ?? double.NaN;
                if (frequencies is null || frequencies.Length == 0 || frequencies.Any(f => !(f > 0) || !double.IsFinite(f)) || !(strength >= 0) || !double.IsFinite(strength))
                    throw new GestaltLabException($"{path}: class_priors needs positive \"frequencies\" and a \"strength\" ≥ 0");
                classPriors = new ClassPriors(frequencies, strength);
            }
            return (node.ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>(), StringComparer.Ordinal), combination, priors, classPriors);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new GestaltLabException($"{path}: unreadable ensemble weights ({e.Message})",
                "delete it and run the same `gestaltlab train` again: it reloads the finished nets and writes it anew");
        }
    }

    /// <summary>Regions of the ensemble, in order.</summary>
    public IReadOnlyList<string> Regions => _nets.Select(n => n.Region).ToList();
    /// <summary>The region set (crop geometry and mirrors).</summary>
    public RegionSet RegionSet { get; }
    /// <summary>Whether predictions average over the horizontally flipped face.</summary>
    public bool FlipTta { get; }
    /// <summary>Input crop side.</summary>
    public int InputSize => Live[0].Net.Config.InputSize;
    /// <summary>The region nets (owned by this model unless it was built with <c>ownsNets: false</c>).</summary>
    public IReadOnlyList<(string Region, RegionNet Net)> Nets => Live.AsReadOnly();

    // The nets, or an ObjectDisposedException naming the model rather than a bare index error from an emptied list.
    private List<(string Region, RegionNet Net)> Live
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _nets;
        }
    }
    /// <summary>Regions whose crops a prediction needs (ensemble regions and, with TTA, their mirrors).</summary>
    public IReadOnlyList<string> InputRegions => Regions.Concat(FlipTta ? Regions.Select(RegionSet.MirrorOf) : []).Distinct().ToList();

    /// <summary>Face pipeline settings whose crops match this model (its region set at its input size).</summary>
    public FacePipelineOptions FacePipelineOptions(string? landmarkModel = null) => new() { ModelPath = landmarkModel, Regions = RegionSet };

    /// <summary>Loads a run directory written by <c>gestaltlab train</c> or <c>demo</c>.</summary>
    /// <param name="runDirectory">The run directory.</param>
    /// <param name="priors">Rank with these priors (<see cref="ClassPriors.Equal"/> or <see cref="ClassPriors.Training"/>)
    /// instead of the ones the run was trained to use; null keeps the run's.</param>
    /// <exception cref="GestaltLabException">A file is missing or does not match, training priors were asked of a run that
    /// did not record them, or another process trains or replaces the run right now (<see cref="FolderLock"/>).</exception>
    public static GestaltModel Load(string runDirectory, string? priors = null) => Load(runDirectory, priors, takeLock: true);

    /// <summary><see cref="Load(string, string?)"/>, optionally without the run's shared lock (a folder of the caller's own).</summary>
    internal static GestaltModel Load(string runDirectory, string? priors, bool takeLock)
    {
        TorchRuntime.EnsureLoaded();
        string dir = Path.GetFullPath(runDirectory);
        // A file (often RUN/model.zip, the ML.NET pipeline) or a mistyped folder: said as such, not as "classes.json not found".
        if (File.Exists(dir))
            throw new GestaltLabException($"{runDirectory}: is a file; a model is the folder `gestaltlab train` or `demo` wrote (or an `export-model` folder)",
                Path.GetFileName(dir) == "model.zip" ? $"pass its folder: {Path.GetDirectoryName(dir)} (model.zip is the same model as one ML.NET pipeline, for ML.NET code)" : "pass the run's folder");
        if (!System.IO.Directory.Exists(dir)) throw new GestaltLabException($"{runDirectory}: folder not found", "check the path of the run folder (`gestaltlab demo` writes runs/demo)");
        // Not while another process trains the run or replaces it (a resumed training rewrites the heads and ensemble
        // files this reads one after another: the model could be half old, half new).
        using var readLock = takeLock ? FolderLock.AcquireShared(dir, "load the model in") : null;
        string classesPath = Path.Combine(dir, "classes.json"), configPath = Path.Combine(dir, "config.json"), regionsPath = Path.Combine(dir, "regions.json");
        foreach (var p in new[] { classesPath, configPath, regionsPath })
            if (!File.Exists(p)) throw new GestaltLabException($"{p}: not found — is {runDirectory} a finished training run?", "run `gestaltlab train` (in C#: GestaltTraining.Train; it resumes an interrupted run)");
        string[]? classes;
        try { classes = JsonSerializer.Deserialize<string[]>(File.ReadAllText(classesPath)); }
        catch (JsonException e)
        {
            throw new GestaltLabException($"{classesPath}: not a list of class names ({e.Message.Split('\n')[0]})",
                "the file is damaged: run `gestaltlab train` again into a new folder, or restore the run from a copy");
        }
        if (classes is not { Length: > 0 } || classes.Any(string.IsNullOrEmpty))
            throw new GestaltLabException($"{classesPath}: no class names", "the file is damaged: run `gestaltlab train` again into a new folder, or restore the run from a copy");
        // Names are printed to terminals and written into tables: control characters (a shared run's ANSI escapes could
        // rewrite the ranking on screen) and formula-like names (run by spreadsheets opening probabilities.csv) are
        // refused, as the manifest refuses them for training.
        if (classes.Select(Data.Manifest.SyndromeNameProblem).FirstOrDefault(p => p is not null) is { } odd)
            throw new GestaltLabException($"{classesPath}: a class name {odd}", "the file is damaged or not from GestaltLab: train the model again");
        if (classes.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new GestaltLabException($"{classesPath}: class '{twice.Key}' is listed twice", "the file is damaged: restore the run from a copy, or train the model again");
        // What the ensemble was fitted with (runs from before it was recorded have none): the same names in the same order.
        if (SavedClasses(dir) is { } saved && !saved.SequenceEqual(classes, StringComparer.Ordinal))
            throw new GestaltLabException($"{classesPath}: not the classes the ensemble was trained with ({EnsembleFile} names them" +
                (saved.Length != classes.Length ? $": {saved.Length} against {classes.Length})" : $" in another order or otherwise, e.g. '{saved.Zip(classes).First(t => t.First != t.Second).First}' where classes.json has '{saved.Zip(classes).First(t => t.First != t.Second).Second}')"),
                "classes.json is damaged: restore the run from a copy (its outputs would be labelled with the wrong syndromes)");
        var config = TrainConfig.Load(configPath, allowUnknownKeys: true);
        var set = RegionSet.Load(regionsPath);
        // The config's regions name files (regions/NAME.pt): only regions of the checked region set are read.
        if (config.Regions?.FirstOrDefault(r => !set.Names.Contains(r)) is { } unknown)
            throw new GestaltLabException($"{configPath}: region {JsonSerializer.Serialize(unknown)} is not in {regionsPath}", "the run is damaged or not from GestaltLab: train the model again");
        var nets = new List<(string, RegionNet)>();
        try
        {
            foreach (var region in config.Regions ?? set.Names)
            {
                string path = Path.Combine(dir, "regions", region + ".pt");
                // Written when a region's training ends: without it the run stopped while that region was training.
                if (!File.Exists(path))
                    throw new GestaltLabException($"{path}: not found — the training of {runDirectory} did not finish (region {region} has no final net)",
                        "run the same `gestaltlab train` (or `demo`) again: it resumes from the last epoch checkpoint");
                var (_, tensors) = WeightsFile.Load(path);
                try
                {
                    // A net with another number of outputs than classes.json names: the list is damaged (or the net is
                    // another run's), said as such rather than as a tensor shape.
                    if (tensors.TryGetValue("fc.weight", out var fc) && fc.shape.Length == 2 && fc.shape[0] != classes.Length)
                        throw new GestaltLabException($"{classesPath}: names {classes.Length} classes, but {path} has {fc.shape[0]} outputs",
                            "classes.json (or the net) is damaged or from another run: restore the run from a copy, or train the model again");
                    var net = new RegionNet(config.Net, classes.Length);
                    WeightsFile.CopyInto(net, tensors, path);
                    net.to(TorchRuntime.DefaultDevice());
                    nets.Add((region, net));
                }
                finally { foreach (var t in tensors.Values) t.Dispose(); }
            }
            var (weights, combination, runPriors, classPriors) = LoadWeights(dir);
            var joint = combination == EnsembleCombination.Joint ? JointHead.Load(Path.Combine(dir, JointHead.FileName)) : null;
            // Checked here, where the file is known, rather than by the constructor, which would not name it.
            if (weights is not null)
                CheckWeights(nets.Select(n => n.Item1).ToList(), weights, normalise: false, $"{Path.Combine(dir, EnsembleFile)}: ensemble weights",
                    "the file is damaged: run the same `gestaltlab train` again on the run (it refits the ensemble), or restore it from a copy");
            return new GestaltModel(nets, classes, set, config.TtaFlip, weights, combination, joint, classPriors,
                priors is null ? runPriors : ClassPriors.Check(priors, dir)) { Directory = dir, _ensembleHash = RunManifest.ComputeFileHash(Path.Combine(dir, EnsembleFile)) };
        }
        catch
        {
            foreach (var (_, n) in nets) n.Dispose();
            throw;
        }
    }

    /// <summary>Predicts for a batch of faces; each face is region name → RGB CHW crop in [0, 1] of <see cref="InputSize"/>².</summary>
    public IReadOnlyList<GestaltPrediction> Predict(IReadOnlyList<IReadOnlyDictionary<string, float[]>> faces, int batchSize = 64)
    {
        ArgumentNullException.ThrowIfNull(faces);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        var results = new List<GestaltPrediction>(faces.Count);
        for (int start = 0; start < faces.Count; start += batchSize)
        {
            int first = start;
            results.AddRange(PredictBatch(faces.Skip(start).Take(batchSize).ToList(), i => $"face {first + i}"));
        }
        return results;
    }

    /// <summary>
    /// Predicts for samples of a data set (e.g. an aligned folder's test or validation photos), reading their crops one
    /// batch at a time (in parallel) so memory stays bounded whatever the number of samples.
    /// </summary>
    /// <param name="samples">Where the crops come from (at <see cref="InputSize"/>).</param>
    /// <param name="indices">Samples to predict, in output order.</param>
    /// <param name="progress">One unit per sample under <paramref name="stage"/>.</param>
    /// <param name="stage">Progress stage name.</param>
    /// <param name="cancellationToken">Cancels between batches.</param>
    public IReadOnlyList<GestaltPrediction> Predict(IRegionSamples samples, IReadOnlyList<int> indices, IProgress<ProgressUpdate>? progress = null,
        string stage = "predict", CancellationToken cancellationToken = default)
    {
        const int batch = 64;
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(indices);
        foreach (int i in indices)
            if ((uint)i >= (uint)samples.Count)
                throw new ArgumentOutOfRangeException(nameof(indices), i, $"sample index {i} is outside the {samples.Count} samples");
        var predictions = new List<GestaltPrediction>(indices.Count);
        progress?.Report(new ProgressUpdate(stage, 0, indices.Count));
        for (int start = 0; start < indices.Count; start += batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var faces = new IReadOnlyDictionary<string, float[]>[Math.Min(batch, indices.Count - start)];
            ParallelLoad.For(faces.Length, 0, k => faces[k] = InputRegions.ToDictionary(r => r, r => samples.Load(indices[start + k], r)));
            int first = start;
            predictions.AddRange(PredictBatch(faces, i => $"sample {indices[first + i]}"));
            progress?.Report(new ProgressUpdate(stage, start + faces.Length, indices.Count));
        }
        return predictions;
    }

    /// <summary>Predicts for one face.</summary>
    public GestaltPrediction Predict(IReadOnlyDictionary<string, float[]> face)
    {
        ArgumentNullException.ThrowIfNull(face);
        return Predict([face])[0];
    }

    /// <summary>Processes a photo (detect, landmarks, align, crop) and predicts; null when no usable face (the overload with <c>out FaceResult face</c> says why).</summary>
    public GestaltPrediction? PredictImage(FacePipeline pipeline, string imagePath) => PredictImage(pipeline, imagePath, out _);

    /// <summary>As <see cref="PredictImage(FacePipeline, string)"/>, also returning the face result (status, problem).</summary>
    public GestaltPrediction? PredictImage(FacePipeline pipeline, string imagePath, out FaceResult face)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(imagePath);
        face = pipeline.Process(imagePath);
        if (!face.HasFace) return null;
        return Predict(CropsOf(face));
    }

    /// <summary>
    /// Processes a photo already in memory (a frame, an image edited in a notebook) and predicts, as
    /// <see cref="PredictImage(FacePipeline, string, out FaceResult)"/> does for a file; null when no usable face.
    /// </summary>
    /// <param name="pipeline">The face pipeline (<see cref="FacePipelineOptions"/> builds the model's).</param>
    /// <param name="image">The photo.</param>
    /// <param name="face">The face result (status, problem).</param>
    /// <param name="source">The name its problems are said with.</param>
    public GestaltPrediction? PredictImage(FacePipeline pipeline, Data.RgbImage image, out FaceResult face, string source = "image")
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(image);
        face = pipeline.Process(image, source);
        return face.HasFace ? Predict(CropsOf(face)) : null;
    }

    /// <summary>The crops this model needs from a face result.</summary>
    public IReadOnlyDictionary<string, float[]> CropsOf(FaceResult face)
    {
        var crops = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var r in InputRegions)
        {
            var t = face.RegionTensor(r);
            if (t.Length != 3 * InputSize * InputSize)
                throw new GestaltLabException($"{face.Source}: crop '{r}' is {face.Regions[r].Size} px, the model expects {InputSize} px",
                    "build the face pipeline with model.FacePipelineOptions()");
            crops[r] = t;
        }
        return crops;
    }

    private static bool AllFinite(float[] values)
    {
        foreach (float v in values)
            if (!float.IsFinite(v)) return false;
        return true;
    }

    // name(i) says which input face i of the batch is (its index in the caller's list), for error messages.
    private List<GestaltPrediction> PredictBatch(IReadOnlyList<IReadOnlyDictionary<string, float[]>> faces, Func<int, string> name)
    {
        try
        {
            return PredictBatchOnce(faces, name);
        }
        catch (Exception e) when (_disposed && !(e is ObjectDisposedException { ObjectName: var o } && o == typeof(GestaltModel).FullName))
        {
            // Disposed by another thread mid-prediction: said of the model, not of a TorchSharp module or tensor inside it.
            throw new ObjectDisposedException(typeof(GestaltModel).FullName, "the model was disposed while it was predicting");
        }
    }

    private List<GestaltPrediction> PredictBatchOnce(IReadOnlyList<IReadOnlyDictionary<string, float[]>> faces, Func<int, string> name)
    {
        int n = faces.Count, s = InputSize, plane = 3 * s * s;
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var device = TorchRuntime.DefaultDevice();
        Tensor Stack(string region, bool flip)
        {
            var x = new float[n * plane];
            for (int i = 0; i < n; i++)
            {
                if (!faces[i].TryGetValue(region, out var crop)) throw new GestaltLabException($"{name(i)}: no crop for region '{region}'");
                if (crop.Length != plane) throw new GestaltLabException($"{name(i)}: crop '{region}' has {crop.Length} values, expected 3×{s}×{s}");
                // A NaN pixel makes every probability NaN, and a NaN ranking is the classes' own order, passed off as one.
                if (!flip && !AllFinite(crop)) throw new GestaltLabException($"{name(i)}: crop '{region}' holds a value that is not a finite number (NaN or infinity)",
                    "crops come from FaceResult.RegionTensor / CropsOf; check the code that built or changed this one");
                crop.CopyTo(x, i * plane);
            }
            var t = torch.tensor(x, [n, 3, s, s], device: device);
            return flip ? t.flip(3) : t;
        }
        var regionProbs = new Dictionary<string, float[][]>();
        var regionEmbs = new Dictionary<string, float[][]>();
        foreach (var (region, net) in _nets)
        {
            var (p, e) = Run(net, Stack(region, false));
            if (FlipTta)
            {
                var (pf, ef) = Run(net, Stack(RegionSet.MirrorOf(region), true));
                // With its alpha given: add(pf) alone would make one TorchSharp does not hold (see HeldScalars).
                p = p.add(pf, HeldScalars.One).mul(Half);
                e = e.add(ef, HeldScalars.One).mul(Half);
            }
            regionProbs[region] = Rows(p);
            regionEmbs[region] = Rows(e);
        }
        var results = new List<GestaltPrediction>(n);
        for (int i = 0; i < n; i++)
        {
            var embedding = _nets.SelectMany(r => regionEmbs[r.Region][i]).ToArray();
            results.Add(new GestaltPrediction
            {
                Classes = Classes,
                Probabilities = WithPriors(Combine(_nets.Select(r => (regionProbs[r.Region][i], RegionWeights[r.Region])).ToList(), embedding)),
                RegionProbabilities = _nets.ToDictionary(r => r.Region, r => regionProbs[r.Region][i]),
                RegionWeights = RegionWeights,
                Embedding = embedding,
                RegionEmbeddings = _nets.ToDictionary(r => r.Region, r => regionEmbs[r.Region][i]),
            });
        }
        return results;
    }

    /// <summary>
    /// The combination's equal-prior distribution for a prediction this model's nets made (from its region probabilities
    /// and embedding; the nets are not run again): what the ensemble gives before any class priors.
    /// </summary>
    public float[] EqualPriorProbabilities(GestaltPrediction prediction) =>
        Combine(_nets.Select(r => (prediction.RegionProbabilities[r.Region], RegionWeights[r.Region])).ToList(), prediction.Embedding);

    private float[] WithPriors(float[] probabilities)
    {
        if (_priorWeights is not null) ClassPriors.ApplyInPlace(probabilities, _priorWeights);
        return probabilities;
    }

    // In float like the ONNX graph, so both give the same numbers.
    private float[] Combine(IReadOnlyList<(float[] P, double Weight)> regions, float[] embedding)
    {
        if (JointHead is not null)
        {
            var logits = JointHead.Logits(embedding);
            Calibration.SoftmaxInPlace(logits);
            return logits;
        }
        var probs = new float[Classes.Count];
        if (Combination == EnsembleCombination.Average)
        {
            foreach (var (p, w) in regions)
                for (int c = 0; c < probs.Length; c++) probs[c] += (float)w * p[c];
            return probs;
        }
        foreach (var (p, w) in regions)
            for (int c = 0; c < probs.Length; c++) probs[c] += (float)w * MathF.Log(MathF.Max(p[c], (float)Calibration.LogFloor));
        Calibration.SoftmaxInPlace(probs);
        return probs;
    }

    // Rooted Scalars (never finalised mid-call; see HeldScalars).
    private static readonly Scalar Half = 0.5.ToScalar(), LumaR = 0.299f.ToScalar(), LumaG = 0.587f.ToScalar(), LumaB = 0.114f.ToScalar();

    private static (Tensor Probabilities, Tensor Embedding) Run(RegionNet net, Tensor rgb)
    {
        var x = net.Config.Channels == 1
            ? rgb[.., 0..1].mul(LumaR).add_(rgb[.., 1..2].mul(LumaG), HeldScalars.One).add_(rgb[.., 2..3].mul(LumaB), HeldScalars.One)
            : rgb;
        var e = net.Embed(x);
        return (nn.functional.softmax(net.Classify(e), 1), e);
    }

    private static float[][] Rows(Tensor t)
    {
        var cpu = t.cpu().contiguous();
        int n = (int)cpu.shape[0], d = (int)cpu.shape[1];
        var all = cpu.data<float>().ToArray();
        return Enumerable.Range(0, n).Select(i => all.AsSpan(i * d, d).ToArray()).ToArray();
    }

    /// <summary>The ensemble (all region nets, flip TTA, the weighted combination) as one ONNX graph; see <see cref="OnnxExporter.ExportEnsemble"/>.</summary>
    public byte[] ExportOnnx() => OnnxExporter.ExportEnsemble(Live, RegionSet.MirrorOf, FlipTta, _nets.Select(n => RegionWeights[n.Region]).ToList(), Combination,
        JointHead is null ? null : (JointHead.Weight, JointHead.Bias), _priorWeights);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsNets)
            foreach (var (_, n) in _nets) n.Dispose();
    }
}
