using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Foundation;

public class CsvAndFileTests
{
    [Fact]
    public void CsvRoundTripsQuotesCommasAndLineBreaks()
    {
        string dir = TestTemp.Dir("gl-csv");
        try
        {
            string path = Path.Combine(dir, "t.csv");
            Csv.Write(path, ["image", "note"], [["a,b.png", "say \"hi\""], ["c.png", "two\nlines"], ["d.png", ""]]);
            var table = Csv.Read(path);
            Assert.Equal(["image", "note"], table.Header);
            Assert.Equal(3, table.Rows.Count);
            Assert.Equal("a,b.png", table.Rows[0][table.Column("image")]);
            Assert.Equal("say \"hi\"", table.Rows[0][1]);
            Assert.Equal("two\nlines", table.Rows[1][1]);
            Assert.Equal("", table.Rows[2][1]);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CsvErrorsNameTheFileAndTheProblem()
    {
        var ragged = Assert.Throws<GestaltLabException>(() => Csv.Parse("a,b\n1,2\n3\n", "faces.csv"));
        Assert.Contains("faces.csv", ragged.Message);
        Assert.Contains("line 3: 1 fields, the header has 2", ragged.Message);
        var table = Csv.Parse("a,b\n1,2\n", "faces.csv");
        var column = Assert.Throws<GestaltLabException>(() => table.Column("image"));
        Assert.Contains("missing column 'image'", column.Message);
        // Lines as the file has them: blank lines and line breaks inside quoted cells counted.
        Assert.Contains("line 6:", Assert.Throws<GestaltLabException>(() => Csv.Parse("a,b\n1,2\n\n\"x\ny\",3\n4\n", "faces.csv")).Message);
        Assert.Contains("line 2: a quoted field is never closed", Assert.Throws<GestaltLabException>(() => Csv.Parse("a,b\n\"1,2\n3,4\n", "faces.csv")).Message);
    }

    [Fact]
    public void RowsOfEmptyCellsAreSkippedAndRowsKeepTheirLines()
    {
        // What a spreadsheet writes for rows once edited (",,") or a line of spaces says nothing: skipped like a blank line.
        var table = Csv.Parse("image,subject,syndrome\r\na.jpg,p1,X\r\n,,\r\n\r\n   \r\nb.jpg,p2,\"Y\nZ\"\r\n , ,\r\nc.jpg,p3,W\r\n", "labels.csv");
        Assert.Equal(["a.jpg", "b.jpg", "c.jpg"], table.Rows.Select(r => r[0]).ToArray());
        Assert.Equal([2, 6, 9], Enumerable.Range(0, 3).Select(table.LineOf).ToArray());
    }

    [Fact]
    public void A_file_separated_by_semicolons_or_tabs_is_said_to_be_so_even_when_a_value_holds_a_comma()
    {
        // Excel's "CSV UTF-8" in locales with a decimal comma: a comma in a value made the row look ragged, and the
        // message blamed quoting. The separator is the problem, and named first.
        var semi = Assert.Throws<GestaltLabException>(() => Csv.Parse("image;subject;syndrome\r\nchild1.jpg;P001;kabuki\r\nSmith, J.jpg;P002;williams\r\n", "semi.csv"));
        Assert.Contains("semi.csv: line 1", semi.Message);
        Assert.Contains("separated by semicolons", semi.Message + semi.Fix);
        Assert.DoesNotContain("double quotes", semi.Message + semi.Fix);
        var tabs = Assert.Throws<GestaltLabException>(() => Csv.Parse("image\tsubject\nSmith, J.jpg\tP002\n", "tabs.csv"));
        Assert.Contains("separated by tabs", tabs.Message + tabs.Fix);
        // Without a separator mix-up a comma in an unquoted value is still said as such.
        Assert.Contains("double quotes", Assert.Throws<GestaltLabException>(() => Csv.Parse("image\nSmith, J.jpg\n", "one.csv")).Fix);

        // Excel's "sep=," first line says the file is what it is: skipped, lines still counted as the file has them.
        var sep = Csv.Parse("sep=,\r\nimage,subject\r\na.jpg,p1\r\n", "sep.csv");
        Assert.Equal(["image", "subject"], sep.Header);
        Assert.Equal("p1", sep.Rows.Single()[sep.Column("subject")]);
        Assert.Equal(3, sep.LineOf(0));
        // Another separator it names is refused with the same clear words, a comma in a value or not.
        foreach (var (text, words) in new[] { ("sep=;\nimage;subject\nSmith, J.jpg;p1\n", "semicolons"), ("SEP=\t\nimage\tsubject\na.jpg\tp1\n", "tabs"), ("sep=|\nimage|subject\n", "'|'") })
        {
            var e = Assert.Throws<GestaltLabException>(() => Csv.Parse(text, "sep.csv"));
            Assert.Contains("sep.csv: line 1", e.Message);
            Assert.Contains(words, e.Message);
            Assert.Contains("comma-separated", e.Fix);
        }
    }

    [Fact]
    public void A_lone_CR_ends_a_line_as_LF_and_CRLF_do_and_quoted_line_breaks_stay_in_their_value()
    {
        // Classic Mac line ends (Excel for Mac's older "CSV"): read as lines, not as one header of every row.
        var table = Csv.Parse("image,subject,note\rchild1.jpg,P001,\"two\rlines\"\r\rchild2.jpg,P002,x\r", "cr.csv");
        Assert.Equal(["image", "subject", "note"], table.Header);
        Assert.Equal(["child1.jpg", "child2.jpg"], table.Rows.Select(r => r[0]).ToArray());
        Assert.Equal("two\rlines", table.Rows[0][2]);
        Assert.Equal([2, 5], Enumerable.Range(0, 2).Select(table.LineOf).ToArray());
        Assert.Contains("line 3: 1 fields, the header has 2", Assert.Throws<GestaltLabException>(() => Csv.Parse("a,b\r1,2\r3\r", "cr.csv")).Message);
        // CRLF is one line end, not two; a file without a final line end keeps its last row.
        var crlf = Csv.Parse("a,b\r\n1,2\r\n\r\n3,4", "crlf.csv");
        Assert.Equal([2, 4], Enumerable.Range(0, 2).Select(crlf.LineOf).ToArray());
        Assert.Equal("4", crlf.Rows[1][1]);
        // A file that is not UTF-8 names its line counted the same way.
        string dir = TestTemp.Dir("gl-csv-cr");
        try
        {
            string path = Path.Combine(dir, "latin1.csv");
            File.WriteAllBytes(path, [.. "a,b\r1,2\rM"u8.ToArray(), 0xFC, .. "ller,3\r"u8.ToArray()]);
            Assert.Contains("line 3: not UTF-8", Assert.Throws<GestaltLabException>(() => Csv.Read(path)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_NUL_in_a_cell_is_refused_with_its_line_and_UTF16_without_a_byte_order_mark_is_named()
    {
        // A path cell with a NUL crashed `manifest`, `align` and `landmarks --boxes` where the path reached the file system.
        var e = Assert.Throws<GestaltLabException>(() => Csv.Parse("image,subject\r\na.jpg,P1\r\nb\0.jpg,P2\rc.jpg,P3\n", "labels.csv"));
        Assert.Contains("labels.csv: line 3: holds a NUL character", e.Message);
        string dir = TestTemp.Dir("gl-csv-nul");
        try
        {
            // Notepad's "Unicode" and some exports write UTF-16 without the byte-order mark: every other byte 0.
            string path = Path.Combine(dir, "utf16.csv");
            File.WriteAllBytes(path, System.Text.Encoding.Unicode.GetBytes("image,subject,syndrome\r\na.jpg,P1,cdls_like\r\n"));
            Assert.Contains("as in UTF-16 without a byte-order mark", Assert.Throws<GestaltLabException>(() => Csv.Read(path)).Message);
            // With its mark it is read (as before).
            File.WriteAllBytes(path, [0xFF, 0xFE, .. System.Text.Encoding.Unicode.GetBytes("image,subject\na.jpg,P1\n")]);
            Assert.Equal("P1", Csv.Read(path).Rows[0][1]);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void AtomicWriteLeavesTheOldFileWhenTheWriterFails()
    {
        string dir = TestTemp.Dir("gl-atomic");
        try
        {
            string path = Path.Combine(dir, "metrics.json");
            AtomicFile.WriteAllText(path, "old");
            Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
            {
                s.Write("half"u8);
                throw new InvalidOperationException("disk full");
            }));
            Assert.Equal("old", File.ReadAllText(path));
            Assert.Single(Directory.GetFiles(dir)); // no temp file left behind
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void DataHashDependsOnContentAndNamesOnly()
    {
        string a = TestTemp.Dir("gl-hash"), b = TestTemp.Dir("gl-hash");
        try
        {
            File.WriteAllText(Path.Combine(a, "x.txt"), "1");
            File.WriteAllText(Path.Combine(b, "x.txt"), "1");
            Assert.Equal(RunManifest.ComputeDataHash(a), RunManifest.ComputeDataHash(b));
            File.WriteAllText(Path.Combine(b, "x.txt"), "2");
            Assert.NotEqual(RunManifest.ComputeDataHash(a), RunManifest.ComputeDataHash(b));
        }
        finally
        {
            Directory.Delete(a, true);
            Directory.Delete(b, true);
        }
    }

    [Fact]
    public void Leftovers_of_killed_writes_are_removed_and_live_ones_kept()
    {
        string dir = TestTemp.Dir("gl-leftovers");
        try
        {
            // No process has pid int.MaxValue; this one is alive.
            string dead = Path.Combine(dir, $".epoch-002.pt.{int.MaxValue}.0123456789abcdef0123456789abcdef.tmp");
            string live = Path.Combine(dir, $".epoch-003.pt.{Environment.ProcessId}.0123456789abcdef0123456789abcdef.tmp");
            string kept = Path.Combine(dir, "epoch-001.pt");
            foreach (var f in new[] { dead, live, kept }) File.WriteAllText(f, "x");
            // A killed generate's half-written folder, and another target's that is not asked about.
            string deadFolder = Path.Combine(dir, $".data.{int.MaxValue}.0123456789abcdef0123456789abcdef.tmp");
            string otherFolder = Path.Combine(dir, $".other.{int.MaxValue}.0123456789abcdef0123456789abcdef.tmp");
            Directory.CreateDirectory(Path.Combine(deadFolder, "images"));
            Directory.CreateDirectory(otherFolder);
            AtomicFile.RemoveLeftovers(dir, "data");
            Assert.False(Directory.Exists(deadFolder));
            Assert.True(Directory.Exists(otherFolder));
            AtomicFile.RemoveLeftovers(dir);
            Assert.False(File.Exists(dead));
            Assert.True(File.Exists(live));
            Assert.True(File.Exists(kept));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Replacing_a_folder_swaps_it_in_one_step_and_leaves_nothing_hidden()
    {
        string dir = TestTemp.Dir("gl-replace");
        try
        {
            string target = Path.Combine(dir, "data"), staging = AtomicFile.TempPath(target);
            Directory.CreateDirectory(target);
            File.WriteAllText(Path.Combine(target, "old.txt"), "old");
            Directory.CreateDirectory(staging);
            File.WriteAllText(Path.Combine(staging, "new.txt"), "new");
            // The exchange itself, where the system and file system offer it: both names exist before and after, with each
            // other's content (so no kill can leave the target missing). Elsewhere the fallback's two renames serve.
            if (AtomicFile.TryExchange(staging, target))
            {
                Assert.True(File.Exists(Path.Combine(target, "new.txt")));
                Assert.True(File.Exists(Path.Combine(staging, "old.txt")));
                Assert.True(AtomicFile.TryExchange(staging, target));   // and back
            }
            Assert.False(AtomicFile.TryExchange(Path.Combine(dir, "missing"), target));
            Assert.True(File.Exists(Path.Combine(target, "old.txt")));
            AtomicFile.ReplaceDirectory(staging, target);
            Assert.Equal(["new.txt"], Directory.GetFiles(target).Select(Path.GetFileName));
            Assert.Equal(["data"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_provenance_record_goes_beside_its_output_and_never_over_a_file_it_did_not_write()
    {
        string dir = TestTemp.Dir("gl-provenance");
        try
        {
            string table = Path.Combine(dir, "table.csv");
            File.WriteAllText(table, "a\n1\n");
            string first = Provenance.Write(table, "a notebook", new System.Text.Json.Nodes.JsonObject { ["seed"] = 3 });
            Assert.Equal(Path.Combine(dir, "table.json"), first);
            var record = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(first))!;
            Assert.Equal(["command", "output", "seed", "packages", "created_utc"], record.AsObject().Select(p => p.Key));
            Assert.Equal(table, (string?)record["output"]);
            // The same output's record is replaced, whatever made it before (a notebook, then the command line).
            Assert.Equal(first, Provenance.Write(table, "gestaltlab something", []));
            Assert.Equal("gestaltlab something", (string?)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(first))!["command"]);
            // Another output with the same stem, a file of the user's, or an input the command read: the record goes to
            // OUTPUT.provenance.json instead, and they are left as they were.
            string other = Path.Combine(dir, "table.txt");
            File.WriteAllText(other, "x");
            Assert.Equal(other + ".provenance.json", Provenance.PathFor(other, "gestaltlab something"));
            string notes = Path.Combine(dir, "notes.csv"), notesJson = Path.Combine(dir, "notes.json");
            File.WriteAllText(notesJson, "{\"mine\": true}");
            Assert.Equal(notes + ".provenance.json", Provenance.Write(notes, "gestaltlab something", []));
            Assert.Equal("{\"mine\": true}", File.ReadAllText(notesJson));
            string input = Path.Combine(dir, "in.json");
            Assert.Equal(Path.Combine(dir, "in.csv") + ".provenance.json", Provenance.PathFor(Path.Combine(dir, "in.csv"), "x", input));
            Assert.Equal(Path.Combine(dir, "x.json") + ".provenance.json", Provenance.PathFor(Path.Combine(dir, "x.json"), "x"));
            // A record from before records named their output (a landmarks table's said `table`), and one whose output
            // is gone (moved away), are this output's to replace.
            string old = Path.Combine(dir, "old.csv");
            File.WriteAllText(Path.Combine(dir, "old.json"), $"{{\"command\": \"gestaltlab landmarks\", \"table\": \"{old}\"}}");
            Assert.Equal(Path.Combine(dir, "old.json"), Provenance.PathFor(old, "LandmarkBatch.Run"));
            File.WriteAllText(Path.Combine(dir, "gone.json"), $"{{\"command\": \"x\", \"output\": \"{Path.Combine(dir, "elsewhere", "gone.csv")}\"}}");
            Assert.Equal(Path.Combine(dir, "gone.json"), Provenance.PathFor(Path.Combine(dir, "gone.csv"), "y"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Readers_share_a_folder_lock_and_a_writer_waits_for_them()
    {
        string dir = TestTemp.Dir("gl-shared-lock");
        try
        {
            // In one process: readers together; a reader inside a writer is the writer; a writer inside a reader is
            // refused (turning a shared flock into an exclusive one drops it for a moment).
            using (FolderLock.AcquireShared(dir, "read"))
            using (FolderLock.AcquireShared(dir, "read again"))
                Assert.Contains("this process is reading the run in this folder", Assert.Throws<GestaltLabException>(() => FolderLock.Acquire(dir, "write")).Message);
            using (FolderLock.Acquire(dir, "write"))
            using (FolderLock.AcquireShared(dir, "read")) { }
            // Across processes: a reader beside another reader; a writer refused by readers, and told so; a reader
            // refused by a writer.
            using (new LockHeldElsewhere(dir, shared: true))
            {
                using (FolderLock.AcquireShared(dir, "read")) { }
                Assert.Contains("cannot write: another GestaltLab command is reading the run in this folder right now",
                    Assert.Throws<GestaltLabException>(() => FolderLock.Acquire(dir, "write")).Message);
            }
            using (new LockHeldElsewhere(dir))
                Assert.Contains("cannot read: another GestaltLab command is writing to this folder right now",
                    Assert.Throws<GestaltLabException>(() => FolderLock.AcquireShared(dir, "read")).Message);
            // A run's own test results have their lock apart from the run's (readers of the run share that): a report
            // waits for an evaluation writing them, and the evaluation for a report reading them.
            string results = Path.Combine(dir, ".gestaltlab-results");
            using (new LockHeldElsewhere(results))
            {
                Assert.Contains($"{dir}: cannot report: another GestaltLab command is writing the run's own test results in this folder right now",
                    Assert.Throws<GestaltLabException>(() => GestaltLab.Evaluation.RunResults.Reading(dir, "report")).Message);
                // The run's lock, taken first, is let go when its results' cannot be had.
                using (FolderLock.Acquire(dir, "write")) { }
            }
            using (new LockHeldElsewhere(results, shared: true))
            {
                using (GestaltLab.Evaluation.RunResults.Reading(dir, "report")) { }
                Assert.Contains("another GestaltLab command is reading the run's own test results in this folder right now",
                    Assert.Throws<GestaltLabException>(() => FolderLock.AcquireRunResults(dir, "evaluate into", shared: false)).Message);
            }
            // Aligned data: trainings and evaluations read it together; an alignment into it meanwhile is refused, in words
            // of data (it would have them read crops half old, half new).
            string aligned = Path.Combine(dir, "aligned");
            using (new LockHeldElsewhere(aligned, shared: true))
            {
                using (FolderLock.AcquireData(aligned, "evaluate on", shared: true)) { }
                Assert.Contains("cannot align: another GestaltLab command is reading the data in this folder right now (a training or an evaluation)",
                    Assert.Throws<GestaltLabException>(() => FolderLock.AcquireData(aligned, "align", shared: false)).Message);
            }
            using (new LockHeldElsewhere(aligned))
                Assert.Contains("cannot train on: another GestaltLab command is writing to this folder right now",
                    Assert.Throws<GestaltLabException>(() => FolderLock.AcquireData(aligned, "train on", shared: true)).Message);
            // Every holder gone, a writer takes it.
            using (FolderLock.Acquire(dir, "write")) { }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Progress_lines_keep_every_summary_of_a_finished_point()
    {
        var lines = new List<string>();
        var progress = ProgressReporters.Lines(lines.Add, everyPercent: 50);
        for (int epoch = 1; epoch <= 2; epoch++)
        {
            for (int b = 1; b <= 10; b++) progress.Report(new ProgressUpdate("train face", (epoch - 1) * 10 + b, 20, $"batch {b}"));
            progress.Report(new ProgressUpdate("train face", epoch * 10, 20, $"epoch {epoch} val acc 50%"));
        }
        // Batches only at the 50 % steps, but both epochs' validation figures, the last one after the stage finished.
        Assert.Contains("train face: 10/20 epoch 1 val acc 50%", lines);
        Assert.Contains("train face: 20/20 epoch 2 val acc 50%", lines);
        Assert.True(lines.Count <= 5, string.Join(" | ", lines));
    }

    [Fact]
    public void Shared_text_cuts_absolute_paths_to_their_last_name_and_keeps_other_text()
    {
        Assert.Equal("…/probabilities.csv: row 3", SharedText.WithoutFolders("/home/dr_smith/nf1-2024/run/probabilities.csv: row 3"));
        Assert.Equal("data …/cohort and …/b.csv", SharedText.WithoutFolders("data /srv/clinic/cohort/ and C:\\Users\\smith\\b.csv"));
        Assert.Equal("'…/manifest.csv' (line 2)", SharedText.WithoutFolders("'/a/b/manifest.csv' (line 2)"));
        // Not paths: a slash inside a word, relative paths, ratios, a lone root.
        foreach (var kept in new[] { "Debian GNU/Linux 12", "top-1/5/10", "data/mine/manifest.csv", "images/p000208_2.jpg", "1/2", "/" })
            Assert.Equal(kept, SharedText.WithoutFolders(kept));
        // Folders holding spaces, apostrophes, commas or brackets are cut whole even when not known.
        Assert.Equal("…/run-export", SharedText.WithoutFolders("/home/Jane Doe/run-export"));
        Assert.Equal("see …/b and …/d", SharedText.WithoutFolders("see /a/b and /c/d"));
        Assert.Equal("…/run", SharedText.WithoutFolders("/home/O'Brien, J (NF1)/run"));
        Assert.Equal("(…/b.pt)", SharedText.WithoutFolders("(C:\\Users\\Jane Doe\\b.pt)"));
        foreach (var kept in new[] { "2024/01/31", "http://example.org/a/b", "and/or", "a / b" })
            Assert.Equal(kept, SharedText.WithoutFolders(kept));
        Assert.Equal("…/run", SharedText.LastName("/home/Jane Doe/run/"));
        // JSON values are cut before serialising (JSON doubles a Windows path's backslashes).
        var config = System.Text.Json.Nodes.JsonNode.Parse("""{"data": "C:\\Users\\Jane Doe\\aligned", "n": 3, "list": ["/srv/Jane Doe/b.pt"]}""");
        Assert.Equal("""{"data":"…/aligned","n":3,"list":["…/b.pt"]}""",
            SharedText.WithoutFolders(config)!.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        Assert.Contains("/srv/Jane Doe", SharedText.PathsIn(config));
        // A known folder is replaced whole, spaces and all; a file inside it keeps the folder's name.
        Assert.Equal("…/run 1/metrics.json; …/run 1", SharedText.WithoutFolders("/home/Jane Doe/run 1/metrics.json; /home/Jane Doe/run 1", ["/home/Jane Doe/run 1/"]));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Folder_locks_live_in_a_folder_only_the_user_can_enter()
    {
        string dir = TestTemp.Dir("gl-lock");
        try
        {
            using (FolderLock.Acquire(dir, "test"))
            {
                string file = FolderLock.LockFilePath(dir);
                Assert.True(File.Exists(file));
                // The same folder for every session of the user (not chosen by a session's environment), their own.
                Assert.Equal(Path.Combine(PrivateTemp.Folder!, "locks"), Path.GetDirectoryName(file));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(PrivateTemp.Folder!));
                // A link to the folder, or a path through a link to its parent, is the same folder and the same lock; a
                // folder not made yet under a linked parent too.
                string alias = Path.Combine(dir, "..", Path.GetFileName(dir) + "-alias");
                Directory.CreateSymbolicLink(alias, dir);
                try
                {
                    Assert.Equal(file, FolderLock.LockFilePath(alias));
                    Assert.Equal(FolderLock.LockFilePath(Path.Combine(dir, "new", "run")), FolderLock.LockFilePath(Path.Combine(alias, "new", "run")));
                    Assert.NotEqual(file, FolderLock.LockFilePath(Path.Combine(alias, "new")));
                }
                finally { File.Delete(alias); }
            }
            // A link where the folder should be (another user's, made first) is refused, not followed.
            string link = Path.Combine(dir, "gestaltlab-someone"), target = Directory.CreateDirectory(Path.Combine(dir, "theirs")).FullName;
            Directory.CreateSymbolicLink(link, target);
            Assert.Contains("link", PrivateTemp.TryMake(link));
            Assert.Null(PrivateTemp.TryMake(Path.Combine(dir, "mine")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(dir, "mine")));
            // A folder of the user's own that another tool made readable by all is made private again.
            File.SetUnixFileMode(Path.Combine(dir, "mine"), (UnixFileMode)0x1ED); // 0755
            Assert.Null(PrivateTemp.TryMake(Path.Combine(dir, "mine")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(dir, "mine")));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Without_a_private_folder_the_shipped_backbone_is_one_file_per_process()
    {
        // Before: every call wrote another uniquely named 0.4 MB file into the shared temp folder and left it there.
        byte[] bytes = File.ReadAllBytes(GestaltLab.Models.ShippedBackbone.Path()!);
        string first = GestaltLab.Models.ShippedBackbone.PathIn(null, bytes);
        Assert.StartsWith(Path.GetTempPath(), first);
        Assert.Equal(first, GestaltLab.Models.ShippedBackbone.PathIn(null, bytes));
        Assert.True(GestaltLab.Models.ShippedBackbone.Is(first));
        File.Delete(first); // gone meanwhile (a temp cleaner): made again
        string again = GestaltLab.Models.ShippedBackbone.PathIn(null, bytes);
        Assert.True(GestaltLab.Models.ShippedBackbone.Is(again));
    }

    [Fact]
    public void The_shipped_backbone_copy_is_rewritten_when_its_content_differs()
    {
        Assert.StartsWith(PrivateTemp.Folder!, GestaltLab.Models.ShippedBackbone.Path());
        string dir = TestTemp.Dir("gl-backbone");
        try
        {
            byte[] original = File.ReadAllBytes(GestaltLab.Models.ShippedBackbone.Path()!);
            string path = GestaltLab.Models.ShippedBackbone.CopyInto(dir, original);
            var tampered = (byte[])original.Clone();
            tampered[^1] ^= 0xFF; // same length, other weights
            File.WriteAllBytes(path, tampered);
            Assert.Equal(path, GestaltLab.Models.ShippedBackbone.CopyInto(dir, original));
            Assert.Equal(original, File.ReadAllBytes(path));
            Assert.True(GestaltLab.Models.ShippedBackbone.Is(path));
        }
        finally { Directory.Delete(dir, true); }
    }
}
