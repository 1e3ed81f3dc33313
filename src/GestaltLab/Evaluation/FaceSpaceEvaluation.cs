using System.Text.Json;
using System.Text.Json.Serialization;
using GestaltLab.Data;
using GestaltLab.Ensemble;
using GestaltLab.Models;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>Top-k of face-space matching on a group of photos: per photo, and as the mean over their syndromes.</summary>
/// <param name="NImages">Photos scored.</param>
/// <param name="NSyndromes">Their syndromes.</param>
/// <param name="Top1">Share of photos whose syndrome ranks first.</param>
/// <param name="Top5">… in the first 5.</param>
/// <param name="Top10">… in the first 10.</param>
/// <param name="Top30">… in the first 30 (GestaltMatcher's widest figure).</param>
/// <param name="PerDisorderTop1">Top-1 per syndrome, averaged over syndromes (rare and frequent ones count alike).</param>
/// <param name="PerDisorderTop5">Per-syndrome top-5, averaged.</param>
/// <param name="PerDisorderTop10">Per-syndrome top-10, averaged.</param>
/// <param name="PerDisorderTop30">Per-syndrome top-30, averaged.</param>
/// <param name="Top1Interval">95 % bootstrap interval of <paramref name="Top1"/>, people resampled (a person's photos are not
/// independent); null with fewer than two people.</param>
/// <param name="Top10Interval">The same for <paramref name="Top10"/>.</param>
public sealed record FaceSpaceScores(
    [property: JsonPropertyName("n_images")] int NImages,
    [property: JsonPropertyName("n_syndromes")] int NSyndromes,
    [property: JsonPropertyName("top1")] double Top1,
    [property: JsonPropertyName("top5")] double Top5,
    [property: JsonPropertyName("top10")] double Top10,
    [property: JsonPropertyName("top30")] double Top30,
    [property: JsonPropertyName("per_disorder_top1")] double PerDisorderTop1,
    [property: JsonPropertyName("per_disorder_top5")] double PerDisorderTop5,
    [property: JsonPropertyName("per_disorder_top10")] double PerDisorderTop10,
    [property: JsonPropertyName("per_disorder_top30")] double PerDisorderTop30,
    [property: JsonPropertyName("top1_ci95")] double[]? Top1Interval = null,
    [property: JsonPropertyName("top10_ci95")] double[]? Top10Interval = null)
{
    /// <summary>Top-k per photo for k = 1, 2, … (up to one below the number of syndromes ranked, at most 30): the curve a
    /// report draws. Null in files written before it was recorded.</summary>
    [JsonPropertyName("top_k")] public double[]? TopKCurve { get; init; }

    /// <summary>The data's oracle with equal priors on these photos (<see cref="FaceSpaceMetrics.Oracle"/>, for this group);
    /// null where there is none.</summary>
    [JsonPropertyName("oracle_equal_priors")] public OracleTopK? Oracle { get; init; }

    /// <summary>The figures of photos with these 1-based ranks of their true syndrome (each photo's person for the intervals).</summary>
    /// <param name="ranked">Each photo's syndrome and the rank it got.</param>
    /// <param name="subjects">Each photo's person (for the intervals); null: no intervals.</param>
    /// <param name="maxK">The last k of <see cref="TopKCurve"/>.</param>
    public static FaceSpaceScores? Of(IReadOnlyList<(string Syndrome, int Rank)> ranked, IReadOnlyList<string>? subjects = null, int maxK = 30)
    {
        if (ranked.Count == 0) return null;
        if (maxK < 1) throw new ArgumentOutOfRangeException(nameof(maxK), maxK, "at least 1");
        double Share(IEnumerable<(string Syndrome, int Rank)> xs, int k) => xs.Average(x => x.Rank <= k ? 1.0 : 0.0);
        var bySyndrome = ranked.GroupBy(r => r.Syndrome, StringComparer.Ordinal).ToList();
        double PerDisorder(int k) => bySyndrome.Average(g => Share(g, k));
        double[]? Interval(int k)
        {
            if (subjects is null || subjects.Distinct().Count() < 2) return null;
            var ci = Bootstrap.Interval(ranked.Count, idx => idx.Count == 0 ? double.NaN : idx.Count(i => ranked[i].Rank <= k) / (double)idx.Count, groups: subjects);
            return [ci.Lower, ci.Upper];
        }
        return new FaceSpaceScores(ranked.Count, bySyndrome.Count, Share(ranked, 1), Share(ranked, 5), Share(ranked, 10), Share(ranked, 30),
            PerDisorder(1), PerDisorder(5), PerDisorder(10), PerDisorder(30), Interval(1), Interval(10))
        {
            TopKCurve = Enumerable.Range(1, maxK).Select(k => Share(ranked, k)).ToArray(),
        };
    }
}

