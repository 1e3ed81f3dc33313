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
        Assert.Contains("row 2", ragged.Message);
        var table = Csv.Parse("a,b\n1,2\n", "faces.csv");
        var column = Assert.Throws<GestaltLabException>(() => table.Column("image"));
        Assert.Contains("missing column 'image'", column.Message);
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
}
