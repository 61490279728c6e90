using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.Native;
using BridgeRec.SharedModule;

namespace BridgeRec.Bridge;

/// <summary>What a BDLM run produced: the trainer's rounds and both models' test results.</summary>
public sealed record BdlmRun(BdlmResult Train, EvaluationResult DsmTest, EvaluationResult LlmTest, double Seconds);

/// <summary>
/// BDLM from a trained DSM (stage 0) to a model folder both inference paths read: the DSM part as
/// <see cref="DsmFolder"/> writes it (config.json, ism.safetensors, model.safetensors) and the LLM
/// part as <see cref="LlmFolder"/> writes it, plus metrics.json with both models' test results and
/// the per-round validation metrics.
/// </summary>
public static class BdlmPipeline
{
    public static BdlmRun Run(TrainConfig dsmConfig, Split split, DomainModel dsm, LlmSpec spec, BdlmOptions options,
        string outDir, BdlmTrainer? trainer = null, CancellationToken ct = default, bool overwrite = false)
    {
        var sw = Stopwatch.StartNew();
        dsmConfig.Validate();
        options.Validate();
        // tower.dsm_rows left unset is decided by the DSM (on for LightGCN and MF), and saved decided.
        if (spec.Tower is { DsmRows: true } && dsm is SasRec)
            throw new ArgumentException("tower.dsm_rows (--dsm-rows) with a SASRec DSM: SASRec gives the LLM its users through its user encoder; dsm_rows applies to LightGCN and MF");
        if (spec.Tower is { } tower) spec = spec with { Tower = tower.ResolvedFor(dsmHasFinalRows: dsm is not SasRec) };
        // bdlm.distill and bdlm.dsm_fresh likewise (KL and the fresh phase for LightGCN and MF, rank and the continued phase for SASRec).
        if (options.Distill == "kl" && dsm is SasRec && options.Lambda > 0)
            throw new ArgumentException("bdlm.distill kl (--distill kl) with a SASRec DSM: a sequential DSM distils by ranking only; use rank");
        options = options.ResolvedFor(rankingWithRows: dsm is not SasRec);
        // bdlm.llm_target decided by the data where unset, and trained as decided.
        options = options with { LlmTarget = options.TargetFor(split) };
        // dsm_fresh off and llm_target next are written as absent, as before they had defaults: the same command finds its own folder again.
        string settings = Settings(dsmConfig, spec, options with { DsmFresh = options.Fresh ? true : null, LlmTarget = options.LlmTarget == "next" ? null : options.LlmTarget });
        new ModelFolder(outDir).EnsureMayWrite(settings, overwrite);
        Directory.CreateDirectory(outDir);
        string monitor = dsmConfig.Train.Monitor;
        var ranking = new RankingOptions { Ks = dsmConfig.Ks };
        var validation = DsmPipeline.ValidationEvaluator(split, dsmConfig);
        var test = RankingEvaluator.ForTest(split, ranking);

        // bdlm.dsm_fresh: the weights the stage-0 DSM started from, rebuilt from its configuration (built seeded, before the seed below).
        using var initial = options.Fresh ? DsmFactory.InitialState(dsmConfig, split, new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train)) : null;
        // Seeded before any weight is made: the LoRA adapters that SetTrainingMode adds draw from it too.
        TorchRuntime.Seed(options.Seed);
        var (backbone, tokenizer) = spec.Backbone.LoadConfigured();
        var texts = new ItemTextCache(tokenizer, split.Dataset, Math.Max(ItemTextCache.DefaultMaxItemTokens, spec.Prompt.MaxItemTokens));
        using var features = spec.Tower is { ItemText: true } ? TextFeatures.LoadOrCompute(split.Dataset, dsmConfig.CacheDir, encoder: spec.Backbone.Encoder) : null;
        using var llm = new LlmRecommender(backbone, dsm.Ism, new PromptBuilder(tokenizer, texts, spec.Prompt with { IncludeTaskTokens = true }),
            PromptBuilder.Histories(split, includeValidation: false), tower: spec.Tower, itemText: features);

