using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;
using Plotly.NET;

namespace GestaltLab.Figures;

/// <summary>Options of <see cref="Report.Write"/>.</summary>
public sealed record ReportOptions
{
    /// <summary>Page title; default "GestaltLab report — &lt;run folder name&gt;".</summary>
    public string? Title { get; init; }
    /// <summary>The data set's <c>manifest.csv</c> (for colouring the t-SNE map by its columns); default: the data folder named in <c>run.json</c>, if any.</summary>
    public string? ManifestPath { get; init; }
    /// <summary>
    /// Manifest columns to colour the t-SNE map by (one map each); <c>true</c> = the true class in the run files. Null
    /// (the default): the true class, and the gene where the manifest gives genes — a requested column that is empty for
    /// the mapped images is named in the notes, a default one is left out quietly (most data sets have no genes).
    /// </summary>
    public IReadOnlyList<string>? TsneColourBy { get; init; }
    /// <summary>
    /// Classes of the run to colour on the t-SNE map coloured by true class, every other point light grey
    /// (<see cref="Charts.Embedding"/>'s <c>highlight</c>): a few syndromes of interest on a map of many. Null: every class.
    /// </summary>
    public IReadOnlyList<string>? TsneHighlight { get; init; }
    /// <summary>Largest k of the top-k curve.</summary>
    public int MaxK { get; init; } = 30;
    /// <summary>Smallest cohort (people) a composite face is drawn for; at least <see cref="CompositeFaces.DefaultMinimumCohort"/> (privacy: an average of few faces can identify a person).</summary>
    public int MinimumCohort { get; init; } = CompositeFaces.DefaultMinimumCohort;
    /// <summary>Bootstrap resamples for confidence intervals: 0 (none) or at least 100, as <c>compare</c> takes.</summary>
    public int BootstrapIterations { get; init; } = 1000;
    /// <summary>Seed of bootstraps and t-SNE (same seed → same report).</summary>
    public int Seed { get; init; }
    /// <summary>Above this class count the confusion section adds the compact "most frequent confusions" view.</summary>
    public int CompactConfusionAbove { get; init; } = 30;
    /// <summary>Rows (least accurate classes) of the compact confusion view.</summary>
    public int CompactConfusionRows { get; init; } = 40;
    /// <summary>
    /// Whether the t-SNE map's hover text names each photo by its file name (default), or by a number only. File names of
    /// patient photos often carry names or record numbers: leave them out of a page that leaves the team. Without them,
    /// the map may only be coloured by <see cref="Report.ShareableColumns"/> (subjects, families, image names or a
    /// manifest's own columns would name people in its legend); the composite section gives "fewer than N" for the
    /// syndromes it does not draw rather than their exact small counts.
    /// </summary>
    public bool PhotoNames { get; init; } = true;
    /// <summary>
    /// Whether the page shows the run's, the data's and the manifest's folders by their full paths (default), or cut to
    /// their last name (<see cref="SharedText.WithoutFolders(string, IEnumerable{string?}?)"/>), in its provenance lines and its notes. The folders above
    /// a run often name a clinic, a user or a cohort: cut them from a page that leaves the team.
    /// </summary>
    public bool FolderPaths { get; init; } = true;
    /// <summary>Largest number of embeddings mapped by t-SNE (a stratified subsample above it).</summary>
    public int MaxTsnePoints { get; init; } = 5000;
}

/// <summary>A chart of the report with a file-safe name (for static export) and its section.</summary>
/// <param name="Name">File-safe name, e.g. <c>confusion-matrix-top-5</c>.</param>
/// <param name="Section">The report section it belongs to.</param>
/// <param name="Chart">The chart.</param>
public sealed record NamedChart(string Name, string Section, GenericChart Chart);

/// <summary>The built report: page HTML, sections, charts and notes.</summary>
/// <param name="Html">The complete offline page.</param>
/// <param name="Sections">Section titles in page order.</param>
/// <param name="Charts">The page's charts in order.</param>
/// <param name="Notes">What was missing or skipped.</param>
public sealed record ReportContent(string Html, IReadOnlyList<string> Sections, IReadOnlyList<NamedChart> Charts, IReadOnlyList<string> Notes)
{
    /// <summary>The composite-faces grid the page shows (null when the run had none to draw), for static export.</summary>
    public RgbImage? CompositeFaces { get; init; }

    /// <summary>The composite faces themselves (null when none), so that an export can lay them out for its own width.</summary>
    public CompositeFaceSet? CompositeFaceSet { get; init; }

    /// <summary>
    /// What the bootstrap intervals and bands resample: <c>subjects</c>, <c>families</c> (relatives together, when the
    /// data manifest names them) or <c>photos</c> (when the probabilities name no subjects); null without probabilities
    /// (no intervals). For a figure's record: the words on the page do not travel with an exported figure.
    /// </summary>
    public string? ResamplingUnit { get; init; }
}

/// <summary>What <see cref="Report.Write"/> produced.</summary>
/// <param name="Path">The HTML file written.</param>
/// <param name="Sections">Section titles in page order.</param>
/// <param name="ChartCount">Interactive charts on the page.</param>
/// <param name="Notes">What was missing or skipped, one line each (also shown on the page).</param>
public sealed record ReportResult(string Path, IReadOnlyList<string> Sections, int ChartCount, IReadOnlyList<string> Notes)
{
    /// <summary>As the CLI says it ("report.html (9 charts; sections: Metrics, …)"), for a notebook's display: the record's
    /// own listing showed the lists' type names.</summary>
    public override string ToString() =>
        $"{Path} ({ChartCount} charts; sections: {string.Join(", ", Sections)}){(Notes.Count > 0 ? $"; {Notes.Count} note(s): {string.Join(" | ", Notes)}" : "")}";
}

/// <summary>
/// The self-contained HTML report of a run directory (docs/run-directory.md): metrics beside the synthetic oracle's and the
/// published DeepGestalt / GestaltMatcher figures, top-k curve, confusion matrix, t-SNE map of the embeddings, ROC where
/// the task allows one, per-region bars and training curves. plotly.js is inlined once for all charts; nothing is
/// referenced off the machine. A missing run file skips its figure with a note; it never fails the report.
/// </summary>
public static class Report
{
    /// <summary>Default file name inside the run directory.</summary>
    public const string FileName = "report.html";

    /// <summary>Builds the report of <paramref name="runDirectory"/> and writes it (default RUN/report.html) atomically.</summary>
    /// <exception cref="GestaltLabException">The run directory does not exist or holds no results, or
    /// <see cref="ReportOptions.MinimumCohort"/> is below the privacy floor.</exception>
    public static ReportResult Write(string runDirectory, string? outPath = null, ReportOptions? options = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        // Not while the run is trained again or replaced: its results could change under the page, or the page land in
        // a run that a `train --force` just cleared.
        using var readLock = RunResults.Reading(runDirectory, "write the report of the run in");
        var run = RunResults.Load(runDirectory);
        options ??= new ReportOptions();
        string path = Path.GetFullPath(outPath ?? Path.Combine(run.Directory, FileName));
        // A page naming the photos is patient data wherever --out puts it (the run folder is its owner's alone, a folder
        // of the user's choosing need not be); one that numbers them is made to leave the team.
        bool ownerOnly = options.PhotoNames;
        // Before the figures are drawn (their bootstraps and t-SNE take a while), not after.
        AtomicFile.CheckWritable(path, FileName, ownerOnly);
        var content = Build(run, options, progress, cancellationToken);
        // The half of a page a killed report was writing (megabytes: plotly.js is inlined) goes with the next one.
        AtomicFile.RemoveLeftovers(Path.GetDirectoryName(path)!, Path.GetFileName(path));
        AtomicFile.WriteAllText(path, content.Html, ownerOnly);
        return new ReportResult(path, content.Sections, content.Charts.Count, content.Notes);
    }

    /// <summary>Manifest columns a page without photo names may be coloured by: they describe groups, not persons.</summary>
    public static readonly IReadOnlyList<string> ShareableColumns = ["true", "syndrome", "gene", "sex", "age_band", "skin_tone", "split"];

