using BridgeRec.Language;

namespace BridgeRec.Tests.Language;

/// <summary>A protobuf writer for tests: just enough to hand-make ONNX messages.</summary>
public sealed class ProtoWriter
{
    readonly MemoryStream _out = new();

    public byte[] ToArray() => _out.ToArray();

    public ProtoWriter Varint(ulong v)
    {
        while (v >= 0x80) { _out.WriteByte((byte)(v | 0x80)); v >>= 7; }
        _out.WriteByte((byte)v);
        return this;
    }

    public ProtoWriter Key(int field, WireType wire) => Varint(((ulong)field << 3) | (ulong)wire);
    public ProtoWriter Int(int field, long v) => Key(field, WireType.Varint).Varint(unchecked((ulong)v));
    public ProtoWriter Bytes(int field, byte[] b) { Key(field, WireType.LengthDelimited).Varint((ulong)b.Length); _out.Write(b); return this; }
    public ProtoWriter String(int field, string s) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(s));
    public ProtoWriter Message(int field, ProtoWriter m) => Bytes(field, m.ToArray());
    public ProtoWriter Fixed32(int field, uint v) { Key(field, WireType.Fixed32); _out.Write(BitConverter.GetBytes(v)); return this; }
    public ProtoWriter Fixed64(int field, ulong v) { Key(field, WireType.Fixed64); _out.Write(BitConverter.GetBytes(v)); return this; }

    public ProtoWriter PackedInt64(int field, IEnumerable<long> values)
    {
        var inner = new ProtoWriter();
        foreach (long v in values) inner.Varint(unchecked((ulong)v));
        return Bytes(field, inner.ToArray());
    }

    public ProtoWriter PackedFloats(int field, float[] values)
    {
        var b = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, b, 0, b.Length);
        return Bytes(field, b);
    }
}

public class OnnxProtobufTests
{
    static ulong ReadOneVarint(byte[] bytes)
    {
        var r = new ProtobufReader(bytes, "test bytes");
        ulong v = r.ReadVarint();
        Assert.Equal(0, r.Remaining);
        return v;
    }

