using System.Text.Json;
using System.Text.Json.Serialization;
using GestaltLab.Ensemble;
using GestaltLab.Runtime;

namespace GestaltLab.Models;

/// <summary>How a region net is trained (fine-tuning and pretraining alike).</summary>
public sealed record TrainingOptions
{
    /// <summary>Maximum epochs.</summary>
    [JsonPropertyName("epochs")] public int Epochs { get; init; } = 12;
    /// <summary>Mini-batch size.</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 32;
    /// <summary>Peak learning rate of AdamW (cosine decay over <see cref="Epochs"/>).</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 3e-3;
    /// <summary>
    /// Learning rate of pretrained (backbone) layers relative to <see cref="LearningRate"/> when fine-tuning. 1 (the same
    /// rate) beat 0.3 in every region of the demo and on gestalt216's face region (docs/benchmarks.md; measured with the
    /// identity-only backbone shipped then): the synthetic backbone is a starting point to move away from, not features
    /// to preserve.
    /// </summary>
    [JsonPropertyName("backbone_lr_factor")] public double BackboneLrFactor { get; init; } = 1.0;
    /// <summary>Decoupled weight decay.</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 5e-4;
    /// <summary>Stop after this many epochs without a better validation score (see <see cref="SelectBy"/>; 0 = never).</summary>
    [JsonPropertyName("patience")] public int Patience { get; init; } = 4;
    /// <summary>
    /// Which validation figure picks the kept epoch and drives early stopping: <c>accuracy</c> (top-1, ties to the lower
    /// loss; the default) or <c>loss</c> (cross-entropy).
    /// </summary>
    [JsonPropertyName("select_by")] public string SelectBy { get; init; } = SelectByAccuracy;

