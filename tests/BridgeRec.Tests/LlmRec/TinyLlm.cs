using BridgeRec.Data;
using BridgeRec.Domain;
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

    public static float MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    /// <summary>
    /// The LLM holds a copy of what it reads of <paramref name="dsm"/>: after <paramref name="move"/> changes the DSM (as a
    /// training step would) the LLM scores <paramref name="users"/> exactly as before, and only after
    /// <paramref name="refresh"/> as the moved DSM does.
    /// </summary>
    public static void FollowsOnlyWhenRefreshed(LlmRecommender llm, DomainModel dsm, int[] users, Action move, Action refresh)
    {
        using var before = llm.ScoreAll(users);
        move();
        using var dsmAfter = dsm.ScoreAll(users);
        Assert.True(MaxDiff(before, dsmAfter) > 1e-3f);
        using (var still = llm.ScoreAll(users)) Assert.Equal(0f, MaxDiff(before, still));
        refresh();
        using (var refreshed = llm.ScoreAll(users)) Assert.True(MaxDiff(refreshed, dsmAfter) < 1e-4f);
    }
}
