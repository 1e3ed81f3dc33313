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
    /// <summary>Side of the square input crop in pixels (64–112; the ML.NET crop step offers 64, 96 and 112).</summary>
    [JsonPropertyName("input_size")] public int InputSize { get; init; } = 64;
    /// <summary>1 = grayscale (BT.601 luminance), 3 = RGB. Exported ONNX graphs always take RGB and fold the luminance in.</summary>
    [JsonPropertyName("channels")] public int Channels { get; init; } = 3;
    /// <summary>Channels of the first stage; stage s has <c>Width·2^s</c>.</summary>
    [JsonPropertyName("width")] public int Width { get; init; } = 16;
    /// <summary>Number of stages (each ends with a 2×2 max-pool).</summary>
    [JsonPropertyName("stages")] public int Stages { get; init; } = 4;
    /// <summary>Conv layers per stage (CASIA-Net uses 2; 1 is faster for demos).</summary>
    [JsonPropertyName("convs_per_stage")] public int ConvsPerStage { get; init; } = 2;

    /// <summary>Channels of stage <paramref name="s"/>.</summary>
    public int StageWidth(int s) => Width << s;

    /// <summary>Length of the penultimate (embedding) vector.</summary>
    [JsonIgnore] public int EmbeddingSize => StageWidth(Stages - 1);

    /// <summary>A tiny net for tests and CI.</summary>
    public static RegionNetConfig Tiny { get; } = new() { InputSize = 64, Width = 8, Stages = 3, ConvsPerStage = 1 };

    /// <summary>Throws a <see cref="GestaltLabException"/> naming the bad field.</summary>
    public RegionNetConfig Validate(string source = "config")
    {
        if (InputSize is < 16 or > 256) throw new GestaltLabException($"{source}: input_size {InputSize} outside 16–256", "use 64, 96 or 112");
        if (Channels is not (1 or 3)) throw new GestaltLabException($"{source}: channels {Channels} must be 1 (gray) or 3 (RGB)");
        if (Width is < 1 or > 512) throw new GestaltLabException($"{source}: width {Width} outside 1–512");
        if (Stages < 1 || (InputSize >> Stages) < 1) throw new GestaltLabException($"{source}: {Stages} stages pool a {InputSize} px input below 1 px");
        if (ConvsPerStage is < 1 or > 4) throw new GestaltLabException($"{source}: convs_per_stage {ConvsPerStage} outside 1–4");
        return this;
    }

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The config as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses a config from JSON.</summary>
    public static RegionNetConfig FromJson(string json, string source) =>
        (JsonSerializer.Deserialize<RegionNetConfig>(json, Json) ?? throw new GestaltLabException($"{source}: empty net config")).Validate(source);
}
