using System.Numerics;
using GestaltLab.Data;
using GestaltLab.Faces;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;

namespace GestaltLab.Regions;

// ML.NET rows and registered CustomMapping factories behind FaceTransformsCatalog. Column names are fixed here (ML.NET
// saves a custom mapping by contract name only, not its schema); rename with ml.Transforms.CopyColumns when needed.

/// <summary>Input row of the landmark step: the photo.</summary>
public sealed class FaceImageRow
{
    /// <summary>The photo, as <c>ml.Transforms.LoadImages</c> makes it.</summary>
    public MLImage? Image { get; set; }
}

/// <summary>Output row of the landmark step.</summary>
public sealed class FaceLandmarksRow
{
    /// <summary>QC status: ok, no_face, multiple_faces, low_quality.</summary>
    public string FaceStatus { get; set; } = "";
    /// <summary>Face box (dlib convention): left, top, right, bottom; zeros when no face.</summary>
    [VectorType(4)]
    public float[] FaceBox { get; set; } = new float[4];
    /// <summary>68 landmarks x0,y0,…,x67,y67 in photo pixels; zeros when no face.</summary>
    [VectorType(136)]
    public float[] Landmarks { get; set; } = new float[136];
    /// <summary>Landmark confidence proxy in [0, 1]; 0 when no face.</summary>
    public float LandmarkConfidence { get; set; }
}

/// <summary>Input row of the alignment and crop steps: the photo and its landmarks.</summary>
public sealed class FaceImageLandmarksRow
{
    /// <summary>The photo.</summary>
    public MLImage? Image { get; set; }
    /// <summary>68 landmarks in photo pixels (from the landmark step).</summary>
    [VectorType(136)]
    public float[] Landmarks { get; set; } = new float[136];
    /// <summary>QC status from the landmark step.</summary>
    public string FaceStatus { get; set; } = "";
}

/// <summary>Output row of the alignment step.</summary>
public sealed class AlignedFaceRow
{
    /// <summary>The aligned face, 256 × 256 (black when no face).</summary>
    [ImageType(FaceMappings.AlignedSize, FaceMappings.AlignedSize)]
    public MLImage? AlignedFace { get; set; }
    /// <summary>The landmarks in aligned pixels.</summary>
    [VectorType(136)]
    public float[] AlignedLandmarks { get; set; } = new float[136];
}

/// <summary>Output row of the crop step at 64 px: one CHW RGB [0,1] vector per default region.</summary>
public sealed class RegionCrops64Row : IRegionColumns
{
    /// <summary>Full face.</summary>
    [VectorType(3, 64, 64)] public float[] face { get; set; } = [];
    /// <summary>Upper face (brows, eyes).</summary>
    [VectorType(3, 64, 64)] public float[] upper_face { get; set; } = [];
    /// <summary>Image-left periorbital region.</summary>
    [VectorType(3, 64, 64)] public float[] periorbital_left { get; set; } = [];
    /// <summary>Image-right periorbital region.</summary>
    [VectorType(3, 64, 64)] public float[] periorbital_right { get; set; } = [];
    /// <summary>Nose.</summary>
    [VectorType(3, 64, 64)] public float[] nose { get; set; } = [];
    /// <summary>Mouth and philtrum.</summary>
    [VectorType(3, 64, 64)] public float[] mouth_philtrum { get; set; } = [];
    /// <summary>Lower face and chin.</summary>
    [VectorType(3, 64, 64)] public float[] lower_face { get; set; } = [];
}

/// <summary>Output row of the crop step at 96 px (the default).</summary>
public sealed class RegionCrops96Row : IRegionColumns
{
    /// <summary>Full face.</summary>
    [VectorType(3, 96, 96)] public float[] face { get; set; } = [];
    /// <summary>Upper face (brows, eyes).</summary>
    [VectorType(3, 96, 96)] public float[] upper_face { get; set; } = [];
    /// <summary>Image-left periorbital region.</summary>
    [VectorType(3, 96, 96)] public float[] periorbital_left { get; set; } = [];
    /// <summary>Image-right periorbital region.</summary>
    [VectorType(3, 96, 96)] public float[] periorbital_right { get; set; } = [];
    /// <summary>Nose.</summary>
    [VectorType(3, 96, 96)] public float[] nose { get; set; } = [];
    /// <summary>Mouth and philtrum.</summary>
    [VectorType(3, 96, 96)] public float[] mouth_philtrum { get; set; } = [];
    /// <summary>Lower face and chin.</summary>
    [VectorType(3, 96, 96)] public float[] lower_face { get; set; } = [];
}

