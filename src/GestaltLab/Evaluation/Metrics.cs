using System.Text.Json;
using System.Text.Json.Serialization;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>
/// Ranking metrics for syndrome classifiers, as the field reports them: top-k accuracy per image and per disorder
/// (the mean of each disorder's own top-k, so rare syndromes weigh as much as frequent ones), log loss, confusion.
/// A class tied with the true one counts as ranked above it (ties never flatter a model: a flat output scores no hits,
/// whichever class is true), and a NaN probability counts as above everything.
/// </summary>
public static class Metrics
{
    /// <summary>
    /// 0-based rank of the true class in a probability vector (0 = ranked first): the number of other classes whose
    /// probability is not below the truth's (ties and NaNs count against it; a NaN truth ranks last).
    /// </summary>
    public static int RankOfTruth(ReadOnlySpan<float> probabilities, int truth)
    {
        if ((uint)truth >= (uint)probabilities.Length)
            throw new ArgumentOutOfRangeException(nameof(truth), $"class {truth} outside 0..{probabilities.Length - 1}");
        float p = probabilities[truth];
        if (float.IsNaN(p)) return probabilities.Length - 1;
        int rank = 0;
        for (int c = 0; c < probabilities.Length; c++)
            if (c != truth && !(probabilities[c] < p)) rank++;
        return rank;
    }

    /// <summary>Fraction of images whose true class is among the <paramref name="k"/> most probable.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is below 1 (a top-0 accuracy is 0 by construction).</exception>
    public static double TopK(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, int k)
    {
        Check(truth, probabilities);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        if (truth.Count == 0) return double.NaN;
        int hits = 0;
        for (int i = 0; i < truth.Count; i++)
            if (RankOfTruth(probabilities[i], truth[i]) < k) hits++;
        return (double)hits / truth.Count;
    }

    /// <summary>Top-k accuracy for k = 1 … <paramref name="maxK"/> (element k−1 is top-k).</summary>
    public static double[] TopKCurve(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, int maxK)
    {
        Check(truth, probabilities);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxK);
        var counts = new int[maxK];
        for (int i = 0; i < truth.Count; i++)
        {
            int r = RankOfTruth(probabilities[i], truth[i]);
            for (int k = r; k < maxK; k++) counts[k]++;
        }
        return counts.Select(c => truth.Count == 0 ? double.NaN : (double)c / truth.Count).ToArray();
    }

    /// <summary>Mean over the disorders present in <paramref name="truth"/> of each disorder's top-k accuracy.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="k"/> is below 1.</exception>
    public static double PerDisorderTopK(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, int k)
    {
        Check(truth, probabilities);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var hits = new Dictionary<int, (int Hit, int N)>();
        for (int i = 0; i < truth.Count; i++)
        {
            hits.TryGetValue(truth[i], out var h);
            hits[truth[i]] = (h.Hit + (RankOfTruth(probabilities[i], truth[i]) < k ? 1 : 0), h.N + 1);
        }
        return hits.Count == 0 ? double.NaN : hits.Values.Average(h => (double)h.Hit / h.N);
    }

    /// <summary>Mean negative log-probability of the true class (probabilities clipped at 1e-15).</summary>
    public static double LogLoss(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities)
    {
        Check(truth, probabilities);
        if (truth.Count == 0) return double.NaN;
        double sum = 0;
        for (int i = 0; i < truth.Count; i++) sum -= Math.Log(Math.Max(probabilities[i][truth[i]], 1e-15));
        return sum / truth.Count;
    }

    /// <summary>Index of the most probable class (lowest index wins ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> probabilities)
    {
        int best = 0;
        for (int c = 1; c < probabilities.Length; c++)
            if (probabilities[c] > probabilities[best]) best = c;
        return best;
    }

    /// <summary>
    /// Counts: element [t, p] is the number of images of true class t predicted as p (top-1). As in <see cref="TopK"/>, a
    /// true class tied for first place is not a hit: such an image counts under the first class it is tied with, so the
    /// diagonal sums to exactly the top-1 hits.
    /// </summary>
    public static int[,] ConfusionMatrix(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, int classCount)
    {
        Check(truth, probabilities, classCount);
        var m = new int[classCount, classCount];
        for (int i = 0; i < truth.Count; i++) m[truth[i], Predicted(probabilities[i], truth[i])]++;
        return m;
    }

    /// <summary>The class an image counts as predicted: the truth only when it ranks first alone, else the most probable other class.</summary>
    private static int Predicted(ReadOnlySpan<float> probabilities, int truth)
    {
        if (RankOfTruth(probabilities, truth) == 0) return truth;
        int best = -1;
        for (int c = 0; c < probabilities.Length; c++)
            if (c != truth && (best < 0 || probabilities[c] > probabilities[best] || float.IsNaN(probabilities[c]) && !float.IsNaN(probabilities[best]))) best = c;
        return best;
    }

    private static void Check(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, int classCount = -1)
    {
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(probabilities);
        if (truth.Count != probabilities.Count)
            throw new ArgumentException($"{truth.Count} labels but {probabilities.Count} probability vectors");
        for (int i = 0; i < truth.Count; i++)
        {
            int n = probabilities[i].Length;
            if (classCount >= 0 && n != classCount)
                throw new ArgumentException($"image {i}: {n} probabilities for {classCount} classes", nameof(probabilities));
            if ((uint)truth[i] >= (uint)n)
                throw new ArgumentOutOfRangeException(nameof(truth), truth[i], $"image {i}: class {truth[i]} outside 0..{n - 1}");
        }
    }
}

