using System.Diagnostics;
using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.IO;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Domain;

/// <summary>Hyper-parameters of BPR training for a DSM. Defaults are the LightGCN reference's.</summary>
public sealed record DsmOptions
{
    public int Epochs { get; init; } = 1000;
    public double Lr { get; init; } = 0.001;
    public double L2 { get; init; } = 1e-4;
    public int Batch { get; init; } = 2048;
    public int Seed { get; init; } = 2020;
    /// <summary>Evaluate (and checkpoint) every this many epochs.</summary>
    public int EvalEvery { get; init; } = 10;
    /// <summary>Stop after this many evaluations without a gain in <see cref="Monitor"/>; 0 never stops early.</summary>
    public int Patience { get; init; } = 5;
    public string Monitor { get; init; } = "recall@20";

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), $"--epochs must be >= 1 (got {Epochs})");
        if (Batch < 1) throw new ArgumentOutOfRangeException(nameof(Batch), $"--batch must be >= 1 (got {Batch})");
        if (!(Lr > 0)) throw new ArgumentOutOfRangeException(nameof(Lr), $"--lr must be > 0 (got {Lr})");
        if (L2 < 0) throw new ArgumentOutOfRangeException(nameof(L2), $"--l2 must be >= 0 (got {L2})");
        if (EvalEvery < 1) throw new ArgumentOutOfRangeException(nameof(EvalEvery), $"--eval-every must be >= 1 (got {EvalEvery})");
    }
}

public sealed record EpochReport(int Epoch, int Epochs, double Loss, double Seconds, IReadOnlyDictionary<string, double>? Metrics, bool Improved);

public sealed record BatchReport(int Epoch, int Batch, int Batches, double Loss);

/// <summary>The outcome of a training run; the model holds the best weights afterwards.</summary>
public sealed record TrainResult(
    int EpochsRun, int BestEpoch, IReadOnlyDictionary<string, double> BestMetrics,
    IReadOnlyList<double> EpochSeconds, IReadOnlyList<EvaluationPoint> History, string StopReason);

public sealed record EvaluationPoint(int Epoch, IReadOnlyDictionary<string, double> Metrics, double Seconds);

/// <summary>
/// Trains a DSM with BPR on sampled triples: Adam over the ISM tables, evaluation every few
/// epochs, early stopping on a monitored metric, atomic checkpoints and exact resume.
/// </summary>
public sealed class DsmTrainer(DsmOptions options)
{
    public DsmOptions Options { get; } = options;
    public Action<EpochReport>? OnEpoch { get; init; }
    public Action<BatchReport>? OnBatch { get; init; }
    /// <summary>The model's ranking objective (<see cref="DomainModel.RankingObjective"/>: BPR, or next-item for SASRec) on <paramref name="train"/>: see the other overload.</summary>
    public TrainResult Fit(DomainModel model, UserItemIndex train,
        Func<DomainModel, IReadOnlyDictionary<string, double>> evaluate,
        CheckpointStore? store = null, bool resume = false, CancellationToken ct = default) =>
        Fit(model, model.RankingObjective(train, Options), evaluate, store, resume, ct);

