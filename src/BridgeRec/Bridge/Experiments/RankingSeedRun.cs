using System.Diagnostics;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using BridgeRec.Torch;
using static TorchSharp.torch;

namespace BridgeRec.Bridge.Experiments;

/// <summary>
/// One ranking dataset x training fraction x seed of an experiment: stage 0 trains the DSM alone with early stopping
/// on validation (the "DSM alone" row), once; one-way and BDLM start from copies of that stage-0 shared module; the
/// other DSMs and the text-only LLM train from scratch with the same seed. Every missing row is evaluated on test
/// (full ranking with train + validation excluded; the LLM's prompts read train + validation), optionally sampled
/// and in UniSRec's variant, with user-activity and item-popularity buckets and the per-user inference time.
/// <para>In a validation-only run (<see cref="ExperimentRunner.ValidationOnly"/>, what the tuner runs) no test
/// evaluator is built: each row carries the validation metrics of the epoch or round its model kept, and no model
/// folder is written. With a <see cref="ExperimentRunner.Stage0"/> store, stage 0 is taken from it when it holds
/// the same one (<see cref="Stage0Store.KeyOf"/>) and the DSM-alone row is not wanted, and kept there when trained.</para>
/// </summary>
internal sealed class RankingSeedRun
{
    readonly ExperimentRunner _r;
    readonly ExperimentConfig _c;
    readonly ExperimentDataset _ds;
    readonly Split _split;
    readonly double _fraction;
    readonly int _seed;
    readonly string _hash;
    readonly List<string> _missing;
    readonly Action<RunRow> _done;
    readonly UserItemIndex _train, _seen;
    readonly RankingEvaluator _validation;
    readonly RankingEvaluator? _test;
    readonly int[]? _validationUsers;
    readonly RankingEvaluator? _unisrec;
    readonly SampledRankingEvaluator? _sampled;
    readonly int[] _countPerUser, _countPerItem;
    readonly DsmOptions _dsmOptions;
    readonly BdlmOptions _bdlm; // the config's, with what it leaves unset decided for this dataset
    ItemTextCache? _itemTexts;

    public RankingSeedRun(ExperimentRunner r, ExperimentDataset ds, Split split, double fraction, int seed, string hash, List<string> missing, Action<RunRow> done)
    {
        _r = r; _c = r.Config; _ds = ds; _split = split; _fraction = fraction; _seed = seed; _hash = hash; _missing = missing; _done = done;
        var d = split.Dataset;
        _train = new UserItemIndex(d.NumUsers, d.NumItems, split.Train);
        _seen = new UserItemIndex(d.NumUsers, d.NumItems, split.Train, split.Validation);
        var options = new RankingOptions { Ks = ds.Ks };
        _validation = RankingEvaluator.ForValidation(split, options);
        if (ds.ValidationUsers is int nv && nv < _validation.Users.Count)
        {
            var pick = _validation.Users.ToArray();
            new Random(unchecked(seed * 31 + 7)).Shuffle(pick);
            _validationUsers = pick[..nv].Order().ToArray();
        }
        if (!r.ValidationOnly)
        {
            r.CountTestEvaluation("building the test evaluators");
            _test = RankingEvaluator.ForTest(split, options);
            if (ds.Sampled) _sampled = SampledRankingEvaluator.ForTest(split, options, 99, seed);
            if (ds.UnisrecProtocol) _unisrec = RankingEvaluator.ForTest(split, new RankingOptions { Ks = [10, 50] }, excludeHistory: false);
        }
        _countPerUser = Enumerable.Range(0, d.NumUsers).Select(_train.CountOf).ToArray();
        _countPerItem = _train.ItemDegrees();
        _dsmOptions = _c.Dsm.Train with { Seed = seed, Monitor = _c.Monitor };
        _bdlm = _c.BdlmFor(ds);
    }

    IReadOnlyDictionary<string, double> Validate(IRecommender m) => _validation.Evaluate(m.ScoreAll, _validationUsers).ToDictionary();

    /// <summary>What BDLM's choices read: every validation user with <see cref="ExperimentDataset.BdlmAllValidationUsers"/>, else <see cref="Validate"/>'s sample.</summary>
    IReadOnlyDictionary<string, double> ValidateBdlm(IRecommender m) =>
        _ds.BdlmAllValidationUsers ? _validation.Evaluate(m.ScoreAll).ToDictionary() : Validate(m);

    bool Missing(string row) => _missing.Contains(row);

