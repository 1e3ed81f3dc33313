namespace GestaltLab.Figures;

/// <summary>How the classes of a confusion matrix are ordered along its axes.</summary>
public enum ClassOrder
{
    /// <summary>Similar classes next to each other (average-linkage clustering of their confusion profiles), so blocks of
    /// mutually confused syndromes show up along the diagonal.</summary>
    Similarity,
    /// <summary>Alphabetical by class name (ordinal, culture-independent).</summary>
    Name,
    /// <summary>The order given (network-output order).</summary>
    Given,
}

/// <summary>Orders classes for display.</summary>
public static class ClassOrdering
{
    /// <summary>
    /// Leaf order of an average-linkage hierarchical clustering of <paramref name="profiles"/> (one row per class, e.g.
    /// the row-normalised confusion counts or mean predicted probabilities), with Euclidean distance on the symmetrised
    /// profile so that A-confused-as-B and B-confused-as-A both pull A and B together. Deterministic: ties merge the
    /// lowest indices first, and each merge puts the smaller original index first.
    /// </summary>
    public static int[] BySimilarity(IReadOnlyList<double[]> profiles)
    {
        int c = profiles.Count;
        if (c <= 2) return Enumerable.Range(0, c).ToArray();
        // Symmetrise: s[a][b] = (P[a][b] + P[b][a]) / 2 keeps "confused with each other" as one feature.
        var s = new double[c][];
        for (int a = 0; a < c; a++)
        {
            s[a] = new double[c];
            for (int b = 0; b < c; b++) s[a][b] = (profiles[a][b] + profiles[b][a]) / 2;
        }
        var dist = new double[c, c];
        for (int a = 0; a < c; a++)
            for (int b = a + 1; b < c; b++)
            {
                double d = 0;
                for (int k = 0; k < c; k++) { double t = s[a][k] - s[b][k]; d += t * t; }
                // Confusing a with b directly is the strongest similarity: subtract it so such pairs merge first.
                dist[a, b] = dist[b, a] = Math.Sqrt(d) - (s[a][b] + s[b][a]);
            }
        var cd = new double[c, c];
        Array.Copy(dist, cd, dist.Length);
        var active = Enumerable.Range(0, c).ToList(); // indices into cd rows, one per live cluster
        var members = new Dictionary<int, List<int>>();
        for (int a = 0; a < c; a++) members[a] = [a];
        while (active.Count > 1)
        {
            int bi = -1, bj = -1;
            double best = double.PositiveInfinity;
            for (int x = 0; x < active.Count; x++)
                for (int y = x + 1; y < active.Count; y++)
                {
                    double d = cd[active[x], active[y]];
                    if (d < best) { best = d; bi = active[x]; bj = active[y]; }
                }
            var mi = members[bi];
            var mj = members[bj];
            // Average linkage update (UPGMA) into slot bi.
            foreach (int o in active)
            {
                if (o == bi || o == bj) continue;
                double v = (cd[bi, o] * mi.Count + cd[bj, o] * mj.Count) / (mi.Count + mj.Count);
                cd[bi, o] = cd[o, bi] = v;
            }
            var merged = mi.Min() <= mj.Min() ? mi.Concat(mj).ToList() : mj.Concat(mi).ToList();
            members[bi] = merged;
            members.Remove(bj);
            active.Remove(bj);
        }
        return members[active[0]].ToArray();
    }

    /// <summary>Indices of <paramref name="names"/> in ordinal name order.</summary>
    public static int[] ByName(IReadOnlyList<string> names) =>
        Enumerable.Range(0, names.Count).OrderBy(i => names[i], StringComparer.Ordinal).ThenBy(i => i).ToArray();
}
