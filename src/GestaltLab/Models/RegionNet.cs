using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GestaltLab.Models;

/// <summary>
/// One facial region's network (see <see cref="RegionNetConfig"/>): input <c>N×C×S×S</c> in [0, 1], output class logits.
/// <see cref="Embed"/> gives the penultimate-layer embedding (global average pool), used for t-SNE and face-space matching.
/// Parameter names (<c>features.conv{s}_{c}.weight</c>, <c>features.bn{s}_{c}.*</c>, <c>embed.*</c> with flatten pooling,
/// <c>fc.*</c>) are stable: checkpoints,
/// pretrained backbones and the ONNX exporter rely on them. Device-agnostic: move it with <c>to(device)</c>.
/// </summary>
public sealed class RegionNet : Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly Linear? embed;
    private readonly Linear fc;

    /// <summary>A freshly initialised net (PyTorch's default initialisers; call <c>torch.manual_seed</c> first for reproducibility).</summary>
    public RegionNet(RegionNetConfig config, int classCount) : base(nameof(RegionNet))
    {
        Config = config.Validate();
        if (classCount < 1) throw new ArgumentOutOfRangeException(nameof(classCount));
        ClassCount = classCount;
        // Initialisers draw from torch's process-global generator: under the gate, a net built on another thread (a
        // model loaded in a notebook, a test) cannot take draws from between a seeded training's manual_seed and its net.
        lock (InitGate)
        {
            var layers = new List<(string, Module<Tensor, Tensor>)>();
            long inC = config.Channels;
            for (int s = 0; s < config.Stages; s++)
            {
                long w = config.StageWidth(s);
                for (int c = 0; c < config.ConvsPerStage; c++)
                {
                    layers.Add(($"conv{s}_{c}", Conv2d(inC, w, 3, padding: 1, bias: false)));
                    layers.Add(($"bn{s}_{c}", new StableBatchNorm2d(w)));
                    layers.Add(($"relu{s}_{c}", ReLU()));
                    inC = w;
                }
                layers.Add(($"pool{s}", new MaxPool2x2()));
            }
            features = Sequential(layers);
            if (config.Pooling == RegionNetConfig.PoolingFlatten)
            {
                long map = config.FinalMapSize;
                embed = Linear(inC * map * map, config.FlattenEmbeddingSize);
                inC = config.FlattenEmbeddingSize;
            }
            fc = Linear(inC, classCount);
        }
        RegisterComponents();
        // A net built while a dispose scope is active (a caller's `using (torch.NewDisposeScope())`, a notebook cell that
        // loads a model inside one) would otherwise have its weights freed when that scope ends; it owns them itself.
        foreach (var p in parameters()) p.DetachFromDisposeScope();
        foreach (var b in buffers()) b.DetachFromDisposeScope();
    }

    /// <summary>
    /// Held while anything seeds torch's global generator and draws initial weights from it (re-entrant: the
    /// constructor takes it too). Seed and build under it to get reproducible weights while other threads build nets.
    /// </summary>
    internal static readonly object InitGate = new();

    /// <summary>The architecture.</summary>
    public RegionNetConfig Config { get; }
    /// <summary>Outputs of the classifier.</summary>
    public int ClassCount { get; }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => fc.forward(Embed(input));

    /// <summary>The penultimate-layer embedding, <c>N × EmbeddingSize</c>.</summary>
    public Tensor Embed(Tensor input)
    {
        var map = features.forward(training && torch.is_grad_enabled() ? ChannelsLastOnCpu(input) : input);
        return embed is null ? map.mean([2L, 3L]) : nn.functional.relu(embed.forward(map.flatten(1)));
    }

    // Training on the CPU: the same logical N×C×H×W batch with channels-last strides. libtorch gives a convolution's
    // output its input's layout, so every convolution, batch norm and pooling of the net, forward and backward, runs on the
    // channels-last kernels, ≈ 20 % faster for 1-conv-per-stage nets such as the demo's and ≈ 2 % with 2 (docs/benchmarks.md,
    // "Thirtieth session"); its NCHW max pooling is a scalar loop. Inference keeps NCHW, where the layout gains nothing
    // (MaxPool2x2's own pooling), so a trained model's predictions do not depend on it.
    // A one-channel (gray) batch is contiguous in both layouts, so permuting and copying leaves its NCHW strides, which
    // libtorch reads as NCHW: gray nets then trained on oneDNN's blocked NCHW kernels, whose first backward pass in a
    // process gave NaN gradients about one time in four on an AVX-512 CPU (stage widths below 16 are padded to 16 there;
    // docs/learning.md, "Gray nets and NaN gradients"). The channel stride set to 1 marks the same memory channels-last.
    internal static Tensor ChannelsLastOnCpu(Tensor input)
    {
        if (input.dim() != 4 || input.device_type != DeviceType.CPU) return input;
        if (input.shape[1] != 1) return input.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        long h = input.shape[2], w = input.shape[3];
        return input.contiguous().as_strided(input.shape, [h * w, 1, w, 1]);
    }

    /// <summary>Logits from an embedding.</summary>
    public Tensor Classify(Tensor embedding) => fc.forward(embedding);

    /// <summary>True for parameters of the classifier head (replaced when a pretrained backbone is fine-tuned).</summary>
    public static bool IsHead(string parameterName) => parameterName.StartsWith("fc.", StringComparison.Ordinal);

    /// <summary>Name prefix of stage <paramref name="s"/>'s layers (for freezing early stages).</summary>
    public static bool InStage(string parameterName, int s) =>
        parameterName.StartsWith($"features.conv{s}_", StringComparison.Ordinal) || parameterName.StartsWith($"features.bn{s}_", StringComparison.Ordinal);
}
