using System.Numerics;

namespace GestaltLab.Synthetic;

/// <summary>
/// Turns a trait vector (plus covariate shifts and a photo's expression) into face geometry in "face units": the unit
/// box dlib's 68-point model is trained on (x 0–1 across the face, eyes near y 0.31, chin near y 1.07). The 68 points
/// follow iBUG 300-W semantics exactly (see docs/synthetic.md), so they are the ground truth of the drawn face; every
/// other point the renderer draws (skull, ears, hairline, irises) is derived from the same numbers. Each point has a
/// depth so that head turns (yaw) move near and far features consistently.
/// </summary>
public sealed class FaceGeometry
{
    /// <summary>The 68 landmarks (x, y, depth) in face units, before pose.</summary>
    public Vector3[] Landmarks { get; } = new Vector3[68];
    /// <summary>Skull outline from the image-left temple over the top to the image-right temple.</summary>
    public Vector3[] Skull { get; private set; } = [];
    /// <summary>y of the hairline at the midline.</summary>
    public float HairlineY { get; private set; }
    /// <summary>Ear boxes: centre and half size (image-left, image-right).</summary>
    public (Vector3 Center, Vector2 Half)[] Ears { get; } = new (Vector3, Vector2)[2];
    /// <summary>Iris centres (image-left, image-right) and radius.</summary>
    public Vector3[] Irises { get; } = new Vector3[2];
    /// <summary>Iris radius in face units.</summary>
    public float IrisRadius { get; private set; }
    /// <summary>Eyebrow thickness in face units.</summary>
    public float BrowThickness { get; private set; }
    /// <summary>Synophrys strength 0–1 (hair between the brows).</summary>
    public float Synophrys { get; private set; }
    /// <summary>Epicanthal fold strength 0–1.</summary>
    public float Epicanthus { get; private set; }
    /// <summary>Half-width of the nasal bridge in face units.</summary>
    public float BridgeHalfWidth { get; private set; }
    /// <summary>Bridge prominence (shading contrast), around 1.</summary>
    public float BridgeHeight { get; private set; }
    /// <summary>Nostril visibility (anteversion), around 1.</summary>
    public float NostrilShow { get; private set; }
    /// <summary>Philtrum groove depth (shading contrast), around 1.</summary>
    public float PhiltrumDepth { get; private set; }
    /// <summary>Cheek fullness (highlight strength), around 1.</summary>
    public float CheekFullness { get; private set; }
    /// <summary>Lips apart (face units).</summary>
    public float MouthGap { get; private set; }

    private static readonly int[] MirrorOf = BuildMirror();

