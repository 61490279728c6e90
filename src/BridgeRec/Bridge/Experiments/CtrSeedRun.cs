using System.Diagnostics;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.LlmRec;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Bridge.Experiments;

/// <summary>
/// One click-through dataset x seed of an experiment (protocol P3): stage 0 trains the DSM alone with BCE and early
/// stopping on validation AUC, once; one-way and BDLM start from copies of it; MF, LightGCN and the text-only LLM
/// train from scratch. Every missing row is scored on all test rows: AUC, UAUC and AUC on warm / cold rows
/// (<see cref="CtrTraining"/>), under the protocol key "ctr" of results.json.
/// </summary>
internal sealed class CtrSeedRun
{
    readonly ExperimentRunner _r;
    readonly ExperimentConfig _c;
    readonly ExperimentDataset _ds;
    readonly CtrDataset _data;
    readonly CtrOptions _o;
    readonly int _seed;
    readonly string _hash;
    readonly List<string> _missing;
    readonly Action<RunRow> _done;
    readonly DsmOptions _dsmOptions;
    readonly BdlmOptions _bdlm;
    readonly int[]? _llmValidation;
    NormalizedGraph? _graph;
    ItemTextCache? _itemTexts;

    public CtrSeedRun(ExperimentRunner r, ExperimentDataset ds, CtrDataset data, int seed, string hash, List<string> missing, Action<RunRow> done)
    {
        _r = r; _c = r.Config; _ds = ds; _data = data; _o = ds.CtrSettings; _seed = seed; _hash = hash; _missing = missing; _done = done;
        _dsmOptions = _c.Dsm.Train with { Seed = seed, Monitor = _c.Monitor };
        _bdlm = _c.BdlmFor(ds) with { Seed = seed };
        if (_o.LlmValidationRows is int n && n < data.Validation.Count)
        {
            var pick = Enumerable.Range(0, data.Validation.Count).ToArray();
            new Random(unchecked(seed * 31 + 7)).Shuffle(pick);
            _llmValidation = pick[..n].Order().ToArray();
        }
    }

    bool Missing(string row) => _missing.Contains(row);

    public void Execute()
    {
        string dsmName = _c.Dsm.Model;
        bool needStage0 = Missing("one-way") || Missing("bdlm-llm") || Missing("bdlm-dsm");
        Stage0? stage0 = null;
        try
        {
            if (needStage0 || Missing(dsmName))
            {
                _r.Log($"stage 0: {dsmName} alone, BCE on labelled pairs (seed {_seed})");
                var (dsm, offset, secs, fit) = TrainDsm(dsmName);
                stage0 = new Stage0(dsm.Snapshot(), offset.Value.detach().clone());
                if (Missing(dsmName))
                    _done(Evaluate(dsmName, DsmScorer(dsm, offset), secs, fit.BestEpoch, EpochRows(fit), needStage0 ? "stage 0 of one-way / bdlm" : null));
                dsm.Dispose(); offset.Dispose();
            }
            foreach (string m in _missing)
            {
                _r.Ct.ThrowIfCancellationRequested();
                if (m == dsmName) continue;
                switch (m)
                {
                    case "mf" or "lightgcn" or "sasrec" or "sasrec+text":
                    {
                        _r.Log($"training {m} (BCE, seed {_seed})");
                        var (dsm, offset, secs, fit) = TrainDsm(m);
                        _done(Evaluate(m, DsmScorer(dsm, offset), secs, fit.BestEpoch, EpochRows(fit)));
                        dsm.Dispose(); offset.Dispose();
                        break;
                    }
                    case "llm-text": RunLlmText(); break;
                    case "one-way": RunOneWay(stage0!); break;
                    case "bdlm-llm": RunBdlm(stage0!); break;
                    case "bdlm-dsm":
                        if (!Missing("bdlm-llm")) RunBdlm(stage0!);
                        break;
                    default: throw new InvalidOperationException($"unknown click-through row {m}");
                }
            }
        }
        finally
        {
            stage0?.Dispose();
            _features?.Dispose();
        }
    }

