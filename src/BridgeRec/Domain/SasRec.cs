using BridgeRec.IO;
using BridgeRec.Data;
using BridgeRec.SharedModule;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.Domain;

/// <summary>
/// SASRec's sizes and objective. Defaults are the published settings (RecBole's SASRec, as UniSRec ran it):
/// the last 50 items, 2 layers, 2 heads, feed-forward 256, dropout 0.5; the hidden size is the shared module's d.
/// </summary>
public sealed record SasRecOptions
{
    /// <summary>The most recent items read per user, and per training window.</summary>
    public int MaxLength { get; init; } = 50;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 2;
    /// <summary>Width of the point-wise feed-forward layer.</summary>
    public int Inner { get; init; } = 256;
    /// <summary>Dropout on the input rows, the attention weights and each block's outputs.</summary>
    public double Dropout { get; init; } = 0.5;
    /// <summary>
    /// ce: softmax cross-entropy over all items at every position; sampled: softmax over the target and
    /// <see cref="Negatives"/> uniform items shared by the batch (large catalogs); bce: SASRec's original binary
    /// cross-entropy, one negative the user never had per position; bpr: BPR with the same negatives.
    /// </summary>
    public string Loss { get; init; } = "ce";
    /// <summary>Uniform negatives per batch for <c>sampled</c>.</summary>
    public int Negatives { get; init; } = 1000;
    /// <summary>
    /// The block order RecBole's SASRec uses (the one UniSRec's published SASRec rows ran): a layer norm on the input
    /// rows, and each sublayer's output added to its input and then normalised (post-norm), one dropout per sublayer
    /// output and none after the feed-forward's activation, no final norm. Off: the pre-norm order (Kang and McAuley's
    /// and nanoGPT's: x + sublayer(LN x), a final norm), with dropout also after the activation.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool PostNorm { get; init; }

    public static readonly string[] Losses = ["ce", "sampled", "bce", "bpr"];

    public void Validate(int dim)
    {
        if (MaxLength < 1) throw new ArgumentOutOfRangeException(nameof(MaxLength), $"sasrec max_length must be >= 1 (got {MaxLength})");
        if (Layers < 1) throw new ArgumentOutOfRangeException(nameof(Layers), $"sasrec layers must be >= 1 (got {Layers})");
        if (Heads < 1 || dim % Heads != 0) throw new ArgumentOutOfRangeException(nameof(Heads), $"sasrec heads must divide the dimension {dim} (got {Heads})");
        if (Inner < 1) throw new ArgumentOutOfRangeException(nameof(Inner), $"sasrec inner must be >= 1 (got {Inner})");
        if (Dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Dropout), $"sasrec dropout must lie in [0, 1) (got {Dropout})");
        if (!Losses.Contains(Loss)) throw new ArgumentException($"sasrec loss {Loss}: expected one of {string.Join(", ", Losses)}");
        if (Negatives < 1) throw new ArgumentOutOfRangeException(nameof(Negatives), $"sasrec negatives must be >= 1 (got {Negatives})");
    }
}

/// <summary>
/// SASRec (Kang and McAuley, ICDM 2018): causal self-attention over each user's latest items. The rows it reads the
/// items from and the rows it scores against are the shared module's item table: it has no item embedding of its
/// own, so an LLM reading the module reads what SASRec learned. Positions, attention, feed-forward and layer norms
/// are its own weights (<see cref="OwnWeights"/>, saved beside the module). A user's final embedding is the hidden
/// state at the newest item of the history it reads (<see cref="UseHistories"/>), so scoring is the dot product with
/// every item row, as for every DSM; the user table is not read.
/// </summary>
public sealed class SasRec : DomainModel
{
    public SasRecOptions Options { get; }
    readonly Embedding positions;
    readonly ModuleList<SasRecBlock> blocks;
    /// <summary>Pre-norm: the final norm after the blocks ("final_norm"); post-norm: the norm of the input rows ("input_norm").</summary>
    readonly LayerNorm norm;
    readonly Dropout inputDropout;
    readonly IReadOnlyList<int>[] _train;
    IReadOnlyList<int>[] _histories;

