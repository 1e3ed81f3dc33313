using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace GestaltLab.Runtime;

/// <summary>
/// Text meant to leave the team (a shared report page, an exported figure's record): absolute paths cut down to their
/// last name. The folders above a run or a data set often name a clinic, a user or a patient cohort
/// (<c>/home/dr_smith/nf1-referrals-2024/run</c>); the last name is kept because it is what the author chose to call
/// the run or data, and it is how a reader of the page tells two of them apart.
/// </summary>
public static partial class SharedText
{
    /// <summary>What stands for the folders cut from a path.</summary>
    public const string Elided = "…";

    // An absolute POSIX path (a '/' that starts a word: "GNU/Linux", "top-1/5" and "2024/01/31" are not paths) or a
    // Windows one ("C:\…", "\\server\…"). The folders inside may hold anything but a line break, a double quote, an
    // angle bracket or a colon, and do not end in white space — spaces, apostrophes and brackets inside are kept
    // ("/home/Jane O'Brien (NF1)/run") — so a path is not cut short before a private part, while "…/a and /b" is still
    // two paths; the last name ends at white space, a quote, a bracket or the separators messages put after a path.
    [GeneratedRegex("""(?<![\w.~\-/\\…])(?:/|[A-Za-z]:[\\/]|\\\\)(?:[^"<>\r\n\\/:]*[^"<>\r\n\\/:\s][\\/]+)*(?<last>[^\s"'<>(),;:\\/]*)""")]
    private static partial Regex AbsolutePath();

    /// <summary>One path as <c>…/NAME</c>, its last name (of a folder, the folder's own), whatever characters the folders above hold.</summary>
    public static string LastName(string path)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
        return name.Length == 0 ? path : Elided + "/" + name;
    }

    /// <summary>
    /// <paramref name="text"/> with every absolute path in it cut to its last name, e.g.
    /// <c>/home/u/clinic/run/probabilities.csv: row 3</c> → <c>…/probabilities.csv: row 3</c>; a path ending in a separator
    /// keeps the name before it (<c>/data/cohort/</c> → <c>…/cohort</c>). Relative paths and other text are kept.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="known">
    /// Folders the text is known to name (a run, a data set), each replaced whole first — they may hold spaces, where a
    /// path found in free text ends — so that a file inside one reads <c>…/run/probabilities.csv</c>.
    /// </param>
    public static string WithoutFolders(string text, IEnumerable<string?>? known = null)
    {
        foreach (var folder in (known ?? []).OfType<string>().Select(f => f.TrimEnd('/', '\\'))
                     .Where(f => Path.IsPathFullyQualified(f) && Path.GetFileName(f).Length > 0).Distinct().OrderByDescending(f => f.Length))
            text = text.Replace(folder, Elided + "/" + Path.GetFileName(folder), StringComparison.Ordinal);
        return AbsolutePath().Replace(text, m =>
        {
            string last = m.Groups["last"].Value;
            if (last.Length == 0)
            {
                // "/data/cohort/": the folder named is the last non-empty part.
                var parts = m.Value.Split('/', '\\').Where(p => p.Length > 0 && !p.EndsWith(':')).ToArray();
                if (parts.Length == 0) return m.Value; // "/" alone names nothing private
                last = parts[^1];
            }
            return Elided + "/" + last;
        });
    }

    /// <summary>
    /// A copy of <paramref name="node"/> with <see cref="WithoutFolders(string, IEnumerable{string?}?)"/> applied to every
    /// string value (cut before serialising: JSON doubles a Windows path's backslashes, which a cut of the text would miss).
    /// </summary>
    public static JsonNode? WithoutFolders(JsonNode? node, IEnumerable<string?>? known = null)
    {
        var folders = known?.ToList();
        return Copy(node);
        JsonNode? Copy(JsonNode? n) => n switch
        {
            JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, Copy(kv.Value)))),
            JsonArray a => new JsonArray(a.Select(Copy).ToArray()),
            JsonValue v when v.TryGetValue<string>(out var text) => JsonValue.Create(WithoutFolders(text, folders)),
            _ => n?.DeepClone(),
        };
    }

    /// <summary>Every absolute path among <paramref name="node"/>'s string values, with its folder: the known folders of a record.</summary>
    public static IEnumerable<string> PathsIn(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(kv => PathsIn(kv.Value)),
        JsonArray a => a.SelectMany(PathsIn),
        JsonValue v when v.TryGetValue<string>(out var text) && Path.IsPathFullyQualified(text) =>
            Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(text)) is { Length: > 0 } dir && Path.GetFileName(dir).Length > 0 ? [text, dir] : [text],
        _ => [],
    };
}
