namespace GestaltLab.Runtime;

/// <summary>
/// A temporary folder of the current user's own, the same for every session of that user on this machine (a terminal,
/// a notebook, a job started over ssh or by cron): <c>/tmp/gestaltlab-USER</c>, or <c>/run/gestaltlab</c> for root.
/// The shared temp folder lets any user make that name first; a folder made by someone else (or a link in its place) is
/// refused, and the user's own is kept at mode 0700 so that nobody else can make or link files inside it.
/// </summary>
internal static class PrivateTemp
{
    private static readonly Lazy<(string? Folder, string? Why)> Resolved = new(Resolve);

    /// <summary>The folder, made if needed; null when it cannot be had safely (<see cref="Why"/> says why).</summary>
    public static string? Folder => Resolved.Value.Folder;

    /// <summary>Why <see cref="Folder"/> is null, else null.</summary>
    public static string? Why => Resolved.Value.Why;

    private static (string?, string?) Resolve()
    {
        string shared = Path.Combine(Path.GetTempPath(), "gestaltlab-" + Environment.UserName);
        // Root's own first: /run is root's alone to write, whereas in the shared temp folder the ownership test below
        // proves nothing for root (a chmod succeeds for root on any folder). A container without /run falls back.
        var candidates = !OperatingSystem.IsWindows() && Environment.IsPrivilegedProcess ? new[] { "/run/gestaltlab", shared } : [shared];
        string? why = null;
        foreach (var folder in candidates)
        {
            why = TryMake(folder);
            if (why is null) return (folder, null);
        }
        return (null, why);
    }

    /// <summary>Makes <paramref name="folder"/> the user's own (mode 0700); null when done, else why not.</summary>
    internal static string? TryMake(string folder)
    {
        try
        {
            if (new DirectoryInfo(folder).LinkTarget is not null || File.Exists(folder))
                return $"{folder} is a link or a file, not a folder of this user's";
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(folder); // %TEMP% is the user's own there
                return null;
            }
            const UnixFileMode own = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            Directory.CreateDirectory(folder, own);
            // Only a folder's owner may change its mode: this fails on a folder another user made first.
            File.SetUnixFileMode(folder, own);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{folder} cannot be made this user's own ({e.Message})";
        }
    }
}
