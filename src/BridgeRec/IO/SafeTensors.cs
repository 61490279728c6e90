using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.IO;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to its dtype, shape and byte range, then the raw little-endian data. It is the
/// project's checkpoint format. Reads F32, F16 and BF16 (converted to float32); writes F32.
/// </summary>
public static class SafeTensors
{
    const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>Writes the tensors (as float32, on the CPU) atomically: a temporary file, then a rename.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        var ordered = tensors.OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        var blobs = new List<Tensor>(ordered.Count);
        foreach (var (name, t) in ordered)
        {
            var cpu = t.detach().to(ScalarType.Float32).cpu().contiguous();
            blobs.Add(cpu);
            long bytes = cpu.numel() * 4;
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(cpu.shape.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        byte[] json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8; // keep the data 8-byte aligned, as the reference writer does
        string tmp = path + ".tmp-" + Environment.ProcessId;
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)(json.Length + pad));
            fs.Write(len);
            fs.Write(json);
            for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
            foreach (var b in blobs)
            {
                if (BitConverter.IsLittleEndian) fs.Write(b.bytes);
                else throw new PlatformNotSupportedException("safetensors writing needs a little-endian machine");
                b.Dispose();
            }
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>One tensor's entry in a file's header.</summary>
    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    /// <summary>Reads and validates the header: names, dtypes, shapes and byte ranges.</summary>
    public static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(string path)
    {
        using var fs = OpenRead(path);
        return ReadHeader(fs, path);
    }

