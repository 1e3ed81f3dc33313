using GestaltLab.Notebooks;
using GestaltLab.Runtime;
using static GestaltLab.Tests.Notebooks.NotebookTestKit;

namespace GestaltLab.Tests.Notebooks;

public class ReferenceAndParameterTests
{
    [Fact]
    public async Task LibraryReferenceAndShippedNuGetPackagesAreAccepted()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("refs.ipynb",
            "#r \"../../artifacts/bin/GestaltLab/debug/GestaltLab.dll\"\n#r \"GestaltLab\"\n#r \"nuget: Plotly.NET, 6.0.0\"\n#r \"nuget: TorchSharp-cpu, 0.107.0\"\n#r \"nuget: Microsoft.ML\"\n#i \"nuget: https://example.org/feed\"\n#!csharp\n" +
            "using GestaltLab.Runtime;\nvar e = new GestaltLabException(\"x\", \"y\");\ne.Fix");

        var (result, nb) = await Run(path);

        Assert.True(result.Succeeded, result.Failure?.ToString());
        Assert.Equal("y", Text(Single(nb.CodeCells.Single(), "execute_result")["data"]!["text/plain"]));
        // The directives stay in the saved notebook: it must still open in a real .NET kernel.
        Assert.StartsWith("#r \"../../artifacts/bin/GestaltLab/debug/GestaltLab.dll\"", nb.CodeCells.Single().Source);
    }

    [Fact]
    public async Task A_package_named_as_a_file_is_told_where_its_types_are()
    {
        // MLContext is in Microsoft.ML.Data.dll: `#r ".../Microsoft.ML.dll"` names a package, not a file of the build.
        using var kit = new NotebookTestKit();
        string missing = Path.Combine(AppContext.BaseDirectory, "Microsoft.ML.dll");
        Assert.False(File.Exists(missing));
        var (result, _) = await Run(kit.Write("ml.ipynb", $"#r \"{missing}\"\n1"));
        Assert.False(result.Succeeded);
        Assert.Contains("Microsoft.ML.Data.dll", result.Failure!.Message);
        Assert.Contains("#r \"nuget: Microsoft.ML\"", result.Failure.Message);
    }

    [Fact]
    public void CommittedNotebooksReferenceFilesOfTheReleaseBuild()
    {
        // In a real .NET kernel the #r lines are all there is: each must name a file the Release build holds (the CLI's
        // output, which carries every dependency and the patched native libraries), not a NuGet download.
        string folder = TestTemp.RepoFile("notebooks");
        var notebooks = Directory.GetFiles(folder, "*.ipynb");
        Assert.NotEmpty(notebooks);
        foreach (var file in notebooks)
        {
            var references = Notebook.Load(file).CodeCells.SelectMany(c => c.Source.Split('\n'))
                .Select(l => l.Trim()).Where(l => l.StartsWith("#r ", StringComparison.Ordinal)).Select(l => l[3..].Trim().Trim('"')).ToList();
            Assert.Contains(references, r => r.EndsWith("/GestaltLab.dll", StringComparison.Ordinal));
            foreach (var r in references)
            {
                Assert.False(r.StartsWith("nuget:", StringComparison.OrdinalIgnoreCase), $"{Path.GetFileName(file)}: {r} would download a package");
                Assert.Contains("artifacts/bin/GestaltLab.Cli/release/", r);
                Assert.True(File.Exists(Path.Combine(folder, r)), $"{Path.GetFileName(file)}: {r} is not in the Release build");
            }
        }
    }

    /// <summary>What a .NET Interactive C# kernel offers a cell: its default imports (dotnet/interactive CSharpKernel) and display().</summary>
    public sealed class KernelGlobals
    {
        /// <summary>As the kernel's display helper.</summary>
        public object display(object value, params string[] mimeTypes) => value;
    }

    [Fact]
    public void CommittedNotebooksCompileInADotnetInteractiveKernel()
    {
        // The headless runner imports System.IO, System.Globalization and GestaltLab's namespaces for every notebook; a
        // real kernel imports only these. Compiled cell by cell with them and the notebook's own #r lines, as a kernel
        // would, a `Path` or `File` without `using System.IO;` fails here instead of in a participant's VS Code.
        string folder = TestTemp.RepoFile("notebooks");
        var options = Microsoft.CodeAnalysis.Scripting.ScriptOptions.Default
            .WithImports("System", "System.Text", "System.Collections", "System.Collections.Generic", "System.Threading.Tasks", "System.Linq")
            .WithReferences(typeof(object).Assembly, typeof(Enumerable).Assembly, typeof(Console).Assembly, typeof(File).Assembly);
        foreach (var file in Directory.GetFiles(folder, "*.ipynb").Order())
        {
            Microsoft.CodeAnalysis.Scripting.Script<object>? script = null;
            int k = 0;
            foreach (var cell in Notebook.Load(file).CodeCells)
            {
                k++;
                // The kernel resolves #r paths against the notebook's folder, its working directory.
                string source = System.Text.RegularExpressions.Regex.Replace(cell.Source, "^#r \"([^\"]+\\.dll)\"",
                    m => $"#r \"{Path.GetFullPath(Path.Combine(folder, m.Groups[1].Value))}\"", System.Text.RegularExpressions.RegexOptions.Multiline);
                script = script is null
                    ? Microsoft.CodeAnalysis.CSharp.Scripting.CSharpScript.Create(source, options, typeof(KernelGlobals))
                    : script.ContinueWith(source, options);
                var errors = script.Compile().Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error).ToList();
                Assert.True(errors.Count == 0, $"{Path.GetFileName(file)}, code cell {k}: {string.Join("; ", errors.Take(3))}");
            }
        }
    }

    [Fact]
    public async Task UsualNamespacesAreImportedWithoutUsings()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("imports.ipynb",
            "var words = new List<string> { \"b\", \"a\" }.Order().ToList();\nvar sb = new StringBuilder(string.Join(\"+\", words));\n" +
            "var e = new GestaltLabException(\"x\");\nawait Task.Yield();\n$\"{sb} {e.GetType().Namespace} {Path.GetFileName(\"/a/b.txt\")}\"");

        var (result, nb) = await Run(path);

        Assert.True(result.Succeeded, result.Failure?.ToString());
        Assert.Equal("a+b GestaltLab.Runtime b.txt", Text(Single(nb.CodeCells.Single(), "execute_result")["data"]!["text/plain"]));
        Assert.Contains("System.Linq", ScriptEnvironment.Options.Imports);
        Assert.Contains("GestaltLab.Runtime", ScriptEnvironment.Options.Imports);
    }

    [Fact]
    public async Task UnknownNuGetPackageIsRejectedNamingCellAndPackage()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("nuget.ipynb",
            "md:intro",
            "int a = 1;",
            "#r \"nuget: Some.Package.Nobody.Ships, 1.2.3\"\nConsole.WriteLine(a);");

        var (result, nb) = await Run(path);

        Assert.False(result.Succeeded);
        Assert.Equal(2, result.Failure!.CodeCellNumber);
        Assert.Equal(3, result.Failure.CellNumber);
        Assert.Contains("code cell 2 (cell 3 of 3), line 1", result.Failure.Message);
        Assert.Contains("Some.Package.Nobody.Ships", result.Failure.Message);
        Assert.Contains("never downloads", result.Failure.Message);
        Assert.DoesNotContain(Outputs(nb.CodeCells.Last()), o => o["output_type"]!.GetValue<string>() == "stream");
    }

    [Fact]
    public void DirectivesAreBlankedSoLineNumbersStillMatch()
    {
        var directives = new CellDirectives(new PackageCatalog([new("Plotly.NET", "6.0.0")]),
            new HashSet<string>(["GestaltLab"], StringComparer.OrdinalIgnoreCase), Path.GetTempPath());

        var r = directives.Process("#r \"nuget: Plotly.NET, 5.0.0\"\n#r \"bin/Debug/GestaltLab.dll\"\nint x = 1;", "code cell 1");

        Assert.Equal("\n\nint x = 1;", r.Code);
        Assert.Contains(r.Notes, n => n.Contains("asked for 5.0.0", StringComparison.Ordinal));
        Assert.Contains("code cell 1: #r of GestaltLab → the runner's own copy (this build's)", r.Notes);
        var missing = Assert.Throws<NotebookCellException>(() => directives.Process("#r \"/no/such/Other.dll\"", "code cell 4 (cell 7 of 9)"));
        Assert.Contains("code cell 4 (cell 7 of 9), line 1", missing.Message);
        Assert.Contains("/no/such/Other.dll", missing.Message);
        var magic = Assert.Throws<NotebookCellException>(() => directives.Process("#!fsharp\nlet x = 1", "code cell 2"));
        Assert.Contains("#!fsharp", magic.Message);
    }

    [Fact]
    public async Task QuickAndParametersAreInjectedAfterTheParametersCell()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("params.ipynb",
            "md:# Parameters",
            "params:bool Quick = false;\nint Seed = 42;\ndouble Rate = 0.5;\nstring Preset = \"demo\";\nvar Epochs = 10;",
            "Console.WriteLine($\"{Quick} {Seed} {Rate} {Preset} {Epochs}\");");

        var (defaults, nb0) = await Run(path);
        Assert.True(defaults.Succeeded, defaults.Failure?.ToString());
        Assert.Equal("False 42 0.5 demo 10\n", Stdout(nb0.CodeCells.Last()));

        var options = new NotebookRunOptions
        {
            Quick = true,
            Parameters = new Dictionary<string, string> { ["Seed"] = "7", ["Rate"] = "2", ["Preset"] = "mini \"q\"", ["Epochs"] = "1" },
        };
        var (quick, nb1) = await Run(path, options);
        Assert.True(quick.Succeeded, quick.Failure?.ToString());
        Assert.Equal("True 7 2 mini \"q\" 1\n", Stdout(nb1.CodeCells.Last()));
        Assert.Equal(4, nb1.Cells.Count);
        Assert.Contains(NotebookParameters.InjectedTag, nb1.Cells[2].Tags);
        Assert.Contains("Quick = true;", nb1.Cells[2].Source);

        // Running again replaces the injected cell instead of stacking a second one; a plain run removes it.
        var (again, nb2) = await Run(path, options);
        Assert.True(again.Succeeded);
        Assert.Single(nb2.Cells, c => c.Tags.Contains(NotebookParameters.InjectedTag));
        var (plain, nb3) = await Run(path);
        Assert.True(plain.Succeeded);
        Assert.DoesNotContain(nb3.Cells, c => c.Tags.Contains(NotebookParameters.InjectedTag));
        Assert.Equal("False 42 0.5 demo 10\n", Stdout(nb3.CodeCells.Last()));
    }

    [Fact]
    public async Task BadParametersGetClearErrors()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("p.ipynb", "params:bool Quick = false;\nint Seed = 1;", "Seed");
        var unknown = await Assert.ThrowsAsync<GestaltLabException>(() =>
            NotebookRunner.RunAsync(path, new NotebookRunOptions { Parameters = new Dictionary<string, string> { ["Sede"] = "3" } }));
        Assert.Contains("no parameter Sede", unknown.Message);
        Assert.Contains("Quick, Seed", unknown.Message);
        var badType = await Assert.ThrowsAsync<GestaltLabException>(() =>
            NotebookRunner.RunAsync(path, new NotebookRunOptions { Parameters = new Dictionary<string, string> { ["Seed"] = "many" } }));
        Assert.Contains("\"many\" is not a valid int", badType.Message);
        Assert.Contains("-p Seed=7", badType.Fix);
        // A number too large for the declared int is named as such (not a compile error in the injected cell).
        var tooLarge = await Assert.ThrowsAsync<GestaltLabException>(() =>
            NotebookRunner.RunAsync(path, new NotebookRunOptions { Parameters = new Dictionary<string, string> { ["Seed"] = "99999999999" } }));
        Assert.Contains("out of range", tooLarge.Message);

        string noParams = kit.Write("n.ipynb", "1");
        var none = await Assert.ThrowsAsync<GestaltLabException>(() =>
            NotebookRunner.RunAsync(noParams, new NotebookRunOptions { Parameters = new Dictionary<string, string> { ["Seed"] = "3" } }));
        Assert.Contains("no code cell is tagged \"parameters\"", none.Message);
        // --quick alone on a notebook without parameters runs it unchanged, at full size, and is recorded so.
        var (quick, saved) = await Run(noParams, new NotebookRunOptions { Quick = true });
        Assert.True(quick.Succeeded);
        Assert.False(quick.Quick);
        Assert.False(saved.Metadata["gestaltlab"]!["quick"]!.GetValue<bool>());
    }

    [Fact]
    public async Task APrivateParameterIsNeverSavedOverTheNotebookAndIsWrittenOwnerOnly()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("mine.ipynb", "params:bool Quick = false;\nstring MyPhoto = \"\";  // private: a photo of your own", "Console.WriteLine(MyPhoto);");
        Assert.True(NotebookParameters.Declared(Notebook.Load(path).CodeCells.First().Source).Single(p => p.Name == "MyPhoto").Private);
        string before = File.ReadAllText(path);
        var given = new Dictionary<string, string> { ["MyPhoto"] = "/photos/Jane_Doe_MRN1234.jpg" };

        // Over the notebook (shared, committed), the photo's path and whatever the cells show of it would be published.
        var refused = await Assert.ThrowsAsync<GestaltLabException>(() => NotebookRunner.RunAsync(path, new NotebookRunOptions { Parameters = given }));
        Assert.Contains("MyPhoto is a private parameter", refused.Message);
        Assert.Equal(before, File.ReadAllText(path));

        // Elsewhere it runs, written readable by its owner alone, and the log does not print the value.
        var log = new StringWriter();
        string output = Path.Combine(kit.Dir, "mine-out", "mine.ipynb");
        var (result, saved) = await Run(path, new NotebookRunOptions { Parameters = given, OutputPath = output, WriteHtml = true, Log = log });
        Assert.True(result.Succeeded, result.Failure?.ToString());
        Assert.Equal("/photos/Jane_Doe_MRN1234.jpg\n", Stdout(saved.CodeCells.Last()));
        Assert.Contains("MyPhoto=(private)", log.ToString());
        Assert.DoesNotContain("Jane_Doe", log.ToString());
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(output)!));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(output));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(result.HtmlPath!));
        }
        // Without a value for it, the notebook runs in place as any other.
        var (plain, _) = await Run(path, new NotebookRunOptions { Quick = true });
        Assert.True(plain.Succeeded);
    }

    [Fact]
    public async Task QuickModeIsRecordedAsTheNotebookRanNotAsItWasAsked()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("q.ipynb", "params:bool Quick = false;", "Quick");
        async Task<(bool Result, bool Recorded, string Value)> RunWith(bool quick, params (string, string)[] parameters)
        {
            var (result, nb) = await Run(path, new NotebookRunOptions { Quick = quick, Parameters = parameters.ToDictionary(p => p.Item1, p => p.Item2) });
            Assert.True(result.Succeeded, result.Failure?.ToString());
            return (result.Quick, nb.Metadata["gestaltlab"]!["quick"]!.GetValue<bool>(),
                Text(Single(nb.CodeCells.Last(), "execute_result")["data"]!["text/plain"]));
        }

        Assert.Equal((true, true, "true"), await RunWith(true));
        // Quick mode asked for through the parameter is quick mode too; a parameter saying false overrides --quick.
        Assert.Equal((true, true, "true"), await RunWith(false, ("Quick", "true")));
        Assert.Equal((false, false, "false"), await RunWith(true, ("Quick", "false")));
        // A notebook whose parameters cell declares no Quick runs at full size under --quick.
        string noQuick = kit.Write("nq.ipynb", "params:int Seed = 1;", "Seed");
        var (full, nb) = await Run(noQuick, new NotebookRunOptions { Quick = true });
        Assert.False(full.Quick);
        Assert.False(full.Parameterised);
        Assert.False(nb.Metadata["gestaltlab"]!["quick"]!.GetValue<bool>());
    }

    [Fact]
    public void DeclaredParametersAreReadFromTheCell()
    {
        var p = NotebookParameters.Declared("// comment\nbool Quick = false;\nint Seed = 42, Folds = 5;\nvar Rate = -0.1;\nstring? Out = null;\nConsole.WriteLine();");
        Assert.Equal(["Quick", "Seed", "Folds", "Rate", "Out"], p.Select(x => x.Name));
        Assert.Equal(["bool", "int", "int", "double", "string?"], p.Select(x => x.Type));
    }
}
