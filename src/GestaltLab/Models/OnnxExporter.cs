using TorchSharp;
using static TorchSharp.torch;

namespace GestaltLab.Models;

/// <summary>
/// Writes <see cref="RegionNet"/>s as ONNX graphs (opset 13): every conv's batch norm is folded into its weights and bias
/// (exact in inference), a grayscale net gets the BT.601 luminance folded into its first conv so every exported graph takes
/// the RGB crops the ML.NET crop step produces (<c>N×3×S×S</c>, [0, 1]). Outputs are softmax probabilities and the
/// penultimate embedding. <see cref="ExportEnsemble"/> puts all region nets, the flip test-time augmentation (a flipped
/// left region is its mirror's crop, flipped) and the combination of the region softmaxes into one graph.
/// </summary>
public static class OnnxExporter
{
    private readonly record struct Layer(string Weight, string Bias, long Out);
    private readonly record struct NetWeights(Layer[] Convs, int[] PoolAfter, string? EmbedWeight, string? EmbedBias, string FcWeight, string FcBias, RegionNetConfig Config, int Classes);

    /// <summary>One region net alone: input <c>REGION</c>, outputs <c>REGION_probabilities</c> and <c>REGION_embedding</c>.</summary>
    public static byte[] ExportRegion(RegionNet net, string region)
    {
        var g = new OnnxGraph { Name = $"gestaltlab_{region}" };
        var w = AddWeights(g, net, region);
        int s = net.Config.InputSize;
        g.Input(region, null, 3, s, s);
        var (logits, emb) = AddForward(g, w, region, region);
        g.Node("Softmax", [logits], $"{region}_probabilities", ("axis", 1L));
        g.Node("Identity", [emb], $"{region}_embedding");
        g.Output($"{region}_probabilities", null, net.ClassCount);
        g.Output($"{region}_embedding", null, net.Config.EmbeddingSize);
        return g.ToModelBytes(docString: $"GestaltLab region net '{region}': {net.Config.ToJson()}");
    }

