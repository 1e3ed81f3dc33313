using System.Text;

namespace GestaltLab.Notebooks;

/// <summary>
/// Routes <see cref="Console.Out"/> and <see cref="Console.Error"/> to the cell that is running. The console is
/// process-wide, so the router is installed once and picks the target from an <see cref="AsyncLocal{T}"/>: writes
/// from a cell (and from tasks and threads it starts, which inherit the execution context) land in that cell's
/// outputs; everything else goes to the original console. Two notebooks can therefore run at once in one process.
/// </summary>
internal static class ConsoleCapture
{
    private static readonly AsyncLocal<Target?> Current = new();
    private static readonly object Gate = new();
    private static bool _installed;
    private static TextWriter _originalOut = Console.Out;
    private static TextWriter _originalError = Console.Error;

    internal sealed record Target(CellOutputs Outputs, TextWriter? Echo);

    /// <summary>The console as it was before the router was installed (the runner's own log goes here).</summary>
    public static TextWriter OriginalOut { get { Install(); return _originalOut; } }

    /// <summary>The error console as it was before the router was installed.</summary>
    public static TextWriter OriginalError { get { Install(); return _originalError; } }

    public static void Install()
    {
        lock (Gate)
        {
            if (_installed) return;
            _originalOut = Console.Out;
            _originalError = Console.Error;
            Console.SetOut(new Router("stdout", _originalOut));
            Console.SetError(new Router("stderr", _originalError));
            _installed = true;
        }
    }

    /// <summary>Sends console text of the current execution context to <paramref name="outputs"/> until disposed.</summary>
    public static IDisposable Capture(CellOutputs outputs, TextWriter? echo)
    {
        Install();
        var previous = Current.Value;
        Current.Value = new Target(outputs, echo);
        return new Restore(previous);
    }

    private sealed class Restore(Target? previous) : IDisposable
    {
        public void Dispose() => Current.Value = previous;
    }

    private sealed class Router(string stream, TextWriter fallback) : TextWriter
    {
        public override Encoding Encoding => fallback.Encoding;

        public override void Write(char value) => Write(value.ToString());

        public override void Write(char[] buffer, int index, int count) => Write(new string(buffer, index, count));

        public override void Write(string? value)
        {
            if (string.IsNullOrEmpty(value)) return;
            var target = Current.Value;
            if (target is null)
            {
                fallback.Write(value);
                return;
            }
            target.Outputs.Stream(stream, value);
            if (target.Echo is not null)
                lock (target.Echo) target.Echo.Write(value);
        }

        public override void WriteLine(string? value) => Write((value ?? "") + "\n");

        public override void WriteLine() => Write("\n");

        public override void Flush()
        {
            if (Current.Value is null) fallback.Flush();
        }
    }
}
