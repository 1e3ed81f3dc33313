using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>
/// 2×2 max pooling with stride 2: libtorch's <c>nn.functional.max_pool2d(x, 2)</c> where a gradient is needed, and the
/// same values computed faster on the CPU where none is (evaluation, prediction, embedding passes).
/// </summary>
/// <remarks>
/// Why: libtorch 2.10's CPU max pooling (NCHW) is a scalar loop that also records argmax indices when no gradient is
/// wanted; in an inference pass of a region net it took more time than all four convolutions (≈ 18 of 30 ms for a batch
/// of 32 at 64 px on one thread). Elementwise maxima over the four strided views of the windows are vectorised (≈ 20×
/// faster). They give the same values, NaN included, except that a window whose maximum is zero may yield −0 where
/// libtorch yields +0 or the reverse: equal values, which change no non-zero number downstream. Training keeps libtorch's
/// kernel: its index bookkeeping is what routes gradients, and emulating its tie rule elementwise was slower than the
/// kernel (measured). Odd sizes and non-CPU tensors also take libtorch's kernel.
/// </remarks>
internal sealed class MaxPool2x2 : nn.Module<Tensor, Tensor>
{
    private static readonly TensorIndex Even = TensorIndex.Slice(0, null, 2), Odd = TensorIndex.Slice(1, null, 2);

    public MaxPool2x2() : base(nameof(MaxPool2x2)) { }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if ((input.requires_grad && torch.is_grad_enabled()) || input.dim() != 4 || input.device_type != DeviceType.CPU
            || input.shape[2] % 2 != 0 || input.shape[3] % 2 != 0)
            return nn.functional.max_pool2d(input, 2);
        using var scope = torch.NewDisposeScope();
        var top = torch.maximum(input[.., .., Even, Even], input[.., .., Even, Odd]);
        var bottom = torch.maximum(input[.., .., Odd, Even], input[.., .., Odd, Odd]);
        return torch.maximum(top, bottom).MoveToOuterDisposeScope();
    }
}
