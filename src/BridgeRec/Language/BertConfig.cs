using System.Text.Json.Nodes;

namespace BridgeRec.Language;

/// <summary>Sizes of a BERT-family encoder. Defaults are all-MiniLM-L6-v2's.</summary>
public sealed record BertConfig
{
    public int VocabSize { get; init; } = 30522;
    public int Hidden { get; init; } = 384;
    public int Layers { get; init; } = 6;
    public int Heads { get; init; } = 12;
    public int Intermediate { get; init; } = 1536;
    public int MaxPositions { get; init; } = 512;
    public int TypeVocabSize { get; init; } = 2;
    public double LayerNormEps { get; init; } = 1e-12;

    public static BertConfig MiniLmL6 { get; } = new();

    public void Validate()
    {
        if (VocabSize < 1 || Hidden < 1 || Layers < 1 || Heads < 1 || Intermediate < 1 || MaxPositions < 1 || TypeVocabSize < 1)
            throw new ArgumentException($"invalid BERT sizes: {this}");
        if (Hidden % Heads != 0) throw new ArgumentException($"hidden size {Hidden} is not divisible by {Heads} heads");
    }

    /// <summary>Reads a Hugging Face config.json of a BERT-family model.</summary>
    public static BertConfig FromHuggingFaceJson(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found", path);
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{path}: invalid JSON: {e.Message}"); }
        T Get<T>(string key, T? fallback = null) where T : struct
        {
            if (o[key] is not JsonNode n)
                return fallback ?? throw new InvalidDataException($"{path}: missing '{key}'");
            try { return n.GetValue<T>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: '{key}' is {n.ToJsonString()}, expected a {typeof(T).Name.ToLowerInvariant()}");
            }
        }
        int Int(string key, int? fallback = null) => Get(key, fallback);
        string act = o["hidden_act"] is JsonNode a && a.GetValueKind() == System.Text.Json.JsonValueKind.String ? a.GetValue<string>()
            : o["hidden_act"] is null ? "gelu" : throw new InvalidDataException($"{path}: 'hidden_act' must be a string");
        if (act != "gelu") throw new InvalidDataException($"{path}: hidden_act '{act}' is not supported (expected 'gelu')");
        var c = new BertConfig
        {
            VocabSize = Int("vocab_size"),
            Hidden = Int("hidden_size"),
            Layers = Int("num_hidden_layers"),
            Heads = Int("num_attention_heads"),
            Intermediate = Int("intermediate_size"),
            MaxPositions = Int("max_position_embeddings", 512),
            TypeVocabSize = Int("type_vocab_size", 2),
            LayerNormEps = Get("layer_norm_eps", (double?)1e-12),
        };
        c.Validate();
        return c;
    }
}
