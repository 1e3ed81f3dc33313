using System.Globalization;
using System.Text.Json.Nodes;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;

namespace GestaltLab.Figures;

/// <summary>Options of <see cref="RunFigureExport.ExportAsync"/>.</summary>
public sealed record RunExportOptions
{
    /// <summary>Figure width in millimetres: 89 for a journal's single column, 183 (the default) for its full width.</summary>
    public double WidthMm { get; init; } = 183;
    /// <summary>
    /// One height in millimetres for every figure; null (the default): each chart's own
    /// (<see cref="FigureExport.DefaultHeightMm"/>: its aspect ratio, rows of words kept readable).
    /// </summary>
    public double? HeightMm { get; init; }
    /// <summary>PNG and TIFF resolution (journals ask for 300–600 dpi).</summary>
    public int Dpi { get; init; } = 300;
    /// <summary>Formats to write each chart in (default SVG and PNG; PDF and TIFF on request).</summary>
    public IReadOnlyList<FigureFormat> Formats { get; init; } = [FigureFormat.Svg, FigureFormat.Png];
    /// <summary>Also write each chart as an offline HTML page.</summary>
    public bool Html { get; init; }
    /// <summary>
    /// Keep photo file names in the HTML pages' hover text and full folder paths in <c>export.json</c>. Off by default:
    /// figures leave the team, patient photos' names often carry names or record numbers, and the folders above a run
    /// often name a clinic, a user or a cohort.
    /// </summary>
    public bool PhotoNames { get; init; }
    /// <summary>Seed of bootstraps and t-SNE, as <see cref="ReportOptions.Seed"/> (the demo's report uses 0).</summary>
    public int Seed { get; init; }
    /// <summary>
    /// The data set's <c>manifest.csv</c>, as <see cref="ReportOptions.ManifestPath"/>: its families make the intervals
    /// resample relatives together (default: the data folder named in <c>run.json</c>).
    /// </summary>
    public string? ManifestPath { get; init; }
    /// <summary>
    /// The columns the t-SNE maps are coloured by, one figure each, as <see cref="ReportOptions.TsneColourBy"/> (null: true
    /// class and gene). Without <see cref="PhotoNames"/> only <see cref="Report.ShareableColumns"/>.
    /// </summary>
    public IReadOnlyList<string>? TsneColourBy { get; init; }
    /// <summary>Classes to colour on the t-SNE map by true class, the rest grey, as <see cref="ReportOptions.TsneHighlight"/>.</summary>
    public IReadOnlyList<string>? TsneHighlight { get; init; }
    /// <summary>What made the export, as <c>export.json</c> records it (<c>gestaltlab export</c> from the command line).</summary>
    public string Command { get; init; } = "RunFigureExport.ExportAsync";
}

/// <summary>What <see cref="RunFigureExport.ExportAsync"/> wrote.</summary>
/// <param name="Directory">The export folder.</param>
/// <param name="RecordPath">Its <c>export.json</c>: where the figures came from, how they were drawn, what each left out.</param>
/// <param name="Files">Every file written, in drawing order (composite faces last).</param>
/// <param name="Removed">Files of an earlier export into the folder that this one did not write again, removed.</param>
/// <param name="Notes">
/// What the run could not give a figure for, what a figure's print layout left out at its size (to be said in its
/// caption), and how the browser was started: one line each.
/// </param>
/// <param name="WidthMm">Every figure's width in millimetres.</param>
/// <param name="Dpi">The PNGs', TIFFs' and composite grid's resolution.</param>
/// <param name="HeightsMm">Each chart's height in millimetres, by its name (its own unless <see cref="RunExportOptions.HeightMm"/> was given).</param>
public sealed record RunExportResult(string Directory, string RecordPath, IReadOnlyList<string> Files, IReadOnlyList<RemovedFile> Removed,
    IReadOnlyList<string> Notes, double WidthMm, int Dpi, IReadOnlyDictionary<string, double> HeightsMm)
{
    /// <summary>Charts exported (the composite-faces image not counted).</summary>
    public int FigureCount => HeightsMm.Count;
}

/// <summary>A file an export removed from its folder.</summary>
/// <param name="Path">The file.</param>
/// <param name="Reason">Why: an earlier export's figure not written this time, or its composite faces when this run has none.</param>
public sealed record RemovedFile(string Path, string Reason);

