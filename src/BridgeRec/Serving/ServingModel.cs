using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.IO;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using static TorchSharp.torch;

namespace BridgeRec.Serving;

/// <summary>Top items of one request, best first: item indices and their scores (same length).</summary>
public sealed record Recommendation(int[] Items, float[] Scores);

/// <summary>
/// One LLM request for the worker: a known user (<see cref="User"/> >= 0, prompt from its own history)
/// or a new one (<see cref="User"/> = -1, prompt from <see cref="History"/>, oldest first), answered
/// by the model that was serving when it arrived. <see cref="NewItems"/>: items never in training, ranked
/// from their text next to the catalog; in the answer, item index items + j is new item j.
/// </summary>
public sealed record LlmRequest(ServingModel Model, int User, int[]? History, int K, IReadOnlyList<NewItem>? NewItems = null)
{
    /// <summary>The history as sorted distinct items: what a new user has seen.</summary>
    public int[] Excluded { get; } = History is null ? [] : History.Distinct().Order().ToArray();
}

/// <summary>
/// A model folder loaded for serving, read-only once built: ids and item text, the items each user has
/// seen (train + validation), the DSM as a <see cref="DsmIndex"/> (final vectors, no torch at request
/// time), and, when the folder has one, the LLM recommender. Reloads build a new one and swap it in;
/// the old one's torch and native memory is freed once the last request that uses it has finished (leases).
/// Load and all LLM calls must run on the serving worker thread (TorchSharp is used from one thread).
/// </summary>
public sealed class ServingModel : IDisposable
{
    int _refs = 1; // the service's own reference while it serves this model, plus one per request in flight

    public string Directory { get; }
    public int Generation { get; }
    public DateTime LoadedUtc { get; }
    /// <summary>When the weights were written (the DSM's shared-module file).</summary>
    public DateTime CheckpointUtc { get; }
    public double LoadSeconds { get; }
    public TrainConfig Config { get; }
    public Split Split { get; }
    public Dataset Dataset => Split.Dataset;
    /// <summary>Items each user has seen (train + validation): left out of their recommendations.</summary>
    public UserItemIndex Seen { get; }
    /// <summary>Distinct users per item in train + validation.</summary>
    public int[] ItemCounts { get; }
    public DsmIndex Dsm { get; }
    /// <summary>The DSM's name: lightgcn, mf, lightgcn+text, mf+text or pop.</summary>
    public string DsmName { get; }
    public LlmRecommender? Llm { get; private set; }
    public LlmSpec? LlmSpec { get; }
    /// <summary>Known users' histories (train + validation, oldest first): their LLM prompts.</summary>
    public IReadOnlyList<int>[]? Histories { get; }
    /// <summary>The folder's metrics.json, when there is one.</summary>
    public JsonNode? Metrics { get; }

    /// <summary>The LLM's backbone and how it was trained, e.g. "MiniLM-L6 (lora)"; null without an LLM.</summary>
    public string? LlmName { get; }

    /// <summary>Whether the loaded LLM writes text. MiniLM is an encoder that scores items: never.</summary>
    public bool LlmIsGenerative => false;

    ServingModel(string dir, int generation, DateTime checkpointUtc, double seconds, TrainConfig config, Split split, UserItemIndex seen,
        DsmIndex dsm, string dsmName, LlmRecommender? llm, LlmSpec? spec, IReadOnlyList<int>[]? histories, JsonNode? metrics)
    {
        Directory = dir; Generation = generation; LoadedUtc = DateTime.UtcNow; CheckpointUtc = checkpointUtc; LoadSeconds = seconds;
        Config = config; Split = split; Seen = seen; ItemCounts = seen.ItemDegrees(); Dsm = dsm; DsmName = dsmName; Llm = llm; LlmSpec = spec;
        Histories = histories; Metrics = metrics;
        if (llm is not null && spec is not null)
            LlmName = $"{(llm.Backbone is Language.BertModel ? spec.Backbone.Display : llm.Backbone.GetType().Name)} ({spec.Backbone.Mode})";
    }

