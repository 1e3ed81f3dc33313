namespace GestaltLab.Faces;

/// <summary>Quality-control outcome of one photo (written in lower snake case in CSVs: <c>ok</c>, <c>no_face</c>, …).</summary>
public enum FaceStatus
{
    /// <summary>One face found, landmarks confident: use it.</summary>
    Ok,
    /// <summary>No face found: the photo has no landmarks and no crops.</summary>
    NoFace,
    /// <summary>Several faces found; the largest, most central one was used (see <see cref="FaceSelection"/>).</summary>
    MultipleFaces,
    /// <summary>A face was found but it is small, cut off, or its landmarks are unstable: check it before trusting it.</summary>
    LowQuality,
    /// <summary>The photo could not be read (missing, not an image, truncated, too large): it was skipped.</summary>
    Unreadable,
}

/// <summary>CSV names of <see cref="FaceStatus"/>.</summary>
public static class FaceStatusNames
{
    /// <summary>The CSV/JSON name: ok, no_face, multiple_faces, low_quality, unreadable.</summary>
    public static string ToCsv(this FaceStatus status) => status switch
    {
        FaceStatus.Ok => "ok",
        FaceStatus.NoFace => "no_face",
        FaceStatus.MultipleFaces => "multiple_faces",
        FaceStatus.LowQuality => "low_quality",
        FaceStatus.Unreadable => "unreadable",
        _ => status.ToString().ToLowerInvariant(),
    };

    /// <summary>Parses a CSV name.</summary>
    public static FaceStatus Parse(string name) => name switch
    {
        "ok" => FaceStatus.Ok,
        "no_face" => FaceStatus.NoFace,
        "multiple_faces" => FaceStatus.MultipleFaces,
        "low_quality" => FaceStatus.LowQuality,
        "unreadable" => FaceStatus.Unreadable,
        _ => throw new FormatException($"unknown face status '{name}'"),
    };
}
