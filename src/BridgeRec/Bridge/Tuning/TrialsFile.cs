using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.Bridge.Experiments;
using BridgeRec.IO;

namespace BridgeRec.Bridge.Tuning;

/// <summary>One model's part of a trial's score: its monitored validation metric at the round it kept, over stage 0's.</summary>
public sealed record ModelScore(int BestRound, double Value, double Part);

/// <summary>A trial on one of several training seeds: what <see cref="TrialRecord"/> holds for a one-seed tune.</summary>
public sealed record SeedTrial
{
    public int Seed { get; init; }
    public string Stage0Key { get; init; } = "";
    public bool Stage0Reused { get; init; }
    public double Stage0Seconds { get; init; }
    public double Stage0Value { get; init; }
    public ModelScore Dsm { get; init; } = new(0, double.NaN, double.NaN);
    public ModelScore Llm { get; init; } = new(0, double.NaN, double.NaN);
    public double Score { get; init; }
    public List<RoundRow> Rounds { get; init; } = [];
}

/// <summary>
/// One finished trial of trials.json: its settings, both models' validation metrics per round, its score. Trained on
/// several seeds, it holds each seed's part in <see cref="Seeds"/> and the means here: the stage-0 value, each model's
/// value and part (its round: the one most seeds kept, the earliest on a tie), the score, and each round's metrics.
/// </summary>
public sealed record TrialRecord
{
    public int Id { get; init; }
    /// <summary>The config's own settings (trial 0).</summary>
    public bool Baseline { get; init; }
    /// <summary>The searched keys and their values in this trial (the baseline: the config's values, null where unset).</summary>
    public Dictionary<string, JsonNode?> Settings { get; init; } = new();
    /// <summary>The trial config's <see cref="ExperimentConfig.RunHash"/>: which trial of the plan this is.</summary>
    public string RunHash { get; init; } = "";
    /// <summary>With several seeds: the first seed's.</summary>
    public string Stage0Key { get; init; } = "";
    /// <summary>Stage 0 came from the store (an earlier trial with the same stage-0 settings); its seconds are then 0. With several seeds: every seed's did.</summary>
    public bool Stage0Reused { get; init; }
    /// <summary>With several seeds: their sum.</summary>
    public double Stage0Seconds { get; init; }
    /// <summary>The stage-0 DSM's monitored validation metric (round 0 of the loop): the denominator of both parts.</summary>
    public double Stage0Value { get; init; }
    public ModelScore Dsm { get; init; } = new(0, double.NaN, double.NaN);
    public ModelScore Llm { get; init; } = new(0, double.NaN, double.NaN);
    /// <summary>Mean of the two parts: 1.0 = no gain over stage 0.</summary>
    public double Score { get; init; }
    /// <summary>Validation metrics of both models after each round (round 0: the stage-0 DSM).</summary>
    public List<RoundRow> Rounds { get; init; } = [];
    /// <summary>Wall-clock seconds of the whole trial, stage 0 included when it trained.</summary>
    public double Seconds { get; init; }
    public string FinishedUtc { get; init; } = "";
    /// <summary>Each training seed's part, in order; null for a one-seed tune (whose fields above are that seed's).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public List<SeedTrial>? Seeds { get; init; }

    /// <summary>How many seeds the trial trained on.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int SeedCount => Seeds?.Count ?? 1;

    /// <summary>Seconds of each seed's stage 0 that was trained (not reused).</summary>
    public IEnumerable<double> TrainedStage0Seconds() =>
        Seeds is { } seeds ? seeds.Where(x => !x.Stage0Reused).Select(x => x.Stage0Seconds)
        : Stage0Reused ? [] : [Stage0Seconds];
}

/// <summary>trials.json: what a tune searched and every finished trial, rewritten atomically after each one.</summary>
public sealed class TrialsFile
{
    public const string FileName = "trials.json";

    public string Name { get; set; } = "";
    public string Config { get; set; } = "";
    public string Dataset { get; set; } = "";
    public string Monitor { get; set; } = "";
    /// <summary>The seed every trial trains with (the config's first); with several, the first of <see cref="TrainSeeds"/>.</summary>
    public int TrainSeed { get; set; }
    /// <summary>Every training seed, when there are several; null for one.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int[]? TrainSeeds { get; set; }
    /// <summary>The seed of the search order.</summary>
    public int SearchSeed { get; set; }
    /// <summary>The base settings, the space and both seeds: a rerun with the same fingerprint resumes.</summary>
    public string Fingerprint { get; set; } = "";
    public JsonObject? Space { get; set; }
    public long SpaceSize { get; set; }
    public string WrittenUtc { get; set; } = "";
    public List<TrialRecord> Trials { get; set; } = [];

    /// <summary>The file in <paramref name="dir"/>, or null when there is none.</summary>
    public static TrialsFile? Load(string dir)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<TrialsFile>(File.ReadAllText(path), ExperimentConfig.JsonOptions)
                ?? throw new InvalidDataException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{(e.LineNumber ?? -1) + 1}: cannot read earlier trials ({e.Message}); move the file away, or pass --overwrite to start afresh");
        }
    }

    public void Save(string dir)
    {
        WrittenUtc = DateTime.UtcNow.ToString("O");
        AtomicFile.WriteAllText(Path.Combine(dir, FileName), JsonSerializer.Serialize(this, ExperimentConfig.JsonOptions));
    }
}
