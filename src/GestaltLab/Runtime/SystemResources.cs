using System.Diagnostics;

namespace GestaltLab.Runtime;

/// <summary>
/// Finds the data files the toolkit uses from system packages (the dlib 68-point model, OpenCV's cascades,
/// sample photos) and the headless browser. Nothing is ever downloaded: a file comes from an explicit path,
/// an environment variable, or the Debian package that ships it (looked up with <c>dpkg -L</c>).
/// </summary>
public static class SystemResources
{
    /// <summary>Environment variable that overrides the dlib model path.</summary>
    public const string DlibModelVariable = "GESTALTLAB_DLIB_MODEL";
    /// <summary>Environment variable that overrides the folder with OpenCV's Haar cascades.</summary>
    public const string HaarFolderVariable = "GESTALTLAB_HAAR_DIR";
    /// <summary>Environment variable that overrides the Chromium executable.</summary>
    public const string ChromiumVariable = "GESTALTLAB_CHROMIUM";

    /// <summary>File name of dlib's 68-point shape predictor.</summary>
    public const string DlibModelFileName = "shape_predictor_68_face_landmarks.dat";

    private static readonly Dictionary<string, string[]> PackageFiles = new();

    /// <summary>Lists the files a Debian package installed (empty when the package or <c>dpkg</c> is absent).</summary>
    public static IReadOnlyList<string> PackageFileList(string package)
    {
        lock (PackageFiles)
        {
            if (PackageFiles.TryGetValue(package, out var cached)) return cached;
            string[] files = [];
            try
            {
                var psi = new ProcessStartInfo("dpkg", ["-L", package])
                {
                    RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                };
                using var p = Process.Start(psi);
                if (p is not null)
                {
                    string output = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    if (p.ExitCode == 0)
                        files = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // No dpkg on this system: callers fall back to their well-known paths.
            }
            PackageFiles[package] = files;
            return files;
        }
    }

    /// <summary>Finds a file a Debian package installed, by file name; null when not installed.</summary>
    public static string? FindPackageFile(string package, string fileName, params string[] fallbacks)
    {
        foreach (var f in PackageFileList(package))
            if (Path.GetFileName(f) == fileName && File.Exists(f)) return f;
        foreach (var f in fallbacks)
            if (File.Exists(f)) return f;
        return null;
    }

    /// <summary>
    /// Where the dlib 68-point model would be read from: <paramref name="explicitPath"/>, else
    /// <c>$GESTALTLAB_DLIB_MODEL</c>, else Debian's <c>libdlib-data</c>. Returns null when none is set or installed;
    /// an explicit path is returned even if it does not exist, so the caller can report it.
    /// </summary>
    public static string? DlibModelPath(string? explicitPath = null)
    {
        if (!string.IsNullOrEmpty(explicitPath)) return explicitPath;
        string? env = Environment.GetEnvironmentVariable(DlibModelVariable);
        if (!string.IsNullOrEmpty(env)) return env;
        return FindPackageFile("libdlib-data", DlibModelFileName,
            "/usr/share/dlib/" + DlibModelFileName, "/usr/share/dlib-data/" + DlibModelFileName);
    }

    /// <summary>Path of an OpenCV Haar cascade (e.g. <c>haarcascade_frontalface_default.xml</c>), or null.</summary>
    public static string? HaarCascadePath(string fileName = "haarcascade_frontalface_default.xml")
    {
        string? dir = Environment.GetEnvironmentVariable(HaarFolderVariable);
        if (!string.IsNullOrEmpty(dir))
        {
            string p = Path.Combine(dir, fileName);
            return File.Exists(p) ? p : null;
        }
        return FindPackageFile("opencv-data", fileName,
            "/usr/share/opencv4/haarcascades/" + fileName, "/usr/share/opencv/haarcascades/" + fileName);
    }

    /// <summary>The public-domain NASA portrait <c>astronaut.png</c> from Debian's <c>python3-skimage</c>, or null.</summary>
    public static string? AstronautPhoto() => FindPackageFile("python3-skimage", "astronaut.png");

    /// <summary>OpenCV's sample photo <c>messi5.jpg</c> from Debian's <c>opencv-doc</c>, or null.</summary>
    public static string? MessiPhoto() => FindPackageFile("opencv-doc", "messi5.jpg",
        "/usr/share/doc/opencv-doc/examples/data/messi5.jpg");

    /// <summary>The Chromium (or Chrome) executable used for static figure export, or null.</summary>
    public static string? ChromiumExecutable()
    {
        string? env = Environment.GetEnvironmentVariable(ChromiumVariable);
        if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
        // Debian's /usr/bin/chromium is a launcher script that exports Google API keys and adds --enable-remote-extensions
        // (/etc/chromium.d): the browser binary behind it is started directly instead.
        foreach (var c in new[] { "/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable" })
            if (File.Exists(c)) return c;
        return null;
    }

    /// <summary>The 1-minute load average (Linux <c>/proc/loadavg</c>), or null where it cannot be read.</summary>
    public static double? LoadAverage()
    {
        try
        {
            string first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.TryParse(first, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double l) ? l : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// A one-line note when other work already keeps every core busy before a training starts, or null. Two trainings on
    /// the same cores do not just halve each other's speed: their libtorch threads contend (measured ≈ 4× slower each on
    /// 2 cores), so a user should know why the progress bar crawls.
    /// </summary>
    /// <param name="loadAverage">1-minute load average (<see cref="LoadAverage"/>), or null when unknown.</param>
    /// <param name="cores">Logical cores (<see cref="Environment.ProcessorCount"/>).</param>
    public static string? BusyCoresNote(double? loadAverage, int cores) =>
        loadAverage is double l && l >= Math.Max(1, cores) - 0.25
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"note: the machine is already busy (load average {l:F1} on {cores} cores); training shares the cores and will run several times slower until the other work ends")
            : null;
}
