using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.IO;
using BridgeRec.LlmRec;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using TorchSharp;

namespace BridgeRec.Bridge;

/// <summary>A whole DSM run: data, model, training, evaluation. Written next to the results as config.json.</summary>
public sealed record TrainConfig
{
    public DataConfig Data { get; init; } = new();
    /// <summary>lightgcn | mf | lightgcn+text | mf+text | sasrec | pop (+text: frozen MiniLM item-text features through a trained projection).</summary>
    public string Model { get; init; } = "lightgcn";
    public int Dim { get; init; } = 64;
    public int Layers { get; init; } = 3;
    public double InitStd { get; init; } = 0.1;
    public DsmOptions Train { get; init; } = new();
    /// <summary>SASRec's sizes and loss (--model sasrec; its hidden size is <see cref="Dim"/>); null: the defaults.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public SasRecOptions? Sasrec { get; init; }
    /// <summary>Cut-offs for test metrics (validation uses the monitored one's K among them).</summary>
    public int[] Ks { get; init; } = [10, 20];
    public string Device { get; init; } = "cpu";
    /// <summary>Where computed item-text features are cached (for the +text models).</summary>
    public string CacheDir { get; init; } = DefaultCacheDir();

    public static readonly string[] Models = ["lightgcn", "mf", "lightgcn+text", "mf+text", "sasrec", "pop"];

    /// <summary>$BRIDGEREC_CACHE, else ~/.cache/bridgerec.</summary>
    public static string DefaultCacheDir() =>
        Environment.GetEnvironmentVariable("BRIDGEREC_CACHE") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "bridgerec");

    public void Validate()
    {
        if (!Models.Contains(Model)) throw new ArgumentException($"--model {Model}: expected one of {string.Join(", ", Models)}");
        if (Dim < 1) throw new ArgumentOutOfRangeException(nameof(Dim), $"--dim must be >= 1 (got {Dim})");
        if (Layers < 0) throw new ArgumentOutOfRangeException(nameof(Layers), $"--layers must be >= 0 (got {Layers})");
        Train.Validate();
        if (Model == "sasrec") (Sasrec ?? new SasRecOptions()).Validate(Dim);
    }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static TrainConfig FromJsonFile(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainConfig>(File.ReadAllText(path), JsonOptions)
                ?? throw new InvalidDataException($"{path}: empty configuration");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{(e.LineNumber ?? -1) + 1}: invalid configuration: {e.Message}");
        }
    }
}

/// <summary>
/// Builds models from a configuration and keeps them in a model folder: <c>config.json</c>,
/// <c>ism.safetensors</c> (the best information sharing module), <c>metrics.json</c>, and the
/// run's checkpoints under <c>checkpoints/</c>.
/// </summary>
public static class DsmPipeline
{

