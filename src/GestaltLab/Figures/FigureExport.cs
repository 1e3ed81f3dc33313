using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Runtime;
using Microsoft.Playwright;
using Plotly.NET;
using SkiaSharp;

namespace GestaltLab.Figures;

/// <summary>Static image formats.</summary>
public enum FigureFormat
{
    /// <summary>Vector (scales without loss; sized in millimetres). The words name the charts' font list and are set in what opens the file.</summary>
    Svg,
    /// <summary>Raster at the size's dpi, with the dpi recorded in the file.</summary>
    Png,
    /// <summary>
    /// Vector PDF of one page of exactly the size, as many journals ask for vector art (rather than EPS): the SVG
    /// printed by Chromium, lines and squares kept as paths and words as text in the face this machine resolves the
    /// charts' font list to, embedded.
    /// </summary>
    Pdf,
    /// <summary>
    /// Raster TIFF (LZW, lossless) at the size's dpi, with the dpi recorded in the file: the PNG's pixels, for journals
    /// that take TIFF or EPS only (PLOS).
    /// </summary>
    Tiff,
}

/// <summary>
/// A print size. Journals ask for 89 mm (single column) or 183 mm (double column) wide figures at 300 dpi; the chart
/// is laid out at the same physical size as on screen (96 CSS px per inch), so fonts keep their point size in print.
/// </summary>
/// <param name="WidthMm">Width in millimetres.</param>
/// <param name="HeightMm">Height in millimetres.</param>
/// <param name="Dpi">Raster resolution (PNG).</param>
public readonly record struct FigureSize(double WidthMm, double HeightMm, int Dpi = 300)
{
    /// <summary>Single journal column: 89 mm wide.</summary>
    public static FigureSize SingleColumn(double heightMm = 70, int dpi = 300) => new(89, heightMm, dpi);
    /// <summary>Double journal column (full width): 183 mm wide.</summary>
    public static FigureSize DoubleColumn(double heightMm = 110, int dpi = 300) => new(183, heightMm, dpi);

    /// <summary>PNG width in pixels: round(mm / 25.4 × dpi) (89 mm at 300 dpi → 1051 px).</summary>
    public int PixelWidth => (int)Math.Round(WidthMm / 25.4 * Dpi);
    /// <summary>PNG height in pixels.</summary>
    public int PixelHeight => (int)Math.Round(HeightMm / 25.4 * Dpi);
    /// <summary>Layout width in CSS pixels (96 per inch).</summary>
    public double CssWidth => WidthMm / 25.4 * 96;
    /// <summary>Layout height in CSS pixels.</summary>
    public double CssHeight => HeightMm / 25.4 * 96;
}

/// <summary>
/// Static SVG and PNG export of charts through headless Chromium (see <see cref="HeadlessBrowser"/>): plotly.js draws
/// the chart at the physical size, <c>Plotly.toImage</c> gives the SVG, and the PNG is that SVG rasterised onto a
/// canvas of exactly <see cref="FigureSize.PixelWidth"/> × <see cref="FigureSize.PixelHeight"/>.
/// </summary>
public static class FigureExport
{
    /// <summary>Writes <paramref name="chart"/> as SVG, PDF, PNG or TIFF (format from <paramref name="format"/> or the file extension).</summary>
    /// <returns>What the print layout left out to fit the size (<see cref="RenderedFigure.LeftOut"/>); empty when nothing.</returns>
    public static async Task<IReadOnlyList<string>> SaveAsync(GenericChart chart, string path, FigureSize size, FigureFormat? format = null,
        HeadlessBrowser? browser = null, CancellationToken cancellationToken = default)
    {
        var f = format ?? FormatOf(path);
        var figure = await DrawAsync(chart, f, size, browser, cancellationToken);
        AtomicFile.WriteAllBytes(path, figure.Bytes);
        return figure.LeftOut;
    }

