using BridgeRec.IO;
using BridgeRec.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BridgeRec.Language;

/// <summary>
/// Input-embedding overrides: at (Batch[n], Position[n]) the word embedding is replaced by
/// Vectors[n] before position and token-type embeddings are added. The LLM recommender puts its
/// task-token vectors (A_in of the shared module's rows) there; gradients flow into Vectors.
/// </summary>
public sealed record EmbeddingOverrides(Tensor Batch, Tensor Position, Tensor Vectors);

/// <summary>
/// A BERT encoder (MiniLM-L6, Arctic-embed-xs and other BERT-family checkpoints): embeddings, N post-LayerNorm
/// transformer layers, optional pooler. Parameter names follow Hugging Face's BertModel, so
/// its state dicts load as they are. <see cref="Pooling"/> is the checkpoint's sentence pooling (mean or [CLS]).
/// </summary>
public sealed class BertModel : Module<Tensor, Tensor>, ILanguageBackbone
{
    public BertConfig Config { get; }
    readonly BertEmbeddings embeddings;
    readonly ModuleList<BertLayer> layers;
    readonly AdaptableLinear? pooler;

    public BertModel(BertConfig config, bool withPooler = false, SentencePooling pooling = SentencePooling.Mean) : base("bert")
    {
        Config = config;
        Pooling = pooling;
        embeddings = new BertEmbeddings(config);
        layers = new ModuleList<BertLayer>(Enumerable.Range(0, config.Layers).Select(_ => new BertLayer(config)).ToArray());
        if (withPooler) pooler = new AdaptableLinear(config.Hidden, config.Hidden);
        register_module("embeddings", embeddings);
        register_module("encoder", new EncoderHolder(layers));
        if (pooler is not null) register_module("pooler", new PoolerHolder(pooler));
    }

    public bool HasPooler => pooler is not null;

    /// <summary>How the checkpoint pools a sentence: the mean over real tokens (MiniLM) or the [CLS] state (Arctic-embed).</summary>
    public SentencePooling Pooling { get; }

    int ILanguageBackbone.HiddenSize => Config.Hidden;
    Tensor ILanguageBackbone.Forward(Tensor inputIds, Tensor attentionMask, EmbeddingOverrides? overrides) => Forward(inputIds, attentionMask, null, overrides);
    /// <summary>As a backbone of the LLM recommender, BERT pools as its checkpoint does: the mean over real tokens or [CLS].</summary>
    Tensor ILanguageBackbone.Pool(Tensor hidden, Tensor attentionMask) => PoolSentence(hidden, attentionMask);
    nn.Module ILanguageBackbone.Module => this;

    /// <summary>Last hidden states [batch, seq, hidden] for ids with an all-ones mask.</summary>
    public override Tensor forward(Tensor inputIds) => Forward(inputIds, ones_like(inputIds), null, null);

    /// <summary>
    /// Last hidden states [batch, seq, hidden]. <paramref name="attentionMask"/> is 1 for real tokens;
    /// <paramref name="overrides"/> replace word embeddings at given positions.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null, EmbeddingOverrides? overrides = null)
    {
        var h = embeddings.Forward(inputIds, tokenTypeIds, overrides);
        // Keys that are padding get no attention: a boolean mask [batch, 1, 1, seq], true = attend.
        using var keep = attentionMask.to(ScalarType.Bool).unsqueeze(1).unsqueeze(2);
        foreach (var layer in layers) h = layer.Forward(h, keep);
        return h;
    }

    /// <summary>tanh(W h[CLS] + b), when the checkpoint has a pooler.</summary>
    public Tensor Pool(Tensor hidden) =>
        pooler is null ? throw new InvalidOperationException("this model has no pooler") : tanh(pooler.forward(hidden.select(1, 0)));

    /// <summary>Mean of the hidden states over real tokens, [batch, hidden].</summary>
    public static Tensor MeanPool(Tensor hidden, Tensor attentionMask)
    {
        var m = attentionMask.to(hidden.dtype).unsqueeze(-1);
        return (hidden * m).sum(1) / m.sum(1).clamp_min(Scalars.Of(1e-9));
    }

    /// <summary>The state of the first token, [CLS], [batch, hidden] (no pooler layer: what [CLS]-pooled sentence encoders use).</summary>
    public static Tensor ClsPool(Tensor hidden) => hidden.select(1, 0);

