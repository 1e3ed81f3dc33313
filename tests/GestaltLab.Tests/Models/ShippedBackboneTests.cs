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
}
