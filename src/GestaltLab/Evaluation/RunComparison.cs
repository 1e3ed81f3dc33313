using GestaltLab.Data;
using System.Text.Json.Serialization;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>One measure of two models scored on the same photos, and their difference.</summary>
/// <param name="Measure">Name: <c>top1</c>, <c>top5</c>, <c>top10</c>, <c>per_disorder_top1</c> or <c>log_loss</c>.</param>
/// <param name="A">The first model's value.</param>
/// <param name="B">The second model's value.</param>
/// <param name="Difference">B − A with its paired bootstrap interval.</param>
/// <param name="HigherIsBetter">False for log loss.</param>
/// <param name="IntervalA">A's own interval, from the same resamples (for error bars; whether A and B differ is
/// <paramref name="Difference"/>'s to say: two overlapping intervals do not mean no difference). Null with no interval.</param>
/// <param name="IntervalB">B's own interval, likewise.</param>
public sealed record PairedMeasure(
    [property: JsonPropertyName("measure")] string Measure,
    [property: JsonPropertyName("a")] double A,
    [property: JsonPropertyName("b")] double B,
    [property: JsonPropertyName("difference")] ConfidenceInterval Difference,
    [property: JsonPropertyName("higher_is_better")] bool HigherIsBetter,
    [property: JsonPropertyName("a_interval")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ConfidenceInterval? IntervalA = null,
    [property: JsonPropertyName("b_interval")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ConfidenceInterval? IntervalB = null)
{
    /// <summary>
    /// Differences within this of 0 are taken for 0. The tables hold float32 probabilities: one model's ranking scored
    /// twice along two paths (another priors setting whose fitted strength is 0, another thread count) differs in log loss
    /// by ~1e-8, which a paired bootstrap would otherwise call a difference, with an interval as narrow. Accuracies
    /// differ by multiples of 1 / photos, far above it.
    /// </summary>
    public const double NumericalTolerance = 1e-6;

    /// <summary>
    /// "B" or "A" when the interval of B − A excludes 0 (by more than <see cref="NumericalTolerance"/>) in that model's
    /// favour (lower log loss is better), else null.
    /// </summary>
    [JsonPropertyName("better")]
    public string? Better =>
        (HigherIsBetter ? Difference.Lower > NumericalTolerance : Difference.Upper < -NumericalTolerance) ? "B"
        : (HigherIsBetter ? Difference.Upper < -NumericalTolerance : Difference.Lower > NumericalTolerance) ? "A" : null;

    /// <summary>
    /// B − A with its interval, "+12.2 [+3.3, +21.1]": percentage points for accuracies, log loss as it is; the estimate
    /// alone where there is no interval.
    /// </summary>
    public string DifferenceText()
    {
        if (Measure != "log_loss") return PointsText(Difference.Estimate, Difference.Lower, Difference.Upper);
        static string D(double v) => v.ToString("+0.000;−0.000;0.000", System.Globalization.CultureInfo.InvariantCulture);
        return double.IsNaN(Difference.Lower) ? D(Difference.Estimate) : $"{D(Difference.Estimate)} [{D(Difference.Lower)}, {D(Difference.Upper)}]";
    }

    /// <summary>
    /// A difference of two shares in percentage points with its interval, "+12.2 [+3.3, +21.1]"; the estimate alone where
    /// the interval is NaN (none).
    /// </summary>
    public static string PointsText(double estimate, double lower = double.NaN, double upper = double.NaN)
    {
        static string D(double v) => (100 * v).ToString("+0.0;−0.0;0.0", System.Globalization.CultureInfo.InvariantCulture);
        return double.IsNaN(lower) ? D(estimate) : $"{D(estimate)} [{D(lower)}, {D(upper)}]";
    }

    /// <summary>Whether the interval of B − A excludes 0 (in either direction, by more than <see cref="NumericalTolerance"/>).</summary>
    [JsonPropertyName("interval_excludes_zero")] public bool IntervalExcludesZero => Difference.Lower > NumericalTolerance || Difference.Upper < -NumericalTolerance;
}

/// <summary>Two evaluations of the same photos compared (see <see cref="RunComparison"/>).</summary>
/// <param name="A">Folder of the first evaluation.</param>
/// <param name="B">Folder of the second.</param>
/// <param name="NImages">Photos scored by both.</param>
/// <param name="NSubjects">People they show (the bootstrap's unit unless it draws families or photos: <paramref name="Unit"/>).</param>
/// <param name="NClasses">Syndromes both rank.</param>
/// <param name="Measures">Each measure for A and B with B − A.</param>
/// <param name="OnlyBRight">Photos B ranks right first and A does not.</param>
/// <param name="OnlyARight">Photos A ranks right first and B does not.</param>
/// <param name="Iterations">Bootstrap resamples.</param>
/// <param name="Seed">Their seed.</param>
/// <param name="Unit">What a resample draws: <c>people</c>; <c>families</c> when the data's manifest names relatives;
/// <c>photos</c> when the tables name no subjects.</param>
/// <param name="NFamilies">Families and unrelated people the resamples draw from when <paramref name="Unit"/> is
/// <c>families</c>; else null.</param>
public sealed record RunComparisonResult(
    [property: JsonPropertyName("a")] string A,
    [property: JsonPropertyName("b")] string B,
    [property: JsonPropertyName("n_images")] int NImages,
    [property: JsonPropertyName("n_subjects")] int NSubjects,
    [property: JsonPropertyName("n_classes")] int NClasses,
    [property: JsonPropertyName("measures")] IReadOnlyList<PairedMeasure> Measures,
    [property: JsonPropertyName("top1_only_b_right")] int OnlyBRight,
    [property: JsonPropertyName("top1_only_a_right")] int OnlyARight,
    [property: JsonPropertyName("bootstrap_iterations")] int Iterations,
    [property: JsonPropertyName("bootstrap_seed")] int Seed,
    [property: JsonPropertyName("bootstrap_unit")] string Unit,
    [property: JsonPropertyName("n_families")][property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? NFamilies = null)
{
    /// <summary>
    /// Why people were drawn where the data's manifest might have named families (it was found but could not be read), or
    /// null: the intervals are then narrower than families would make them, if the data has relatives.
    /// </summary>
    [JsonPropertyName("note")][JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Note { get; init; }

    /// <summary>
    /// Whether the two models gave every photo the very same probabilities (the same model scored twice, or a run
    /// re-created bit for bit): every difference is then 0 by construction, not by chance.
    /// </summary>
    [JsonPropertyName("identical_probabilities")] public bool Identical { get; init; }

    /// <summary>How the intervals were made, for the record and for figure captions.</summary>
    [JsonPropertyName("method")]
    public string Method => Unit switch
    {
        "photos" => "paired percentile bootstrap over photos (the tables name no subjects, so photos of one person are drawn singly and the intervals are too narrow "
                    + "where people have several): each resample scores both models on the same draw",
        "families" => "paired percentile bootstrap over families: each resample draws whole families (relatives as the data's manifest names them, "
                      + "with all their photos; an unrelated person is a family of one) with replacement and scores both models on the same draw; "
                      + "per-disorder top-1 draws families within each syndrome so every syndrome keeps its place (no interval when a syndrome has a single family)",
        _ => "paired percentile bootstrap over people: each resample draws whole subjects (with all their photos) with replacement and "
             + "scores both models on the same draw; per-disorder top-1 draws people within each syndrome so every syndrome keeps its place "
             + "(no interval when a syndrome has a single person); relatives are drawn independently (no data manifest naming families "
             + "was found for these photos)",
    };

    /// <summary>People, families or photos the resamples draw from: below 30 the intervals cover the truth less often than their level.</summary>
    [JsonPropertyName("n_units")] public int NUnits => Unit switch { "photos" => NImages, "families" => NFamilies ?? NSubjects, _ => NSubjects };
}

/// <summary>
/// Compares two models scored on the same test photos — a fine-tuned model against the same nets from scratch, a joint
/// head against DeepGestalt's average, two backbones — with paired bootstrap intervals of each difference.
/// </summary>
/// <remarks>
/// Paired, because both models see the same photos: the photos' own difficulty cancels, so a difference is measured far
/// more precisely than two separate intervals suggest (overlapping intervals do not mean "no difference"). Resampled by
/// person, or by family where the data names relatives, because several photos of one person (or of relatives) are not
/// independent evidence.
/// </remarks>
public static class RunComparison
{
    /// <summary>
    /// Compares the evaluations in <paramref name="a"/> and <paramref name="b"/>: folders holding <c>probabilities.csv</c>
    /// and <c>classes.json</c> (a run folder, or an evaluation's folder such as <c>RUN/eval-val</c>).
    /// </summary>
    /// <param name="a">First evaluation's folder (or its metrics.json).</param>
    /// <param name="b">Second evaluation's.</param>
    /// <param name="iterations">Bootstrap resamples (100 to 100,000).</param>
    /// <param name="seed">Their seed.</param>
    /// <param name="level">Interval level.</param>
    /// <param name="data">The data's manifest, whose families the resamples keep together; null = the manifest of the
    /// data <paramref name="a"/>'s metrics.json names, when it is there (else people are drawn).</param>
    /// <exception cref="GestaltLabException">A folder lacks its files, or the two did not score the same photos with the
    /// same truth, or rank different syndromes; the message names what differs.</exception>
    /// <param name="progress">Stage <c>compare</c>, one step a measure.</param>
    /// <param name="cancellationToken">Cancels between measures.</param>
    public static RunComparisonResult Compare(string a, string b, int iterations = 1000, int seed = 0, double level = 0.95, Manifest? data = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        var (tableA, classesA) = Load(a);
        var (tableB, classesB) = Load(b);
        if (!classesA.ToHashSet(StringComparer.Ordinal).SetEquals(classesB))
            throw new GestaltLabException($"{b}: ranks other syndromes than {a} ({classesB.Count} vs {classesA.Count}; e.g. {classesA.Except(classesB).Concat(classesB.Except(classesA)).First()})",
                "compare models trained on the same syndromes, evaluated on the same photos");
        var rowOfB = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tableB.Count; i++) rowOfB[tableB.Images[i]] = i;
        var onlyA = tableA.Images.Where(im => !rowOfB.ContainsKey(im)).ToList();
        var onlyB = tableB.Images.Except(tableA.Images, StringComparer.Ordinal).ToList();
        // (Photos are matched by name; Load refuses a table that lists one twice, or none, so equal sets are equal counts.)
        if (onlyA.Count > 0 || onlyB.Count > 0)
            throw new GestaltLabException(
                $"{a} and {b} scored different photos ({tableA.Count} and {tableB.Count}; {onlyA.Count} only in the first, {onlyB.Count} only in the second, e.g. {onlyA.Concat(onlyB).First()})",
                "evaluate both models on the same data and split (`gestaltlab evaluate --model RUN --data DIR`), then compare those folders");

        int n = tableA.Count;
        var classIndex = classesA.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        // Column order may differ between the tables and classes.json: both read in A's class order.
        var columnsA = ColumnMap(tableA.Columns, classesA);
        var columnsB = ColumnMap(tableB.Columns, classesA);
        var truth = new int[n];
        var probsA = new float[n][];
        var probsB = new float[n][];
        for (int i = 0; i < n; i++)
        {
            int j = rowOfB[tableA.Images[i]];
            if (tableA.TrueLabels[i] != tableB.TrueLabels[j] || tableA.Subjects[i] != tableB.Subjects[j])
                throw new GestaltLabException($"{tableA.Images[i]}: {a} and {b} give it another true syndrome or subject ({tableA.TrueLabels[i]}/{tableA.Subjects[i]} vs {tableB.TrueLabels[j]}/{tableB.Subjects[j]})",
                    "compare evaluations of the same data");
            if (!classIndex.TryGetValue(tableA.TrueLabels[i], out truth[i]))
                throw new GestaltLabException($"{tableA.Images[i]}: true syndrome '{tableA.TrueLabels[i]}' is not among the models' classes");
            probsA[i] = InOrder(tableA.Values[i], columnsA);
            probsB[i] = InOrder(tableB.Values[j], columnsB);
        }
        // Without a subject column ImageTable names each photo as its own subject: the unit is then the photo, said so.
        bool byPhoto = Enumerable.Range(0, n).All(i => tableA.Subjects[i] == tableA.Images[i]);
        var (families, note) = byPhoto ? (null, null) : FamiliesOf(a, tableA.Subjects, data);
        // Photos are matched by name: two evaluations whose data hashed otherwise may hold other photos under those names.
        if (DataHashOf(a) is { } hashA && DataHashOf(b) is { } hashB && hashA != hashB)
            note = (note is null ? "" : note + "; ")
                + $"the two evaluations scored data of other content (their metrics' data_hash: {hashA[..Math.Min(12, hashA.Length)]}… and {hashB[..Math.Min(12, hashB.Length)]}…) under the same photo names: "
                + "if the photos themselves differ, this is not a paired comparison (evaluate both models on one data folder)";
        return Compare(truth, tableA.Subjects, probsA, probsB, classesA.Count, Path.GetFullPath(a), Path.GetFullPath(b), iterations, seed, level, byPhoto,
            families, progress, cancellationToken) with { Note = note };
    }

    /// <summary>
    /// Compares two models' probabilities for the same photos (rows in the same order), e.g. two combination rules in a
    /// notebook, with paired bootstrap intervals over <paramref name="subjects"/>.
    /// </summary>
    /// <param name="truth">True class index per photo.</param>
    /// <param name="subjects">Person per photo (the bootstrap's unit).</param>
    /// <param name="a">First model's probabilities per photo (classes in one order for both).</param>
    /// <param name="b">Second model's.</param>
    /// <param name="classCount">Classes ranked.</param>
    /// <param name="nameA">What to call the first model in the result.</param>
    /// <param name="nameB">The second.</param>
    /// <param name="iterations">Bootstrap resamples (100 to 100,000).</param>
    /// <param name="seed">Their seed.</param>
    /// <param name="level">Interval level.</param>
    /// <param name="unitIsPhoto">True when <paramref name="subjects"/> are photo names (no subjects known).</param>
    /// <param name="families">Family per photo (<see cref="ResamplingUnits.Families"/>): resamples then draw whole families,
    /// as relatives share faces; null = people.</param>
    /// <exception cref="GestaltLabException">Lengths differ, no photos, or fewer than two units.</exception>
    /// <exception cref="ArgumentException"><paramref name="families"/> given with <paramref name="unitIsPhoto"/>.</exception>
    /// <param name="progress">Stage <c>compare</c>, one step a measure (each is three bootstraps: seconds at 10,000 resamples).</param>
    /// <param name="cancellationToken">Cancels between measures.</param>
    public static RunComparisonResult Compare(IReadOnlyList<int> truth, IReadOnlyList<string> subjects, IReadOnlyList<float[]> a, IReadOnlyList<float[]> b,
        int classCount, string nameA = "A", string nameB = "B", int iterations = 1000, int seed = 0, double level = 0.95, bool unitIsPhoto = false,
        IReadOnlyList<string>? families = null, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        int n = truth.Count;
        if (n == 0) throw new GestaltLabException("no photos to compare");
        if (subjects.Count != n || a.Count != n || b.Count != n || families is not null && families.Count != n)
            throw new GestaltLabException($"{n} true classes, {subjects.Count} subjects, {a.Count} and {b.Count} probability rows"
                + (families is null ? "" : $", {families.Count} families") + ": one of each per photo is needed");
        if (unitIsPhoto && families is not null) throw new ArgumentException("photos without subjects have no families", nameof(families));
        // What a resample draws: families where the data names them, else people (or photos).
        var draws = families ?? subjects;
        string unit = families is not null ? "families" : unitIsPhoto ? "photos" : "people";
        if (iterations < 100) throw new GestaltLabException($"{iterations} bootstrap iterations: too few for a 95% interval", "use at least 100 (1,000, the report's, is usual)");
        // Each resample is kept for its quantiles (memory and time grow with the count): 10,000 already give intervals
        // stable to a tenth of a point.
        if (iterations > 100_000) throw new GestaltLabException($"{iterations} bootstrap iterations: more than the 100,000 allowed", "use 1,000 (the report's) or 10,000 for a paper");
        var rankA = new int[n];
        var rankB = new int[n];
        var lossA = new double[n];
        var lossB = new double[n];
        for (int i = 0; i < n; i++)
        {
            if (a[i].Length != classCount || b[i].Length != classCount || truth[i] < 0 || truth[i] >= classCount)
                throw new GestaltLabException($"photo {i + 1}: {a[i].Length} and {b[i].Length} probabilities and true class {truth[i]}, for {classCount} classes");
            rankA[i] = Metrics.RankOfTruth(a[i], truth[i]);
            rankB[i] = Metrics.RankOfTruth(b[i], truth[i]);
            lossA[i] = -Math.Log(Math.Max(a[i][truth[i]], 1e-15));
            lossB[i] = -Math.Log(Math.Max(b[i][truth[i]], 1e-15));
        }
        int people = subjects.Distinct(StringComparer.Ordinal).Count();
        int units = draws.Distinct(StringComparer.Ordinal).Count();
        if (units < 2)
            throw new GestaltLabException($"{nameA}: its photos show {units} {unit switch { "photos" => "photo", "families" => "family", _ => "person" }}; a bootstrap over one cannot give an interval",
                "compare on a test set of many people");
        double Mean(IReadOnlyList<int> idx, Func<int, double> f) => idx.Count == 0 ? double.NaN : idx.Sum(f) / idx.Count;
        double PerDisorder(IReadOnlyList<int> idx, int[] rank) =>
            idx.GroupBy(i => truth[i]).Select(g => g.Count(i => rank[i] == 0) / (double)g.Count()).DefaultIfEmpty(double.NaN).Average();
        var measures = new List<PairedMeasure>();
        var ks = new[] { 1, 5, 10 }.Where(k => k < classCount).ToArray();
        int measureCount = ks.Length + 2;
        progress?.Report(new ProgressUpdate("compare", 0, measureCount));
        void Add(string name, Func<IReadOnlyList<int>, double> ofA, Func<IReadOnlyList<int>, double> ofB, bool higherIsBetter, IReadOnlyList<int>? strata = null)
        {
            cancellationToken.ThrowIfCancellationRequested();
            AddMeasure(name, ofA, ofB, higherIsBetter, strata);
            progress?.Report(new ProgressUpdate("compare", measures.Count, measureCount));
        }
        void AddMeasure(string name, Func<IReadOnlyList<int>, double> ofA, Func<IReadOnlyList<int>, double> ofB, bool higherIsBetter, IReadOnlyList<int>? strata)
        {
            var all = Enumerable.Range(0, n).ToArray();
            // Drawn within each syndrome, one with a single person would be the same in every resample: its share of the
            // difference would look certain. No interval then, rather than one of false precision.
            bool degenerate = strata is not null && Bootstrap.PoolsWithOneUnit(strata, draws) is var (single, mixed) && (single > 0 || mixed);
            if (degenerate)
            {
                measures.Add(new PairedMeasure(name, ofA(all), ofB(all), new ConfidenceInterval(ofB(all) - ofA(all), double.NaN, double.NaN, level), higherIsBetter));
                return;
            }
            // One seed, one set of draws: the difference and each model's own interval come from the same resamples.
            measures.Add(new PairedMeasure(name, ofA(all), ofB(all), Bootstrap.Interval(n, idx => ofB(idx) - ofA(idx), iterations, seed, level, draws, strata),
                higherIsBetter, Bootstrap.Interval(n, ofA, iterations, seed, level, draws, strata), Bootstrap.Interval(n, ofB, iterations, seed, level, draws, strata)));
        }
        foreach (int k in ks)
            Add($"top{k}", idx => Mean(idx, i => rankA[i] < k ? 1 : 0), idx => Mean(idx, i => rankB[i] < k ? 1 : 0), true);
        Add("per_disorder_top1", idx => PerDisorder(idx, rankA), idx => PerDisorder(idx, rankB), true, truth);
        Add("log_loss", idx => Mean(idx, i => lossA[i]), idx => Mean(idx, i => lossB[i]), false);
        return new RunComparisonResult(nameA, nameB, n, people, classCount, measures,
            Enumerable.Range(0, n).Count(i => rankB[i] == 0 && rankA[i] != 0), Enumerable.Range(0, n).Count(i => rankA[i] == 0 && rankB[i] != 0),
            iterations, seed, unit, families is null ? null : units)
        {
            Identical = Enumerable.Range(0, n).All(i => a[i].AsSpan().SequenceEqual(b[i])),
        };
    }

    /// <summary>
    /// Each region of an evaluation (<c>region_probabilities/REGION.csv</c>) as A against the ensemble of the same
    /// evaluation (<c>probabilities.csv</c>) as B, on the same photos: does combining the regions beat each one?
    /// </summary>
    /// <param name="evaluation">The evaluation's folder (or its metrics.json).</param>
    /// <param name="iterations">Bootstrap resamples (100 to 100,000).</param>
    /// <param name="seed">Their seed.</param>
    /// <param name="level">Interval level.</param>
    /// <param name="data">The data's manifest, whose families the resamples keep together; null = the manifest of the
    /// data the evaluation's metrics.json names, when it is there (else people are drawn).</param>
    /// <exception cref="GestaltLabException">The folder has no region probabilities (an evaluation by an older GestaltLab: evaluate again).</exception>
    /// <param name="progress">Stage <c>compare regions</c>, one step a region.</param>
    /// <param name="cancellationToken">Cancels between measures.</param>
    public static IReadOnlyList<(string Region, RunComparisonResult Comparison)> CompareRegions(string evaluation, int iterations = 1000, int seed = 0, double level = 0.95,
        Manifest? data = null, IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        evaluation = EvaluationFolder(evaluation);
        // The ensemble's table first: a folder no evaluation wrote is told so, not that its region tables are missing.
        var (ensemble, classes) = Load(evaluation);
        string folder = Path.Combine(evaluation, ModelEvaluation.RegionProbabilitiesFolder);
        var files = Directory.Exists(folder) ? Directory.GetFiles(folder, "*.csv").OrderBy(f => f, StringComparer.Ordinal).ToList() : [];
        if (files.Count == 0)
            throw new GestaltLabException($"{folder}: no region probabilities (evaluations before GestaltLab wrote them have none)",
                $"evaluate the model again (`gestaltlab evaluate --model RUN --data DIR`) into {evaluation}");
        // Every region the evaluation scored, or none: "the ensemble beats every region" must not rest on six of seven.
        RefuseChanged(evaluation, EvaluationRecord.ChangedFiles(evaluation), f => f.StartsWith(ModelEvaluation.RegionProbabilitiesFolder + "/", StringComparison.Ordinal));
        foreach (var region in ScoredRegions(evaluation).Where(r => !files.Any(f => Path.GetFileNameWithoutExtension(f) == r)))
            throw new GestaltLabException($"{Path.Combine(folder, region + ".csv")}: missing (region_metrics.csv lists region {region})", $"evaluate the model again into {evaluation}");
        var index = classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        var truth = ensemble.TrueLabels.Select(t => index.TryGetValue(t, out int k) ? k
            : throw new GestaltLabException($"{Path.Combine(evaluation, "probabilities.csv")}: true syndrome '{t}' is not among the model's classes")).ToArray();
        var ensembleColumns = ColumnMap(ensemble.Columns, classes);
        var ensembleProbs = ensemble.Values.Select(v => InOrder(v, ensembleColumns)).ToList();
        bool byPhoto = Enumerable.Range(0, ensemble.Count).All(i => ensemble.Subjects[i] == ensemble.Images[i]);
        var (families, note) = byPhoto ? (null, null) : FamiliesOf(evaluation, ensemble.Subjects, data);
        var results = new List<(string, RunComparisonResult)>();
        progress?.Report(new ProgressUpdate("compare regions", 0, files.Count));
        foreach (var file in files)
        {
            var region = ImageTable.LoadProbabilities(file);
            if (!region.Images.SequenceEqual(ensemble.Images, StringComparer.Ordinal) || !region.Columns.ToHashSet(StringComparer.Ordinal).SetEquals(classes))
                throw new GestaltLabException($"{file}: not the photos or syndromes of {Path.Combine(evaluation, "probabilities.csv")}", "evaluate the model again into this folder");
            string name = Path.GetFileNameWithoutExtension(file);
            var regionColumns = ColumnMap(region.Columns, classes);
            results.Add((name, Compare(truth, ensemble.Subjects, region.Values.Select(v => InOrder(v, regionColumns)).ToList(), ensembleProbs,
                classes.Count, name, "ensemble", iterations, seed, level, byPhoto, families, cancellationToken: cancellationToken) with { Note = note }));
            progress?.Report(new ProgressUpdate("compare regions", results.Count, files.Count, name));
        }
        return results;
    }

    /// <summary>
    /// Each region's and the ensemble's own top-1 interval from <see cref="CompareRegions"/>'s results, keyed by region
    /// and <c>ensemble</c>: the whiskers of <see cref="Figures.Charts.RegionAccuracy"/>. Regions without an interval are left out.
    /// </summary>
    public static IReadOnlyDictionary<string, ConfidenceInterval> Top1Intervals(IReadOnlyList<(string Region, RunComparisonResult Comparison)> regions)
    {
        var intervals = new Dictionary<string, ConfidenceInterval>(StringComparer.Ordinal);
        foreach (var (region, comparison) in regions)
        {
            var top1 = comparison.Measures.Single(m => m.Measure == "top1");
            if (top1.IntervalA is { } own) intervals[region] = own;
            // The same photos and draws in every comparison: the ensemble's interval is the same in each.
            if (top1.IntervalB is { } ensemble) intervals["ensemble"] = ensemble;
        }
        return intervals;
    }

    /// <summary>
    /// The priors the evaluation in <paramref name="evaluation"/> ranked its ensemble with (<c>equal</c> or <c>training</c>,
    /// from its metrics.json; null when it does not say). Regions always rank with equal priors: with training priors
    /// part of the ensemble's lead over a region is the priors, not the combining.
    /// </summary>
    public static string? EnsemblePriors(string evaluation)
    {
        try { return EvaluationRecord.FinishedMetrics(evaluation) is { } metrics ? ClassificationMetrics.Load(metrics).Priors : null; }
        catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException) { return null; }
    }

    // The data hash an evaluation's metrics record (null when they record none, or cannot be read).
    private static string? DataHashOf(string evaluation)
    {
        try { return EvaluationRecord.FinishedMetrics(evaluation) is { } metrics ? ClassificationMetrics.Load(metrics).DataHash : null; }
        catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException) { return null; }
    }

    /// <summary>For each class, the table column that holds it; null when the columns are the classes in order.</summary>
    private static int[]? ColumnMap(IReadOnlyList<string> columns, IReadOnlyList<string> classes)
    {
        if (columns.SequenceEqual(classes)) return null;
        var index = columns.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        return classes.Select(c => index[c]).ToArray();
    }

    private static float[] InOrder(float[] values, int[]? map) => map is null ? values : map.Select(c => values[c]).ToArray();

    /// <summary>
    /// Each photo's family from <paramref name="data"/>, or from the manifest of the evaluation's data
    /// (<see cref="ResamplingUnits.DataManifestPath"/>); null (people are drawn) when neither names families. An
    /// unreadable manifest found that way is passed over, with a note saying so.
    /// </summary>
    private static (IReadOnlyList<string>? Families, string? Note) FamiliesOf(string evaluation, IReadOnlyList<string> subjects, Manifest? data)
    {
        string? note = null;
        if (data is null)
        {
            string? path = null;
            try
            {
                path = ResamplingUnits.DataManifestPath(EvaluationFolder(evaluation));
                if (path is not null) data = Manifest.Load(path);
            }
            catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                note = $"{path ?? "the data's manifest"} could not be read ({e.Message.Split('\n')[0]}), so people were drawn, not families: if the data has relatives, the intervals are too narrow (--manifest names a readable one)";
            }
        }
        return (ResamplingUnits.Families(subjects, data), note);
    }

    /// <summary>The evaluation's folder, also when its metrics.json is named.</summary>
    // A table not as its evaluation wrote it (cut short, edited, deleted) is not compared: its photos would no longer be
    // the ones the evaluation's figures are of.
    private static void RefuseChanged(string folder, IReadOnlyDictionary<string, string> changed, Func<string, bool> read)
    {
        if (changed.FirstOrDefault(c => read(c.Key)) is { Key: not null } bad)
            throw new GestaltLabException($"{Path.Combine(folder, bad.Key)}: {bad.Value}", "evaluate the model again into this folder");
    }

    // The regions an evaluation's region_metrics.csv lists (none when it has none or cannot be read: the record's hashes,
    // where there are any, still name a missing table).
    private static IEnumerable<string> ScoredRegions(string evaluation)
    {
        try
        {
            var table = Csv.Read(Path.Combine(evaluation, "region_metrics.csv"));
            return table.Has("region") ? table.Rows.Select(r => r[table.Column("region")]).Where(r => r != "ensemble").ToList() : [];
        }
        catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException) { return []; }
    }

    private static string EvaluationFolder(string path) =>
        File.Exists(path) && Path.GetExtension(path) == ".json" ? Path.GetDirectoryName(Path.GetFullPath(path))! : path;

    private static (ImageTable Table, IReadOnlyList<string> Classes) Load(string folder)
    {
        folder = EvaluationFolder(folder);
        string probabilities = Path.Combine(folder, "probabilities.csv");
        if (!Directory.Exists(folder)) throw new GestaltLabException($"{folder}: folder not found", "pass a run folder or an evaluation's folder (one holding probabilities.csv)");
        // Not while an evaluation writes these tables (nor while the run is trained again): they could be of two.
        using var reading = RunResults.Reading(folder, "compare the evaluation in");
        if (!File.Exists(probabilities))
        {
            // A run scored on other data (or another split) holds its evaluations in sub-folders: named, rather than told
            // to evaluate again.
            var inside = RunResults.EvaluationsInside(folder);
            throw new GestaltLabException($"{probabilities}: not found — {folder} holds no evaluation" + (inside.Count > 0 ? $" itself (its evaluations: {string.Join(", ", inside)})" : ""),
                inside.Count > 0 ? $"pass the evaluation's folder, e.g. {Path.Combine(folder, inside[0])}" : "run `gestaltlab evaluate --model RUN --data DIR` first");
        }
        // metrics.json is removed when an evaluation starts and written when it ends: without it, the tables here may be
        // of two evaluations (one stopped part-way).
        if (EvaluationRecord.FinishedMetrics(folder) is not { } metricsFile)
            throw new GestaltLabException($"{folder}: the evaluation there did not finish (its metrics file, written last, is missing)", "evaluate the model again into this folder");
        RefuseChanged(folder, EvaluationRecord.ChangedFiles(folder), f => f is "probabilities.csv" or "classes.json");
        var table = ImageTable.LoadProbabilities(probabilities);
        // Evaluations from before the record kept hashes: at least the photo count must be the metrics'.
        if (ClassificationMetrics.Load(metricsFile) is { NImages: > 0 } counted && counted.NImages != table.Count)
            throw new GestaltLabException($"{probabilities}: {table.Count} photos, where {Path.GetFileName(metricsFile)} counts {counted.NImages} (cut short, or of another evaluation)",
                "evaluate the model again into this folder");
        string classesFile = Path.Combine(folder, "classes.json");
        if (!File.Exists(classesFile)) throw new GestaltLabException($"{classesFile}: not found (it names the syndromes the model ranks)", "evaluate the model again into this folder");
        IReadOnlyList<string>? classes;
        try { classes = System.Text.Json.JsonSerializer.Deserialize<string[]>(File.ReadAllText(classesFile)); }
        catch (System.Text.Json.JsonException e) { throw new GestaltLabException($"{classesFile}: not a list of syndrome names ({e.Message.Split('\n')[0]})", "evaluate the model again into this folder"); }
        if (classes is not { Count: > 1 }) throw new GestaltLabException($"{classesFile}: fewer than two syndrome names", "evaluate the model again into this folder");
        if (!table.Columns.ToHashSet(StringComparer.Ordinal).SetEquals(classes))
            throw new GestaltLabException($"{probabilities}: its columns are not the syndromes of {Path.Combine(folder, "classes.json")}", "evaluate the model again into this folder");
        return (table, classes);
    }
}