    /// <summary>Value of <see cref="SelectBy"/> choosing validation accuracy.</summary>
    public const string SelectByAccuracy = "accuracy";
    /// <summary>Value of <see cref="SelectBy"/> choosing validation loss.</summary>
    public const string SelectByLoss = "loss";
    /// <summary>Seed for weight initialisation, sampling order and augmentation.</summary>
    [JsonPropertyName("seed")] public int Seed { get; init; } = 1;
    /// <summary>Draw each class equally often per epoch (rare syndromes weigh as much as frequent ones).</summary>
    [JsonPropertyName("balanced_sampling")] public bool BalancedSampling { get; init; } = true;
    /// <summary>Random horizontal flips that swap left/right regions (anatomy-aware).</summary>
    [JsonPropertyName("flip")] public bool Flip { get; init; } = true;
    /// <summary>Random translation of up to this many pixels.</summary>
    [JsonPropertyName("shift_pixels")] public int ShiftPixels { get; init; } = 3;
    /// <summary>Random brightness/contrast jitter amplitude (0 = off).</summary>
    [JsonPropertyName("color_jitter")] public double ColorJitter { get; init; } = 0.1;
    /// <summary>
    /// Random per-channel gain amplitude (colour casts; 0 = off). With <see cref="GrayscaleProbability"/> it takes colour
    /// away as a cue: in face-identity pretraining, skin, hair and iris colour would otherwise identify people so well
    /// that the backbone never learns the facial geometry that syndromes change.
    /// </summary>
    [JsonPropertyName("channel_jitter")] public double ChannelJitter { get; init; }
    /// <summary>Probability that a training crop is shown in grayscale (replicated to every channel; 0 = never).</summary>
    [JsonPropertyName("grayscale_probability")] public double GrayscaleProbability { get; init; }
    /// <summary>Label smoothing of the cross-entropy (0 = off; 0.1 is usual): the target puts this mass uniformly on all classes.</summary>
    [JsonPropertyName("label_smoothing")] public double LabelSmoothing { get; init; }
    /// <summary>Dropout on the embedding before the classifier during training (0 = off).</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; }
    /// <summary>
    /// Mixup (Zhang et al. 2018): each batch is blended with a shuffled copy of itself, x = λ·x_i + (1 − λ)·x_j, and the
    /// loss blended the same way; λ ~ Beta(α, α) with α = this value (0 = off; 0.2–0.4 is usual).
    /// </summary>
    [JsonPropertyName("mixup")] public double Mixup { get; init; }
    /// <summary>
    /// Weight of an auxiliary geometry task (0 = off): a linear layer on the embedding regresses where each landmark lies
    /// in the crop (standardised per region; points outside the crop left out), trained with the classifier and dropped
    /// afterwards. Meant for backbone pretraining: identity alone does not make a net measure the facial proportions
    /// syndromes change. Needs an aligned folder (its <c>landmarks.csv</c>); with <c>--ground-truth</c> alignment these
    /// are the generator's exact landmarks.
    /// </summary>
    [JsonPropertyName("geometry_loss")] public double GeometryLoss { get; init; }
    /// <summary>Fraction of training subjects held out for validation when the data has no <c>val</c> split.</summary>
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; } = 0.15;
    /// <summary>Number of early stages kept frozen when fine-tuning a pretrained backbone (0 = train all).</summary>
    [JsonPropertyName("freeze_stages")] public int FreezeStages { get; init; }
    /// <summary>
    /// Torch threads while this training runs (0 = the process's current count, libtorch's default unless set); the count
    /// before is restored afterwards. Results are deterministic for a given thread count.
    /// </summary>
    [JsonPropertyName("threads")] public int Threads { get; init; }
    /// <summary>Threads decoding images from disk.</summary>
    [JsonPropertyName("loader_threads")] public int LoaderThreads { get; init; } = 2;

    /// <summary>Throws a <see cref="GestaltLabException"/> naming the bad field.</summary>
    public TrainingOptions Validate(string source = "training options")
    {
        if (Epochs < 1) throw new GestaltLabException($"{source}: epochs must be ≥ 1");
        if (BatchSize < 2) throw new GestaltLabException($"{source}: batch_size must be ≥ 2 (batch norm)");
        // Above 10 no optimiser step makes sense, and above float's range libtorch fails part-way through training.
        if (!(LearningRate > 0 && LearningRate <= 10)) throw new GestaltLabException($"{source}: learning_rate must be in (0, 10], got {LearningRate.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        if (SelectBy is not (SelectByAccuracy or SelectByLoss)) throw new GestaltLabException($"{source}: select_by must be \"{SelectByAccuracy}\" or \"{SelectByLoss}\", got \"{SelectBy}\"");
        if (ChannelJitter is < 0 or >= 1) throw new GestaltLabException($"{source}: channel_jitter must be in [0, 1)");
        if (GrayscaleProbability is < 0 or > 1) throw new GestaltLabException($"{source}: grayscale_probability must be in [0, 1]");
        if (LabelSmoothing is < 0 or >= 1) throw new GestaltLabException($"{source}: label_smoothing must be in [0, 1)");
        if (Dropout is < 0 or >= 1) throw new GestaltLabException($"{source}: dropout must be in [0, 1)");
        if (Mixup is < 0 or > 10) throw new GestaltLabException($"{source}: mixup (Beta's α) must be in [0, 10]");
        if (GeometryLoss is < 0 || double.IsNaN(GeometryLoss)) throw new GestaltLabException($"{source}: geometry_loss must be ≥ 0");
        if (ValFraction is < 0 or >= 1) throw new GestaltLabException($"{source}: val_fraction must be in [0, 1)");
        if (!(BackboneLrFactor >= 0) || double.IsInfinity(BackboneLrFactor)) throw new GestaltLabException($"{source}: backbone_lr_factor must be ≥ 0 (0 = pretrained layers fixed)");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) throw new GestaltLabException($"{source}: weight_decay must be ≥ 0");
        if (Patience < 0) throw new GestaltLabException($"{source}: patience must be ≥ 0 (0 = no early stopping)");
        if (ShiftPixels < 0) throw new GestaltLabException($"{source}: shift_pixels must be ≥ 0");
        if (ColorJitter is < 0 or >= 1 || double.IsNaN(ColorJitter)) throw new GestaltLabException($"{source}: color_jitter must be in [0, 1)");
        if (FreezeStages < 0) throw new GestaltLabException($"{source}: freeze_stages must be ≥ 0");
        if (Threads < 0) throw new GestaltLabException($"{source}: threads must be ≥ 0 (0 = the process's current count: libtorch's default, every core, unless set)");
        if (LoaderThreads < 0) throw new GestaltLabException($"{source}: loader_threads must be ≥ 0");
        return this;
    }
}