    [Theory]
    [InlineData(new byte[] { 0x00 }, 0UL)]
    [InlineData(new byte[] { 0x01 }, 1UL)]
    [InlineData(new byte[] { 0x7F }, 127UL)]
    [InlineData(new byte[] { 0x80, 0x01 }, 128UL)]
    [InlineData(new byte[] { 0xAC, 0x02 }, 300UL)]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F }, 0xFFFF_FFFFUL)]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, ulong.MaxValue)]
    public void VarintsDecode(byte[] bytes, ulong expected) => Assert.Equal(expected, ReadOneVarint(bytes));

    [Fact]
    public void NegativeInt64TakesTenBytes()
    {
        byte[] minusOne = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        Assert.Equal(-1L, new ProtobufReader(minusOne).ReadInt64());
        byte[] minusTwo = [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        Assert.Equal(-2L, new ProtobufReader(minusTwo).ReadInt64());
        byte[] min = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        Assert.Equal(long.MinValue, new ProtobufReader(min).ReadInt64());
        // int32 negatives are sign-extended to the same 10 bytes.
        Assert.Equal(-1, new ProtobufReader(minusOne).ReadInt32());
        // The writer and reader agree on every edge value.
        foreach (long v in new[] { 0L, 1L, -1L, 150L, -150L, int.MaxValue, int.MinValue, long.MaxValue, long.MinValue })
        {
            byte[] b = new ProtoWriter().Varint(unchecked((ulong)v)).ToArray();
            Assert.Equal(v < 0 ? 10 : b.Length, b.Length);
            Assert.Equal(v, new ProtobufReader(b).ReadInt64());
        }
    }

    [Fact]
    public void ZigZagDecodes()
    {
        Assert.Equal(0L, new ProtobufReader(new byte[] { 0 }).ReadSInt64());
        Assert.Equal(-1L, new ProtobufReader(new byte[] { 1 }).ReadSInt64());
        Assert.Equal(1L, new ProtobufReader(new byte[] { 2 }).ReadSInt64());
        Assert.Equal(-2L, new ProtobufReader(new byte[] { 3 }).ReadSInt64());
    }

    [Fact]
    public void TruncatedVarintIsAClearError()
    {
        var e = Assert.Throws<InvalidDataException>(() => ReadOneVarint([0x80, 0x80]));
        Assert.Contains("test bytes", e.Message);
        Assert.Contains("truncated varint", e.Message);
        Assert.Contains("byte 0", e.Message);
    }

    [Fact]
    public void OverlongVarintIsAClearError()
    {
        var e = Assert.Throws<InvalidDataException>(() => ReadOneVarint([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]));
        Assert.Contains("overflows 64 bits", e.Message);
        e = Assert.Throws<InvalidDataException>(() => ReadOneVarint([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00]));
        Assert.Contains("varint", e.Message);
    }

    [Fact]
    public void FieldsOfEveryWireTypeReadAndSkip()
    {
        byte[] bytes = new ProtoWriter()
            .Int(1, 150)
            .Fixed64(2, 0x0102030405060708)
            .String(3, "héllo")
            .Fixed32(4, BitConverter.SingleToUInt32Bits(1.5f))
            .Key(5, WireType.StartGroup).Int(1, 7).String(2, "in group").Key(5, WireType.EndGroup)
            .Int(6, -5)
            .ToArray();

        var r = new ProtobufReader(bytes);
        Assert.True(r.TryReadKey(out int f, out var w)); Assert.Equal((1, WireType.Varint), (f, w)); Assert.Equal(150UL, r.ReadVarint());
        Assert.True(r.TryReadKey(out f, out w)); Assert.Equal((2, WireType.Fixed64), (f, w)); Assert.Equal(0x0102030405060708UL, r.ReadFixed64());
        Assert.True(r.TryReadKey(out f, out w)); Assert.Equal((3, WireType.LengthDelimited), (f, w)); Assert.Equal("héllo", r.ReadString());
        Assert.True(r.TryReadKey(out f, out w)); Assert.Equal((4, WireType.Fixed32), (f, w)); Assert.Equal(1.5f, r.ReadFloat());
        Assert.True(r.TryReadKey(out f, out w)); Assert.Equal((5, WireType.StartGroup), (f, w)); r.Skip(w, f);
        Assert.True(r.TryReadKey(out f, out w)); Assert.Equal(6, f); Assert.Equal(-5L, r.ReadInt64());
        Assert.False(r.TryReadKey(out _, out _));

        // Skipping everything lands exactly on the end.
        var s = new ProtobufReader(bytes);
        int fields = 0;
        while (s.TryReadKey(out f, out w)) { s.Skip(w, f); fields++; }
        Assert.Equal(6, fields);
    }

    [Fact]
    public void PackedAndUnpackedRepeatedFieldsBothRead()
    {
        byte[] bytes = new ProtoWriter()
            .PackedInt64(1, [3, -1, 300])
            .Int(1, 42)
            .PackedFloats(4, [0.5f, -2f])
            .Fixed32(4, BitConverter.SingleToUInt32Bits(7f))
            .ToArray();
        var r = new ProtobufReader(bytes);
        var ints = new List<long>();
        var floats = new List<float>();
        while (r.TryReadKey(out int f, out var w))
            if (f == 1) r.ReadRepeatedInt64(w, ints, "ints");
            else r.ReadRepeatedFloat(w, floats, "floats");
        Assert.Equal([3L, -1L, 300L, 42L], ints);
        Assert.Equal([0.5f, -2f, 7f], floats);
    }

    [Fact]
    public void TruncatedFieldsAreClearErrors()
    {
        // A length that runs past the end.
        byte[] longString = [0x1A, 0x05, (byte)'a', (byte)'b'];
        var r = new ProtobufReader(longString, "x.onnx");
        Assert.True(r.TryReadKey(out _, out _));
        try { r.ReadString(); Assert.Fail("expected an error"); }
        catch (InvalidDataException e) { Assert.Contains("x.onnx: byte 1: length-delimited field of 5 bytes runs past the end (2 bytes left)", e.Message); }

        var e2 = Assert.Throws<InvalidDataException>(() => new ProtobufReader(new byte[] { 1, 2, 3 }).ReadFixed32());
        Assert.Contains("truncated fixed32", e2.Message);
        var e3 = Assert.Throws<InvalidDataException>(() => new ProtobufReader(new byte[] { 1, 2, 3, 4, 5, 6, 7 }).ReadFixed64());
        Assert.Contains("truncated fixed64", e3.Message);
        var e4 = Assert.Throws<InvalidDataException>(() => new ProtobufReader(new byte[] { 0x0E }).TryReadKey(out _, out _));
        Assert.Contains("wire type 6", e4.Message);
        var e5 = Assert.Throws<InvalidDataException>(() =>
        {
            var g = new ProtobufReader(new ProtoWriter().Key(5, WireType.StartGroup).Int(1, 1).ToArray());
            g.TryReadKey(out int f, out var w);
            g.Skip(w, f);
        });
        Assert.Contains("not closed", e5.Message);
    }

    [Fact]
    public void NestedMessagesReportAbsoluteOffsets()
    {
        // Field 7 holds a message whose inner string claims 9 bytes but has 1.
        byte[] inner = [0x0A, 0x09, (byte)'z'];
        byte[] bytes = new ProtoWriter().Int(1, 7).Bytes(7, inner).ToArray();
        var r = new ProtobufReader(bytes, "m.onnx");
        r.TryReadKey(out _, out _); r.ReadVarint();
        r.TryReadKey(out _, out _);
        var m = r.ReadMessage();
        m.TryReadKey(out _, out _);
        try { m.ReadString(); Assert.Fail("expected an error"); }
        catch (InvalidDataException e) { Assert.Contains("m.onnx: byte 5:", e.Message); }
    }

    [Fact]
    public void TruncatedModelIsAClearError()
    {
        byte[] whole = OnnxBertWeightsTests.TinyBert().ToArray();
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(whole.AsSpan(0, whole.Length - 3), "tiny.onnx"));
        Assert.StartsWith("tiny.onnx: byte ", e.Message);
        var none = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(new ProtoWriter().Int(1, 7).ToArray(), "empty.onnx"));
        Assert.Contains("no graph", none.Message);
    }
}
