using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.Bridge.Experiments;

namespace BridgeRec.Bridge.Tuning;

/// <summary>What <c>bridgerec tune</c> is asked for; unset values come from the config's tune section.</summary>
public sealed record TuneRequest
{
    public required string ConfigPath { get; init; }
    /// <summary>null: the config's output folder with "-tune" appended.</summary>
    public string? OutDir { get; init; }
    public double? BudgetMinutes { get; init; }
    public int? Trials { get; init; }
    /// <summary>Seed of the search order; null: tune.seed.</summary>
    public int? Seed { get; init; }
    /// <summary>The seeds every trial trains with (its score is the mean over them); null: tune.seeds, else the config's first seed.</summary>
    public int[]? Seeds { get; init; }
    public bool Overwrite { get; init; }
}

/// <summary>One trial of a plan: its settings and the experiment config they give (first dataset, bdlm), and the seeds it trains with.</summary>
public sealed record Trial(int Id, bool Baseline, IReadOnlyList<KeyValuePair<string, JsonNode?>> Settings, ExperimentConfig Config, IReadOnlyList<int> Seeds, string RunHash)
{
    public string Describe() => Baseline ? "baseline (the config's own settings)" : TunePlan.Describe(Settings);
}

/// <summary>
/// A tune's plan: the config as JSON (a <c>tuned</c> fragment it names already merged), the search space, the seeds
/// (of the search order, and those every trial trains with),
/// and the trials in their fixed order (<see cref="Trials"/>): trial 0 is the config's own settings, then
/// combinations of the space drawn at random without repeats by a <see cref="Random"/> of the search seed, each
/// applied by setting its keys in the JSON and reading the result through <see cref="ExperimentConfig.FromJson"/>
/// and <see cref="ExperimentConfig.Validate"/>. A combination whose config equals an earlier trial's (the same
/// <see cref="ExperimentConfig.RunHash"/>: e.g. the baseline's own values) is skipped.
/// </summary>
public sealed class TunePlan
{
    public string ConfigPath { get; }
    public JsonObject BaseNode { get; }
    /// <summary>The baseline trial's config (first dataset, method bdlm, the training seed).</summary>
    public ExperimentConfig Base { get; }
    public ExperimentDataset Dataset => Base.Datasets[0];
    public SearchSpace Space { get; }
    public int SearchSeed { get; }
    /// <summary>The seeds each trial trains with, in order; its score is the mean over them.</summary>
    public IReadOnlyList<int> TrainSeeds { get; }
    /// <summary>The first of <see cref="TrainSeeds"/>.</summary>
    public int TrainSeed => TrainSeeds[0];
    public string OutDir { get; }
    public double BudgetMinutes { get; }
    public int? MaxTrials { get; }
    public string Fingerprint { get; }
    /// <summary>Datasets of the config after the first, which the tune does not use.</summary>
    public IReadOnlyList<string> UnusedDatasets { get; }

