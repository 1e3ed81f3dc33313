using GestaltLab.Runtime;

namespace GestaltLab.Synthetic;

/// <summary>
/// One named facial measurement of the synthetic trait model. Individuals carry traits as z-scores (SD units of the
/// unaffected population); <see cref="Mean"/> and <see cref="Sd"/> give the real-world scale the z-score stands for
/// (roughly childhood anthropometry) so a z can be read as millimetres or degrees.
/// </summary>
/// <param name="Name">Identifier used in catalogs and <c>traits.csv</c> (snake_case).</param>
/// <param name="Region">Facial region the trait lives in (eyes, brows, nose, mouth, lower_face, face, ears).</param>
/// <param name="Description">What a positive z means, in clinical words.</param>
/// <param name="Mean">Population mean in <paramref name="Unit"/>.</param>
/// <param name="Sd">Population SD in <paramref name="Unit"/>.</param>
/// <param name="Unit">Unit of <paramref name="Mean"/> and <paramref name="Sd"/>.</param>
public sealed record Trait(string Name, string Region, string Description, double Mean, double Sd, string Unit);

/// <summary>
/// The trait space: the named traits, their population correlations, and the covariates (sex, age band, skin tone)
/// every synthetic person also has. Individuals are drawn as z ~ N(μ, Σ) where Σ is the correlation matrix below;
/// syndromes shift μ (see <see cref="SyndromeCatalog"/>). Covariates change how a face is drawn (a boy's brows are
/// thicker, an infant's forehead higher) but are independent of the syndrome, so the trait vector alone is what
/// separates syndromes.
/// </summary>
public static class TraitSpace
{
    /// <summary>The traits, in the fixed order used by trait vectors and <c>traits.csv</c>.</summary>
    public static IReadOnlyList<Trait> Traits { get; } =
    [
        new("inner_canthal_distance", "eyes", "wider distance between the inner eye corners (telecanthus)", 30, 2.5, "mm"),
        new("interpupillary_distance", "eyes", "wider-set eyes (hypertelorism)", 56, 3.5, "mm"),
        new("palpebral_fissure_length", "eyes", "longer eye openings", 27, 1.8, "mm"),
        new("palpebral_fissure_slant", "eyes", "up-slanting eye openings (negative: down-slanting)", 4, 3, "degrees"),
        new("ptosis", "eyes", "drooping upper eyelids (narrower opening)", 0.5, 0.6, "mm"),
        new("epicanthus", "eyes", "epicanthal folds over the inner eye corners", 0.2, 0.15, "score 0-1"),
        new("eyebrow_arch", "brows", "highly arched eyebrows", 8, 3, "degrees"),
        new("eyebrow_thickness", "brows", "thick, bushy eyebrows", 6, 1.5, "mm"),
        new("synophrys", "brows", "eyebrows meeting in the midline", 0.1, 0.1, "score 0-1"),
        new("eyebrow_height", "brows", "eyebrows set high above the eyes", 14, 2, "mm"),
        new("nasal_bridge_width", "nose", "broad nasal bridge", 14, 2, "mm"),
        new("nasal_bridge_height", "nose", "prominent nasal bridge (negative: depressed/flat bridge)", 10, 2, "mm"),
        new("nose_length", "nose", "long nose (nasion to tip)", 40, 3.5, "mm"),
        new("alar_width", "nose", "wide nose base (alae)", 30, 2.5, "mm"),
        new("nostril_anteversion", "nose", "upturned, anteverted nostrils", 95, 8, "degrees"),
        new("philtrum_length", "mouth", "long philtrum", 13, 2, "mm"),
        new("philtrum_depth", "mouth", "well-marked philtrum (negative: smooth philtrum)", 1.5, 0.5, "mm"),
        new("upper_lip_thickness", "mouth", "full upper lip (negative: thin vermilion)", 7, 1.5, "mm"),
        new("lower_lip_thickness", "mouth", "full, everted lower lip", 9, 1.8, "mm"),
        new("mouth_width", "mouth", "wide mouth", 45, 3.5, "mm"),
        new("mouth_corner_angle", "mouth", "up-turned mouth corners (negative: down-turned)", 0, 4, "degrees"),
        new("mouth_openness", "mouth", "open-mouth resting posture", 1, 1.5, "mm"),
        new("chin_size", "lower_face", "large chin (negative: small chin, micrognathia)", 30, 3, "mm"),
        new("face_width", "face", "broad face (bizygomatic width)", 120, 6, "mm"),
        new("face_height", "face", "long face", 105, 6, "mm"),
        new("forehead_height", "face", "tall, prominent forehead", 55, 5, "mm"),
        new("midface_length", "face", "long midface (negative: midface hypoplasia)", 60, 4, "mm"),
        new("jaw_width", "lower_face", "wide jaw (bigonial width)", 90, 5, "mm"),
        new("ear_position", "ears", "low-set ears", 0, 3, "mm below eye level"),
        new("ear_size", "ears", "large ears", 55, 4, "mm"),
        new("cheek_fullness", "face", "full, round cheeks", 0.5, 0.2, "score 0-1"),
        new("hairline_height", "face", "high anterior hairline (negative: low hairline)", 60, 6, "mm above brows"),
    ];

    /// <summary>Number of traits.</summary>
    public static int Count => Traits.Count;

