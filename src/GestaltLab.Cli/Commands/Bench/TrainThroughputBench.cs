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
/// random in-memory batches (no data loading), for comparison with bench/pytorch/train_throughput.py (same net, batch, threads;
/// its --channels-last for the layout <see cref="RegionNet"/> trains in on the CPU).
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
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 30, Description = "Steps per timed block (after 10 warm-up steps)." };
        var repeats = new Option<int>("--repeats") { DefaultValueFactory = _ => 5, Description = "Timed blocks; the median block is reported." };
        var optimizer = new Option<string>("--optimizer")
        {
            DefaultValueFactory = _ => "gestaltlab",
            Description = "gestaltlab: the AdamW RegionTrainer uses (named state for checkpoints); torch: TorchSharp's torch.optim.AdamW.",
        }.AcceptOnlyFromAmong("gestaltlab", "torch");
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2, Description = "Torch threads." };
        var cmd = new Command("train-throughput", "Training images/s of the region net (compare: python3 bench/pytorch/train_throughput.py with the same flags).")
            { size, width, stages, convs, batch, classes, steps, repeats, optimizer, threads };
        cmd.SetAction(p =>
        {
            TorchRuntime.EnsureLoaded();
            torch.set_num_threads(p.GetValue(threads));
            torch.manual_seed(0);
            var cfg = new RegionNetConfig { InputSize = p.GetValue(size), Width = p.GetValue(width), Stages = p.GetValue(stages), ConvsPerStage = p.GetValue(convs) };
            int b = p.GetValue(batch), c = p.GetValue(classes), n = p.GetValue(steps);
            using var net = new RegionNet(cfg, c);
            net.train();
            bool own = p.GetValue(optimizer) == "gestaltlab";
            using var ownAdam = own ? new AdamW(net.named_parameters(), 0.01) : null;
            // TorchSharp's own optimiser converts its numbers to Scalars implicitly (see HeldScalars): a bench of its speed only.
            using var torchAdam = own ? null : torch.optim.AdamW(net.parameters(), 1e-3);
            using var x = torch.rand(b, 3, cfg.InputSize, cfg.InputSize);
            using var y = torch.randint(0, c, [b], dtype: ScalarType.Int64);
            void Step()
            {
                using var scope = torch.NewDisposeScope();
                net.zero_grad();
                var loss = nn.functional.cross_entropy(net.forward(x), y);
                loss.backward();
                if (ownAdam is not null) ownAdam.Step(1e-3, 1.0); else torchAdam!.step();
            }
            for (int i = 0; i < 10; i++) Step();
            // Median of several timed blocks: a shared VM's stalls hit single blocks, not the median.
            var blocks = new List<double>();
            for (int r = 0; r < Math.Max(1, p.GetValue(repeats)); r++)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < n; i++) Step();
                blocks.Add((double)n * b / sw.Elapsed.TotalSeconds);
            }
            double ips = blocks.Order().ElementAt(blocks.Count / 2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"TorchSharp {typeof(torch).Assembly.GetName().Version}: {ips:F1} images/s median of {blocks.Count} blocks of {n} steps [{string.Join(", ", blocks.Select(v => v.ToString("F0", CultureInfo.InvariantCulture)))}] (net {cfg.InputSize}px w{cfg.Width} s{cfg.Stages} c{cfg.ConvsPerStage}, batch {b}, {torch.get_num_threads()} threads, {Environment.ProcessorCount} cores, {p.GetValue(optimizer)} AdamW, channels-last as in training)"));
            return 0;
        });
        return cmd;
    }
}
