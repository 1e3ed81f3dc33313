namespace GestaltLab.Synthetic;

/// <summary>
/// What stays the same across one person's photos besides the traits: skin, hair and eye colour, hair style, small
/// asymmetries. Drawn once per subject from the seed.
/// </summary>
public sealed record SubjectAppearance
{
    /// <summary>Skin colour (sRGB, 0–1) before lighting.</summary>
    public required (float R, float G, float B) Skin { get; init; }
    /// <summary>Hair colour (sRGB, 0–1).</summary>
    public required (float R, float G, float B) Hair { get; init; }
    /// <summary>Iris colour (sRGB, 0–1).</summary>
    public required (float R, float G, float B) Iris { get; init; }
    /// <summary>Preferred hair style (0 short, 1 medium, 2 long, 3 curly, 4 fringe, 5 bald/very short).</summary>
    public required int HairStyle { get; init; }
    /// <summary>Per-landmark asymmetry jitter (face units), 68 × 2 values.</summary>
    public required float[] Jitter { get; init; }

    /// <summary>Draws an appearance for a subject of the given skin tone band (0 = I … 5 = VI).</summary>
    public static SubjectAppearance Draw(SyntheticRandom rng, int skinTone)
    {
        (float, float, float)[] skins =
        [
            (0.96f, 0.84f, 0.76f), (0.92f, 0.76f, 0.64f), (0.84f, 0.66f, 0.52f),
            (0.72f, 0.53f, 0.38f), (0.58f, 0.40f, 0.28f), (0.44f, 0.30f, 0.21f),
        ];
        var (r, g, b) = skins[Math.Clamp(skinTone, 0, 5)];
        float j() => (float)rng.Uniform(-0.03, 0.03);
        float jr = j(), jg = j();
        var skin = (Math.Clamp(r + jr, 0, 1), Math.Clamp(g + jg, 0, 1), Math.Clamp(b + (jr + jg) / 2, 0, 1));
        (float, float, float)[] hairs =
        [
            (0.08f, 0.06f, 0.05f), (0.20f, 0.13f, 0.08f), (0.35f, 0.22f, 0.12f), (0.55f, 0.40f, 0.22f),
            (0.75f, 0.60f, 0.35f), (0.50f, 0.20f, 0.08f),
        ];
        // Darker skin bands draw darker hair more often.
        int hi = skinTone >= 3 ? rng.NextInt(2) : rng.NextInt(hairs.Length);
        (float, float, float)[] irises = [(0.30f, 0.18f, 0.08f), (0.22f, 0.13f, 0.06f), (0.30f, 0.45f, 0.60f), (0.35f, 0.45f, 0.25f), (0.45f, 0.35f, 0.20f)];
        int ii = skinTone >= 3 ? rng.NextInt(2) : rng.NextInt(irises.Length);
        var jitter = new float[136];
        for (int i = 0; i < jitter.Length; i++) jitter[i] = (float)(rng.Gaussian() * 0.004);
        return new SubjectAppearance { Skin = skin, Hair = hairs[hi], Iris = irises[ii], HairStyle = rng.NextInt(6), Jitter = jitter };
    }
}

/// <summary>How much photo-to-photo variation a data set has.</summary>
public enum NuisanceLevel
{
    /// <summary>Frontal, even light, neutral expression, no blur or noise, PNG: the renders detector benchmarks use.</summary>
    Clean,
    /// <summary>The default: moderate pose, lighting, expression, hair, background, scale, blur, noise and JPEG variation.</summary>
    Varied,
    /// <summary>Stronger variation, closer to clinical snapshots (some faces may be missed by a frontal detector).</summary>
    Wild,
}

