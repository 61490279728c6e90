using BridgeRec.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace BridgeRec.Language;

/// <summary>
/// A causal decoder (GPT-2 or the LLaMA family): token embeddings, N pre-norm blocks of masked self-attention and
/// MLP, a final norm and a language-model head. Parameter names follow Hugging Face's, so checkpoints load through
/// <see cref="DecoderCheckpoint"/>. <see cref="Forward"/> gives the final-normed hidden states; <see cref="Logits"/>
/// applies the head. With a <see cref="KvCache"/> it runs incrementally: each call appends its keys and values.
/// <para>Ids at or above <see cref="DecoderConfig.VocabSize"/> are task tokens (the user and item tokens BridgeRec
/// adds): they have no row in the embedding table and must be covered by <see cref="EmbeddingOverrides"/>.</para>
/// </summary>
public abstract class DecoderModel : Module<Tensor, Tensor>, ILanguageBackbone
{
    public DecoderConfig Config { get; }

    protected DecoderModel(string name, DecoderConfig config) : base(name)
    {
        config.Validate();
        Config = config;
    }

    public int HiddenSize => Config.Hidden;
    nn.Module ILanguageBackbone.Module => this;

    /// <summary>The word-embedding table [vocab, hidden].</summary>
    public abstract Embedding TokenEmbeddings { get; }

    /// <summary>The head's weight [vocab, hidden]: the token embeddings when tied.</summary>
    public abstract Tensor HeadWeight { get; }

    /// <summary>Runs the blocks and the final norm over input vectors x [batch, seq, hidden].</summary>
    protected abstract Tensor Blocks(Tensor x, Tensor positions, Tensor keep, KvCache? cache);

    /// <summary>Adds what depends on positions to the token embeddings (GPT-2's learned positions); identity by default.</summary>
    protected virtual Tensor AddPositions(Tensor x, Tensor positions) => x;

