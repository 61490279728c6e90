using BridgeRec.Evaluation;
using BridgeRec.Language;
using BridgeRec.SharedModule;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.LlmRec;

/// <summary>
/// The LLM side of BDLM: a language backbone reads a prompt of the user's history in which task
/// tokens stand for the user and each item. Their input vectors are A_in of the shared module's
/// rows; the pooled output h scores every item as s_i = &lt;A_out(h), E_i[i]&gt; + b_i, with E_i the
/// shared module's item table. Gradients of the loss reach the shared tables through both ends.
/// <para>Without task tokens (<see cref="PromptOptions.IncludeTaskTokens"/> false) and with
/// <paramref name="itemTable"/> given, it is the text-only baseline: items are scored against a
/// trained projection of the backbone's own frozen encoding of their text.</para>
/// <para>The backbone is any <see cref="ILanguageBackbone"/>: MiniLM pools by the mean, a decoder (GPT-2, LLaMA, Qwen2)
/// by its last prompt token. For a decoder the item scores are its next-token logits restricted to item tokens: item
/// i is an added token whose input embedding is A_in(E_i[i]) and whose output embedding is E_i[i] in A_out's space, so
/// generating an item token (<see cref="GenerateItem"/>) and scoring all items (<see cref="Score"/>) are one
/// computation. Such a backbone can also explain a recommendation in words (<see cref="Explain"/>).</para>
/// </summary>
public sealed class LlmRecommender : nn.Module, IRecommender
{
    public ILanguageBackbone Backbone { get; }
    public InformationSharingModule Ism { get; }
    public PromptBuilder Prompts { get; }
    readonly Linear A_in, A_out;
    readonly TextItemTable? _textItems;
    readonly bool _ownsIsm;
    IReadOnlyList<int>[] _histories;
    /// <summary>The item tower's settings; null: the first build's (shared ID rows only, raw dot products).</summary>
    public LlmTowerOptions? Tower { get; }
    readonly Parameter? _residualUsers, _residualItems, _textProjection;
    readonly Tensor? _itemText;

    public string Name => _textItems is null ? "bdlm-llm" : "llm-text";
    public int NumItems => Ism.NumItems;

