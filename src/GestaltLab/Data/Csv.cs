using System.Globalization;
using System.Text;
using GestaltLab.Runtime;

namespace GestaltLab.Data;

/// <summary>
/// Small RFC 4180 CSV reading and writing with invariant-culture numbers, used by every manifest and report the
/// toolkit writes (so the files open the same in pandas, R and Excel, and are byte-identical for the same input).
/// </summary>
public static class Csv
{
    /// <summary>Quotes a field when it holds a comma, quote or line break.</summary>
    public static string Escape(string field) =>
        field.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + field.Replace("\"", "\"\"") + "\"" : field;

    /// <summary>Formats a number the same way on every machine (invariant culture, round-trippable, "R" for floats).</summary>
    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Formats a number with a fixed count of decimals (invariant culture).</summary>
    public static string Format(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    /// <summary>Builds one CSV line (no line break) from fields.</summary>
    public static string Line(IEnumerable<string> fields) => string.Join(",", fields.Select(Escape));

    /// <summary>Writes a header and rows atomically (LF line ends).</summary>
    /// <param name="path">The file.</param>
    /// <param name="header">Column names.</param>
    /// <param name="rows">Rows, each as long as the header.</param>
    /// <param name="ownerOnly">Readable by its owner alone (mode 0600; 0640 in a folder shared with its group and closed to
    /// others, <see cref="AtomicFile.Write"/>), whatever the folder's own mode: a table of patients' photos.</param>
    public static void Write(string path, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows, bool ownerOnly = false)
    {
        var sb = new StringBuilder();
        sb.Append(Line(header)).Append('\n');
        foreach (var row in rows)
        {
            if (row.Count != header.Count)
                throw new ArgumentException($"{path}: row has {row.Count} fields, header has {header.Count}");
            sb.Append(Line(row)).Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString(), ownerOnly);
    }

    /// <summary>A parsed CSV table: header and rows, with access by column name.</summary>
    public sealed class Table
    {
        internal Table(string source, string[] header, List<string[]> rows, List<int>? lines = null)
        {
            Source = source;
            Header = header;
            Rows = rows;
            _lines = lines;
            _index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < header.Length; i++)
                if (!_index.TryAdd(header[i], i)) _ambiguous.Add(header[i]);
        }

        private readonly Dictionary<string, int> _index;
        private readonly List<int>? _lines;
        // Names given twice in letter cases that differ ("Syndrome" and "syndrome"): looked up by name, which one is
        // meant cannot be told (columns only read by position, such as class columns, are not affected).
        private readonly HashSet<string> _ambiguous = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>The file (or description) the table was read from, for error messages.</summary>
        public string Source { get; }
        /// <summary>Column names.</summary>
        public IReadOnlyList<string> Header { get; }
        /// <summary>Data rows (each as long as the header).</summary>
        public IReadOnlyList<string[]> Rows { get; }

        /// <summary>
        /// The line of the file on which data row <paramref name="row"/> (0-based) begins, for messages that point the user
        /// at it: blank lines, rows of empty cells and line breaks inside quoted cells counted as the file has them.
        /// </summary>
        public int LineOf(int row) => _lines is { } l && row >= 0 && row < l.Count ? l[row] : row + 2;

        /// <summary>Whether the table has the column.</summary>
        public bool Has(string column) => _index.ContainsKey(column);

        /// <summary>Index of a column; throws a clear error naming the file when it is missing.</summary>
        public int Column(string column) => _ambiguous.Contains(column)
            ? throw new GestaltLabException($"{Source}: column '{column}' appears twice in the header ({string.Join(" and ", Header.Where(h => h.Equals(column, StringComparison.OrdinalIgnoreCase)))})", "keep one of them")
            : _index.TryGetValue(column, out int i)
            ? i
            : throw new GestaltLabException($"{Source}: missing column '{column}' (columns: {string.Join(",", Header)})", SeparatorFix(Header));
    }

