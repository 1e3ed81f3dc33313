using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using SkiaSharp;

namespace GestaltLab.Notebooks;

/// <summary>
/// Turns a value shown in a notebook (by <c>display(…)</c> or as a cell's trailing expression) into a
/// <see cref="MimeBundle"/>, like a Jupyter kernel's formatters: Plotly.NET charts → interactive HTML (plotly.js
/// inlined once per notebook, so it works offline) plus Plotly's own MIME type and a text summary; SkiaSharp bitmaps
/// and images (and any object with <c>byte[] EncodePng()</c> or <c>SKBitmap ToSKBitmap()</c>) → PNG; sequences of
/// records, dictionaries and 2-D arrays → HTML tables; everything else → text. One formatter serves one notebook run.
/// </summary>
public sealed class DisplayFormatter
{
    private static readonly ConcurrentDictionary<Type, Func<object, MimeBundle?>> Custom = new();

    /// <summary>Most rows an HTML table shows (the rest are counted).</summary>
    public int MaxTableRows { get; init; } = 50;

    /// <summary>Most items a text rendering of a sequence lists.</summary>
    public int MaxListItems { get; init; } = 100;

    internal PlotlyDisplay Plotly { get; } = new();

    /// <summary>
    /// Registers a formatter for values of type <typeparamref name="T"/> (and derived types), used before the built-in
    /// ones; return null to fall back to them. Applies to every notebook run in this process.
    /// </summary>
    public static void Register<T>(Func<T, MimeBundle?> format) => Custom[typeof(T)] = o => format((T)o);

    /// <summary>Formats a value; null shows as <c>null</c>.</summary>
    public MimeBundle Format(object? value, string? displayId = null)
    {
        if (value is null) return MimeBundle.Plain("null");
        if (value is MimeBundle bundle) return bundle;
        for (var t = value.GetType(); t is not null; t = t.BaseType)
            if (Custom.TryGetValue(t, out var custom) && custom(value) is { } b) return b;
        foreach (var i in value.GetType().GetInterfaces())
            if (Custom.TryGetValue(i, out var custom) && custom(value) is { } b) return b;

        switch (value)
        {
            case string s: return MimeBundle.Plain(s);
            case Plotly.NET.GenericChart chart: return Plotly.Format(chart, displayId ?? "chart");
        }
        if (TryPng(value, out byte[]? png, out string? size))
            return new MimeBundle().With("image/png", Convert.ToBase64String(png!))
                .With("text/plain", $"{value.GetType().Name} {size}");
        if (IsScalar(value)) return MimeBundle.Plain(Scalar(value));
        if (value is Microsoft.ML.IDataView data) return DataView(data);
        if (value is IDictionary dict) return Dictionary(dict);
        if (value is Array { Rank: 2 } matrix) return Matrix(matrix);
        if (value is IEnumerable sequence) return Sequence(sequence);
        return MimeBundle.Plain(value.ToString() ?? value.GetType().Name);
    }

    /// <summary>PNG bytes of an image-like value: SkiaSharp types, or objects exposing EncodePng()/ToSKBitmap().</summary>
    internal static bool TryPng(object value, out byte[]? png, out string? size)
    {
        png = null;
        size = null;
        switch (value)
        {
            case SKBitmap bitmap:
                using (var image = SKImage.FromBitmap(bitmap)) png = Encode(image);
                size = $"{bitmap.Width}×{bitmap.Height}";
                return true;
            case SKImage image:
                png = Encode(image);
                size = $"{image.Width}×{image.Height}";
                return true;
            case SKPixmap pixmap:
                using (var image = SKImage.FromPixels(pixmap)) png = Encode(image);
                size = $"{pixmap.Width}×{pixmap.Height}";
                return true;
            case GestaltLab.Data.RgbImage rgb:
                png = rgb.EncodePng();
                size = $"{rgb.Width}×{rgb.Height}";
                return true;
        }
        var type = value.GetType();
        // Other image types (a user's own, in a notebook cell) are recognised by shape: EncodePng() or ToSKBitmap().
        if (type.GetMethod("EncodePng", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes) is { ReturnType: var rt } encode && rt == typeof(byte[]))
        {
            png = (byte[])encode.Invoke(value, null)!;
            size = SizeOf(value);
            return true;
        }
        if (type.GetMethod("ToSKBitmap", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes) is { } toBitmap
            && typeof(SKBitmap).IsAssignableFrom(toBitmap.ReturnType))
        {
            using var bitmap = (SKBitmap)toBitmap.Invoke(value, null)!;
            using var image = SKImage.FromBitmap(bitmap);
            png = Encode(image);
            size = $"{bitmap.Width}×{bitmap.Height}";
            return true;
        }
        return false;
    }

