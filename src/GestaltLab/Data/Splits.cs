using GestaltLab.Runtime;

namespace GestaltLab.Data;

/// <summary>Fractions of split groups (subjects, or families) that go to train, validation and test.</summary>
/// <param name="Train">Training fraction.</param>
/// <param name="Val">Validation fraction.</param>
/// <param name="Test">Test fraction.</param>
public readonly record struct SplitFractions(double Train, double Val, double Test)
{
    /// <summary>70 / 10 / 20.</summary>
    public static SplitFractions Default { get; } = new(0.7, 0.1, 0.2);

    internal SplitFractions Normalised()
    {
        double s = Train + Val + Test;
        if (!(s > 0) || Train < 0 || Val < 0 || Test < 0)
            throw new GestaltLabException(FormattableString.Invariant($"split fractions must be non-negative with a positive sum, got {Train}/{Val}/{Test}"));
        return new(Train / s, Val / s, Test / s);
    }
}

/// <summary>
/// Subject-level (and family-level) splitting: a person's photos, and a family's members, always land in one split, so
/// a model is never tested on a face it trained on. Splits are stratified by syndrome and decided by a seeded stable
/// hash of the group id, so they do not depend on row order and are identical on every machine.
/// </summary>
public static class Splits
{
    /// <summary>
    /// Assigns a split to every row: groups (<see cref="ManifestRow.SplitGroup"/>) are stratified by their syndrome and,
    /// within each syndrome, ordered by a seeded hash and cut by <paramref name="fractions"/> (rounded; a syndrome with
    /// one group goes to train, with two or more keeps at least one training group).
    /// </summary>
    public static IReadOnlyList<ManifestRow> Assign(IReadOnlyList<ManifestRow> rows, SplitFractions fractions, int seed)
    {
        var f = fractions.Normalised();
        var split = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var stratum in Strata(rows))
        {
            var groups = stratum.OrderBy(g => StableHash.Of(seed, g), Comparer<ulong>.Default).ThenBy(g => g, StringComparer.Ordinal).ToList();
            int n = groups.Count;
            int nTest = (int)Math.Round(n * f.Test, MidpointRounding.AwayFromZero);
            int nVal = (int)Math.Round(n * f.Val, MidpointRounding.AwayFromZero);
            if (f.Train > 0)
            {
                while (nTest + nVal > n - 1 && nTest + nVal > 0)
                {
                    if (nVal >= nTest && nVal > 0) nVal--; else nTest--;
                }
            }
            else nTest = n - nVal;
            for (int i = 0; i < n; i++)
                split[groups[i]] = i < nTest ? SplitNames.Test : i < nTest + nVal ? SplitNames.Val : SplitNames.Train;
        }
        return rows.Select(r => r with { Split = split[r.SplitGroup] }).ToList();
    }

    /// <summary>
    /// Group k-fold: returns the fold (0…k−1) of every row. Groups are stratified by syndrome and dealt round-robin in
    /// seeded-hash order, continuing across syndromes so small syndromes do not all land in fold 0.
    /// </summary>
    public static int[] KFold(IReadOnlyList<ManifestRow> rows, int k, int seed)
    {
        if (k < 2) throw new GestaltLabException($"k-fold needs k ≥ 2, got {k}");
        var fold = new Dictionary<string, int>(StringComparer.Ordinal);
        int next = 0;
        foreach (var stratum in Strata(rows))
            foreach (var g in stratum.OrderBy(g => StableHash.Of(seed, g), Comparer<ulong>.Default).ThenBy(g => g, StringComparer.Ordinal))
                fold[g] = next++ % k;
        return rows.Select(r => fold[r.SplitGroup]).ToArray();
    }

    /// <summary>
    /// Subjects or families that appear in more than one split (empty when the split is clean), each as a readable line.
    /// </summary>
    public static IReadOnlyList<string> FindLeaks(IEnumerable<ManifestRow> rows)
    {
        var leaks = new List<string>();
        foreach (var (key, select) in new (string, Func<ManifestRow, string>)[] { ("subject", r => r.Subject), ("family", r => r.Family) })
        {
            foreach (var g in rows.Where(r => select(r).Length > 0).GroupBy(select, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var splits = g.Select(r => r.Split).Distinct().Order(StringComparer.Ordinal).ToList();
                if (splits.Count > 1) leaks.Add($"{key} '{g.Key}' is in {string.Join(" and ", splits)}");
            }
        }
        return leaks;
    }

    /// <summary>Throws when a subject or family is in more than one split of <paramref name="manifest"/>.</summary>
    public static void EnsureNoLeaks(Manifest manifest)
    {
        var leaks = FindLeaks(manifest.Rows);
        if (leaks.Count > 0)
            throw new GestaltLabException($"{manifest.Root}: {leaks.Count} subject/family leak(s) between splits: {string.Join("; ", leaks.Take(5))}",
                "put all of a person's photos in one split (`gestaltlab manifest` splits by person; in C#, Splits.Assign)");
    }

    // Groups of split-groups by syndrome (the group's most frequent label), in ordinal order of syndrome.
    private static IEnumerable<List<string>> Strata(IReadOnlyList<ManifestRow> rows) =>
        rows.GroupBy(r => r.SplitGroup, StringComparer.Ordinal)
            .Select(g => (Group: g.Key, Label: g.GroupBy(r => r.Syndrome).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).First().Key))
            .GroupBy(t => t.Label, StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Select(t => t.Group).ToList());
}
