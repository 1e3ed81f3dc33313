using GestaltLab.Runtime;

namespace GestaltLab.Faces;

/// <summary>
/// Reads dlib's serialization format (<c>dlib/serialize.h</c>) from a byte span: variable-length integers (control
/// byte: 0x80 = negative, low nibble = byte count, then little-endian magnitude) and floats as (mantissa, exponent)
/// integer pairs. Every read checks bounds so a truncated file fails with the byte offset, never with garbage.
/// </summary>
internal ref struct DlibReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _source;
    private int _pos;

    public DlibReader(ReadOnlySpan<byte> data, string source)
    {
        _data = data;
        _source = source;
        _pos = 0;
    }

    public readonly int Position => _pos;
    public readonly int Remaining => _data.Length - _pos;

    public GestaltLabException Error(string problem) =>
        new($"{_source}: {problem} (at byte {_pos} of {_data.Length})",
            "pass a dlib shape_predictor .dat file as dlib's serialize() writes it (e.g. Debian libdlib-data's shape_predictor_68_face_landmarks.dat)");

    private GestaltLabException Truncated() =>
        new($"{_source}: the file ends early at byte {_data.Length}: it is truncated (an incomplete download or copy?)",
            "copy the model file again; Debian's shape_predictor_68_face_landmarks.dat is 99,693,937 bytes");

    /// <summary>A signed integer.</summary>
    public long ReadInt64()
    {
        if (_pos >= _data.Length) throw Truncated();
        byte ctrl = _data[_pos];
        int n = ctrl & 0x0F;
        if ((ctrl & 0x70) != 0 || n == 0 || n > 8) throw Error($"invalid integer control byte 0x{ctrl:x2}");
        if (_pos + 1 + n > _data.Length) throw Truncated();
        ulong v = 0;
        for (int i = n; i >= 1; i--) v = (v << 8) | _data[_pos + i];
        _pos += 1 + n;
        if (v > long.MaxValue) throw Error("integer out of range");
        return (ctrl & 0x80) != 0 ? -(long)v : (long)v;
    }

    /// <summary>An unsigned integer (a negative sign is an error, as in dlib).</summary>
    public ulong ReadUInt64()
    {
        if (_pos >= _data.Length) throw Truncated();
        byte ctrl = _data[_pos];
        if ((ctrl & 0x80) != 0) throw Error("negative value where an unsigned integer was expected");
        return (ulong)ReadInt64();
    }

    /// <summary>A count bounded by what the rest of the stream could possibly hold (each element ≥ 1 byte).</summary>
    public int ReadCount(string what)
    {
        ulong n = ReadUInt64();
        if (n > (ulong)Remaining) throw n > int.MaxValue ? Error($"implausible {what} count {n}") : Truncated();
        return (int)n;
    }

    /// <summary>A float in dlib's portable format: value = mantissa · 2^exponent (exact in float for dlib-written data).</summary>
    public float ReadFloat()
    {
        if (_pos >= _data.Length) throw Truncated();
        if ((_data[_pos] & 0x70) != 0) throw Error("float in dlib's legacy text format, which GestaltLab does not read");
        long mantissa = ReadInt64();
        long exponent = ReadInt64();
        if (exponent >= 32000)
        {
            return exponent switch
            {
                32000 => float.PositiveInfinity,
                32001 => float.NegativeInfinity,
                32002 => float.NaN,
                _ => throw Error($"invalid float exponent {exponent}"),
            };
        }
        if (exponent < short.MinValue) throw Error($"invalid float exponent {exponent}");
        return (float)Math.ScaleB(mantissa, (int)exponent);
    }

    /// <summary>A column vector <c>matrix&lt;float,0,1&gt;</c>: rows, cols (negative in the new format), then values.</summary>
    public float[] ReadFloatColumn(string what, int expectedRows = -1)
    {
        long nr = Math.Abs(ReadInt64()), nc = Math.Abs(ReadInt64());
        if (nc != 1 && !(nr == 0 && nc == 0)) throw Error($"{what} is a {nr}×{nc} matrix, expected a column vector");
        if (nr > Remaining) throw Truncated();
        if (expectedRows >= 0 && nr != expectedRows) throw Error($"{what} has {nr} values, expected {expectedRows}");
        var v = new float[nr];
        for (int i = 0; i < v.Length; i++) v[i] = ReadFloat();
        return v;
    }

    /// <summary>Reads a column vector of known length straight into <paramref name="destination"/>.</summary>
    public void ReadFloatColumnInto(Span<float> destination, string what)
    {
        long nr = Math.Abs(ReadInt64()), nc = Math.Abs(ReadInt64());
        if (nc != 1 || nr != destination.Length)
            throw Error($"{what} is a {nr}×{nc} matrix, expected {destination.Length}×1");
        for (int i = 0; i < destination.Length; i++) destination[i] = ReadFloat();
    }
}
