using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using GestaltLab.Runtime;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace GestaltLab.Notebooks;

/// <summary>How to run a notebook.</summary>
public sealed record NotebookRunOptions
{
    /// <summary>Sets the parameter <c>Quick = true</c> (small sizes for CI); ignored with a note when the notebook has no parameters cell.</summary>
    public bool Quick { get; init; }

    /// <summary>Parameter overrides (name → value as text), injected after the parameters cell.</summary>
    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>Where to save the executed notebook; null saves over the input file (in-memory notebooks are not saved).</summary>
    public string? OutputPath { get; init; }

    /// <summary>Also write a self-contained HTML rendering (next to the saved notebook unless <see cref="HtmlPath"/> is set).</summary>
    public bool WriteHtml { get; init; }

    /// <summary>Where to write the HTML rendering; implies <see cref="WriteHtml"/>.</summary>
    public string? HtmlPath { get; init; }

    /// <summary>Progress lines (one per cell, plus notes); null for silence.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Also copy the cells' console output to <see cref="Log"/> as it happens (useful in CI logs).</summary>
    public bool EchoOutput { get; init; }

    /// <summary>
    /// Also store a static PNG of every Plotly chart (headless Chromium), shown by viewers that strip scripts (GitHub)
    /// and used by nbconvert's PDF export. Costs about a second per chart.
    /// </summary>
    public bool ChartImages { get; init; }

    /// <summary>
    /// Run with this working directory (Jupyter runs a notebook in its own folder). The working directory is
    /// process-wide, so leave null when several notebooks run at once in one process.
    /// </summary>
    public string? WorkingDirectory { get; init; }
}

/// <summary>Where and why a run stopped.</summary>
/// <param name="CodeCellNumber">1-based number of the failing cell among code cells.</param>
/// <param name="CellNumber">1-based number among all cells (markdown included), as an editor counts them.</param>
/// <param name="CellCount">Number of cells in the notebook.</param>
/// <param name="CellId">The failing cell's id.</param>
/// <param name="ErrorName">Exception type, <c>CompilationError</c>, or <c>Cancelled</c>.</param>
/// <param name="Message">What went wrong (compiler diagnostics or exception message).</param>
public sealed record NotebookCellFailure(int CodeCellNumber, int CellNumber, int CellCount, string CellId, string ErrorName, string Message)
{
    /// <summary>"code cell 3 (cell 5 of 9)".</summary>
    public string Label => $"code cell {CodeCellNumber} (cell {CellNumber} of {CellCount})";

    /// <inheritdoc />
    public override string ToString() => $"{Label} failed: {ErrorName}: {Message}";
}

/// <summary>The outcome of running one notebook.</summary>
/// <param name="Path">The notebook file (null for an in-memory notebook).</param>
/// <param name="SavedTo">Where the executed notebook was written, or null.</param>
/// <param name="HtmlPath">Where the HTML rendering was written, or null.</param>
/// <param name="CodeCellsRun">Code cells that ran to the end.</param>
/// <param name="CodeCellCount">Code cells in the notebook (the injected parameters cell included).</param>
/// <param name="Failure">Why the run stopped early, or null when every cell succeeded.</param>
/// <param name="Elapsed">Wall time of the run.</param>
public sealed record NotebookRunResult(string? Path, string? SavedTo, string? HtmlPath, int CodeCellsRun, int CodeCellCount,
    NotebookCellFailure? Failure, TimeSpan Elapsed)
{
    /// <summary>Whether every code cell ran without error.</summary>
    public bool Succeeded => Failure is null;

    /// <summary>Whether the run was stopped by the user.</summary>
    public bool Cancelled => Failure?.ErrorName == NotebookRunner.CancelledErrorName;

    /// <summary>
    /// Whether the notebook ran in quick mode: <c>Quick = true</c> was injected into its parameters (by
    /// <see cref="NotebookRunOptions.Quick"/> or a <c>Quick</c> parameter). False when the notebook has no such parameter,
    /// whatever was asked: it then ran at full size.
    /// </summary>
    public bool Quick { get; init; }

    /// <summary>Whether any parameter was injected, so the outputs are not the defaults' (quick mode included).</summary>
    public bool Parameterised { get; init; }
}

