using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.IO;
using BridgeRec.Models;

namespace BridgeRec.Bridge;

/// <summary>
/// Trains a DSM from a configuration into a model folder: the DSM part (<see cref="DsmFolder"/>: <c>config.json</c>,
/// the best <c>ism.safetensors</c>), <c>metrics.json</c>, and the run's checkpoints under <c>checkpoints/</c>.
/// </summary>
public static class DsmPipeline
{
    /// <summary>The validation protocol used for early stopping (falls back to test only when the split has no validation).</summary>
    public static RankingEvaluator ValidationEvaluator(Split split, TrainConfig config) =>
        split.Validation.Count > 0
            ? RankingEvaluator.ForValidation(split, new RankingOptions { Ks = config.Ks })
            : throw new ArgumentException($"{split.Dataset.Name}: the split has no validation part for early stopping; set --valid-ratio > 0");

    public static RankingEvaluator TestEvaluator(Split split, TrainConfig config) =>
        RankingEvaluator.ForTest(split, new RankingOptions { Ks = config.Ks });

    /// <summary>Trains (resuming when asked), evaluates on test, writes the model folder. Returns the test result.</summary>
    public static (TrainResult? Train, EvaluationResult Test, IRecommender Model) Run(
        TrainConfig config, Split split, string outDir, bool resume, DsmTrainer? trainer = null, CancellationToken ct = default,
        bool overwrite = false)
    {
        config.Validate();
        // A resumed run continues its own model (its configuration is checked below); a fresh one must not replace another's.
        if (!resume) new ModelFolder(outDir).EnsureMayWrite(ModelFolder.Fingerprint(config.ToJson()), overwrite);
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
        var model = DsmFactory.Build(config, split, train);
        TrainResult? result = null;
        if (model is DomainModel dsm)
        {
            var validation = ValidationEvaluator(split, config);
            trainer ??= new DsmTrainer(config.Train);
            result = trainer.Fit(dsm, train, m => validation.Evaluate(m.ScoreAll).ToDictionary(),
                new CheckpointStore(Path.Combine(outDir, ModelFolder.CheckpointsDir)), resume, ct);
            // Interrupted: keep the checkpoints for --resume, write no final model.
            ct.ThrowIfCancellationRequested();
            DsmFolder.SaveWeights(outDir, config, dsm, result.BestEpoch);
            dsm.UseHistories(Histories.Of(split, includeValidation: true));
        }
        var test = TestEvaluator(split, config).Evaluate(model.ScoreAll);
        WriteMetrics(outDir, config, split, result, test, train);
        return (result, test, model);
    }

    static void WriteMetrics(string outDir, TrainConfig config, Split split, TrainResult? train, EvaluationResult test, UserItemIndex trainIndex)
    {
        var o = new JsonObject
        {
            ["dataset"] = split.ToString(),
            ["model"] = config.Model,
            ["written_utc"] = DateTime.UtcNow.ToString("O"),
            [ModelFolder.SettingsField] = ModelFolder.Fingerprint(config.ToJson()),
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
}
