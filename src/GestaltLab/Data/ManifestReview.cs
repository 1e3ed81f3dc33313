using System.Globalization;

namespace GestaltLab.Data;

/// <summary>
/// What a manifest made from a user's labels (<see cref="Manifest.FromImageFolder"/>) would otherwise show only later, in
/// <c>train</c> or <c>evaluate</c> — said while the labels are still open in an editor. What <c>gestaltlab manifest</c>
/// prints under the manifest it wrote.
/// </summary>
public static class ManifestReview
{
    /// <summary>How many photos, people and syndromes, and each split's labelled photos: one line.</summary>
    public static string Summary(Manifest manifest)
    {
        var labelled = manifest.Rows.Where(r => r.IsLabelled).ToList();
        int people = labelled.Select(r => r.Subject).Distinct().Count();
        return $"{manifest.Rows.Count} photo(s), {labelled.Count} labelled ({people} {(people == 1 ? "person" : "people")}, "
               + $"{labelled.Select(r => r.Syndrome).Distinct().Count()} syndromes); "
               + string.Join(", ", SplitNames.All.Select(s => $"{s} {labelled.Count(r => r.Split == s)}"));
    }

    /// <summary>
    /// Notes and warnings, one line each: photos left unlabelled; no photo with a syndrome; a person labelled with two
    /// syndromes (the first five); a split without labelled photos (with what follows from it); values of the syndrome,
    /// gene, sex, age band or skin tone spelt two ways ("Female" and "female"); photos that are empty files or not images
    /// (each photo's first bytes are read from the disk).
    /// </summary>
    /// <param name="manifest">The manifest made from <paramref name="labelsCsv"/>.</param>
    /// <param name="labelsCsv">The labels it was made from (whether it has a split and a syndrome column).</param>
    /// <param name="fractions">The shares the labelled people were split by, when the labels have no split column.</param>
    public static IReadOnlyList<string> Warnings(Manifest manifest, string labelsCsv, SplitFractions fractions)
    {
        ArgumentNullException.ThrowIfNull(labelsCsv);
        var labels = Csv.Read(labelsCsv);
        return Warnings(manifest, labels.Has("split"), labels.Has("syndrome"), fractions);
    }

    /// <summary>
    /// The same for a manifest <see cref="Manifest.FromImageFolder"/> made, which knows the labels and shares it was made
    /// from.
    /// </summary>
    /// <exception cref="ArgumentException">The manifest was not made by <see cref="Manifest.FromImageFolder"/> (loaded,
    /// or filtered with <see cref="Manifest.WithRows"/>): pass its labels file and shares.</exception>
    public static IReadOnlyList<string> Warnings(Manifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var made = manifest.MadeFrom ?? throw new ArgumentException(
            "the manifest was not made by Manifest.FromImageFolder (loaded or filtered): use Warnings(manifest, labelsCsv, fractions)", nameof(manifest));
        // Without labels every photo is unlabelled on purpose (photos to predict): said once, not as missing labels.
        if (made.Labels is null)
            return [$"no labels: all {manifest.Rows.Count} photo(s) are listed unlabelled in the test split (predict scores them; train and evaluate need labelled photos)"];
        return Warnings(manifest, made.SplitColumn, made.SyndromeColumn, made.Shares);
    }

