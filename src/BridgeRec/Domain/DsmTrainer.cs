using System.Diagnostics;
using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using TorchSharp;
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
    /// <summary>An extra loss term per batch (BDLM's DSM phase adds distillation from the LLM here).</summary>
    public ExtraLoss? Extra { get; init; }

    public TrainResult Fit(DomainModel model, UserItemIndex train,
        Func<DomainModel, IReadOnlyDictionary<string, double>> evaluate,
        CheckpointStore? store = null, bool resume = false, CancellationToken ct = default)
    {
        Options.Validate();
        using var optimizer = new SafeAdam(model.parameters(), Options.Lr);
        int startEpoch = 1, bestEpoch = 0, evalsWithoutGain = 0;
        double bestValue = double.NegativeInfinity;
        IReadOnlyDictionary<string, double> bestMetrics = new Dictionary<string, double>();
        var epochSeconds = new List<double>();
        var history = new List<EvaluationPoint>();
        var bestWeights = SnapshotIsm(model.Ism);
        var bestOwn = SnapshotOwn(model);

        if (resume && store?.Latest() is { } latest)
        {
            var s = latest.State;
            model.Ism.LoadFrom(Path.Combine(latest.Dir, "ism.safetensors"));
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
            string bestPath = Path.Combine(store.RunDir, "best.safetensors");
            if (File.Exists(bestPath)) { DisposeAll(bestWeights); bestWeights = ReadIsm(bestPath); }
            else { DisposeAll(bestWeights); bestWeights = SnapshotIsm(model.Ism); }
            DisposeAll(bestOwn.Values);
            bestOwn = File.Exists(Path.Combine(store.RunDir, BestOwnFile)) ? ReadOwn(model, Path.Combine(store.RunDir, BestOwnFile)) : SnapshotOwn(model);
        }

        string stop = "epoch limit";
        int epoch = startEpoch - 1;
        for (epoch = startEpoch; epoch <= Options.Epochs; epoch++)
        {
            var sw = Stopwatch.StartNew();
            double loss;
            try { loss = TrainEpoch(model, optimizer, train, epoch, ct); }
            catch (OperationCanceledException)
            {
                // The interrupted epoch is dropped: --resume restarts from the last checkpoint, exactly.
                stop = "cancelled"; epoch--; break;
            }
            model.Invalidate();
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
                    DisposeAll(bestWeights);
                    bestWeights = SnapshotIsm(model.Ism);
                    DisposeAll(bestOwn.Values);
                    bestOwn = SnapshotOwn(model);
                    if (store is not null)
                    {
                        Directory.CreateDirectory(store.RunDir);
                        model.Ism.Save(Path.Combine(store.RunDir, "best.safetensors"),
                            new Dictionary<string, string> { ["epoch"] = epoch.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                        if (bestOwn.Count > 0) Language.SafeTensors.Save(Path.Combine(store.RunDir, BestOwnFile), bestOwn);
                    }
                }
                else evalsWithoutGain++;
                store?.Save(epoch, State(epoch, bestEpoch, bestValue, evalsWithoutGain, bestMetrics, epochSeconds, history), dir =>
                {
                    model.Ism.Save(Path.Combine(dir, "ism.safetensors"));
                    if (model.OwnWeights() is { Count: > 0 } own) Language.SafeTensors.Save(Path.Combine(dir, OwnFile), own);
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
        if (bestEpoch > 0) { RestoreIsm(model.Ism, bestWeights); RestoreOwn(model, bestOwn); }
        DisposeAll(bestWeights);
        DisposeAll(bestOwn.Values);
        model.Invalidate();
        return new TrainResult(Math.Min(epoch, Options.Epochs), bestEpoch, bestMetrics, epochSeconds, history, stop);
    }

    /// <summary>One pass over a freshly sampled epoch of triples; returns the mean BPR loss.</summary>
    public double TrainEpoch(DomainModel model, SafeAdam optimizer, UserItemIndex train, int epoch, CancellationToken ct = default)
    {
        var rng = BprSampler.EpochRandom(Options.Seed, epoch);
        var (users, pos, neg) = BprSampler.SampleEpoch(train, train.Nnz, rng);
        int batches = (users.Length + Options.Batch - 1) / Options.Batch;
        double total = 0;
        var device = model.Ism.Users.device;
        for (int b = 0; b < batches; b++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            int start = b * Options.Batch, len = Math.Min(Options.Batch, users.Length - start);
            var u = tensor(users.AsSpan(start, len).ToArray(), device: device);
            var p = tensor(pos.AsSpan(start, len).ToArray(), device: device);
            var n = tensor(neg.AsSpan(start, len).ToArray(), device: device);
            optimizer.ZeroGrad();
            var (loss, bpr) = model.BprLoss(u, p, n, Options.L2, Extra);
            loss.backward();
            optimizer.Step();
            total += bpr;
            OnBatch?.Invoke(new BatchReport(epoch, b + 1, batches, bpr));
        }
        return total / batches;
    }

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

    static List<Tensor> SnapshotIsm(InformationSharingModule ism)
    {
        using var _ = no_grad();
        var list = new List<Tensor> { ism.Users.detach().clone(), ism.Items.detach().clone() };
        if (ism.ItemBias is not null) list.Add(ism.ItemBias.detach().clone());
        return list;
    }

    static List<Tensor> ReadIsm(string path)
    {
        var t = Language.SafeTensors.Load(path);
        var list = new List<Tensor> { t["users"], t["items"] };
        if (t.TryGetValue("item_bias", out var b)) list.Add(b);
        return list;
    }

    static void RestoreIsm(InformationSharingModule ism, List<Tensor> w)
    {
        using var _ = no_grad();
        ism.Users.copy_(w[0]);
        ism.Items.copy_(w[1]);
        if (ism.ItemBias is not null && w.Count > 2) ism.ItemBias.copy_(w[2]);
    }

    static void DisposeAll(IEnumerable<Tensor> ts) { foreach (var t in ts) t.Dispose(); }

    // A model's own weights beside the ISM (DomainModel.OwnWeights: e.g. the text projection of
    // mf+text) are kept best, checkpointed and resumed together with the ISM tables.
    const string OwnFile = "own.safetensors", BestOwnFile = "best-own.safetensors", OptimizerFile = "optimizer.safetensors";

    static Dictionary<string, Tensor> SnapshotOwn(DomainModel model)
    {
        using var _ = no_grad();
        return model.OwnWeights().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    static Dictionary<string, Tensor> ReadOwn(DomainModel model, string path)
    {
        var loaded = Language.SafeTensors.Load(path);
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, w) in model.OwnWeights())
        {
            var t = w.detach().clone();
            Language.SafeTensors.CopyInto(loaded, name, t, path);
            result[name] = t;
        }
        DisposeAll(loaded.Values);
        return result;
    }

    static void LoadOwn(DomainModel model, string path)
    {
        if (model.OwnWeights() is not { Count: > 0 } own) return;
        var loaded = Language.SafeTensors.Load(path);
        try { foreach (var (name, w) in own) Language.SafeTensors.CopyInto(loaded, name, w, path); }
        finally { DisposeAll(loaded.Values); }
    }

    static void RestoreOwn(DomainModel model, Dictionary<string, Tensor> saved)
    {
        using var _ = no_grad();
        foreach (var (name, w) in model.OwnWeights()) w.copy_(saved[name]);
    }
}
