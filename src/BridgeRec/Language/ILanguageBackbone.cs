using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Language;

/// <summary>
/// What the LLM recommender needs of a language model: hidden states of a prompt whose task-token embeddings are
/// replaced (<see cref="EmbeddingOverrides"/>), one pooled state per prompt, and a training mode. The BERT encoder
/// pools as its checkpoint does (MiniLM: the mean over real tokens; Arctic-embed: [CLS]); the decoders (GPT-2, LLaMA, Qwen2) by the last real token's state,
/// the one that predicts the next token.
/// </summary>
public interface ILanguageBackbone
{
    /// <summary>The width of the hidden states.</summary>
    int HiddenSize { get; }

    /// <summary>Hidden states [batch, seq, hidden] of right-padded ids; <paramref name="attentionMask"/> is 1 on real tokens.</summary>
    Tensor Forward(Tensor inputIds, Tensor attentionMask, EmbeddingOverrides? overrides);

    /// <summary>One state per row [batch, hidden]: the encoder's pooling (mean or [CLS]) or the decoder's last real token.</summary>
    Tensor Pool(Tensor hidden, Tensor attentionMask);

    /// <summary>Frozen, LoRA adapters only, or every weight; returns the trainable parameter count.</summary>
    long SetTrainingMode(TrainingMode mode, LoraOptions? lora = null);

    long TrainableParameters();
    long TotalParameters();

    /// <summary>The backbone's parameters (TorchSharp's <c>Module.parameters</c>).</summary>
    IEnumerable<Parameter> parameters(bool recurse = true);

    /// <summary>The backbone as a module, for registering it inside a larger one.</summary>
    nn.Module Module { get; }
}
