namespace GestaltLab.Synthetic;

/// <summary>One synthetic person: stable identity (trait vector, appearance), labels, covariates, split and photo count.</summary>
public sealed record SyntheticSubject
{
    /// <summary>Subject id (manifest <c>subject</c>).</summary>
    public required string Id { get; init; }
    /// <summary>Position in the plan; seeds the subject's random stream.</summary>
    public required int Index { get; init; }
    /// <summary>Class label of the data set's task (manifest <c>syndrome</c>): the syndrome id, or a task label such as <c>other</c> or a gene.</summary>
    public required string Label { get; init; }
    /// <summary>The catalog syndrome the person was drawn from.</summary>
    public required string SyndromeId { get; init; }
    /// <summary>Gene, or empty.</summary>
    public string Gene { get; init; } = "";
    /// <summary>Sex.</summary>
    public required string Sex { get; init; }
    /// <summary>Age band.</summary>
    public required string AgeBand { get; init; }
    /// <summary>Skin tone band index (0 = I … 5 = VI).</summary>
    public required int SkinTone { get; init; }
    /// <summary>Split (<see cref="Data.SplitNames"/>).</summary>
    public required string Split { get; init; }
    /// <summary>Number of photos.</summary>
    public required int Photos { get; init; }
    /// <summary>Severity multiplier of the syndrome shift (variable expressivity).</summary>
    public double Severity { get; init; } = 1;
    /// <summary>Trait vector z (SD units), in <see cref="TraitSpace.Traits"/> order.</summary>
    public required double[] Traits { get; init; }
}

/// <summary>A task class: its label and the (syndrome, gene) sources its subjects are drawn from, with weights.</summary>
/// <param name="Label">Class label.</param>
/// <param name="Sources">Sources and relative weights.</param>
public sealed record TaskClass(string Label, IReadOnlyList<(Syndrome Syndrome, string? Gene, double Weight)> Sources);

/// <summary>
/// A fully decided data set before rendering: task classes, subjects with traits and splits. Everything in it follows
/// from (preset, catalog, seed, scale).
/// </summary>
public sealed record DatasetPlan
{
    /// <summary>Preset name.</summary>
    public required string Preset { get; init; }
    /// <summary>Seed.</summary>
    public required int Seed { get; init; }
    /// <summary>Subject-count scale.</summary>
    public required double Scale { get; init; }
    /// <summary>Catalog entries used.</summary>
    public required SyndromeCatalog Catalog { get; init; }
    /// <summary>Task classes, in label order.</summary>
    public required IReadOnlyList<TaskClass> Classes { get; init; }
    /// <summary>Subjects in plan order.</summary>
    public required IReadOnlyList<SyntheticSubject> Subjects { get; init; }
    /// <summary>Photo variation.</summary>
    public NuisanceLevel Nuisance { get; init; } = NuisanceLevel.Varied;
    /// <summary>
    /// Added to the ids of the plan's random streams (people, appearance, photos): 0 for the syndrome presets, its own for
    /// <c>identities</c>, so that no pretraining person is also a person of a syndrome data set of the same seed (a
    /// backbone pretrained on them would have seen that data set's test faces).
    /// </summary>
    public long StreamBase { get; init; }

    /// <summary>Total photos.</summary>
    public int ImageCount => Subjects.Sum(s => s.Photos);

    /// <summary>The Bayes oracle for this task: class priors from training photos (or all equal), components from the catalog.</summary>
    /// <param name="equalPriors">Give every class the same prior, as a model that ranks with equal priors does.</param>
    public Oracle BuildOracle(bool equalPriors = false)
    {
        var trainImages = Subjects.Where(s => s.Split == Data.SplitNames.Train).GroupBy(s => s.Label).ToDictionary(g => g.Key, g => (double)g.Sum(s => s.Photos));
        return new Oracle(Classes.Select(c => new OracleClass(c.Label,
            equalPriors ? 1 : trainImages.TryGetValue(c.Label, out var n) ? n : 1,
            c.Sources.Select(src => new OracleComponent(src.Weight, src.Syndrome.MeanShift(src.Gene), src.Syndrome.Expressivity)).ToList())).ToList());
    }

    /// <summary>Oracle top-k on the test split (one item per test photo, so it weighs subjects like image models are weighed).</summary>
    /// <param name="cancellationToken">Cancels the scoring.</param>
    /// <param name="equalPriors">Score the equal-prior oracle (see <see cref="BuildOracle"/>).</param>
    public OracleResult EvaluateOracle(CancellationToken cancellationToken = default, bool equalPriors = false)
        => ScoreTestPhotos(OracleTestRanks(cancellationToken, equalPriors));

    /// <summary>Top-k over the test photos (each person counted once per photo) from <see cref="OracleTestRanks"/>.</summary>
    public OracleResult ScoreTestPhotos(IReadOnlyDictionary<string, int> ranks) =>
        OracleResult.FromRanks(Subjects.Where(s => s.Split == Data.SplitNames.Test).SelectMany(s => Enumerable.Repeat(ranks[s.Id], s.Photos)).ToList());

    /// <summary>
    /// Where the oracle ranks each test person's true class (1 = first), by subject id: what scores the oracle on exactly
    /// the photos a model was scored on when some had no usable face (<see cref="Evaluation.OracleFigures.On"/>).
    /// </summary>
    /// <param name="cancellationToken">Cancels the scoring.</param>
    /// <param name="equalPriors">Rank with the equal-prior oracle (see <see cref="BuildOracle"/>).</param>
    public IReadOnlyDictionary<string, int> OracleTestRanks(CancellationToken cancellationToken = default, bool equalPriors = false)
    {
        var test = Subjects.Where(s => s.Split == Data.SplitNames.Test).ToList();
        var ranks = BuildOracle(equalPriors).TrueClassRanks(test.Select(s => (s.Traits, s.Label)), cancellationToken);
        return test.Select((s, i) => (s.Id, Rank: ranks[i])).ToDictionary(x => x.Id, x => x.Rank, StringComparer.Ordinal);
    }
}