    /// <summary>The report page as HTML, with its section titles, charts and notes.</summary>
    public static ReportContent Build(RunResults run, ReportOptions options,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        // Refused before any work, not after every other section was built.
        CompositeFaces.CheckMinimum(options.MinimumCohort);
        // A handful of resamples would print "95% CI" over intervals that are nothing of the kind (and the paired region
        // comparison, like `compare`, needs 100).
        if (options.BootstrapIterations is < 0 or > 0 and < 100)
            throw new GestaltLabException($"{options.BootstrapIterations} bootstrap resamples: too few for a 95% interval",
                "use 0 (no intervals) or at least 100 (1,000, the default, is usual)");
        // A page for sharing must not name people through the map's legend or hover text either: only columns that
        // describe groups, not persons, colour it (a manifest's extra columns may hold anything, names included).
        if (!options.PhotoNames && options.TsneColourBy?.FirstOrDefault(c => !ShareableColumns.Contains(c.ToLowerInvariant())) is { } identifying)
            throw new GestaltLabException($"t-SNE coloured by '{identifying}' on a page without photo names: its legend and hover text would name photos or people",
                $"colour a page for sharing by {string.Join(", ", ShareableColumns)} only, or keep photo names on a page for the team");
        if (options.TsneHighlight is { } highlight && run.Classes is { } runClasses
            && highlight.FirstOrDefault(h => !runClasses.Contains(h, StringComparer.Ordinal)) is { } unknown)
            throw new GestaltLabException($"t-SNE highlight '{unknown}': not a class of this run",
                $"name classes as classes.json spells them, e.g. {string.Join(", ", runClasses.Take(5))}");
        // Classes are highlighted on a map by class; asked for beside other maps only, it would change nothing, silently.
        if (options.TsneHighlight is { Count: > 0 } && options.TsneColourBy is { } by && !by.Any(IsClassMap))
            throw new GestaltLabException($"t-SNE highlight with maps coloured by {string.Join(", ", by)} only: classes are highlighted on a map by true class or syndrome",
                "add 'true' (or 'syndrome') to the columns the maps are coloured by, or leave the highlight out");
        var notes = new List<string>(run.Notes);
        var sections = new List<string>();
        var body = new StringBuilder();
        var charts = new List<NamedChart>();
        int chartCount = 0;
        string current = "";
        const int steps = 10;
        int step = 0;
        void Step(string what) { cancellationToken.ThrowIfCancellationRequested(); progress?.Report(new ProgressUpdate("report", step++, steps, what)); }
        void Section(string title) { current = title; sections.Add(title); body.Append("<h2>").Append(E(title)).Append("</h2>\n"); }
        // Named by what they show, not by position: a figure a manuscript cites keeps its file name when another figure is
        // missing from the run (numbered, every later one was renamed), and two of one section say which is which.
        void AddChart(GenericChart chart, string? part = null)
        {
            body.Append(FigureHtml.ChartFragment(chart, $"chart-{++chartCount}"));
            string named = FileSafe(part is null ? current : $"{current} {part}"), name = named;
            for (int k = 2; charts.Any(c => c.Name == name); k++) name = $"{named}-{k}";
            charts.Add(new NamedChart(name, current, chart));
        }
        var known = options.FolderPaths ? null : KnownFolders(run, options);
        string Shown(string text) => known is null ? text : SharedText.WithoutFolders(text, known);
        void Note(string text) { body.Append("<p class=\"note\">").Append(E(Shown(text))).Append("</p>\n"); }
        // What a section says of a figure's limits (skipped, a caution) is printed by report and export too, not only
        // shown on the page: an exported figure travels without the page around it.
        var sectionNotes = new List<string>();
        void SectionNote(string text) { Note(text); sectionNotes.Add(Shown(text)); }

        string title = options.Title ?? $"GestaltLab report — {Path.GetFileName(run.Directory.TrimEnd('/'))}";
        body.Append("<h1>").Append(E(title)).Append("</h1>\n");
        body.Append(Provenance(run, options, known));

        var classes = run.Classes;
        var truth = SafeTruth(run, notes);
        var probs = run.Probabilities;
        // Relatives share genes and faces: intervals resample whole families where the data names them.
        var dataManifest = FindManifest(run, options, notes);
        var (groups, unitName, unit) = ResamplingGroups(probs, dataManifest);
        var oracle = run.Metrics?.Oracle;

        // ---- metrics
        Step("metrics");
        Section("Metrics");
        var metrics = run.Metrics;
        if (metrics is null && truth is not null && probs is not null && classes is not null)
            metrics = ClassificationMetrics.Compute(truth, probs.Values, classes.Count, oracle);
        // Present but left out (an evaluation that did not finish, a damaged table) is not "missing": the notes say why.
        string noProbabilities = probs is not null ? "the true classes or classes.json could not be read (see Notes)"
            : File.Exists(Path.Combine(run.Directory, "probabilities.csv")) ? "probabilities.csv was left out (see Notes)" : "probabilities.csv is missing";
        if (metrics is null) Note($"No metrics: no readable metrics file of a finished evaluation, and {noProbabilities}.");
        else body.Append(MetricsTable(metrics, truth, probs, groups, unit, unitName, options));
        if (metrics?.Split is SplitNames.Val or SplitNames.Train)
            Note(metrics.Split == SplitNames.Val
                ? "These are validation photos: they chose each net's best epoch, the heads' shrinkage and temperatures and the prior strength, so the figures are not held out (optimistic); the test split's are."
                : "These are training photos: the nets learned from them, so the figures say how well the model fits, not how it generalises.");

        // ---- top-k
        Step("top-k curve");
        Section("Top-k accuracy");
        if (truth is not null && probs is not null && classes is not null)
        {
            // Up to k = classes − 1: at k = classes every photo is a hit, a trivial 100 % (the table prints "—" there too).
            int maxK = Math.Max(1, Math.Min(options.MaxK, classes.Count - 1));
            var perImage = Metrics.TopKCurve(truth, probs.Values, maxK);
            var perDisorder = Enumerable.Range(1, maxK).Select(k => Metrics.PerDisorderTopK(truth, probs.Values, k)).ToArray();
            IReadOnlyList<(double[], double[])>? bands = null;
            if (options.BootstrapIterations > 0)
            {
                var lo = new double[maxK];
                var hi = new double[maxK];
                for (int k = 1; k <= maxK; k++)
                {
                    // The same resamples as the metrics table's intervals, so the band at k = 1, 5, 10 is the interval the table prints.
                    var ci = Bootstrap.TopK(truth, probs.Values, k, groups, options.BootstrapIterations, options.Seed);
                    lo[k - 1] = ci.Lower;
                    hi[k - 1] = ci.Upper;
                }
                bands = [(lo, hi)];
            }
            AddChart(Charts.TopK([("this run, per image", perImage), ("this run, per disorder", perDisorder)],
                PublishedResults.All, oracle, $"Top-k accuracy, k = 1…{maxK} ({Counted(truth.Length, probs, unitName, run.Metrics?.Split)})", bands, classes.Count));
            body.Append($"<p class=\"muted\">Published points are on real patient photos (hundreds of syndromes); ours are on this run's {WebUtility.HtmlEncode(run.Metrics?.Split ?? "test")} set. " +
                        "They show where the field stands, not a like-for-like comparison. Hollow markers: per-disorder means. " +
                        $"Dotted grey line: chance, k / {classes.Count}. " +
                        (bands is null ? "" : $"Band: 95% bootstrap interval over {unit} of the per-image curve.") + "</p>\n");
        }
        else Note($"Top-k curve skipped: {noProbabilities}.");

        // ---- confusion
        Step("confusion matrix");
        Section("Confusion matrix");
        if (truth is not null && probs is not null && classes is not null)
        {
            AddChart(Charts.Confusion(truth, probs.Values, classes, new ConfusionOptions
            {
                Order = ClassOrder.Similarity,
                Title = $"Confusion matrix, {classes.Count} classes<br><sub>{Counted(truth.Length, probs, unitName, run.Metrics?.Split)}; rows: true class, normalised; similar classes adjacent</sub>",
            }));
            if (classes.Count > options.CompactConfusionAbove)
                AddChart(Charts.ConfusionTopK(Metrics.ConfusionMatrix(truth, probs.Values, classes.Count), classes, 5, maxRows: options.CompactConfusionRows), "top 5");
        }
        else Note($"Confusion matrix skipped: {noProbabilities}.");

        // ---- ROC
        Step("ROC");
        if (truth is not null && probs is not null && classes is not null)
            RocSection(classes, truth, probs, groups!, unit, unitName, options, Section, AddChart, Note, SectionNote, body);

        // ---- t-SNE
        Step("t-SNE");
        Section("Face space (t-SNE)");
        if (run.Embeddings is { Count: >= 10 } emb)
            TsneSection(run, emb, dataManifest, options, AddChart, Note, notes, progress, cancellationToken);
        else Note(run.Embeddings is null ? "t-SNE skipped: embeddings.csv is missing." : "t-SNE skipped: fewer than 10 embeddings.");

        // ---- face-space matching (only where `gestaltlab match --out RUN/face_space.json` scored it)
        Step("face-space matching");
        if (run.FaceSpace is { } faceSpace)
        {
            Section("Face-space matching");
            FaceSpaceSection(faceSpace, AddChart, body, Shown, options.PhotoNames);
        }

        // ---- regions
        Step("regions");
        Section("Facial regions");
        if (run.RegionMetrics is { Count: > 0 } regions)
        {
            // Top-k over k or fewer classes is 100 % by construction: "—", as in the metrics table.
            int? classCount = run.Metrics?.NClasses;
            string PctK(int k, double v) => k >= classCount ? "—" : Pct(v);
            // Does the ensemble beat each region on these photos? The paired interval of the difference answers it (the
            // bars' whiskers cannot: two bars' own intervals overlap where the difference is clear). Evaluations written
            // before region_probabilities/ existed have neither: the chart and table go without.
            Dictionary<string, PairedMeasure>? paired = null;
            IReadOnlyDictionary<string, ConfidenceInterval>? whiskers = null;
            string pairedUnit = "people";
            if (options.BootstrapIterations >= 100 && Directory.Exists(Path.Combine(run.Directory, ModelEvaluation.RegionProbabilitiesFolder)))
            {
                try
                {
                    // The metrics table's units: families where the data names them.
                    var all = RunComparison.CompareRegions(run.Directory, options.BootstrapIterations, options.Seed, data: dataManifest);
                    paired = all.ToDictionary(x => x.Region, x => x.Comparison.Measures.Single(m => m.Measure == "top1"), StringComparer.Ordinal);
                    pairedUnit = all[0].Comparison.Unit;
                    // Each bar's own interval from the same resamples (the ensemble's is the metrics table's).
                    whiskers = RunComparison.Top1Intervals(all);
                }
                // A damaged or unreadable table costs this column, never the report.
                catch (Exception e) when (e is GestaltLabException or IOException or UnauthorizedAccessException or ArgumentException or System.Text.Json.JsonException)
                {
                    SectionNote($"Paired region comparison skipped: {e.Message.Split('\n')[0]}");
                }
            }
            // How many photos every bar rests on.
            AddChart(Charts.RegionAccuracy(regions, run.Metrics is { } rm ? FormattableString.Invariant($"Single regions vs ensemble ({rm.NImages} {rm.Split ?? "test"} photos)") : "Single regions vs ensemble",
                classCount: classCount, top1Intervals: whiskers));
            string Paired(string region)
            {
                if (paired is null || !paired.TryGetValue(region, out var m)) return "—";
                return m.DifferenceText() + (m.Better == "B" ? " ✓" : "");
            }
            body.Append(Table(paired is null ? ["region", "top-1", "top-5", "top-10"] : ["region", "top-1", "top-5", "top-10", "ensemble − region, top-1 (points) [95% CI]"],
                regions.Select(r => paired is null ? new[] { r.Region, Pct(r.Top1), PctK(5, r.Top5), PctK(10, r.Top10) }
                    : new[] { r.Region, Pct(r.Top1), PctK(5, r.Top5), PctK(10, r.Top10), r.Region == "ensemble" ? "—" : Paired(r.Region) })));
            if (paired is not null)
                body.Append($"<p class=\"muted\">Last column: how much better the ensemble ranks the true syndrome first than the region alone, on the same photos, with a 95% interval paired over {pairedUnit} (<code>gestaltlab compare RUN --regions{(options.ManifestPath is null ? "" : " --manifest MANIFEST")}</code>{(pairedUnit == "people" ? "; no data manifest naming families was found" : "")}); ✓ where it excludes 0 (one of {paired.Count} intervals may by chance). Whiskers on the chart's top-1 bars: each bar's own 95% interval, from the same resamples; whiskers that overlap do not mean the two do not differ — the paired column says whether they do."
                    + (run.Metrics?.Priors == Ensemble.ClassPriors.Training ? " The ensemble ranked with training priors and the regions without: part of that lead is the priors." : "") + "</p>\n");
            if (run.Metrics?.Priors == Ensemble.ClassPriors.Training)
                body.Append("<p class=\"muted\">The regions rank with equal priors; the ensemble row with the training photos' syndrome frequencies as priors, which adds to its figures by itself.</p>\n");
        }
        else Note("Per-region bars skipped: region_metrics.csv is missing.");

        // ---- strata
        Step("accuracy by stratum");
        Section("Accuracy by stratum");
        if (run.Metrics?.Strata is { } strata)
        {
            // A page for sharing shows the standard columns only (a manifest's own may name anything) and no figures of a
            // group of a few people, whose one person colleagues could name.
            var shown = options.PhotoNames ? strata : ForSharing(strata);
            StrataTable(run.Metrics.NClasses, run.Metrics.Priors != Ensemble.ClassPriors.Training, strata, shown, options.PhotoNames, body);
            if (shown.Columns.Values.Any(c => c.Values.Count > 0))
                AddChart(Charts.StratumAccuracy(shown, run.Metrics.Top1,
                    $"Top-1 accuracy by stratum ({run.Metrics.NImages} {run.Metrics.Split ?? "test"} photos)", run.Metrics.Priors != Ensemble.ClassPriors.Training,
                    hidden: shown.Columns.ToDictionary(c => c.Key, c => (IReadOnlyList<string>)strata.Columns[c.Key].Ordered(c.Key).Select(v => v.Key).Where(v => !c.Value.Values.ContainsKey(v)).ToList())));
        }
        else Note(run.Metrics is null ? "Accuracy by stratum skipped: no metrics file."
            : run.Metrics.StrataProblem is { } problem ? $"Accuracy by stratum skipped: metrics.json's strata {problem}."
            : "Accuracy by stratum skipped: metrics.json records none — the data's manifest gives no sex, age_band or skin_tone, or the evaluation was written by a GestaltLab from before they were recorded (`gestaltlab evaluate` again).");

        // ---- composites
        Step("composite faces");
        Section("Composite faces");
        var (compositeSet, composites) = CompositeSection(run, options, body, SectionNote, cancellationToken);

        // ---- curves
        Step("training curves");
        Section("Training curves");
        if (run.Curves.Count > 0) AddChart(Charts.TrainingCurves(run.Curves));
        else Note("Training curves skipped: no curves/*.csv in the run directory.");

        // Messages name files by their paths (an unreadable manifest, a class missing from classes.json).
        if (!options.FolderPaths) notes = notes.Select(Shown).ToList();
        if (notes.Count > 0)
        {
            Section("Notes");
            body.Append("<ul>\n");
            foreach (var n in notes) body.Append("<li>").Append(E(n)).Append("</li>\n");
            body.Append("</ul>\n");
        }
        body.Append("<p class=\"muted\">Written by GestaltLab ").Append(E(RunManifest.PackageVersions()["GestaltLab"]))
            .Append(" with plotly.js ").Append(E(FigureHtml.PlotlyJsVersion)).Append(" inlined; this page works offline.</p>\n");
        progress?.Report(new ProgressUpdate("report", steps, steps));
        return new ReportContent(FigureHtml.Page(title, body.ToString()), sections, charts, [.. notes, .. sectionNotes]) { CompositeFaces = composites, CompositeFaceSet = compositeSet,
            ResamplingUnit = probs is null ? null : unitName };
    }

