using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GestaltLab.Models;

/// <summary>
/// 2-D batch normalisation with PyTorch's state names (<c>weight</c>, <c>bias</c>, <c>running_mean</c>, <c>running_var</c>,
/// <c>num_batches_tracked</c>) and its default momentum 0.1 and eps 1e-5.
/// </summary>
/// <remarks>
/// Why not TorchSharp's <c>BatchNorm2d</c>: its training step calls <c>num_batches_tracked.add_(1)</c>, which converts
/// <c>1</c> (and a default <c>alpha</c>) into temporary <see cref="Scalar"/> objects whose native handles can be freed by the
/// GC finaliser while libtorch still reads them. Long trainings then failed at random with "For integral input tensors,
/// argument alpha must not be a floating point number" (the dangling handle had been reused by a float Scalar). Here both
/// are <see cref="HeldScalars.One"/>, which nothing can finalise mid-call.
/// </remarks>
public sealed class StableBatchNorm2d : Module<Tensor, Tensor>
{
    private const double Momentum = 0.1, Eps = 1e-5;

    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Tensor running_mean;
    private readonly Tensor running_var;
    private readonly Tensor num_batches_tracked;

    /// <summary>A batch norm over <paramref name="features"/> channels, initialised like PyTorch's (γ = 1, β = 0).</summary>
    public StableBatchNorm2d(long features) : base(nameof(StableBatchNorm2d))
    {
        weight = new Parameter(torch.ones(features));
        bias = new Parameter(torch.zeros(features));
        running_mean = torch.zeros(features);
        running_var = torch.ones(features);
        num_batches_tracked = torch.tensor(0L);
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(bias), bias);
        register_buffer(nameof(running_mean), running_mean);
        register_buffer(nameof(running_var), running_var);
        register_buffer(nameof(num_batches_tracked), num_batches_tracked);
        // Built inside a caller's dispose scope, its tensors would be freed when that scope ends: the layer owns them.
        foreach (var t in new[] { weight, bias, running_mean, running_var, num_batches_tracked }) t.DetachFromDisposeScope();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4) throw new ArgumentException($"expected a 4-D input (N×C×H×W), got {input.dim()}-D");
        if (training)
        {
            using var noGrad = torch.no_grad();
            num_batches_tracked.add_(HeldScalars.One, HeldScalars.One);
        }
        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, Momentum, Eps);
    }
}
