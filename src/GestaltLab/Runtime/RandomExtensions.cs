namespace GestaltLab.Runtime;

/// <summary>Draws from <see cref="Random"/> that several stages need (the synthetic generator has its own stream, <c>SyntheticRandom</c>).</summary>
public static class RandomExtensions
{
    /// <summary>Standard normal by Box–Muller, two uniforms per draw (no spare kept, so the sequence depends only on the calls).</summary>
    public static double NextGaussian(this Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
