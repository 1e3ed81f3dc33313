using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;
using Plotly.NET;
using static GestaltLab.Figures.PlotlyBuilder;

namespace GestaltLab.Figures;

/// <summary>Options of <see cref="Charts.Confusion(int[,], IReadOnlyList{string}, ConfusionOptions?)"/>.</summary>
public sealed record ConfusionOptions
{
    /// <summary>Axis order of the classes.</summary>
    public ClassOrder Order { get; init; } = ClassOrder.Similarity;
    /// <summary>Colour by row fraction (true) or by raw count (false). Hover always shows both.</summary>
    public bool RowNormalise { get; init; } = true;
    /// <summary>Leave out classes with no true and no predicted image (keeps 216-class plots about the test set).</summary>
    public bool DropEmpty { get; init; } = true;
    /// <summary>Chart title.</summary>
    public string Title { get; init; } = "Confusion matrix (rows: true class, normalised)";
}

/// <summary>
/// The figures of a GestaltLab study as Plotly.NET charts: confusion matrix, compact confusion view, t-SNE map, ROC with
/// bootstrap band, top-k curve beside published results, training curves, per-region bars, occlusion heat map and
/// images. Every chart is a plain <see cref="GenericChart"/>: display it in a notebook, save it offline with
/// <see cref="FigureHtml.Save"/>, export it for print with <see cref="FigureExport"/>, or place it in a <see cref="Report"/>.
/// </summary>
public static class Charts
{
    static Charts() => FigureHtml.UseOfflineDefaults();

    /// <summary>
    /// The fonts charts ask for, as CSS lists them: an SVG names the list and leaves the choice to what opens it, a PNG
    /// is drawn in whichever the machine has (<see cref="HeadlessBrowser.FontsForAsync"/> says which).
    /// </summary>
    public const string FontFamily = "Helvetica, Arial, sans-serif";

    /// <summary>
    /// The chart with another title, set as the figures set theirs (the chart itself is left as it was). Each chart method
    /// also takes its title (<c>title:</c>, or <see cref="ConfusionOptions.Title"/>); this retitles one already made.
    /// </summary>
    public static GenericChart WithTitle(GenericChart chart, string title) => WithLayout(chart, ("title", PlotlyBuilder.Title(title)));

    /// <summary>
    /// The chart drawn at a fixed size on screen, in CSS pixels (the chart itself is left as it was; charts otherwise fill
    /// their cell's width). Figures for print are sized by <see cref="FigureExport"/> in millimetres instead.
    /// </summary>
    public static GenericChart WithSize(GenericChart chart, int widthPx, int heightPx)
    {
        if (widthPx < 50 || heightPx < 50) throw new ArgumentOutOfRangeException(nameof(widthPx), $"{widthPx}×{heightPx} px: at least 50 px a side");
        return WithLayout(chart, ("width", widthPx), ("height", heightPx), ("autosize", false));
    }

    // A copy of the chart's layout with some attributes replaced: charts share layout objects, which must not change
    // under a chart already shown.
    private static GenericChart WithLayout(GenericChart chart, params (string Name, object? Value)[] attributes)
    {
        var layout = new Layout();
        GenericChart.getLayout(chart).ShallowCopyDynamicPropertiesTo(layout, Microsoft.FSharp.Core.FSharpOption<bool>.Some(true));
        foreach (var (name, value) in attributes) layout.SetProperty(name, value);
        return GenericChart.setLayout(layout, chart);
    }

    // ---------------------------------------------------------------- confusion

    /// <summary>Confusion matrix from top-1 predictions; similarity ordering uses the mean predicted probabilities.</summary>
    public static GenericChart Confusion(IReadOnlyList<int> truth, IReadOnlyList<float[]> probabilities, IReadOnlyList<string> classNames, ConfusionOptions? options = null)
    {
        var counts = Metrics.ConfusionMatrix(truth, probabilities, classNames.Count);
        options ??= new ConfusionOptions();
        int[]? order = null;
        if (options.Order == ClassOrder.Similarity)
        {
            // Mean probability profiles are richer than top-1 counts: second choices also say which classes look alike.
            int c = classNames.Count;
            var profile = new double[c][];
            var n = new int[c];
            for (int k = 0; k < c; k++) profile[k] = new double[c];
            for (int i = 0; i < truth.Count; i++)
            {
                n[truth[i]]++;
                for (int k = 0; k < c; k++) profile[truth[i]][k] += probabilities[i][k];
            }
            for (int k = 0; k < c; k++)
                if (n[k] > 0) for (int j = 0; j < c; j++) profile[k][j] /= n[k];
            order = ClassOrdering.BySimilarity(profile);
        }
        return Confusion(counts, classNames, options, order);
    }

    /// <summary>
    /// Confusion matrix from counts (element [t, p] = images of true class t predicted as p): a heat map coloured by the
    /// row fraction, hover with both class names, the count and the row total. Readable at 216 classes: empty classes are
    /// dropped, similar classes are placed together, and tick labels shrink with the class count.
    /// </summary>
    public static GenericChart Confusion(int[,] counts, IReadOnlyList<string> classNames, ConfusionOptions? options = null) =>
        Confusion(counts, classNames, options ?? new ConfusionOptions(), null);