/// <summary>
/// Face-space matching against the model's own classifier on the very same photos — the test photos of syndromes the
/// model was trained on — with paired differences (matching minus classifier) whose 95 % intervals resample people, so
/// that the photos' own difficulty cancels. The classifier ranks only its own syndromes, matching every gallery
/// syndrome: with syndromes in the gallery the model does not know, matching has the harder task.
/// </summary>
/// <param name="NImages">Photos compared.</param>
/// <param name="ClassifierSyndromes">How many syndromes the classifier ranks among.</param>
/// <param name="ClassifierTop1">The classifier's top-1 on them (with the priors the model ranks by).</param>
/// <param name="ClassifierTop10">… its top-10.</param>
/// <param name="FaceSpaceTop1">Matching's top-1 on the same photos.</param>
/// <param name="FaceSpaceTop10">… its top-10.</param>
/// <param name="Top1Difference">Matching minus classifier, top-1 (a share: 0.05 is 5 points).</param>
/// <param name="Top1DifferenceInterval">Its 95 % paired bootstrap interval over people; null with fewer than two people.</param>
/// <param name="Top10Difference">Matching minus classifier, top-10.</param>
/// <param name="Top10DifferenceInterval">Its interval.</param>
public sealed record FaceSpaceVersusClassifier(
    [property: JsonPropertyName("n_images")] int NImages,
    [property: JsonPropertyName("classifier_syndromes")] int ClassifierSyndromes,
    [property: JsonPropertyName("classifier_top1")] double ClassifierTop1,
    [property: JsonPropertyName("classifier_top10")] double ClassifierTop10,
    [property: JsonPropertyName("face_space_top1")] double FaceSpaceTop1,
    [property: JsonPropertyName("face_space_top10")] double FaceSpaceTop10,
    [property: JsonPropertyName("top1_difference")] double Top1Difference,
    [property: JsonPropertyName("top1_difference_ci95")] double[]? Top1DifferenceInterval,
    [property: JsonPropertyName("top10_difference")] double Top10Difference,
    [property: JsonPropertyName("top10_difference_ci95")] double[]? Top10DifferenceInterval)
{
    /// <summary>The classifier's top-k for k = 1, 2, … on these photos (the same k as matching's curve, at most one below
    /// its own syndromes).</summary>
    [JsonPropertyName("classifier_top_k")] public double[]? ClassifierTopKCurve { get; init; }

    /// <summary>Matching minus classifier at top-<paramref name="k"/> (1 or 10) in percentage points with its paired
    /// interval, "+2.8 [−4.4, +10.0]" (<see cref="PairedMeasure.PointsText"/>).</summary>
    public string DifferenceText(int k)
    {
        var (d, ci) = k switch
        {
            1 => (Top1Difference, Top1DifferenceInterval),
            10 => (Top10Difference, Top10DifferenceInterval),
            _ => throw new ArgumentOutOfRangeException(nameof(k), k, "1 or 10"),
        };
        return ci is [var lo, var hi] ? PairedMeasure.PointsText(d, lo, hi) : PairedMeasure.PointsText(d);
    }

    /// <summary>The comparison of photos ranked both ways (1-based ranks; each photo's person for the intervals).</summary>
    /// <param name="ranks">Each photo's rank of its syndrome by matching and by the classifier.</param>
    /// <param name="subjects">Each photo's person.</param>
    /// <param name="classifierSyndromes">How many syndromes the classifier ranks.</param>
    /// <param name="maxK">The last k of the classifier's curve (capped below its syndromes).</param>
    public static FaceSpaceVersusClassifier? Of(IReadOnlyList<(int FaceSpace, int Classifier)> ranks, IReadOnlyList<string> subjects, int classifierSyndromes, int maxK = 30)
    {
        ArgumentNullException.ThrowIfNull(ranks);
        ArgumentNullException.ThrowIfNull(subjects);
        if (ranks.Count == 0) return null;
        if (subjects.Count != ranks.Count) throw new ArgumentException($"{subjects.Count} people for {ranks.Count} photos", nameof(subjects));
        double Share(IEnumerable<int> idx, Func<int, bool> hit) { int n = 0, h = 0; foreach (int i in idx) { n++; if (hit(i)) h++; } return n == 0 ? double.NaN : (double)h / n; }
        var all = Enumerable.Range(0, ranks.Count).ToArray();
        double Difference(IEnumerable<int> idx, int k) => Share(idx, i => ranks[i].FaceSpace <= k) - Share(idx, i => ranks[i].Classifier <= k);
        double[]? Interval(int k)
        {
            if (subjects.Distinct(StringComparer.Ordinal).Count() < 2) return null;
            // One resample of people scores both rankings: the paired interval, as `gestaltlab compare` draws it.
            var ci = Bootstrap.Interval(ranks.Count, idx => Difference(idx, k), groups: subjects);
            return [ci.Lower, ci.Upper];
        }
        int curve = Math.Max(1, Math.Min(maxK, classifierSyndromes - 1));
        return new FaceSpaceVersusClassifier(ranks.Count, classifierSyndromes,
            Share(all, i => ranks[i].Classifier <= 1), Share(all, i => ranks[i].Classifier <= 10),
            Share(all, i => ranks[i].FaceSpace <= 1), Share(all, i => ranks[i].FaceSpace <= 10),
            Difference(all, 1), Interval(1), Difference(all, 10), Interval(10))
        {
            ClassifierTopKCurve = Enumerable.Range(1, curve).Select(k => Share(all, i => ranks[i].Classifier <= k)).ToArray(),
        };
    }
}

