using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GestaltLab.Data;
using GestaltLab.Evaluation;
using GestaltLab.Runtime;
using GestaltLab.Models;

namespace GestaltLab.Tests.Figures;

/// <summary>
/// A small but real run directory, computed rather than invented: subjects of C classes are drawn as Gaussian clusters
/// in a 12-D "trait" space; three "regions" each see 4 of the dimensions; per region a softmax regression is trained by
/// gradient descent (its epochs give the training curves), the ensemble averages the region softmaxes, and the test
/// split's probabilities, embeddings (the ensemble's logits space: the concatenated region scores) and metrics are
/// written in the run-directory format of docs/run-directory.md.
/// </summary>
internal static class SyntheticRun
{
    public static readonly string[] Regions = ["eyes", "nose", "mouth"];

    public sealed record Data(float[][] X, int[] Y, string[] Subjects, string[] Images, string[] Split, string[] Gene);

    public static Data Sample(int classes, int subjectsPerClass, int photosPerSubject, int seed, double separation = 1.6)
    {
        var rng = new Random(seed);
        var centres = Enumerable.Range(0, classes).Select(_ => Enumerable.Range(0, 12).Select(_ => rng.NextGaussian() * separation).ToArray()).ToArray();
        var x = new List<float[]>();
        var y = new List<int>();
        var subj = new List<string>();
        var img = new List<string>();
        var split = new List<string>();
        var gene = new List<string>();
        for (int c = 0; c < classes; c++)
            for (int s = 0; s < subjectsPerClass; s++)
            {
                var person = centres[c].Select(v => v + rng.NextGaussian() * 0.8).ToArray();
                string sp = s % 3 == 0 ? "test" : s % 3 == 1 ? "val" : "train";
                if (s >= 3) sp = s % 5 == 0 ? "test" : s % 5 == 1 ? "val" : "train";
                for (int p = 0; p < photosPerSubject; p++)
                {
                    x.Add(person.Select(v => (float)(v + rng.NextGaussian() * 0.5)).ToArray());
                    y.Add(c);
                    subj.Add($"s{c:D2}-{s:D2}");
                    img.Add($"images/c{c:D2}_s{s:D2}_p{p}.png");
                    split.Add(sp);
                    gene.Add(c % 3 == 0 ? $"GENE{c % 2}" : "");
                }
            }
        return new Data(x.ToArray(), y.ToArray(), subj.ToArray(), img.ToArray(), split.ToArray(), gene.ToArray());
    }