    private static IReadOnlyList<string> Warnings(Manifest manifest, bool splitColumn, bool syndromeColumn, SplitFractions fractions)
    {
        var lines = new List<string>();
        var labelled = manifest.Rows.Where(r => r.IsLabelled).ToList();
        int people = labelled.Select(r => r.Subject).Distinct().Count();
        // Named, as the unreadable ones below are: a blank syndrome cell may be a slip, and the photo is not trained on.
        if (manifest.Rows.Where(r => !r.IsLabelled).Select(r => r.Image).ToList() is { Count: > 0 } unlabelled)
            lines.Add($"{unlabelled.Count} photo(s) without a syndrome in the labels are listed unlabelled (test split; train ignores them): "
                      + string.Join(", ", unlabelled.Take(5)) + (unlabelled.Count > 5 ? ", …" : ""));
        if (labelled.Count == 0)
            lines.Add("warning: no photo has a syndrome" + (syndromeColumn ? "" : " (the labels have no 'syndrome' column)")
                      + ": train and evaluate need labelled photos");
        foreach (var person in labelled.GroupBy(r => r.Subject, StringComparer.Ordinal).Where(g => g.Select(r => r.Syndrome).Distinct().Count() > 1).Take(5))
            lines.Add($"warning: subject {person.Key} has photos labelled {string.Join(" and ", person.Select(r => r.Syndrome).Distinct())}: "
                      + "each is trained and scored as a separate syndrome; check the labels if that is not meant");
        // A split given no share is empty by choice, not by too few people.
        var shares = new Dictionary<string, double> { [SplitNames.Train] = fractions.Train, [SplitNames.Val] = fractions.Val, [SplitNames.Test] = fractions.Test };
        var emptySplits = labelled.Count == 0 ? [] : SplitNames.All.Where(sp => labelled.All(r => r.Split != sp) && (splitColumn || shares[sp] > 0)).ToList();
        if (emptySplits.Count > 0)
        {
            var consequences = new List<string>();
            if (emptySplits.Contains(SplitNames.Test)) consequences.Add("evaluate scores the test split");
            if (emptySplits.Contains(SplitNames.Val)) consequences.Add("train holds out people of the train split for validation instead");
            string Share(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
            lines.Add($"warning: no labelled photo in {string.Join(" or ", emptySplits)}: "
                      + (splitColumn ? "none in the labels' split column"
                          : $"{people} {(people == 1 ? "person is" : "people are")} too few for the shares {Share(fractions.Train)},{Share(fractions.Val)},{Share(fractions.Test)}")
                      + (consequences.Count > 0 ? $" ({string.Join("; ", consequences)})" : ""));
        }
        lines.AddRange(SpellingVariants(manifest.Rows).Select(v => "warning: " + v));
        // Syndrome names are refused for this; a photo's name is the user's file, and GestaltLab reads it back as written,
        // so it is said rather than changed: the tables naming the photo (qc.csv, probabilities.csv) are opened in spreadsheets.
        if (manifest.Rows.Select(r => r.Image).Where(i => i.Length > 0 && i[0] is '=' or '+' or '-' or '@').ToList() is { Count: > 0 } formulas)
            lines.Add($"warning: {formulas.Count} photo name(s) begin with = + - or @, which a spreadsheet opening the tables that name them runs as a formula: "
                      + string.Join(", ", formulas.Take(5)) + (formulas.Count > 5 ? ", …" : "") + " (rename them, or open those tables as text)");
        // Said now, while the labels can still be mended, rather than found later by align: an empty file (a copy that did
        // not finish, a sync placeholder), an iPhone's HEIC, a TIFF, a text file named .jpg. From the first bytes only: a
        // truncated JPEG passes here and is reported by align.
        var unreadable = manifest.Rows.Select(r => (r.Image, Problem: ImageLoader.HeaderProblem(Path.Combine(manifest.Root, r.Image))))
            .Where(t => t.Problem is not null).ToList();
        if (unreadable.Count > 0)
            lines.Add($"warning: {unreadable.Count} photo(s) cannot be read and will be skipped: "
                      + string.Join("; ", unreadable.Take(5).Select(t => $"{t.Image} ({t.Problem})")) + (unreadable.Count > 5 ? "; …" : ""));
        return lines;
    }

    // The columns whose values are compared as written: a syndrome spelt two ways is trained as two classes, a sex or skin
    // tone spelt two ways is scored as two groups — nothing later says why.
    private static readonly string[] SpelledColumns = ["syndrome", "gene", "sex", "age_band", "skin_tone"];

    /// <summary>
    /// One warning per set of values of a column that differ only in case, spaces, hyphens or underscores
    /// ("Kabuki" and "kabuki", "Kabuki syndrome" and "kabuki_syndrome", "Female" and "female"): each is a class, or a group,
    /// of its own. Labelled photos only; the first five sets of each column.
    /// </summary>
    /// <param name="rows">The manifest's rows.</param>
    /// <param name="columns">The columns to compare (default: syndrome, gene, sex, age_band, skin_tone).</param>
    public static IEnumerable<string> SpellingVariants(IReadOnlyList<ManifestRow> rows, IEnumerable<string>? columns = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        static string Key(string v) => new(v.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray());
        foreach (var column in columns ?? SpelledColumns)
        {
            var counts = rows.Where(r => r.IsLabelled).Select(r => r.ValueOf(column) ?? "").Where(v => v.Length > 0)
                .GroupBy(v => v, StringComparer.Ordinal).Select(g => (Value: g.Key, Photos: g.Count())).ToList();
            var variants = counts.GroupBy(c => Key(c.Value)).Where(g => g.Key.Length > 0 && g.Count() > 1).ToList();
            string what = column switch
            {
                "syndrome" => "trained and scored as syndromes of their own",
                "gene" => "kept apart as genes of their own (a t-SNE map coloured by gene shows both)",
                _ => "scored as groups of their own (accuracy by stratum)",
            };
            foreach (var set in variants.Take(5))
                yield return $"{column} {string.Join(" and ", set.OrderByDescending(c => c.Photos).ThenBy(c => c.Value, StringComparer.Ordinal).Select(c => $"'{c.Value}' ({c.Photos} photo(s))"))} "
                             + $"differ only in case, spaces or hyphens: {what}; write them alike in the labels if they are one";
            if (variants.Count > 5) yield return $"{column}: {variants.Count - 5} more such set(s)";
        }
    }
}
