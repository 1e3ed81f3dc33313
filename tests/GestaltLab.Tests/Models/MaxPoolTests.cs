using GestaltLab.Models;
using GestaltLab.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Tests.Models;

public class MaxPoolTests
{
    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    public static TheoryData<string> Inputs => new() { "continuous", "many ties", "after relu", "signed zeros", "nan", "odd size" };

    private static Tensor Input(string kind)
    {
        var g = new Generator(7);
        var x = torch.randn([3, 5, 12, 10], generator: g);
        // Explicit Scalars, held for the calls (an implicit one can be freed by the GC mid-call; see HeldScalars).
        using Scalar two = 2.ToScalar(), three = 3.ToScalar(), zero = 0.ToScalar();
        switch (kind)
        {
            case "many ties": return x.mul(two).round();                 // small integers: most windows hold equal maxima
            case "after relu": return x.mul(three).round().relu();         // what RegionNet pools: whole windows of zeros
            case "signed zeros": return torch.where(x.gt(zero), torch.tensor(0f), torch.tensor(-0f));
            case "nan":
                x[0, 0, 0, 0] = torch.tensor(float.NaN); x[1, 2, 5, 7] = torch.tensor(float.NaN); x[2, 4, 11, 9] = torch.tensor(float.NaN);
                return x;
            case "odd size": return torch.randn([2, 3, 9, 7], generator: g);
            default: return x;
        }
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Inference_gives_libtorchs_values(string kind)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        var input = Input(kind);
        using var pool = new MaxPool2x2();
        using var _ = torch.no_grad();
        var expected = nn.functional.max_pool2d(input, 2);
        var actual = pool.forward(input);
        Assert.Equal(expected.shape, actual.shape);
        // Equal as numbers (−0 == +0), NaN where libtorch has NaN.
        Assert.Equal(Values(expected), Values(actual));
        if (kind is "continuous" or "odd size")
            Assert.Equal(Values(expected).Select(BitConverter.SingleToInt32Bits), Values(actual).Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Training_keeps_libtorchs_kernel_and_its_gradients()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        var input = Input("many ties");
        using var pool = new MaxPool2x2();
        var gradOut = torch.randn(nn.functional.max_pool2d(input, 2).shape, generator: new Generator(3));
        var a = input.clone().requires_grad_(true);
        nn.functional.max_pool2d(a, 2).backward([gradOut]);
        var b = input.clone().requires_grad_(true);
        pool.forward(b).backward([gradOut]);
        Assert.Equal(Values(a.grad!).Select(BitConverter.SingleToInt32Bits), Values(b.grad!).Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Region_net_gives_the_same_probabilities_with_and_without_autograd()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = torch.NewDisposeScope();   // holds every tensor made here through the libtorch calls that read it
        lock (RegionNet.InitGate)
        {
            torch.manual_seed(5);
            using var net = new RegionNet(new RegionNetConfig { InputSize = 32, Width = 4, Stages = 3, ConvsPerStage = 1 }, 6);
            net.eval();
            var x = torch.rand([4, 3, 32, 32], generator: new Generator(9));
            var withGrad = Values(nn.functional.softmax(net.forward(x), 1).detach());
            float[] noGrad;
            using (torch.no_grad()) noGrad = Values(nn.functional.softmax(net.forward(x), 1));
            Assert.Equal(withGrad, noGrad);
        }
    }
}