    /// <summary>Logits [batch, seq, vocab] of ids with an all-ones mask.</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var mask = ones_like(inputIds);
        return Logits(Forward(inputIds, mask, null));
    }

    public Tensor Forward(Tensor inputIds, Tensor attentionMask, EmbeddingOverrides? overrides) => Forward(inputIds, attentionMask, overrides, null);

    /// <summary>
    /// Final hidden states [batch, seq, hidden]. <paramref name="attentionMask"/> [batch, seq] is 1 on real tokens; with
    /// a <paramref name="cache"/> it covers only the new tokens and the cache supplies the earlier ones. Positions count
    /// real tokens only (so left or right padding both work), and every token attends to the real tokens at or before it.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor attentionMask, EmbeddingOverrides? overrides, KvCache? cache)
    {
        if (inputIds.dim() != 2) throw new ArgumentException($"input ids must be [batch, seq], got [{string.Join(", ", inputIds.shape)}]");
        long b = inputIds.shape[0], s = inputIds.shape[1];
        long past = cache?.Length ?? 0;
        if (cache is not null && cache.Length > 0 && cache.BatchSize != b)
            throw new ArgumentException($"the cache holds {cache.BatchSize} rows, the input has {b}");
        using var scope = NewDisposeScope();
        var mask = attentionMask.to(ScalarType.Int64);
        var fullMask = cache?.MaskWith(mask) ?? mask;
        if (past + s > Config.MaxPositions)
            throw new ArgumentException($"sequence of {past + s} tokens is longer than the model's {Config.MaxPositions} positions");
        var positions = fullMask.cumsum(1).sub(Scalars.Of(1L)).clamp_min(Scalars.Of(0L)).narrow(1, past, s);
        using var first = past.ToScalar();
        using var end = (past + s).ToScalar();
        var qpos = arange(first, end, Scalars.Of(1L), device: inputIds.device).unsqueeze(1);
        var kpos = arange(Scalars.Of(0L), end, Scalars.Of(1L), device: inputIds.device).unsqueeze(0);
        // [batch, 1, seq, past + seq]: causal and not padding; a token always sees itself, so padded rows stay finite.
        var keep = (kpos.le(qpos).unsqueeze(0) & fullMask.to(ScalarType.Bool).unsqueeze(1)) | kpos.eq(qpos).unsqueeze(0);
        var x = Embed(inputIds, overrides);
        x = AddPositions(x, positions);
        var h = Blocks(x, positions, keep.unsqueeze(1), cache);
        cache?.Commit(fullMask);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Token embeddings, task-token rows replaced by the override vectors.</summary>
    Tensor Embed(Tensor ids, EmbeddingOverrides? overrides)
    {
        var task = ids.ge(Scalars.Of((long)Config.VocabSize));
        bool anyTask = task.any().item<bool>();
        var lookup = anyTask ? ids.masked_fill(task, Scalars.Of(0L)) : ids;
        var x = TokenEmbeddings.forward(lookup);
        if (overrides is not null)
        {
            if (anyTask)
            {
                var covered = zeros_like(ids, ScalarType.Bool).index_put_(ones(overrides.Batch.shape[0], dtype: ScalarType.Bool, device: ids.device), [overrides.Batch, overrides.Position]);
                if ((task & covered.logical_not()).any().item<bool>())
                    throw new ArgumentException($"a task-token id (>= vocabulary size {Config.VocabSize}) has no embedding override");
            }
            x = x.index_put_(overrides.Vectors.to(x.dtype), [overrides.Batch, overrides.Position]); // a fresh activation: in place is safe
        }
        else if (anyTask)
            throw new ArgumentException($"ids at or above the vocabulary size {Config.VocabSize} are task tokens and need embedding overrides");
        return x;
    }

    /// <summary>Next-token logits [..., vocab] of hidden states.</summary>
    public Tensor Logits(Tensor hidden) => functional.linear(hidden, HeadWeight);

    /// <summary>The hidden state of each row's last real token [batch, hidden] (right or left padding).</summary>
    public Tensor Pool(Tensor hidden, Tensor attentionMask) => LastToken(hidden, attentionMask);

    public static Tensor LastToken(Tensor hidden, Tensor attentionMask)
    {
        long b = hidden.shape[0], s = hidden.shape[1], h = hidden.shape[2];
        using var end = (s + 1).ToScalar();
        using var pos = arange(Scalars.Of(1L), end, Scalars.Of(1L), device: hidden.device).unsqueeze(0);
        using var weighted = attentionMask.to(ScalarType.Int64) * pos;
        using var last = weighted.argmax(1);
        using var index = last.view(b, 1, 1).expand(b, 1, h);
        return hidden.gather(1, index).squeeze(1);
    }

    /// <summary>Every linear layer by its dotted name, for LoRA targeting.</summary>
    public IEnumerable<(string Name, AdaptableLinear Linear)> Linears() =>
        named_modules().Where(m => m.module is AdaptableLinear).Select(m => (m.name, (AdaptableLinear)m.module));

    /// <summary>
    /// The layer names a LoRA target stands for. Besides the layers' own names (q_proj, v_proj, c_attn, ...), BERT's
    /// names work, so one experiment setting fits every backbone: query / key / value -> q_proj / k_proj / v_proj
    /// (GPT-2: the fused c_attn), attention.output -> o_proj (attn.c_proj), intermediate -> gate_proj + up_proj
    /// (mlp.c_fc), output -> down_proj (mlp.c_proj).
    /// </summary>
    static IEnumerable<string> TargetNames(string target) => target switch
    {
        "query" => ["q_proj", "attn.c_attn"],
        "key" => ["k_proj", "attn.c_attn"],
        "value" => ["v_proj", "attn.c_attn"],
        "attention.output" => ["o_proj", "attn.c_proj"],
        "intermediate" => ["gate_proj", "up_proj", "mlp.c_fc"],
        "output" => ["down_proj", "mlp.c_proj"],
        _ => [target],
    };

    public long SetTrainingMode(TrainingMode mode, LoraOptions? lora = null) =>
        TrainingModes.Apply(this, Linears, mode, lora, (name, o) =>
            o.Targets.SelectMany(TargetNames).Any(t => name == t || name.EndsWith("." + t, StringComparison.Ordinal)));

    public long TrainableParameters() => parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    public long TotalParameters() => parameters().Sum(p => p.numel());

    public void MergeAdapters() { foreach (var (_, l) in Linears()) l.Merge(); }
    public void UnmergeAdapters() { foreach (var (_, l) in Linears()) l.Unmerge(); }

    /// <summary>The model's weights by name (adapters included when present).</summary>
    public Dictionary<string, Tensor> Weights() => named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);

    /// <summary>A fresh model of <paramref name="config"/>'s family with random weights.</summary>
    public static DecoderModel Create(DecoderConfig config) => config.Architecture switch
    {
        DecoderArchitecture.Gpt2 => new Gpt2Model(config),
        _ => new LlamaModel(config),
    };

    /// <summary>Scaled dot-product attention over kept keys; k and v may have fewer heads than q (grouped-query).</summary>
    internal static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor keep)
    {
        long b = q.shape[0], heads = q.shape[1], s = q.shape[2], d = q.shape[3], kvHeads = k.shape[1], t = k.shape[2];
        if (kvHeads != heads)
        {
            long group = heads / kvHeads; // query head h reads key / value head h / group
            k = k.unsqueeze(2).expand(b, kvHeads, group, t, d).reshape(b, heads, t, d);
            v = v.unsqueeze(2).expand(b, kvHeads, group, t, d).reshape(b, heads, t, d);
        }
        var ctx = functional.scaled_dot_product_attention(q, k, v, keep);
        return ctx.transpose(1, 2).reshape(b, s, heads * d);
    }
}

