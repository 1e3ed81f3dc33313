using System.Text;

namespace GestaltLab.Models;

/// <summary>
/// A minimal ONNX model writer: the protobuf wire encoding of the few messages GestaltLab's graphs need (ModelProto,
/// GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto), with the field numbers of onnx/onnx.proto.
/// TorchSharp has no ONNX exporter; the region nets are simple enough to write their graph directly.
/// </summary>
public sealed class OnnxGraph
{
    private readonly List<byte[]> _nodes = [], _initializers = [], _inputs = [], _outputs = [];
    private int _counter;

    /// <summary>Graph name.</summary>
    public string Name { get; init; } = "gestaltlab";

    /// <summary>A fresh value name with the prefix.</summary>
    public string Fresh(string prefix) => $"{prefix}_{_counter++}";

    /// <summary>Adds a float32 graph input of the given shape (a null dim is the symbolic batch dim <c>N</c>).</summary>
    public void Input(string name, params long?[] shape) => _inputs.Add(ValueInfo(name, shape));

    /// <summary>Adds a float32 graph output.</summary>
    public void Output(string name, params long?[] shape) => _outputs.Add(ValueInfo(name, shape));

    /// <summary>Adds a float32 initializer.</summary>
    public string Initializer(string name, float[] data, params long[] dims) => Initializer(name, 1, data.Length * 4, data, dims); // FLOAT

    /// <summary>Adds an int64 initializer.</summary>
    public string Initializer(string name, long[] data, params long[] dims) => Initializer(name, 7, data.Length * 8, data, dims); // INT64

    private string Initializer(string name, ulong dataType, int byteCount, Array data, long[] dims)
    {
        var w = new ProtoWriter();
        foreach (long d in dims) w.Varint(1, (ulong)d);
        w.Varint(2, dataType);
        w.String(8, name);
        var raw = new byte[byteCount];
        Buffer.BlockCopy(data, 0, raw, 0, raw.Length);
        w.Bytes(9, raw);
        _initializers.Add(w.ToArray());
        return name;
    }

    /// <summary>Adds a node; attributes are <c>long</c>, <c>long[]</c> or <c>float</c>.</summary>
    public string Node(string opType, string[] inputs, string output, params (string Name, object Value)[] attributes)
    {
        Node(opType, inputs, [output], attributes);
        return output;
    }

    /// <summary>Adds a node with several outputs.</summary>
    public void Node(string opType, string[] inputs, string[] outputs, params (string Name, object Value)[] attributes)
    {
        var w = new ProtoWriter();
        foreach (var i in inputs) w.String(1, i);
        foreach (var o in outputs) w.String(2, o);
        w.String(3, Fresh(opType));
        w.String(4, opType);
        foreach (var (name, value) in attributes)
        {
            var a = new ProtoWriter();
            a.String(1, name);
            switch (value)
            {
                case long l: a.Varint(3, (ulong)l); a.Varint(20, 2); break;                   // INT
                case int i: a.Varint(3, (ulong)(long)i); a.Varint(20, 2); break;
                case float f: a.Fixed32(2, BitConverter.SingleToUInt32Bits(f)); a.Varint(20, 1); break; // FLOAT
                case long[] ls: foreach (var l in ls) a.Varint(8, (ulong)l); a.Varint(20, 7); break;      // INTS
                default: throw new ArgumentException($"attribute {name}: unsupported type {value.GetType()}");
            }
            w.Message(5, a);
        }
        _nodes.Add(w.ToArray());
    }

    /// <summary>The serialised ModelProto (IR version 8, default-domain opset 13).</summary>
    public byte[] ToModelBytes(string producerVersion = "0.1.0", string? docString = null)
    {
        var g = new ProtoWriter();
        foreach (var n in _nodes) g.Bytes(1, n);
        g.String(2, Name);
        foreach (var i in _initializers) g.Bytes(5, i);
        if (docString is not null) g.String(10, docString);
        foreach (var i in _inputs) g.Bytes(11, i);
        foreach (var o in _outputs) g.Bytes(12, o);

        var m = new ProtoWriter();
        m.Varint(1, 8);                          // ir_version
        m.String(2, "GestaltLab");               // producer_name
        m.String(3, producerVersion);            // producer_version
        m.Message(7, g);                         // graph
        var opset = new ProtoWriter();
        opset.String(1, "");
        opset.Varint(2, 13);
        m.Message(8, opset);                     // opset_import
        return m.ToArray();
    }

    private static byte[] ValueInfo(string name, long?[] shape)
    {
        var shapeW = new ProtoWriter();
        foreach (var d in shape)
        {
            var dim = new ProtoWriter();
            if (d is { } v) dim.Varint(1, (ulong)v); else dim.String(2, "N");
            shapeW.Message(1, dim);
        }
        var tensor = new ProtoWriter();
        tensor.Varint(1, 1); // elem_type FLOAT
        tensor.Message(2, shapeW);
        var type = new ProtoWriter();
        type.Message(1, tensor); // tensor_type
        var vi = new ProtoWriter();
        vi.String(1, name);
        vi.Message(2, type);
        return vi.ToArray();
    }

    /// <summary>Protobuf wire-format writer (varint, fixed32, length-delimited).</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _s = new();

        public void Varint(int field, ulong value)
        {
            Raw(((ulong)field << 3) | 0);
            Raw(value);
        }

        public void Fixed32(int field, uint value)
        {
            Raw(((ulong)field << 3) | 5);
            Span<byte> b = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            _s.Write(b);
        }

        public void Bytes(int field, byte[] bytes)
        {
            Raw(((ulong)field << 3) | 2);
            Raw((ulong)bytes.Length);
            _s.Write(bytes);
        }

        public void String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));
        public void Message(int field, ProtoWriter inner) => Bytes(field, inner.ToArray());
        public byte[] ToArray() => _s.ToArray();

        private void Raw(ulong v)
        {
            while (v >= 0x80)
            {
                _s.WriteByte((byte)(v | 0x80));
                v >>= 7;
            }
            _s.WriteByte((byte)v);
        }
    }
}