    /// <param name="tower">the item tower (<see cref="LlmTowerOptions"/>); null: the first build's</param>
    /// <param name="itemText">frozen sentence embeddings of the items' texts [items, textDim], needed when <paramref name="tower"/> asks for <see cref="LlmTowerOptions.ItemText"/></param>
    public LlmRecommender(ILanguageBackbone backbone, InformationSharingModule ism, PromptBuilder prompts,
        IReadOnlyList<int>[] histories, TextItemTable? itemTable = null, bool ownsIsm = false,
        LlmTowerOptions? tower = null, Tensor? itemText = null) : base("llmrec")
    {
        Backbone = backbone; Ism = ism; Prompts = prompts; _histories = histories; _textItems = itemTable; _ownsIsm = ownsIsm;
        tower?.Validate();
        Tower = tower;
        int hidden = backbone.HiddenSize;
        A_in = nn.Linear(ism.Dim, hidden);
        A_out = nn.Linear(hidden, ism.Dim);
        register_module("backbone", backbone.Module);
        register_module("A_in", A_in);
        register_module("A_out", A_out);
        if (itemTable is not null) register_module("text_items", itemTable);
        var device = ism.Items.device;
        // With the user skip the query starts as the user's own row: A_out starts at zero and learns what the prompt adds.
        if (tower is { UserSkip: true } && itemTable is null)
            using (no_grad()) { A_out.weight!.zero_(); A_out.bias?.zero_(); }
        // The text-only baseline has no ID rows to add to: only the temperature applies to it.
        if (tower is { Residual: true } && itemTable is null)
        {
            _residualUsers = new Parameter(zeros(ism.NumUsers, ism.Dim, device: device));
            _residualItems = new Parameter(zeros(ism.NumItems, ism.Dim, device: device));
            register_parameter("residual_users", _residualUsers);
            register_parameter("residual_items", _residualItems);
        }
        if (tower is { ItemText: true } && itemTable is null)
        {
            if (itemText is null || itemText.dim() != 2 || itemText.shape[0] != ism.NumItems)
                throw new ArgumentException($"the item tower reads each item's text embedding: expected [{ism.NumItems}, dim] text features, got " +
                                            (itemText is null ? "none" : $"[{string.Join(", ", itemText.shape)}]"), nameof(itemText));
            _itemText = itemText.detach().to(ScalarType.Float32, device).contiguous();
            _textProjection = new Parameter(zeros(ism.Dim, itemText.shape[1], device: device));
            register_parameter("item_text_projection", _textProjection);
            register_buffer("item_text_features", _itemText, persistent: false);
        }
        // The ISM is shared: it is not registered here, so saving this module never copies it. The DSM built with it
        // disposes it; only a recommender without a DSM (loaded alone from a folder: ownsIsm) disposes it itself.
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) { _userEncoder?.Dispose(); _userEncoder = null; _dsmUsers?.Dispose(); _dsmItems?.Dispose(); _dsmUsers = _dsmItems = null; }
        if (disposing && _ownsIsm) Ism.Dispose();
    }

    Domain.SasRec? _userEncoder;

    /// <summary>
    /// The sequential DSM the user token is read with (<see cref="FollowUserEncoder"/>): a frozen copy of it; null when the
    /// user token is the user's row of the shared module.
    /// </summary>
    public Domain.SasRec? UserEncoder => _userEncoder;

    /// <summary>
    /// Reads each prompt's user token as A_in of <paramref name="dsm"/>'s representation of the history the prompt was
    /// built from (<see cref="Domain.SasRec.Represent"/>), not as a user row: the LLM reads the behaviour pattern the
    /// sequential DSM found, for a training prefix as for a whole history or a posted one. The LLM keeps a frozen copy
    /// (item rows and weights), made on the first call and refreshed by each later one: BDLM calls it at the start of
    /// every LLM phase, so the LLM trains and is scored with the DSM as that phase found it. The user residual rows and
    /// the user's shared row are then not read.
    /// </summary>
    public void FollowUserEncoder(Domain.SasRec dsm)
    {
        if (dsm.Ism.Dim != Ism.Dim || dsm.NumItems != NumItems)
            throw new ArgumentException($"the user encoder has {dsm.NumItems} items of width {dsm.Ism.Dim}; the LLM {NumItems} of width {Ism.Dim}", nameof(dsm));
        if (_userEncoder is not null) { dsm.CopyInto(_userEncoder); return; }
        _userEncoder = dsm.FrozenCopy();
        // A SASRec + text scores items against E_i + W t_i. When this LLM's item tower reads the same text features, its
        // text projection starts as W (once, here), so that with the user skip the LLM starts at the DSM's scores.
        if (_textProjection is not null && dsm.TextFeatures is { } t && dsm.OwnWeights().TryGetValue(Domain.SasRec.TextProjectionName, out var w)
            && w.shape.SequenceEqual(_textProjection.shape) && t.shape.SequenceEqual(_itemText!.shape) && t.allclose(_itemText, 0, 0))
            using (no_grad()) _textProjection.copy_(w);
    }

    Tensor? _dsmUsers, _dsmItems;

    /// <summary>Whether the LLM reads a DSM's final rows (<see cref="LlmTowerOptions.DsmRows"/>) rather than the shared module's ego rows.</summary>
    public bool ReadsDsmRows => _dsmUsers is not null;

    /// <summary>The DSM's final rows the LLM reads (<see cref="FollowDsmRows"/>); null when it reads the shared module's rows.</summary>
    public (Tensor Users, Tensor Items)? DsmRows => _dsmUsers is null ? null : (_dsmUsers, _dsmItems!);

    /// <summary>
    /// What the LLM reads of <paramref name="dsm"/> as it stands now: a sequential DSM's user encoder
    /// (<see cref="FollowUserEncoder"/>), or with <see cref="LlmTowerOptions.DsmRows"/> its final rows
    /// (<see cref="FollowDsmRows"/>); otherwise nothing (the LLM reads the shared module it shares with the DSM).
    /// </summary>
    public void Follow(Domain.DomainModel dsm)
    {
        if (dsm is Domain.SasRec sequential) FollowUserEncoder(sequential);
        else if (Tower?.ResolvedFor(dsmHasFinalRows: true) is { DsmRows: true }) FollowDsmRows(dsm);
    }

    /// <summary>
    /// Reads <paramref name="dsm"/>'s final embeddings (a frozen copy, refreshed by each call) as the base rows under the
    /// private residual rows, in the prompt's task tokens, the user skip and the item vectors.
    /// </summary>
    public void FollowDsmRows(Domain.DomainModel dsm)
    {
        if (Tower?.ResolvedFor(dsmHasFinalRows: true) is not { DsmRows: true })
            throw new InvalidOperationException("this LLM's tower does not read the DSM's rows (tower.dsm_rows is false, or it has no private rows)");
        if (dsm is Domain.SasRec)
            throw new ArgumentException("a SASRec DSM gives the LLM its users through its user encoder, not final rows: tower.dsm_rows applies to LightGCN and MF", nameof(dsm));
        var (users, items) = dsm.FinalEmbeddings();
        SetDsmRows(users, items);
    }

    /// <summary>Sets the DSM rows the LLM reads (copies them): <see cref="FollowDsmRows"/>, or a saved model folder's.</summary>
    public void SetDsmRows(Tensor users, Tensor items)
    {
        if (users.dim() != 2 || items.dim() != 2 || users.shape[0] != Ism.NumUsers || items.shape[0] != Ism.NumItems || users.shape[1] != Ism.Dim || items.shape[1] != Ism.Dim)
            throw new ArgumentException($"DSM rows of [{string.Join(", ", users.shape)}] users and [{string.Join(", ", items.shape)}] items; the LLM has {Ism.NumUsers} x {Ism.Dim} and {Ism.NumItems} x {Ism.Dim}");
        using var _ = no_grad();
        var device = Ism.Items.device;
        var u = users.detach().to(ScalarType.Float32, device).clone();
        var i = items.detach().to(ScalarType.Float32, device).clone();
        _dsmUsers?.Dispose(); _dsmItems?.Dispose();
        _dsmUsers = u.DetachFromDisposeScope(); _dsmItems = i.DetachFromDisposeScope();
    }

    Tensor BaseUsers => _dsmUsers ?? Ism.Users;
    Tensor BaseItems => _dsmItems ?? Ism.Items;

    /// <summary>The user-token vectors before A_in: the user encoder's representation of each prompt's history, or the user rows.</summary>
    Tensor UserInputs(PromptBatch batch, Tensor userIds)
    {
        if (_userEncoder is null) return UserRows(userIds);
        using var _ = no_grad();
        return _userEncoder.Represent(batch.UserSequences);
    }

    /// <summary>The histories prompts are built from when scoring (train for validation; train + validation for test).</summary>
    public void UseHistories(IReadOnlyList<int>[] histories) => _histories = histories;

    /// <summary>Adapter parameters (A_in, A_out, the item tower's text projection, and the text projection of the text-only variant).</summary>
    public IEnumerable<Parameter> AdapterParameters() =>
        A_in.parameters().Concat(A_out.parameters()).Concat(_textItems?.parameters() ?? []).Concat(_textProjection is null ? [] : [_textProjection]);

    /// <summary>The LLM's private residual rows over the shared tables (<see cref="LlmTowerOptions.Residual"/>); empty without them.</summary>
    public IEnumerable<Parameter> PrivateRows() => _residualUsers is null ? [] : [_residualUsers, _residualItems!];

    /// <summary>Whether the LLM keeps private rows, and so never trains the shared tables itself.</summary>
    public bool HasPrivateRows => _residualUsers is not null;

    /// <summary>User rows as the LLM reads them: E_u (+ R_u); E the DSM's final rows with <see cref="LlmTowerOptions.DsmRows"/>.</summary>
    Tensor UserRows(Tensor idx) => _residualUsers is null ? BaseUsers.index_select(0, idx) : BaseUsers.index_select(0, idx).Plus(_residualUsers.index_select(0, idx));

    /// <summary>Item rows as the LLM reads them: E_i (+ R_i); E the DSM's final rows with <see cref="LlmTowerOptions.DsmRows"/>.</summary>
    Tensor ItemRows(Tensor idx) => _residualItems is null ? BaseItems.index_select(0, idx) : BaseItems.index_select(0, idx).Plus(_residualItems.index_select(0, idx));

    /// <summary>
    /// The item table the pooled output is scored against: the ISM items (+ the private residual, + the projected text
    /// embedding), or projected text alone for the text-only baseline; L2-normalised rows when the tower has a temperature.
    /// </summary>
    Tensor ItemTable()
    {
        Tensor table;
        if (_textItems is not null) table = _textItems.Table();
        else
        {
            table = _residualItems is null ? BaseItems : BaseItems.Plus(_residualItems);
            if (_textProjection is not null) table = table.Plus(nn.functional.linear(_itemText!, _textProjection));
        }
        return Tower?.Temperature is null ? table : nn.functional.normalize(table, 2.0, 1);
    }

    /// <summary>
    /// Whether items can be scored from their text alone (<see cref="ScoreNewItems(int[], Tensor)"/>): the item tower reads
    /// item text (<see cref="LlmTowerOptions.ItemText"/>), or this is the text-only baseline.
    /// </summary>
    public bool ScoresItemText => _textProjection is not null || _textItems is not null;

    /// <summary>Width of the sentence embeddings the item text is read from (384 for MiniLM); null when <see cref="ScoresItemText"/> is false.</summary>
    public long? ItemTextDim => _itemText?.shape[1] ?? _textItems?.FeatureDim;

    /// <summary>
    /// Item vectors of items the recommender has no rows for, from their sentence embeddings <paramref name="text"/> [n, textDim]
    /// (<see cref="TextFeatures"/>, or <see cref="TextEncoder"/> for new texts): P t, L2-normalised when the tower has a
    /// temperature. A catalog item's vector is E_i (+ R_i) + P t_i; a new item has no ID rows, so its vector is exactly a
    /// catalog item's with those rows zero, and scores against the same queries are on the same scale. No item bias.
    /// </summary>
    public Tensor NewItemVectors(Tensor text)
    {
        RequireItemText();
        long dim = ItemTextDim!.Value;
        if (text.dim() != 2 || text.shape[1] != dim)
            throw new ArgumentException($"new items' text embeddings: expected [n, {dim}] (the sentence encoder the recommender was trained with), got [{string.Join(", ", text.shape)}]", nameof(text));
        using var scope = NewDisposeScope(); // the converted copy and the unnormalised vectors
        var t = text.to(ScalarType.Float32, Ism.Items.device);
        var v = _textItems is not null ? _textItems.Project(t) : nn.functional.linear(t, _textProjection!);
        return (Tower?.Temperature is null ? v : nn.functional.normalize(v, 2.0, 1)).MoveToOuterDisposeScope();
    }

    /// <summary>Throws <see cref="InvalidOperationException"/>, saying how to train one that can, when the recommender cannot score items by their text (<see cref="ScoresItemText"/>).</summary>
    public void RequireItemText()
    {
        if (!ScoresItemText)
            throw new InvalidOperationException((Tower is null
                ? "this LLM recommender scores items by their ID rows only (built without the item tower)"
                : "this LLM recommender's item tower does not read item text (tower.item_text is false)") +
                ", so it cannot score items it was not trained on. Train one with the item-text tower: 'bridgerec bdlm' does " +
                "(llm.json \"tower\": {\"item_text\": true}), as do experiment runs with tower.item_text true (the default; LlmTowerOptions.ItemText)");
    }

    /// <summary>
    /// The query vector of pooled states: A_out(h), plus the prompts' user rows with <see cref="LlmTowerOptions.UserSkip"/>,
    /// L2-normalised and divided by the temperature when the tower has one.
    /// </summary>
    Tensor Query(Tensor pooled, Tensor? users = null)
    {
        var q = A_out.forward(pooled);
        if (Tower is { UserSkip: true } && users is not null && _textItems is null) q = q.Plus(users);
        return Tower?.Temperature is not { } t ? q : nn.functional.normalize(q, 2.0, 1).mul(Scalars.Of(1.0 / t));
    }

    /// <summary>Pooled hidden state [batch, hidden] of collated prompts, task tokens replaced by A_in of ISM rows.</summary>
    public Tensor Encode(PromptBatch batch)
    {
        var (t, overrides) = Inputs(batch);
        var hidden = Backbone.Forward(t.Ids, t.Mask, overrides);
        return Backbone.Pool(hidden, t.Mask);
    }

    /// <summary>The prompts as tensors and the task-token vectors A_in(E[row]) at their positions.</summary>
    public (PromptTensors Tensors, EmbeddingOverrides? Overrides) Inputs(PromptBatch batch)
    {
        var t = batch.ToTensors(Ism.Users.device);
        EmbeddingOverrides? overrides = null;
        if (batch.UserIds.Length + batch.ItemIds.Length > 0)
        {
            var users = A_in.forward(UserInputs(batch, t.UserIds));
            var items = A_in.forward(ItemRows(t.ItemIds));
            overrides = new EmbeddingOverrides(cat([t.UserBatch, t.ItemBatch], 0), cat([t.UserPos, t.ItemPos], 0), cat([users, items], 0));
        }
        return (t, overrides);
    }

    /// <summary>Scores [batch, items] for collated prompts (differentiable).</summary>
    public Tensor Score(PromptBatch batch) => ItemLogits(Encode(batch), PromptUsers(batch));

    /// <summary>
    /// The user vector of each prompt [batch, d] (for the tower's user skip): its user row, or the user encoder's
    /// representation of its history; null unless every prompt has its user token.
    /// </summary>
    Tensor? PromptUsers(PromptBatch batch)
    {
        if (Tower is not { UserSkip: true } || batch.UserIds.Length != batch.BatchSize) return null;
        var order = new long[batch.BatchSize];
        for (int k = 0; k < order.Length; k++) order[batch.UserBatch[k]] = k;
        using var ids = tensor(batch.UserIds, device: Ism.Users.device);
        using var at = tensor(order, device: Ism.Users.device);
        return UserInputs(batch, ids).index_select(0, at);
    }

    /// <summary>The query vectors [batch, d] of collated prompts, as <see cref="Score"/> matches them against the item vectors.</summary>
    public Tensor Queries(PromptBatch batch) => Query(Encode(batch), PromptUsers(batch));

    /// <summary>s_i = &lt;A_out(h), E_i[i]&gt; + b_i for pooled states h [batch, hidden]: a decoder's logits of the item tokens.</summary>
    public Tensor ItemLogits(Tensor pooled, Tensor? users = null) => CatalogLogits(Query(pooled, users));

    /// <summary>Scores [batch, items] of the catalog for query vectors [batch, d] (<see cref="Queries"/>): &lt;q, v_i&gt; + b_i.</summary>
    public Tensor CatalogLogits(Tensor queries)
    {
        var s = queries.matmul(ItemTable().t());
        if (_textItems?.Bias is { } prior) s = s.Plus(prior);
        return Ism.ItemBias is null ? s : s.Plus(Ism.ItemBias);
    }

    /// <summary>Scores [batch, n] of new items for query vectors [batch, d]: &lt;q, v&gt; with v from <see cref="NewItemVectors"/> (no bias).</summary>
    public static Tensor NewItemLogits(Tensor queries, Tensor newItemVectors) => queries.matmul(newItemVectors.t());

    /// <summary>
    /// Click-through logits [batch] of prompts that end with a candidate item (<see cref="PromptBuilder.Build(int, IReadOnlyList{int}, int)"/>):
    /// &lt;A_out(h), E_i[c]&gt; + b_c for each prompt's candidate c, h its pooled state (differentiable). The candidate is
    /// read twice: as task token and text inside the prompt, and as the item row the output is matched against.
    /// </summary>
    public Tensor ScorePairs(PromptBatch batch, long[] candidates)
    {
        if (candidates.Length != batch.BatchSize)
            throw new ArgumentException($"{candidates.Length} candidates for {batch.BatchSize} prompts", nameof(candidates));
        var h = Query(Encode(batch), PromptUsers(batch));
        var idx = tensor(candidates, device: h.device);
        var s = (h * ItemTable().index_select(0, idx)).sum(1);
        if (_textItems?.Bias is { } prior) s = s.Plus(prior.index_select(0, idx));
        return Ism.ItemBias is null ? s : s.Plus(Ism.ItemBias.index_select(0, idx));
    }

    /// <summary>The item tokens as a decoder reads and generates them.</summary>
    public ITaskTokenHead ItemTokens => new ItemTokenHead(this);

    sealed class ItemTokenHead(LlmRecommender llm) : ITaskTokenHead
    {
        public int Count => llm.NumItems;
        public Tensor Logits(Tensor hidden) => llm.ItemLogits(hidden);
        public Tensor InputEmbedding(int index)
        {
            using var idx = tensor(new long[] { index }, device: llm.Ism.Items.device);
            return llm.A_in.forward(llm.ItemRows(idx)).squeeze(0);
        }
    }

    (DecoderModel Model, DecoderTokenizer Tokenizer) Decoder() =>
        Backbone is DecoderModel m && Prompts.Tokenizer is DecoderTokenizer tok
            ? (m, tok)
            : throw new InvalidOperationException("generation needs a decoder backbone (GPT-2, LLaMA, Qwen2) with its tokenizer; the MiniLM encoder cannot generate");

    /// <summary>
    /// Decodes one item token after the user's prompt: only item tokens are allowed (constrained decoding), items of
    /// the history excluded when <paramref name="excludeHistory"/>. Greedy, this is the top item of <see cref="ScoreAll"/>.
    /// </summary>
    public int GenerateItem(int user, GenerationOptions? options = null, bool excludeHistory = true)
    {
        var (model, tok) = Decoder();
        var history = _histories[user];
        var prompt = Prompts.Build(user, history);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (t, overrides) = Inputs(Prompts.Collate([prompt]));
        var result = TextGenerator.Generate(model, tok, prompt.Ids, (options ?? new GenerationOptions()) with { MaxNewTokens = 1 }, overrides,
            ItemTokens, GenerationMode.Items, excludeHistory ? history.ToHashSet() : null);
        return result.Items[0];
    }

    /// <summary>
    /// A short reason in words why <paramref name="item"/> suits <paramref name="user"/>: the decoder reads the user's
    /// prompt, then the item's task token and text and <paramref name="reasonWords"/>, and continues in free text.
    /// </summary>
    public GenerationResult Explain(int user, int item, GenerationOptions options, string reasonWords = "Reason:")
    {
        var (model, tok) = Decoder();
        if ((uint)item >= (uint)NumItems) throw new ArgumentOutOfRangeException(nameof(item), item, $"items run from 0 to {NumItems - 1}");
        var tail = new List<int> { Prompts.ItemToken };
        var text = Prompts.Cache.Ids(item);
        tail.AddRange(text[..Math.Min(text.Length, Prompts.Options.MaxItemTokens)].ToArray());
        tail.AddRange(tok.EncodePiece(Prompts.Options.Separator));
        tail.AddRange(tok.EncodePiece(reasonWords));
        // The history gives way (oldest items first) so that prompt, item and reason fit the model's positions.
        int budget = Math.Min(Prompts.Options.MaxTokens, model.Config.MaxPositions - tail.Count - options.MaxNewTokens);
        int least = Prompts.FixedLength + Prompts.ItemOverhead + 1;
        if (budget < least)
            throw new ArgumentException($"the decoder's {model.Config.MaxPositions} positions, less the item and reason words ({tail.Count} tokens) and " +
                                        $"{options.MaxNewTokens} new tokens, leave {budget} for the user's history; it needs at least {least}: ask for fewer new tokens");
        var builder = budget >= Prompts.Options.MaxTokens ? Prompts : new PromptBuilder(tok, Prompts.Cache, Prompts.Options with { MaxTokens = budget });
        var p = builder.Build(user, _histories[user]);
        var ids = new List<int>(p.Ids);
        var positions = new List<int>(p.ItemPositions) { ids.Count };
        ids.AddRange(tail);
        var prompt = new Prompt([.. ids], p.UserPosition, [.. positions], [.. p.Items, item], user, p.History);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (t, overrides) = Inputs(Prompts.Collate([prompt]));
        return TextGenerator.Generate(model, tok, prompt.Ids, options, overrides, ItemTokens, GenerationMode.Text);
    }

    /// <summary>Prompts for users from their current histories.</summary>
    public PromptBatch PromptsFor(IReadOnlyList<int> users) =>
        Prompts.Collate(users.Select(u => Prompts.Build(u, _histories[u])).ToList());

    /// <summary>Scores of all items for users, in chunks (no gradient).</summary>
    public Tensor ScoreAll(int[] users) => InChunks(users, CatalogLogits);

    /// <summary>
    /// Scores [users, n] of n items that were never in training, given their sentence embeddings <paramref name="text"/>
    /// [n, textDim] (<see cref="TextEncoder.Embed"/>): on the scale of <see cref="ScoreAll(int[])"/>, so both can be ranked
    /// together (<see cref="ScoreWithNewItems"/>). Throws <see cref="InvalidOperationException"/> when the recommender does
    /// not read item text (<see cref="ScoresItemText"/>).
    /// </summary>
    public Tensor ScoreNewItems(int[] users, Tensor text)
    {
        using var _ = no_grad();
        using var vectors = NewItemVectors(text);
        return InChunks(users, q => NewItemLogits(q, vectors));
    }

    /// <summary>
    /// Scores [users, items + n]: the catalog (columns 0..items-1, as <see cref="ScoreAll(int[])"/>) then the n new items of
    /// <paramref name="text"/> (as <see cref="ScoreNewItems"/>), from one pass over each user's prompt.
    /// </summary>
    public Tensor ScoreWithNewItems(int[] users, Tensor text)
    {
        using var _ = no_grad();
        using var vectors = NewItemVectors(text);
        return InChunks(users, q => cat([CatalogLogits(q), NewItemLogits(q, vectors)], 1));
    }

    /// <summary>Scores of users' prompts (from their current histories) in chunks of 32, eval mode, no gradient.</summary>
    Tensor InChunks(int[] users, Func<Tensor, Tensor> scoreQueries)
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
                parts.Add(scoreQueries(Queries(batch)).MoveToOuterDisposeScope());
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

    /// <param name="trainCounts">training interactions per item: with them the table has a trained per-item bias, started at
    /// log(1 + count) (<see cref="LlmTowerOptions.PopularityPrior"/>); null: none</param>
    public TextItemTable(Tensor features, int dim, IReadOnlyList<int>? trainCounts = null) : base("text_items")
    {
        _features = features.detach();
        proj = nn.Linear(features.shape[1], dim, hasBias: false);
        register_module("proj", proj);
        if (trainCounts is not null)
        {
            if (trainCounts.Count != features.shape[0])
                throw new ArgumentException($"popularity prior: {trainCounts.Count} item counts for {features.shape[0]} items' text features", nameof(trainCounts));
            Bias = new Parameter(tensor(trainCounts.Select(c => (float)Math.Log(1.0 + c)).ToArray(), device: features.device));
            register_parameter("bias", Bias);
        }
    }

    /// <summary>The per-item bias of <see cref="LlmTowerOptions.PopularityPrior"/>; null without it.</summary>
    public Parameter? Bias { get; }

    public Tensor Table() => proj.forward(_features);

    /// <summary>Width of the text features.</summary>
    public long FeatureDim => _features.shape[1];

    /// <summary>The projection of other items' text features [n, FeatureDim] (items it was not trained on).</summary>
    public Tensor Project(Tensor features) => proj.forward(features);
}
