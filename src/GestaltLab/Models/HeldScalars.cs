using TorchSharp;

namespace GestaltLab.Models;

/// <summary>
/// Scalars handed to libtorch that live as long as the process.
/// </summary>
/// <remarks>
/// Why: TorchSharp passes a <see cref="Scalar"/>'s raw native handle and does not keep the managed object alive during
/// the call. A Scalar made by an implicit conversion (<c>x.pow_(2)</c>, <c>x.clamp_min(1)</c>) — or made inside
/// TorchSharp, as <c>x.add(y)</c> and <c>x.add_(y)</c> make their default <c>alpha</c> of 1 — is unreachable once its handle
/// is read, so the GC may finalise it, freeing the native value, while libtorch still reads it. Training then failed at
/// random (see <see cref="StableBatchNorm2d"/>). Library code therefore passes every Scalar explicitly: these rooted ones
/// for constants, <c>using</c> locals for computed values (a local disposed at the end of its scope stays reachable until
/// then). Tensors have the same hazard, which a dispose scope removes by holding every tensor made inside it; see
/// docs/learning.md, "Native memory and the GC".
/// </remarks>
internal static class HeldScalars
{
    /// <summary>1 as an integer: a valid <c>alpha</c> for integral and floating tensors alike.</summary>
    internal static readonly Scalar One = 1L.ToScalar();

    /// <summary>2 as an integer (squares by <c>pow_</c>).</summary>
    internal static readonly Scalar Two = 2L.ToScalar();
}
