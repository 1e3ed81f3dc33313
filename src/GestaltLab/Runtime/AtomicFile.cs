using System.Text;

namespace GestaltLab.Runtime;

/// <summary>
/// Writes files so that a reader never sees half a file: the content goes to a temporary file in the same folder,
/// which is then renamed over the target (atomic on one file system). A crash leaves the old file or none.
/// </summary>
public static class AtomicFile
{
    private static readonly UTF8Encoding Utf8NoBom = new(false);

    /// <summary>Writes text (UTF-8, no BOM) atomically.</summary>
    /// <param name="path">The file.</param>
    /// <param name="text">Its text.</param>
    /// <param name="ownerOnly">Readable by its owner alone (<see cref="Write"/>).</param>
    public static void WriteAllText(string path, string text, bool ownerOnly = false) => Write(path, s =>
    {
        var bytes = Utf8NoBom.GetBytes(text);
        s.Write(bytes, 0, bytes.Length);
    }, ownerOnly);

    /// <summary>Writes bytes atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, s => s.Write(copy, 0, copy.Length));
    }

    /// <summary>
    /// Deletes the temporaries (<c>.NAME.PID.GUID.tmp</c>, files and folders) that writes in <paramref name="directory"/>
    /// left behind when their process was killed mid-write (a checkpoint's is as large as the checkpoint, a generated
    /// data set's larger). Those of processes still running are left alone; with <paramref name="name"/>, only the
    /// temporaries of that target are considered.
    /// </summary>
    public static void RemoveLeftovers(string directory, string? name = null)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(directory, name is null ? ".*.tmp" : $".{name}.*.tmp"))
        {
            var parts = Path.GetFileName(entry).Split('.');
            if (parts.Length < 5 || parts[^2].Length != 32 || !parts[^2].All(Uri.IsHexDigit) || !int.TryParse(parts[^3], out int pid) || IsRunning(pid)) continue;
            try
            {
                if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
                else File.Delete(entry);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>
    /// Bytes <see cref="TempPath"/> adds to a file's name (a dot, the process id, a GUID, ".tmp"): a file name longer than
    /// the file system's 255 bytes less this cannot be written atomically.
    /// </summary>
    public const int TempNameOverhead = 1 + 1 + 10 + 1 + 32 + 4;

    /// <summary>
    /// A fresh hidden temporary beside <paramref name="target"/> (<c>.NAME.PID.GUID.tmp</c>, a file or a folder): the
    /// form <see cref="RemoveLeftovers"/> sweeps once its process is gone.
    /// </summary>
    public static string TempPath(string target)
    {
        // Keep TempNameOverhead in step with the form below.
        string full = Path.GetFullPath(target).TrimEnd('/');
        return Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>
    /// Moves the finished folder <paramref name="staging"/> (beside the target, e.g. a <see cref="TempPath"/>) into
    /// <paramref name="target"/>, replacing a folder there. On Linux the two are swapped in one step (<c>renameat2</c>
    /// with <c>RENAME_EXCHANGE</c>), so a process killed at any moment leaves the old folder or the new one in place,
    /// never neither; the old one then lies under the staging name, which a later <see cref="RemoveLeftovers"/> sweeps.
    /// Elsewhere, or on a file system without the exchange, the old folder is renamed aside first and put back if the
    /// move fails; a kill between those two renames leaves the target missing (both copies hidden, swept later). The old
    /// folder's removal failing afterwards is no failure.
    /// </summary>
    public static void ReplaceDirectory(string staging, string target)
    {
        if (!Directory.Exists(target)) { Directory.Move(staging, target); return; }
        if (TryExchange(staging, target))
        {
            try { Directory.Delete(staging, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            return;
        }
        string old = TempPath(target);
        Directory.Move(target, old);
        try { Directory.Move(staging, target); }
        catch { Directory.Move(old, target); throw; }
        try { Directory.Delete(old, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Swaps two existing paths atomically (Linux's <c>renameat2</c> with <c>RENAME_EXCHANGE</c>, kernel 3.15+, glibc
    /// 2.28+). False where it did not happen, for whatever reason: the system or the file system does not offer it
    /// (EINVAL on some network and FUSE ones, ENOSYS, a sandbox's EPERM), or a path is missing — the caller's fallback,
    /// two plain renames, then works or fails with .NET's own error naming the path.
    /// </summary>
    internal static bool TryExchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try { return RenameAt2(AtCurrentDirectory, Path.GetFullPath(a), AtCurrentDirectory, Path.GetFullPath(b), RenameExchange) == 0; }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return false; }
    }

    private const int AtCurrentDirectory = -100;   // AT_FDCWD (the paths are absolute anyway)
    private const uint RenameExchange = 2;         // RENAME_EXCHANGE

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "renameat2")]
    private static extern int RenameAt2(int oldDirectory, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string oldPath,
        int newDirectory, [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string newPath, uint flags);

    /// <summary>
    /// Refuses to replace an existing <paramref name="path"/> that <paramref name="writer"/> did not write: one whose
    /// first 64 KiB do not hold <paramref name="mark"/> (what every file that command writes holds). An explicit
    /// <c>--out</c> naming a data set's ground-truth table or someone's notes must not quietly replace them.
    /// </summary>
    /// <exception cref="GestaltLabException">The file exists and is not the command's.</exception>
    public static void CheckReplaceable(string path, string mark, string writer, string option = "--out")
    {
        if (!File.Exists(path)) return;
        var head = new char[64 * 1024];
        int n;
        using (var reader = new StreamReader(path)) n = reader.ReadBlock(head, 0, head.Length);
        if (new string(head, 0, n).Contains(mark, StringComparison.Ordinal)) return;
        throw new GestaltLabException($"{path}: exists and is not a file `{writer}` wrote; it is left as it is",
            $"choose another {option} file (in C#: another path), or move that one away first");
    }

    /// <summary>
    /// Checks, before a long job, that <paramref name="path"/> can be written when the job ends: not a folder, and its
    /// folder (made if missing) takes a new file. Nothing is left behind.
    /// </summary>
    /// <param name="path">The file the job will write.</param>
    /// <param name="example">A file name of the kind the job writes, for the fix when <paramref name="path"/> is a folder.</param>
    /// <param name="ownerOnly">Make a missing folder its owner's alone (<see cref="OwnerOnlyFolder"/>), as the job would
    /// make it for what it writes there (patients' photos or per-photo tables).</param>
    /// <exception cref="GestaltLabException">The path is a folder, or its folder cannot be written (read-only, no permission).</exception>
    public static void CheckWritable(string path, string example = "out.json", bool ownerOnly = false)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new GestaltLabException($"{path}: is a folder; a file name is expected here", "name the file to write, e.g. " + Path.Combine(path, example));
        string dir = Path.GetDirectoryName(full)!;
        for (string? up = dir; up is not null; up = Path.GetDirectoryName(up))
            if (File.Exists(up))
                throw new GestaltLabException($"{path}: cannot be written: {up} is a file, where a folder is needed", "choose another path for the output");
        string probe = TempPath(full);
        try
        {
            if (ownerOnly) OwnerOnlyFolder.Create(dir);
            else Directory.CreateDirectory(dir);
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new GestaltLabException($"{path}: cannot be written ({WithoutTempNames(e.Message)})", "choose a folder you can write to");
        }
    }

    // 0600, or 0640 in a folder its owner opened to the group and closed to others (the way a team shares a run).
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static UnixFileMode OwnerOnlyMode(string dir)
    {
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            var mode = File.GetUnixFileMode(dir);
            bool groupShared = mode.HasFlag(UnixFileMode.GroupRead) && mode.HasFlag(UnixFileMode.GroupExecute)
                && (mode & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) == 0;
            return groupShared ? owner | UnixFileMode.GroupRead : owner;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return owner;
        }
    }

    /// <summary>
    /// <paramref name="message"/> with the hidden half-written files writes go through (<c>DIR/.NAME.PID.GUID.tmp</c>)
    /// named as the user knows them, <c>DIR/NAME</c>: .NET's errors name the file that was being written.
    /// </summary>
    public static string WithoutTempNames(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @"/\.([^/]+?)\.\d+\.[0-9a-fA-F]{32}\.tmp", "/$1");

    /// <summary>Writes through a stream atomically; if <paramref name="write"/> throws, the target is left untouched.</summary>
    /// <param name="path">The file.</param>
    /// <param name="write">Writes its content.</param>
    /// <param name="ownerOnly">Readable and writable by its owner alone (mode 0600; a file naming patients' photos): the
    /// temporary is made so, so the content is never readable by others, not even before it takes the target's place.
    /// In a folder shared with its group and closed to others (0750, 0770, 2770: <c>chmod g+rx,o-rwx</c>, a team's
    /// choice) the group may read it too (0640). (File systems without Unix modes, vfat or a Windows share, ignore it.)</param>
    public static void Write(string path, Action<Stream> write, bool ownerOnly = false)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        // A folder made for an owner-only file is its owner's too (0700): it names what it holds.
        if (ownerOnly) OwnerOnlyFolder.Create(dir);
        else Directory.CreateDirectory(dir);
        string temp = TempPath(full);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (ownerOnly && !OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnlyMode(dir);
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                write(stream);
                stream.Flush(true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }
}