/// <summary>Output row of the crop step at 112 px.</summary>
public sealed class RegionCrops112Row : IRegionColumns
{
    /// <summary>Full face.</summary>
    [VectorType(3, 112, 112)] public float[] face { get; set; } = [];
    /// <summary>Upper face (brows, eyes).</summary>
    [VectorType(3, 112, 112)] public float[] upper_face { get; set; } = [];
    /// <summary>Image-left periorbital region.</summary>
    [VectorType(3, 112, 112)] public float[] periorbital_left { get; set; } = [];
    /// <summary>Image-right periorbital region.</summary>
    [VectorType(3, 112, 112)] public float[] periorbital_right { get; set; } = [];
    /// <summary>Nose.</summary>
    [VectorType(3, 112, 112)] public float[] nose { get; set; } = [];
    /// <summary>Mouth and philtrum.</summary>
    [VectorType(3, 112, 112)] public float[] mouth_philtrum { get; set; } = [];
    /// <summary>Lower face and chin.</summary>
    [VectorType(3, 112, 112)] public float[] lower_face { get; set; } = [];
}

/// <summary>The seven default region columns of a crop row.</summary>
public interface IRegionColumns
{
#pragma warning disable CS1591, IDE1006 // column names follow the region names
    float[] face { get; set; }
    float[] upper_face { get; set; }
    float[] periorbital_left { get; set; }
    float[] periorbital_right { get; set; }
    float[] nose { get; set; }
    float[] mouth_philtrum { get; set; }
    float[] lower_face { get; set; }
#pragma warning restore CS1591, IDE1006
}

/// <summary>The mapping functions and the shared pipeline they use (the system's 68-point model, Haar detector).</summary>
public static class FaceMappings
{
    /// <summary>Side of the aligned face made by the ML.NET alignment step.</summary>
    public const int AlignedSize = 256;

    private static int _imageTypeRegistered;

    /// <summary>
    /// Maps <see cref="MLImage"/> members without a size attribute to ML.NET's size-less image type (what
    /// <c>LoadImages</c> produces), so the input rows can take photos of any size. ML.NET has no attribute for that
    /// (<c>ImageType</c> needs a positive size), but its type manager accepts the registration.
    /// </summary>
    public static void EnsureImageTypeRegistered()
    {
        if (Interlocked.Exchange(ref _imageTypeRegistered, 1) == 1) return;
        try
        {
            DataViewTypeManager.Register(new ImageDataViewType(), typeof(MLImage));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // Someone registered MLImage already: keep theirs.
        }
    }

    /// <summary>Crop sizes the ML.NET crop step offers.</summary>
    public static IReadOnlyList<int> CropSizes { get; } = [64, 96, 112];

    // PublicationOnly: a failure (the dlib model not installed yet) is not cached, so a notebook that installs the model
    // or sets $GESTALTLAB_DLIB_MODEL and re-runs the cell succeeds without restarting its kernel.
    private static readonly Lazy<FacePipeline> SharedPipeline =
        new(() => new FacePipeline(new FacePipelineOptions { CropRegions = false }), LazyThreadSafetyMode.PublicationOnly);
    private static readonly Dictionary<int, RegionCropper> Croppers = new();

    /// <summary>The pipeline the ML.NET steps share (landmarks and alignment; model from <c>$GESTALTLAB_DLIB_MODEL</c> or Debian's libdlib-data).</summary>
    public static FacePipeline Pipeline => SharedPipeline.Value;

    internal static RegionCropper Cropper(int size)
    {
        lock (Croppers)
        {
            if (!Croppers.TryGetValue(size, out var c)) Croppers[size] = c = new RegionCropper(RegionSet.Default.WithSize(size));
            return c;
        }
    }

    internal static void DetectLandmarks(FaceImageRow input, FaceLandmarksRow output)
    {
        output.FaceBox = new float[4];
        output.Landmarks = new float[136];
        output.LandmarkConfidence = 0;
        if (input.Image is null) { output.FaceStatus = FaceStatus.Unreadable.ToCsv(); return; }
        var image = Upright(input.Image);
        var r = Pipeline.Process(image, input.Image.Tag ?? "image");
        output.FaceStatus = r.Status.ToCsv();
        if (r.Box is { } b) output.FaceBox = [b.Left, b.Top, b.Right, b.Bottom];
        if (r.Landmarks is not null) output.Landmarks = r.Landmarks.ToInterleaved();
        output.LandmarkConfidence = float.IsNaN(r.Confidence) ? 0 : r.Confidence;
    }

    private static bool HasFace(FaceImageLandmarksRow input) =>
        input.Image is not null && input.FaceStatus is not ("no_face" or "unreadable" or "") && input.Landmarks.Length == 136;

    /// <summary>
    /// The photo as <see cref="ImageLoader"/> reads it: ML.NET's <c>LoadImages</c> decodes without the EXIF orientation, so
    /// a phone photo would reach the face steps sideways (and score differently from <c>GestaltModel</c>); its file, named
    /// by the image's tag, tells how to turn it upright. Every face step goes through here, so landmarks, alignment and
    /// crops share one frame.
    /// </summary>
    internal static RgbImage Upright(MLImage image)
    {
        var pixels = RgbImage.FromMLImage(image);
        if (image.Tag is not { Length: > 0 } path || !File.Exists(path)) return pixels;
        try
        {
            using var codec = SkiaSharp.SKCodec.Create(path);
            return codec is null || codec.EncodedOrigin == SkiaSharp.SKEncodedOrigin.TopLeft ? pixels : ImageLoader.ApplyOrientation(pixels, codec.EncodedOrigin);
        }
        catch (IOException) { return pixels; }
    }