    /// <summary>Builds the geometry. <paramref name="z"/> is the trait vector with covariate shifts already added.</summary>
    public static FaceGeometry Build(double[] z, SubjectAppearance appearance, double smile = 0, double browRaise = 0)
    {
        var g = new FaceGeometry();
        double Z(string name) => Math.Clamp(z[TraitSpace.IndexOf(name)], -4.5, 4.5);
        var p = g.Landmarks;
        float sm = (float)Math.Clamp(smile, 0, 1);

        double vscale = 1 + 0.045 * Z("face_height");
        double mid = 1 + 0.05 * Z("midface_length");
        const float eyeY = 0.315f;
        float V(double offsetBelowEyes) => (float)(eyeY + offsetBelowEyes * vscale);

        // Eyes (image-left eye 36-41, built then mirrored to 42-47).
        double half = 0.2286 * (1 + 0.06 * Z("interpupillary_distance")) * (1 + 0.02 * Z("face_width"));
        double len = 0.1655 * (1 + 0.075 * Z("palpebral_fissure_length"));
        double inner = 0.013 * Z("inner_canthal_distance");
        double slant = (4 + 5 * Z("palpebral_fissure_slant")) * Math.PI / 180;
        double up = 0.033 * Math.Max(0.25, 1 - 0.17 * Z("ptosis")) * (1 - 0.15 * sm);
        double down = 0.018 * (1 - 0.2 * sm);
        double cx = 0.5 - half;
        Vector3 EyePt(double t, double off) // t: −0.5 inner … +0.5 outer; off: + below the axis
        {
            double x = cx - t * len;
            if (t < 0) x -= inner * (-t * 2);
            double y = eyeY - t * len * Math.Tan(slant) + off;
            return new Vector3((float)x, (float)y, 0.0f);
        }
        p[36] = EyePt(0.5, 0); p[39] = EyePt(-0.5, 0);
        p[37] = EyePt(0.19, -up); p[38] = EyePt(-0.18, -up);
        p[40] = EyePt(-0.16, down); p[41] = EyePt(0.2, down);
        g.IrisRadius = (float)(0.036 * (1 + 0.03 * Z("palpebral_fissure_length")));
        var eyeC = (p[37] + p[38] + p[40] + p[41]) / 4;
        g.Irises[0] = new Vector3(eyeC.X, eyeC.Y - (float)(up - down) * 0.25f, 0.02f);

        // Brows 17-21 (outer → inner).
        double browH = 0.15 * (1 + 0.12 * Z("eyebrow_height")) + 0.016 * browRaise;
        double arch = Math.Max(0.2, 1 + 0.3 * Z("eyebrow_arch"));
        double[] bx = [-0.178, -0.119, -0.037, 0.048, 0.128 + 0.016 * Z("synophrys")];
        double[] by = [0.068, 0.015, 0, 0.012, 0.045];
        for (int i = 0; i < 5; i++)
            p[17 + i] = new Vector3((float)(cx + bx[i] * (len / 0.1655)), (float)(eyeY - browH + by[i] * arch), 0.03f);
        g.BrowThickness = (float)(0.03 * Math.Max(0.4, 1 + 0.25 * Z("eyebrow_thickness")));
        g.Synophrys = (float)Math.Clamp(0.1 + 0.3 * Z("synophrys"), 0, 1);
        g.Epicanthus = (float)Math.Clamp(0.2 + 0.35 * Z("epicanthus"), 0, 1);

        // Nose.
        double antev = Z("nostril_anteversion");
        float tipY = V(0.232 * (1 + 0.085 * Z("nose_length")) * mid - 0.008 * antev);
        float subY = V((0.232 * (1 + 0.085 * Z("nose_length")) * mid) + 0.087);
        p[27] = new Vector3(0.5f, eyeY - 0.01f, 0.05f);
        for (int i = 1; i <= 3; i++)
            p[27 + i] = new Vector3(0.5f, p[27].Y + (tipY - p[27].Y) * i / 3f, 0.05f + 0.05f * i * (float)(1 + 0.1 * Z("nasal_bridge_height")));
        double alar = 1 + 0.08 * Z("alar_width");
        p[31] = new Vector3((float)(0.5 - 0.0955 * alar), subY - 0.032f, 0.07f);
        p[32] = new Vector3((float)(0.5 - 0.0496 * alar), subY - 0.015f, 0.11f);
        p[33] = new Vector3(0.5f, subY, 0.13f);
        g.BridgeHalfWidth = (float)(0.045 * Math.Max(0.4, 1 + 0.15 * Z("nasal_bridge_width")));
        g.BridgeHeight = (float)Math.Max(0.1, 1 + 0.3 * Z("nasal_bridge_height"));
        g.NostrilShow = (float)Math.Max(0.2, 1 + 0.3 * antev);

        // Mouth.
        double philtrum = 0.088 * (1 + 0.13 * Z("philtrum_length")) * mid;
        float topY = subY + (float)(philtrum * vscale);
        double ul = 0.033 * Math.Max(0.3, 1 + 0.2 * Z("upper_lip_thickness"));
        double ll = 0.062 * Math.Max(0.3, 1 + 0.18 * Z("lower_lip_thickness"));
        float lineY = topY + (float)ul;
        double gap = Math.Max(0, 0.006 + 0.012 * Z("mouth_openness")) + 0.025 * sm;
        g.MouthGap = (float)gap;
        double mw = 0.183 * (1 + 0.07 * Z("mouth_width") + 0.07 * sm);
        float cornerY = lineY - (float)(0.012 * Z("mouth_corner_angle") + 0.02 * sm) + (float)(gap * 0.4);
        p[48] = new Vector3((float)(0.5 - mw), cornerY, 0.02f);
        p[49] = new Vector3((float)(0.5 - mw * 0.63), lineY - (float)(ul * 0.94), 0.07f);
        p[50] = new Vector3((float)(0.5 - mw * 0.26), lineY - (float)(ul * 1.36), 0.09f);
        p[51] = new Vector3(0.5f, lineY - (float)ul, 0.1f);
        p[60] = new Vector3((float)(0.5 - mw * 0.85), cornerY + (float)(gap * 0.1), 0.03f);
        p[61] = new Vector3((float)(0.5 - mw * 0.26), lineY - 0.003f, 0.07f);
        p[62] = new Vector3(0.5f, lineY, 0.08f);
        float lowIn = lineY + (float)gap;
        p[67] = new Vector3((float)(0.5 - mw * 0.27), lowIn - 0.004f, 0.07f);
        p[66] = new Vector3(0.5f, lowIn, 0.08f);
        p[59] = new Vector3((float)(0.5 - mw * 0.64), lowIn + (float)(ll * 0.9) - (float)(0.3 * (lineY - cornerY)), 0.05f);
        p[58] = new Vector3((float)(0.5 - mw * 0.28), lowIn + (float)(ll * 0.97), 0.07f);
        p[57] = new Vector3(0.5f, lowIn + (float)ll, 0.08f);

        // Jaw 0-8 from the template, stretched by face width, jaw width, height and chin size.
        double fw = 1 + 0.055 * Z("face_width"), jw = 1 + 0.07 * Z("jaw_width"), cheek = Z("cheek_fullness");
        double chin = Z("chin_size");
        float chinY = p[57].Y + (float)(0.218 * (1 + 0.12 * chin) * vscale);
        ReadOnlySpan<float> jx = [0.02945f, 0.03263f, 0.04594f, 0.07179f, 0.12027f, 0.19473f, 0.28582f, 0.38631f, 0.5f];
        ReadOnlySpan<float> jy = [0.32195f, 0.44643f, 0.57043f, 0.69202f, 0.80495f, 0.90289f, 0.98460f, 1.05021f, 1.06971f];
        for (int i = 0; i <= 8; i++)
        {
            double t = i / 8.0;
            double wScale = i <= 2 ? fw : i <= 6 ? fw * (1 - (i - 2) / 4.0) + jw * ((i - 2) / 4.0) : jw * (1 - 0.06 * chin * (i - 6));
            if (i is >= 3 and <= 5) wScale += 0.03 * cheek;
            double x = 0.5 - (0.5 - jx[i]) * wScale;
            double y = 0.322 + (jy[i] - 0.322) * (chinY - 0.322) / (1.06971 - 0.322);
            p[i] = new Vector3((float)x, (float)y, -0.32f + 0.36f * (float)(t * t));
        }
        g.CheekFullness = (float)Math.Max(0.2, 1 + 0.35 * cheek);
        g.PhiltrumDepth = (float)Math.Max(0, 1 + 0.45 * Z("philtrum_depth"));

        // Mirror the image-left half onto the image-right half.
        for (int i = 0; i < 68; i++)
            if (MirrorOf[i] != i && IsLeftHalf(i)) p[MirrorOf[i]] = new Vector3(1 - p[i].X, p[i].Y, p[i].Z);
        foreach (int i in new[] { 8, 27, 28, 29, 30, 33, 51, 57, 62, 66 }) p[i].X = 0.5f;
        g.Irises[1] = new Vector3(1 - g.Irises[0].X, g.Irises[0].Y, g.Irises[0].Z);
        // Small individual asymmetry, stable per subject.
        for (int i = 0; i < 68; i++) { p[i].X += appearance.Jitter[2 * i]; p[i].Y += appearance.Jitter[2 * i + 1]; }

        // Skull and hairline.
        float browTop = Math.Min(p[19].Y, p[24].Y);
        float skullTop = browTop - (float)(0.42 * (1 + 0.1 * Z("forehead_height")));
        g.HairlineY = browTop - (float)(0.17 * Math.Max(0.3, 1 + 0.15 * Z("hairline_height")) * (1 + 0.08 * Z("forehead_height")));
        float sideX = (float)(0.5 - 0.49 * fw);
        g.Skull =
        [
            new(p[0].X, p[0].Y, -0.3f), new(sideX - 0.01f, browTop - 0.02f, -0.3f), new(sideX + 0.03f, skullTop + 0.16f, -0.25f),
            new(0.5f, skullTop, -0.1f),
            new(1 - sideX - 0.03f, skullTop + 0.16f, -0.25f), new(1 - sideX + 0.01f, browTop - 0.02f, -0.3f), new(p[16].X, p[16].Y, -0.3f),
        ];

        // Ears: from brow level to nose-tip level, lowered by ear_position, scaled by ear_size.
        float earTop = p[19].Y + 0.07f + (float)(0.025 * Z("ear_position"));
        float earBottom = tipY + (float)(0.025 * Z("ear_position"));
        float earMid = (earTop + earBottom) / 2;
        float earHalfH = (earBottom - earTop) / 2 * (float)(1 + 0.1 * Z("ear_size"));
        float earHalfW = 0.05f * (float)(1 + 0.1 * Z("ear_size"));
        g.Ears[0] = (new Vector3(p[1].X - earHalfW * 0.55f, earMid, -0.35f), new Vector2(earHalfW, earHalfH));
        g.Ears[1] = (new Vector3(p[15].X + earHalfW * 0.55f, earMid, -0.35f), new Vector2(earHalfW, earHalfH));
        return g;
    }

    private static bool IsLeftHalf(int i) => i switch
    {
        <= 7 => true, >= 17 and <= 21 => true, 31 or 32 => true, >= 36 and <= 41 => true,
        48 or 49 or 50 or 58 or 59 or 60 or 61 or 67 => true, _ => false,
    };

    private static int[] BuildMirror()
    {
        var m = Enumerable.Range(0, 68).ToArray();
        void Pair(int a, int b) { m[a] = b; m[b] = a; }
        for (int i = 0; i <= 7; i++) Pair(i, 16 - i);
        for (int i = 0; i < 5; i++) Pair(17 + i, 26 - i);
        Pair(31, 35); Pair(32, 34);
        Pair(36, 45); Pair(37, 44); Pair(38, 43); Pair(39, 42); Pair(40, 47); Pair(41, 46);
        Pair(48, 54); Pair(49, 53); Pair(50, 52); Pair(59, 55); Pair(58, 56);
        Pair(60, 64); Pair(61, 63); Pair(67, 65);
        return m;
    }
}