    /// <summary>
    /// The ensemble: inputs one RGB crop per region (mirrors included, named by region), outputs <c>probabilities</c> (the
    /// combination over regions of each region's TTA-averaged softmax), <c>embedding</c> (the regions' TTA-averaged embeddings,
    /// concatenated in region order) and <c>REGION_probabilities</c> per region.
    /// </summary>
    /// <param name="nets">Region name and net, in ensemble order (all with the same class count and input size).</param>
    /// <param name="mirrorOf">Region → the region that takes its place under a horizontal flip.</param>
    /// <param name="flipTta">Average each region over the original and the flipped face.</param>
    /// <param name="weights">Weight of each region, in <paramref name="nets"/> order; null = 1/R each.</param>
    /// <param name="combination"><see cref="Ensemble.EnsembleCombination.Average"/> (Σ w·p),
    /// <see cref="Ensemble.EnsembleCombination.LogLinear"/> (Softmax(Σ w·Log(Max(p, floor)))) or
    /// <see cref="Ensemble.EnsembleCombination.Joint"/> (Softmax(Gemm(embedding, W, b))).</param>
    /// <param name="jointHead">The joint head's <c>C × D</c> weights and <c>C</c> biases (for <see cref="Ensemble.EnsembleCombination.Joint"/> only).</param>
    /// <param name="classWeights">Class-prior factors (<see cref="Ensemble.ClassPriors.Weights"/>): the combination's distribution
    /// is multiplied by them and renormalised (Mul → ReduceSum → Div); null = equal priors.</param>
    public static byte[] ExportEnsemble(IReadOnlyList<(string Region, RegionNet Net)> nets, Func<string, string> mirrorOf, bool flipTta = true,
        IReadOnlyList<double>? weights = null, string combination = Ensemble.EnsembleCombination.Average, (float[] Weight, float[] Bias)? jointHead = null,
        float[]? classWeights = null)
    {
        combination = Ensemble.EnsembleCombination.Check(combination, "ONNX export");
        bool logLinear = combination == Ensemble.EnsembleCombination.LogLinear, joint = combination == Ensemble.EnsembleCombination.Joint;
        if (joint != jointHead.HasValue) throw new ArgumentException(joint ? "the joint combination needs the joint head" : "a joint head is only exported with the joint combination", nameof(jointHead));
        if (nets.Count == 0) throw new ArgumentException("no region nets", nameof(nets));
        if (weights is not null && weights.Count != nets.Count) throw new ArgumentException($"{weights.Count} weights for {nets.Count} regions", nameof(weights));
        int classes = nets[0].Net.ClassCount, s = nets[0].Net.Config.InputSize;
        if (classWeights is not null && classWeights.Length != classes) throw new ArgumentException($"{classWeights.Length} class weights for {classes} classes", nameof(classWeights));
        var g = new OnnxGraph { Name = "gestaltlab_ensemble" };
        // The combination's own output: "probabilities" itself, or the equal-prior distribution the priors reweight.
        string combinedName = classWeights is null ? "probabilities" : "equal_prior_probabilities";
        var inputs = nets.Select(n => n.Region).Concat(flipTta ? nets.Select(n => mirrorOf(n.Region)) : []).Distinct().ToList();
        foreach (var i in inputs) g.Input(i, null, 3, s, s);
        // Only with flip TTA: ONNX Runtime warns about every initializer no node reads, at each load of the model.
        string starts = "", ends = "", axes = "", steps = "", half = "";
        if (flipTta)
        {
            starts = g.Initializer("flip_starts", [-1L], 1);
            ends = g.Initializer("flip_ends", [long.MinValue], 1);
            axes = g.Initializer("flip_axes", [3L], 1);
            steps = g.Initializer("flip_steps", [-1L], 1);
            half = g.Initializer("half", [0.5f]);
        }
        string floor = logLinear ? g.Initializer("log_floor", [(float)Calibration.LogFloor]) : "";
        var flipped = new Dictionary<string, string>();
        string Flipped(string input) => flipped.TryGetValue(input, out var f) ? f
            : flipped[input] = g.Node("Slice", [input, starts, ends, axes, steps], $"{input}_flipped");

        var probs = new List<string>();
        var embs = new List<string>();
        foreach (var (region, net) in nets)
        {
            if (net.ClassCount != classes || net.Config.InputSize != s)
                throw new ArgumentException($"region {region}: {net.ClassCount} classes at {net.Config.InputSize} px, others {classes} at {s} px");
            var w = AddWeights(g, net, region);
            var (logits, emb) = AddForward(g, w, region, region);
            string p = g.Node("Softmax", [logits], g.Fresh($"{region}_softmax"), ("axis", 1L));
            if (flipTta)
            {
                var (logitsF, embF) = AddForward(g, w, Flipped(mirrorOf(region)), region + "_flip");
                string pf = g.Node("Softmax", [logitsF], g.Fresh($"{region}_softmax_flip"), ("axis", 1L));
                p = g.Node("Mul", [g.Node("Add", [p, pf], g.Fresh("sum")), half], g.Fresh($"{region}_tta"));
                emb = g.Node("Mul", [g.Node("Add", [emb, embF], g.Fresh("sum")), half], g.Fresh($"{region}_emb_tta"));
            }
            string regionP = g.Node("Identity", [p], $"{region}_probabilities");
            g.Output($"{region}_probabilities", null, classes);
            embs.Add(emb);
            if (joint) continue;
            if (logLinear) regionP = g.Node("Log", [g.Node("Max", [regionP, floor], g.Fresh($"{region}_floored"))], g.Fresh($"{region}_log"));
            probs.Add(g.Node("Mul", [regionP, g.Initializer($"{region}_weight", [(float)(weights?[probs.Count] ?? 1.0 / nets.Count)])], g.Fresh($"{region}_weighted")));
        }
        long embeddingSize = nets.Sum(n => (long)n.Net.Config.EmbeddingSize);
        g.Node("Concat", embs.ToArray(), "embedding", ("axis", 1L));
        if (joint)
        {
            var (w, b) = jointHead!.Value;
            if (b.Length != classes || w.Length != classes * embeddingSize)
                throw new ArgumentException($"joint head has {b.Length} classes × {(b.Length == 0 ? 0 : w.Length / b.Length)} inputs, the nets {classes} × {embeddingSize}", nameof(jointHead));
            string logits = g.Node("Gemm", ["embedding", g.Initializer("joint.weight", w, classes, embeddingSize), g.Initializer("joint.bias", b, classes)],
                "joint_logits", ("transB", 1L));
            g.Node("Softmax", [logits], combinedName, ("axis", 1L));
        }
        else
        {
            string combined = probs.Count == 1 ? probs[0] : g.Node("Sum", probs.ToArray(), logLinear ? "pooled_log_probabilities" : g.Fresh("sum"));
            if (logLinear) g.Node("Softmax", [combined], combinedName, ("axis", 1L));
            else g.Node("Identity", [combined], combinedName);
        }
        if (classWeights is not null)
        {
            string weighted = g.Node("Mul", [combinedName, g.Initializer("class_prior_weights", classWeights, classes)], "prior_weighted");
            string total = g.Node("ReduceSum", [weighted, g.Initializer("class_axis", [1L], 1)], "prior_weighted_total", ("keepdims", 1L));
            g.Node("Div", [weighted, total], "probabilities");
        }
        g.Output("probabilities", null, classes);
        g.Output("embedding", null, embeddingSize);
        return g.ToModelBytes(docString: $"GestaltLab ensemble of {nets.Count} region nets ({string.Join(", ", nets.Select(n => n.Region))}), flip TTA {flipTta}");
    }