/// <summary>
/// Every figure of a run's report (<see cref="Report.Build"/>) as SVG and PNG (or PDF and TIFF) at a journal size, drawn by one headless
/// Chromium, with a record of where they came from (<c>export.json</c>). What <c>gestaltlab export</c> does.
/// </summary>
public static class RunFigureExport
{
    /// <summary>The record's file name inside the export folder.</summary>
    public const string RecordFileName = ExportRecord.FileName;

    /// <summary>The composite-faces grid's file name (as a PNG; <c>composite-faces.tif</c> when TIFF is asked for).</summary>
    public const string CompositeFileName = "composite-faces.png";

    /// <summary>The formats the composite-faces grid, a picture, can be written in.</summary>
    private static readonly FigureFormat[] RasterFormats = [FigureFormat.Png, FigureFormat.Tiff];

    /// <summary>
    /// The composite grid's files for <paramref name="formats"/>: a picture, it is written in each raster format asked for,
    /// and as a PNG when only vector ones are (there is no vector form of a photo).
    /// </summary>
    private static string[] CompositeFiles(IEnumerable<FigureFormat> formats)
    {
        var raster = RasterFormats.Where(formats.Contains).ToArray();
        return (raster.Length > 0 ? raster : [FigureFormat.Png]).Select(f => Path.ChangeExtension(CompositeFileName, FigureExport.Extension(f))).ToArray();
    }

