using System.Text;

namespace GestaltLab.Data;

/// <summary>
/// A 64-bit hash that is the same on every machine, process and .NET version (unlike <see cref="string.GetHashCode()"/>),
/// used wherever a seed must decide something reproducibly: split assignment, per-image random streams.
/// </summary>
public static class StableHash
{
    /// <summary>Hash of a seed and a text (FNV-1a over UTF-8, then a SplitMix64 finaliser).</summary>
    public static ulong Of(long seed, string text)
    {
        ulong h = 14695981039346656037UL ^ Mix((ulong)seed);
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            h ^= b;
            h *= 1099511628211UL;
        }
        return Mix(h);
    }

    /// <summary>Hash of a seed and a sequence of integers (e.g. seed, image index, stream id).</summary>
    public static ulong Of(long seed, params ReadOnlySpan<long> values)
    {
        ulong h = Mix((ulong)seed);
        foreach (long v in values) h = Mix(h ^ Mix((ulong)v + 0x9E3779B97F4A7C15UL));
        return h;
    }

    /// <summary>SplitMix64's finaliser: a bijective 64-bit mix.</summary>
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
