using BridgeRec.Language;
using System.Diagnostics.Metrics;
using BridgeRec.Data;
using BridgeRec.LlmRec;

namespace BridgeRec.Serving;

/// <summary>Limits and batching of a <see cref="RecommenderService"/>.</summary>
public sealed record ServingOptions
{
    /// <summary>The most items a posted history may hold.</summary>
    public int MaxHistory { get; init; } = 500;

    /// <summary>The most new items (known by their text only) one LLM request may rank next to the catalog.</summary>
    public int MaxNewItems { get; init; } = 100;

    /// <summary>How long an LLM request may take, queueing included, before it is answered with a timeout.</summary>
    public TimeSpan LlmTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How LLM requests are grouped into forward passes.</summary>
    public BatchingOptions LlmBatching { get; init; } = new();

    /// <summary>Threads of torch's CPU operator pool for LLM forward passes; null: the cores nothing else on the machine is using (Native/ThreadBudget).</summary>
    public int? TorchThreads { get; init; }

    /// <summary>When the DSM path uses an approximate nearest-neighbour index (large catalogs) and how it is built.</summary>
    public AnnOptions Ann { get; init; } = new();

    public void Validate()
    {
        if (MaxHistory is < 1 or > 100_000) throw new ArgumentOutOfRangeException(nameof(MaxHistory), $"the history limit must be 1 to 100000 items (got {MaxHistory})");
        if (MaxNewItems is < 0 or > 10_000) throw new ArgumentOutOfRangeException(nameof(MaxNewItems), $"the new-items limit must be 0 to 10000 items (got {MaxNewItems})");
        if (LlmTimeout <= TimeSpan.Zero || LlmTimeout > TimeSpan.FromMinutes(10))
            throw new ArgumentOutOfRangeException(nameof(LlmTimeout), $"the LLM timeout must be above 0 and at most 10 minutes (got {LlmTimeout.TotalMilliseconds} ms)");
        LlmBatching.Validate();
        if (TorchThreads is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(TorchThreads), $"torch threads must be 1 to 256 (got {TorchThreads})");
        Ann.Validate();
    }
}

/// <summary>A reload found a broken or incomplete model folder; the model that was serving goes on.</summary>
public sealed class CheckpointRejectedException(string message, Exception inner) : Exception(message, inner);

/// <summary>Another reload is running.</summary>
public sealed class ReloadInProgressException() : Exception("a reload is already running; try again when it has finished");

/// <summary>An LLM request outlived <see cref="ServingOptions.LlmTimeout"/>.</summary>
public sealed class LlmTimeoutException(string message) : Exception(message);

/// <summary>
/// Serves one model folder: the current <see cref="ServingModel"/>, swapped atomically by
/// <see cref="ReloadAsync"/> (a broken folder is rejected and the old model keeps serving), the DSM
/// path on the caller's thread, and the LLM path through one worker thread that micro-batches requests
/// (TorchSharp is only ever called from that thread: loads, forward passes and frees). The sentence encoder of new
/// items' texts (<see cref="TextEncoder"/>: MiniLM from its package, the same for every model folder) is loaded on that
/// thread too, with the first model whose LLM reads item text, and kept across reloads.
/// </summary>
public sealed class RecommenderService : IDisposable
{
    readonly MicroBatcher<LlmRequest, Recommendation> _worker;
    readonly ServingMetrics _metrics;
    readonly SemaphoreSlim _reloadGate = new(1, 1);
    readonly EncoderSlot _encoder;
    ServingModel _current;
    int _disposed;

    /// <summary>The text encoder, touched on the worker thread only: loaded once, when a model needs it or (failing that) by the first request.</summary>
    sealed class EncoderSlot
    {
        TextEncoder? _encoder;
        EmbeddedEncoder? _which;
        public TextEncoder Get() => _encoder ??= new TextEncoder(_which);
        /// <summary>Loads the encoder the model was trained with (its backbone's, e.g. arctic-xs), replacing another one.</summary>
        public void LoadFor(ServingModel m)
        {
            if (m.Llm is not { ScoresItemText: true }) return;
            var which = m.LlmSpec?.Backbone.Encoder ?? EmbeddedEncoder.MiniLm;
            if (_encoder is not null && _encoder.Encoder != which) Dispose();
            _which = which;
            Get();
        }
        public void Dispose() { _encoder?.Dispose(); _encoder = null; }
    }

