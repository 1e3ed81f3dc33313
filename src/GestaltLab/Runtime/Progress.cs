namespace GestaltLab.Runtime;

/// <summary>
/// Progress of a long job, reported through <see cref="IProgress{T}"/>: the CLI turns it into bars, notebooks
/// into text lines. Every long-running library call takes an <c>IProgress&lt;ProgressUpdate&gt;?</c> and a
/// <see cref="CancellationToken"/>.
/// </summary>
/// <param name="Stage">Short name of the step, e.g. <c>render</c> or <c>train nose</c>.</param>
/// <param name="Done">Units finished so far.</param>
/// <param name="Total">Units in all (0 when unknown).</param>
/// <param name="Detail">Optional extra text, e.g. <c>loss 0.71 acc 64%</c>.</param>
public readonly record struct ProgressUpdate(string Stage, long Done, long Total, string? Detail = null)
{
    /// <summary>Fraction done in [0, 1] (0 when the total is unknown).</summary>
    public double Fraction => Total > 0 ? Math.Clamp((double)Done / Total, 0, 1) : 0;

    /// <inheritdoc />
    public override string ToString() =>
        Total > 0 ? $"{Stage}: {Done}/{Total}{(Detail is null ? "" : " " + Detail)}" : $"{Stage}: {Done}{(Detail is null ? "" : " " + Detail)}";
}

/// <summary>Progress sinks for notebooks and logs.</summary>
public static class ProgressReporters
{
    /// <summary>
    /// Writes a line to <paramref name="write"/> at most every <paramref name="everyPercent"/> percent per stage, when a
    /// stage finishes, and for a summary (a report repeating the last count with new detail, such as an epoch's
    /// validation figures): readable in a notebook output or a CI log, unlike a redrawn bar.
    /// </summary>
    public static IProgress<ProgressUpdate> Lines(Action<string> write, int everyPercent = 10) => new LineProgress(write, everyPercent);

    /// <summary>Progress lines on standard error.</summary>
    public static IProgress<ProgressUpdate> Console(int everyPercent = 10) => Lines(s => System.Console.Error.WriteLine(s), everyPercent);

    /// <summary>
    /// Every report handed to <paramref name="report"/> on the reporting thread, as it comes. <see cref="Progress{T}"/>
    /// posts each report to the thread pool instead: reports of parallel workers may then arrive out of order (a bar moves
    /// back), and the last ones after the call has returned.
    /// </summary>
    public static IProgress<ProgressUpdate> Synchronous(Action<ProgressUpdate> report) => new SynchronousProgress(report);

    private sealed class SynchronousProgress(Action<ProgressUpdate> report) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value) => report(value);
    }

    private sealed class LineProgress(Action<string> write, int everyPercent) : IProgress<ProgressUpdate>
    {
        private readonly Dictionary<string, int> _lastBucket = new();
        private readonly Dictionary<string, (long Done, string? Detail)> _lastReport = new();
        private readonly object _gate = new();

        public void Report(ProgressUpdate value)
        {
            lock (_gate)
            {
                // A second report at the same point with new detail is a summary of that point (an epoch's validation
                // figures, a fitted weight): always worth a line, though the count did not move.
                bool summary = value.Detail is not null && _lastReport.TryGetValue(value.Stage, out var previous)
                               && previous.Done == value.Done && previous.Detail != value.Detail;
                _lastReport[value.Stage] = (value.Done, value.Detail);
                if (summary)
                {
                    write(value.ToString());
                    return;
                }
                int bucket = value.Total > 0 ? (int)(value.Fraction * 100) / Math.Max(1, everyPercent) : (int)value.Done;
                bool finished = value.Total > 0 && value.Done >= value.Total;
                if (_lastBucket.TryGetValue(value.Stage, out int last) && last == bucket && !finished) return;
                if (finished && last == int.MaxValue) return;
                _lastBucket[value.Stage] = finished ? int.MaxValue : bucket;
                write(value.ToString());
            }
        }
    }
}
