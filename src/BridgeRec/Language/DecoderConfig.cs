using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BridgeRec.Language;

/// <summary>The decoder families BridgeRec runs.</summary>
public enum DecoderArchitecture
{
    /// <summary>GPT-2: learned positions, pre-LayerNorm blocks, GELU-tanh MLP, fused Conv1D q/k/v, tied head.</summary>
    Gpt2,
    /// <summary>LLaMA (TinyLlama, Llama 2 / 3 without rope scaling): RMSNorm, rotary positions, SwiGLU, grouped-query attention.</summary>
    Llama,
    /// <summary>Qwen2 / Qwen2.5: LLaMA's blocks plus a bias on the q, k and v projections.</summary>
    Qwen2,
}

/// <summary>
/// Sizes and options of a decoder, read from a Hugging Face config.json. GPT-2's keys (n_embd, n_layer, ...) and the
/// LLaMA family's (hidden_size, num_key_value_heads, rope_theta, ...) are both understood.
/// </summary>
public sealed record DecoderConfig
{
    /// <summary>The "architectures" / "model_type" values each family is recognised by.</summary>
    public static readonly IReadOnlyDictionary<string, DecoderArchitecture> Supported = new Dictionary<string, DecoderArchitecture>(StringComparer.Ordinal)
    {
        ["GPT2LMHeadModel"] = DecoderArchitecture.Gpt2, ["GPT2Model"] = DecoderArchitecture.Gpt2, ["gpt2"] = DecoderArchitecture.Gpt2,
        ["LlamaForCausalLM"] = DecoderArchitecture.Llama, ["LlamaModel"] = DecoderArchitecture.Llama, ["llama"] = DecoderArchitecture.Llama,
        ["Qwen2ForCausalLM"] = DecoderArchitecture.Qwen2, ["Qwen2Model"] = DecoderArchitecture.Qwen2, ["qwen2"] = DecoderArchitecture.Qwen2,
    };

