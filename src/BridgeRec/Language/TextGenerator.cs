using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Language;

/// <summary>How tokens are picked. Temperature 0 is greedy; otherwise logits / temperature, then top-k, then top-p, then a seeded draw.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 48;
    /// <summary>0: greedy (the most likely token); above 0: sampling at this temperature.</summary>
    public double Temperature { get; init; } = 0;
    /// <summary>Sample among the k most likely tokens only; 0: no limit.</summary>
    public int TopK { get; init; }
    /// <summary>Sample among the most likely tokens whose probabilities sum to at least p (nucleus); 1: no limit.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Generation stops when the text contains one of these; the text is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Stop at the model's end-of-sequence token.</summary>
    public bool StopAtEos { get; init; } = true;
    public int Seed { get; init; }

    public void Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max new tokens must be >= 1");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be >= 0 (0: greedy)");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top-k must be >= 0 (0: no limit)");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1]");
        if (StopStrings.Any(string.IsNullOrEmpty)) throw new ArgumentException("stop strings must not be empty");
    }
}

/// <summary>Which tokens may be generated: text only, item tokens only (constrained decoding of an item), or both.</summary>
public enum GenerationMode { Text, Items, TextAndItems }

/// <summary>
/// Tokens beyond a decoder's vocabulary that it can read and generate: BridgeRec's item tokens. Their output logits
/// come from the hidden state (<see cref="Logits"/>) and, once generated, their input embedding replaces the
/// embedding of the tokenizer's item placeholder.
/// </summary>
public interface ITaskTokenHead
{
    int Count { get; }
    /// <summary>Logits [batch, Count] of hidden states [batch, hidden].</summary>
    Tensor Logits(Tensor hidden);
    /// <summary>The input embedding [hidden] of token <paramref name="index"/>.</summary>
    Tensor InputEmbedding(int index);
}

/// <summary>
/// What was generated. Text ids are the tokenizer's; item tokens extend the vocabulary after the tokenizer's task
/// tokens: id <c>tokenizer.VocabSize + i</c> is item i (listed in order in <see cref="Items"/>).
/// <see cref="StopReason"/> is "eos", "stop" (a stop string) or "length".
/// </summary>
public sealed record GenerationResult(int[] Tokens, int[] Items, string Text, string StopReason);