    private static NetWeights AddWeights(OnnxGraph g, RegionNet net, string prefix)
    {
        var cfg = net.Config;
        var sd = net.state_dict();
        float[] Get(string name)
        {
            // The scope holds (and then frees) the chain's intermediate tensors; unheld, the GC may free one while
            // libtorch still reads it (see HeldScalars).
            using var scope = torch.NewDisposeScope();
            return sd[name].detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        }
        var convs = new List<Layer>();
        var poolAfter = new List<int>();
        long inC = cfg.Channels;
        for (int s = 0; s < cfg.Stages; s++)
        {
            for (int c = 0; c < cfg.ConvsPerStage; c++)
            {
                string conv = $"features.conv{s}_{c}", bn = $"features.bn{s}_{c}";
                long outC = cfg.StageWidth(s);
                float[] w = Get(conv + ".weight");
                float[] gamma = Get(bn + ".weight"), beta = Get(bn + ".bias"), mean = Get(bn + ".running_mean"), var = Get(bn + ".running_var");
                const double eps = 1e-5;
                int k = (int)(w.Length / outC);
                var bias = new float[outC];
                var folded = new float[w.Length];
                for (int o = 0; o < outC; o++)
                {
                    double scale = gamma[o] / Math.Sqrt(var[o] + eps);
                    for (int j = 0; j < k; j++) folded[o * k + j] = (float)(w[o * k + j] * scale);
                    bias[o] = (float)(beta[o] - mean[o] * scale);
                }
                long wIn = inC;
                if (convs.Count == 0 && cfg.Channels == 1)
                {
                    // Gray net: conv(luma(x)) = conv'(x) with W'[o,ch] = W[o,0]·luma[ch] (exact, also at zero padding).
                    float[] luma = [0.299f, 0.587f, 0.114f];
                    var rgb = new float[outC * 3 * 9];
                    for (int o = 0; o < outC; o++)
                        for (int ch = 0; ch < 3; ch++)
                            for (int j = 0; j < 9; j++) rgb[(o * 3 + ch) * 9 + j] = folded[o * 9 + j] * luma[ch];
                    folded = rgb;
                    wIn = 3;
                }
                string wn = g.Initializer($"{prefix}.{conv}.weight", folded, outC, wIn, 3, 3);
                string bn2 = g.Initializer($"{prefix}.{conv}.bias", bias, outC);
                convs.Add(new Layer(wn, bn2, outC));
                inC = outC;
            }
            poolAfter.Add(convs.Count - 1);
        }
        string? embW = null, embB = null;
        if (cfg.Pooling == RegionNetConfig.PoolingFlatten)
        {
            long flat = inC * cfg.FinalMapSize * cfg.FinalMapSize;
            embW = g.Initializer($"{prefix}.embed.weight", Get("embed.weight"), cfg.FlattenEmbeddingSize, flat);
            embB = g.Initializer($"{prefix}.embed.bias", Get("embed.bias"), cfg.FlattenEmbeddingSize);
            inC = cfg.FlattenEmbeddingSize;
        }
        string fcW = g.Initializer($"{prefix}.fc.weight", Get("fc.weight"), net.ClassCount, inC);
        string fcB = g.Initializer($"{prefix}.fc.bias", Get("fc.bias"), net.ClassCount);
        return new NetWeights(convs.ToArray(), poolAfter.ToArray(), embW, embB, fcW, fcB, cfg, net.ClassCount);
    }

    private static (string Logits, string Embedding) AddForward(OnnxGraph g, NetWeights w, string input, string tag)
    {
        string x = input;
        for (int i = 0; i < w.Convs.Length; i++)
        {
            x = g.Node("Conv", [x, w.Convs[i].Weight, w.Convs[i].Bias], g.Fresh($"{tag}_conv"),
                ("kernel_shape", new long[] { 3, 3 }), ("pads", new long[] { 1, 1, 1, 1 }), ("strides", new long[] { 1, 1 }));
            x = g.Node("Relu", [x], g.Fresh($"{tag}_relu"));
            if (w.PoolAfter.Contains(i))
                x = g.Node("MaxPool", [x], g.Fresh($"{tag}_pool"), ("kernel_shape", new long[] { 2, 2 }), ("strides", new long[] { 2, 2 }));
        }
        string emb;
        if (w.EmbedWeight is null)
        {
            x = g.Node("GlobalAveragePool", [x], g.Fresh($"{tag}_gap"));
            emb = g.Node("Flatten", [x], g.Fresh($"{tag}_embedding"), ("axis", 1L));
        }
        else
        {
            // NCHW flattened row-major, as torch's flatten(1).
            x = g.Node("Flatten", [x], g.Fresh($"{tag}_flatten"), ("axis", 1L));
            x = g.Node("Gemm", [x, w.EmbedWeight, w.EmbedBias!], g.Fresh($"{tag}_fc_embed"), ("transB", 1L));
            emb = g.Node("Relu", [x], g.Fresh($"{tag}_embedding"));
        }
        string logits = g.Node("Gemm", [emb, w.FcWeight, w.FcBias], g.Fresh($"{tag}_logits"), ("transB", 1L));
        return (logits, emb);
    }
}
