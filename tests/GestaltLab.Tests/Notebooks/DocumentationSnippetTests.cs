using System.Text.RegularExpressions;
using GestaltLab.Notebooks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace GestaltLab.Tests.Notebooks;

/// <summary>
/// The README says its C# and that of docs/ compile as written against the library: every <c>```csharp</c> block is
/// compiled here as a program's top-level statements (not run: most train or need photos), with the imports a notebook
/// cell gets, so a renamed or removed API fails a test instead of a reader. A block that continues from names the text
/// around it introduces (a chart, a run folder) says so in an HTML comment just above it, which readers do not see:
/// <c>&lt;!-- snippet context: using Plotly.NET; GenericChart chart; string run; --&gt;</c> (using directives, then
/// variables, each declared with a default value).
/// </summary>
public class DocumentationSnippetTests
{
    private static readonly Regex Block = new("(?:<!-- snippet context: (?<context>.*?) -->\\s*\n)?^```csharp\n(?<code>.*?)^```",
        RegexOptions.Multiline | RegexOptions.Singleline);

    private static IEnumerable<string> Files() =>
        new[] { "README.md" }.Concat(Directory.GetFiles(TestTemp.RepoFile("docs"), "*.md").Select(f => "docs/" + Path.GetFileName(f))).Order();

    public static IEnumerable<object[]> Blocks() =>
        Files().SelectMany(file => Enumerable.Range(1, Block.Matches(File.ReadAllText(TestTemp.RepoFile(file))).Count).Select(k => new object[] { file, k }));

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Documented_csharp_compiles_against_the_library(string file, int block)
    {
        var match = Block.Matches(File.ReadAllText(TestTemp.RepoFile(file)))[block - 1];
        var context = match.Groups["context"].Value.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var code = match.Groups["code"].Value.Split('\n');
        // Using directives first (the block's own, then the context's), then the context's variables, then the statements.
        static bool Directive(string line) => Regex.IsMatch(line, @"^using [A-Za-z][\w.]*;");
        var directives = code.TakeWhile(l => Directive(l) || l.Trim().Length == 0).ToList();
        var source = string.Join("\n", directives
            .Concat(context.Where(c => c.StartsWith("using ")).Select(c => c + ";"))
            .Concat(context.Where(c => !c.StartsWith("using ")).Select(c => c + " = default!;"))
            .Concat(code.Skip(directives.Count)));
        var globalUsings = string.Join("\n", ScriptEnvironment.Options.Imports.Select(i => $"global using {i};"));
        var compilation = CSharpCompilation.Create("snippet",
            [CSharpSyntaxTree.ParseText(globalUsings), CSharpSyntaxTree.ParseText(source, path: $"{file} block {block}")],
            ScriptEnvironment.Options.MetadataReferences.OfType<PortableExecutableReference>(),
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"{file}, C# block {block}: {string.Join("; ", errors.Take(4))}\n{source}");
    }

    [Fact]
    public void The_check_finds_the_blocks_and_fails_on_an_api_that_is_not_there()
    {
        // The README's walkthrough and the docs' examples are there to be checked (a changed fence would hide them).
        Assert.True(Blocks().Count() >= 12, $"only {Blocks().Count()} C# blocks found");
        var compilation = CSharpCompilation.Create("control",
            [CSharpSyntaxTree.ParseText("GestaltLab.Evaluation.ModelEvaluation.EvaluateNowhere();")],
            ScriptEnvironment.Options.MetadataReferences.OfType<PortableExecutableReference>(), new CSharpCompilationOptions(OutputKind.ConsoleApplication));
        Assert.Contains(compilation.GetDiagnostics(), d => d.Id == "CS0117");
    }
}
