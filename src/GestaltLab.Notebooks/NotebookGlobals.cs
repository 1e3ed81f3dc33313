namespace GestaltLab.Notebooks;

/// <summary>
/// What a notebook's code sees besides its own variables: <c>display(…)</c> as in .NET Interactive and Jupyter, and a
/// few facts about the run. Members are public because Roslyn scripts reach them as globals.
/// </summary>
public sealed class NotebookGlobals
{
    private readonly NotebookSession _session;

    internal NotebookGlobals(NotebookSession session) => _session = session;

    /// <summary>Shows a value in the running cell's output (chart → interactive HTML, image → PNG, records → table, …).</summary>
    public void display(object? value) => _session.Display(value);

    /// <summary>Shows a string as the given MIME type, e.g. <c>display("&lt;b&gt;hi&lt;/b&gt;", "text/html")</c>.</summary>
    public void display(string content, string mimeType) => _session.Display(new MimeBundle().With(mimeType, content));

    /// <summary>Same as <see cref="display(object?)"/>.</summary>
    public void Display(object? value) => _session.Display(value);

    /// <summary>Same as <see cref="display(string, string)"/>.</summary>
    public void Display(string content, string mimeType) => _session.Display(new MimeBundle().With(mimeType, content));

    /// <summary>Marks a string as HTML, so displaying it renders it (as .NET Interactive's <c>HTML(…)</c> does).</summary>
    public MimeBundle HTML(string html) => new MimeBundle().With("text/html", html);

    /// <summary>Cancelled when the user stops the run (Ctrl+C); pass it to long library calls.</summary>
    public CancellationToken CancellationToken => _session.CancellationToken;

    /// <summary>The full path of the notebook being run, or null for an in-memory notebook.</summary>
    public string? NotebookPath => _session.NotebookPath;
}
