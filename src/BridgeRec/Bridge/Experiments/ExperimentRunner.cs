using System.Diagnostics;
using BridgeRec.Data;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.Native;

namespace BridgeRec.Bridge.Experiments;

/// <summary>What a call of <see cref="ExperimentRunner.Run"/> did.</summary>
public sealed record ExperimentSummary(string OutputDir, int RowsRun, int RowsSkipped, string ResultsPath, string ReportPath, double Seconds)
{
    /// <summary>Test evaluations the seed runs asked for (one per test-evaluated row, plus one per seed run that built the test evaluators).</summary>
    public int TestEvaluations { get; init; }
}

/// <summary>What <see cref="ExperimentRunner.RunValidationOnly"/> did: rows whose metrics hold validation only.</summary>
public sealed record ValidationRun(IReadOnlyList<RunRow> Rows, int TestEvaluations, double Seconds);

/// <summary>
/// Runs an experiment: for each dataset x training fraction x seed, the rows of the method list that results.json
/// lacks, by a <see cref="RankingSeedRun"/> or, for click-through data, a <see cref="CtrSeedRun"/>. results.json is
/// rewritten atomically after each row, and rows already there with the same <see cref="ExperimentConfig.RunHash"/>
/// are skipped, so an interrupted experiment resumes. The report is written from results.json at the end. What
/// the seed runs share (tokenizer, backbones, prompts, progress logging) lives here.
/// </summary>
public sealed class ExperimentRunner
{
    internal ExperimentConfig Config { get; }
    internal Action<string> Log { get; }
    internal CancellationToken Ct { get; }
    internal string CacheDir { get; }
    /// <summary>
    /// Seed runs choose nothing on test and compute no test figure: rows carry validation metrics only, no test
    /// evaluator is built, and asking for one throws (<see cref="CountTestEvaluation"/>). What the tuner runs.
    /// </summary>
    internal bool ValidationOnly { get; }
    /// <summary>Where seed runs find and keep stage-0 modules across runs; null: each seed run trains its own.</summary>
    internal Stage0Store? Stage0 { get; }
    /// <summary>Test evaluations asked for so far (see <see cref="CountTestEvaluation"/>).</summary>
    internal int TestEvaluations { get; private set; }
    ITextTokenizer? _tokenizer;
    int _ran, _skipped;

    ExperimentRunner(ExperimentConfig config, Action<string>? log, CancellationToken ct, bool validationOnly = false, Stage0Store? stage0 = null)
    {
        Config = config;
        Log = log ?? (_ => { });
        Ct = ct;
        CacheDir = config.CacheDir ?? TrainConfig.DefaultCacheDir();
        ValidationOnly = validationOnly;
        Stage0 = stage0;
    }

    /// <summary>The one gate in front of the test split: counted, and refused in a validation-only run.</summary>
    internal void CountTestEvaluation(string what)
    {
        if (ValidationOnly)
            throw new InvalidOperationException($"validation-only run: {what} would evaluate on the test split");
        TestEvaluations++;
    }

