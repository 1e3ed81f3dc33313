namespace GestaltLab.Synthetic;

public sealed partial class SyndromeCatalog
{
    /// <summary>Seed of the shipped catalog.</summary>
    public const int DefaultCatalogSeed = 216;
    /// <summary>Number of syndromes in the shipped catalog (controls not counted), as in DeepGestalt's Gestalt model.</summary>
    public const int DefaultSyndromeCount = 216;
    /// <summary>Effect-size scale of generated syndromes in the shipped catalog, calibrated so the gestalt216 oracle
    /// lands in the target band (top-1 in [60%, 85%], top-10 ≥ 95%); see docs/synthetic.md.</summary>
    public const double DefaultEffectScale = 1.2;

    /// <summary>
    /// Builds a catalog: the named teaching analogues, then generated syndromes up to <paramref name="syndromeCount"/>,
    /// then the unaffected controls. A fresh generated syndrome shifts 4–7 traits, drawn with clinical popularity weights
    /// (hypertelorism, philtrum and lip changes are common; so syndromes overlap, as real ones do), with magnitudes of
    /// 0.8–2.2 SD × <paramref name="effectScale"/>; a "sibling" of an earlier one rescales its shifts, drops some and adds
    /// one or two (3–11 traits). Frequencies follow a long tail. Deterministic in <paramref name="seed"/>.
    /// </summary>
    public static SyndromeCatalog Generate(int syndromeCount = DefaultSyndromeCount, int seed = DefaultCatalogSeed, double effectScale = DefaultEffectScale)
    {
        var list = new List<Syndrome>(TeachingAnalogues());
        if (syndromeCount < list.Count) list = list.Take(syndromeCount).ToList();
        var rng = SyntheticRandom.For(seed, 0xCA7A);
        var traits = TraitSpace.Traits;
        // Popularity: how often a trait is part of a syndrome's gestalt (eyes, philtrum and lips most often).
        double[] popularity = traits.Select(t => t.Region switch
        {
            "eyes" => 1.4, "mouth" => 1.3, "brows" => 1.0, "nose" => 1.1, "lower_face" => 1.0, "ears" => 0.8, _ => 0.9,
        }).ToArray();
        int n = list.Count;
        while (list.Count < syndromeCount)
        {
            int number = list.Count - n + 1;
            int k = 4 + rng.NextInt(4);
            var chosen = new List<int>();
            var w = popularity.ToArray();
            while (chosen.Count < k)
            {
                int t = rng.Pick(w);
                chosen.Add(t);
                w[t] = 0;
            }
            var effects = new Dictionary<string, double>(StringComparer.Ordinal);
            var earlier = list.Skip(n).ToList();
            if (earlier.Count > 4 && rng.Chance(0.6))
            {
                // A "sibling" of an earlier syndrome: its gestalt, scaled, plus one or two signs of its own. Such near
                // neighbours are what makes top-1 hard and top-10 easy, as among real syndromes.
                var parent = earlier[rng.NextInt(earlier.Count)];
                foreach (var (t, v) in parent.Effects)
                    if (!rng.Chance(0.2)) effects[t] = Math.Round(v * rng.Uniform(0.7, 1.15), 2);
                chosen = chosen.Where(t => !parent.Effects.ContainsKey(traits[t].Name)).Take(1 + rng.NextInt(2)).ToList();
            }
            foreach (int t in chosen)
            {
                double mag = rng.Uniform(0.8, 2.2) * effectScale * (rng.Chance(0.5) ? 1 : -1);
                effects[traits[t].Name] = Math.Round(mag, 2);
            }
            // Long tail: a few frequent syndromes, many rare ones (frequency ∝ rank^-0.8, shuffled by the seed).
            double frequency = Math.Round(Math.Pow(1 + rng.NextInt(syndromeCount), -0.8) * 10, 3);
            list.Add(new Syndrome
            {
                Id = $"syn{number:000}",
                Name = $"Synthetic syndrome {number:000} ({Describe(effects)})",
                Kind = "generated",
                Frequency = Math.Max(frequency, 0.05),
                Expressivity = 0.3,
                Effects = effects,
            });
        }
        list.Add(new Syndrome
        {
            Id = ControlId, Name = "Unaffected (controls)", Kind = "control", Frequency = 1, Expressivity = 0,
            Note = "People drawn from the population distribution with no syndrome shift.",
        });
        return new SyndromeCatalog($"gestaltlab-synthetic-{syndromeCount}", list);
    }

