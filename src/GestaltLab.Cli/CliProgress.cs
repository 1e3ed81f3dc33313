using GestaltLab.Runtime;
using Spectre.Console;

namespace GestaltLab.Cli;

/// <summary>
/// Shows library progress as Spectre.Console bars on a terminal, and as plain lines when output is redirected
/// (CI logs, pipes), so every long job shows progress either way.
/// </summary>
internal static class CliProgress
{
    // Each stage's last report, so that a stopped command can say where each stage was (the epochs a training kept).
    private static readonly Dictionary<string, ProgressUpdate> LastByStage = new(StringComparer.Ordinal);

    /// <summary>The last report of every stage seen so far in this process, in no particular order.</summary>
    public static IReadOnlyList<ProgressUpdate> LastUpdates()
    {
        lock (LastByStage) return [.. LastByStage.Values];
    }

    private sealed class Recording(IProgress<ProgressUpdate> inner) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value)
        {
            lock (LastByStage) LastByStage[value.Stage] = value;
            inner.Report(value);
        }
    }

    /// <summary>
    /// The epochs each region's training had finished when it was stopped, from the trainer's reports ("epoch 4/15 …",
    /// the summary of a finished epoch carrying its validation figures): "face 3/15, nose 4/15" for the regions under way;
    /// null when no training was under way.
    /// </summary>
    public static string? EpochsKept()
    {
        var kept = new List<string>();
        foreach (var u in LastUpdates().Where(u => u.Stage.StartsWith("train ", StringComparison.Ordinal) && u.Done < u.Total).OrderBy(u => u.Stage, StringComparer.Ordinal))
        {
            var m = System.Text.RegularExpressions.Regex.Match(u.Detail ?? "", @"epoch (\d+)/(\d+)");
            if (!m.Success) continue;
            int epoch = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            int done = u.Detail!.Contains("val acc", StringComparison.Ordinal) ? epoch : epoch - 1;
            kept.Add($"{u.Stage["train ".Length..]} {done}/{m.Groups[2].Value}");
        }
        return kept.Count == 0 ? null : string.Join(", ", kept);
    }

    /// <summary>Runs <paramref name="work"/> with a progress sink; one bar per stage.</summary>
    public static async Task<T> RunAsync<T>(Func<IProgress<ProgressUpdate>, Task<T>> work)
    {
        if (Console.IsErrorRedirected || Console.IsOutputRedirected || !CliRunner.Ansi.Profile.Capabilities.Interactive)
            return await work(new Recording(ProgressReporters.Console()));
        T result = default!;
        await CliRunner.Ansi.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                // Drawn on the reporting thread (Progress<T> would post reports to the thread pool, out of order).
                var sink = ProgressReporters.Synchronous(u =>
                {
                    lock (tasks)
                    {
                        if (!tasks.TryGetValue(u.Stage, out var t))
                            tasks[u.Stage] = t = ctx.AddTask(Markup.Escape(u.Stage), maxValue: Math.Max(1, u.Total));
                        if (u.Total > 0) t.MaxValue = u.Total;
                        t.Value = u.Done;
                        t.Description = Markup.Escape(u.Detail is null ? u.Stage : $"{u.Stage} {u.Detail}");
                    }
                });
                result = await work(new Recording(sink));
            });
        return result;
    }

    /// <summary>Runs synchronous work on a worker thread with a progress sink.</summary>
    public static Task<T> RunAsync<T>(Func<IProgress<ProgressUpdate>, T> work) => RunAsync(p => Task.Run(() => work(p)));
}