    public string ModelDir { get; }
    public ServingOptions Options { get; }

    /// <summary>The model answering new requests.</summary>
    public ServingModel Current => Volatile.Read(ref _current);

    /// <summary>LLM batches run, requests answered in them, and the largest batch.</summary>
    public (long Batches, long Requests, long LargestBatch) LlmStats => (_worker.Batches, _worker.Requests, _worker.LargestBatch);

    RecommenderService(string dir, ServingOptions options, MicroBatcher<LlmRequest, Recommendation> worker, ServingModel first, ServingMetrics metrics, EncoderSlot encoder)
    {
        ModelDir = dir; Options = options; _worker = worker; _current = first; _metrics = metrics; _encoder = encoder;
    }

    /// <summary>Loads the folder (on the worker thread) and starts serving it. Errors name the folder and the problem.</summary>
    /// <param name="meterFactory">Where the <see cref="ServingMetrics"/> meter comes from (a host's DI container); null: a meter of the service's own.</param>
    public static async Task<RecommenderService> StartAsync(string modelDir, ServingOptions? options = null, IMeterFactory? meterFactory = null)
    {
        options ??= new ServingOptions();
        options.Validate();
        string dir = Path.GetFullPath(modelDir);
        // The metrics read the worker and the service once they exist; nothing is collected before StartAsync returns.
        MicroBatcher<LlmRequest, Recommendation>? worker = null;
        RecommenderService? service = null;
        var metrics = new ServingMetrics(meterFactory, () => worker?.Queued ?? 0, () => service?.Current.Generation ?? 0);
        var encoder = new EncoderSlot();
        ServingModel? first = null;
        try
        {
            worker = new MicroBatcher<LlmRequest, Recommendation>("bridgerec-torch", options.LlmBatching, batch => RunBatch(batch, options, encoder.Get), metrics.BatchDone);
            await worker.Run(() =>
            {
                if (options.TorchThreads is int threads) TorchSharp.torch.set_num_threads(threads);
                else Native.ThreadBudget.Refresh();
            });
            first = await worker.Run(() => ServingModel.Load(dir, 1, options.Ann));
            await worker.Run(() => encoder.LoadFor(first));
            service = new RecommenderService(dir, options, worker, first, metrics, encoder);
            return service;
        }
        catch
        {
            if (worker is not null)
            {
                // Torch memory is freed on the worker thread, before it stops.
                _ = worker.Run(() => { first?.Dispose(); encoder.Dispose(); });
                worker.Dispose();
            }
            metrics.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The current model with a reference held for a request, so that a reload cannot free it (the LLM's torch
    /// memory, the DSM's approximate index) while the request uses it. Dispose the lease when the request is answered.
    /// </summary>
    public ModelLease Acquire()
    {
        while (true)
        {
            var m = Current;
            if (m.TryAcquire()) return new ModelLease(this, m);
            // m was retired and freed between the read and the acquire: the next read sees its successor.
        }
    }

    internal void Release(ServingModel m)
    {
        if (!m.Release()) return;
        // The last reference: free the torch memory on the worker thread (inline once it has stopped).
        var freed = _worker.Run(m.Dispose);
        if (freed.IsFaulted && freed.Exception!.InnerException is ObjectDisposedException) m.Dispose();
    }

    /// <summary>The LLM's top <paramref name="k"/> for a known user (<paramref name="history"/> null) or a new one described by its history.</summary>
    /// <param name="newItems">items never in training, ranked from their text next to the catalog (the LLM must read item text: <see cref="LlmRecommender.ScoresItemText"/>); in the answer, item index items + j is new item j</param>
    public async Task<Recommendation> RecommendLlmAsync(ModelLease lease, int user, int[]? history, int k, CancellationToken aborted,
        IReadOnlyList<NewItem>? newItems = null)
    {
        var model = lease.Model;
        if (model.Llm is null) throw new InvalidOperationException($"{model.Directory} has no LLM recommender: use via=dsm, or serve a folder from 'bridgerec bdlm'");
        if (newItems is { Count: > 0 })
        {
            // Checked here, not in the batch: one request's problem must not fail the others batched with it.
            model.Llm.RequireItemText();
            if (newItems.Count > Options.MaxNewItems)
                throw new ArgumentException($"{newItems.Count} new items; at most {Options.MaxNewItems} are ranked per request", nameof(newItems));
        }
        var request = new LlmRequest(model, history is null ? user : -1, history, k, newItems is { Count: > 0 } ? newItems : null);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(Options.LlmTimeout);
        try
        {
            return await _worker.Enqueue(request, timeout.Token);
        }
        catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
        {
            throw new LlmTimeoutException($"the LLM did not answer within {Options.LlmTimeout.TotalMilliseconds:F0} ms ({_worker.Queued} requests waiting)");
        }
    }

    /// <summary>Runs a batch on the worker: requests grouped by the model generation they arrived under.</summary>
    static Recommendation[] RunBatch(IReadOnlyList<LlmRequest> batch, ServingOptions options, Func<TextEncoder> encoder)
    {
        // Forward passes share the cores with training jobs on the same machine unless --torch-threads fixed the count.
        using var shared = options.TorchThreads is null ? Native.ThreadBudget.Adaptive() : null;
        if (options.TorchThreads is null) Native.ThreadBudget.Refresh();
        var results = new Recommendation[batch.Count];
        var model = batch[0].Model;
        if (batch.All(r => r.Model == model)) return model.RecommendLlm(batch, encoder);
        foreach (var group in batch.Select((r, i) => (r, i)).GroupBy(x => x.r.Model))
        {
            var part = group.ToList();
            var answers = group.Key.RecommendLlm(part.Select(x => x.r).ToList(), encoder);
            for (int j = 0; j < part.Count; j++) results[part[j].i] = answers[j];
        }
        return results;
    }

    /// <summary>
    /// Loads the folder again in the background (worker thread) and swaps it in atomically; requests
    /// keep being answered meanwhile (DSM by the old model, LLM after the load). A folder that fails to
    /// load is rejected with <see cref="CheckpointRejectedException"/> and the old model keeps serving.
    /// </summary>
    public async Task<ServingModel> ReloadAsync()
    {
        if (!await _reloadGate.WaitAsync(0))
        {
            _metrics.Reload("busy");
            throw new ReloadInProgressException();
        }
        try
        {
            var old = Current;
            ServingModel fresh;
            try
            {
                fresh = await _worker.Run(() =>
                {
                    var m = ServingModel.Load(ModelDir, old.Generation + 1, Options.Ann);
                    try { _encoder.LoadFor(m); }
                    catch { m.Dispose(); throw; }
                    return m;
                });
            }
            catch (Exception e) when (e is not ObjectDisposedException)
            {
                _metrics.Reload("rejected");
                throw new CheckpointRejectedException($"the model folder {ModelDir} was rejected: {e.Message}; generation {old.Generation} keeps serving", e);
            }
            Volatile.Write(ref _current, fresh);
            _metrics.Reload("ok");
            Release(old); // the service's own reference: freed now, or when its last LLM request ends
            return fresh;
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Release(Current);
        var freed = _worker.Run(_encoder.Dispose);
        if (freed.IsFaulted && freed.Exception!.InnerException is ObjectDisposedException) _encoder.Dispose();
        _worker.Dispose();
        _reloadGate.Dispose();
        _metrics.Dispose();
    }
}

/// <summary>A reference to a serving model for the length of one request.</summary>
public readonly struct ModelLease(RecommenderService service, ServingModel model) : IDisposable
{
    public ServingModel Model { get; } = model;
    public void Dispose() => service.Release(Model);
}
