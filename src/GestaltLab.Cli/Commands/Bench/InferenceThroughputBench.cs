using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using GestaltLab.Models;
using GestaltLab.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Cli;

/// <summary><c>gestaltlab bench inference</c>: images/s of one region net through TorchSharp and through its exported ONNX graph in ONNX Runtime.</summary>
internal sealed class InferenceThroughputBench : IBenchCommand
{
    public Command Create()
    {
        var size = new Option<int>("--size") { DefaultValueFactory = _ => 64, Description = "Input size." };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 16, Description = "First-stage width." };
        var convs = new Option<int>("--convs") { DefaultValueFactory = _ => 1, Description = "Convs per stage." };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 32, Description = "Batch size." };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 30, Description = "Timed batches." };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2, Description = "Threads for both engines." };
        var cmd = new Command("inference", "Region-net inference images/s: TorchSharp vs the exported ONNX graph in ONNX Runtime (also checks they agree).")
            { size, width, convs, batch, steps, threads };
        cmd.SetAction(p =>
        {
            TorchRuntime.EnsureLoaded();
            int t = p.GetValue(threads), b = p.GetValue(batch), n = p.GetValue(steps);
            torch.set_num_threads(t);
            torch.manual_seed(0);
            var cfg = new RegionNetConfig { InputSize = p.GetValue(size), Width = p.GetValue(width), Stages = 4, ConvsPerStage = p.GetValue(convs) };
            using var net = new RegionNet(cfg, 30);
            net.eval();
            var rng = new Random(0);
            var x = Enumerable.Range(0, b * 3 * cfg.InputSize * cfg.InputSize).Select(_ => (float)rng.NextDouble()).ToArray();
            float[] torchOut = [];
            double Time(Action a)
            {
                for (int i = 0; i < 3; i++) a();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) a();
                return (double)n * b / sw.Elapsed.TotalSeconds;
            }
            double ts = Time(() =>
            {
                using var noGrad = torch.no_grad();
                using var scope = torch.NewDisposeScope();
                torchOut = nn.functional.softmax(net.forward(torch.tensor(x, [b, 3, cfg.InputSize, cfg.InputSize])), 1).data<float>().ToArray();
            });
            using var options = new SessionOptions { IntraOpNumThreads = t, InterOpNumThreads = 1 };
            using var session = new InferenceSession(OnnxExporter.ExportRegion(net, "face"), options);
            float[] ortOut = [];
            double os = Time(() =>
            {
                using var result = session.Run([NamedOnnxValue.CreateFromTensor("face", new DenseTensor<float>(x, [b, 3, cfg.InputSize, cfg.InputSize]))]);
                ortOut = result.First(r => r.Name == "face_probabilities").AsTensor<float>().ToArray();
            });
            double diff = torchOut.Zip(ortOut, (a, c) => Math.Abs(a - c)).Max();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"TorchSharp {ts:F1} images/s, ONNX Runtime {os:F1} images/s (net {cfg.InputSize}px w{cfg.Width} c{cfg.ConvsPerStage}, batch {b}, {t} threads, {Environment.ProcessorCount} cores); max |Δp| {diff:E1}"));
            return 0;
        });
        return cmd;
    }
}
