using System.Diagnostics;
using System.Text.Json.Nodes;
using GestaltLab.Notebooks;

namespace GestaltLab.Tests.Notebooks;

/// <summary>Tiny notebooks written into a temp folder, and helpers to read their outputs.</summary>
internal sealed class NotebookTestKit : IDisposable
{
    public string Dir { get; } = TestTemp.Dir("gl-nb");

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }

    /// <summary>Writes a notebook: strings starting with "md:" are markdown cells, "params:" a tagged parameters cell, others code.</summary>
    public string Write(string name, params string[] cells)
    {
        var nb = Notebook.Create();
        foreach (var c in cells)
        {
            if (c.StartsWith("md:", StringComparison.Ordinal)) nb.AddCell("markdown", c[3..]);
            else if (c.StartsWith("params:", StringComparison.Ordinal)) nb.AddCell("code", c[7..], NotebookParameters.ParametersTag);
            else nb.AddCell("code", c);
        }
        string path = Path.Combine(Dir, name);
        nb.Save(path);
        return path;
    }

    public static async Task<(NotebookRunResult Result, Notebook Saved)> Run(string path, NotebookRunOptions? options = null, CancellationToken token = default)
    {
        var result = await NotebookRunner.RunAsync(path, options, token);
        return (result, Notebook.Load(result.SavedTo ?? path));
    }

    public static IEnumerable<JsonObject> Outputs(NotebookCell cell) => cell.Outputs.OfType<JsonObject>();

    public static string Text(JsonNode? node) => node switch
    {
        JsonArray a => string.Concat(a.Select(l => l!.GetValue<string>())),
        JsonValue v => v.GetValue<string>(),
        _ => "",
    };

    public static string Stdout(NotebookCell cell) => string.Concat(Outputs(cell)
        .Where(o => o["output_type"]!.GetValue<string>() == "stream" && o["name"]!.GetValue<string>() == "stdout")
        .Select(o => Text(o["text"])));

    public static JsonObject Single(NotebookCell cell, string outputType) =>
        Assert.Single(Outputs(cell), o => o["output_type"]!.GetValue<string>() == outputType);

    /// <summary>Runs the gestaltlab command (built beside the tests) in its own process; returns exit code and stdout+stderr.</summary>
    public static async Task<(int ExitCode, string Output)> RunCli(params string[] args)
    {
        using var p = Process.Start(TestCli.StartInfo(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout + await stderr);
    }

    /// <summary>Validates a notebook file with the reference implementation, Debian's python3-nbformat.</summary>
    public static (int ExitCode, string Output) ValidateWithNbformat(string path)
    {
        const string python = "/usr/bin/python3";
        Assert.True(File.Exists(python), "the system Python is missing: environment/setup.sh --tests installs python3-nbformat");
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { "-c", "import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')", path },
        };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }
}
