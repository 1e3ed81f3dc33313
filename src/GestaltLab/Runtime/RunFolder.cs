namespace GestaltLab.Runtime;

/// <summary>
/// The folder a training run writes (docs/run-directory.md): taken only when new, empty or already a run, and marked the
/// moment it is taken, so that neither a run's files are mixed into a folder of the user's nor a start-over
/// (<c>--force</c>) deletes one.
/// </summary>
public static class RunFolder
{
    /// <summary>Marks a folder as a run, written before anything else.</summary>
    public const string Marker = ".gestaltlab-run";

    // Everything a run, its evaluations and its report write at its top level (for folders from before the marker).
    private static readonly HashSet<string> RunEntries = new(StringComparer.Ordinal)
    {
        "data", "aligned", "run.json", "config.json", "classes.json", "regions.json", "checkpoints", "regions", "curves",
        "ensemble.json", "joint_head.pt", "ensemble.onnx", "model.zip", "metrics.json", "region_metrics.csv",
        "probabilities.csv", "embeddings.csv", "report.html",
    };

    /// <summary>
    /// Whether <paramref name="folder"/> holds a run: marked as one, or — written before the marker existed — holding a
    /// run's <c>config.json</c> and <c>classes.json</c> and nothing a run does not write.
    /// </summary>
    public static bool IsRun(string folder)
    {
        if (File.Exists(Path.Combine(folder, Marker))) return true;
        if (!File.Exists(Path.Combine(folder, "config.json")) || !File.Exists(Path.Combine(folder, "classes.json"))) return false;
        return Directory.EnumerateFileSystemEntries(folder).Select(e => Path.GetFileName(e)!).All(n =>
            n.StartsWith('.') || RunEntries.Contains(n) || n.StartsWith("eval-", StringComparison.Ordinal) || n.StartsWith("aligned-", StringComparison.Ordinal));
    }

    /// <summary>
    /// Makes <paramref name="run"/> ready to hold a run: a new or empty folder (hidden files such as <c>.DS_Store</c>
    /// aside), or one a run already wrote (resumed, or deleted first with <paramref name="force"/>), which it then marks
    /// (<see cref="Marker"/>). A folder with other files is refused; so is a run folder that holds the
    /// <paramref name="data"/> to train on (it would be deleted by a start-over).
    /// </summary>
    /// <exception cref="GestaltLabException">The folder is a file, holds other files, or holds the data.</exception>
    public static void Prepare(string run, bool force = false, string? data = null)
    {
        if (File.Exists(run)) throw new GestaltLabException($"{run}: is a file; --out names a run folder");
        string full = Path.GetFullPath(run).TrimEnd('/');
        if (data is not null)
        {
            string dataFull = Path.GetFullPath(data).TrimEnd('/');
            if (dataFull == full || dataFull.StartsWith(full + "/", StringComparison.Ordinal))
                throw new GestaltLabException($"{data}: the data lies inside the run folder {run}", "choose an --out folder outside the data (inside it is fine)");
        }
        if (Directory.Exists(full))
        {
            // Hidden files say nothing about whose folder this is (a killed write's temporaries, .DS_Store, .gitkeep).
            var entries = Directory.EnumerateFileSystemEntries(full).Where(e => !Path.GetFileName(e).StartsWith('.')).ToList();
            if (entries.Count > 0)
            {
                if (!IsRun(full))
                    throw new GestaltLabException($"{run}: holds files that are not a GestaltLab run ({Path.GetFileName(entries[0])}, …)",
                        "choose a new or empty --out folder");
                if (force) Directory.Delete(full, recursive: true);
            }
        }
        Directory.CreateDirectory(full);
        string marker = Path.Combine(full, Marker);
        if (!File.Exists(marker)) File.WriteAllText(marker, "a folder `gestaltlab train` or `demo` writes (and may delete with --force)\n");
    }
}

/// <summary>
/// Keeps two GestaltLab processes on one machine from writing the same output folder at once (two <c>align</c> runs
/// into one folder would each delete what the other wrote, and both report success). An exclusive lock on a file named
/// after the folder's full path, in the system's temp folder, so taking it never writes into or creates the folder;
/// the operating system releases it when the process ends, however it ends (the file goes with a clean release).
/// </summary>
public sealed class FolderLock : IDisposable
{
    private readonly FileStream _stream;

    private FolderLock(FileStream stream) => _stream = stream;

    /// <summary>Takes the lock on <paramref name="folder"/> for <paramref name="command"/>, or fails at once.</summary>
    /// <exception cref="GestaltLabException">Another process holds it.</exception>
    public static FolderLock Acquire(string folder, string command)
    {
        string full = Path.GetFullPath(folder).TrimEnd('/');
        string dir = Path.Combine(Path.GetTempPath(), "gestaltlab-locks");
        Directory.CreateDirectory(dir);
        string name = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(full)))[..32].ToLowerInvariant();
        try
        {
            // FileShare.None is an exclusive advisory lock (flock) on Unix, released by the kernel with the process.
            return new FolderLock(new FileStream(Path.Combine(dir, name + ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose));
        }
        catch (IOException)
        {
            throw new GestaltLabException($"{folder}: cannot {command}: another GestaltLab command is writing to this folder right now",
                "wait for it to finish (or stop it), or choose another output folder");
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => _stream.Dispose();
}
