using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.Models;
using Spectre.Console;

namespace BridgeRec.Cli;

/// <summary>bench: speed and quality measurements that end with one machine-readable JSON line.</summary>
public static class BenchCommands
{
    public static Command Create()
    {
        var bench = new Command("bench", "benchmarks that print a table and, as the last line, one JSON object");
        bench.Subcommands.Add(Dsm());
        bench.Subcommands.Add(LmBench.Create());
        bench.Subcommands.Add(SasRecBench.Create());
        bench.Subcommands.Add(Serving.HttpBench.Create());
        bench.Subcommands.Add(AnnBench.Create());
        bench.Subcommands.Add(ScaleBench.Create());
        bench.Subcommands.Add(DsmPhaseBench.Create());
        return bench;
    }

    static Command Dsm()
    {
        var model = new Option<string>("--model") { Description = "lightgcn | mf", DefaultValueFactory = _ => "lightgcn" };
        var train = new Option<string>("--train") { Description = "training file, LightGCN text format (user item item ...)", Required = true };
        var test = new Option<string>("--test") { Description = "test file, same format", Required = true };
        var c = new Command("dsm", "train a DSM the way the LightGCN reference does (full-ranking test every --eval-every epochs, best reported) and time it")
        {
            model, train, test, Options.Epochs, Options.EvalEvery, Options.Patience, Options.Dim, Options.Layers, Options.Lr, Options.L2, Options.Batch, Options.Seed,
        };
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            string trainPath = p.GetValue(train)!, testPath = p.GetValue(test)!;
            string dataset = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(trainPath))) ?? "dataset";
            var config = new TrainConfig
            {
                Model = p.GetValue(model)!,
                Dim = p.GetValue(Options.Dim) ?? 64,
                Layers = p.GetValue(Options.Layers) ?? 3,
                Ks = [20],
                Train = new DsmOptions
                {
                    Epochs = p.GetValue(Options.Epochs) ?? 1000,
                    EvalEvery = p.GetValue(Options.EvalEvery) ?? 10,
                    Patience = p.GetValue(Options.Patience) ?? 5,
                    Lr = p.GetValue(Options.Lr) ?? 0.001,
                    L2 = p.GetValue(Options.L2) ?? 1e-4,
                    Batch = p.GetValue(Options.Batch) ?? 2048,
                    Seed = p.GetValue(Options.Seed) ?? 2020,
                },
            };
            if (config.Model == "pop") throw new ArgumentException("--model pop has nothing to train; use lightgcn or mf");
            var split = LightGcnText.Load(trainPath, testPath, name: dataset);
            var trainIndex = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
            var dsm = (DomainModel)DsmFactory.Build(config, split, trainIndex);
            var evaluator = DsmPipeline.TestEvaluator(split, config);
            var evalSeconds = new List<double>();
            var result = ConsoleUi.Train(config.Train, trainer => trainer.Fit(dsm, trainIndex, m =>
            {
                var r = evaluator.Evaluate(m.ScoreAll);
                evalSeconds.Add(r.ElapsedSeconds);
                return r.ToDictionary();
            }, ct: ct));
            var best = result.BestMetrics;
            var json = new JsonObject
            {
                ["model"] = config.Model,
                ["dataset"] = dataset,
                ["epochs"] = result.EpochsRun,
                ["sec_per_epoch_median"] = Math.Round(Median(result.EpochSeconds), 4),
                ["eval_seconds"] = Math.Round(Median(evalSeconds), 4),
                ["recall@20"] = Math.Round(best.GetValueOrDefault("recall@20"), 4),
                ["ndcg@20"] = Math.Round(best.GetValueOrDefault("ndcg@20"), 4),
                ["precision@20"] = Math.Round(best.GetValueOrDefault("precision@20"), 4),
                ["best_epoch"] = result.BestEpoch,
                ["peak_rss_mb"] = Math.Round(PeakRssMb(), 1),
            };
            Print(json, $"{split}; {result.StopReason}");
            return 0;
        }));
        return c;
    }

    /// <summary>A bench's result: each measure a row of a table (with <paramref name="caption"/> under it), then the whole as one JSON line, the last line of output.</summary>
    public static void Print(JsonObject json, string? caption = null)
    {
        var t = new Table().AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        foreach (var (k, v) in json) t.AddRow(Markup.Escape(k), Markup.Escape(v is JsonValue ? v.ToString() : v?.ToJsonString() ?? ""));
        if (caption is not null) t.Caption(Markup.Escape(caption));
        AnsiConsole.Write(t);
        Console.WriteLine(json.ToJsonString());
    }

    /// <summary>The middle of <paramref name="xs"/> (the upper one of an even count); NaN when empty.</summary>
    public static double Median(IReadOnlyList<double> xs) => xs.Count == 0 ? double.NaN : xs.Order().ElementAt(xs.Count / 2);

    /// <summary>Peak resident set size of this process (VmHWM), in MiB.</summary>
    public static double PeakRssMb()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        return Environment.WorkingSet / (1024.0 * 1024.0);
    }
}