    /// <summary>Frozen item-text features t [items, textDim] when built with text ("sasrec+text"); null otherwise.</summary>
    public Tensor? TextFeatures { get; }
    readonly Parameter? _textProjection;

    public override string Name => TextFeatures is null ? "sasrec" : "sasrec+text";

    /// <summary>The own weight that projects the item text (<see cref="TextFeatures"/>) into the item rows.</summary>
    public const string TextProjectionName = "text_projection";

    /// <param name="trainHistories">Each user's training items in time order (<see cref="Histories.Of"/>): what it trains on, and reads until <see cref="UseHistories"/>.</param>
    /// <param name="itemText">
    /// frozen sentence embeddings of the items' texts [items, textDim] ("sasrec+text"): every item row SASRec reads and
    /// scores against becomes E_i + W t_i, W [d, textDim] its own weight, starting at zero (so training starts from plain
    /// SASRec); null: the item rows alone
    /// </param>
    public SasRec(InformationSharingModule ism, IReadOnlyList<int>[] trainHistories, SasRecOptions? options = null, Tensor? itemText = null) : base("sasrec", ism)
    {
        Options = options ?? new SasRecOptions();
        Options.Validate(ism.Dim);
        if (trainHistories.Length != ism.NumUsers)
            throw new ArgumentException($"{trainHistories.Length} histories for {ism.NumUsers} users", nameof(trainHistories));
        _train = _histories = trainHistories;
        int d = ism.Dim;
        positions = nn.Embedding(Options.MaxLength, d);
        blocks = nn.ModuleList(Enumerable.Range(0, Options.Layers).Select(_ => new SasRecBlock(d, Options.Heads, Options.Inner, Options.Dropout, Options.PostNorm)).ToArray());
        norm = nn.LayerNorm(d);
        inputDropout = nn.Dropout(Options.Dropout);
        register_module("positions", positions);
        register_module("blocks", blocks);
        register_module(Options.PostNorm ? "input_norm" : "final_norm", norm);
        register_module("input_dropout", inputDropout);
        if (itemText is not null)
        {
            if (itemText.dim() != 2 || itemText.shape[0] != ism.NumItems)
                throw new ArgumentException($"item text features have shape [{string.Join(", ", itemText.shape)}]; expected [{ism.NumItems}, dim] (one row per item)", nameof(itemText));
            TextFeatures = itemText.detach().to(ScalarType.Float32, ism.Items.device).contiguous();
            register_buffer("text_features", TextFeatures, persistent: false);
        }
        // RecBole's initialisation: weights Normal(0, 0.02), biases 0, layer norms 1 and 0.
        using (no_grad())
        using (var one = 1.0f.ToScalar())
            foreach (var (name, p) in OwnWeights())
            {
                if (name.EndsWith("norm.weight", StringComparison.Ordinal)) p.fill_(one);
                else if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
                else nn.init.normal_(p, 0, 0.02);
            }
        var device = ism.Items.device;
        if (device.type != DeviceType.CPU) foreach (var m in new nn.Module[] { positions, blocks, norm }) m.to(device);
        if (TextFeatures is not null)
        {
            _textProjection = new Parameter(zeros(d, TextFeatures.shape[1], device: device));
            register_parameter(TextProjectionName, _textProjection);
        }
        // Scores never drop out: the trainer switches to train() for its batches only (a model loaded from a folder stays here).
        eval();
    }

    /// <summary>The item rows SASRec reads and scores against: E_i, plus W t_i with text.</summary>
    protected override Tensor EgoItems() => _textProjection is null ? Ism.Items : Ism.Items.Plus(nn.functional.linear(TextFeatures!, _textProjection));

    /// <summary>
    /// The rows of <see cref="EgoItems"/> for the given ids ([n] -> [n, d]). With text, fewer ids than items project only
    /// their own text (a click-through row scores one candidate, not the catalog); more project the catalog once.
    /// </summary>
    Tensor ItemRows(Tensor ids) => _textProjection is null
        ? Ism.Items.index_select(0, ids)
        : ids.numel() >= Ism.NumItems
            ? EgoItems().index_select(0, ids)
            : Ism.Items.index_select(0, ids).Plus(nn.functional.linear(TextFeatures!.index_select(0, ids), _textProjection));