    private static GenericChart Confusion(int[,] counts, IReadOnlyList<string> classNames, ConfusionOptions options, int[]? order)
    {
        int c = classNames.Count;
        if (counts.GetLength(0) != c || counts.GetLength(1) != c)
            throw new GestaltLabException($"confusion matrix is {counts.GetLength(0)}×{counts.GetLength(1)} but there are {c} class names");
        var rowTotal = new int[c];
        var colTotal = new int[c];
        for (int t = 0; t < c; t++)
            for (int p = 0; p < c; p++) { rowTotal[t] += counts[t, p]; colTotal[p] += counts[t, p]; }
        if (order is null)
        {
            order = options.Order switch
            {
                ClassOrder.Name => ClassOrdering.ByName(classNames),
                ClassOrder.Given => Enumerable.Range(0, c).ToArray(),
                _ => ClassOrdering.BySimilarity(Enumerable.Range(0, c).Select(t =>
                    Enumerable.Range(0, c).Select(p => rowTotal[t] == 0 ? 0.0 : counts[t, p] / (double)rowTotal[t]).ToArray()).ToArray()),
            };
        }
        else if (options.Order == ClassOrder.Name) order = ClassOrdering.ByName(classNames);
        else if (options.Order == ClassOrder.Given) order = Enumerable.Range(0, c).ToArray();
        var shown = order.Where(k => !options.DropEmpty || rowTotal[k] > 0 || colTotal[k] > 0).ToArray();
        var names = shown.Select(k => classNames[k]).ToArray();
        var z = new double?[shown.Length][];
        var custom = new object[shown.Length][];
        for (int r = 0; r < shown.Length; r++)
        {
            int t = shown[r];
            z[r] = new double?[shown.Length];
            custom[r] = new object[shown.Length];
            for (int q = 0; q < shown.Length; q++)
            {
                int p = shown[q];
                int n = counts[t, p];
                z[r][q] = options.RowNormalise ? (rowTotal[t] == 0 ? null : n / (double)rowTotal[t]) : n;
                custom[r][q] = new[] { n, rowTotal[t] };
            }
        }
        int m = shown.Length;
        double tickSize = m <= 30 ? 11 : m <= 80 ? 8 : 6;
        int px = Math.Clamp(200 + m * (m <= 30 ? 22 : m <= 80 ? 10 : 5), 420, 1400);
        var trace = PlotlyBuilder.Trace("heatmap",
            ("z", z), ("x", names), ("y", names), ("customdata", custom),
            // ColorBrewer's blues, starting every non-zero cell at a visible light blue: a confusion of 5–20 % of a row
            // was a near-white tint before, lost on paper and projectors (a 216-class cell is under a millimetre wide).
            ("colorscale", new object[] { new object[] { 0, "#ffffff" }, new object[] { 0.01, "#c6dbef" }, new object[] { 0.25, "#6baed6" }, new object[] { 0.5, "#2171b5" }, new object[] { 1, "#08306b" } }),
            ("zmin", 0), ("zmax", options.RowNormalise ? 1 : (object?)null), ("xgap", m <= 40 ? 1 : 0), ("ygap", m <= 40 ? 1 : 0),
            ("colorbar", Obj(("title", Obj(("text", options.RowNormalise ? "fraction of row" : "images"))), ("thickness", 12))),
            ("hovertemplate", "true: %{y}<br>predicted: %{x}<br>%{customdata[0]} of %{customdata[1]} images" +
                (options.RowNormalise ? " (%{z:.0%})" : "") + "<extra></extra>"));
        return Chart([trace],
            ("title", Title(options.Title)),
            ("width", px + 160), ("height", px + 60),
            // Category axes: class names that look like numbers (OMIM ids) must not become a numeric scale.
            ("xaxis", Axis("predicted class", ("type", "category"), ("tickfont", Obj(("size", tickSize))), ("showgrid", false), ("tickangle", -60), ("automargin", true), ("constrain", "domain"))),
            ("yaxis", Axis("true class", ("type", "category"), ("tickfont", Obj(("size", tickSize))), ("showgrid", false), ("autorange", "reversed"), ("automargin", true), ("scaleanchor", "x"), ("constrain", "domain"))));
    }

