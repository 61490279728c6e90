using BridgeRec.Bridge;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Data;

namespace BridgeRec.Tests.Bridge;

/// <summary>bdlm.distill and bdlm.dsm_fresh left unset: decided by the DSM and the protocol, and hashed as decided.</summary>
public class BdlmDefaultsTests
{
    [Fact]
    public void UnsetDistillationAndPhaseAreDecidedByTheDsm()
    {
        var unset = new BdlmOptions();
        Assert.Null(unset.Distill);
        Assert.Null(unset.DsmFresh);
        Assert.Throws<InvalidOperationException>(() => unset.DistillKind); // training never reads an undecided value
        Assert.Throws<InvalidOperationException>(() => unset.Fresh);
        unset.Validate(); // unset is valid

        var rows = unset.ResolvedFor(rankingWithRows: true);
        Assert.Equal(("kl", true), (rows.DistillKind, rows.Fresh));
        var sequential = unset.ResolvedFor(rankingWithRows: false);
        Assert.Equal(("rank", false), (sequential.DistillKind, sequential.Fresh));
        // What is set stays set.
        var set = new BdlmOptions { Distill = "rank", DsmFresh = false }.ResolvedFor(rankingWithRows: true);
        Assert.Equal(("rank", false), (set.DistillKind, set.Fresh));
        Assert.Equal("kl", new BdlmOptions { Distill = "kl" }.ResolvedFor(rankingWithRows: false).DistillKind);
    }

    [Fact]
    public void AnExperimentDecidesPerDatasetAndHashesTheDecision()
    {
        var ranking = new ExperimentDataset { Name = "r", Data = new DataConfig { Path = "/d" } };
        var ctr = new ExperimentDataset { Name = "c", Data = new DataConfig { Path = "/d", Format = "collm-ctr" } };
        var c = new ExperimentConfig { Datasets = [ranking] };
        c.Validate();
        Assert.Equal(("kl", true), (c.BdlmFor(ranking).DistillKind, c.BdlmFor(ranking).Fresh)); // lightgcn+text
        var mf = c with { Dsm = c.Dsm with { Model = "mf" } };
        Assert.Equal(("kl", true), (mf.BdlmFor(ranking).DistillKind, mf.BdlmFor(ranking).Fresh));
        Assert.Equal(("rank", false), (mf.BdlmFor(ctr).DistillKind, mf.BdlmFor(ctr).Fresh));
        var sasrec = c with { Dsm = c.Dsm with { Model = "sasrec" } };
        sasrec.Validate(); // unset is not refused with SASRec, which distils by ranking only
        Assert.Equal(("rank", false), (sasrec.BdlmFor(ranking).DistillKind, sasrec.BdlmFor(ranking).Fresh));
        Assert.Throws<ArgumentException>(() => (sasrec with { Bdlm = sasrec.Bdlm with { Distill = "kl" } }).Validate());
        var ctrConfig = mf with { Datasets = [ctr], Methods = ["mf", "bdlm"], Monitor = "auc" };
        ctrConfig.Validate(); // unset dsm_fresh is not refused on click-through; set, it is
        Assert.Throws<ArgumentException>(() => (ctrConfig with { Bdlm = ctrConfig.Bdlm with { DsmFresh = true } }).Validate());

        // Unset hashes as what it decides; the old defaults spelled out hash as they did before they were defaults
        // (dsm_fresh false as no key), so finished rows of configs pinned to them are found again.
        var decided = c with { Bdlm = c.Bdlm with { Distill = "kl", DsmFresh = true } };
        var old = c with { Bdlm = c.Bdlm with { Distill = "rank", DsmFresh = false } };
        Assert.Equal(decided.RunHash(ranking), c.RunHash(ranking));
        Assert.NotEqual(old.RunHash(ranking), c.RunHash(ranking));
        Assert.Equal((sasrec with { Bdlm = sasrec.Bdlm with { Distill = "rank", DsmFresh = false } }).RunHash(ranking), sasrec.RunHash(ranking));
    }

