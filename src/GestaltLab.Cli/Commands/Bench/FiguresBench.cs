using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Figures;
using GestaltLab.Runtime;
using GestaltLab.Models;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab bench figures</c>: how long the report and the static export take at the paper's scale (216 classes,
/// 502 test images). The run directory it reports on is computed, not invented: a Gaussian mixture of 216 classes in a
/// 48-D "trait" space, three "regions" of 16 dimensions each with a softmax regression trained by SGD (whose epochs
/// are the training curves), the ensemble = mean of region softmaxes, embeddings = concatenated region logits.
/// </summary>
internal sealed class FiguresBench : IBenchCommand
{
    public Command Create()
    {
        var classes = new Option<int>("--classes") { Description = "Classes.", DefaultValueFactory = _ => 216 };
        var images = new Option<int>("--images") { Description = "Test images.", DefaultValueFactory = _ => 502 };
        var output = new Option<string>("--out") { Description = "Folder for the run directory, report and exported figures.", Required = true };
        var export = new Option<bool>("--export") { Description = "Also export every figure as SVG and PNG (183 mm, 300 dpi) and time it." };
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("figures", "Report and static-export time at paper scale (216 classes, 502 test images).") { classes, images, output, export, seed };
        cmd.SetAction(async (p, ct) =>
        {
            Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, {DateTime.UtcNow:yyyy-MM-dd}");
            string dir = Path.GetFullPath(p.GetValue(output)!);
            string run = Path.Combine(dir, "run");
            var sw = Stopwatch.StartNew();
            WriteRun(run, p.GetValue(classes), p.GetValue(images), p.GetValue(seed));
            Console.WriteLine($"computed run directory ({p.GetValue(classes)} classes, {p.GetValue(images)} test images): {sw.Elapsed.TotalSeconds:F1} s → {run}");
            sw.Restart();
            var result = Report.Write(run, null, new ReportOptions { Seed = p.GetValue(seed) }, null, ct);
            Console.WriteLine($"report: {sw.Elapsed.TotalSeconds:F1} s, {result.ChartCount} charts, {new FileInfo(result.Path).Length / 1e6:F1} MB → {result.Path}");
            if (!p.GetValue(export)) return 0;
            sw.Restart();
            await using var browser = await HeadlessBrowser.LaunchAsync(cancellationToken: ct);
            Console.WriteLine($"browser launch: {sw.Elapsed.TotalSeconds:F1} s ({browser.Executable})");
            sw.Restart();
            var check = await browser.CheckPageAsync(result.Path, cancellationToken: ct);
            Console.WriteLine($"report opened and rendered: {sw.Elapsed.TotalSeconds:F1} s ({check.RenderedCharts}/{check.ChartCount} charts, {check.ConsoleErrors.Count} console errors)");
            // The figures of the report above (same seed and bootstrap), through export's renderer at one fixed size (113 mm high).
            var content = Report.Build(RunResults.Load(run), new ReportOptions { Seed = p.GetValue(seed) }, null, ct);
            var size = FigureSize.DoubleColumn(113);
            sw.Restart();
            foreach (var chart in content.Charts)
                foreach (var ext in new[] { ".svg", ".png" })
                    await FigureExport.SaveAsync(chart.Chart, Path.Combine(dir, "figures", chart.Name + ext), size, null, browser, ct);
            Console.WriteLine($"static export: {content.Charts.Count} figures × (SVG + PNG {size.PixelWidth}×{size.PixelHeight}) in {sw.Elapsed.TotalSeconds:F1} s " +
                              $"({sw.Elapsed.TotalSeconds / (2 * content.Charts.Count):F2} s per file) → {Path.Combine(dir, "figures")}");
            return check.Ok ? 0 : 1;
        });
        return cmd;
    }

    private static readonly string[] Regions = ["eyes", "nose", "mouth"];

