using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace GestaltLab.Runtime;

/// <summary>
/// Keeps the native libraries GestaltLab loads from reporting home. ONNX Runtime (1.31 on Linux) starts Microsoft's 1DS
/// telemetry with its first session: it keeps a device id and a queue of events (process, model and file names) under
/// <c>~/.cache/Microsoft/DeveloperTools/.onnxruntime</c> and uploads them to <c>mobile.events.data.microsoft.com</c>.
/// Its only switch is the environment variable <c>ORT_DISABLE_TELEMETRY</c>, read by native code when the runtime starts,
/// so it is set in the process's native environment (<c>setenv</c>: .NET's own environment block is not the one native
/// code reads on Unix) when this assembly is first used (its module initializer), before any ONNX model is opened through it.
/// </summary>
public static class NoTelemetry
{
    /// <summary>The variables set, with the value each is given.</summary>
    public static IReadOnlyDictionary<string, string> Variables { get; } = new Dictionary<string, string>
    {
        ["ORT_DISABLE_TELEMETRY"] = "1",
    };

    // A module initializer in a library, deliberately (CA2255): a notebook or program may open an ONNX model through
    // GestaltLab (ML.NET's ApplyOnnxModel, a saved model.zip) before calling anything that could set this up.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Apply()
    {
        foreach (var (name, value) in Variables)
        {
            // A user's own setting is not taken as consent: the project promises that nothing phones home.
            Environment.SetEnvironmentVariable(name, value);
            if (!OperatingSystem.IsWindows()) _ = setenv(name, value, 1);
        }
    }

    [DllImport("libc", EntryPoint = "setenv", CharSet = CharSet.Ansi, BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