/// <summary>One scored photo of a face-space evaluation.</summary>
/// <param name="Image">The photo.</param>
/// <param name="Subject">Its person.</param>
/// <param name="Syndrome">Its syndrome.</param>
/// <param name="KnownToModel">Whether the model was trained on that syndrome.</param>
/// <param name="Rank">Where its syndrome ranked (1 = first).</param>
public readonly record struct FaceSpaceQuery(string Image, string Subject, string Syndrome, bool KnownToModel, int Rank);

/// <summary>What <see cref="FaceSpaceEvaluation.Evaluate"/> found (written as <c>face_space.json</c>).</summary>
public sealed record FaceSpaceMetrics
{
    /// <summary>The file's name in a run folder, where <c>gestaltlab report</c> looks for it.</summary>
    public const string FileName = "face_space.json";

    /// <summary>What <see cref="Kind"/> says in such a file.</summary>
    public const string KindName = "face_space_evaluation";

    /// <summary>What the file is (<c>face_space_evaluation</c>).</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = KindName;
    /// <summary>The run whose embeddings span the space.</summary>
    [JsonPropertyName("model")] public string? Model { get; init; }
    /// <summary>SHA-256 of that run's <c>ensemble.json</c> when it was scored: which model this is (a run trained again
    /// since is another); null when the model was not loaded from a run.</summary>
    [JsonPropertyName("model_ensemble_sha256")] public string? ModelHash { get; init; }
    /// <summary>The aligned folder scored.</summary>
    [JsonPropertyName("data")] public required string Data { get; init; }
    /// <summary>Its data hash (from its run.json), when recorded.</summary>
    [JsonPropertyName("data_hash")] public string? DataHash { get; init; }
    /// <summary>The splits whose photos form the gallery.</summary>
    [JsonPropertyName("gallery_splits")] public required IReadOnlyList<string> GallerySplits { get; init; }
    /// <summary>The split whose photos are matched against it.</summary>
    [JsonPropertyName("query_split")] public required string QuerySplit { get; init; }
    /// <summary>The shrinkage of the within-syndrome covariance.</summary>
    [JsonPropertyName("shrinkage")] public double Shrinkage { get; init; }
    /// <summary>Gallery photos.</summary>
    [JsonPropertyName("n_gallery_images")] public int NGalleryImages { get; init; }
    /// <summary>Gallery syndromes: what each photo is ranked among.</summary>
    [JsonPropertyName("n_gallery_syndromes")] public int NGallerySyndromes { get; init; }
    /// <summary>Gallery syndromes the model was not trained on.</summary>
    [JsonPropertyName("n_gallery_syndromes_unknown_to_model")] public int NGallerySyndromesUnknown { get; init; }
    /// <summary>Labelled photos of the query split whose syndrome has no gallery photo (they cannot be matched; not scored).</summary>
    [JsonPropertyName("n_without_gallery")] public int NWithoutGallery { get; init; }
    /// <summary>Every scored photo.</summary>
    [JsonPropertyName("all")] public required FaceSpaceScores All { get; init; }
    /// <summary>Photos of syndromes the model was trained on (null: none).</summary>
    [JsonPropertyName("known")] public FaceSpaceScores? Known { get; init; }
    /// <summary>Photos of syndromes the model was not trained on, matched through their gallery photos alone (null: none).</summary>
    [JsonPropertyName("unknown")] public FaceSpaceScores? Unknown { get; init; }
    /// <summary>Matching against the model's classifier on the same photos of the syndromes it knows (null: none, or
    /// figures written before it was recorded).</summary>
    [JsonPropertyName("versus_classifier")] public FaceSpaceVersusClassifier? VersusClassifier { get; init; }
    /// <summary>A note when some test photos may show people the model was trained on (they have the subject ids and file
    /// names of its training photos, though other bytes), or are copies of training photos filed twice in the run's own data
    /// (which its training accepted); null when none do. It names people and photos. Other data's test photos of the model's
    /// training people are refused instead (<see cref="FaceSpaceEvaluation.Evaluate"/>).</summary>
    [JsonPropertyName("shared_people")] public string? SharedPeople { get; init; }
    /// <summary>
    /// The data generator's oracle (Bayes on the true traits) with every syndrome equally likely a priori — as matching
    /// ranks, favouring none for being frequent — on the same photos: the reference for this data. Only for synthetic data
    /// whose syndromes are exactly the gallery's, with its labels as generated; null otherwise (and in files written before
    /// it was recorded).
    /// </summary>
    [JsonPropertyName("oracle_equal_priors")] public OracleTopK? Oracle { get; init; }
    /// <summary>Why the data's oracle is not beside the figures though the data is synthetic (its labels edited since
    /// alignment, a gallery of other syndromes, …); null when it is there or the data has none.</summary>
    [JsonPropertyName("oracle_left_out")] public string? OracleLeftOut { get; init; }

