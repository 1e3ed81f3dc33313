using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Reflection;
using GestaltLab.Runtime;
using Spectre.Console;

namespace GestaltLab.Cli;

/// <summary>A verb of the <c>gestaltlab</c> command (one class per file under Commands/).</summary>
internal interface ICliCommand
{
    /// <summary>Builds the System.CommandLine command with its options and action.</summary>
    Command Create();
}

/// <summary>Builds the command line and turns the library's actionable errors into one clear message and exit code 1.</summary>
internal static class CliRunner
{
    /// <summary>The root command with every <see cref="ICliCommand"/> in this assembly, sorted by name.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("GestaltLab: facial-gestalt analysis of genetic syndromes (DeepGestalt in .NET).");
        // RootCommand takes its name from the entry assembly (GestaltLab.Cli: an assembly cannot share the library's name
        // case-insensitively), so help would say "Usage: GestaltLab.Cli" for a command users type as `gestaltlab`. Its help
        // builder is not public in System.CommandLine 2.0, so the help text is renamed on its way out; RootCommand itself
        // stays, with its [suggest] directive for shell completion.
        foreach (var option in root.Options)
            if (option is HelpOption { Action: HelpAction help } helpOption)
                helpOption.Action = new RenamedHelp(help, RootCommand.ExecutableName, "gestaltlab");
        var commands = typeof(CliRunner).Assembly.GetTypes()
            .Where(t => typeof(ICliCommand).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => ((ICliCommand)Activator.CreateInstance(t)!).Create())
            .OrderBy(c => c.Name, StringComparer.Ordinal);
        foreach (var c in commands) root.Subcommands.Add(c);
        return root;
    }

    /// <summary>Parses and runs; Ctrl+C cancels the running job through its cancellation token.</summary>
    public static async Task<int> InvokeAsync(RootCommand root, string[] args)
    {
        try
        {
            // System.CommandLine's default handler would print a stack trace for a GestaltLabException; the catch below
            // prints the message and the fix instead. Ctrl+C cancels the action's token and waits for it to stop.
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = TimeSpan.FromSeconds(10),
            });
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.FirstOrDefault(IsUserFacing) is { } inner)
        {
            // A worker thread's error, e.g. a photo that vanished mid-run: its message names the file.
            Console.Error.WriteLine($"error: {inner.Message}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
    }

    // The library's own errors carry the fix; a path that is a file where a folder is needed (or the reverse), a full
    // disk, no permission: .NET's message names the path, which is all the user needs, and a stack trace would bury it.
    private static bool IsUserFacing(Exception e) => e is GestaltLabException or IOException or UnauthorizedAccessException;

    /// <summary>Console for progress bars and tables; never emits colour codes when redirected (logs, CI).</summary>
    public static IAnsiConsole Ansi { get; } = AnsiConsole.Create(new AnsiConsoleSettings
    {
        Ansi = Console.IsOutputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
        ColorSystem = Console.IsOutputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
    });
}

/// <summary>System.CommandLine's help, with the program's name in its usage lines replaced.</summary>
internal sealed class RenamedHelp(HelpAction inner, string from, string to) : SynchronousCommandLineAction
{
    public override int Invoke(ParseResult parseResult)
    {
        var config = parseResult.InvocationConfiguration;
        var output = config.Output;
        using var captured = new StringWriter();
        config.Output = captured;
        try { inner.Invoke(parseResult); }
        finally { config.Output = output; }
        // Usage lines are indented by two spaces and start with the program's name.
        output.Write(captured.ToString().Replace("  " + from + " ", "  " + to + " ", StringComparison.Ordinal));
        return 0;
    }
}
