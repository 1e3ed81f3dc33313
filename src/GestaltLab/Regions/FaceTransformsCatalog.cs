using GestaltLab.Runtime;
using Microsoft.ML;

namespace GestaltLab.Regions;

/// <summary>
/// GestaltLab's face steps as ML.NET transforms, to chain after <c>ml.Transforms.LoadImages</c>:
/// <code>
/// var ml = new MLContext();
/// ml.RegisterFaceSteps();   // once per MLContext that loads a saved model
/// var pipeline = ml.Transforms.LoadImages("Image", imageFolder, "ImagePath")
///     .Append(ml.Transforms.DetectFaceLandmarks())      // → FaceStatus, FaceBox[4], Landmarks[136], LandmarkConfidence
///     .Append(ml.Transforms.AlignFaces())               // → AlignedFace (256² image), AlignedLandmarks[136]
///     .Append(ml.Transforms.CropFacialRegions(96));     // → face, upper_face, periorbital_left, … (CHW RGB [0,1])
/// </code>
/// They are <c>CustomMapping</c> steps with registered factories, so a fitted pipeline saves to a zip and reloads
/// (after <see cref="RegisterFaceSteps"/>) with identical outputs. They use the system's 68-point model and OpenCV Haar
/// detector (see <see cref="FaceMappings.Pipeline"/>); column names are fixed (rename with <c>CopyColumns</c>).
/// </summary>
public static class FaceTransformsCatalog
{
    /// <summary>Registers GestaltLab's custom mapping factories with <paramref name="ml"/>, needed to load a saved model.</summary>
    public static MLContext RegisterFaceSteps(this MLContext ml)
    {
        FaceMappings.EnsureImageTypeRegistered();
        ml.ComponentCatalog.RegisterAssembly(typeof(DetectFaceLandmarksFactory).Assembly);
        return ml;
    }

    private static IEstimator<ITransformer> Wrap<TSrc, TDst>(Microsoft.ML.Transforms.CustomMappingEstimator<TSrc, TDst> step, string name)
        where TSrc : class, new() where TDst : class, new()
    {
        FaceMappings.EnsureImageTypeRegistered();
        return new FaceStepEstimator<TSrc, TDst>(step, name);
    }

    /// <summary>Detects the face (largest, most central) and its 68 dlib landmarks in the image column.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="imageColumnName">The <c>MLImage</c> column (copied to <c>Image</c> when named otherwise).</param>
    public static IEstimator<ITransformer> DetectFaceLandmarks(this TransformsCatalog catalog, string imageColumnName = "Image")
    {
        var step = Wrap(catalog.CustomMapping(new DetectFaceLandmarksFactory().GetMapping(), DetectFaceLandmarksFactory.ContractName), nameof(DetectFaceLandmarks));
        return imageColumnName == "Image" ? step : catalog.CopyColumns("Image", imageColumnName).Append(step);
    }

    /// <summary>Aligns the face to the canonical template (needs <c>Image</c>, <c>Landmarks</c>, <c>FaceStatus</c>).</summary>
    public static IEstimator<ITransformer> AlignFaces(this TransformsCatalog catalog) =>
        Wrap(catalog.CustomMapping(new AlignFacesFactory().GetMapping(), AlignFacesFactory.ContractName), nameof(AlignFaces));

    /// <summary>
    /// Crops the seven default regions (data/regions/regions.json) straight from the photo as CHW RGB float vectors in
    /// [0, 1] of <paramref name="size"/>² pixels, one column per region (zeros when no face), ready for <c>ApplyOnnxModel</c>.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="size">Crop side: 64, 96 or 112.</param>
    public static IEstimator<ITransformer> CropFacialRegions(this TransformsCatalog catalog, int size = 96) => size switch
    {
        64 => Wrap(catalog.CustomMapping(new CropFacialRegions64Factory().GetMapping(), CropFacialRegions64Factory.ContractName), nameof(CropFacialRegions)),
        96 => Wrap(catalog.CustomMapping(new CropFacialRegions96Factory().GetMapping(), CropFacialRegions96Factory.ContractName), nameof(CropFacialRegions)),
        112 => Wrap(catalog.CustomMapping(new CropFacialRegions112Factory().GetMapping(), CropFacialRegions112Factory.ContractName), nameof(CropFacialRegions)),
        _ => throw new GestaltLabException($"CropFacialRegions: crop size {size} is not offered by the ML.NET step (offered: {string.Join(", ", FaceMappings.CropSizes)})",
            "use one of the offered sizes, or RegionCropper directly for any size"),
    };
}
