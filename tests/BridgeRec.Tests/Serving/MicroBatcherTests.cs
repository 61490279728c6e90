using System.Collections.Concurrent;
using BridgeRec.Serving;

namespace BridgeRec.Tests.Serving;

/// <summary>The worker thread that batches LLM requests: grouping, ordering, failures, cancellation, shutdown.</summary>
public class MicroBatcherTests
{
    [Fact]
    public async Task ConcurrentRequestsShareBatchesOnOneThread()
    {
        var threads = new ConcurrentBag<int>();
        var sizes = new ConcurrentBag<int>();
        using var batcher = new MicroBatcher<int, int>("test-worker", new BatchingOptions { Window = TimeSpan.FromMilliseconds(50), MaxBatch = 8 }, batch =>
        {
            threads.Add(Environment.CurrentManagedThreadId);
            sizes.Add(batch.Count);
            Thread.Sleep(5); // a forward pass takes time: requests pile up meanwhile
            return batch.Select(x => x * 10).ToArray();
        });
        var tasks = Enumerable.Range(0, 40).Select(i => Task.Run(() => batcher.Enqueue(i))).ToArray();
        var results = await Task.WhenAll(tasks);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => i * 10), results);
        Assert.Equal(40, batcher.Requests);
        Assert.True(batcher.Batches < 40, $"{batcher.Batches} batches for 40 requests");
        Assert.InRange(batcher.LargestBatch, 2, 8);
        Assert.All(sizes, s => Assert.InRange(s, 1, 8));
        int worker = await batcher.Run(() => Environment.CurrentManagedThreadId);
        Assert.All(threads, t => Assert.Equal(worker, t));
    }

    [Fact]
    public async Task MaxBatchOneAnswersOneAtATime()
    {
        using var batcher = new MicroBatcher<int, int>("test-worker", new BatchingOptions { Window = TimeSpan.FromMilliseconds(20), MaxBatch = 1 }, batch =>
        {
            Assert.Single(batch);
            return [batch[0] + 1];
        });
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => batcher.Enqueue(i)));
        Assert.Equal(Enumerable.Range(1, 20), results);
        Assert.Equal(20, batcher.Batches);
        Assert.Equal(1, batcher.LargestBatch);
    }

    [Fact]
    public async Task FailuresStayInTheirBatchAndCancelledRequestsAreSkipped()
    {
        var seen = new ConcurrentBag<int>();
        using var batcher = new MicroBatcher<int, int>("test-worker", new BatchingOptions { Window = TimeSpan.Zero, MaxBatch = 4 }, batch =>
        {
            foreach (int x in batch) seen.Add(x);
            if (batch.Contains(-1)) throw new InvalidDataException("bad request in batch");
            return batch.ToArray();
        });
        var bad = batcher.Enqueue(-1);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => bad);
        Assert.Equal("bad request in batch", e.Message);
        Assert.Equal(5, await batcher.Enqueue(5)); // the worker goes on

        // A job holds the worker while a request is queued and then cancelled: the batch function never sees it.
        using var gate = new ManualResetEventSlim();
        var hold = batcher.Run(() => gate.Wait(TimeSpan.FromSeconds(10)));
        using var cts = new CancellationTokenSource();
        var cancelled = batcher.Enqueue(99, cts.Token);
        cts.Cancel();
        gate.Set();
        await hold;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(7, await batcher.Enqueue(7));
        Assert.DoesNotContain(99, seen);

        var jobError = await Assert.ThrowsAsync<ArgumentException>(() => batcher.Run(() => throw new ArgumentException("job failed")));
        Assert.Equal("job failed", jobError.Message);
    }

    [Fact]
    public async Task DisposeFinishesQueuedWorkThenRefusesMore()
    {
        var batcher = new MicroBatcher<int, int>("test-worker", new BatchingOptions(), batch => batch.ToArray());
        var slow = batcher.Run(() => { Thread.Sleep(50); return 1; });
        var queued = batcher.Enqueue(3);
        batcher.Dispose();
        Assert.Equal(1, await slow);
        Assert.Equal(3, await queued);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => batcher.Enqueue(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchingOptions { MaxBatch = 0 }.Validate());
    }
}