/// <summary>The nuisance of one photo: everything that changes between photos of the same person.</summary>
public sealed record PhotoNuisance
{
    /// <summary>Head turn left/right in degrees.</summary>
    public double Yaw { get; init; }
    /// <summary>Head tilt (in-plane rotation) in degrees.</summary>
    public double Roll { get; init; }
    /// <summary>Face box width as a fraction of the image width.</summary>
    public double Scale { get; init; } = 0.47;
    /// <summary>Offset of the face centre from the image centre, in fractions of the image size.</summary>
    public double OffsetX { get; init; }
    /// <summary>Vertical offset, in fractions of the image size.</summary>
    public double OffsetY { get; init; }
    /// <summary>Direction the key light comes from, degrees (0 = from the image right, 90 = from above).</summary>
    public double LightAngle { get; init; } = 90;
    /// <summary>Strength of the directional shading, 0–1.</summary>
    public double LightStrength { get; init; } = 0.25;
    /// <summary>Overall brightness multiplier.</summary>
    public double Exposure { get; init; } = 1;
    /// <summary>Smile, 0–1 (mouth corners up, lips apart).</summary>
    public double Smile { get; init; }
    /// <summary>Brow raise, −1–1.</summary>
    public double BrowRaise { get; init; }
    /// <summary>Hair style used in this photo (the subject's own, or a variation).</summary>
    public int HairStyle { get; init; }
    /// <summary>Background colours (top, bottom), sRGB 0–1.</summary>
    public (float R, float G, float B) BackgroundTop { get; init; } = (0.80f, 0.82f, 0.85f);
    /// <summary>Bottom background colour.</summary>
    public (float R, float G, float B) BackgroundBottom { get; init; } = (0.65f, 0.67f, 0.70f);
    /// <summary>Clothing colour.</summary>
    public (float R, float G, float B) Clothes { get; init; } = (0.25f, 0.35f, 0.55f);
    /// <summary>Gaussian blur sigma in pixels (0 = none).</summary>
    public double Blur { get; init; }
    /// <summary>Gaussian pixel noise SD in 8-bit levels (0 = none).</summary>
    public double Noise { get; init; }
    /// <summary>JPEG quality 1–100, or 0 for a lossless PNG.</summary>
    public int JpegQuality { get; init; }

    /// <summary>Draws a photo's nuisance at the given level.</summary>
    public static PhotoNuisance Draw(SyntheticRandom rng, NuisanceLevel level, int subjectHairStyle)
    {
        (float, float, float) Col(double lo, double hi)
        {
            double h = rng.NextDouble(), l = rng.Uniform(lo, hi), sat = rng.Uniform(0.05, 0.35);
            float C(double o) => (float)Math.Clamp(l + sat * Math.Cos(2 * Math.PI * (h + o)) * 0.5, 0, 1);
            return (C(0), C(1 / 3.0), C(2 / 3.0));
        }
        if (level == NuisanceLevel.Clean)
        {
            return new PhotoNuisance
            {
                Yaw = rng.Uniform(-3, 3), Roll = rng.Uniform(-2, 2), Scale = rng.Uniform(0.45, 0.5),
                HairStyle = subjectHairStyle, BackgroundTop = Col(0.7, 0.9), BackgroundBottom = Col(0.55, 0.75), Clothes = Col(0.2, 0.6),
                LightAngle = 90, LightStrength = 0.2,
            };
        }
        bool wild = level == NuisanceLevel.Wild;
        double k = wild ? 1.7 : 1;
        int jpeg = rng.Chance(wild ? 0.7 : 0.5) ? 55 + rng.NextInt(41) : 0;
        double noise = rng.Chance(0.5) ? rng.Uniform(1, wild ? 9 : 5) : 0;
        // Sensor noise comes with a camera's JPEG (and noisy PNGs would be large and slow to write).
        if (noise > 0 && jpeg == 0) jpeg = 85 + rng.NextInt(11);
        return new PhotoNuisance
        {
            Yaw = rng.Gaussian(0, 6 * k, 2.5),
            Roll = rng.Gaussian(0, 4 * k, 2.5),
            Scale = rng.Uniform(wild ? 0.33 : 0.38, wild ? 0.6 : 0.55),
            OffsetX = rng.Uniform(-0.05, 0.05) * k,
            OffsetY = rng.Uniform(-0.04, 0.04) * k,
            LightAngle = rng.Uniform(20, 160),
            LightStrength = rng.Uniform(0.1, wild ? 0.6 : 0.45),
            Exposure = rng.Uniform(wild ? 0.75 : 0.85, wild ? 1.2 : 1.12),
            Smile = rng.Chance(0.35) ? rng.Uniform(0.2, 1) : 0,
            BrowRaise = rng.Uniform(-0.4, 0.6),
            HairStyle = rng.Chance(0.75) ? subjectHairStyle : rng.NextInt(6),
            BackgroundTop = Col(0.3, 0.95),
            BackgroundBottom = Col(0.2, 0.85),
            Clothes = Col(0.1, 0.8),
            Blur = rng.Chance(0.4) ? rng.Uniform(0.3, wild ? 1.8 : 1.1) : 0,
            Noise = noise,
            JpegQuality = jpeg,
        };
    }
}