    private static int[]? SafeTruth(RunResults run, List<string> notes)
    {
        try { return run.TruthIndices(); }
        catch (GestaltLabException e) { notes.Add(e.Message); return null; }
    }

    // known: the folders to cut from the page's paths (KnownFolders), or null to show them in full.
    private static string Provenance(RunResults run, ReportOptions options, IReadOnlyList<string?>? known)
    {
        string P(string text) => known is null ? text : SharedText.WithoutFolders(text, known);
        var sb = new StringBuilder("<p class=\"muted\">");
        sb.Append("Run directory <code>").Append(E(P(run.Directory))).Append("</code>");
        if (run.Manifest is { } m)
        {
            sb.Append(" · command <code>").Append(E(P(m.Command))).Append("</code> · seed ").Append(m.Seed)
              .Append(" · created ").Append(E(m.CreatedUtc));
            if (m.DataHash is not null) sb.Append(" · trained on aligned data <code>").Append(E(m.DataHash.Length > 16 ? m.DataHash[..16] + "…" : m.DataHash)).Append("</code>");
            sb.Append("</p>\n<details><summary>Configuration, machine and package versions</summary>\n<pre>")
              .Append(E((known is null ? m.Config : SharedText.WithoutFolders(m.Config, known))!.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))).Append("</pre>\n<p>")
              .Append(E(m.Machine)).Append("</p>\n");
            sb.Append(Table(["package", "version"], m.Packages.Select(kv => new[] { kv.Key, kv.Value })));
            sb.Append("</details>\n");
        }
        else sb.Append("</p>\n");
        // What the metrics scored, which need not be the data the run was trained on (evaluate --data OTHER --out …).
        if (run.Metrics is { Data: { } scored } metrics)
        {
            sb.Append("<p class=\"muted\">Metrics scored the ").Append(E(metrics.Split ?? "test")).Append(" photos of <code>").Append(E(P(scored))).Append("</code>");
            if (metrics.DataHash is { } h) sb.Append(" · photos' hash <code>").Append(E(h.Length > 16 ? h[..16] + "…" : h)).Append("</code>");
            if (metrics.Model is { } model) sb.Append(" · model <code>").Append(E(P(model))).Append("</code>");
            sb.Append("</p>\n");
        }
        // The report's own settings: another seed draws other intervals and another t-SNE map of the same run.
        sb.Append("<p class=\"muted\">This page: seed ").Append(options.Seed).Append(" for bootstraps and t-SNE · ")
          .Append(options.BootstrapIterations).Append(" bootstrap resamples");
        if (options.ManifestPath is { } manifest) sb.Append(" · manifest <code>").Append(E(known is null ? manifest : P(Path.GetFullPath(manifest)))).Append("</code>");
        if (options.TsneColourBy is { } colours) sb.Append(" · t-SNE coloured by ").Append(E(string.Join(", ", colours)));
        if (options.TsneHighlight is { } highlighted) sb.Append(" · t-SNE highlights ").Append(E(string.Join(", ", highlighted)));
        if (!options.PhotoNames) sb.Append(" · photos numbered, not named");
        sb.Append(" · GestaltLab ").Append(E(RunManifest.PackageVersions()["GestaltLab"])).Append("</p>\n");
        return sb.ToString();
    }

    /// <summary>
    /// The folders a run's page names: the run, every absolute path in its configuration (data, a `--pretrained` backbone,
    /// a landmark model …) with its folder, the manifest's folder, the scored data and the model.
    /// </summary>
    private static List<string?> KnownFolders(RunResults run, ReportOptions options) =>
    [
        run.Directory, .. SharedText.PathsIn(run.Manifest?.Config),
        options.ManifestPath is { } mf ? Path.GetDirectoryName(Path.GetFullPath(mf)) : null, run.Metrics?.Data, run.Metrics?.Model,
        run.FaceSpace?.Data, run.FaceSpace?.Model,
    ];

    /// <summary>
    /// Face-space matching as <c>face_space.json</c> scored it: the table of all, known and unknown syndromes with
    /// intervals and chance, the model's classifier on the same photos with the paired difference, and the top-k curves
    /// beside GestaltMatcher's published per-disorder points.
    /// </summary>
    private static void FaceSpaceSection(FaceSpaceMetrics fs, Action<GenericChart, string?> addChart, StringBuilder body, Func<string, string> shown, bool photoNames)
    {
        int g = fs.NGallerySyndromes;
        string K(int k, double v) => k >= g ? AlwaysHit(g, "syndromes") : Pct(v);
        string Ci(double v, double[]? ci) => Pct(v) + (ci is [var lo, var hi] ? $" <span class=\"muted\">[{Pct(lo)}, {Pct(hi)}]</span>" : "");
        string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
        // A lone group says which it is: every syndrome known to the model, or none.
        string Name(string name) => fs.Groups.Count > 1 ? name : fs.Unknown is null ? "all syndromes (every one known to the model)" : "all syndromes (none known to the model)";
        var rows = fs.Groups.Select(x => new[] { E(Name(x.Name)), N(x.Scores.NImages), N(x.Scores.NSyndromes), Ci(x.Scores.Top1, x.Scores.Top1Interval), K(5, x.Scores.Top5),
            K(10, x.Scores.Top10) + (x.Scores.Top10Interval is [var lo, var hi] && 10 < g ? $" <span class=\"muted\">[{Pct(lo)}, {Pct(hi)}]</span>" : ""),
            K(30, x.Scores.Top30), Pct(x.Scores.PerDisorderTop1), K(10, x.Scores.PerDisorderTop10) }).ToList();
        // The classifier on the very same photos, ranked from the same predictions when the figures were made: the
        // like-for-like comparison, with the paired interval of the difference (two intervals side by side cannot say it).
        var vs = fs.VersusClassifier;
        if (vs is not null)
            rows.Add([$"classifier (this model's own ranking of its {N(vs.ClassifierSyndromes)} syndromes), the same photos of known syndromes", N(vs.NImages), "—",
                Pct(vs.ClassifierTop1), vs.ClassifierTopKCurve is { Length: >= 5 } curve ? Pct(curve[4]) : "—", vs.ClassifierSyndromes > 10 ? Pct(vs.ClassifierTop10) : "—", "—", "—", "—"]);
        if (fs.Oracle is { } oracle)
            rows.Add(["oracle (Bayes on the true traits, every syndrome equally likely), the same photos", N(fs.All.NImages), N(g), Pct(oracle.Top1), K(5, oracle.Top5), K(10, oracle.Top10), "—", "—", "—"]);
        rows.Add([E($"chance (a random ranking of {g} syndromes)"), "—", "—", Pct(fs.ChanceTop1), K(5, Math.Min(1.0, 5.0 / g)), K(10, fs.ChanceTop10), K(30, Math.Min(1.0, 30.0 / g)), "—", "—"]);
        body.Append("<p>").Append(E(
            $"Each {fs.QuerySplit} photo is matched against {N(fs.NGalleryImages)} gallery photos ({string.Join(" + ", fs.GallerySplits)}) of {N(g)} syndromes{(fs.NGallerySyndromesUnknown > 0 ? $", {N(fs.NGallerySyndromesUnknown)} of them unknown to the model (never trained on)" : "")}: "
            + FormattableString.Invariant($"every syndrome is ranked by how close the face lies to its gallery photos in the region nets' embedding space (standardised and whitened by the gallery's within-syndrome covariance, shrinkage {fs.Shrinkage:0.##}; the centre of each syndrome's photos: docs/learning.md), after GestaltMatcher, and scored as GestaltMatcher reports it. ")
            + "Unlike the classifier, matching ranks syndromes the model was never trained on, from their gallery photos alone."))
            .Append("</p>\n");
        body.Append(TableRaw(["photos", "n", "syndromes", "top-1 [95% CI]", "top-5", "top-10 [95% CI]", "top-30", "per syndrome top-1", "per syndrome top-10"], rows));
        body.Append("<p class=\"muted\">").Append(E(shown(
            $"Gallery and test photos from {fs.Data}; figures written {fs.CreatedUtc}. Intervals: percentile bootstrap over people. ")))
            .Append(vs is null ? "" : E(string.Create(CultureInfo.InvariantCulture,
                $"Matching − classifier on the same {N(vs.NImages)} photos, in percentage points: top-1 {vs.DifferenceText(1)}{(vs.ClassifierSyndromes > 10 && g > 10 ? $", top-10 {vs.DifferenceText(10)}" : "")} (95% intervals paired over people: each resample scores both rankings on the same people; an interval that includes 0 does not show either ahead){(g > vs.ClassifierSyndromes ? $". Matching ranks {N(g)} syndromes, the classifier only its {N(vs.ClassifierSyndromes)}: matching has the harder task" : "")}. ")))
            .Append(fs.NWithoutGallery > 0 ? E($"{N(fs.NWithoutGallery)} test photos of syndromes without gallery photos were not scored (they cannot be matched). ") : "")
            .Append("</p>\n");
        // Said without the people's ids (a report may leave the team; face_space.json names them).
        if (fs.SharedPeople is not null) body.Append("<p class=\"note\"><strong>Caution:</strong> ").Append(E(FaceSpaceMetrics.SharedPeopleUnnamed + ".")).Append("</p>\n");
        if (Charts.FaceSpaceTopK(fs) is { } chart)
        {
            addChart(chart, null);
            body.Append("<p class=\"muted\">Per-photo curves; dotted grey line: chance for matching, k / ").Append(g)
                .Append(vs is not null && vs.ClassifierSyndromes < g ? $" (the classifier's chance, k / {vs.ClassifierSyndromes}, lies above it)" : "")
                .Append(fs.Oracle is not null ? "; stars: the data's oracle with equal priors (Bayes on the true traits, no syndrome favoured for being frequent), the reference for this data" : "").Append(". Hollow markers: GestaltMatcher's published per-disorder figures on real photos (frequent disorders: those its model was trained on; rare: matched through the gallery alone) — where the field stands, not a like-for-like comparison.</p>\n");
        }
        // Does matching serve some people worse? The same breakdown as the classifier's (a table: the classifier's chart
        // stands for both), on a page for sharing without small groups and columns only code adds.
        if (fs.Strata is { } strata)
        {
            body.Append("<h3>Matching by sex, age band and skin tone</h3>\n");
            StrataTable(g, true, strata, photoNames ? strata : ForSharing(strata), photoNames, body, matching: true);
        }
        else if (fs.StrataProblem is { } problem)
            body.Append("<p class=\"muted\">").Append(E($"Matching by stratum skipped: face_space.json's strata {problem}.")).Append("</p>\n");
    }

    /// <summary>Groups of fewer people than this show no figures on a page for sharing (<see cref="ReportOptions.PhotoNames"/> off).</summary>
    public const int SharedStratumMinimum = 5;

    // The strata a page for sharing may show: the standard columns, each without its groups of fewer than
    // SharedStratumMinimum people (the table and the chart say they are there) — and then without its next smallest
    // group too, as statistical offices suppress a second cell: the page's totals less the other groups would give the
    // hidden group's figures back.
    private static StrataScores ForSharing(StrataScores strata) => strata with
    {
        Columns = strata.Columns.Where(c => StratumAccuracy.DefaultColumns.Contains(c.Key)).ToDictionary(c => c.Key, c =>
        {
            var small = c.Value.Values.Where(v => v.Value.NSubjects < SharedStratumMinimum).Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
            if (small.Count == 1)
                small.UnionWith(c.Value.Values.Where(v => !small.Contains(v.Key)).OrderBy(v => v.Value.NSubjects).ThenBy(v => v.Value.NImages).Take(1).Select(v => v.Key));
            return c.Value with { Values = c.Value.Values.Where(v => !small.Contains(v.Key)).ToDictionary(v => v.Key, v => v.Value) };
        }),
    };

    // The figures of each group of each stratum column as evaluate recorded them, with the photos it could not score and the
    // oracle on the same photos; below, what the intervals and the test are and how to read them.
    // matching: face-space matching's figures, whose method the classifier's section (later on the page) explains.
    private static void StrataTable(int classes, bool equal, StrataScores all, StrataScores shown, bool photoNames, StringBuilder body, bool matching = false)
    {
        string K(int k, double v, double[]? ci) => k >= classes ? "—" : Pct(v) + (ci is [var lo, var hi] ? $" <span class=\"muted\">[{Pct(lo)}, {Pct(hi)}]</span>" : "");
        string N(int n) => n.ToString(CultureInfo.InvariantCulture);
        bool unscored = shown.Columns.Values.Any(c => c.Values.Values.Any(v => v.NUnscored is > 0));
        bool oracle = shown.Columns.Values.Any(c => c.Values.Values.Any(v => v.OracleTop1(equal) is not null));
        int width = 7 + (unscored ? 1 : 0) + (oracle ? 1 : 0);
        var rows = new List<string[]>();
        foreach (var (column, scores) in shown.Columns)
        {
            string test = scores.PText is { } p ? (scores.Differs ? "⚠ " : "") + E(p) + (scores.TestUnit == "families" ? " <span class=\"muted\">(families shuffled)</span>" : "")
                + (scores.TestLeftOut is int left ? $" <span class=\"muted\">({left} {(left == 1 ? "person" : "people")} with photos in several groups left out)</span>" : "")
                : $"<span class=\"muted\">not tested: {E(scores.NotTested ?? "no test recorded")}</span>";
            bool first = true;
            foreach (var (value, s) in all.Columns[column].Ordered(column))
            {
                List<string> row = scores.Values.ContainsKey(value)
                    ? [E(column), E(value), N(s.NImages), N(s.NSubjects), K(1, s.Top1, s.Top1Interval), K(5, s.Top5, s.Top5Interval), K(10, s.Top10, s.Top10Interval)]
                    : [E(column), E(value), $"<span class=\"muted\">{(s.NSubjects < SharedStratumMinimum ? $"fewer than {SharedStratumMinimum} people" : "left out with the group of fewer, which it would give away")}: not shown on a page for sharing</span>", .. Enumerable.Repeat("—", 4)];
                if (unscored) row.Add(scores.Values.ContainsKey(value) && s.NUnscored is int u ? N(u) : "—");
                if (oracle) row.Add(scores.Values.ContainsKey(value) && s.OracleTop1(equal) is double o ? Pct(o) : "—");
                row.Add(first ? test : "");
                first = false;
                rows.Add([.. row]);
            }
            if (scores.NUnknown > 0)
                rows.Add([E(column), "<span class=\"muted\">(blank)</span>", N(scores.NUnknown), .. Enumerable.Repeat("—", width - 3 + 1)]);
        }
        var header = new List<string> { "stratum", "group", "photos", "people", "top-1 [95% CI]", "top-5 [95% CI]", "top-10 [95% CI]" };
        if (unscored) header.Add("not scored");
        if (oracle) header.Add(equal ? "oracle top-1 (equal priors)" : "oracle top-1");
        header.Add("top-1 differences");
        body.Append(TableRaw(header, rows));
        int tested = shown.Columns.Values.Count(c => c.PDifferences is not null);
        if (matching)
        {
            body.Append("<p class=\"muted\">").Append(E(
                "Matching's ranks per group, scored as the classifier's in \u201cAccuracy by stratum\u201d below: the same 95% intervals over "
                + (all.Unit == "families" ? "families" : "people") + " and the same permutation test within syndromes"
                + (tested > 1 ? FormattableString.Invariant($" (Holm's adjustment for the {tested} columns in brackets)") : "")
                + "; ⚠ where the groups differ at 5 %. Confirm a difference on new people before concluding that matching serves a group worse."))
                .Append(photoNames ? "" : FormattableString.Invariant($" On this page for sharing, groups of fewer than {SharedStratumMinimum} people show no figures."))
                .Append("</p>\n");
            return;
        }
        string unit = all.Unit == "families" ? "families (relatives together)" : "people";
        body.Append("<p class=\"muted\">").Append(E(
            $"Each group's photos scored on their own; the figures are not adjusted for the syndromes a group holds (on real data a group with harder syndromes scores lower for that reason alone). "
            + $"Intervals: 95% Wilson score intervals on the group's {unit}, widened for several photos of one person (the design effect); a group of one has none. "
            + FormattableString.Invariant($"Top-1 differences: a permutation test of whether the groups' top-1 differs by more than chance among these people — the column's values shuffled {all.Permutations:N0} times among the people (families where each family has one value) of the same syndrome, each keeping their photos and hits, so a group that happens to hold harder syndromes is not taken for one the model serves worse; ")
            + (tested > 1 ? FormattableString.Invariant($"Holm's adjustment for the {tested} columns tested in brackets (if no group differed, a p below 0.05 would turn up in at least one of {tested} columns up to about {1 - Math.Pow(0.95, tested):0%} of the time); ") : "")
            + "⚠ where the difference holds at 5 % after that adjustment. A small p says these people's groups differ; it does not say the next people's will, nor why: confirm it on new people (`gestaltlab evaluate --data OTHER`) before concluding that the model or the face detector serves a group worse."))
            .Append(unscored ? " <em>Not scored</em>: the group's photos alignment could not use (no usable face, or not readable), left out of its figures (a detector that misses some faces more than others shows here)." : "")
            .Append(oracle ? " The oracle (Bayes on the synthetic faces' true traits) knows no sex, age or skin tone: a gap it does not show is the pipeline's." : "")
            .Append(photoNames ? "" : FormattableString.Invariant($" On this page for sharing, groups of fewer than {SharedStratumMinimum} people show no figures, and only the sex, age band and skin tone columns are shown."))
            .Append("</p>\n");
    }

    private static string MetricsTable(ClassificationMetrics m, int[]? truth, ImageTable? probs, IReadOnlyList<string>? groups, string unit, string unitName, ReportOptions o)
    {
        // Per-disorder intervals resample within each syndrome: a syndrome of one person (or family) would be the same in
        // every resample and the interval too narrow — none then, as `gestaltlab compare` does.
        var (singleUnit, mixedAlone) = truth is null ? (0, false) : Bootstrap.PoolsWithOneUnit(truth, groups);
        string one = unitName switch { "families" => "family", "photos" => "photo", _ => "person" };
        string Ci(int k, bool perDisorder, double value)
        {
            if (truth is null || probs is null || o.BootstrapIterations <= 0) return Pct(value);
            if (perDisorder && singleUnit > 0)
                return $"{Pct(value)} <span class=\"muted\">(no interval: {singleUnit} {(singleUnit == 1 ? "syndrome has" : "syndromes have")} a single {one})</span>";
            if (perDisorder && mixedAlone)
                return $"{Pct(value)} <span class=\"muted\">(no interval: the one {one} with photos in several syndromes would be drawn alone)</span>";
            var ci = perDisorder
                // Stratified by syndrome: a mean over disorders must keep every disorder in every resample (unstratified,
                // a syndrome with one or two test people drops out of a third of them).
                ? Bootstrap.Interval(truth.Length, idx => Metrics.PerDisorderTopK(idx.Select(i => truth[i]).ToArray(), idx.Select(i => probs.Values[i]).ToArray(), k),
                    o.BootstrapIterations, o.Seed, 0.95, groups, strata: truth)
                : Bootstrap.TopK(truth, probs.Values, k, groups, o.BootstrapIterations, o.Seed);
            return $"{Pct(value)} <span class=\"muted\">[{Pct(ci.Lower)}, {Pct(ci.Upper)}]</span>";
        }
        string Pub(IEnumerable<PublishedFigure> figs, int k, bool perDisorder) =>
            figs.FirstOrDefault(f => f.K == k && f.PerDisorder == perDisorder) is { Source.Length: > 0 } f ? Pct(f.Value) : "—";
        var oracle = m.Oracle;
        // Both oracles where the data records them: a run ranking with equal priors is measured against the second.
        string Oracle(double withPriors, double? equal, int k = 1) =>
            oracle is null ? "—" : k >= m.NClasses ? AlwaysHit(m.NClasses, "classes") : Pct(withPriors) + (equal is double e ? $" <span class=\"muted\">(equal priors {Pct(e)})</span>" : "");
        // With k at or above the number of classes every photo is a hit: say so rather than print a trivial 100 %.
        string Model(int k, bool perDisorder, double value) =>
            k >= m.NClasses ? AlwaysHit(m.NClasses, "classes") : Ci(k, perDisorder, value);
        var rows = new List<string[]>
        {
            new[] { "top-1 (per image)", Ci(1, false, m.Top1), Oracle(oracle?.Top1 ?? 0, oracle?.DistinctEqualPriors?.Top1), "—", "—", "—" },
            new[] { "top-5 (per image)", Model(5, false, m.Top5), Oracle(oracle?.Top5 ?? 0, oracle?.DistinctEqualPriors?.Top5, 5), "—", "—", "—" },
            new[] { "top-10 (per image)", Model(10, false, m.Top10), Oracle(oracle?.Top10 ?? 0, oracle?.DistinctEqualPriors?.Top10, 10), Pub(PublishedResults.DeepGestalt, 10, false), "—", "—" },
            new[] { "top-1 (per disorder)", Ci(1, true, m.PerDisorderTop1), "—", "—", Pub(PublishedResults.GestaltMatcherFrequent, 1, true), Pub(PublishedResults.GestaltMatcherRare, 1, true) },
            new[] { "top-10 (per disorder)", Model(10, true, m.PerDisorderTop10), "—", "—", Pub(PublishedResults.GestaltMatcherFrequent, 10, true), Pub(PublishedResults.GestaltMatcherRare, 10, true) },
            new[] { "log loss", m.LogLoss.ToString("F3", CultureInfo.InvariantCulture), "—", "—", "—", "—" },
            // Split and priors are read from a metrics.json that may come with a shared run: escaped like every other text.
            new[] { $"{E(m.Split ?? "test")} images" + (m.NUnscored is > 0 and int unscored ? $" <span class=\"muted\">(+{unscored} not scored: no usable face, or not readable)</span>" : ""),
                m.NImages.ToString(CultureInfo.InvariantCulture), oracle is null ? "—" : oracle.NTest.ToString(CultureInfo.InvariantCulture), "502", "—", "—" },
            new[] { "classes", m.NClasses.ToString(CultureInfo.InvariantCulture), "—", "216 ranked (92 in its test set)", "—", "—" },
            new[] { "class priors", m.Priors is null ? "—" : m.PriorStrength is double b ? $"{E(m.Priors)} (strength {b.ToString("F2", CultureInfo.InvariantCulture)})" : E(m.Priors),
                oracle is null ? "—" : "training frequencies", "—", "—", "—" },
        };
        var header = new[] { "measure", "this run" + (truth is not null && o.BootstrapIterations > 0 ? " [95% CI]" : ""), "oracle (Bayes on true traits)", "DeepGestalt 2019", "GestaltMatcher 2022, frequent", "GestaltMatcher 2022, rare" };
        // The oracle exists for synthetic data only; on real photos its column is empty and needs no explanation.
        string oracleNote = oracle is null ? "" :
            "Oracle: the Bayes classifier on the synthetic faces' true trait vectors, with the training photos' syndrome frequencies as priors — " +
            "the reference for image models, which see pixels, not traits (no model with the same priors beats it on average; a test split whose mix " +
            "differs from the training photos', as gestalt216's does, can be scored a little higher with other priors: docs/synthetic.md). Where the classes are " +
            "unequally frequent, in brackets the same with equal priors: the reference for a run that ranks with equal priors (the default). ";
        return TableRaw(header, rows) +
               "<p class=\"muted\">" + oracleNote +
               (truth is not null && probs is not null && o.BootstrapIterations > 0 ? $"Confidence intervals: percentile bootstrap over {unit}{UnitCount(groups)}; per-disorder figures resample within each syndrome. " : "") + "Published figures: Gurovich et al., Nat. Med. 2019 (91% top-10, 502 images of 92 syndromes); " +
               "Hsieh et al., Nat. Genet. 2022 (GMDB v1.0.3 mean per-disorder top-k).</p>\n";
    }

    /// <summary>
    /// Average aligned face per class from the run's <c>aligned/</c> folder (written by <c>gestaltlab train</c> and
    /// <c>demo</c>) — or, for a run trained on an alignment beside it (as the notebooks train), from that alignment while it
    /// still holds the crops the run was trained on — as an image embedded in the page; classes below the minimum cohort
    /// are listed, not drawn.
    /// </summary>
    private static (CompositeFaceSet? Set, RgbImage? Grid) CompositeSection(RunResults run, ReportOptions o, StringBuilder body, Action<string> note, CancellationToken ct)
    {
        string inside = Path.Combine(run.Directory, "aligned");
        // Another folder only when it is the run's own training data, by content (run.json's hash of its crops): a received
        // run's record naming some folder on this machine cannot bring other faces into the page.
        string? alignedDir = File.Exists(Path.Combine(inside, Manifest.FileName)) ? inside : ModelEvaluation.RecordedTrainingAlignment(run.Directory);
        if (alignedDir is null)
        {
            note("Composite faces skipped: the run holds no aligned faces (aligned/manifest.csv), and the alignment its run.json records is gone or holds other crops than it was trained on.");
            return (null, null);
        }
        var manifest = Manifest.Load(Path.Combine(alignedDir, Manifest.FileName));
        var faces = new List<(RgbImage Face, string Label, string Person)>();
        int unreadable = 0, outside = 0;
        // Faces only from inside that aligned folder: a shared run's manifest naming other photos on this machine
        // (absolute paths, "..", links) would put them into the page as "composites".
        string alignedRoot = RunFolder.RealPath(alignedDir);
        if (alignedDir == inside && !RunFolder.IsWithin(alignedRoot, RunFolder.RealPath(run.Directory)))
        {
            note("Composite faces skipped: the run's aligned/ is a link out of the run (faces are drawn only from inside it).");
            return (null, null);
        }
        foreach (var row in manifest.Rows.Where(r => r.IsLabelled))
        {
            ct.ThrowIfCancellationRequested();
            string path = manifest.ResolveImage(row);
            if (!File.Exists(path)) continue; // photos without a usable face have no aligned image
            if (!RunFolder.IsWithin(RunFolder.RealPath(path), alignedRoot)) { outside++; continue; }
            // Relatives count once: an average of one family's members would show that family's face.
            try { faces.Add((ImageLoader.Load(path), row.Syndrome, row.SplitGroup)); }
            catch (GestaltLabException) { unreadable++; }
        }
        if (outside > 0) note($"Composite faces: {outside} photo(s) the aligned manifest lists outside its aligned folder (links included) were left out.");
        var set = CompositeFaces.Build(faces, o.MinimumCohort, cancellationToken: ct);
        if (set.Faces.Count == 0)
        {
            // Which cohorts, and how small (as the section says under a grid): a run whose classes all fall short tells why.
            var refused = Refused(set, o);
            note($"Composite faces skipped: no class has the minimum cohort of {o.MinimumCohort} people with aligned faces"
                 + (refused.Count == 0 ? "." : $": {string.Join("; ", refused.Take(20))}{(refused.Count > 20 ? $"; and {refused.Count - 20} more" : "")}."));
            return (null, null);
        }
        var grid = set.RenderGrid(columns: Math.Min(8, set.Faces.Count), cellSize: 96);
        string png = Convert.ToBase64String(grid.EncodePng());
        // The names and counts are pixels in the picture: said in its text too, for screen readers and for search.
        string alt = "Composite faces, one per class: " + string.Join("; ", set.Faces.Select(f => FormattableString.Invariant($"{f.Label} (n = {f.Count} people)")));
        body.Append("<p><img alt=\"").Append(E(alt)).Append("\" style=\"max-width:100%\" src=\"data:image/png;base64,").Append(png).Append("\"></p>\n");
        body.Append("<p class=\"muted\">").Append(E(FormattableString.Invariant(
            $"Average of the aligned faces of each class (all splits; each person weighs once, and relatives count as one where the data names families; n = people), {set.Faces.Count} classes with at least {o.MinimumCohort} people; {set.Refused.Count} smaller cohort(s) not drawn, so that no individual is recognisable")
            + (set.Refused.Count == 0 ? "." : $": {string.Join("; ", Refused(set, o).Take(20))}{(set.Refused.Count > 20 ? $"; and {set.Refused.Count - 20} more" : "")}.")));
        if (unreadable > 0) body.Append(E(FormattableString.Invariant($" {unreadable} aligned image(s) could not be read and were left out.")));
        body.Append("</p>\n");
        return (set, grid);
    }

    /// <summary>The cohorts not drawn, with their exact sizes on a page for the team, without them on one for sharing.</summary>
    private static IReadOnlyList<string> Refused(CompositeFaceSet set, ReportOptions o) => o.PhotoNames ? set.Refused : set.RefusedWithoutCounts();

    private static void RocSection(IReadOnlyList<string> classes, int[] truth, ImageTable probs, IReadOnlyList<string> groups, string unit, string unitName, ReportOptions o,
        Action<string> section, Action<GenericChart, string?> addChart, Action<string> note, Action<string> caution, StringBuilder body)
    {
        static bool IsNegativeName(string c) =>
            c.Equals(Manifest.Unaffected, StringComparison.OrdinalIgnoreCase) || c.Equals("other", StringComparison.OrdinalIgnoreCase)
            || c.Equals("others", StringComparison.OrdinalIgnoreCase) || c.Equals("control", StringComparison.OrdinalIgnoreCase)
            || c.Equals("controls", StringComparison.OrdinalIgnoreCase);
        // As many resamples as the other intervals (the page's record says how many); none: the curve alone.
        int iterations = Math.Max(0, o.BootstrapIterations);
        if (classes.Count == 2)
        {
            int pos = IsNegativeName(classes[1]) && !IsNegativeName(classes[0]) ? 0 : 1;
            var labels = truth.Select(t => t == pos).ToArray();
            if (labels.All(l => l) || labels.All(l => !l)) { section("ROC"); note("ROC skipped: the test set holds only one of the two classes."); return; }
            section("ROC");
            var roc = Roc.Bootstrap(labels, probs.Values.Select(p => (double)p[pos]).ToArray(), iterations, o.Seed, groups: groups);
            addChart(Charts.Roc([(classes[pos] + " vs " + classes[1 - pos], roc)], $"ROC: {classes[pos]} vs {classes[1 - pos]}<br><sub>{RocCounts(labels, groups, unitName)}</sub>"), null);
            if (roc.Grid.Length > 0) body.Append($"<p class=\"muted\">Band: 95% bootstrap over {unit} (stratified) of the TPR at each FPR; AUC interval in the legend.</p>\n");
            else if (iterations > 0) body.Append($"<p class=\"muted\">No interval: a side rests on a single {Singular(unitName)}.</p>\n");
            RocCaution(labels, groups, unitName, classes[pos], classes[1 - pos], caution);
            return;
        }
        int unaffected = classes.ToList().FindIndex(c => c.Equals(Manifest.Unaffected, StringComparison.OrdinalIgnoreCase));
        if (unaffected >= 0)
        {
            var labels = truth.Select(t => t != unaffected).ToArray();
            if (labels.All(l => l) || labels.All(l => !l)) return;
            section("Syndromic vs unaffected (ROC)");
            var roc = Roc.Bootstrap(labels, probs.Values.Select(p => 1.0 - p[unaffected]).ToArray(), iterations, o.Seed, groups: groups);
            addChart(Charts.Roc([("syndromic vs unaffected", roc)], $"ROC: any syndrome vs unaffected (score 1 − P(unaffected))<br><sub>{RocCounts(labels, groups, unitName)}</sub>"), null);
            if (roc.Grid.Length == 0 && iterations > 0) body.Append($"<p class=\"muted\">No interval: a side rests on a single {Singular(unitName)}.</p>\n");
            body.Append(FormattableString.Invariant($"<p class=\"muted\">An independent check of the field (Reiter 2024, on real photos: a reference for the task, not a like-for-like comparison) found AUROC {PublishedResults.Reiter2024UnaffectedAuroc:F2} for separating patients from unaffected controls: a model must know when a face is not syndromic.</p>\n"));
            RocCaution(labels, groups, unitName, "syndromic", "unaffected", caution);
        }
    }

    private static bool IsClassMap(string column) =>
        column.Equals("true", StringComparison.OrdinalIgnoreCase) || column.Equals("syndrome", StringComparison.OrdinalIgnoreCase);

    private static void TsneSection(RunResults run, ImageTable emb, Manifest? manifest, ReportOptions o, Action<GenericChart, string?> addChart, Action<string> note,
        List<string> notes, IProgress<ProgressUpdate>? progress, CancellationToken ct)
    {
        var idx = Enumerable.Range(0, emb.Count).ToArray();
        if (idx.Length > o.MaxTsnePoints)
        {
            // Deterministic stratified subsample: every class keeps its share.
            var rng = new Random(o.Seed);
            idx = idx.GroupBy(i => emb.TrueLabels[i], StringComparer.Ordinal)
                .SelectMany(g => g.OrderBy(_ => rng.Next()).Take(Math.Max(1, (int)Math.Round(g.Count() * (double)o.MaxTsnePoints / emb.Count))))
                .OrderBy(i => i).ToArray();
            note($"t-SNE of a stratified subsample of {idx.Length} of {emb.Count} embeddings.");
        }
        var data = idx.Select(i => emb.Values[i]).ToArray();
        var images = idx.Select(i => emb.Images[i]).ToArray();
        var hoverNames = o.PhotoNames ? images : images.Select((_, j) => $"photo {j + 1}").ToArray();
        var result = Tsne.Fit(data, new TsneOptions { Seed = o.Seed }, progress, ct);
        var requested = o.TsneColourBy is not null;
        // The highlighted classes a map's points have (one with no mapped photo cannot be coloured); none asked for on a map
        // of more classes than markers can tell apart, the most frequent few, said on the map and below it.
        string[]? Marked(IReadOnlyList<string> values) => o.TsneHighlight?.Where(h => values.Contains(h, StringComparer.Ordinal)).ToArray();
        bool explained = false;
        string[]? Chosen(IReadOnlyList<string> values, out string titleNote)
        {
            titleNote = "";
            if (o.TsneHighlight is not null) return Marked(values);
            if (Charts.DefaultHighlight(values) is not { } most) return null;
            int classes = values.Where(v => v.Length > 0).Distinct(StringComparer.Ordinal).Count();
            titleNote = $"; the {most.Count} most frequent of {classes} classes coloured";
            if (!explained) note($"The t-SNE map shows {classes} classes, more than colours and marker shapes can tell apart ({Charts.DistinctMarkers}): the {most.Count} with the most photos on it are coloured, every other photo is grey (hovering names its class). `gestaltlab report --highlight CLASS…` (ReportOptions.TsneHighlight) colours the ones of interest instead.");
            explained = true;
            return [.. most];
        }
        foreach (var column in o.TsneColourBy ?? ["true", "gene"])
        {
            if (column.Equals("true", StringComparison.OrdinalIgnoreCase) || column.Equals("syndrome", StringComparison.OrdinalIgnoreCase) && manifest is null)
            {
                var labels = idx.Select(i => emb.TrueLabels[i]).ToArray();
                // A class of the run with no photo in the map (none in its test split) cannot be coloured: said, not fatal.
                var shown = Chosen(labels, out string chosenNote);
                if (o.TsneHighlight is { } asked && asked.Except(shown!, StringComparer.Ordinal).ToArray() is { Length: > 0 } missing)
                    notes.Add($"t-SNE highlight: no mapped photo of {string.Join(", ", missing)}");
                addChart(Charts.Embedding(result, hoverNames, labels, "true class",
                    FormattableString.Invariant($"t-SNE of {idx.Length} {run.Metrics?.Split ?? "test"} embeddings ({(result.Method == TsneMethod.Exact ? "exact" : "Barnes–Hut")}, perplexity {result.Perplexity:0.#}), coloured by true class{chosenNote}"),
                    shown), "true class");
                continue;
            }
            if (manifest is null) continue;
            try
            {
                var values = Charts.ManifestColumn(manifest, images, column);
                if (values.All(v => v.Length == 0))
                {
                    if (requested) notes.Add($"t-SNE by '{column}' skipped: the column is empty for these images");
                    continue;
                }
                // The manifest's syndrome column holds the classes too: highlighted there as on the true-class map.
                string classNote = "";
                var marked = IsClassMap(column) ? Chosen(values, out classNote) : null;
                addChart(Charts.Embedding(result, hoverNames, values, column, $"t-SNE coloured by {column}{classNote}", marked), column);
            }
            catch (GestaltLabException e)
            {
                notes.Add($"t-SNE by '{column}' skipped: {e.Message.Split('\n')[0]}");
            }
        }
    }

    /// <summary>
    /// What bootstraps resample: each photo's family when the data manifest gives its subject one (relatives together), else
    /// its subject; the unit's name (<see cref="ReportContent.ResamplingUnit"/>) and its words for the page. Null groups
    /// without probabilities.
    /// </summary>
    private static (IReadOnlyList<string>? Groups, string Name, string Words) ResamplingGroups(ImageTable? probs, Manifest? manifest)
    {
        if (probs is null) return (null, "subjects", "subjects");
        // probabilities.csv without a subject column: each photo is its own unit, and the page must not say "subjects".
        if (probs.Subjects.SequenceEqual(probs.Images))
            return (probs.Subjects, "photos", "photos (probabilities.csv names no subjects, so photos of one person are resampled singly)");
        return ResamplingUnits.Families(probs.Subjects, manifest) is { } families
            ? (families, "families", "families (relatives together)")
            : (probs.Subjects, "subjects", "subjects");
    }

    /// <summary>
    /// The data manifest named by the options, else that of the data the evaluation scored (metrics.json's <c>data</c>),
    /// else that named by <c>run.json</c>'s configuration (<see cref="ResamplingUnits.DataManifestPath"/>).
    /// </summary>
    private static Manifest? FindManifest(RunResults run, ReportOptions o, List<string> notes)
    {
        string? path = o.ManifestPath ?? ResamplingUnits.DataManifestPath(run.Directory);
        if (path is null)
        {
            // A run moved or received without its data: what that costs is said, not passed over.
            if (run.Metrics?.Data is { Length: > 0 } data)
                notes.Add($"the data the run was scored on ({data}) has no manifest.csv here: relatives are not resampled together and the t-SNE is coloured by the true class only (`--manifest FILE` names the data's manifest)");
            return null;
        }
        try
        {
            var manifest = Manifest.Load(path);
            // Another data set's manifest (named by hand) would colour and group some photos and leave the rest blank.
            if (run.Probabilities?.Images is { Count: > 0 } scored)
            {
                var bySource = manifest.Rows.Select(r => r.Extra.TryGetValue("source_image", out var src) ? src : "").Where(s => s.Length > 0).ToHashSet(StringComparer.Ordinal);
                var absent = scored.Where(i => manifest.Find(i) is null && !bySource.Contains(i)).ToList();
                if (absent.Count == scored.Count)
                {
                    notes.Add($"the data manifest {path} names none of the {scored.Count} scored photos: not used (another data set's?)");
                    return null;
                }
                if (absent.Count > 0)
                    notes.Add($"{absent.Count} of the {scored.Count} scored photos are not in the data manifest {path}: blank in the t-SNE's colours, each its own unit in the bootstraps");
            }
            return manifest;
        }
        // Found through the run's records (which a received run writes), the file's own words are not quoted into the
        // page: a record pointing at another file would have its first line shown. Named by the user, they are.
        catch (GestaltLabException e) when (o.ManifestPath is not null) { notes.Add($"data manifest (t-SNE colours, families) unreadable: {e.Message.Split('\n')[0]}"); return null; }
        catch (GestaltLabException) { notes.Add($"data manifest (t-SNE colours, families) unreadable: {path} (`gestaltlab manifest` or `train` on its folder says why)"); return null; }
    }

    private static string FileSafe(string s) =>
        new string(s.ToLowerInvariant().Select(ch => char.IsAsciiLetterOrDigit(ch) || ch == '-' ? ch : '-').ToArray()).Trim('-') is var f ? System.Text.RegularExpressions.Regex.Replace(f, "-+", "-") : "";

    // The n a figure used on its own in a paper must state: "178 test photos of 90 people" (photos alone where
    // probabilities.csv names no subjects: its unit is "photos").
    private static string Counted(int photos, ImageTable table, string unitName, string? splitName)
    {
        int people = table.Subjects.Distinct(StringComparer.Ordinal).Count();
        string split = WebUtility.HtmlEncode(splitName ?? "test");
        return FormattableString.Invariant($"{photos} {split} photos") + (unitName == "photos" ? "" : FormattableString.Invariant($" of {people} {(people == 1 ? "person" : "people")}"));
    }

    // Top-k with k at or above the classes ranked: every photo is a hit, so no figure is printed, and this says why.
    private static string AlwaysHit(int ranked, string what) => $"— <span class=\"muted\">(always 100 % with only {ranked} {what})</span>";

    /// <summary>"positive vs negative: 174 vs 6 photos, 87 vs 3 subjects": what an ROC rests on, on the figure itself.</summary>
    private static string RocCounts(bool[] positive, IReadOnlyList<string> groups, string unit)
    {
        int Photos(bool side) => positive.Count(p => p == side);
        return unit == "photos" ? FormattableString.Invariant($"positive vs negative: {Photos(true)} vs {Photos(false)} photos")
            : FormattableString.Invariant($"positive vs negative: {Photos(true)} vs {Photos(false)} photos, {UnitsOn(positive, groups, true)} vs {UnitsOn(positive, groups, false)} {unit}");
    }

    /// <summary>Distinct resampling units among the photos on one side of an ROC.</summary>
    private static int UnitsOn(bool[] positive, IReadOnlyList<string> groups, bool side) =>
        Enumerable.Range(0, positive.Length).Where(i => positive[i] == side).Select(i => groups[i]).Distinct(StringComparer.Ordinal).Count();

    // "1 subject", not "1 subjects".
    private static string Singular(string unit) => unit switch { "families" => "family", "people" => "person", _ when unit.EndsWith('s') => unit[..^1], _ => unit };

    /// <summary>
    /// A caution under an ROC where either side has fewer than 30 units: the curve's steps on that side are coarse and the
    /// percentile bootstrap's interval of the AUC is too narrow (see <see cref="UnitCount"/>).
    /// </summary>
    private static void RocCaution(bool[] positive, IReadOnlyList<string> groups, string unit, string positiveName, string negativeName, Action<string> caution)
    {
        foreach (var (side, name) in new[] { (true, positiveName), (false, negativeName) })
        {
            int n = UnitsOn(positive, groups, side);
            if (n < 30)
                caution(FormattableString.Invariant($"Caution (ROC): the {name} side rests on {n} {(n == 1 ? Singular(unit) : unit)} only; with fewer than 30 the AUC is coarse and its interval too narrow (it covers the truth less often than 95 %; none with a single one). Read both as indicative."));
        }
    }

    /// <summary>
    /// How many units the intervals resample, and a caution where they are few: with fewer than 30 the percentile
    /// bootstrap's "95 %" interval covers the truth markedly less often (about 85 % with 10 subjects; a figure of 0 or
    /// 100 % gets one of zero width).
    /// </summary>
    private static string UnitCount(IReadOnlyList<string>? groups)
    {
        if (groups is null) return "";
        int n = groups.Distinct(StringComparer.Ordinal).Count();
        return FormattableString.Invariant($" ({n} of them)") + (n < 30
            ? " — with fewer than 30 the intervals are too narrow (they cover the truth less often than 95 %); read them as rough"
            : "");
    }

    private static string Pct(double v) => double.IsFinite(v) ? (v * 100).ToString("F1", CultureInfo.InvariantCulture) + "%" : "—";

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string Table(IReadOnlyList<string> header, IEnumerable<string[]> rows) =>
        TableRaw(header.Select(E).ToArray(), rows.Select(r => r.Select(E).ToArray()));

    /// <summary>
    /// A table whose cells are already HTML. Column headers and each row's first cell (what the row is: a measure, a
    /// region) are header cells, so that a screen reader names both for every figure it reads out.
    /// </summary>
    private static string TableRaw(IReadOnlyList<string> header, IEnumerable<string[]> rows)
    {
        // In a box of its own that scrolls sideways on a narrow screen, rather than the whole page.
        var sb = new StringBuilder("<div class=\"gl-table\"><table>\n<thead><tr>");
        foreach (var h in header) sb.Append("<th scope=\"col\">").Append(h).Append("</th>");
        sb.Append("</tr></thead>\n<tbody>\n");
        foreach (var r in rows)
        {
            sb.Append("<tr>");
            for (int i = 0; i < r.Length; i++) sb.Append(i == 0 ? "<th scope=\"row\">" : "<td>").Append(r[i]).Append(i == 0 ? "</th>" : "</td>");
            sb.Append("</tr>\n");
        }
        return sb.Append("</tbody>\n</table></div>\n").ToString();
    }
}