    /// <summary>A short clinical description of a set of trait shifts, e.g. "wide-set eyes, long philtrum".</summary>
    public static string Describe(IReadOnlyDictionary<string, double> effects) => string.Join(", ",
        effects.OrderByDescending(e => Math.Abs(e.Value)).ThenBy(e => e.Key, StringComparer.Ordinal).Take(3).Select(e => Words(e.Key, e.Value > 0)));

    private static string Words(string trait, bool up) => (trait, up) switch
    {
        ("inner_canthal_distance", true) => "telecanthus", ("inner_canthal_distance", false) => "narrow inner canthi",
        ("interpupillary_distance", true) => "wide-set eyes", ("interpupillary_distance", false) => "close-set eyes",
        ("palpebral_fissure_length", true) => "long palpebral fissures", ("palpebral_fissure_length", false) => "short palpebral fissures",
        ("palpebral_fissure_slant", true) => "up-slanting eyes", ("palpebral_fissure_slant", false) => "down-slanting eyes",
        ("ptosis", true) => "ptosis", ("ptosis", false) => "wide-open eyes",
        ("epicanthus", true) => "epicanthal folds", ("epicanthus", false) => "no epicanthus",
        ("eyebrow_arch", true) => "arched brows", ("eyebrow_arch", false) => "straight brows",
        ("eyebrow_thickness", true) => "thick brows", ("eyebrow_thickness", false) => "sparse brows",
        ("synophrys", true) => "synophrys", ("synophrys", false) => "widely separated brows",
        ("eyebrow_height", true) => "high brows", ("eyebrow_height", false) => "low brows",
        ("nasal_bridge_width", true) => "broad nasal bridge", ("nasal_bridge_width", false) => "narrow nasal bridge",
        ("nasal_bridge_height", true) => "prominent nasal bridge", ("nasal_bridge_height", false) => "depressed nasal bridge",
        ("nose_length", true) => "long nose", ("nose_length", false) => "short nose",
        ("alar_width", true) => "wide nasal base", ("alar_width", false) => "narrow nasal base",
        ("nostril_anteversion", true) => "anteverted nares", ("nostril_anteversion", false) => "downturned nasal tip",
        ("philtrum_length", true) => "long philtrum", ("philtrum_length", false) => "short philtrum",
        ("philtrum_depth", true) => "deep philtrum", ("philtrum_depth", false) => "smooth philtrum",
        ("upper_lip_thickness", true) => "full upper lip", ("upper_lip_thickness", false) => "thin upper lip",
        ("lower_lip_thickness", true) => "everted lower lip", ("lower_lip_thickness", false) => "thin lower lip",
        ("mouth_width", true) => "wide mouth", ("mouth_width", false) => "small mouth",
        ("mouth_corner_angle", true) => "up-turned mouth corners", ("mouth_corner_angle", false) => "down-turned mouth corners",
        ("mouth_openness", true) => "open mouth", ("mouth_openness", false) => "closed mouth",
        ("chin_size", true) => "prominent chin", ("chin_size", false) => "micrognathia",
        ("face_width", true) => "broad face", ("face_width", false) => "narrow face",
        ("face_height", true) => "long face", ("face_height", false) => "short face",
        ("forehead_height", true) => "tall forehead", ("forehead_height", false) => "low forehead",
        ("midface_length", true) => "long midface", ("midface_length", false) => "midface hypoplasia",
        ("jaw_width", true) => "wide jaw", ("jaw_width", false) => "narrow jaw",
        ("ear_position", true) => "low-set ears", ("ear_position", false) => "high-set ears",
        ("ear_size", true) => "large ears", ("ear_size", false) => "small ears",
        ("cheek_fullness", true) => "full cheeks", ("cheek_fullness", false) => "hollow cheeks",
        ("hairline_height", true) => "high hairline", ("hairline_height", false) => "low hairline",
        _ => (up ? "increased " : "decreased ") + trait.Replace('_', ' '),
    };

