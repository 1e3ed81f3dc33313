using System.Globalization;
using System.Text.Json;
using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Evaluation;

/// <summary>Per-image outputs of a model on a test set (<c>probabilities.csv</c> or <c>embeddings.csv</c>).</summary>
/// <param name="Images">Image name per row.</param>
/// <param name="Subjects">Subject per row (for subject-level bootstraps).</param>
/// <param name="TrueLabels">True class name per row.</param>
/// <param name="Values">The numbers per row (class probabilities, or embedding coordinates).</param>
/// <param name="Columns">Names of the value columns.</param>
public sealed record ImageTable(IReadOnlyList<string> Images, IReadOnlyList<string> Subjects, IReadOnlyList<string> TrueLabels,
    IReadOnlyList<float[]> Values, IReadOnlyList<string> Columns)
{
    /// <summary>Rows.</summary>
    public int Count => Images.Count;

    /// <summary>
    /// The table row by row, for LINQ: <c>table.Rows.Where(r => r.True == "kabuki_like").Average(r => r["kabuki_like"])</c>.
    /// </summary>
    public IEnumerable<ImageRow> Rows => Enumerable.Range(0, Count).Select(i => new ImageRow(this, i));

    /// <summary>The index of the value column named <paramref name="column"/> (a class, or an embedding coordinate).</summary>
    /// <exception cref="KeyNotFoundException">No such column (the columns are named).</exception>
    public int ColumnIndex(string column)
    {
        for (int c = 0; c < Columns.Count; c++)
            if (string.Equals(Columns[c], column, StringComparison.Ordinal)) return c;
        throw new KeyNotFoundException($"no column '{column}' (columns: {string.Join(", ", Columns.Take(8))}{(Columns.Count > 8 ? ", …" : "")})");
    }

    /// <summary>Reads a CSV with columns <c>image,subject,true,…</c>; every further column is a number.</summary>
    /// <exception cref="GestaltLabException">Missing columns or a value that is not a number (file and line named).</exception>
    public static ImageTable Load(string path)
    {
        var t = Csv.Read(path);
        int ci = t.Column("image"), cs = t.Has("subject") ? t.Column("subject") : -1, ct = t.Column("true");
        var valueCols = Enumerable.Range(0, t.Header.Count).Where(c => c != ci && c != cs && c != ct).ToArray();
        if (valueCols.Length == 0) throw new GestaltLabException($"{path}: no value columns after image,subject,true");
        var images = new List<string>(t.Rows.Count);
        var subjects = new List<string>(t.Rows.Count);
        var truth = new List<string>(t.Rows.Count);
        var values = new List<float[]>(t.Rows.Count);
        for (int r = 0; r < t.Rows.Count; r++)
        {
            var row = t.Rows[r];
            images.Add(row[ci]);
            subjects.Add(cs >= 0 ? row[cs] : row[ci]);
            truth.Add(row[ct]);
            var v = new float[valueCols.Length];
            for (int k = 0; k < valueCols.Length; k++)
                if (!float.TryParse(row[valueCols[k]], NumberStyles.Float, CultureInfo.InvariantCulture, out v[k]) || !float.IsFinite(v[k]))
                    throw new GestaltLabException($"{path}: line {t.LineOf(r)}, column '{t.Header[valueCols[k]]}': '{row[valueCols[k]]}' is not a finite number");
            values.Add(v);
        }
        return new ImageTable(images, subjects, truth, values, valueCols.Select(c => t.Header[c]).ToArray());
    }

    /// <summary>
    /// <see cref="Load"/> for a table of class probabilities (<c>probabilities.csv</c>, <c>region_probabilities/</c>):
    /// each row's values must lie in [0, 1] and add up to 1, and no photo may be listed twice — a damaged table would
    /// otherwise be scored, its figures wrong without a sign.
    /// </summary>
    /// <exception cref="GestaltLabException">As <see cref="Load"/>, or a row that is not a probability distribution, or a
    /// photo listed twice (file, line and photo named).</exception>
    public static ImageTable LoadProbabilities(string path)
    {
        var table = Load(path);
        if (table.Count == 0) throw new GestaltLabException($"{path}: no photos (a header alone)", "evaluate the model again into this folder");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int r = 0; r < table.Count; r++)
        {
            var v = table.Values[r];
            double sum = v.Sum(x => (double)x);
            // Float sums of weighted probabilities may pass 1 by a rounding step: a tolerance, not a refusal of our own tables.
            if (v.Any(x => x < -1e-6f || x > 1 + 1e-6f) || Math.Abs(sum - 1) > 1e-3)
                throw new GestaltLabException(string.Create(CultureInfo.InvariantCulture, $"{path}: line {r + 2} ({table.Images[r]}): not probabilities (values from {v.Min():G9} to {v.Max():G9}, adding up to {sum:G9})"),
                    "the table is damaged: evaluate the model again into this folder");
            if (!seen.Add(table.Images[r]))
                throw new GestaltLabException($"{path}: line {r + 2}: photo '{table.Images[r]}' is listed twice", "evaluate the model again into this folder");
        }
        return table;
    }
}

