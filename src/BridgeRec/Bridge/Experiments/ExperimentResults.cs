using System.Text.Json;
using BridgeRec.Evaluation;
using BridgeRec.IO;

namespace BridgeRec.Bridge.Experiments;

/// <summary>Metric means of one bucket (user-activity quartile or item-popularity bucket).</summary>
public sealed record BucketRow(string Bucket, int Users, int Cases, Dictionary<string, double> Metrics)
{
    public static List<BucketRow> From(BucketReport r) =>
        r.Buckets.Select(b => new BucketRow(b.Label, b.Users, b.Cases, new Dictionary<string, double>(b.Means))).ToList();
}

/// <summary>One BDLM round's validation metrics (round 0 = the DSM alone).</summary>
public sealed record RoundRow(int Round, Dictionary<string, double>? Llm, Dictionary<string, double> Dsm, double LlmLoss, double Seconds)
{
    /// <summary>A BDLM run's rounds, both models' validation metrics in each.</summary>
    public static List<RoundRow> FromRounds(BdlmResult result) =>
        result.Rounds.Select(x => new RoundRow(x.Round, x.Llm is null ? null : new(x.Llm), new(x.Dsm), x.LlmLoss, x.Seconds)).ToList();

    /// <summary>An LLM baseline's epochs as rows: its validation metrics, the DSM side empty.</summary>
    public static List<RoundRow> FromEpochs(LlmFit fit) =>
        fit.History.Select(e => new RoundRow(e.Epoch, new Dictionary<string, double>(e.Metrics), new Dictionary<string, double>(), e.Loss, e.Seconds)).ToList();
}

/// <summary>
/// One row of results.json: a method's test results on one dataset, seed and training fraction.
/// <c>Metrics</c> is keyed by protocol: "full" (full ranking, train + validation excluded), "sampled"
/// (target + 99 negatives) and "unisrec" (history not excluded), each metric name -> value.
/// </summary>
public sealed record RunRow
{
    public string Dataset { get; init; } = "";
    public double Fraction { get; init; } = 1.0;
    public int Seed { get; init; }
    public string Method { get; init; } = "";
    public string ConfigHash { get; init; } = "";
    public Dictionary<string, Dictionary<string, double>> Metrics { get; init; } = new();
    /// <summary>"user_activity" and "item_popularity" buckets of the full-ranking test result.</summary>
    public Dictionary<string, List<BucketRow>> Buckets { get; init; } = new();
    /// <summary>BDLM's per-round validation metrics (bdlm rows only).</summary>
    public List<RoundRow>? Rounds { get; init; }
    /// <summary>The round kept (BDLM: the model's best on validation; otherwise the best epoch).</summary>
    public int? BestRound { get; init; }
    /// <summary>Training seconds of this method (stage 0 counted once, in the DSM-alone row).</summary>
    public double TrainSeconds { get; init; }
    /// <summary>Seconds to evaluate on test (all protocols).</summary>
    public double EvalSeconds { get; init; }
    /// <summary>Median milliseconds to score all items and take the top 10 for one user (claim C3).</summary>
    public double InferMsPerUser { get; init; }
    public string? Note { get; init; }
    public string FinishedUtc { get; init; } = "";

    public string Key => RunKey(Dataset, Fraction, Seed, Method);

    /// <summary>
    /// The validation figure that chose what this row reports: a DSM's best epoch, an LLM baseline's best epoch, or for
    /// a BDLM row its model's side of the round kept; null where none was recorded (popularity).
    /// </summary>
    public double? ValidationOf(string metric)
    {
        if (Metrics.TryGetValue("validation", out var v) && v.TryGetValue(metric, out double x)) return x;
        if (Rounds is null || BestRound is not int best || Rounds.FirstOrDefault(r => r.Round == best) is not { } round) return null;
        var side = Method == "bdlm-dsm" ? round.Dsm : round.Llm;
        return side is not null && side.TryGetValue(metric, out double y) ? y : null;
    }
    public static string RunKey(string dataset, double fraction, int seed, string method) =>
        FormattableString.Invariant($"{dataset}|{fraction:0.###}|{seed}|{method}");
}

/// <summary>results.json: every finished row, rewritten atomically after each one.</summary>
public sealed class ResultsFile
{
    public string Name { get; set; } = "";
    public string WrittenUtc { get; set; } = "";
    public ExperimentConfig? Config { get; set; }
    public List<RunRow> Runs { get; set; } = [];

    public const string FileName = "results.json";

    /// <summary>
    /// Finished rows that running <paramref name="config"/> into this folder would replace with results of other
    /// settings (same dataset, fraction, seed and method; another configuration hash). Rows of the same settings are
    /// skipped on a rerun, so they are not replaced.
    /// </summary>
    public IEnumerable<RunRow> ReplacedBy(ExperimentConfig config)
    {
        var methods = ExperimentRunner.RowNames(config.Methods).ToHashSet();
        foreach (var ds in config.Datasets)
        {
            string hash = config.RunHash(ds);
            foreach (var row in Runs)
                if (row.Dataset == ds.Name && row.ConfigHash != hash && methods.Contains(row.Method)
                    && config.Seeds.Contains(row.Seed) && ds.Fractions.Contains(row.Fraction))
                    yield return row;
        }
    }

    public static ResultsFile LoadOrNew(string dir, string name)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return new ResultsFile { Name = name };
        try
        {
            return JsonSerializer.Deserialize<ResultsFile>(File.ReadAllText(path), ExperimentConfig.JsonOptions)
                ?? new ResultsFile { Name = name };
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{(e.LineNumber ?? -1) + 1}: cannot read earlier results ({e.Message}); move the file away to start afresh");
        }
    }

    /// <summary>
    /// Rewrites the run hash of rows written before run hashes read paths relative to the config's folder
    /// (<see cref="ExperimentConfig.LegacyRunHash"/>, made in this same checkout folder) to
    /// <see cref="ExperimentConfig.RunHash"/>, so they stay finished rows; returns how many.
    /// </summary>
    public int AdoptLegacyHashes(ExperimentConfig config)
    {
        int adopted = 0;
        foreach (var ds in config.Datasets)
        {
            string legacy = config.LegacyRunHash(ds), current = config.RunHash(ds);
            if (legacy == current) continue;
            for (int k = 0; k < Runs.Count; k++)
                if (Runs[k].Dataset == ds.Name && Runs[k].ConfigHash == legacy)
                {
                    Runs[k] = Runs[k] with { ConfigHash = current };
                    adopted++;
                }
        }
        return adopted;
    }

    /// <summary>The finished row for the key with the given hash, if any.</summary>
    public RunRow? Find(string key, string hash) => Runs.LastOrDefault(r => r.Key == key && r.ConfigHash == hash);

    /// <summary>Adds or replaces the row with the same key.</summary>
    public void Put(RunRow row)
    {
        Runs.RemoveAll(r => r.Key == row.Key);
        Runs.Add(row);
    }

    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        WrittenUtc = DateTime.UtcNow.ToString("O");
        AtomicFile.WriteAllText(Path.Combine(dir, FileName), JsonSerializer.Serialize(this, ExperimentConfig.JsonOptions));
    }
}
