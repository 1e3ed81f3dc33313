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
                NnpackDisabled = DisableNnpack();
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
    /// Whether libtorch was told not to consult NNPACK (Linux x64; false where the switch could not be reached). On a CPU
    /// NNPACK does not recognise, libtorch 2.10 prints "Could not initialize NNPACK! Reason: Unsupported hardware." on
    /// every convolution it considers NNPACK for — 56 lines for one photo's prediction — which reads as a failure. It
    /// considers it only where oneDNN is not taken (one photo at a time, one thread) and uses it only for batches of 16
    /// or more, which always take oneDNN: no convolution GestaltLab runs ever used it, so switching it off changes no result.
    /// </summary>
    public static bool NnpackDisabled { get; private set; }

    // at::globalContext().setUserEnabledNNPACK(false): libtorch exports the C++ symbols (Itanium ABI, `this` first), and
    // TorchSharp has no binding for them. Looked up in the libtorch_cpu the process has loaded; anything missing leaves it be.
    private static unsafe bool DisableNnpack()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64)
            return false;
        try
        {
            string? loaded = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(f => f.Length >= 6 && Path.GetFileName(f[5]) == "libtorch_cpu.so").Select(f => f[5]).FirstOrDefault();
            if (loaded is null || !System.Runtime.InteropServices.NativeLibrary.TryLoad(loaded, out var handle)) return false;
            if (!System.Runtime.InteropServices.NativeLibrary.TryGetExport(handle, "_ZN2at13globalContextEv", out var global)
                || !System.Runtime.InteropServices.NativeLibrary.TryGetExport(handle, "_ZN2at7Context20setUserEnabledNNPACKEb", out var set)
                || !System.Runtime.InteropServices.NativeLibrary.TryGetExport(handle, "_ZNK2at7Context17userEnabledNNPACKEv", out var get))
                return false;
            nint context = ((delegate* unmanaged<nint>)global)();
            ((delegate* unmanaged<nint, byte, void>)set)(context, 0);
            return ((delegate* unmanaged<nint, byte>)get)(context) == 0;
        }
        catch (Exception)
        {
            // Whatever goes wrong here leaves libtorch as it was: a warning on the console, never a failed load.
            return false;
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
