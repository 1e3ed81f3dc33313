using System.Diagnostics;

namespace GestaltLab.Tests.Models;

/// <summary>A command stopped by SIGTERM (a job scheduler, `kill`) stops cleanly and says so with the shell's code for it.</summary>
public class StopSignalTests
{
    [Fact]
    public async Task A_stopped_training_says_which_epochs_each_region_kept()
    {
        // As the trainer reports: a batch of epoch 4 under way (3 finished), an epoch's summary (5 finished), a region done.
        await GestaltLab.Cli.CliProgress.RunAsync(p =>
        {
            p.Report(new GestaltLab.Runtime.ProgressUpdate("train stopsig_a", 310, 1500, "epoch 4/15 loss 2.100 acc 30%"));
            p.Report(new GestaltLab.Runtime.ProgressUpdate("train stopsig_b", 500, 1500, "epoch 5/15 loss 2.000 acc 31% val loss 2.500 val acc 20%"));
            p.Report(new GestaltLab.Runtime.ProgressUpdate("train stopsig_c", 1500, 1500, "epoch 15/15 loss 1.000 acc 60% val loss 2.000 val acc 30%"));
            return 0;
        });
        string kept = GestaltLab.Cli.CliProgress.EpochsKept()!;
        Assert.Contains("stopsig_a 3/15, stopsig_b 5/15", kept);
        Assert.DoesNotContain("stopsig_c", kept);
    }

    [Fact]
    public async Task Sigterm_cancels_a_command_with_exit_code_143_every_time()
    {
        string root = TestTemp.Dir("gl-stop");
        try
        {
            // Three times: the code was read before the signal was known in some runs (130 instead of 143).
            for (int attempt = 0; attempt < 3; attempt++)
            {
                string output = Path.Combine(root, $"data{attempt}");
                using var p = Process.Start(TestCli.StartInfo("generate", "--preset", "demo", "--scale", "4", "--out", output, "--threads", "1"))!;
                var rendering = new TaskCompletionSource();
                var lines = new System.Text.StringBuilder();
                void Seen(object _, DataReceivedEventArgs e)
                {
                    lock (lines) lines.AppendLine(e.Data);
                    if (e.Data?.Contains("render", StringComparison.Ordinal) == true) rendering.TrySetResult();
                }
                p.OutputDataReceived += Seen;
                p.ErrorDataReceived += Seen;
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                await Task.WhenAny(rendering.Task, p.WaitForExitAsync());
                Assert.True(rendering.Task.IsCompleted, $"generate never started rendering: {lines}");
                using (var kill = Process.Start("kill", ["-s", "TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
                await p.WaitForExitAsync();
                p.WaitForExit();   // the output events, to the last line
                string text;
                lock (lines) text = lines.ToString();
                Assert.True(p.ExitCode == 143, $"exit {p.ExitCode}: {text}");
                Assert.Contains("stopping at the next safe point", text);
                Assert.Contains("cancelled", text);
                // Nothing half-written where the data set would be.
                Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any(), $"{output} holds a part of the data set");
            }
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }
}