    /// <summary>LightGCN's graph: the training rows (all rated pairs, or the positive ones; see <see cref="CtrOptions.GraphEdges"/>).</summary>
    NormalizedGraph Graph()
    {
        if (_graph is not null) return _graph;
        var t = _data.Train;
        var rows = Enumerable.Range(0, t.Count).Where(r => _o.GraphEdges == "all" || t.Labels[r] > 0.5f).ToArray();
        var edges = new Interactions(rows.Select(r => t.Users[r]).ToArray(), rows.Select(r => t.Items[r]).ToArray());
        return _graph = new NormalizedGraph(new UserItemIndex(_data.NumUsers, _data.NumItems, edges));
    }

    (DomainModel Model, LogitOffset Offset) NewDsm(string model)
    {
        TorchRuntime.Seed(_seed);
        var ism = new InformationSharingModule(_data.NumUsers, _data.NumItems, _c.Dsm.Dim, initStd: _c.Dsm.InitStd);
        DomainModel dsm = model switch
        {
            "mf" => new MatrixFactorization(ism),
            "lightgcn" => new LightGcn(ism, Graph(), _c.Dsm.Layers),
            "sasrec" => new SasRec(ism, UserHistories(), _c.Dsm.Sasrec),
            "sasrec+text" => new SasRec(ism, UserHistories(), _c.Dsm.Sasrec, ItemFeatures),
            _ => throw new ArgumentException($"click-through DSM '{model}': expected mf, lightgcn, sasrec or sasrec+text"),
        };
        return (dsm, new LogitOffset());
    }

    /// <summary>Each user's training items in time order (every labelled row): what SASRec reads for a user outside the rows (a ranking of all items).</summary>
    IReadOnlyList<int>[] UserHistories()
    {
        var t = _data.Train;
        var histories = new List<int>[_data.NumUsers];
        for (int u = 0; u < histories.Length; u++) histories[u] = [];
        foreach (int r in Enumerable.Range(0, t.Count).OrderBy(r => t.Timestamps[r]).ThenBy(r => r)) histories[t.Users[r]].Add(t.Items[r]);
        return histories;
    }

    Tensor? _features;

    /// <summary>The items' frozen sentence embeddings (MiniLM), computed once per seed run (cached on disk across runs).</summary>
    Tensor ItemFeatures => _features ??= TextFeatures.LoadOrCompute(_data.Texts(), _data.Name, _r.CacheDir);

    (DomainModel Model, LogitOffset Offset, double Seconds, TrainResult Fit) TrainDsm(string model)
    {
        var sw = Stopwatch.StartNew();
        var (dsm, offset) = NewDsm(model);
        var trainer = new DsmTrainer(_dsmOptions) { OnEpoch = _r.EpochLine(dsm.Name, "bce", _c.Monitor) };
        var fit = trainer.Fit(dsm, new PointwiseDsmObjective(_data.Train, offset, _dsmOptions), ValidateDsm(offset), ct: _r.Ct);
        return (dsm, offset, sw.Elapsed.TotalSeconds, fit);
    }

    Func<DomainModel, IReadOnlyDictionary<string, double>> ValidateDsm(LogitOffset offset) =>
        dsm => CtrTraining.Metrics(_data.Validation, CtrTraining.ScoreDsm(dsm, offset, _data.Validation));

    /// <summary>The stage-0 DSM's state (the shared module and its own weights, such as SASRec's) and logit offset, copied once for one-way and BDLM.</summary>
    sealed record Stage0(DsmState State, Tensor Offset) : IDisposable
    {
        public void Dispose() { State.Dispose(); Offset.Dispose(); }
    }

    /// <summary>A fresh DSM of the configured kind holding the stage-0 state and offset.</summary>
    (DomainModel Model, LogitOffset Offset) Stage0Copy(Stage0 stage0)
    {
        var (dsm, offset) = NewDsm(_c.Dsm.Model);
        dsm.Restore(stage0.State);
        using (no_grad()) offset.Value.copy_(stage0.Offset);
        return (dsm, offset);
    }