/// <summary>One row of an <see cref="ImageTable"/>: a photo, its person, its true class and its values.</summary>
public readonly record struct ImageRow
{
    private readonly ImageTable _table;

    internal ImageRow(ImageTable table, int index) => (_table, Index) = (table, index);

    /// <summary>The row's position in the table.</summary>
    public int Index { get; }
    /// <summary>The photo.</summary>
    public string Image => _table.Images[Index];
    /// <summary>Its person.</summary>
    public string Subject => _table.Subjects[Index];
    /// <summary>Its true class.</summary>
    public string True => _table.TrueLabels[Index];
    /// <summary>Its values (class probabilities, or embedding coordinates), in <see cref="ImageTable.Columns"/> order.</summary>
    public float[] Values => _table.Values[Index];
    /// <summary>The value of the column named <paramref name="column"/>.</summary>
    public float this[string column] => Values[_table.ColumnIndex(column)];
    /// <summary>The column with the largest value (for probabilities: the top-ranked class).</summary>
    public string Top => _table.Columns[Metrics.ArgMax(Values)];
}

/// <summary>One epoch of a training curve (<c>curves/&lt;region&gt;.csv</c>).</summary>
public readonly record struct CurvePoint(int Epoch, double TrainLoss, double TrainAccuracy, double ValLoss, double ValAccuracy);

/// <summary>Top-k of one region's net alone, or of the ensemble (<c>region_metrics.csv</c>).</summary>
public readonly record struct RegionScore(string Region, double Top1, double Top5, double Top10)
{
    /// <summary>Top-1/5/10 of <paramref name="probabilities"/> against <paramref name="truth"/>.</summary>
    public static RegionScore Of(string region, IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities) =>
        new(region, Metrics.TopK(truth, probabilities, 1), Metrics.TopK(truth, probabilities, 5), Metrics.TopK(truth, probabilities, 10));

    /// <summary>Writes <c>region_metrics.csv</c> (<c>region,top1,top5,top10</c>), the file <see cref="RunResults"/> reads.</summary>
    public static void WriteCsv(string path, IEnumerable<RegionScore> scores) =>
        Csv.Write(path, ["region", "top1", "top5", "top10"], scores.Select(r => (IReadOnlyList<string>)[r.Region, Csv.Format(r.Top1), Csv.Format(r.Top5), Csv.Format(r.Top10)]));
}

