namespace GestaltLab.Runtime;

/// <summary>
/// An error a user can act on: the message names the file or part involved and the problem, and
/// <see cref="Fix"/> (when known) says what to do about it.
/// </summary>
public class GestaltLabException : Exception
{
    /// <summary>Creates an error with a message and an optional fix.</summary>
    public GestaltLabException(string message, string? fix = null, Exception? inner = null)
        : base(fix is null ? message : $"{message}\n  fix: {fix}", inner)
    {
        Reason = message;
        Fix = fix;
    }

    /// <summary>The message as given, without <see cref="Fix"/> (<see cref="Exception.Message"/> holds both).</summary>
    public string Reason { get; }

    /// <summary>What the user can do about it, or null.</summary>
    public string? Fix { get; }
}