/// <summary>Top-1/5/10 accuracy of an oracle variant.</summary>
public sealed record OracleTopK
{
    /// <summary>Top-1 accuracy.</summary>
    [JsonPropertyName("top1")] public double Top1 { get; init; }
    /// <summary>Top-5 accuracy.</summary>
    [JsonPropertyName("top5")] public double Top5 { get; init; }
    /// <summary>Top-10 accuracy.</summary>
    [JsonPropertyName("top10")] public double Top10 { get; init; }
    /// <summary>
    /// Where each test person's true syndrome ranks (1 = first), by subject id, as the generator wrote it; null in data
    /// generated before it was recorded, and in figures already scored on a model's photos (metrics.json).
    /// </summary>
    [JsonPropertyName("test_ranks")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyDictionary<string, int>? TestRanks { get; init; }

    /// <summary>These ranks' top-k over one photo per entry of <paramref name="subjects"/>; null when a subject has no rank.</summary>
    internal static OracleTopK? On(IReadOnlyDictionary<string, int>? ranks, IReadOnlyList<string> subjects) =>
        Score(ranks, subjects) is { } s ? new OracleTopK { Top1 = s.Top1, Top5 = s.Top5, Top10 = s.Top10 } : null;

    /// <summary>Top-k over one photo per entry of <paramref name="subjects"/> from <see cref="TestRanks"/>; null when a subject has no rank.</summary>
    internal static (double Top1, double Top5, double Top10, int N)? Score(IReadOnlyDictionary<string, int>? ranks, IReadOnlyList<string> subjects)
    {
        if (ranks is null || subjects.Count == 0) return null;
        var r = new List<int>(subjects.Count);
        foreach (var s in subjects)
        {
            if (!ranks.TryGetValue(s, out int rank)) return null;
            r.Add(rank);
        }
        double Share(int k) => (double)r.Count(x => x <= k) / r.Count;
        return (Share(1), Share(5), Share(10), r.Count);
    }
}

/// <summary>
/// The synthetic oracle's figures on the same test split (from a synthetic data set's <c>oracle.json</c>): the Bayes
/// classifier on the true traits, with the training frequencies as priors — the reference for image models.
/// </summary>
public sealed record OracleFigures
{
    /// <summary>Oracle top-1 accuracy.</summary>
    [JsonPropertyName("top1")] public double Top1 { get; init; }
    /// <summary>Oracle top-5 accuracy.</summary>
    [JsonPropertyName("top5")] public double Top5 { get; init; }
    /// <summary>Oracle top-10 accuracy.</summary>
    [JsonPropertyName("top10")] public double Top10 { get; init; }
    /// <summary>Number of test subjects/images the oracle was scored on.</summary>
    [JsonPropertyName("n_test")] public int NTest { get; init; }
    /// <summary>
    /// The same oracle with every class equally likely a priori (the figures above use the training frequencies): the
    /// reference to compare a model that ranks with equal priors against. Null in data generated before it was recorded.
    /// </summary>
    [JsonPropertyName("equal_priors")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public OracleTopK? EqualPriors { get; init; }

    /// <summary>
    /// Where each test person's true syndrome ranks under these priors (1 = first), by subject id; null in data generated
    /// before it was recorded, and in figures already scored on a model's photos (metrics.json).
    /// </summary>
    [JsonPropertyName("test_ranks")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public IReadOnlyDictionary<string, int>? TestRanks { get; init; }

    /// <summary>
    /// The oracle scored on exactly the photos a model was scored on, one entry per photo (its subject id): when alignment
    /// found no usable face in some test photos, the file's figures cover photos the model's do not. Null when the data
    /// holds no ranks (generated before they were recorded) or a listed person has none (not one of the generator's test people).
    /// </summary>
    public OracleFigures? On(IReadOnlyList<string> photoSubjects)
    {
        if (OracleTopK.Score(TestRanks, photoSubjects) is not { } main) return null;
        OracleTopK? equal = null;
        if (EqualPriors is { } e)
        {
            if (OracleTopK.On(e.TestRanks, photoSubjects) is not { } eq) return null;
            equal = eq;
        }
        return new OracleFigures { Top1 = main.Top1, Top5 = main.Top5, Top10 = main.Top10, NTest = main.N, EqualPriors = equal };
    }

    /// <summary><see cref="EqualPriors"/> where it differs from the figures above (on data with balanced classes the two are the same); else null.</summary>
    [JsonIgnore] public OracleTopK? DistinctEqualPriors => EqualPriors is { } e && (e.Top1 != Top1 || e.Top5 != Top5 || e.Top10 != Top10) ? e : null;

    /// <summary>Reads <c>oracle.json</c> from a data folder; null when the data is not synthetic (no file).</summary>
    public static OracleFigures? TryLoad(string dataDirectory)
    {
        string path = Path.Combine(dataDirectory, "oracle.json");
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<OracleFigures>(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new GestaltLabException($"{path}: not a valid oracle file ({e.Message})");
        }
    }
}

/// <summary>
/// The evaluation summary written as <c>metrics.json</c>: per-image top-k in <c>top*</c>, per-disorder means in
/// <c>per_disorder_*</c>, with the oracle's figures beside them when the data is synthetic.
/// </summary>
public sealed record ClassificationMetrics
{
    /// <summary>Per-image top-1 accuracy.</summary>
    [JsonPropertyName("top1")] public double Top1 { get; init; }
    /// <summary>Per-image top-5 accuracy.</summary>
    [JsonPropertyName("top5")] public double Top5 { get; init; }
    /// <summary>Per-image top-10 accuracy.</summary>
    [JsonPropertyName("top10")] public double Top10 { get; init; }
    /// <summary>Images evaluated.</summary>
    [JsonPropertyName("n_images")] public int NImages { get; init; }
    /// <summary>The split those images come from (<c>test</c> unless asked otherwise; null in files written before it was recorded).</summary>
    [JsonPropertyName("split")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Split { get; init; }
    /// <summary>Classes the model ranks.</summary>
    [JsonPropertyName("n_classes")] public int NClasses { get; init; }
    /// <summary>
    /// Photos of the scored split, of syndromes the model knows, that could not be scored because alignment found no
    /// usable face in them (null when unknown). They are not in <see cref="NImages"/> nor the top-k figures, nor in the <see cref="Oracle"/>'s (scored on the same photos).
    /// </summary>
    [JsonPropertyName("n_unscored")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? NUnscored { get; init; }
    /// <summary>
    /// Photos of the scored split whose syndrome the model does not know, left out of every figure (null when not
    /// recorded). With any, the data's oracle is not shown beside the figures: it scores those photos too.
    /// </summary>
    [JsonPropertyName("n_skipped")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? NSkipped { get; init; }
    /// <summary>Photos of the scored split without a syndrome in the manifest (a blank cell), left out of every figure
    /// (null when not recorded).</summary>
    [JsonPropertyName("n_unlabelled")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? NUnlabelled { get; init; }
    /// <summary>Disorders the per-disorder means average over: those with at least one scored photo (null when not recorded).</summary>
    [JsonPropertyName("n_disorders")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? NDisorders { get; init; }
    /// <summary>Mean over disorders (those with a scored photo, <see cref="NDisorders"/>) of per-disorder top-1.</summary>
    [JsonPropertyName("per_disorder_top1")] public double PerDisorderTop1 { get; init; }
    /// <summary>Mean over disorders of per-disorder top-10.</summary>
    [JsonPropertyName("per_disorder_top10")] public double PerDisorderTop10 { get; init; }
    /// <summary>Mean negative log-likelihood of the true class.</summary>
    [JsonPropertyName("log_loss")] public double LogLoss { get; init; }
    /// <summary>The class priors the model ranked with (<c>equal</c> or <c>training</c>; see <see cref="Ensemble.ClassPriors"/>); null when not recorded.</summary>
    [JsonPropertyName("priors")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Priors { get; init; }
    /// <summary>The fitted strength of training priors (null with equal priors).</summary>
    [JsonPropertyName("prior_strength")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PriorStrength { get; init; }
    /// <summary>The model scored: its run directory (null when not recorded).</summary>
    [JsonPropertyName("model")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Model { get; init; }
    /// <summary>
    /// SHA-256 of the scored model's <c>ensemble.json</c> (what a training writes last): a run trained again since, or
    /// another run's files put in its place, no longer has it, and its figures are not this model's (null when not recorded).
    /// </summary>
    [JsonPropertyName("model_ensemble_sha256")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ModelHash { get; init; }
    /// <summary>The data folder the scored photos came from (the aligned folder's source; null when not recorded).</summary>
    [JsonPropertyName("data")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Data { get; init; }
    /// <summary>SHA-256 of that data's inputs as its alignment recorded it (<c>run.json</c>'s <c>data_hash</c>; null when unknown).</summary>
    [JsonPropertyName("data_hash")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? DataHash { get; init; }
    /// <summary>The synthetic oracle's figures on the same data (<see cref="OracleFigures"/>), when synthetic; else null.</summary>
    [JsonPropertyName("oracle")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public OracleFigures? Oracle { get; init; }
    /// <summary>
    /// Accuracy by sex, age band and skin tone (<see cref="StratumAccuracy"/>), where the data's manifest gives them; null
    /// when it gives none, and in files written before they were recorded.
    /// </summary>
    [JsonPropertyName("strata")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public StrataScores? Strata { get; init; }
    /// <summary>Why <see cref="Load"/> left the file's <c>strata</c> out (unreadable, or figures no evaluation writes: a
    /// file edited by hand or by another tool); null when there was nothing wrong with them. The rest of the file stands.</summary>
    [JsonIgnore] public string? StrataProblem { get; init; }

    /// <summary>Computes every figure from true labels and probability vectors.</summary>
    public static ClassificationMetrics Compute(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, int classCount, OracleFigures? oracle = null) => new()
    {
        Top1 = Metrics.TopK(truth, probabilities, 1),
        Top5 = Metrics.TopK(truth, probabilities, 5),
        Top10 = Metrics.TopK(truth, probabilities, 10),
        NImages = truth.Count,
        NClasses = classCount,
        NDisorders = truth.Distinct().Count(),
        PerDisorderTop1 = Metrics.PerDisorderTopK(truth, probabilities, 1),
        PerDisorderTop10 = Metrics.PerDisorderTopK(truth, probabilities, 10),
        LogLoss = Metrics.LogLoss(truth, probabilities),
        Oracle = oracle,
    };

    // A shared file naming a key twice (a group "female" twice: the second would pass for the first) is refused.
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, AllowDuplicateProperties = false };

    /// <summary>Writes the metrics as JSON atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Options));

    /// <summary>Reads a <c>metrics.json</c>.</summary>
    public static ClassificationMetrics Load(string path)
    {
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: metrics file not found");
        try
        {
            string text = File.ReadAllText(path);
            ClassificationMetrics? m;
            try { m = JsonSerializer.Deserialize<ClassificationMetrics>(text, Options); }
            // Figures by stratum that cannot be read cost those figures, not the whole file (the headline figures stand).
            catch (JsonException e) when (StrataScores.WithoutStrata(text) is { } rest)
            {
                m = JsonSerializer.Deserialize<ClassificationMetrics>(rest, Options) is { } read ? read with { StrataProblem = $"could not be read ({e.Message})" } : null;
            }
            if (m is null) throw new GestaltLabException($"{path}: empty metrics file");
            if (m.Strata?.Problem() is { } problem) m = m with { Strata = null, StrataProblem = problem };
            // Words that reports and charts print: a shared run's file is held to what evaluate writes.
            if (m.Split is { } split && !GestaltLab.Data.SplitNames.IsValid(split))
                throw new GestaltLabException($"{path}: split {JsonSerializer.Serialize(split)} is not a split name ({string.Join(", ", GestaltLab.Data.SplitNames.All)})");
            if (m.Priors is { } priors && !Ensemble.ClassPriors.All.Contains(priors))
                throw new GestaltLabException($"{path}: priors {JsonSerializer.Serialize(priors)} is neither \"equal\" nor \"training\"");
            return m;
        }
        catch (JsonException e)
        {
            throw new GestaltLabException($"{path}: not a valid metrics file ({e.Message})");
        }
    }
}