    internal static void Align(FaceImageLandmarksRow input, AlignedFaceRow output)
    {
        if (!HasFace(input))
        {
            output.AlignedFace = new RgbImage(AlignedSize, AlignedSize).ToMLImage();
            output.AlignedLandmarks = new float[136];
            return;
        }
        var aligned = Pipeline.Aligner.Align(Upright(input.Image!), FaceLandmarks.FromInterleaved(input.Landmarks));
        output.AlignedFace = aligned.Image.ToMLImage();
        output.AlignedLandmarks = aligned.Landmarks.ToInterleaved();
    }

    internal static void Crop(FaceImageLandmarksRow input, IRegionColumns output, int size)
    {
        var crops = new Dictionary<string, float[]>();
        if (HasFace(input))
        {
            var image = Upright(input.Image!);
            var lm = FaceLandmarks.FromInterleaved(input.Landmarks);
            var t = Pipeline.Aligner.FitTransform(lm);
            foreach (var c in Cropper(size).Crop(image, t, Pipeline.Aligner.Size, lm.Transform(t.Apply)))
                crops[c.Name] = c.ToTensor();
        }
        float[] Get(string name) => crops.TryGetValue(name, out var v) ? v : new float[3 * size * size];
        output.face = Get("face");
        output.upper_face = Get("upper_face");
        output.periorbital_left = Get("periorbital_left");
        output.periorbital_right = Get("periorbital_right");
        output.nose = Get("nose");
        output.mouth_philtrum = Get("mouth_philtrum");
        output.lower_face = Get("lower_face");
    }
}

/// <summary>Registered factory of the landmark step (contract <c>GestaltLab.DetectFaceLandmarks</c>).</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class DetectFaceLandmarksFactory : CustomMappingFactory<FaceImageRow, FaceLandmarksRow>
{
    static DetectFaceLandmarksFactory() => FaceMappings.EnsureImageTypeRegistered();

    /// <summary>Contract name saved in model zips.</summary>
    public const string ContractName = "GestaltLab.DetectFaceLandmarks";
    /// <inheritdoc />
    public override Action<FaceImageRow, FaceLandmarksRow> GetMapping() => FaceMappings.DetectLandmarks;
}

/// <summary>Registered factory of the alignment step (contract <c>GestaltLab.AlignFaces</c>).</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class AlignFacesFactory : CustomMappingFactory<FaceImageLandmarksRow, AlignedFaceRow>
{
    static AlignFacesFactory() => FaceMappings.EnsureImageTypeRegistered();

    /// <summary>Contract name saved in model zips.</summary>
    public const string ContractName = "GestaltLab.AlignFaces";
    /// <inheritdoc />
    public override Action<FaceImageLandmarksRow, AlignedFaceRow> GetMapping() => FaceMappings.Align;
}

/// <summary>Registered factory of the 64 px crop step.</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class CropFacialRegions64Factory : CustomMappingFactory<FaceImageLandmarksRow, RegionCrops64Row>
{
    static CropFacialRegions64Factory() => FaceMappings.EnsureImageTypeRegistered();

    /// <summary>Contract name saved in model zips.</summary>
    public const string ContractName = "GestaltLab.CropFacialRegions.64";
    /// <inheritdoc />
    public override Action<FaceImageLandmarksRow, RegionCrops64Row> GetMapping() => (i, o) => FaceMappings.Crop(i, o, 64);
}

/// <summary>Registered factory of the 96 px crop step.</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class CropFacialRegions96Factory : CustomMappingFactory<FaceImageLandmarksRow, RegionCrops96Row>
{
    static CropFacialRegions96Factory() => FaceMappings.EnsureImageTypeRegistered();

    /// <summary>Contract name saved in model zips.</summary>
    public const string ContractName = "GestaltLab.CropFacialRegions.96";
    /// <inheritdoc />
    public override Action<FaceImageLandmarksRow, RegionCrops96Row> GetMapping() => (i, o) => FaceMappings.Crop(i, o, 96);
}

/// <summary>Registered factory of the 112 px crop step.</summary>
[CustomMappingFactoryAttribute(ContractName)]
public sealed class CropFacialRegions112Factory : CustomMappingFactory<FaceImageLandmarksRow, RegionCrops112Row>
{
    static CropFacialRegions112Factory() => FaceMappings.EnsureImageTypeRegistered();

    /// <summary>Contract name saved in model zips.</summary>
    public const string ContractName = "GestaltLab.CropFacialRegions.112";
    /// <inheritdoc />
    public override Action<FaceImageLandmarksRow, RegionCrops112Row> GetMapping() => (i, o) => FaceMappings.Crop(i, o, 112);
}