/// <summary>Everything <c>gestaltlab train</c> needs to know: the net, the training and which regions (the run's <c>config.json</c>).</summary>
public sealed record TrainConfig
{
    /// <summary>Region net architecture.</summary>
    [JsonPropertyName("net")] public RegionNetConfig Net { get; init; } = new();
    /// <summary>Training settings.</summary>
    [JsonPropertyName("training")] public TrainingOptions Training { get; init; } = new();
    /// <summary>Regions to train (null = every region of the data).</summary>
    [JsonPropertyName("regions")] public IReadOnlyList<string>? Regions { get; init; }
    /// <summary>Flip test-time augmentation in the ensemble.</summary>
    [JsonPropertyName("tta_flip")] public bool TtaFlip { get; init; } = true;
    /// <summary>
    /// Fit on the validation split: temperature-scale each region net (see <see cref="Calibration"/>), then fit the weights
    /// of the combination (the log-linear pool's, or the average's; the joint head keeps the pool's to split its
    /// probabilities into per-region contributions), so weak or overconfident regions weigh less. Off: raw softmaxes and
    /// equal weights. The joint head itself (the default <c>combination</c>) is fitted either way.
    /// </summary>
    [JsonPropertyName("calibrate")] public bool Calibrate { get; init; } = true;

    /// <summary>
    /// How the regions become one answer: <c>joint</c> (the default; one shrinkage discriminant over all regions'
    /// embeddings together, <see cref="JointHead"/>), <c>log_linear</c> (a weighted geometric mean of the region softmaxes,
    /// p ∝ Π p_r^w_r, which multiplies the regions' evidence) or <c>average</c> (DeepGestalt's weighted arithmetic mean).
    /// With <see cref="Calibrate"/> the region weights are fitted on validation data (docs/learning.md compares them).
    /// </summary>
    [JsonPropertyName("combination")] public string Combination { get; init; } = EnsembleCombination.Joint;

    /// <summary>
    /// Each region net's classifier: <c>lda</c> (the default) refits it after fine-tuning as a shrinkage linear
    /// discriminant on the training photos' embeddings (<see cref="DiscriminantHead"/>; shrinkage chosen on the
    /// validation split), <c>softmax</c> keeps the layer trained with the net. Either way it is one linear layer.
    /// </summary>
    [JsonPropertyName("head")] public string Head { get; init; } = HeadLda;

    /// <summary>
    /// The ensemble's class priors (<see cref="ClassPriors"/>): <c>equal</c> (the default; every syndrome equally likely a
    /// priori, so a rare one is not ranked down for being rare) or <c>training</c> (the training photos' syndrome
    /// frequencies, at a strength fitted on the validation split). Training always records both the frequencies and the
    /// strength, so a run can be evaluated either way (<c>gestaltlab evaluate --priors</c>); this setting is what
    /// <c>ensemble.onnx</c>, <c>model.zip</c> and a plain <see cref="GestaltModel.Load(string, string?)"/> use.
    /// </summary>
    [JsonPropertyName("priors")] public string Priors { get; init; } = ClassPriors.Equal;

    /// <summary>
    /// The keys of <c>net</c> the config file names (<see cref="Load"/> sets them; empty when it has no <c>net</c>), or
    /// null for a config made in code, where a setting other than its default counts as named. Fine-tuning from a
    /// pretrained backbone takes the backbone's shape, and says which of the named settings gave way
    /// (<see cref="Pretraining.FineTuneConfig"/>), not defaults nobody asked for.
    /// </summary>
    [JsonIgnore] public IReadOnlySet<string>? NetKeys { get; init; }

    /// <summary>Value of <see cref="Head"/>: the classifier trained with the net.</summary>
    public const string HeadSoftmax = "softmax";
    /// <summary>Value of <see cref="Head"/>: the classifier refitted as shrinkage LDA.</summary>
    public const string HeadLda = "lda";