    /// <summary>The end of <see cref="OracleLeftOut"/> when the folder's labels were edited after alignment (the note
    /// starts with the first photo edited, which this alone does not name).</summary>
    public const string OracleLabelsChanged = "the aligned folder's labels differ from its source data's, whose oracle is therefore not comparable, so its figures are left out";

    /// <summary><see cref="SharedPeople"/> said without naming anybody (for a report or a file that leaves the team).</summary>
    public const string SharedPeopleUnnamed = "some test photos may show people the model was trained on (photos with the subject ids and file names of its training photos, or copies of training photos filed twice in the data): if so, these figures are inflated";
    /// <summary>
    /// The groups a table or chart shows, by name: all syndromes, then those known and unknown to the model apart where
    /// there are both (one alone would repeat the first).
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<(string Name, FaceSpaceScores Scores)> Groups =>
        Known is not null && Unknown is not null ? [("all syndromes", All), ("known to the model", Known), ("unknown to the model", Unknown)] : [("all syndromes", All)];
    /// <summary>Matching's top-1/5/10 per group of sex, age band and skin tone, as <c>evaluate</c> records the classifier's
    /// (<see cref="StratumAccuracy.FromRanks"/>; the oracle beside each group where <see cref="Oracle"/> is); null when the
    /// test photos carry none of these columns, or in files written before they were recorded.</summary>
    [JsonPropertyName("strata")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public StrataScores? Strata { get; init; }
    /// <summary>Why a file's <c>strata</c> were dropped when it was read (damaged, or edited by hand); null when they were
    /// read, or there were none. The other figures stand.</summary>
    [JsonIgnore] public string? StrataProblem { get; init; }
    /// <summary>Top-1 and top-10 of a ranking drawn at random among the gallery's syndromes.</summary>
    [JsonPropertyName("chance_top1")] public double ChanceTop1 { get; init; }
    /// <summary>See <see cref="ChanceTop1"/>.</summary>
    [JsonPropertyName("chance_top10")] public double ChanceTop10 { get; init; }
    /// <summary>The packages that computed the figures.</summary>
    [JsonPropertyName("packages")] public IReadOnlyDictionary<string, string> Packages { get; init; } = RunManifest.PackageVersions();
    /// <summary>When.</summary>
    [JsonPropertyName("created_utc")] public string CreatedUtc { get; init; } = DateTime.UtcNow.ToString("O");
    /// <summary>Each scored photo (not written to the JSON: it names patients' photos).</summary>
    [JsonIgnore] public IReadOnlyList<FaceSpaceQuery> Queries { get; init; } = [];

    // A key named twice (a group "female" twice: the second would pass for the first) is refused.
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never, AllowDuplicateProperties = false };

