using System.Text;
using System.Text.RegularExpressions;

namespace GestaltLab.Notebooks;

/// <summary>What the runner made of a cell's <c>#r</c>, <c>#i</c> and <c>#!</c> lines.</summary>
/// <param name="Code">The cell's code for Roslyn: handled lines blanked (not removed, so line numbers in errors still match the cell).</param>
/// <param name="Notes">One line per handled directive, for the run log.</param>
public sealed record CellDirectiveResult(string Code, IReadOnlyList<string> Notes);

/// <summary>
/// Handles the directives .NET Interactive notebooks use before their code reaches Roslyn:
/// <list type="bullet">
/// <item><c>#r "nuget: Name, Version"</c>: accepted when the runner itself ships that package (its assemblies are
/// already referenced), otherwise rejected with a message naming the cell and package; nothing is ever downloaded;</item>
/// <item><c>#r "GestaltLab"</c>, <c>#r "path/to/GestaltLab.dll"</c> (any assembly the runner already references):
/// resolved to the runner's own copy, so a notebook written against a build folder runs against this build;</item>
/// <item><c>#r "other.dll"</c>: left to Roslyn when the file exists (relative to the notebook), else rejected;</item>
/// <item><c>#i "nuget: source"</c> and <c>#!csharp</c>: ignored; other <c>#!</c> magics (another language, a
/// .NET Interactive command): rejected.</item>
/// </list>
/// </summary>
public sealed partial class CellDirectives(PackageCatalog packages, IReadOnlySet<string> referencedAssemblies, string? baseDirectory)
{
    [GeneratedRegex("""^\s*#r\s+"(?<v>[^"]*)"\s*(//.*)?$""")]
    private static partial Regex Reference();

    [GeneratedRegex("""^\s*#i\s+"(?<v>[^"]*)"\s*(//.*)?$""")]
    private static partial Regex Include();

    [GeneratedRegex("""^\s*#!(?<v>\S+)""")]
    private static partial Regex Magic();

    private static readonly HashSet<string> CSharpMagics = new(StringComparer.OrdinalIgnoreCase) { "csharp", "c#", "cs" };

