using DynamicObj;
using Plotly.NET;

namespace GestaltLab.Figures;

/// <summary>
/// Builds Plotly.NET charts from plotly.js attribute names (the schema documented at plotly.com/javascript/reference),
/// so every chart is a real <see cref="GenericChart"/> that notebooks display and Plotly.NET functions compose, while
/// the figures use attributes the typed wrappers do not expose (hover templates, custom data, shapes).
/// </summary>
internal static class PlotlyBuilder
{
    /// <summary>A trace of the given plotly.js type with attributes (null values are left out).</summary>
    public static Trace Trace(string type, params (string Name, object? Value)[] attributes)
    {
        var t = new Trace2D(type);
        Set(t, attributes);
        return t;
    }

    /// <summary>A nested plotly.js object (marker, line, axis …).</summary>
    public static DynamicObj.DynamicObj Obj(params (string Name, object? Value)[] attributes)
    {
        var o = new DynamicObj.DynamicObj();
        Set(o, attributes);
        return o;
    }

    /// <summary>A chart from traces and a layout.</summary>
    public static GenericChart Chart(IEnumerable<Trace> traces, params (string Name, object? Value)[] layout)
    {
        var l = new Layout();
        Set(l, Defaults);
        Set(l, layout);
        var chart = GenericChart.ofTraceObjects(true, traces.ToArray());
        chart = GenericChart.setLayout(l, chart);
        var config = new Config();
        Set(config, [("displaylogo", false), ("responsive", true),
            ("toImageButtonOptions", Obj(("format", "svg"), ("filename", "gestaltlab-figure")))]);
        return GenericChart.setConfig(config, chart);
    }

    /// <summary>Plain white style that reads well in print and in notebooks alike.</summary>
    private static readonly (string, object?)[] Defaults =
    [
        ("template", null),
        ("paper_bgcolor", "white"),
        ("plot_bgcolor", "white"),
        ("font", Obj(("family", Charts.FontFamily), ("size", 12), ("color", "#222"))),
    ];

    /// <summary>An axis with light grid lines.</summary>
    public static DynamicObj.DynamicObj Axis(string? title, params (string Name, object? Value)[] extra)
    {
        var a = Obj(("title", title is null ? null : Obj(("text", title))), ("showgrid", true), ("gridcolor", "#e6e6e6"),
            ("zeroline", false), ("linecolor", "#444"), ("showline", true), ("ticks", "outside"));
        Set(a, extra);
        return a;
    }

    /// <summary>A title object.</summary>
    public static DynamicObj.DynamicObj Title(string text) => Obj(("text", text), ("x", 0.02), ("xanchor", "left"));

    private static void Set(DynamicObj.DynamicObj o, IEnumerable<(string Name, object? Value)> attributes)
    {
        foreach (var (name, value) in attributes)
            if (value is not null) o.SetProperty(name, value);
    }

    /// <summary>
    /// Categorical colours: the Okabe-Ito palette (its 8 colours stay apart for colour-blind readers), then Tableau's
    /// (which do not all); charts with more categories than 8 also vary the marker shape (e.g. the t-SNE map).
    /// </summary>
    public static IReadOnlyList<string> Palette { get; } =
    [
        "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
        "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#BAB0AC",
    ];

    /// <summary>Colour for category index <paramref name="i"/>; beyond the palette, evenly spaced hues.</summary>
    public static string Colour(int i, int count)
    {
        if (count <= Palette.Count) return Palette[i % Palette.Count];
        // Golden-angle hues: neighbouring indices (often similar classes) get clearly different colours.
        double h = (i * 137.508) % 360;
        return FormattableString.Invariant($"hsl({h:F0},{(i % 3 == 0 ? 65 : 80)}%,{(i % 2 == 0 ? 42 : 55)}%)");
    }
}