    /// <summary>The format a figure file's extension names (.svg, .pdf, .png, .tif or .tiff).</summary>
    /// <exception cref="GestaltLabException">Another extension.</exception>
    public static FigureFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".svg" => FigureFormat.Svg,
        ".pdf" => FigureFormat.Pdf,
        ".png" => FigureFormat.Png,
        ".tif" or ".tiff" => FigureFormat.Tiff,
        var e => throw new GestaltLabException($"{path}: unknown figure format '{e}'", "use a .svg, .pdf, .png or .tif file name"),
    };

    /// <summary>The file extension a format is written with (.svg, .pdf, .png, .tif).</summary>
    public static string Extension(FigureFormat format) => format switch
    {
        FigureFormat.Svg => ".svg",
        FigureFormat.Pdf => ".pdf",
        FigureFormat.Png => ".png",
        FigureFormat.Tiff => ".tif",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a figure format"),
    };

    /// <summary>
    /// Writes a raster figure (e.g. the composite-faces grid) as a PNG (or a TIFF, for a .tif name) that prints at <paramref name="widthMm"/> wide at
    /// <paramref name="dpi"/>, like the charts beside it: resampled to that pixel width (aspect ratio kept) and tagged
    /// with the dpi, so a journal's checks and an editor's "print size" read what was asked for.
    /// </summary>
    public static void SaveImage(RgbImage image, string path, double widthMm, int dpi)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (widthMm <= 0 || dpi <= 0) throw new GestaltLabException(FormattableString.Invariant($"figure width {widthMm} mm at {dpi} dpi is not positive"));
        int w = Math.Max(1, (int)Math.Round(widthMm / 25.4 * dpi));
        int h = Math.Max(1, (int)Math.Round((double)image.Height * w / image.Width));
        var scaled = image;
        if (w != image.Width)
        {
            using var source = image.ToSKBitmap();
            // Mitchell's cubic when enlarging (sharper than linear, no ringing to speak of), mipmaps when shrinking.
            var sampling = w > image.Width ? new SKSamplingOptions(SKCubicResampler.Mitchell) : new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear);
            using var resized = source.Resize(new SKImageInfo(w, h, source.ColorType, source.AlphaType), sampling)
                ?? throw new GestaltLabException($"{path}: the image could not be resampled to {w}×{h} px");
            scaled = RgbImage.FromSKBitmap(resized);
        }
        var encoded = scaled.EncodePng();
        AtomicFile.WriteAllBytes(path, Path.GetExtension(path).ToLowerInvariant() is ".tif" or ".tiff" ? Tiff(encoded, dpi) : PrintPng(encoded, dpi));
    }

    /// <summary>Smallest figure laid out: below it plotly cannot fit axes, labels and a legend (it fails outright at 20 mm).</summary>
    public const double MinimumWidthMm = 40, MinimumHeightMm = 30;

    /// <summary>Largest PNG side Chromium's canvas can draw.</summary>
    public const int MaximumPixels = 32767;

    /// <summary>
    /// The height a chart is exported at when none is asked for, at <paramref name="widthMm"/>: the chart's own aspect
    /// ratio (a tall confusion list stays tall; 0.62 of the width for a chart without a designed size), never below
    /// <see cref="MinimumHeightMm"/>, and for a chart that writes
    /// words in rows of cells (the compact confusion view) never so short that a row is lower than its words: the page
    /// keeps font sizes while the aspect ratio shrinks the rows with the width, and at one column the words would otherwise
    /// be left out; and tall enough to keep a legend of up to a dozen entries, which the print layout would leave out below
    /// three times its height.
    /// </summary>
    public static double DefaultHeightMm(GenericChart chart, double widthMm)
    {
        using var figure = System.Text.Json.JsonDocument.Parse(FigureHtml.Json(chart).Figure);
        var root = figure.RootElement;
        // A chart without a designed size gets a landscape page (the golden-ratio-ish 0.62 of the width).
        double aspect = root.TryGetProperty("layout", out var layout)
            && layout.TryGetProperty("width", out var w) && w.TryGetDouble(out double cssW) && cssW > 0
            && layout.TryGetProperty("height", out var h) && h.TryGetDouble(out double cssH) ? cssH / cssW : 0.62;
        double height = Math.Max(MinimumHeightMm, Math.Round(widthMm * aspect, 1));
        // A square plot (a confusion matrix) as wide as the page allows: its class names take as much room below it as
        // beside it, so the page is as high as it is wide, plus the title above and less the colour bar beside
        // (≈ 7 mm); at the screen's aspect ratio the matrix filled a third of a single column, its height the limit.
        bool square = layout.ValueKind == System.Text.Json.JsonValueKind.Object && layout.TryGetProperty("yaxis", out var yAxis)
            && yAxis.ValueKind == System.Text.Json.JsonValueKind.Object && yAxis.TryGetProperty("scaleanchor", out var anchor)
            && anchor.ValueKind == System.Text.Json.JsonValueKind.String && anchor.GetString() == "x";
        if (root.TryGetProperty("data", out var data))
            foreach (var trace in data.EnumerateArray())
            {
                if (!(trace.TryGetProperty("type", out var type) && type.ValueKind == System.Text.Json.JsonValueKind.String && type.GetString() == "heatmap")) continue;
                if (square) height = Math.Max(height, Math.Round(widthMm + 7, 1));
                if (!(trace.TryGetProperty("texttemplate", out _) && trace.TryGetProperty("y", out var y) && y.ValueKind == System.Text.Json.JsonValueKind.Array)) continue;
                double font = trace.TryGetProperty("textfont", out var tf) && tf.TryGetProperty("size", out var fs) && fs.TryGetDouble(out double f) ? f : 9;
                // A row a little higher than its words (the print layout leaves them out below font + 1 px), plus the
                // wrapped title and the turned column headers above the plot (≈ 160 CSS px at one column).
                double cssRows = 160 + (font + 3) * y.GetArrayLength();
                height = Math.Max(height, Math.Round(cssRows / 96 * 25.4, 1));
            }
        return LegendHeightMm(root, widthMm, height);
    }

    // The height that keeps a chart's legend of up to a dozen entries (a top-k chart's eight at one column) beside a plot as
    // tall as at <paramref name="heightMm"/>: the print layout leaves out a legend that would take more than a third of the
    // height, which at the aspect ratio's height lost the entries that tell per-image from per-disorder curves and the
    // published points apart; the page grows by the legend (so that the plots keep their height) and at least to three
    // times it. Measured as the layout measures (PrintLayoutScript: entry widths, rows of base + 8 px). Past a dozen entries
    // (a t-SNE map's classes) the caption names them better than a page grown for them.
    private static double LegendHeightMm(System.Text.Json.JsonElement root, double widthMm, double heightMm)
    {
        if (!root.TryGetProperty("data", out var data) || data.ValueKind != System.Text.Json.JsonValueKind.Array) return heightMm;
        var names = data.EnumerateArray()
            .Where(t => !(t.TryGetProperty("showlegend", out var s) && s.ValueKind == System.Text.Json.JsonValueKind.False)
                        && t.TryGetProperty("name", out var n) && n.ValueKind == System.Text.Json.JsonValueKind.String && n.GetString()!.Length > 0)
            .Select(t => t.GetProperty("name").GetString()!).ToList();
        bool asked = root.TryGetProperty("layout", out var layout) && layout.TryGetProperty("showlegend", out var show) ? show.ValueKind == System.Text.Json.JsonValueKind.True : names.Count > 1;
        if (!asked || names.Count is < 2 or > 12) return heightMm;
        double cssWidth = widthMm / 25.4 * 96;
        int font = cssWidth < 450 ? 9 : 11;
        int rows = 1;
        double used = 0;
        foreach (var name in names)
        {
            double width = 40 + 0.6 * (font - 1) * name.Length;
            if (width > cssWidth - 20) return heightMm;   // an entry wider than the page is left out whatever the height
            if (used > 0 && used + width > cssWidth - 20) { rows++; used = 0; }
            used += width;
        }
        // The layout keeps the legend where its estimate (entries packed in rows) is within a third of the height; plotly
        // lays a wrapped horizontal legend out in columns as wide as its widest entry, which the page must hold.
        double widest = 40 + 0.6 * (font - 1) * names.Max(n => n.Length);
        int columnRows = rows > 1 ? Math.Max(rows, (int)Math.Ceiling(names.Count / Math.Max(1, Math.Floor((cssWidth - 20) / widest)))) : 1;
        double estimated = rows * (font + 8) + 10, legend = columnRows * (font + 8) + 10, cssHeight = heightMm / 25.4 * 96;
        if (estimated <= cssHeight / 3) return heightMm;
        // (A pixel to spare for rounding.)
        return Math.Round(Math.Max(cssHeight + legend, 3 * estimated + 3) / 96.0 * 25.4, 1);
    }

    /// <summary>Refuses a size no figure can be drawn at, saying why, before the browser is asked.</summary>
    /// <exception cref="GestaltLabException">Too small, not positive, or too many pixels.</exception>
    public static void CheckSize(FigureSize size)
    {
        if (!(size.Dpi > 0) || !double.IsFinite(size.WidthMm) || !double.IsFinite(size.HeightMm))
            throw new GestaltLabException(FormattableString.Invariant($"figure size {size.WidthMm}×{size.HeightMm} mm at {size.Dpi} dpi is not a size"));
        // The side that is short named alone: a height nobody gave is the floor, and "30×30 mm" named one never asked for.
        if (size.WidthMm < MinimumWidthMm || size.HeightMm < MinimumHeightMm)
            throw new GestaltLabException(size.WidthMm < MinimumWidthMm && size.HeightMm >= MinimumHeightMm
                    ? FormattableString.Invariant($"figure width {size.WidthMm:0.#} mm is too small to lay a chart out")
                    : size.WidthMm >= MinimumWidthMm
                        ? FormattableString.Invariant($"figure height {size.HeightMm:0.#} mm is too small to lay a chart out")
                        : FormattableString.Invariant($"figure size {size.WidthMm:0.#}×{size.HeightMm:0.#} mm is too small to lay a chart out"),
                FormattableString.Invariant($"use at least {MinimumWidthMm:0} mm wide and {MinimumHeightMm:0} mm high (a journal's single column is 89 mm)"));
        if (size.PixelWidth > MaximumPixels)
            // The width alone: a height not chosen yet (each chart's own) would only confuse.
            throw new GestaltLabException(FormattableString.Invariant($"{size.WidthMm:0.#} mm wide at {size.Dpi} dpi is {size.PixelWidth} px, more than Chromium's canvas can draw ({MaximumPixels} px a side)"),
                "lower --dpi (journals ask for 300–600; 1200 for line art)");
        if (size.PixelHeight > MaximumPixels || (long)size.PixelWidth * size.PixelHeight > 268_435_456)
            throw new GestaltLabException(FormattableString.Invariant($"{size.WidthMm:0.#}×{size.HeightMm:0.#} mm at {size.Dpi} dpi is {size.PixelWidth}×{size.PixelHeight} px, more than Chromium's canvas can draw ({MaximumPixels} px a side, 268 megapixels)"),
                size.HeightMm > 2 * size.WidthMm ? "lower --height (a figure taller than a page is rarely meant), or --dpi" : "lower --dpi (journals ask for 300–600; 1200 for line art)");
    }

    /// <summary>Renders a chart to SVG (UTF-8 bytes), PDF, PNG or TIFF bytes. Launches a browser when none is given.</summary>
    /// <remarks><see cref="DrawAsync"/> also says what the print layout left out to fit the size.</remarks>
    public static async Task<byte[]> RenderAsync(GenericChart chart, FigureFormat format, FigureSize size,
        HeadlessBrowser? browser = null, CancellationToken cancellationToken = default) =>
        (await DrawAsync(chart, format, size, browser, cancellationToken)).Bytes;

    /// <summary>
    /// Renders a chart to SVG (UTF-8 bytes), PDF, PNG or TIFF bytes, with what the print layout left out to fit the size (a legend
    /// too long for the page, words in cells lower than their font, values over bars narrower than them, labels of a
    /// crowded category axis): a figure's caption has to make up for them, or a larger size keeps them. Launches a
    /// browser when none is given.
    /// </summary>
    public static async Task<RenderedFigure> DrawAsync(GenericChart chart, FigureFormat format, FigureSize size,
        HeadlessBrowser? browser = null, CancellationToken cancellationToken = default)
    {
        CheckSize(size);
        bool own = browser is null;
        browser ??= await HeadlessBrowser.LaunchAsync(cancellationToken: cancellationToken);
        try
        {
            var (page, errors, _, context) = await browser.NewPageAsync();
            try
            {
                await page.SetContentAsync(FigureHtml.Page("export", FigureHtml.ChartFragment(chart, "chart")),
                    new PageSetContentOptions { WaitUntil = WaitUntilState.Load, Timeout = 60_000 });
                cancellationToken.ThrowIfCancellationRequested();
                string dataUrl;
                string[] leftOut;
                try
                {
                var drawn = await page.EvaluateAsync<string[]>("""
                    async ([w, h, pw, ph, fmt]) => {
                      // What the layout leaves out to fit the page, in words for the figure's author.
                      const leftOut = [];
                    """ + PrintLayoutScript + """
                      const gd = document.querySelector('.gl-chart');
                      // Fixed trace ids (plotly draws random ones into class names and colour-bar ids): the same figure
                      // exported twice gives the same bytes.
                      await Plotly.react(gd, gd.data.map((t, i) => Object.assign({}, t, { uid: 'trace' + i })), gd.layout);
                      await Plotly.relayout(gd, printLayout(gd, w, h));
                      // The layout's estimate of a legend's rows is an estimate: plotly lays a horizontal legend out in
                      // columns as wide as its widest entry. One that runs past the page (or scrolls) is left out, said.
                      const legendBox = gd.querySelector('g.legend');
                      if (legendBox && gd._fullLayout.showlegend) {
                        const r = legendBox.getBoundingClientRect(), page = gd.getBoundingClientRect();
                        const bar = gd.querySelector('g.legend rect.scrollbar');
                        if (r.bottom > page.top + h + 1 || (bar && bar.getBoundingClientRect().height > 0)) {
                          await Plotly.relayout(gd, { showlegend: false });
                          leftOut.push('the legend (its entries would run past the bottom of the page)');
                        }
                      }
                      // A colour bar's words at the size of the axes' (its screen title was larger than the chart's own).
                      const scales = gd.data.map((t, i) => t.type === 'heatmap' ? i : -1).filter(i => i >= 0);
                      const base = w < 450 ? 9 : 11;
                      // Its title turned along the bar, the bar narrower and closer: the screen's title across the top took a
                      // fifth of a single column, which the matrix beside it needs.
                      if (scales.length > 0) await Plotly.restyle(gd, { 'colorbar.title.font.size': base, 'colorbar.tickfont.size': base - 1,
                        'colorbar.title.side': 'right', 'colorbar.thickness': 8, 'colorbar.xpad': 4 }, scales);
                      const ticks = categoryTicks(gd, base);
                      if (Object.keys(ticks).length > 0) await Plotly.relayout(gd, ticks);
                      crowding(gd, base);
                      const templates = cellText(gd, base);
                      if (templates) await Plotly.restyle(gd, { texttemplate: templates });
                      const fitted = cellWidths(gd, base);
                      if (fitted) await Plotly.restyle(gd, { text: fitted.texts }, fitted.traces);
                      if (barText(gd, base))
                        await Plotly.restyle(gd, { textposition: gd.data.map(t => t.type === 'bar' ? 'none' : t.textposition) });
                      await vectorCells(gd);
                      const svg = await Plotly.toImage(gd, { format: 'svg', width: w, height: h });
                      if (fmt === 'svg') return [svg, ...leftOut];
                      const img = new Image();
                      await new Promise((ok, fail) => { img.onload = ok; img.onerror = () => fail(new Error('the SVG did not load as an image')); img.src = svg; });
                      const c = document.createElement('canvas'); c.width = pw; c.height = ph;
                      const ctx = c.getContext('2d'); ctx.fillStyle = 'white'; ctx.fillRect(0, 0, pw, ph);
                      ctx.drawImage(img, 0, 0, pw, ph);
                      return [c.toDataURL('image/png'), ...leftOut];
                    }
                    """, new object[] { size.CssWidth, size.CssHeight, size.PixelWidth, size.PixelHeight, format is FigureFormat.Svg or FigureFormat.Pdf ? "svg" : "png" });
                dataUrl = drawn.Length > 0 ? drawn[0] : "";
                leftOut = drawn.Skip(1).Distinct().ToArray();
                }
                // A browser that closed under the page (killed, or stopped with the command) is not the chart's fault; Playwright
                // keeps that exception type internal, so it is told by name.
                catch (PlaywrightException e) when (e.GetType().Name != "TargetClosedException")
                {
                    throw new GestaltLabException(FormattableString.Invariant($"plotly.js could not draw the chart at {size.WidthMm:0.#}×{size.HeightMm:0.#} mm: {e.Message.Split('\n')[0]}"),
                        "try a larger --width or --height", e);
                }
                if (errors.Count > 0) throw new GestaltLabException($"the chart failed to render in Chromium: {errors[0]}");
                int comma = dataUrl.IndexOf(',');
                if (comma < 0) throw new GestaltLabException("plotly.js returned no image");
                if (format is FigureFormat.Svg or FigureFormat.Pdf)
                {
                    string header = dataUrl[..comma];
                    string svg = PhysicalSvg(header.EndsWith(";base64", StringComparison.Ordinal)
                        ? System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(dataUrl[(comma + 1)..]))
                        : Uri.UnescapeDataString(dataUrl[(comma + 1)..]), size);
                    if (format == FigureFormat.Svg) return new RenderedFigure(System.Text.Encoding.UTF8.GetBytes(svg), leftOut);
                    // What made it, without the build's commit: a figure kept in version control would change with every
                    // commit of GestaltLab.
                    string creator = $"GestaltLab figure export (plotly.js {FigureHtml.PlotlyJsVersion}, Chromium {browser.Version})";
                    return new RenderedFigure(await PrintAsync(page, svg, size, TitleOf(chart), creator), leftOut);
                }
                // A TIFF takes the canvas's pixels as they are (its colour decoding drops the opaque alpha PrintPng drops).
                var canvas = Convert.FromBase64String(dataUrl[(comma + 1)..]);
                return new RenderedFigure(format == FigureFormat.Tiff ? Tiff(canvas, size.Dpi) : PrintPng(canvas, size.Dpi), leftOut);
            }
            finally
            {
                await context.CloseAsync();
            }
        }
        finally
        {
            if (own) await browser.DisposeAsync();
        }
    }

    /// <summary>
    /// A page is not a screen: charts are designed for a browser window, and at a journal column's width their screen
    /// fonts, side legends and one-line titles leave a sliver of plot. For export the layout is adapted to the size:
    /// fonts of 6.75–8.25 pt (9–11 CSS px, none under 6 pt), the legend in rows under the plot (none past 40 entries), long titles wrapped, axes
    /// that make room for their labels, every category of a short category axis labelled, and small margins (captions
    /// carry the rest).
    /// </summary>
    private const string PrintLayoutScript = """
        const printLayout = function (gd, w, h) {
          const L = gd.layout || {};
          const base = w < 450 ? 9 : 11;
          const up = {
            'font.size': base,
            'margin.l': 10, 'margin.r': 10, 'margin.b': 10, 'margin.autoexpand': true,
            'legend.orientation': 'h', 'legend.x': 0, 'legend.xanchor': 'left',
            'legend.yref': 'container', 'legend.y': 0, 'legend.yanchor': 'bottom',
            'legend.font.size': base - 1, 'legend.itemwidth': 30, 'legend.tracegroupgap': 0,
            // Its title too (plotly sizes it from the chart's own font otherwise: 10 px in a single column).
            'legend.title.font.size': base - 1,
          };
          // Past a few dozen entries (a t-SNE map of 216 syndromes) a legend cannot be read on paper: the caption says
          // what the colours are.
          // Likewise a legend that would not fit in a third of the height: Plotly clips it without a word.
          const names = (gd.data || []).filter(t => t.showlegend !== false && t.name).map(t => String(t.name));
          let rows = names.length > 0 ? 1 : 0, used = 0;
          for (const n of names) {
            const width = 40 + 0.6 * (base - 1) * n.length;
            if (used > 0 && used + width > w - 20) { rows++; used = 0; }
            used += width;
          }
          // An entry wider than the figure would be cut at its edge, mid-word (an AUC with its interval, say).
          const tooWide = names.find(n => 40 + 0.6 * (base - 1) * n.length > w - 20);
          if (names.length > 40 || rows * (base + 8) + 10 > h / 3 || tooWide) {
            up['showlegend'] = false;
            // Said only of a legend the chart would show (plotly shows one for two or more named traces unless told otherwise).
            if (L.showlegend === true || (L.showlegend !== false && names.length > 1))
              leftOut.push(names.length > 40
                ? `the legend (${names.length} entries: more than 40 cannot be read in print)`
                : tooWide ? `the legend ("${tooWide}" is wider than the figure)`
                : `the legend (${names.length} entries in ${rows} rows would take more than a third of the height)`);
          }
          const title = L.title && L.title.text;
          if (title) {
            // Wrap at word boundaries to the width (average glyph ≈ 0.55 em).
            const perLine = Math.max(12, Math.floor((w - 20) / ((base + 1) * 0.55)));
            // A line break the chart asks for (a subtitle) is kept; markup (<sub>…</sub>) takes no width.
            const lines = [];
            const visible = t => t.replace(/<[^>]+>/g, '').length;
            // A subtitle (<sub>…</sub>, a line of its own) prints at 8 px (6 pt) at the least: plotly draws <sub> at 70 %
            // of the title, 7 px in a single column, below what journals accept — and it carries the n and what the
            // whiskers mean. Each of its wrapped lines gets its own size, so that no markup spans a line break.
            const small = Math.max(8, base - 1);
            for (const raw of String(title).split('<br>')) {
              const sub = /^\s*<sub>(.*)<\/sub>\s*$/.exec(raw);
              const part = sub ? sub[1] : raw;
              const room = sub ? Math.floor(perLine * (base + 1) / small) : perLine;
              const first = lines.length;
              for (const word of part.split(' ')) {
                const last = lines.length - 1;
                if (last >= first && visible(lines[last] + ' ' + word) <= room) lines[last] += ' ' + word; else lines.push(word);
              }
              if (sub) for (let i = first; i < lines.length; i++) lines[i] = `<span style="font-size:${small}px">${lines[i]}</span>`;
            }
            up['title.text'] = lines.join('<br>');
            up['title.font.size'] = base + 1;
            // From the page's left margin, as wide as it was wrapped for: from the plot's edge (after long axis labels) a
            // title wrapped to the page ran off its right side.
            up['title.x'] = 10 / w; up['title.xanchor'] = 'left'; up['title.xref'] = 'container';
            // At the top of the page: plotly centres it in the top margin otherwise, over an axis drawn along the top.
            // (Anchored at its middle: plotly anchors a wrapped title's 'top' at its first line, and the rest rises above.)
            up['title.y'] = 1 - (6 + (base + 1) * 1.3 * lines.length / 2) / h; up['title.yanchor'] = 'middle'; up['title.yref'] = 'container';
            up['margin.t'] = Math.round((base + 1) * 1.5 * lines.length + 12);
          } else up['margin.t'] = 10;
          // An axis drawn along the top needs its labels' room above the plot too, under the title.
          // (As long as its longest label: they may be turned on end, like the compact confusion view's column headers.)
          if (Object.keys(L).some(k => /^xaxis\d*$/.test(k) && L[k] && L[k].side === 'top')) {
            const labels = (gd.data || []).flatMap(t => (t.x || []).map(v => String(v)));
            const longest = Math.max(4, ...labels.map(v => v.length));
            // plotly turns them when they do not fit side by side over the plot: the page less the row labels (and the
            // axis title beside them), a colour bar and the margins.
            const rowLabels = (gd.data || []).flatMap(t => (t.y || []).map(v => String(v)));
            const rowRoom = 0.6 * (base - 1) * Math.max(0, ...rowLabels.map(v => v.length)) + base * 2;
            const scaleRoom = (gd.data || []).some(t => t.type === 'heatmap' && t.showscale !== false) ? 90 : 0;
            const plotWidth = Math.max(w / 4, w - rowRoom - scaleRoom - 20);
            const turned = 0.6 * (base - 1) * longest > plotWidth / Math.max(1, new Set(labels).size);
            up['margin.t'] += Math.round(turned ? Math.max(base * 5, 0.6 * (base - 1) * longest + base * 2) : base * 5);
          }
          // Side-by-side panels: the right panel's y-axis labels need room that automargin does not make between panels.
          const x2 = L.xaxis2 && L.xaxis2.domain, x1 = L.xaxis && L.xaxis.domain;
          if (x1 && x2 && x1[1] < x2[0]) {
            const gap = Math.min(0.3, 70 / w);
            const mid = (x1[1] + x2[0]) / 2;
            up['xaxis.domain'] = [x1[0], mid - gap / 2];
            up['xaxis2.domain'] = [mid + gap / 2, x2[1]];
          }
          for (const key of Object.keys(L).filter(k => /^[xy]axis\d*$/.test(k))) {
            up[key + '.automargin'] = true;
            up[key + '.title.font.size'] = base;
            up[key + '.tickfont.size'] = base - 1;
          }
          // Drawn at the page size, so that what is measured next (axis lengths after the margins) is what prints.
          up['width'] = w; up['height'] = h;
          // Bar labels that plotly shrinks to fit (outside a short bar) stay readable in print: 8 px = 6 pt at the least,
          // the smallest most journals accept (Nature's 5 pt aside). (A floor above a chart's own label size would
          // enlarge its labels: plotly raises them to it.)
          up['uniformtext.minsize'] = 8; up['uniformtext.mode'] = 'show';
          return up;
        };
        // A category axis (or a heatmap's) labels every category while the labels fit at a readable size (8 px = 6 pt and up),
        // measured on the axis as drawn at the page size (a square matrix beside a colour bar is much shorter than the
        // figure); else plotly picks which to label.
        const categoryTicks = function (gd, base) {
          const L = gd.layout || {}, F = gd._fullLayout || {};
          const up = {};
          for (const key of Object.keys(L).filter(k => /^[xy]axis\d*$/.test(k))) {
            if (!((L[key] || {}).type === 'category' || (gd.data || []).some(t => t.type === 'heatmap'))) continue;
            const n = Math.max(1, ...(gd.data || []).map(t => ((key[0] === 'x' ? t.x : t.y) || []).length));
            const length = F[key] && F[key]._length;
            if (!length) continue;
            if (n <= 60 && length / n >= 8) { up[key + '.dtick'] = 1; up[key + '.tickfont.size'] = Math.min(base - 1, Math.floor(length / n)); }
            // Too many to label each: every k-th, so that labels never overprint one another — said in left_out, also
            // where the chart did not ask for every label (plotly would thin a heatmap's class names on its own, silently).
            else if ((L[key] || {}).dtick === 1
                     || (gd.data || []).some(t => ((key[0] === 'x' ? t.xaxis : t.yaxis) || key[0]) === key[0] + key.slice(5)
                                                 && ((key[0] === 'x' ? t.x : t.y) || []).some(v => typeof v === 'string'))) {
              up[key + '.dtick'] = Math.ceil(8 * n / length);
              if (up[key + '.dtick'] > 1) leftOut.push(`all but one in ${up[key + '.dtick']} of the ${key[0]} axis's ${n} category labels`);
            }
          }
          return up;
        };
        // What no layout change here can mend at the size asked, said so that it is not found on the printed page: rows
        // labelled one by one (a forest plot's groups) closer than the font overprint each other, and an axis title longer
        // than its axis runs over the words beside it. Measured on the axes as drawn at the page size.
        const crowding = function (gd, base) {
          const L = gd.layout || {}, F = gd._fullLayout || {};
          for (const key of Object.keys(L).filter(k => /^[xy]axis\d*$/.test(k))) {
            const length = F[key] && F[key]._length;
            if (!length) continue;
            const vals = (L[key] || {}).tickvals;
            if (key[0] === 'y' && Array.isArray(vals) && Array.isArray((L[key] || {}).ticktext) && vals.length > 1 && length / vals.length < base - 1) {
              // Closer than their font (base − 1): a row's pitch of the font size still reads (the single-column default).
              const mm = Math.ceil((F.height - length + vals.length * (base + 1)) * 25.4 / 96);
              leftOut.push(`room for its ${vals.length} labelled rows (they overprint one another; about ${mm} mm of height holds them)`);
            }
            // The title as drawn: only one cut at the page's edge or lying on other words is said (a title longer than its
            // axis that has the room beside it is not — a ROC's "false positive rate (1 − specificity)" under a square plot).
            const node = gd.querySelector(`.g-${key[0]}${key.slice(5)}title text`);
            const text = node ? node.textContent.trim() : '';
            if (!text) continue;
            const r = node.getBoundingClientRect(), page = gd.getBoundingClientRect();
            const cut = r.left < page.left - 1 || r.right > page.left + w + 1 || r.top < page.top - 1 || r.bottom > page.top + h + 1;
            const onWords = !cut && Array.from(gd.querySelectorAll('text')).some(t => {
              if (t === node || node.contains(t) || t.contains(node) || !t.textContent.trim()) return false;
              const b = t.getBoundingClientRect();
              return b.width > 0 && b.left < r.right - 1 && b.right > r.left + 1 && b.top < r.bottom - 1 && b.bottom > r.top + 1;
            });
            if (cut || onWords)
              leftOut.push(`room for the ${key[0]} axis title ("${text}" ${cut ? 'runs past the edge of the page' : 'runs over the words beside it'})`);
          }
        };
        // Words written in heatmap cells (the compact confusion view) are left out where the cells are shorter than the
        // font: overprinted, they cannot be read; the colours and the hover text remain.
        const cellText = function (gd, base) {
          const F = gd._fullLayout || {};
          const hide = (gd.data || []).map(t => {
            if (t.type !== 'heatmap' || !t.texttemplate) return false;
            const rows = (t.y || []).length, ax = F['yaxis' + ((t.yaxis || 'y').slice(1))];
            const font = (t.textfont && t.textfont.size) || base;
            return rows > 0 && ax && ax._length / rows < font + 1;
          });
          if (!hide.some(x => x)) return null;
          leftOut.push('the words in the cells (the rows are lower than their font)');
          return hide.map((x, i) => x ? '' : gd.data[i].texttemplate);
        };
        // Words wider than their cell (a long syndrome name in a narrow column) would run into the next cell: shortened
        // with an ellipsis to what fits (average glyph ≈ 0.6 em), or left out where not even a few letters fit.
        const cellWidths = function (gd, base) {
          const F = gd._fullLayout || {};
          const traces = [], texts = [];
          (gd.data || []).forEach((t, i) => {
            if (t.type !== 'heatmap' || !t.texttemplate || !Array.isArray(t.text)) return;
            const cols = (t.x || []).length, ax = F['xaxis' + ((t.xaxis || 'x').slice(1))];
            if (!(cols > 0 && ax && ax._length)) return;
            const font = (t.textfont && t.textfont.size) || base;
            const fit = Math.floor((ax._length / cols - 4) / (0.6 * font));
            let changed = false;
            const text = t.text.map(row => row.map(v => {
              const s = String(v == null ? '' : v);
              if (s.length <= fit) return s;
              changed = true;
              return fit >= 4 ? s.slice(0, fit - 1) + '…' : '';
            }));
            if (changed) {
              traces.push(i); texts.push(text);
              leftOut.push(fit >= 4 ? 'the ends of words wider than their cells (shortened with an ellipsis)'
                                    : 'words wider than their cells (too narrow for even a few letters)');
            }
          });
          return traces.length > 0 ? { traces, texts } : null;
        };
        // plotly draws a heatmap as one embedded raster at the screen's resolution (a 30-class matrix is ~400 px even in
        // the SVG), which prints blurred. A heatmap of square cells without words in them (the confusion matrix) is drawn
        // instead as one square marker per non-empty cell, coloured through the same colour scale: vector in the SVG,
        // sharp at any dpi. Zero cells are left to the white background, as the scale's white end draws them.
        const vectorCells = async function (gd) {
          const L = gd.layout || {};
          // A matrix of named categories only: a smoothed map over a picture (occlusion sensitivity) has no category names and
          // signed values, and is meant to look continuous.
          const i = (gd.data || []).findIndex(t => t.type === 'heatmap' && !t.texttemplate && Array.isArray(t.z) && Array.isArray(t.x) && Array.isArray(t.y)
                                                   && !(t.zsmooth && t.zsmooth !== false));
          if (i < 0 || !L.yaxis || L.yaxis.scaleanchor !== 'x') return;
          const t = gd.data[i], xs = [], ys = [], cs = [], cd = [];
          let zmax = t.zmax;
          t.z.forEach((row, r) => row.forEach((v, c) => {
            if (v === null || v === undefined || !(v > 0)) return;
            xs.push(t.x[c]); ys.push(t.y[r]); cs.push(v); cd.push(t.customdata ? t.customdata[r][c] : null);
            if (t.zmax === null || t.zmax === undefined) zmax = Math.max(zmax || 0, v);
          }));
          const size = () => {
            const F = gd._fullLayout;
            return Math.max(1, Math.min(F.xaxis._length / t.x.length, F.yaxis._length / t.y.length) - (t.xgap ? 1 : 0));
          };
          const cells = {
            type: 'scatter', mode: 'markers', x: xs, y: ys, customdata: cd, uid: t.uid, showlegend: false,
            hovertemplate: t.hovertemplate,
            marker: { symbol: 'square', size: size(), color: cs, colorscale: t.colorscale, cmin: t.zmin || 0, cmax: zmax || 1,
                      showscale: true, colorbar: t.colorbar, line: { width: 0 } },
          };
          const data = gd.data.slice(); data[i] = cells;
          // Every category keeps its place, also one whose row or column is empty.
          const layout = Object.assign({}, gd.layout, {
            xaxis: Object.assign({}, L.xaxis, { categoryorder: 'array', categoryarray: t.x, range: [-0.5, t.x.length - 0.5], autorange: false }),
            yaxis: Object.assign({}, L.yaxis, { categoryorder: 'array', categoryarray: t.y, range: [t.y.length - 0.5, -0.5], autorange: false }),
          });
          await Plotly.react(gd, data, layout);
          // The colour bar of a marker scale may take other room than the heatmap's: size the squares on the final axes.
          await Plotly.restyle(gd, { 'marker.size': size() }, [i]);
        };
        // Values written over bars ("67%") are left out where a bar is narrower than its label: side by side at the
        // smallest print size they overprint their neighbours; the axis still gives the values.
        const barText = function (gd, base) {
          const F = gd._fullLayout || {};
          const bars = (gd.data || []).filter(t => t.type === 'bar' && (t.text || t.texttemplate) && t.textposition !== 'none');
          if (bars.length === 0 || !F.xaxis) return false;
          const slots = Math.max(...bars.map(t => (t.x || []).length)) * bars.length;
          // A template such as "%{y:.0%}" writes 3 to 4 characters ("79%", "100%").
          const longest = Math.max(...bars.flatMap(t => t.text ? [].concat(t.text).map(v => String(v).length) : [3.5]));
          // At the smallest size they may be drawn: shrunk to fit, down to the 8 px floor (uniformtext.minsize).
          const crowded = F.xaxis._length * 0.8 / slots < 0.55 * Math.max(8, base - 2) * longest + 2;
          if (crowded) leftOut.push('the values written over the bars (the bars are narrower than their labels)');
          return crowded;
        };
        """;

    /// <summary>
    /// Prints the figure's SVG (already sized in millimetres) as a one-page PDF of exactly that size. Printed from the SVG
    /// rather than from plotly's live chart, so that the PDF shows what the SVG shows (plotly's hover layers and
    /// screen-only parts are not in it).
    /// </summary>
    private static async Task<byte[]> PrintAsync(IPage page, string svg, FigureSize size, string title, string creator)
    {
        string Num(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        string width = Num(size.WidthMm) + "mm", height = Num(size.HeightMm) + "mm";
        // The SVG inline (an <img> would be drawn as a picture of it in some versions); overflow hidden, so that rounding
        // the millimetres to device units never spills a sliver onto a second page.
        string html = $$"""
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>{{System.Net.WebUtility.HtmlEncode(title)}}</title><style>
            @page { size: {{width}} {{height}}; margin: 0 }
            html, body { margin: 0; padding: 0; background: white; width: {{width}}; height: {{height}}; overflow: hidden }
            svg { display: block }
            </style></head><body>{{svg[svg.IndexOf("<svg", StringComparison.Ordinal)..]}}</body></html>
            """;
        try
        {
            await page.SetContentAsync(html, new PageSetContentOptions { WaitUntil = WaitUntilState.Load, Timeout = 60_000 });
            var pdf = await page.PdfAsync(new PagePdfOptions
            {
                Width = width, Height = height, PrintBackground = true, PageRanges = "1",
                Margin = new Margin { Top = "0", Right = "0", Bottom = "0", Left = "0" },
            });
            return FinishPdf(pdf, size, creator);
        }
        catch (PlaywrightException e) when (e.GetType().Name != "TargetClosedException")
        {
            throw new GestaltLabException($"Chromium could not print the figure as PDF: {e.Message.Split('\n')[0]}",
                "export SVG instead (--format svg) and convert it, or use the system's chromium package", e);
        }
    }

    /// <summary>The chart's title in plain words (what a PDF viewer shows as the document's), or "GestaltLab figure".</summary>
    private static string TitleOf(GenericChart chart)
    {
        using var figure = System.Text.Json.JsonDocument.Parse(FigureHtml.Json(chart).Figure);
        static string? Text(System.Text.Json.JsonElement e) => e.ValueKind == System.Text.Json.JsonValueKind.String ? e.GetString() : null;
        var root = figure.RootElement;
        var t = root.ValueKind == System.Text.Json.JsonValueKind.Object && root.TryGetProperty("layout", out var layout)
                && layout.ValueKind == System.Text.Json.JsonValueKind.Object && layout.TryGetProperty("title", out var found) ? found : default;
        string? title = Text(t) ?? (t.ValueKind == System.Text.Json.JsonValueKind.Object && t.TryGetProperty("text", out var text) ? Text(text) : null);
        // As words: a subtitle after a dash, entities (&#183;) decoded.
        title = title is null ? null : FigureHtml.PlainText(title);
        return string.IsNullOrEmpty(title) ? "GestaltLab figure" : title;
    }

    /// <summary>
    /// Finishes the PDF Chromium printed, so that it is what a journal's checks expect and the same figure gives the same
    /// bytes: Chromium rounds the paper up (183 mm became 183.13 mm, 85.4 mm 85.68 mm) — the figure is drawn from the
    /// top left at its exact size, so the page's box is set to exactly the figure, cutting off only a blank strip at its
    /// right and bottom; the time it was printed (and any document id drawn from it) is removed, the id made a hash of
    /// the content; its creator is GestaltLab (Chromium's user-agent string said nothing of what made the figure); and the
    /// subset tags of its embedded fonts, always AAAAAA, are drawn from the content, so that figures merged into one
    /// document do not carry different subsets under one name. A PDF whose structure this does not know (no classic
    /// cross-reference table: another Chromium) is left as it was printed.
    /// </summary>
    internal static byte[] FinishPdf(byte[] pdf, FigureSize size, string creator)
    {
        if (pdf.Length < 8 || !pdf.AsSpan().StartsWith("%PDF-"u8))
            throw new GestaltLabException("Chromium returned a PDF that is not valid");
        var latin1 = System.Text.Encoding.Latin1;
        string text = latin1.GetString(pdf);
        var edits = new List<(int Index, int Length, byte[] With)>();
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, @"\s*/(CreationDate|ModDate)\s*\((?:[^()\\]|\\.)*\)"))
            edits.Add((m.Index, m.Length, []));
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(text, @"(?<=/Creator\s*)\((?:[^()\\]|\\.)*\)"))
            edits.Add((m.Index, m.Length, latin1.GetBytes("(" + PdfText(creator) + ")")));
        var boxes = System.Text.RegularExpressions.Regex.Matches(text, @"(?<=/MediaBox\s*\[)\s*0\s+0\s+([0-9.]+)\s+([0-9.]+)\s*(?=\])");
        if (boxes.Count == 1)
        {
            double pageW = double.Parse(boxes[0].Groups[1].Value, CultureInfo.InvariantCulture), pageH = double.Parse(boxes[0].Groups[2].Value, CultureInfo.InvariantCulture);
            double w = size.WidthMm / 25.4 * 72, h = size.HeightMm / 25.4 * 72;
            // Only ever cut: a page Chromium made smaller than the figure (not seen) keeps what it drew.
            if (pageW >= w - 0.01 && pageH >= h - 0.01)
                edits.Add((boxes[0].Index, boxes[0].Length, latin1.GetBytes(string.Create(CultureInfo.InvariantCulture, $"0 {pageH - h:0.###} {w:0.###} {pageH:0.###}"))));
        }
        if (EditPdf(pdf, edits) is not { } edited) return pdf;
        // Then, in place (as many bytes): the id and the subset tags, from a hash of the rest.
        text = latin1.GetString(edited);
        var ids = System.Text.RegularExpressions.Regex.Matches(text, @"(?<=/ID\s*\[\s*<)[0-9A-Fa-f]+(?=>)|(?<=/ID\s*\[\s*<[0-9A-Fa-f]+>\s*<)[0-9A-Fa-f]+(?=>)");
        foreach (System.Text.RegularExpressions.Match m in ids) edited.AsSpan(m.Index, m.Length).Fill((byte)'0');
        var tags = System.Text.RegularExpressions.Regex.Matches(text, @"(?<=/(?:BaseFont|FontName)\s*/)[A-Z]{6}(?=\+([^\s/\[\]<>()]+))");
        foreach (System.Text.RegularExpressions.Match m in tags) edited.AsSpan(m.Index, m.Length).Fill((byte)'A');
        byte[] hash = System.Security.Cryptography.SHA256.HashData(edited);
        string hex = Convert.ToHexString(hash);
        foreach (System.Text.RegularExpressions.Match m in ids)
            latin1.GetBytes(string.Concat(Enumerable.Repeat(hex, m.Length / hex.Length + 1))[..m.Length]).CopyTo(edited, m.Index);
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        // One tag per subset: keyed on the tag and the face it prefixes (Chromium tags every face AAAAAA, a fallback or bold
        // face beside the regular one included).
        foreach (System.Text.RegularExpressions.Match m in tags)
        {
            string subset = m.Value + "+" + m.Groups[1].Value;
            if (!renamed.TryGetValue(subset, out var tag))
            {
                var of = System.Security.Cryptography.SHA256.HashData([.. hash, .. latin1.GetBytes(subset)]);
                renamed[subset] = tag = new string(of.Take(6).Select(b => (char)('A' + b % 26)).ToArray());
            }
            latin1.GetBytes(tag).CopyTo(edited, m.Index);
        }
        return edited;
    }

    /// <summary>A PDF literal string's text: backslashes and parentheses escaped, Latin-1 only (others become '?').</summary>
    private static string PdfText(string text) =>
        new string(text.Select(c => c <= '\u00FF' ? c : '?').ToArray()).Replace("\\", "\\\\").Replace("(", "\\(").Replace(")", "\\)");

    /// <summary>
    /// Applies <paramref name="edits"/> (spans of the file before its cross-reference table, none overlapping, each with
    /// what replaces it) to a PDF with a classic cross-reference table of one subsection, as Chromium (Skia) writes it,
    /// moving the table's offsets and <c>startxref</c> with them. Null when the file is not of that shape.
    /// </summary>
    internal static byte[]? EditPdf(byte[] pdf, IReadOnlyList<(int Index, int Length, byte[] With)> edits)
    {
        var latin1 = System.Text.Encoding.Latin1;
        string text = latin1.GetString(pdf);
        var start = System.Text.RegularExpressions.Regex.Match(text, @"startxref\s+(\d+)\s+%%EOF\s*$");
        if (!start.Success || !int.TryParse(start.Groups[1].Value, CultureInfo.InvariantCulture, out int xref) || xref >= start.Index) return null;
        var table = System.Text.RegularExpressions.Regex.Match(text[xref..start.Index], @"\Axref\r?\n0 (\d+)\r?\n");
        if (!table.Success || !int.TryParse(table.Groups[1].Value, CultureInfo.InvariantCulture, out int count)) return null;
        int entries = xref + table.Length, after = entries + 20 * count;
        if (after > start.Index || !text.AsSpan(after, start.Index - after).TrimStart().StartsWith("trailer", StringComparison.Ordinal)) return null;
        // An incremental update (an earlier table named by /Prev) has offsets this does not move.
        if (text.AsSpan(after, start.Index - after).Contains("/Prev", StringComparison.Ordinal)) return null;
        var ordered = edits.OrderBy(e => e.Index).ToList();
        for (int i = 0; i < ordered.Count; i++)
            if (ordered[i].Index + ordered[i].Length > xref || (i > 0 && ordered[i - 1].Index + ordered[i - 1].Length > ordered[i].Index)) return null;
        long Moved(long offset) => offset + ordered.Where(e => e.Index < offset).Sum(e => (long)e.With.Length - e.Length);
        using var output = new MemoryStream(pdf.Length + 256);
        int pos = 0;
        foreach (var (index, length, with) in ordered)
        {
            output.Write(pdf, pos, index - pos);
            output.Write(with);
            pos = index + length;
        }
        output.Write(pdf, pos, entries - pos);
        for (int i = 0; i < count; i++)
        {
            string entry = text.Substring(entries + 20 * i, 20);
            if (!System.Text.RegularExpressions.Regex.IsMatch(entry, @"\A\d{10} \d{5} [nf](?: \r| \n|\r\n)\z")) return null;
            if (entry[17] == 'n') entry = Moved(long.Parse(entry[..10], CultureInfo.InvariantCulture)).ToString("D10", CultureInfo.InvariantCulture) + entry[10..];
            output.Write(latin1.GetBytes(entry));
        }
        output.Write(pdf, after, start.Index - after);
        output.Write(latin1.GetBytes(string.Create(CultureInfo.InvariantCulture, $"startxref\n{Moved(xref)}\n%%EOF\n")));
        return output.ToArray();
    }

    /// <summary>
    /// A TIFF of <paramref name="png"/>'s pixels, LZW-compressed (lossless, what PLOS and most journals' checks take),
    /// with <paramref name="dpi"/> as its resolution in pixels per inch.
    /// </summary>
    internal static byte[] Tiff(byte[] png, int dpi)
    {
        using var pixels = OpenCvSharp.Cv2.ImDecode(png, OpenCvSharp.ImreadModes.Color);
        if (pixels.Empty()) throw new GestaltLabException("the figure's PNG could not be read back to write it as TIFF");
        // LZW is 5 in libtiff's numbering; resolution unit 2 is the inch.
        OpenCvSharp.Cv2.ImEncode(".tif", pixels, out byte[] tiff,
                new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.TiffCompression, 5),
                new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.TiffResUnit, 2),
                new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.TiffXDpi, dpi),
                new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.TiffYDpi, dpi));
        if (tiff.Length == 0) throw new GestaltLabException("OpenCV could not write the figure as TIFF");
        return tiff;
    }

    /// <summary>Gives the root <c>svg</c> element a millimetre size and a viewBox, so it prints at the intended width.</summary>
    private static string PhysicalSvg(string svg, FigureSize size)
    {
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        int end = start < 0 ? -1 : svg.IndexOf('>', start);
        if (start < 0 || end < 0) throw new GestaltLabException("plotly.js returned something that is not SVG");
        string tag = svg[start..end];
        string Num(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        tag = System.Text.RegularExpressions.Regex.Replace(tag, @"\s(width|height|viewBox)=""[^""]*""", "");
        tag += $" width=\"{Num(size.WidthMm)}mm\" height=\"{Num(size.HeightMm)}mm\" viewBox=\"0 0 {Num(size.CssWidth)} {Num(size.CssHeight)}\"";
        string body = svg[..start] + tag + svg[end..];
        // plotly.js names its clip paths and defs after a random id per plot: the same figure exported twice would differ
        // in those names alone. One fixed id makes a re-export byte-identical (a figure diffed in version control).
        var uid = System.Text.RegularExpressions.Regex.Match(body, @"\bdefs-([0-9a-f]{6})\b");
        if (uid.Success)
            body = System.Text.RegularExpressions.Regex.Replace(body, $@"(?<=[A-Za-z-]){uid.Groups[1].Value}(?![0-9a-f])", "000000");
        return body.StartsWith("<?xml", StringComparison.Ordinal) ? body : "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body;
    }

    /// <summary>
    /// A PNG as print wants it: without an alpha channel (Chromium's canvas gives one, always opaque, that some journals'
    /// checks refuse), marked sRGB (the colours it was drawn in; an editor or a journal's conversion to CMYK then starts
    /// from the right ones) and carrying its dpi in a pHYs chunk, so image editors and journals read the intended size.
    /// </summary>
    internal static byte[] PrintPng(byte[] png, int dpi)
    {
        if (png.Length < 33 || png[1] != (byte)'P' || png[2] != (byte)'N' || png[3] != (byte)'G')
            throw new GestaltLabException("Chromium returned a PNG that is not valid");
        // Colour type 6 (RGBA): the alpha dropped. The canvas is filled with white before the chart is drawn on it, so
        // every pixel is opaque and its colour is what prints.
        if (png[25] == 6)
        {
            using var withAlpha = OpenCvSharp.Cv2.ImDecode(png, OpenCvSharp.ImreadModes.Unchanged);
            if (withAlpha.Empty()) throw new GestaltLabException("the figure's PNG could not be read back");
            using var colour = withAlpha.CvtColor(OpenCvSharp.ColorConversionCodes.BGRA2BGR);
            OpenCvSharp.Cv2.ImEncode(".png", colour, out png, new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.PngCompression, 6));
        }
        uint ppm = (uint)Math.Round(dpi / 0.0254);
        var chunk = new byte[4 + 4 + 9 + 4 + 4 + 4 + 1 + 4];
        WriteBE(chunk, 0, 9);
        "pHYs"u8.CopyTo(chunk.AsSpan(4));
        WriteBE(chunk, 8, ppm);
        WriteBE(chunk, 12, ppm);
        chunk[16] = 1; // unit: metre
        WriteBE(chunk, 17, Crc32(chunk.AsSpan(4, 13)));
        WriteBE(chunk, 21, 1);
        "sRGB"u8.CopyTo(chunk.AsSpan(25));
        chunk[29] = 0; // rendering intent: perceptual
        WriteBE(chunk, 30, Crc32(chunk.AsSpan(25, 5)));
        using var output = new MemoryStream(png.Length + chunk.Length);
        output.Write(png, 0, 8);
        int pos = 8;
        bool inserted = false;
        while (pos + 8 <= png.Length)
        {
            int len = (png[pos] << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
            string type = System.Text.Encoding.ASCII.GetString(png, pos + 4, 4);
            int total = 12 + len;
            if (type is not ("pHYs" or "sRGB")) output.Write(png, pos, total);
            if (type == "IHDR" && !inserted) { output.Write(chunk); inserted = true; }
            pos += total;
        }
        return output.ToArray();
    }

    /// <summary>Writes <paramref name="v"/> big-endian at <paramref name="o"/> (PNG's byte order).</summary>
    internal static void WriteBE(byte[] b, int o, uint v)
    {
        b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v;
    }

    /// <summary>The CRC-32 of a PNG chunk (type and data), as the PNG specification defines it.</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte x in data)
        {
            crc ^= x;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>Width and height of a PNG from its header.</summary>
    public static (int Width, int Height) PngSize(ReadOnlySpan<byte> png)
    {
        if (png.Length < 24 || png[0] != 0x89 || png[1] != (byte)'P' || png[2] != (byte)'N' || png[3] != (byte)'G')
            throw new GestaltLabException("not a PNG file");
        int w = (png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19];
        int h = (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23];
        return (w, h);
    }
}

/// <summary>A figure drawn for print, and what its layout left out to fit the size.</summary>
/// <param name="Bytes">SVG (UTF-8) or PNG bytes.</param>
/// <param name="LeftOut">
/// What the print layout left out or shortened to fit (e.g. "the legend (12 entries …)"), each once; empty when the
/// figure shows everything the screen chart does. A caption has to make up for these, or a larger size keeps them.
/// </param>
public sealed record RenderedFigure(byte[] Bytes, IReadOnlyList<string> LeftOut);