    private static readonly Dictionary<string, int> IndexByName =
        Traits.Select((t, i) => (t.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);

    /// <summary>Index of a trait by name, or −1.</summary>
    public static int IndexOf(string name) => IndexByName.TryGetValue(name, out int i) ? i : -1;

    /// <summary>Index of a trait by name; throws a clear error listing valid names.</summary>
    public static int Require(string name, string where) => IndexOf(name) is int i and >= 0 ? i
        : throw new GestaltLabException($"{where}: unknown trait '{name}'", $"valid traits: {string.Join(", ", Traits.Select(t => t.Name))}");

    /// <summary>Natural correlations between traits in the unaffected population (pairs not listed are independent).</summary>
    public static IReadOnlyList<(string A, string B, double R)> Correlations { get; } =
    [
        ("inner_canthal_distance", "interpupillary_distance", 0.6),
        ("inner_canthal_distance", "nasal_bridge_width", 0.45),
        ("interpupillary_distance", "face_width", 0.4),
        ("face_width", "jaw_width", 0.5),
        ("face_width", "alar_width", 0.3),
        ("face_height", "midface_length", 0.5),
        ("face_height", "nose_length", 0.35),
        ("nose_length", "midface_length", 0.4),
        ("upper_lip_thickness", "lower_lip_thickness", 0.5),
        ("eyebrow_thickness", "synophrys", 0.3),
        ("palpebral_fissure_length", "interpupillary_distance", 0.3),
        ("mouth_width", "face_width", 0.3),
        ("chin_size", "jaw_width", 0.3),
        ("nasal_bridge_height", "nose_length", 0.25),
        ("philtrum_length", "midface_length", 0.3),
    ];

    /// <summary>The population correlation matrix Σ (positive definite; checked by <see cref="CholeskyFactor"/>).</summary>
    public static double[,] CorrelationMatrix()
    {
        int n = Count;
        var m = new double[n, n];
        for (int i = 0; i < n; i++) m[i, i] = 1;
        foreach (var (a, b, r) in Correlations)
        {
            int i = IndexOf(a), j = IndexOf(b);
            m[i, j] = m[j, i] = r;
        }
        return m;
    }

    /// <summary>Lower-triangular L with L·Lᵀ = Σ, used to draw correlated traits.</summary>
    public static double[,] CholeskyFactor() => LinearAlgebra.Cholesky(CorrelationMatrix())
        ?? throw new InvalidOperationException("trait correlation matrix is not positive definite");

    /// <summary>Sex covariate values.</summary>
    public static IReadOnlyList<string> Sexes { get; } = ["female", "male"];
    /// <summary>Age band covariate values.</summary>
    public static IReadOnlyList<string> AgeBands { get; } = ["infant", "child", "adolescent", "adult"];
    /// <summary>Population frequency of each age band (syndrome photos are mostly of children, as in the paper).</summary>
    public static IReadOnlyList<double> AgeBandWeights { get; } = [0.2, 0.45, 0.2, 0.15];
    /// <summary>Skin tone covariate values (Fitzpatrick-like bands I–VI).</summary>
    public static IReadOnlyList<string> SkinTones { get; } = ["I", "II", "III", "IV", "V", "VI"];
    /// <summary>Population frequency of each skin tone band.</summary>
    public static IReadOnlyList<double> SkinToneWeights { get; } = [0.12, 0.22, 0.22, 0.18, 0.14, 0.12];

    /// <summary>
    /// How sex and age band change the drawn face, as z-shifts added at render time (not part of the stored trait
    /// vector, so syndromes are compared on the same footing across strata).
    /// </summary>
    public static double[] CovariateShift(string sex, string ageBand)
    {
        var s = new double[Count];
        void Add(string trait, double z) => s[IndexOf(trait)] += z;
        if (sex == "male") { Add("eyebrow_thickness", 0.6); Add("jaw_width", 0.5); Add("chin_size", 0.4); Add("face_height", 0.3); Add("nose_length", 0.3); }
        else { Add("upper_lip_thickness", 0.3); Add("lower_lip_thickness", 0.3); Add("eyebrow_arch", 0.4); Add("eyebrow_thickness", -0.3); }
        switch (ageBand)
        {
            case "infant": Add("forehead_height", 1.2); Add("nose_length", -1.2); Add("chin_size", -1.0); Add("cheek_fullness", 1.2); Add("midface_length", -0.9); Add("face_height", -0.8); Add("jaw_width", -0.6); break;
            case "child": Add("forehead_height", 0.6); Add("nose_length", -0.5); Add("chin_size", -0.4); Add("cheek_fullness", 0.5); Add("midface_length", -0.4); break;
            case "adult": Add("nose_length", 0.5); Add("forehead_height", -0.4); Add("chin_size", 0.4); Add("cheek_fullness", -0.5); Add("face_height", 0.4); break;
        }
        return s;
    }
}

/// <summary>Small dense linear algebra for the trait model and the oracle (24–40 dimensions; no dependency needed).</summary>
internal static class LinearAlgebra
{
    /// <summary>Cholesky factor of a symmetric matrix, or null when it is not positive definite.</summary>
    public static double[,]? Cholesky(double[,] a)
    {
        int n = a.GetLength(0);
        var l = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double s = a[i, j];
                for (int k = 0; k < j; k++) s -= l[i, k] * l[j, k];
                if (i == j)
                {
                    if (s <= 1e-12) return null;
                    l[i, i] = Math.Sqrt(s);
                }
                else l[i, j] = s / l[j, j];
            }
        }
        return l;
    }

    /// <summary>Solves L·y = b for lower-triangular L.</summary>
    public static double[] ForwardSolve(double[,] l, ReadOnlySpan<double> b)
    {
        int n = b.Length;
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = b[i];
            for (int k = 0; k < i; k++) s -= l[i, k] * y[k];
            y[i] = s / l[i, i];
        }
        return y;
    }

    /// <summary>L·x for lower-triangular L.</summary>
    public static double[] LowerTimes(double[,] l, ReadOnlySpan<double> x)
    {
        int n = x.Length;
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int k = 0; k <= i; k++) s += l[i, k] * x[k];
            y[i] = s;
        }
        return y;
    }
}
