using System.Collections.Concurrent;
using System.Diagnostics;

namespace BridgeRec.Serving;

/// <summary>How a <see cref="MicroBatcher{TRequest, TResult}"/> groups requests.</summary>
public sealed record BatchingOptions
{
    /// <summary>How long the first request of a batch may wait for others to join it (from when it arrived).</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>The most requests in one batch; 1 turns micro-batching off (one request per call).</summary>
    public int MaxBatch { get; init; } = 16;

    public void Validate()
    {
        if (Window < TimeSpan.Zero || Window > TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(Window), $"the batching window must be 0 to 1000 ms (got {Window.TotalMilliseconds} ms)");
        if (MaxBatch is < 1 or > 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxBatch), $"the largest batch must be 1 to 1024 (got {MaxBatch})");
    }
}

/// <summary>
/// One dedicated worker thread that owns all work of a kind that must not run on several threads at
/// once (TorchSharp). Requests queue up and are handed to the batch function in groups: the worker
/// takes the oldest request, waits until <see cref="BatchingOptions.Window"/> has passed since it
/// arrived or <see cref="BatchingOptions.MaxBatch"/> requests are there, and runs them as one batch, so
/// throughput grows with load while a lone request waits at most the window. Other jobs
/// (<see cref="Run{T}"/>: loading or freeing a model) run on the same thread in arrival order.
/// A request cancelled before its batch starts is skipped.
/// </summary>
public sealed class MicroBatcher<TRequest, TResult> : IDisposable
{
    /// <summary>Runs a batch on the worker thread: one result per request, in order.</summary>
    public delegate TResult[] BatchFunction(IReadOnlyList<TRequest> batch);

    abstract class Entry
    {
        public abstract bool Done { get; }
        public abstract void Fail(Exception e);
    }

    sealed class RequestEntry(TRequest request, long arrived) : Entry
    {
        public readonly TRequest Request = request;
        public readonly long Arrived = arrived;
        public readonly TaskCompletionSource<TResult> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Cancellation;
        public override bool Done => Completion.Task.IsCompleted;
        public override void Fail(Exception e) => Completion.TrySetException(e);
    }

    abstract class JobEntry : Entry
    {
        public abstract void Execute();
    }

    sealed class JobEntry<T>(Func<T> body) : JobEntry
    {
        public readonly TaskCompletionSource<T> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override bool Done => Completion.Task.IsCompleted;
        public override void Fail(Exception e) => Completion.TrySetException(e);

        public override void Execute()
        {
            try { Completion.TrySetResult(body()); }
            catch (Exception e) { Completion.TrySetException(e); }
        }
    }

    readonly BlockingCollection<Entry> _queue = new(new ConcurrentQueue<Entry>());
    readonly BatchFunction _run;
    readonly Action<int, TimeSpan>? _batchDone;
    readonly Thread _thread;
    long _batches, _requests, _largest;

    public BatchingOptions Options { get; }

    /// <summary>Batches run so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Requests answered in those batches.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The largest batch so far.</summary>
    public long LargestBatch => Interlocked.Read(ref _largest);

    /// <summary>Requests and jobs waiting.</summary>
    public int Queued => _queue.Count;

    /// <param name="batchDone">Called on the worker thread after each batch with its size and the batch function's time (metrics).</param>
    public MicroBatcher(string name, BatchingOptions options, BatchFunction run, Action<int, TimeSpan>? batchDone = null)
    {
        options.Validate();
        Options = options;
        _run = run;
        _batchDone = batchDone;
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>True on the worker thread.</summary>
    public bool IsWorkerThread => Thread.CurrentThread == _thread;

    /// <summary>Queues a request; the task ends with its result, the batch function's exception, or cancellation.</summary>
    public Task<TResult> Enqueue(TRequest request, CancellationToken ct = default)
    {
        var entry = new RequestEntry(request, Stopwatch.GetTimestamp());
        if (ct.CanBeCanceled)
            entry.Cancellation = ct.Register(static (e, token) => ((RequestEntry)e!).Completion.TrySetCanceled(token), entry);
        Add(entry);
        return entry.Completion.Task;
    }

    /// <summary>Runs <paramref name="job"/> on the worker thread, after everything queued before it.</summary>
    public Task<T> Run<T>(Func<T> job)
    {
        var entry = new JobEntry<T>(job);
        Add(entry);
        return entry.Completion.Task;
    }

    /// <summary>Runs <paramref name="job"/> on the worker thread, after everything queued before it.</summary>
    public Task Run(Action job) => Run(() => { job(); return true; });

    void Add(Entry entry)
    {
        try
        {
            _queue.Add(entry);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            entry.Fail(new ObjectDisposedException(_thread.Name, "the worker has stopped"));
        }
    }

    void Loop()
    {
        var batch = new List<RequestEntry>(Options.MaxBatch);
        var requests = new List<TRequest>(Options.MaxBatch);
        long window = (long)(Options.Window.TotalSeconds * Stopwatch.Frequency);
        foreach (var first in _queue.GetConsumingEnumerable())
        {
            Entry? next = first;
            while (next is not null)
            {
                if (next is JobEntry job) { job.Execute(); break; }
                // A batch: the first request, then whatever joins it before its window closes.
                batch.Clear();
                var head = (RequestEntry)next;
                batch.Add(head);
                next = null;
                long deadline = head.Arrived + window;
                while (batch.Count < Options.MaxBatch)
                {
                    long wait = deadline - Stopwatch.GetTimestamp();
                    var timeout = wait > 0 ? TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency) : TimeSpan.Zero;
                    if (!_queue.TryTake(out var e, timeout)) break;
                    if (e is RequestEntry r) batch.Add(r);
                    else { next = e; break; } // a job: after this batch, in arrival order
                }
                RunBatch(batch, requests);
            }
        }
    }

    void RunBatch(List<RequestEntry> batch, List<TRequest> requests)
    {
        batch.RemoveAll(e => e.Done); // cancelled while waiting
        if (batch.Count == 0) return;
        requests.Clear();
        foreach (var e in batch) requests.Add(e.Request);
        long start = Stopwatch.GetTimestamp();
        try
        {
            var results = _run(requests);
            if (results.Length != batch.Count)
                throw new InvalidOperationException($"the batch function returned {results.Length} results for {batch.Count} requests");
            for (int i = 0; i < batch.Count; i++) batch[i].Completion.TrySetResult(results[i]);
        }
        catch (Exception ex)
        {
            foreach (var e in batch) e.Completion.TrySetException(ex);
        }
        // Registrations stay until here: a request that times out mid-batch is answered at once, its result dropped.
        foreach (var e in batch) e.Cancellation.Dispose();
        _batchDone?.Invoke(batch.Count, Stopwatch.GetElapsedTime(start));
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _requests, batch.Count);
        long largest;
        while (batch.Count > (largest = Interlocked.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, batch.Count, largest) != largest) { }
    }

    /// <summary>Stops taking work, lets the worker finish what is queued, and waits for it.</summary>
    public void Dispose()
    {
        if (_queue.IsAddingCompleted) return;
        _queue.CompleteAdding();
        if (IsWorkerThread) return; // called from a job: the loop ends after it
        _thread.Join();
        _queue.Dispose();
    }
}