    /// <summary>Processes a cell's source.</summary>
    /// <param name="source">The cell's code.</param>
    /// <param name="cellLabel">How errors name the cell, e.g. <c>code cell 3 (cell 5 of 9)</c>.</param>
    /// <exception cref="NotebookCellException">A directive asks for something the runner cannot provide.</exception>
    public CellDirectiveResult Process(string source, string cellLabel)
    {
        var lines = source.Split('\n');
        var notes = new List<string>();
        // References a notebook makes for an editor's kernel (a build folder's GestaltLab.dll): one line for them all.
        var own = new List<string>();
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            string where = $"{cellLabel}, line {i + 1}";
            if (Reference().Match(line) is { Success: true } r)
            {
                string value = r.Groups["v"].Value.Trim();
                if (value.StartsWith("nuget:", StringComparison.OrdinalIgnoreCase))
                {
                    notes.Add(NuGet(value["nuget:".Length..], where, line.Trim()));
                    lines[i] = "";
                }
                else if (KnownAssembly(value) is { } known)
                {
                    if (!own.Contains(known)) own.Add(known);
                    lines[i] = "";
                }
                else
                {
                    string path = baseDirectory is null ? value : Path.GetFullPath(value, baseDirectory);
                    if (!File.Exists(path))
                    {
                        // A package's name taken for its file (Microsoft.ML's types are in Microsoft.ML.Data.dll and others):
                        // the package the runner ships is what to reference.
                        // (Only a package with no assembly of its own name: a wrong folder for TorchSharp.dll is just a wrong path.)
                        string file = AssemblyName(value);
                        var parts = packages.VersionOf(file) is not null && !File.Exists(Path.Combine(AppContext.BaseDirectory, file + ".dll"))
                            ? PackageParts(AppContext.BaseDirectory, file) : [];
                        throw new NotebookCellException(where,
                            $"{line.Trim()}: no such assembly file ({path}) and not an assembly the runner provides",
                            parts.Count > 0
                                ? $"{file} is a package whose types lie in other files ({string.Join(", ", parts)}): reference those, or #r \"nuget: {file}\" (here the runner's own copy; a .NET kernel would download it)"
                                : "reference the GestaltLab library as #r \"GestaltLab\" (the runner supplies it), or give the path of an existing .dll");
                    }
                    notes.Add($"{where}: {line.Trim()} → {path}");
                    lines[i] = $"#r \"{path}\"";
                }
            }
            else if (Include().Match(line) is { Success: true })
            {
                notes.Add($"{where}: {line.Trim()} ignored (package sources are not used: the runner never downloads)");
                lines[i] = "";
            }
            else if (Magic().Match(line) is { Success: true } m)
            {
                string magic = m.Groups["v"].Value;
                if (!CSharpMagics.Contains(magic))
                    throw new NotebookCellException(where,
                        $"{line.Trim()}: the magic command #!{magic} belongs to .NET Interactive; the GestaltLab runner executes C# only",
                        "remove the line, or move that cell's work into C#");
                lines[i] = "";
            }
        }
        if (own.Count > 0)
            notes.Insert(0, $"{cellLabel}: #r of {string.Join(", ", own)} → the runner's own {(own.Count == 1 ? "copy" : "copies")} (this build's)");
        return new CellDirectiveResult(string.Join('\n', lines), notes);
    }

    private string NuGet(string spec, string where, string line)
    {
        var parts = spec.Split(',', 2, StringSplitOptions.TrimEntries);
        string id = parts[0];
        string? wanted = parts.Length > 1 && parts[1].Length > 0 ? parts[1] : null;
        if (id.Length == 0)
            throw new NotebookCellException(where, $"{line}: no package name", "write #r \"nuget: Name, Version\"");
        string? have = packages.VersionOf(id);
        if (have is null)
        {
            var suggestions = packages.Packages.Select(p => p.Key)
                .Where(k => k.StartsWith(id.Split('.')[0], StringComparison.OrdinalIgnoreCase)).Take(5).ToList();
            throw new NotebookCellException(where,
                $"{line}: package {id} is not one of the runner's dependencies, and the runner never downloads packages",
                suggestions.Count > 0
                    ? $"use a package the runner ships ({string.Join(", ", suggestions)}), or add {id} to src/GestaltLab.Notebooks and rebuild"
                    : $"remove the line, or add {id} as a PackageReference of src/GestaltLab.Notebooks and rebuild");
        }
        return wanted is null || VersionMatches(wanted, have)
            ? $"{where}: {line} → the runner's {id} {have}"
            : $"{where}: {line} → the runner's {id} {have} (the notebook asked for {wanted}; packages are never downloaded)";
    }

    // The assemblies of a package named Name that are not Name.dll (Microsoft.ML: Microsoft.ML.Core.dll, Microsoft.ML.Data.dll …).
    private static List<string> PackageParts(string folder, string name)
    {
        try { return Directory.EnumerateFiles(folder, name + ".*.dll").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).Take(4).ToList(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    private static bool VersionMatches(string wanted, string have) =>
        string.Equals(wanted.Trim('[', ']', '(', ')', '*', ' '), have, StringComparison.OrdinalIgnoreCase) || wanted.Contains('*');

    private string? KnownAssembly(string value)
    {
        string name = AssemblyName(value);
        return referencedAssemblies.Contains(name) ? name : null;
    }

    // The assembly a #r value names: its file name without folders and without ".dll".
    private static string AssemblyName(string value)
    {
        string file = value.Replace('\\', '/');
        file = file[(file.LastIndexOf('/') + 1)..];
        return file.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? file[..^4] : file;
    }
}

/// <summary>A cell could not be prepared or run; <see cref="Cell"/> names it (e.g. <c>code cell 3 (cell 5 of 9), line 2</c>).</summary>
public sealed class NotebookCellException(string cell, string message, string? fix = null)
    : Runtime.GestaltLabException($"{cell}: {message}", fix)
{
    /// <summary>Which cell (and line) the problem is in.</summary>
    public string Cell { get; } = cell;

    /// <summary>The problem without the cell prefix and fix.</summary>
    public string Problem { get; } = message;
}
