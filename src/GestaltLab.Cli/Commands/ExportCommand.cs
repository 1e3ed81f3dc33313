using System.CommandLine;
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
        var run = new Option<string>("--run", "--model") { Description = "Run directory.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for the figure files.", Required = true };
        var width = new Option<string>("--width") { Description = "single (89 mm), double (183 mm), or a width in mm.", DefaultValueFactory = _ => "double" };
        var height = new Option<double?>("--height") { Description = "Height in mm (default: each chart's own aspect ratio, and tall enough for a list's rows of words)." };
        var dpi = new Option<int>("--dpi") { Description = "PNG and TIFF resolution.", DefaultValueFactory = _ => 300 };
        var formats = new Option<string[]>("--format") { Description = "svg, pdf, png, tiff (or tif) or both (= svg png, the default); several at once: --format pdf tiff.", AllowMultipleArgumentsPerToken = true };
        var html = new Option<bool>("--html") { Description = "Also write each figure as an offline HTML page." };
        var photoNames = new Option<bool>("--photo-names") { Description = "Keep photo file names in the --html pages' hover text and full folder paths in export.json (left out by default: figures leave the team, patient photos' names often carry names or record numbers, and the folders above a run often name a clinic, a user or a cohort)." };
        var manifest = new Option<string?>("--manifest") { Description = "The data set's manifest.csv, as `report --manifest`: its families make the intervals resample relatives together, its columns colour the t-SNE map (default: the data folder named in run.json)." };
        var colour = new Option<string[]>("--colour-by") { Description = "Manifest columns to colour the t-SNE maps by, one figure each, as `report --colour-by` ('true' = the true class; default: true gene). Without --photo-names only true, syndrome, gene, sex, age_band, skin_tone and split.", AllowMultipleArgumentsPerToken = true };
        var highlight = new Option<string[]>("--highlight") { Description = "Classes to colour on the t-SNE map by true class, the rest light grey, as `report --highlight`: the legend then stays in print.", AllowMultipleArgumentsPerToken = true };
        var seed = new Option<int>("--seed") { Description = "Seed for bootstraps and t-SNE, as `report --seed` (the demo's report uses the default).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("export", "Export a run's figures as SVG/PDF/PNG/TIFF at journal sizes (89 mm single column, 183 mm double, 300 dpi) through headless Chromium.")
            { run, output, width, height, dpi, formats, html, seed, manifest, colour, highlight, photoNames };
        cmd.SetAction(async (p, ct) =>
        {
            string w = p.GetValue(width)!.Trim();
            string number = w.EndsWith("mm", StringComparison.OrdinalIgnoreCase) ? w[..^2].TrimEnd() : w;
            double mm = w.ToLowerInvariant() switch
            {
                "single" => 89,
                "double" => 183,
                _ when double.TryParse(number, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) && v > 0 => v,
                _ => throw new GestaltLabException($"--width '{w}': expected single, double or a width in mm", "use single (89 mm), double (183 mm) or a number of millimetres, e.g. 120"),
            };
            // No default value on the option: its help would print the list as "[default: svg|png]", which --format refuses.
            var asked = p.GetValue(formats) is { Length: > 0 } given ? given : ["both"];
            var fmts = asked.SelectMany(f => f.ToLowerInvariant() switch
            {
                "svg" => new[] { FigureFormat.Svg },
                "pdf" => [FigureFormat.Pdf],
                "png" => [FigureFormat.Png],
                "tif" or "tiff" => [FigureFormat.Tiff],
                "both" => [FigureFormat.Svg, FigureFormat.Png],
                "eps" or "ps" => throw new GestaltLabException($"--format '{f}': EPS is not written",
                    "use pdf where a journal asks for vector EPS (Science, Cell and Nature take PDF too), tiff where it takes raster EPS or TIFF (PLOS)"),
                _ => throw new GestaltLabException($"--format '{f}': expected svg, pdf, png, tiff or both",
                    "use svg or pdf (vector, for line art and text), png or tiff (at --dpi), or both (svg and png); convert a PNG for a JPEG-only journal"),
            }).Distinct().ToArray();
            if (p.GetValue(dpi) < 1) throw new GestaltLabException($"--dpi {p.GetValue(dpi)}: must be at least 1", "journals ask for 300–600 dpi");
            var options = new RunExportOptions
            {
                WidthMm = mm, HeightMm = p.GetValue(height), Dpi = p.GetValue(dpi), Formats = fmts, Html = p.GetValue(html),
                PhotoNames = p.GetValue(photoNames), Seed = p.GetValue(seed), ManifestPath = p.GetValue(manifest),
                TsneColourBy = p.GetValue(colour) is { Length: > 0 } c ? c : null,
                TsneHighlight = p.GetValue(highlight) is { Length: > 0 } h ? h : null,
                Command = "gestaltlab export",
            };
            ReportCommand.CheckColourBy(options.ManifestPath, p.GetValue(run)!, options.TsneColourBy);
            string outDir = p.GetValue(output)!;
            var result = await CliProgress.RunAsync(progress => RunFigureExport.ExportAsync(p.GetValue(run)!, outDir, options, progress, ct));
            foreach (var removed in result.Removed) Console.WriteLine($"  removed {removed.Path} ({removed.Reason})");
            foreach (var file in result.Files) Console.WriteLine($"  {file}");
            foreach (var note in result.Notes) Console.WriteLine($"  note: {note}");
            var size = new FigureSize(result.WidthMm, FigureExport.MinimumHeightMm, result.Dpi);
            // A resolution is said only of pictures: an SVG or a PDF has none.
            // (The composite grid, a picture, is one in any case.)
            string raster = fmts.Any(f => f is FigureFormat.Png or FigureFormat.Tiff) ? $" at {size.Dpi} dpi ({size.PixelWidth} px)"
                : result.Files.FirstOrDefault(f => Path.GetFileNameWithoutExtension(f) == Path.GetFileNameWithoutExtension(RunFigureExport.CompositeFileName)) is { } grid
                    ? $" ({Path.GetFileName(grid)} at {size.Dpi} dpi)" : "";
            Console.WriteLine($"exported {result.FigureCount} figure(s) as {string.Join(", ", fmts.Order().Select(f => f.ToString().ToUpperInvariant()))}, {size.WidthMm:0.#} mm wide{raster} → {outDir} (provenance: {RunFigureExport.RecordFileName})");
            return 0;
        });
        return cmd;
    }
}