    /// <summary>
    /// What to do when <paramref name="header"/> is one column holding semicolons or tabs, or null: a spreadsheet saved
    /// with ';' (as in locales where ',' is the decimal mark) or tabs reads as one column.
    /// </summary>
    private static string? SeparatorFix(IReadOnlyList<string> header) =>
        header.Count == 1 && (header[0].Contains(';') || header[0].Contains('\t')) ? SeparatorFix(header[0].Contains(';') ? "semicolons" : "tabs") : null;

    private static string SeparatorFix(string separator) =>
        // Excel writes the locale's list separator even as "CSV UTF-8": ';' where ',' is the decimal mark.
        $"the file is separated by {separator}: save it comma-separated (LibreOffice: Text CSV with field delimiter ','; Excel writes ';' under locales with a decimal comma), or replace them by commas";

    /// <summary>How a separator is named to the user.</summary>
    private static string SeparatorName(char c) => c switch
    {
        ';' => "semicolons", '\t' => "tabs",
        // Printed to a terminal, a control character could act: written as its code.
        _ when char.IsControl(c) => $"'U+{(int)c:X4}'",
        _ => $"'{c}'",
    };

    /// <summary>Reads a CSV file with a header row. Errors name the file and the line.</summary>
    public static Table Read(string path)
    {
        if (Directory.Exists(path)) throw new GestaltLabException($"{path}: is a folder; a CSV file is expected here");
        if (!File.Exists(path)) throw new GestaltLabException($"{path}: file not found");
        return Parse(ReadUtf8(path), path);
    }

