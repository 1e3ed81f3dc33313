namespace GestaltLab.Notebooks;

/// <summary>State shared by one notebook run and its script globals: the cell being run and the display formatter.</summary>
internal sealed class NotebookSession(string? notebookPath, CancellationToken cancellationToken) : IAsyncDisposable
{
    // A cell may save or show a chart with Plotly.NET's own functions before touching GestaltLab's Charts (which set
    // this on first use): Plotly.NET's default would load plotly.js from a CDN when the page is opened.
    static NotebookSession() => Figures.FigureHtml.UseOfflineDefaults();

    private volatile CellOutputs? _current;
    private volatile string _cellId = "cell";
    private int _displays;

    public DisplayFormatter Formatter { get; } = new();

    private Figures.HeadlessBrowser? _browser;

    /// <summary>
    /// Adds a static PNG of every chart (drawn by headless Chromium, one browser per run), for viewers that strip
    /// scripts and for conversions such as nbconvert to PDF.
    /// </summary>
    public void EnableChartImages(int widthPx = 720, int heightPx = 450) =>
        Formatter.Plotly.RenderPng = chart =>
        {
            // display() is synchronous, and cells run on pool threads, so waiting here blocks no UI or scheduler.
            _browser ??= Figures.HeadlessBrowser.LaunchAsync(cancellationToken: CancellationToken).GetAwaiter().GetResult();
            var size = new Figures.FigureSize(widthPx / 96.0 * 25.4, heightPx / 96.0 * 25.4, 96);
            return Figures.FigureExport.RenderAsync(chart, Figures.FigureFormat.Png, size, _browser, CancellationToken).GetAwaiter().GetResult();
        };

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _browser = null;
    }

    public string? NotebookPath { get; } = notebookPath;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    public void Begin(CellOutputs outputs, string cellId)
    {
        _cellId = cellId;
        _current = outputs;
    }

    public void End() => _current = null;

    public string CellId => _cellId;

    public void Display(object? value)
    {
        var outputs = _current ?? throw new InvalidOperationException("display() was called while no notebook cell is running");
        outputs.Display(Format(value));
    }

    public MimeBundle Format(object? value) => Formatter.Format(value, $"{_cellId}-{Interlocked.Increment(ref _displays)}");
}