    /// <summary>The figures as JSON (what <see cref="Save"/> writes).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Writes the figures as JSON, atomically, readable by their owner alone (<see cref="SharedPeople"/> may name
    /// people and photos).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson() + "\n", ownerOnly: true);

    /// <summary>Reads figures <see cref="Save"/> (or <c>gestaltlab match --out</c>) wrote.</summary>
    /// <exception cref="GestaltLabException">Not such a file, or figures out of their range (the file named).</exception>
    public static FaceSpaceMetrics Load(string path)
    {
        FaceSpaceMetrics? m;
        string text = File.ReadAllText(path);
        try
        {
            try { m = JsonSerializer.Deserialize<FaceSpaceMetrics>(text, Options); }
            // Figures by stratum that cannot be read cost those figures alone, as in metrics.json.
            catch (JsonException e) when (StrataScores.WithoutStrata(text) is { } rest)
            {
                m = JsonSerializer.Deserialize<FaceSpaceMetrics>(rest, Options) is { } read ? read with { StrataProblem = $"could not be read ({e.Message.Split('\n')[0]})" } : null;
            }
        }
        catch (JsonException e) { throw new GestaltLabException($"{path}: not face-space figures ({e.Message.Split('\n')[0]})", "write them again: gestaltlab match --model RUN --gallery ALIGNED --out FILE"); }
        if (m?.Strata?.Problem() is { } problem) m = m with { Strata = null, StrataProblem = problem };
        if (m is null || m.Kind != KindName || m.All is null || m.GallerySplits is null)
            throw new GestaltLabException($"{path}: not face-space figures (kind '{m?.Kind}', expected '{KindName}')", "write them with: gestaltlab match --model RUN --gallery ALIGNED --out FILE");
        // Words a report prints and draws (a chart title reads some markup): a received run's file is held to what match
        // writes, as metrics.json is.
        if (!SplitNames.IsValid(m.QuerySplit) || m.GallerySplits.Count == 0 || m.GallerySplits.Any(x => !SplitNames.IsValid(x)))
            throw new GestaltLabException($"{path}: splits that are no split names (query '{m.QuerySplit}', gallery '{string.Join(",", m.GallerySplits)}')", "write the figures again with gestaltlab match");
        if (m.NWithoutGallery < 0 || !(m.ChanceTop1 is >= 0 and <= 1) || !(m.ChanceTop10 is >= 0 and <= 1) || !(m.Shrinkage is >= 0 and <= 1))
            throw new GestaltLabException($"{path}: counts, chance or shrinkage out of range", "write the figures again with gestaltlab match");
        bool BadInterval(double[]? ci) => ci is not null && ci.Length != 2;
        if (new[] { m.All, m.Known, m.Unknown }.Any(x => x is not null && (BadInterval(x.Top1Interval) || BadInterval(x.Top10Interval)))
            || m.VersusClassifier is { } pair && (BadInterval(pair.Top1DifferenceInterval) || BadInterval(pair.Top10DifferenceInterval)))
            throw new GestaltLabException($"{path}: an interval without exactly two bounds", "write the figures again with gestaltlab match");
        // Figures a report prints and draws: a damaged or hand-edited file is refused, not drawn.
        foreach (var (group, s) in new[] { ("all", m.All), ("known", m.Known), ("unknown", m.Unknown) })
        {
            if (s is null) continue;
            double[] shares = [s.Top1, s.Top5, s.Top10, s.Top30, s.PerDisorderTop1, s.PerDisorderTop5, s.PerDisorderTop10, s.PerDisorderTop30,
                .. s.TopKCurve ?? [], .. s.Top1Interval ?? [], .. s.Top10Interval ?? []];
            if (s.NImages < 1 || s.NSyndromes < 1 || shares.Any(v => !(v >= 0 && v <= 1)))
                throw new GestaltLabException($"{path}: '{group}' holds figures out of range (photos {s.NImages}, syndromes {s.NSyndromes}, shares from {shares.Min()} to {shares.Max()})", "write the figures again with gestaltlab match");
        }
        if (m.VersusClassifier is { } v)
        {
            double[] shares = [v.ClassifierTop1, v.ClassifierTop10, v.FaceSpaceTop1, v.FaceSpaceTop10, .. v.ClassifierTopKCurve ?? []];
            double[] differences = [v.Top1Difference, v.Top10Difference, .. v.Top1DifferenceInterval ?? [], .. v.Top10DifferenceInterval ?? []];
            if (v.NImages < 1 || v.ClassifierSyndromes < 1 || shares.Any(x => !(x >= 0 && x <= 1)) || differences.Any(x => !(x >= -1 && x <= 1)))
                throw new GestaltLabException($"{path}: 'versus_classifier' holds figures out of range", "write the figures again with gestaltlab match");
        }
        if (new[] { m.Oracle, m.All.Oracle, m.Known?.Oracle, m.Unknown?.Oracle }.Any(o => o is not null && !new[] { o.Top1, o.Top5, o.Top10 }.All(x => x >= 0 && x <= 1)))
            throw new GestaltLabException($"{path}: 'oracle_equal_priors' holds figures out of range", "write the figures again with gestaltlab match");
        if (m.NGallerySyndromes < 1 || m.NGalleryImages < 1)
            throw new GestaltLabException($"{path}: a gallery of {m.NGalleryImages} photos of {m.NGallerySyndromes} syndromes", "write the figures again with gestaltlab match");
        return m;
    }
}

