using System.Diagnostics;

namespace GestaltLab.Tests;

/// <summary>The <c>gestaltlab</c> command built beside the tests, started in a process of its own (exit codes, signals and
/// environment as a user's shell would see them).</summary>
internal static class TestCli
{
    /// <summary>How to start the command with <paramref name="args"/>: standard output and error redirected.</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "GestaltLab.Cli.dll");
        Assert.True(File.Exists(dll), $"the CLI is not built beside the tests: {dll}");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var psi = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }
}
