using BridgeRec.Domain;
using BridgeRec.Language;
using BridgeRec.SharedModule;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.LlmRec;

/// <summary>
/// The LLM side of BDLM: a language backbone reads a prompt of the user's history in which task
/// tokens stand for the user and each item. Their input vectors are A_in of the shared module's
/// rows; the pooled output h scores every item as s_i = &lt;A_out(h), E_i[i]&gt; + b_i, with E_i the
/// shared module's item table. Gradients of the loss reach the shared tables through both ends.
/// <para>Without task tokens (<see cref="PromptOptions.IncludeTaskTokens"/> false) and with
/// <paramref name="itemTable"/> given, it is the text-only baseline: items are scored against a
/// trained projection of the backbone's own frozen encoding of their text.</para>
/// </summary>
public sealed class LlmRecommender : nn.Module, IRecommender
{
    public BertModel Backbone { get; }
    public InformationSharingModule Ism { get; }
    public PromptBuilder Prompts { get; }
    readonly Linear A_in, A_out;
    readonly TextItemTable? _textItems;
    IReadOnlyList<int>[] _histories;

    public string Name => _textItems is null ? "bdlm-llm" : "llm-text";
    public int NumItems => Ism.NumItems;

    public LlmRecommender(BertModel backbone, InformationSharingModule ism, PromptBuilder prompts,
        IReadOnlyList<int>[] histories, TextItemTable? itemTable = null) : base("llmrec")
    {
        Backbone = backbone; Ism = ism; Prompts = prompts; _histories = histories; _textItems = itemTable;
        int hidden = backbone.Config.Hidden;
        A_in = nn.Linear(ism.Dim, hidden);
        A_out = nn.Linear(hidden, ism.Dim);
        register_module("backbone", backbone);
        register_module("A_in", A_in);
        register_module("A_out", A_out);
        if (itemTable is not null) register_module("text_items", itemTable);
        // The ISM is shared, not owned: it is not registered here, so saving this module never copies it.
    }

    /// <summary>The histories prompts are built from when scoring (train for validation; train + validation for test).</summary>
    public void UseHistories(IReadOnlyList<int>[] histories) => _histories = histories;

    /// <summary>Adapter parameters (A_in, A_out and the text projection of the text-only variant).</summary>
    public IEnumerable<Parameter> AdapterParameters() =>
        A_in.parameters().Concat(A_out.parameters()).Concat(_textItems?.parameters() ?? []);

    /// <summary>The item table the pooled output is scored against: the ISM items, or projected text for the text-only baseline.</summary>
    Tensor ItemTable() => _textItems is null ? Ism.Items : _textItems.Table();

    /// <summary>Pooled hidden state [batch, hidden] of collated prompts, task tokens replaced by A_in of ISM rows.</summary>
    public Tensor Encode(PromptBatch batch)
    {
        var t = batch.ToTensors(Ism.Users.device);
        EmbeddingOverrides? overrides = null;
        if (batch.UserIds.Length + batch.ItemIds.Length > 0)
        {
            var users = A_in.forward(Ism.Users.index_select(0, t.UserIds));
            var items = A_in.forward(Ism.Items.index_select(0, t.ItemIds));
            overrides = new EmbeddingOverrides(cat([t.UserBatch, t.ItemBatch], 0), cat([t.UserPos, t.ItemPos], 0), cat([users, items], 0));
        }
        var hidden = Backbone.Forward(t.Ids, t.Mask, null, overrides);
        return BertModel.MeanPool(hidden, t.Mask);
    }

    /// <summary>Scores [batch, items] for collated prompts (differentiable).</summary>
    public Tensor Score(PromptBatch batch)
    {
        var s = A_out.forward(Encode(batch)).matmul(ItemTable().t());
        return Ism.ItemBias is null ? s : s + Ism.ItemBias;
    }

    /// <summary>Prompts for users from their current histories.</summary>
    public PromptBatch PromptsFor(IReadOnlyList<int> users) =>
        Prompts.Collate(users.Select(u => Prompts.Build(u, _histories[u])).ToList());

    /// <summary>Scores of all items for users, in chunks (no gradient).</summary>
    public Tensor ScoreAll(int[] users)
    {
        const int chunk = 32;
        bool wasTraining = training;
        eval();
        try
        {
            using var _ = no_grad();
            var parts = new List<Tensor>();
            for (int s = 0; s < users.Length; s += chunk)
            {
                using var scope = NewDisposeScope();
                var batch = PromptsFor(users.Skip(s).Take(chunk).ToList());
                parts.Add(Score(batch).MoveToOuterDisposeScope());
            }
            var all = cat(parts, 0);
            foreach (var p in parts) p.Dispose();
            return all;
        }
        finally { if (wasTraining) train(); }
    }
}

/// <summary>Items as a trained projection (384 -> d) of the backbone's frozen sentence embeddings of their text.</summary>
public sealed class TextItemTable : nn.Module
{
    readonly Tensor _features;
    readonly Linear proj;

    public TextItemTable(Tensor features, int dim) : base("text_items")
    {
        _features = features.detach();
        proj = nn.Linear(features.shape[1], dim, hasBias: false);
        register_module("proj", proj);
    }

    public Tensor Table() => proj.forward(_features);
}
