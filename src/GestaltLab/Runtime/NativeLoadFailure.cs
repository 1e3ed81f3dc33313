namespace GestaltLab.Runtime;

/// <summary>
/// Reads why a native library (OpenCV's, TorchSharp's, ONNX Runtime's, SkiaSharp's) would not load. .NET's message
/// starts with "Unable to load shared library 'X' or one of its dependencies" and names the system library that is
/// missing or damaged only on a later line, among the probing attempts; that line is what tells a user which package to
/// install.
/// </summary>
public static class NativeLoadFailure
{
    /// <summary>
    /// The load failure inside <paramref name="e"/> (through type initialisers and worker threads' aggregates) in one line,
    /// with the line naming the system library that failed where .NET gives one; null when <paramref name="e"/> is not one.
    /// </summary>
    public static string? Explain(Exception e)
    {
        var dll = Find(e);
        if (dll is null) return null;
        var lines = dll.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length == 0) return dll.GetType().Name;
        // Each later line is one probe's error, "FILE: reason". Probes of the library itself under other names fail as
        // "not found"; the line naming another file is the dependency that is missing or damaged.
        string library = System.Text.RegularExpressions.Regex.Match(lines[0], @"library '([^']+)'").Groups[1].Value;
        string? cause = lines.Skip(1).FirstOrDefault(l => l.IndexOf(": ", StringComparison.Ordinal) is > 0 and var colon
            && (library.Length == 0 || !Path.GetFileName(l[..colon]).Contains(library, StringComparison.Ordinal)));
        return cause is null ? lines[0] : $"{lines[0].Split(". ")[0]}: {cause}";
    }

    private static DllNotFoundException? Find(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is DllNotFoundException dll) return dll;
            if (e is AggregateException agg)
                return agg.Flatten().InnerExceptions.Select(Find).FirstOrDefault(x => x is not null);
        }
        return null;
    }
}
