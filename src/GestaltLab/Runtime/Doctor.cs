using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;

namespace GestaltLab.Runtime;

/// <summary>The outcome of one environment check.</summary>
/// <param name="Name">What was checked, e.g. <c>TorchSharp</c>.</param>
/// <param name="Ok">Whether it works.</param>
/// <param name="Required">Whether the toolkit's main job needs it (a failed required check fails the doctor).</param>
/// <param name="Detail">What was found (versions, paths, sizes) or what went wrong.</param>
/// <param name="Fix">What to do when it fails; null when it passed.</param>
public readonly record struct DoctorCheck(string Name, bool Ok, bool Required, string Detail, string? Fix);

/// <summary>Options for <see cref="Doctor.Run"/>.</summary>
public sealed record DoctorOptions
{
    /// <summary>Check this dlib model file instead of the one found on the system.</summary>
    public string? DlibModelPath { get; init; }
    /// <summary>Minimum free disk space (bytes) in <see cref="WorkingDirectory"/> for a pass.</summary>
    public long MinFreeDiskBytes { get; init; } = 2L << 30;
    /// <summary>Folder whose disk is checked; defaults to the current directory.</summary>
    public string? WorkingDirectory { get; init; }
}

/// <summary>
/// Checks that every part the toolkit relies on is present and working, one line each: what a workshop helper runs
/// first. Each check really exercises the part (a tensor op, a cascade load, a browser start), not just a file test.
/// </summary>
public static class Doctor
{
    /// <summary>Runs every check.</summary>
    public static IReadOnlyList<DoctorCheck> Run(DoctorOptions? options = null)
    {
        options ??= new DoctorOptions();
        return
        [
            DotNet(),
            Guard("TorchSharp", true, TorchSharpCheck, "run `bash environment/setup.sh`"),
            Guard("OpenCV", true, OpenCvCheck, "install the Debian packages the message names, or run `bash environment/setup.sh` (libgtk-3-0, libatomic1, libdrm2, opencv-data)"),
            Guard("SkiaSharp", true, SkiaCheck, "restore the SkiaSharp.NativeAssets.Linux.NoDependencies package (`bash environment/setup.sh`)"),
            Guard("dlib 68-point model", true, () => DlibModelCheck(options.DlibModelPath), "install Debian package libdlib-data or pass --model PATH"),
            Guard("Chromium (headless)", true, ChromiumCheck, "install Debian package chromium (`bash environment/setup.sh`) or set GESTALTLAB_CHROMIUM"),
            FreeDisk(options.WorkingDirectory ?? Directory.GetCurrentDirectory(), options.MinFreeDiskBytes),
            PrivateTempCheck(),
        ];
    }

    // Not required: without it commands still run, only unlocked (two writing one output folder are not kept apart).
    private static DoctorCheck PrivateTempCheck() => PrivateTemp.Resolve() is var (folder, why) && folder is not null
        ? new DoctorCheck("private temp folder", true, false, $"{folder} (mode 0700): folder locks, the shipped backbone's copy", null)
        : new DoctorCheck("private temp folder", false, false, $"{why}; output folders are not locked",
            "where another user or a link holds that name, ask them or an administrator to remove it; otherwise free or fix /tmp");

    /// <summary>True when every required check passed.</summary>
    public static bool AllRequiredOk(IEnumerable<DoctorCheck> checks) => checks.All(c => c.Ok || !c.Required);

    private static DoctorCheck Guard(string name, bool required, Func<DoctorCheck> check, string fix)
    {
        try
        {
            return check();
        }
        catch (Exception e)
        {
            var inner = e;
            while (inner.InnerException is not null && inner is TypeInitializationException) inner = inner.InnerException;
            string message = NativeLoadFailure.Explain(e) ?? inner.Message.Split('\n')[0];
            return new DoctorCheck(name, false, required, message, e is GestaltLabException g && g.Fix is not null ? g.Fix : fix);
        }
    }

    private static DoctorCheck DotNet() =>
        new(".NET runtime", true, true, $"{RuntimeInformation.FrameworkDescription} on {RuntimeInformation.OSDescription} ({RuntimeInformation.ProcessArchitecture}), {Environment.ProcessorCount} cores", null);