    /// <summary>Trains per-region softmax regressions and writes the run directory; returns the class names.</summary>
    public static string[] Write(string dir, int classes = 8, int seed = 1, bool withManifest = true, int epochs = 12)
    {
        Directory.CreateDirectory(dir);
        var names = Enumerable.Range(0, classes).Select(c => c == classes - 1 ? Manifest.Unaffected : $"syndrome-{(char)('A' + c % 26)}{c / 26}").ToArray();
        var data = Sample(classes, 9, 2, seed);
        int[] train = Idx(data, "train"), val = Idx(data, "val"), test = Idx(data, "test");
        var regionProbs = new Dictionary<string, float[][]>();
        var regionScores = new List<float[][]>();
        Directory.CreateDirectory(Path.Combine(dir, "curves"));
        for (int r = 0; r < Regions.Length; r++)
        {
            int[] dims = Enumerable.Range(r * 4, 4).ToArray();
            var (w, b, curve) = TrainSoftmax(data, dims, classes, train, val, epochs, seed + r);
            Csv.Write(Path.Combine(dir, "curves", Regions[r] + ".csv"), ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"],
                curve.Select(c => new[] { c.Epoch.ToString(CultureInfo.InvariantCulture), Csv.Format(c.TrainLoss), Csv.Format(c.TrainAccuracy), Csv.Format(c.ValLoss), Csv.Format(c.ValAccuracy) }));
            var scores = test.Select(i => Logits(data.X[i], dims, w, b)).ToArray();
            regionScores.Add(scores);
            regionProbs[Regions[r]] = scores.Select(z => Calibration.Softmax(z)).ToArray();
        }
        var ensemble = test.Select((_, t) =>
        {
            var p = new float[classes];
            foreach (var rp in regionProbs.Values) for (int c = 0; c < classes; c++) p[c] += rp[t][c] / Regions.Length;
            return p;
        }).ToArray();
        var truth = test.Select(i => data.Y[i]).ToArray();

        File.WriteAllText(Path.Combine(dir, "classes.json"), JsonSerializer.Serialize(names));
        var header = new[] { "image", "subject", "true" }.Concat(names).ToArray();
        Csv.Write(Path.Combine(dir, "probabilities.csv"), header,
            test.Select((i, t) => new[] { data.Images[i], data.Subjects[i], names[data.Y[i]] }.Concat(ensemble[t].Select(v => Csv.Format(v))).ToArray()));
        int dim = Regions.Length * classes;
        Csv.Write(Path.Combine(dir, "embeddings.csv"), new[] { "image", "subject", "true" }.Concat(Enumerable.Range(0, dim).Select(d => "e" + d)).ToArray(),
            test.Select((i, t) => new[] { data.Images[i], data.Subjects[i], names[data.Y[i]] }
                .Concat(regionScores.SelectMany(s => s[t]).Select(v => Csv.Format(v))).ToArray()));
        // Each region's own probabilities, as evaluate writes them.
        Directory.CreateDirectory(Path.Combine(dir, "region_probabilities"));
        foreach (var (region, probs) in regionProbs)
            Csv.Write(Path.Combine(dir, "region_probabilities", region + ".csv"), header,
                test.Select((i, t) => new[] { data.Images[i], data.Subjects[i], names[data.Y[i]] }.Concat(probs[t].Select(v => Csv.Format(v))).ToArray()));
        RegionScore.WriteCsv(Path.Combine(dir, "region_metrics.csv"),
            regionProbs.Select(kv => RegionScore.Of(kv.Key, truth, kv.Value)).Append(RegionScore.Of("ensemble", truth, ensemble)));
        // Each person's sex and skin tone, from their number: strata as a manifest gives them, recorded by evaluate.
        var rows = Enumerable.Range(0, data.Y.Length).Select(i => new ManifestRow
        {
            Image = data.Images[i], Subject = data.Subjects[i], Syndrome = names[data.Y[i]], Gene = data.Gene[i], Split = data.Split[i],
            Sex = int.Parse(data.Subjects[i][^2..], CultureInfo.InvariantCulture) % 2 == 0 ? "female" : "male",
            SkinTone = GestaltLab.Synthetic.TraitSpace.SkinTones[(data.Y[i] + int.Parse(data.Subjects[i][^2..], CultureInfo.InvariantCulture)) % 3 + 2],
        }).ToList();
        (ClassificationMetrics.Compute(truth, ensemble, classes, new OracleFigures { Top1 = 0.9, Top5 = 0.98, Top10 = 1.0, NTest = test.Length }) with
        {
            Strata = StratumAccuracy.Compute(test.Select(i => rows[i]).ToList(), truth, ensemble, new StratumOptions { Permutations = 200 }),
        }).Save(Path.Combine(dir, "metrics.json"));
        string dataDir = Path.Combine(dir, "data");
        if (withManifest) new Manifest(dataDir, rows).Save(Path.Combine(dataDir, Manifest.FileName));
        new RunManifest
        {
            Command = "test synthetic run", Seed = seed,
            Config = new JsonObject { ["data"] = withManifest ? dataDir : null, ["regions"] = new JsonArray(Regions.Select(r => (JsonNode)r).ToArray()), ["epochs"] = epochs },
        }.Save(dir);
        return names;
    }

    private static int[] Idx(Data d, string split) => Enumerable.Range(0, d.Y.Length).Where(i => d.Split[i] == split).ToArray();

    private static float[] Logits(float[] x, int[] dims, double[,] w, double[] b)
    {
        int c = b.Length;
        var z = new float[c];
        for (int k = 0; k < c; k++)
        {
            double s = b[k];
            for (int j = 0; j < dims.Length; j++) s += w[k, j] * x[dims[j]];
            z[k] = (float)s;
        }
        return z;
    }


    private static (double[,] W, double[] B, List<CurvePoint> Curve) TrainSoftmax(Data d, int[] dims, int classes, int[] train, int[] val, int epochs, int seed)
    {
        var w = new double[classes, dims.Length];
        var b = new double[classes];
        var curve = new List<CurvePoint>();
        var rng = new Random(seed);
        var order = train.ToArray();
        for (int epoch = 1; epoch <= epochs; epoch++)
        {
            rng.Shuffle(order);
            foreach (int i in order)
            {
                var p = Calibration.Softmax(Logits(d.X[i], dims, w, b));
                for (int k = 0; k < classes; k++)
                {
                    double g = p[k] - (d.Y[i] == k ? 1 : 0);
                    b[k] -= 0.05 * g;
                    for (int j = 0; j < dims.Length; j++) w[k, j] -= 0.05 * g * d.X[i][dims[j]];
                }
            }
            (double Loss, double Acc) Eval(int[] idx)
            {
                var truth = idx.Select(i => d.Y[i]).ToArray();
                var probs = idx.Select(i => Calibration.Softmax(Logits(d.X[i], dims, w, b))).ToArray();
                return (Metrics.LogLoss(truth, probs), Metrics.TopK(truth, probs, 1));
            }
            var (tl, ta) = Eval(train);
            var (vl, va) = Eval(val);
            curve.Add(new CurvePoint(epoch, tl, ta, vl, va));
        }
        return (w, b, curve);
    }
}