    /// <summary>The LLM baselines' epochs: validation on the sampled validation rows after each, the best one kept.</summary>
    LlmFit FitLlm(LlmRecommender llm, LogitOffset offset, ILlmDistillation? distillation, string what)
    {
        var rows = _llmValidation is null ? _data.Validation : _data.Validation.Select(_llmValidation);
        return LlmTraining.Fit(llm, new PointwiseLlmObjective(_data.Train, offset, _o.LlmRowsPerEpoch, distillation), _bdlm.Llm, LlmEpochs, trainIsm: false,
            () => CtrTraining.Metrics(rows, CtrTraining.ScoreLlm(llm, offset, rows, ct: _r.Ct)), _c.Monitor,
            new Random(unchecked(_bdlm.Seed * 7919 + 17)), _r.Log, _r.Quarters(what), _r.Ct, _bdlm.RoundPatience);
    }

    ItemTextCache ItemTexts => _itemTexts ??= _r.TextCache(_data.Texts());

    PromptBuilder Prompts(bool taskTokens) => _r.Prompts(ItemTexts, taskTokens);

    int LlmEpochs => _r.LlmEpochs;

    void RunLlmText()
    {
        _r.Log($"training llm-text (history and candidate text, no task tokens, {_c.Backbone.Display}, {LlmEpochs} epochs, seed {_seed})");
        var sw = Stopwatch.StartNew();
        // The item-text table is the backbone's own encoder's (MiniLM's when the backbone is a checkpoint folder).
        using var features = TextFeatures.LoadOrCompute(_data.Texts(), _data.Name, _r.CacheDir, encoder: _c.Backbone.Encoder);
        TorchRuntime.Seed(_seed);
        using var ism = new InformationSharingModule(_data.NumUsers, _data.NumItems, _c.Dsm.Dim);
        using var offset = new LogitOffset();
        using var llm = new LlmRecommender(_r.Backbone(), ism, Prompts(taskTokens: false), [], new TextItemTable(features, _c.Dsm.Dim));
        var fit = FitLlm(llm, offset, distillation: null, "llm-text: rows");
        _done(Evaluate("llm-text", LlmScorer(llm, offset), sw.Elapsed.TotalSeconds, fit.BestEpoch, RoundRow.FromEpochs(fit)));
    }

    /// <summary>
    /// One-way's and BDLM's LLM over the DSM's shared module, seeded: task-token prompts, the experiment's item tower when
    /// <see cref="CtrOptions.LlmTower"/> asks for it, and with SASRec as the DSM its users read through a copy of it.
    /// </summary>
    LlmRecommender TaskTokenLlm(DomainModel dsm)
    {
        TorchRuntime.Seed(_seed);
        LlmRecommender llm;
        if (_o.LlmTower == true)
        {
            using var features = _c.TowerFor(_ds).ItemText ? TextFeatures.LoadOrCompute(_data.Texts(), _data.Name, _r.CacheDir, encoder: _c.Backbone.Encoder) : null;
            llm = new LlmRecommender(_r.Backbone(), dsm.Ism, Prompts(taskTokens: true), [], tower: _c.TowerFor(_ds), itemText: features);
        }
        else llm = new LlmRecommender(_r.Backbone(), dsm.Ism, Prompts(taskTokens: true), []);
        llm.Follow(dsm);
        return llm;
    }

    void RunOneWay(Stage0 stage0)
    {
        _r.Log($"training one-way (stage-0 {_c.Dsm.Model} module frozen into the LLM, {LlmEpochs} epochs, seed {_seed})");
        var sw = Stopwatch.StartNew();
        var (dsm, dsmOffset) = Stage0Copy(stage0);
        using var offset = new LogitOffset();
        using var llm = TaskTokenLlm(dsm);
        var teacher = _bdlm.Lambda > 0 ? new BernoulliDistillation(CtrTraining.ScoreDsm(dsm, dsmOffset, _data.Train), _bdlm.Tau, _bdlm.Lambda) : null;
        var fit = FitLlm(llm, offset, teacher, "one-way: rows");
        _done(Evaluate("one-way", LlmScorer(llm, offset), sw.Elapsed.TotalSeconds, fit.BestEpoch, RoundRow.FromEpochs(fit)));
        dsm.Dispose(); dsmOffset.Dispose();
    }

