using GestaltLab.Runtime;
using OpenCvSharp;

namespace GestaltLab.Tests.Foundation;

public class OpenCvTests
{
    [Fact]
    public void HaarCascadeFindsTheAstronautsFace()
    {
        string? photo = SystemResources.AstronautPhoto();
        Assert.True(photo is not null, "astronaut.png not found: install python3-skimage (bash environment/setup.sh --tests)");
        string? cascadePath = SystemResources.HaarCascadePath();
        Assert.NotNull(cascadePath);
        using var cascade = new CascadeClassifier(cascadePath);
        using var image = Cv2.ImRead(photo, ImreadModes.Grayscale);
        Assert.Equal(512, image.Width);
        var faces = cascade.DetectMultiScale(image, 1.1, 5, HaarDetectionTypes.ScaleImage, new Size(60, 60));
        Assert.Single(faces);
        // Eileen Collins' face sits in the upper middle of the 512×512 portrait.
        var f = faces[0];
        var centre = new Point(f.X + f.Width / 2, f.Y + f.Height / 2);
        Assert.InRange(centre.X, 180, 300);
        Assert.InRange(centre.Y, 60, 200);
        Assert.InRange(f.Width, 80, 220);
    }
}