    /// <summary>Each user's training items in time order: what <see cref="SasRecObjective"/> trains on.</summary>
    public IReadOnlyList<int>[] TrainHistories => _train;

    public override void UseHistories(IReadOnlyList<int>[] histories)
    {
        if (histories.Length != Ism.NumUsers) throw new ArgumentException($"{histories.Length} histories for {Ism.NumUsers} users", nameof(histories));
        _histories = histories;
        InputsChanged();
    }

    public override IDsmObjective RankingObjective(UserItemIndex train, DsmOptions options) => new SasRecObjective(this, options);

    /// <summary>Everything registered except the shared module: positions, blocks, the final (or input) norm.</summary>
    public override IReadOnlyDictionary<string, Tensor> OwnWeights()
    {
        var shared = Ism.parameters().Select(p => p.Handle).ToHashSet();
        return named_parameters().Where(p => !shared.Contains(p.parameter.Handle)).ToDictionary(p => p.name, p => (Tensor)p.parameter);
    }

    /// <summary>
    /// Hidden states [batch, length, d] of left-padded sequences. Position k reads items 0..k only (causal); padded
    /// positions are zero, attend only to themselves and are never attended to, so a sequence's hidden states do not
    /// depend on how much it is padded.
    /// </summary>
    public Tensor Forward(SequenceBatch batch) => Forward(ItemRows, batch);

    /// <param name="rowsOf">the item rows [n, d] of flat item ids [n]</param>
    Tensor Forward(Func<Tensor, Tensor> rowsOf, SequenceBatch batch)
    {
        long b = batch.Items.shape[0], length = batch.Items.shape[1];
        var x = rowsOf(batch.Items.flatten()).view(b, length, -1).Plus(positions.forward(batch.Positions));
        if (Options.PostNorm) x = norm.forward(x);
        var isItem = batch.IsItem.unsqueeze(-1).to_type(x.dtype);
        x = inputDropout.forward(x) * isItem;
        // keep[b, i, j]: query i may read key j: j <= i and j is an item; the diagonal always, so a padded query has a key.
        var causal = ones(length, length, ScalarType.Bool, x.device).tril();
        var keep = causal.logical_and(batch.IsItem.unsqueeze(1)).logical_or(eye(length, dtype: ScalarType.Bool, device: x.device)).unsqueeze(1);
        foreach (var block in blocks) x = block.forward(x, keep) * isItem;
        return Options.PostNorm ? x : norm.forward(x) * isItem;
    }

    /// <summary>Scores of hidden states [n, d] against every item row, or against the rows of <paramref name="candidates"/> ([k]).</summary>
    public Tensor Logits(Tensor hidden, Tensor? candidates = null)
    {
        var rows = candidates is null ? EgoItems() : ItemRows(candidates);
        var logits = hidden.matmul(rows.t());
        if (Ism.ItemBias is { } bias) logits = logits.Plus(candidates is null ? bias : bias.index_select(0, candidates));
        return logits;
    }

    /// <summary>Scores of hidden states [n, d] against one item each ([n]).</summary>
    public Tensor Score(Tensor hidden, Tensor items)
    {
        var score = (hidden * ItemRows(items)).sum(1);
        if (Ism.ItemBias is { } bias) score = score.Plus(bias.index_select(0, items));
        return score;
    }

    public override bool ReadsRowHistory => true;

    /// <summary>
    /// Click-through logits: each row's history (its latest <see cref="SasRecOptions.MaxLength"/> items) read as
    /// <see cref="Represent"/> reads it, scored against the row's candidate (+ its bias); the user rows are not read. L2 on
    /// the candidates' item rows, l2 * 0.5 * |e_i|^2 / batch (a zero scalar, not computed, when l2 is 0, as in scoring).
    /// </summary>
    public override (Tensor Logits, Tensor Reg) RowLogits(Tensor users, Tensor items, IReadOnlyList<IReadOnlyList<int>> histories, double l2)
    {
        if (histories.Count != items.shape[0]) throw new ArgumentException($"{histories.Count} histories for {items.shape[0]} rows", nameof(histories));
        var logits = Score(Represent(histories), items);
        if (l2 == 0) return (logits, tensor(0f, device: logits.device));
        using var regScale = (0.5 / Math.Max(1, items.shape[0]) * l2).ToScalar();
        var reg = ItemRows(items).Squared().sum().mul(regScale);
        return (logits, reg);
    }