    private static Dictionary<string, double> E(params (string T, double V)[] e) =>
        e.ToDictionary(x => x.T, x => x.V, StringComparer.Ordinal);

    /// <summary>The named teaching analogues (shifts echo textbook gestalt descriptions; synthetic, not diagnostic).</summary>
    public static IReadOnlyList<Syndrome> TeachingAnalogues() =>
    [
        new()
        {
            Id = "cdls_like", Name = "Cornelia de Lange-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Cornelia de Lange syndrome",
            Frequency = 3, Expressivity = 0.25,
            Effects = E(("synophrys", 2.6), ("eyebrow_arch", 1.8), ("eyebrow_thickness", 1.6), ("philtrum_length", 2.0), ("upper_lip_thickness", -1.8),
                ("mouth_corner_angle", -1.8), ("nose_length", -1.0), ("nostril_anteversion", 1.5), ("hairline_height", -1.2), ("chin_size", -0.8)),
            Note = "Synophrys, arched thick brows, long philtrum, thin upper lip, down-turned mouth corners, short upturned nose, low hairline.",
        },
        new()
        {
            Id = "angelman_like", Name = "Angelman-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Angelman syndrome",
            Frequency = 3, Expressivity = 0.3,
            Effects = E(("mouth_width", 2.0), ("mouth_openness", 2.0), ("mouth_corner_angle", 1.2), ("chin_size", 1.3), ("lower_lip_thickness", 0.8),
                ("face_width", 0.6), ("forehead_height", -0.6)),
            Note = "Wide, often open smiling mouth, prominent chin (mandibular prognathism); the happy demeanour is drawn as up-turned corners.",
        },
        new()
        {
            Id = "noonan_like", Name = "Noonan-like (synthetic analogue, 5-gene family)", Kind = "teaching", AnalogueOf = "Noonan syndrome (RASopathy)",
            Frequency = 4, Expressivity = 0.25,
            Effects = E(("interpupillary_distance", 1.6), ("palpebral_fissure_slant", -1.5), ("ptosis", 1.4), ("ear_position", 1.6), ("epicanthus", 0.8),
                ("hairline_height", -0.8), ("nasal_bridge_height", -0.6)),
            Genes =
            [
                new("PTPN11", 0.5, E(("ptosis", 0.7), ("palpebral_fissure_slant", -0.5))),
                new("SOS1", 0.15, E(("eyebrow_thickness", 1.0), ("hairline_height", -0.7), ("forehead_height", 0.5))),
                new("RAF1", 0.12, E(("face_width", 0.8), ("nasal_bridge_width", 0.6), ("cheek_fullness", 0.6))),
                new("RIT1", 0.12, E(("ear_size", 0.9), ("interpupillary_distance", 0.5), ("mouth_width", -0.5))),
                new("KRAS", 0.11, E(("nasal_bridge_height", -0.9), ("forehead_height", 0.9), ("palpebral_fissure_length", -0.6))),
            ],
            Note = "Shared core (hypertelorism, down-slanting fissures, ptosis, low-set ears) with subtler per-gene shifts, after the RASopathy genotype literature.",
        },
        new()
        {
            Id = "williams_like", Name = "Williams-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Williams syndrome",
            Frequency = 2.5, Expressivity = 0.3,
            Effects = E(("nasal_bridge_height", -1.5), ("nostril_anteversion", 1.5), ("philtrum_length", 1.5), ("mouth_width", 1.5), ("lower_lip_thickness", 1.8),
                ("cheek_fullness", 1.5), ("chin_size", -0.8)),
            Note = "Depressed bridge, upturned nose, long philtrum, wide mouth with full lips, full cheeks, small chin.",
        },
        new()
        {
            Id = "down_like", Name = "Down-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Down syndrome (trisomy 21)",
            Frequency = 3.5, Expressivity = 0.25,
            Effects = E(("palpebral_fissure_slant", 2.0), ("epicanthus", 2.0), ("nasal_bridge_height", -1.8), ("midface_length", -1.2), ("ear_size", -1.2),
                ("mouth_openness", 1.0), ("face_height", -0.8)),
            Note = "Up-slanting fissures, epicanthal folds, flat nasal bridge, midface hypoplasia, small ears, open mouth.",
        },
        new()
        {
            Id = "fas_like", Name = "Fetal-alcohol-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Fetal alcohol syndrome",
            Frequency = 2, Expressivity = 0.3,
            Effects = E(("palpebral_fissure_length", -2.0), ("philtrum_depth", -2.2), ("upper_lip_thickness", -2.0), ("midface_length", -0.8)),
            Note = "The three sentinel signs: short palpebral fissures, smooth philtrum, thin upper vermilion.",
        },
        new()
        {
            Id = "kabuki_like", Name = "Kabuki-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Kabuki syndrome",
            Frequency = 1.5, Expressivity = 0.3,
            Effects = E(("palpebral_fissure_length", 2.0), ("eyebrow_arch", 1.8), ("ear_size", 1.5), ("nasal_bridge_height", -1.0), ("ptosis", 0.8)),
            Note = "Long palpebral fissures, arched brows, prominent ears, depressed nasal tip.",
        },
        new()
        {
            Id = "del22q11_like", Name = "22q11.2-deletion-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "22q11.2 deletion syndrome",
            Frequency = 2, Expressivity = 0.3,
            Effects = E(("face_height", 1.2), ("alar_width", -1.0), ("nasal_bridge_height", 1.0), ("palpebral_fissure_length", -1.0), ("ear_size", -1.0),
                ("mouth_width", -1.0)),
            Note = "Long face, tubular nose with narrow base, hooded short fissures, small ears and mouth.",
        },
        new()
        {
            Id = "fragile_x_like", Name = "Fragile-X-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Fragile X syndrome",
            Frequency = 2, Expressivity = 0.3,
            Effects = E(("face_height", 1.8), ("ear_size", 2.0), ("jaw_width", 1.2), ("forehead_height", 1.0), ("chin_size", 1.0)),
            Note = "Long face, large ears, prominent jaw and forehead.",
        },
        new()
        {
            Id = "treacher_collins_like", Name = "Treacher Collins-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Treacher Collins syndrome",
            Frequency = 1, Expressivity = 0.25,
            Effects = E(("palpebral_fissure_slant", -2.2), ("chin_size", -2.0), ("ear_position", 1.8), ("ear_size", -1.5), ("face_width", -0.8)),
            Note = "Down-slanting fissures, micrognathia, low-set small ears, malar hypoplasia.",
        },
        new()
        {
            Id = "sotos_like", Name = "Sotos-like (synthetic analogue)", Kind = "teaching", AnalogueOf = "Sotos syndrome",
            Frequency = 1.5, Expressivity = 0.3,
            Effects = E(("forehead_height", 2.0), ("hairline_height", 1.8), ("face_height", 1.5), ("palpebral_fissure_slant", -1.2), ("chin_size", 1.0)),
            Note = "Tall forehead with high frontal hairline, long face, down-slanting fissures, pointed chin.",
        },
    ];
}