/// <summary>Autoregressive decoding with a KV cache: the prompt once, then one token per step.</summary>
public static class TextGenerator
{
    public static GenerationResult Generate(DecoderModel model, DecoderTokenizer tokenizer, IReadOnlyList<int> prompt, GenerationOptions options,
        EmbeddingOverrides? promptOverrides = null, ITaskTokenHead? items = null, GenerationMode mode = GenerationMode.Text,
        IReadOnlySet<int>? bannedItems = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options.Validate();
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty", nameof(prompt));
        if (mode != GenerationMode.Text && items is null) throw new ArgumentException($"{mode} generation needs item tokens", nameof(items));
        int textCount = Math.Min(model.Config.VocabSize, tokenizer.TextVocabSize);
        int itemBase = tokenizer.VocabSize;
        var rng = new Random(options.Seed);
        var tokens = new List<int>();
        var chosenItems = new List<int>();
        var textIds = new List<int>();
        string text = "", reason = "length";
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var cache = new KvCache(model.Config.Layers);
            float[] logits;
            using (var scope = NewDisposeScope())
            {
                var ids = tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Count], device: model.TokenEmbeddings.weight!.device);
                logits = StepLogits(model, ids, promptOverrides, cache, items, mode, textCount);
            }
            for (int step = 0; step < options.MaxNewTokens; step++)
            {
                if (bannedItems is not null && mode != GenerationMode.Text)
                {
                    int offset = mode == GenerationMode.Items ? 0 : textCount;
                    foreach (int b in bannedItems)
                        if ((uint)b < (uint)items!.Count) logits[offset + b] = float.NegativeInfinity;
                }
                int pick = Pick(logits, options, rng);
                bool isItem = mode == GenerationMode.Items || (mode == GenerationMode.TextAndItems && pick >= textCount);
                int item = mode == GenerationMode.Items ? pick : pick - textCount;
                if (isItem)
                {
                    tokens.Add(itemBase + item);
                    chosenItems.Add(item);
                }
                else
                {
                    if (options.StopAtEos && tokenizer.EosIds.Contains(pick)) { reason = "eos"; break; }
                    tokens.Add(pick);
                    textIds.Add(pick);
                    text = tokenizer.Decode(textIds, skipSpecialTokens: true);
                    int cut = options.StopStrings.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                    if (cut >= 0) { text = text[..cut]; reason = "stop"; break; }
                }
                if (step == options.MaxNewTokens - 1) break;
                using var scope = NewDisposeScope();
                var device = model.TokenEmbeddings.weight!.device;
                var next = tensor(new long[] { isItem ? tokenizer.ItemTokenId : pick }, [1, 1], device: device);
                EmbeddingOverrides? ov = null;
                if (isItem)
                {
                    var zero = zeros(1, ScalarType.Int64, device: device);
                    ov = new EmbeddingOverrides(zero, zero, items!.InputEmbedding(item).unsqueeze(0));
                }
                logits = StepLogits(model, next, ov, cache, items, mode, textCount);
            }
        }
        finally { if (wasTraining) model.train(); }
        return new GenerationResult([.. tokens], [.. chosenItems], text, reason);
    }

    /// <summary>Runs the new ids through the model and returns the allowed logits of the last position (text ids first, then items).</summary>
    static float[] StepLogits(DecoderModel model, Tensor ids, EmbeddingOverrides? overrides, KvCache cache, ITaskTokenHead? items,
        GenerationMode mode, int textCount)
    {
        var last = model.Forward(ids, ones_like(ids), overrides, cache).select(1, -1); // [1, hidden]
        var parts = new List<Tensor>(2);
        if (mode != GenerationMode.Items) parts.Add(model.Logits(last).narrow(1, 0, textCount));
        if (mode != GenerationMode.Text) parts.Add(items!.Logits(last));
        var all = parts.Count == 1 ? parts[0] : cat(parts, 1);
        return all[0].to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    /// <summary>Greedy (first maximum) at temperature 0; otherwise top-k, then top-p, then a draw from the rest.</summary>
    internal static int Pick(float[] logits, GenerationOptions o, Random rng)
    {
        if (o.Temperature == 0)
        {
            int best = -1;
            for (int i = 0; i < logits.Length; i++)
                if (!float.IsNegativeInfinity(logits[i]) && (best < 0 || logits[i] > logits[best])) best = i;
            return best >= 0 ? best : throw new InvalidOperationException("every token is excluded");
        }
        var order = Enumerable.Range(0, logits.Length).Where(i => !float.IsNegativeInfinity(logits[i]))
            .OrderByDescending(i => logits[i]).ThenBy(i => i).ToArray();
        if (order.Length == 0) throw new InvalidOperationException("every token is excluded");
        if (o.TopK > 0 && order.Length > o.TopK) order = order[..o.TopK];
        double top = logits[order[0]] / o.Temperature;
        var p = order.Select(i => Math.Exp(logits[i] / o.Temperature - top)).ToArray();
        double sum = p.Sum();
        int keep = order.Length;
        if (o.TopP < 1)
        {
            double cumulative = 0;
            for (int k = 0; k < p.Length; k++)
            {
                cumulative += p[k] / sum;
                if (cumulative >= o.TopP) { keep = k + 1; break; }
            }
        }
        double total = p.Take(keep).Sum(), u = rng.NextDouble() * total;
        for (int k = 0; k < keep; k++)
        {
            u -= p[k];
            if (u < 0) return order[k];
        }
        return order[keep - 1];
    }
}