    /// <summary>
    /// Loads a folder written by <c>bridgerec train</c>, <c>bdlm</c>, <c>demo</c> or an experiment run.
    /// Rejects it, with a message naming the problem, when a file is missing or unreadable, the sizes do
    /// not match the data, or the weights hold non-finite values.
    /// </summary>
    /// <param name="ann">when the DSM's items get an approximate index (built here, from the final item vectors); null: never</param>
    public static ServingModel Load(string dir, int generation, AnnOptions? ann = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        dir = Path.GetFullPath(dir);
        if (!System.IO.Directory.Exists(dir)) throw new DirectoryNotFoundException($"--model {dir}: no such folder");
        var (config, split, model) = DsmFolder.Load(dir);
        DsmIndex index;
        try
        {
            index = ToIndex(model, ann);
        }
        finally
        {
            if (model is DomainModel dm) dm.Dispose();
        }
        var d = split.Dataset;
        var seen = new UserItemIndex(d.NumUsers, d.NumItems, split.Train, split.Validation);
        string weights = Path.Combine(dir, File.Exists(Path.Combine(dir, ModelFolder.IsmFile)) ? ModelFolder.IsmFile : ModelFolder.ConfigFile);
        var checkpoint = File.GetLastWriteTimeUtc(weights);

        LlmRecommender? llm = null;
        try
        {
            LlmSpec? spec = null;
            IReadOnlyList<int>[]? histories = null;
            if (LlmFolder.Exists(dir))
            {
                spec = LlmFolder.ReadSpec(dir);
                llm = LlmFolder.Load(dir, split);
                llm.eval();
                using (no_grad())
                {
                    using var finite = llm.Ism.Users.isfinite().all().logical_and(llm.Ism.Items.isfinite().all());
                    if (!finite.item<bool>())
                        throw new InvalidDataException($"{Path.Combine(dir, ModelFolder.LlmIsmFile)}: the shared module holds non-finite values: the checkpoint is broken");
                }
                histories = PromptBuilder.Histories(split, includeValidation: true);
            }
            var metrics = ReadMetrics(dir);
            return new ServingModel(dir, generation, checkpoint, clock.Elapsed.TotalSeconds, config, split, seen, index, model.Name,
                llm, spec, histories, metrics);
        }
        catch
        {
            llm?.Dispose();
            index.Dispose();
            throw;
        }
    }

    /// <summary>The DSM's final user and item vectors (LightGCN: propagated) as float matrices; popularity as one shared user.</summary>
    internal static DsmIndex ToIndex(IRecommender model, AnnOptions? ann)
    {
        switch (model)
        {
            case DomainModel dsm:
            {
                using var _ = no_grad();
                // SASRec reads a posted history as it reads a known user's: through a frozen copy the index keeps (made
                // outside the scope below, which would free its weights).
                var copy = dsm is SasRec sequential ? sequential.FrozenCopy() : null;
                using var scope = NewDisposeScope();
                var (users, items) = dsm.FinalEmbeddings();
                int dim = (int)users.shape[1];
                float[]? bias = dsm.Ism.ItemBias is { } b ? RankingEvaluator.HostCopy<float>(b.detach()) : null;
                return new DsmIndex(RankingEvaluator.HostCopy<float>(users), RankingEvaluator.HostCopy<float>(items), bias, dim, ann: ann,
                    encodeHistory: copy is null ? null : history => EncodeHistory(copy, history), encoderOwner: copy);
            }
            case Popularity pop:
                return new DsmIndex([1f], pop.Counts.ToArray(), null, 1, sameForAll: true);
            default:
                throw new InvalidDataException($"a {model.Name} model cannot be served: expected a domain model (lightgcn, mf, +text) or popularity");
        }
    }

