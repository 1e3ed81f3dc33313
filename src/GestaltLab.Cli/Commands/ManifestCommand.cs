using System.CommandLine;
using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab manifest --images DIR --labels labels.csv [--fractions 70,10,20] [--seed N] [--force]</c>: the
/// <c>manifest.csv</c> that <c>train</c> needs, for a folder of one's own photos and a short labels table
/// (<see cref="Manifest.FromImageFolder"/>), so training on one's own photos needs no C#.
/// </summary>
internal sealed class ManifestCommand : ICliCommand
{
    public Command Create()
    {
        var images = new Option<string>("--images") { Description = "Folder of photos (searched recursively).", Required = true };
        var labels = new Option<string>("--labels")
        {
            Description = "CSV with columns image (path relative to the folder, or a file name when unique) and subject (one id per person), "
                        + "plus any of syndrome, gene, split (train/val/test), sex, age_band, skin_tone, family. Photos it does not list stay unlabelled.",
            Required = true,
        };
        var output = new Option<string?>("--out") { Description = "Manifest to write (default: DIR/manifest.csv, where train looks for it)." };
        var fractions = new Option<string>("--fractions") { Description = "Train/val/test shares when the labels have no split column (split by person, families together).", DefaultValueFactory = _ => "70,10,20" };
        var seed = new Option<int>("--seed") { Description = "Seed of that split.", DefaultValueFactory = _ => 0 };
        var force = new Option<bool>("--force") { Description = "Replace an existing manifest." };
        var cmd = new Command("manifest", "Write the manifest.csv for a folder of your own photos from a labels CSV (split by person when it has no split column).")
            { images, labels, output, fractions, seed, force };
        cmd.SetAction(p =>
        {
            string folder = p.GetValue(images)!;
            if (File.Exists(folder))
                throw new GestaltLabException($"{folder}: is a file; --images names the folder of your photos", $"pass the folder: --images {Path.GetDirectoryName(Path.GetFullPath(folder))}");
            // A labels file that is not there is the first thing to say (a manifest already there is a second problem).
            if (p.GetValue(labels) is { } named && !File.Exists(named))
                throw new GestaltLabException($"{named}: file not found", Directory.Exists(named) ? "--labels names the labels CSV, not a folder" : "name the labels CSV (image,subject,syndrome…), relative to the current folder");
            string target = p.GetValue(output) ?? folder;
            if (Directory.Exists(target)) target = Path.Combine(target, Manifest.FileName);
            if (File.Exists(target) && !p.GetValue(force))
                throw new GestaltLabException($"{target}: a manifest is already there", "pass --force to replace it, or --out to write another file");
            // --force replaces a manifest, never the labels it is made from or any other file (a photo, someone's table).
            if (p.GetValue(labels) is { } labelsFile && Path.GetFullPath(labelsFile) == Path.GetFullPath(target))
                throw new GestaltLabException($"{target}: is the labels file itself; the manifest would replace it", "write the manifest elsewhere (--out, or the default FOLDER/manifest.csv)");
            AtomicFile.CheckReplaceable(target, string.Join(",", Manifest.Columns), "gestaltlab manifest");
            var parts = p.GetValue(fractions)!.Split(',');
            if (parts.Length != 3 || parts.Any(s => !double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v)))
                throw new GestaltLabException($"--fractions '{p.GetValue(fractions)}': expected three numbers, train,val,test (e.g. 70,10,20)");
            var f = parts.Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            // Shares would be normalised whatever their sum, but 80,30,20 is a typo far more often than a ratio.
            double sum = f.Sum();
            if (Math.Abs(sum - 100) > 2 && Math.Abs(sum - 1) > 0.02)   // 33,33,33 is meant as thirds
                throw new GestaltLabException(string.Create(CultureInfo.InvariantCulture, $"--fractions '{p.GetValue(fractions)}': add up to {sum:0.###}"),
                    "give percentages that add up to 100 (e.g. 70,10,20) or fractions that add up to 1 (0.7,0.1,0.2)");
            var manifest = Manifest.FromImageFolder(folder, p.GetValue(labels), new SplitFractions(f[0], f[1], f[2]), p.GetValue(seed));
            // With it, beside the manifest, how the splits were drawn (labels, fractions, seed).
            string record = manifest.Save(target, "gestaltlab manifest")!;
            Console.WriteLine($"{target} (how it was made: {Path.GetFileName(record)}): {ManifestReview.Summary(manifest)}");
            foreach (var line in ManifestReview.Warnings(manifest)) Console.WriteLine($"  {line}");
            return 0;
        });
        return cmd;
    }
}