    /// <summary>One vector per row by the checkpoint's <see cref="Pooling"/>, [batch, hidden].</summary>
    public Tensor PoolSentence(Tensor hidden, Tensor attentionMask) => Pooling switch
    {
        SentencePooling.Mean => MeanPool(hidden, attentionMask),
        SentencePooling.Cls => ClsPool(hidden),
        _ => throw new InvalidOperationException($"pooling {Pooling} is not supported"),
    };

    /// <summary>Sentence embeddings as sentence-transformers computes them: the checkpoint's pooling, then L2 normalisation.</summary>
    public Tensor SentenceEmbedding(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null)
    {
        var pooled = PoolSentence(Forward(inputIds, attentionMask, tokenTypeIds), attentionMask);
        return functional.normalize(pooled, p: 2, dim: 1);
    }

    public Embedding WordEmbeddings => embeddings.WordEmbeddings;

    /// <summary>Every linear layer by its dotted name, for LoRA targeting.</summary>
    public IEnumerable<(string Name, AdaptableLinear Linear)> Linears() =>
        named_modules().Where(m => m.module is AdaptableLinear).Select(m => (m.name, (AdaptableLinear)m.module));

    /// <summary>
    /// Sets what trains. Frozen: nothing; Lora: adapters are added to the target linears (query and
    /// value by default) and only they train; Full: everything trains. Returns the trainable count.
    /// </summary>
    public long SetTrainingMode(TrainingMode mode, LoraOptions? lora = null) =>
        TrainingModes.Apply(this, Linears, mode, lora, (name, o) =>
        {
            string leaf = name.EndsWith(".dense", StringComparison.Ordinal) ? name[..^".dense".Length] : name;
            return o.Targets.Any(t => leaf.EndsWith("." + t, StringComparison.Ordinal) || leaf == t);
        });

    public long TrainableParameters() => parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    public long TotalParameters() => parameters().Sum(p => p.numel());

    public void MergeAdapters() { foreach (var (_, l) in Linears()) l.Merge(); }
    public void UnmergeAdapters() { foreach (var (_, l) in Linears()) l.Unmerge(); }

    /// <summary>
    /// Copies Hugging Face–named tensors into the model. Every model parameter (adapters aside) must be
    /// present with the right shape; tensors the model has no place for are errors too, except
    /// those whose names start with one of <paramref name="ignorablePrefixes"/> (task heads).
    /// </summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> tensors, string source, IReadOnlyList<string>? ignorablePrefixes = null)
    {
        var own = named_parameters().Where(p => !p.name.Contains("lora_", StringComparison.Ordinal))
            .ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, target) in own) SafeTensors.CopyInto(tensors, name, target, source);
        var extra = tensors.Keys.Where(k => !own.ContainsKey(k) && !(ignorablePrefixes ?? []).Any(k.StartsWith)).ToList();
        if (extra.Count > 0)
            throw new InvalidDataException($"{source}: tensors with no place in the model: {string.Join(", ", extra.Take(8))}{(extra.Count > 8 ? ", ..." : "")}");
    }

    /// <summary>The model's weights by Hugging Face name (adapters included when present).</summary>
    public Dictionary<string, Tensor> Weights() => named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);

    // Holders that give the Hugging Face module paths "encoder.layer.N" and "pooler.dense".
    sealed class EncoderHolder : Module
    {
        public EncoderHolder(ModuleList<BertLayer> layers) : base("encoder") => register_module("layer", layers);
    }

    sealed class PoolerHolder : Module
    {
        public PoolerHolder(AdaptableLinear dense) : base("pooler") => register_module("dense", dense);
    }
}

/// <summary>Word + position + token-type embeddings, then LayerNorm.</summary>
sealed class BertEmbeddings : Module
{
    readonly Embedding word_embeddings, position_embeddings, token_type_embeddings;
    readonly LayerNorm LayerNorm;

    public BertEmbeddings(BertConfig c) : base("embeddings")
    {
        word_embeddings = Embedding(c.VocabSize, c.Hidden);
        position_embeddings = Embedding(c.MaxPositions, c.Hidden);
        token_type_embeddings = Embedding(c.TypeVocabSize, c.Hidden);
        LayerNorm = nn.LayerNorm(c.Hidden, c.LayerNormEps);
        RegisterComponents();
    }