    /// <summary>SASRec's representation of one posted history (requests may come from several threads: one at a time).</summary>
    internal static float[] EncodeHistory(SasRec encoder, int[] history)
    {
        lock (encoder)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            return RankingEvaluator.HostCopy<float>(encoder.Represent([history]).squeeze(0));
        }
    }

    static JsonNode? ReadMetrics(string dir)
    {
        string path = Path.Combine(dir, ModelFolder.MetricsFile);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})");
        }
    }

    /// <summary>Takes a reference for an LLM request; false once the model is retired and freed.</summary>
    internal bool TryAcquire()
    {
        while (true)
        {
            int c = Volatile.Read(ref _refs);
            if (c == 0) return false;
            if (Interlocked.CompareExchange(ref _refs, c + 1, c) == c) return true;
        }
    }

    /// <summary>Drops a reference; true when it was the last, so the torch memory can be freed.</summary>
    internal bool Release() => Interlocked.Decrement(ref _refs) == 0;

    /// <summary>
    /// The LLM's top items for a batch of requests, in one forward pass over their prompts. Runs on the
    /// worker thread; every request of the batch must use this model.
    /// </summary>
    /// <param name="encoder">the sentence encoder of new items' texts (<see cref="TextEncoder"/>), asked for only when a request has new items</param>
    public Recommendation[] RecommendLlm(IReadOnlyList<LlmRequest> batch, Func<TextEncoder>? encoder = null)
    {
        var llm = Llm ?? throw new InvalidOperationException($"{Directory} has no LLM recommender (no {ModelFolder.LlmSpecFile})");
        var prompts = new List<Prompt>(batch.Count);
        foreach (var r in batch)
        {
            if (r.Model != this) throw new ArgumentException("a request of another model generation was batched with this one", nameof(batch));
            // A posted history has no user row, so no [U]; but an LLM with a user encoder reads the [U] token from the
            // history itself (SASRec's representation of it), never a row, so it gets one (its id, 0, is not read).
            prompts.Add(r.User >= 0 ? llm.Prompts.Build(r.User, Histories![r.User]) : llm.Prompts.Build(llm.UserEncoder is null ? -1 : 0, r.History!));
        }
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var queries = llm.Queries(llm.Prompts.Collate(prompts));
        var scores = llm.CatalogLogits(queries).contiguous();
        var all = MemoryMarshal.Cast<byte, float>(scores.bytes);
        int n = Dataset.NumItems;
        var results = new Recommendation[batch.Count];
        for (int b = 0; b < batch.Count; b++)
        {
            var r = batch[b];
            var excluded = r.User >= 0 ? Seen.ItemsOf(r.User) : r.Excluded;
            var row = all.Slice(b * n, n);
            float[]? merged = null;
            if (r.NewItems is { Count: > 0 } fresh)
            {
                // The new items' scores after the catalog's: index n + j is new item j, on the same scale (one query vector).
                var textEncoder = encoder?.Invoke() ?? throw new ArgumentNullException(nameof(encoder), "a request with new items needs the text encoder");
                var text = textEncoder.Embed(fresh.Select(x => x.Text).ToArray());
                var newScores = LlmRecommender.NewItemLogits(queries.narrow(0, b, 1), llm.NewItemVectors(text)).contiguous();
                merged = new float[n + fresh.Count];
                row.CopyTo(merged);
                MemoryMarshal.Cast<byte, float>(newScores.bytes).CopyTo(merged.AsSpan(n));
            }
            var items = new int[r.K];
            var top = new float[r.K];
            ReadOnlySpan<float> ranked = row;
            if (merged is not null) ranked = merged;
            int count = TopK.Select(ranked, excluded, items, top);
            results[b] = count == r.K ? new Recommendation(items, top) : new Recommendation(items[..count], top[..count]);
        }
        return results;
    }

    /// <summary>Frees the LLM's torch memory (worker thread) and the DSM's approximate index, if it has one.</summary>
    public void Dispose()
    {
        Dsm.Dispose();
        if (Llm is { } llm)
        {
            Llm = null;
            llm.Dispose();
        }
    }
}