/// <summary>
/// Runs C# Jupyter notebooks headless on Roslyn scripting: code cells in order with one script state (variables,
/// types and usings carry from cell to cell), console output and <c>display(…)</c> captured per cell, the trailing
/// expression shown as the cell's result, outputs written back into the <c>.ipynb</c> (nbformat 4.5) atomically.
/// A failing cell stops the run; the outputs up to it, its error included, are still saved.
/// </summary>
public static partial class NotebookRunner
{
    /// <summary>The error name recorded when the user stops a run.</summary>
    public const string CancelledErrorName = "Cancelled";

    /// <summary>Runs a notebook file and saves it (over itself unless <see cref="NotebookRunOptions.OutputPath"/> is set).</summary>
    /// <exception cref="GestaltLabException">The file is not a notebook, or the parameters asked for do not exist.</exception>
    public static Task<NotebookRunResult> RunAsync(string path, NotebookRunOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new NotebookRunOptions();
        var notebook = Notebook.Load(path);
        return RunAsync(notebook, options with { OutputPath = options.OutputPath ?? path }, cancellationToken);
    }

    /// <summary>Runs a notebook in memory (its cells receive the outputs); saves it when <see cref="NotebookRunOptions.OutputPath"/> is set.</summary>
    /// <exception cref="GestaltLabException">The parameters asked for do not exist or do not fit their types.</exception>
    public static async Task<NotebookRunResult> RunAsync(Notebook notebook, NotebookRunOptions options, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var log = options.Log;
        string name = notebook.Path is null ? "notebook" : System.IO.Path.GetFileName(notebook.Path);
        string? fullPath = notebook.Path is null ? null : System.IO.Path.GetFullPath(notebook.Path);
        RefuseOtherKernel(notebook, name);
        notebook.Normalize();
        var (quick, parameterised, privateGiven, notes) = InjectParameters(notebook, options, name);
        // A private parameter's value (a photo of the user's own) and what the cells show of it go into the outputs: never
        // over the notebook, which is shared (committed, handed out), and readable by the user alone.
        bool ownerOnly = privateGiven.Count > 0;
        // The runner's own lines (a failing cell's message, kept in the result too) name a private value as "(private)":
        // a log may be kept or shared where the saved outputs, the user's alone, are not.
        var privateValues = privateGiven.Select(n => options.Parameters.TryGetValue(n, out var v) ? v : "")
            .SelectMany(v => new[] { v, System.IO.Path.GetFileName(v) }).Where(v => v.Length > 2).Distinct().OrderByDescending(v => v.Length).ToList();
        string Redact(string text) => privateValues.Aggregate(text, (t, v) => t.Replace(v, "(private)", StringComparison.Ordinal));
        if (ownerOnly && options.OutputPath is not null && fullPath is not null && RunFolder.RealPath(options.OutputPath) == RunFolder.RealPath(fullPath))
            throw new GestaltLabException(
                $"{name}: {string.Join(", ", privateGiven)} {(privateGiven.Count == 1 ? "is a private parameter" : "are private parameters")}: what the cells make of it (your photo, its name) would be saved into the notebook itself, which is shared",
                "save the run elsewhere: --output DIR/ (in C#: NotebookRunOptions.OutputPath); it is written readable by you alone");
        // Where the outputs go is checked, and held, before the first cell: a folder that cannot be written or another run
        // saving to the same file would otherwise be found only when every cell had run, and that run's outputs lost.
        using var outputLock = options.OutputPath is null ? null : ClaimOutput(options.OutputPath, options, ownerOnly);
        log?.WriteLine($"▶ {name}{(quick ? " (quick)" : "")}");
        foreach (var note in notes) log?.WriteLine($"  {note}");
        foreach (var cell in notebook.CodeCells)
        {
            cell.SetOutputs([]);
            cell.ExecutionCount = null;
        }

        string? baseDir = fullPath is null ? options.WorkingDirectory : System.IO.Path.GetDirectoryName(fullPath);
        var directives = new CellDirectives(PackageCatalog.Current, ScriptEnvironment.ReferencedAssemblyNames, baseDir ?? Environment.CurrentDirectory);
        await using var session = new NotebookSession(fullPath, cancellationToken);
        if (options.ChartImages) session.EnableChartImages();
        var globals = new NotebookGlobals(session);
        var codeCells = notebook.CodeCells.ToList();

        string? previousDirectory = null;
        if (options.WorkingDirectory is not null)
        {
            previousDirectory = Environment.CurrentDirectory;
            Environment.CurrentDirectory = options.WorkingDirectory;
        }

        ScriptState<object>? state = null;
        NotebookCellFailure? failure = null;
        int executed = 0, count = 0;
        try
        {
            for (int k = 0; k < codeCells.Count && failure is null; k++)
            {
                var cell = codeCells[k];
                int cellNumber = IndexOf(notebook, cell) + 1;
                string label = $"code cell {k + 1} (cell {cellNumber} of {notebook.Cells.Count})";
                var outputs = new CellOutputs();
                var cellClock = Stopwatch.StartNew();
                log?.WriteLine($"  [{k + 1}/{codeCells.Count}] cell {cellNumber} of {notebook.Cells.Count}…");
                try
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (cell.KernelName is { } kernel && !IsCSharp(kernel))
                        throw new NotebookCellException(label,
                            $"this cell is in {kernel} (its polyglot_notebook.kernelName), not C#; the GestaltLab runner executes C# only",
                            "run the notebook in VS Code's Polyglot Notebooks for its other languages, or move that cell's work into C#");
                    var prepared = directives.Process(cell.Source, label);
                    foreach (var note in prepared.Notes) log?.WriteLine($"      {note}");
                    if (string.IsNullOrWhiteSpace(prepared.Code) && prepared.Notes.Count == 0)
                    {
                        executed++;
                        continue; // Jupyter leaves an empty cell unnumbered.
                    }
                    cell.ExecutionCount = ++count;
                    var options0 = ScriptEnvironment.Options
                        .WithFilePath($"{fullPath ?? name}#cell{k + 1}")
                        .WithMetadataResolver(ScriptMetadataResolver.Default.WithBaseDirectory(baseDir ?? Environment.CurrentDirectory));
                    session.Begin(outputs, cell.Id ?? $"cell{k + 1}");
                    var previous = state;
                    var run = Task.Run(async () =>
                    {
                        using var capture = ConsoleCapture.Capture(outputs, options.EchoOutput ? log : null);
                        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
                        CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
                        var after = previous is null
                            ? await CSharpScript.RunAsync(prepared.Code, options0, globals, typeof(NotebookGlobals), cancellationToken).ConfigureAwait(false)
                            : await previous.ContinueWithAsync(prepared.Code, options0, cancellationToken).ConfigureAwait(false);
                        // An async call left as the cell's value (its `await` forgotten) would finish in the background, after
                        // the next cell had looked for what it makes, and show as a state machine's type name: the cell
                        // waits for it and shows its result instead (its output and failure belong to this cell).
                        object? value = after.ReturnValue;
                        if (value is Task task)
                        {
                            await task.WaitAsync(cancellationToken).ConfigureAwait(false);
                            value = TaskResult(task);
                        }
                        return (after, value);
                    }, CancellationToken.None);
                    // A cell that ignores the token cannot be stopped inside; the run stops waiting for it instead.
                    (state, var shown) = await run.WaitAsync(cancellationToken).ConfigureAwait(false);
                    if (shown is { } value) outputs.Result(session.Format(value), cell.ExecutionCount ?? count);
                    executed++;
                    log?.WriteLine($"      ok ({Seconds(cellClock.Elapsed)})");
                }
                catch (Exception e)
                {
                    var (ename, evalue, traceback) = Describe(e, cancellationToken);
                    outputs.Error(ename, evalue, traceback);
                    failure = new NotebookCellFailure(k + 1, cellNumber, notebook.Cells.Count, cell.Id ?? "", ename, Redact(evalue));
                    log?.WriteLine($"      ✗ {ename}: {FirstLine(Redact(evalue))}");
                }
                finally
                {
                    session.End();
                    cell.SetOutputs(outputs.ToList());
                }
            }
        }
        finally
        {
            if (previousDirectory is not null) Environment.CurrentDirectory = previousDirectory;
        }