    internal static void WriteRun(string dir, int classCount, int testImages, int seed)
    {
        Directory.CreateDirectory(Path.Combine(dir, "curves"));
        var rng = new Random(seed);
        double G() => rng.NextGaussian();
        const int dim = 48, trainPerClass = 16;
        var names = Enumerable.Range(0, classCount).Select(c => c == classCount - 1 ? Manifest.Unaffected : $"SYN{c + 1:D3}").ToArray();
        // Syndromes come in families (shared traits): every 4th class shifts a family core by a smaller amount.
        var centres = new double[classCount][];
        for (int c = 0; c < classCount; c++)
            centres[c] = c % 4 != 0 && c > 0 ? centres[c - c % 4].Select(v => v + G() * 0.3).ToArray() : Enumerable.Range(0, dim).Select(_ => G() * 0.6).ToArray();
        const double noise = 0.9;
        float[] Draw(int c) => centres[c].Select(v => (float)(v + G() * noise)).ToArray();
        var trainX = new List<float[]>();
        var trainY = new List<int>();
        for (int c = 0; c < classCount; c++)
            for (int i = 0; i < trainPerClass; i++) { trainX.Add(Draw(c)); trainY.Add(c); }
        var testY = Enumerable.Range(0, testImages).Select(i => i < classCount ? i : rng.Next(classCount)).ToArray();
        var testX = testY.Select(Draw).ToArray();
        var valY = Enumerable.Range(0, Math.Min(testImages, 2 * classCount)).Select(i => i % classCount).ToArray();
        var valX = valY.Select(Draw).ToArray();

        var regionProbs = new List<float[][]>();
        var regionLogits = new List<float[][]>();
        for (int r = 0; r < Regions.Length; r++)
        {
            int off = r * dim / Regions.Length, width = dim / Regions.Length;
            var w = new double[classCount, width + 1];
            var order = Enumerable.Range(0, trainX.Count).ToArray();
            var curve = new List<string[]>();
            for (int epoch = 1; epoch <= 8; epoch++)
            {
                rng.Shuffle(order);
                foreach (int i in order)
                {
                    var pr = Calibration.Softmax(Logits(trainX[i], w, off, width));
                    for (int k = 0; k < classCount; k++)
                    {
                        double g = pr[k] - (trainY[i] == k ? 1 : 0);
                        if (Math.Abs(g) < 1e-4) continue;
                        for (int j = 0; j < width; j++) w[k, j] -= 0.05 * g * trainX[i][off + j];
                        w[k, width] -= 0.05 * g;
                    }
                }
                var trP = trainX.Select(x => Calibration.Softmax(Logits(x, w, off, width))).ToArray();
                var vaP = valX.Select(x => Calibration.Softmax(Logits(x, w, off, width))).ToArray();
                curve.Add([epoch.ToString(CultureInfo.InvariantCulture), Csv.Format(Metrics.LogLoss(trainY, trP)), Csv.Format(Metrics.TopK(trainY, trP, 1)),
                    Csv.Format(Metrics.LogLoss(valY, vaP)), Csv.Format(Metrics.TopK(valY, vaP, 1))]);
            }
            Csv.Write(Path.Combine(dir, "curves", Regions[r] + ".csv"), ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"], curve);
            var logits = testX.Select(x => Logits(x, w, off, width)).ToArray();
            regionLogits.Add(logits);
            regionProbs.Add(logits.Select(z => Calibration.Softmax(z)).ToArray());
        }
        var ensemble = Enumerable.Range(0, testImages).Select(i =>
            Enumerable.Range(0, classCount).Select(k => regionProbs.Sum(rp => rp[i][k]) / Regions.Length).ToArray()).ToArray();
        string Img(int i) => $"test/{i:D4}.png";
        string Subj(int i) => $"subject{i:D4}";
        File.WriteAllText(Path.Combine(dir, "classes.json"), JsonSerializer.Serialize(names));
        Csv.Write(Path.Combine(dir, "probabilities.csv"), new[] { "image", "subject", "true" }.Concat(names).ToArray(),
            Enumerable.Range(0, testImages).Select(i => new[] { Img(i), Subj(i), names[testY[i]] }.Concat(ensemble[i].Select(v => Csv.Format(v))).ToArray()));
        Csv.Write(Path.Combine(dir, "embeddings.csv"),
            new[] { "image", "subject", "true" }.Concat(Enumerable.Range(0, Regions.Length * classCount).Select(d => "e" + d)).ToArray(),
            Enumerable.Range(0, testImages).Select(i => new[] { Img(i), Subj(i), names[testY[i]] }
                .Concat(regionLogits.SelectMany(l => l[i]).Select(v => Csv.Format(v))).ToArray()));
        RegionScore.WriteCsv(Path.Combine(dir, "region_metrics.csv"),
            Regions.Select((name, r) => RegionScore.Of(name, testY, regionProbs[r])).Append(RegionScore.Of("ensemble", testY, ensemble)));
        // The mixture's own Bayes classifier (true centres, all 48 dimensions) is this data's oracle ceiling.
        var oracleP = testX.Select(x => Calibration.Softmax(centres.Select(c => (float)(-c.Select((v, j) => (v - x[j]) * (v - x[j])).Sum() / (2 * noise * noise))).ToArray())).ToArray();
        var oracle = new OracleFigures { Top1 = Metrics.TopK(testY, oracleP, 1), Top5 = Metrics.TopK(testY, oracleP, 5), Top10 = Metrics.TopK(testY, oracleP, 10), NTest = testImages };
        ClassificationMetrics.Compute(testY, ensemble, classCount, oracle).Save(Path.Combine(dir, "metrics.json"));
        new RunManifest { Command = "gestaltlab bench figures", Seed = seed, Config = new JsonObject { ["classes"] = classCount, ["test_images"] = testImages, ["regions"] = string.Join(",", Regions) } }.Save(dir);
    }

    private static float[] Logits(float[] x, double[,] w, int off, int width)
    {
        int c = w.GetLength(0);
        var z = new float[c];
        for (int k = 0; k < c; k++)
        {
            double s = w[k, width];
            for (int j = 0; j < width; j++) s += w[k, j] * x[off + j];
            z[k] = (float)s;
        }
        return z;
    }

}