    void RunBdlm(Stage0 stage0)
    {
        _r.Log($"training bdlm ({_c.Bdlm.Rounds} rounds from the stage-0 {_c.Dsm.Model}, click-through, seed {_seed})");
        var sw = Stopwatch.StartNew();
        var (dsm, dsmOffset) = Stage0Copy(stage0);
        using var offset = new LogitOffset();
        using var llm = TaskTokenLlm(dsm);
        var options = _bdlm with { FreezeIsmInLlm = false };
        var progress = _r.Quarters("bdlm LLM phase: rows");
        using var trainer = new BdlmTrainer(options, _dsmOptions) { Log = s => _r.Log("  " + s), Progress = (_, done, all) => progress(done, all) };
        try
        {
            var result = trainer.Run(dsm, llm, new CtrProtocol(_data.Train, _data.Validation, _llmValidation, dsmOffset, offset, options, _dsmOptions, _o, _c.Monitor, _r.Ct), _r.Ct);
            double secs = sw.Elapsed.TotalSeconds;
            var rounds = RoundRow.FromRounds(result);
            const string note = "train seconds: the whole BDLM run (both models)";
            // The shared module holds the DSM's best round now; evaluate the DSM first, then put the LLM's best back.
            var dsmRow = Evaluate("bdlm-dsm", DsmScorer(dsm, dsmOffset), secs, result.BestDsmRound, rounds, note);
            trainer.RestoreBestLlm(llm);
            var llmRow = Evaluate("bdlm-llm", LlmScorer(llm, offset), secs, result.BestLlmRound, rounds, note);
            if (Missing("bdlm-dsm")) _done(dsmRow);
            if (Missing("bdlm-llm")) _done(llmRow);
        }
        finally { dsm.Dispose(); dsmOffset.Dispose(); }
    }

    Func<CtrRows, int[]?, float[]> DsmScorer(DomainModel dsm, LogitOffset offset) =>
        (rows, subset) => CtrTraining.ScoreDsm(dsm, offset, subset is null ? rows : rows.Select(subset));

    Func<CtrRows, int[]?, float[]> LlmScorer(LlmRecommender llm, LogitOffset offset) =>
        (rows, subset) => CtrTraining.ScoreLlm(llm, offset, rows, subset, ct: _r.Ct);

    static List<RoundRow> EpochRows(TrainResult fit) =>
        fit.History.Select(e => new RoundRow(e.Epoch, null, new Dictionary<string, double>(e.Metrics), double.NaN, e.Seconds)).ToList();

    RunRow Evaluate(string method, Func<CtrRows, int[]?, float[]> score, double trainSeconds, int best, List<RoundRow>? rounds = null, string? note = null)
    {
        var sw = Stopwatch.StartNew();
        var test = _data.Test;
        var scores = score(test, null);
        var metrics = new Dictionary<string, Dictionary<string, double>> { ["ctr"] = CtrTraining.Metrics(test, scores) };
        double evalSeconds = sw.Elapsed.TotalSeconds;
        return new RunRow
        {
            Dataset = _ds.Name, Fraction = 1.0, Seed = _seed, Method = method, ConfigHash = _hash,
            Metrics = metrics, Rounds = method is "mf" or "lightgcn" or "sasrec" or "sasrec+text" ? null : rounds, BestRound = best,
            TrainSeconds = trainSeconds, EvalSeconds = evalSeconds, InferMsPerUser = PairMs(score),
            Note = note, FinishedUtc = DateTime.UtcNow.ToString("O"),
        };
    }

    /// <summary>Median milliseconds to score one test row on its own (after a warm-up pass over the same rows).</summary>
    double PairMs(Func<CtrRows, int[]?, float[]> score)
    {
        int n = Math.Min(Math.Max(1, _c.TimingUsers), _data.Test.Count);
        var times = new List<double>(n);
        for (int j = -n; j < n; j++)
        {
            int r = j < 0 ? j + n : j;
            var sw = Stopwatch.StartNew();
            score(_data.Test, [r]);
            if (j >= 0) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
