using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab bench tsne</c>: GestaltLab's t-SNE against scikit-learn's on identical inputs — time and
/// trustworthiness (k = 5, both embeddings scored by sklearn's own <c>trustworthiness</c>, and by ours). Input: a run's
/// <c>embeddings.csv</c>, or a seeded Gaussian mixture shaped like face embeddings (clusters of different spread, some
/// pairs overlapping as syndromes that share traits do). The reference is bench/sklearn/tsne_reference.py run with
/// Debian's /usr/bin/python3 (python3-sklearn).
/// </summary>
internal sealed class TsneBench : IBenchCommand
{
    public Command Create()
    {
        var sizes = new Option<int[]>("--n") { Description = "Point counts of the synthetic mixture.", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [500, 2000, 5000] };
        var dim = new Option<int>("--dim") { Description = "Dimensions of the synthetic mixture.", DefaultValueFactory = _ => 64 };
        var input = new Option<string?>("--input") { Description = "Bench on this embeddings.csv (image,subject,true,e0,…) instead." };
        var python = new Option<string>("--python") { Description = "Python with scikit-learn.", DefaultValueFactory = _ => "/usr/bin/python3" };
        var script = new Option<string?>("--script") { Description = "Path of bench/sklearn/tsne_reference.py (default: found from the current folder up)." };
        var noRef = new Option<bool>("--no-reference") { Description = "Time GestaltLab only." };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic mixture.", DefaultValueFactory = _ => 0 };
        var theta = new Option<double?>("--theta") { Description = "Barnes-Hut θ for GestaltLab (default: TsneOptions' default)." };
        var cmd = new Command("tsne", "t-SNE: time and trustworthiness vs scikit-learn on the same embeddings.") { sizes, dim, input, python, script, noRef, seed, theta };
        cmd.SetAction((p, ct) => Task.FromResult(Run(p.GetValue(sizes)!, p.GetValue(dim), p.GetValue(input), p.GetValue(python)!, p.GetValue(script),
            p.GetValue(noRef), p.GetValue(seed), p.GetValue(theta), ct)));
        return cmd;
    }

    private static int Run(int[] sizes, int dim, string? input, string python, string? script, bool noReference, int seed, double? theta, CancellationToken ct)
    {
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, {DateTime.UtcNow:yyyy-MM-dd}");
        script ??= FindScript();
        if (!noReference && script is null)
            throw new GestaltLabException("bench/sklearn/tsne_reference.py not found", "run from the repository, pass --script PATH, or use --no-reference");
        var datasets = new List<(string Name, float[][] X)>();
        if (input is not null) datasets.Add((Path.GetFileName(input), ImageTable.Load(input).Values.ToArray()));
        else foreach (int n in sizes) datasets.Add(($"mixture n={n} d={dim}", Mixture(n, dim, seed)));

        string tmp = Directory.CreateTempSubdirectory("gestaltlab-tsne-bench-").FullName;
        try
        {
            Console.WriteLine("| data | n | method | GestaltLab s | sklearn s | speed-up | trust. GestaltLab | trust. sklearn | (sklearn's scorer on ours) |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var (name, x) in datasets)
            {
                ct.ThrowIfCancellationRequested();
                var sw = Stopwatch.StartNew();
                var options = new TsneOptions { Seed = 0 };
                if (theta is double t) options = options with { Theta = t };
                var r = Tsne.Fit(x, options, null, ct);
                double ours = sw.Elapsed.TotalSeconds;
                double trustOurs = Trustworthiness.Compute(x, r.Points(), 5);
                string sk = "—", speed = "—", trustSk = "—", trustOursSk = "—";
                if (!noReference)
                {
                    string inCsv = Path.Combine(tmp, "input.csv"), outCsv = Path.Combine(tmp, "ours.csv");
                    Csv.Write(inCsv, Enumerable.Range(0, x[0].Length).Select(j => "x" + j).ToArray(), x.Select(row => row.Select(v => Csv.Format(v)).ToArray()));
                    Csv.Write(outCsv, ["x", "y"], Enumerable.Range(0, r.X.Length).Select(i => new[] { Csv.Format(r.X[i]), Csv.Format(r.Y[i]) }));
                    var json = RunPython(python, script!, inCsv, outCsv, r.Method == TsneMethod.Exact ? "exact" : "barnes_hut");
                    double s = json.GetProperty("seconds").GetDouble();
                    sk = s.ToString("F2", CultureInfo.InvariantCulture);
                    speed = (s / ours).ToString("F1", CultureInfo.InvariantCulture) + "×";
                    trustSk = json.GetProperty("trustworthiness_sklearn").GetDouble().ToString("F4", CultureInfo.InvariantCulture);
                    trustOursSk = json.GetProperty("trustworthiness_ours").GetDouble().ToString("F4", CultureInfo.InvariantCulture);
                    if (datasets[0].Name == name) Console.Error.WriteLine($"reference: scikit-learn {json.GetProperty("sklearn").GetString()}");
                }
                Console.WriteLine($"| {name} | {x.Length} | {r.Method}{(r.Method == TsneMethod.BarnesHut ? FormattableString.Invariant($" θ={options.Theta}") : "")} | {ours:F2} | {sk} | {speed} | {trustOurs:F4} | {trustSk} | {trustOursSk} |");
            }
        }
        finally
        {
            try { Directory.Delete(tmp, true); } catch (IOException) { }
        }
        return 0;
    }

    /// <summary>A Gaussian mixture shaped like face-space embeddings: 20 clusters, spreads 0.6–1.6, 5 overlapping pairs.</summary>
    internal static float[][] Mixture(int n, int dim, int seed)
    {
        var rng = new Random(seed);
        double G() => rng.NextGaussian();
        const int clusters = 20;
        var centres = new double[clusters][];
        for (int c = 0; c < clusters; c++)
            centres[c] = c % 4 == 1 ? centres[c - 1].Select(v => v + G() * 0.9).ToArray() : Enumerable.Range(0, dim).Select(_ => G() * 1.2).ToArray();
        var spread = Enumerable.Range(0, clusters).Select(_ => 0.6 + rng.NextDouble()).ToArray();
        return Enumerable.Range(0, n).Select(i =>
        {
            int c = i % clusters;
            return centres[c].Select(v => (float)(v + G() * spread[c] / Math.Sqrt(dim) * 3)).ToArray();
        }).ToArray();
    }

    private static JsonElement RunPython(string python, string script, string input, string ours, string method)
    {
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { script, input, ours, "--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture), "--method", method }) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new GestaltLabException($"{python}: cannot run ({e.Message})", "install Debian packages python3 and python3-sklearn, or pass --python"); }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            if (p.ExitCode != 0)
                throw new GestaltLabException($"{script} failed (exit {p.ExitCode}): {stderr.Result.Trim().Split('\n').LastOrDefault()}", "install Debian package python3-sklearn");
            return JsonDocument.Parse(stdout.Result.Trim().Split('\n').Last()).RootElement.Clone();
        }
    }

    private static string? FindScript()
    {
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
        {
            string f = Path.Combine(d.FullName, "bench", "sklearn", "tsne_reference.py");
            if (File.Exists(f)) return f;
        }
        string beside = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "bench", "sklearn", "tsne_reference.py");
        return File.Exists(beside) ? Path.GetFullPath(beside) : null;
    }
}
