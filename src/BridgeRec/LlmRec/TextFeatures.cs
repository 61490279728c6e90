using System.Security.Cryptography;
using System.Text;
using BridgeRec.Data;
using BridgeRec.IO;
using BridgeRec.Language;
using static TorchSharp.torch;

namespace BridgeRec.LlmRec;

/// <summary>
/// Frozen sentence embeddings of every item's text, [numItems, 384], from an encoder embedded in a NuGet package:
/// MiniLM by default (all-MiniLM-L6-v2: mean pooling, L2-normalised rows), or Arctic-embed-xs ([CLS] pooling,
/// L2-normalised rows) where the LLM backbone is that encoder. They are fixed features, not ISM rows: a
/// text-augmented DSM learns only a projection of them. Computing them takes seconds to minutes on a CPU, so they
/// are cached on disk under a name that hashes the encoder and the texts.
/// </summary>
public static class TextFeatures
{
    /// <summary>The default encoder's model id, the first line of the cache key.</summary>
    public const string Backbone = "all-MiniLM-L6-v2";
    /// <summary>The width of the features: the hidden size of every embedded encoder (checked when they are computed).</summary>
    public const int Dim = 384, ChunkSize = 64, MaxLength = 128;

    /// <summary>The text each item is embedded from: its rendered text, or its original id when it has none.</summary>
    public static string[] Texts(Dataset d) =>
        Enumerable.Range(0, d.NumItems).Select(i => d.TextOf(i)?.Render() ?? d.Items.Original(i)).ToArray();

    /// <summary>
    /// A stable key of the texts and the encoder (SHA-256, first 16 hex digits). The encoder enters as its model id,
    /// so MiniLM's keys (and cache file names) are the ones written before there was a choice of encoder.
    /// </summary>
    public static string CacheKey(IReadOnlyList<string> texts, EmbeddedEncoder? encoder = null)
    {
        encoder ??= EmbeddedEncoder.MiniLm;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes($"{encoder.ModelId}\nmax_length={MaxLength}\nitems={texts.Count}\n"));
        foreach (string t in texts)
        {
            // Length-prefixed, so no two different lists of texts hash the same stream of bytes.
            byte[] bytes = Encoding.UTF8.GetBytes(t);
            sha.AppendData(BitConverter.GetBytes(bytes.Length));
            sha.AppendData(bytes);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    public static string CachePath(IReadOnlyList<string> texts, string cacheDir, EmbeddedEncoder? encoder = null) =>
        Path.Combine(cacheDir, $"text-features-{CacheKey(texts, encoder)}.safetensors");

    /// <summary>
    /// The dataset's text features from <c>cacheDir/text-features-HASH.safetensors</c>, computing and
    /// writing them (atomically) when that file is missing or does not hold [numItems, 384].
    /// <paramref name="encoder"/> null: MiniLM. Returns a float32 CPU tensor the caller owns.
    /// </summary>
    public static Tensor LoadOrCompute(Dataset d, string cacheDir, Action<int, int>? progress = null, EmbeddedEncoder? encoder = null) =>
        LoadOrCompute(Texts(d), d.Name, cacheDir, progress, encoder);

    /// <summary>As <see cref="LoadOrCompute(Dataset, string, Action{int, int}?, EmbeddedEncoder?)"/> for one text per item index (<paramref name="name"/> goes into the file's metadata).</summary>
    public static Tensor LoadOrCompute(IReadOnlyList<string> texts, string name, string cacheDir, Action<int, int>? progress = null, EmbeddedEncoder? encoder = null)
    {
        encoder ??= EmbeddedEncoder.MiniLm;
        string path = CachePath(texts, cacheDir, encoder);
        if (File.Exists(path) && TryLoad(path, texts.Count) is { } cached) return cached;
        var features = Compute(texts, progress, encoder);
        Directory.CreateDirectory(cacheDir);
        // SafeTensors.Save writes a temporary file and renames it: a reader never sees half a cache.
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["features"] = features }, new Dictionary<string, string>
        {
            ["backbone"] = encoder.ModelId, ["max_length"] = MaxLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["items"] = texts.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), ["dataset"] = name,
        });
        return features;
    }

    /// <summary>The cached features, or null when the file is unreadable or has the wrong shape (then they are recomputed).</summary>
    static Tensor? TryLoad(string path, int numItems)
    {
        Dictionary<string, Tensor> t;
        try { t = SafeTensors.Load(path); }
        catch (InvalidDataException) { return null; }
        Tensor? result = null;
        if (t.TryGetValue("features", out var f) && f.dim() == 2 && f.shape[0] == numItems && f.shape[1] == Dim) result = f;
        foreach (var v in t.Values) if (!ReferenceEquals(v, result)) v.Dispose();
        return result;
    }

    /// <summary>Embeds the texts with an embedded encoder (null: MiniLM), in chunks of 64, reporting (done, total) after each chunk.</summary>
    public static Tensor Compute(IReadOnlyList<string> texts, Action<int, int>? progress = null, EmbeddedEncoder? encoder = null)
    {
        using var sentences = new TextEncoder(encoder);
        if (sentences.Dim != Dim)
            throw new InvalidDataException($"{encoder ?? EmbeddedEncoder.MiniLm}: hidden size {sentences.Dim}, but text features are {Dim} wide");
        return sentences.Embed(texts, progress);
    }

    /// <summary>Embeds the texts with a given sentence encoder (eval mode, no gradient, its own pooling): [texts.Count, hidden], rows L2-normalised.</summary>
    public static Tensor Compute(IReadOnlyList<string> texts, BertModel model, WordPieceTokenizer tokenizer, Action<int, int>? progress = null)
    {
        model.eval();
        using var _ = no_grad();
        int n = texts.Count, hidden = model.Config.Hidden;
        var result = zeros(n, hidden);
        // Similar lengths in one chunk pad less; rows go back to item order below. Padding is masked,
        // so the order changes only float rounding, not the embeddings.
        int[] order = Enumerable.Range(0, n).OrderBy(i => texts[i].Length).ThenBy(i => i).ToArray();
        int done = 0;
        progress?.Invoke(0, n);
        foreach (int[] chunk in order.Chunk(ChunkSize))
        {
            using var scope = NewDisposeScope();
            var (ids, mask, types) = tokenizer.EncodeBatch(chunk.Select(i => texts[i]).ToArray(), MaxLength).ToTensors();
            var emb = model.SentenceEmbedding(ids, mask, types);
            result.index_copy_(0, tensor(chunk.Select(i => (long)i).ToArray()), emb);
            done += chunk.Length;
            progress?.Invoke(done, n);
        }
        return result;
    }
}