    [Fact]
    public void ARoundPatienceThatCannotStopARunHashesAsNone()
    {
        var ds = new ExperimentDataset { Name = "r", Data = new DataConfig { Path = "/d" } };
        var c = new ExperimentConfig { Datasets = [ds] };
        Assert.Equal((5, 2), (c.Bdlm.Rounds, c.Bdlm.RoundPatience)); // the defaults
        ExperimentConfig With(int rounds, int? patience, int llmEpochs = 1) => c with { Bdlm = c.Bdlm with { Rounds = rounds, RoundPatience = patience, LlmEpochs = llmEpochs } };
        // Round 1 always gains (the LLM's first figure): patience 2 can stop only after round 3, before the last.
        Assert.Equal(With(3, null).RunHash(ds), With(3, 2).RunHash(ds));
        Assert.Equal(With(2, null).RunHash(ds), With(2, 1).RunHash(ds));
        Assert.NotEqual(With(4, null).RunHash(ds), With(4, 2).RunHash(ds));
        Assert.NotEqual(With(5, 2).RunHash(ds), With(5, 3).RunHash(ds));
        // The LLM baselines run rounds x LLM epochs epochs under the same patience.
        Assert.NotEqual(With(3, null, llmEpochs: 2).RunHash(ds), With(3, 2, llmEpochs: 2).RunHash(ds));

        // In a config file, null turns it off, and absent is the default.
        using var tmp = new TestData.TempDir();
        string Write(string bdlm)
        {
            string path = tmp.File(Guid.NewGuid().ToString("N") + ".json");
            File.WriteAllText(path, "{ \"name\": \"x\", \"datasets\": [{ \"name\": \"r\", \"data\": { \"path\": \"/d\" } }], \"bdlm\": " + bdlm + " }");
            return path;
        }
        Assert.Null(ExperimentConfig.FromJsonFile(Write("""{ "rounds": 5, "round_patience": null }""")).Bdlm.RoundPatience);
        Assert.Equal(2, ExperimentConfig.FromJsonFile(Write("""{ "rounds": 5 }""")).Bdlm.RoundPatience);
        Assert.Equal(1, ExperimentConfig.FromJsonFile(Write("""{ "round_patience": 1 }""")).Bdlm.RoundPatience);
    }

    [Fact]
    public void ThePopularityPriorIsRefusedOnClickThrough()
    {
        var ctr = new ExperimentDataset { Name = "c", Data = new DataConfig { Path = "/d", Format = "collm-ctr" } };
        var c = new ExperimentConfig { Datasets = [ctr], Dsm = new ExperimentConfig().Dsm with { Model = "mf" }, Methods = ["mf", "llm-text"], Monitor = "auc" };
        c.Validate();
        var e = Assert.Throws<ArgumentException>(() => (c with { Tower = c.Tower with { PopularityPrior = true } }).Validate());
        Assert.Contains("popularity_prior", e.Message);
        var lr = Assert.Throws<ArgumentException>(() => (c with { Tower = c.Tower with { TextOnlyLr = 1e-3 } }).Validate());
        Assert.Contains("text_only_lr", lr.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BridgeRec.LlmRec.LlmTowerOptions { TextOnlyLr = 0 }.Validate());
        // Unset, it is decided by the protocol and hashed as decided: on for ranking, off (as absent) for click-through.
        var ranking = new ExperimentDataset { Name = "r", Data = new DataConfig { Path = "/d" } };
        var r = new ExperimentConfig { Datasets = [ranking] };
        Assert.True(r.TowerFor(ranking).PopularityPrior);
        Assert.False(c.TowerFor(ctr).PopularityPrior);
        Assert.Equal(r.RunHash(ranking), (r with { Tower = r.Tower with { PopularityPrior = true } }).RunHash(ranking));
        Assert.NotEqual(r.RunHash(ranking), (r with { Tower = r.Tower with { PopularityPrior = false } }).RunHash(ranking));
        Assert.Equal(c.RunHash(ctr), (c with { Tower = c.Tower with { PopularityPrior = false } }).RunHash(ctr));
        // The text-only LLM's own rate: unset, 1e-3 with the prior and BDLM's adapters' rate without it; a rate equal to
        // bdlm.lr_adapters hashes as absent (what llm-text trained at before the option existed).
        Assert.Equal(1e-3, r.TowerFor(ranking).TextOnlyLr);
        Assert.Null(c.TowerFor(ctr).TextOnlyLr);
        var noPrior = r with { Tower = r.Tower with { PopularityPrior = false } };
        Assert.Null(noPrior.TowerFor(ranking).TextOnlyLr);
        Assert.Equal(r.RunHash(ranking), (r with { Tower = r.Tower with { TextOnlyLr = 1e-3 } }).RunHash(ranking));
        Assert.NotEqual(r.RunHash(ranking), (r with { Tower = r.Tower with { TextOnlyLr = r.Bdlm.LrAdapters } }).RunHash(ranking));
        Assert.Equal(noPrior.RunHash(ranking), (noPrior with { Tower = noPrior.Tower with { TextOnlyLr = noPrior.Bdlm.LrAdapters } }).RunHash(ranking));
        Assert.NotEqual(noPrior.RunHash(ranking), (noPrior with { Tower = noPrior.Tower with { TextOnlyLr = 1e-3 } }).RunHash(ranking));
    }

