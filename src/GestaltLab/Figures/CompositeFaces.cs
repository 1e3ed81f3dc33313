using GestaltLab.Data;
using GestaltLab.Runtime;
using SkiaSharp;

namespace GestaltLab.Figures;

/// <summary>One composite face: the mean of a cohort's aligned faces, each person weighing once.</summary>
/// <param name="Label">The cohort's label (syndrome, gene …).</param>
/// <param name="Count">People averaged (the cohort size the minimum applies to).</param>
/// <param name="Image">The average face.</param>
/// <param name="Photos">Photos averaged (a person's photos are averaged first).</param>
public sealed record CompositeFace(string Label, int Count, RgbImage Image, int Photos);

/// <summary>Composites per label, plus the cohorts refused for being too small (with the reason).</summary>
/// <param name="Faces">Composites, in label order.</param>
/// <param name="Refused">Labels not shown and why (cohort smaller than the minimum).</param>
/// <param name="MinimumCohort">The minimum cohort size applied.</param>
/// <param name="RefusedLabels">The labels of <paramref name="Refused"/> alone, in the same order.</param>
public sealed record CompositeFaceSet(IReadOnlyList<CompositeFace> Faces, IReadOnlyList<string> Refused, int MinimumCohort, IReadOnlyList<string>? RefusedLabels = null)
{
    /// <summary>
    /// The refused cohorts without their exact sizes ("label: fewer than 10 people"), for pages that leave the team: a
    /// count of one or two says a rare syndrome's patient is in the data.
    /// </summary>
    public IReadOnlyList<string> RefusedWithoutCounts() =>
        (RefusedLabels ?? []).Select(label => $"{label}: fewer than {MinimumCohort} people").ToList();

    /// <summary>The font family the grid's labels are set in on this machine (export.json records it).</summary>
    public static string LabelFontFamily
    {
        get
        {
            using var typeface = LabelTypeface();
            return typeface.FamilyName;
        }
    }

    // A sans-serif face like the charts' (Skia's default is a serif one on Debian, and it does not resolve the generic
    // "sans-serif" name): the figures' own list first, then what Debian installs.
    private static SKTypeface LabelTypeface() =>
        new[] { "Helvetica", "Arial", "Liberation Sans", "DejaVu Sans" }.Select(f => SKFontManager.Default.MatchFamily(f)).FirstOrDefault(t => t is not null)
        ?? SKTypeface.Default;

