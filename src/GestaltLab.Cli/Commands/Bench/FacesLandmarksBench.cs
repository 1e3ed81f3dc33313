using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Runtime;

namespace GestaltLab.Cli;

/// <summary>
/// <c>gestaltlab bench landmarks</c>: parity and single-thread speed of the C# shape predictor against dlib's C++
/// (the reference program in bench/dlib-reference, built with its build.sh) on identical pixels and identical boxes.
/// Without <c>--reference</c> it times the C# side only. <c>--fixture-out</c> writes the reference landmarks as the
/// test fixture (tests/GestaltLab.Tests/Faces/Fixtures/dlib-reference-landmarks.csv).
/// </summary>
internal sealed class FacesLandmarksBench : IBenchCommand
{
    public Command Create()
    {
        var images = new Option<string[]>("--images") { Description = "Photos (default: astronaut.png and messi5.jpg from Debian packages).", AllowMultipleArgumentsPerToken = true };
        var model = new Option<string?>("--model") { Description = "dlib shape_predictor .dat (default: the system's 68-point model)." };
        var reference = new Option<string?>("--reference") { Description = "Path of the built dlib_reference program (bench/dlib-reference/build.sh)." };
        var repeat = new Option<int>("--repeat") { Description = "Predictions per box for timing.", DefaultValueFactory = _ => 300 };
        var fixture = new Option<string?>("--fixture-out") { Description = "Write the dlib reference landmarks as a CSV fixture." };
        var cmd = new Command("landmarks", "68-point landmarks: C# vs dlib C++ parity and per-face time (single thread, same boxes).")
            { images, model, reference, repeat, fixture };
        cmd.SetAction(p => Run(p.GetValue(images), p.GetValue(model), p.GetValue(reference), Math.Max(1, p.GetValue(repeat)), p.GetValue(fixture)));
        return cmd;
    }