    /// <summary>The DSM <paramref name="model"/> as the experiment trains it; the item-row initialisation applies to BDLM's DSM only (the other DSMs are the plain baselines).</summary>
    TrainConfig DsmConfig(string model) => new()
    {
        Data = _ds.Data, Model = model, Dim = _c.Dsm.Dim, Layers = _c.Dsm.Layers, InitStd = _c.Dsm.InitStd, Sasrec = _c.Dsm.Sasrec,
        ItemInit = model == _c.Dsm.Model ? _c.Dsm.ItemInit : "random",
        Train = _dsmOptions, Ks = _ds.Ks, Device = _c.Device, CacheDir = _r.CacheDir,
    };

    public void Execute()
    {
        DsmState? stage0 = null;
        bool stage0Owned = true; // false: the stage-0 store holds it
        string dsmName = _c.Dsm.Model;
        bool needStage0 = Missing(dsmName) || Missing("one-way") || Missing("bdlm-llm") || Missing("bdlm-dsm");
        try
        {
            string? key = _r.Stage0 is null ? null : Stage0Store.KeyOf(_c, _ds, _fraction, _seed);
            if (needStage0 && key is not null && !Missing(dsmName) && _r.Stage0!.TryGet(key) is { } held)
            {
                _r.Log($"stage 0: {dsmName} alone (seed {_seed}), the same settings as before: reused ({key})");
                stage0 = held;
                stage0Owned = false;
            }
            else if (needStage0)
            {
                _r.Log($"stage 0: {dsmName} alone (seed {_seed})");
                var (dsm, secs, fit) = TrainDsm(dsmName);
                stage0 = dsm.Snapshot();
                if (key is not null)
                {
                    _r.Stage0!.Put(key, stage0, secs);
                    stage0Owned = false;
                }
                if (Missing(dsmName)) _done(WithValidation(Evaluate(dsmName, dsm, secs, fit.BestEpoch, "stage 0 of one-way / bdlm", validation: fit.BestMetrics), fit));
                dsm.Dispose();
            }
            foreach (string m in _missing)
            {
                _r.Ct.ThrowIfCancellationRequested();
                if (m == dsmName && needStage0) continue;
                switch (m)
                {
                    case "pop":
                        _done(Evaluate("pop", new Popularity(_train), 0, null));
                        break;
                    case "mf" or "lightgcn" or "mf+text" or "lightgcn+text" or "sasrec" or "sasrec+text":
                    {
                        _r.Log($"training {m} (seed {_seed})");
                        var (dsm, secs, fit) = TrainDsm(m);
                        _done(WithValidation(Evaluate(m, dsm, secs, fit.BestEpoch, validation: fit.BestMetrics), fit));
                        dsm.Dispose();
                        break;
                    }
                    case "llm-text": RunLlmText(); break;
                    case "one-way": RunOneWay(stage0!); break;
                    case "bdlm-llm": RunBdlm(stage0!); break;
                    case "bdlm-dsm":
                        if (!Missing("bdlm-llm")) RunBdlm(stage0!); // else done together with bdlm-llm
                        break;
                    default: throw new InvalidOperationException($"unknown row {m}");
                }
            }
        }
        finally
        {
            if (stage0Owned) stage0?.Dispose();
        }
    }

    /// <summary>The validation metrics of the epoch an LLM fit kept; null when it kept none (then the model is validated as it is).</summary>
    static IReadOnlyDictionary<string, double>? KeptEpoch(LlmFit fit) => fit.History.FirstOrDefault(e => e.Epoch == fit.BestEpoch)?.Metrics;

    /// <summary>Adds the best epoch's validation metrics (protocol key "validation"): what settings are chosen on.</summary>
    static RunRow WithValidation(RunRow row, TrainResult fit)
    {
        row.Metrics["validation"] = new Dictionary<string, double>(fit.BestMetrics);
        return row;
    }

    (DomainModel Model, double Seconds, TrainResult Fit) TrainDsm(string model)
    {
        var sw = Stopwatch.StartNew();
        var dsm = (DomainModel)DsmFactory.Build(DsmConfig(model), _split, _train);
        var trainer = new DsmTrainer(_dsmOptions) { OnEpoch = _r.EpochLine(model, "bpr", _c.Monitor) };
        var result = trainer.Fit(dsm, _train, Validate, store: null, resume: false, _r.Ct);
        // Tested with what each user did up to the test item (a sequential model reads it; the ID models ignore it).
        dsm.UseHistories(Histories.Of(_split, includeValidation: true));
        return (dsm, sw.Elapsed.TotalSeconds, result);
    }

