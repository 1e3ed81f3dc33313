using GestaltLab.Data;

namespace GestaltLab.Synthetic;

/// <summary>
/// The generator's random stream: xoshiro256** seeded through SplitMix64, with the same sequence on every machine and
/// .NET version (unlike <see cref="Random"/>, whose algorithm is an implementation detail). Not thread-safe: each
/// subject and each image gets its own stream derived from the seed (<see cref="For"/>), so multi-threaded
/// rendering stays byte-identical.
/// </summary>
public sealed class SyntheticRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double? _spare;

    /// <summary>A stream from a 64-bit seed.</summary>
    public SyntheticRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = StableHash.Mix(x); x += 0x9E3779B97F4A7C15UL;
        _s1 = StableHash.Mix(x); x += 0x9E3779B97F4A7C15UL;
        _s2 = StableHash.Mix(x); x += 0x9E3779B97F4A7C15UL;
        _s3 = StableHash.Mix(x);
        if ((_s0 | _s1 | _s2 | _s3) == 0) _s0 = 1;
    }

    /// <summary>An independent stream for (seed, purpose, index…), e.g. <c>For(seed, Streams.Image, imageIndex)</c>.</summary>
    public static SyntheticRandom For(long seed, params ReadOnlySpan<long> path) => new(StableHash.Of(seed, path));

    /// <summary>Next raw 64 bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => n <= 0 ? throw new ArgumentOutOfRangeException(nameof(n)) : (int)((NextUInt64() >> 33) * (ulong)n >> 31);

    /// <summary>Standard normal (Box–Muller; the spare value is used next).</summary>
    public double Gaussian()
    {
        if (_spare is double s) { _spare = null; return s; }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spare = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Normal with mean and SD, clipped to ±<paramref name="clip"/> SD.</summary>
    public double Gaussian(double mean, double sd, double clip = 3) => mean + sd * Math.Clamp(Gaussian(), -clip, clip);

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Index drawn with probability proportional to <paramref name="weights"/>.</summary>
    public int Pick(IReadOnlyList<double> weights)
    {
        double total = 0;
        foreach (var w in weights) total += w;
        double x = NextDouble() * total;
        for (int i = 0; i < weights.Count; i++)
        {
            x -= weights[i];
            if (x < 0) return i;
        }
        return weights.Count - 1;
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));
}
