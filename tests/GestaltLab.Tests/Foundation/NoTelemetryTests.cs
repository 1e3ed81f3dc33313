using System.Diagnostics;

namespace GestaltLab.Tests.Foundation;

/// <summary>
/// ONNX Runtime's own telemetry stays off: without ORT_DISABLE_TELEMETRY in the native environment, its first session
/// writes a device id and an event queue under ~/.cache/Microsoft/DeveloperTools/.onnxruntime and, some seconds later,
/// looks up Microsoft's collector to upload them.
/// </summary>
public class NoTelemetryTests
{
    [Fact]
    public async Task Onnx_runtime_keeps_no_telemetry_queue_and_device_id()
    {
        string home = TestTemp.Dir("gl-home");
        try
        {
            // A command that runs an ONNX Runtime session (the exported graph against TorchSharp), as a user would, with a
            // home folder of its own so that an earlier run's files cannot hide or stand in for this one's.
            var psi = TestCli.StartInfo("bench", "inference", "--steps", "1", "--size", "32", "--width", "4", "--batch", "2", "--threads", "1");
            psi.Environment["HOME"] = home;
            psi.Environment["XDG_CACHE_HOME"] = Path.Combine(home, ".cache");
            // Not inherited from this test host (whose GestaltLab set it): the command must set it itself.
            foreach (var name in GestaltLab.Runtime.NoTelemetry.Variables.Keys) psi.Environment.Remove(name);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.True(p.ExitCode == 0, stdout + await stderr);
            Assert.Contains("ONNX Runtime", stdout);   // a session ran

            var telemetry = Directory.EnumerateFileSystemEntries(home, "*", SearchOption.AllDirectories)
                .Where(f => f.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase) || f.Contains("DeveloperTools", StringComparison.Ordinal)).ToList();
            Assert.True(telemetry.Count == 0, "ONNX Runtime telemetry files: " + string.Join(", ", telemetry));
        }
        finally
        {
            try { Directory.Delete(home, true); } catch (IOException) { }
        }
    }

    [Fact]
    public void The_switch_is_in_the_native_environment_once_GestaltLab_is_loaded()
    {
        GestaltLab.Runtime.NoTelemetry.Variables.ToString();   // touches the library (its module initializer has run)
        foreach (var (name, value) in GestaltLab.Runtime.NoTelemetry.Variables)
            Assert.Equal(value, System.Runtime.InteropServices.Marshal.PtrToStringAnsi(getenv(name)));
    }

    [System.Runtime.InteropServices.DllImport("libc", CharSet = System.Runtime.InteropServices.CharSet.Ansi, BestFitMapping = false)]
    private static extern IntPtr getenv(string name);
}