    /// <summary>
    /// Exports the figures of <paramref name="runDirectory"/> into <paramref name="outDirectory"/>. Every figure is drawn
    /// into a hidden folder first and moved in only when all were drawn, so a figure that cannot be drawn leaves an
    /// earlier export there as it was; the earlier export's files that this one does not write again are removed (files
    /// export did not write are never touched). Two exports into one folder at once are refused.
    /// </summary>
    /// <exception cref="ArgumentException"><see cref="RunExportOptions.Formats"/> is null or holds an undefined value.</exception>
    /// <exception cref="GestaltLabException">No format, a dpi below 1, a size no figure can be drawn at (the width and any height asked for are
    /// checked before the run is read; each chart's own height before the first is drawn), a folder that cannot be written
    /// or is a file, a run without results, another export into the folder, a file in the folder under a name this export
    /// writes that no export wrote (or an <c>export.json</c> that is no export's), a file an earlier export wrote and someone
    /// changed since, no Chromium, or a figure Chromium could not draw (nothing written then).</exception>
    /// <exception cref="OperationCanceledException">Cancelled (nothing of this export is left in the folder).</exception>
    public static async Task<RunExportResult> ExportAsync(string runDirectory, string outDirectory, RunExportOptions? options = null,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runDirectory);
        ArgumentNullException.ThrowIfNull(outDirectory);
        var o = options ?? new RunExportOptions();
        if (o.Formats is null || o.Formats.Any(f => !Enum.IsDefined(f)))
            throw new ArgumentException("Formats: each must be FigureFormat.Svg, Pdf, Png or Tiff", nameof(options));
        if (o.Dpi < 1) throw new GestaltLabException($"{o.Dpi} dpi: must be at least 1", "journals ask for 300–600 dpi");
        if (o.Formats.Count == 0) throw new GestaltLabException("no figure format asked for", "ask for SVG, PDF, PNG or TIFF");
        // Without a height each chart gets its own (never below the minimum), so only an asked-for height is checked as such.
        var size = new FigureSize(o.WidthMm, o.HeightMm ?? Math.Max(FigureExport.MinimumHeightMm, Math.Round(o.WidthMm * 0.62)), o.Dpi);
        // Before the run is read or anything written: a size no figure can be drawn at fails at once, saying why.
        FigureExport.CheckSize(size);
        // In one order whatever order they were asked in: the same export gives the same record.
        var formats = o.Formats.Distinct().Order().ToArray();
        string outDir = outDirectory;
        if (File.Exists(outDir)) throw new GestaltLabException($"{outDir}: is a file; the export needs a folder for the figures");
        // A file on the way (--out notes.txt/figures) would fail only when the folder is made, in .NET's words.
        for (string? up = Path.GetDirectoryName(Path.GetFullPath(outDir)); up is not null && !System.IO.Directory.Exists(up); up = Path.GetDirectoryName(up))
            if (File.Exists(up)) throw new GestaltLabException($"{outDir}: {up} is a file, where a folder is needed", "choose another folder for the figures");
        // Two exports into one folder would move their figures in over each other's: refused before the figures are
        // built (the lock's file lies elsewhere; nothing is made in the folder).
        using var folderLock = FolderLock.Acquire(outDir, "export into");
        // A folder that cannot be written is found now, not after the figures (t-SNE and all) were computed: the
        // nearest existing folder on the way takes a file (probed without leaving one, or making the folder).
        string existing = Path.GetFullPath(outDir);
        while (!System.IO.Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent) existing = parent;
        try { AtomicFile.CheckWritable(Path.Combine(existing, ".gestaltlab-export-probe")); }
        catch (GestaltLabException) { throw new GestaltLabException($"{outDir}: cannot be written ({existing} takes no new files: read-only, or not yours)", "choose a folder you can write to"); }
        // Photo names and folder paths go together: pages and records that leave the team carry neither.
        bool full = o.PhotoNames;
        var reportOptions = new ReportOptions { Seed = o.Seed, PhotoNames = full, FolderPaths = full, ManifestPath = o.ManifestPath, TsneColourBy = o.TsneColourBy, TsneHighlight = o.TsneHighlight };
        RunResults results;
        ReportContent content;
        // The run is read before the output folder is made, so that a wrong run leaves nothing behind; and held shared
        // while its tables and crops are read (a training of the run meanwhile would mix old and new), not while drawing.
        using (RunResults.Reading(runDirectory, "export the figures of the run in"))
        {
            results = RunResults.Load(runDirectory);
            content = Report.Build(results, reportOptions, progress, cancellationToken);
        }
        // What the run could not give a figure for (no composite faces, no region bars …): said, not silently missing.
        var notes = new List<string>(content.Notes);
        // Every size is checked before the first figure is drawn, so that an impossible one does not stop the export
        // half-way.
        var sized = content.Charts.Select(chart => (Chart: chart, Size: o.HeightMm is null
            ? size with { HeightMm = FigureExport.DefaultHeightMm(chart.Chart, o.WidthMm) }
            : size)).ToList();
        foreach (var (chart, chartSize) in sized)
        {
            try { FigureExport.CheckSize(chartSize); }
            catch (GestaltLabException e) { throw new GestaltLabException($"{chart.Name}: {e.Message.Split('\n')[0]}", e.Fix); }
        }
        // Files of the user's under the names this export writes (a paper's figures folder holding a training-curves.png
        // of its own) are not replaced: refused before anything is drawn. An earlier export's (its record names each file
        // it wrote) are replaced, or removed when this one does not write them again — unless changed since (a figure
        // touched up by hand in place), which is refused as the user's own.
        var earlier = ExportRecord.Files(outDir) ?? [];
        if (earlier.Count == 0 && new[] { RecordFileName, ExportRecord.PartialFileName }.FirstOrDefault(f => File.Exists(Path.Combine(outDir, f))) is { } record)
            throw new GestaltLabException($"{outDir}: holds {record}, which is no export's record (it cannot be read as one); the export would replace it",
                "export into another folder, or move that file away");
        var extensions = formats.Select(FigureExport.Extension).Concat(o.Html ? [".html"] : []).ToList();
        var compositeFiles = content.CompositeFaceSet is null ? [] : CompositeFiles(formats);
        var planned = sized.SelectMany(c => extensions.Select(ext => c.Chart.Name + ext)).Concat(compositeFiles).ToHashSet(StringComparer.Ordinal);
        var theirs = planned.Where(f => File.Exists(Path.Combine(outDir, f)) && !earlier.ContainsKey(f)).Order(StringComparer.Ordinal).ToList();
        if (theirs.Count > 0)
            throw new GestaltLabException($"{outDir}: holds {Listed(theirs)}, which no export wrote here; the export would replace {(theirs.Count == 1 ? "it" : "them")}",
                $"export into another folder, or move {(theirs.Count == 1 ? "that file" : "those files")} away");
        var stale = earlier.Keys.Where(f => !planned.Contains(f) && File.Exists(Path.Combine(outDir, f))).Order(StringComparer.Ordinal).ToList();
        var changed = earlier.Where(kv => File.Exists(Path.Combine(outDir, kv.Key)) && (planned.Contains(kv.Key) || stale.Contains(kv.Key))
                                          && !ExportRecord.Unchanged(Path.Combine(outDir, kv.Key), kv.Value)).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        if (changed.Count > 0)
            throw new GestaltLabException($"{outDir}: {Listed(changed)} {(changed.Count == 1 ? "was" : "were")} changed since the export that wrote {(changed.Count == 1 ? "it" : "them")} (edited in place?); this export would replace or remove {(changed.Count == 1 ? "it" : "them")}",
                $"export into another folder, or move {(changed.Count == 1 ? "that file" : "those files")} away");
        bool created = !System.IO.Directory.Exists(outDir);
        // With photo names (in the pages' hover text) and folder paths (in export.json), what is written is its owner's
        // alone, as a report naming photos is: a new folder 0700, those files 0600.
        if (full) OwnerOnlyFolder.Create(outDir);
        else System.IO.Directory.CreateDirectory(outDir);
        // A killed earlier export's hidden folder goes (its process is gone); this one's is named the same way.
        AtomicFile.RemoveLeftovers(outDir, StagingName);
        string staging = AtomicFile.TempPath(Path.Combine(outDir, StagingName));
        OwnerOnlyFolder.Create(staging);   // pages naming photos wait here before their mode is set
        var drawn = new List<string>();
        // A TIFF beside a PNG is that PNG's pixels (written just before it: formats are in order, PNG first): converted,
        // not drawn (or, for the composite grid, resampled) a second time.
        bool ConvertedFromPng(string name, int dpi)
        {
            string png = Path.ChangeExtension(name, ".png");
            if (FigureExport.FormatOf(name) != FigureFormat.Tiff || !drawn.Contains(png)) return false;
            AtomicFile.WriteAllBytes(Path.Combine(staging, name), FigureExport.Tiff(File.ReadAllBytes(Path.Combine(staging, png)), dpi));
            drawn.Add(name);
            return true;
        }
        // What the print layout left out of each chart to fit the page: the author's caption has to say it instead.
        var leftOut = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        string chromium;
        string? pngFont = null;
        bool sandboxed;
        try
        {
            await using (var browser = await HeadlessBrowser.LaunchAsync(cancellationToken: cancellationToken))
            {
                // A browser of the user's own (GESTALTLAB_CHROMIUM) may lie under their home folder.
                chromium = $"{(full ? browser.Executable : SharedText.LastName(browser.Executable))} {browser.Version}";
                if (browser.SandboxNote is { } why) notes.Add(why);
                sandboxed = browser.Sandboxed;
                // The words of a PNG, TIFF or PDF are set in what this machine has of the charts' font list: recorded, and
                // said when it is neither face a journal names (DejaVu Sans, Debian's default, sets the same words wider
                // than Arial).
                var setHere = formats.Where(f => f != FigureFormat.Svg).Select(f => f.ToString().ToUpperInvariant()).ToArray();
                if (setHere.Length > 0)
                {
                    // Provenance, not the figures: a browser that will not say (another build, GESTALTLAB_CHROMIUM) costs a note.
                    try { pngFont = (await browser.FontsForAsync(Charts.FontFamily, cancellationToken)).FirstOrDefault(); }
                    catch (Exception e) when (e is Microsoft.Playwright.PlaywrightException or InvalidOperationException or KeyNotFoundException or System.Text.Json.JsonException)
                    {
                        notes.Add($"the font of the {string.Join("/", setHere)} figures could not be asked of Chromium ({e.Message.Split('\n')[0]}): export.json does not name it");
                    }
                    if (pngFont is not null && !IsHelveticaOrArial(pngFont))
                        notes.Add($"the {string.Join("/", setHere)} figures' words are set in {pngFont}: this machine has no Helvetica or Arial (nor a face metric-compatible with one); for a journal that asks for Arial, install one (`apt-get install fonts-liberation`) and export again");
                }
                int done = 0;
                foreach (var (chart, chartSize) in sized)
                {
                    foreach (var f in formats)
                    {
                        string name = chart.Name + FigureExport.Extension(f);
                        if (ConvertedFromPng(name, chartSize.Dpi)) continue;
                        try
                        {
                            foreach (var what in await FigureExport.SaveAsync(chart.Chart, Path.Combine(staging, name), chartSize, f, browser, cancellationToken))
                            {
                                var list = leftOut.TryGetValue(chart.Name, out var l) ? l : leftOut[chart.Name] = [];
                                if (!list.Contains(what)) list.Add(what);
                            }
                        }
                        catch (GestaltLabException e) { throw new GestaltLabException($"{chart.Name}: {e.Message.Split('\n')[0]}; nothing was written to {outDir}", e.Fix, e); }
                        drawn.Add(name);
                    }
                    if (o.Html)
                    {
                        FigureHtml.Save(chart.Chart, Path.Combine(staging, chart.Name + ".html"), $"{chart.Section} ({chart.Name})",   // two t-SNE maps share a section
                            ownerOnly: o.PhotoNames);   // photos named in hover text: the owner's alone, as a report naming them
                        drawn.Add(chart.Name + ".html");
                    }
                    progress?.Report(new ProgressUpdate("draw figures", ++done, sized.Count));
                }
            }
            if (content.CompositeFaceSet is { } set)
            {
                // Laid out for the width (five to a row at one column, so faces and words stay readable) at the figures' dpi.
                var grid = set.RenderGrid(columns: Math.Min(set.Faces.Count, o.WidthMm < 120 ? 5 : 8));
                foreach (var file in compositeFiles)
                {
                    if (ConvertedFromPng(file, size.Dpi)) continue;
                    FigureExport.SaveImage(grid, Path.Combine(staging, file), size.WidthMm, size.Dpi);
                    drawn.Add(file);
                }
            }
        }
        catch
        {
            System.IO.Directory.Delete(staging, recursive: true);
            if (created && !System.IO.Directory.EnumerateFileSystemEntries(outDir).Any()) System.IO.Directory.Delete(outDir);
            throw;
        }
        // From here on the folder changes file by file. A partial record names the earlier export's files and this one's
        // with either's hash, so that an export killed part-way leaves a folder the next one still knows as export's
        // (never the earlier export's record over mixed figures, nor files no record names).
        var written = drawn.ToDictionary(name => name, name => ExportRecord.Sha256(Path.Combine(staging, name)), StringComparer.Ordinal);
        var finished = Record(runDirectory, results, content, o, reportOptions, size, sized, leftOut, chromium, sandboxed, pngFont, formats, compositeFiles, written);
        var partial = finished.DeepClone().AsObject();
        partial["files"] = Files(earlier.Keys.Union(written.Keys).ToDictionary(name => name,
            name => earlier.GetValueOrDefault(name, []).Concat(written.TryGetValue(name, out var h) ? [h] : Array.Empty<string>()).ToArray(), StringComparer.Ordinal));
        string partialPath = Path.Combine(outDir, ExportRecord.PartialFileName);
        AtomicFile.WriteAllText(partialPath, partial.ToJsonString() + "\n", ownerOnly: full);
        var removed = new List<RemovedFile>();
        string recordPath = Path.Combine(outDir, RecordFileName);
        var files = new List<string>();
        try
        {
            foreach (var name in stale)
            {
                // Left there, an older PNG beside a new SVG of the same name would pass for the same figure, and an older
                // composite grid for this run's.
                File.Delete(Path.Combine(outDir, name));
                removed.Add(new RemovedFile(Path.Combine(outDir, name), IsComposite(name) && content.CompositeFaceSet is null
                    ? "an earlier export's; this run has no composite faces" : "an earlier export's, not written this time"));
            }
            File.Delete(recordPath);
            foreach (var name in drawn)
            {
                string file = Path.Combine(outDir, name);
                File.Move(Path.Combine(staging, name), file, overwrite: true);
                if (full && name.EndsWith(".html", StringComparison.Ordinal) && !OperatingSystem.IsWindows())
                    File.SetUnixFileMode(file, AtomicFile.OwnerOnlyMode(outDir));
                files.Add(file);
            }
            System.IO.Directory.Delete(staging, recursive: true);
        }
        // A file that cannot be replaced (made read-only or immutable, a full disk) stops the export part-way: said as what
        // it is, with the way back (the partial record lets the next export finish the replacement), not in .NET's words.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { System.IO.Directory.Delete(staging, recursive: true); } catch (Exception again) when (again is IOException or UnauthorizedAccessException) { }
            throw new GestaltLabException($"{outDir}: the export stopped while moving its figures in ({e.Message}); the folder now holds {files.Count} of its {drawn.Count} new files beside the earlier export's, and {ExportRecord.PartialFileName} names them all",
                "make the file named writable (or free space), then run the same export again: it replaces the rest and writes export.json", e);
        }
        foreach (var (chart, chartSize) in sized)
            if (leftOut.TryGetValue(chart.Name, out var what))
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{chart.Name} at {chartSize.WidthMm:0.#}×{chartSize.HeightMm:0.#} mm leaves out {string.Join("; ", what)}: say it in the caption, or export larger (a greater width or height)"));
        // Said as the other things a figure leaves out are (export.json records them too): the grid lacks these syndromes.
        if (content.CompositeFaceSet is { } composites && compositeFiles is [var gridFile, ..] && CompositeNote(composites, Path.GetFileName(gridFile), o.PhotoNames) is { } compositeNote)
            notes.Add(compositeNote);
        // Journals' upload limits are per file (PLOS: 10 MB), which a composite grid at 1200 dpi goes over.
        foreach (var file in files.Where(f => new FileInfo(f).Length > 10_000_000))
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(file)} is {new FileInfo(file).Length / 1e6:F1} MB: journals often take at most 10 MB a file; export at a lower --dpi (300–600 is what they ask for)"));
        AtomicFile.WriteAllText(recordPath, finished.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n", ownerOnly: full);
        File.Delete(partialPath);
        return new RunExportResult(Path.GetFullPath(outDir), Path.GetFullPath(recordPath), files, removed, notes, size.WidthMm, size.Dpi,
            sized.ToDictionary(c => c.Chart.Name, c => c.Size.HeightMm, StringComparer.Ordinal));
    }

    /// <summary>The note that the composite grid <paramref name="file"/> leaves out syndromes of too few people; null when none.</summary>
    /// <param name="set">The grid's faces and the cohorts refused.</param>
    /// <param name="file">The grid's file name.</param>
    /// <param name="photoNames">Counts are said (as on a page naming photos); otherwise "fewer than N" alone.</param>
    internal static string? CompositeNote(CompositeFaceSet set, string file, bool photoNames)
    {
        var refused = photoNames ? set.Refused : set.RefusedWithoutCounts();
        return refused.Count == 0 ? null
            : $"{file} leaves out {refused.Count} class(es), so that no one is recognisable in a composite of a few: "
              + string.Join("; ", refused.Take(10)) + (refused.Count > 10 ? "; …" : "");
    }

    // Helvetica and Arial, and the free faces made with their widths (fontconfig serves them for those names).
    private static bool IsHelveticaOrArial(string family) =>
        new[] { "Helvetica", "Arial", "Liberation Sans", "Nimbus Sans", "Arimo", "TeX Gyre Heros" }.Any(f => family.StartsWith(f, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// A figure in a paper must say where it came from: the run (and its own record), the settings and the versions.
    /// Without photo names the folders are named without the paths above them, as on the HTML pages: the run's creation
    /// time and data hash still tell which run it was.
    /// </summary>
    private static JsonObject Record(string runDirectory, RunResults results, ReportContent content, RunExportOptions o, ReportOptions reportOptions,
        FigureSize size, IReadOnlyList<(NamedChart Chart, FigureSize Size)> sized, Dictionary<string, List<string>> leftOut, string chromium, bool sandboxed,
        string? pngFont, IReadOnlyList<FigureFormat> formats, IReadOnlyList<string> compositeFiles, IReadOnlyDictionary<string, string> written)
    {
        bool full = o.PhotoNames;
        string? Folder(string? path) => path is null || full ? path : SharedText.LastName(path);
        static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)v).ToArray());
        return new JsonObject
        {
            ["command"] = o.Command,
            ["run"] = Folder(Path.GetFullPath(runDirectory)),
            ["run_created_utc"] = results.Manifest?.CreatedUtc,
            ["run_data_hash"] = results.Manifest?.DataHash,
            ["metrics_data"] = Folder(results.Metrics?.Data),
            ["photo_names"] = full, ["folder_paths"] = full,
            ["seed"] = o.Seed, ["width_mm"] = size.WidthMm, ["dpi"] = size.Dpi,
            ["tsne_highlight"] = o.TsneHighlight is null ? null : Strings(o.TsneHighlight),
            // What the intervals and bands in the figures are (the report's page says it in words; a figure file does not).
            ["bootstrap"] = content.ResamplingUnit is null ? null : new JsonObject
            {
                ["method"] = "percentile", ["level"] = 0.95, ["resamples"] = reportOptions.BootstrapIterations, ["unit"] = content.ResamplingUnit,
                // The data folder's name kept: "…/cohort/manifest.csv" says which data, as on the report's page.
                ["manifest"] = o.ManifestPath is { } mf && Path.GetFullPath(mf) is var mfFull
                    ? (full ? mfFull : SharedText.WithoutFolders(mfFull, [Path.GetDirectoryName(mfFull)])) : null,
                ["top_k_band"] = "pointwise at each k",
            },
            ["figures"] = Strings(content.Charts.Select(c => c.Name)),
            // Each figure's own height (charts keep their aspect ratio unless a height is given).
            ["height_mm"] = new JsonObject(sized.Select(c => KeyValuePair.Create(c.Chart.Name, (JsonNode?)c.Size.HeightMm))),
            ["formats"] = Strings(formats.Select(f => FigureExport.Extension(f)[1..])),
            ["html"] = o.Html,
            // Every file written, with its SHA-256: the next export into the folder replaces or removes these (and only
            // these, as written: one changed since is the user's).
            ["files"] = Files(written.ToDictionary(kv => kv.Key, kv => new[] { kv.Value }, StringComparer.Ordinal)),
            // The grid's file (its PNG when both a PNG and a TIFF were written; "files" names both).
            ["composite_faces"] = compositeFiles.Count == 0 ? null : compositeFiles[0],
            // The privacy rule travels with the image: n counts people (each person's photos averaged first), classes
            // with fewer than the minimum were not drawn.
            ["composite_faces_rule"] = content.CompositeFaceSet is not { } cs ? null : new JsonObject
            {
                ["minimum_cohort_people"] = cs.MinimumCohort,
                ["n_counts"] = "people; each person's photos are averaged first, so each weighs once",
                ["photos_from"] = "all splits",
                ["n_counts_relatives"] = "as one, where the data names families",
                // A page for sharing says "fewer than N", not that one patient of a rare syndrome is in the data.
                ["not_drawn"] = Strings(full ? cs.Refused : cs.RefusedWithoutCounts()),
            },
            // What each figure's print layout left out to fit its size (the screen charts show it).
            ["left_out"] = new JsonObject(leftOut.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Strings(kv.Value)))),
            ["packages"] = RunManifest.PackageVersionsJson(),
            // What trained the run (the figures' numbers come from it), beside what drew them.
            ["run_packages"] = results.Manifest is { } made ? System.Text.Json.JsonSerializer.SerializeToNode(made.Packages) : null,
            // What drew them: other versions lay out and rasterise the same figure differently.
            ["chromium"] = chromium, ["chromium_sandbox"] = sandboxed,
            // The fonts the words were set in (an SVG names the charts' list and leaves the choice to what opens it; a
            // PNG, TIFF or PDF carries the face this machine resolved it to).
            ["fonts"] = new JsonObject
            {
                ["asked"] = Charts.FontFamily,
                ["png"] = formats.Any(RasterFormats.Contains) ? pngFont : null,
                ["pdf"] = formats.Contains(FigureFormat.Pdf) ? pngFont : null,
                ["composite_faces"] = content.CompositeFaceSet is null ? null : CompositeFaceSet.LabelFontFamily,
            },
            ["plotly_js"] = FigureHtml.PlotlyJsVersion,
            ["created_utc"] = DateTime.UtcNow.ToString("O"),
        };
    }

    /// <summary>A record's <c>files</c>: each file's hash, or (in a partial record) the hashes it may have, in name order.</summary>
    private static JsonObject Files(IReadOnlyDictionary<string, string[]> hashes) =>
        new(hashes.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => KeyValuePair.Create(kv.Key, kv.Value.Length == 1 ? (JsonNode?)kv.Value[0] : new JsonArray(kv.Value.Select(h => (JsonNode?)h).ToArray()))));

    /// <summary>The hidden folder figures are drawn into (<c>.export.PID.GUID.tmp</c>, <see cref="AtomicFile.TempPath"/>).</summary>
    private const string StagingName = "export";

    /// <summary>Whether <paramref name="name"/> is a composite grid's file (<c>composite-faces.png</c> or <c>.tif</c>).</summary>
    private static bool IsComposite(string name) => Path.GetFileNameWithoutExtension(name) == Path.GetFileNameWithoutExtension(CompositeFileName);

    /// <summary>Up to three names, then an ellipsis.</summary>
    private static string Listed(IReadOnlyList<string> names) => string.Join(", ", names.Take(3)) + (names.Count > 3 ? $", … ({names.Count} files)" : "");
}