    /// <summary>A fresh DSM of the configured kind whose shared module holds the stage-0 weights.</summary>
    DomainModel Stage0Copy(DsmState stage0)
    {
        var dsm = (DomainModel)DsmFactory.Build(DsmConfig(_c.Dsm.Model), _split, _train);
        dsm.Restore(stage0);
        return dsm;
    }

    ItemTextCache ItemTexts => _itemTexts ??= _r.TextCache(ItemTextCache.TextsOf(_split.Dataset));

    PromptBuilder Prompts(bool taskTokens) => _r.Prompts(ItemTexts, taskTokens);

    int LlmEpochs => _r.LlmEpochs;

    void RunLlmText()
    {
        _r.Log($"training llm-text (text-only prompts, {_c.Backbone.Display}, {LlmEpochs} epochs, seed {_seed})");
        var sw = Stopwatch.StartNew();
        // The item-text table is the backbone's own encoder's (MiniLM's when the backbone is a checkpoint folder).
        using var features = TextFeatures.LoadOrCompute(_split.Dataset, _r.CacheDir, encoder: _c.Backbone.Encoder);
        TorchRuntime.Seed(_seed);
        var ism = new InformationSharingModule(_split.Dataset.NumUsers, _split.Dataset.NumItems, _c.Dsm.Dim);
        var tower = _c.TowerFor(_ds).ForTextOnly();
        var table = new TextItemTable(features, _c.Dsm.Dim, tower.PopularityPrior == true ? _train.ItemDegrees() : null);
        var llm = new LlmRecommender(_r.Backbone(), ism, Prompts(taskTokens: false),
            PromptBuilder.Histories(_split, includeValidation: false), table, tower: tower);
        var options = tower.TextOnlyLr is { } lr ? _bdlm with { LrAdapters = lr } : _bdlm;
        var fit = LlmFineTuner.Fit(llm, teacher: null, _split, Validate, _c.Monitor, options, LlmEpochs, trainIsm: false, _seed, _r.Log, _r.Ct, _r.Quarters("llm-text: users"));
        double secs = sw.Elapsed.TotalSeconds;
        llm.UseHistories(PromptBuilder.Histories(_split, includeValidation: true));
        _done(Evaluate("llm-text", llm, secs, fit.BestEpoch, rounds: RoundRow.FromEpochs(fit), validation: KeptEpoch(fit)));
        llm.Dispose();
        ism.Dispose();
    }

    /// <summary>The stage-0 DSM and, seeded, a fresh LLM over its shared module (task-token prompts, training histories).</summary>
    (DomainModel Dsm, LlmRecommender Llm) Stage0WithLlm(DsmState stage0)
    {
        var dsm = Stage0Copy(stage0);
        TorchRuntime.Seed(_seed);
        // The LLM's item text, like llm-text's table, is its own encoder's (MiniLM's for a checkpoint folder).
        using var features = _c.TowerFor(_ds).ItemText ? TextFeatures.LoadOrCompute(_split.Dataset, _r.CacheDir, encoder: _c.Backbone.Encoder) : null;
        var llm = new LlmRecommender(_r.Backbone(), dsm.Ism, Prompts(taskTokens: true), PromptBuilder.Histories(_split, includeValidation: false),
            tower: _c.TowerFor(_ds), itemText: features);
        // A sequential DSM gives the LLM its users, tower.dsm_rows the DSM's final rows (BDLM refreshes them every round; one-way keeps stage 0's).
        llm.Follow(dsm);
        return (dsm, llm);
    }

    void RunOneWay(DsmState stage0)
    {
        _r.Log($"training one-way (stage-0 {_c.Dsm.Model} module frozen into the LLM, {LlmEpochs} epochs, seed {_seed})");
        var sw = Stopwatch.StartNew();
        var (dsm, llm) = Stage0WithLlm(stage0);
        var fit = LlmFineTuner.Fit(llm, _bdlm.Lambda > 0 ? dsm : null, _split, Validate, _c.Monitor, _bdlm, LlmEpochs, trainIsm: false, _seed, _r.Log, _r.Ct, _r.Quarters("one-way: users"));
        double secs = sw.Elapsed.TotalSeconds;
        llm.UseHistories(PromptBuilder.Histories(_split, includeValidation: true));
        _done(Evaluate("one-way", llm, secs, fit.BestEpoch, rounds: RoundRow.FromEpochs(fit), validation: KeptEpoch(fit)));
        llm.Dispose();
        dsm.Dispose();
    }

