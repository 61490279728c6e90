using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace BridgeRec.Language;

/// <summary>ONNX's TensorProto.DataType values that this reader knows by name.</summary>
public enum OnnxDataType
{
    Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7,
    String = 8, Bool = 9, Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, BFloat16 = 16,
}

/// <summary>One graph node: which values it reads and writes, and what it computes.</summary>
public sealed record OnnxNode(string Name, string OpType, string Domain, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs)
{
    /// <summary>The node's integer attributes (AttributeProto.i), such as Gemm's transB; other attribute kinds are not kept.</summary>
    public IReadOnlyDictionary<string, long> IntAttributes { get; init; } = new Dictionary<string, long>();

    /// <summary>The node's tensor attributes (AttributeProto.t), such as a Constant node's value.</summary>
    public IReadOnlyDictionary<string, OnnxTensor> TensorAttributes { get; init; } = new Dictionary<string, OnnxTensor>();
}

/// <summary>
/// One initializer. Float tensors carry their values in <see cref="Data"/>; integer tensors
/// (INT64/INT32, typically shape constants) in <see cref="Int64Data"/>; any other type keeps
/// only its name, type and shape.
/// </summary>
public sealed class OnnxTensor
{
    public required string Name { get; init; }
    public required OnnxDataType DataType { get; init; }
    public required long[] Dims { get; init; }
    /// <summary>Row-major values of a FLOAT tensor; empty for other types.</summary>
    public float[] Data { get; init; } = [];
    /// <summary>Row-major values of an INT64 or INT32 tensor; empty for other types.</summary>
    public long[] Int64Data { get; init; } = [];

    /// <summary>Number of elements (1 for a scalar).</summary>
    public long ElementCount => Dims.Aggregate(1L, (a, d) => a * d);

    public override string ToString() => $"{Name} {DataType}[{string.Join(",", Dims)}]";
}