        notebook.Metadata["gestaltlab"] = new System.Text.Json.Nodes.JsonObject
        {
            ["runner"] = $"GestaltLab.Notebooks {typeof(NotebookRunner).Assembly.GetName().Version}",
            ["quick"] = quick,
            ["status"] = failure is null ? "ok" : failure.ErrorName == CancelledErrorName ? "cancelled" : "failed",
        };

        string? savedTo = null, htmlPath = null;
        if (options.OutputPath is not null)
        {
            notebook.Save(options.OutputPath, ownerOnly);
            savedTo = System.IO.Path.GetFullPath(options.OutputPath);
        }
        if (options.WriteHtml || options.HtmlPath is not null)
        {
            htmlPath = options.HtmlPath ?? System.IO.Path.ChangeExtension(savedTo ?? fullPath ?? "notebook.ipynb", ".html");
            AtomicFile.WriteAllText(htmlPath, NotebookHtml.Render(notebook, System.IO.Path.GetFileNameWithoutExtension(name)), ownerOnly);
            htmlPath = System.IO.Path.GetFullPath(htmlPath);
        }
        var result = new NotebookRunResult(fullPath, savedTo, htmlPath, executed, codeCells.Count, failure, clock.Elapsed)
        {
            Quick = quick, Parameterised = parameterised,
        };
        log?.WriteLine(failure is null
            ? $"✓ {name}: {executed}/{codeCells.Count} code cells in {Seconds(clock.Elapsed)}{(savedTo is null ? "" : $", saved {savedTo}")}{(htmlPath is null ? "" : $", HTML {htmlPath}")}"
            : $"✗ {name}: {failure.Label} failed ({failure.ErrorName}) after {Seconds(clock.Elapsed)}{(savedTo is null ? "" : $"; outputs so far saved in {savedTo}")}");
        return result;
    }

    private static string FirstLine(string s) => s.Split('\n', 2)[0];

    private static int IndexOf(Notebook notebook, NotebookCell cell)
    {
        for (int i = 0; i < notebook.Cells.Count; i++)
            if (ReferenceEquals(notebook.Cells[i], cell)) return i;
        return -1;
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString(t.TotalSeconds < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " s";

    // Injects the overrides after the parameters cell. Quick: whether Quick = true was injected (what the notebook ran
    // as, recorded in its metadata: `--quick` on a notebook without that parameter runs it at full size, and
    // `-p Quick=true` is quick mode however it was asked for).
    private static (bool Quick, bool Parameterised, List<string> PrivateGiven, List<string> Notes) InjectParameters(Notebook notebook, NotebookRunOptions options, string name)
    {
        var notes = new List<string>();
        foreach (var old in notebook.CodeCells.Where(c => c.Tags.Contains(NotebookParameters.InjectedTag)).ToList())
            notebook.RemoveCell(old);
        var overrides = new List<KeyValuePair<string, string>>();
        if (options.Quick && !options.Parameters.ContainsKey("Quick")) overrides.Add(KeyValuePair.Create("Quick", "true"));
        overrides.AddRange(options.Parameters);
        if (overrides.Count == 0) return (false, false, [], notes);

        var parameters = NotebookParameters.FindParametersCell(notebook);
        if (parameters is null)
        {
            if (options.Parameters.Count > 0)
                throw new GestaltLabException($"{name}: parameters were given ({string.Join(", ", options.Parameters.Keys)}) but no code cell is tagged \"parameters\"",
                    "tag the cell that declares the parameters with \"parameters\" (cell metadata tags, as papermill does)");
            notes.Add($"note: {name} has no cell tagged \"parameters\"; --quick has nothing to override, so it runs at full size");
            return (false, false, [], notes);
        }
        var declared = NotebookParameters.Declared(parameters.Source);
        if (options.Quick && options.Parameters.Count == 0 && declared.All(d => d.Name != "Quick"))
        {
            notes.Add($"note: {name}'s parameters cell declares no Quick; --quick has nothing to override, so it runs at full size");
            return (false, false, [], notes);
        }
        int index = IndexOf(notebook, parameters);
        string code = NotebookParameters.InjectedCode(declared, overrides, $"{name}: parameters cell (cell {index + 1})");
        notebook.InsertCell(index + 1, "code", code, NotebookParameters.InjectedTag);
        notebook.Normalize();
        var privateGiven = overrides.Select(o => o.Key).Where(k => declared.Any(d => d.Name == k && d.Private)).Distinct().ToList();
        // A private value (a photo's path) is not printed to the log, which CI or a shared terminal may keep.
        notes.Add($"parameters: {string.Join(", ", overrides.Select(o => privateGiven.Contains(o.Key) ? $"{o.Key}=(private)" : $"{o.Key}={o.Value}"))}");
        bool quick = overrides.LastOrDefault(o => o.Key == "Quick").Value is { } value && bool.TryParse(value.Trim(), out bool q) && q;
        return (quick, true, privateGiven, notes);
    }

    private static bool IsCSharp(string language) => language.ToLowerInvariant() is "csharp" or "c#" or "cs" or ".net-csharp";

    // A notebook written for another Jupyter kernel (python3, ir, julia…) would fail cell after cell as C#, or worse, run.
    private static void RefuseOtherKernel(Notebook notebook, string name)
    {
        if (notebook.Metadata["kernelspec"] is not System.Text.Json.Nodes.JsonObject spec) return;
        string? kernel = spec["name"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? spec["name"]!.GetValue<string>() : null;
        string? language = spec["language"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? spec["language"]!.GetValue<string>() : null;
        // .NET Interactive's kernels (.net-csharp, .net-fsharp, .net-pwsh) hold C# cells or say per cell what they are.
        if (kernel is not null && kernel.StartsWith(".net", StringComparison.OrdinalIgnoreCase)) return;
        if (language is not null ? IsCSharp(language) : kernel is null || IsCSharp(kernel)) return;
        throw new GestaltLabException(
            $"{name}: written for the Jupyter kernel {kernel ?? "?"}{(language is null ? "" : $" ({language})")}; the GestaltLab runner runs C# notebooks",
            "run it with its own kernel in Jupyter; the runner takes notebooks of .NET Interactive's C# kernel (.net-csharp), as VS Code's Polyglot Notebooks writes them");
    }

    // Checks that the executed notebook (and its HTML) can be saved where asked, and holds that file for the run.
    private static FolderLock ClaimOutput(string outputPath, NotebookRunOptions options, bool ownerOnly)
    {
        var held = FolderLock.AcquireFile(outputPath, "save a notebook run as");
        try
        {
            AtomicFile.CheckWritable(outputPath, "notebook.ipynb", ownerOnly);
            CheckReplaceable(outputPath);
            if (options.WriteHtml || options.HtmlPath is not null)
            {
                string html = options.HtmlPath ?? System.IO.Path.ChangeExtension(outputPath, ".html");
                AtomicFile.CheckWritable(html, "notebook.html", ownerOnly);
                CheckReplaceable(html);
            }
            return held;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    // An existing file the save would replace must itself be writable: an immutable (chattr +i) or read-only file in a
    // writable folder passes the folder's check, and would fail the save once every cell had run.
    private static void CheckReplaceable(string path)
    {
        if (!File.Exists(path)) return;
        try
        {
            using (new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GestaltLabException($"{path}: cannot be replaced ({e.Message})",
                "make it writable, or save the run elsewhere (--output FILE or --output DIR/; in C#: NotebookRunOptions.OutputPath)");
        }
    }

    // A finished Task<T>'s result; null for a plain Task (whose runtime type is a Task<VoidTaskResult>).
    private static object? TaskResult(Task task) =>
        task.GetType().GetProperty(nameof(Task<int>.Result)) is { } result && result.PropertyType.Name != "VoidTaskResult" ? result.GetValue(task) : null;

    /// <summary>Jupyter's error triple for a failure: name, value, traceback lines.</summary>
    private static (string Name, string Value, List<string> Traceback) Describe(Exception e, CancellationToken token)
    {
        if (e is OperationCanceledException && token.IsCancellationRequested)
            return (CancelledErrorName, "the run was stopped (Ctrl+C or a stop signal)", ["Cancelled: the run was stopped (Ctrl+C or a stop signal)"]);
        if (e is CompilationErrorException c)
        {
            var errors = c.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            var lines = errors.Select(Diagnostic).ToList();
            // C# scripting parses a cell's top-level `using var x = …;` as a using directive and reports only "; expected".
            if (errors.Where(d => d.Id == "CS1002").Select(SourceLine).FirstOrDefault(l => l is not null && UsingDeclaration().IsMatch(l)) is not null)
                lines.Insert(0, "a `using var` declaration cannot stand at a cell's top level (C# scripting has no scope for it to end): " +
                    "write `var x = …;` and call x.Dispose() in a later cell, or keep the work inside a block: `using (var x = …) { … }`");
            return ("CompilationError", string.Join("; ", lines.Take(3)) + (lines.Count > 3 ? $"; … ({lines.Count} errors)" : ""), lines);
        }
        if (e is NotebookCellException n) return ("NotebookError", n.Message, n.Message.Split('\n').ToList());
        while (e is TargetInvocationException { InnerException: { } inner }) e = inner;
        if (e is AggregateException { InnerExceptions.Count: 1 } agg) e = agg.InnerExceptions[0];
        var trace = new List<string> { $"{e.GetType().FullName}: {e.Message}" };
        trace.AddRange(StackLines(e));
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            trace.Add($" ---> {inner.GetType().FullName}: {inner.Message}");
            trace.AddRange(StackLines(inner));
        }
        return (e.GetType().Name, e.Message, trace);
    }

    private static string? SourceLine(Diagnostic d) =>
        d.Location.IsInSource && d.Location.SourceTree?.GetText() is { } text && d.Location.GetLineSpan().StartLinePosition.Line is var line && line < text.Lines.Count
            ? text.Lines[line].ToString() : null;

    [System.Text.RegularExpressions.GeneratedRegex(@"^\s*(await\s+)?using\s+(var\s+\w+|[\w.<>,\[\]? ]+?\s+\w+)\s*=")]
    private static partial System.Text.RegularExpressions.Regex UsingDeclaration();

    private static string Diagnostic(Diagnostic d)
    {
        var span = d.Location.GetLineSpan();
        string where = d.Location.IsInSource ? $"line {span.StartLinePosition.Line + 1}, column {span.StartLinePosition.Character + 1}: " : "";
        return $"{where}error {d.Id}: {d.GetMessage(CultureInfo.InvariantCulture)}";
    }

    // Frames below the script's own code belong to Roslyn's scripting machinery and only hide the useful part.
    private static IEnumerable<string> StackLines(Exception e) =>
        (e.StackTrace ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.TrimEnd('\r'))
            .TakeWhile(l => !l.Contains("Microsoft.CodeAnalysis.Scripting", StringComparison.Ordinal))
            .Where(l => !l.Contains("--- End of stack trace from previous location", StringComparison.Ordinal));
}
