using GestaltLab.Runtime;
using Spectre.Console;

namespace GestaltLab.Cli;

/// <summary>
/// Shows library progress as Spectre.Console bars on a terminal, and as plain lines when output is redirected
/// (CI logs, pipes), so every long job shows progress either way.
/// </summary>
internal static class CliProgress
{
    /// <summary>Runs <paramref name="work"/> with a progress sink; one bar per stage.</summary>
    public static async Task<T> RunAsync<T>(Func<IProgress<ProgressUpdate>, Task<T>> work)
    {
        if (Console.IsErrorRedirected || Console.IsOutputRedirected || !CliRunner.Ansi.Profile.Capabilities.Interactive)
            return await work(ProgressReporters.Console());
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
                result = await work(sink);
            });
        return result;
    }

    /// <summary>Runs synchronous work on a worker thread with a progress sink.</summary>
    public static Task<T> RunAsync<T>(Func<IProgress<ProgressUpdate>, T> work) => RunAsync(p => Task.Run(() => work(p)));
}