    /// <summary>
    /// Runs the config's methods on its first dataset for one <paramref name="seed"/> on <paramref name="split"/>
    /// (fraction 1), on validation only: no test evaluator is built, every row's metrics are the protocol key
    /// "validation" (each model at the epoch or round it kept), nothing is written to disk except stage-0 modules
    /// into <paramref name="stage0"/>'s folder. Ranking data only.
    /// </summary>
    public static ValidationRun RunValidationOnly(ExperimentConfig config, Split split, int seed, Stage0Store? stage0 = null,
        Action<string>? log = null, CancellationToken ct = default)
    {
        config.Validate();
        var ds = config.Datasets[0];
        if (ds.IsCtr)
            throw new ArgumentException($"dataset {ds.Name}: validation-only runs (and tune) support ranking data only, not click-through ({ds.Data.Format})");
        var clock = Stopwatch.StartNew();
        var r = new ExperimentRunner(config, log, ct, validationOnly: true, stage0);
        TorchRuntime.Device(config.Device);
        var rows = new List<RunRow>();
        var wanted = RowNames(config.Methods).Distinct().ToList();
        new RankingSeedRun(r, ds, split, 1.0, seed, config.RunHash(ds), wanted, rows.Add).Execute();
        return new ValidationRun(rows, r.TestEvaluations, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The result rows a method list yields (bdlm: bdlm-llm and bdlm-dsm).</summary>
    public static IEnumerable<string> RowNames(IEnumerable<string> methods) =>
        methods.SelectMany(m => m == "bdlm" ? new[] { "bdlm-llm", "bdlm-dsm" } : [m]);

    /// <summary>
    /// Runs every missing row. Refuses, before writing anything, to replace finished rows made with other settings
    /// unless <paramref name="overwrite"/>; rows of the same settings are skipped, so a rerun resumes.
    /// </summary>
    public static ExperimentSummary Run(ExperimentConfig config, Action<string>? log = null, CancellationToken ct = default, bool overwrite = false)
    {
        config.Validate();
        if (!overwrite)
        {
            var replaced = LoadAdopting(config, config.OutputDir, null, out _).ReplacedBy(config).ToList();
            if (replaced.Count > 0)
                throw new InvalidOperationException(
                    $"{Path.GetFullPath(config.OutputDir)} holds {replaced.Count} finished result row(s) made with other settings (for example {replaced[0].Key}) " +
                    "that this run would replace; nothing was written. Choose another --out, or pass --overwrite to replace them.");
        }
        return new ExperimentRunner(config, log, ct).RunAll();
    }

    /// <summary>
    /// Rewrites report.md and the charts of <paramref name="config"/>'s output folder from its results.json, running
    /// nothing (rows of an earlier version's run hash are adopted first, and results.json saved if any were).
    /// </summary>
    public static string ReportOnly(ExperimentConfig config, Action<string>? log = null)
    {
        config.Validate();
        string outDir = config.OutputDir;
        if (!File.Exists(Path.Combine(outDir, ResultsFile.FileName)))
            throw new FileNotFoundException($"{Path.Combine(Path.GetFullPath(outDir), ResultsFile.FileName)} not found: nothing to report", Path.Combine(outDir, ResultsFile.FileName));
        var results = LoadAdopting(config, outDir, log, out int adopted);
        if (adopted > 0)
        {
            results.Name = config.Name;
            results.Config = config;
            results.Save(outDir);
        }
        return Report.Write(config, results, outDir, log);
    }

    /// <summary>The folder's results.json with rows of an earlier version's run hash adopted (<see cref="ResultsFile.AdoptLegacyHashes"/>), logged.</summary>
    static ResultsFile LoadAdopting(ExperimentConfig config, string outDir, Action<string>? log, out int adopted)
    {
        var results = ResultsFile.LoadOrNew(outDir, config.Name);
        adopted = results.AdoptLegacyHashes(config);
        if (adopted > 0) log?.Invoke($"{adopted} finished row(s) carried the run hash of an earlier version (absolute paths); rewritten to this version's");
        return results;
    }

    ExperimentSummary RunAll()
    {
        var clock = Stopwatch.StartNew();
        string outDir = Config.OutputDir;
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, "config.json"), Config.ToJson());
        // Adopted rows are saved with the first finished row, or at the end.
        var results = LoadAdopting(Config, outDir, Log, out _);
        results.Name = Config.Name;
        results.Config = Config;
        TorchRuntime.Device(Config.Device);

        foreach (var ds in Config.Datasets)
        {
            if (ds.IsCtr) RunCtr(ds, results, outDir);
            else RunRanking(ds, results, outDir);
        }
        results.Save(outDir);
        string report = Report.Write(Config, results, outDir, Log);
        Log($"wrote {Path.Combine(outDir, ResultsFile.FileName)} and {report}");
        return new ExperimentSummary(outDir, _ran, _skipped, Path.Combine(outDir, ResultsFile.FileName), report, clock.Elapsed.TotalSeconds) { TestEvaluations = TestEvaluations };
    }

    void RunRanking(ExperimentDataset ds, ResultsFile results, string outDir)
    {
        string hash = Config.RunHash(ds);
        Split? full = null;
        foreach (double fraction in ds.Fractions)
            foreach (int seed in Config.Seeds)
            {
                Ct.ThrowIfCancellationRequested();
                string where = FormattableString.Invariant($"{ds.Name} fraction {fraction:0.###} seed {seed}");
                if (MissingRows(results, ds, hash, fraction, seed, where) is not { } missing) continue;
                full ??= LoadData(ds);
                var split = DataSource.Restrict(full, new DataConfig { TrainFraction = fraction, SubsampleSeed = seed });
                new RankingSeedRun(this, ds, split, fraction, seed, hash, missing, Record(results, outDir, ds, where)).Execute();
            }
    }

    void RunCtr(ExperimentDataset ds, ResultsFile results, string outDir)
    {
        string hash = Config.RunHash(ds);
        CtrDataset? data = null;
        foreach (int seed in Config.Seeds)
        {
            Ct.ThrowIfCancellationRequested();
            string where = $"{ds.Name} seed {seed}";
            if (MissingRows(results, ds, hash, 1.0, seed, where) is not { } missing) continue;
            data ??= LoadCtrData(ds);
            new CtrSeedRun(this, ds, data, seed, hash, missing, Record(results, outDir, ds, where)).Execute();
        }
    }