    void RunBdlm(DsmState stage0)
    {
        _r.Log($"training bdlm ({_bdlm.Rounds} rounds from the stage-0 {_c.Dsm.Model}, seed {_seed})");
        var sw = Stopwatch.StartNew();
        // bdlm.dsm_fresh: the weights stage 0 started from (built, seeded, as stage 0 was), before the LLM is made and seeded.
        using var initial = _bdlm.Fresh ? DsmFactory.InitialState(DsmConfig(_c.Dsm.Model), _split, _train) : null;
        var (dsm, llm) = Stage0WithLlm(stage0);
        using var trainer = new BdlmTrainer(_bdlm with { Seed = _seed, FreezeIsmInLlm = false }, _dsmOptions) { Log = s => _r.Log("  " + s), Progress = ProgressOfRounds(), InitialDsm = initial };
        var result = trainer.Run(dsm, llm, _split, ValidateBdlm, _c.Monitor, _r.Ct);
        double secs = sw.Elapsed.TotalSeconds;
        var rounds = RoundRow.FromRounds(result);
        if (_r.ValidationOnly)
        {
            // Each model's kept round as the loop validated it (round 0: the stage-0 DSM; an LLM with no round has none).
            const string note = "train seconds: the whole BDLM run (both models)";
            if (Missing("bdlm-dsm")) _done(ValidationRow("bdlm-dsm", secs, result.BestDsmRound, result.Rounds[result.BestDsmRound].Dsm, note, rounds));
            if (Missing("bdlm-llm")) _done(ValidationRow("bdlm-llm", secs, result.BestLlmRound, result.Rounds[result.BestLlmRound].Llm ?? new Dictionary<string, double>(), note, rounds));
            llm.Dispose();
            dsm.Dispose();
            return;
        }
        // The shared module holds the DSM's best round now; evaluate the DSM first, then put the LLM's best back.
        // Tested with what each user did up to the test item, as TrainDsm tests (a sequential DSM reads it).
        dsm.UseHistories(Histories.Of(_split, includeValidation: true));
        var dsmRow = Evaluate("bdlm-dsm", dsm, secs, result.BestDsmRound, rounds: rounds, note: "train seconds: the whole BDLM run (both models)");
        // A model folder for 'bridgerec recommend --via dsm|llm': the DSM's best round now, the LLM's next.
        var folderConfig = DsmConfig(_c.Dsm.Model) with { Data = _ds.Data with { MaxUsers = _ds.MaxUsers, TrainFraction = _fraction, SubsampleSeed = _seed } };
        BdlmPipeline.SaveDsmPart(ModelDir, folderConfig, dsm, result);
        BdlmPipeline.SaveLlmPart(ModelDir, llm, trainer, result, new LlmSpec { Prompt = _c.Prompt, Backbone = _c.Backbone, Tower = _c.TowerFor(_ds) }, _split);
        _r.Log($"model folder (both models): {ModelDir}");
        var llmRow = Evaluate("bdlm-llm", llm, secs, result.BestLlmRound, rounds: rounds, note: "train seconds: the whole BDLM run (both models)");
        if (Missing("bdlm-dsm")) _done(dsmRow);
        if (Missing("bdlm-llm")) _done(llmRow);
        llm.Dispose();
        dsm.Dispose();
    }

    /// <summary>BDLM's LLM-phase progress (round, users done, users), logged at each quarter of each round.</summary>
    Action<int, int, int> ProgressOfRounds()
    {
        var perRound = new Dictionary<int, Action<int, int>>();
        return (round, done, all) =>
        {
            if (!perRound.TryGetValue(round, out var report)) perRound[round] = report = _r.Quarters($"bdlm round {round} LLM phase: users");
            report(done, all);
        };
    }

    /// <summary>Where this dataset x fraction x seed keeps its BDLM model folder.</summary>
    string ModelDir => Path.Combine(_c.OutputDir, "models",
        FormattableString.Invariant($"{_ds.Name}-seed{_seed}") + (_fraction < 1 ? FormattableString.Invariant($"-f{_fraction:0.###}") : ""));