    TunePlan(string configPath, JsonObject baseNode, ExperimentConfig full, TuneRequest req)
    {
        ConfigPath = configPath;
        BaseNode = baseNode;
        var tune = full.Tune ?? new TuneSettings();
        Space = SearchSpace.From(tune.Space);
        SearchSeed = req.Seed ?? tune.Seed;
        var seeds = req.Seeds ?? tune.Seeds;
        if (seeds is null && full.Seeds.Length == 0) throw new ArgumentException($"{configPath}: no seeds; the trials train with the first (or give --seeds)");
        TrainSeeds = seeds ?? [full.Seeds[0]];
        if (TrainSeeds.Count == 0) throw new ArgumentException($"{configPath}: tune seeds are empty; give at least one");
        if (TrainSeeds.Distinct().Count() != TrainSeeds.Count)
            throw new ArgumentException($"{configPath}: tune seeds {string.Join(",", TrainSeeds)} repeat a seed; a trial's score would count it twice");
        if (full.Datasets.Length == 0) throw new ArgumentException($"{configPath}: no datasets");
        UnusedDatasets = full.Datasets.Skip(1).Select(d => d.Name).ToList();
        if (full.Datasets[0].IsCtr)
            throw new ArgumentException($"{configPath}: dataset {full.Datasets[0].Name} is click-through ({full.Datasets[0].Data.Format}); tune supports ranking datasets only");
        OutDir = Path.GetFullPath(req.OutDir ?? full.OutputDir + "-tune");
        BudgetMinutes = req.BudgetMinutes ?? tune.BudgetMinutes
            ?? throw new ArgumentException($"{configPath}: no time budget; give --budget MINUTES (or tune.budget_minutes in the config)");
        if (!(BudgetMinutes > 0)) throw new ArgumentException($"--budget {BudgetMinutes}: must be > 0 minutes");
        MaxTrials = req.Trials ?? tune.Trials;
        if (MaxTrials is < 1) throw new ArgumentException($"--trials {MaxTrials}: must be >= 1");
        Base = TrialConfig(full);
        Validated(Base, "the config's own settings");
        Fingerprint = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join("\n", Base.RunHash(Dataset), string.Join(",", TrainSeeds), SearchSeed, Space.ToJson()))))[..16];
        // Every candidate value on its own, before anything trains: a bad key or value stops the tune here.
        for (int k = 0; k < Space.Keys.Count; k++)
            foreach (var v in Space.Values[k])
                _ = Apply([new(Space.Keys[k], v)]);
    }

    /// <summary>Reads the config and the tune section; checks the space and every candidate value.</summary>
    public static TunePlan Load(TuneRequest req)
    {
        string path = Path.GetFullPath(req.ConfigPath);
        var node = ExperimentConfig.ReadJsonFile(path);
        ExperimentConfig full;
        try { full = ExperimentConfig.FromJson(node, path); }
        catch (InvalidDataException e) { throw new ArgumentException(e.Message, e); }
        full.Tune?.Validate();
        return new TunePlan(path, node, full, req);
    }

    /// <summary>An experiment config as one trial runs it: the first dataset, the bdlm method, the training seeds (not part of its run hash).</summary>
    ExperimentConfig TrialConfig(ExperimentConfig c) => c with { Datasets = [c.Datasets[0]], Methods = ["bdlm"], Seeds = [.. TrainSeeds] };

    ExperimentConfig Validated(ExperimentConfig c, string what)
    {
        try { c.Validate(); }
        catch (ArgumentException e) { throw new ArgumentException($"{ConfigPath}: tune trial {what}: {e.Message}", e); }
        return c;
    }

    /// <summary>The trial config of a combination: its keys set in the config's JSON, read back and validated. Errors name the keys and values.</summary>
    public ExperimentConfig Apply(IReadOnlyList<KeyValuePair<string, JsonNode?>> settings)
    {
        string what = Describe(settings);
        var node = BaseNode.DeepClone().AsObject();
        ExperimentConfig c;
        try
        {
            foreach (var (key, value) in settings) ConfigJson.Set(node, key, value);
            c = ExperimentConfig.FromJson(node, ConfigPath);
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException)
        {
            throw new ArgumentException($"{ConfigPath}: tune trial {what}: {e.Message}", e);
        }
        if (c.Datasets.Length == 0)
            throw new ArgumentException($"{ConfigPath}: tune trial {what}: no dataset left");
        return Validated(TrialConfig(c), what);
    }

    public static string Describe(IEnumerable<KeyValuePair<string, JsonNode?>> settings) =>
        string.Join(" ", settings.Select(kv => $"{kv.Key}={ConfigJson.Show(kv.Value)}"));

    /// <summary>The baseline's values of the searched keys, as the loaded config has them (null where unset).</summary>
    IReadOnlyList<KeyValuePair<string, JsonNode?>> BaselineSettings()
    {
        var effective = JsonSerializer.SerializeToNode(Base, ExperimentConfig.JsonOptions)!;
        return Space.Keys.Select(k => new KeyValuePair<string, JsonNode?>(k, ConfigJson.Get(effective, k)?.DeepClone())).ToList();
    }

    /// <summary>The trials in their fixed order for the search seed: the baseline, then random distinct combinations until the space is exhausted.</summary>
    public IEnumerable<Trial> Trials()
    {
        string baseHash = Base.RunHash(Dataset);
        yield return new Trial(0, true, BaselineSettings(), Base, TrainSeeds, baseHash);
        var seen = new HashSet<string> { baseHash };
        var drawn = new HashSet<long>();
        var rng = new Random(SearchSeed);
        int id = 1;
        while (drawn.Count < Space.Size)
        {
            long index = rng.NextInt64(Space.Size);
            if (!drawn.Add(index)) continue;
            var settings = Space.At(index);
            var config = Apply(settings);
            string hash = config.RunHash(config.Datasets[0]);
            if (!seen.Add(hash)) continue; // the same settings as an earlier trial (e.g. the config's own values)
            yield return new Trial(id++, false, settings, config, TrainSeeds, hash);
        }
    }
}
