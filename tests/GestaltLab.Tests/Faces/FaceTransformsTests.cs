using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Regions;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace GestaltLab.Tests.Faces;

/// <summary>The ML.NET steps, after ML.NET's TestEstimatorCore checklist: fit/transform, schema propagation, save/load, equal outputs.</summary>
public sealed class FaceTransformsTests : IDisposable
{
    private readonly string _dir = FacesFixture.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    private sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    private (MLContext Ml, IDataView Data, IEstimator<ITransformer> Pipeline) Build()
    {
        File.Copy(FacesFixture.Astronaut, Path.Combine(_dir, "astronaut.png"));
        new RgbImage(120, 90).SavePng(Path.Combine(_dir, "blank.png"));
        var ml = new MLContext(seed: 1).RegisterFaceSteps();
        var data = ml.Data.LoadFromEnumerable(new[] { new PathRow { ImagePath = "astronaut.png" }, new PathRow { ImagePath = "blank.png" } });
        var pipeline = ml.Transforms.LoadImages("Photo", _dir, "ImagePath")
            .Append(ml.Transforms.DetectFaceLandmarks("Photo"))
            .Append(ml.Transforms.AlignFaces())
            .Append(ml.Transforms.CropFacialRegions(64));
        return (ml, data, pipeline);
    }