    private static DoctorCheck TorchSharpCheck()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        float trace = a.matmul(a).trace().item<float>(); // [[7,10],[15,22]] → 29
        if (Math.Abs(trace - 29f) > 1e-5)
            return new DoctorCheck("TorchSharp", false, true, FormattableString.Invariant($"matmul gave trace {trace}, expected 29"), "reinstall the TorchSharp-cpu package");
        string cuda = torch.cuda.is_available() ? $"CUDA available ({torch.cuda.device_count()} device(s))" : "CUDA not available (CPU)";
        return new DoctorCheck("TorchSharp", true, true,
            $"TorchSharp {typeof(torch).Assembly.GetName().Version}, tensor op ok, {torch.get_num_threads()} threads, {cuda}", null);
    }

    private static DoctorCheck OpenCvCheck()
    {
        string? cascade = SystemResources.HaarCascadePath();
        if (cascade is null)
            return new DoctorCheck("OpenCV", false, true, "haarcascade_frontalface_default.xml not found", "install Debian package opencv-data (`bash environment/setup.sh`)");
        using var classifier = new OpenCvSharp.CascadeClassifier(cascade);
        if (classifier.Empty())
            return new DoctorCheck("OpenCV", false, true, $"{cascade} did not load as a cascade", "reinstall Debian package opencv-data");
        return new DoctorCheck("OpenCV", true, true, $"OpenCV {OpenCvSharp.Cv2.GetVersionString()}, Haar cascade loaded from {cascade}", null);
    }

    private static DoctorCheck SkiaCheck()
    {
        using var bitmap = new SkiaSharp.SKBitmap(8, 8);
        using (var canvas = new SkiaSharp.SKCanvas(bitmap)) canvas.Clear(SkiaSharp.SKColors.Red);
        bool ok = bitmap.GetPixel(4, 4) == SkiaSharp.SKColors.Red;
        return new DoctorCheck("SkiaSharp", ok, true, ok ? "renders" : "drawing produced wrong pixels", ok ? null : "reinstall SkiaSharp native assets");
    }

    /// <summary>Checks the dlib model: found where, size, readable, and starts like a dlib shape_predictor stream.</summary>
    public static DoctorCheck DlibModelCheck(string? explicitPath)
    {
        const string name = "dlib 68-point model";
        string? path = SystemResources.DlibModelPath(explicitPath);
        if (path is null)
            return new DoctorCheck(name, false, true, $"{SystemResources.DlibModelFileName} not found (not given, ${SystemResources.DlibModelVariable} unset, libdlib-data not installed)",
                "install Debian package libdlib-data (`bash environment/setup.sh`), or pass --model PATH / set GESTALTLAB_DLIB_MODEL");
        if (Directory.Exists(path))
            return new DoctorCheck(name, false, true, $"{path}: is a folder, not dlib's landmark model file",
                "pass the path of shape_predictor_68_face_landmarks.dat (a trained run's folder goes to predict, evaluate, match or report)");
        if (!File.Exists(path))
            return new DoctorCheck(name, false, true, $"{path}: file does not exist",
                "pass the path of shape_predictor_68_face_landmarks.dat, or install Debian package libdlib-data");
        long size = new FileInfo(path).Length;
        var head = new byte[4];
        int read;
        using (var stream = File.OpenRead(path)) read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (read >= 3 && head[0] == (byte)'B' && head[1] == (byte)'Z' && head[2] == (byte)'h')
            return new DoctorCheck(name, false, true, $"{path}: still bzip2-compressed", $"decompress it: bunzip2 -k {path}");
        if (read < 2 || head[0] != 0x01 || head[1] != 0x01)
            return new DoctorCheck(name, false, true, $"{path}: not a dlib shape_predictor file (no version-1 header)", "pass the path of shape_predictor_68_face_landmarks.dat");
        return new DoctorCheck(name, true, true, FormattableString.Invariant($"{path} ({size / 1e6:F1} MB, readable)"), null);
    }

    private static DoctorCheck ChromiumCheck()
    {
        const string name = "Chromium (headless)";
        string? exe = SystemResources.ChromiumExecutable();
        if (exe is null)
            return new DoctorCheck(name, false, true, "no chromium executable found", "install Debian package chromium (`bash environment/setup.sh`) or set GESTALTLAB_CHROMIUM");
        // As export starts it: in its sandbox where it can be, else without, saying why.
        bool sandbox = ChromiumSandboxPossible;
        var (ok, detail) = RenderHeadless(exe, sandbox);
        string how = sandbox ? "in its sandbox" : "without its sandbox (running as root, where Chromium refuses it)";
        if (!ok && sandbox)
        {
            var (plainOk, plainDetail) = RenderHeadless(exe, sandbox: false);
            if (plainOk) return new DoctorCheck(name, true, true, $"{exe} rendered a page headless without its sandbox; in it, it failed: {detail}", null);
            detail = plainDetail;
        }
        return ok
            ? new DoctorCheck(name, true, true, $"{exe} rendered a page headless {how}", null)
            : new DoctorCheck(name, false, true, $"{exe}: {detail}", "reinstall Debian package chromium; check that it runs: chromium --headless --dump-dom about:blank");
    }

    private static (bool Ok, string Detail) RenderHeadless(string exe, bool sandbox)
    {
        string profile = Directory.CreateTempSubdirectory("gestaltlab-doctor-").FullName;
        try
        {
            var psi = new ProcessStartInfo(exe)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in HeadlessChromiumArguments(profile, sandbox)) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("--dump-dom");
            psi.ArgumentList.Add("data:text/html,<p id=gl>gestaltlab-ok</p>");
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(60_000))
            {
                p.Kill(true);
                return (false, "did not finish a headless page load in 60 s");
            }
            return stdout.Result.Contains("gestaltlab-ok")
                ? (true, "")
                : (false, $"exited {p.ExitCode}: {stderr.Result.Split('\n').FirstOrDefault(l => l.Length > 0 && !l.Contains("dbus", StringComparison.OrdinalIgnoreCase)) ?? "no output"}");
        }
        finally
        {
            try { Directory.Delete(profile, true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Whether Chromium can be started in its own sandbox here: not as root (Chromium then refuses to start unless told
    /// <c>--no-sandbox</c>). A user's Chromium runs sandboxed — pages of runs made by others are rendered too — and
    /// export falls back to no sandbox, saying so, only when it does not start in it.
    /// </summary>
    public static bool ChromiumSandboxPossible => !Environment.IsPrivilegedProcess;

    /// <summary>
    /// Flags for a headless Chromium that never reaches the network by itself (no sync, updates or background
    /// requests: the toolkit runs on hospital networks and offline machines); <paramref name="sandbox"/> false adds
    /// <c>--no-sandbox</c>, which root needs (containers).
    /// </summary>
    /// <param name="userDataDir">The browser profile folder.</param>
    /// <param name="sandbox">Whether Chromium keeps its sandbox (see <see cref="ChromiumSandboxPossible"/>).</param>
    /// <remarks>
    /// The switches that turn background services off are not enough: Chromium still looked up accounts.google.com,
    /// update.googleapis.com and clients2.google.com at start (seen under strace), and blocking requests in the page
    /// does not reach the browser's own. So no host name resolves (the resolver rule answers "not found" without asking
    /// DNS) and every connection would go to a closed local port (the proxy), whatever a future Chromium adds.
    /// Checked by a test that runs export under strace.
    /// </remarks>
    public static IReadOnlyList<string> HeadlessChromiumArguments(string userDataDir, bool sandbox) =>
    [
        "--headless", .. (sandbox ? Array.Empty<string>() : ["--no-sandbox"]), "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check",
        "--disable-domain-reliability", "--no-pings", "--disable-client-side-phishing-detection",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost", "--proxy-server=127.0.0.1:9",
        // WebRTC may send UDP to an address written in a page, past the proxy; crash reports would go out on their own.
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp", "--disable-breakpad", "--disable-crash-reporter",
        "--user-data-dir=" + userDataDir,
    ];

    private static DoctorCheck FreeDisk(string directory, long minBytes)
    {
        var drive = new DriveInfo(Path.GetFullPath(directory));
        long free = drive.AvailableFreeSpace;
        bool ok = free >= minBytes;
        return new DoctorCheck("free disk", ok, true, FormattableString.Invariant($"{free / 1e9:F1} GB free at {drive.RootDirectory.FullName} (need {minBytes / 1e9:F1} GB)"),
            ok ? null : "free some disk space, or work in another folder");
    }
}