    /// <summary>A fresh model for the split (ISM initialised with the config's seed).</summary>
    public static IRecommender Build(TrainConfig config, Split split, UserItemIndex train)
    {
        config.Validate();
        if (config.Model == "pop") return new Popularity(train);
        var device = TorchRuntime.Device(config.Device);
        TorchRuntime.Seed(config.Train.Seed);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, config.Dim, initStd: config.InitStd, device: device);
        if (config.Model == "sasrec") return new SasRec(ism, Histories.Of(split, includeValidation: false), config.Sasrec);
        bool withText = config.Model.EndsWith("+text", StringComparison.Ordinal);
        DomainModel dsm = config.Model.StartsWith("mf", StringComparison.Ordinal)
            ? new MatrixFactorization(ism)
            : new LightGcn(ism, new NormalizedGraph(train), config.Layers);
        if (!withText) return dsm;
        using var features = TextFeatures.LoadOrCompute(split.Dataset, config.CacheDir);
        return new TextAugmentedModel(dsm, features);
    }

    /// <summary>The validation protocol used for early stopping (falls back to test only when the split has no validation).</summary>
    public static RankingEvaluator ValidationEvaluator(Split split, TrainConfig config) =>
        split.Validation.Count > 0
            ? RankingEvaluator.ForValidation(split, new RankingOptions { Ks = config.Ks })
            : throw new ArgumentException($"{split.Dataset.Name}: the split has no validation part for early stopping; set --valid-ratio > 0");

    public static RankingEvaluator TestEvaluator(Split split, TrainConfig config) =>
        RankingEvaluator.ForTest(split, new RankingOptions { Ks = config.Ks });

    /// <summary>Trains (resuming when asked), evaluates on test, writes the model folder. Returns the test result.</summary>
    public static (TrainResult? Train, EvaluationResult Test, IRecommender Model) Run(
        TrainConfig config, Split split, string outDir, bool resume, DsmTrainer? trainer = null, CancellationToken ct = default)
    {
        config.Validate();
        Directory.CreateDirectory(outDir);
        string configPath = Path.Combine(outDir, ModelFolder.ConfigFile);
        if (resume && File.Exists(configPath))
        {
            var saved = TrainConfig.FromJsonFile(configPath);
            if (saved.ToJson() != config.ToJson())
                throw new InvalidOperationException($"--resume: {configPath} was written with a different configuration; resume with the same options or use a new --out");
        }
        AtomicFile.WriteAllText(configPath, config.ToJson());

        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var model = Build(config, split, train);
        TrainResult? result = null;
        if (model is DomainModel dsm)
        {
            var validation = ValidationEvaluator(split, config);
            trainer ??= new DsmTrainer(config.Train);
            result = trainer.Fit(dsm, train, m => validation.Evaluate(m.ScoreAll).ToDictionary(),
                new CheckpointStore(Path.Combine(outDir, ModelFolder.CheckpointsDir)), resume, ct);
            // Interrupted: keep the checkpoints for --resume, write no final model.
            ct.ThrowIfCancellationRequested();
            SaveWeights(outDir, config, dsm, result.BestEpoch);
            dsm.UseHistories(Histories.Of(split, includeValidation: true));
        }
        var test = TestEvaluator(split, config).Evaluate(model.ScoreAll);
        WriteMetrics(outDir, config, split, result, test, train);
        return (result, test, model);
    }

    /// <summary>Writes a trained DSM's weights into a model folder (the shared module, then its own weights) so <see cref="Load"/> can read them.</summary>
    public static void SaveWeights(string outDir, TrainConfig config, DomainModel dsm, int bestEpoch)
    {
        Directory.CreateDirectory(outDir);
        dsm.Ism.Save(Path.Combine(outDir, ModelFolder.IsmFile), new Dictionary<string, string>
        {
            ["model"] = config.Model, ["best_epoch"] = bestEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        if (dsm.OwnWeights() is { Count: > 0 } own) SafeTensors.Save(Path.Combine(outDir, ModelFolder.OwnWeightsFile), own);
    }

    static void WriteMetrics(string outDir, TrainConfig config, Split split, TrainResult? train, EvaluationResult test, UserItemIndex trainIndex)
    {
        var o = new JsonObject
        {
            ["dataset"] = split.ToString(),
            ["model"] = config.Model,
            ["written_utc"] = DateTime.UtcNow.ToString("O"),
            ["test"] = ToJson(test.ToDictionary()),
            ["test_protocol"] = test.Protocol,
            ["test_users"] = test.UsersEvaluated,
        };
        if (train is not null)
        {
            o["best_epoch"] = train.BestEpoch;
            o["epochs_run"] = train.EpochsRun;
            o["stop_reason"] = train.StopReason;
            o["validation_best"] = ToJson(train.BestMetrics);
            var secs = train.EpochSeconds.OrderBy(x => x).ToList();
            if (secs.Count > 0) o["sec_per_epoch_median"] = secs[secs.Count / 2];
        }
        var countPerUser = Enumerable.Range(0, split.Dataset.NumUsers).Select(trainIndex.CountOf).ToArray();
        var byActivity = Breakdowns.ByUserActivity(test, countPerUser);
        var byPopularity = Breakdowns.ByItemPopularity(test, trainIndex.ItemDegrees());
        o["by_user_activity"] = Buckets(byActivity);
        o["by_item_popularity"] = Buckets(byPopularity);
        AtomicFile.WriteAllText(Path.Combine(outDir, ModelFolder.MetricsFile), o.ToJsonString(Json.Indented));
    }

    static JsonObject ToJson(IReadOnlyDictionary<string, double> m)
    {
        var o = new JsonObject();
        foreach (var (k, v) in m) o[k] = v;
        return o;
    }

    static JsonArray Buckets(BucketReport r) => new(r.Buckets.Select(b => (JsonNode)new JsonObject
    {
        ["bucket"] = b.Label, ["users"] = b.Users, ["cases"] = b.Cases, ["metrics"] = ToJson(b.Means),
    }).ToArray());

    /// <summary>Reloads a model folder: its configuration, the same split, and the trained model.</summary>
    public static (TrainConfig Config, Split Split, IRecommender Model) Load(string modelDir)
    {
        string configPath = Path.Combine(modelDir, ModelFolder.ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"--model {modelDir}: no {ModelFolder.ConfigFile}; is this a folder written by 'bridgerec train'?", configPath);
        var config = TrainConfig.FromJsonFile(configPath);
        var split = DataSource.Load(config.Data);
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var model = Build(config, split, train);
        if (model is DomainModel dsm)
        {
            string ism = Path.Combine(modelDir, ModelFolder.IsmFile);
            if (!File.Exists(ism)) throw new FileNotFoundException($"--model {modelDir}: no {ModelFolder.IsmFile} (training did not finish?)", ism);
            dsm.Ism.LoadFrom(ism);
            if (dsm.OwnWeights().Count > 0)
            {
                string path = Path.Combine(modelDir, ModelFolder.OwnWeightsFile);
                if (!File.Exists(path)) throw new FileNotFoundException($"--model {modelDir}: no {ModelFolder.OwnWeightsFile} ({config.Model} keeps weights beside the ISM)", path);
                var loaded = SafeTensors.Load(path);
                try { dsm.LoadOwnWeights(loaded, path); }
                finally { foreach (var t in loaded.Values) t.Dispose(); }
            }
            // A folder serves and tests with what the user did up to the test item: training + validation.
            dsm.UseHistories(Histories.Of(split, includeValidation: true));
        }
        return (config, split, model);
    }
}
