using System.CommandLine;
using GestaltLab.Evaluation;
using GestaltLab.Figures;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab export --run RUN --out DIR</c>: every figure of a run's report as SVG and PNG at a journal size, drawn by
/// headless Chromium (one browser for all figures).
/// </summary>
internal sealed class ExportCommand : ICliCommand
{
    public Command Create()
    {
        var run = new Option<string>("--run") { Description = "Run directory.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for the figure files.", Required = true };
        var width = new Option<string>("--width") { Description = "single (89 mm), double (183 mm), or a width in mm.", DefaultValueFactory = _ => "double" };
        var height = new Option<double?>("--height") { Description = "Height in mm (default: each chart's own aspect ratio, and tall enough for a list's rows of words)." };
        var dpi = new Option<int>("--dpi") { Description = "PNG resolution.", DefaultValueFactory = _ => 300 };
        var formats = new Option<string[]>("--format") { Description = "svg, png or both (default both; svg png works too).", AllowMultipleArgumentsPerToken = true };
        var html = new Option<bool>("--html") { Description = "Also write each figure as an offline HTML page." };
        var photoNames = new Option<bool>("--photo-names") { Description = "Keep photo file names in the --html pages' hover text and full folder paths in export.json (left out by default: figures leave the team, patient photos' names often carry names or record numbers, and the folders above a run often name a clinic, a user or a cohort)." };
        var manifest = new Option<string?>("--manifest") { Description = "The data set's manifest.csv, as `report --manifest`: its families make the intervals resample relatives together, its columns colour the t-SNE map (default: the data folder named in run.json)." };
        var seed = new Option<int>("--seed") { Description = "Seed for bootstraps and t-SNE, as `report --seed` (the demo's report uses the default).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("export", "Export a run's figures as SVG/PNG at journal sizes (89 mm single column, 183 mm double, 300 dpi) through headless Chromium.")
            { run, output, width, height, dpi, formats, html, seed, manifest, photoNames };
        cmd.SetAction(async (p, ct) =>
        {
            string w = p.GetValue(width)!.Trim();
            string number = w.EndsWith("mm", StringComparison.OrdinalIgnoreCase) ? w[..^2].TrimEnd() : w;
            double mm = w.ToLowerInvariant() switch
            {
                "single" => 89,
                "double" => 183,
                _ when double.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) && v > 0 => v,
                _ => throw new GestaltLabException($"--width '{w}': expected single, double or a width in mm"),
            };
            if (p.GetValue(dpi) < 1) throw new GestaltLabException($"--dpi {p.GetValue(dpi)}: must be at least 1", "journals ask for 300–600 dpi");
            // Without --height each chart gets its own (never below the minimum), so only an asked-for height is checked as such.
            var size = new FigureSize(mm, p.GetValue(height) ?? Math.Max(FigureExport.MinimumHeightMm, Math.Round(mm * 0.62)), p.GetValue(dpi));
            // Before the run is read or anything written: a size no figure can be drawn at fails at once, saying why.
            FigureExport.CheckSize(size);
            // No default value on the option: its help would print the list as "[default: svg|png]", which --format refuses.
            var asked = p.GetValue(formats) is { Length: > 0 } given ? given : ["both"];
            var fmts = asked.SelectMany(f => f.ToLowerInvariant() switch
            {
                "svg" => new[] { FigureFormat.Svg },
                "png" => [FigureFormat.Png],
                "both" => [FigureFormat.Svg, FigureFormat.Png],
                _ => throw new GestaltLabException($"--format '{f}': expected svg, png or both"),
            }).Distinct().ToArray();
            string outDir = p.GetValue(output)!;
            if (File.Exists(outDir)) throw new GestaltLabException($"{outDir}: is a file; --out names a folder for the figures");
            // Two exports into one folder would move their figures in over each other's: refused before the figures are
            // built (the lock's file lies elsewhere; nothing is made in --out).
            using var folderLock = FolderLock.Acquire(outDir, "export into");
            // A folder that cannot be written is found now, not after the figures (t-SNE and all) were computed: the
            // nearest existing folder on the way takes a file (probed without leaving one, or making --out).
            string existing = Path.GetFullPath(outDir);
            while (!Directory.Exists(existing) && Path.GetDirectoryName(existing) is { } parent) existing = parent;
            try { AtomicFile.CheckWritable(Path.Combine(existing, ".gestaltlab-export-probe")); }
            catch (GestaltLabException) { throw new GestaltLabException($"{outDir}: cannot be written ({existing} takes no new files: read-only, or not yours)", "choose a folder you can write to (--out)"); }
            // The run is read before the output folder is made, so that a wrong --run leaves nothing behind.
            var results = RunResults.Load(p.GetValue(run)!);
            // --photo-names keeps both photo names and folder paths: pages and records that leave the team carry neither.
            bool full = p.GetValue(photoNames);
            var options = new ReportOptions { Seed = p.GetValue(seed), PhotoNames = full, FolderPaths = full, ManifestPath = p.GetValue(manifest) };
            var content = Report.Build(results, options, ProgressReporters.Console(), ct);
            var runPackages = results.Manifest is { } made ? System.Text.Json.JsonSerializer.SerializeToNode(made.Packages) : null;
            // What the run could not give a figure for (no composite faces, no region bars …): said, not silently missing.
            foreach (var note in content.Notes) Console.WriteLine($"  note: {note}");
            // Without --height, each chart's own (FigureExport.DefaultHeightMm: its aspect ratio, rows of words kept
            // readable). Every size is checked before the first figure is drawn, so that an impossible one does not stop
            // the export half-way.
            var sized = content.Charts.Select(chart => (Chart: chart, Size: p.GetValue(height) is null
                ? size with { HeightMm = FigureExport.DefaultHeightMm(chart.Chart, mm) }
                : size)).ToList();
            foreach (var (chart, chartSize) in sized)
            {
                try { FigureExport.CheckSize(chartSize); }
                catch (GestaltLabException e) { throw new GestaltLabException($"{chart.Name}: {e.Message.Split('\n')[0]}", e.Fix); }
            }
            // Every figure is drawn into a hidden folder first and moved in only when all were drawn: a figure that cannot
            // be drawn (plotly gives up on a chart at some small sizes) leaves the earlier export as it was, its record
            // still true, instead of a folder of mixed sizes.
            bool created = !Directory.Exists(outDir);
            Directory.CreateDirectory(outDir);
            RemoveAbandonedStaging(outDir);
            string staging = Path.Combine(outDir, $".export-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
            Directory.CreateDirectory(staging);
            var drawn = new List<string>();
            // What the print layout left out of each chart to fit the page: the author's caption has to say it instead.
            var leftOut = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            string chromium;
            bool sandboxed;
            // The composite faces are an image, not a chart: papers show them as figure 1. Laid out for the width (five
            // to a row at one column, so faces and words stay readable) at the figures' width and dpi.
            const string compositeName = "composite-faces.png";
            try
            {
                await using (var browser = await HeadlessBrowser.LaunchAsync(cancellationToken: ct))
                {
                    // A browser of the user's own (GESTALTLAB_CHROMIUM) may lie under their home folder.
                    chromium = $"{(full ? browser.Executable : SharedText.LastName(browser.Executable))} {browser.Version}";
                    if (browser.SandboxNote is { } why) Console.WriteLine($"  note: {why}");
                    sandboxed = browser.Sandboxed;
                    foreach (var (chart, chartSize) in sized)
                    {
                        foreach (var f in fmts)
                        {
                            string name = chart.Name + Extension(f);
                            try
                            {
                                foreach (var what in await FigureExport.SaveAsync(chart.Chart, Path.Combine(staging, name), chartSize, f, browser, ct))
                                {
                                    var list = leftOut.TryGetValue(chart.Name, out var l) ? l : leftOut[chart.Name] = [];
                                    if (!list.Contains(what)) list.Add(what);
                                }
                            }
                            catch (GestaltLabException e) { throw new GestaltLabException($"{chart.Name}: {e.Message.Split('\n')[0]}; nothing was written to {outDir}", e.Fix, e); }
                            drawn.Add(name);
                        }
                        if (p.GetValue(html))
                        {
                            FigureHtml.Save(chart.Chart, Path.Combine(staging, chart.Name + ".html"), chart.Section);
                            drawn.Add(chart.Name + ".html");
                        }
                    }
                }
                if (content.CompositeFaceSet is { } set)
                {
                    var grid = set.RenderGrid(columns: Math.Min(set.Faces.Count, mm < 120 ? 5 : 8));
                    FigureExport.SaveImage(grid, Path.Combine(staging, compositeName), size.WidthMm, size.Dpi);
                    drawn.Add(compositeName);
                }
            }
            catch
            {
                Directory.Delete(staging, recursive: true);
                if (created && !Directory.EnumerateFileSystemEntries(outDir).Any()) Directory.Delete(outDir);
                throw;
            }
            // The earlier export's files this one does not replace go (its record says which), then the record itself:
            // from here on the folder changes file by file, and a kill part-way must leave a folder without a record
            // (plainly unfinished), never mixed figures under the record of the earlier export.
            RemoveEarlierFigures(outDir, sized.Select(c => c.Chart.Name).ToHashSet(StringComparer.Ordinal),
                fmts.Select(Extension).Concat(p.GetValue(html) ? [".html"] : []).ToHashSet());
            File.Delete(Path.Combine(outDir, "export.json"));
            foreach (var name in drawn)
            {
                string file = Path.Combine(outDir, name);
                File.Move(Path.Combine(staging, name), file, overwrite: true);
                Console.WriteLine($"  {file}");
            }
            Directory.Delete(staging, recursive: true);
            foreach (var (chart, chartSize) in sized)
                if (leftOut.TryGetValue(chart.Name, out var what))
                    Console.WriteLine($"  note: {chart.Name} at {chartSize.WidthMm:0.#}×{chartSize.HeightMm:0.#} mm leaves out {string.Join("; ", what)}: say it in the caption, or export larger (--width, --height)");
            string compositeFile = Path.Combine(outDir, compositeName);
            if (content.CompositeFaceSet is null && File.Exists(compositeFile))
            {
                // An earlier export's grid would pass for this run's (export.json below says there is none).
                File.Delete(compositeFile);
                Console.WriteLine($"  removed {compositeFile} (an earlier export's; this run has no composite faces)");
            }
            // A figure in a paper must say where it came from: the run (and its own record), the settings and the versions.
            // Without --photo-names the folders are named without the paths above them, as on the --html pages: the run's
            // creation time and data hash still tell which run it was.
            string? Folder(string? path) => path is null || full ? path : SharedText.LastName(path);
            var record = new System.Text.Json.Nodes.JsonObject
            {
                ["command"] = "gestaltlab export",
                ["run"] = Folder(Path.GetFullPath(p.GetValue(run)!)),
                ["run_created_utc"] = results.Manifest?.CreatedUtc,
                ["run_data_hash"] = results.Manifest?.DataHash,
                ["metrics_data"] = Folder(results.Metrics?.Data),
                ["photo_names"] = full, ["folder_paths"] = full,
                ["seed"] = p.GetValue(seed), ["width_mm"] = size.WidthMm, ["dpi"] = size.Dpi,
                // What the intervals and bands in the figures are (the report's page says it in words; a figure file does not).
                ["bootstrap"] = content.ResamplingUnit is null ? null : new System.Text.Json.Nodes.JsonObject
                {
                    ["method"] = "percentile", ["level"] = 0.95, ["resamples"] = options.BootstrapIterations, ["unit"] = content.ResamplingUnit,
                    // The data folder's name kept: "…/cohort/manifest.csv" says which data, as on the report's page.
                    ["manifest"] = p.GetValue(manifest) is { } mf && Path.GetFullPath(mf) is var mfFull
                        ? (full ? mfFull : SharedText.WithoutFolders(mfFull, [Path.GetDirectoryName(mfFull)])) : null,
                    ["top_k_band"] = "pointwise at each k",
                },
                ["figures"] = new System.Text.Json.Nodes.JsonArray(content.Charts.Select(c => (System.Text.Json.Nodes.JsonNode?)c.Name).ToArray()),
                // Each figure's own height (charts keep their aspect ratio unless --height is given).
                ["height_mm"] = new System.Text.Json.Nodes.JsonObject(sized.Select(c => KeyValuePair.Create(c.Chart.Name, (System.Text.Json.Nodes.JsonNode?)c.Size.HeightMm))),
                ["composite_faces"] = content.CompositeFaceSet is null ? null : compositeName,
                // The privacy rule travels with the image: n counts people (each person's photos averaged first), classes
                // with fewer than the minimum were not drawn.
                ["composite_faces_rule"] = content.CompositeFaceSet is not { } cs ? null : new System.Text.Json.Nodes.JsonObject
                {
                    ["minimum_cohort_people"] = cs.MinimumCohort,
                    ["n_counts"] = "people; each person's photos are averaged first, so each weighs once",
                    ["photos_from"] = "all splits",
                    ["n_counts_relatives"] = "as one, where the data names families",
                    // A page for sharing says "fewer than N", not that one patient of a rare syndrome is in the data.
                    ["not_drawn"] = new System.Text.Json.Nodes.JsonArray((full ? cs.Refused : cs.RefusedWithoutCounts()).Select(r => (System.Text.Json.Nodes.JsonNode?)r).ToArray()),
                },
                // What each figure's print layout left out to fit its size (the screen charts show it).
                ["left_out"] = new System.Text.Json.Nodes.JsonObject(leftOut.Select(kv => KeyValuePair.Create(kv.Key,
                    (System.Text.Json.Nodes.JsonNode?)new System.Text.Json.Nodes.JsonArray(kv.Value.Select(v => (System.Text.Json.Nodes.JsonNode?)v).ToArray())))),
                ["packages"] = RunManifest.PackageVersionsJson(),
                // What trained the run (the figures' numbers come from it), beside what drew them.
                ["run_packages"] = runPackages,
                // What drew them: other versions lay out and rasterise the same figure differently.
                ["chromium"] = chromium, ["chromium_sandbox"] = sandboxed,
                ["plotly_js"] = FigureHtml.PlotlyJsVersion,
                ["created_utc"] = DateTime.UtcNow.ToString("O"),
            };
            AtomicFile.WriteAllText(Path.Combine(outDir, "export.json"), record.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            Console.WriteLine($"exported {sized.Count} figure(s), {size.WidthMm:0.#} mm wide at {size.Dpi} dpi ({size.PixelWidth} px) → {outDir} (provenance: export.json)");
            return 0;
        });
        return cmd;
    }

    private static string Extension(FigureFormat format) => format == FigureFormat.Svg ? ".svg" : ".png";

    /// <summary>The hidden folders of earlier exports into <paramref name="outDir"/> that were killed while drawing (their process is gone).</summary>
    private static void RemoveAbandonedStaging(string outDir)
    {
        foreach (var dir in Directory.EnumerateDirectories(outDir, ".export-*.tmp"))
        {
            var parts = Path.GetFileName(dir).Split('-');
            if (parts.Length < 3 || !int.TryParse(parts[1], out int pid)) continue;
            bool alive;
            try { using var process = System.Diagnostics.Process.GetProcessById(pid); alive = !process.HasExited; }
            catch (ArgumentException) { alive = false; }
            if (!alive) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// Removes the files an earlier export into the folder wrote (the figures its export.json lists) that this one will
    /// not write again: a figure the run no longer has, or a format not asked for now. Left there, an older PNG beside a
    /// new SVG of the same name would pass for the same figure. Files export did not write are never touched.
    /// </summary>
    private static void RemoveEarlierFigures(string outDir, IReadOnlySet<string> names, IReadOnlySet<string> extensions)
    {
        string record = Path.Combine(outDir, "export.json");
        if (!File.Exists(record)) return;
        System.Text.Json.Nodes.JsonArray? earlier;
        try { earlier = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(record))?["figures"] as System.Text.Json.Nodes.JsonArray; }
        catch (System.Text.Json.JsonException) { return; }
        foreach (var name in (earlier ?? []).Select(n => n?.GetValue<string>()).OfType<string>())
        {
            // A name is a file name of export's making; one with a path in it is not from export (a hand-edited record).
            if (name != Path.GetFileName(name) || name.Length == 0) continue;
            foreach (var ext in new[] { ".svg", ".png", ".html" })
            {
                string file = Path.Combine(outDir, name + ext);
                if ((!names.Contains(name) || !extensions.Contains(ext)) && File.Exists(file))
                {
                    File.Delete(file);
                    Console.WriteLine($"  removed {file} (an earlier export's, not written this time)");
                }
            }
        }
    }
}
