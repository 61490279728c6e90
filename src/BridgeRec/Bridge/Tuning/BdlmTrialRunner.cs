using System.Text.Json;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Data;

namespace BridgeRec.Bridge.Tuning;

/// <summary>
/// The tuner's trials for real: each one is <see cref="ExperimentRunner.RunValidationOnly"/> of the trial config
/// (stage 0 and bdlm, one seed a call) on the first dataset's split, loaded once per data settings, with stage 0 from
/// <paramref name="store"/> whenever an earlier trial trained the same one.
/// </summary>
public sealed class BdlmTrialRunner(Stage0Store store, Action<string>? log = null) : ITrialRunner
{
    readonly Dictionary<string, Split> _splits = new();

    static string Stage0KeyOf(Trial t, int seed) => Stage0Store.KeyOf(t.Config, t.Config.Datasets[0], 1.0, seed);

    public bool HasStage0(Trial trial, int seed) => store.Contains(Stage0KeyOf(trial, seed));

    public TrialOutcome Run(Trial trial, int seed, CancellationToken ct)
    {
        var ds = trial.Config.Datasets[0];
        string dataKey = JsonSerializer.Serialize(ds.Data with { MaxUsers = ds.MaxUsers }, ExperimentConfig.JsonOptions);
        if (!_splits.TryGetValue(dataKey, out var split)) _splits[dataKey] = split = ExperimentRunner.LoadRankingSplit(ds, log);
        string key = Stage0KeyOf(trial, seed);
        bool had = store.Contains(key);
        var run = ExperimentRunner.RunValidationOnly(trial.Config, split, seed, store, log, ct);
        var dsm = run.Rows.Single(r => r.Method == "bdlm-dsm");
        var llm = run.Rows.Single(r => r.Method == "bdlm-llm");
        return new TrialOutcome(dsm.Rounds ?? [], dsm.BestRound ?? 0, llm.BestRound ?? 0, key, had, had ? 0 : store.SecondsOf(key), run.TestEvaluations);
    }
}
