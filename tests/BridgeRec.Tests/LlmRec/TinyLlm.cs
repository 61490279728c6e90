using BridgeRec.Data;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Tests.LlmRec;

/// <summary>A tiny BERT (random weights: the mechanics, not the quality) reading prompts of a split's training histories.</summary>
internal static class TinyLlm
{
    /// <summary>The LLM over <paramref name="ism"/> (a DSM's, which owns it, unless <paramref name="ownsIsm"/>); its weights draw from torch's generator now.</summary>
    public static LlmRecommender Over(Split split, InformationSharingModule ism, LlmTowerOptions? tower = null, Tensor? itemText = null, bool ownsIsm = false)
    {
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset), new PromptOptions { MaxHistory = 5, MaxTokens = 96 });
        return new LlmRecommender(tiny, ism, prompts, PromptBuilder.Histories(split, includeValidation: false), ownsIsm: ownsIsm, tower: tower, itemText: itemText);
    }
}
