using TorchSharp;
using static TorchSharp.torch;
using BridgeRec.IO;

namespace BridgeRec.Language;

/// <summary>
/// Loads a decoder from a Hugging Face folder: config.json, model.safetensors or the shards of
/// model.safetensors.index.json (F32, F16 or BF16, kept as float32), and its tokenizer (<see cref="DecoderTokenizer"/>).
/// Tensors are read one at a time and copied into the model, so a checkpoint is never in memory twice. A missing
/// tensor, a tensor with the wrong shape and a tensor the model has no place for are errors naming the tensor and file.
/// </summary>
public static class DecoderCheckpoint
{
    /// <summary>The model (in eval mode, every weight frozen) and its tokenizer.</summary>
    public static (DecoderModel Model, DecoderTokenizer Tokenizer) Load(string dir)
    {
        var model = LoadModel(dir);
        try { return (model, DecoderTokenizer.Load(dir, model.Config)); }
        catch { model.Dispose(); throw; }
    }

    public static DecoderModel LoadModel(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: checkpoint folder not found");
        var config = DecoderConfig.FromHuggingFaceJson(Path.Combine(dir, "config.json"));
        var (files, fileOf) = SafeTensors.FolderFiles(dir);
        var model = DecoderModel.Create(config);
        try
        {
            var own = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var filled = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string file in files)
            {
                SafeTensors.ForEach(file, (raw, t) =>
                {
                    var (name, transpose) = Map(config, raw);
                    if (name is null) return false;
                    if (!own.TryGetValue(name, out var target))
                        throw new InvalidDataException($"{file}: tensor '{raw}' has no place in a {config.Architecture} model (expected names like '{own.Keys.First()}')");
                    if (filled.TryGetValue(name, out var first))
                        throw new InvalidDataException($"{file}: tensor '{raw}' appears twice (also in {first})");
                    long[] expected = transpose ? [.. target.shape.Reverse()] : target.shape;
                    if (!t.shape.SequenceEqual(expected))
                        throw new InvalidDataException($"{file}: tensor '{raw}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", expected)}] for {config}");
                    using (no_grad())
                    {
                        if (transpose) { using var tt = t.t(); target.copy_(tt); }
                        else target.copy_(t);
                    }
                    filled[name] = file;
                    return false;
                });
            }
            var missing = own.Keys.Where(n => !filled.ContainsKey(n)).ToList();
            if (missing.Count > 0)
            {
                string where = fileOf.Count > 0 ? Path.Combine(dir, "model.safetensors.index.json") + " and its shards" : files[0];
                throw new InvalidDataException($"{where}: missing tensor '{missing[0]}'" +
                                               (missing.Count > 1 ? $" (and {missing.Count - 1} more)" : ""));
            }
            model.SetTrainingMode(TrainingMode.Frozen);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The model's name for a checkpoint tensor and whether it is stored transposed (GPT-2's Conv1D keeps [in, out]);
    /// null for tensors that are not weights (attention-mask and rotary buffers, a tied head stored anyway).
    /// </summary>
    static (string? Name, bool Transpose) Map(DecoderConfig c, string raw)
    {
        string n = raw;
        if (c.Architecture == DecoderArchitecture.Gpt2)
        {
            if (n.StartsWith("transformer.", StringComparison.Ordinal)) n = n["transformer.".Length..];
            if (n.EndsWith(".attn.bias", StringComparison.Ordinal) || n.EndsWith(".attn.masked_bias", StringComparison.Ordinal)) return (null, false);
            if (n == "lm_head.weight" && c.TieWordEmbeddings) return (null, false);
            bool conv = n.EndsWith(".weight", StringComparison.Ordinal) &&
                        (n.Contains(".attn.c_attn.", StringComparison.Ordinal) || n.Contains(".attn.c_proj.", StringComparison.Ordinal) ||
                         n.Contains(".mlp.c_fc.", StringComparison.Ordinal) || n.Contains(".mlp.c_proj.", StringComparison.Ordinal));
            return (n, conv);
        }
        if (n.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) return (null, false);
        if (n == "lm_head.weight") return c.TieWordEmbeddings ? (null, false) : (n, false);
        if (!n.StartsWith("model.", StringComparison.Ordinal)) n = "model." + n; // LlamaModel / Qwen2Model files have no prefix
        return (n, false);
    }

}
