using System.CommandLine;
using GestaltLab.Notebooks;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab notebook run NOTEBOOK… [--quick] [-p NAME=VALUE]… [--html] [--output FILE] [--echo]</c>: runs C#
/// notebooks headless and saves their outputs. Exit 0 when every notebook ran green, 1 when a cell failed, 130 on Ctrl+C.
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
        var output = new Option<string?>("--output", "-o") { Description = "Save the executed notebook here instead of over the input (one notebook only)." };
        var echo = new Option<bool>("--echo") { Description = "Also print the cells' console output as they run." };
        var run = new Command("run", "Run notebooks headless (Roslyn scripting) and save their outputs into the .ipynb.")
        {
            notebooks, quick, parameters, html, output, echo,
        };
        run.SetAction(async (parse, cancellationToken) =>
        {
            var files = parse.GetValue(notebooks) ?? [];
            string? outputPath = parse.GetValue(output);
            if (outputPath is not null && files.Length != 1)
                throw new GestaltLabException("--output needs exactly one notebook", "run the notebooks one at a time, or drop --output to save each in place");
            var overrides = ParseParameters(parse.GetValue(parameters) ?? []);
            var log = Console.Out;
            int failed = 0;
            var results = new List<NotebookRunResult>();
            foreach (var file in files)
            {
                var options = new NotebookRunOptions
                {
                    Quick = parse.GetValue(quick),
                    Parameters = overrides,
                    WriteHtml = parse.GetValue(html),
                    OutputPath = outputPath,
                    Log = log,
                    EchoOutput = parse.GetValue(echo),
                    // Jupyter runs a notebook in its own folder, so relative paths in cells mean the same in both.
                    WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(file)),
                };
                var result = await NotebookRunner.RunAsync(file, options, cancellationToken);
                results.Add(result);
                if (result.Cancelled)
                {
                    Console.Error.WriteLine($"cancelled: {file} stopped at {result.Failure!.Label}; outputs so far are saved");
                    return 130;
                }
                if (!result.Succeeded)
                {
                    failed++;
                    Console.Error.WriteLine($"error: {file}: {result.Failure}");
                }
            }
            if (files.Length > 1)
                Console.WriteLine($"{results.Count - failed} of {results.Count} notebooks ran green" +
                    (failed > 0 ? $"; failed: {string.Join(", ", results.Where(r => !r.Succeeded).Select(r => Path.GetFileName(r.Path)))}" : ""));
            return failed == 0 ? 0 : 1;
        });
        return new Command("notebook", "Run the project's C# Jupyter notebooks headless.") { run };
    }

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
