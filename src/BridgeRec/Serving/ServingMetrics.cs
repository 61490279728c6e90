using System.Diagnostics.Metrics;

namespace BridgeRec.Serving;

/// <summary>
/// What a <see cref="RecommenderService"/> measures about itself, on a <see cref="Meter"/> named
/// <see cref="MeterName"/>: the LLM worker's queue depth, batch sizes and forward-pass times, the model generation
/// being served and the outcome of every reload. Any System.Diagnostics.Metrics listener reads them
/// (OpenTelemetry in <c>bridgerec serve</c>, <c>dotnet-counters</c>); the library depends on no exporter.
/// Request counts and latencies are the host's: ASP.NET Core's <c>http.server.request.duration</c>.
/// </summary>
public sealed class ServingMetrics : IDisposable
{
    public const string MeterName = "BridgeRec.Serving";

    /// <summary>Batch-size buckets: powers of two up to the largest batch the options allow (1024).</summary>
    static readonly int[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    /// <summary>Forward-pass buckets in seconds: a MiniLM batch takes tens of milliseconds on a CPU, a large decoder seconds.</summary>
    static readonly double[] PassBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    readonly Meter _meter;
    readonly bool _ownsMeter;
    readonly Histogram<int> _batchSize;
    readonly Histogram<double> _batchDuration;
    readonly Counter<long> _reloads;

    /// <param name="factory">The host's meter factory (so that the meter lives and dies with the host); null: a meter of our own, disposed with this.</param>
    /// <param name="queueDepth">Read at each collection: requests and jobs waiting for the worker thread.</param>
    /// <param name="generation">Read at each collection: the generation of the model answering new requests.</param>
    internal ServingMetrics(IMeterFactory? factory, Func<int> queueDepth, Func<int> generation)
    {
        _meter = factory?.Create(MeterName) ?? new Meter(MeterName);
        _ownsMeter = factory is null;
        _meter.CreateObservableGauge("bridgerec.llm.queue.depth", queueDepth, "{request}",
            "LLM requests (and model loads or frees) waiting for the torch worker thread");
        _meter.CreateObservableGauge("bridgerec.model.generation", generation, null,
            "generation of the model answering new requests: 1 at start, +1 for each accepted reload");
        _batchSize = _meter.CreateHistogram("bridgerec.llm.batch.size", "{request}", "LLM requests answered by one forward pass",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
        _batchDuration = _meter.CreateHistogram("bridgerec.llm.batch.duration", "s", "time of one LLM forward pass over a batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = PassBuckets });
        _reloads = _meter.CreateCounter<long>("bridgerec.model.reloads", "{reload}",
            "reload requests by outcome: ok (swapped in), rejected (the folder did not load; the old model serves on), busy (another reload was running)");
    }

    internal void BatchDone(int size, TimeSpan elapsed)
    {
        _batchSize.Record(size);
        _batchDuration.Record(elapsed.TotalSeconds);
    }

    internal void Reload(string outcome) => _reloads.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