    /// <summary>
    /// A finished row: evaluated on test (every protocol of the dataset, buckets, inference time); in a
    /// validation-only run, <paramref name="validation"/> (the kept epoch's metrics; null: the model validated now) only.
    /// </summary>
    RunRow Evaluate(string method, IRecommender model, double trainSeconds, int? best, string? note = null, List<RoundRow>? rounds = null,
        IReadOnlyDictionary<string, double>? validation = null)
    {
        if (_r.ValidationOnly) return ValidationRow(method, trainSeconds, best, validation ?? Validate(model), note, rounds);
        _r.CountTestEvaluation(method);
        var sw = Stopwatch.StartNew();
        var (score, table) = ScoreOnce(model);
        using var _ = table;
        var full = Test.Evaluate(score);
        var metrics = new Dictionary<string, Dictionary<string, double>> { ["full"] = full.ToDictionary() };
        if (_sampled is not null) metrics["sampled"] = _sampled.Evaluate(score).ToDictionary();
        if (_unisrec is not null) metrics["unisrec"] = _unisrec.Evaluate(score).ToDictionary();
        var buckets = new Dictionary<string, List<BucketRow>>
        {
            ["user_activity"] = BucketRow.From(Breakdowns.ByUserActivity(full, _countPerUser)),
            ["item_popularity"] = BucketRow.From(Breakdowns.ByItemPopularity(full, _countPerItem)),
        };
        double evalSeconds = sw.Elapsed.TotalSeconds;
        return new RunRow
        {
            Dataset = _ds.Name, Fraction = _fraction, Seed = _seed, Method = method, ConfigHash = _hash,
            Metrics = metrics, Buckets = buckets, Rounds = rounds, BestRound = best,
            TrainSeconds = trainSeconds, EvalSeconds = evalSeconds, InferMsPerUser = InferenceMs(model),
            Note = note, FinishedUtc = DateTime.UtcNow.ToString("O"),
        };
    }

    /// <summary>A validation-only run's row: the metrics under "validation", nothing measured on test.</summary>
    RunRow ValidationRow(string method, double trainSeconds, int? best, IReadOnlyDictionary<string, double> validation, string? note, List<RoundRow>? rounds) => new()
    {
        Dataset = _ds.Name, Fraction = _fraction, Seed = _seed, Method = method, ConfigHash = _hash,
        Metrics = new() { ["validation"] = new Dictionary<string, double>(validation) }, Rounds = rounds, BestRound = best,
        TrainSeconds = trainSeconds, Note = note is null ? "validation only" : note + "; validation only", FinishedUtc = DateTime.UtcNow.ToString("O"),
    };

    RankingEvaluator Test => _test ?? throw new InvalidOperationException("validation-only run: the test split is not evaluated");

    /// <summary>
    /// Scores every test user once (one pass of the LLM, not one per protocol) and serves the protocols'
    /// callbacks from that table; each call returns fresh rows, which the evaluators own.
    /// </summary>
    (Func<int[], Tensor> Score, Tensor Table) ScoreOnce(IRecommender model)
    {
        var users = Test.Users.ToArray();
        var rowOf = new Dictionary<int, long>(users.Length);
        for (int k = 0; k < users.Length; k++) rowOf[users[k]] = k;
        Tensor table;
        using (no_grad())
        {
            var parts = new List<Tensor>();
            for (int s = 0; s < users.Length; s += 256)
            {
                var p = model.ScoreAll(users.Skip(s).Take(256).ToArray());
                parts.Add(p.DetachFromDisposeScope());
            }
            table = cat(parts, 0).DetachFromDisposeScope();
            foreach (var p in parts) p.Dispose();
        }
        return (batch => batch.All(rowOf.ContainsKey)
            ? table.index_select(0, tensor(batch.Select(u => rowOf[u]).ToArray(), device: table.device))
            : model.ScoreAll(batch), table);
    }

    /// <summary>Median milliseconds to score all items for one user, drop the seen ones and take the top 10 (after a warm-up pass).</summary>
    double InferenceMs(IRecommender model)
    {
        var users = Test.Users.Take(Math.Max(1, _c.TimingUsers)).ToArray();
        int k = Math.Min(10, model.NumItems);
        var times = new List<double>(users.Length);
        using var _ = no_grad();
        // A first pass over the same users warms up the backend for each prompt shape (the first call of a
        // shape in libtorch is far slower); the second pass is measured.
        for (int j = -users.Length; j < users.Length; j++)
        {
            int u = users[j < 0 ? j + users.Length : j];
            var sw = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            {
                var s = model.ScoreAll([u]);
                var seen = _seen.ItemsOf(u).ToArray();
                if (seen.Length > 0) s.index_fill_(1, tensor(seen.Select(i => (long)i).ToArray(), device: s.device), Scalars.Of(double.NegativeInfinity));
                var (_, idx) = s.topk(k, 1);
                idx.data<long>().ToArray();
            }
            if (j >= 0) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