    /// <summary>The rows of one dataset x fraction x seed that results.json lacks, logged; null when it has them all.</summary>
    List<string>? MissingRows(ResultsFile results, ExperimentDataset ds, string hash, double fraction, int seed, string where)
    {
        var wanted = WantedRows().ToList();
        var missing = wanted.Where(m => results.Find(RunRow.RunKey(ds.Name, fraction, seed, m), hash) is null).ToList();
        _skipped += wanted.Count - missing.Count;
        if (missing.Count == 0) { Log($"{where}: all {wanted.Count} rows in results.json, skipped"); return null; }
        if (missing.Count < wanted.Count) Log($"{where}: {wanted.Count - missing.Count} rows already done, running {string.Join(", ", missing)}");
        return missing;
    }

    /// <summary>What a seed run does with each finished row: into results.json at once, and logged.</summary>
    Action<RunRow> Record(ResultsFile results, string outDir, ExperimentDataset ds, string where) => row =>
    {
        results.Put(row);
        results.Save(outDir);
        _ran++;
        Log($"{where}: {row.Method} {Show(row, ds)}");
    };

    IEnumerable<string> WantedRows()
    {
        var rows = RowNames(Config.Methods).ToList();
        if (NeedsStage0(Config.Methods) && !rows.Contains(Config.Dsm.Model)) rows.Insert(0, Config.Dsm.Model);
        return rows.Distinct();
    }

    static bool NeedsStage0(IEnumerable<string> methods) => methods.Any(m => m is "one-way" or "bdlm");

    static string Show(RunRow row, ExperimentDataset ds)
    {
        var m = row.Metrics[ds.IsCtr ? "ctr" : "full"];
        return string.Join(" ", ds.MainMetrics.Where(m.ContainsKey).Select(k => FormattableString.Invariant($"{k} {m[k]:F4}")))
               + FormattableString.Invariant($" (train {row.TrainSeconds:F1}s, {row.InferMsPerUser:F2} ms/user)");
    }

    Split LoadData(ExperimentDataset ds) => LoadRankingSplit(ds, Log);

    /// <summary>A ranking dataset's split as an experiment reads it (its max_users applied).</summary>
    public static Split LoadRankingSplit(ExperimentDataset ds, Action<string>? log = null)
    {
        log?.Invoke($"{ds.Name}: loading {ds.Data.Path}");
        var s = DataSource.Load(ds.Data with { MaxUsers = ds.MaxUsers });
        log?.Invoke($"{ds.Name}: {s}");
        return s;
    }

    CtrDataset LoadCtrData(ExperimentDataset ds)
    {
        Log($"{ds.Name}: loading {ds.Data.Path} (click-through, validation {ds.CtrSettings.Validation})");
        var data = CollmCtr.Load(ds.Data.Path, ds.CtrSettings.Validation);
        if (ds.MaxUsers is int n) data = data.KeepUsersBelow(n);
        Log($"{ds.Name}: {data}");
        return data;
    }

    /// <summary>A DSM training's progress line at each evaluated epoch: loss, the monitored validation metric, a star when it improved.</summary>
    internal Action<Domain.EpochReport> EpochLine(string model, string loss, string monitor) => e =>
    {
        if (e.Metrics is { } m)
            Log(FormattableString.Invariant($"  {model} epoch {e.Epoch}/{e.Epochs}: {loss} {e.Loss:F4}, validation {monitor} {m.GetValueOrDefault(monitor):F4}{(e.Improved ? " *" : "")} ({e.Seconds:F2}s/epoch)"));
    };

    /// <summary>Logs the progress of a long LLM pass (done, total) at each quarter.</summary>
    internal Action<int, int> Quarters(string what)
    {
        int last = 0;
        return (done, total) =>
        {
            int q = total == 0 ? 4 : 4 * done / total;
            if (q > last) { last = q; Log($"  {what}: {done}/{total}"); }
            if (done >= total) last = 0;
        };
    }

    /// <summary>The token ids of one text per item, cut at the prompt's per-item budget (at least the default).</summary>
    internal ItemTextCache TextCache(IReadOnlyList<string> texts) =>
        new(Tokenizer, texts, Math.Max(ItemTextCache.DefaultMaxItemTokens, Config.Prompt.MaxItemTokens));

    /// <summary>The configured prompts over <paramref name="texts"/>, with or without task tokens (the text-only baseline).</summary>
    internal PromptBuilder Prompts(ItemTextCache texts, bool taskTokens) => new(Tokenizer, texts, Config.Prompt with { IncludeTaskTokens = taskTokens });

    /// <summary>The LLM baselines' budget: as many epochs as BDLM's LLM phases take in all.</summary>
    internal int LlmEpochs => Math.Max(1, Config.Bdlm.Rounds * Config.Bdlm.LlmEpochs);

    ITextTokenizer Tokenizer => _tokenizer ??= Config.Backbone.LoadTokenizer();

    /// <summary>A fresh backbone (the embedded encoder backbone.name, MiniLM by default, or the checkpoint at backbone.path) in the configured training mode and precision.</summary>
    internal ILanguageBackbone Backbone() => Config.Backbone.LoadConfigured().Model;
}