    /// <summary>
    /// The file's text, which must be UTF-8 (a byte-order mark is allowed). Excel's plain "CSV" is Windows-1252: read
    /// as UTF-8 its accented letters would silently become "�" — new syndrome names, photos not found — so it is refused
    /// with the line it fails on.
    /// </summary>
    private static string ReadUtf8(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        // UTF-16 with its byte-order mark (Windows PowerShell's `>` writes it) is unambiguous: read as such.
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE) return Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2);
        if (bytes.Length >= 2 && bytes[0] == 0xFE && bytes[1] == 0xFF) return Encoding.BigEndianUnicode.GetString(bytes, 2, bytes.Length - 2);
        int bom = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        try { return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes, bom, bytes.Length - bom); }
        catch (DecoderFallbackException e)
        {
            int at = bom + Math.Max(0, e.Index);
            // Lines as Parse counts them: LF, CRLF or a lone CR ends one.
            int line = 1;
            for (int i = bom; i < Math.Min(at, bytes.Length); i++)
                if (bytes[i] == (byte)'\n' || (bytes[i] == (byte)'\r' && (i + 1 >= bytes.Length || bytes[i + 1] != (byte)'\n'))) line++;
            throw new GestaltLabException($"{path}: line {line}: not UTF-8 text (a byte 0x{(at < bytes.Length ? bytes[at] : 0):X2}; Excel's plain \"CSV\" and older editors write Windows-1252)",
                "save the file as \"CSV UTF-8\" (Excel) or as UTF-8 (any editor) and run again");
        }
    }

    /// <summary>
    /// Parses CSV text with a header row. Lines may end in LF, CRLF or a lone CR (classic Mac, older Excel for Mac);
    /// a line break inside a quoted field is part of its value. A first line <c>sep=,</c> (Excel writes it to name the
    /// separator) is skipped; one naming another separator is refused, naming it.
    /// </summary>
    public static Table Parse(string text, string source)
    {
        // No text cell holds a NUL, and no file name can: a path cell with one crashed the file system calls that took it.
        // A whole file of them every other character is UTF-16 without its byte-order mark, which some editors write.
        if (text.IndexOf('\0') is var nul and >= 0)
        {
            int nuls = text.Count(c => c == '\0');
            int nulLine = 1;   // as Parse counts lines: LF, CRLF or a lone CR ends one
            for (int i = 0; i < nul; i++)
                if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= text.Length || text[i + 1] != '\n'))) nulLine++;
            throw nuls * 3 >= text.Length
                ? new GestaltLabException($"{source}: not UTF-8 text: every other byte is 0, as in UTF-16 without a byte-order mark",
                    "save the file as UTF-8 (\"CSV UTF-8\" in Excel) and run again")
                : new GestaltLabException($"{source}: line {nulLine}: holds a NUL character (byte 0), which no text cell or file name can",
                    "remove it (the file may have been cut or joined with binary data) and run again");
        }
        var records = new List<string[]>();
        var starts = new List<int>();   // the line each record begins on
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, fieldStarted = false;
        int line = 1, recordStart = 1, quoteStart = 1, first = 0;
        // Excel's "sep=X" line: read as the header, it would make a table of one column named "sep=" (or say the
        // semicolons' real problem only after a confusing row-width error).
        if (text.StartsWith("sep=", StringComparison.OrdinalIgnoreCase) && text.Length >= 5
            && (text.Length == 5 || text[5] is '\r' or '\n'))
        {
            char sep = text[4];
            if (sep != ',')
                throw new GestaltLabException($"{source}: line 1: the file is separated by {SeparatorName(sep)} (its first line says so: sep={(sep == '\t' ? "\\t" : char.IsControl(sep) ? $"U+{(int)sep:X4}" : sep.ToString())})",
                    SeparatorFix(SeparatorName(sep)));
            first = text.Length > 6 && text[5] == '\r' && text[6] == '\n' ? 7 : 6;
            line = recordStart = 2;
        }
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            // A line ends at LF, at CRLF (on its LF) and at a CR not followed by LF.
            bool lineEnd = c == '\n' || (c == '\r' && (i + 1 >= text.Length || text[i + 1] != '\n'));
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                    else quoted = false;
                }
                else
                {
                    if (lineEnd) line++;
                    field.Append(c);
                }
                continue;
            }
            if (lineEnd)
            {
                if (fieldStarted || field.Length > 0 || fields.Count > 0)
                {
                    fields.Add(field.ToString());
                    records.Add(fields.ToArray());
                    starts.Add(recordStart);
                }
                fields.Clear(); field.Clear(); fieldStarted = false; line++; recordStart = line;
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0: quoted = true; fieldStarted = true; quoteStart = line; break;
                case ',': fields.Add(field.ToString()); field.Clear(); fieldStarted = true; break;
                case '\r': break;   // the CR of a CRLF
                default: field.Append(c); fieldStarted = true; break;
            }
        }
        if (quoted) throw new GestaltLabException($"{source}: line {quoteStart}: a quoted field is never closed (a \" without its closing \")",
            "close the quote, or remove it");
        if (fieldStarted || field.Length > 0 || fields.Count > 0)
        {
            fields.Add(field.ToString());
            records.Add(fields.ToArray());
            starts.Add(recordStart);
        }
        if (records.Count == 0) throw new GestaltLabException($"{source}: empty CSV (no header row)");
        // Column names as typed in a spreadsheet: " image " is image. A name given twice would leave one column's values
        // unread without a word: refused.
        var header = records[0].Select(h => h.Trim()).ToArray();
        if (header.Where(h => h.Length > 0).GroupBy(h => h, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new GestaltLabException($"{source}: column '{twice.Key}' appears twice in the header", "keep one of them (or rename the other)");
        var rows = new List<string[]>(records.Count - 1);
        var lines = new List<int>(records.Count - 1);
        for (int r = 1; r < records.Count; r++)
        {
            // A row of empty cells (",,", or spaces), as a spreadsheet writes for rows once edited, says nothing: skipped
            // like a blank line, whatever its width.
            if (records[r].All(string.IsNullOrWhiteSpace)) continue;
            // A file separated by semicolons or tabs has a header of one column; a comma in one of its values makes a
            // row look ragged, and quoting would be blamed: the separator is said first.
            if (records[r].Length != header.Length && SeparatorFix(header) is { } separator)
                throw new GestaltLabException($"{source}: line {starts[0]}: the header is one column, '{header[0]}'", separator);
            if (records[r].Length != header.Length)
                throw new GestaltLabException($"{source}: line {starts[r]}: {records[r].Length} fields, the header has {header.Length}",
                    records[r].Length > header.Length ? "a comma inside a value needs the value in double quotes" : "give every row a cell for each column (empty cells are fine)");
            rows.Add(records[r]);
            lines.Add(starts[r]);
        }
        return new Table(source, header, rows, lines);
    }
}
