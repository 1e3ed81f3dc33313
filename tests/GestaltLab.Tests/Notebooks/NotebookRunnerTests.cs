using System.Text.Json.Nodes;
using GestaltLab.Notebooks;
using GestaltLab.Runtime;
using static GestaltLab.Tests.Notebooks.NotebookTestKit;

namespace GestaltLab.Tests.Notebooks;

public class NotebookRunnerTests
{
    [Fact]
    public async Task CellsRunInOrderAndShareOneScriptState()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("state.ipynb",
            "md:# Title",
            "var log = new List<string>(); int total = 1;",
            "md:Some narrative between the cells.",
            "log.Add(\"second\"); total += 10;\nrecord Point(int X, int Y);",
            "log.Add(\"third\"); total *= 2;\nvar p = new Point(total, log.Count);\nConsole.WriteLine(string.Join(\",\", log));",
            "(p with { Y = 7 })");

        var (result, nb) = await Run(path);

        Assert.True(result.Succeeded, result.Failure?.ToString());
        Assert.Equal(4, result.CodeCellsRun);
        var code = nb.CodeCells.ToList();
        Assert.Equal([1, 2, 3, 4], code.Select(c => c.ExecutionCount ?? 0));
        Assert.Equal("second,third\n", Stdout(code[2]));
        var last = Single(code[3], "execute_result");
        Assert.Equal(4, last["execution_count"]!.GetValue<int>());
        Assert.Equal("Point { X = 22, Y = 7 }", Text(last["data"]!["text/plain"]));
        Assert.Empty(Outputs(code[0]));
    }

    [Fact]
    public async Task ConsoleOutputFromWorkerThreadsIsCapturedInOrderWithDisplays()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("streams.ipynb",
            "Console.WriteLine(\"before\");\nawait Task.Run(() => Console.WriteLine(\"from a worker\"));\ndisplay(\"shown\");\nConsole.Error.WriteLine(\"warning\");\nConsole.WriteLine(\"after\");");

        var (result, nb) = await Run(path);

        Assert.True(result.Succeeded, result.Failure?.ToString());
        var outputs = Outputs(nb.CodeCells.Single()).ToList();
        Assert.Equal(["stream", "display_data", "stream", "stream"], outputs.Select(o => o["output_type"]!.GetValue<string>()));
        Assert.Equal("before\nfrom a worker\n", Text(outputs[0]["text"]));
        Assert.Equal("shown", Text(outputs[1]["data"]!["text/plain"]));
        Assert.Equal("stderr", outputs[2]["name"]!.GetValue<string>());
        Assert.Equal("after\n", Text(outputs[3]["text"]));
    }

    [Fact]
    public async Task CompileErrorStopsTheRunWithCellNumbersAndKeepsEarlierOutputs()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("broken.ipynb",
            "md:# Intro",
            "Console.WriteLine(\"one\");",
            "md:More text",
            "int ok = 2;",
            "var z = undefinedVariable + 1;",
            "Console.WriteLine(\"never\");");

        var (result, nb) = await Run(path);

        Assert.False(result.Succeeded);
        var failure = result.Failure!;
        Assert.Equal(3, failure.CodeCellNumber);
        Assert.Equal(5, failure.CellNumber);
        Assert.Equal(6, failure.CellCount);
        Assert.Equal("CompilationError", failure.ErrorName);
        Assert.Contains("CS0103", failure.Message);
        Assert.Contains("undefinedVariable", failure.Message);
        Assert.Contains("line 1", failure.Message);
        Assert.Contains("code cell 3 (cell 5 of 6)", failure.ToString());

        var code = nb.CodeCells.ToList();
        Assert.Equal("one\n", Stdout(code[0]));
        var error = Single(code[2], "error");
        Assert.Equal("CompilationError", error["ename"]!.GetValue<string>());
        Assert.Equal(3, code[2].ExecutionCount);
        Assert.Null(code[3].ExecutionCount);
        Assert.Empty(Outputs(code[3]));
        Assert.Equal("failed", nb.Metadata["gestaltlab"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task AUsingDeclarationAtACellsTopLevelIsRefusedWithWhatToWriteInstead()
    {
        using var kit = new NotebookTestKit();
        // C# scripting itself reports only "; expected"; the runner says what the line is and what works instead.
        string path = kit.Write("using.ipynb", "using var stream = new System.IO.MemoryStream();");
        var (result, _) = await Run(path);
        Assert.Equal("CompilationError", result.Failure!.ErrorName);
        Assert.StartsWith("a `using var` declaration cannot stand at a cell's top level", result.Failure.Message);
        Assert.Contains("using (var x = …) { … }", result.Failure.Message);
        // A using alias, and a block using, are not declarations and compile as they are; another error gets no such hint.
        path = kit.Write("alias.ipynb", "using Io = System.IO;\nusing (var s = new Io.MemoryStream()) { s.WriteByte(1); }\nvar x = nothingNamedSo;");
        (result, _) = await Run(path);
        Assert.Contains("CS0103", result.Failure!.Message);
        Assert.DoesNotContain("using var", result.Failure.Message);
    }

    [Fact]
    public async Task AnAsyncCallLeftAsTheCellsValueIsAwaitedBeforeTheNextCell()
    {
        using var kit = new NotebookTestKit();
        string file = Path.Combine(kit.Dir, "made.txt").Replace("\\", "/");
        string path = kit.Write("async.ipynb",
            $"async Task<int> Make() {{ await Task.Delay(300); File.WriteAllText(\"{file}\", \"x\"); Console.WriteLine(\"made\"); return 7; }}\nMake()",
            $"File.Exists(\"{file}\")",
            "Task.Delay(10)");
        var (result, nb) = await Run(path);
        Assert.True(result.Succeeded, result.Failure?.ToString());
        var code = nb.CodeCells.ToList();
        // The call's output and result belong to its own cell; the next cell sees what it made.
        Assert.Equal("made\n", Stdout(code[0]));
        Assert.Equal("7", Text(Single(code[0], "execute_result")["data"]!["text/plain"]));
        Assert.Equal("true", Text(Single(code[1], "execute_result")["data"]!["text/plain"]));
        // A plain Task has no result to show.
        Assert.Empty(Outputs(code[2]));
    }

    [Fact]
    public async Task ExceptionIsRecordedAsErrorOutputWithTheCellLine()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("throws.ipynb",
            "int a = 1;",
            "Console.WriteLine(\"partial\");\nthrow new InvalidOperationException(\"boom\");");

        var (result, nb) = await Run(path);

        Assert.False(result.Succeeded);
        Assert.Equal(2, result.Failure!.CodeCellNumber);
        Assert.Equal("InvalidOperationException", result.Failure.ErrorName);
        Assert.Equal("boom", result.Failure.Message);
        var cell = nb.CodeCells.Last();
        Assert.Equal("partial\n", Stdout(cell));
        var error = Single(cell, "error");
        var traceback = error["traceback"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
        Assert.Equal("System.InvalidOperationException: boom", traceback[0]);
        Assert.Contains(traceback, l => l.Contains("#cell2:line 2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CliExitsNonZeroOnAFailingCellAndNamesIt()
    {
        using var kit = new NotebookTestKit();
        string good = kit.Write("good.ipynb", "1 + 1");
        string bad = kit.Write("bad.ipynb", "md:x", "throw new Exception(\"nope\");");

        // The real command in its own process: exit codes and messages as CI sees them.
        var (okExit, _) = await RunCli("notebook", "run", good);
        var (failedExit, output) = await RunCli("notebook", "run", good, bad);

        Assert.Equal(0, okExit);
        Assert.Equal(1, failedExit);
        Assert.Contains("code cell 1 (cell 2 of 2)", output);
        Assert.Contains("nope", output);
        Assert.Contains("1 of 2 notebooks ran green", output);
        var saved = Notebook.Load(bad);
        Assert.Equal("nope", Single(saved.CodeCells.Single(), "error")["evalue"]!.GetValue<string>());

        // --output DIR/ saves each notebook there under its own name and leaves the inputs as they were.
        string first = kit.Write("first.ipynb", "2 + 2"), second = kit.Write("second.ipynb", "3 + 3");
        string before = File.ReadAllText(first);
        string apart = Path.Combine(kit.Dir, "apart") + "/";
        var (apartExit, _) = await RunCli("notebook", "run", first, second, "--output", apart);
        Assert.Equal(0, apartExit);
        Assert.Equal(before, File.ReadAllText(first));
        Assert.Equal("6", Text(Single(Notebook.Load(Path.Combine(apart, "second.ipynb")).CodeCells.Single(), "execute_result")["data"]!["text/plain"]));
        Assert.True(File.Exists(Path.Combine(apart, "first.ipynb")));
    }

    [Fact]
    public async Task CliOutputWithoutExtensionIsAFolderAndAnotherExtensionIsRefused()
    {
        using var kit = new NotebookTestKit();
        string first = kit.Write("first.ipynb", "2 + 2"), second = kit.Write("second.ipynb", "3 + 3");
        // `-o results` was written as an extension-less file beside results.html, replaced by each further notebook.
        string results = Path.Combine(kit.Dir, "results");
        var (exit, output) = await RunCli("notebook", "run", first, second, "--html", "--output", results);
        Assert.True(exit == 0, output);
        Assert.True(Directory.Exists(results), output);
        Assert.True(File.Exists(Path.Combine(results, "first.ipynb")));
        Assert.True(File.Exists(Path.Combine(results, "second.html")));

        var (htmlExit, htmlOutput) = await RunCli("notebook", "run", first, "--output", Path.Combine(kit.Dir, "first.html"));
        Assert.Equal(1, htmlExit);
        Assert.Contains("a notebook is saved as .ipynb", htmlOutput);
        Assert.False(File.Exists(Path.Combine(kit.Dir, "first.html")));
    }

    [Fact]
    public async Task AnOutputThatCannotBeWrittenIsRefusedBeforeAnyCellRuns()
    {
        using var kit = new NotebookTestKit();
        string marker = Path.Combine(kit.Dir, "ran.txt");
        string path = kit.Write("w.ipynb", $"File.WriteAllText(\"{marker}\", \"the cell ran\");");
        File.WriteAllText(Path.Combine(kit.Dir, "plain-file"), "");

        // A folder named like a file in the way: found at the start, not when every cell has run and its outputs are lost.
        var e = await Assert.ThrowsAsync<GestaltLabException>(() =>
            NotebookRunner.RunAsync(path, new NotebookRunOptions { OutputPath = Path.Combine(kit.Dir, "plain-file", "out.ipynb") }));
        Assert.Contains("plain-file", e.Message);
        Assert.False(File.Exists(marker));
        // An HTML rendering that could not be written is found as early.
        Directory.CreateDirectory(Path.Combine(kit.Dir, "w2.html"));
        var html = await Assert.ThrowsAsync<GestaltLabException>(() =>
            NotebookRunner.RunAsync(path, new NotebookRunOptions { OutputPath = Path.Combine(kit.Dir, "w2.ipynb"), WriteHtml = true }));
        Assert.Contains("w2.html", html.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task ANotebookOfAnotherKernelOrCellsOfAnotherLanguageAreRefused()
    {
        using var kit = new NotebookTestKit();
        string python = kit.Write("py.ipynb", "1 + 1");
        var nb = Notebook.Load(python);
        nb.Metadata["kernelspec"] = new JsonObject { ["name"] = "python3", ["language"] = "python", ["display_name"] = "Python 3" };
        nb.Save(python);
        var e = await Assert.ThrowsAsync<GestaltLabException>(() => NotebookRunner.RunAsync(python));
        Assert.Contains("python3", e.Message);

        // A Polyglot notebook's PowerShell cell (compiled as C# before) fails by name; its C# cells before it ran.
        string polyglot = kit.Write("poly.ipynb", "1 + 1", "Get-ChildItem");
        nb = Notebook.Load(polyglot);
        nb.CodeCells.Last().Json["metadata"]!["polyglot_notebook"] = new JsonObject { ["kernelName"] = "pwsh" };
        nb.Save(polyglot);
        var (result, saved) = await Run(polyglot);
        Assert.Equal(2, result.Failure!.CodeCellNumber);
        Assert.Contains("pwsh", result.Failure.Message);
        Assert.Equal("2", Text(Single(saved.CodeCells.First(), "execute_result")["data"]!["text/plain"]));

        // Cells that name no language take the notebook's default one.
        string fsharp = kit.Write("fs.ipynb", "1 + 1");
        nb = Notebook.Load(fsharp);
        nb.Metadata["polyglot_notebook"] = new JsonObject { ["kernelInfo"] = new JsonObject { ["defaultKernelName"] = "fsharp" } };
        nb.CodeCells.Single().Json["metadata"]!.AsObject().Remove("polyglot_notebook");
        nb.Save(fsharp);
        var (fsResult, _) = await Run(fsharp);
        Assert.Contains("fsharp", fsResult.Failure!.Message);
        // An older .NET Interactive notebook says so only by its kernelspec.
        string older = kit.Write("older.ipynb", "1 + 1");
        nb = Notebook.Load(older);
        nb.Metadata.Remove("polyglot_notebook");
        nb.Metadata["kernelspec"] = new JsonObject { ["name"] = ".net-fsharp", ["language"] = "F#", ["display_name"] = ".NET (F#)" };
        nb.CodeCells.Single().Json["metadata"]!.AsObject().Remove("polyglot_notebook");
        nb.Save(older);
        var (olderResult, _) = await Run(older);
        Assert.Contains("fsharp", olderResult.Failure!.Message);
    }

    [Fact]
    public async Task ASecondRunSavingToTheSameFileIsRefusedAtItsStart()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("slow.ipynb", "Console.WriteLine(\"working\");\nThread.Sleep(Timeout.Infinite);");
        string output = Path.Combine(kit.Dir, "out") + "/";
        using var first = System.Diagnostics.Process.Start(TestCli.StartInfo("notebook", "run", path, "--output", output))!;
        try
        {
            var started = new TaskCompletionSource();
            first.OutputDataReceived += (_, e) => { if (e.Data?.Contains("[1/1]", StringComparison.Ordinal) == true) started.TrySetResult(); };
            first.BeginOutputReadLine();
            _ = first.StandardError.ReadToEndAsync();
            await Task.WhenAny(started.Task, first.WaitForExitAsync());
            Assert.True(started.Task.IsCompleted, "the first run never started its cell");

            // Both used to run to the end, and the one finishing last replaced the other's outputs unsaid.
            var (exit, text) = await RunCli("notebook", "run", path, "--output", output);
            Assert.Equal(1, exit);
            Assert.Contains("another GestaltLab command is writing this file right now", text);
            Assert.DoesNotContain("[1/1]", text);
        }
        finally
        {
            first.Kill();
            await first.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task LongConsoleOutputIsKeptWholeAndInOrder()
    {
        using var kit = new NotebookTestKit();
        // Line by line, as a training loop prints: appended to one JSON string each time, this took minutes.
        string path = kit.Write("long.ipynb", "for (int i = 0; i < 200000; i++) Console.WriteLine(i);");
        var (result, nb) = await Run(path);
        Assert.True(result.Succeeded);
        var lines = nb.CodeCells.Single().Outputs.OfType<JsonObject>().Single()["text"]!.AsArray();
        Assert.Equal(200000, lines.Count);
        Assert.Equal("0\n", lines[0]!.GetValue<string>());
        Assert.Equal("199999\n", lines[^1]!.GetValue<string>());
    }

    [Fact]
    public async Task WrittenNotebookValidatesWithNbformat()
    {
        using var kit = new NotebookTestKit();
        // An nbformat 4.2 notebook without cell ids, as older tools write it: the runner upgrades it to 4.5.
        string path = Path.Combine(kit.Dir, "old.ipynb");
        File.WriteAllText(path, """
            {"cells": [
              {"cell_type": "markdown", "metadata": {}, "source": "# Old notebook"},
              {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": ["bool Quick = false;\n", "int Seed = 1;"], "outputs": [], "execution_count": null},
              {"cell_type": "code", "metadata": {}, "source": "Console.WriteLine(Seed);\ndisplay(new SkiaSharp.SKBitmap(4, 4));\nnew[] { (Name: \"a\", Score: 0.5) }", "outputs": [], "execution_count": null},
              {"cell_type": "code", "metadata": {}, "source": "throw new Exception(\"stop here\");", "outputs": [], "execution_count": null}
            ], "metadata": {}, "nbformat": 4, "nbformat_minor": 2}
            """);

        var (result, nb) = await Run(path, new NotebookRunOptions { Quick = true, Parameters = new Dictionary<string, string> { ["Seed"] = "9" } });

        Assert.False(result.Succeeded); // the error output must validate too
        var (exit, output) = ValidateWithNbformat(path);
        Assert.True(exit == 0, $"nbformat rejected the notebook: {output}");
        Assert.Contains("valid", output);
        Assert.Equal(5, nb.Cells.Count); // the injected parameters cell
        Assert.All(nb.Cells, c => Assert.Matches("^[a-zA-Z0-9-_]{1,64}$", c.Id!));
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal(5, json["nbformat_minor"]!.GetValue<int>());
        Assert.Equal(".net-csharp", json["metadata"]!["kernelspec"]!["name"]!.GetValue<string>());
        Assert.Equal("C#", json["metadata"]!["kernelspec"]!["language"]!.GetValue<string>());
    }

    [Fact]
    public async Task SavingLeavesNoTemporaryFilesBehind()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("atomic.ipynb", "42");

        await Run(path);

        Assert.Equal(["atomic.ipynb"], Directory.GetFiles(kit.Dir).Select(Path.GetFileName));
        var nb = Notebook.Load(path);
        Assert.Equal("42", Text(Single(nb.CodeCells.Single(), "execute_result")["data"]!["text/plain"]));
    }

    [Fact]
    public async Task CancellationStopsACellThatIgnoresTheTokenAndSavesTheOutputs()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("cancel.ipynb",
            "Console.WriteLine(\"first\");",
            "Console.WriteLine(\"waiting\");\nawait Task.Delay(Timeout.Infinite);",
            "Console.WriteLine(\"never\");");
        using var cts = new CancellationTokenSource();
        var secondCellStarted = new TaskCompletionSource();
        var log = new SignalWriter("[2/3]", secondCellStarted);
        var run = NotebookRunner.RunAsync(path, new NotebookRunOptions { Log = log }, cts.Token);
        await Task.WhenAny(secondCellStarted.Task, run);
        await cts.CancelAsync();
        var result = await run;

        Assert.True(result.Cancelled);
        Assert.Equal(2, result.Failure!.CodeCellNumber);
        var nb = Notebook.Load(path);
        Assert.Equal("first\n", Stdout(nb.CodeCells.First()));
        Assert.Equal(NotebookRunner.CancelledErrorName, Single(nb.CodeCells.ElementAt(1), "error")["ename"]!.GetValue<string>());
        Assert.Equal("cancelled", nb.Metadata["gestaltlab"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task CliStopsOnTerminationSignalAndSavesTheOutputs()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("stop.ipynb",
            "Console.WriteLine(\"first\");",
            "Console.WriteLine(\"long cell\");\nThread.Sleep(Timeout.Infinite);",
            "Console.WriteLine(\"never\");");
        using var process = System.Diagnostics.Process.Start(TestCli.StartInfo("notebook", "run", path))!;
        var started = new TaskCompletionSource();
        var stdout = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            lock (stdout) stdout.AppendLine(e.Data);
            if (e.Data?.Contains("[2/3]", StringComparison.Ordinal) == true) started.TrySetResult();
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        await Task.WhenAny(started.Task, process.WaitForExitAsync());
        Assert.True(started.Task.IsCompleted, $"the long cell never started: {stdout}");
        // SIGTERM, as CI or a container stop sends it; Ctrl+C's SIGINT takes the same path.
        using (var kill = System.Diagnostics.Process.Start("kill", ["-s", "TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        await process.WaitForExitAsync();

        // 128 + 15, the shell's code for SIGTERM (Ctrl+C's is 130), after saying what it does.
        Assert.Equal(143, process.ExitCode);
        string errors = await stderr;
        Assert.Contains("stopping: saving the outputs so far", errors);
        Assert.Contains("code cell 2 (cell 2 of 3)", errors);
        var nb = Notebook.Load(path);
        Assert.Equal("first\n", Stdout(nb.CodeCells.First()));
        Assert.Equal(NotebookRunner.CancelledErrorName, Single(nb.CodeCells.ElementAt(1), "error")["ename"]!.GetValue<string>());
        Assert.Empty(Outputs(nb.CodeCells.Last()));
    }

    [Fact]
    public void NotANotebookGetsAClearError()
    {
        using var kit = new NotebookTestKit();
        string path = Path.Combine(kit.Dir, "bad.ipynb");
        File.WriteAllText(path, "{ not json");
        var e = Assert.Throws<GestaltLabException>(() => Notebook.Load(path));
        Assert.Contains("bad.ipynb", e.Message);
        Assert.Contains("not valid JSON", e.Message);
        var missing = Assert.Throws<GestaltLabException>(() => Notebook.Load(Path.Combine(kit.Dir, "none.ipynb")));
        Assert.Contains("not found", missing.Message);
        File.WriteAllText(path, """{"cells": [], "nbformat": 3}""");
        Assert.Contains("nbformat 3", Assert.Throws<GestaltLabException>(() => Notebook.Load(path)).Message);
    }

    [Fact]
    public async Task HtmlRenderingIsSelfContained()
    {
        using var kit = new NotebookTestKit();
        string path = kit.Write("page.ipynb",
            "md:# Workshop *one*\n\n| a | b |\n|---|---|\n| 1 | 2 |",
            "#r \"nuget: Plotly.NET.CSharp\"\nusing Plotly.NET.CSharp;\ndisplay(Chart.Point<int, int, string>(x: new[] { 1, 2 }, y: new[] { 3, 4 }));\ndisplay(new SkiaSharp.SKBitmap(3, 3));\nConsole.WriteLine(\"<tag> & text\");");

        var (result, _) = await Run(path, new NotebookRunOptions { WriteHtml = true });

        Assert.True(result.Succeeded, result.Failure?.ToString());
        string html = File.ReadAllText(result.HtmlPath!);
        Assert.Contains("<h1", html);
        Assert.Contains("<em>one</em>", html);
        Assert.Contains("<table", html);
        Assert.Contains("&lt;tag&gt; &amp; text", html);
        Assert.Contains("data:image/png;base64,", html);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "data-plotlyjs="));
        Assert.DoesNotMatch("<(script|link|img)[^>]*(src|href)=\"(https?:)?//", html);
        // A remote image a notebook's own markdown names is not fetched when the page is opened.
        Assert.Contains(GestaltLab.Figures.FigureHtml.OfflinePolicyMeta, html);
    }

    [Fact]
    public async Task PlotlyNetsOwnHtmlInlinesPlotlyJsBeforeAnyGestaltLabChart()
    {
        // A fresh process (this one has long since used Charts, which sets the same default): the first cell saves a
        // chart with Plotly.NET's own function; the page must not load plotly.js from a CDN when it is opened.
        using var kit = new NotebookTestKit();
        string page = Path.Combine(kit.Dir, "own.html");
        string path = kit.Write("own.ipynb",
            "#r \"nuget: Plotly.NET.CSharp\"\nvar html = Plotly.NET.GenericChart.toEmbeddedHTML(Plotly.NET.CSharp.Chart.Point<int, int, string>(x: new[] { 1, 3 }, y: new[] { 2, 4 }));\n"
            + $"System.IO.File.WriteAllText(@\"{page}\", html);");
        var (code, output) = await RunCli("notebook", "run", path);
        Assert.True(code == 0, output);
        string html = File.ReadAllText(page);
        Assert.Contains("Plotly.newPlot", html);
        // (plotly.js itself mentions cdn.plot.ly, as the default source of map outlines: only a script loaded from there counts.)
        Assert.DoesNotMatch("<script[^>]*src=\"(https?:)?//", html);
    }

    /// <summary>A log that completes <paramref name="signal"/> when a line containing <paramref name="marker"/> is written.</summary>
    private sealed class SignalWriter(string marker, TaskCompletionSource signal) : TextWriter
    {
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void WriteLine(string? value)
        {
            if (value?.Contains(marker, StringComparison.Ordinal) == true) signal.TrySetResult();
        }
    }
}