    /// <summary>
    /// bdlm.llm_target: unset, next where the training part has a time order and set where it has none; next (what every
    /// run did before it) hashes as absent, unset as auto (so configs measured before spell out next), set as itself;
    /// refused on click-through (where unset hashes as absent) and when unknown.
    /// </summary>
    [Fact]
    public void TheLlmTargetFollowsTheTimeOrderAndHashesAsDecidedInTheConfig()
    {
        var timed = BdlmTrainerTests.Subset(20);
        Assert.NotNull(timed.Train.Timestamps);
        var untimed = new Split(timed.Dataset, new Interactions(timed.Train.Users, timed.Train.Items), timed.Validation, timed.Test, "untimed");
        var unset = new BdlmOptions();
        Assert.Equal("next", unset.TargetFor(timed));
        Assert.Equal("set", unset.TargetFor(untimed));
        Assert.Equal("next", (unset with { LlmTarget = "next" }).TargetFor(untimed));
        Assert.Equal("set", (unset with { LlmTarget = "set" }).TargetFor(timed));

        var ranking = new ExperimentDataset { Name = "r", Data = new DataConfig { Path = "/d" } };
        var r = new ExperimentConfig { Datasets = [ranking] };
        string Hash(string? target) => (r with { Bdlm = r.Bdlm with { LlmTarget = target } }).RunHash(ranking);
        Assert.Equal(3, new[] { Hash(null), Hash("next"), Hash("set") }.Distinct().Count());
        var absent = System.Text.Json.JsonSerializer.Deserialize<ExperimentConfig>("""{ "datasets": [{ "name": "r", "data": { "path": "/d" } }] }""", ExperimentConfig.JsonOptions)!;
        Assert.NotEqual(absent.RunHash(ranking), Hash("next"));
        (r with { Bdlm = r.Bdlm with { LlmTarget = "set" } }).Validate();
        var bad = Assert.Throws<ArgumentException>(() => (r with { Bdlm = r.Bdlm with { LlmTarget = "random" } }).Validate());
        Assert.Contains("llm_target 'random'", bad.Message);
        var ctr = new ExperimentDataset { Name = "c", Data = new DataConfig { Path = "/d", Format = "collm-ctr" } };
        var c = new ExperimentConfig { Datasets = [ctr], Dsm = new ExperimentConfig().Dsm with { Model = "mf" }, Methods = ["mf", "llm-text"], Monitor = "auc" };
        var e = Assert.Throws<ArgumentException>(() => (c with { Bdlm = c.Bdlm with { LlmTarget = "set" } }).Validate());
        Assert.Contains("llm_target", e.Message);
        Assert.Equal(c.RunHash(ctr), (c with { Bdlm = c.Bdlm with { LlmTarget = "next" } }).RunHash(ctr));
        Assert.Throws<ArgumentException>(() => new NextItemObjective([], null, target: "prefix"));
    }

    /// <summary>
    /// A bdlm folder trains the LLM target as decided and records it: unset on data without a time order is set, and an
    /// explicit next stays next there (it is not re-decided from the data after being written as absent).
    /// </summary>
    [Fact]
    public void ABdlmFolderKeepsAnExplicitTargetAndRecordsTheOneItTrained()
    {
        var (config, split, model) = BridgeRec.Models.DsmFolder.Load(BridgeRec.Tests.Serving.ServingFolders.Mf);
        using var dsm = (BridgeRec.Domain.DomainModel)model;
        var untimed = new Split(split.Dataset, new Interactions(split.Train.Users, split.Train.Items), split.Validation, split.Test, "untimed");
        var spec = new BridgeRec.Models.LlmSpec
        {
            Prompt = new BridgeRec.LlmRec.PromptOptions { MaxHistory = 5, MaxTokens = 64 },
            Backbone = new BridgeRec.Models.BackboneSettings { Lora = new BridgeRec.Language.LoraOptions { Rank = 4 } },
        };
        using var tmp = new TestData.TempDir();
        string Trained(BdlmOptions options, string name)
        {
            string dir = tmp.File(name);
            BdlmPipeline.Run(config, untimed, dsm, spec, options, dir);
            var metrics = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, BridgeRec.IO.ModelFolder.MetricsFile)))!;
            return metrics["llm_target"]!.GetValue<string>();
        }
        Assert.Equal("set", Trained(new BdlmOptions { Rounds = 0 }, "unset"));
        Assert.Equal("next", Trained(new BdlmOptions { Rounds = 0, LlmTarget = "next" }, "next"));
    }
}
