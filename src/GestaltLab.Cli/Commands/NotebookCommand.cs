using System.CommandLine;
using System.Runtime.InteropServices;
using GestaltLab.Notebooks;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab notebook run NOTEBOOK… [--quick] [-p NAME=VALUE]… [--html] [--chart-images] [--output FILE] [--echo]</c>: runs C#
/// notebooks headless and saves their outputs. Exit 0 when every notebook ran green, 1 when a cell failed, 130 on Ctrl+C
/// (143 on SIGTERM).
/// </summary>
internal sealed class NotebookCommand : ICliCommand
{
    public Command Create()
    {
        var notebooks = new Argument<string[]>("NOTEBOOK") { Description = "The .ipynb files to run, in order.", Arity = ArgumentArity.OneOrMore };
        var quick = new Option<bool>("--quick") { Description = "Small sizes for CI: sets the parameter Quick = true after the cell tagged \"parameters\"." };
        var parameters = new Option<string[]>("--parameter", "-p")
        {
            Description = "Override a parameter of the cell tagged \"parameters\" (repeatable), e.g. -p Seed=7 -p Preset=demo.",
            AllowMultipleArgumentsPerToken = false,
        };
        var html = new Option<bool>("--html") { Description = "Also write a self-contained HTML rendering next to each notebook (works offline)." };
        var output = new Option<string?>("--output", "-o") { Description = "Save the executed notebook here instead of over the input: a file ending in .ipynb (one notebook), or a folder (an existing one, a path ending in '/', or a name without extension) for each notebook under its own name." };
        var chartImages = new Option<bool>("--chart-images") { Description = "Also store a static PNG of every chart (headless Chromium), for viewers that strip scripts such as GitHub." };
        var echo = new Option<bool>("--echo") { Description = "Also print the cells' console output as they run." };
        // Ctrl+C (or SIGTERM) stops the running cell and still saves the outputs so far (CliRunner cancels the token and
        // prints this note); a second one quits at once.
        var run = new StopNoteCommand("run", "Run notebooks headless (Roslyn scripting) and save their outputs into the .ipynb.",
            "stopping: saving the outputs so far")
        {
            notebooks, quick, parameters, html, output, chartImages, echo,
        };
        run.SetAction(async (parse, cancellationToken) =>
        {
            // A cell calling Environment.Exit ends the process under the runner, which would otherwise stop without a word
            // (and, with Exit(0), pass in CI with its outputs unsaved and the next notebooks not run). Hooked once.
            if (Interlocked.Exchange(ref _exitHooked, 1) == 0)
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    if (_running is not { } notebook) return;
                    Console.Error.WriteLine($"error: {notebook}: a cell ended the process (Environment.Exit({Environment.ExitCode})); the outputs of this run were not saved");
                    if (Environment.ExitCode == 0) Environment.ExitCode = 1;
                };
            try
            {
                return await RunAll(parse, cancellationToken);
            }
            catch (GestaltLabException e)
            {
                // Reported here rather than left to System.CommandLine, which would print a stack trace.
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return new Command("notebook", "Run the project's C# Jupyter notebooks headless.") { run };

        async Task<int> RunAll(ParseResult parse, CancellationToken cancellationToken)
        {
            var files = parse.GetValue(notebooks) ?? [];
            string? outputPath = parse.GetValue(output);
            // A name without extension is a folder (as `-o results` would be taken): saved as a file, it became an
            // extension-less notebook beside an "results.html", and a second notebook run would replace it.
            bool outputFolder = outputPath is not null && (Directory.Exists(outputPath) || outputPath.EndsWith('/') || outputPath.EndsWith(Path.DirectorySeparatorChar)
                || Path.GetExtension(outputPath).Length == 0);
            if (outputPath is not null && !outputFolder && !outputPath.EndsWith(".ipynb", StringComparison.OrdinalIgnoreCase))
                throw new GestaltLabException($"--output {outputPath}: a notebook is saved as .ipynb", $"name a file ending in .ipynb, or a folder (ending in '/') to save each notebook there under its own name");
            if (outputPath is not null && !outputFolder && files.Length != 1)
                throw new GestaltLabException("--output FILE needs exactly one notebook", "give a folder (ending in '/') to save each notebook there, or drop --output to save each in place");
            var overrides = ParseParameters(parse.GetValue(parameters) ?? []);
            var log = Console.Out;
            int failed = 0, saved = 0;
            bool anyChanged = false, anyQuick = false;
            var failedFiles = new List<string>();
            foreach (var file in files)
            {
                var options = new NotebookRunOptions
                {
                    Quick = parse.GetValue(quick),
                    Parameters = overrides,
                    WriteHtml = parse.GetValue(html),
                    OutputPath = outputFolder ? Path.Combine(outputPath!, Path.GetFileName(file)) : outputPath,
                    Log = log,
                    EchoOutput = parse.GetValue(echo),
                    ChartImages = parse.GetValue(chartImages),
                    // Jupyter runs a notebook in its own folder, so relative paths in cells mean the same in both.
                    WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(file)),
                };
                NotebookRunResult result;
                try
                {
                    _running = file;
                    result = await NotebookRunner.RunAsync(file, options, cancellationToken);
                }
                catch (GestaltLabException e)
                {
                    // A notebook that cannot be read or parameterised fails alone; the others still run.
                    failed++;
                    failedFiles.Add(file);
                    Console.Error.WriteLine($"error: {e.Message}");
                    continue;
                }
                finally
                {
                    // Whatever ended the run (a full disk while saving included), it was not a cell's Environment.Exit.
                    _running = null;
                }
                saved++;   // outputs are saved, up to a failing cell if one failed
                if (result.Cancelled)
                {
                    Console.Error.WriteLine($"cancelled: {file} stopped at {result.Failure!.Label}; outputs so far are saved");
                    ExitNow(CliRunner.StoppedCode);
                    return CliRunner.StoppedCode;
                }
                anyChanged |= result.Parameterised;
                anyQuick |= result.Quick;
                if (!result.Succeeded)
                {
                    failed++;
                    failedFiles.Add(file);
                    Console.Error.WriteLine($"error: {file}: {result.Failure}");
                }
            }
            // Quick or re-parameterised outputs saved over a notebook replace its full run's (the committed ones, for the
            // project's notebooks), and the text around them may quote the figures they replaced.
            if (anyChanged && outputPath is null && saved > 0)
                Console.WriteLine($"note: the {(anyQuick ? "quick-mode" : "re-parameterised")} outputs were saved into the notebook(s), over the "
                                  + "default run's (`git restore` brings the committed ones back; --output DIR/ keeps them apart)");
            if (files.Length > 1)
                Console.WriteLine($"{files.Length - failed} of {files.Length} notebooks ran green" +
                    (failed > 0 ? $"; failed: {string.Join(", ", failedFiles.Select(Path.GetFileName))}" : ""));
            return failed == 0 ? 0 : 1;
        }
    }

    // The notebook being run, while a cell could end the process.
    private static volatile string? _running;
    private static int _exitHooked;

    /// <summary>
    /// Ends the process at once. A stopped cell may still be running native code (e.g. libtorch training that was not
    /// given the token); the normal shutdown would run native teardown under its feet and crash (exit 139), so on
    /// Unix the process leaves through <c>_exit</c> once the outputs are saved and the console flushed.
    /// </summary>
    private static void ExitNow(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _exit(code);
        Environment.Exit(code);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void _exit(int status);

    private static Dictionary<string, string> ParseParameters(string[] values)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var v in values)
        {
            int eq = v.IndexOf('=');
            if (eq <= 0)
                throw new GestaltLabException($"-p {v}: expected NAME=VALUE", "e.g. -p Seed=7");
            result[v[..eq].Trim()] = v[(eq + 1)..];
        }
        return result;
    }
}