        // A sequential DSM loaded from its folder reads train + validation (the test-time view): BDLM trains and validates
        // it on the training histories, or its validation would read the very item it is asked for.
        dsm.UseHistories(Histories.Of(split, includeValidation: false));
        trainer ??= new BdlmTrainer(options, dsmConfig.Train);
        trainer.InitialDsm ??= initial; // a caller's trainer (the bdlm verb's, with its progress lines) gets them too
        try
        {
            var result = trainer.Run(dsm, llm, split, m => validation.Evaluate(m.ScoreAll).ToDictionary(), monitor, ct);
            ct.ThrowIfCancellationRequested();

            // The shared module holds the DSM's best round: save and test it, and keep it in memory beside the LLM's.
            SaveDsmPart(outDir, dsmConfig, dsm, result);
            dsm.UseHistories(Histories.Of(split, includeValidation: true)); // a sequential DSM reads what each user did up to the test item
            var dsmTest = test.Evaluate(dsm.ScoreAll);
            using var dsmBest = dsm.Snapshot();

            // Then the LLM's best round (its own state of the shared module).
            SaveLlmPart(outDir, llm, trainer, result, spec, split);
            var llmTest = test.Evaluate(llm.ScoreAll);

            // Leave the caller's DSM in its own best state.
            dsm.Restore(dsmBest);
            var run = new BdlmRun(result, dsmTest, llmTest, sw.Elapsed.TotalSeconds);
            WriteMetrics(outDir, split, run, options, settings);
            return run;
        }
        finally { trainer.Dispose(); }
    }

    /// <summary>The DSM part of a BDLM folder: config.json and the DSM's best round, which the shared module holds when the trainer returns.</summary>
    public static void SaveDsmPart(string dir, TrainConfig config, DomainModel dsm, BdlmResult result)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, ModelFolder.ConfigFile), config.ToJson());
        DsmFolder.SaveWeights(dir, config, dsm, result.BestDsmRound);
    }

    /// <summary>
    /// Puts the LLM's best round back (its shared module included: the DSM's state is then gone from it), switches
    /// its prompts to train + validation histories (the test-time view) and writes the LLM part of the folder.
    /// </summary>
    public static void SaveLlmPart(string dir, LlmRecommender llm, BdlmTrainer trainer, BdlmResult result, LlmSpec spec, Split split)
    {
        trainer.RestoreBestLlm(llm);
        llm.UseHistories(PromptBuilder.Histories(split, includeValidation: true));
        LlmFolder.Save(dir, llm, spec with
        {
            Prompt = spec.Prompt with { IncludeTaskTokens = true },
            BestRound = result.BestLlmRound,
            Validation = result.Rounds.FirstOrDefault(r => r.Round == result.BestLlmRound)?.Llm?.ToDictionary() ?? new(),
        });
    }

    /// <summary>The fingerprint of a BDLM run's settings: the stage-0 DSM's configuration, the LLM's and BDLM's.</summary>
    static string Settings(TrainConfig dsmConfig, LlmSpec spec, BdlmOptions options) => ModelFolder.Fingerprint(
        dsmConfig.ToJson(), JsonSerializer.Serialize(spec, TrainConfig.JsonOptions), JsonSerializer.Serialize(options, TrainConfig.JsonOptions));

    static void WriteMetrics(string outDir, Split split, BdlmRun run, BdlmOptions options, string settings)
    {
        static JsonObject Obj(IReadOnlyDictionary<string, double>? m)
        {
            var o = new JsonObject();
            if (m is not null) foreach (var (k, v) in m) o[k] = v;
            return o;
        }
        var o = new JsonObject
        {
            ["dataset"] = split.ToString(),
            ["model"] = "bdlm",
            ["written_utc"] = DateTime.UtcNow.ToString("O"),
            [ModelFolder.SettingsField] = settings,
            ["seconds"] = run.Seconds,
            ["rounds"] = options.Rounds,
            ["round_patience"] = options.RoundPatience,
            ["rounds_run"] = run.Train.Rounds.Count - 1,
            ["llm_target"] = options.TargetFor(split),
            ["lambda"] = options.Lambda,
            ["tau"] = options.Tau,
            ["test_protocol"] = run.DsmTest.Protocol,
            ["test"] = Obj(run.DsmTest.ToDictionary()),
            ["dsm"] = new JsonObject { ["best_round"] = run.Train.BestDsmRound, ["test"] = Obj(run.DsmTest.ToDictionary()) },
            ["llm"] = new JsonObject { ["best_round"] = run.Train.BestLlmRound, ["test"] = Obj(run.LlmTest.ToDictionary()) },
            ["validation_by_round"] = new JsonArray(run.Train.Rounds.Select(r => (JsonNode)new JsonObject
            {
                ["round"] = r.Round, ["llm"] = r.Llm is null ? null : Obj(r.Llm), ["dsm"] = Obj(r.Dsm),
                ["llm_loss"] = double.IsNaN(r.LlmLoss) ? null : r.LlmLoss, ["seconds"] = r.Seconds,
            }).ToArray()),
        };
        AtomicFile.WriteAllText(Path.Combine(outDir, ModelFolder.MetricsFile), o.ToJsonString(Json.Indented));
    }
}