/// <summary>
/// Everything in a run directory that figures and reports read (see docs/run-directory.md), loaded tolerantly: a file
/// that is absent or unreadable leaves its property null and adds a line to <see cref="Notes"/>, so a report can show
/// what is there and say what is not.
/// </summary>
public sealed class RunResults
{
    /// <summary>The run directory (absolute).</summary>
    public required string Directory { get; init; }
    /// <summary><c>run.json</c>, when present.</summary>
    public RunManifest? Manifest { get; init; }
    /// <summary>Class labels in network-output order (<c>classes.json</c>, else the probability columns).</summary>
    public IReadOnlyList<string>? Classes { get; init; }
    /// <summary><c>metrics.json</c>, when present.</summary>
    public ClassificationMetrics? Metrics { get; init; }
    /// <summary><c>probabilities.csv</c>, when present (columns in <see cref="Classes"/> order).</summary>
    public ImageTable? Probabilities { get; init; }
    /// <summary><c>embeddings.csv</c>, when present.</summary>
    public ImageTable? Embeddings { get; init; }
    /// <summary>Training curves by region (<c>curves/*.csv</c>), sorted by region name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<CurvePoint>> Curves { get; init; } = new Dictionary<string, IReadOnlyList<CurvePoint>>();
    /// <summary><c>region_metrics.csv</c>, when present.</summary>
    public IReadOnlyList<RegionScore>? RegionMetrics { get; init; }
    /// <summary>
    /// Each region net's own probabilities for the evaluation's photos (<c>region_probabilities/REGION.csv</c>: the net
    /// alone, flip TTA included, before the regions are combined), by region name in name order, rows in
    /// <see cref="Probabilities"/>' order; empty when the evaluation wrote none (GestaltLab before they were written) or
    /// its tables were left out (see <see cref="Notes"/>).
    /// </summary>
    public IReadOnlyDictionary<string, ImageTable> RegionProbabilities { get; init; } = new Dictionary<string, ImageTable>();
    /// <summary>
    /// <c>face_space.json</c> (<c>gestaltlab match --out</c>), when the folder holds one and it is of this run's model as it
    /// is now; a file of another model (the run trained again since) is left out, with a note.
    /// </summary>
    public FaceSpaceMetrics? FaceSpace { get; init; }
    /// <summary>What was missing or unreadable, one line each (the figure that needs it is skipped).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>Index of each probability row's true class in <see cref="Classes"/>; null without probabilities.</summary>
    public int[]? TruthIndices()
    {
        if (Probabilities is null || Classes is null) return null;
        var index = Classes.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i, StringComparer.Ordinal);
        var result = new int[Probabilities.Count];
        for (int r = 0; r < result.Length; r++)
            result[r] = index.TryGetValue(Probabilities.TrueLabels[r], out int k) ? k
                : throw new GestaltLabException($"{Path.Combine(Directory, "probabilities.csv")}: row {r + 1} has true class '{Probabilities.TrueLabels[r]}', which is not in classes.json");
        return result;
    }

    /// <summary>
    /// Holds <paramref name="runDirectory"/> for reading its results: the run shared (no training of it meanwhile) and its
    /// own test results shared (no evaluation writing them meanwhile), so that tables are not read half old, half new.
    /// Null for a folder that does not exist (the reader says so).
    /// </summary>
    internal static IDisposable? Reading(string runDirectory, string command)
    {
        if (!System.IO.Directory.Exists(runDirectory)) return null;
        var run = FolderLock.AcquireShared(runDirectory, command);
        try { return new Both(run, FolderLock.AcquireRunResults(runDirectory, command, shared: true)); }
        catch { run.Dispose(); throw; }
    }

    private sealed class Both(IDisposable first, IDisposable second) : IDisposable
    {
        public void Dispose() { second.Dispose(); first.Dispose(); }
    }

    /// <summary>
    /// The finished evaluations a run folder holds in sub-folders (<c>eval-SPLIT</c>, <c>eval-on-DATA</c>, with priors
    /// suffixes; those <c>evaluate</c> names), by folder name, in order; empty when there are none.
    /// </summary>
    public static IReadOnlyList<string> EvaluationsInside(string runDirectory) =>
        System.IO.Directory.Exists(runDirectory)
            ? System.IO.Directory.GetDirectories(runDirectory, "eval*").Where(d => EvaluationRecord.FinishedMetrics(d) is not null)
                .Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal).ToList()
            : [];

    /// <summary>Loads a run directory: whatever results it holds; missing or damaged files are left out and named in its notes.</summary>
    /// <exception cref="GestaltLabException">The folder does not exist, or holds no results at all.</exception>
    public static RunResults Load(string runDirectory)
    {
        string dir = Path.GetFullPath(runDirectory);
        if (!System.IO.Directory.Exists(dir))
            throw new GestaltLabException($"{runDirectory}: run directory not found", "pass the folder that `gestaltlab train` or `gestaltlab demo` wrote");
        // An alignment's own run.json and faces would pass for a run's and make an empty page.
        if (Regions.FaceDatasetAligner.IsAligned(dir) && !RunFolder.IsRun(dir))
            throw new GestaltLabException($"{runDirectory}: an alignment (aligned faces and crops), not a training run",
                "pass the run folder `gestaltlab train` or `demo` wrote (a run trained on this alignment records it in its run.json)");
        using var readLock = Reading(dir, "read the results of the run in");
        var notes = new List<string>();
        T? Try<T>(string file, Func<string, T> load) where T : class
        {
            string path = Path.Combine(dir, file);
            if (!File.Exists(path) && !System.IO.Directory.Exists(path)) { notes.Add($"{file}: not in the run directory"); return null; }
            try { return load(path); }
            catch (Exception e) when (e is GestaltLabException or IOException or JsonException or FormatException)
            {
                // Links out of the run are read (runs kept under DVC or git-annex are links into a cache), but what fails
                // there is not quoted: a received run's link to a file of this machine would have its first line shown.
                notes.Add(RunFolder.IsWithin(RunFolder.RealPath(path), RunFolder.RealPath(dir))
                    ? $"{file}: unreadable ({e.Message.Split('\n')[0]})"
                    : $"{file}: unreadable (a link out of the run directory; its error is not shown)");
                return null;
            }
        }

        var manifest = Try(RunManifest.FileName, _ => RunManifest.Load(dir));
        // evaluate --out FILE.json names the metrics otherwise; the folder's record says which file is this evaluation's.
        string? finished = EvaluationRecord.FinishedMetrics(dir);
        string metricsName = finished is null ? "metrics.json" : Path.GetFileName(finished);
        // A table cut short or edited since the evaluation wrote it would be drawn beside figures of all its photos (a
        // truncated probabilities.csv under metrics.json's counts): left out, said. Missing ones are said where they are read.
        var changed = finished is null ? new Dictionary<string, string>() : EvaluationRecord.ChangedFiles(dir);
        T? Checked<T>(string file, Func<string, T> load) where T : class
        {
            if (changed.TryGetValue(file, out var why) && why != "missing")
            {
                notes.Add($"{file}: left out — {why}; evaluate the model again into this folder");
                return null;
            }
            return Try(file, load);
        }
        var classes = Checked("classes.json", LoadClasses);
        var metrics = Checked(metricsName, ClassificationMetrics.Load);
        var probabilities = Checked("probabilities.csv", ImageTable.LoadProbabilities);
        var embeddings = Checked("embeddings.csv", ImageTable.Load);
        var regions = Checked("region_metrics.csv", LoadRegionMetrics);
        // The regions region_metrics.csv scored (other files in the folder are not the evaluation's), where the evaluation
        // wrote their tables: none at all is an evaluation from before they were written, and no note. A name with a folder
        // in it (a received run's crafted "../x") names no table of the run, as where evaluate reads earlier regions.
        var regionTables = new SortedDictionary<string, ImageTable>(StringComparer.Ordinal);
        if (regions is not null && System.IO.Directory.Exists(Path.Combine(dir, ModelEvaluation.RegionProbabilitiesFolder)))
            foreach (var region in regions.Select(r => r.Region).Where(r => r != "ensemble" && r == Path.GetFileName(r)).Order(StringComparer.Ordinal))
                if (Checked(Path.Combine(ModelEvaluation.RegionProbabilitiesFolder, region + ".csv"), ImageTable.LoadProbabilities) is { } t)
                    regionTables[region] = t;
        // Evaluations from before the record kept hashes: at least the photo counts must agree with the metrics.
        if (metrics is not null && probabilities is not null && probabilities.Count != metrics.NImages)
        {
            notes.Add($"probabilities.csv: left out — {probabilities.Count} photos, where {metricsName} counts {metrics.NImages} (cut short, or of another evaluation); evaluate the model again into this folder");
            probabilities = null;
        }
        if (metrics is not null && embeddings is not null && embeddings.Count != metrics.NImages)
        {
            notes.Add($"embeddings.csv: left out — {embeddings.Count} photos, where {metricsName} counts {metrics.NImages} (cut short, or of another evaluation); evaluate the model again into this folder");
            embeddings = null;
        }
        // Of the same photos as probabilities.csv, in its order, or not drawn beside it: a region's table of another
        // evaluation (copied in, cut short) would give that region other photos' figures.
        foreach (var (region, table) in regionTables.ToList())
            if (probabilities is not null ? !table.Images.SequenceEqual(probabilities.Images, StringComparer.Ordinal) : metrics is not null && table.Count != metrics.NImages)
            {
                notes.Add($"{ModelEvaluation.RegionProbabilitiesFolder}/{region}.csv: left out — not the photos of {(probabilities is not null ? "probabilities.csv" : metricsName)} (cut short, or of another evaluation); evaluate the model again into this folder");
                regionTables.Remove(region);
            }
        // Optional: a run is complete without it, so its absence is no note.
        var faceSpace = File.Exists(Path.Combine(dir, FaceSpaceMetrics.FileName)) ? Try(FaceSpaceMetrics.FileName, FaceSpaceMetrics.Load) : null;
        // The model the folder's results are of (the folder's own, or the run its metrics name), hashed once for every
        // figure file that says which model it scored.
        var model = EnsembleOf(dir, metrics) is { } ensembleFile ? (File: ensembleFile, Hash: RunManifest.ComputeFileHash(ensembleFile)) : ((string File, string Hash)?)null;
        if (faceSpace is not null && OtherModel(faceSpace, model) is { } why)
        {
            notes.Add($"{FaceSpaceMetrics.FileName}: left out — {why}; score it again: gestaltlab match --model RUN --gallery ALIGNED --out {Path.Combine(runDirectory, FaceSpaceMetrics.FileName)}");
            faceSpace = null;
        }
        var curves = new SortedDictionary<string, IReadOnlyList<CurvePoint>>(StringComparer.Ordinal);
        string curveDir = Path.Combine(dir, "curves");
        if (System.IO.Directory.Exists(curveDir))
        {
            foreach (var f in System.IO.Directory.GetFiles(curveDir, "*.csv").OrderBy(f => f, StringComparer.Ordinal))
            {
                var c = Try(Path.Combine("curves", Path.GetFileName(f)), LoadCurve);
                if (c is not null) curves[Path.GetFileNameWithoutExtension(f)] = c;
            }
        }
        else notes.Add("curves/: not in the run directory");
        // A curve cut at a line break reads as a shorter training: drawn, the region would seem to have stopped early. A
        // finished run's checkpoints are named by the last epoch trained (checkpoints/REGION/epoch-NNN.pt), which its
        // curve reaches. (While a run trains, its curve may be an epoch behind its checkpoint for a moment.)
        if (File.Exists(Path.Combine(dir, Ensemble.GestaltModel.EnsembleFile)))
            foreach (var (region, curve) in curves.ToList())
                if (Models.RegionTrainer.LatestCheckpoint(Path.Combine(dir, "checkpoints", region)) is { } latest
                    && int.TryParse(Path.GetFileNameWithoutExtension(latest).AsSpan("epoch-".Length), NumberStyles.None, CultureInfo.InvariantCulture, out int trained)
                    && (curve.Count == 0 ? 0 : curve.Max(p => p.Epoch)) < trained)
                {
                    notes.Add($"curves/{region}.csv: left out — it ends at epoch {(curve.Count == 0 ? 0 : curve.Max(p => p.Epoch))}, where the region trained {trained} (checkpoints/{region}/{Path.GetFileName(latest)}): cut short since training wrote it");
                    curves.Remove(region);
                }
        // Each trained net has its curve: one gone would leave the chart a region short, unsaid.
        string netDir = Path.Combine(dir, "regions");
        if (System.IO.Directory.Exists(curveDir) && System.IO.Directory.Exists(netDir))
            foreach (var net in System.IO.Directory.GetFiles(netDir, "*.pt").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal))
                if (net is not null && !File.Exists(Path.Combine(curveDir, net + ".csv")))
                    notes.Add($"curves/{net}.csv: not in the run directory (the training curve of region {net})");
        // A run folder says what it lacks as a whole, with what to run: a training that did not finish (its figures are
        // of the training so far), a model never evaluated (one note, not one per table).
        if (File.Exists(Path.Combine(dir, RunFolder.Marker)) || File.Exists(Path.Combine(dir, "config.json")))
        {
            string[] tables = [metricsName, "probabilities.csv", "embeddings.csv", "region_metrics.csv"];
            if (tables.All(t => !File.Exists(Path.Combine(dir, t))))
            {
                notes.RemoveAll(n => tables.Any(t => n == $"{t}: not in the run directory"));
                var inside = EvaluationsInside(dir);
                notes.Add(inside.Count > 0
                    ? $"no evaluation in the run directory itself; its evaluations (other data, splits or priors) are in {string.Join(", ", inside)} (`gestaltlab report --run {Path.Combine(runDirectory, inside[0])}` draws one)"
                    : $"no evaluation of the model in the run directory: `gestaltlab evaluate --model {runDirectory} --data DIR` (in C#: ModelEvaluation.EvaluateOn) scores it on DIR's test split (the data it was trained on: its held-out people), and the report then shows those figures");
            }
            if (!File.Exists(Path.Combine(dir, Ensemble.GestaltModel.EnsembleFile)))
                notes.Insert(0, $"the training of this run did not finish (no {Ensemble.GestaltModel.EnsembleFile}): what is shown is its training so far; run the same `gestaltlab train` again to finish it, then evaluate it");
        }

        // Nothing a run writes: a report of it would be an empty page, so say what the folder is not.
        if (manifest is null && classes is null && metrics is null && probabilities is null && embeddings is null && regions is null && curves.Count == 0
            && !File.Exists(Path.Combine(dir, "aligned", Data.Manifest.FileName)))
            throw new GestaltLabException($"{runDirectory}: holds no run results (no run.json, metrics.json, curves/ or aligned faces)",
                "pass the folder that `gestaltlab train`, `evaluate` or `demo` wrote");
        // An evaluation deletes metrics.json first and writes it last: tables without it are of one that stopped part-way,
        // possibly beside another's (a new probabilities.csv, the old embeddings), so none of them is drawn.
        if (finished is null && ((probabilities ?? embeddings ?? (object?)regions) is not null || regionTables.Count > 0))
        {
            notes.Add("probabilities.csv, embeddings.csv, region_metrics.csv, region_probabilities/: left out — the evaluation that wrote them did not finish (its metrics file, written last, is missing); evaluate the model again into this folder");
            probabilities = null;
            embeddings = null;
            regions = null;
            regionTables.Clear();
        }
        // Figures of another model than the folder's (the run trained again since with other priors or heads, or another
        // run's files put in its place) would pass for this one's: left out, as face-space figures are.
        if (metrics?.ModelHash is { } scoredHash && model is { } current && current.Hash != scoredHash)
        {
            notes.Add($"{metricsName}, probabilities.csv, embeddings.csv, region_metrics.csv, region_probabilities/: left out — they scored another model than {current.File} (trained again since, or another run's); evaluate the model again into this folder");
            (metrics, probabilities, embeddings, regions) = (null, null, null, null);
            regionTables.Clear();
        }
        if (classes is null && probabilities is not null)
        {
            if (probabilities.Columns.Select(Data.Manifest.SyndromeNameProblem).FirstOrDefault(p => p is not null) is { } odd)
            {
                notes.Add($"probabilities.csv: a class column {odd}; probabilities ignored");
                probabilities = null;
            }
            else classes = probabilities.Columns.ToArray();
        }
        if (classes is not null && probabilities is not null && !classes.SequenceEqual(probabilities.Columns))
        {
            notes.Add($"probabilities.csv: class columns differ from classes.json ({probabilities.Columns.Count} vs {classes.Count}); probabilities ignored");
            probabilities = null;
        }
        return new RunResults
        {
            Directory = dir, Manifest = manifest, Classes = classes, Metrics = metrics, Probabilities = probabilities,
            Embeddings = embeddings, Curves = curves, RegionMetrics = regions, RegionProbabilities = regionTables, FaceSpace = faceSpace, Notes = notes,
        };
    }

    // Why face-space figures are not of the model this folder's results are of (its ensemble.json and that file's hash);
    // null when they are, or when nothing tells.
    private static string? OtherModel(FaceSpaceMetrics figures, (string File, string Hash)? model)
    {
        if (model is not { } m) return null;
        if (figures.ModelHash is null) return "it does not record which model it scored";
        return m.Hash == figures.ModelHash ? null : $"it scored another model than {m.File} (trained again since, or another run's)";
    }

    // The ensemble.json of the model a folder's results are of: the folder's own (a run), or the run its metrics name.
    private static string? EnsembleOf(string dir, ClassificationMetrics? metrics) =>
        File.Exists(Path.Combine(dir, Ensemble.GestaltModel.EnsembleFile)) ? Path.Combine(dir, Ensemble.GestaltModel.EnsembleFile)
        : metrics?.Model is { } run && File.Exists(Path.Combine(run, Ensemble.GestaltModel.EnsembleFile)) ? Path.Combine(run, Ensemble.GestaltModel.EnsembleFile) : null;

    private static IReadOnlyList<string> LoadClasses(string path)
    {
        try
        {
            var doc = JsonDocument.Parse(File.ReadAllText(path));
            // Either a plain array of names or an object with a "classes" array.
            var arr = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("classes", out var c) ? c : doc.RootElement;
            if (arr.ValueKind != JsonValueKind.Array) throw new GestaltLabException($"{path}: expected a JSON array of class names");
            var names = arr.EnumerateArray().Select(e => e.GetString() ?? throw new GestaltLabException($"{path}: null class name")).ToArray();
            // As a model's classes.json is checked when the model loads: these names go into the report's charts.
            if (names.Select(Data.Manifest.SyndromeNameProblem).FirstOrDefault(p => p is not null) is { } odd)
                throw new GestaltLabException($"{path}: a class name {odd}");
            return names;
        }
        catch (InvalidOperationException e)
        {
            throw new GestaltLabException($"{path}: class names must be strings ({e.Message})");
        }
    }

    private static IReadOnlyList<RegionScore> LoadRegionMetrics(string path)
    {
        var t = Csv.Read(path);
        int r = t.Column("region"), a = t.Column("top1"), b = t.Has("top5") ? t.Column("top5") : -1, c = t.Has("top10") ? t.Column("top10") : -1;
        return t.Rows.Select((row, i) => new RegionScore(row[r], Num(path, t.LineOf(i), row[a]), b < 0 ? double.NaN : Num(path, t.LineOf(i), row[b]), c < 0 ? double.NaN : Num(path, t.LineOf(i), row[c]))).ToArray();
    }

    private static IReadOnlyList<CurvePoint> LoadCurve(string path)
    {
        var t = Csv.Read(path);
        int e = t.Column("epoch");
        int Opt(string name) => t.Has(name) ? t.Column(name) : -1;
        int tl = Opt("train_loss"), ta = Opt("train_acc"), vl = Opt("val_loss"), va = Opt("val_acc");
        double Get(string[] row, int col, int i) => col < 0 || row[col].Length == 0 ? double.NaN : Num(path, t.LineOf(i), row[col]);
        return t.Rows.Select((row, i) => new CurvePoint((int)Num(path, t.LineOf(i), row[e]), Get(row, tl, i), Get(row, ta, i), Get(row, vl, i), Get(row, va, i))).ToArray();
    }

    private static double Num(string path, int line, string s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v
            : throw new GestaltLabException($"{path}: line {line}: '{s}' is not a number");
}
