using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab bench calibrate-haar</c>: fits <see cref="BoxCalibration"/> (OpenCV Haar box → the box dlib's 68-point
/// model expects) on faces where both are known, and reports the fit: (a) real photos (astronaut.png, rescaled, shifted,
/// rotated and mirrored) against dlib's own HOG detector boxes, from the reference program; (b) a synthetic dataset folder
/// (<c>--data</c>, with ground-truth <c>landmarks.csv</c>) against the box that best places dlib's mean shape on the true
/// landmarks. It also reports the landmark error that results, normalised by the inter-ocular distance ‖p36 − p45‖.
/// </summary>
internal sealed class FacesCalibrationBench : IBenchCommand
{
    public Command Create()
    {
        var reference = new Option<string?>("--reference") { Description = "Built dlib_reference program (bench/dlib-reference/build.sh) for HOG boxes on real photos." };
        var data = new Option<string?>("--data") { Description = "Synthetic dataset folder with manifest.csv and landmarks.csv (gestaltlab generate)." };
        var limit = new Option<int>("--limit") { Description = "Use at most this many synthetic photos.", DefaultValueFactory = _ => 300 };
        var cmd = new Command("calibrate-haar", "Fit and report the Haar → dlib face box calibration.") { reference, data, limit };
        cmd.SetAction(p => Run(p.GetValue(reference), p.GetValue(data), p.GetValue(limit)));
        return cmd;
    }

    private sealed record Sample(string Name, RgbImage Image, FaceBox Target, FaceLandmarks? Truth);

    private static int Run(string? referencePath, string? dataDir, int limit)
    {
        if (referencePath is null && dataDir is null)
            throw new GestaltLabException("nothing to fit on", "pass --reference (dlib HOG boxes on real photos) and/or --data (synthetic ground truth)");
        var sp = ShapePredictor.LoadShared();
        using var haar = new HaarFaceDetector(new HaarOptions { Calibration = BoxCalibration.Identity });
        var groups = new Dictionary<string, List<Sample>>();

        if (referencePath is not null)
        {
            var list = groups["real (astronaut.png variants) vs dlib HOG box"] = [];
            var photo = ImageLoader.Load(SystemResources.AstronautPhoto() ?? throw new GestaltLabException("astronaut.png not installed", "install python3-skimage"));
            string tmp = Directory.CreateTempSubdirectory("gestaltlab-cal-").FullName;
            try
            {
                foreach (double scale in new[] { 0.6, 0.8, 1.0, 1.2 })
                    foreach (double angle in new[] { -8.0, 0, 8 })
                        foreach (bool flip in new[] { false, true })
                        {
                            var img = Variant(photo, scale, angle, flip);
                            string ppm = Path.Combine(tmp, "v.ppm");
                            img.SavePpm(ppm);
                            var hog = RunHog(referencePath, ppm);
                            if (hog.Count != 1) continue;
                            list.Add(new Sample($"astronaut s{scale} a{angle} f{flip}", img, hog[0], null));
                        }
            }
            finally
            {
                Directory.Delete(tmp, true);
            }
        }
        if (dataDir is not null)
        {
            var list = groups["synthetic vs mean shape fitted to true landmarks"] = [];
            var truth = FaceDatasetAligner.ReadLandmarks(Path.Combine(dataDir, "landmarks.csv"));
            var mean = sp.MeanShape;
            foreach (var (image, lm) in truth.OrderBy(k => k.Key, StringComparer.Ordinal).Take(limit))
                list.Add(new Sample(image, ImageLoader.Load(Path.Combine(dataDir, image)), IdealBox(mean, lm), lm));
        }

        var allPairs = new List<((double, double, double, double), FaceBox)>();
        var matched = new Dictionary<string, List<(Sample S, (int X, int Y, int W, int H) Raw)>>();
        foreach (var (group, samples) in groups)
        {
            var m = matched[group] = [];
            int missed = 0;
            foreach (var s in samples)
            {
                var raws = haar.DetectRaw(s.Image);
                var best = raws.Select(r => (r, iou: BoxCalibration.Identity.Apply(r.X, r.Y, r.Width, r.Height).IoU(s.Target)))
                    .OrderByDescending(t => t.iou).FirstOrDefault();
                if (raws.Count == 0 || best.iou < 0.2) { missed++; continue; }
                m.Add((s, (best.r.X, best.r.Y, best.r.Width, best.r.Height)));
                allPairs.Add(((best.r.X, best.r.Y, best.r.Width, best.r.Height), s.Target));
            }
            Console.WriteLine($"{group}: {samples.Count} faces, Haar found {m.Count} ({missed} missed)");
        }
        if (allPairs.Count == 0) throw new GestaltLabException("no face had both a Haar box and a target box");
        var (fit, iouFit, n) = BoxCalibration.Fit(allPairs);
        Console.WriteLine($"fitted calibration on {n} pairs: OffsetX {fit.OffsetX:F4}, OffsetY {fit.OffsetY:F4}, Scale {fit.Scale:F4} (mean IoU with target {iouFit:F3})");
        var current = BoxCalibration.HaarFrontalDefault;
        foreach (var (group, m) in matched)
        {
            if (m.Count == 0) continue;
            foreach (var (label, cal) in new[] { ("raw Haar box", BoxCalibration.Identity), ("shipped calibration", current), ("this fit", fit) })
            {
                double iou = 0, err = 0;
                foreach (var (s, r) in m)
                {
                    var box = cal.Apply(r.X, r.Y, r.W, r.H);
                    iou += box.IoU(s.Target);
                    var lm = sp.Predict(s.Image, box);
                    var reference = s.Truth ?? sp.Predict(s.Image, s.Target);
                    err += lm.MeanDistance(reference) / reference.InterOcular;
                }
                Console.WriteLine($"  {group} | {label,-19}: mean IoU {iou / m.Count:F3}, landmark error {100 * err / m.Count:F2}% of inter-ocular (vs {(m[0].S.Truth is null ? "dlib landmarks on the HOG box" : "true landmarks")})");
            }
        }
        // Does the confidence proxy track the true error? (synthetic ground truth only)
        foreach (var (group, m) in matched)
        {
            var withTruth = m.Where(x => x.S.Truth is not null).ToList();
            if (withTruth.Count < 5) continue;
            var pairs = withTruth.Select(x =>
            {
                var box = current.Apply(x.Raw.X, x.Raw.Y, x.Raw.W, x.Raw.H);
                var lm = sp.Predict(x.S.Image, box);
                var conf = LandmarkConfidence.Estimate(sp, x.S.Image, box, lm).Confidence;
                return (conf: (double)conf, err: lm.MeanDistance(x.S.Truth!) / x.S.Truth!.InterOcular);
            }).ToList();
            var errs = pairs.Select(p => p.err).Order().ToList();
            Console.WriteLine($"  {group}: landmark error with the shipped calibration: median {100 * errs[errs.Count / 2]:F1}%, 90th percentile {100 * errs[(int)(0.9 * (errs.Count - 1))]:F1}% of inter-ocular");
            Console.WriteLine($"  confidence proxy vs true error: Spearman rho {Spearman(pairs.Select(p => p.conf).ToList(), pairs.Select(p => p.err).ToList()):F2} (negative = higher confidence, lower error)");
            foreach (double th in new[] { 0.3, 0.5, 0.7 })
            {
                var hi = pairs.Where(p => p.conf >= th).Select(p => p.err).ToList();
                var lo = pairs.Where(p => p.conf < th).Select(p => p.err).ToList();
                Console.WriteLine($"    confidence ≥ {th}: {hi.Count} faces, mean error {(hi.Count > 0 ? 100 * hi.Average() : double.NaN):F1}%; below: {lo.Count} faces, mean error {(lo.Count > 0 ? 100 * lo.Average() : double.NaN):F1}%");
            }
        }
        return 0;
    }

    private static double Spearman(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        static double[] Ranks(IReadOnlyList<double> v)
        {
            var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
            var r = new double[v.Count];
            for (int k = 0; k < order.Length; k++) r[order[k]] = k;
            return r;
        }
        var ra = Ranks(a); var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average(), num = 0, da = 0, db = 0;
        for (int i = 0; i < ra.Length; i++) { num += (ra[i] - ma) * (rb[i] - mb); da += (ra[i] - ma) * (ra[i] - ma); db += (rb[i] - mb) * (rb[i] - mb); }
        return num / Math.Sqrt(da * db);
    }

    /// <summary>The square box for which dlib's mean shape lies closest (least squares) to the given landmarks.</summary>
    internal static FaceBox IdealBox(FaceLandmarks meanUnit, FaceLandmarks truth)
    {
        double mu = 0, mv = 0, mx = 0, my = 0;
        int n = truth.Count;
        for (int j = 0; j < n; j++) { mu += meanUnit[j].X; mv += meanUnit[j].Y; mx += truth[j].X; my += truth[j].Y; }
        mu /= n; mv /= n; mx /= n; my /= n;
        double num = 0, den = 0;
        for (int j = 0; j < n; j++)
        {
            double du = meanUnit[j].X - mu, dv = meanUnit[j].Y - mv;
            num += du * (truth[j].X - mx) + dv * (truth[j].Y - my);
            den += du * du + dv * dv;
        }
        double s = num / den, l = mx - s * mu, t = my - s * mv;
        int L = (int)Math.Round(l), T = (int)Math.Round(t), S = (int)Math.Round(s);
        return new FaceBox(L, T, L + S, T + S);
    }

    private static RgbImage Variant(RgbImage photo, double scale, double angleDeg, bool flip)
    {
        int w = photo.Width, h = photo.Height;
        double a = angleDeg * Math.PI / 180;
        // Rotate and scale about the centre; mirror by negating x first.
        double ca = Math.Cos(a) * scale, sa = Math.Sin(a) * scale;
        var t = new SimilarityTransform(ca, sa, 0, 0);
        var (cx, cy) = t.Apply(w / 2.0, h / 2.0);
        t = t with { Tx = w / 2.0 - cx, Ty = h / 2.0 - cy };
        var img = FaceAligner.Warp(photo, t, w, h);
        if (!flip) return img;
        var m = new byte[img.Pixels.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                Array.Copy(img.Pixels, (y * w + x) * 3, m, (y * w + (w - 1 - x)) * 3, 3);
        return new RgbImage(w, h, m);
    }

    private static List<FaceBox> RunHog(string exe, string ppm)
    {
        var psi = new ProcessStartInfo(exe, [SystemResources.DlibModelPath()!, ppm, "--detect", "--boxes-only"])
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new GestaltLabException($"{exe} failed ({p.ExitCode})");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var f = line.Split(',');
            int I(int i) => int.Parse(f[i], CultureInfo.InvariantCulture);
            return new FaceBox(I(1), I(2), I(3), I(4));
        }).ToList();
    }
}
