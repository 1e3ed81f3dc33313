using System.Numerics;
using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Synthetic;

public sealed class ManifestTests : IDisposable
{
    private readonly string _dir = TestTemp.Dir("gl-manifest");

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, string text)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    [Fact]
    public void Labels_name_photos_as_find_lists_them_and_an_ambiguous_name_lists_its_photos()
    {
        string photos = Path.Combine(_dir, "dot");
        Directory.CreateDirectory(Path.Combine(photos, "visit1"));
        Directory.CreateDirectory(Path.Combine(photos, "visit2"));
        foreach (var f in new[] { "a.jpg", "visit1/b.jpg", "visit2/b.jpg" }) File.WriteAllBytes(Path.Combine(photos, f), [0xFF, 0xD8, 0xFF]);
        string labels = Write("dot.csv", "image,subject,syndrome\n./a.jpg,p1,x\n./visit1/b.jpg,p2,y\n");
        var manifest = Manifest.FromImageFolder(photos, labels, SplitFractions.Default, 0);
        Assert.Equal(["a.jpg", "visit1/b.jpg"], manifest.Rows.Where(r => r.IsLabelled).Select(r => r.Image).Order(StringComparer.Ordinal).ToArray());
        string ambiguous = Write("ambiguous.csv", "image,subject,syndrome\nb.jpg,p2,y\n");
        var e = Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, ambiguous, SplitFractions.Default, 0));
        Assert.Contains("matches several photos", e.Message);
        Assert.Contains("(visit1/b.jpg, visit2/b.jpg)", e.Message);
        // Columns of the user's own are kept, saved and loaded back: what a t-SNE may be coloured by (a clinic, a shortcut).
        string withClinic = Write("clinic.csv", "image,subject,syndrome,Clinic\na.jpg,p1,x,north\nvisit1/b.jpg,p2,y,south\n");
        var kept = Manifest.FromImageFolder(photos, withClinic, SplitFractions.Default, 0);
        Assert.Equal(["Clinic"], kept.ExtraColumns);
        string saved = Path.Combine(photos, "manifest.csv");
        kept.Save(saved);
        var reloaded = Manifest.Load(saved);
        Assert.Equal("north", reloaded.Rows.Single(r => r.Image == "a.jpg").Extra["Clinic"]);
        Assert.Equal("", reloaded.Rows.Single(r => r.Image == "visit2/b.jpg").Extra.GetValueOrDefault("Clinic", ""));
        Assert.Equal(["north", "south"], GestaltLab.Figures.Charts.ManifestColumn(reloaded, ["a.jpg", "visit1/b.jpg"], "Clinic"));
        // The alignment's own columns cannot be the user's.
        string taken = Write("status.csv", "image,subject,syndrome,status\na.jpg,p1,x,ok\n");
        Assert.Contains("column 'status' is one GestaltLab writes itself", Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, taken, SplitFractions.Default, 0)).Message);
    }

    [Fact]
    public void Unlabelled_photos_differing_only_in_extension_are_two_people()
    {
        // a.jpg and a.png once shared "unlabelled:a": one person to matching (each left out of the other's gallery), to
        // leak checks and to composites.
        string photos = Path.Combine(_dir, "same-stem");
        Directory.CreateDirectory(photos);
        var names = new[] { "a.jpg", "a.jpg.png", "a.png", "b.jpg" };
        foreach (var f in names) File.WriteAllBytes(Path.Combine(photos, f), [0xFF, 0xD8, 0xFF]);
        var manifest = Manifest.FromImageFolder(photos);
        Assert.Equal(names.Length, manifest.Rows.Select(r => r.Subject).Distinct(StringComparer.Ordinal).Count());
        // Ids that were unique stay as they were; the clash keeps the extension.
        Assert.Equal("unlabelled:b", manifest.Find("b.jpg")!.Subject);
        Assert.Equal("unlabelled:a.png", manifest.Find("a.png")!.Subject);
        Assert.StartsWith("unlabelled:a.jpg", manifest.Find("a.jpg")!.Subject);
        Assert.StartsWith("unlabelled:a.jpg", manifest.Find("a.jpg.png")!.Subject);
    }

    [Fact]
    public void An_unlabelled_photo_whose_name_holds_a_tab_gets_a_subject_without_control_characters()
    {
        string photos = Path.Combine(_dir, "ctrl");
        Directory.CreateDirectory(photos);
        // A tab and a line break pasted into file names, and a name that spells the escape out: each its own person.
        var names = new[] { "a.jpg", "b\tcopy.jpg", "b\ncopy.jpg", "b_copy.jpg", "b\\u0009copy.jpg" };
        foreach (var f in names) File.WriteAllBytes(Path.Combine(photos, f), [0xFF, 0xD8, 0xFF]);
        string labels = Write("ctrl.csv", "image,subject,syndrome\na.jpg,P1,cdls_like\n");
        foreach (var manifest in new[] { Manifest.FromImageFolder(photos), Manifest.FromImageFolder(photos, labels) })
        {
            Assert.Equal(names.Length, manifest.Count);
            Assert.All(manifest.Rows, r => Assert.DoesNotContain(r.Subject, char.IsControl));
            Assert.Equal(names.Length, manifest.Rows.Select(r => r.Subject).Distinct(StringComparer.Ordinal).Count());
            Assert.Equal("unlabelled:b\\u0009copy", manifest.Find("b\tcopy.jpg")!.Subject);
            // Saved and loaded back, as train and predict read it.
            string saved = Path.Combine(_dir, "ctrl-manifest.csv");
            manifest.Save(saved);
            Assert.Equal(manifest.Rows.Select(r => r.Subject), Manifest.Load(saved).Rows.Select(r => r.Subject));
        }
        // A subject the user wrote with a control character in it is still theirs to change.
        var typed = Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, Write("ctrl-subject.csv", "image,subject,syndrome\na.jpg,\"P\t1\",cdls_like\n")));
        Assert.Contains("line 2: subject of image 'a.jpg'", typed.Message);
        Assert.Contains("holds control characters", typed.Message);
        Assert.Equal("change the subject", typed.Fix);
    }

    [Fact]
    public void Labels_may_name_a_photo_by_a_path_through_a_link_inside_the_folder()
    {
        // A folder sorted by syndrome with links into one folder of all photos: the photo is listed once (under its real
        // path), and a label naming it through a link names that photo.
        string farm = Path.Combine(_dir, "farm");
        Directory.CreateDirectory(Path.Combine(farm, "all"));
        Directory.CreateDirectory(Path.Combine(farm, "by-syndrome", "cdls"));
        foreach (var f in new[] { "a.jpg", "b.jpg", "c.jpg" }) File.WriteAllBytes(Path.Combine(farm, "all", f), [0xFF, 0xD8, 0xFF]);
        File.CreateSymbolicLink(Path.Combine(farm, "by-syndrome", "cdls", "a.jpg"), "../../all/a.jpg");
        Directory.CreateSymbolicLink(Path.Combine(farm, "latest"), "all");
        Directory.CreateDirectory(Path.Combine(_dir, "outside"));
        File.WriteAllBytes(Path.Combine(_dir, "outside", "d.jpg"), [0xFF, 0xD8, 0xFF]);
        Assert.Equal(["all/a.jpg", "all/b.jpg", "all/c.jpg"], ImageLoader.FindPhotos(farm));

        var manifest = Manifest.FromImageFolder(farm, Write("farm.csv", "image,subject,syndrome\nby-syndrome/cdls/a.jpg,P1,cdls_like\nlatest/b.jpg,P2,williams_like\n./latest/../all/c.jpg,P3,williams_like\n"));
        Assert.Equal(["all/a.jpg", "all/b.jpg", "all/c.jpg"], manifest.Rows.Select(r => r.Image));
        Assert.Equal(["P1", "P2", "P3"], manifest.Rows.Select(r => r.Subject));
        Assert.Equal("cdls_like", manifest.Find("all/a.jpg")!.Syndrome);

        // Two names of one photo are one photo labelled twice, as the same name twice would be.
        var twice = Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(farm, Write("twice.csv", "image,subject,syndrome\nall/a.jpg,P1,cdls_like\nby-syndrome/cdls/a.jpg,P1,cdls_like\n")));
        Assert.Contains("line 3: photo 'by-syndrome/cdls/a.jpg' is labelled twice", twice.Message);
        Assert.Contains("all/a.jpg", twice.Message);
        Assert.Contains("line 2", twice.Message);
        // A path out of the folder is not in it, wherever it leads; nor is a file the folder search does not list.
        foreach (var path in new[] { "../outside/d.jpg", "../farm/../outside/d.jpg", "by-syndrome/cdls/z.jpg" })
            Assert.Contains("is not in", Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(farm, Write("out.csv", $"image,subject,syndrome\n{path},P9,x\n"))).Message);
    }

    [Fact]
    public void SaveAndLoadRoundTripKeepsEveryColumnAndResolvesImages()
    {
        var rows = new[]
        {
            new ManifestRow { Image = "images/a.png", Subject = "s1", Syndrome = "cdls_like", Split = "train", Sex = "female", AgeBand = "child", SkinTone = "II", Family = "f1",
                Extra = new Dictionary<string, string> { ["source_syndrome"] = "x, \"quoted\"" } },
            new ManifestRow { Image = "images/b.jpg", Subject = "s2", Syndrome = Manifest.Unaffected, Gene = "", Split = "test" },
        };
        var m = new Manifest(_dir, rows);
        m.Save(_dir);
        var back = Manifest.Load(_dir);
        Assert.Equal(2, back.Count);
        Assert.Equal(rows[0] with { Extra = back.Rows[0].Extra }, back.Rows[0]);
        Assert.Equal("x, \"quoted\"", back.Rows[0].Extra["source_syndrome"]);
        Assert.Equal(Path.Combine(_dir, "images", "a.png"), back.ResolveImage(back.Rows[0]));
        Assert.Equal(["cdls_like", "unaffected"], back.Syndromes);
        Assert.True(back.Rows[1].IsUnaffected);
        Assert.Equal(Manifest.Columns.Append("source_syndrome"), File.ReadLines(Path.Combine(_dir, Manifest.FileName)).First().Split(','));

        // Saving elsewhere rebases relative image paths so they still point at the same files.
        string sub = Path.Combine(_dir, "runs", "r1");
        Directory.CreateDirectory(sub);
        back.Save(Path.Combine(sub, Manifest.FileName));
        var moved = Manifest.Load(sub);
        Assert.Equal("../../images/a.png", moved.Rows[0].Image);
        Assert.Equal(back.ResolveImage(back.Rows[0]), moved.ResolveImage(moved.Rows[0]));
    }

    [Theory]
    [InlineData("image,subject,syndrome\na.png,s1,x\n", "missing column 'split'")]
    [InlineData("image,subject,split\na.png,s1,train\na.png,s2,test\n", "line 3: image 'a.png' is already listed on line 2")]
    [InlineData("image,subject,split\na.png,,train\n", "line 2: empty 'subject'")]
    [InlineData("image,subject,split\na.png,s1,training\n", "line 2: unknown split 'training'")]
    [InlineData("image,subject,split\n,s1,train\n", "line 2: empty 'image'")]
    [InlineData("image,subject,split,syndrome\na.png,s1,train,\"=HYPERLINK(1)\"\n", "line 2: syndrome of image 'a.png' '=HYPERLINK(1)' begins with '='")]
    [InlineData("image,subject,split,subject\na.png,s1,train,s2\n", "column 'subject' appears twice in the header")]
    [InlineData("image,subject,split,family\na.png,s1,train,\"a\u001b[31mb\"\n", "line 2: family of image 'a.png'")]
    [InlineData("image,subject,split,Syndrome,syndrome\na.png,s1,train,x,y\n", "column 'syndrome' appears twice in the header (Syndrome and syndrome)")]
    [InlineData("image,subject,split,syndrome\na.png,s1,train,true\n", "'true' is a column name of the result tables")]
    public void LoadGivesClearErrorsNamingFileAndLine(string csv, string expected)
    {
        string path = Write("bad.csv", csv);
        var e = Assert.Throws<GestaltLabException>(() => Manifest.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        // A missing column says how to have it.
        if (expected.StartsWith("missing column", StringComparison.Ordinal)) Assert.Contains("gestaltlab manifest", e.Fix);
    }

    [Fact]
    public void MissingManifestSaysHowToMakeOne()
    {
        var e = Assert.Throws<GestaltLabException>(() => Manifest.Load(Path.Combine(_dir, "nowhere")));
        Assert.Contains("manifest not found", e.Message);
        Assert.Contains("gestaltlab manifest --images DIR", e.Fix);
        // An alignment of unlabelled photos (match --gallery on it): the labels go on the photos' folder, then align again.
        string aligned = Path.Combine(_dir, "photos-aligned");
        Directory.CreateDirectory(Path.Combine(aligned, "aligned"));
        Directory.CreateDirectory(Path.Combine(aligned, "regions"));
        var unlabelled = Assert.Throws<GestaltLabException>(() => Manifest.Load(aligned));
        Assert.Contains("made from photos without labels", unlabelled.Fix);
        Assert.Contains("align again with --force", unlabelled.Fix);
    }

    [Fact]
    public void A_review_of_the_labels_says_what_train_would_find_out_later()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "review"));
        // (A JPEG's first bytes are all the review reads of a photo.)
        foreach (var f in new[] { "a1.jpg", "a2.jpg", "c1.jpg" })
            File.WriteAllBytes(Path.Combine(_dir, "review", f), [0xFF, 0xD8, 0xFF, 0xE0]);
        File.WriteAllText(Path.Combine(_dir, "review", "b1.jpg"), "not a photo");
        File.WriteAllBytes(Path.Combine(_dir, "review", "empty.jpg"), []);
        string photos = Path.Combine(_dir, "review");
        // One person labelled with two syndromes, a photo left out of the labels, an empty file, two people for three splits.
        string labels = Write("review.csv", "image,syndrome,subject\na1.jpg,kabuki_like,anna\na2.jpg,cdls_like,anna\nb1.jpg,kabuki_like,bert\nempty.jpg,kabuki_like,bert\n");
        var manifest = Manifest.FromImageFolder(photos, labels, new SplitFractions(70, 10, 20), seed: 1);
        Assert.Equal("5 photo(s), 4 labelled (2 people, 2 syndromes); "
                     + string.Join(", ", SplitNames.All.Select(s => $"{s} {manifest.Rows.Count(r => r.IsLabelled && r.Split == s)}")), ManifestReview.Summary(manifest));
        // Saved from a notebook as by the command: beside it, how the split was drawn (labels by content, shares, seed);
        // a manifest loaded back (or filtered) was not made here, and gets no record.
        string saved = Path.Combine(_dir, "review-manifest.csv");
        string record = manifest.Save(saved)!;
        Assert.Equal(Path.Combine(_dir, "review-manifest.json"), record);
        var made = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(record))!;
        Assert.Equal("Manifest.FromImageFolder", (string?)made["command"]);
        Assert.Equal(GestaltLab.Runtime.RunManifest.ComputeFileHash(labels), (string?)made["labels_sha256"]);
        Assert.Equal([70.0, 10, 20], made["fractions"]!.AsArray().Select(n => (double)n!));
        Assert.Equal(1, (int)made["seed"]!);
        Assert.Null(Manifest.Load(saved).Save(Path.Combine(_dir, "copy.csv")));
        Assert.False(File.Exists(Path.Combine(_dir, "copy.json")));
        var warnings = ManifestReview.Warnings(manifest, labels, new SplitFractions(70, 10, 20));
        // The manifest knows its labels and shares: the same lines without naming them again (not for a loaded one).
        Assert.Equal(warnings, ManifestReview.Warnings(manifest));
        Assert.Throws<ArgumentException>(() => ManifestReview.Warnings(Manifest.Load(saved)));
        Assert.Equal(["no labels: all 5 photo(s) are listed unlabelled in the test split (predict scores them; train and evaluate need labelled photos)"],
            ManifestReview.Warnings(Manifest.FromImageFolder(photos)));
        // Named: a blank syndrome cell may be a slip.
        Assert.Contains("1 photo(s) without a syndrome in the labels are listed unlabelled (test split; train ignores them): c1.jpg", warnings);
        Assert.Contains(warnings, w => w.StartsWith("warning: subject anna has photos labelled kabuki_like and cdls_like"));
        Assert.Contains(warnings, w => w.StartsWith("warning: no labelled photo in") && w.Contains("2 people are too few for the shares 70,10,20"));
        Assert.Contains(warnings, w => w == "warning: 2 photo(s) cannot be read and will be skipped: b1.jpg (not an image: starts with text \"not a ph\"…, bytes 6E6F742061207068); empty.jpg (empty (0 bytes), or not a regular file)");
        Assert.DoesNotContain(warnings, w => w.Contains("differ only in case") || w.Contains("formula"));
        // One syndrome or sex spelt two ways would be two classes, two groups: said while the labels are open.
        string spelt = Write("spelt.csv", "image,syndrome,subject,sex\na1.jpg,Kabuki syndrome,anna,Female\na2.jpg,Kabuki syndrome,anna,Female\n"
                                          + "b1.jpg,kabuki_syndrome,bert,female\nc1.jpg,CdLS,carl,male\n");
        var spelling = ManifestReview.Warnings(Manifest.FromImageFolder(photos, spelt, SplitFractions.Default, seed: 1), spelt, SplitFractions.Default);
        Assert.Contains("warning: syndrome 'Kabuki syndrome' (2 photo(s)) and 'kabuki_syndrome' (1 photo(s)) differ only in case, spaces or hyphens: "
                        + "trained and scored as syndromes of their own; write them alike in the labels if they are one", spelling);
        Assert.Contains(spelling, w => w.StartsWith("warning: sex 'Female' (2 photo(s)) and 'female' (1 photo(s)) differ only in case") && w.Contains("groups of their own"));
        Assert.DoesNotContain(spelling, w => w.Contains("CdLS") || w.Contains("'male'"));
        // A photo whose name a spreadsheet would run as a formula is named (its name is the user's, and stays).
        File.WriteAllBytes(Path.Combine(photos, "=1+1.jpg"), [0xFF, 0xD8, 0xFF, 0xE0]);
        Assert.Contains("warning: 1 photo name(s) begin with = + - or @, which a spreadsheet opening the tables that name them runs as a formula: =1+1.jpg (rename them, or open those tables as text)",
            ManifestReview.Warnings(Manifest.FromImageFolder(photos, labels, SplitFractions.Default, seed: 1)));
        File.Delete(Path.Combine(photos, "=1+1.jpg"));
        // A split given no share is empty by choice; labels without syndromes are said to be so.
        var noVal = ManifestReview.Warnings(Manifest.FromImageFolder(photos, labels, new SplitFractions(1, 0, 1), seed: 1), labels, new SplitFractions(1, 0, 1));
        Assert.DoesNotContain(noVal, w => w.StartsWith("warning: no labelled photo in val") || w.Contains(" or val:"));
        string unlabelled = Write("no-syndromes.csv", "image,subject\na1.jpg,anna\n");
        Assert.Contains(ManifestReview.Warnings(Manifest.FromImageFolder(photos, unlabelled), unlabelled, SplitFractions.Default),
            w => w == "warning: no photo has a syndrome (the labels have no 'syndrome' column): train and evaluate need labelled photos");
    }

    [Fact]
    public void FolderOfUserPhotosBecomesAManifestWithOrWithoutLabels()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "photos", "clinic"));
        foreach (var f in new[] { "p1.jpg", "p2.png", "clinic/p3.JPG", "notes.txt", ".hidden.png" })
            File.WriteAllBytes(Path.Combine(_dir, "photos", f), [1]);
        string photos = Path.Combine(_dir, "photos");

        var unlabelled = Manifest.FromImageFolder(photos);
        Assert.Equal(["clinic/p3.JPG", "p1.jpg", "p2.png"], unlabelled.Rows.Select(r => r.Image));
        Assert.All(unlabelled.Rows, r => { Assert.False(r.IsLabelled); Assert.Equal(SplitNames.Test, r.Split); });

        string labels = Write("labels.csv", "image,syndrome,subject\np1.jpg,kabuki_like,anna\nclinic/p3.JPG,kabuki_like,anna\n");
        var labelled = Manifest.FromImageFolder(photos, labels);
        var anna = labelled.Rows.Where(r => r.Subject == "anna").ToList();
        Assert.Equal(2, anna.Count);
        Assert.Single(anna.Select(r => r.Split).Distinct());
        Assert.False(labelled.Find("p2.png")!.IsLabelled);

        // Without subjects the photos cannot be told apart by person (splits, leak checks, composites count people):
        // refused, with a split of the user's own too, and so is a labelled photo with an empty subject.
        // A labels file that is not there is said as such, naming it.
        string missing = Path.Combine(_dir, "no-such-labels.csv");
        Assert.Contains(missing, Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, missing)).Message);
        string anonymous = Write("anonymous.csv", "image,syndrome\np1.jpg,kabuki_like\n");
        Assert.Contains("subject", Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, anonymous)).Message);
        Assert.Contains("subject", Assert.Throws<GestaltLabException>(() =>
            Manifest.FromImageFolder(photos, Write("own-split.csv", "image,syndrome,split\np1.jpg,kabuki_like,train\n"))).Message);
        var blank = Assert.Throws<GestaltLabException>(() =>
            Manifest.FromImageFolder(photos, Write("blank.csv", "image,syndrome,split,subject\np1.jpg,kabuki_like,train,anna\np2.png,kabuki_like,train,\n")));
        Assert.Contains("line 3", blank.Message);
        // With a split column, a labelled photo without a split is not sent to test unseen: refused, naming its line.
        var noSplit = Assert.Throws<GestaltLabException>(() =>
            Manifest.FromImageFolder(photos, Write("no-split.csv", "image,syndrome,split,subject\np1.jpg,kabuki_like,train,anna\np2.png,kabuki_like,,bert\n")));
        Assert.Contains("line 3", noSplit.Message);
        Assert.Contains("no split", noSplit.Message);
        // A person (or a family) in two splits of the user's own is refused now, naming the labels file, not by
        // training after the alignment.
        var leak = Assert.Throws<GestaltLabException>(() =>
            Manifest.FromImageFolder(photos, Write("leak.csv", "image,syndrome,split,subject,family\np1.jpg,kabuki_like,train,anna,f1\np2.png,kabuki_like,test,anna,\nclinic/p3.JPG,kabuki_like,val,bert,f1\n")));
        Assert.Contains("leak.csv: 2 subject/family leak(s) between splits: subject 'anna' is in test and train; family 'f1' is in train and val", leak.Message);
        var ownSplit = Manifest.FromImageFolder(photos, Write("own-split2.csv", "image,syndrome,split,subject\np1.jpg,kabuki_like,train,anna\n"));
        Assert.Equal(("anna", "train"), (ownSplit.Find("p1.jpg")!.Subject, ownSplit.Find("p1.jpg")!.Split));

        // A lone "-" family means none (not one family of everyone so marked); a listed photo without a syndrome and
        // with a blank split goes with its person, not to test beside them.
        var dashes = Manifest.FromImageFolder(photos, Write("dashes.csv", "image,syndrome,split,subject,family\np1.jpg,kabuki_like,train,anna,-\np2.png,,,anna,-\nclinic/p3.JPG,kabuki_like,test,bert,-\n"));
        Assert.Equal(["subject:anna", "subject:anna", "subject:bert"], dashes.Rows.OrderBy(r => r.Image, StringComparer.Ordinal).Select(r => r.SplitGroup).OrderBy(g => g, StringComparer.Ordinal));
        Assert.Equal("train", dashes.Find("p2.png")!.Split);
        // UTF-16 with its byte-order mark (PowerShell's `>`) is read as such.
        string utf16 = Path.Combine(_dir, "utf16.csv");
        File.WriteAllText(utf16, "image,syndrome,subject\np1.jpg,kabuki_like,anna\n", System.Text.Encoding.Unicode);
        Assert.Equal("anna", Manifest.FromImageFolder(photos, utf16).Find("p1.jpg")!.Subject);
        // Excel's plain "CSV" is Windows-1252: refused, naming the line, rather than read into "�" names.
        string latin1 = Path.Combine(_dir, "latin1.csv");
        File.WriteAllBytes(latin1, [.. "image,syndrome,subject\np1.jpg,x,a\nM"u8.ToArray(), 0xFC, .. "ller.png,x,b\n"u8.ToArray()]);
        var notUtf8 = Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, latin1));
        Assert.Contains("line 3", notUtf8.Message);
        Assert.Contains("UTF-8", notUtf8.Message);
        // As typed in a spreadsheet: another letter case, an accent composed where the file name has it decomposed.
        File.WriteAllBytes(Path.Combine(photos, "Mu\u0308ller.png"), [1]);
        var typed = Manifest.FromImageFolder(photos, Write("typed.csv", "image,syndrome,subject\nclinic/P3.jpg,x,a\nM\u00fcller.png,x,b\n"));
        Assert.Equal("a", typed.Find("clinic/p3.JPG")!.Subject);
        Assert.Equal("b", typed.Find("Mu\u0308ller.png")!.Subject);
        // But not another name: the accent itself counts, and other scripts are compared as they are.
        Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, Write("unaccented.csv", "image,syndrome,subject\nMuller.png,x,b\n")));
        File.Delete(Path.Combine(photos, "Mu\u0308ller.png"));
        File.WriteAllBytes(Path.Combine(photos, "\u0418\u0432\u0430\u043d\u043e\u0432.png"), [1]);   // Иванов
        Assert.Contains("is not in", Assert.Throws<GestaltLabException>(() =>
            Manifest.FromImageFolder(photos, Write("cyrillic.csv", "image,syndrome,subject\n\u041f\u0435\u0442\u0440\u043e\u0432.png,x,p\n"))).Message);   // Петров
        File.Delete(Path.Combine(photos, "\u0418\u0432\u0430\u043d\u043e\u0432.png"));
        string wrong = Write("wrong.csv", "image,syndrome,subject\nmissing.jpg,x,s\n");
        var e = Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, wrong));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("missing.jpg", e.Message);
        // Several lines wrong are said together, each with its line, not one per run of the command.
        string several = Write("several.csv", "image,syndrome,subject,split\nmissing.jpg,x,s,train\nclinic/p3.jpg,x,t,Training\nalso-missing.jpg,x,u,test\n");
        var all = Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(photos, several));
        Assert.StartsWith($"{several}: 3 problems in the labels:", all.Message);
        foreach (var said in new[] { "line 2: photo 'missing.jpg' is not in", "line 3: unknown split 'Training'", "line 4: photo 'also-missing.jpg' is not in" })
            Assert.Contains(said, all.Message);
        Assert.Contains("use one of train, val, test", all.Fix);

        // A folder with no photo (only a text file and a hidden photo) is an error naming it; a missing one too.
        string none = Path.Combine(_dir, "none");
        Directory.CreateDirectory(none);
        File.WriteAllBytes(Path.Combine(none, "notes.txt"), [1]);
        File.WriteAllBytes(Path.Combine(none, ".hidden.png"), [1]);
        Assert.Empty(ImageLoader.FindPhotos(none));
        var empty = Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(none));
        Assert.Contains(none, empty.Message);
        Assert.Contains("no photos found (none named .jpg", empty.Message);
        Assert.Contains("folder not found", Assert.Throws<GestaltLabException>(() => Manifest.FromImageFolder(Path.Combine(_dir, "absent"))).Message);
    }

    [Fact]
    public void SplitsKeepSubjectsAndFamiliesTogetherAndAreStratified()
    {
        var rows = new List<ManifestRow>();
        for (int s = 0; s < 60; s++)
            for (int k = 0; k < 3; k++)
                rows.Add(new ManifestRow
                {
                    Image = $"i{s}_{k}.png", Subject = $"s{s}", Syndrome = s % 3 == 0 ? "a" : s % 3 == 1 ? "b" : "c",
                    Family = s < 10 ? $"fam{s / 2}" : "", Split = "train",
                });
        var split = Splits.Assign(rows, SplitFractions.Default, seed: 5);
        Assert.Empty(Splits.FindLeaks(split));
        foreach (var label in new[] { "a", "b", "c" })
        {
            var subjects = split.Where(r => r.Syndrome == label).GroupBy(r => r.SplitGroup).Select(g => g.First().Split).ToList();
            Assert.Contains(SplitNames.Test, subjects);
            Assert.Contains(SplitNames.Train, subjects);
        }
        // Same seed, shuffled input → same assignment; different seed → a different one.
        var again = Splits.Assign(rows.AsEnumerable().Reverse().ToList(), SplitFractions.Default, 5).ToDictionary(r => r.Image, r => r.Split);
        Assert.All(split, r => Assert.Equal(r.Split, again[r.Image]));
        Assert.Contains(Splits.Assign(rows, SplitFractions.Default, 6), r => r.Split != split.First(x => x.Image == r.Image).Split);

        var folds = Splits.KFold(rows, 5, 1);
        for (int i = 0; i < rows.Count; i++)
            for (int j = 0; j < rows.Count; j++)
                if (rows[i].SplitGroup == rows[j].SplitGroup) Assert.Equal(folds[i], folds[j]);
        Assert.Equal(5, folds.Distinct().Count());

        var leaky = split.Select((r, i) => i == 0 ? r with { Split = r.Split == "test" ? "train" : "test" } : r).ToList();
        Assert.NotEmpty(Splits.FindLeaks(leaky));
        Assert.Throws<GestaltLabException>(() => Splits.EnsureNoLeaks(new Manifest(_dir, leaky)));
    }

    [Fact]
    public void LandmarkTableRoundTripsAndReportsBadNumbers()
    {
        var t = new LandmarkTable();
        var pts = Enumerable.Range(0, 68).Select(i => new Vector2(i * 1.25f, 200 - i * 0.5f)).ToArray();
        t.Set("images/a.png", pts);
        string path = Path.Combine(_dir, LandmarkTable.FileName);
        t.Save(path);
        var back = LandmarkTable.Load(_dir);
        Assert.Equal(68, back.PointCount);
        Assert.Equal(pts, back["images/a.png"]);
        Assert.StartsWith("image,x0,y0,x1,y1,", File.ReadLines(path).First());

        File.WriteAllText(path, File.ReadAllText(path).Replace(",2.500,", ",oops,"));
        var e = Assert.Throws<GestaltLabException>(() => LandmarkTable.Load(path));
        Assert.Contains("line 2", e.Message);
    }
}