    private static string? SizeOf(object value)
    {
        var t = value.GetType();
        object? w = t.GetProperty("Width")?.GetValue(value), h = t.GetProperty("Height")?.GetValue(value);
        return w is not null && h is not null ? $"{w}×{h}" : null;
    }

    private static byte[] Encode(SKImage image)
    {
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("SkiaSharp could not encode the image as PNG");
        return data.ToArray();
    }

    private static bool IsScalar(object value) =>
        value is IFormattable or bool or char or Guid or Uri || value.GetType().IsEnum || value.GetType().IsPrimitive;

    /// <summary>Invariant-culture text of a value, numbers with up to 6 significant digits.</summary>
    internal static string Scalar(object? value) => value switch
    {
        null => "null",
        double d => d.ToString("G6", CultureInfo.InvariantCulture),
        float f => f.ToString("G6", CultureInfo.InvariantCulture),
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private MimeBundle Dictionary(IDictionary dict)
    {
        var rows = new List<string[]>();
        var text = new StringBuilder();
        int n = 0;
        foreach (DictionaryEntry e in dict)
        {
            if (n++ >= MaxTableRows) continue;
            rows.Add([WebUtility.HtmlEncode(Scalar(e.Key)), Cell(e.Value)]);   // cells are HTML (Cell encodes its own)
            text.Append(Scalar(e.Key)).Append(": ").AppendLine(Text(e.Value));
        }
        var html = Table(["key", "value"], rows, n);
        return new MimeBundle().With("text/html", html).With("text/plain", text.ToString().TrimEnd());
    }

    /// <summary>An ML.NET data view: its first rows (ML.NET's own preview), vector columns summarised.</summary>
    private MimeBundle DataView(Microsoft.ML.IDataView data)
    {
        var preview = Microsoft.ML.DebuggerExtensions.Preview(data, MaxTableRows + 1);
        var header = preview.Schema.Where(c => !c.IsHidden).Select(c => c.Name).ToArray();
        var rows = new List<string[]>();
        var text = new StringBuilder().AppendLine(string.Join("\t", header));
        foreach (var row in preview.RowView.Take(MaxTableRows))
        {
            var values = row.Values.Where(v => header.Contains(v.Key)).Select(v => Text(v.Value)).ToArray();
            rows.Add(values.Select(v => WebUtility.HtmlEncode(v)).ToArray());
            text.AppendLine(string.Join("\t", values));
        }
        long? count = data.GetRowCount();
        int total = preview.RowView.Length > MaxTableRows ? (int)Math.Min(count ?? MaxTableRows + 1, int.MaxValue) : rows.Count;
        string html = Table(header, rows, total);
        if (total > rows.Count && count is null) html = html.Replace($"of {total} rows shown", "rows shown (more follow)");
        return new MimeBundle().With("text/html", html).With("text/plain", text.ToString().TrimEnd());
    }

    private MimeBundle Matrix(Array m)
    {
        int r = m.GetLength(0), c = m.GetLength(1);
        var header = new[] { "" }.Concat(Enumerable.Range(0, c).Select(j => j.ToString(CultureInfo.InvariantCulture))).ToArray();
        var rows = new List<string[]>();
        var text = new StringBuilder();
        for (int i = 0; i < Math.Min(r, MaxTableRows); i++)
        {
            var row = new string[c + 1];
            row[0] = i.ToString(CultureInfo.InvariantCulture);
            for (int j = 0; j < c; j++) row[j + 1] = Scalar(m.GetValue(i, j));
            rows.Add(row.Select(x => WebUtility.HtmlEncode(x) ?? "").ToArray());
            text.AppendLine(string.Join("\t", row.Skip(1)));
        }
        return new MimeBundle().With("text/html", Table(header, rows, r)).With("text/plain", text.ToString().TrimEnd());
    }

    private MimeBundle Sequence(IEnumerable sequence)
    {
        var items = new List<object?>();
        int count = 0;
        foreach (var item in sequence)
        {
            if (count < Math.Max(MaxTableRows, MaxListItems)) items.Add(item);
            count++;
            if (count > 100_000) break; // do not walk an endless or huge sequence to count it
        }
        string countText = count > 100_000 ? "more than 100000" : count.ToString(CultureInfo.InvariantCulture);
        var elementType = items.FirstOrDefault(i => i is not null)?.GetType();
        // Rows read as dictionaries (a CSV's rows, say): one column per key, in the order the keys first appear.
        var columns = items.Count > 0 && items.All(i => i is IDictionary) ? DictionaryColumns(items.Take(MaxTableRows).Cast<IDictionary>())
            : elementType is null || IsScalar(items.First(i => i is not null)!) || items.First(i => i is not null) is string
            ? null : Columns(elementType);
        if (columns is null || columns.Count == 0 || (items[0] is not IDictionary && items.Any(i => i is not null && i.GetType() != elementType)))
        {
            var shown = items.Take(MaxListItems).Select(Text);
            string more = count > MaxListItems ? $", … ({countText} items)" : "";
            return MimeBundle.Plain($"[{string.Join(", ", shown)}{more}]");
        }

        var rows = new List<string[]>();
        var plain = new StringBuilder();
        plain.AppendLine(string.Join("\t", columns.Select(c => c.Name)));
        foreach (var item in items.Take(MaxTableRows))
        {
            var values = columns.Select(c => item is null ? null : c.Get(item)).ToArray();
            rows.Add(values.Select(v => Cell(v)).ToArray());
            plain.AppendLine(string.Join("\t", values.Select(Text)));
        }
        if (count > MaxTableRows) plain.AppendLine($"… {countText} rows in all");
        var html = Table(columns.Select(c => c.Name).ToArray(), rows, count);
        return new MimeBundle().With("text/html", html).With("text/plain", plain.ToString().TrimEnd());
    }

    private sealed record Column(string Name, Func<object, object?> Get);

    private List<Column> DictionaryColumns(IEnumerable<IDictionary> rows)
    {
        var columns = new List<Column>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows)
            foreach (var key in row.Keys)
                if (seen.Add(Text(key)))
                    columns.Add(new Column(Text(key), o => ((IDictionary)o).Contains(key) ? ((IDictionary)o)[key] : ""));   // a key a row lacks: an empty cell
        return columns;
    }

