namespace GestaltLab.Runtime;

/// <summary>
/// Folders that hold what patient photos became (aligned faces, region crops, embeddings, probabilities per photo): made
/// readable by their owner only (0700) when GestaltLab creates them, so that on a shared machine other accounts cannot
/// browse a run's face crops under the usual umask (022 leaves them world-readable). A folder that already exists keeps
/// its permissions: its owner chose them (<c>chmod g+rx</c> to share one within a group).
/// </summary>
public static class OwnerOnlyFolder
{
    /// <summary>Creates <paramref name="path"/> (its missing parents as usual) readable and writable by its owner only, when it does not exist.</summary>
    public static void Create(string path)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        if (Directory.Exists(full)) return;
        if (Path.GetDirectoryName(full) is { } parent) Directory.CreateDirectory(parent);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(full);
        else Directory.CreateDirectory(full, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
