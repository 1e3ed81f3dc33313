using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>
/// AdamW written out over named parameters, so its state (moments, step) is saved in checkpoints by name and training
/// resumes bit-identically. Parameters of the classifier head get the full learning rate; the rest get
/// <c>lr × backboneFactor</c> (smaller steps for pretrained layers when fine-tuning). Public so benchmarks can time the
/// optimiser training uses (<c>gestaltlab bench train-throughput</c>).
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly List<(string Name, Tensor P, Tensor M, Tensor V)> _state = [];
    private readonly double _weightDecay;
    private long _step;
    private const double Beta1 = 0.9, Beta2 = 0.999, Eps = 1e-8;

    /// <summary>An optimiser over <paramref name="parameters"/> (named as in the module's state dict), moments at zero.</summary>
    /// <param name="parameters">The parameters to update, with their state-dict names.</param>
    /// <param name="weightDecay">Decoupled weight decay, applied to weights (not biases or batch-norm scales).</param>
    public AdamW(IEnumerable<(string name, TorchSharp.Modules.Parameter parameter)> parameters, double weightDecay)
    {
        _weightDecay = weightDecay;
        foreach (var (name, p) in parameters)
            _state.Add((name, p, torch.zeros_like(p).DetachFromDisposeScope(), torch.zeros_like(p).DetachFromDisposeScope()));
    }

    // Every Scalar handed to libtorch is explicit, default alphas included (see HeldScalars).
    private static readonly Scalar B1 = Beta1.ToScalar(), OneMinusB1 = (1 - Beta1).ToScalar(), B2 = Beta2.ToScalar(),
        OneMinusB2 = (1 - Beta2).ToScalar(), EpsScalar = Eps.ToScalar();

    /// <summary>One update from the parameters' current gradients.</summary>
    /// <param name="lr">Learning rate of the classifier head.</param>
    /// <param name="backboneFactor">Multiplier of <paramref name="lr"/> for every other parameter.</param>
    public void Step(double lr, double backboneFactor)
    {
        _step++;
        double c1 = 1 - Math.Pow(Beta1, _step), c2 = 1 - Math.Pow(Beta2, _step);
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var c2s = c2.ToScalar();
        foreach (var (name, p, m, v) in _state)
        {
            var g = p.grad;
            if (g is null) continue;
            double rate = RegionNet.IsHead(name) ? lr : lr * backboneFactor;
            // Decoupled decay on weights only (not biases or batch-norm scales).
            if (p.dim() > 1 && _weightDecay > 0)
            {
                using var decay = (1 - rate * _weightDecay).ToScalar();
                p.mul_(decay);
            }
            using var step = (-rate / c1).ToScalar();
            m.mul_(B1).add_(g, OneMinusB1);
            v.mul_(B2).addcmul_(g, g, OneMinusB2);
            var denom = v.div(c2s).sqrt_().add_(EpsScalar, HeldScalars.One);
            p.addcdiv_(m, denom, step);
        }
    }

    /// <summary>The optimiser state as named tensors (step count and both moments), for checkpoints.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> State()
    {
        yield return new("adam.step", torch.tensor(new[] { _step }));
        foreach (var (name, _, m, v) in _state)
        {
            yield return new("adam.m." + name, m);
            yield return new("adam.v." + name, v);
        }
    }

    /// <summary>Restores the state <see cref="State"/> saved; <paramref name="source"/> names the checkpoint in errors.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> tensors, string source)
    {
        using var noGrad = torch.no_grad();
        if (!tensors.TryGetValue("adam.step", out var step)) throw new Runtime.GestaltLabException($"{source}: no optimiser state in checkpoint");
        _step = step.item<long>();
        foreach (var (name, _, m, v) in _state)
        {
            if (!tensors.TryGetValue("adam.m." + name, out var tm) || !tensors.TryGetValue("adam.v." + name, out var tv))
                throw new Runtime.GestaltLabException($"{source}: checkpoint lacks optimiser state for '{name}'", "delete the checkpoint folder to start over");
            m.copy_(tm);
            v.copy_(tv);
        }
    }

    /// <summary>Frees the moment tensors.</summary>
    public void Dispose()
    {
        foreach (var (_, _, m, v) in _state) { m.Dispose(); v.Dispose(); }
        _state.Clear();
    }
}