    public DecoderArchitecture Architecture { get; init; }
    public int VocabSize { get; init; }
    public int Hidden { get; init; }
    public int Layers { get; init; }
    public int Heads { get; init; }
    /// <summary>Key / value heads (grouped-query attention); equal to <see cref="Heads"/> for plain multi-head attention.</summary>
    public int KvHeads { get; init; }
    public int HeadDim { get; init; }
    public int Intermediate { get; init; }
    public int MaxPositions { get; init; }
    public double NormEps { get; init; }
    /// <summary>Base of the rotary frequencies (LLaMA family only).</summary>
    public double RopeTheta { get; init; } = 10000;
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Bias on q, k, v (Qwen2 always; LLaMA when attention_bias) and on o (LLaMA's attention_bias only).</summary>
    public bool QkvBias { get; init; }
    public bool OutputBias { get; init; }
    public bool MlpBias { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public void Validate()
    {
        if (VocabSize < 1 || Hidden < 1 || Layers < 1 || Heads < 1 || KvHeads < 1 || HeadDim < 1 || Intermediate < 1 || MaxPositions < 1)
            throw new ArgumentException($"invalid decoder sizes: {this}");
        if (Heads % KvHeads != 0) throw new ArgumentException($"{Heads} attention heads are not a multiple of {KvHeads} key/value heads");
        if (Architecture == DecoderArchitecture.Gpt2 && (Hidden % Heads != 0 || KvHeads != Heads))
            throw new ArgumentException($"GPT-2 needs hidden size {Hidden} divisible by {Heads} heads");
        if (Architecture != DecoderArchitecture.Gpt2 && HeadDim % 2 != 0)
            throw new ArgumentException($"rotary embeddings need an even head size (got {HeadDim})");
        if (!(NormEps > 0)) throw new ArgumentException($"normalisation epsilon must be > 0 (got {NormEps})");
    }

    /// <summary>Reads config.json; an architecture that is not supported is an error listing the supported ones.</summary>
    public static DecoderConfig FromHuggingFaceJson(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: config.json not found", path);
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON: {e.Message}"); }

        var arch = ArchitectureOf(o, path);
        int Int(string key, int? fallback = null)
        {
            if (o[key] is not JsonNode n || n.GetValueKind() == JsonValueKind.Null)
                return fallback ?? throw new InvalidDataException($"{path}: missing '{key}'");
            try { return n.GetValue<int>(); }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{path}: '{key}' is {n.ToJsonString()}, expected an integer");
            }
        }
        double Num(string key, double fallback)
        {
            if (o[key] is not JsonNode n || n.GetValueKind() == JsonValueKind.Null) return fallback;
            if (n.GetValueKind() != JsonValueKind.Number) throw new InvalidDataException($"{path}: '{key}' is {n.ToJsonString()}, expected a number");
            return n.GetValue<double>();
        }
        bool Bool(string key, bool fallback)
        {
            if (o[key] is not JsonNode n || n.GetValueKind() == JsonValueKind.Null) return fallback;
            return n.GetValueKind() switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new InvalidDataException($"{path}: '{key}' is {n.ToJsonString()}, expected true or false"),
            };
        }
        string? Str(string key) => o[key] is JsonNode n && n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : null;
        int? OptInt(string key) => o[key] is JsonNode n && n.GetValueKind() == JsonValueKind.Number ? n.GetValue<int>() : null;
        var eos = o["eos_token_id"] switch
        {
            JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
            JsonNode n when n.GetValueKind() == JsonValueKind.Number => [n.GetValue<int>()],
            _ => Array.Empty<int>(),
        };

        DecoderConfig c;
        if (arch == DecoderArchitecture.Gpt2)
        {
            string act = Str("activation_function") ?? "gelu_new";
            if (act is not ("gelu_new" or "gelu_pytorch_tanh" or "gelu_fast"))
                throw new InvalidDataException($"{path}: activation_function '{act}' is not supported for GPT-2 (expected gelu_new)");
            int hidden = Int("n_embd"), heads = Int("n_head");
            c = new DecoderConfig
            {
                Architecture = arch, VocabSize = Int("vocab_size"), Hidden = hidden, Layers = Int("n_layer"), Heads = heads,
                KvHeads = heads, HeadDim = heads > 0 ? hidden / heads : 0, Intermediate = Int("n_inner", 4 * hidden),
                MaxPositions = Int("n_positions", Int("n_ctx", 1024)), NormEps = Num("layer_norm_epsilon", 1e-5),
                TieWordEmbeddings = Bool("tie_word_embeddings", true), QkvBias = true, OutputBias = true, MlpBias = true,
                BosTokenId = OptInt("bos_token_id"), EosTokenIds = eos,
            };
        }
        else
        {
            string act = Str("hidden_act") ?? "silu";
            if (act != "silu") throw new InvalidDataException($"{path}: hidden_act '{act}' is not supported (expected silu)");
            if (o["rope_scaling"] is JsonObject scaling)
            {
                string kind = scaling["rope_type"]?.GetValue<string>() ?? scaling["type"]?.GetValue<string>() ?? "?";
                if (kind != "default")
                    throw new InvalidDataException($"{path}: rope_scaling of type '{kind}' is not supported (only unscaled rotary embeddings)");
            }
            if (arch == DecoderArchitecture.Qwen2 && Bool("use_sliding_window", false))
                throw new InvalidDataException($"{path}: use_sliding_window true is not supported (full attention only)");
            int hidden = Int("hidden_size"), heads = Int("num_attention_heads");
            bool attentionBias = Bool("attention_bias", false);
            c = new DecoderConfig
            {
                Architecture = arch, VocabSize = Int("vocab_size"), Hidden = hidden, Layers = Int("num_hidden_layers"), Heads = heads,
                KvHeads = Int("num_key_value_heads", heads), HeadDim = Int("head_dim", heads > 0 ? hidden / heads : 0),
                Intermediate = Int("intermediate_size"), MaxPositions = Int("max_position_embeddings", 2048),
                NormEps = Num("rms_norm_eps", 1e-6), RopeTheta = Num("rope_theta", 10000),
                TieWordEmbeddings = Bool("tie_word_embeddings", false),
                QkvBias = arch == DecoderArchitecture.Qwen2 || attentionBias, OutputBias = arch == DecoderArchitecture.Llama && attentionBias,
                MlpBias = Bool("mlp_bias", false), BosTokenId = OptInt("bos_token_id"), EosTokenIds = eos,
            };
        }
        try { c.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }
        return c;
    }

    static DecoderArchitecture ArchitectureOf(JsonObject o, string path)
    {
        var names = new List<string>();
        if (o["architectures"] is JsonArray a) names.AddRange(a.Select(x => x?.GetValue<string>() ?? ""));
        if (o["model_type"] is JsonNode t && t.GetValueKind() == JsonValueKind.String) names.Add(t.GetValue<string>());
        foreach (var n in names)
            if (Supported.TryGetValue(n, out var arch)) return arch;
        string found = names.Count == 0 ? "no 'architectures' or 'model_type'" : string.Join(", ", names);
        throw new InvalidDataException(
            $"{path}: architecture {found} is not supported; supported decoders: GPT2LMHeadModel (gpt2), LlamaForCausalLM (llama), Qwen2ForCausalLM (qwen2)");
    }

    /// <summary>Parameters, from the sizes (for memory estimates).</summary>
    public long ParameterCount()
    {
        long h = Hidden, kv = (long)KvHeads * HeadDim, q = (long)Heads * HeadDim, i = Intermediate, v = VocabSize;
        long perLayer = Architecture == DecoderArchitecture.Gpt2
            ? 4 * h + (h * 3 * h + 3 * h) + (h * h + h) + (h * i + i) + (i * h + h)
            : 2 * h + h * q + 2 * h * kv + q * h + 3 * h * i + (QkvBias ? q + 2 * kv : 0);
        long embed = v * h + (Architecture == DecoderArchitecture.Gpt2 ? (long)MaxPositions * h : 0);
        long head = TieWordEmbeddings ? 0 : v * h;
        return embed + Layers * perLayer + (Architecture == DecoderArchitecture.Gpt2 ? 2 * h : h) + head;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Architecture} vocab {VocabSize}, hidden {Hidden}, {Layers} layers, {Heads} heads ({KvHeads} kv, head {HeadDim}), intermediate {Intermediate}");
}
