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
            Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "alt=\"composite faces\""));
            Assert.Contains("1 classes with at least 10 people; 1 smaller cohort(s) not drawn", html);
            Assert.Empty(FigureHtml.RemoteReferences(html));
            // The same grid is handed to static export (composite-faces.png), one cell for the one cohort drawn.
            var grid = Report.Build(GestaltLab.Evaluation.RunResults.Load(run), new ReportOptions()).CompositeFaces;
            Assert.NotNull(grid);
            Assert.Equal(grid!.EncodePng(), Convert.FromBase64String(System.Text.RegularExpressions.Regex.Match(html, "alt=\"composite faces\"[^>]*src=\"data:image/png;base64,([^\"]+)\"").Groups[1].Value));
        }
        finally
        {
            Directory.Delete(run, true);
        }
    }
}