    private static List<Column> Columns(Type type)
    {
        var columns = new List<Column>();
        // Tuples expose their elements as fields; records and classes as properties.
        if (type.FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true)
        {
            foreach (var f in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
                columns.Add(new Column(f.Name, f.GetValue));
            return columns;
        }
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            if (p.GetIndexParameters().Length == 0 && p.CanRead && p.Name != "EqualityContract")
                columns.Add(new Column(p.Name, p.GetValue));
        return columns;
    }

    /// <summary>HTML for one table cell: images inline as PNG, nested sequences summarised, text escaped.</summary>
    private string Cell(object? value)
    {
        if (value is not null && value is not string && !IsScalar(value) && TryPng(value, out var png, out _))
            return $"<img src=\"data:image/png;base64,{Convert.ToBase64String(png!)}\" style=\"max-width:160px\"/>";
        return WebUtility.HtmlEncode(Text(value));
    }

    /// <summary>Short text of a value inside a table or list.</summary>
    private string Text(object? value)
    {
        if (value is null) return "null";
        // ML.NET vectors (VBuffer<T>) show their values, not their type name.
        if (value.GetType() is { IsGenericType: true } vt && vt.GetGenericTypeDefinition().FullName == "Microsoft.ML.Data.VBuffer`1"
            && vt.GetMethod("DenseValues", Type.EmptyTypes) is { } dense)
            value = dense.Invoke(value, null)!;
        if (value is string s) return s;
        if (IsScalar(value)) return Scalar(value);
        // A dictionary in a cell (a ranked syndrome's contributions by region) shows its pairs, not bracketed key/value lists.
        if (value is IDictionary d)
        {
            // IDictionary's own enumerator gives DictionaryEntry; a generic dictionary's foreach gives KeyValuePair.
            var entries = new List<DictionaryEntry>();
            for (var en = d.GetEnumerator(); entries.Count < 11 && en.MoveNext();) entries.Add(en.Entry);
            string pairs = string.Join(", ", entries.Take(10).Select(en => $"{Text(en.Key)}: {(en.Value is IEnumerable and not string ? "…" : Text(en.Value))}"));
            return $"{{{pairs}{(entries.Count > 10 ? ", …" : "")}}}";
        }
        if (value is IEnumerable e)
        {
            var items = e.Cast<object?>().Take(11).ToList();
            string body = string.Join(", ", items.Take(10).Select(i => i is IEnumerable and not string ? "…" : Scalar(i)));
            return $"[{body}{(items.Count > 10 ? ", …" : "")}]";
        }
        return value.ToString() ?? value.GetType().Name;
    }

    private static string Table(string[] header, List<string[]> rows, int total)
    {
        var sb = new StringBuilder();
        sb.Append("<table class=\"gestaltlab-table\">\n<thead><tr>");
        foreach (var h in header) sb.Append("<th>").Append(WebUtility.HtmlEncode(h)).Append("</th>");
        sb.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in rows)
        {
            sb.Append("<tr>");
            foreach (var cell in row) sb.Append("<td>").Append(cell).Append("</td>");
            sb.Append("</tr>\n");
        }
        sb.Append("</tbody>\n</table>");
        if (total > rows.Count)
            sb.Append($"\n<p><em>{rows.Count} of {total.ToString(CultureInfo.InvariantCulture)} rows shown</em></p>");
        return sb.ToString();
    }
}
