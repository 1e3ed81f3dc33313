using System.Diagnostics;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Foundation;

/// <summary>
/// The first command must work on a bare Debian 12: every system library the shipped native code loads has to come
/// from a package environment/setup.sh installs (or one those depend on, or the base system). On the project's own
/// machines a library can be present by luck (libatomic1 came with gcc), so loading it here proves nothing; this
/// checks where each one comes from.
/// </summary>
public class SystemPackagesTests
{
    // Native libraries of libtorch that TorchSharp never loads (Python bindings, test and mobile backends).
    private static readonly string[] NotLoaded = ["libtorch_python.so", "libjitbackend_test.so", "libtorchbind_test.so", "libbackend_with_compiler.so", "libaoti_custom_ops.so", "libnnapi_backend.so", "libshm.so"];

    [Fact]
    public void Every_system_library_the_native_code_loads_comes_from_a_package_setup_installs()
    {
        string output = AppContext.BaseDirectory;
        var natives = Directory.EnumerateFiles(output, "*.so*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".dbg", StringComparison.Ordinal) && !NotLoaded.Contains(Path.GetFileName(f)) && !f.Contains("/runtimes/", StringComparison.Ordinal)
                        || f.Contains("/runtimes/linux-x64/", StringComparison.Ordinal) && !NotLoaded.Contains(Path.GetFileName(f)))
            .ToList();
        Assert.Contains(natives, f => Path.GetFileName(f) == "libOpenCvSharpExtern.so");
        Assert.Contains(natives, f => Path.GetFileName(f) == "libLibTorchSharp.so");

        // Each system library (not one shipped in the build output) that any of them loads, with the package owning it.
        var systemLibraries = new SortedSet<string>(StringComparer.Ordinal);
        var notFound = new List<string>();
        foreach (var lib in natives)
            foreach (var line in Run("ldd", lib).Split('\n'))
            {
                var parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 3 && parts[1] == "=>" && parts[2] == "not") notFound.Add($"{parts[0]} (for {Path.GetFileName(lib)})");
                else if (parts.Length >= 3 && parts[1] == "=>" && parts[2].StartsWith('/') && !parts[2].StartsWith(output, StringComparison.Ordinal)) systemLibraries.Add(parts[2]);
            }
        Assert.True(notFound.Count == 0, "missing on this machine: " + string.Join(", ", notFound));

        string setup = File.ReadAllText(TestTemp.RepoFile("environment/setup.sh"));
        var listed = System.Text.RegularExpressions.Regex.Match(setup, @"(?m)^packages=\(([^)]*)\)").Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("libgtk-3-0", listed);
        var essential = Run("dpkg-query", "-W", "-f=${Package} ${Essential}\\n").Split('\n').Where(l => l.EndsWith(" yes", StringComparison.Ordinal)).Select(l => l.Split(' ')[0]);
        // The base system: essential packages and apt, with what they depend on; setup's packages with what they depend on.
        var covered = Closure([.. essential, "apt", .. listed]);

        var uncovered = new List<string>();
        foreach (var path in systemLibraries)
        {
            string? package = OwnerOf(path);
            if (package is null || !covered.Contains(package)) uncovered.Add($"{path} ({package ?? "no package owns it"})");
        }
        Assert.True(uncovered.Count == 0, "system libraries the native code loads that setup.sh does not install: " + string.Join(", ", uncovered));
    }

    private static HashSet<string> Closure(IEnumerable<string> packages) =>
        Run(["apt-cache", "depends", "--recurse", "--installed", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", .. packages])
            .Split('\n').Where(l => l.Length > 0 && !char.IsWhiteSpace(l[0]) && !l.StartsWith('<')).Select(l => l.Split(':')[0]).ToHashSet(StringComparer.Ordinal);

    // dpkg knows a file by the path its package ships it under: with Debian's merged /usr, /lib/… may be /usr/lib/… there.
    private static string? OwnerOf(string path)
    {
        string real = Path.GetFullPath(new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path);
        foreach (var candidate in new[] { path, real }.SelectMany(p => new[] { p, p.StartsWith("/usr/", StringComparison.Ordinal) ? p[4..] : "/usr" + p }).Distinct())
        {
            var psi = new ProcessStartInfo("dpkg-query", ["-S", candidate]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string text = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode == 0) return text.Split('\n')[0].Split(':')[0].Trim();
        }
        return null;
    }

    private static string Run(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0], args[1..]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return stdout.Result;
    }

    [Fact]
    public void A_native_load_failure_names_the_system_library_behind_it()
    {
        var dll = new DllNotFoundException("Unable to load shared library 'OpenCvSharpExtern' or one of its dependencies. In order to help diagnose loading problems, consider using a tool like strace.\n"
            + "/app/OpenCvSharpExtern.so: cannot open shared object file: No such file or directory\n"
            + "/lib/x86_64-linux-gnu/libatomic.so.1: file too short\n"
            + "/app/libOpenCvSharpExtern: cannot open shared object file: No such file or directory\n");
        string why = NativeLoadFailure.Explain(new TypeInitializationException("OpenCvSharp.Internal.NativeMethods", dll))!;
        Assert.Equal("Unable to load shared library 'OpenCvSharpExtern' or one of its dependencies: /lib/x86_64-linux-gnu/libatomic.so.1: file too short", why);
        // Through a worker thread's aggregate too; anything else is not one.
        Assert.NotNull(NativeLoadFailure.Explain(new AggregateException(new InvalidOperationException("x"), dll)));
        Assert.Null(NativeLoadFailure.Explain(new InvalidOperationException("x")));
    }
}
