using GestaltLab.Models;
using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Tests.Models;

/// <summary>A region net trains on channels-last tensors on the CPU; it must compute the same function as in NCHW.</summary>
public class TrainingLayoutTests
{
    private static float[] Values(Tensor t) => t.detach().contiguous().data<float>().ToArray();

    [Fact]
    public void A_training_batch_gets_channels_last_strides_and_keeps_its_values()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        var x = torch.rand([2, 3, 5, 4], generator: new Generator(2));
        var y = RegionNet.ChannelsLastOnCpu(x);
        Assert.Equal(x.shape, y.shape);
        // N·H·W·C storage: the channel is the fastest-moving index, then the column, then the row.
        Assert.Equal(new long[] { 5 * 4 * 3, 1, 4 * 3, 3 }, y.stride());
        Assert.Equal(Values(x), Values(y));
        // A gray batch too: contiguous in both layouts, it must be marked channels-last (channel stride 1) or libtorch
        // trains it on its NCHW kernels, whose first backward pass gave NaN gradients on AVX-512 CPUs.
        var gray = torch.rand([2, 1, 5, 4], generator: new Generator(3));
        var g = RegionNet.ChannelsLastOnCpu(gray);
        Assert.Equal(new long[] { 5 * 4, 1, 4, 1 }, g.stride());
        Assert.Equal(Values(gray), Values(g));
        using var conv = nn.Conv2d(1, 4, 3, padding: 1, bias: false);
        var map = conv.forward(g);
        Assert.Equal(1, map.stride(1));   // the convolution's output is channels-last: the layout carries through the net
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(3, 2)]
    [InlineData(1, 1)]
    public void Training_forward_equals_the_nchw_forward_and_gives_gradients(int channels, int convsPerStage)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        lock (RegionNet.InitGate)
        {
            torch.manual_seed(11);
            using var net = new RegionNet(new RegionNetConfig { InputSize = 32, Width = 4, Stages = 3, ConvsPerStage = convsPerStage, Channels = channels }, 5);
            net.train();
            var x = torch.rand([6, channels, 32, 32], generator: new Generator(4));
            // Train mode both times (batch statistics); without autograd the net keeps the input's NCHW layout.
            var logits = net.forward(x);
            float[] nchw;
            using (torch.no_grad()) nchw = Values(net.forward(x));
            float[] channelsLast = Values(logits);
            Assert.Equal(nchw.Length, channelsLast.Length);
            for (int i = 0; i < nchw.Length; i++)
                Assert.True(Math.Abs(nchw[i] - channelsLast[i]) <= 1e-4f * (1 + Math.Abs(nchw[i])), $"logit {i}: {channelsLast[i]} vs NCHW {nchw[i]}");
            // The gradients reach every parameter, in the parameters' own shapes.
            logits.sum().backward();
            foreach (var (name, p) in net.named_parameters())
            {
                Assert.NotNull(p.grad);
                Assert.Equal(p.shape, p.grad!.shape);
                Assert.True(Values(p.grad).All(float.IsFinite), name);
            }
        }
    }
}
