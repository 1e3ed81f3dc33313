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

    // An absolute POSIX path (a '/' that starts a word: "GNU/Linux" and "top-1/5" are not paths) or a Windows one
    // ("C:\…", "\\server\…"); it ends at white space, a quote, a bracket or the separators messages put after a path.
    [GeneratedRegex("""(?<![\w.~\-/\\…])(?:/|[A-Za-z]:[\\/]|\\\\)(?:[^\s"'<>(),;:\\/]+[\\/]+)*(?<last>[^\s"'<>(),;:\\/]*)""")]
    private static partial Regex AbsolutePath();

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
}