    public Embedding WordEmbeddings => word_embeddings;

    public Tensor Forward(Tensor ids, Tensor? tokenTypes, EmbeddingOverrides? overrides)
    {
        long seq = ids.shape[1];
        if (seq > position_embeddings.weight!.shape[0])
            throw new ArgumentException($"sequence of {seq} tokens is longer than the model's {position_embeddings.weight.shape[0]} positions");
        var x = word_embeddings.forward(ids);
        if (overrides is not null)
            x = x.index_put_(overrides.Vectors.to(x.dtype), [overrides.Batch, overrides.Position]); // x is a fresh activation: in place is safe for autograd
        using var positions = HeldOps.Arange(0, seq, device: ids.device).unsqueeze(0);
        x = x.Plus(position_embeddings.forward(positions));
        if (tokenTypes is null)
        {
            using var zero = zeros_like(ids);
            x = x.Plus(token_type_embeddings.forward(zero));
        }
        else x = x.Plus(token_type_embeddings.forward(tokenTypes));
        return LayerNorm.forward(x);
    }
}

/// <summary>One post-LayerNorm transformer layer: self-attention, residual + LayerNorm, GELU feed-forward, residual + LayerNorm.</summary>
sealed class BertLayer : Module
{
    readonly BertAttention attention;
    readonly IntermediateBlock intermediate;
    readonly OutputBlock output;

    public BertLayer(BertConfig c) : base("layer")
    {
        attention = new BertAttention(c);
        intermediate = new IntermediateBlock(c);
        output = new OutputBlock(c.Intermediate, c);
        RegisterComponents();
    }

    public Tensor Forward(Tensor h, Tensor keep)
    {
        var a = attention.Forward(h, keep);
        return output.Forward(intermediate.Forward(a), a);
    }
}

sealed class BertAttention : Module
{
    readonly SelfAttention self;
    readonly OutputBlock output;

    public BertAttention(BertConfig c) : base("attention")
    {
        self = new SelfAttention(c);
        output = new OutputBlock(c.Hidden, c);
        RegisterComponents();
    }

    public Tensor Forward(Tensor h, Tensor keep) => output.Forward(self.Forward(h, keep), h);
}

/// <summary>Multi-head scaled dot-product attention over the unmasked keys.</summary>
sealed class SelfAttention : Module
{
    readonly AdaptableLinear query, key, value;
    readonly int heads, headDim;

    public SelfAttention(BertConfig c) : base("self")
    {
        heads = c.Heads; headDim = c.Hidden / c.Heads;
        query = new AdaptableLinear(c.Hidden, c.Hidden);
        key = new AdaptableLinear(c.Hidden, c.Hidden);
        value = new AdaptableLinear(c.Hidden, c.Hidden);
        RegisterComponents();
    }

    public Tensor Forward(Tensor h, Tensor keep)
    {
        long b = h.shape[0], s = h.shape[1];
        Tensor Split(AdaptableLinear proj) => proj.forward(h).view(b, s, heads, headDim).transpose(1, 2);
        var ctx = functional.scaled_dot_product_attention(Split(query), Split(key), Split(value), keep);
        return ctx.transpose(1, 2).reshape(b, s, heads * headDim);
    }
}

/// <summary>dense -> (dropout) -> LayerNorm(x + residual): BERT's "output" blocks.</summary>
sealed class OutputBlock : Module
{
    readonly AdaptableLinear dense;
    readonly LayerNorm LayerNorm;

    public OutputBlock(int inFeatures, BertConfig c) : base("output")
    {
        dense = new AdaptableLinear(inFeatures, c.Hidden);
        LayerNorm = nn.LayerNorm(c.Hidden, c.LayerNormEps);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor residual) => LayerNorm.forward(dense.forward(x).Plus(residual));
}

/// <summary>dense -> GELU (erf form).</summary>
sealed class IntermediateBlock : Module
{
    readonly AdaptableLinear dense;

    public IntermediateBlock(BertConfig c) : base("intermediate")
    {
        dense = new AdaptableLinear(c.Hidden, c.Intermediate);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x) => functional.gelu(dense.forward(x));
}