/// <summary>
/// Scores face-space matching (<see cref="FaceSpace"/>) on an aligned data folder as GestaltMatcher reports it: the
/// training and validation photos are the gallery, each test photo is ranked among the gallery's syndromes, and the
/// figures are given for all photos, for the syndromes the model was trained on, and for those it never saw.
/// Splits are by person, so no test photo meets its own person in the gallery.
/// </summary>
public static class FaceSpaceEvaluation
{
    /// <summary>The splits whose photos form the gallery.</summary>
    public static IReadOnlyList<string> GallerySplits { get; } = [SplitNames.Train, SplitNames.Val];

    /// <summary>Evaluates (nothing is written; <see cref="FaceSpaceMetrics.Save"/> writes the figures).</summary>
    /// <param name="model">The model whose embeddings span the space.</param>
    /// <param name="alignedDirectory">An aligned folder cut with the model's regions; its labelled photos of every
    /// syndrome count, those the model does not know included.</param>
    /// <param name="shrinkage">See <see cref="FaceSpace.Fit"/>.</param>
    /// <param name="progress">Stages <c>gallery</c> and <c>match</c>, a unit per photo.</param>
    /// <param name="cancellationToken">Cancels between batches.</param>
    /// <exception cref="GestaltLabException">What <see cref="FaceSpace.FromAligned"/> refuses; no labelled test photo of a
    /// gallery syndrome; test photos of people the model was trained on (another data set of its training data's generator
    /// seed, or copies of its training photos), as <c>evaluate</c> refuses them: their figures would be inflated.</exception>
    public static FaceSpaceMetrics Evaluate(GestaltModel model, string alignedDirectory, double shrinkage = FaceSpace.DefaultShrinkage,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        // Held to the end: the gallery and the test photos are read under one look.
        using var held = FaceSpace.HoldForReading(model, alignedDirectory);
        var queries = FaceSpace.OpenAligned(model, alignedDirectory, [SplitNames.Test]);
        if (queries.Count == 0)
            throw new GestaltLabException($"{alignedDirectory}: no labelled '{SplitNames.Test}' photos to match against the gallery of its {string.Join("/", GallerySplits)} photos");
        // Before minutes of embedding: test people the model was trained on would flatter it here as in `evaluate` (the
        // gallery may hold them: it is labelled reference photos, not figures).
        string? source = FaceDatasetAligner.DataFolderOf(alignedDirectory);
        string? sharedPeople = TrainingOverlap.Check(model.Directory, queries.Rows, source ?? alignedDirectory);
        var space = FaceSpace.FromAligned(model, alignedDirectory, [.. GallerySplits], shrinkage, progress, cancellationToken);
        var inGallery = space.Syndromes.ToHashSet(StringComparer.Ordinal);
        var scored = Enumerable.Range(0, queries.Count).Where(i => inGallery.Contains(queries.Rows[i].Syndrome)).ToArray();
        int withoutGallery = queries.Count - scored.Length;
        if (scored.Length == 0)
            throw new GestaltLabException($"{alignedDirectory}: none of its {queries.Count} test photos is of a syndrome with gallery photos ({string.Join("/", GallerySplits)} splits)");
        // The classifier's rank of each photo's syndrome (when the model knows it), from the same predictions.
        var classIndex = model.Classes.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i, StringComparer.Ordinal);
        var classifierRank = new int[scored.Length];
        var embeddings = FaceSpace.Embed(model, queries, scored, "match", progress, cancellationToken, (k, prediction) =>
            classifierRank[k] = classIndex.TryGetValue(queries.Rows[scored[k]].Syndrome, out int truth) ? Metrics.RankOfTruth(prediction.Probabilities, truth) + 1 : 0);
        var results = scored.Select((row, k) =>
        {
            var r = queries.Rows[row];
            // Every gallery syndrome is ranked (the query's person is not in the gallery: splits are by person).
            var order = space.Rank(embeddings[k], space.Syndromes.Count, excludeSubject: r.Subject);
            int rank = order.FirstOrDefault(m => m.Syndrome == r.Syndrome).Rank;
            // Its syndrome's only gallery photos were of the same person (a manifest split by photo): last place.
            if (rank == 0) rank = space.Syndromes.Count;
            return new FaceSpaceQuery(r.SourceImage, r.Subject, r.Syndrome, space.KnownSyndromes.Contains(r.Syndrome), rank);
        }).ToList();
        // Labels edited after alignment (by hand, say) make the folder other data than its source: its own content names
        // it, and the generator's oracle, of the source's labels, is left out.
        // (The queries' manifest is the whole folder's, gallery rows included: an edited gallery label changes the matching too.)
        var sourceRows = ModelEvaluation.SourceRows(source);
        string? changedSince = sourceRows is null ? null : ModelEvaluation.ChangedSinceAlignment(queries.Manifest.Rows, sourceRows);
        var (oracleRanks, oracleFigures, oracleLeftOut) = EqualPriorOracle(source, sourceRows, changedSince, space.Syndromes, scored.Select(i => queries.Rows[i]).ToList());
        OracleTopK? OracleOf(IEnumerable<FaceSpaceQuery> group) => oracleRanks is null ? null : OracleTopK.On(oracleRanks, group.Select(q => q.Subject).ToList());
        var known = Enumerable.Range(0, results.Count).Where(k => classifierRank[k] > 0).ToArray();
        int g = space.Syndromes.Count;
        // Past k = g − 1 every photo is a hit: the curve stops where the figure stops meaning anything.
        int maxK = Math.Max(1, Math.Min(30, g - 1));
        FaceSpaceScores? Group(Func<FaceSpaceQuery, bool> which)
        {
            var group = results.Where(which).ToList();
            return FaceSpaceScores.Of(group.Select(q => (q.Syndrome, q.Rank)).ToList(), group.Select(q => q.Subject).ToList(), maxK) is { } scores
                ? scores with { Oracle = OracleOf(group) } : null;
        }
        return new FaceSpaceMetrics
        {
            Model = model.Directory,
            ModelHash = model.EnsembleHash,
            // Named as metrics.json names what it scored: the data folder the photos were aligned from (its inputs' hash
            // beside it), the aligned folder itself only when its labels were changed since.
            Data = changedSince is null && source is not null && Directory.Exists(source) ? source : Path.GetFullPath(alignedDirectory),
            DataHash = changedSince is null ? ModelEvaluation.AlignedDataHash(alignedDirectory) : queries.ContentHash(),
            GallerySplits = GallerySplits,
            QuerySplit = SplitNames.Test,
            Shrinkage = shrinkage,
            NGalleryImages = space.Gallery.Count,
            NGallerySyndromes = g,
            NGallerySyndromesUnknown = space.Syndromes.Count(s => !space.KnownSyndromes.Contains(s)),
            NWithoutGallery = withoutGallery,
            All = Group(_ => true)!,
            Known = Group(q => q.KnownToModel),
            Unknown = Group(q => !q.KnownToModel),
            VersusClassifier = FaceSpaceVersusClassifier.Of(known.Select(k => (results[k].Rank, classifierRank[k])).ToList(),
                known.Select(k => results[k].Subject).ToList(), model.Classes.Count, maxK),
            SharedPeople = sharedPeople,
            Oracle = OracleOf(results),
            OracleLeftOut = oracleLeftOut,
            // By the strata the aligned manifest carries, as evaluate scores the classifier; the oracle beside each group
            // only where it answers the same question (its equal-prior figures are matching's reference).
            Strata = StratumAccuracy.FromRanks(scored.Select(i => queries.Rows[i]).ToList(), results.Select(q => q.Rank).ToList(),
                new StratumOptions { Oracle = oracleFigures }),
            ChanceTop1 = 1.0 / g,
            ChanceTop10 = Math.Min(1.0, 10.0 / g),
            Queries = results,
        };
    }

    // The oracle only where it answers the same question: it ranks among every syndrome of the data it was generated with,
    // so the gallery must hold exactly those; labels edited after alignment are not the oracle's; and it is scored on the
    // photos matching scored (a photo without a usable face leaves both). Not synthetic data: neither oracle nor note. A
    // file that cannot be read costs the oracle, said, not the minutes of matching already done.
    private static (IReadOnlyDictionary<string, int>? Ranks, OracleFigures? Figures, string? LeftOut) EqualPriorOracle(string? source, IReadOnlyList<ManifestRow>? sourceRows, string? changedSince,
        IReadOnlyCollection<string> gallerySyndromes, IReadOnlyList<ManifestRow> scoredRows)
    {
        OracleFigures? figures;
        try { figures = source is null ? null : OracleFigures.TryLoad(source); }
        catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException)
        {
            return (null, null, $"the data's oracle could not be read ({e.Message}): its figures are left out");
        }
        if (figures is null) return (null, null, null);
        const string NotComparable = "not comparable, so its figures are left out";
        if (figures.EqualPriors?.TestRanks is not { } ranks)
            return (null, null, "the data predates the oracle's per-person ranks with equal priors, so it cannot be scored on the photos matched: its figures are left out (generate the data again to have them)");
        if (sourceRows is null)
            return (null, null, $"{source}: the source data's manifest cannot be read, so the photos' labels cannot be checked against the oracle's: its figures are left out");
        if (changedSince is not null)
            return (null, null, $"{changedSince}: {FaceSpaceMetrics.OracleLabelsChanged}");
        var classes = sourceRows.Where(r => r.IsLabelled).Select(r => r.Syndrome).ToHashSet(StringComparer.Ordinal);
        if (!classes.SetEquals(gallerySyndromes))
            return (null, null, $"the data's oracle ranks among its {classes.Count} syndromes, matching among the gallery's {gallerySyndromes.Count}: {NotComparable}");
        return scoredRows.All(r => ranks.ContainsKey(r.Subject)) ? (ranks, figures, null)
            : (null, null, $"some scored test photos are of people the data's oracle did not score (the manifest was changed after generation): {NotComparable}");
    }
}
