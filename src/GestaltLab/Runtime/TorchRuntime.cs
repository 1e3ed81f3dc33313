using TorchSharp;

namespace GestaltLab.Runtime;

/// <summary>
/// Loads TorchSharp's native libraries once, and turns a failed load into an error that names the cause and the fix
/// instead of TorchSharp's generic "Failed to load native component".
/// </summary>
public static class TorchRuntime
{
    private static readonly object Gate = new();
    private static bool _loaded;

    /// <summary>Makes sure libtorch is loaded; throws <see cref="GestaltLabException"/> with a diagnosis if it cannot be.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded) return;
            try
            {
                torch.InitializeDeviceType(DeviceType.CPU);
                using var probe = torch.ones(1);
                _loaded = true;
            }
            catch (Exception e) when (e is not GestaltLabException)
            {
                throw new GestaltLabException($"TorchSharp could not load its native libraries: {Innermost(e).Message}\n  cause: {Diagnose()}",
                    "run `bash environment/setup.sh` (it rebuilds; the build step GestaltLabPatchTorchSharpNativeInOutput " +
                    "fixes the libstdc++ version requirement), or run the program from its build output, not from a copy " +
                    "made before the build step ran; a project of your own that references GestaltLab needs " +
                    "<Import Project=\"GESTALTLAB/build/TorchSharpNativeFix.targets\" /> in its project file (README, " +
                    "\"Using the library from your own C# project\")", e);
            }
        }
    }

    /// <summary>
    /// Sets libtorch's thread count for the work done until the returned scope is disposed, then puts the count before it
    /// back; <paramref name="threads"/> 0 leaves the count as it is. The count is process-wide (libtorch has one), so a
    /// training with <c>threads: 1</c> in a notebook kernel no longer slows every later cell, but two trainings with
    /// different counts running at once in one process share whichever was set last.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative.</exception>
    public static IDisposable UseThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        EnsureLoaded();
        int before = torch.get_num_threads();
        if (threads <= 0 || threads == before) return NoScope.Instance;
        torch.set_num_threads(threads);
        return new ThreadScope(before);
    }

    private sealed class NoScope : IDisposable
    {
        public static readonly NoScope Instance = new();
        public void Dispose() { }
    }

    private sealed class ThreadScope(int before) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            torch.set_num_threads(before);
        }
    }

    /// <summary>The device training and inference use: CUDA when TorchSharp sees a GPU, else CPU.</summary>
    public static torch.Device DefaultDevice()
    {
        EnsureLoaded();
        return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
    }

    /// <summary>Explains why libLibTorchSharp.so would not load, by reading its ELF version requirements.</summary>
    public static string Diagnose()
    {
        string? lib = Directory.Exists(AppContext.BaseDirectory)
            ? Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).FirstOrDefault()
            : null;
        if (lib is null)
            return $"libLibTorchSharp.so is not in {AppContext.BaseDirectory}: the TorchSharp-cpu package's native assets were not copied";
        string? system = ElfVersionNeeds.FindSystemLibStdCxx();
        if (system is null) return $"no system libstdc++ found to compare {lib} with";
        var missing = ElfVersionNeeds.MissingHardRequirements(File.ReadAllBytes(lib), lib, "libstdc++.so.6", File.ReadAllBytes(system));
        return missing.Count == 0
            ? $"{lib}'s libstdc++ requirements are all met by {system}; check `ldd {lib}` for another missing library"
            : $"{lib} requires {string.Join(", ", missing.Select(m => m.Version))}, which {system} lacks (Debian 12 ships GCC 12's libstdc++)";
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