    /// <summary>Users: the hidden state at the newest item of each history (zero for an empty one); items: the item rows.</summary>
    public override (Tensor Users, Tensor Items) Propagate(Tensor egoUsers, Tensor egoItems)
    {
        const int chunk = 512;
        var parts = new List<Tensor>();
        for (int start = 0; start < Ism.NumUsers; start += chunk)
        {
            var latest = Enumerable.Range(start, Math.Min(chunk, Ism.NumUsers - start)).Select(u => Latest(_histories[u])).ToArray();
            parts.Add(Forward(ids => egoItems.index_select(0, ids), SequenceBatch.Of(latest, egoItems.device)).select(1, -1));
        }
        return (cat(parts, 0), egoItems);
    }

    /// <summary>
    /// The sequence representation [n, d] of each history (the hidden state at its newest item; zero for an empty one), read
    /// as <see cref="Propagate"/> reads a user's: its latest <see cref="SasRecOptions.MaxLength"/> items. Differentiable;
    /// dropout applies only in training mode.
    /// </summary>
    public Tensor Represent(IReadOnlyList<IReadOnlyList<int>> histories)
    {
        if (histories.Count == 0) return zeros(0, Ism.Dim, device: Ism.Items.device);
        return Forward(ItemRows, SequenceBatch.Of(histories.Select(Latest).ToArray(), Ism.Items.device)).select(1, -1);
    }

    /// <summary>
    /// A frozen copy of this model over a shared module of its own (the item rows copied; no user rows read): what an LLM
    /// reads its users with (<see cref="LlmRec.LlmRecommender.FollowUserEncoder"/>). It does not follow later training of
    /// this model until <see cref="CopyInto"/> refreshes it. Histories: none (it reads those it is given). Disposing it
    /// disposes its module, as for every DSM.
    /// </summary>
    public SasRec FrozenCopy()
    {
        var ism = new InformationSharingModule(Ism.NumUsers, Ism.NumItems, Ism.Dim, itemBias: Ism.ItemBias is not null, device: Ism.Items.device);
        using var text = TextFeatures?.clone();
        var copy = new SasRec(ism, Enumerable.Repeat<IReadOnlyList<int>>([], Ism.NumUsers).ToArray(), Options, text);
        foreach (var p in copy.parameters()) p.requires_grad = false;
        CopyInto(copy);
        return copy;
    }

    /// <summary>Copies this model's item rows and own weights into <paramref name="copy"/> (made by <see cref="FrozenCopy"/>).</summary>
    public void CopyInto(SasRec copy)
    {
        using var state = Snapshot();
        copy.Restore(state);
    }

    /// <summary>What a frozen copy is saved as: its item rows (<c>ism.items</c>, <c>ism.item_bias</c>) and its own weights by name.</summary>
    public Dictionary<string, Tensor> FrozenTensors()
    {
        var t = OwnWeights().ToDictionary(kv => kv.Key, kv => kv.Value);
        t["ism.items"] = Ism.Items;
        if (Ism.ItemBias is { } bias) t["ism.item_bias"] = bias;
        if (TextFeatures is not null) t["text_features"] = TextFeatures;
        return t;
    }

    /// <summary>A frozen copy rebuilt from <see cref="FrozenTensors"/> read from <paramref name="source"/>.</summary>
    public static SasRec FromFrozenTensors(IReadOnlyDictionary<string, Tensor> tensors, int numUsers, SasRecOptions options, string source)
    {
        if (!tensors.TryGetValue("ism.items", out var items) || items.dim() != 2)
            throw new InvalidDataException($"{source}: no ism.items [items, dim] tensor: not a saved sequence encoder");
        var ism = new InformationSharingModule(numUsers, (int)items.shape[0], (int)items.shape[1], itemBias: tensors.ContainsKey("ism.item_bias"));
        var model = new SasRec(ism, Enumerable.Repeat<IReadOnlyList<int>>([], numUsers).ToArray(), options, tensors.GetValueOrDefault("text_features"));
        foreach (var p in model.parameters()) p.requires_grad = false;
        using (no_grad())
        {
            SafeTensors.CopyInto(tensors, "ism.items", ism.Items, source);
            if (ism.ItemBias is { } bias) SafeTensors.CopyInto(tensors, "ism.item_bias", bias, source);
        }
        model.LoadOwnWeights(tensors, source);
        return model;
    }

