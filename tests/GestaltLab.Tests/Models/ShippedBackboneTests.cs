using GestaltLab.Models;

namespace GestaltLab.Tests.Models;

public class ShippedBackboneTests
{
    [Fact]
    public void Shipped_backbone_is_embedded_and_fits_the_demo_net()
    {
        string? path = ShippedBackbone.Path();
        Assert.NotNull(path);
        var (config, weights) = Pretraining.LoadBackbone(path!);
        try
        {
            Assert.Equal(TrainConfig.Demo.Net, config);
            Assert.DoesNotContain(weights.Keys, RegionNet.IsHead);
            using var net = new RegionNet(config, 5);
            WeightsFile.CopyInto(net, weights, path!, RegionNet.IsHead);
            // Pretrained, not random: batch-norm running statistics moved away from their initial values.
            Assert.Contains(weights, kv => kv.Key.EndsWith("running_var", StringComparison.Ordinal) && Math.Abs(kv.Value.mean().item<float>() - 1f) > 1e-3);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    [Fact]
    public void Train_without_a_config_takes_the_backbones_shape_even_from_scratch()
    {
        // `train --from-scratch` without --config is compared with the default run: the same nets, random weights.
        string shipped = ShippedBackbone.Path()!;
        var placeholder = new TrainConfig();
        Assert.NotEqual(TrainConfig.Demo.Net.ConvsPerStage, placeholder.Net.ConvsPerStage); // else this shows nothing
        var taken = GestaltLab.Cli.ModelCli.WithBackboneShape(placeholder, Pretraining.ReadBackboneConfig(shipped));
        Assert.Equal(TrainConfig.Demo.Net with { InputSize = placeholder.Net.InputSize }, taken.Net);
        Assert.Equal(placeholder.Training, taken.Training);
        Assert.Same(placeholder, GestaltLab.Cli.ModelCli.WithBackboneShape(placeholder, null));
    }

    [Theory]
    [InlineData("backbone.pt", "pretrain-config.json")]
    [InlineData("backbone-identity.pt", "pretrain-config-identity.json")]
    [InlineData("backbone-w32.pt", "pretrain-config-w32.json")]
    public void Every_backbone_in_data_pretrained_loads_with_the_net_of_its_config(string backbone, string configFile)
    {
        string dir = TestTemp.RepoFile("data/pretrained");
        var (config, weights) = Pretraining.LoadBackbone(Path.Combine(dir, backbone));
        try
        {
            Assert.Equal(TrainConfig.Load(Path.Combine(dir, configFile)).Net, config);
            // Only the backbone: no classifier, and nothing of the trainer's auxiliary geometry head.
            Assert.DoesNotContain(weights.Keys, RegionNet.IsHead);
            using var net = new RegionNet(config, 3);
            Assert.Equal(net.state_dict().Keys.Where(k => !RegionNet.IsHead(k)).Order(), weights.Keys.Order());
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    [Fact]
    public void A_globally_pooled_backbone_fine_tunes_at_the_requested_input_size()
    {
        string path = ShippedBackbone.Path()!;
        var (backbone, weights) = Pretraining.LoadBackbone(path);
        try
        {
            // Same size: the config is the backbone's, no note.
            var (same, note) = Pretraining.FineTuneConfig(backbone, TrainConfig.Demo.Net);
            Assert.Equal(backbone, same);
            Assert.Null(note);

            // 96 px: the convolutions are size-agnostic, so the backbone's weights load into the larger net and it runs.
            var (large, why) = Pretraining.FineTuneConfig(backbone, new RegionNetConfig { InputSize = 96, Width = 32 });
            Assert.Equal(96, large.InputSize);
            Assert.Equal(backbone.Width, large.Width);
            Assert.Contains("96 px", why);
            // The note names each choice of the config that gave way (a gray or narrower net asked for), and the way to keep them.
            Assert.Contains($"width {backbone.Width} where the config asks 32", why);
            var (_, gray) = Pretraining.FineTuneConfig(backbone, backbone with { Channels = 1, Width = 8 });
            Assert.Contains($"channels {backbone.Channels} where the config asks 1, width {backbone.Width} where the config asks 8; --from-scratch", gray);
            // Only what the config names: a file without "net" asked for nothing, though its defaults differ from the
            // backbone (convs_per_stage 2 against 1); a default written out is asked for.
            Assert.NotEqual(new RegionNetConfig().ConvsPerStage, backbone.ConvsPerStage);
            string dir = TestTemp.Dir("netkeys");
            File.WriteAllText(Path.Combine(dir, "plain.json"), """{"training": {"epochs": 1}, "regions": ["face"]}""");
            File.WriteAllText(Path.Combine(dir, "convs.json"), """{"net": {"convs_per_stage": 2}}""");
            var plain = TrainConfig.Load(Path.Combine(dir, "plain.json"));
            Assert.Empty(plain.NetKeys!);
            var (_, quiet) = Pretraining.FineTuneConfig(backbone, plain.Net, namedKeys: plain.NetKeys);
            Assert.Equal("net architecture taken from the pretrained backbone", quiet);
            Assert.Equal(quiet, Pretraining.FineTuneConfig(backbone, plain.Net).Note);   // in code: defaults are not asked for either
            var convs = TrainConfig.Load(Path.Combine(dir, "convs.json"));
            Assert.Equal(["convs_per_stage"], convs.NetKeys!);
            Assert.EndsWith($": convs_per_stage {backbone.ConvsPerStage} where the config asks 2; --from-scratch trains the config's own net",
                Pretraining.FineTuneConfig(backbone, convs.Net, namedKeys: convs.NetKeys).Note);
            using var net = new RegionNet(large, 4);
            WeightsFile.CopyInto(net, weights, path, RegionNet.IsHead);
            net.eval();
            using var scope = TorchSharp.torch.NewDisposeScope();   // holds the forward pass's tensors through the calls that read them
            using var x = TorchSharp.torch.rand(2, large.Channels, 96, 96);
            using var y = net.forward(x);
            Assert.Equal(new long[] { 2, 4 }, y.shape);

            // A flatten backbone's embedding layer depends on the map size: it keeps its own.
            var flat = backbone with { Pooling = RegionNetConfig.PoolingFlatten };
            Assert.Equal(flat, Pretraining.FineTuneConfig(flat, large).Config);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }
}
