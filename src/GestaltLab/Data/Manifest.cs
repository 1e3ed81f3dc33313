using GestaltLab.Runtime;

namespace GestaltLab.Data;

/// <summary>
/// A data set as every stage reads it: <c>manifest.csv</c> in a folder, one row per photo (see <see cref="ManifestRow"/>),
/// image paths relative to that folder. The synthetic generator writes one; <see cref="FromImageFolder"/> builds one for
/// a folder of a user's own photos.
/// </summary>
/// <remarks>
/// Columns: <c>image,subject,syndrome,gene,split,sex,age_band,skin_tone,family</c>, then any extra columns. On load,
/// <c>image</c>, <c>subject</c> and <c>split</c> are required; the other standard columns may be absent (they read as
/// empty). Errors name the file and the line: missing columns, empty required fields, unknown split names and
/// duplicate images are refused.
/// </remarks>
public sealed class Manifest
{
    /// <summary>The manifest's file name inside a data folder.</summary>
    public const string FileName = "manifest.csv";
    /// <summary>Syndrome label of unaffected controls.</summary>
    public const string Unaffected = "unaffected";

    /// <summary>The standard columns, in the order they are written.</summary>
    public static IReadOnlyList<string> Columns { get; } =
        ["image", "subject", "syndrome", "gene", "split", "sex", "age_band", "skin_tone", "family"];

    private static readonly string[] RequiredColumns = ["image", "subject", "split"];

    /// <summary>
    /// A photo's path as a manifest's or labels file's <c>image</c> cell gives it, read the one way every command reads
    /// it: spaces around it trimmed (a spreadsheet's padding), Windows separators as <c>/</c> (a manifest written there).
    /// </summary>
    public static string ImagePath(string cell) => cell.Trim().Replace('\\', '/');

    private readonly Dictionary<string, int> _byImage;

    /// <summary>
    /// How <see cref="FromImageFolder"/> made a manifest: the photos' folder, its labels file (null without one) with the
    /// SHA-256 it had then and whether it had a split and a syndrome column, and the shares and seed labelled people were
    /// split by. What <see cref="Save"/> records beside it and <see cref="ManifestReview.Warnings(Manifest)"/> reads.
    /// </summary>
    internal sealed record Origin(string Images, string? Labels, string? LabelsSha256, bool SplitColumn, bool SyndromeColumn, SplitFractions Shares, int Seed);

    /// <summary>How <see cref="FromImageFolder"/> made this manifest; null for manifests made otherwise (loaded, filtered, aligned).</summary>
    internal Origin? MadeFrom { get; private set; }