    int[] Latest(IReadOnlyList<int> history) => history.Skip(Math.Max(0, history.Count - Options.MaxLength)).ToArray();
}

/// <summary>
/// One transformer block. Pre-norm (nanoGPT's order): x + attention(LN x), then x + feed-forward(LN x), dropout after
/// the activation and after each sublayer. Post-norm (RecBole's): LN(x + attention(x)), then LN(x + feed-forward(x)),
/// dropout after each sublayer only.
/// </summary>
sealed class SasRecBlock : nn.Module<Tensor, Tensor, Tensor>
{
    readonly LayerNorm attention_norm, ffn_norm;
    readonly Linear qkv, projection, up, down;
    readonly Dropout dropout;
    readonly int heads;
    readonly double attentionDropout;
    readonly bool post;

    public SasRecBlock(int dim, int heads, int inner, double dropout, bool postNorm) : base("block")
    {
        this.heads = heads;
        post = postNorm;
        attentionDropout = dropout;
        attention_norm = nn.LayerNorm(dim);
        qkv = nn.Linear(dim, 3 * dim);
        projection = nn.Linear(dim, dim);
        ffn_norm = nn.LayerNorm(dim);
        up = nn.Linear(dim, inner);
        down = nn.Linear(inner, dim);
        this.dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    /// <param name="keep">[batch, 1, length, length]: which keys each query reads.</param>
    public override Tensor forward(Tensor x, Tensor keep)
    {
        long b = x.shape[0], length = x.shape[1], dim = x.shape[2];
        var qkvHeads = qkv.forward(post ? x : attention_norm.forward(x)).view(b, length, 3, heads, dim / heads).permute(2, 0, 3, 1, 4);
        var context = nn.functional.scaled_dot_product_attention(qkvHeads[0], qkvHeads[1], qkvHeads[2], keep, training ? attentionDropout : 0);
        var attended = dropout.forward(projection.forward(context.transpose(1, 2).reshape(b, length, dim)));
        if (post)
        {
            x = attention_norm.forward(x.Plus(attended));
            return ffn_norm.forward(x.Plus(dropout.forward(down.forward(nn.functional.gelu(up.forward(x))))));
        }
        x = x.Plus(attended);
        var hidden = dropout.forward(nn.functional.gelu(up.forward(ffn_norm.forward(x))));
        return x.Plus(dropout.forward(down.forward(hidden)));
    }
}

/// <summary>
/// Item sequences left-padded to one length, as <see cref="SasRec"/> reads them: item ids (0 where padded), where
/// the items are, and each item's position counted from the oldest item (RecBole's order; padding does not move it).
/// </summary>
public sealed record SequenceBatch(Tensor Items, Tensor IsItem, Tensor Positions)
{
    /// <summary>Pads to the longest sequence given.</summary>
    public static SequenceBatch Of(IReadOnlyList<int[]> sequences, Device? device = null)
    {
        int n = sequences.Count, length = Math.Max(1, sequences.Max(s => s.Length));
        var items = new long[n * length];
        var isItem = new bool[n * length];
        var position = new long[n * length];
        for (int r = 0; r < n; r++)
        {
            var s = sequences[r];
            int pad = length - s.Length;
            for (int k = 0; k < s.Length; k++)
            {
                int at = r * length + pad + k;
                items[at] = s[k]; isItem[at] = true; position[at] = k;
            }
        }
        long[] shape = [n, length];
        return new SequenceBatch(tensor(items, shape, device: device), tensor(isItem, shape, device: device), tensor(position, shape, device: device));
    }
}
