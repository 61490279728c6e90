using System.Text.Json;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Data;

namespace BridgeRec.Tests.Bridge;

public class ExperimentTests
{
    static string RepoRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "BridgeRec.slnx"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new DirectoryNotFoundException("BridgeRec.slnx not found above the test binaries");
    }

    /// <summary>experiments/tiny.json with its data paths pointed at the shared data this test run sees.</summary>
    static ExperimentConfig Tiny(string outDir)
    {
        var c = ExperimentConfig.FromJsonFile(Path.Combine(RepoRoot(), "experiments", "tiny.json"));
        return c with
        {
            Datasets = c.Datasets.Select(d => d with
            {
                Data = d.Data with { Path = Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), Items = Path.Combine(TestData.Root, "movielens-100k") },
            }).ToArray(),
            Output = outDir,
        };
    }

    /// <summary>Finished rows of other settings are never replaced silently: the run stops before writing anything.</summary>
    [Fact]
    public void RefusesToReplaceRowsMadeWithOtherSettings()
    {
        using var tmp = new TestData.TempDir();
        var config = Tiny(tmp.Path);
        var ds = config.Datasets[0];
        var results = new ResultsFile { Name = config.Name };
        results.Put(new RunRow { Dataset = ds.Name, Fraction = 1.0, Seed = config.Seeds[0], Method = "mf", ConfigHash = "other-settings" });
        results.Save(tmp.Path);
        byte[] before = File.ReadAllBytes(tmp.File(ResultsFile.FileName));

        var e = Assert.Throws<InvalidOperationException>(() => ExperimentRunner.Run(config));
        Assert.Contains("made with other settings", e.Message);
        Assert.Equal(before, File.ReadAllBytes(tmp.File(ResultsFile.FileName)));
        Assert.False(File.Exists(tmp.File("config.json")));
        Assert.Single(ResultsFile.LoadOrNew(tmp.Path, config.Name).ReplacedBy(config));
        Assert.Empty(ResultsFile.LoadOrNew(tmp.Path, config.Name).ReplacedBy(config with { Methods = ["pop"] }));
    }

    [Fact]
    public void TheTinyExperimentRunsEndToEndAndResumes()
    {
        using var tmp = new TestData.TempDir();
        var config = Tiny(tmp.Path);
        var log = new List<string>();
        var first = ExperimentRunner.Run(config, log.Add);
        Assert.Equal(4, first.RowsRun);

        var results = JsonSerializer.Deserialize<ResultsFile>(File.ReadAllText(first.ResultsPath), ExperimentConfig.JsonOptions)!;
        Assert.Equal(["bdlm-dsm", "bdlm-llm", "llm-text", "mf"], results.Runs.Select(r => r.Method).Order().ToArray());
        foreach (var row in results.Runs)
        {
            Assert.Equal("ml-100k-loo-tiny", row.Dataset);
            Assert.Equal(1, row.Seed);
            foreach (var protocol in new[] { "full", "sampled" })
                foreach (var (name, v) in row.Metrics[protocol])
                    Assert.True(double.IsFinite(v) && v is >= 0 and <= 1, $"{row.Method} {protocol} {name} = {v}");
            Assert.Contains("hr@10", row.Metrics["full"].Keys);
            Assert.NotEmpty(row.Buckets["user_activity"]);
            Assert.NotEmpty(row.Buckets["item_popularity"]);
            Assert.True(row.InferMsPerUser > 0);
        }
        var bdlm = results.Runs.Single(r => r.Method == "bdlm-llm");
        Assert.Equal([0, 1], bdlm.Rounds!.Select(r => r.Round).ToArray());
        Assert.NotNull(bdlm.Rounds![1].Llm);

        string report = File.ReadAllText(first.ReportPath);
        Assert.Contains("| method | hr@5 | ndcg@5 | hr@10 | ndcg@10 | hr@20 | ndcg@20 | n |", report);
        Assert.Contains("| bdlm-llm |", report);
        Assert.Contains("By user activity", report);
        Assert.Contains("By item popularity", report);
        Assert.Contains("BDLM per round", report);
        Assert.Matches(@"- C1 (holds|holds only in part|does not hold) on ml-100k-loo-tiny: bdlm-llm HR@10", report);
        Assert.Contains("- C2 ", report);
        Assert.Contains("- C3 ", report);
        // Charts are drawn, or the report says plainly why not.
        Assert.True(File.Exists(Path.Combine(tmp.Path, "ml-100k-loo-tiny-rounds.png")) || report.Contains("could not be drawn"));

        // The BDLM model folder holds both models for 'bridgerec recommend --via dsm|llm'.
        string models = Path.Combine(tmp.Path, "models", "ml-100k-loo-tiny-seed1");
        Assert.True(File.Exists(Path.Combine(models, "ism.safetensors")));
        Assert.True(BridgeRec.Models.LlmFolder.Exists(models));
        var (_, split, _) = BridgeRec.Models.DsmFolder.Load(models);
        Assert.Equal(30, split.Test.Users.Distinct().Count());

        // A second run finds every row in results.json and trains nothing.
        log.Clear();
        var second = ExperimentRunner.Run(config, log.Add);
        Assert.Equal(0, second.RowsRun);
        Assert.Equal(4, second.RowsSkipped);
        Assert.Contains(log, l => l.Contains("skipped"));
        Assert.True(second.Seconds < 15, $"resume took {second.Seconds:F1}s");
        Assert.Equal(4, JsonSerializer.Deserialize<ResultsFile>(File.ReadAllText(second.ResultsPath), ExperimentConfig.JsonOptions)!.Runs.Count);
    }

    /// <summary>A shipped click-through config cut to the users below 40, one seed, few LLM rows and short prompts, writing to <paramref name="output"/>.</summary>
    static ExperimentConfig CtrSlice(string configFile, string output)
    {
        var c = ExperimentConfig.FromJsonFile(Path.Combine(RepoRoot(), "experiments", configFile));
        return c with
        {
            Datasets = c.Datasets.Select(d => d with
            {
                Data = d.Data with { Path = TestData.Path_("movielens-1m", "collm_ctr") },
                MaxUsers = 40,
                Ctr = d.CtrSettings with { LlmRowsPerEpoch = 32, LlmValidationRows = 48, TeacherRows = 32 },
            }).ToArray(),
            Seeds = [1],
            Output = output,
            Prompt = c.Prompt with { MaxHistory = 2, MaxTokens = 48 },
            TimingUsers = 3,
        };
    }

    [Fact]
    public void TheClickThroughExperimentRunsEndToEndOnTheCollmSplit()
    {
        using var tmp = new TestData.TempDir();
        var c = CtrSlice("ml-1m-ctr.json", tmp.Path);
        c = c with { Methods = ["mf", "bdlm"], Dsm = c.Dsm with { Train = c.Dsm.Train with { Epochs = 3 } }, Bdlm = c.Bdlm with { DsmEpochs = 2 } };
        var log = new List<string>();
        var summary = ExperimentRunner.Run(c, log.Add);
        Assert.Equal(3, summary.RowsRun);

        var results = JsonSerializer.Deserialize<ResultsFile>(File.ReadAllText(summary.ResultsPath), ExperimentConfig.JsonOptions)!;
        Assert.Equal(["bdlm-dsm", "bdlm-llm", "mf"], results.Runs.Select(r => r.Method).Order().ToArray());
        foreach (var row in results.Runs)
        {
            var m = row.Metrics["ctr"];
            Assert.Equal(344, m["rows"]); // every test row of the users below 40
            foreach (var k in new[] { "auc", "uauc", "auc_warm", "auc_cold" })
                Assert.True(m[k] is >= 0 and <= 1, $"{row.Method} {k} = {m[k]}");
            Assert.True(row.InferMsPerUser > 0);
        }
        var bdlm = results.Runs.Single(r => r.Method == "bdlm-llm");
        Assert.Equal([0, 1], bdlm.Rounds!.Select(r => r.Round).ToArray());
        Assert.NotNull(bdlm.Rounds![1].Llm);
        Assert.Contains("auc", bdlm.Rounds![1].Dsm.Keys);

        string report = File.ReadAllText(summary.ReportPath);
        Assert.Contains("| method | auc | uauc | auc_warm | auc_cold | n |", report);
        Assert.Contains("| CoLLM-MF | 0.7295 | 0.6875 |", report);
        Assert.Contains("| **BridgeRec bdlm-llm** |", report);
        Assert.Matches(@"- C1 cannot be judged|- C1 (holds|holds only in part|does not hold)", report);
        Assert.Matches(@"- C2 (holds|holds only in part|does not hold) on ml-1m-ctr: bdlm-dsm AUC", report);
        Assert.Matches(@"- Goal: bdlm-llm AUC [0-9.]+ ± [0-9.]+ is (above|below) CoLLM-MF's published 0.7295", report);
        Assert.Contains("one (user, item) pair, ms", report);

        // Resuming finds every row done.
        Assert.Equal(0, ExperimentRunner.Run(c, log.Add).RowsRun);
    }

    [Fact]
    public void ClickThroughBdlmFromSasRecStartsFromTheWholeStageZeroModel()
    {
        using var tmp = new TestData.TempDir();
        var c = CtrSlice("ml-1m-ctr-sasrec.json", tmp.Path);
        c = c with
        {
            Methods = ["sasrec", "bdlm"],
            Dsm = c.Dsm with { Model = "sasrec", Train = c.Dsm.Train with { Epochs = 3, Batch = 128 } },
            Bdlm = c.Bdlm with { DsmEpochs = 1 },
        };
        var log = new List<string>();
        var summary = ExperimentRunner.Run(c, log.Add);
        Assert.Equal(3, summary.RowsRun);
        // Stage 0's best validation AUC, from its epoch lines; BDLM's round 0 must be that model, its transformer included
        // (a copy of the shared tables alone scored 0.5865 against 0.6953 on the whole split).
        var epochs = log.Where(l => l.Contains("sasrec epoch")).Select(l => double.Parse(
            System.Text.RegularExpressions.Regex.Match(l, @"validation auc ([0-9.]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.NotEmpty(epochs);
        var results = JsonSerializer.Deserialize<ResultsFile>(File.ReadAllText(summary.ResultsPath), ExperimentConfig.JsonOptions)!;
        var bdlm = results.Runs.Single(r => r.Method == "bdlm-dsm");
        Assert.Equal(epochs.Max(), bdlm.Rounds![0].Dsm["auc"], 4);
    }

    [Fact]
    public void ShippedConfigsLoadAndResolvePathsAgainstTheRepositoryRoot()
    {
        string root = RepoRoot();
        foreach (var file in Directory.GetFiles(Path.Combine(root, "experiments"), "*.json"))
        {
            var c = ExperimentConfig.FromJsonFile(file);
            c.Validate();
            foreach (var d in c.Datasets)
            {
                Assert.True(Path.IsPathRooted(d.Data.Path), file);
                Assert.StartsWith(Path.GetFullPath(Path.Combine(root, "..")), d.Data.Path);
            }
            Assert.Equal(Path.Combine(root, "results", c.Name), c.OutputDir);
        }
    }

    [Fact]
    public void AMaxUsersInsideTheDataSectionIsRefusedNotSilentlyDropped()
    {
        // The experiment loads each dataset with the entry's max_users, which replaced a data.max_users: the anime and
        // book-crossing configs asked for 1,500 users and ran on all of them.
        var c = new ExperimentConfig { Datasets = [new ExperimentDataset { Name = "x", Data = new DataConfig { Path = "/d", MaxUsers = 1500 } }] };
        var e = Assert.Throws<ArgumentException>(() => c.Validate());
        Assert.Contains("data.max_users (1500)", e.Message);
        Assert.Contains("dataset x", e.Message);
        (c with { Datasets = [c.Datasets[0] with { Data = c.Datasets[0].Data with { MaxUsers = null }, MaxUsers = 1500 }] }).Validate();
    }

    [Fact]
    public void TheRunHashIgnoresSeedsMethodsAndOutputButNotSettings()
    {
        var c = new ExperimentConfig { Datasets = [new ExperimentDataset { Name = "x", Data = new DataConfig { Path = "/d" } }] };
        string h = c.RunHash(c.Datasets[0]);
        Assert.Equal(h, (c with { Seeds = [7], Methods = ["mf"], Output = "/elsewhere", Name = "other" }).RunHash(c.Datasets[0]));
        Assert.NotEqual(h, (c with { Monitor = "hr@20" }).RunHash(c.Datasets[0]));
        Assert.NotEqual(h, c.RunHash(c.Datasets[0] with { MaxUsers = 10 }));
        Assert.NotEqual(h, c.RunHash(c.Datasets[0] with { ValidationUsers = 10 }));
        Assert.NotEqual(h, (c with { Bdlm = c.Bdlm with { LlmUsersPerEpoch = 10 } }).RunHash(c.Datasets[0]));
    }

    /// <summary>
    /// The run hash reads paths relative to the config's folder: the same config in checkouts at other places, each with
    /// its data beside it, finds the same finished rows; rows written with the earlier absolute-path hash are adopted.
    /// </summary>
    [Fact]
    public void BackbonePrecisionEntersTheRunHashOnlyWhenSetAndIsChecked()
    {
        using var tmp = new TestData.TempDir();
        ExperimentConfig Config(string backbone)
        {
            string file = Path.Combine(tmp.Path, $"p{backbone.Length}.json");
            File.WriteAllText(file, "{ \"name\": \"x\", \"datasets\": [{ \"name\": \"d\", \"data\": { \"path\": \"data\" } }], \"methods\": [\"pop\"]" + backbone + " }");
            return ExperimentConfig.FromJsonFile(file);
        }
        var plain = Config("");
        var fp32 = Config(", \"backbone\": { \"mode\": \"lora\" }");
        var bf16 = Config(", \"backbone\": { \"mode\": \"lora\", \"precision\": \"bf16\" }");
        var ds = plain.Datasets[0];
        Assert.Equal(plain.RunHash(ds), fp32.RunHash(fp32.Datasets[0])); // unset: the JSON has no precision, as before it existed
        Assert.NotEqual(plain.RunHash(ds), bf16.RunHash(bf16.Datasets[0]));
        Assert.Equal("bf16", bf16.Backbone.Precision);
        var bad = Assert.Throws<ArgumentException>(() => (plain with { Backbone = plain.Backbone with { Precision = "fp16" } }).Validate());
        Assert.Contains("fp16", bad.Message);
    }

    [Fact]
    public void TheRunHashDoesNotDependOnTheCheckoutFolder()
    {
        using var tmp = new TestData.TempDir();
        ExperimentConfig Checkout(string folder)
        {
            string dir = Path.Combine(tmp.Path, folder, "experiments");
            Directory.CreateDirectory(dir);
            string file = Path.Combine(dir, "x.json");
            File.WriteAllText(file, """
                { "name": "x", "datasets": [{ "name": "d", "data": { "path": "../shared/data", "items": "../shared/items" } }], "methods": ["pop"] }
                """);
            return ExperimentConfig.FromJsonFile(file);
        }
        var a = Checkout("a");
        var b = Checkout(Path.Combine("deeper", "b"));
        Assert.NotEqual(a.Datasets[0].Data.Path, b.Datasets[0].Data.Path);
        Assert.True(Path.IsPathRooted(a.Datasets[0].Data.Path));
        Assert.Equal(a.RunHash(a.Datasets[0]), b.RunHash(b.Datasets[0]));
        Assert.NotEqual(a.LegacyRunHash(a.Datasets[0]), b.LegacyRunHash(b.Datasets[0]));
        var ds = a.Datasets[0];
        Assert.NotEqual(a.RunHash(ds), a.RunHash(ds with { Data = ds.Data with { Path = Path.Combine(tmp.Path, "other") } }));

        var results = new ResultsFile { Name = "x" };
        results.Put(new RunRow { Dataset = "d", Seed = 1, Method = "pop", ConfigHash = a.LegacyRunHash(ds) });
        results.Put(new RunRow { Dataset = "d", Seed = 2, Method = "pop", ConfigHash = "other-settings" });
        results.Put(new RunRow { Dataset = "e", Seed = 1, Method = "pop", ConfigHash = a.LegacyRunHash(ds) });
        Assert.Equal(1, results.AdoptLegacyHashes(a));
        Assert.Equal([a.RunHash(ds), "other-settings", a.LegacyRunHash(ds)], results.Runs.Select(r => r.ConfigHash));
        Assert.Equal(0, results.AdoptLegacyHashes(a));
    }

    /// <summary>
    /// backbone.name picks the embedded encoder: absent or "minilm" is MiniLM (the same runs: the hash is unchanged),
    /// "arctic-xs" is Arctic-embed-xs (other runs); an unknown name, or a name beside a path, is an error that says why.
    /// </summary>
    [Fact]
    public void TheBackboneNameIsCheckedAndEntersTheRunHash()
    {
        var ds = new ExperimentDataset { Name = "x", Data = new DataConfig { Path = "/d" } };
        var c = new ExperimentConfig { Datasets = [ds] };
        Assert.Same(BridgeRec.Language.EmbeddedEncoder.MiniLm, c.Backbone.Encoder);
        Assert.DoesNotContain("\"name\"", JsonSerializer.Serialize(c.Backbone, ExperimentConfig.JsonOptions)); // configs and hashes as before
        string h = c.RunHash(ds);
        Assert.Equal(h, (c with { Backbone = c.Backbone with { Name = "minilm" } }).RunHash(ds));
        var arctic = c with { Backbone = c.Backbone with { Name = "arctic-xs" } };
        Assert.NotEqual(h, arctic.RunHash(ds));
        Assert.Same(BridgeRec.Language.EmbeddedEncoder.ArcticXs, arctic.Backbone.Encoder);
        Assert.Equal("Arctic-embed-xs", arctic.Backbone.Display);
        arctic.Validate();

        using var tmp = new TestData.TempDir();
        string file = tmp.File("arctic.json");
        File.WriteAllText(file, """
            { "name": "a", "datasets": [{ "name": "x", "data": { "path": "/d" } }], "backbone": { "name": "arctic-xs", "mode": "frozen" } }
            """);
        var read = ExperimentConfig.FromJsonFile(file);
        Assert.Equal("arctic-xs", read.Backbone.Name);
        Assert.Equal(BridgeRec.Language.TrainingMode.Frozen, read.Backbone.TrainingMode);
        Assert.Contains("\"name\": \"arctic-xs\"", read.ToJson());

        var e = Assert.Throws<ArgumentException>(() => (c with { Backbone = c.Backbone with { Name = "bert-large" } }).Validate());
        Assert.Contains("'bert-large' is unknown", e.Message);
        Assert.Contains("minilm, arctic-xs", e.Message);
        e = Assert.Throws<ArgumentException>(() => (c with { Backbone = c.Backbone with { Name = "arctic-xs", Path = "/models/bert" } }).Validate());
        Assert.Contains("both given", e.Message);
        Assert.Null((c with { Backbone = c.Backbone with { Path = "/models/bert" } }).Backbone.Encoder); // a folder, no embedded encoder
    }

    /// <summary>A model folder's llm.json keeps the backbone name; one written before names existed reads as MiniLM.</summary>
    [Fact]
    public void TheLlmSpecKeepsTheBackboneName()
    {
        var spec = new BridgeRec.Models.LlmSpec { Backbone = new BridgeRec.Models.BackboneSettings { Name = "arctic-xs" } };
        string json = JsonSerializer.Serialize(spec, BridgeRec.Models.TrainConfig.JsonOptions);
        var back = JsonSerializer.Deserialize<BridgeRec.Models.LlmSpec>(json, BridgeRec.Models.TrainConfig.JsonOptions)!;
        Assert.Equal("arctic-xs", back.Backbone.Name);
        Assert.Same(BridgeRec.Language.EmbeddedEncoder.ArcticXs, back.Backbone.Encoder);
        var old = JsonSerializer.Deserialize<BridgeRec.Models.LlmSpec>("""{ "backbone": { "mode": "lora" } }""", BridgeRec.Models.TrainConfig.JsonOptions)!;
        Assert.Null(old.Backbone.Name);
        Assert.Same(BridgeRec.Language.EmbeddedEncoder.MiniLm, old.Backbone.Encoder);
        Assert.DoesNotContain("\"name\"", JsonSerializer.Serialize(new BridgeRec.Models.LlmSpec(), BridgeRec.Models.TrainConfig.JsonOptions));
    }

    [Fact]
    public void TheReportJudgesTheClaimsFromTheNumbers()
    {
        using var tmp = new TestData.TempDir();
        var ds = new ExperimentDataset
        {
            Name = "syn", Data = new DataConfig { Path = "/d" }, Ks = [10],
            Published =
            [
                new PublishedResult { Model = "Weak", Source = "paper A", Metrics = new() { ["hr@10"] = 0.09, ["ndcg@10"] = 0.04 } },
                new PublishedResult { Model = "Strong", Source = "paper B", Metrics = new() { ["hr@10"] = 0.125, ["ndcg@10"] = 0.04 } },
            ],
        };
        var config = new ExperimentConfig { Name = "syn", Datasets = [ds], Seeds = [1, 2, 3], Dsm = new DsmSettings { Model = "mf" } };
        Assert.Equal(config.RunHash(ds), config.RunHash(ds with { Published = null })); // published rows do not change runs
        string hash = config.RunHash(ds);
        var results = new ResultsFile { Name = "syn" };
        var hr = new Dictionary<string, double> { ["mf"] = 0.10, ["mf+text"] = 0.11, ["llm-text"] = 0.05, ["one-way"] = 0.08, ["bdlm-llm"] = 0.12, ["bdlm-dsm"] = 0.13 };
        foreach (int seed in config.Seeds)
            foreach (var (m, v) in hr)
                results.Put(new RunRow
                {
                    Dataset = "syn", Seed = seed, Method = m, ConfigHash = hash, InferMsPerUser = m.Contains("llm") || m == "one-way" ? 200 : 0.1,
                    Metrics = new() { ["full"] = new() { ["hr@10"] = v + seed * 0.001, ["ndcg@10"] = v / 2 } },
                    Buckets = new()
                    {
                        ["user_activity"] = [new BucketRow("Q1 (1-5)", 10, 10, new() { ["hr@10"] = m == "bdlm-dsm" ? 0.2 : 0.1 }), new BucketRow("Q4 (50-90)", 10, 10, new() { ["hr@10"] = v })],
                        ["item_popularity"] = [new BucketRow("<=5", 5, 5, new() { ["hr@10"] = m == "bdlm-dsm" ? 0.05 : 0.01 })],
                    },
                });
        string path = Report.Write(config, results, tmp.Path);
        string report = File.ReadAllText(path);
        Assert.Contains("- C1 holds on syn: bdlm-llm HR@10 0.1220 ± 0.0010 > llm-text 0.0520 ± 0.0010 and > one-way 0.0820 ± 0.0010.", report);
        Assert.Contains("- C2 holds on syn: bdlm-dsm HR@10 0.1320 ± 0.0010 > mf 0.1020 ± 0.0010 and > mf+text 0.1120 ± 0.0010.", report);
        Assert.Contains("The largest gains are for sparse users and are for cold items.", report);
        Assert.Contains("- C3 holds on syn", report);
        Assert.Contains("| mf | 0.1020 ± 0.0010 |", report);
        Assert.Contains("Goals: DSM under 1 ms met; LLM under 100 ms missed.", report);
        Assert.Contains("| Strong | 0.1250 | 0.0400 | paper B |", report);
        Assert.Contains("- bdlm-llm is above Weak on every listed metric, not above Strong.", report);
        Assert.Contains("- bdlm-dsm is above every published row on every metric listed.", report);
    }
}
