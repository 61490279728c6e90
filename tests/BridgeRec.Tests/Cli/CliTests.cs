using System.Text.Json.Nodes;

namespace BridgeRec.Tests.Cli;

/// <summary>The bridgerec program end to end, in process: train -> eval -> recommend, and its error policy.</summary>
[Collection("console")]
public class CliTests
{
    static string Bench => Path.Combine(TestData.Benchmarks, "ml-100k", "lightgcn-80-20");

    static int Run(params string[] args) => BridgeRec.Cli.Program.Main(args).GetAwaiter().GetResult();

    /// <summary>What <paramref name="act"/> writes to the console (Console.Out restored after).</summary>
    static string Captured(Action act)
    {
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        try { act(); }
        finally { Console.SetOut(old); }
        return output.ToString();
    }

    [Fact]
    public void TrainEvalRecommendOnRealData()
    {
        using var tmp = new TestData.TempDir();
        string model = tmp.File("mf");
        Assert.Equal(0, Run("train", "--data", Bench, "--items", Path.Combine(TestData.Root, "movielens-100k"),
            "--model", "mf", "--epochs", "3", "--eval-every", "1", "--lr", "0.01", "--out", model));
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "metrics.json")))!;
        Assert.True(metrics["test"]!["recall@20"]!.GetValue<double>() > 0);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!;
        Assert.Equal("mf", config["model"]!.GetValue<string>());
        Assert.Equal(0, Run("eval", "--model", model, "--ks", "5,10"));
        Assert.Equal(0, Run("recommend", "--model", model, "--user", "0", "-k", "5"));
        Assert.Equal(2, Run("recommend", "--model", model, "--user", "no-such-user"));
        Assert.Equal(2, Run("recommend", "--model", model, "--user", "0", "-k", "0"));
    }

    [Fact]
    public void BadInputExitsWithTwo()
    {
        using var tmp = new TestData.TempDir();
        Assert.Equal(2, Run("train", "--data", tmp.File("missing"), "--out", tmp.File("o")));
        Assert.Equal(2, Run("train", "--data", Bench, "--model", "nope", "--out", tmp.File("o")));
        Assert.Equal(2, Run("train", "--data", Bench, "--monitor", "recall@50", "--out", tmp.File("o")));
        File.WriteAllText(tmp.File("bad.csv"), "user,item\n1,2\n3\n");
        Assert.Equal(2, Run("data", "--data", tmp.File("bad.csv")));
        Assert.Equal(2, Run("eval", "--model", tmp.Path));
    }

    [Fact]
    public void BenchPrintsOneJsonObjectLast()
    {
        string output = Captured(() =>
        {
            Assert.Equal(0, Run("bench", "dsm", "--model", "mf", "--train", Path.Combine(Bench, "train.txt"),
                "--test", Path.Combine(Bench, "test.txt"), "--epochs", "2", "--eval-every", "1", "--lr", "0.01"));
        });
        string last = output.TrimEnd().Split('\n').Last();
        var json = JsonNode.Parse(last)!.AsObject();
        foreach (string key in new[] { "model", "dataset", "epochs", "sec_per_epoch_median", "eval_seconds", "recall@20", "ndcg@20", "precision@20", "best_epoch", "peak_rss_mb" })
            Assert.True(json.ContainsKey(key), $"missing {key} in {last}");
        Assert.Equal("lightgcn-80-20", json["dataset"]!.GetValue<string>());
        Assert.Equal(2, json["epochs"]!.GetValue<int>());
    }

    /// <summary>bench dsm-phase on the small LightGCN-format set: plain and DSM-phase epochs timed, the JSON summary last; a bad model exits 2.</summary>
    [Fact]
    public void BenchDsmPhasePrintsOneJsonObjectLast()
    {
        string output = Captured(() =>
        {
            Assert.Equal(0, Run("bench", "dsm-phase", "--data", Bench, "--epochs", "2", "--dim", "8", "--batch", "256"));
            Assert.Equal(2, Run("bench", "dsm-phase", "--data", Bench, "--model", "sasrec"));
        });
        string last = output.TrimEnd().Split('\n').Where(l => l.StartsWith('{')).Last();
        var json = JsonNode.Parse(last)!.AsObject();
        Assert.Equal("dsm-phase", json["bench"]!.GetValue<string>());
        Assert.Equal(2, json["bpr_epoch_seconds"]!.AsArray().Count);
        Assert.Equal(2, json["phase_epoch_seconds"]!.AsArray().Count);
        Assert.True(json["phase_sec_per_epoch_median"]!.GetValue<double>() > 0);
        Assert.Equal(256, json["batch"]!.GetValue<int>());
    }

    /// <summary>bench scale, in this process on a small synthetic set: one run per model, the JSON summary last; bad sizes exit 2.</summary>
    [Fact]
    public void BenchScaleInProcessPrintsOneJsonObjectLast()
    {
        string output = Captured(() =>
        {
            Assert.Equal(0, Run("bench", "scale", "--in-process", "--sizes", "60K", "--models", "lightgcn,mf",
                "--max-batches", "3", "--warmup-batches", "1", "--eval-users", "100", "--dim", "8"));
            Assert.Equal(2, Run("bench", "scale", "--in-process", "--sizes", "60K", "--max-batches", "3")); // the 3 warm-up batches leave none timed
            Assert.Equal(2, Run("bench", "scale", "--in-process", "--sizes", "5X"));
            Assert.Equal(2, Run("bench", "scale", "--in-process", "--sizes", "10K")); // too dense at 40 per user and item
            Assert.Equal(2, Run("bench", "scale", "--in-process", "--models", "sasrec"));
        });
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).ToList();
        Assert.Contains(lines, l => l.StartsWith("[60K lightgcn] epoch 1/1: batch 3/3 timed of 24", StringComparison.Ordinal));
        var json = JsonNode.Parse(lines.Last(l => l.StartsWith('{')))!.AsObject();
        Assert.Equal("one process", json["isolation"]!.GetValue<string>());
        var runs = json["runs"]!.AsArray();
        Assert.Equal(new[] { "lightgcn", "mf" }, runs.Select(r => r!["model"]!.GetValue<string>()));
        foreach (var r in runs)
        {
            Assert.Equal(1500, r!["users"]!.GetValue<int>());
            Assert.Equal(60_000, r["train_interactions"]!.GetValue<int>() + r["test_interactions"]!.GetValue<int>());
            Assert.Equal(24, r["batches_per_epoch"]!.GetValue<int>());
            Assert.Equal(3, r["batches_timed"]!.GetValue<int>());
            Assert.Equal(2, r["batches_averaged"]!.GetValue<int>());
            Assert.Equal(3, r["batch_seconds"]!.AsArray().Count);
            Assert.True(r["epoch_projected"]!.GetValue<bool>());
            Assert.Equal(100, r["eval_users_timed"]!.GetValue<int>());
            Assert.True(r["eval_projected"]!.GetValue<bool>());
            foreach (string key in new[] { "sec_per_batch", "sec_per_epoch", "eval_seconds", "peak_rss_mb", "parameters_mb" })
                Assert.True(r[key]!.GetValue<double>() > 0, $"{key} in {r.ToJsonString()}");
            // CPU time comes in clock ticks (10 ms): a tiny batch may read 0.
            foreach (string key in new[] { "cpu_sec_per_batch", "cpu_sec_per_epoch", "eval_cpu_seconds" })
                Assert.True(r[key]!.GetValue<double>() >= 0, $"{key} in {r.ToJsonString()}");
        }
        Assert.True(runs[0]!["graph_mb"]!.GetValue<double>() > 0);
    }

    /// <summary>train -> bdlm -> recommend through both paths, on a 30-user slice; the saved LLM reproduces its test metrics when reloaded.</summary>
    [Fact]
    public void BdlmFolderServesBothPaths()
    {
        using var tmp = new TestData.TempDir();
        string cfg = tmp.File("mf.json");
        File.WriteAllText(cfg, new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["path"] = Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), ["format"] = "ml100k-bench",
                ["items"] = Path.Combine(TestData.Root, "movielens-100k"), ["max_users"] = 30,
            },
            ["model"] = "mf", ["dim"] = 16, ["ks"] = new JsonArray(5, 10),
            ["train"] = new JsonObject { ["epochs"] = 3, ["eval_every"] = 1, ["lr"] = 0.01, ["monitor"] = "hr@10", ["patience"] = 0 },
        }.ToJsonString());
        string mf = tmp.File("mf"), both = tmp.File("bdlm");
        Assert.Equal(0, Run("train", "--config", cfg, "--out", mf));
        Assert.Equal(2, Run("recommend", "--model", mf, "--user", "1", "--via", "llm")); // no LLM in a DSM folder
        Assert.Equal(2, Run("bdlm", "--from", mf, "--out", mf));
        Assert.Equal(0, Run("bdlm", "--from", mf, "--out", both, "--rounds", "1", "--dsm-epochs", "2", "--max-history", "3",
            "--max-tokens", "64", "--lora-rank", "4", "--llm-batch", "8"));
        foreach (string f in new[] { "config.json", "ism.safetensors", "llm.json", "llm.safetensors", "llm-ism.safetensors", "metrics.json" })
            Assert.True(File.Exists(Path.Combine(both, f)), f);
        Assert.Equal(0, Run("recommend", "--model", both, "--user", "1", "--via", "llm", "-k", "5"));
        Assert.Equal(0, Run("recommend", "--model", both, "--user", "1", "--via", "dsm", "-k", "5"));
        Assert.Equal(2, Run("recommend", "--model", both, "--user", "1", "--via", "gpt"));

        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(both, "metrics.json")))!;
        var (_, split, dsm) = BridgeRec.Models.DsmFolder.Load(both);
        var test = BridgeRec.Evaluation.RankingEvaluator.ForTest(split, new BridgeRec.Evaluation.RankingOptions { Ks = [5, 10] });
        Assert.Equal(metrics["dsm"]!["test"]!["ndcg@10"]!.GetValue<double>(), test.Evaluate(dsm.ScoreAll).ToDictionary()["ndcg@10"], 6);
        var llm = BridgeRec.Models.LlmFolder.Load(both, split);
        Assert.Equal(metrics["llm"]!["test"]!["ndcg@10"]!.GetValue<double>(), test.Evaluate(llm.ScoreAll).ToDictionary()["ndcg@10"], 6);
        // Loaded alone, the recommender owns its shared module: disposing it frees the tables too.
        llm.Dispose();
        Assert.True(llm.Ism.Users.IsInvalid && llm.Ism.Items.IsInvalid);
    }

    /// <summary>
    /// bdlm --dsm-rows from LightGCN: the folder keeps the final rows the LLM read (llm-dsm-rows.safetensors), reloads with
    /// them, and without a temperature as it was trained (--temperature 0: llm.json leaves it out, and reading it once
    /// filled in 0.07), to the same test metrics; it refuses to load when the rows' file is gone.
    /// </summary>
    [Fact]
    public void BdlmWithDsmRowsKeepsTheRowsTheLlmReadInTheFolder()
    {
        using var tmp = new TestData.TempDir();
        string cfg = TinyMfConfig(tmp, model: "lightgcn");
        string gcn = tmp.File("gcn"), both = tmp.File("bdlm");
        Assert.Equal(0, Run("train", "--config", cfg, "--out", gcn));
        Assert.Equal(0, Run("bdlm", "--from", gcn, "--out", both, "--rounds", "1", "--dsm-epochs", "1", "--max-history", "3",
            "--max-tokens", "64", "--lora-rank", "4", "--llm-batch", "8", "--dsm-rows", "--user-skip", "--temperature", "0"));
        Assert.True(File.Exists(Path.Combine(both, BridgeRec.Models.LlmFolder.DsmRowsFile)));
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(both, "metrics.json")))!;
        var (_, split, dsm) = BridgeRec.Models.DsmFolder.Load(both);
        (dsm as IDisposable)?.Dispose();
        var test = BridgeRec.Evaluation.RankingEvaluator.ForTest(split, new BridgeRec.Evaluation.RankingOptions { Ks = [5, 10] });
        using (var llm = BridgeRec.Models.LlmFolder.Load(both, split))
        {
            Assert.True(llm.ReadsDsmRows);
            Assert.Equal(metrics["llm"]!["test"]!["ndcg@10"]!.GetValue<double>(), test.Evaluate(llm.ScoreAll).ToDictionary()["ndcg@10"], 6);
        }
        File.Delete(Path.Combine(both, BridgeRec.Models.LlmFolder.DsmRowsFile));
        var e = Assert.Throws<FileNotFoundException>(() => BridgeRec.Models.LlmFolder.Load(both, split));
        Assert.Contains(BridgeRec.Models.LlmFolder.DsmRowsFile, e.Message);
    }

    /// <summary>
    /// bdlm --backbone arctic-xs trains on Arctic-embed-xs and says so in llm.json; the folder reloads on the same encoder
    /// ([CLS] pooling) and reproduces its test metrics. An unknown --backbone is refused with the valid names.
    /// </summary>
    [Fact]
    public void BdlmWithArcticXsKeepsItsBackboneInTheFolder()
    {
        using var tmp = new TestData.TempDir();
        string mf = tmp.File("mf"), arctic = tmp.File("arctic");
        Assert.Equal(0, Run("train", "--config", TinyMfConfig(tmp), "--out", mf));

        var error = new StringWriter();
        var old = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(2, Run("bdlm", "--from", mf, "--out", tmp.File("nope"), "--backbone", "bert-large"));
            Assert.Equal(2, Run("experiment", "--config", tmp.File("missing.json"), "--backbone", "bert-large"));
        }
        finally { Console.SetError(old); }
        Assert.Equal(2, error.ToString().Split("--backbone 'bert-large' is unknown; expected one of minilm, arctic-xs").Length - 1);
        Assert.False(Directory.Exists(tmp.File("nope")));

        Assert.Equal(0, Run("bdlm", "--from", mf, "--out", arctic, "--backbone", "arctic-xs", "--rounds", "1", "--dsm-epochs", "1",
            "--max-history", "3", "--max-tokens", "48", "--lora-rank", "2", "--llm-batch", "8"));
        var spec = JsonNode.Parse(File.ReadAllText(Path.Combine(arctic, "llm.json")))!;
        Assert.Equal("arctic-xs", spec["backbone"]!["name"]!.GetValue<string>());
        Assert.Equal(0, Run("recommend", "--model", arctic, "--user", "1", "--via", "llm", "-k", "5"));

        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(arctic, "metrics.json")))!;
        var (_, split, dsm) = BridgeRec.Models.DsmFolder.Load(arctic);
        (dsm as IDisposable)?.Dispose();
        using var llm = BridgeRec.Models.LlmFolder.Load(arctic, split);
        var bert = Assert.IsType<BridgeRec.Language.BertModel>(llm.Backbone);
        Assert.Equal(BridgeRec.Language.SentencePooling.Cls, bert.Pooling);
        var test = BridgeRec.Evaluation.RankingEvaluator.ForTest(split, new BridgeRec.Evaluation.RankingOptions { Ks = [5, 10] });
        Assert.Equal(metrics["llm"]!["test"]!["ndcg@10"]!.GetValue<double>(), test.Evaluate(llm.ScoreAll).ToDictionary()["ndcg@10"], 6);
    }

    static string TinyMfConfig(TestData.TempDir tmp, double lr = 0.01, string model = "mf")
    {
        string cfg = tmp.File($"{model}-{lr}.json");
        File.WriteAllText(cfg, new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["path"] = Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), ["format"] = "ml100k-bench",
                ["items"] = Path.Combine(TestData.Root, "movielens-100k"), ["max_users"] = 30,
            },
            ["model"] = model, ["dim"] = 16, ["ks"] = new JsonArray(5, 10),
            ["train"] = new JsonObject { ["epochs"] = 2, ["eval_every"] = 1, ["lr"] = lr, ["monitor"] = "hr@10", ["patience"] = 0 },
        }.ToJsonString());
        return cfg;
    }

    static Dictionary<string, byte[]> FolderBytes(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(dir, f), File.ReadAllBytes);

    /// <summary>A finished model is never replaced by one of other settings unless --overwrite says so; the same settings may run again.</summary>
    [Fact]
    public void TrainRefusesToReplaceAnotherFinishedModel()
    {
        using var tmp = new TestData.TempDir();
        string model = tmp.File("mf");
        Assert.Equal(0, Run("train", "--config", TinyMfConfig(tmp), "--out", model));
        var before = FolderBytes(model);

        var error = new StringWriter();
        var old = Console.Error;
        Console.SetError(error);
        try { Assert.Equal(2, Run("train", "--config", TinyMfConfig(tmp, lr: 0.02), "--out", model)); }
        finally { Console.SetError(old); }
        Assert.Contains("already holds a finished model", error.ToString());
        Assert.Contains("--overwrite", error.ToString());
        var after = FolderBytes(model);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, bytes) in before) Assert.True(bytes.AsSpan().SequenceEqual(after[name]), $"{name} changed");

        Assert.Equal(0, Run("train", "--config", TinyMfConfig(tmp), "--out", model)); // same settings: a rerun
        Assert.Equal(0, Run("train", "--config", TinyMfConfig(tmp, lr: 0.02), "--out", model, "--overwrite"));
        Assert.Equal(0.02, JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!["train"]!["lr"]!.GetValue<double>());
    }

    /// <summary>
    /// bdlm --seed fixes every weight it creates (the LoRA adapters included): seeds 1, 2, 1 give A, B, A. The backbone's
    /// learning rate is tiny so the LoRA weights stay their initial values: they must differ between seeds too.
    /// </summary>
    [Fact]
    public void BdlmSeedFixesTheLlmWeights()
    {
        using var tmp = new TestData.TempDir();
        string mf = tmp.File("mf");
        Assert.Equal(0, Run("train", "--config", TinyMfConfig(tmp), "--out", mf));
        Dictionary<string, float[]> Bdlm(int seed, string name)
        {
            string dir = tmp.File(name);
            Assert.Equal(0, Run("bdlm", "--from", mf, "--out", dir, "--rounds", "1", "--dsm-epochs", "1", "--max-history", "3",
                "--max-tokens", "48", "--lora-rank", "2", "--llm-batch", "8", "--lr-backbone", "1e-12", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var loaded = BridgeRec.IO.SafeTensors.Load(Path.Combine(dir, "llm.safetensors"));
            var arrays = loaded.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray());
            foreach (var t in loaded.Values) t.Dispose();
            return arrays;
        }
        var first = Bdlm(1, "s1");
        var second = Bdlm(2, "s2");
        var again = Bdlm(1, "s1-again");
        Assert.Contains(first.Keys, k => k.Contains("lora", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(first.Keys.Order(), again.Keys.Order());
        foreach (var (name, values) in first) Assert.True(values.AsSpan().SequenceEqual(again[name]), $"{name} differs between two runs with seed 1");
        Assert.Contains(first.Keys, name => !first[name].AsSpan().SequenceEqual(second[name]));
        foreach (string lora in first.Keys.Where(k => k.Contains("lora", StringComparison.OrdinalIgnoreCase) && first[k].Any(v => v != 0)))
            Assert.False(first[lora].AsSpan().SequenceEqual(second[lora]), $"{lora} is the same for seeds 1 and 2: the seed did not reach it");
    }
}

[CollectionDefinition("console", DisableParallelization = true)]
public class ConsoleCollection;
