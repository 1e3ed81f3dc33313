namespace GestaltLab.Notebooks;

/// <summary>State shared by one notebook run and its script globals: the cell being run and the display formatter.</summary>
internal sealed class NotebookSession(string? notebookPath, CancellationToken cancellationToken)
{
    private volatile CellOutputs? _current;
    private volatile string _cellId = "cell";
    private int _displays;

    public DisplayFormatter Formatter { get; } = new();

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
