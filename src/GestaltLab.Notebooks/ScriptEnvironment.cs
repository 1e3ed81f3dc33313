using System.Reflection;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Scripting;

namespace GestaltLab.Notebooks;

/// <summary>
/// The Roslyn script options every notebook starts from: references to the GestaltLab library and everything it
/// depends on (the very assemblies the runner has loaded, so a notebook uses the runner's copies), and the usual
/// namespaces imported. Built once per process, because reading a few hundred assemblies' metadata takes seconds.
/// </summary>
public static class ScriptEnvironment
{
    private static readonly Lazy<(ScriptOptions Options, IReadOnlySet<string> Names)> Built = new(Build);

    /// <summary>Namespaces imported into every notebook (GestaltLab's own stage namespaces are added when they exist).</summary>
    public static IReadOnlyList<string> DefaultImports { get; } =
    [
        "System", "System.IO", "System.Linq", "System.Text", "System.Collections.Generic", "System.Globalization",
        "System.Threading", "System.Threading.Tasks",
    ];

    /// <summary>The base script options (references and imports).</summary>
    public static ScriptOptions Options => Built.Value.Options;

    /// <summary>Simple names of the assemblies notebooks reference (e.g. <c>GestaltLab</c>, <c>Plotly.NET</c>).</summary>
    public static IReadOnlySet<string> ReferencedAssemblyNames => Built.Value.Names;

    /// <summary>The GestaltLab namespaces with public types, e.g. <c>GestaltLab.Faces</c>.</summary>
    public static IReadOnlyList<string> LibraryNamespaces { get; } = typeof(Runtime.GestaltLabException).Assembly.GetExportedTypes()
        .Select(t => t.Namespace).OfType<string>().Where(n => n.StartsWith("GestaltLab", StringComparison.Ordinal))
        .Distinct().Order(StringComparer.Ordinal).ToList();

    private static (ScriptOptions, IReadOnlySet<string>) Build()
    {
        var roots = new[]
        {
            typeof(object).Assembly, typeof(Enumerable).Assembly, typeof(Console).Assembly, typeof(List<>).Assembly,
            typeof(System.Text.Json.JsonSerializer).Assembly, typeof(System.Net.WebUtility).Assembly,
            typeof(Runtime.GestaltLabException).Assembly, typeof(NotebookGlobals).Assembly,
            typeof(Plotly.NET.GenericChart).Assembly, typeof(SkiaSharp.SKBitmap).Assembly,
        }.Concat(new[] { "Microsoft.CSharp", "System.Runtime", "netstandard", "Plotly.NET.CSharp", "System.Collections", "System.Linq.Expressions" }
            .Select(TryLoad).OfType<Assembly>());

        var seen = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase);
        var queue = new Queue<Assembly>(roots);
        while (queue.Count > 0)
        {
            var asm = queue.Dequeue();
            string? name = asm.GetName().Name;
            if (name is null || asm.IsDynamic || string.IsNullOrEmpty(asm.Location) || seen.ContainsKey(name)) continue;
            seen[name] = asm;
            foreach (var reference in asm.GetReferencedAssemblies())
                if (reference.Name is not null && !seen.ContainsKey(reference.Name) && TryLoad(reference) is { } loaded)
                    queue.Enqueue(loaded);
        }

        var references = seen.Values.OrderBy(a => a.GetName().Name, StringComparer.Ordinal)
            .Select(a => (MetadataReference)MetadataReference.CreateFromFile(a.Location)).ToList();
        var imports = DefaultImports.Concat(UnambiguousLibraryNamespaces(seen.Values)).ToList();
        var options = ScriptOptions.Default
            .WithReferences(references)
            .WithImports(imports)
            .WithEmitDebugInformation(true)
            .WithFileEncoding(Encoding.UTF8)
            .WithOptimizationLevel(OptimizationLevel.Release)
            .WithAllowUnsafe(true);
        return (options, new HashSet<string>(seen.Keys, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The library namespaces whose type names clash with no other imported namespace: importing two namespaces that
    /// both define, say, <c>Image</c> would make every use of <c>Image</c> in a notebook ambiguous. A clashing namespace
    /// is simply not imported; a notebook's own <c>using</c> still brings it in.
    /// </summary>
    private static IEnumerable<string> UnambiguousLibraryNamespaces(IEnumerable<Assembly> assemblies)
    {
        static IEnumerable<Type> Exported(Assembly a)
        {
            try { return a.GetExportedTypes(); }
            catch (Exception e) when (e is ReflectionTypeLoadException or FileNotFoundException or NotSupportedException) { return []; }
        }
        var imported = new HashSet<string>(DefaultImports, StringComparer.Ordinal);
        var namesByNamespace = assemblies.SelectMany(Exported)
            .Where(t => !t.IsNested && t.Namespace is not null && (imported.Contains(t.Namespace) || LibraryNamespaces.Contains(t.Namespace)))
            .GroupBy(t => t.Namespace!)
            .ToDictionary(g => g.Key, g => g.Select(t => t.Name).ToHashSet(StringComparer.Ordinal));
        foreach (var ns in LibraryNamespaces)
        {
            if (!namesByNamespace.TryGetValue(ns, out var names)) continue;
            bool clash = namesByNamespace.Any(o => o.Key != ns && (imported.Contains(o.Key) || LibraryNamespaces.Contains(o.Key)) && o.Value.Overlaps(names));
            if (!clash) yield return ns;
        }
    }

    private static Assembly? TryLoad(string name) => TryLoad(new AssemblyName(name));

    private static Assembly? TryLoad(AssemblyName name)
    {
        try { return Assembly.Load(name); }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            // Optional dependencies (e.g. ML.NET's TensorFlow bridge) are not shipped; notebooks cannot use them either.
            return null;
        }
    }
}
