using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using GestaltLab.Models;
using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab bench train-throughput</c>: images/s of forward + backward + AdamW step of a <see cref="RegionNet"/> on
/// random in-memory batches (no data loading), for comparison with bench/pytorch/train_throughput.py (same net, batch, threads).
/// </summary>
internal sealed class TrainThroughputBench : IBenchCommand
{
    public Command Create()
    {
        var size = new Option<int>("--size") { DefaultValueFactory = _ => 64, Description = "Input size." };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 16, Description = "First-stage width." };
        var stages = new Option<int>("--stages") { DefaultValueFactory = _ => 4, Description = "Stages." };
        var convs = new Option<int>("--convs") { DefaultValueFactory = _ => 2, Description = "Convs per stage." };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 32, Description = "Batch size." };
        var classes = new Option<int>("--classes") { DefaultValueFactory = _ => 30, Description = "Classes." };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 30, Description = "Timed steps (after 5 warm-up steps)." };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2, Description = "Torch threads." };
        var cmd = new Command("train-throughput", "Training images/s of the region net (compare: python3 bench/pytorch/train_throughput.py with the same flags).")
            { size, width, stages, convs, batch, classes, steps, threads };
        cmd.SetAction(p =>
        {
            TorchRuntime.EnsureLoaded();
            torch.set_num_threads(p.GetValue(threads));
            torch.manual_seed(0);
            var cfg = new RegionNetConfig { InputSize = p.GetValue(size), Width = p.GetValue(width), Stages = p.GetValue(stages), ConvsPerStage = p.GetValue(convs) };
            int b = p.GetValue(batch), c = p.GetValue(classes), n = p.GetValue(steps);
            using var net = new RegionNet(cfg, c);
            net.train();
            var opt = torch.optim.AdamW(net.parameters(), 1e-3);
            using var x = torch.rand(b, 3, cfg.InputSize, cfg.InputSize);
            using var y = torch.randint(0, c, [b], dtype: ScalarType.Int64);
            void Step()
            {
                using var scope = torch.NewDisposeScope();
                opt.zero_grad();
                var loss = nn.functional.cross_entropy(net.forward(x), y);
                loss.backward();
                opt.step();
            }
            for (int i = 0; i < 5; i++) Step();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) Step();
            double ips = (double)n * b / sw.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"TorchSharp {typeof(torch).Assembly.GetName().Version}: {ips:F1} images/s (net {cfg.InputSize}px w{cfg.Width} s{cfg.Stages} c{cfg.ConvsPerStage}, batch {b}, {torch.get_num_threads()} threads, {Environment.ProcessorCount} cores)"));
            return 0;
        });
        return cmd;
    }
}