/// <summary>
/// Keys and values of the tokens seen so far, per layer [batch, kv heads, length, head size], and their attention mask.
/// The tensors belong to the cache (outside any dispose scope) until it is disposed.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor?[] _keys, _values;
    Tensor? _mask;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Tokens cached.</summary>
    public long Length => _mask?.shape[1] ?? 0;
    public long BatchSize => _mask?.shape[0] ?? 0;

    /// <summary>The cached mask followed by <paramref name="mask"/> (not stored until <see cref="Commit"/>).</summary>
    internal Tensor? MaskWith(Tensor mask) => _mask is null ? null : cat([_mask, mask], 1);

    /// <summary>Appends a layer's new keys and values and returns all of them.</summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        var keys = _keys[layer] is null ? k.detach().clone() : cat([_keys[layer]!, k.detach()], 2);
        var values = _values[layer] is null ? v.detach().clone() : cat([_values[layer]!, v.detach()], 2);
        _keys[layer]?.Dispose();
        _values[layer]?.Dispose();
        _keys[layer] = keys.DetachFromDisposeScope();
        _values[layer] = values.DetachFromDisposeScope();
        return (keys, values);
    }

    internal void Commit(Tensor fullMask)
    {
        var m = fullMask.detach().clone().DetachFromDisposeScope();
        _mask?.Dispose();
        _mask = m;
    }

    public void Dispose()
    {
        foreach (var t in _keys.Concat(_values)) t?.Dispose();
        Array.Clear(_keys);
        Array.Clear(_values);
        _mask?.Dispose();
        _mask = null;
    }
}

/// <summary>GPT-2: wte + wpe, pre-LayerNorm blocks with fused q/k/v, GELU-tanh MLP, final LayerNorm, head tied to wte.</summary>
public sealed class Gpt2Model : DecoderModel
{
    readonly Embedding wte, wpe;
    readonly ModuleList<Gpt2Block> h;
    readonly LayerNorm ln_f;
    readonly Parameter? lm_head;

