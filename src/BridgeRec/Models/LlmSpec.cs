using System.Text.Json.Serialization;
using BridgeRec.Language;
using BridgeRec.LlmRec;

namespace BridgeRec.Models;

/// <summary>How the LLM side of a model folder was built: what it needs to be rebuilt for inference.</summary>
public sealed record LlmSpec
{
    public PromptOptions Prompt { get; init; } = new();
    public BackboneSettings Backbone { get; init; } = new();
    /// <summary>The item tower the LLM was built with; null (folders written before it existed): the first build's.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public LlmTowerOptions? Tower { get; init; }
    /// <summary>
    /// The sequential DSM the LLM reads its user token with (<see cref="LlmRecommender.FollowUserEncoder"/>), its weights in
    /// <c>llm-user-encoder.safetensors</c>; null: the user token is the user's row.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Domain.SasRecOptions? UserEncoder { get; init; }
    /// <summary>The BDLM round whose LLM weights the folder holds.</summary>
    public int BestRound { get; init; }
    /// <summary>Validation metrics of that round.</summary>
    public Dictionary<string, double> Validation { get; init; } = new();
}

/// <summary>The language backbone and how it trains.</summary>
public sealed record BackboneSettings
{
    /// <summary>frozen | lora | full.</summary>
    public string Mode { get; init; } = "lora";
    public LoraOptions Lora { get; init; } = new();
    /// <summary>
    /// The encoder embedded in a NuGet package: minilm (all-MiniLM-L6-v2, mean pooling) or arctic-xs
    /// (snowflake-arctic-embed-xs, [CLS] pooling); null: minilm. Left out of the JSON when null, so the run hashes
    /// and model folders written before it stay as they were. Not together with <see cref="Path"/>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Name { get; init; }

    /// <summary>
    /// A Hugging Face folder to use instead of an embedded encoder: a BERT-family encoder, or a GPT-2 / LLaMA / Qwen2
    /// decoder (see docs/decoders.md); null: the embedded encoder <see cref="Name"/>. Relative paths are read like data paths.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Path { get; init; }

    /// <summary>
    /// The arithmetic of the backbone's linear layers: fp32 or bf16 (<see cref="Language.Precision"/>); null: fp32, left out
    /// of the JSON so the run hashes and model folders written before it stay as they were.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Precision { get; init; }

    /// <summary>The embedded encoder in force (MiniLM when no name is given), or null with a <see cref="Path"/>; an unknown name or a name beside a path is an error.</summary>
    [JsonIgnore]
    public EmbeddedEncoder? Encoder => Path is null
        ? EmbeddedEncoder.Get(Name)
        : Name is null ? null : throw new ArgumentException($"backbone.name '{Name}' and backbone.path '{Path}' both given; name picks an embedded encoder, path a checkpoint folder: give one");

    /// <summary>What the backbone is, for progress lines: the embedded encoder's short name or the folder's name.</summary>
    [JsonIgnore]
    public string Display => Encoder?.DisplayName ?? System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(Path!));

    /// <summary>A fresh backbone (eval mode; no training mode set yet) and its tokenizer.</summary>
    public (ILanguageBackbone Model, ITextTokenizer Tokenizer) Load() => LanguageBackbones.Load(Encoder, Path);

    /// <summary>A fresh backbone in the configured training mode (<see cref="Mode"/>, <see cref="Lora"/>) and <see cref="Precision"/>, and its tokenizer.</summary>
    public (ILanguageBackbone Model, ITextTokenizer Tokenizer) LoadConfigured()
    {
        var (model, tokenizer) = Load();
        model.SetTrainingMode(TrainingMode, Lora);
        Language.Precision.Apply(model.Module, Precision);
        return (model, tokenizer);
    }

    /// <summary>The backbone's tokenizer alone (no weights are read).</summary>
    public ITextTokenizer LoadTokenizer() => LanguageBackbones.LoadTokenizer(Encoder, Path);

    /// <summary>Checks the name, the path / name pair and the mode.</summary>
    public void Validate()
    {
        _ = Encoder;
        _ = TrainingMode;
        Language.Precision.Check(Precision);
    }

    public TrainingMode TrainingMode => Mode switch
    {
        "frozen" => TrainingMode.Frozen,
        "lora" => TrainingMode.Lora,
        "full" => TrainingMode.Full,
        _ => throw new ArgumentException($"backbone.mode {Mode}: expected frozen, lora or full"),
    };
}
