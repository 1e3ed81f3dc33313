using System.CommandLine;
using System.Globalization;
using GestaltLab.Runtime;
using GestaltLab.Synthetic;

namespace GestaltLab.Cli;

/// <summary><c>gestaltlab generate</c>: writes a synthetic data set (or only its oracle figures, or the catalog).</summary>
internal sealed class GenerateCommand : ICliCommand
{
    public Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Data set: {string.Join(", ", DatasetPresets.Names)}.", DefaultValueFactory = _ => "mini" };
        var seed = new Option<int>("--seed") { Description = "Seed: the same seed gives byte-identical files.", DefaultValueFactory = _ => 1 };
        var outDir = new Option<string?>("--out") { Description = "Output folder (must be empty or absent unless --force)." };
        var scale = new Option<double>("--scale") { Description = "Multiply subject and image counts by this factor.", DefaultValueFactory = _ => 1.0 };
        var force = new Option<bool>("--force") { Description = "Replace the data set already in the output folder (a folder holding anything else is refused)." };
        var catalog = new Option<string?>("--catalog") { Description = "Your own catalog JSON (default: the shipped data/synthetic/catalog.json)." };
        var nuisance = new Option<string>("--nuisance") { Description = "Photo variation: clean, varied or wild.", DefaultValueFactory = _ => "varied" };
        var size = new Option<int>("--size") { Description = "Image size in pixels (square).", DefaultValueFactory = _ => 256 };
        var threads = new Option<int>("--threads") { Description = "Rendering threads (0 or default: all cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var oracleOnly = new Option<bool>("--oracle-only") { Description = "Print the oracle's top-1/5/10 from trait vectors without rendering (fast)." };
        var writeCatalog = new Option<string?>("--write-catalog") { Description = "Write the built-in catalog (216 syndromes + controls) to this JSON file and exit." };
        threads.RefuseNegativeThreads();
        var cmd = new Command("generate", "Generate a synthetic dysmorphology data set: faces, ground-truth landmarks, traits and the oracle (Bayes on the true traits).")
            { preset, seed, outDir, scale, force, catalog, nuisance, size, threads, oracleOnly, writeCatalog };
        cmd.SetAction(async (p, ct) =>
        {
            if (p.GetValue(writeCatalog) is string wc)
            {
                // A catalog (one this command wrote, to be written again) may be replaced; a photo or a table may not.
                AtomicFile.CheckWritable(wc, "catalog.json");
                AtomicFile.CheckReplaceable(wc, "\"format_version\"", "gestaltlab generate --write-catalog", "--write-catalog");
                SyndromeCatalog.Generate().Save(wc);
                Console.WriteLine($"wrote {wc}");
                return 0;
            }
            var cat = p.GetValue(catalog) is string cp ? SyndromeCatalog.Load(cp) : null;
            string name = p.GetValue(preset)!;
            int s = p.GetValue(seed);
            double f = p.GetValue(scale);
            if (p.GetValue(oracleOnly))
            {
                var parts = DatasetPresets.Parts(name);
                foreach (var sub in parts.Count > 0 ? parts.Select(x => x.Preset).ToList() : [name])
                {
                    var o = SyntheticDataset.OracleOnly(sub, s, f, cat, ct);
                    var eq = SyntheticDataset.OracleOnly(sub, s, f, cat, ct, equalPriors: true);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{sub}: oracle top-1 {o.Top1:P1}, top-5 {o.Top5:P1}, top-10 {o.Top10:P1} on {o.NTest} test images"));
                    if (eq != o) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  with equal priors: top-1 {eq.Top1:P1}, top-5 {eq.Top5:P1}, top-10 {eq.Top10:P1}"));
                }
                return 0;
            }
            string dir = p.GetValue(outDir) ?? throw new GestaltLabException("--out is required", "e.g. gestaltlab generate --preset demo --seed 1 --out data/demo");
            var level = p.GetValue(nuisance)?.ToLowerInvariant() switch
            {
                "clean" => NuisanceLevel.Clean, "varied" => NuisanceLevel.Varied, "wild" => NuisanceLevel.Wild,
                var other => throw new GestaltLabException($"--nuisance '{other}' must be clean, varied or wild"),
            };
            var options = new GenerateOptions { Force = p.GetValue(force), ImageSize = p.GetValue(size), Threads = p.GetValue(threads) is > 0 and var t ? t : Environment.ProcessorCount };
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var r = await CliProgress.RunAsync(progress => SyntheticDataset.Generate(name, s, dir, f, cat, options, level, progress, ct));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {r.Images} images of {r.Subjects} subjects in {r.Classes} classes to {r.Directory} in {sw.Elapsed.TotalSeconds:F1} s ({r.Images / sw.Elapsed.TotalSeconds:F0} images/s)"));
            var tasks = DatasetPresets.Parts(name);
            if (tasks.Count == 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"oracle (Bayes on true traits): top-1 {r.Oracle.Top1:P1}, top-5 {r.Oracle.Top5:P1}, top-10 {r.Oracle.Top10:P1} on {r.Oracle.NTest} test images"));
                // Balanced classes give the same oracle either way: shown once, as the report and evaluate do.
                if (r.EqualPriorOracle is { } e && e != r.Oracle)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  with equal priors: top-1 {e.Top1:P1}, top-5 {e.Top5:P1}, top-10 {e.Top10:P1}"));
            }
            else
            {
                // Each task has its own oracle (one line for all would show the first task's under the totals of three).
                Console.WriteLine("oracle (Bayes on true traits), per task:");
                foreach (var (folder, _) in tasks)
                    if (Evaluation.OracleFigures.TryLoad(Path.Combine(r.Directory, folder)) is { } o)
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {folder}: top-1 {o.Top1:P1}, top-5 {o.Top5:P1}, top-10 {o.Top10:P1} on {o.NTest} test images"));
            }
            // An edited copy of the shipped catalog keeps its name (`--write-catalog`): records naming the catalog would pass
            // it for the shipped one, and only its hash in dataset.json tells them apart.
            if (cat is not null && cat.Name == SyndromeCatalog.Default.Name && cat.ToJson() != SyndromeCatalog.Default.ToJson())
                Console.WriteLine($"note: your catalog keeps the shipped one's name '{cat.Name}' but differs from it: dataset.json tells them apart only by catalog_sha256 (give yours a \"name\" of its own)");
            // A preset picks its syndromes from the catalog; an entry of one's own that it passed over must not vanish in silence.
            // (Multi-part presets keep a manifest per part: the note reads each; it never fails the command.)
            var manifests = Directory.EnumerateFiles(r.Directory, Data.Manifest.FileName, SearchOption.AllDirectories).ToList();
            if (cat is not null && manifests.Count > 0)
            {
                var used = manifests.SelectMany(m => Data.Manifest.Load(m).Rows).SelectMany(x => new[] { x.Syndrome, x.Extra.GetValueOrDefault("source_syndrome", "") }).ToHashSet(StringComparer.Ordinal);
                var left = cat.Affected.Where(x => x.Kind == "user" && !used.Contains(x.Id)).Select(x => x.Id).ToList();
                if (left.Count > 0)
                    Console.WriteLine($"note: preset '{name}' leaves out your catalog entr{(left.Count == 1 ? "y" : "ies")} {string.Join(", ", left.Take(8))}{(left.Count > 8 ? ", …" : "")}: "
                        + "mini takes 9 teaching analogues only, demo the teaching ones and the 18 most frequent others, demo-novel the demo's and the next 10, gestalt216 all, "
                        + "the specialized tasks their named syndromes (docs/synthetic.md, \"Presets\")");
            }
            return 0;
        });
        return cmd;
    }
}