    /// <summary>Throws a <see cref="GestaltLabException"/> naming <paramref name="source"/> when a setting outside the net and training is unknown.</summary>
    public TrainConfig Validate(string source = "training config")
    {
        // JSON's null gets past the types: said as a setting, not as a NullReferenceException.
        if (Net is null) throw new GestaltLabException($"{source}: net is null", "give the net settings as an object, or leave the key out for the defaults");
        if (Training is null) throw new GestaltLabException($"{source}: training is null", "give the training settings as an object, or leave the key out for the defaults");
        Net.Validate(source);
        Training.Validate(source);
        EnsembleCombination.Check(Combination, source);
        ClassPriors.Check(Priors, source);
        if (Head is not (HeadLda or HeadSoftmax))
            throw new GestaltLabException($"{source}: head must be \"{HeadLda}\" or \"{HeadSoftmax}\", got \"{Head}\"");
        if (Regions is { Count: 0 }) throw new GestaltLabException($"{source}: regions is empty", "name at least one region, or leave it out for every region");
        if (Regions?.Any(string.IsNullOrWhiteSpace) == true) throw new GestaltLabException($"{source}: regions holds an empty name or null");
        if (Regions?.GroupBy(r => r, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new GestaltLabException($"{source}: region {twice.Key} is listed twice");
        return this;
    }

    /// <summary>
    /// The settings the demo uses: small, fast nets that fine-tune all regions on 2 cores in a few minutes. 20 epochs
    /// without early stopping: on the demo data validation accuracy keeps rising until the cosine schedule ends, and
    /// 6 epochs left every region near chance; the pretrained layers learn at the full rate, which beat 0.3× in every
    /// region (docs/benchmarks.md).
    /// </summary>
    public static TrainConfig Demo { get; } = new()
    {
        Net = new RegionNetConfig { InputSize = 64, Width = 16, Stages = 4, ConvsPerStage = 1 },
        Training = new TrainingOptions { Epochs = 20, BatchSize = 32, LearningRate = 3e-3, Patience = 0 },
    };

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    // A misspelt or miscased key would otherwise be dropped without a word and its default trained instead.
    private static readonly JsonSerializerOptions StrictJson = new(Json) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>The config as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a config file (any field may be omitted: defaults apply; an unknown key is an error).</summary>
    /// <param name="path">The JSON file.</param>
    /// <param name="allowUnknownKeys">Ignore keys this version does not know, for a run directory's own <c>config.json</c>,
    /// which a later version may have written.</param>
    public static TrainConfig Load(string path, bool allowUnknownKeys = false)
    {
        if (Directory.Exists(path)) throw new GestaltLabException($"{path}: is a folder; a config file (JSON) is expected here", "pass the config file itself, e.g. bench/configs/g216.json");
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: config file not found");
        try
        {
            string text = File.ReadAllText(path);
            HashSet<string> netKeys;
            using (var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow }))
            {
                // A key given twice would silently keep its last value (the first "epochs" ignored): refused, named.
                if (DuplicateKey(document.RootElement, "") is { } twice)
                    throw new GestaltLabException($"{path}: key \"{twice}\" is given twice", "keep one of them");
                netKeys = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("net", out var net) && net.ValueKind == JsonValueKind.Object
                    ? net.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal) : [];
            }
            var c = JsonSerializer.Deserialize<TrainConfig>(text, allowUnknownKeys ? Json : StrictJson) ?? throw new GestaltLabException($"{path}: empty config");
            return c.Validate(path) with { NetKeys = netKeys };
        }
        catch (JsonException e)
        {
            // A misspelt key is the usual mistake: named with the keys its group has, rather than .NET's type names.
            if (System.Text.RegularExpressions.Regex.Match(e.Message, @"property '([^']*)' could not be mapped to any \.NET member contained in type '([^']*)'") is { Success: true } m
                && KeyGroups.FirstOrDefault(g => g.Type.FullName == m.Groups[2].Value) is { Type: not null } group)
                throw new GestaltLabException($"{path}: unknown key \"{(group.Name.Length > 0 ? group.Name + "." : "")}{m.Groups[1].Value}\" (the keys{(group.Name.Length > 0 ? $" of \"{group.Name}\"" : "")}: {string.Join(", ", KeysOf(group.Type))})",
                    "correct its spelling (keys are lower case, words joined by _); docs/learning.md, \"The config file\", lists every key with its default");
            throw new GestaltLabException($"{path}: invalid training config ({e.Message})", "docs/learning.md, \"The config file\", lists every key with its default (or compare with the config.json of a run directory)");
        }
    }

    private static readonly (string Name, Type Type)[] KeyGroups = [("", typeof(TrainConfig)), ("net", typeof(RegionNetConfig)), ("training", typeof(TrainingOptions))];

    // The JSON keys a config type reads.
    private static IEnumerable<string> KeysOf(Type type) => type.GetProperties()
        .Select(p => p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false).OfType<JsonPropertyNameAttribute>().FirstOrDefault()?.Name)
        .OfType<string>();

    private static string? DuplicateKey(JsonElement element, string at)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in element.EnumerateObject())
            {
                string name = at.Length == 0 ? property.Name : at + "." + property.Name;
                if (!seen.Add(property.Name)) return name;
                if (DuplicateKey(property.Value, name) is { } inner) return inner;
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
            foreach (var item in element.EnumerateArray())
                if (DuplicateKey(item, at) is { } inner) return inner;
        return null;
    }
}