    static FileStream OpenRead(string path) =>
        File.Exists(path) ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read)
                          : throw new FileNotFoundException($"{path}: safetensors file not found", path);

    static (List<Entry>, Dictionary<string, string>, long) ReadHeader(FileStream fs, string path)
    {
        Span<byte> len = stackalloc byte[8];
        if (fs.Read(len) != 8) throw new InvalidDataException($"{path}: truncated safetensors file (no 8-byte header length)");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n == 0 || n > (ulong)MaxHeaderBytes || (long)n > fs.Length - 8)
            throw new InvalidDataException($"{path}: corrupt safetensors header length {n} (file is {fs.Length} bytes)");
        byte[] json = new byte[n];
        fs.ReadExactly(json);
        JsonNode? root;
        try { root = JsonNode.Parse(json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: corrupt safetensors header: {e.Message}"); }
        if (root is not JsonObject obj) throw new InvalidDataException($"{path}: safetensors header is not a JSON object");
        long dataStart = 8 + (long)n, dataLen = fs.Length - dataStart;
        var entries = new List<Entry>();
        var meta = new Dictionary<string, string>();
        foreach (var (name, node) in obj)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject m) foreach (var (k, v) in m) meta[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            try
            {
                string dtype = node!["dtype"]!.GetValue<string>();
                long[] shape = node["shape"]!.AsArray().Select(s => s!.GetValue<long>()).ToArray();
                var offs = node["data_offsets"]!.AsArray();
                long b = offs[0]!.GetValue<long>(), e = offs[1]!.GetValue<long>();
                long expected = shape.Aggregate(1L, (a, s) => a * s) * ElementSize(dtype, path, name);
                if (b < 0 || e < b || e > dataLen)
                    throw new InvalidDataException($"{path}: tensor '{name}' has data_offsets [{b}, {e}] outside the {dataLen}-byte data section (truncated file?)");
                if (e - b != expected)
                    throw new InvalidDataException($"{path}: tensor '{name}' has {e - b} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {expected}");
                entries.Add(new Entry(name, dtype, shape, b, e));
            }
            catch (Exception ex) when (ex is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: malformed header entry for tensor '{name}'");
            }
        }
        return (entries, meta, dataStart);
    }

    static int ElementSize(string dtype, string path, string name) => dtype switch
    {
        "F32" => 4,
        "F16" or "BF16" => 2,
        _ => throw new InvalidDataException($"{path}: tensor '{name}' has dtype {dtype}; supported: F32, F16, BF16"),
    };

    /// <summary>Loads every tensor as float32 on the CPU.</summary>
    public static Dictionary<string, Tensor> Load(string path) => Load(path, out _);

    public static Dictionary<string, Tensor> Load(string path, out Dictionary<string, string> metadata)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        metadata = ForEach(path, (name, t) => { result[name] = t; return true; });
        return result;
    }

    /// <summary>
    /// Reads the tensors one at a time as float32 on the CPU and hands each to <paramref name="use"/>, which keeps it
    /// (returns true) or lets it be disposed at once (false): a large checkpoint never sits in memory twice.
    /// Returns the header's metadata.
    /// </summary>
    public static Dictionary<string, string> ForEach(string path, Func<string, Tensor, bool> use)
    {
        using var fs = OpenRead(path);
        var (entries, meta, dataStart) = ReadHeader(fs, path);
        foreach (var e in entries)
        {
            byte[] raw = new byte[e.End - e.Begin];
            fs.Position = dataStart + e.Begin;
            fs.ReadExactly(raw);
            var t = zeros(e.Shape, ScalarType.Float32);
            var dst = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.bytes);
            switch (e.DType)
            {
                case "F32":
                    raw.AsSpan().CopyTo(t.bytes);
                    break;
                case "F16":
                    for (int k = 0; k < dst.Length; k++)
                        dst[k] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * k)));
                    break;
                case "BF16":
                    for (int k = 0; k < dst.Length; k++)
                        dst[k] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(2 * k)) << 16);
                    break;
            }
            if (!use(e.Name, t)) t.Dispose();
        }
        return meta;
    }

    /// <summary>
    /// The weight files of a Hugging Face folder: model.safetensors, or the shards that model.safetensors.index.json
    /// names (each once, in the index's order), with the file each tensor is in according to the index.
    /// </summary>
    public static (IReadOnlyList<string> Files, IReadOnlyDictionary<string, string> FileOfTensor) FolderFiles(string dir)
    {
        string single = Path.Combine(dir, "model.safetensors"), index = Path.Combine(dir, "model.safetensors.index.json");
        if (File.Exists(index))
        {
            JsonObject map;
            try
            {
                map = (JsonNode.Parse(File.ReadAllText(index)) as JsonObject)?["weight_map"] as JsonObject
                      ?? throw new InvalidDataException($"{index}: no 'weight_map' object");
            }
            catch (JsonException e) { throw new InvalidDataException($"{index}: invalid JSON: {e.Message}"); }
            var files = new List<string>();
            var fileOf = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, node) in map)
            {
                string shard = node is JsonValue v && v.TryGetValue<string>(out var f) ? f
                    : throw new InvalidDataException($"{index}: weight_map entry '{name}' is not a file name");
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new InvalidDataException($"{index}: weight_map entry '{name}' points outside the folder ({shard})");
                string full = Path.Combine(dir, shard);
                if (!files.Contains(full))
                {
                    if (!File.Exists(full)) throw new FileNotFoundException($"{index}: shard {shard} (holding '{name}') not found", full);
                    files.Add(full);
                }
                fileOf[name] = full;
            }
            if (files.Count == 0) throw new InvalidDataException($"{index}: the weight_map is empty");
            return (files, fileOf);
        }
        if (File.Exists(single)) return ([single], new Dictionary<string, string>());
        throw new FileNotFoundException($"{dir}: neither model.safetensors nor model.safetensors.index.json found", single);
    }

    /// <summary>Copies a loaded tensor into a parameter, with a clear error on a missing name or a shape mismatch.</summary>
    public static void CopyInto(IReadOnlyDictionary<string, Tensor> loaded, string name, Tensor target, string path)
    {
        if (!loaded.TryGetValue(name, out var src))
            throw new InvalidDataException($"{path}: missing tensor '{name}'");
        if (!src.shape.SequenceEqual(target.shape))
            throw new InvalidDataException($"{path}: tensor '{name}' has shape [{string.Join(", ", src.shape)}], expected [{string.Join(", ", target.shape)}]");
        using (no_grad()) target.copy_(src);
    }
}