    /// <summary>
    /// Compact confusion view for many classes: one row per true class with its own accuracy and its
    /// <paramref name="top"/> most frequent wrong predictions (class name in the cell, colour = fraction of the row).
    /// Rows are sorted by accuracy, worst first, so a 216-class run shows where it fails at a glance; with
    /// <paramref name="maxRows"/> only the least accurate classes are shown.
    /// </summary>
    public static GenericChart ConfusionTopK(int[,] counts, IReadOnlyList<string> classNames, int top = 5, string? title = null, int maxRows = int.MaxValue)
    {
        int c = classNames.Count;
        if (counts.GetLength(0) != c || counts.GetLength(1) != c)
            throw new GestaltLabException($"confusion matrix is {counts.GetLength(0)}×{counts.GetLength(1)} but there are {c} class names");
        var rows = new List<(string Name, double Acc, int Total, (string Name, int N)[] Wrong)>();
        for (int t = 0; t < c; t++)
        {
            int total = 0;
            for (int p = 0; p < c; p++) total += counts[t, p];
            if (total == 0) continue;
            var wrong = Enumerable.Range(0, c).Where(p => p != t && counts[t, p] > 0)
                .OrderByDescending(p => counts[t, p]).ThenBy(p => p).Take(top).Select(p => (classNames[p], counts[t, p])).ToArray();
            rows.Add((classNames[t], counts[t, t] / (double)total, total, wrong));
        }
        int classesWithImages = rows.Count;
        rows = rows.OrderBy(r => r.Acc).ThenBy(r => r.Name, StringComparer.Ordinal).Take(Math.Max(1, maxRows)).ToList();
        title ??= rows.Count < classesWithImages
            ? $"Most frequent confusions of the {rows.Count} least accurate of {classesWithImages} classes"
            : "Most frequent confusions per true class";
        var columns = new[] { "correct" }.Concat(Enumerable.Range(1, top).Select(i => $"#{i} confusion")).ToArray();
        var z = new double?[rows.Count][];
        var text = new string[rows.Count][];
        var hover = new string[rows.Count][];
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            z[r] = new double?[top + 1];
            text[r] = new string[top + 1];
            hover[r] = new string[top + 1];
            z[r][0] = row.Acc;
            text[r][0] = (row.Acc * 100).ToString("F0", CultureInfo.InvariantCulture) + "%";
            hover[r][0] = $"{row.Name}: {(int)Math.Round(row.Acc * row.Total)} of {row.Total} correct";
            for (int k = 0; k < top; k++)
            {
                if (k < row.Wrong.Length)
                {
                    z[r][k + 1] = row.Wrong[k].N / (double)row.Total;
                    text[r][k + 1] = row.Wrong[k].Name;
                    hover[r][k + 1] = $"{row.Name} predicted as {row.Wrong[k].Name}: {row.Wrong[k].N} of {row.Total}";
                }
                else { z[r][k + 1] = null; text[r][k + 1] = ""; hover[r][k + 1] = ""; }
            }
        }
        var y = rows.Select(r => r.Name).ToArray();
        var trace = PlotlyBuilder.Trace("heatmap", ("z", z), ("x", columns), ("y", y), ("text", text), ("customdata", hover),
            // Dark words on oranges that stay light enough for them (5 : 1 at the darkest cell): plotly's automatic choice
            // put grey words on mid-orange cells at 2.7 : 1, hard to read on a projector.
            ("texttemplate", "%{text}"), ("textfont", Obj(("size", 9), ("color", "#111"))), ("zmin", 0), ("zmax", 1), ("xgap", 1), ("ygap", 1),
            ("colorscale", new object[] { new object[] { 0, "#fff5eb" }, new object[] { 0.5, "#fdae6b" }, new object[] { 1, "#e6550d" } }),
            ("colorbar", Obj(("title", Obj(("text", "fraction of row"))), ("thickness", 12))),
            ("hovertemplate", "%{customdata}<extra></extra>"));
        return Chart([trace], ("title", Title(title)), ("width", 260 + 120 * (top + 1)), ("height", Math.Clamp(140 + 18 * rows.Count, 300, 4000)),
            ("xaxis", Axis(null, ("side", "top"), ("showgrid", false))),
            ("yaxis", Axis("true class (worst first)", ("type", "category"), ("autorange", "reversed"), ("showgrid", false), ("dtick", 1), ("tickfont", Obj(("size", rows.Count > 80 ? 7 : 10))), ("automargin", true))));
    }

    // ---------------------------------------------------------------- t-SNE

    /// <summary>
    /// A 2-D embedding map: one trace per category of <paramref name="colourBy"/> (click the legend to hide one), hover
    /// with the image name and the category. <paramref name="colourBy"/> can be any manifest column
    /// (see <see cref="ManifestColumn"/>): syndrome, gene, sex, age band, skin tone, split …
    /// </summary>
    /// <param name="embedding">The map (<see cref="Tsne.Fit"/>).</param>
    /// <param name="images">Each point's hover name.</param>
    /// <param name="colourBy">Each point's category.</param>
    /// <param name="colourName">What the categories are (legend title, hover).</param>
    /// <param name="title">Chart title.</param>
    /// <param name="highlight">Categories to colour; every other point is drawn in light grey, as one legend entry
    /// ("N other classes"). For maps of many classes (past 56 no two can differ in both colour and shape, and print leaves a
    /// legend of over 40 entries out): a paper's few syndromes of interest against the rest. Null: every category.</param>
    /// <exception cref="GestaltLabException">Lengths differ, or a highlighted category has no point.</exception>
    public static GenericChart Embedding(TsneResult embedding, IReadOnlyList<string> images, IReadOnlyList<string> colourBy,
        string colourName = "syndrome", string title = "t-SNE of face-space embeddings", IReadOnlyCollection<string>? highlight = null)
    {
        int n = embedding.X.Length;
        if (images.Count != n || colourBy.Count != n)
            throw new GestaltLabException($"embedding has {n} points but {images.Count} image names and {colourBy.Count} colour values");
        var all = Enumerable.Range(0, n).GroupBy(i => colourBy[i], StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToArray();
        // An empty list highlights nothing: every category, as without one (not a map of grey points).
        var chosen = highlight is null || highlight.Count == 0 ? null : new HashSet<string>(highlight, StringComparer.Ordinal);
        if (chosen?.FirstOrDefault(h => !all.Any(g => g.Key == h)) is { } absent)
            throw new GestaltLabException($"t-SNE highlight '{absent}': no point has that {colourName}",
                $"name one of {string.Join(", ", all.Take(8).Select(g => g.Key))}{(all.Length > 8 ? ", …" : "")}");
        var groups = chosen is null ? all : all.Where(g => chosen.Contains(g.Key)).ToArray();
        var traces = new List<Trace>();
        if (chosen is not null && all.Length > groups.Length)
        {
            // Below the highlighted points, small and without a rim: the context, not the message.
            var rest = all.Where(g => !chosen.Contains(g.Key)).ToArray();
            var idx = rest.SelectMany(g => g).Order().ToArray();
            // Counted in categories (classes), not points: the legend names groups.
            string others = FormattableString.Invariant($"{rest.Length} other {(colourName.Contains("class", StringComparison.OrdinalIgnoreCase) || colourName.Contains("syndrome", StringComparison.OrdinalIgnoreCase) ? rest.Length == 1 ? "class" : "classes" : rest.Length == 1 ? "value" : "values")}");
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "markers"), ("name", others),
                ("x", idx.Select(i => embedding.X[i]).ToArray()), ("y", idx.Select(i => embedding.Y[i]).ToArray()),
                ("text", idx.Select(i => Html(images[i])).ToArray()), ("customdata", idx.Select(i => Html(colourBy[i])).ToArray()),
                ("marker", Obj(("size", n > 2000 ? 3 : 5), ("color", "#c8c8c8"), ("line", Obj(("width", 0))))),
                ("hovertemplate", $"%{{text}}<br>{Html(colourName)}: %{{customdata}}<extra></extra>")));
        }
        // Points without a value (no gene recorded, the unaffected) are the context, grey as the points not highlighted:
        // in a palette colour they would pass for a category, often the largest (the first, sorted by name).
        int blank = groups.Length > 0 && groups[0].Key.Length == 0 ? 1 : 0;
        for (int g = 0; g < groups.Length; g++)
        {
            var idx = groups[g].ToArray();
            bool none = groups[g].Key.Length == 0;
            // Photo names and manifest values are the data's own words: escaped, as the chart library reads its text as markup.
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "markers"), ("name", none ? "(none)" : Html(groups[g].Key)),
                ("x", idx.Select(i => embedding.X[i]).ToArray()), ("y", idx.Select(i => embedding.Y[i]).ToArray()),
                ("text", idx.Select(i => Html(images[i])).ToArray()),
                ("marker", Obj(("size", n > 2000 ? 4 : 7), ("color", none ? "#bdbdbd" : MapColour(g - blank, groups.Length - blank)), ("symbol", none ? "circle" : MapSymbol(g - blank)),
                    // A thin dark rim: the palette's yellow and sky blue fade into a white page without one (yellow on white is
                    // 1.2 : 1). Left off the small points of large maps, where rims would darken every cluster alike.
                    ("opacity", 0.85), ("line", Obj(("width", n > 2000 ? 0 : 0.5), ("color", "rgba(0,0,0,0.5)"))))),
                ("hovertemplate", $"%{{text}}<br>{Html(colourName)}: {Html(groups[g].Key)}<extra></extra>")));
        }
        return Chart(traces, ("title", Title(title)), ("width", 760), ("height", 600),
            ("legend", Obj(("title", Obj(("text", colourName))), ("itemsizing", "constant"), ("font", Obj(("size", traces.Count > 40 ? 8 : 11))))),
            ("xaxis", Axis("t-SNE 1", ("showticklabels", false))), ("yaxis", Axis("t-SNE 2", ("showticklabels", false))));
    }

    // Only the 8 Okabe-Ito colours stay apart for colour-blind readers, and in grayscale print none do. Category g gets
    // colour g mod 8 and shape g mod 7: as 8 and 7 share no factor, up to 56 categories each have their own pair, and
    // neighbouring categories (two sexes, the first few classes) differ in shape as well, which grayscale keeps. Past
    // that (a 216-class map, whose legend is left out in print anyway) hues and shapes both cycle.
    private static readonly string[] MapSymbols = ["circle", "square", "triangle-up", "diamond", "cross", "x", "triangle-down"];

    private static int OkabeIto => 8;

    private static bool PairsSuffice(int count) => count <= DistinctMarkers;

    /// <summary>How many categories a map can give a colour-and-shape pair of their own (8 colours × 7 shapes).</summary>
    public static int DistinctMarkers => OkabeIto * MapSymbols.Length;

    /// <summary>
    /// The categories a map of more than <see cref="DistinctMarkers"/> should colour when no one chose: the
    /// <paramref name="count"/> with the most points (ties by name), every other drawn grey — past that many, colours and
    /// shapes repeat and a legend of hundreds tells nothing. Null when every category can have its own marker.
    /// </summary>
    /// <param name="categories">Each point's category.</param>
    /// <param name="count">How many to colour (default: the 8 colour-blind-safe colours).</param>
    public static IReadOnlyList<string>? DefaultHighlight(IReadOnlyList<string> categories, int count = 8)
    {
        ArgumentNullException.ThrowIfNull(categories);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var groups = categories.Where(c => c.Length > 0).GroupBy(c => c, StringComparer.Ordinal).ToList();
        if (groups.Count <= DistinctMarkers) return null;
        return groups.OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Take(count).Select(g => g.Key).ToArray();
    }

    private static string MapColour(int g, int count) => PairsSuffice(count) ? PlotlyBuilder.Palette[g % OkabeIto] : Colour(g, count);

    private static string MapSymbol(int g) => MapSymbols[g % MapSymbols.Length];

    /// <summary>
    /// Values of a manifest column (standard or extra) for the given images ("" when an image is not listed). Images are
    /// matched by the manifest's <c>image</c>, or — in an aligned folder's manifest — by the photo each crop came from
    /// (<c>source_image</c>), as evaluations name them.
    /// </summary>
    /// <exception cref="GestaltLabException">No such column, or not one of the images is in the manifest (the manifest of
    /// other data: a map coloured by it would show one grey group).</exception>
    public static IReadOnlyList<string> ManifestColumn(Manifest manifest, IReadOnlyList<string> images, string column)
    {
        bool known = Manifest.Columns.Contains(column.ToLowerInvariant()) || manifest.ExtraColumns.Contains(column);
        if (!known)
            throw new GestaltLabException($"manifest has no column '{column}'", $"use one of: {string.Join(", ", Manifest.Columns.Concat(manifest.ExtraColumns))}");
        var bySource = manifest.Rows.Where(r => r.Extra.TryGetValue("source_image", out var src) && src.Length > 0)
            .GroupBy(r => r.Extra["source_image"], StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var rows = images.Select(i => manifest.Find(i) ?? bySource.GetValueOrDefault(i)).ToArray();
        if (images.Count > 0 && rows.All(r => r is null))
            throw new GestaltLabException($"none of the {images.Count} photos is in the manifest ({manifest.Root}; e.g. {images[0]})",
                "pass the manifest of the data these photos came from");
        return rows.Select(row => row?.ValueOf(column) ?? "").ToArray();
    }

    // ---------------------------------------------------------------- ROC

    private static readonly string[] CurveDashes = ["solid", "dash", "dashdot", "longdash", "longdashdot"];

    /// <summary>ROC curves, each with its bootstrap band and AUC [CI] in the legend, over the chance diagonal.</summary>
    public static GenericChart Roc(IReadOnlyList<(string Name, RocWithBand Roc)> curves, string title = "ROC",
        IReadOnlyList<(string Name, double Fpr, double Tpr)>? points = null)
    {
        var traces = new List<Trace>
        {
            PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", new[] { 0.0, 1.0 }), ("y", new[] { 0.0, 1.0 }), ("name", "chance"),
                ("line", Obj(("dash", "dot"), ("color", "#888"), ("width", 1.25))), ("hoverinfo", "skip")),
        };
        for (int k = 0; k < curves.Count; k++)
        {
            var (name, r) = curves[k];
            string colour = Colour(k, curves.Count);
            string group = "roc" + k;
            // Without resamples (an empty grid) the curve alone.
            if (r.Grid.Length > 0)
            {
                traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", r.Grid), ("y", r.TprUpper), ("legendgroup", group),
                    ("showlegend", false), ("line", Obj(("width", 0))), ("hoverinfo", "skip")));
                // One legend entry says what the shading is (the first curve's: every band is the same kind).
                traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", r.Grid), ("y", r.TprLower), ("legendgroup", group),
                    ("fill", "tonexty"), ("fillcolor", Transparent(colour)), ("showlegend", k == 0), ("line", Obj(("width", 0))),
                    ("name", FormattableString.Invariant($"shaded: {r.Auc.Level * 100:F0}% bootstrap band")), ("hoverinfo", "skip")));
            }
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", r.Curve.FalsePositiveRate), ("y", r.Curve.TruePositiveRate),
                // Curves differ in dash as well as colour, which grayscale keeps (dots are the chance line's).
                ("legendgroup", group), ("line", Obj(("color", colour), ("width", 2), ("shape", "linear"), ("dash", CurveDashes[k % CurveDashes.Length]))),
                ("name", double.IsNaN(r.Auc.Lower) ? FormattableString.Invariant($"{name}: AUC {r.Auc.Estimate:F3}")
                    // The interval named as what it is (the band has its own legend entry): a figure leaves the page that
                    // explained them. Short enough for one line at a single column's width.
                    : FormattableString.Invariant($"{name}: AUC {r.Auc.Estimate:F3} ({r.Auc.Level * 100:F0}% CI {r.Auc.Lower:F3}–{r.Auc.Upper:F3})")),
                ("customdata", r.Curve.Thresholds.Select(t => double.IsInfinity(t) ? "∞" : t.ToString("G4", CultureInfo.InvariantCulture)).ToArray()),
                ("hovertemplate", "FPR %{x:.3f}, TPR %{y:.3f}<br>threshold %{customdata}<extra>" + Html(name) + "</extra>")));
        }
        if (points is not null)
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "markers+text"), ("x", points.Select(p => p.Fpr).ToArray()), ("y", points.Select(p => p.Tpr).ToArray()),
                ("text", points.Select(p => p.Name).ToArray()), ("textposition", "bottom right"), ("name", "published"),
                ("marker", Obj(("symbol", "diamond"), ("size", 10), ("color", "#444")))));
        // What the curve rests on, where a side is small and the caller's title does not say it already (the report's
        // does, with people): an exported figure has no page around it to caution its reader.
        if (!title.Contains("<sub>", StringComparison.Ordinal) && curves.Count > 0
            && (curves.Min(c => c.Roc.Curve.Positives), curves.Min(c => c.Roc.Curve.Negatives)) is var (positives, negatives) && Math.Min(positives, negatives) < 30)
        {
            title += $"<br><sub>{positives} positive and {negatives} negative photos{(curves.Count > 1 ? " at the least" : "")}: with fewer than 30 on a side the curve is coarse and its band too narrow; read as indicative</sub>";
        }
        return Chart(traces, ("title", Title(title)), ("width", 560), ("height", 600),
            // Under the plot, as export lays legends out: inside it (from x 0.35) the AUC entry, wider than the square plot,
            // reached past it, and plotly's margins grew until the plot was a third of the chart, the legend over the x axis.
            ("legend", Obj(("x", 0), ("xanchor", "left"), ("y", -0.2), ("yanchor", "top"))),
            ("xaxis", Axis("false positive rate (1 − specificity)", ("range", new[] { -0.01, 1.01 }), ("constrain", "domain"))),
            // Both constrained to their domain: the square aspect shrinks the plot rather than widening the y range.
            ("yaxis", Axis("true positive rate (sensitivity)", ("range", new[] { -0.01, 1.01 }), ("scaleanchor", "x"), ("constrain", "domain"))));
    }

    // ---------------------------------------------------------------- top-k

    /// <summary>
    /// Top-k accuracy for k = 1 … (length of each curve), ours as lines (with an optional bootstrap band), the oracle
    /// (and its equal-prior variant where the data records it) and published results as labelled markers at their k. Per-disorder figures are drawn hollow, per-image filled.
    /// </summary>
    public static GenericChart TopK(IReadOnlyList<(string Name, double[] Curve)> curves, IEnumerable<PublishedFigure>? published = null,
        OracleFigures? oracle = null, string title = "Top-k accuracy",
        IReadOnlyList<(double[] Lower, double[] Upper)>? bands = null, int? classCount = null) =>
        TopK(curves, published, oracle, "oracle (Bayes on true traits)", title, bands, classCount);

    private static GenericChart TopK(IReadOnlyList<(string Name, double[] Curve)> curves, IEnumerable<PublishedFigure>? published,
        OracleFigures? oracle, string oracleName, string title, IReadOnlyList<(double[] Lower, double[] Upper)>? bands, int? classCount)
    {
        var traces = new List<Trace>();
        int maxK = curves.Count == 0 ? 30 : curves.Max(c => c.Curve.Length);
        // Guessing at random puts the true syndrome in the top k with probability k / C: the floor every curve starts from.
        if (classCount is int c && c > 0)
        {
            var chanceKs = Enumerable.Range(1, maxK).ToArray();
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", chanceKs), ("y", chanceKs.Select(k => Math.Min(1.0, k / (double)c)).ToArray()),
                ("name", FormattableString.Invariant($"chance (k / {c})")), ("line", Obj(("dash", "dot"), ("color", "#888"), ("width", 1.25))),
                ("hovertemplate", "chance, top-%{x}: %{y:.1%}<extra></extra>")));
        }
        for (int s = 0; s < curves.Count; s++)
        {
            var (name, curve) = curves[s];
            var ks = Enumerable.Range(1, curve.Length).ToArray();
            string colour = Palette[s % Palette.Count];
            if (bands is not null && s < bands.Count)
            {
                traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", ks), ("y", bands[s].Upper), ("showlegend", false),
                    ("line", Obj(("width", 0))), ("hoverinfo", "skip"), ("legendgroup", name)));
                // Listed in the legend under the curve's own colour: a shaded area without an entry reads as anything.
                traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", ks), ("y", bands[s].Lower), ("name", "95% interval, " + name),
                    ("fill", "tonexty"), ("fillcolor", Transparent(colour)), ("line", Obj(("width", 0))), ("hoverinfo", "skip"), ("legendgroup", name)));
            }
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines+markers"), ("x", ks), ("y", curve), ("name", name), ("legendgroup", name),
                // Later curves dashed: per-image and per-disorder curves coincide on balanced test sets, and the second
                // would hide the first.
                ("line", Obj(("color", colour), ("width", 2), ("dash", s == 0 ? "solid" : "dash"))), ("marker", Obj(("size", 4), ("color", colour))),
                ("hovertemplate", "top-%{x}: %{y:.1%}<extra>" + Html(name) + "</extra>")));
        }
        // Only points inside the drawn k range: a point past it would be listed in the legend and never seen (a 2-class
        // run shows k = 1…2, where DeepGestalt's top-10 has no place).
        int[] oracleKs = new[] { 1, 5, 10 }.Where(k => k <= maxK).ToArray();
        double[] OracleYs(double t1, double t5, double t10) => new[] { t1, t5, t10 }.Take(oracleKs.Length).ToArray();
        if (oracle is not null)
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "markers+lines"), ("x", oracleKs), ("y", OracleYs(oracle.Top1, oracle.Top5, oracle.Top10)),
                ("name", oracleName), ("line", Obj(("dash", "dot"), ("color", "#555"), ("width", 1))),
                ("marker", Obj(("symbol", "star"), ("size", 10), ("color", "#555"))),
                ("hovertemplate", Html(oracleName) + ", top-%{x}: %{y:.1%}<extra></extra>")));
        if (oracle?.DistinctEqualPriors is { } equal)
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "markers+lines"), ("x", oracleKs), ("y", OracleYs(equal.Top1, equal.Top5, equal.Top10)),
                ("name", "oracle, equal priors"), ("line", Obj(("dash", "dot"), ("color", "#777"), ("width", 1.25))),
                ("marker", Obj(("symbol", "star-square"), ("size", 9), ("color", "#777"))),
                ("hovertemplate", "oracle with equal priors, top-%{x}: %{y:.1%}<extra></extra>")));
        if (published is not null)
        {
            var symbols = new[] { "diamond", "square", "triangle-up", "cross", "x", "pentagon" };
            var bySource = published.Where(p => p.K <= maxK).GroupBy(p => p.Label).ToArray();
            // A source's marker follows its place among all published sources, not among those this chart shows: a paper
            // with the top-k chart and the face-space chart (GestaltMatcher's points alone) keeps one legend for both.
            var known = PublishedResults.All.Select(p => p.Label).Distinct().ToList();
            for (int g = 0; g < bySource.Length; g++)
            {
                var pts = bySource[g].OrderBy(p => p.K).ToArray();
                bool perDisorder = pts.All(p => p.PerDisorder);
                int symbol = known.IndexOf(bySource[g].Key) is >= 0 and var at ? at : known.Count + g;
                traces.Add(PlotlyBuilder.Trace("scatter", ("mode", pts.Length > 1 ? "markers+lines" : "markers"),
                    ("x", pts.Select(p => p.K).ToArray()), ("y", pts.Select(p => p.Value).ToArray()),
                    ("name", bySource[g].Key + (perDisorder ? " (per disorder)" : "")),
                    ("text", pts.Select(p => $"{p.Source}<br>{p.Setting}<br>{p.Measure}").ToArray()),
                    ("line", Obj(("dash", "dash"), ("width", 1), ("color", "#888"))),
                    ("marker", Obj(("symbol", symbols[symbol % symbols.Length] + (perDisorder ? "-open" : "")), ("size", 11), ("color", "#333"), ("line", Obj(("width", 1.5))))),
                    ("hovertemplate", "%{text}: %{y:.1%}<extra></extra>")));
            }
        }
        return Chart(traces, ("title", Title(title)), ("width", 760), ("height", 480),
            ("legend", Obj(("x", 1.02), ("y", 1), ("font", Obj(("size", 10))))),
            ("xaxis", Axis("k (true syndrome within the top k suggestions)", ("range", new[] { 0.5, maxK + 0.5 }), ("dtick", maxK > 15 ? 5 : 1))),
            ("yaxis", Axis("accuracy", ("range", new[] { 0, 1.02 }), ("tickformat", ".0%"))));
    }

    /// <summary>
    /// The top-k curves of face-space matching (<see cref="FaceSpaceEvaluation"/>): per photo for all syndromes, and for
    /// those known and unknown to the model where there are both; the model's own classifier on the same photos where
    /// the figures record it; chance among the gallery's syndromes; the data's oracle with equal priors where the figures
    /// record it (synthetic data); GestaltMatcher's published per-disorder points.
    /// </summary>
    /// <param name="figures">What <see cref="FaceSpaceEvaluation.Evaluate"/> found (or <see cref="FaceSpaceMetrics.Load"/> read).</param>
    /// <param name="title">Chart title (default: what it shows, with the photo and syndrome counts).</param>
    /// <returns>Null for figures written before the curves were recorded.</returns>
    public static GenericChart? FaceSpaceTopK(FaceSpaceMetrics figures, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(figures);
        int g = figures.NGallerySyndromes;
        var curves = figures.Groups.Where(x => x.Scores.TopKCurve is { Length: > 0 }).Select(x => ("face space, " + x.Name, x.Scores.TopKCurve!)).ToList();
        if (curves.Count == 0) return null;
        int maxK = curves.Max(c => c.Item2.Length);
        // It ranks only the syndromes it was trained on.
        if (figures.VersusClassifier is { ClassifierTopKCurve: { Length: > 0 } classifier } vs)
            curves.Add((FormattableString.Invariant($"classifier, same photos ({vs.ClassifierSyndromes:N0} syndromes ranked)"), classifier));
        // Matching favours no syndrome for being frequent: its reference is the oracle with equal priors (drawn as the one oracle).
        var oracle = figures.Oracle is { } o ? new OracleFigures { Top1 = o.Top1, Top5 = o.Top5, Top10 = o.Top10 } : null;
        return TopK(curves, PublishedResults.All.Where(f => f.Source.StartsWith("GestaltMatcher", StringComparison.Ordinal)), oracle, "oracle (Bayes on true traits), equal priors",
            title ?? FormattableString.Invariant($"Face-space matching, top-k, k = 1…{maxK} ({figures.All.NImages:N0} {figures.QuerySplit} photos, {g:N0} syndromes)"), null, g);
    }

    // ---------------------------------------------------------------- training curves

    /// <summary>Loss (left) and accuracy (right) per epoch for each region; training solid, validation dashed.</summary>
    public static GenericChart TrainingCurves(IReadOnlyDictionary<string, IReadOnlyList<CurvePoint>> curves, string title = "Training curves")
    {
        var traces = new List<Trace>();
        var regions = curves.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        for (int r = 0; r < regions.Length; r++)
        {
            var pts = curves[regions[r]];
            string colour = Colour(r, regions.Length);
            var epochs = pts.Select(p => p.Epoch).ToArray();
            void Add(string what, double?[] y, string axis, bool val, bool legend) =>
                traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines+markers"), ("x", epochs), ("y", y), ("xaxis", axis == "loss" ? "x" : "x2"),
                    ("yaxis", axis == "loss" ? "y" : "y2"), ("name", regions[r]), ("legendgroup", regions[r]), ("showlegend", legend),
                    // Each region its own marker too: seven colours are hard to tell apart in grayscale or for colour-blind readers.
                    ("line", Obj(("color", colour), ("width", 1.8), ("dash", val ? "dash" : "solid"))), ("marker", Obj(("size", 5), ("symbol", MapSymbol(r)))),
                    ("hovertemplate", $"{Html(regions[r])} {what}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>")));
            static double?[] Nn(IEnumerable<double> v) => v.Select(x => double.IsFinite(x) ? x : (double?)null).ToArray();
            Add("train loss", Nn(pts.Select(p => p.TrainLoss)), "loss", false, true);
            Add("val loss", Nn(pts.Select(p => p.ValLoss)), "loss", true, false);
            Add("train accuracy", Nn(pts.Select(p => p.TrainAccuracy)), "acc", false, false);
            Add("val accuracy", Nn(pts.Select(p => p.ValAccuracy)), "acc", true, false);
        }
        return Chart(traces, ("title", Title(title + " (solid: training, dashed: validation)")), ("width", 900), ("height", 420),
            ("xaxis", Axis("epoch", ("domain", new[] { 0, 0.45 }), ("anchor", "y"))),
            ("yaxis", Axis("cross-entropy loss", ("anchor", "x"))),
            ("xaxis2", Axis("epoch", ("domain", new[] { 0.55, 1 }), ("anchor", "y2"))),
            ("yaxis2", Axis("accuracy", ("anchor", "x2"), ("tickformat", ".0%"), ("range", new[] { 0, 1.02 }))));
    }

    // ---------------------------------------------------------------- regions

    /// <summary>Top-1, top-5 and top-10 accuracy of each region's net alone beside the ensemble (<c>region_metrics.csv</c>).</summary>
    /// <param name="regions">The scores.</param>
    /// <param name="title">Chart title.</param>
    /// <param name="classCount">Classes ranked, when known: top-k bars with k ≥ that many are left out (every photo is a
    /// hit there, a trivial 100 %; the metrics table prints "—").</param>
    /// <param name="top1Intervals">Region (and <c>ensemble</c>) → its top-1 interval, drawn as whiskers on the top-1 bars
    /// (e.g. <see cref="PairedMeasure.IntervalA"/> from <see cref="RunComparison.CompareRegions"/>). Each bar's own
    /// interval: whether the ensemble beats a region is the paired difference's to say, not the whiskers' overlap. (A
    /// percentile interval can, rarely, miss its own estimate: its whisker then stops at the bar's value.)</param>
    public static GenericChart RegionAccuracy(IReadOnlyList<RegionScore> regions, string title = "Single regions vs ensemble", int? classCount = null,
        IReadOnlyDictionary<string, ConfidenceInterval>? top1Intervals = null)
    {
        var ordered = regions.OrderBy(r => r.Region == "ensemble" ? 1 : 0).ThenByDescending(r => r.Top1).ToArray();
        var names = ordered.Select(r => r.Region).ToArray();
        var traces = new List<Trace>();
        // One hue, darker for the stricter measure: the bars stay apart in grayscale print and for colour-blind readers
        // (the palette's sky blue and orange, used before, are one grey on paper).
        foreach (var (k, values, colour) in new[]
        {
            (1, ordered.Select(r => r.Top1).ToArray(), "#08519c"),
            (5, ordered.Select(r => r.Top5).ToArray(), "#4292c6"),
            (10, ordered.Select(r => r.Top10).ToArray(), "#9ecae1"),
        })
        {
            if (values.All(double.IsNaN) || k >= classCount) continue;
            string label = $"top-{k}";
            bool whiskers = k == 1 && top1Intervals is not null && ordered.Any(r => top1Intervals.ContainsKey(r.Region));
            var attributes = new List<(string Name, object? Value)>
            {
                ("x", names), ("y", values.Select(v => double.IsFinite(v) ? v : (double?)null).ToArray()), ("name", whiskers ? label + " (95% interval)" : label),
                // An edge: the lightest bar alone is 1.75 : 1 on white.
                ("marker", Obj(("color", colour), ("line", Obj(("color", "#08306b"), ("width", 0.75))))), ("texttemplate", "%{y:.0%}"), ("textposition", whiskers ? "inside" : "outside"), ("textfont", Obj(("size", 9))),
                ("hovertemplate", "%{x} " + label + ": %{y:.1%}<extra></extra>"),
            };
            if (whiskers)
            {
                // The value goes inside the bar, upright at its foot: above it, or at its top, the whisker would cross it.
                attributes.AddRange([("insidetextanchor", "start"), ("textangle", 0)]);
                ConfidenceInterval? Of(int i) => top1Intervals!.TryGetValue(ordered[i].Region, out var ci) && double.IsFinite(ci.Lower) && double.IsFinite(values[i]) ? ci : null;
                attributes.Add(("error_y", Obj(("type", "data"), ("symmetric", false),
                    ("array", Enumerable.Range(0, ordered.Length).Select(i => Of(i) is { } ci ? Math.Max(0, ci.Upper - values[i]) : (double?)null).ToArray()),
                    ("arrayminus", Enumerable.Range(0, ordered.Length).Select(i => Of(i) is { } ci ? Math.Max(0, values[i] - ci.Lower) : (double?)null).ToArray()),
                    ("color", "#444"), ("thickness", 1.2), ("width", 3))));
            }
            traces.Add(PlotlyBuilder.Trace("bar", attributes.ToArray()));
        }
        return Chart(traces, ("title", Title(title)), ("barmode", "group"), ("width", Math.Max(520, 120 + 90 * names.Length)), ("height", 420),
            // Turned counter-clockwise, each name ends at its own bars: plotly turns long names clockwise where they do not
            // fit side by side, hanging each under the next group.
            ("xaxis", Axis("region", ("showgrid", false), ("tickangle", -30))), ("yaxis", Axis("accuracy", ("range", new[] { 0, 1.08 }), ("tickformat", ".0%"))));
    }

    /// <summary>
    /// Top-1 accuracy by stratum as a forest plot: one row per group of each column (sex, age band, skin tone) with its 95%
    /// interval, the column's heading with the p-value of its groups' differences, the synthetic oracle on the same photos
    /// (stars) and the top-1 of all scored photos (dashed line). Intervals are over people, so a group of a few people
    /// shows how little it says.
    /// </summary>
    /// <param name="strata">The figures, as <c>metrics.json</c> records them (<see cref="ClassificationMetrics.Strata"/>).</param>
    /// <param name="overallTop1">Top-1 of all scored photos (the line), or null for none.</param>
    /// <param name="title">Chart title.</param>
    /// <param name="equalPriorOracle">Whether the oracle drawn is the one with equal priors (a run ranking with equal
    /// priors, the default) where the data records it, or the one with the training frequencies as priors.</param>
    /// <param name="hidden">Per column, groups to name without figures (a page for sharing leaves out those of a few people),
    /// shown as "not shown" rows in their place.</param>
    public static GenericChart StratumAccuracy(StrataScores strata, double? overallTop1 = null, string title = "Top-1 accuracy by stratum", bool equalPriorOracle = true,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? hidden = null)
    {
        ArgumentNullException.ThrowIfNull(strata);
        var ticks = new List<(double Y, string Text)>();
        var points = new List<(double Y, string Label, StratumScore Score)>();
        double y = 0;
        foreach (var (column, scores) in strata.Columns)
        {
            string name = column.Replace('_', ' ');
            string test = scores.PText is { } p ? "   " + Html(p) : "";
            ticks.Add((y--, $"<b>{Html(name)}</b>{test}"));
            var notShown = hidden?.GetValueOrDefault(column) ?? [];
            foreach (var value in global::GestaltLab.Evaluation.StratumAccuracy.Ordered(column, scores.Values.Keys.Concat(notShown)))
            {
                if (!scores.Values.TryGetValue(value, out var score))
                {
                    ticks.Add((y--, $"{Html(value)}  (not shown: few people)"));
                    continue;
                }
                ticks.Add((y, FormattableString.Invariant($"{Html(value)}  ({score.NSubjects} {(score.NSubjects == 1 ? "person" : "people")})")));
                points.Add((y--, $"{Html(name)} {Html(value)}", score));
            }
        }
        double? Oracle(StratumScore s) => s.Oracle is not { } o ? null : equalPriorOracle && o.EqualPriors is { } e ? e.Top1 : o.Top1;
        string Hover(StratumScore s) => FormattableString.Invariant(
            $"{s.Top1:0.0%}{(s.Top1Interval is [var lo, var hi] ? $" [{lo:0%}, {hi:0%}]" : "")}<br>{s.NImages} photos of {s.NSubjects} {(s.NSubjects == 1 ? "person" : "people")}")
            .Replace("%", "&#37;");
        var traces = new List<Trace>();
        if (overallTop1 is double all && double.IsFinite(all))
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "lines"), ("x", new[] { all, all }), ("y", new[] { y + 0.5, 0.5 }),
                ("name", FormattableString.Invariant($"all scored photos ({all:0%})")), ("line", Obj(("dash", "dash"), ("color", "#888"), ("width", 1.25))), ("hoverinfo", "skip")));
        traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "markers"), ("x", points.Select(p => p.Score.Top1).ToArray()), ("y", points.Select(p => p.Y).ToArray()),
            ("name", "top-1 (95% interval over people)"), ("marker", Obj(("color", Palette[0]), ("size", 8), ("symbol", "square"))),
            ("error_x", Obj(("type", "data"), ("symmetric", false),
                ("array", points.Select(p => p.Score.Top1Interval is [_, var hi] ? Math.Max(0, hi - p.Score.Top1) : (double?)null).ToArray()),
                ("arrayminus", points.Select(p => p.Score.Top1Interval is [var lo, _] ? Math.Max(0, p.Score.Top1 - lo) : (double?)null).ToArray()),
                ("color", Palette[0]), ("thickness", 1.5), ("width", 4))),
            ("text", points.Select(p => p.Label).ToArray()), ("customdata", points.Select(p => Hover(p.Score)).ToArray()),
            ("hovertemplate", "%{text}: %{customdata}<extra></extra>")));
        var oracle = points.Where(p => Oracle(p.Score) is not null).ToArray();
        if (oracle.Length > 0)
            traces.Add(PlotlyBuilder.Trace("scatter", ("mode", "markers"), ("x", oracle.Select(p => Oracle(p.Score)).ToArray()), ("y", oracle.Select(p => p.Y).ToArray()),
                ("name", "oracle (Bayes on true traits), same photos"), ("marker", Obj(("symbol", "star"), ("size", 10), ("color", "#555"))),
                ("text", oracle.Select(p => p.Label).ToArray()), ("hovertemplate", "%{text}, oracle: %{x:.1%}<extra></extra>")));
        // A figure used on its own in a paper says what its whiskers and p-values are.
        int tested = strata.Columns.Values.Count(c => c.PDifferences is not null);
        string subtitle = "whiskers: 95% intervals" + (tested > 0 ? " · p: permutation test" + (tested > 1 ? " (Holm)" : "") : "");
        return Chart(traces, ("title", Title($"{title}<br><sub>{System.Net.WebUtility.HtmlEncode(subtitle)}</sub>")), ("width", 640), ("height", 170 + 24 * ticks.Count),
            ("legend", Obj(("orientation", "h"), ("y", -0.12 - 6.0 / Math.Max(1, ticks.Count)), ("x", 0))),
            // A little room past 100 %: a star or an interval ending there is not cut in half by the frame.
            ("xaxis", Axis("top-1 accuracy (per photo)", ("range", new[] { 0, 1.04 }), ("tickvals", new[] { 0, 0.25, 0.5, 0.75, 1.0 }), ("tickformat", ".0%"))),
            ("yaxis", Axis(null, ("tickvals", ticks.Select(t => t.Y).ToArray()), ("ticktext", ticks.Select(t => t.Text).ToArray()),
                ("range", new[] { y + 0.4, 0.6 }), ("showgrid", false), ("automargin", true), ("ticks", ""))));
    }

    /// <summary>
    /// Per-region contributions to one prediction: for the ensemble's <paramref name="top"/> classes, the probability
    /// each region's net gave them, beside the ensemble's own (what each region "said").
    /// </summary>
    public static GenericChart RegionContributions(IReadOnlyDictionary<string, float[]> regionProbabilities, float[] ensemble,
        IReadOnlyList<string> classNames, int top = 5, string title = "What each facial region said")
    {
        if (ensemble.Length != classNames.Count) throw new GestaltLabException($"the ensemble has {ensemble.Length} probabilities for {classNames.Count} classes");
        var topClasses = Enumerable.Range(0, ensemble.Length).OrderByDescending(k => ensemble[k]).ThenBy(k => k).Take(top).ToArray();
        var names = topClasses.Select(k => classNames[k]).ToArray();
        var traces = new List<Trace>();
        var regions = regionProbabilities.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        for (int r = 0; r < regions.Length; r++)
        {
            var p = regionProbabilities[regions[r]];
            if (p.Length != classNames.Count) throw new GestaltLabException($"region '{regions[r]}' has {p.Length} probabilities for {classNames.Count} classes");
            traces.Add(PlotlyBuilder.Trace("bar", ("x", names), ("y", topClasses.Select(k => (double)p[k]).ToArray()), ("name", regions[r]),
                ("marker", Obj(("color", Colour(r, regions.Length + 1)))), ("hovertemplate", $"{Html(regions[r])}: P(%{{x}}) = %{{y:.1%}}<extra></extra>")));
        }
        traces.Add(PlotlyBuilder.Trace("bar", ("x", names), ("y", topClasses.Select(k => (double)ensemble[k]).ToArray()), ("name", "ensemble"),
            ("marker", Obj(("color", "#222"), ("pattern", Obj(("shape", "/"), ("fgcolor", "#888"))))),
            ("hovertemplate", "ensemble: P(%{x}) = %{y:.1%}<extra></extra>")));
        return Chart(traces, ("title", Title(title)), ("barmode", "group"), ("width", 820), ("height", 420),
            ("xaxis", Axis("syndrome (ensemble's top suggestions)", ("type", "category"), ("showgrid", false))),
            ("yaxis", Axis("probability", ("range", new[] { 0, 1 }), ("tickformat", ".0%"))));
    }

    // ---------------------------------------------------------------- images

    /// <summary>An image as a chart (pixels embedded as a PNG data URI: nothing is referenced off the machine).</summary>
    public static GenericChart Image(RgbImage image, string title = "") =>
        Chart([ImageTrace(image)], ("title", title.Length == 0 ? null : Title(title)),
            ("width", Math.Min(900, image.Width + 80)), ("height", Math.Min(900, image.Height + (title.Length == 0 ? 40 : 80))),
            ("margin", Obj(("l", 20), ("r", 20), ("t", title.Length == 0 ? 20 : 60), ("b", 20))),
            ("xaxis", Obj(("visible", false))), ("yaxis", Obj(("visible", false), ("scaleanchor", "x"))));

    /// <summary>Occlusion sensitivity over the face: the drop in the class probability when each area is covered.</summary>
    public static GenericChart Occlusion(RgbImage face, OcclusionMap map, string title = "")
    {
        if (title.Length == 0) title = FormattableString.Invariant($"Occlusion sensitivity for '{map.ClassName}' (p = {map.BaseProbability * 100:F1}%)");
        double lim = Math.Max(1e-6, map.MaxAbs());
        var heat = PlotlyBuilder.Trace("heatmap", ("z", map.Rows()), ("x0", map.CellSize / 2.0), ("dx", (double)map.Stride),
            ("y0", map.CellSize / 2.0), ("dy", (double)map.Stride), ("zmin", -lim), ("zmax", lim), ("opacity", 0.7),
            // Red = hiding the area lowers the probability (it supports the class), blue = raises it. ColorBrewer's RdBu ends,
            // equally dark, so that a gain and a loss of one size look alike; clear at zero, where plotly.js's own RdBu is
            // grey and greyed the whole face.
            ("colorscale", new object[] { new object[] { 0, "rgba(33,102,172,1)" }, new object[] { 0.25, "rgba(146,197,222,0.8)" }, new object[] { 0.5, "rgba(247,247,247,0)" },
                new object[] { 0.75, "rgba(244,165,130,0.8)" }, new object[] { 1, "rgba(178,24,43,1)" } }), ("zsmooth", "best"),
            ("colorbar", Obj(("title", Obj(("text", "probability drop"))), ("thickness", 12))),
            ("hovertemplate", "x %{x:.0f}, y %{y:.0f}: drop %{z:.3f}<extra></extra>"));
        return Chart([ImageTrace(face), heat], ("title", Title(title)), ("width", Math.Min(760, face.Width * 2 + 160)), ("height", Math.Min(760, face.Height * 2 + 100)),
            ("xaxis", Obj(("visible", false), ("range", new[] { -0.5, face.Width - 0.5 }))),
            ("yaxis", Obj(("visible", false), ("range", new[] { face.Height - 0.5, -0.5 }), ("scaleanchor", "x"))));
    }

    private static Trace ImageTrace(RgbImage image) =>
        PlotlyBuilder.Trace("image", ("source", "data:image/png;base64," + Convert.ToBase64String(image.EncodePng())), ("hoverinfo", "skip"));

    // ---------------------------------------------------------------- helpers

    private static string Transparent(string colour)
    {
        if (colour.StartsWith('#') && colour.Length == 7)
        {
            int v = Convert.ToInt32(colour[1..], 16);
            return $"rgba({v >> 16},{(v >> 8) & 255},{v & 255},0.25)";
        }
        return colour.StartsWith("hsl(", StringComparison.Ordinal) ? "hsla(" + colour[4..^1] + ",0.25)" : colour;
    }

    /// <summary>Escapes text placed inside a plotly hover template (HTML subset; braces would start a template).</summary>
    internal static string Html(string s) =>
        System.Net.WebUtility.HtmlEncode(s).Replace("{", "&#123;").Replace("}", "&#125;").Replace("%", "&#37;");
}
