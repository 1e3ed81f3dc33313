using System.Globalization;
using System.Numerics;
using GestaltLab.Data;
using GestaltLab.Faces;
using GestaltLab.Regions;
using GestaltLab.Runtime;

namespace GestaltLab.Tests.Faces;

/// <summary>Loads the 100 MB landmark model and the sample photos once per test run.</summary>
internal static class FacesFixture
{
    private static readonly Lazy<ShapePredictor> Model = new(() => ShapePredictor.LoadShared());
    private static readonly Lazy<FacePipeline> SharedPipeline = new(() => new FacePipeline());

    public static ShapePredictor Predictor => Model.Value;
    public static FacePipeline Pipeline => SharedPipeline.Value;

    public static string ModelPath => SystemResources.DlibModelPath()
        ?? throw new InvalidOperationException("dlib model missing: install libdlib-data (bash environment/setup.sh)");

    public static string Astronaut => SystemResources.AstronautPhoto()
        ?? throw new InvalidOperationException("astronaut.png missing: install python3-skimage (bash environment/setup.sh --tests)");

    public static string Messi => SystemResources.MessiPhoto()
        ?? throw new InvalidOperationException("messi5.jpg missing: install opencv-doc (bash environment/setup.sh --tests)");

    /// <summary>Fixtures are read from the source tree (beside this file), so no build item is needed to copy them.</summary>
    public static string FixturePath(string name, [System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.Combine(Path.GetDirectoryName(here)!, "Fixtures", name);

    /// <summary>The dlib C++ reference landmarks (bench/dlib-reference, via `gestaltlab bench landmarks --fixture-out`).</summary>
    public static IReadOnlyList<(string Image, string Kind, FaceBox Box, FaceLandmarks Landmarks)> ReferenceLandmarks()
    {
        var table = Csv.Read(FixturePath("dlib-reference-landmarks.csv"));
        return table.Rows.Select(r =>
        {
            int I(int c) => int.Parse(r[c], CultureInfo.InvariantCulture);
            var pts = new Vector2[68];
            for (int j = 0; j < 68; j++) pts[j] = new Vector2(I(6 + 2 * j), I(7 + 2 * j));
            return (r[0], r[1], new FaceBox(I(2), I(3), I(4), I(5)), new FaceLandmarks(pts));
        }).ToList();
    }

    public static string PhotoPath(string image) => image switch
    {
        "astronaut.png" => Astronaut,
        "messi5.jpg" => Messi,
        _ => throw new ArgumentException(image),
    };

    public static string TempDir() => TestTemp.Dir("faces");
}