    public Gpt2Model(DecoderConfig config) : base("gpt2", config)
    {
        wte = Embedding(config.VocabSize, config.Hidden);
        wpe = Embedding(config.MaxPositions, config.Hidden);
        h = new ModuleList<Gpt2Block>(Enumerable.Range(0, config.Layers).Select(i => new Gpt2Block(config, i)).ToArray());
        ln_f = LayerNorm(config.Hidden, config.NormEps);
        register_module("wte", wte);
        register_module("wpe", wpe);
        register_module("h", h);
        register_module("ln_f", ln_f);
        if (!config.TieWordEmbeddings)
        {
            lm_head = new Parameter(randn(config.VocabSize, config.Hidden).mul_(Scalars.Of(0.02)));
            register_module("lm_head", new HeadHolder(lm_head));
        }
    }

    public override Embedding TokenEmbeddings => wte;
    public override Tensor HeadWeight => lm_head ?? wte.weight!;

    protected override Tensor AddPositions(Tensor x, Tensor positions) => x.Plus(wpe.forward(positions));

    protected override Tensor Blocks(Tensor x, Tensor positions, Tensor keep, KvCache? cache)
    {
        foreach (var block in h) x = block.Forward(x, keep, cache);
        return ln_f.forward(x);
    }
}

/// <summary>Holds an untied head so that its name is "lm_head.weight".</summary>
sealed class HeadHolder : Module
{
    public HeadHolder(Parameter weight) : base("lm_head") => register_parameter("weight", weight);
}

sealed class Gpt2Block : Module
{
    readonly LayerNorm ln_1, ln_2;
    readonly Gpt2Attention attn;
    readonly Gpt2Mlp mlp;

    public Gpt2Block(DecoderConfig c, int layer) : base("block")
    {
        ln_1 = LayerNorm(c.Hidden, c.NormEps);
        attn = new Gpt2Attention(c, layer);
        ln_2 = LayerNorm(c.Hidden, c.NormEps);
        mlp = new Gpt2Mlp(c);
        register_module("ln_1", ln_1);
        register_module("attn", attn);
        register_module("ln_2", ln_2);
        register_module("mlp", mlp);
    }

    public Tensor Forward(Tensor x, Tensor keep, KvCache? cache)
    {
        x = x.Plus(attn.Forward(ln_1.forward(x), keep, cache));
        return x.Plus(mlp.Forward(ln_2.forward(x)));
    }
}

sealed class Gpt2Attention : Module
{
    readonly AdaptableLinear c_attn, c_proj;
    readonly int heads, headDim, layer;

    public Gpt2Attention(DecoderConfig c, int layer) : base("attn")
    {
        heads = c.Heads; headDim = c.HeadDim; this.layer = layer;
        c_attn = new AdaptableLinear(c.Hidden, 3 * c.Hidden);
        c_proj = new AdaptableLinear(c.Hidden, c.Hidden);
        register_module("c_attn", c_attn);
        register_module("c_proj", c_proj);
    }

    public Tensor Forward(Tensor x, Tensor keep, KvCache? cache)
    {
        long b = x.shape[0], s = x.shape[1];
        var qkv = c_attn.forward(x).view(b, s, 3, heads, headDim).permute(2, 0, 3, 1, 4); // [3, batch, heads, seq, dim]
        Tensor q = qkv[0], k = qkv[1], v = qkv[2];
        if (cache is not null) (k, v) = cache.Append(layer, k, v);
        return c_proj.forward(DecoderModel.Attend(q, k, v, keep));
    }
}

sealed class Gpt2Mlp : Module
{
    static readonly Scalar Half = 0.5, One = 1.0, Cubic = 0.044715, Root2OverPi = Math.Sqrt(2.0 / Math.PI), Three = 3.0;
    readonly AdaptableLinear c_fc, c_proj;

    public Gpt2Mlp(DecoderConfig c) : base("mlp")
    {
        c_fc = new AdaptableLinear(c.Hidden, c.Intermediate);
        c_proj = new AdaptableLinear(c.Intermediate, c.Hidden);
        register_module("c_fc", c_fc);
        register_module("c_proj", c_proj);
    }

