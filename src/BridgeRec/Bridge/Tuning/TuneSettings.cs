using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using BridgeRec.Bridge.Experiments;

namespace BridgeRec.Bridge.Tuning;

/// <summary>
/// The <c>tune</c> section of an experiment config: what <c>bridgerec tune</c> searches. <see cref="Space"/> maps
/// dotted keys of the config (<see cref="ConfigJson"/>: <c>bdlm.lambda</c>, <c>dsm.train.lr</c>, ...) to their
/// candidate values; null or empty: <see cref="SearchSpace.Default"/>. The command line's --seed, --seeds, --trials and
/// --budget override the others.
/// </summary>
public sealed record TuneSettings
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, JsonArray>? Space { get; init; }
    /// <summary>Seed of the search order.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>
    /// The seeds every trial trains with; a trial's score is the mean of its score on each. null: the config's first
    /// seed. One seed is cheaper and picks up that seed's noise (ML-100K: a +3 % DSM gain on seed 1 was none on three).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int[]? Seeds { get; init; }
    /// <summary>The most trials, the baseline included; null: as many as the budget allows.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Trials { get; init; }
    /// <summary>Wall-clock minutes of one tune call; null: --budget must give it.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? BudgetMinutes { get; init; }

    public void Validate()
    {
        if (Trials is < 1) throw new ArgumentException($"tune.trials must be >= 1 (got {Trials})");
        if (BudgetMinutes is { } b && !(b > 0)) throw new ArgumentException($"tune.budget_minutes must be > 0 (got {b})");
        _ = SearchSpace.From(Space);
    }
}

/// <summary>
/// A grid of candidate values per key, addressed by a mixed-radix index (<see cref="At"/>): the tuner draws
/// indexes at random without repeats. Keys are kept in ordinal order, so the same space gives the same trials
/// whatever order the file lists them in.
/// </summary>
public sealed class SearchSpace
{
    public IReadOnlyList<string> Keys { get; }
    public IReadOnlyList<JsonNode?[]> Values { get; }
    /// <summary>Number of combinations.</summary>
    public long Size { get; }

    SearchSpace(IReadOnlyList<string> keys, IReadOnlyList<JsonNode?[]> values)
    {
        Keys = keys;
        Values = values;
        long size = 1;
        foreach (var v in values)
        {
            try { size = checked(size * v.Length); }
            catch (OverflowException) { throw new ArgumentException($"tune.space has more than {long.MaxValue} combinations"); }
        }
        Size = size;
    }

    /// <summary>
    /// The default space when the config gives none: BDLM's loop settings around the shipped defaults (since 2026-12-02
    /// the LLM's learning rates at 1e-4, raw dot products and the user skip; before, 1e-3 and temperatures 0.05-0.1). tau
    /// is KL's (the default distillation for LightGCN and MF), top_k and gate the rank distillation's (SASRec's), dsm_epochs
    /// the continued phase's; dsm_lr null is the phase's own default rate. Every value applies to every DSM and protocol,
    /// so the same space serves any dataset.
    /// </summary>
    public const string DefaultJson = """
        {
          "bdlm.lambda": [0.1, 0.5, 1.0, 2.0],
          "bdlm.tau": [1.0, 2.0, 4.0],
          "bdlm.top_k": [10, 20, 50],
          "bdlm.gate": [true, false],
          "bdlm.lr_ism": [3e-5, 1e-4, 3e-4],
          "bdlm.lr_adapters": [3e-5, 1e-4, 3e-4],
          "bdlm.dsm_lr": [null, 3e-4, 1e-3, 2e-3],
          "bdlm.dsm_epochs": [10, 20, 40],
          "bdlm.rounds": [1, 2, 3],
          "bdlm.llm_epochs": [1, 2],
          "tower.user_skip": [true, false]
        }
        """;

    public static SearchSpace Default => From(null);

    /// <summary>The space of a tune section (null or empty: <see cref="Default"/>); every key is checked against the config's fields.</summary>
    public static SearchSpace From(IReadOnlyDictionary<string, JsonArray>? space)
    {
        if (space is null || space.Count == 0)
            space = ConfigJson.Parse(DefaultJson, "the default tune space").ToDictionary(kv => kv.Key, kv => kv.Value!.AsArray());
        var keys = space.Keys.Order(StringComparer.Ordinal).ToList();
        var values = new List<JsonNode?[]>();
        foreach (string key in keys)
        {
            try { ConfigJson.CheckPath(key); }
            catch (ArgumentException e) { throw new ArgumentException($"tune.space: {e.Message}"); }
            var list = space[key] ?? throw new ArgumentException($"tune.space key '{key}': expected a list of candidate values, got null");
            if (list.Count == 0) throw new ArgumentException($"tune.space key '{key}': no candidate values");
            if (key.Split('.')[0] is "tune" or "tuned" or "name" or "output" or "seeds" or "methods")
                throw new ArgumentException($"tune.space key '{key}': not a setting a trial can change");
            values.Add(list.Select(v => v?.DeepClone()).ToArray());
        }
        return new SearchSpace(keys, values);
    }

    /// <summary>The settings of combination <paramref name="index"/> (0 .. Size-1), key by key.</summary>
    public IReadOnlyList<KeyValuePair<string, JsonNode?>> At(long index)
    {
        if (index < 0 || index >= Size) throw new ArgumentOutOfRangeException(nameof(index));
        var settings = new KeyValuePair<string, JsonNode?>[Keys.Count];
        for (int k = Keys.Count - 1; k >= 0; k--)
        {
            int n = Values[k].Length;
            settings[k] = new(Keys[k], Values[k][(int)(index % n)]?.DeepClone());
            index /= n;
        }
        return settings;
    }

    /// <summary>The space as JSON (keys in order): part of a tune's fingerprint.</summary>
    public string ToJson()
    {
        var o = new JsonObject();
        for (int k = 0; k < Keys.Count; k++) o[Keys[k]] = new JsonArray(Values[k].Select(v => v?.DeepClone()).ToArray());
        return o.ToJsonString();
    }

    public JsonObject ToJsonObject() => ConfigJson.Parse(ToJson(), "space");
}
