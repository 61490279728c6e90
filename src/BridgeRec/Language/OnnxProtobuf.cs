using System.Buffers.Binary;
using System.Text;

namespace BridgeRec.Language;

/// <summary>The protobuf wire types (the low 3 bits of a field key).</summary>
public enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// A forward-only reader of the protobuf wire format over bytes already in memory: field keys,
/// varints, fixed32/64 and length-delimited fields, with unknown fields skipped. Enough to read
/// ONNX files without a protobuf dependency. Every malformed input (a truncated field, a varint
/// longer than 10 bytes, a length past the end) throws <see cref="InvalidDataException"/>
/// naming the source and the byte offset.
/// </summary>
public ref struct ProtobufReader
{
    readonly ReadOnlySpan<byte> _data;
    readonly long _baseOffset;
    readonly string _source;
    int _pos;

    /// <param name="data">The message's bytes.</param>
    /// <param name="source">What the bytes are, for error messages (a file or resource name).</param>
    /// <param name="baseOffset">Where <paramref name="data"/> starts in the source, so errors give absolute offsets.</param>
    public ProtobufReader(ReadOnlySpan<byte> data, string source = "protobuf message", long baseOffset = 0)
    {
        _data = data;
        _source = source;
        _baseOffset = baseOffset;
        _pos = 0;
    }

    /// <summary>Bytes left to read.</summary>
    public readonly int Remaining => _data.Length - _pos;

    /// <summary>The absolute offset of the next byte in the source.</summary>
    public readonly long Offset => _baseOffset + _pos;

    /// <summary>Reads the next field key; false at the end of the message.</summary>
    public bool TryReadKey(out int field, out WireType wire)
    {
        if (_pos >= _data.Length) { field = 0; wire = 0; return false; }
        long at = Offset;
        ulong key = ReadVarint();
        int wireBits = (int)(key & 7);
        ulong number = key >> 3;
        if (number == 0 || number > 536_870_911)
            throw Error(at, $"field number {number} is invalid (expected 1..536870911)");
        if (wireBits > 5)
            throw Error(at, $"wire type {wireBits} of field {number} is invalid (expected 0..5)");
        field = (int)number;
        wire = (WireType)wireBits;
        return true;
    }

    /// <summary>Reads a base-128 varint of up to 10 bytes.</summary>
    public ulong ReadVarint()
    {
        long at = Offset;
        ulong result = 0;
        for (int shift = 0, i = 0; i < 10; i++, shift += 7)
        {
            if (_pos >= _data.Length)
                throw Error(at, "truncated varint: the data ends inside it");
            byte b = _data[_pos++];
            if (i == 9 && b > 1)
                throw Error(at, $"varint overflows 64 bits (10th byte is 0x{b:X2}, expected 0x00 or 0x01)");
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Error(at, "varint is longer than 10 bytes");
    }

    /// <summary>An int64 field: a varint read as two's complement (negative values take 10 bytes).</summary>
    public long ReadInt64() => unchecked((long)ReadVarint());

    /// <summary>An int32 field: negative values are sign-extended to 10 bytes on the wire.</summary>
    public int ReadInt32() => unchecked((int)ReadVarint());

    /// <summary>A sint64 field (ZigZag encoded).</summary>
    public long ReadSInt64()
    {
        ulong v = ReadVarint();
        return unchecked((long)(v >> 1) ^ -(long)(v & 1));
    }

    public uint ReadFixed32()
    {
        var bytes = Take(4, "fixed32");
        return BinaryPrimitives.ReadUInt32LittleEndian(bytes);
    }

    public ulong ReadFixed64()
    {
        var bytes = Take(8, "fixed64");
        return BinaryPrimitives.ReadUInt64LittleEndian(bytes);
    }

    public float ReadFloat() => BitConverter.UInt32BitsToSingle(ReadFixed32());

    public double ReadDouble() => BitConverter.UInt64BitsToDouble(ReadFixed64());

    /// <summary>Reads a length-delimited field's bytes, returning where they start in the source.</summary>
    public ReadOnlySpan<byte> ReadBytes(out long startOffset)
    {
        long at = Offset;
        ulong length = ReadVarint();
        if (length > (ulong)Remaining)
            throw Error(at, $"length-delimited field of {length} bytes runs past the end ({Remaining} bytes left)");
        startOffset = Offset;
        var bytes = _data.Slice(_pos, (int)length);
        _pos += (int)length;
        return bytes;
    }

    public ReadOnlySpan<byte> ReadBytes() => ReadBytes(out _);

    /// <summary>A length-delimited field read as UTF-8 text.</summary>
    public string ReadString() => Encoding.UTF8.GetString(ReadBytes());

    /// <summary>A reader over an embedded message (a length-delimited field).</summary>
    public ProtobufReader ReadMessage()
    {
        var bytes = ReadBytes(out long start);
        return new ProtobufReader(bytes, _source, start);
    }

    /// <summary>Skips a field's value of the given wire type (groups included, nested ones too).</summary>
    public void Skip(WireType wire, int field = 0)
    {
        switch (wire)
        {
            case WireType.Varint: ReadVarint(); break;
            case WireType.Fixed64: Take(8, "fixed64"); break;
            case WireType.Fixed32: Take(4, "fixed32"); break;
            case WireType.LengthDelimited: ReadBytes(); break;
            case WireType.StartGroup:
                while (true)
                {
                    long at = Offset;
                    if (!TryReadKey(out int f, out WireType w))
                        throw Error(at, $"group of field {field} is not closed before the end");
                    if (w == WireType.EndGroup)
                    {
                        if (f != field) throw Error(at, $"group of field {field} closed by an end-group of field {f}");
                        break;
                    }
                    Skip(w, f);
                }
                break;
            case WireType.EndGroup:
                throw Error(Offset, $"unexpected end-group of field {field}");
            default:
                throw Error(Offset, $"wire type {(int)wire} is invalid");
        }
    }

    /// <summary>Throws unless the field has the wire type expected for it.</summary>
    public readonly void Expect(WireType actual, WireType expected, string what)
    {
        if (actual != expected)
            throw Error(Offset, $"{what} has wire type {actual}, expected {expected}");
    }

    /// <summary>A repeated int64 field: one varint, or (packed) a length-delimited run of them.</summary>
    public void ReadRepeatedInt64(WireType wire, List<long> into, string what)
    {
        if (wire == WireType.Varint) { into.Add(ReadInt64()); return; }
        Expect(wire, WireType.LengthDelimited, what);
        var packed = ReadMessage();
        while (packed.Remaining > 0) into.Add(packed.ReadInt64());
    }

    /// <summary>A repeated float field: one fixed32, or (packed) a length-delimited run of them.</summary>
    public void ReadRepeatedFloat(WireType wire, List<float> into, string what)
    {
        if (wire == WireType.Fixed32) { into.Add(ReadFloat()); return; }
        Expect(wire, WireType.LengthDelimited, what);
        var bytes = ReadBytes(out long start);
        if (bytes.Length % 4 != 0)
            throw Error(start, $"packed {what} has {bytes.Length} bytes, not a multiple of 4");
        for (int i = 0; i < bytes.Length; i += 4)
            into.Add(BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(i, 4)));
    }

    ReadOnlySpan<byte> Take(int count, string what)
    {
        if (Remaining < count)
            throw Error(Offset, $"truncated {what}: needs {count} bytes, {Remaining} left");
        var bytes = _data.Slice(_pos, count);
        _pos += count;
        return bytes;
    }

    readonly InvalidDataException Error(long offset, string message) =>
        new($"{_source}: byte {offset}: {message}");
}
