using System.Text.Json.Serialization;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>One measure of two models scored on the same photos, and their difference.</summary>
/// <param name="Measure">Name: <c>top1</c>, <c>top5</c>, <c>top10</c>, <c>per_disorder_top1</c> or <c>log_loss</c>.</param>
/// <param name="A">The first model's value.</param>
/// <param name="B">The second model's value.</param>
/// <param name="Difference">B − A with its paired bootstrap interval.</param>
/// <param name="HigherIsBetter">False for log loss.</param>
public sealed record PairedMeasure(
    [property: JsonPropertyName("measure")] string Measure,
    [property: JsonPropertyName("a")] double A,
    [property: JsonPropertyName("b")] double B,
    [property: JsonPropertyName("difference")] ConfidenceInterval Difference,
    [property: JsonPropertyName("higher_is_better")] bool HigherIsBetter)
{
    /// <summary>Whether the interval of B − A excludes 0 (in either direction).</summary>
    [JsonPropertyName("interval_excludes_zero")] public bool IntervalExcludesZero => Difference.Lower > 0 || Difference.Upper < 0;
}

/// <summary>Two evaluations of the same photos compared (see <see cref="RunComparison.Compare"/>).</summary>
/// <param name="A">Folder of the first evaluation.</param>
/// <param name="B">Folder of the second.</param>
/// <param name="NImages">Photos scored by both.</param>
/// <param name="NSubjects">People they show (the bootstrap's unit).</param>
/// <param name="NClasses">Syndromes both rank.</param>
/// <param name="Measures">Each measure for A and B with B − A.</param>
/// <param name="OnlyBRight">Photos B ranks right first and A does not.</param>
/// <param name="OnlyARight">Photos A ranks right first and B does not.</param>
/// <param name="Iterations">Bootstrap resamples.</param>
/// <param name="Seed">Their seed.</param>
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
    [property: JsonPropertyName("bootstrap_seed")] int Seed)
{
    /// <summary>How the intervals were made, for the record and for figure captions.</summary>
    [JsonPropertyName("method")]
    public string Method =>
        "paired percentile bootstrap over people: each resample draws whole subjects (with all their photos) with replacement and "
        + "scores both models on the same draw; per-disorder top-1 draws people within each syndrome so every syndrome keeps its place";
}

/// <summary>
/// Compares two models scored on the same test photos — a fine-tuned model against the same nets from scratch, a joint
/// head against DeepGestalt's average, two backbones — with paired bootstrap intervals of each difference.
/// </summary>
/// <remarks>
/// Paired, because both models see the same photos: the photos' own difficulty cancels, so a difference is measured far
/// more precisely than two separate intervals suggest (overlapping intervals do not mean "no difference"). Resampled by
/// person, because several photos of one person are not independent evidence.
/// </remarks>
public static class RunComparison
{
    /// <summary>
    /// Compares the evaluations in <paramref name="a"/> and <paramref name="b"/>: folders holding <c>probabilities.csv</c>
    /// and <c>classes.json</c> (a run folder, or an evaluation's folder such as <c>RUN/eval-val</c>).
    /// </summary>
    /// <exception cref="GestaltLabException">A folder lacks its files, or the two did not score the same photos with the
    /// same truth, or rank different syndromes; the message names what differs.</exception>
    public static RunComparisonResult Compare(string a, string b, int iterations = 2000, int seed = 0, double level = 0.95)
    {
        if (iterations < 100) throw new GestaltLabException($"{iterations} bootstrap iterations: too few for a 95% interval", "use at least 1000");
        var (tableA, classesA) = Load(a);
        var (tableB, classesB) = Load(b);
        if (!classesA.ToHashSet(StringComparer.Ordinal).SetEquals(classesB))
            throw new GestaltLabException($"{b}: ranks other syndromes than {a} ({classesB.Count} vs {classesA.Count}; e.g. {classesA.Except(classesB).Concat(classesB.Except(classesA)).First()})",
                "compare models trained on the same syndromes, evaluated on the same photos");
        var rowOfB = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tableB.Count; i++) rowOfB[tableB.Images[i]] = i;
        var onlyA = tableA.Images.Where(im => !rowOfB.ContainsKey(im)).ToList();
        var onlyB = tableB.Images.Except(tableA.Images, StringComparer.Ordinal).ToList();
        if (onlyA.Count > 0 || onlyB.Count > 0 || tableA.Count != tableB.Count)
            throw new GestaltLabException(
                $"{a} and {b} scored different photos ({tableA.Count} and {tableB.Count}; {onlyA.Count} only in the first, {onlyB.Count} only in the second, e.g. {onlyA.Concat(onlyB).FirstOrDefault() ?? "a photo listed twice"})",
                "evaluate both models on the same data and split (`gestaltlab evaluate --model RUN --data DIR`), then compare those folders");

