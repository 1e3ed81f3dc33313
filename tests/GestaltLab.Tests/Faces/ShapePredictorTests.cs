using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Faces;

public class ShapePredictorTests
{
    [Fact]
    public void ModelStructureMatchesDlibs68PointFile()
    {
        var sp = FacesFixture.Predictor;
        Assert.Equal(68, sp.LandmarkCount);
        Assert.Equal(15, sp.CascadeCount);
        Assert.Equal(500, sp.TreesPerCascade);
        Assert.Equal(4, sp.TreeDepth);
        Assert.Equal(500, sp.FeaturesPerCascade);
        // initial_shape[0] is serialized as mantissa 15808589, exponent −29.
        Assert.Equal(15808589 * Math.Pow(2, -29), sp.MeanShape[0].X, 9);
        // Mean shape in unit-box coordinates: chin 7% below the box, outer canthi at u ≈ 0.214 / 0.786.
        Assert.InRange(sp.MeanShape[8].Y, 1.06f, 1.08f);
        Assert.InRange(sp.MeanShape[36].X, 0.20f, 0.23f);
        Assert.InRange(sp.MeanShape[45].X, 0.77f, 0.80f);
    }

    [Fact]
    public void LandmarksEqualDlibCppOnRealPhotosExactly()
    {
        var reference = FacesFixture.ReferenceLandmarks();
        Assert.True(reference.Count >= 12, "fixture should hold HOG/Haar boxes and edge cases on both photos");
        Assert.Contains(reference, r => r.Image == "messi5.jpg");
        Assert.Contains(reference, r => r.Kind == "hog");
        var images = reference.Select(r => r.Image).Distinct().ToDictionary(i => i, i => ImageLoader.Load(FacesFixture.PhotoPath(i)));
        int differing = 0;
        double sum = 0;
        foreach (var (image, kind, box, expected) in reference)
        {
            var actual = FacesFixture.Predictor.Predict(images[image], box);
            for (int j = 0; j < 68; j++)
            {
                if (actual[j] != expected[j]) differing++;
                sum += System.Numerics.Vector2.Distance(actual[j], expected[j]);
            }
        }
        double mean = sum / (reference.Count * 68);
        Assert.True(mean <= 0.5, $"mean deviation from dlib {mean:F3} px");
        Assert.Equal(0, differing); // bit-exact port: every integer point agrees
    }

    [Fact]
    public void GrayPlaneGivesTheSameAnswerAsRgbWithEqualChannels()
    {
        var image = ImageLoader.Load(FacesFixture.Astronaut);
        var gray = new byte[image.Width * image.Height];
        var grayRgb = new byte[gray.Length * 3];
        for (int i = 0; i < gray.Length; i++)
        {
            gray[i] = (byte)image.Intensity(i % image.Width, i / image.Width);
            grayRgb[3 * i] = grayRgb[3 * i + 1] = grayRgb[3 * i + 2] = gray[i];
        }
        var box = FacesFixture.ReferenceLandmarks().First(r => r.Image == "astronaut.png").Box;
        var a = FacesFixture.Predictor.PredictGray(gray, image.Width, image.Height, box);
        var b = FacesFixture.Predictor.Predict(new RgbImage(image.Width, image.Height, grayRgb), box);
        var c = FacesFixture.Predictor.Predict(image, box);
        Assert.Equal(a.Points, b.Points);
        Assert.Equal(a.Points, c.Points); // dlib samples (R+G+B)/3, which is what the gray plane holds
    }

    [Fact]
    public void PredictionIsThreadSafe()
    {
        var image = ImageLoader.Load(FacesFixture.Astronaut);
        var reference = FacesFixture.ReferenceLandmarks().Where(r => r.Image == "astronaut.png").ToList();
        var failures = 0;
        Parallel.For(0, 16, i =>
        {
            var r = reference[i % reference.Count];
            if (!FacesFixture.Predictor.Predict(image, r.Box).Points.SequenceEqual(r.Landmarks.Points)) Interlocked.Increment(ref failures);
        });
        Assert.Equal(0, failures);
    }

    private static byte[] Head(int count)
    {
        using var f = File.OpenRead(FacesFixture.ModelPath);
        var b = new byte[count];
        f.ReadExactly(b);
        return b;
    }

    [Fact]
    public void TruncatedFileIsReportedAsTruncated()
    {
        foreach (int n in new[] { 1, 5, 821, 5000, 1 << 20 })
        {
            var e = Assert.Throws<GestaltLabException>(() => ShapePredictor.Parse(Head(n), "cut.dat"));
            Assert.Contains("cut.dat", e.Message);
            Assert.Contains("truncated", e.Message);
        }
    }

    [Fact]
    public void TruncatedFileOnDiskIsReportedWithItsPath()
    {
        string dir = FacesFixture.TempDir();
        string path = Path.Combine(dir, "shape_predictor_68_face_landmarks.dat");
        File.WriteAllBytes(path, Head(300_000));
        var e = Assert.Throws<GestaltLabException>(() => ShapePredictor.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void Bzip2CompressedFileSaysDecompressIt()
    {
        // What dlib's download looks like before bunzip2: "BZh9" then compressed blocks.
        var bytes = "BZh91AY&SY"u8.ToArray().Concat(Head(64)).ToArray();
        var e = Assert.Throws<GestaltLabException>(() => ShapePredictor.Parse(bytes, "model.dat.bz2"));
        Assert.Contains("bzip2", e.Message);
        Assert.Contains("bunzip2", e.Fix);
    }

    [Fact]
    public void ForeignFilesAreRejected()
    {
        var png = new RgbImage(4, 4).EncodePng();
        var e = Assert.Throws<GestaltLabException>(() => ShapePredictor.Parse(png, "photo.png"));
        Assert.Contains("not a dlib shape_predictor file", e.Message);
        var text = "<html>404 Not Found</html>"u8.ToArray();
        Assert.Contains("not a dlib shape_predictor file", Assert.Throws<GestaltLabException>(() => ShapePredictor.Parse(text, "page.html")).Message);
        Assert.Contains("empty", Assert.Throws<GestaltLabException>(() => ShapePredictor.Parse([], "empty.dat")).Message);
        Assert.Contains("not found", Assert.Throws<GestaltLabException>(() => ShapePredictor.Load("/nonexistent/model.dat")).Message);
        // A run folder where the landmark model goes (`align --model RUN`): said as a folder, with where a run goes.
        string dir = FacesFixture.TempDir();
        var folder = Assert.Throws<GestaltLabException>(() => ShapePredictor.Load(dir));
        Assert.Contains($"{dir}: is a folder", folder.Message);
        Assert.Contains("predict, evaluate", folder.Fix);
        Directory.Delete(dir, true);
    }

    [Fact]
    public void WrongVersionIsRejected()
    {
        var bytes = Head(4096);
        Assert.Equal(0x01, bytes[0]);
        Assert.Equal(0x01, bytes[1]); // version 1
        bytes[1] = 0x02;
        var e = Assert.Throws<GestaltLabException>(() => ShapePredictor.Parse(bytes, "v2.dat"));
        Assert.Contains("unsupported shape_predictor version 2", e.Message);
    }

    [Fact]
    public void CorruptStructureIsRejected()
    {
        // A structurally different dlib object: version 1 then a 3×2 matrix instead of a column vector.
        byte[] bytes = [0x01, 0x01, 0x81, 0x03, 0x81, 0x02, 0x01, 0x00, 0x01, 0x00];
        var e = Assert.Throws<GestaltLabException>(() => ShapePredictor.Parse(bytes, "other.dat"));
        Assert.Contains("expected a column vector", e.Message);
    }
}
