using System.Diagnostics;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Foundation;

public class DoctorTests
{
    [Fact]
    public void AllRequiredPartsWorkOnASetUpMachine()
    {
        var checks = Doctor.Run();
        Assert.All(checks, c => Assert.True(c.Ok, $"{c.Name}: {c.Detail} (fix: {c.Fix})"));
        Assert.Contains(checks, c => c.Name == "TorchSharp" && c.Detail.Contains("threads"));
        Assert.Contains(checks, c => c.Name == "private temp folder" && c.Detail.StartsWith(PrivateTemp.Folder!));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task ChromiumKeepsItsSandboxUnlessRunAsRoot()
    {
        Assert.DoesNotContain("--no-sandbox", Doctor.HeadlessChromiumArguments("p", sandbox: true));
        Assert.Contains("--no-sandbox", Doctor.HeadlessChromiumArguments("p", sandbox: false));
        var check = Doctor.Run().Single(c => c.Name == "Chromium (headless)");
        string exe = SystemResources.ChromiumExecutable()!;
        if (!Environment.IsPrivilegedProcess)
        {
            // Sandboxed, or (a kernel without unprivileged user namespaces) said why not.
            Assert.True(Doctor.ChromiumSandboxPossible);
            Assert.True(check.Detail.Contains("in its sandbox") || check.Detail.Contains("without its sandbox; in it, it failed"), check.Detail);
            return;
        }
        // Root (CI, containers): Chromium refuses its sandbox there, so it starts without and says so ...
        Assert.False(Doctor.ChromiumSandboxPossible);
        Assert.Contains("without its sandbox (running as root", check.Detail);
        // ... and what a user's export and doctor start — the same flags, sandbox kept — renders as an ordinary user
        // (nobody), in the sandbox: without --no-sandbox Chromium either sandboxes itself or refuses to start.
        string profile = Directory.CreateTempSubdirectory("gestaltlab-sandbox-").FullName;
        try
        {
            File.SetUnixFileMode(profile, (UnixFileMode)0x1FF);
            var psi = new ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "env", $"HOME={profile}", exe }
                         .Concat(Doctor.HeadlessChromiumArguments(Path.Combine(profile, "chromium"), sandbox: true))
                         .Concat(["--dump-dom", "data:text/html,<p id=gl>sandboxed-ok</p>"]))
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = await p.StandardOutput.ReadToEndAsync();
            Assert.True(p.WaitForExit(60_000), "chromium as nobody did not finish");
            Assert.True(stdout.Contains("sandboxed-ok"), $"chromium as nobody, sandboxed: exit {p.ExitCode}: {await stderr}");
        }
        finally { Directory.Delete(profile, true); }
    }

    [Fact]
    public void BusyCoresAreNotedBeforeTrainingOnlyWhenTheLoadFillsThem()
    {
        Assert.Null(SystemResources.BusyCoresNote(0.4, 2));
        Assert.Null(SystemResources.BusyCoresNote(null, 2));
        Assert.Contains("load average 2.3 on 2 cores", SystemResources.BusyCoresNote(2.3, 2));
        Assert.NotNull(SystemResources.BusyCoresNote(8.0, 8));
        Assert.Null(SystemResources.BusyCoresNote(3.0, 8));
        if (File.Exists("/proc/loadavg")) Assert.NotNull(SystemResources.LoadAverage());
    }

    [Fact]
    public void MissingModelFileIsReportedWithPathAndFix()
    {
        string missing = Path.Combine(Path.GetTempPath(), "no-such-dir", "shape_predictor_68_face_landmarks.dat");
        var check = Doctor.DlibModelCheck(missing);
        Assert.False(check.Ok);
        Assert.True(check.Required);
        Assert.Contains(missing, check.Detail);
        Assert.Contains("libdlib-data", check.Fix);
    }

    [Fact]
    public void ForeignAndCompressedModelFilesAreRecognised()
    {
        string dir = TestTemp.Dir("gl-doctor");
        try
        {
            string bz = Path.Combine(dir, "model.dat.bz2");
            File.WriteAllBytes(bz, "BZh91AY&SY"u8.ToArray());
            Assert.Contains("bzip2", Doctor.DlibModelCheck(bz).Detail);
            string text = Path.Combine(dir, "notes.txt");
            File.WriteAllText(text, "hello");
            Assert.Contains("not a dlib shape_predictor", Doctor.DlibModelCheck(text).Detail);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CliDoctorExitsNonZeroAndPrintsTheFixForAMissingModel()
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "GestaltLab.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { cli, "doctor", "--model", "/nonexistent/shape_predictor_68_face_landmarks.dat" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("✗ dlib 68-point model: /nonexistent/shape_predictor_68_face_landmarks.dat: file does not exist", output);
        Assert.Contains("fix:", output);
        Assert.Contains("✓ TorchSharp", output);
    }
}