/// <summary>
/// The parts of an ONNX ModelProto that porting weights needs: the graph's nodes, its
/// initializers (dense, stored inside the file) and the names of its inputs and outputs.
/// Field numbers follow onnx.proto: ModelProto.graph = 7; GraphProto node = 1,
/// initializer = 5, input = 11, output = 12, sparse_initializer = 15; NodeProto input = 1,
/// output = 2, name = 3, op_type = 4, attribute = 5, domain = 7; AttributeProto name = 1, i = 3, t = 5; TensorProto dims = 1, data_type = 2,
/// segment = 3, float_data = 4, int32_data = 5, int64_data = 7, name = 8, raw_data = 9,
/// external_data = 13, data_location = 14; ValueInfoProto name = 1.
/// </summary>
public sealed class OnnxModel
{
    public long IrVersion { get; private init; }
    public string ProducerName { get; private init; } = "";
    public string ProducerVersion { get; private init; } = "";
    /// <summary>Opset version per domain ("" is the default ONNX domain).</summary>
    public IReadOnlyDictionary<string, long> OpsetImports { get; private init; } = new Dictionary<string, long>();
    public IReadOnlyList<OnnxNode> Nodes { get; private init; } = [];
    /// <summary>Initializers by name, in file order when enumerated through <see cref="InitializerOrder"/>.</summary>
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; private init; } = new Dictionary<string, OnnxTensor>();
    public IReadOnlyList<string> InitializerOrder { get; private init; } = [];
    public IReadOnlyList<string> InputNames { get; private init; } = [];
    public IReadOnlyList<string> OutputNames { get; private init; } = [];

    /// <summary>Reads a model file.</summary>
    public static OnnxModel Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: ONNX file not found", path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Read(fs, path);
    }

    /// <summary>Reads a model from a stream (read to its end). <paramref name="source"/> names it in errors.</summary>
    public static unsafe OnnxModel Read(Stream stream, string source = "ONNX model")
    {
        // An embedded resource is already mapped in memory: parse it in place rather than copy 90 MB.
        if (stream is UnmanagedMemoryStream ums && ums.Length - ums.Position <= int.MaxValue)
        {
            var span = new ReadOnlySpan<byte>(ums.PositionPointer, checked((int)(ums.Length - ums.Position)));
            var model = Parse(span, source);
            ums.Seek(0, SeekOrigin.End);
            return model;
        }
        if (stream is MemoryStream ms && ms.TryGetBuffer(out var buffer))
        {
            var model = Parse(buffer.AsSpan((int)ms.Position), source);
            ms.Seek(0, SeekOrigin.End);
            return model;
        }
        using var copy = stream.CanSeek ? new MemoryStream(checked((int)(stream.Length - stream.Position))) : new MemoryStream();
        stream.CopyTo(copy);
        return Parse(copy.GetBuffer().AsSpan(0, (int)copy.Length), source);
    }

    /// <summary>Parses a serialized ModelProto.</summary>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes, string source = "ONNX model")
    {
        var r = new ProtobufReader(bytes, source);
        long irVersion = 0;
        string producer = "", producerVersion = "";
        var opsets = new Dictionary<string, long>();
        Graph? graph = null;
        while (r.TryReadKey(out int field, out WireType wire))
        {
            switch (field)
            {
                case 1 when wire == WireType.Varint: irVersion = r.ReadInt64(); break;
                case 2 when wire == WireType.LengthDelimited: producer = r.ReadString(); break;
                case 3 when wire == WireType.LengthDelimited: producerVersion = r.ReadString(); break;
                case 7:
                    r.Expect(wire, WireType.LengthDelimited, "ModelProto.graph");
                    if (graph != null) throw new InvalidDataException($"{source}: byte {r.Offset}: ModelProto has two graphs");
                    var g = r.ReadMessage();
                    graph = ReadGraph(ref g, source);
                    break;
                case 8 when wire == WireType.LengthDelimited:
                    var o = r.ReadMessage();
                    var (domain, version) = ReadOpset(ref o);
                    opsets[domain] = version;
                    break;
                default: r.Skip(wire, field); break;
            }
        }
        if (graph == null)
            throw new InvalidDataException($"{source}: no graph (ModelProto field 7) found; is this an ONNX model?");
        return new OnnxModel
        {
            IrVersion = irVersion,
            ProducerName = producer,
            ProducerVersion = producerVersion,
            OpsetImports = opsets,
            Nodes = graph.Nodes,
            Initializers = graph.Initializers,
            InitializerOrder = graph.InitializerOrder,
            InputNames = graph.Inputs,
            OutputNames = graph.Outputs,
        };
    }

    sealed record Graph(List<OnnxNode> Nodes, Dictionary<string, OnnxTensor> Initializers, List<string> InitializerOrder, List<string> Inputs, List<string> Outputs);

    static Graph ReadGraph(ref ProtobufReader r, string source)
    {
        var graph = new Graph([], new Dictionary<string, OnnxTensor>(StringComparer.Ordinal), [], [], []);
        while (r.TryReadKey(out int field, out WireType wire))
        {
            switch (field)
            {
                case 1:
                    r.Expect(wire, WireType.LengthDelimited, "GraphProto.node");
                    var n = r.ReadMessage();
                    graph.Nodes.Add(ReadNode(ref n, source));
                    break;
                case 5:
                    r.Expect(wire, WireType.LengthDelimited, "GraphProto.initializer");
                    long at = r.Offset;
                    var t = r.ReadMessage();
                    var tensor = ReadTensor(ref t, source);
                    if (tensor.Name.Length == 0)
                        throw new InvalidDataException($"{source}: byte {at}: initializer #{graph.InitializerOrder.Count} has no name");
                    if (!graph.Initializers.TryAdd(tensor.Name, tensor))
                        throw new InvalidDataException($"{source}: byte {at}: initializer '{tensor.Name}' appears twice");
                    graph.InitializerOrder.Add(tensor.Name);
                    break;
                case 11 or 12:
                    r.Expect(wire, WireType.LengthDelimited, field == 11 ? "GraphProto.input" : "GraphProto.output");
                    var v = r.ReadMessage();
                    (field == 11 ? graph.Inputs : graph.Outputs).Add(ReadValueInfoName(ref v));
                    break;
                case 15:
                    throw new InvalidDataException($"{source}: byte {r.Offset}: the graph has sparse initializers (GraphProto field 15), which this reader does not support");
                default: r.Skip(wire, field); break;
            }
        }
        return graph;
    }

    static OnnxNode ReadNode(ref ProtobufReader r, string source)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var ints = new Dictionary<string, long>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        string name = "", op = "", domain = "";
        while (r.TryReadKey(out int field, out WireType wire))
        {
            switch (field)
            {
                case 1 when wire == WireType.LengthDelimited: inputs.Add(r.ReadString()); break;
                case 2 when wire == WireType.LengthDelimited: outputs.Add(r.ReadString()); break;
                case 3 when wire == WireType.LengthDelimited: name = r.ReadString(); break;
                case 4 when wire == WireType.LengthDelimited: op = r.ReadString(); break;
                case 7 when wire == WireType.LengthDelimited: domain = r.ReadString(); break;
                case 5 when wire == WireType.LengthDelimited:
                    var a = r.ReadMessage();
                    var (key, value, t) = ReadAttribute(ref a, source);
                    if (key.Length == 0) break;
                    if (value is long v) ints[key] = v;
                    if (t is not null) tensors[key] = t;
                    break;
                default: r.Skip(wire, field); break;
            }
        }
        return new OnnxNode(name, op, domain, inputs, outputs) { IntAttributes = ints, TensorAttributes = tensors };
    }

    /// <summary>AttributeProto: name = 1, i = 3 (int64), t = 5 (TensorProto); other kinds are skipped.</summary>
    static (string Name, long? Int, OnnxTensor? Tensor) ReadAttribute(ref ProtobufReader r, string source)
    {
        string name = "";
        long? value = null;
        OnnxTensor? tensor = null;
        while (r.TryReadKey(out int field, out WireType wire))
        {
            if (field == 1 && wire == WireType.LengthDelimited) name = r.ReadString();
            else if (field == 3 && wire == WireType.Varint) value = r.ReadInt64();
            else if (field == 5 && wire == WireType.LengthDelimited)
            {
                var t = r.ReadMessage();
                tensor = ReadTensor(ref t, source);
            }
            else r.Skip(wire, field);
        }
        return (name, value, tensor);
    }

    static string ReadValueInfoName(ref ProtobufReader r)
    {
        string name = "";
        while (r.TryReadKey(out int field, out WireType wire))
        {
            if (field == 1 && wire == WireType.LengthDelimited) name = r.ReadString();
            else r.Skip(wire, field);
        }
        return name;
    }

    static (string Domain, long Version) ReadOpset(ref ProtobufReader r)
    {
        string domain = "";
        long version = 0;
        while (r.TryReadKey(out int field, out WireType wire))
        {
            if (field == 1 && wire == WireType.LengthDelimited) domain = r.ReadString();
            else if (field == 2 && wire == WireType.Varint) version = r.ReadInt64();
            else r.Skip(wire, field);
        }
        return (domain, version);
    }

    static OnnxTensor ReadTensor(ref ProtobufReader r, string source)
    {
        long start = r.Offset;
        var dims = new List<long>();
        int dataType = 0;
        string name = "";
        ReadOnlySpan<byte> raw = default;
        bool hasRaw = false;
        var floats = new List<float>();
        var ints = new List<long>();
        bool external = false;
        while (r.TryReadKey(out int field, out WireType wire))
        {
            switch (field)
            {
                case 1: r.ReadRepeatedInt64(wire, dims, "TensorProto.dims"); break;
                case 2: r.Expect(wire, WireType.Varint, "TensorProto.data_type"); dataType = r.ReadInt32(); break;
                case 3:
                    throw new InvalidDataException($"{source}: byte {start}: tensor '{name}' is stored in segments (TensorProto.segment), which this reader does not support");
                case 4: r.ReadRepeatedFloat(wire, floats, "TensorProto.float_data"); break;
                case 5 or 7: r.ReadRepeatedInt64(wire, ints, field == 5 ? "TensorProto.int32_data" : "TensorProto.int64_data"); break;
                case 8: r.Expect(wire, WireType.LengthDelimited, "TensorProto.name"); name = r.ReadString(); break;
                case 9: r.Expect(wire, WireType.LengthDelimited, "TensorProto.raw_data"); raw = r.ReadBytes(); hasRaw = true; break;
                case 13: external = true; r.Skip(wire, field); break;
                case 14:
                    r.Expect(wire, WireType.Varint, "TensorProto.data_location");
                    if (r.ReadInt32() == 1) external = true;
                    break;
                default: r.Skip(wire, field); break;
            }
        }
        string label = name.Length > 0 ? $"tensor '{name}'" : "unnamed tensor";
        if (external)
            throw new InvalidDataException($"{source}: byte {start}: {label} keeps its data in an external file (TensorProto.external_data), which this reader does not support; save the model with its data inside");
        foreach (long d in dims)
            if (d < 0) throw new InvalidDataException($"{source}: byte {start}: {label} has a negative dimension {d} in [{string.Join(",", dims)}]");
        long count = dims.Aggregate(1L, (a, d) => checked(a * d));
        var type = (OnnxDataType)dataType;
        float[] data = [];
        long[] int64 = [];
        switch (type)
        {
            case OnnxDataType.Float:
                data = hasRaw ? FloatsFromRaw(raw, count, label, source, start)
                     : floats.Count == count ? floats.ToArray()
                     : throw new InvalidDataException($"{source}: byte {start}: {label} has shape [{string.Join(",", dims)}] ({count} values) but {floats.Count} float_data values");
                break;
            case OnnxDataType.Int64 or OnnxDataType.Int32:
                int width = type == OnnxDataType.Int64 ? 8 : 4;
                if (hasRaw)
                {
                    if (raw.Length != count * width)
                        throw new InvalidDataException($"{source}: byte {start}: {label} has shape [{string.Join(",", dims)}] ({count} values of {width} bytes) but {raw.Length} bytes of raw_data");
                    int64 = new long[count];
                    for (int i = 0; i < count; i++)
                        int64[i] = width == 8 ? BinaryPrimitives.ReadInt64LittleEndian(raw.Slice(i * 8, 8))
                                              : BinaryPrimitives.ReadInt32LittleEndian(raw.Slice(i * 4, 4));
                }
                else if (ints.Count == count) int64 = ints.ToArray();
                else throw new InvalidDataException($"{source}: byte {start}: {label} has shape [{string.Join(",", dims)}] ({count} values) but {ints.Count} integer values");
                break;
        }
        return new OnnxTensor { Name = name, DataType = type, Dims = dims.ToArray(), Data = data, Int64Data = int64 };
    }

    static float[] FloatsFromRaw(ReadOnlySpan<byte> raw, long count, string label, string source, long start)
    {
        if (raw.Length != count * 4)
            throw new InvalidDataException($"{source}: byte {start}: {label} has {count} float values by its shape but {raw.Length} bytes of raw_data (expected {count * 4})");
        var data = new float[count];
        if (BitConverter.IsLittleEndian) raw.CopyTo(MemoryMarshal.AsBytes(data.AsSpan()));
        else for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(i * 4, 4));
        return data;
    }
}