    /// <summary>
    /// The one DSM epoch loop: epochs of <paramref name="objective"/>'s batches, evaluation every
    /// <see cref="DsmOptions.EvalEvery"/> epochs (and after the last), early stopping, and the best evaluated
    /// weights (the model's and the objective's) restored at the end. With a store it checkpoints after each
    /// evaluation and can resume; an objective with parameters of its own runs without one.
    /// </summary>
    public TrainResult Fit(DomainModel model, IDsmObjective objective,
        Func<DomainModel, IReadOnlyDictionary<string, double>> evaluate,
        CheckpointStore? store = null, bool resume = false, CancellationToken ct = default)
    {
        Options.Validate();
        if (store is not null && objective.Parameters.Count > 0)
            throw new ArgumentException("checkpoints hold the model and its optimizer; an objective with parameters of its own runs without a store", nameof(store));
        using var optimizer = new SafeAdam(model.parameters().Concat(objective.Parameters), Options.Lr);
        // Models whose numbers do not depend on torch's thread count share the cores with other jobs (Native/ThreadBudget).
        using var threads = model.SameResultsAtAnyThreadCount ? ThreadBudget.Adaptive() : null;
        int startEpoch = 1, bestEpoch = 0, evalsWithoutGain = 0;
        double bestValue = double.NegativeInfinity;
        IReadOnlyDictionary<string, double> bestMetrics = new Dictionary<string, double>();
        var epochSeconds = new List<double>();
        var history = new List<EvaluationPoint>();
        var best = model.Snapshot();
        var bestExtra = Clone(objective.Parameters);

        if (resume && store?.Latest() is { } latest)
        {
            var s = latest.State;
            model.Ism.LoadFrom(Path.Combine(latest.Dir, ModelFolder.IsmFile));
            LoadOwn(model, Path.Combine(latest.Dir, OwnFile));
            optimizer.Load(Path.Combine(latest.Dir, OptimizerFile));
            startEpoch = s["epoch"]!.GetValue<int>() + 1;
            bestEpoch = s["best_epoch"]!.GetValue<int>();
            bestValue = s["best_value"]!.GetValue<double>();
            evalsWithoutGain = s["evals_without_gain"]!.GetValue<int>();
            bestMetrics = ReadMetrics(s["best_metrics"]!.AsObject());
            epochSeconds.AddRange(s["epoch_seconds"]!.AsArray().Select(x => x!.GetValue<double>()));
            foreach (var h in s["history"]!.AsArray())
                history.Add(new EvaluationPoint(h!["epoch"]!.GetValue<int>(), ReadMetrics(h["metrics"]!.AsObject()), h["seconds"]!.GetValue<double>()));
            best.Dispose();
            best = ReadBest(model, store.RunDir);
        }

        string stop = "epoch limit";
        int epoch = startEpoch - 1;
        for (epoch = startEpoch; epoch <= Options.Epochs; epoch++)
        {
            var sw = Stopwatch.StartNew();
            double loss;
            try { loss = TrainEpoch(model, objective, optimizer, epoch, ct); }
            catch (OperationCanceledException)
            {
                // The interrupted epoch is dropped: --resume restarts from the last checkpoint, exactly.
                stop = "cancelled"; epoch--; break;
            }
            double secs = sw.Elapsed.TotalSeconds;
            epochSeconds.Add(secs);

            IReadOnlyDictionary<string, double>? metrics = null;
            bool improved = false;
            if (epoch % Options.EvalEvery == 0 || epoch == Options.Epochs)
            {
                var ev = Stopwatch.StartNew();
                metrics = evaluate(model);
                history.Add(new EvaluationPoint(epoch, metrics, ev.Elapsed.TotalSeconds));
                if (!metrics.TryGetValue(Options.Monitor, out double value))
                    throw new InvalidOperationException($"monitored metric '{Options.Monitor}' is not among the evaluation's: {string.Join(", ", metrics.Keys)}");
                if (value > bestValue)
                {
                    improved = true;
                    bestValue = value; bestEpoch = epoch; bestMetrics = metrics; evalsWithoutGain = 0;
                    best.Dispose();
                    best = model.Snapshot();
                    DisposeAll(bestExtra);
                    bestExtra = Clone(objective.Parameters);
                    if (store is not null)
                    {
                        Directory.CreateDirectory(store.RunDir);
                        model.Ism.Save(Path.Combine(store.RunDir, ModelFolder.BestIsmFile),
                            new Dictionary<string, string> { ["epoch"] = epoch.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                        if (best.Own.Count > 0) SafeTensors.Save(Path.Combine(store.RunDir, BestOwnFile), best.Own);
                    }
                }
                else evalsWithoutGain++;
                store?.Save(epoch, State(epoch, bestEpoch, bestValue, evalsWithoutGain, bestMetrics, epochSeconds, history), dir =>
                {
                    model.Ism.Save(Path.Combine(dir, ModelFolder.IsmFile));
                    if (model.OwnWeights() is { Count: > 0 } own) SafeTensors.Save(Path.Combine(dir, OwnFile), own);
                    optimizer.Save(Path.Combine(dir, OptimizerFile));
                });
            }
            OnEpoch?.Invoke(new EpochReport(epoch, Options.Epochs, loss, secs, metrics, improved));
            if (Options.Patience > 0 && evalsWithoutGain >= Options.Patience)
            {
                stop = $"no gain in {Options.Monitor} for {Options.Patience} evaluations";
                break;
            }
        }
        if (bestEpoch > 0)
        {
            model.Restore(best);
            using var _ = no_grad();
            for (int k = 0; k < bestExtra.Length; k++) objective.Parameters[k].copy_(bestExtra[k]);
        }
        best.Dispose();
        DisposeAll(bestExtra);
        return new TrainResult(Math.Min(epoch, Options.Epochs), bestEpoch, bestMetrics, epochSeconds, history, stop);
    }

    /// <summary>One pass over a freshly drawn epoch of the objective's examples; returns the mean reported loss.</summary>
    double TrainEpoch(DomainModel model, IDsmObjective objective, SafeAdam optimizer, int epoch, CancellationToken ct)
    {
        int batches = objective.StartEpoch(epoch);
        double total = 0;
        model.train();
        for (int b = 0; b < batches; b++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            optimizer.ZeroGrad();
            var (loss, reported) = objective.BatchLoss(model, b);
            loss.backward();
            optimizer.Step();
            total += reported;
            OnBatch?.Invoke(new BatchReport(epoch, b + 1, batches, reported));
        }
        model.eval();
        return total / Math.Max(1, batches);
    }

    static Tensor[] Clone(IReadOnlyList<Parameter> ps)
    {
        using var _ = no_grad();
        return ps.Select(p => p.detach().clone()).ToArray();
    }

    static void DisposeAll(IEnumerable<Tensor> ts) { foreach (var t in ts) t.Dispose(); }

    JsonObject State(int epoch, int bestEpoch, double bestValue, int evalsWithoutGain,
        IReadOnlyDictionary<string, double> bestMetrics, List<double> epochSeconds, List<EvaluationPoint> history) => new()
    {
        ["epoch"] = epoch,
        ["best_epoch"] = bestEpoch,
        ["best_value"] = double.IsNegativeInfinity(bestValue) ? -1e300 : bestValue,
        ["evals_without_gain"] = evalsWithoutGain,
        ["best_metrics"] = WriteMetrics(bestMetrics),
        ["epoch_seconds"] = new JsonArray(epochSeconds.Select(x => (JsonNode)x).ToArray()),
        ["history"] = new JsonArray(history.Select(h => (JsonNode)new JsonObject
        {
            ["epoch"] = h.Epoch, ["metrics"] = WriteMetrics(h.Metrics), ["seconds"] = h.Seconds,
        }).ToArray()),
        ["options"] = System.Text.Json.JsonSerializer.SerializeToNode(Options),
    };

    static JsonObject WriteMetrics(IReadOnlyDictionary<string, double> m)
    {
        var o = new JsonObject();
        foreach (var (k, v) in m) o[k] = v;
        return o;
    }

    static IReadOnlyDictionary<string, double> ReadMetrics(JsonObject o) =>
        o.ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>());

    // A model's own weights beside the ISM (DomainModel.OwnWeights: e.g. the text projection of
    // mf+text) are kept best, checkpointed and resumed together with the ISM tables.
    const string OwnFile = ModelFolder.CheckpointOwnFile, BestOwnFile = ModelFolder.BestOwnFile, OptimizerFile = ModelFolder.OptimizerFile;

    /// <summary>The best weights a resumed run had kept (best.safetensors and best-own.safetensors); the model's current ones where a file is missing.</summary>
    static DsmState ReadBest(DomainModel model, string runDir)
    {
        var best = model.Snapshot();
        string ism = Path.Combine(runDir, ModelFolder.BestIsmFile), own = Path.Combine(runDir, BestOwnFile);
        if (File.Exists(ism)) CopyFile(ism, best.Ism.ItemBias is null ? [("users", best.Ism.Users), ("items", best.Ism.Items)]
            : [("users", best.Ism.Users), ("items", best.Ism.Items), ("item_bias", best.Ism.ItemBias)]);
        if (File.Exists(own)) CopyFile(own, best.Own.Select(kv => (kv.Key, kv.Value)).ToArray());
        return best;
    }

    static void CopyFile(string path, (string Name, Tensor Target)[] targets)
    {
        var loaded = SafeTensors.Load(path);
        try { foreach (var (name, t) in targets) SafeTensors.CopyInto(loaded, name, t, path); }
        finally { foreach (var t in loaded.Values) t.Dispose(); }
    }

    static void LoadOwn(DomainModel model, string path)
    {
        if (model.OwnWeights().Count == 0) return;
        var loaded = SafeTensors.Load(path);
        try { model.LoadOwnWeights(loaded, path); }
        finally { foreach (var t in loaded.Values) t.Dispose(); }
    }
}
