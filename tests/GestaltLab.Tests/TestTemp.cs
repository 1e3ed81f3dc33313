using System.Diagnostics;
using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: Xunit.TestFramework("GestaltLab.Tests.CleaningTestFramework", "GestaltLab.Tests")]

namespace GestaltLab.Tests;

/// <summary>
/// Scratch folders for tests: all under one folder per test process, removed when the run ends, so trained runs,
/// aligned crops and generated photos (≈ 100 MB per suite run) do not pile up in the system temp folder. A run that was
/// killed cannot clean up after itself; the next run sweeps the folders of processes that no longer exist.
/// </summary>
internal static class TestTemp
{
    /// <summary>A file of the repository (found from this source file's location, so tests run from any folder).</summary>
    public static string RepoFile(string relative, [System.Runtime.CompilerServices.CallerFilePath] string here = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(here)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "GestaltLab.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, relative);
    }

    private static readonly string Parent = Path.Combine(Path.GetTempPath(), "gestaltlab-tests");
    private static readonly Lazy<string> Root = new(CreateRoot);

    /// <summary>A new empty folder whose name starts with <paramref name="prefix"/>.</summary>
    public static string Dir(string prefix)
    {
        string d = Path.Combine(Root.Value, $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    private static string CreateRoot()
    {
        Directory.CreateDirectory(Parent);
        foreach (string old in Directory.EnumerateDirectories(Parent, "pid-*"))
            if (int.TryParse(Path.GetFileName(old)["pid-".Length..], out int pid) && !Running(pid))
                TryDelete(old);
        string root = Path.Combine(Parent, $"pid-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        return root;
    }

    /// <summary>Removes this process's folder (the end of the test run).</summary>
    public static void DeleteAll()
    {
        if (Root.IsValueCreated) TryDelete(Root.Value);
    }

    private static bool Running(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// xUnit's test framework, plus removing this process's scratch folders once every test has run. The runner stops the
/// test host as soon as it hears the assembly finished (process-exit handlers and the framework's disposal are cut
/// off), so the clean-up runs just before that message is sent.
/// </summary>
public sealed class CleaningTestFramework(IMessageSink sink) : XunitTestFramework(sink)
{
    /// <inheritdoc />
    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName) =>
        new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Executor(AssemblyName name, ISourceInformationProvider source, IMessageSink diagnostics)
        : XunitTestFrameworkExecutor(name, source, diagnostics)
    {
        protected override async void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink sink, ITestFrameworkExecutionOptions options)
        {
            using var runner = new AssemblyRunner(TestAssembly, testCases, DiagnosticMessageSink, sink, options);
            await runner.RunAsync();
        }
    }

    private sealed class AssemblyRunner(ITestAssembly assembly, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics,
        IMessageSink sink, ITestFrameworkExecutionOptions options)
        : XunitTestAssemblyRunner(assembly, testCases, diagnostics, sink, options)
    {
        protected override Task BeforeTestAssemblyFinishedAsync()
        {
            TestTemp.DeleteAll();
            return base.BeforeTestAssemblyFinishedAsync();
        }
    }
}

/// <summary>
/// Another process holding a folder's <see cref="GestaltLab.Runtime.FolderLock"/> (util-linux <c>flock</c>, the same kind of
/// lock): within one process the lock is re-entrant, so refusal can only be seen from outside.
/// </summary>
internal sealed class LockHeldElsewhere : IDisposable
{
    private readonly System.Diagnostics.Process _holder;
    private readonly string _file;

    /// <param name="folder">The folder whose lock is held.</param>
    /// <param name="shared">A reader's (shared) lock, as an evaluation holds on its run; else a writer's.</param>
    public LockHeldElsewhere(string folder, bool shared = false)
    {
        string file = GestaltLab.Runtime.FolderLock.LockFilePath(folder);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        _file = file;
        // -o: the lock is flock's own, not also its `sleep` child's, so it is gone once flock has exited (a child still
        // dying after the kill held it a moment longer and failed the next command on a busy CI machine).
        _holder = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("flock", ["-o", shared ? "-s" : "-x", file, "sleep", "600"]) { UseShellExecute = false })!;
        // Held once a non-blocking attempt from a third process fails.
        if (!WaitUntil(file, free: false)) throw new InvalidOperationException($"flock never took {file}");
    }

    public void Dispose()
    {
        try { _holder.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _holder.WaitForExit();
        _holder.Dispose();
        // Returned only once another process can take the lock.
        if (!WaitUntil(_file, free: true)) throw new InvalidOperationException($"the lock on {_file} was not released");
    }

    // Whether a non-blocking attempt from a third process succeeds (free) or fails (held), tried for up to 10 s.
    private static bool WaitUntil(string file, bool free)
    {
        for (int i = 0; i < 200; i++)
        {
            using var probe = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("flock", ["-n", file, "true"]) { UseShellExecute = false })!;
            probe.WaitForExit();
            if ((probe.ExitCode == 0) == free) return true;
            Thread.Sleep(50);
        }
        return false;
    }
}