    /// <summary>GELU, tanh form (GPT-2's gelu_new): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    public static Tensor GeluTanh(Tensor x) => x.mul(Half).mul(x.Plus(x.pow(Three).mul(Cubic)).mul(Root2OverPi).tanh().Plus(One));

    public Tensor Forward(Tensor x) => c_proj.forward(GeluTanh(c_fc.forward(x)));
}

/// <summary>
/// The LLaMA family (LLaMA, TinyLlama, Qwen2): embed_tokens, pre-RMSNorm blocks with rotary grouped-query attention and
/// a SwiGLU MLP, final RMSNorm, head tied to embed_tokens or its own lm_head.
/// </summary>
public sealed class LlamaModel : DecoderModel
{
    readonly LlamaBody model;
    readonly Parameter? lm_head;
    readonly Tensor _invFreq;

    public LlamaModel(DecoderConfig config) : base(config.Architecture == DecoderArchitecture.Qwen2 ? "qwen2" : "llama", config)
    {
        model = new LlamaBody(config);
        register_module("model", model);
        if (!config.TieWordEmbeddings)
        {
            lm_head = new Parameter(randn(config.VocabSize, config.Hidden).mul_(Scalars.Of(0.02)));
            register_module("lm_head", new HeadHolder(lm_head));
        }
        // Rotary frequencies theta^(-2j/d), j < d/2; not a parameter and not saved.
        var inv = new float[config.HeadDim / 2];
        for (int j = 0; j < inv.Length; j++) inv[j] = (float)(1.0 / Math.Pow(config.RopeTheta, 2.0 * j / config.HeadDim));
        _invFreq = tensor(inv).DetachFromDisposeScope();
    }

    public override Embedding TokenEmbeddings => model.embed_tokens;
    public override Tensor HeadWeight => lm_head ?? model.embed_tokens.weight!;

