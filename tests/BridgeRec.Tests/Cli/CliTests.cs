using System.Text.Json.Nodes;

namespace BridgeRec.Tests.Cli;

/// <summary>The bridgerec program end to end, in process: train -> eval -> recommend, and its error policy.</summary>
[Collection("console")]
public class CliTests
{
    static string Bench => Path.Combine(TestData.Benchmarks, "ml-100k", "lightgcn-80-20");

    static int Run(params string[] args) => BridgeRec.Cli.Program.Main(args).GetAwaiter().GetResult();

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
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        try
        {
            Assert.Equal(0, Run("bench", "dsm", "--model", "mf", "--train", Path.Combine(Bench, "train.txt"),
                "--test", Path.Combine(Bench, "test.txt"), "--epochs", "2", "--eval-every", "1", "--lr", "0.01"));
        }
        finally { Console.SetOut(old); }
        string last = output.ToString().TrimEnd().Split('\n').Last();
        var json = JsonNode.Parse(last)!.AsObject();
        foreach (string key in new[] { "model", "dataset", "epochs", "sec_per_epoch_median", "eval_seconds", "recall@20", "ndcg@20", "precision@20", "best_epoch", "peak_rss_mb" })
            Assert.True(json.ContainsKey(key), $"missing {key} in {last}");
        Assert.Equal("lightgcn-80-20", json["dataset"]!.GetValue<string>());
        Assert.Equal(2, json["epochs"]!.GetValue<int>());
    }
}

[CollectionDefinition("console", DisableParallelization = true)]
public class ConsoleCollection;
