using System.Runtime.InteropServices;

namespace GestaltLab.Runtime;

/// <summary>
/// A temporary folder of the current user's own, the same for every session of that user on this machine (a terminal,
/// a notebook, a job started over ssh, by cron or under a scheduler that sets its own <c>TMPDIR</c>):
/// <c>/tmp/gestaltlab-UID</c> (the numeric user id: a uid without a passwd entry has no name), or
/// <c>/run/gestaltlab</c> for root. The shared temp folder lets any user make that name first; a folder made by
/// someone else (or a link in its place) is refused, and the user's own is kept at mode 0700 so that nobody else can
/// make or link files inside it. Checked on every use: a folder deleted meanwhile (by hand, or by systemd-tmpfiles
/// ageing <c>/tmp</c>) is made and checked again, not trusted from an earlier check.
/// </summary>
internal static class PrivateTemp
{
    /// <summary>The folder, made if needed; null when it cannot be had safely (<see cref="Resolve"/> also says why).</summary>
    public static string? Folder => Resolve().Folder;

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEffectiveUserId();

    /// <summary>The folder (made and checked now) and, when there is none, why.</summary>
    internal static (string? Folder, string? Why) Resolve()
    {
        if (OperatingSystem.IsWindows())
        {
            // %TEMP% is the user's own there.
            string folder = Path.Combine(Path.GetTempPath(), "gestaltlab");
            try { Directory.CreateDirectory(folder); return (folder, null); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return (null, $"{folder}: {e.Message}"); }
        }
        if (Environment.IsPrivilegedProcess)
        {
            // Root's own place: /run is root's alone to write. Not the shared /tmp: there the ownership test below proves
            // nothing for root (a chmod succeeds for root on any folder), so a folder another user made would be taken.
            return Directory.Exists("/run") ? Checked("/run/gestaltlab") : (null, "no /run folder for root's own temporary files");
        }
        // The literal /tmp, not $TMPDIR: two sessions with other TMPDIRs would otherwise lock in two places.
        return Checked($"/tmp/gestaltlab-{GetEffectiveUserId()}");
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static (string?, string?) Checked(string folder) => TryMake(folder) is { } why ? (null, why) : (folder, null);

    /// <summary>Makes <paramref name="folder"/> the user's own (mode 0700); null when done, else why not.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static string? TryMake(string folder)
    {
        try
        {
            if (IsLinkOrFile(folder)) return $"{folder} is a link or a file, not a folder of this user's";
            const UnixFileMode own = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            Directory.CreateDirectory(folder, own);
            // Only a folder's owner may change its mode: this fails on a folder another user made first, and makes one of
            // the user's own that another tool made 0755 private again.
            File.SetUnixFileMode(folder, own);
            // A link put in its place between the first look and the chmod (which followed it) is refused too; a folder
            // of the user's own in the sticky /tmp cannot be replaced by anyone else afterwards.
            if (IsLinkOrFile(folder)) return $"{folder} became a link while being made; not used";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{folder} cannot be made this user's own ({e.Message})";
        }
    }

    private static bool IsLinkOrFile(string folder) => new DirectoryInfo(folder).LinkTarget is not null || File.Exists(folder);
}
