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
    /// <summary>The hidden record of a folder's evaluation (<c>EvaluationRecord</c>), the one hidden file a start-over clears.</summary>
    public const string EvaluationRecordName = ".gestaltlab-evaluation";

    // Everything a run, its evaluations and its report write at its top level (what --force clears; and for folders
    // from before the marker, what tells a run's own files from others). The demo pretrains its own backbone there when
    // a build carries none.
    private static readonly HashSet<string> RunEntries = new(StringComparer.Ordinal)
    {
        "identities", "identities-aligned", "backbone.pt", "backbone.pt.checkpoints",
        "data", "aligned", "run.json", "config.json", "classes.json", "regions.json", "checkpoints", "regions", "curves",
        "ensemble.json", "joint_head.pt", "ensemble.onnx", "model.zip", "metrics.json", "region_metrics.csv",
        "probabilities.csv", "embeddings.csv", "region_probabilities", "report.html", "face_space.json",
    };

    /// <summary>
    /// Refuses <paramref name="folder"/>, one GestaltLab makes by itself inside a run or evaluation folder (its aligned
    /// copies of other data, its per-region tables), when it already stands there as a link: in a run received from
    /// someone else, such a link would send patient crops and tables — or the deletion of stale ones — elsewhere.
    /// </summary>
    /// <exception cref="GestaltLabException">It is a link.</exception>
    public static void RefuseLink(string folder)
    {
        var info = new FileInfo(folder);
        if (info.LinkTarget is { } target)
            throw new GestaltLabException($"{folder}: is a link (to {target}), where GestaltLab writes a folder of its own; it does not write through links there",
                "remove the link (GestaltLab makes this folder itself), or write the output to another folder (--out)");
    }

    /// <summary>
    /// <paramref name="path"/> made absolute with every symbolic link on the way resolved by the system (<c>realpath</c>) as
    /// far as it exists; a part not made yet (a folder about to be written) keeps its names under its resolved parent, and
    /// a broken link its own name. Two names of one folder or file give one path.
    /// </summary>
    public static string RealPath(string path)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (OperatingSystem.IsWindows()) return full;
        string existing = full, rest = "";
        while (true)
        {
            IntPtr resolved = SystemRealPath(existing, IntPtr.Zero);
            if (resolved != IntPtr.Zero)
            {
                try
                {
                    string real = System.Runtime.InteropServices.Marshal.PtrToStringUTF8(resolved) ?? existing;
                    return rest.Length == 0 ? real : Path.Combine(real, rest);
                }
                finally { Free(resolved); }
            }
            if (Path.GetDirectoryName(existing) is not { } parent) return full;
            rest = rest.Length == 0 ? Path.GetFileName(existing) : Path.Combine(Path.GetFileName(existing), rest);
            existing = parent;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "realpath", CharSet = System.Runtime.InteropServices.CharSet.Ansi)]
    private static extern IntPtr SystemRealPath(string path, IntPtr resolved);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "free")]
    private static extern void Free(IntPtr pointer);

    /// <summary>Whether the full path <paramref name="path"/> is <paramref name="folder"/> (a full path too) or lies inside it.</summary>
    public static bool IsWithin(string path, string folder) =>
        path == folder || path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>
    /// Whether <paramref name="folder"/> holds a run: marked as one, or — written before the marker existed — holding a
    /// run's <c>config.json</c> and <c>classes.json</c>.
    /// </summary>
    public static bool IsRun(string folder) =>
        File.Exists(Path.Combine(folder, Marker))
        || (File.Exists(Path.Combine(folder, "config.json")) && File.Exists(Path.Combine(folder, "classes.json")));

    /// <summary>The entries of <paramref name="folder"/> that no run, evaluation or report writes (hidden ones aside).</summary>
    internal static List<string> Foreign(string folder) =>
        Directory.EnumerateFileSystemEntries(folder).Select(e => Path.GetFileName(e)!)
            .Where(n => !n.StartsWith('.') && !RunEntries.Contains(n) && !n.StartsWith("eval-", StringComparison.Ordinal) && !n.StartsWith("aligned-", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Makes <paramref name="run"/> ready to hold a run: a new or empty folder (hidden files such as <c>.DS_Store</c>
    /// aside), or one a run already wrote (resumed, or with <paramref name="force"/> cleared of what runs write first),
    /// which it then marks (<see cref="Marker"/>). A folder with other files is refused; so is a run folder that holds the
    /// <paramref name="data"/> to train on (it would be deleted by a start-over). Files of the user's beside a run
    /// (figures exported into it, notes) are never deleted: <paramref name="force"/> removes only what a run, its
    /// evaluations and its report write, and keeps the marker, so a start-over killed part-way leaves a folder that is
    /// still known for a run's. A run from before the marker existed is resumed as it is, but
    /// cleared by <paramref name="force"/> (and marked) only when it holds nothing a run does not write.
    /// </summary>
    /// <returns>The user's entries a start-over kept (empty without <paramref name="force"/>).</returns>
    /// <exception cref="GestaltLabException">The folder is a file, holds other files, or holds the data.</exception>
    public static IReadOnlyList<string> Prepare(string run, bool force = false, string? data = null)
    {
        if (File.Exists(run)) throw new GestaltLabException($"{run}: is a file; --out names a run folder");
        string full = Path.GetFullPath(run).TrimEnd('/');
        if (data is not null)
        {
            string dataFull = Path.GetFullPath(data).TrimEnd('/');
            if (IsWithin(dataFull, full))
                throw new GestaltLabException($"{data}: the data lies inside the run folder {run}", "choose an --out folder outside the data (inside it is fine)");
        }
        bool mark = true;
        var kept = new List<string>();
        if (Directory.Exists(full))
        {
            // Hidden files say nothing about whose folder this is (a killed write's temporaries, .DS_Store, .gitkeep).
            var entries = Directory.EnumerateFileSystemEntries(full).Where(e => !Path.GetFileName(e).StartsWith('.')).ToList();
            if (entries.Count > 0)
            {
                var foreign = Foreign(full);
                if (!IsRun(full))
                    throw new GestaltLabException($"{run}: holds files that are not a GestaltLab run's ({(foreign.Count > 0 ? foreign[0] : Path.GetFileName(entries[0]))}, …)",
                        "choose a new or empty --out folder");
                bool marked = File.Exists(Path.Combine(full, Marker));
                if (!marked && foreign.Count > 0)
                {
                    if (force)
                        throw new GestaltLabException($"{run}: a run from before runs were marked, holding files that are not a GestaltLab run's ({string.Join(", ", foreign.Take(3))}); --force would delete them",
                            "move them out of the folder (or delete the folder yourself), or choose a new --out folder");
                    mark = false; // resumed as it is; a later --force must still not delete the user's files
                }
                if (force)
                {
                    // What a run writes goes; the marker and the user's own files stay. Hidden files are left too, but
                    // for the halves of files killed writes left (those of running processes excepted).
                    AtomicFile.RemoveLeftovers(full);
                    // The run's records go last: a start-over killed part-way leaves them beside what it had not yet
                    // deleted, so the next run still knows what those files were trained on (and refuses other data).
                    // The evaluation's record goes first: it names the metrics as finished, and they are about to go.
                    string[] records = [RunManifest.FileName, "config.json", "classes.json"];
                    foreach (var entry in Directory.EnumerateFileSystemEntries(full).OrderBy(e => Path.GetFileName(e) == EvaluationRecordName ? -2 : Array.IndexOf(records, Path.GetFileName(e))).ToList())
                    {
                        string name = Path.GetFileName(entry);
                        if (name.StartsWith('.') && name != EvaluationRecordName) continue;
                        if (foreign.Contains(name)) { kept.Add(name); continue; }
                        if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                        else File.Delete(entry);
                    }
                }
            }
        }
        OwnerOnlyFolder.Create(full);
        string markerFile = Path.Combine(full, Marker);
        if (mark && !File.Exists(markerFile)) File.WriteAllText(markerFile, "a folder `gestaltlab train` or `demo` writes (and may clear with --force, keeping files of yours)\n");
        return kept;
    }
}

/// <summary>
/// Keeps two GestaltLab processes on one machine from writing the same output folder at once (two <c>align</c> runs
/// into one folder would each delete what the other wrote, and both report success), and a run from being trained or
/// replaced while another process reads it (loads its model, evaluates it, writes its report: a <c>train --force</c>
/// would delete the evaluation's folder under it, a resumed training replace files the loading is reading). An advisory
/// lock (flock) on a file named after the folder's full path, in a folder of the user's own
/// (<c>/tmp/gestaltlab-UID/locks</c>; root's in <c>/run/gestaltlab/locks</c>), so taking it never writes into or
/// creates the output folder; the operating system releases it when the process ends, however it ends. Writers take it
/// exclusively (<see cref="Acquire"/>), readers shared (<see cref="AcquireShared"/>: any number at once, none beside a
/// writer). Within one process it is re-entrant (the CLI holds it for a whole <c>train</c>, whose library call takes it
/// again; a reader inside a writer is the writer).
/// </summary>
public sealed class FolderLock : IDisposable
{
    private static readonly Dictionary<string, (FileStream? Stream, int Holders, bool Shared)> Held = new(StringComparer.Ordinal);
    private readonly string _key;
    private bool _released;

    private FolderLock(string key) => _key = key;

    /// <summary>Takes the exclusive (writer's) lock on <paramref name="folder"/> for <paramref name="command"/>, or fails at once.</summary>
    /// <exception cref="GestaltLabException">Another process holds it (writing, or reading a run there), or this process
    /// reads the folder right now (a shared lock is not turned into an exclusive one).</exception>
    public static FolderLock Acquire(string folder, string command) => Take(folder, command, shared: false);

    /// <summary>
    /// Takes the shared (reader's) lock on <paramref name="folder"/> for <paramref name="command"/>, or fails at once:
    /// any number of readers may hold it together, but not while a writer holds the exclusive one.
    /// </summary>
    /// <exception cref="GestaltLabException">Another process writes to the folder right now.</exception>
    public static FolderLock AcquireShared(string folder, string command) => Take(folder, command, shared: true);

    /// <summary>
    /// The lock on a run's own test results (<c>RUN/metrics.json</c> and the tables beside it), apart from the run's:
    /// an evaluation writing them holds it exclusively beside the run's shared lock (a run's readers share the run,
    /// so that lock cannot keep them from its results), and a report reading them holds it shared.
    /// </summary>
    internal static FolderLock AcquireRunResults(string run, string command, bool shared) =>
        Take(run, command, shared, key: Path.Combine(run, ".gestaltlab-results"), Results);

    /// <summary>
    /// The lock on a folder of aligned data: <c>align</c> writes it exclusively; trainings and evaluations read it shared
    /// (an alignment into it meanwhile would have them read crops half old, half new). The same lock as the folder's own
    /// (<see cref="Acquire"/>), said in words of data rather than of runs.
    /// </summary>
    /// <exception cref="GestaltLabException">Another process holds it the other way (or, for a writer, at all).</exception>
    public static FolderLock AcquireData(string folder, string command, bool shared) => Take(folder, command, shared, guarded: Data);

    /// <summary>
    /// The exclusive lock on one output file (an executed notebook, a predict/match --out, a report page), for the whole
    /// job that ends by writing it: a second job saving to the same file is refused at its start, instead of the two
    /// running to the end and the last silently replacing the other's outputs.
    /// </summary>
    /// <exception cref="GestaltLabException">Another process holds it.</exception>
    public static FolderLock AcquireFile(string path, string command) => Take(path, command, shared: false, guarded: OutputFile);

    // What a lock guards, in its messages: what its readers read, who they are, what its writers write.
    private sealed record Guarded(string Read, string Readers, string Written, string Output = "output folder");
    private static readonly Guarded Folder = new("the run in this folder", "an evaluation, a prediction or a report", "to this folder");
    private static readonly Guarded Data = new("the data in this folder", "a training or an evaluation", "to this folder");
    private static readonly Guarded OutputFile = new("this file", "a reader", "this file", "output file");
    private static readonly Guarded Results = new("the run's own test results in this folder", "a report or a figure export", "the run's own test results in this folder");

    private static FolderLock Take(string folder, string command, bool shared, string? key = null, Guarded? guarded = null)
    {
        var what = guarded ?? Folder;
        // By the folder itself, not the name it was given: a link to a folder being written is that folder.
        string full = RunFolder.RealPath(key ?? folder);
        lock (Held)
        {
            if (Held.TryGetValue(full, out var held))
            {
                // Turning a shared flock into an exclusive one drops it for a moment (another writer could step in), so
                // this process's own reader and writer of one folder at once is refused instead.
                if (!shared && held.Shared)
                    throw new GestaltLabException($"{folder}: cannot {command}: this process is reading {what.Read} right now",
                        $"let that reader ({what.Readers}) finish first");
                Held[full] = (held.Stream, held.Holders + 1, held.Shared);
                return new FolderLock(full);
            }
            Held[full] = (Open(full, folder, command, shared, what), 1, shared);
            return new FolderLock(full);
        }
    }

    /// <summary>The file whose lock stands for <paramref name="folder"/>'s, in <see cref="LockDirectory"/>.</summary>
    /// <exception cref="GestaltLabException">There is no lock folder (<see cref="PrivateTemp.Resolve"/> says why).</exception>
    internal static string LockFilePath(string folder)
    {
        var (directory, why) = LockDirectory();
        return LockFilePath(folder, directory ?? throw new GestaltLabException($"no folder for GestaltLab's locks: {why}"));
    }

    private static string LockFilePath(string folder, string directory)
    {
        string full = RunFolder.RealPath(folder);
        string name = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(full)))[..32].ToLowerInvariant();
        return Path.Combine(directory, name + ".lock");
    }

    /// <summary>
    /// The user's own lock folder, <c>locks</c> in <see cref="PrivateTemp"/>'s folder: the same for every session of the
    /// user (a lock in a folder chosen by a session's environment would be missed by a job started from another), and
    /// one no other user can have made first or put links into. Null, with why, when there is none.
    /// </summary>
    internal static (string? Directory, string? Why) LockDirectory()
    {
        var (folder, why) = PrivateTemp.Resolve();
        return (folder is null ? null : Path.Combine(folder, "locks"), why);
    }

    private static int _warned;

    private static FileStream? Open(string full, string folder, string command, bool shared, Guarded what)
    {
        // A lock that cannot be taken must not stop the work it guards against a rare accident, but it is said (once).
        static FileStream? Unlocked(string why)
        {
            if (Interlocked.Exchange(ref _warned, 1) == 0)
                Console.Error.WriteLine($"note: output folders are not locked against a second GestaltLab command writing at the same time: {why}");
            return null;
        }
        var (directory, why) = LockDirectory();
        if (directory is null) return Unlocked(why!);
        string file = LockFilePath(full, directory);
        try
        {
            Directory.CreateDirectory(directory);
            // On Unix, .NET takes flock on open: FileShare.None exclusively, a read-only open with sharing as a shared
            // lock; the kernel releases it with the process. The file is left in place (a few bytes per folder ever
            // written): deleted on close, it is unlinked before its lock is released, so a process that opened it just
            // then would lock a file no one else can see, and a third would create a new one and lock that too — two
            // writers at once.
            return shared
                ? new FileStream(file, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None)
                : new FileStream(file, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
        }
        catch (IOException e) when (IsHeldElsewhere(e))
        {
            // A writer refused by readers is told so: the fix is the same (wait), but "writing" would send users
            // looking for a training that is not running.
            bool readers = !shared && HeldByReaders(file);
            string holder = readers
                ? $"another GestaltLab command is reading {what.Read} right now ({what.Readers})"
                : $"another GestaltLab command is writing {what.Written} right now";
            throw new GestaltLabException($"{folder}: cannot {command}: {holder}",
                // Another output folder is a way out only for a writer refused by a writer.
                "wait for it to finish (or stop it)" + (shared || readers ? "" : $", or choose another {what.Output}"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A full or read-only temp folder is not another writer.
            return Unlocked(e.Message);
        }
    }

    // Whether the lock another process holds is a shared one: a shared lock can be had beside it (and is let go at once).
    private static bool HeldByReaders(string file)
    {
        try
        {
            using (new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None)) return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    // The lock is another process's: flock's EWOULDBLOCK (11 on Linux, 35 on macOS, as .NET's HResult) or Windows's
    // sharing violation. Any other failure (no space for the lock file, a read-only folder) is not.
    private static bool IsHeldElsewhere(IOException e) => e.HResult is 11 or 35 || e.HResult == unchecked((int)0x80070020);

    /// <summary>Releases the lock (the file lock itself when the process's last holder releases it).</summary>
    public void Dispose()
    {
        lock (Held)
        {
            if (_released) return;
            _released = true;
            var (stream, holders, shared) = Held[_key];
            if (holders > 1) Held[_key] = (stream, holders - 1, shared);
            else
            {
                Held.Remove(_key);
                stream?.Dispose();
            }
        }
    }
}
