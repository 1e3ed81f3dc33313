using GestaltLab.Data;
using GestaltLab.Figures;

namespace GestaltLab.Tests.Figures;

public class ReportCompositeTests
{
    [Fact]
    public void Report_draws_composites_only_for_cohorts_at_the_minimum()
    {
        string run = TestTemp.Dir("gl-report-composite");
        try
        {
            string images = Path.Combine(run, "aligned", "images");
            Directory.CreateDirectory(images);
            var lines = new List<string> { "image,subject,syndrome,gene,split,sex,age_band,skin_tone" };
            void Add(string label, int count, byte grey)
            {
                for (int i = 0; i < count; i++)
                {
                    string name = $"{label}_{i}.png";
                    var px = new byte[32 * 32 * 3];
                    Array.Fill(px, (byte)(grey + i));
                    new RgbImage(32, 32, px).SavePng(Path.Combine(images, name));
                    lines.Add($"images/{name},{label}{i},{label},,train,female,child,III");
                }
            }
            Add("big_cohort", 10, 100);
            Add("small_cohort", 3, 30);
            File.WriteAllLines(Path.Combine(run, "aligned", Manifest.FileName), lines);

            var result = Report.Write(run);
            string html = File.ReadAllText(result.Path);
            Assert.Contains("Composite faces", result.Sections);
            // The names and counts drawn into the picture are in its text too (screen readers, search).
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "alt=\"Composite faces, one per class: [^\"]*\\(n = 1[0-9] people\\)\""));
            Assert.Contains("1 classes with at least 10 people; 1 smaller cohort(s) not drawn, so that no individual is recognisable: small_cohort: 3 people", html);
            Assert.Empty(FigureHtml.RemoteReferences(html));
            // The same grid is handed to static export (composite-faces.png), one cell for the one cohort drawn.
            var built = Report.Build(GestaltLab.Evaluation.RunResults.Load(run), new ReportOptions());
            var grid = built.CompositeFaces;
            // Export says which syndromes the grid lacks, as it says what other figures leave out (counts only where photos may be named).
            Assert.Equal("composite-faces.png leaves out 1 class(es), so that no one is recognisable in a composite of a few: small_cohort: 3 people (3 photos), fewer than the minimum cohort of 10 people",
                RunFigureExport.CompositeNote(built.CompositeFaceSet!, "composite-faces.png", photoNames: true));
            Assert.EndsWith(": small_cohort: fewer than 10 people", RunFigureExport.CompositeNote(built.CompositeFaceSet!, "composite-faces.png", photoNames: false));
            Assert.NotNull(grid);
            Assert.Equal(grid!.EncodePng(), Convert.FromBase64String(System.Text.RegularExpressions.Regex.Match(html, "alt=\"Composite faces[^\"]*\"[^>]*src=\"data:image/png;base64,([^\"]+)\"").Groups[1].Value));
            // Exported beside the charts it prints at their width and dpi: resampled to 89 mm at 300 dpi, aspect kept, dpi tagged.
            string png = Path.Combine(run, "composite-faces.png");
            FigureExport.SaveImage(grid, png, 89, 300);
            var bytes = File.ReadAllBytes(png);
            var (w, h) = FigureExport.PngSize(bytes);
            Assert.Equal(1051, w);
            Assert.Equal(Math.Round((double)grid.Height * 1051 / grid.Width), h);
            int phys = bytes.AsSpan().IndexOf("pHYs"u8);
            Assert.True(phys > 0, "no pHYs chunk");
            Assert.Equal(11811, (bytes[phys + 4] << 24) | (bytes[phys + 5] << 16) | (bytes[phys + 6] << 8) | bytes[phys + 7]);
            using (var decoded = SkiaSharp.SKBitmap.Decode(bytes))
            using (var original = grid.ToSKBitmap())
            {
                // The same picture, enlarged: the centre pixel keeps its colour within resampling error.
                var a = decoded.GetPixel(decoded.Width / 2, decoded.Height / 2);
                var b = original.GetPixel(original.Width / 2, original.Height / 2);
                Assert.True(Math.Abs(a.Red - b.Red) + Math.Abs(a.Green - b.Green) + Math.Abs(a.Blue - b.Blue) < 40, $"{a} vs {b}");
            }
        }
        finally
        {
            Directory.Delete(run, true);
        }
    }
}
