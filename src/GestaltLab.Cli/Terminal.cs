namespace GestaltLab.Cli;

/// <summary>Text from files (photo names, labels, messages that quote them) made safe to print to a terminal.</summary>
internal static class Terminal
{
    /// <summary>
    /// <paramref name="text"/> with control characters shown as '?': a file named with an escape sequence would otherwise
    /// retitle the terminal, recolour it, or rewrite what was printed before. Line breaks and tabs stay when
    /// <paramref name="keepLines"/> (multi-line messages such as an error and its fix).
    /// </summary>
    public static string Printable(string text, bool keepLines = false) =>
        string.Concat(text.Select(c => char.IsControl(c) && !(keepLines && c is '\n' or '\t') ? '?' : c));
}