    [Fact]
    public void FitTransformSaveReloadGivesIdenticalOutputs()
    {
        var (ml, data, estimator) = Build();

        // Schema propagation before fitting (SchemaShape.Create is internal to ML.NET, which calls it the same way in TestEstimatorCore).
        var create = typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic, [typeof(DataViewSchema)])!;
        var shape = estimator.GetOutputSchema((SchemaShape)create.Invoke(null, [data.Schema])!);
        foreach (var col in new[] { "FaceStatus", "FaceBox", "Landmarks", "LandmarkConfidence", "AlignedFace", "AlignedLandmarks", "face", "nose", "periorbital_left" })
            Assert.True(shape.Any(c => c.Name == col), $"estimator schema lacks {col}");
        // A step whose inputs are missing fails at schema propagation with a clear message.
        var ml0 = new MLContext();
        var orphan = ml0.Transforms.LoadImages("Image", _dir, "ImagePath").Append(ml0.Transforms.AlignFaces());
        var err = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => orphan.GetOutputSchema((SchemaShape)create.Invoke(null, [data.Schema])!));
        Assert.Contains("Landmarks", err.Message);

        var model = estimator.Fit(data);
        var output = model.Transform(data);
        var landmarksType = Assert.IsType<VectorDataViewType>(output.Schema["Landmarks"].Type);
        Assert.Equal(136, landmarksType.Size);
        Assert.Equal(3 * 64 * 64, Assert.IsType<VectorDataViewType>(output.Schema["nose"].Type).Size);
        var propagated = model.GetOutputSchema(data.Schema);
        Assert.Equal(propagated.Select(c => c.Name), output.Schema.Select(c => c.Name));
        Assert.Equal(propagated.Select(c => c.Type.ToString()), output.Schema.Select(c => c.Type.ToString()));
        foreach (var col in new[] { "FaceStatus", "FaceBox", "Landmarks", "LandmarkConfidence", "AlignedFace", "AlignedLandmarks", "face", "upper_face",
                     "periorbital_left", "periorbital_right", "nose", "mouth_philtrum", "lower_face" })
            Assert.True(propagated.GetColumnOrNull(col) is not null, $"output schema lacks {col}");

        var first = Read(output);
        Assert.Equal(["ok", "no_face"], first.Status);
        // The step gives what FacePipeline gives for the same photo.
        var direct = FacesFixture.Pipeline.Process(FacesFixture.Astronaut);
        Assert.Equal(direct.Landmarks!.ToInterleaved(), first.Landmarks[0]);
        Assert.Equal(direct.Confidence, first.Confidence[0], 5);
        Assert.True(first.Nose[0].Average() > 0.2);
        Assert.All(first.Nose[1], v => Assert.Equal(0f, v)); // no face → zeros, not an exception
        Assert.Equal(256, first.AlignedWidth[0]);

        // Save, reload in a fresh context, and compare every output.
        string zip = Path.Combine(_dir, "faces.zip");
        ml.Model.Save(model, data.Schema, zip);
        var ml2 = new MLContext(seed: 2).RegisterFaceSteps();
        var reloaded = ml2.Model.Load(zip, out var inputSchema);
        Assert.Equal(TextDataViewType.Instance, inputSchema["ImagePath"].Type);
        var second = Read(reloaded.Transform(data));
        Assert.Equal(first.Status, second.Status);
        Assert.Equal(first.Landmarks, second.Landmarks);
        Assert.Equal(first.Box, second.Box);
        Assert.Equal(first.Confidence, second.Confidence);
        Assert.Equal(first.AlignedLandmarks, second.AlignedLandmarks);
        Assert.Equal(first.Nose, second.Nose);
        Assert.Equal(first.Face, second.Face);
        Assert.Equal(first.AlignedPixels, second.AlignedPixels);
    }

    [Fact]
    public void UnofferedCropSizeIsAClearError()
    {
        var ml = new MLContext();
        var e = Assert.Throws<GestaltLab.Runtime.GestaltLabException>(() => ml.Transforms.CropFacialRegions(50));
        Assert.Contains("64, 96, 112", e.Message);
    }

    private sealed record Outputs(List<string> Status, List<float[]> Landmarks, List<float[]> Box, List<float> Confidence,
        List<float[]> AlignedLandmarks, List<float[]> Nose, List<float[]> Face, List<byte[]> AlignedPixels, List<int> AlignedWidth);

    private static Outputs Read(IDataView view)
    {
        var o = new Outputs([], [], [], [], [], [], [], [], []);
        using var cursor = view.GetRowCursor(view.Schema);
        var status = cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema["FaceStatus"]);
        var lm = cursor.GetGetter<VBuffer<float>>(view.Schema["Landmarks"]);
        var box = cursor.GetGetter<VBuffer<float>>(view.Schema["FaceBox"]);
        var conf = cursor.GetGetter<float>(view.Schema["LandmarkConfidence"]);
        var alm = cursor.GetGetter<VBuffer<float>>(view.Schema["AlignedLandmarks"]);
        var nose = cursor.GetGetter<VBuffer<float>>(view.Schema["nose"]);
        var face = cursor.GetGetter<VBuffer<float>>(view.Schema["face"]);
        var aligned = cursor.GetGetter<MLImage>(view.Schema["AlignedFace"]);
        while (cursor.MoveNext())
        {
            ReadOnlyMemory<char> s = default; VBuffer<float> v = default; float c = 0; MLImage? img = null;
            status(ref s); o.Status.Add(s.ToString());
            lm(ref v); o.Landmarks.Add(v.DenseValues().ToArray());
            box(ref v); o.Box.Add(v.DenseValues().ToArray());
            conf(ref c); o.Confidence.Add(c);
            alm(ref v); o.AlignedLandmarks.Add(v.DenseValues().ToArray());
            nose(ref v); o.Nose.Add(v.DenseValues().ToArray());
            face(ref v); o.Face.Add(v.DenseValues().ToArray());
            aligned(ref img!);
            var rgb = RgbImage.FromMLImage(img);
            o.AlignedPixels.Add(rgb.Pixels);
            o.AlignedWidth.Add(rgb.Width);
        }
        return o;
    }

    [Fact]
    public void Phone_photos_are_turned_upright_as_the_loader_turns_them()
    {
        // The astronaut stored sideways with EXIF orientation 6 (a viewer turns it 90° clockwise), as phones save portraits.
        var upright = ImageLoader.Load(FacesFixture.Astronaut);
        var stored = ImageLoader.ApplyOrientation(upright, SkiaSharp.SKEncodedOrigin.LeftBottom);
        byte[] jpeg;
        using (var bmp = stored.ToSKBitmap())
        using (var data = bmp.Encode(SkiaSharp.SKEncodedImageFormat.Jpeg, 95)) jpeg = data.ToArray();
        byte[] app1 =
        [
            0xFF, 0xE1, 0x00, 0x22, (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
            (byte)'I', (byte)'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00,
            0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        string path = Path.Combine(_dir, "phone.jpg");
        File.WriteAllBytes(path, [.. jpeg.Take(2), .. app1, .. jpeg.Skip(2)]);
        using var faces = new FacePipeline(new FacePipelineOptions { ComputeConfidence = false });
        var direct = faces.Process(path);
        Assert.Equal(FaceStatus.Ok, direct.Status);

        var ml = new MLContext(seed: 1).RegisterFaceSteps();
        var rows = ml.Data.LoadFromEnumerable(new[] { new PathRow { ImagePath = "phone.jpg" } });
        var scored = ml.Transforms.LoadImages("Photo", _dir, "ImagePath").Append(ml.Transforms.DetectFaceLandmarks("Photo")).Fit(rows).Transform(rows);
        var row = ml.Data.CreateEnumerable<FaceLandmarksRow>(scored, reuseRowObject: false).Single();
        Assert.Equal(direct.Status.ToCsv(), row.FaceStatus);
        Assert.Equal([direct.Box!.Value.Left, direct.Box.Value.Top, direct.Box.Value.Right, direct.Box.Value.Bottom], row.FaceBox);
    }
}