        int n = tableA.Count;
        var classIndex = classesA.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        // Column order may differ between the two (another class order in classes.json): B's columns mapped to A's classes.
        var bColumn = classesA.Select(c => tableB.Columns.ToList().IndexOf(c)).ToArray();
        var truth = new int[n];
        var rankA = new int[n];
        var rankB = new int[n];
        var lossA = new double[n];
        var lossB = new double[n];
        var subjects = new string[n];
        for (int i = 0; i < n; i++)
        {
            int j = rowOfB[tableA.Images[i]];
            if (tableA.TrueLabels[i] != tableB.TrueLabels[j] || tableA.Subjects[i] != tableB.Subjects[j])
                throw new GestaltLabException($"{tableA.Images[i]}: {a} and {b} give it another true syndrome or subject ({tableA.TrueLabels[i]}/{tableA.Subjects[i]} vs {tableB.TrueLabels[j]}/{tableB.Subjects[j]})",
                    "compare evaluations of the same data");
            if (!classIndex.TryGetValue(tableA.TrueLabels[i], out truth[i]))
                throw new GestaltLabException($"{tableA.Images[i]}: true syndrome '{tableA.TrueLabels[i]}' is not among the models' classes");
            float[] pA = ColumnsAs(tableA.Values[i], tableA.Columns, classesA), pB = bColumn.Select(c => tableB.Values[j][c]).ToArray();
            rankA[i] = Metrics.RankOfTruth(pA, truth[i]);
            rankB[i] = Metrics.RankOfTruth(pB, truth[i]);
            lossA[i] = -Math.Log(Math.Max(pA[truth[i]], 1e-15));
            lossB[i] = -Math.Log(Math.Max(pB[truth[i]], 1e-15));
            subjects[i] = tableA.Subjects[i];
        }

        double Mean(IReadOnlyList<int> idx, Func<int, double> f) => idx.Count == 0 ? double.NaN : idx.Sum(f) / idx.Count;
        double PerDisorder(IReadOnlyList<int> idx, int[] rank) =>
            idx.GroupBy(i => truth[i]).Select(g => g.Count(i => rank[i] == 0) / (double)g.Count()).DefaultIfEmpty(double.NaN).Average();
        var measures = new List<PairedMeasure>();
        void Add(string name, Func<IReadOnlyList<int>, double> ofA, Func<IReadOnlyList<int>, double> ofB, bool higherIsBetter, IReadOnlyList<int>? strata = null)
        {
            var all = Enumerable.Range(0, n).ToArray();
            var difference = Bootstrap.Interval(n, idx => ofB(idx) - ofA(idx), iterations, seed, level, subjects, strata);
            measures.Add(new PairedMeasure(name, ofA(all), ofB(all), difference, higherIsBetter));
        }
        foreach (int k in new[] { 1, 5, 10 }.Where(k => k < classesA.Count))
            Add($"top{k}", idx => Mean(idx, i => rankA[i] < k ? 1 : 0), idx => Mean(idx, i => rankB[i] < k ? 1 : 0), true);
        Add("per_disorder_top1", idx => PerDisorder(idx, rankA), idx => PerDisorder(idx, rankB), true, truth);
        Add("log_loss", idx => Mean(idx, i => lossA[i]), idx => Mean(idx, i => lossB[i]), false);
        return new RunComparisonResult(Path.GetFullPath(a), Path.GetFullPath(b), n, subjects.Distinct(StringComparer.Ordinal).Count(), classesA.Count, measures,
            Enumerable.Range(0, n).Count(i => rankB[i] == 0 && rankA[i] != 0), Enumerable.Range(0, n).Count(i => rankA[i] == 0 && rankB[i] != 0),
            iterations, seed);
    }

    private static float[] ColumnsAs(float[] values, IReadOnlyList<string> columns, IReadOnlyList<string> classes)
    {
        if (columns.SequenceEqual(classes)) return values;
        var index = columns.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        return classes.Select(c => values[index[c]]).ToArray();
    }

    private static (ImageTable Table, IReadOnlyList<string> Classes) Load(string folder)
    {
        if (File.Exists(folder) && Path.GetFileName(folder) == "metrics.json") folder = Path.GetDirectoryName(Path.GetFullPath(folder))!;
        string probabilities = Path.Combine(folder, "probabilities.csv");
        if (!Directory.Exists(folder)) throw new GestaltLabException($"{folder}: folder not found", "pass a run folder or an evaluation's folder (one holding probabilities.csv)");
        if (!File.Exists(probabilities))
            throw new GestaltLabException($"{probabilities}: not found — {folder} holds no evaluation", $"run `gestaltlab evaluate --model RUN --data DIR` first");
        var table = ImageTable.Load(probabilities);
        var classes = RunResults.Load(folder).Classes
            ?? throw new GestaltLabException($"{Path.Combine(folder, "classes.json")}: missing or unreadable (it names the columns of probabilities.csv)");
        if (!table.Columns.ToHashSet(StringComparer.Ordinal).SetEquals(classes))
            throw new GestaltLabException($"{probabilities}: its columns are not the syndromes of {Path.Combine(folder, "classes.json")}", "evaluate the model again into this folder");
        return (table, classes);
    }
}