    /// <summary>
    /// The composites as one image grid, each with its label and cohort size under it (paper Fig. 2 style).
    /// <paramref name="columns"/> 0 = up to 6; <paramref name="cellSize"/> 0 = the faces' own size. Labels are sized
    /// with the cells (a sixth of a cell, at least 12 px) in a sans-serif face.
    /// </summary>
    public RgbImage RenderGrid(int columns = 0, int cellSize = 0)
    {
        if (Faces.Count == 0) throw new GestaltLabException("no composite faces to draw: every cohort was refused");
        if (columns <= 0) columns = Math.Min(Faces.Count, 6);
        int w = cellSize > 0 ? cellSize : Faces[0].Image.Width, h = cellSize > 0 ? cellSize * Faces[0].Image.Height / Faces[0].Image.Width : Faces[0].Image.Height;
        // Words scale with the faces (at least 12 px), so a grid printed at a column's width keeps readable labels: five
        // faces across a single column (89 mm) set the names at about 7 pt, the counts and a long name at about 6 pt.
        float labelPx = Math.Max(12f, w * 0.16f), countPx = labelPx * 0.85f;
        using var typeface = LabelTypeface();
        // A long name is set smaller (to the count's size, no smaller: it is printed), then over two lines at a '_', '-' or
        // space, and only then shortened: "treacher_collins_like" stays whole.
        var labels = Faces.Select(f => FitLabel(f.Label, typeface, labelPx, countPx, w)).ToArray();
        bool twoLines = labels.Any(l => l.Lines.Length > 1);
        int pad = Math.Max(8, w / 12), labelH = (int)Math.Ceiling(labelPx * (twoLines ? 3.9f : 2.8f));
        int rows = (Faces.Count + columns - 1) / columns;
        var info = new SKImageInfo(columns * (w + pad) + pad, rows * (h + labelH + pad) + pad, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bmp = new SKBitmap(info);
        using (var canvas = new SKCanvas(bmp))
        {
            canvas.Clear(SKColors.White);
            using var small = new SKFont(typeface, countPx);
            using var ink = new SKPaint { Color = new SKColor(0x22, 0x22, 0x22), IsAntialias = true };
            using var grey = new SKPaint { Color = new SKColor(0x44, 0x44, 0x44), IsAntialias = true };
            for (int i = 0; i < Faces.Count; i++)
            {
                int x = pad + (i % columns) * (w + pad), y = pad + (i / columns) * (h + labelH + pad);
                using var face = Faces[i].Image.ToSKBitmap();
                using var img = SKImage.FromBitmap(face);
                canvas.DrawImage(img, new SKRect(x, y, x + w, y + h), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
                using var fitted = new SKFont(typeface, labels[i].Size);
                for (int line = 0; line < labels[i].Lines.Length; line++)
                    canvas.DrawText(labels[i].Lines[line], x + w / 2f, y + h + labelPx * 1.15f + line * labels[i].Size * 1.1f, SKTextAlign.Center, fitted, ink);
                // People, not photos: the unit the minimum cohort counts.
                string count = $"n = {Faces[i].Count} people";
                canvas.DrawText(small.MeasureText(count) > w ? $"n = {Faces[i].Count}" : count, x + w / 2f, y + h + labelPx * (twoLines ? 3.45f : 2.35f), SKTextAlign.Center, small, grey);
            }
        }
        return RgbImage.FromSKBitmap(bmp);
    }

    private static (string[] Lines, float Size) FitLabel(string label, SKTypeface typeface, float largest, float smallest, float width)
    {
        using var font = new SKFont(typeface, largest);
        bool Fit(IEnumerable<string> lines) => lines.All(l => font.MeasureText(l) <= width);
        string[][] options = [[label], .. Enumerable.Range(1, Math.Max(0, label.Length - 2)).Where(k => label[k] is '_' or '-' or ' ')
            .Select(k => new[] { label[..(label[k] == ' ' ? k : k + 1)], label[(k + 1)..] })
            .OrderBy(p => Math.Max(font.MeasureText(p[0]), font.MeasureText(p[1])))];
        foreach (var lines in options)
        {
            for (font.Size = largest; font.Size >= smallest; font.Size -= 0.5f)
                if (Fit(lines)) return (lines, font.Size);
        }
        font.Size = smallest;
        string cut = label;
        while (cut.Length > 3 && font.MeasureText(cut) > width) cut = cut[..^2] + "…";
        return ([cut], smallest);
    }
}

/// <summary>
/// Composite (average) faces per syndrome, as papers show a syndrome's gestalt without showing a patient. Faces must
/// already be aligned to the same template (same size). The cohort is counted in people, not photos: a cohort of fewer
/// people than the minimum (default 10) is refused so that no individual is recognisable in the average, however many
/// photos each has; and each person weighs once (their photos are averaged first), so no one dominates the composite.
/// </summary>
public static class CompositeFaces
{
    /// <summary>The default and least minimum cohort size (people): a caller may ask for more, never for fewer.</summary>
    public const int DefaultMinimumCohort = 10;

    /// <summary>The average of one cohort's aligned faces, each person weighing once.</summary>
    /// <param name="label">The cohort's label.</param>
    /// <param name="faces">Each face with the person it shows (subject id).</param>
    /// <param name="minimumCohort">Fewest distinct people allowed.</param>
    /// <exception cref="GestaltLabException">Fewer people than <paramref name="minimumCohort"/>, or faces of different sizes.</exception>
    public static CompositeFace Average(string label, IReadOnlyList<(RgbImage Face, string Person)> faces, int minimumCohort = DefaultMinimumCohort)
    {
        CheckMinimum(minimumCohort);
        return Average(label, faces, People(faces), minimumCohort);
    }

    // The average of a cohort whose people are known (People: every face hashed once, by the caller that counted them).
    private static CompositeFace Average(string label, IReadOnlyList<(RgbImage Face, string Person)> faces, List<List<RgbImage>> people, int minimumCohort)
    {
        if (people.Count < minimumCohort)
            throw new GestaltLabException(
                $"composite face for '{label}' refused: {Counted(people.Count, faces)}, fewer than the minimum cohort of {minimumCohort} people (an average of so few people can identify a patient)",
                $"add photos of other people with '{label}' until there are at least {minimumCohort}; lowering the minimum weakens the privacy protection");
        int w = faces[0].Face.Width, h = faces[0].Face.Height;
        var sum = new double[w * h * 3];
        // One buffer for every person's own mean: a fresh large array per person would pile up on the large-object heap.
        var own = new double[sum.Length];
        foreach (var person in people)
        {
            Array.Clear(own);
            foreach (var f in person)
            {
                if (f.Width != w || f.Height != h)
                    throw new GestaltLabException($"composite face for '{label}': faces differ in size ({f.Width}×{f.Height} vs {w}×{h}); align them to one template first");
                for (int i = 0; i < own.Length; i++) own[i] += f.Pixels[i];
            }
            int k = person.Count;
            for (int i = 0; i < sum.Length; i++) sum[i] += own[i] / k;
        }
        var px = new byte[sum.Length];
        for (int i = 0; i < px.Length; i++) px[i] = (byte)Math.Clamp(Math.Round(sum[i] / people.Count, MidpointRounding.AwayFromZero), 0, 255);
        return new CompositeFace(label, people.Count, new RgbImage(w, h, px), faces.Count);
    }

    /// <summary>
    /// Refuses a minimum cohort below <see cref="DefaultMinimumCohort"/>: a privacy floor, not a default (an average of a
    /// handful of people can identify a patient, whatever a caller asks). Callers that draw composites late in a longer
    /// job (the report) check it first.
    /// </summary>
    /// <exception cref="GestaltLabException">The minimum is below the floor.</exception>
    public static void CheckMinimum(int minimumCohort)
    {
        if (minimumCohort < DefaultMinimumCohort)
            throw new GestaltLabException($"a minimum cohort of {minimumCohort} people is below the floor of {DefaultMinimumCohort}: composite faces of so few people can identify a patient",
                $"use a minimum cohort of {DefaultMinimumCohort} or more");
    }

    /// <summary>
    /// Composites for every label with at least <paramref name="minimumCohort"/> people, in ordinal label order; smaller
    /// cohorts are listed in <see cref="CompositeFaceSet.Refused"/> with the reason instead of being drawn.
    /// </summary>
    /// <param name="faces">Each aligned face with its label and the person it shows (subject id) — or, where the data
    /// names relatives, their family (<see cref="ManifestRow.SplitGroup"/>): relatives share a face, so ten of one family
    /// must not pass as ten people.</param>
    /// <param name="minimumCohort">Fewest distinct people a composite may average.</param>
    /// <param name="progress">Stage <c>composite faces</c>.</param>
    /// <param name="cancellationToken">Cancels between labels.</param>
    public static CompositeFaceSet Build(IEnumerable<(RgbImage Face, string Label, string Person)> faces, int minimumCohort = DefaultMinimumCohort,
        IProgress<ProgressUpdate>? progress = null, CancellationToken cancellationToken = default)
    {
        CheckMinimum(minimumCohort);
        var groups = faces.GroupBy(f => f.Label, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToArray();
        var made = new List<CompositeFace>();
        var refused = new List<string>();
        var refusedLabels = new List<string>();
        for (int g = 0; g < groups.Length; g++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var list = groups[g].Select(x => (x.Face, x.Person)).ToArray();
            var people = People(list);
            if (people.Count < minimumCohort)
            {
                refused.Add($"{groups[g].Key}: {Counted(people.Count, list)}, fewer than the minimum cohort of {minimumCohort} people");
                refusedLabels.Add(groups[g].Key);
            }
            else
                made.Add(Average(groups[g].Key, list, people, minimumCohort));
            progress?.Report(new ProgressUpdate("composite faces", g + 1, groups.Length));
        }
        return new CompositeFaceSet(made, refused, minimumCohort, refusedLabels);
    }

    /// <summary>
    /// The people a cohort holds, each as their faces: faces grouped by person id, and ids joined where they share an
    /// identical face. One photo filed under several ids (visits or accession numbers taken for subjects, a photo
    /// copied) is one person however it is labelled, and must not make up the count that keeps a patient unrecognisable.
    /// (Only identical faces are seen so: two photos of one person under two ids still count as two.)
    /// </summary>
    private static List<List<RgbImage>> People(IReadOnlyList<(RgbImage Face, string Person)> faces)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, person) in faces) index.TryAdd(person, index.Count);
        var parent = Enumerable.Range(0, index.Count).ToArray();
        int Root(int i)
        {
            while (parent[i] != i) i = parent[i] = parent[parent[i]];
            return i;
        }
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (face, person) in faces)
        {
            string key = $"{face.Width}x{face.Height}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(face.Pixels))}";
            int id = index[person];
            if (seen.TryGetValue(key, out int other)) parent[Root(id)] = Root(other);
            else seen[key] = id;
        }
        return faces.GroupBy(f => Root(index[f.Person])).Select(g => g.Select(f => f.Face).ToList()).ToList();
    }

    // "9 person(s) (10 photo(s))", with the ids when identical faces joined some.
    private static string Counted(int people, IReadOnlyList<(RgbImage Face, string Person)> faces)
    {
        int ids = faces.Select(f => f.Person).Distinct(StringComparer.Ordinal).Count();
        string who = people == 1 ? "1 person" : $"{people} people", photos = faces.Count == 1 ? "1 photo" : $"{faces.Count} photos";
        return ids == people
            ? $"{who} ({photos})"
            : $"{who} ({photos} under {ids} ids: ids sharing an identical face count as one person)";
    }
}