    /// <summary>Creates a manifest over rows whose images are relative to <paramref name="root"/>.</summary>
    /// <exception cref="GestaltLabException">Duplicate images, empty required fields or unknown split names.</exception>
    public Manifest(string root, IEnumerable<ManifestRow> rows)
    {
        Root = Path.GetFullPath(root);
        Rows = rows.ToList();
        _byImage = new Dictionary<string, int>(StringComparer.Ordinal);
        var extra = new List<string>();
        var seenExtra = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Rows.Count; i++)
        {
            var r = Rows[i];
            Validate(r, $"{Root}: row {i + 1}");
            if (!_byImage.TryAdd(r.Image, i))
                throw new GestaltLabException($"{Root}: image '{r.Image}' is listed twice (rows {_byImage[r.Image] + 1} and {i + 1})");
            foreach (var k in r.Extra.Keys)
                if (seenExtra.Add(k)) extra.Add(k);
        }
        ExtraColumns = extra;
    }

    /// <summary>Absolute folder that image paths are relative to (the folder holding <c>manifest.csv</c>).</summary>
    public string Root { get; }
    /// <summary>The rows, in file order.</summary>
    public IReadOnlyList<ManifestRow> Rows { get; }
    /// <summary>Columns beyond the standard ones, in first-seen order.</summary>
    public IReadOnlyList<string> ExtraColumns { get; }
    /// <summary>Number of rows.</summary>
    public int Count => Rows.Count;

    /// <summary>Absolute path of a row's image.</summary>
    public string ResolveImage(ManifestRow row) => Path.GetFullPath(Path.Combine(Root, row.Image));

    /// <summary>The row of an image path as written in the manifest, or null.</summary>
    public ManifestRow? Find(string image) => _byImage.TryGetValue(image, out int i) ? Rows[i] : null;

    /// <summary>Rows of one split (<see cref="SplitNames"/>).</summary>
    public IReadOnlyList<ManifestRow> InSplit(string split) => Rows.Where(r => r.Split == split).ToList();

    /// <summary>Distinct syndrome labels (controls included, unlabelled rows excluded), sorted ordinally.</summary>
    public IReadOnlyList<string> Syndromes =>
        Rows.Where(r => r.IsLabelled).Select(r => r.Syndrome).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>A manifest over the same folder with other rows (e.g. a filtered or re-split copy).</summary>
    public Manifest WithRows(IEnumerable<ManifestRow> rows) => new(Root, rows);

    /// <summary>
    /// Reads a manifest. <paramref name="path"/> is the CSV file or the folder holding <c>manifest.csv</c>.
    /// </summary>
    /// <exception cref="GestaltLabException">The file is missing or malformed; the message names the file and line.</exception>
    public static Manifest Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        if (!File.Exists(file))
        {
            // An alignment of unlabelled photos has faces and crops but nothing to say whose they are: the labels go on
            // the photos' own folder, and the alignment is made again to carry them.
            string? folder = Path.GetDirectoryName(Path.GetFullPath(file));
            bool alignment = folder is not null && Directory.Exists(Path.Combine(folder, "aligned")) && Directory.Exists(Path.Combine(folder, "regions"));
            throw new GestaltLabException($"{file}: manifest not found",
                alignment
                    ? "this alignment was made from photos without labels: label them with `gestaltlab manifest --images PHOTOS --labels labels.csv` (PHOTOS: the photos' folder, the one given to align as --data), then align again with --force"
                    : "pass a data folder made by `gestaltlab generate`, or write a manifest for your photos with `gestaltlab manifest --images DIR --labels labels.csv`");
        }
        var table = Csv.Read(file);
        foreach (var c in RequiredColumns)
        {
            try { table.Column(c); }
            // Missing (and no separator mix-up to point at): how to have it.
            catch (GestaltLabException e) when (e.Fix is null && !table.Has(c))
            {
                throw new GestaltLabException(e.Message, c == "image"
                    ? "name each photo's path (relative to the manifest's folder) in an 'image' column"
                    : "write the manifest from your labels with `gestaltlab manifest --images DIR --labels labels.csv` (it adds the subject and split columns: split by person when the labels give none), or add the column");
            }
        }
        int Col(string name) => table.Has(name) ? table.Column(name) : -1;
        int[] std = Columns.Select(Col).ToArray();
        var known = new HashSet<string>(Columns, StringComparer.OrdinalIgnoreCase);
        var extraCols = Enumerable.Range(0, table.Header.Count).Where(i => !known.Contains(table.Header[i])).ToArray();

        var rows = new List<ManifestRow>(table.Rows.Count);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int r = 0; r < table.Rows.Count; r++)
        {
            var f = table.Rows[r];
            int line = table.LineOf(r);
            string Get(int k) => std[k] >= 0 ? f[std[k]].Trim() : "";
            var extra = extraCols.Length == 0 ? ManifestRow.EmptyExtra
                : extraCols.ToDictionary(i => table.Header[i], i => f[i], StringComparer.Ordinal);
            var row = new ManifestRow
            {
                Image = ImagePath(Get(0)), Subject = Get(1), Syndrome = Get(2), Gene = Get(3), Split = Get(4),
                Sex = Get(5), AgeBand = Get(6), SkinTone = Get(7), Family = Get(8) is "-" ? "" : Get(8), Extra = extra,
            };
            Validate(row, $"{file}: line {line}");
            if (!seen.TryAdd(row.Image, line))
                throw new GestaltLabException($"{file}: line {line}: image '{row.Image}' is already listed on line {seen[row.Image]}",
                    "each photo must appear once; give repeated photos of one person distinct files and the same subject");
            rows.Add(row);
        }
        return new Manifest(Path.GetDirectoryName(Path.GetFullPath(file))!, rows);
    }

    /// <summary>
    /// Writes the manifest atomically. When <paramref name="path"/> is in another folder than <see cref="Root"/>, relative
    /// image paths are rewritten so they still point at the same files. <paramref name="path"/> may be a folder. A
    /// manifest <see cref="FromImageFolder"/> made gets the record of how beside it (<see cref="Provenance"/>:
    /// <c>manifest.json</c>, or <c>manifest.csv.provenance.json</c> when a file of another kind has that name): the
    /// photos' folder, the labels file and its SHA-256, the fractions and seed of the split — with them the same split can
    /// be made again, and a reviewer can see it was fixed in advance. The file is its owner's alone (0600, unless
    /// <paramref name="ownerOnly"/> is false), as is a folder made for it: it names photos with each person's id and diagnosis.
    /// </summary>
    /// <param name="path">The file, or the folder to write <c>manifest.csv</c> into.</param>
    /// <param name="command">What made it, as the record names it (<c>gestaltlab manifest</c> from the command line).</param>
    /// <returns>The record's path; null for a manifest not made by <see cref="FromImageFolder"/> (loaded, filtered with
    /// <see cref="WithRows"/>), which gets none.</returns>
    /// <param name="ownerOnly">Readable by its owner alone (the default: the photos are patients'); false for data that
    /// names no one (synthetic people).</param>
    public string? Save(string path, string command = "Manifest.FromImageFolder", bool ownerOnly = true)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        string dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        bool rebase = !string.Equals(dir.TrimEnd('/'), Root.TrimEnd('/'), StringComparison.Ordinal);
        var header = Columns.Concat(ExtraColumns).ToList();
        var lines = Rows.Select(r =>
        {
            string image = rebase && !Path.IsPathRooted(r.Image)
                ? Path.GetRelativePath(dir, Path.Combine(Root, r.Image)).Replace('\\', '/')
                : r.Image;
            var fields = new List<string>(header.Count)
                { image, r.Subject, r.Syndrome, r.Gene, r.Split, r.Sex, r.AgeBand, r.SkinTone, r.Family };
            foreach (var c in ExtraColumns) fields.Add(r.Extra.TryGetValue(c, out var v) ? v : "");
            return (IReadOnlyList<string>)fields;
        });
        // Photo names with each person's id and diagnosis: the owner's alone wherever it goes.
        Csv.Write(file, header, lines, ownerOnly);
        if (MadeFrom is not { } o) return null;
        return Provenance.Write(file, command, new System.Text.Json.Nodes.JsonObject
        {
            ["images"] = o.Images, ["labels"] = o.Labels, ["labels_sha256"] = o.LabelsSha256,
            ["fractions"] = new System.Text.Json.Nodes.JsonArray(o.Shares.Train, o.Shares.Val, o.Shares.Test), ["seed"] = o.Seed,
        }, o.Labels is null ? [] : [o.Labels]);
    }

    /// <summary>
    /// A file name as a person may type it, letter case and the encoding of Latin accents aside: lower case, with each
    /// precomposed Latin letter written as its base letter and combining marks, as macOS writes file names ("ü" →
    /// "u" + U+0308). The accents themselves still count (Müller and Muller stay apart), as do other scripts. The build
    /// runs without ICU, hence a table rather than Unicode normalisation.
    /// </summary>
    private static string Loose(string name)
    {
        var sb = new System.Text.StringBuilder(name.Length + 8);
        foreach (char c in name)
        {
            if (LatinDecomposed.Value.TryGetValue(c, out var d)) sb.Append(d.ToLowerInvariant());
            else sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    // Unicode's canonical decompositions of U+00C0–U+024F that are an ASCII letter and combining marks ("Àà|…").
    private static readonly Lazy<Dictionary<char, string>> LatinDecomposed = new(() =>
        "ÀA\u0300|ÁA\u0301|ÂA\u0302|ÃA\u0303|ÄA\u0308|ÅA\u030A|ÇC\u0327|ÈE\u0300|ÉE\u0301|ÊE\u0302|ËE\u0308|ÌI\u0300|ÍI\u0301|ÎI\u0302|ÏI\u0308|ÑN\u0303|ÒO\u0300|ÓO\u0301|ÔO\u0302|ÕO\u0303|ÖO\u0308|ÙU\u0300|ÚU\u0301|ÛU\u0302|ÜU\u0308|ÝY\u0301|àa\u0300|áa\u0301|âa\u0302|ãa\u0303|äa\u0308|åa\u030A|çc\u0327|èe\u0300|ée\u0301|êe\u0302|ëe\u0308|ìi\u0300|íi\u0301|îi\u0302|ïi\u0308|ñn\u0303|òo\u0300|óo\u0301|ôo\u0302|õo\u0303|öo\u0308|ùu\u0300|úu\u0301|ûu\u0302|üu\u0308|ýy\u0301|ÿy\u0308|ĀA\u0304|āa\u0304|ĂA\u0306|ăa\u0306|ĄA\u0328|ąa\u0328|ĆC\u0301|ćc\u0301|ĈC\u0302|ĉc\u0302|ĊC\u0307|ċc\u0307|ČC\u030C|čc\u030C|ĎD\u030C|ďd\u030C|ĒE\u0304|ēe\u0304|ĔE\u0306|ĕe\u0306|ĖE\u0307|ėe\u0307|ĘE\u0328|ęe\u0328|ĚE\u030C|ěe\u030C|ĜG\u0302|ĝg\u0302|ĞG\u0306|ğg\u0306|ĠG\u0307|ġg\u0307|ĢG\u0327|ģg\u0327|ĤH\u0302|ĥh\u0302|ĨI\u0303|ĩi\u0303|ĪI\u0304|īi\u0304|ĬI\u0306|ĭi\u0306|ĮI\u0328|įi\u0328|İI\u0307|ĴJ\u0302|ĵj\u0302|ĶK\u0327|ķk\u0327|ĹL\u0301|ĺl\u0301|ĻL\u0327|ļl\u0327|ĽL\u030C|ľl\u030C|ŃN\u0301|ńn\u0301|ŅN\u0327|ņn\u0327|ŇN\u030C|ňn\u030C|ŌO\u0304|ōo\u0304|ŎO\u0306|ŏo\u0306|ŐO\u030B|őo\u030B|ŔR\u0301|ŕr\u0301|ŖR\u0327|ŗr\u0327|ŘR\u030C|řr\u030C|ŚS\u0301|śs\u0301|ŜS\u0302|ŝs\u0302|ŞS\u0327|şs\u0327|ŠS\u030C|šs\u030C|ŢT\u0327|ţt\u0327|ŤT\u030C|ťt\u030C|ŨU\u0303|ũu\u0303|ŪU\u0304|ūu\u0304|ŬU\u0306|ŭu\u0306|ŮU\u030A|ůu\u030A|ŰU\u030B|űu\u030B|ŲU\u0328|ųu\u0328|ŴW\u0302|ŵw\u0302|ŶY\u0302|ŷy\u0302|ŸY\u0308|ŹZ\u0301|źz\u0301|ŻZ\u0307|żz\u0307|ŽZ\u030C|žz\u030C|ƠO\u031B|ơo\u031B|ƯU\u031B|ưu\u031B|ǍA\u030C|ǎa\u030C|ǏI\u030C|ǐi\u030C|ǑO\u030C|ǒo\u030C|ǓU\u030C|ǔu\u030C|ǕU\u0308\u0304|ǖu\u0308\u0304|ǗU\u0308\u0301|ǘu\u0308\u0301|ǙU\u0308\u030C|ǚu\u0308\u030C|ǛU\u0308\u0300|ǜu\u0308\u0300|ǞA\u0308\u0304|ǟa\u0308\u0304|ǠA\u0307\u0304|ǡa\u0307\u0304|ǦG\u030C|ǧg\u030C|ǨK\u030C|ǩk\u030C|ǪO\u0328|ǫo\u0328|ǬO\u0328\u0304|ǭo\u0328\u0304|ǰj\u030C|ǴG\u0301|ǵg\u0301|ǸN\u0300|ǹn\u0300|ǺA\u030A\u0301|ǻa\u030A\u0301|ȀA\u030F|ȁa\u030F|ȂA\u0311|ȃa\u0311|ȄE\u030F|ȅe\u030F|ȆE\u0311|ȇe\u0311|ȈI\u030F|ȉi\u030F|ȊI\u0311|ȋi\u0311|ȌO\u030F|ȍo\u030F|ȎO\u0311|ȏo\u0311|ȐR\u030F|ȑr\u030F|ȒR\u0311|ȓr\u0311|ȔU\u030F|ȕu\u030F|ȖU\u0311|ȗu\u0311|ȘS\u0326|șs\u0326|ȚT\u0326|țt\u0326|ȞH\u030C|ȟh\u030C|ȦA\u0307|ȧa\u0307|ȨE\u0327|ȩe\u0327|ȪO\u0308\u0304|ȫo\u0308\u0304|ȬO\u0303\u0304|ȭo\u0303\u0304|ȮO\u0307|ȯo\u0307|ȰO\u0307\u0304|ȱo\u0307\u0304|ȲY\u0304|ȳy\u0304"
            .Split('|').ToDictionary(e => e[0], e => e[1..]));

    /// <summary>
    /// Builds a manifest for a folder of a user's photos (<see cref="ImageLoader.FindPhotos"/>: recursive, sorted by path). Without
    /// <paramref name="labelsCsv"/> every photo is its own unlabelled subject in the test split (ready to predict).
    /// With it, labels come from that CSV: column <c>image</c> (path relative to <paramref name="folder"/> — one through a link
    /// inside it names the photo it reaches — or a bare file name when unique), and any of <c>subject, syndrome, gene, split, sex, age_band, skin_tone, family</c>. Photos the
    /// CSV does not list stay unlabelled. Every photo the CSV lists needs a <c>subject</c> (refused without one: splits,
    /// leak checks, intervals and composite faces count people). With a <c>split</c> column every photo with a syndrome
    /// needs a split; without one, labelled photos are split by subject (families together) with <see cref="Splits.Assign"/> using <paramref name="fractions"/> and
    /// <paramref name="seed"/>.
    /// The manifest's root is <paramref name="folder"/>; save it there (or elsewhere: paths are rebased).
    /// </summary>
    /// <exception cref="GestaltLabException">The folder is missing or empty; the labels CSV has no subject column, names a
    /// photo that is not there (or a file name several photos share), labels a photo twice, leaves a labelled photo without
    /// a subject, or — with a split column — without a split, or puts a person or a family in two splits; or a value is
    /// invalid (a split other than train, val, test).</exception>
    public static Manifest FromImageFolder(string folder, string? labelsCsv = null, SplitFractions? fractions = null, int seed = 0)
    {
        var images = ImageLoader.FindPhotos(folder, requireAny: true);
        string root = Path.GetFullPath(folder);
        var shares = fractions ?? SplitFractions.Default;

        // Photos nobody labelled are their own "person", under an id no label can hold (a file named like a subject id
        // must not join that person across splits).
        var subjects = UnlabelledSubjects(images);
        var rows = images.Select((i, k) => new ManifestRow
        {
            Image = i, Subject = subjects[k], Split = SplitNames.Test,
        }).ToList();
        if (labelsCsv is null) return new Manifest(root, rows) { MadeFrom = new Origin(root, null, null, false, false, shares, seed) };

        var table = Csv.Read(labelsCsv);
        // Once the file has been read (a missing or unreadable one is said by Csv.Read, naming it): the record must name
        // the content the split was drawn from.
        string labelsSha256 = RunManifest.ComputeFileHash(labelsCsv);
        int imageCol = table.Column("image");
        int Col(string name) => table.Has(name) ? table.Column(name) : -1;
        int subject = Col("subject"), syndrome = Col("syndrome"), gene = Col("gene"), split = Col("split"),
            sex = Col("sex"), age = Col("age_band"), skin = Col("skin_tone"), family = Col("family");
        // Columns of the user's own (a clinic, a camera) are kept in the manifest, where `report --colour-by` and
        // Charts.ManifestColumn find them: do the faces cluster by clinic rather than by syndrome? Two names are the
        // alignment's own record of each photo, and would be read as such.
        var ownColumns = table.Header.Select((h, i) => (Name: h, Index: i))
            .Where(c => c.Name.Length > 0 && !Columns.Contains(c.Name, StringComparer.OrdinalIgnoreCase)).ToList();
        if (ownColumns.FirstOrDefault(c => c.Name.Equals("source_image", StringComparison.OrdinalIgnoreCase) || c.Name.Equals("status", StringComparison.OrdinalIgnoreCase)) is { Name: not null } taken)
            throw new GestaltLabException($"{labelsCsv}: column '{taken.Name}' is one GestaltLab writes itself (an aligned photo's source and face status)", "rename the column");
        // Whose photo is whose is needed everywhere people are counted: splitting (without subjects one person's photos
        // could sit in train and test, and the model would recognise the person, not the syndrome), the leak check of a
        // split of the user's own, confidence intervals, and composite faces, whose minimum cohort counts people (with
        // each photo its own "person", one patient's ten photos would pass as ten people).
        if (subject < 0)
            throw new GestaltLabException($"{labelsCsv}: no subject column, so the photos cannot be told apart by person (its columns: {string.Join(", ", table.Header)})",
                "add a subject column (one id per person; if every photo really shows a different person, give each its own id)");
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < images.Count; i++) index[images[i]] = i;
        var byName = images.Select((p, i) => (Name: Path.GetFileName(p), i)).GroupBy(t => t.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count() == 1 ? g.First().i : -1, StringComparer.Ordinal);
        var labelled = new Dictionary<int, int>();   // photo → the line that labels it
        // Listed photos without a syndrome whose split cell is blank: they follow their person's split below.
        var blankSplit = new HashSet<int>();
        // Built once, at the first label that names no photo exactly (one pass over the photos, not one per such label).
        Dictionary<string, List<int>>? looseIndex = null;
        Dictionary<string, int>? realIndex = null;
        // A path inside the folder that reaches a listed photo through a link (a folder sorted by syndrome, linking into
        // one of all photos): the folder search lists each photo once, under one of its paths, so the label names the
        // photo listed with the same real path. Only relative paths that stay inside the folder: one outside it is not
        // one of its photos, wherever it leads.
        bool TryThroughLink(string path, out int found)
        {
            found = -1;
            if (Path.IsPathRooted(path)) return false;
            string full = Path.GetFullPath(Path.Combine(root, path));
            if (!RunFolder.IsWithin(full, Path.TrimEndingDirectorySeparator(root)) || !File.Exists(full)) return false;
            realIndex ??= images.Select((p, i) => (Real: RunFolder.RealPath(Path.Combine(root, p)), i))
                .GroupBy(t => t.Real, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().i, StringComparer.Ordinal);
            return realIndex.TryGetValue(RunFolder.RealPath(full), out found);
        }
        // Every line's problem is said at once (two missing photos, two misspelt splits), not one per run of the command.
        var problems = new List<GestaltLabException>();
        for (int r = 0; r < table.Rows.Count; r++)
        {
            try
            {
                var f = table.Rows[r];
                int line = table.LineOf(r);
                string img = ImagePath(f[imageCol]);
                // "./a.jpg", as `find .` lists photos, is a.jpg. (Only here: in a manifest the cell as written is part of the
                // data's hash, which its alignments and runs record.)
                while (img.StartsWith("./", StringComparison.Ordinal)) img = img[2..].TrimStart('/');
                if (!index.TryGetValue(img, out int k))
                {
                    if (!TryThroughLink(img, out k) && !byName.TryGetValue(img, out k))
                    {
                        // Typed in a spreadsheet, a name may differ from the file's only in letter case (IMG_0001.jpg for
                        // IMG_0001.JPG) or in how an accent is encoded (macOS writes "ü" as u + a combining mark): one photo
                        // that matches so, and only one, is the one meant.
                        looseIndex ??= images.SelectMany((p, i) => new[] { (Key: Loose(p), i), (Key: Loose(Path.GetFileName(p)), i) })
                            .GroupBy(t => t.Key, StringComparer.Ordinal)
                            .ToDictionary(g => g.Key, g => g.Select(t => t.i).Distinct().ToList(), StringComparer.Ordinal);
                        var near = looseIndex.TryGetValue(Loose(img), out var hits) ? hits.Select(i => (p: images[i], i)).ToList() : [];
                        if (near.Count == 1) k = near[0].i;
                        else throw new GestaltLabException($"{labelsCsv}: line {line}: photo '{img}' is not in {folder}" +
                            (near.Count > 1 ? $" (it could be any of {string.Join(", ", near.Take(3).Select(t => t.p))})" : ""),
                            near.Count > 1 ? "give the name exactly as the file has it" : "check the name (and its extension) against the folder");
                    }
                    if (k < 0)
                    {
                        var several = images.Where(p => Path.GetFileName(p) == img).ToList();
                        throw new GestaltLabException($"{labelsCsv}: line {line}: file name '{img}' matches several photos in {folder} ({string.Join(", ", several.Take(3))}{(several.Count > 3 ? ", …" : "")})",
                            "give the path relative to the folder");
                    }
                }
                if (!labelled.TryAdd(k, line))
                    throw new GestaltLabException($"{labelsCsv}: line {line}: photo '{img}' is labelled twice" +
                        (images[k] == img ? $" (line {labelled[k]} labels it too)" : $" (it is {images[k]}, which line {labelled[k]} labels too)"),
                        "label each photo on one line");
                string Get(int c) => c >= 0 ? f[c].Trim() : "";
                if (Get(subject).Length == 0)
                    throw new GestaltLabException($"{labelsCsv}: line {line}: photo '{img}' has no subject",
                        "give every labelled photo the id of the person it shows");
                // With a split column, a labelled photo without a split would go to test unseen by training: said, not guessed.
                if (split >= 0 && Get(split).Length == 0 && Get(syndrome).Length > 0)
                    throw new GestaltLabException($"{labelsCsv}: line {line}: photo '{img}' has a syndrome but no split",
                        "give every labelled photo a split (train, val or test; one per person), or drop the split column to have photos split by person");
                var row = rows[k];
                if (split >= 0 && Get(split).Length == 0) blankSplit.Add(k);
                rows[k] = row with
                {
                    Subject = Get(subject),
                    Syndrome = Get(syndrome), Gene = Get(gene),
                    Split = Get(split) is { Length: > 0 } sp ? sp : row.Split,
                    // A lone "-" is how spreadsheets say "none": no family, not one family of everyone so marked.
                    Sex = Get(sex), AgeBand = Get(age), SkinTone = Get(skin), Family = Get(family) is "-" ? "" : Get(family),
                    Extra = ownColumns.Count == 0 ? row.Extra : ownColumns.ToDictionary(c => c.Name, c => f[c.Index].Trim(), StringComparer.Ordinal),
                };
                Validate(rows[k], $"{labelsCsv}: line {line}");
            }
            catch (GestaltLabException e) { problems.Add(e); }
        }
        if (problems.Count == 1) throw problems[0];
        if (problems.Count > 1)
        {
            var lines = problems.Take(10).Select(e => e.Reason.StartsWith(labelsCsv + ": ", StringComparison.Ordinal) ? e.Reason[(labelsCsv.Length + 2)..] : e.Reason);
            throw new GestaltLabException($"{labelsCsv}: {problems.Count} problems in the labels:\n    " + string.Join("\n    ", lines) + (problems.Count > 10 ? $"\n    … and {problems.Count - 10} more" : ""),
                string.Join("; ", problems.Select(e => e.Fix).OfType<string>().Distinct(StringComparer.Ordinal)));
        }
        if (blankSplit.Count > 0)
        {
            // One split per person: a photo without a syndrome (and without a split) goes where its person's other photos
            // are, not to test beside them in train (a leak train would refuse).
            var splitOfPerson = rows.Where((r, i) => !blankSplit.Contains(i) && labelled.ContainsKey(i)).GroupBy(r => r.Subject, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.First().Split, StringComparer.Ordinal);
            foreach (int i in blankSplit)
                if (splitOfPerson.TryGetValue(rows[i].Subject, out var sp)) rows[i] = rows[i] with { Split = sp };
        }
        var manifest = new Manifest(root, rows);
        if (split < 0 && labelled.Count > 0)
        {
            var toSplit = manifest.Rows.Where(r => r.IsLabelled).ToList();
            var assigned = Splits.Assign(toSplit, shares, seed);
            var map = assigned.ToDictionary(r => r.Image, StringComparer.Ordinal);
            // A listed photo without a syndrome goes with its person: one split per person, labelled or not.
            var splitOf = assigned.GroupBy(r => r.Subject, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Split, StringComparer.Ordinal);
            manifest = manifest.WithRows(manifest.Rows.Select(r => map.TryGetValue(r.Image, out var a) ? a
                : splitOf.TryGetValue(r.Subject, out var sp) ? r with { Split = sp } : r));
        }
        // A split of the user's own that puts a person (or a family) on both sides would be refused by training after the
        // whole alignment: said now, naming the labels file, while it is open in an editor.
        if (Splits.FindLeaks(manifest.Rows) is { Count: > 0 } leaks)
            throw new GestaltLabException($"{labelsCsv}: {leaks.Count} subject/family leak(s) between splits: {string.Join("; ", leaks.Take(5))}",
                "put all of a person's (and a family's) photos in one split, or drop the split column to have photos split by person");
        manifest.MadeFrom = new Origin(root, Path.GetFullPath(labelsCsv), labelsSha256, split >= 0, syndrome >= 0, shares, seed);
        return manifest;
    }

    /// <summary>
    /// The subject ids of photos nobody labelled (<see cref="UnlabelledSubject"/>), one person each: photos whose paths
    /// differ only in extension (<c>a.jpg</c>, <c>a.png</c>) keep it in their ids, and an id still shared (a file named
    /// <c>a.jpg.png</c> beside those) is numbered, in the folder's order.
    /// </summary>
    private static string[] UnlabelledSubjects(IReadOnlyList<string> images)
    {
        var ids = images.Select(i => UnlabelledSubject(i)).ToArray();
        var shared = ids.GroupBy(id => id, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        for (int k = 0; k < ids.Length; k++)
            if (shared.Contains(ids[k])) ids[k] = UnlabelledSubject(images[k], keepExtension: true);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int k = 0; k < ids.Length; k++)
        {
            string id = ids[k];
            for (int n = 2; !seen.Add(id); n++) id = $"{ids[k]}#{n}";
            ids[k] = id;
        }
        return ids;
    }

    /// <summary>
    /// The subject id of a photo nobody labelled: <c>unlabelled:</c> and its path without the extension, each control
    /// character (a tab or line break in the file name) written as <c>\uXXXX</c>. Subjects are printed to terminals, so
    /// control characters are refused in them — but this id is GestaltLab's, not the user's to change. Backslashes are
    /// written so too, so that no other file name (one spelling <c>\u0009</c> out) gives the same id.
    /// </summary>
    private static string UnlabelledSubject(string image, bool keepExtension = false)
    {
        string stem = keepExtension ? image : Path.ChangeExtension(image, null);
        if (!stem.Any(c => char.IsControl(c) || c == '\\')) return "unlabelled:" + stem;
        var sb = new System.Text.StringBuilder("unlabelled:", stem.Length + 32);
        foreach (char c in stem)
            if (char.IsControl(c) || c == '\\') sb.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            else sb.Append(c);
        return sb.ToString();
    }

    private static void Validate(ManifestRow r, string where)
    {
        if (string.IsNullOrWhiteSpace(r.Image)) throw new GestaltLabException($"{where}: empty 'image'");
        if (string.IsNullOrWhiteSpace(r.Subject)) throw new GestaltLabException($"{where}: empty 'subject' for image '{r.Image}'",
            "every photo needs a subject id so that splits keep one person's photos together");
        if (string.IsNullOrWhiteSpace(r.Split)) throw new GestaltLabException($"{where}: empty 'split' for image '{r.Image}'",
            $"use one of {string.Join(", ", SplitNames.All)}");
        if (!SplitNames.IsValid(r.Split))
            throw new GestaltLabException($"{where}: unknown split '{r.Split}' for image '{r.Image}'", $"use one of {string.Join(", ", SplitNames.All)}");
        if (SyndromeNameProblem(r.Syndrome) is { } problem)
            throw new GestaltLabException($"{where}: syndrome of image '{r.Image}' {problem}", "rename the syndrome (a letter or digit first, no control characters)");
        // The other labels are printed to terminals too (an ANSI escape could rewrite what is shown): no control characters.
        // (Formula-like values such as "-1" are common codes in these columns, and stay the user's own.)
        foreach (var (column, value) in new[] { ("subject", r.Subject), ("gene", r.Gene), ("family", r.Family) })
            if (value.Any(char.IsControl))
                throw new GestaltLabException($"{where}: {column} of image '{r.Image}' {System.Text.Json.JsonSerializer.Serialize(value)} holds control characters", $"change the {column}");
    }

    /// <summary>
    /// Why <paramref name="name"/> cannot name a syndrome, or null: a syndrome's name becomes a column of the tables
    /// evaluation writes and is printed to terminals, so it must not begin with <c>= + - @</c> (spreadsheets run such a
    /// cell as a formula) nor hold control characters (terminal escape sequences), nor be one of those tables' own
    /// column names (<c>image</c>, <c>subject</c>, <c>true</c>).
    /// </summary>
    public static string? SyndromeNameProblem(string name) =>
        name.Length > 0 && name[0] is '=' or '+' or '-' or '@' ? $"'{name}' begins with '{name[0]}', which spreadsheets run as a formula"
        // The result tables' own columns (probabilities.csv: image, subject, true, then one column per syndrome).
        : name.ToLowerInvariant() is "image" or "subject" or "true" ? $"'{name}' is a column name of the result tables"
        : name.Any(char.IsControl) ? $"{System.Text.Json.JsonSerializer.Serialize(name)} holds control characters"
        : null;
}