    private static int Run(string[]? imagePaths, string? modelPath, string? referencePath, int repeat, string? fixtureOut)
    {
        var photos = imagePaths is { Length: > 0 } ? imagePaths.ToList()
            : new[] { SystemResources.AstronautPhoto(), SystemResources.MessiPhoto() }.OfType<string>().ToList();
        if (photos.Count == 0) throw new GestaltLabException("no photos: astronaut.png and messi5.jpg are not installed", "install python3-skimage and opencv-doc, or pass --images");
        string model = SystemResources.DlibModelPath(modelPath) ?? throw new GestaltLabException("dlib 68-point model not found", "install libdlib-data or pass --model");

        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}, {DateTime.UtcNow:yyyy-MM-dd}, load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a")}");
        var sw = Stopwatch.StartNew();
        var sp = ShapePredictor.Load(model);
        Console.WriteLine($"C# model load: {sw.Elapsed.TotalMilliseconds:F0} ms ({sp.CascadeCount} cascades × {sp.TreesPerCascade} trees, depth {sp.TreeDepth}, {sp.LandmarkCount} landmarks)");

        // Small faces too (messi5.jpg): the bench wants boxes, not a strict detector.
        using var haar = new HaarFaceDetector(new HaarOptions { MinFaceFraction = 0.05, MinNeighbors = 4 });
        var fixtureRows = new List<IReadOnlyList<string>>();
        long exact = 0, points = 0;
        double devSum = 0, maxDev = 0;
        double csUs = 0, cppUs = 0;
        int faces = 0;
        string tmp = Directory.CreateTempSubdirectory("gestaltlab-bench-").FullName;
        try
        {
            foreach (var photo in photos)
            {
                var image = ImageLoader.Load(photo);
                var boxes = new List<(string Kind, FaceBox Box)>();
                foreach (var b in haar.Detect(image)) boxes.Add(("haar", b));
                string ppm = Path.Combine(tmp, "image.ppm");
                if (referencePath is not null)
                {
                    image.SavePpm(ppm);
                    foreach (var line in RunReference(referencePath, model, ppm, null, true, 0).Lines)
                        boxes.Add(("hog", ParseBox(line)));
                }
                // Edge cases dlib must agree on: partly outside, off the right edge, non-square, tiny, whole image.
                var f = boxes.Count > 0 ? boxes[0].Box : new FaceBox(image.Width / 4, image.Height / 4, image.Width * 3 / 4, image.Height * 3 / 4);
                boxes.Add(("outside", new FaceBox(f.Left - f.Width / 2, f.Top - f.Height / 2, f.Right - f.Width / 2, f.Bottom - f.Height / 2)));
                boxes.Add(("offright", new FaceBox(image.Width - f.Width / 3, f.Top, image.Width - f.Width / 3 + f.Width - 1, f.Bottom)));
                boxes.Add(("nonsquare", new FaceBox(f.Left, f.Top - f.Height / 5, f.Right, f.Bottom + f.Height / 5)));
                boxes.Add(("shifted", new FaceBox(f.Left + f.Width / 10, f.Top + f.Height / 12, f.Right + f.Width / 10, f.Bottom + f.Height / 12)));
                boxes.Add(("tiny", new FaceBox(10, 10, 10, 10)));
                boxes.Add(("whole", new FaceBox(0, 0, image.Width - 1, image.Height - 1)));

                var mine = boxes.Select(b => sp.Predict(image, b.Box)).ToList();
                // Time the same boxes on one thread; warm up first so the JIT has settled.
                for (int w = 0; w < 20; w++) foreach (var b in boxes) sp.Predict(image, b.Box);
                sw.Restart();
                float sink = 0;
                for (int r = 0; r < repeat; r++) foreach (var b in boxes) sink += sp.Predict(image, b.Box)[30].X;
                double us = sw.Elapsed.TotalMicroseconds / (repeat * boxes.Count);
                csUs += us * boxes.Count;
                faces += boxes.Count;
                Console.WriteLine($"{Path.GetFileName(photo)} {image.Width}×{image.Height}: {boxes.Count} boxes ({string.Join(" ", boxes.Select(b => b.Kind))}); C# {us:F1} µs/face (checksum {sink:F0})");

                if (referencePath is null) continue;
                string boxFile = Path.Combine(tmp, "boxes.txt");
                File.WriteAllLines(boxFile, boxes.Select(b => $"{b.Box.Left} {b.Box.Top} {b.Box.Right} {b.Box.Bottom}"));
                var (lines, stderr) = RunReference(referencePath, model, ppm, boxFile, false, repeat);
                if (lines.Count != boxes.Count) throw new GestaltLabException($"dlib reference returned {lines.Count} shapes for {boxes.Count} boxes");
                double refUs = ParseStat(stderr, "us_per_face");
                cppUs += refUs * boxes.Count;
                Console.WriteLine($"  dlib C++ {refUs:F1} µs/face, C++ model load {ParseStat(stderr, "load_ms"):F0} ms");
                for (int i = 0; i < boxes.Count; i++)
                {
                    var parts = lines[i].Split(',');
                    var theirs = new Vector2[(parts.Length - 5) / 2];
                    for (int j = 0; j < theirs.Length; j++)
                        theirs[j] = new Vector2(int.Parse(parts[5 + 2 * j], CultureInfo.InvariantCulture), int.Parse(parts[6 + 2 * j], CultureInfo.InvariantCulture));
                    for (int j = 0; j < theirs.Length; j++)
                    {
                        double d = Vector2.Distance(theirs[j], mine[i][j]);
                        devSum += d; maxDev = Math.Max(maxDev, d); points++;
                        if (d == 0) exact++;
                    }
                    var row = new List<string> { Path.GetFileName(photo), boxes[i].Kind };
                    row.AddRange(parts.Skip(1));
                    fixtureRows.Add(row);
                }
            }
        }
        finally
        {
            Directory.Delete(tmp, true);
        }

        Console.WriteLine($"C# mean: {csUs / faces:F1} µs/face over {faces} boxes × {repeat} repeats, single thread");
        if (referencePath is not null)
        {
            Console.WriteLine($"dlib C++ mean: {cppUs / faces:F1} µs/face; C# is {cppUs / csUs:F2}× dlib's speed");
            Console.WriteLine($"parity: {exact}/{points} points identical ({100.0 * exact / points:F2}%), mean deviation {devSum / points:F4} px, max {maxDev:F2} px");
            if (fixtureOut is not null)
            {
                var header = new List<string> { "image", "kind", "left", "top", "right", "bottom" };
                for (int j = 0; j < sp.LandmarkCount; j++) { header.Add($"x{j}"); header.Add($"y{j}"); }
                Csv.Write(fixtureOut, header, fixtureRows);
                Console.WriteLine($"fixture written: {fixtureOut} ({fixtureRows.Count} faces)");
            }
        }
        return 0;
    }

    private static FaceBox ParseBox(string line)
    {
        var p = line.Split(',');
        return new FaceBox(int.Parse(p[1], CultureInfo.InvariantCulture), int.Parse(p[2], CultureInfo.InvariantCulture),
            int.Parse(p[3], CultureInfo.InvariantCulture), int.Parse(p[4], CultureInfo.InvariantCulture));
    }

    private static double ParseStat(string stderr, string key)
    {
        foreach (var line in stderr.Split('\n'))
            if (line.StartsWith(key + ",", StringComparison.Ordinal))
                return double.Parse(line.Split(',')[1], CultureInfo.InvariantCulture);
        return double.NaN;
    }

    private static (List<string> Lines, string Stderr) RunReference(string exe, string model, string ppm, string? boxes, bool detect, int repeat)
    {
        var args = new List<string> { model, ppm };
        if (boxes is not null) { args.Add("--boxes"); args.Add(boxes); }
        if (detect) args.Add("--detect");
        if (repeat > 0) { args.Add("--repeat"); args.Add(repeat.ToString(CultureInfo.InvariantCulture)); }
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi) ?? throw new GestaltLabException($"{exe}: cannot start the dlib reference program");
        var errTask = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string err = errTask.Result;
        if (p.ExitCode != 0) throw new GestaltLabException($"{exe} failed ({p.ExitCode}): {err}", "build it with bench/dlib-reference/build.sh");
        return (output.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList(), err);
    }
}