/// <summary>
/// The encoder of <see cref="TextFeatures"/> kept loaded, for texts that come one request at a time: the sentence
/// embeddings of items that were never in training (new items for <see cref="LlmRecommender.ScoreNewItems"/>), computed
/// exactly as the catalog's features were (<see cref="TextFeatures.Backbone"/>, <see cref="TextFeatures.MaxLength"/>, L2-normalised).
/// Loading MiniLM from its package takes a few seconds; embedding a handful of texts, milliseconds.
/// </summary>
public sealed class TextEncoder : IDisposable
{
    readonly BertModel _model;
    readonly WordPieceTokenizer _tokenizer;

    /// <summary>The embedded sentence encoder <paramref name="encoder"/> (null: MiniLM), loaded once.</summary>
    public TextEncoder(EmbeddedEncoder? encoder = null)
    {
        Encoder = encoder ?? EmbeddedEncoder.MiniLm;
        (_model, _tokenizer) = BertCheckpoint.Embedded(Encoder);
    }

    /// <summary>Which embedded encoder this is.</summary>
    public EmbeddedEncoder Encoder { get; }

    /// <summary>Width of the embeddings (384).</summary>
    public int Dim => _model.Config.Hidden;

    /// <summary>Sentence embeddings [texts.Count, <see cref="Dim"/>] as <see cref="TextFeatures.Compute(IReadOnlyList{string}, Action{int, int}?, EmbeddedEncoder?)"/> makes them (float32, CPU).</summary>
    public Tensor Embed(IReadOnlyList<string> texts, Action<int, int>? progress = null) => TextFeatures.Compute(texts, _model, _tokenizer, progress);

    public void Dispose() => _model.Dispose();
}