    protected override Tensor Blocks(Tensor x, Tensor positions, Tensor keep, KvCache? cache)
    {
        // cos / sin [batch, 1, seq, head dim], the halves repeated: dimension j rotates with j + d/2.
        var angles = positions.to(ScalarType.Float32).unsqueeze(-1) * _invFreq.to(x.device);
        var full = cat([angles, angles], -1).unsqueeze(1);
        var rope = (full.cos().to(x.dtype), full.sin().to(x.dtype));
        for (int i = 0; i < model.layers.Count; i++) x = model.layers[i].Forward(x, rope, keep, cache);
        return model.norm.forward(x);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _invFreq.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Holds the "model." part of the LLaMA names.</summary>
sealed class LlamaBody : Module
{
    public readonly Embedding embed_tokens;
    public readonly ModuleList<LlamaBlock> layers;
    public readonly RmsNorm norm;

    public LlamaBody(DecoderConfig c) : base("model")
    {
        embed_tokens = Embedding(c.VocabSize, c.Hidden);
        layers = new ModuleList<LlamaBlock>(Enumerable.Range(0, c.Layers).Select(i => new LlamaBlock(c, i)).ToArray());
        norm = new RmsNorm(c.Hidden, c.NormEps);
        register_module("embed_tokens", embed_tokens);
        register_module("layers", layers);
        register_module("norm", norm);
    }
}

/// <summary>x / sqrt(mean(x^2) + eps) * weight, computed in float32.</summary>
public sealed class RmsNorm : Module<Tensor, Tensor>
{
    static readonly Scalar Two = 2.0;
    readonly Parameter weight;
    readonly Scalar _eps;

    public RmsNorm(int size, double eps) : base("rmsnorm")
    {
        weight = new Parameter(ones(size));
        _eps = eps;
        register_parameter("weight", weight);
    }

    public override Tensor forward(Tensor x)
    {
        var f = x.to(ScalarType.Float32);
        var normed = f * f.pow(Two).mean([-1L], keepdim: true).Plus(_eps).rsqrt();
        return normed.to(x.dtype) * weight;
    }
}

sealed class LlamaBlock : Module
{
    readonly RmsNorm input_layernorm, post_attention_layernorm;
    readonly LlamaAttention self_attn;
    readonly LlamaMlp mlp;

    public LlamaBlock(DecoderConfig c, int layer) : base("layer")
    {
        input_layernorm = new RmsNorm(c.Hidden, c.NormEps);
        self_attn = new LlamaAttention(c, layer);
        post_attention_layernorm = new RmsNorm(c.Hidden, c.NormEps);
        mlp = new LlamaMlp(c);
        register_module("input_layernorm", input_layernorm);
        register_module("self_attn", self_attn);
        register_module("post_attention_layernorm", post_attention_layernorm);
        register_module("mlp", mlp);
    }

    public Tensor Forward(Tensor x, (Tensor Cos, Tensor Sin) rope, Tensor keep, KvCache? cache)
    {
        x = x.Plus(self_attn.Forward(input_layernorm.forward(x), rope, keep, cache));
        return x.Plus(mlp.Forward(post_attention_layernorm.forward(x)));
    }
}

sealed class LlamaAttention : Module
{
    readonly AdaptableLinear q_proj, k_proj, v_proj, o_proj;
    readonly int heads, kvHeads, headDim, layer;

    public LlamaAttention(DecoderConfig c, int layer) : base("self_attn")
    {
        heads = c.Heads; kvHeads = c.KvHeads; headDim = c.HeadDim; this.layer = layer;
        q_proj = new AdaptableLinear(c.Hidden, heads * headDim, c.QkvBias);
        k_proj = new AdaptableLinear(c.Hidden, kvHeads * headDim, c.QkvBias);
        v_proj = new AdaptableLinear(c.Hidden, kvHeads * headDim, c.QkvBias);
        o_proj = new AdaptableLinear(heads * headDim, c.Hidden, c.OutputBias);
        register_module("q_proj", q_proj);
        register_module("k_proj", k_proj);
        register_module("v_proj", v_proj);
        register_module("o_proj", o_proj);
    }

    /// <summary>Rotary embedding: x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1].</summary>
    static Tensor Rotate(Tensor x, (Tensor Cos, Tensor Sin) rope)
    {
        long half = x.shape[^1] / 2;
        var rotated = cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
        return (x * rope.Cos).Plus(rotated * rope.Sin);
    }

    public Tensor Forward(Tensor x, (Tensor Cos, Tensor Sin) rope, Tensor keep, KvCache? cache)
    {
        long b = x.shape[0], s = x.shape[1];
        var q = Rotate(q_proj.forward(x).view(b, s, heads, headDim).transpose(1, 2), rope);
        var k = Rotate(k_proj.forward(x).view(b, s, kvHeads, headDim).transpose(1, 2), rope);
        var v = v_proj.forward(x).view(b, s, kvHeads, headDim).transpose(1, 2);
        if (cache is not null) (k, v) = cache.Append(layer, k, v);
        return o_proj.forward(DecoderModel.Attend(q, k, v, keep));
    }
}

/// <summary>SwiGLU: down(silu(gate(x)) * up(x)).</summary>
sealed class LlamaMlp : Module
{
    readonly AdaptableLinear gate_proj, up_proj, down_proj;

    public LlamaMlp(DecoderConfig c) : base("mlp")
    {
        gate_proj = new AdaptableLinear(c.Hidden, c.Intermediate, c.MlpBias);
        up_proj = new AdaptableLinear(c.Hidden, c.Intermediate, c.MlpBias);
        down_proj = new AdaptableLinear(c.Intermediate, c.Hidden, c.MlpBias);
        register_module("gate_proj", gate_proj);
        register_module("up_proj", up_proj);
        register_module("down_proj", down_proj);
    }

    public Tensor Forward(Tensor x) => down_proj.forward(functional.silu(gate_proj.forward(x)) * up_proj.forward(x));
}
