using System.Text.Json;
using System.Text.Json.Serialization;
using GestaltLab.Runtime;

namespace GestaltLab.Models;

/// <summary>
/// Shape of a <see cref="RegionNet"/>: a CASIA-Net-style stack of 3×3 conv + batch-norm + ReLU layers, max-pooled after each
/// stage, widths doubling per stage, global average pooling into the face-space embedding, then a linear classifier.
/// </summary>
public sealed record RegionNetConfig
{
    /// <summary>Side of the square input crop in pixels (16–256; only 64, 96 and 112, the sizes the ML.NET crop step offers, get a <c>model.zip</c>).</summary>
    [JsonPropertyName("input_size")] public int InputSize { get; init; } = 64;
    /// <summary>1 = grayscale (BT.601 luminance), 3 = RGB. Exported ONNX graphs always take RGB and fold the luminance in.</summary>
    [JsonPropertyName("channels")] public int Channels { get; init; } = 3;
    /// <summary>Channels of the first stage; stage s has <c>Width·2^s</c>.</summary>
    [JsonPropertyName("width")] public int Width { get; init; } = 16;
    /// <summary>Number of stages (each ends with a 2×2 max-pool).</summary>
    [JsonPropertyName("stages")] public int Stages { get; init; } = 4;
    /// <summary>Conv layers per stage (CASIA-Net uses 2; 1 is faster for demos).</summary>
    [JsonPropertyName("convs_per_stage")] public int ConvsPerStage { get; init; } = 2;

    /// <summary>
    /// How the last feature map becomes the embedding: <c>average</c> (global average pooling; the embedding is the last
    /// stage's channels) or <c>flatten</c> (the whole map, flattened, through a fully connected layer of
    /// <see cref="FlattenEmbeddingSize"/> units + ReLU). <c>flatten</c> keeps where features are — facial gestalt is largely
    /// geometry (distances, positions), which an average over the map throws away.
    /// </summary>
    [JsonPropertyName("pooling")] public string Pooling { get; init; } = PoolingAverage;
    /// <summary>Units of the embedding layer when <see cref="Pooling"/> is <c>flatten</c>.</summary>
    [JsonPropertyName("embedding_size")] public int FlattenEmbeddingSize { get; init; } = 128;

    /// <summary><see cref="Pooling"/> value: global average pooling.</summary>
    public const string PoolingAverage = "average";
    /// <summary><see cref="Pooling"/> value: flatten + fully connected embedding layer.</summary>
    public const string PoolingFlatten = "flatten";

    /// <summary>Side of the last feature map (input halved once per stage).</summary>
    [JsonIgnore] public int FinalMapSize => InputSize >> Stages;

    /// <summary>Channels of stage <paramref name="s"/>.</summary>
    public int StageWidth(int s) => Width << s;

    /// <summary>Length of the penultimate (embedding) vector.</summary>
    [JsonIgnore] public int EmbeddingSize => Pooling == PoolingFlatten ? FlattenEmbeddingSize : StageWidth(Stages - 1);

    /// <summary>The most weights a net may have (<see cref="ApproximateParameters"/>): 100 million, 0.4 GB of floats.</summary>
    public const long MaxParameters = 100_000_000;

    /// <summary>The net's weights, counted from its shape (convolutions and the flatten layer; biases and batch norms, a
    /// fraction of a percent, left out).</summary>
    [JsonIgnore] public double ApproximateParameters
    {
        get
        {
            double total = 0;
            for (int s = 0; s < Stages; s++)
            {
                double inputs = s == 0 ? Channels : (double)Width * Math.Pow(2, s - 1), outputs = Width * Math.Pow(2, s);
                total += 9 * outputs * (inputs + (ConvsPerStage - 1) * outputs);
            }
            if (Pooling == PoolingFlatten) total += Math.Pow(Math.Max(1, InputSize >> Stages), 2) * Width * Math.Pow(2, Stages - 1) * FlattenEmbeddingSize;
            return total;
        }
    }

    /// <summary>A tiny net for tests and CI.</summary>
    public static RegionNetConfig Tiny { get; } = new() { InputSize = 64, Width = 8, Stages = 3, ConvsPerStage = 1 };

    /// <summary>Throws a <see cref="GestaltLabException"/> naming the bad field.</summary>
    public RegionNetConfig Validate(string source = "config")
    {
        if (InputSize is < 16 or > 256) throw new GestaltLabException($"{source}: input_size {InputSize} outside 16–256", "use 64, 96 or 112");
        if (Channels is not (1 or 3)) throw new GestaltLabException($"{source}: channels {Channels} must be 1 (gray) or 3 (RGB)");
        if (Width is < 1 or > 512) throw new GestaltLabException($"{source}: width {Width} outside 1–512");
        if (Stages < 1 || (InputSize >> Stages) < 1) throw new GestaltLabException($"{source}: {Stages} stages pool a {InputSize} px input below 1 px");
        if (Pooling is not (PoolingAverage or PoolingFlatten)) throw new GestaltLabException($"{source}: pooling \"{Pooling}\" must be \"{PoolingAverage}\" or \"{PoolingFlatten}\"");
        if (FlattenEmbeddingSize is < 1 or > 4096) throw new GestaltLabException($"{source}: embedding_size {FlattenEmbeddingSize} outside 1–4096");
        if (ConvsPerStage is < 1 or > 4) throw new GestaltLabException($"{source}: convs_per_stage {ConvsPerStage} outside 1–4");
        // Before any tensor exists: a config (a received run's, say) whose widths double to tens of billions of weights
        // would otherwise be allocated until the machine runs out of memory.
        if (ApproximateParameters > MaxParameters)
            throw new GestaltLabException(FormattableString.Invariant($"{source}: width {Width} over {Stages} stages makes a net of about {ApproximateParameters / 1e6:F0} million weights, more than the {MaxParameters / 1_000_000} million GestaltLab builds"),
                Pooling == PoolingFlatten ? "use a smaller width, a smaller embedding_size, or more stages (the flatten layer shrinks with the last map)"
                    : "use a smaller width or fewer stages (the shipped nets have well under 1 million)");
        return this;
    }

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The config as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a config from JSON.</summary>
    public static RegionNetConfig FromJson(string json, string source)
    {
        RegionNetConfig? config;
        try { config = JsonSerializer.Deserialize<RegionNetConfig>(json, Json); }
        catch (JsonException e) { throw new GestaltLabException($"{source}: invalid net config ({e.Message.Split('\n')[0]})"); }
        return (config ?? throw new GestaltLabException($"{source}: empty net config")).Validate(source);
    }
}
