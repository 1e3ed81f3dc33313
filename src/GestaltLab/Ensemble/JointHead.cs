using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Models;
using GestaltLab.Runtime;
using static TorchSharp.torch;

namespace GestaltLab.Ensemble;

/// <summary>
/// The <see cref="EnsembleCombination.Joint"/> combination's classifier: one shrinkage linear discriminant over the
/// concatenated (flip-averaged) embeddings of all region nets, instead of a pool of the regions' separate softmaxes.
/// Pooling treats the regions as independent witnesses; one discriminant over all of them also learns how their
/// measurements vary <i>together</i> within a syndrome (a wide face comes with wide-set eyes), which separates syndromes
/// that no single region tells apart. The features are standardised on the training photos and the temperature is fitted
/// on the validation photos; both are folded into <see cref="Weight"/> and <see cref="Bias"/>, so the head is one affine
/// map (logits = W·e + b) followed by a softmax, in TorchSharp and in the ONNX graph alike.
/// </summary>
/// <param name="Weight"><c>C × D</c> weights, row-major (D = the sum of the regions' embedding sizes).</param>
/// <param name="Bias"><c>C</c> biases.</param>
/// <param name="Shrinkage">Shrinkage of the within-class covariance, chosen on the validation photos.</param>
/// <param name="Temperature">Softmax temperature fitted on the validation photos (1 without them).</param>
public sealed record JointHead(float[] Weight, float[] Bias, double Shrinkage, double Temperature)
{
    /// <summary>Name of the run-directory file holding the head.</summary>
    public const string FileName = "joint_head.pt";

    /// <summary>Number of classes.</summary>
    public int ClassCount => Bias.Length;

    /// <summary>Length of the embedding the head reads.</summary>
    public int InputSize => Bias.Length == 0 ? 0 : Weight.Length / Bias.Length;

    /// <summary>
    /// Fits the head on training embeddings (concatenated region embeddings, as <see cref="GestaltPrediction.Embedding"/>)
    /// with the shrinkage and temperature that minimise the validation cross-entropy (<see cref="DiscriminantHead.FitSelected"/>).
    /// </summary>
    /// <exception cref="GestaltLabException">No training embeddings, or a class without any.</exception>
    public static JointHead Fit(IReadOnlyList<float[]> train, IReadOnlyList<int> trainLabels, int classCount,
        IReadOnlyList<float[]> val, IReadOnlyList<int> valLabels)
    {
        if (train.Count == 0) throw new GestaltLabException("joint head: no training embeddings");
        int d = train[0].Length;
        // Standardise so that the shrinkage target (a scaled identity) treats every region's units alike.
        var mean = new double[d];
        var sd = new double[d];
        foreach (var x in train) for (int j = 0; j < d; j++) mean[j] += x[j];
        for (int j = 0; j < d; j++) mean[j] /= train.Count;
        foreach (var x in train) for (int j = 0; j < d; j++) sd[j] += (x[j] - mean[j]) * (x[j] - mean[j]);
        // A unit that never varies (a dead ReLU) stays 0 after centring; any scale will do.
        for (int j = 0; j < d; j++) sd[j] = sd[j] > 0 ? Math.Sqrt(sd[j] / train.Count) : 1;
        float[][] Standardise(IReadOnlyList<float[]> xs) => xs.Select(x =>
        {
            if (x.Length != d) throw new GestaltLabException($"joint head: an embedding has {x.Length} values, expected {d}");
            var z = new float[d];
            for (int j = 0; j < d; j++) z[j] = (float)((x[j] - mean[j]) / sd[j]);
            return z;
        }).ToArray();
        var zVal = Standardise(val);
        var fit = DiscriminantHead.FitSelected(Standardise(train), trainLabels, classCount, zVal, valLabels);
        // A wider range than a region net's: shrinkage towards the identity can flatten the joint logits many times over
        // when a few directions separate the classes, and the temperature has to undo that (a test needs T ≈ 0.1). The
        // shrinkage itself was chosen with temperatures of 0.25–50; where the kept one falls outside that range the choice
        // was judged under another temperature (noted, not changed: every documented run's lies inside, at 8–24).
        // Its probabilities are the model's: fitted against Laplace-smoothed targets, so that a few validation photos all
        // ranked right do not make every prediction 100 % (Calibration.FitTemperatureSmoothed).
        double t = val.Count > 0 ? Calibration.FitTemperatureSmoothed(DiscriminantHead.Logits(zVal, fit.Weight, fit.Bias, classCount), valLabels, 0.01, 100) : 1;

        // logit_c = (w_c·(x − m)/s + b_c)/t = (w_c/(s·t))·x + (b_c − Σ_j w_cj·m_j/s_j)/t
        var weight = new float[classCount * d];
        var bias = new float[classCount];
        for (int c = 0; c < classCount; c++)
        {
            double shift = 0;
            for (int j = 0; j < d; j++)
            {
                double w = fit.Weight[c * d + j] / sd[j];
                weight[c * d + j] = (float)(w / t);
                shift += w * mean[j];
            }
            bias[c] = (float)((fit.Bias[c] - shift) / t);
        }
        return new JointHead(weight, bias, fit.Shrinkage, t);
    }

    /// <summary>The head's logits for one concatenated embedding.</summary>
    public float[] Logits(ReadOnlySpan<float> embedding)
    {
        int d = InputSize;
        if (embedding.Length != d) throw new GestaltLabException($"joint head: embedding has {embedding.Length} values, expected {d}");
        var logits = new float[ClassCount];
        for (int c = 0; c < logits.Length; c++)
        {
            var w = Weight.AsSpan(c * d, d);
            float s = Bias[c];
            for (int j = 0; j < d; j++) s += w[j] * embedding[j];
            logits[c] = s;
        }
        return logits;
    }

    /// <summary>Writes the head to <paramref name="path"/> (a GestaltLab weights file; see <see cref="WeightsFile"/>).</summary>
    public void Save(string path)
    {
        using var w = tensor(Weight, [ClassCount, InputSize]);
        using var b = tensor(Bias, [ClassCount]);
        var meta = new JsonObject { ["kind"] = "joint_head", ["shrinkage"] = Shrinkage, ["temperature"] = Temperature };
        WeightsFile.Save(path, meta.ToJsonString(), [new("weight", w), new("bias", b)]);
    }

    /// <summary>Reads a head written by <see cref="Save"/>.</summary>
    /// <exception cref="GestaltLabException">The file is missing, damaged or not a joint head.</exception>
    public static JointHead Load(string path)
    {
        var (metadata, tensors) = WeightsFile.Load(path);
        try
        {
            if (!tensors.TryGetValue("weight", out var w) || !tensors.TryGetValue("bias", out var b) || w.shape.Length != 2 || b.shape.Length != 1 || w.shape[0] != b.shape[0])
                throw new GestaltLabException($"{path}: not a joint head (needs a C × D 'weight' and a C 'bias')");
            var meta = JsonNode.Parse(metadata);
            return new JointHead(w.data<float>().ToArray(), b.data<float>().ToArray(),
                meta?["shrinkage"]?.GetValue<double>() ?? double.NaN, meta?["temperature"]?.GetValue<double>() ?? 1);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new GestaltLabException($"{path}: unreadable joint head metadata ({e.Message})");
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }
}
