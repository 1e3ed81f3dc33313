using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Reflection;
using GestaltLab.Runtime;
using Spectre.Console;

namespace GestaltLab.Cli;

/// <summary>
/// A command that says what a stop does in its own words (<c>notebook run</c>: "stopping: saving the outputs so far"),
/// printed by <see cref="CliRunner.InvokeAsync"/> on the first Ctrl+C or SIGTERM instead of the general note.
/// </summary>
internal sealed class StopNoteCommand(string name, string description, string stoppingNote) : Command(name, description)
{
    /// <summary>What the first signal does, before "(press Ctrl+C again to quit at once)".</summary>
    public string StoppingNote { get; } = stoppingNote;
}

/// <summary>Checks shared by several commands' options.</summary>
internal static class OptionChecks
{
    /// <summary>A thread count of 0 (all cores) or more: a negative one is a parse error, not taken as some default.</summary>
    public static void RefuseNegativeThreads(this Option<int> threads) =>
        threads.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 0) r.AddError($"--threads {r.GetValueOrDefault<int>()}: expected 0 (all cores) or more"); });
}

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

    /// <summary>Parses <paramref name="args"/> as <see cref="InvokeAsync"/> does.</summary>
    // No response files: System.CommandLine reads an argument starting with @ as a file of more arguments, so a photo named
    // @home.jpg was not found as itself, or, beside a home.jpg, that JPEG's bytes were parsed as the command line.
    internal static ParseResult Parse(RootCommand root, string[] args) =>
        root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });

    /// <summary>Parses and runs; Ctrl+C cancels the running job through its cancellation token.</summary>
    /// <param name="root">The command tree (<see cref="BuildRoot"/>).</param>
    /// <param name="args">The command line.</param>
    /// <param name="errors">Where errors go (default: the console's error stream); tests read them from here, as the
    /// console is shared by everything that runs in the process.</param>
    public static async Task<int> InvokeAsync(RootCommand root, string[] args, TextWriter? errors = null)
    {
        var error = errors ?? Console.Error;
        // Options are typed, and figures printed, with a decimal point wherever the command runs: the executable is
        // built culture-invariant, and a host running the commands in its own culture (the tests) gets the same. Set
        // inside this async method, it stays with this invocation and leaves the caller's culture as it was.
        System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
        // Ctrl+C or SIGTERM: the first cancels the running command through its token (it stops at its next check, says
        // what it kept, and exits 130, or 143 after SIGTERM); a second one quits at once. Done here rather than by
        // System.CommandLine, whose handler waits inside the signal for the command to end (so the exit code could be
        // read before the signal was known) and is only in place once an action's synchronous start has returned (a
        // Ctrl+C before then killed the process unsaid). The signal reaches headless Chromium too (same process group):
        // what the browser then throws is the stop the user asked for, not a failure.
        var parsed = Parse(root, args);
        string stoppingNote = parsed.CommandResult.Command is StopNoteCommand own ? own.StoppingNote : "stopping at the next safe point";
        // A synchronous action takes no token: nothing would see the cancelling, so the signal does what it does by default.
        bool takesToken = parsed.Action is not System.CommandLine.Invocation.SynchronousCommandLineAction;
        using var stop = new CancellationTokenSource();
        int signals = 0;
        void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
        {
            _stopRequested = true;
            if (context.Signal == System.Runtime.InteropServices.PosixSignal.SIGTERM) _terminated = true;
            if (!takesToken || Interlocked.Increment(ref signals) > 1) return;   // the default: quit now
            context.Cancel = true;
            error.WriteLine($"{stoppingNote} (press Ctrl+C again to quit at once)");
            stop.Cancel();
        }
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal);
        using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal);
        try
        {
            if (parsed.Errors.Count == 0 && MisspeltOption(parsed) is { } misspelt)
            {
                error.WriteLine($"error: {misspelt}");
                return 1;
            }
            // System.CommandLine's default handler would print a stack trace for a GestaltLabException; the catch below
            // prints the message and the fix instead.
            int code = await parsed.InvokeAsync(new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,   // signals are handled above
                Error = error,   // parse errors (a missing required option, say) go where ours do
            }, stop.Token);
            // Stopped by SIGTERM (a job scheduler, `kill`), the shell convention is 128 + 15, not Ctrl+C's 130.
            return code == 130 ? StoppedCode : code;
        }
        // Chromium stopped by the same Ctrl+C: whatever error that made (wrapped in the library's own or not) is the stop.
        catch (Exception e) when (_stopRequested && FindBrowserError(e) is not null)
        {
            error.WriteLine(Cancelled(args));
            return StoppedCode;
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            error.WriteLine($"error: {Terminal.Printable(Describe(e), keepLines: true)}");
            return 1;
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.FirstOrDefault(IsUserFacing) is { } inner)
        {
            // A worker thread's error, e.g. a photo that vanished mid-run: its message names the file.
            error.WriteLine($"error: {Terminal.Printable(Describe(inner), keepLines: true)}");
            return 1;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine(Cancelled(args));
            return StoppedCode;
        }
        catch (Exception e) when (FindBrowserError(e) is { } browser)
        {
            // Chromium crashed or was killed (out of memory, say): its driver's message, without the stack trace.
            error.WriteLine($"error: headless Chromium stopped unexpectedly: {browser.Message.Split('\n')[0].Trim()}");
            error.WriteLine("  fix: run the command again; if it stops again, `gestaltlab doctor` checks Chromium (GESTALTLAB_CHROMIUM names another)");
            return 1;
        }
        catch (Exception e) when (NativeLoadFailure.Explain(e) is { } why)
        {
            // A system library missing on this machine: a stack trace would hide the one line that names it.
            error.WriteLine($"error: a native library would not load: {why}");
            error.WriteLine("  fix: run `bash environment/setup.sh` (it installs the system packages), then `gestaltlab doctor`");
            return 1;
        }
    }

    /// <summary>
    /// A token that looks like an option but was taken as a path by a command that accepts many paths (<c>predict …
    /// --tpo 3</c>): System.CommandLine reports unknown options only where no argument can take them, so a misspelt
    /// option would otherwise become a "photo not found" among the results of a command that succeeds. Null when none.
    /// </summary>
    internal static string? MisspeltOption(ParseResult parsed)
    {
        var command = parsed.CommandResult.Command;
        var takesMany = parsed.CommandResult.Children.OfType<System.CommandLine.Parsing.ArgumentResult>().SelectMany(a => a.Tokens)
            .Concat(parsed.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>()
                .Where(o => o.Option.Arity.MaximumNumberOfValues > 1).SelectMany(o => o.Tokens));
        foreach (var token in takesMany.Select(t => t.Value))
        {
            // A lone "-" (stdin by convention), negative numbers and files or folders whose names begin with '-' are values.
            if (token.Length < 2 || token[0] != '-' || char.IsDigit(token[1]) || token[1] == '.' || File.Exists(token) || Directory.Exists(token)) continue;
            var names = command.Options.Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name)).Distinct().ToList();
            string typed = token.TrimStart('-');
            // A one-letter flag is a short form guessed from a long name (-q for --quick), not a typo of another letter
            // (-p, one edit away).
            string? closest = typed.Length == 1
                ? names.FirstOrDefault(n => n.StartsWith("--", StringComparison.Ordinal) && n.Length > 3 && n[2] == typed[0])
                : names.Select(n => (Name: n, Distance: EditDistance(typed, n.TrimStart('-'))))
                    .Where(x => x.Distance <= Math.Max(2, x.Name.Length / 3)).OrderBy(x => x.Distance).Select(x => x.Name).FirstOrDefault();
            string path = CommandPath(parsed.CommandResult);
            return $"'{token}' is not an option of `{path}`" + (closest is null ? "" : $"; did you mean {closest}?")
                + $"\n  fix: see `gestaltlab {path} --help` (a file whose name begins with '-' is named ./{token})";
        }
        return null;
    }

    // "notebook run", not "run": a subcommand's help is reached through its parents.
    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (var r = result; r is not null && r.Parent is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Command.Name);
        return string.Join(' ', names);
    }

    private static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    private static volatile bool _stopRequested, _terminated;

    /// <summary>130 after Ctrl+C, 143 after SIGTERM (the shell's 128 + signal).</summary>
    internal static int StoppedCode => _terminated ? 143 : 130;

    // Training keeps a checkpoint per epoch: the user should know that stopping lost at most the epoch under way.
    // What a stop kept, and how to go on: training keeps a checkpoint per epoch, an alignment its finished photos; a
    // prediction's --out is written only at the end (atomically), so a stopped one wrote none.
    private static string Cancelled(string[] args) => args.FirstOrDefault() switch
    {
        "train" or "demo" => "cancelled; the same command run again resumes from the last finished epoch"
                             + (CliProgress.EpochsKept() is { } kept ? $" (epochs kept: {kept}; finished regions are kept whole)" : ""),
        "align" or "evaluate" => "cancelled; the same command run again takes up an alignment where it stopped",
        "predict" or "match" when args.Any(a => a == "--out" || a.StartsWith("--out=", StringComparison.Ordinal)) => "cancelled; nothing was written to --out",
        _ => "cancelled",
    };

    private static Microsoft.Playwright.PlaywrightException? FindBrowserError(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is Microsoft.Playwright.PlaywrightException p) return p;
            if (e is AggregateException a) return a.Flatten().InnerExceptions.Select(FindBrowserError).FirstOrDefault(x => x is not null);
        }
        return null;
    }

    // The library's own errors carry the fix; a path that is a file where a folder is needed (or the reverse), a full
    // disk, no permission: .NET's message names the path, which is all the user needs, and a stack trace would bury it.
    private static bool IsUserFacing(Exception e) => e is GestaltLabException or IOException or UnauthorizedAccessException;

    /// <summary>
    /// The message of a user-facing error. .NET's own name the hidden half-written file a write goes through
    /// (<c>DIR/.NAME.PID.GUID.tmp</c>): the user's file is NAME. And they carry no fix: one is added for the usual causes.
    /// </summary>
    internal static string Describe(Exception e)
    {
        if (e is GestaltLabException) return e.Message;
        string message = AtomicFile.WithoutTempNames(e.Message);
        return e switch
        {
            // .NET says "Access to the path … is denied" either way: whether the file was being read or written is not told,
            // so both are named.
            UnauthorizedAccessException => message + "\n  fix: check that you may read that file (its permissions), or write in that folder (its permissions, a read-only folder or mount)",
            FileNotFoundException or DirectoryNotFoundException => message + "\n  fix: check the path (a folder on the way may not exist, or not be writable)",
            IOException when message.Contains("already exists", StringComparison.Ordinal) =>
                message + "\n  fix: a file stands where a folder is needed (or the reverse): check the path",
            IOException when message.Contains("Read-only file system", StringComparison.Ordinal) =>
                message + "\n  fix: that folder is on a read-only file system: write the output elsewhere (--out)",
            IOException when message.Contains("No space left", StringComparison.Ordinal) || message.Contains("Disk quota", StringComparison.Ordinal) =>
                message + "\n  fix: free some space on that disk (or write the output to another), then run the command again",
            _ => message + "\n  fix: check the path, and that the disk has room",
        };
    }

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
