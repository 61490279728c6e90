using System.Buffers.Binary;
using System.Text;
using BridgeRec.IO;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Language;

public class SafeTensorsTests
{
    /// <summary>Writes a safetensors file by hand (header JSON + raw little-endian bytes).</summary>
    static void WriteRaw(string path, string headerJson, byte[] data)
    {
        byte[] h = Encoding.UTF8.GetBytes(headerJson);
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)h.Length);
        File.WriteAllBytes(path, [.. len, .. h, .. data]);
    }

    [Fact]
    public void ReadsF16AndBf16AsFloat32()
    {
        using var tmp = new TestData.TempDir();
        float[] values = [1.5f, -2.25f, 0f, 65504f];
        var data = new List<byte>();
        foreach (float v in values) { var b = new byte[2]; BinaryPrimitives.WriteHalfLittleEndian(b, (Half)v); data.AddRange(b); }
        foreach (float v in values) // bf16 = the top 16 bits of the float32 (these values are exact in bf16 except 65504)
        {
            var b = new byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)(BitConverter.SingleToInt32Bits(v) >> 16));
            data.AddRange(b);
        }
        string path = tmp.File("mixed.safetensors");
        WriteRaw(path, """{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]}}""", data.ToArray());
        var t = SafeTensors.Load(path);
        Assert.Equal(new long[] { 2, 2 }, t["h"].shape);
        Assert.Equal(values, t["h"].data<float>().ToArray());
        float[] bf = t["b"].data<float>().ToArray();
        Assert.Equal(new[] { 1.5f, -2.25f, 0f }, bf[..3]);
        Assert.Equal(65280f, bf[3]); // 65504 truncated to bf16's 8-bit mantissa
    }

    [Fact]
    public void F32RoundTripIsExactAndAlignedAndUnsupportedDtypesAreNamed()
    {
        using var tmp = new TestData.TempDir();
        manual_seed(9);
        var a = randn(3, 5);
        var b = randn(7);
        string path = tmp.File("x.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b }, new Dictionary<string, string> { ["k"] = "v" });
        var (entries, meta, dataStart) = SafeTensors.ReadHeader(path);
        Assert.Equal(0, dataStart % 8);
        Assert.Equal("v", meta["k"]);
        Assert.Equal(["a", "b"], entries.Select(e => e.Name));
        var back = SafeTensors.Load(path);
        Assert.True(equal(a, back["a"]).all().item<bool>());
        Assert.True(equal(b, back["b"]).all().item<bool>());

        WriteRaw(path, """{"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.Contains("'i'", e.Message);
        Assert.Contains("I64", e.Message);
        Assert.Contains(tmp.File("missing.safetensors"), Assert.Throws<FileNotFoundException>(() => SafeTensors.Load(tmp.File("missing.safetensors"))).Message);
    }
}
