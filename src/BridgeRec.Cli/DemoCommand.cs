using System.CommandLine;
using BridgeRec.Bridge;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Data;
using BridgeRec.Data.Download;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.Models;
using Spectre.Console;

namespace BridgeRec.Cli;

/// <summary>demo: fetch MovieLens-100K if needed, train LightGCN, evaluate it, show recommendations with titles.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "data folder holding (or to receive) movielens-100k/; default: BRIDGEREC_DATA, else ./data" };
        var epochs = new Option<int>("--epochs") { Description = "maximum epochs of each domain model (early stopping on validation)", DefaultValueFactory = _ => 300 };
        var outDir = new Option<string>("--out") { Description = "output folder (results, report, model folders)", DefaultValueFactory = _ => "runs/demo" };
        var rounds = new Option<int>("--bdlm-rounds") { Description = "BDLM rounds after stage 0", DefaultValueFactory = _ => 2 };
        var c = new Command("demo", "download MovieLens-100K when absent, then on its leave-one-out split: stage 0 (LightGCN + frozen text), BDLM (MiniLM + LoRA and LightGCN " +
                                    "through the shared module), and the baselines (popularity, LightGCN alone, the text-only LLM); prints both models' validation and test figures " +
                                    "next to the baselines, and recommendations from both paths")
        { data, epochs, outDir, rounds, Options.Seed, Options.Overwrite };
        c.SetAction((p, ct) => Program.Guard(async () =>
        {
            string root = Path.GetFullPath(p.GetValue(data) ?? Environment.GetEnvironmentVariable("BRIDGEREC_DATA") ?? "data");
            string dir = await Download(root, ct);
            int seed = p.GetValue(Options.Seed) ?? 1;
            string output = Path.GetFullPath(p.GetValue(outDir)!);
            var config = Config(dir, output, seed, p.GetValue(epochs), p.GetValue(rounds));
            var start = DateTime.Now;
            AnsiConsole.MarkupLine(Markup.Escape("stage 0 trains LightGCN + frozen MiniLM text (the shortcut BDLM must beat); BDLM then trains MiniLM (LoRA) and LightGCN together; " +
                                                 "every choice (early stopping, the round kept) is made on validation, and test is reported beside it"));
            var summary = ExperimentRunner.Run(config, line => Console.WriteLine($"[{(DateTime.Now - start).TotalSeconds,6:F0}s] {line}"), ct, p.GetValue(Options.Overwrite));
            var rows = ResultsFile.LoadOrNew(summary.OutputDir, config.Name).Runs.Where(r => r.Seed == seed).ToList();
            ShowTable(rows, config.Monitor);
            string modelDir = Path.Combine(output, "models", $"{config.Datasets[0].Name}-seed{seed}");
            if (LlmFolder.Exists(modelDir))
            {
                var (_, split, dsm) = DsmFolder.Load(modelDir);
                using var llm = LlmFolder.Load(modelDir, split);
                foreach (int u in new[] { 0, 41 }.Where(u => u < split.Dataset.NumUsers))
                {
                    TrainCommands.Show(split, dsm, u, 5);
                    TrainCommands.Show(split, llm, u, 5);
                }
                AnsiConsole.MarkupLine(Markup.Escape($"both models: {modelDir}  (try: bridgerec recommend --model {modelDir} --user 1 -k 10 --via llm)"));
            }
            AnsiConsole.MarkupLine(Markup.Escape($"report: {summary.ReportPath}"));
            return 0;
        }));
        return c;
    }

    /// <summary>
    /// The demo's experiment: the settings of experiments/ml-100k-loo-dsm-rows.json (the LLM reads LightGCN's final rows
    /// and starts from its scores, LLM learning rates 1e-4: chosen on ML-100K's validation, and the LLM side's best on
    /// anime, book-crossing and Amazon Scientific too) on MovieLens-100K's own files, one seed; the distillation and the
    /// DSM phase are BDLM's defaults (full-softmax KL, each DSM phase retrained from its initial weights).
    /// </summary>
    internal static ExperimentConfig Config(string ml100k, string output, int seed, int epochs, int rounds) => new()
    {
        Name = "demo",
        Output = output,
        Datasets = [new ExperimentDataset { Name = "ml-100k-loo", Data = new DataConfig { Path = ml100k, Format = "ml100k", Split = "loo" }, Ks = [10, 20] }],
        Methods = ["pop", "lightgcn", "lightgcn+text", "llm-text", "bdlm"],
        Seeds = [seed],
        Dsm = new DsmSettings { Model = "lightgcn+text", Train = new DsmOptions { Epochs = epochs, Lr = 0.005, L2 = 1e-4, Batch = 2048, EvalEvery = 10, Patience = 5 } },
        Bdlm = new BdlmOptions { Rounds = rounds, LrIsm = 1e-4, LrAdapters = 1e-4, LrBackbone = 1e-4 },
        Tower = new LlmRec.LlmTowerOptions { UserSkip = true, Temperature = null, DsmRows = true },
        Prompt = new LlmRec.PromptOptions { MaxHistory = 10, MaxTokens = 128 },
        Monitor = "ndcg@10",
        TimingUsers = 10,
    };

    /// <summary>Each row's validation figure (what chose its epoch or round) beside its test figures, and the gains the bridge is for.</summary>
    static void ShowTable(List<RunRow> rows, string monitor)
    {
        var table = new Table().AddColumns("method", $"validation {monitor}", "test hr@10", "test ndcg@10");
        string F(double? v) => v is double x ? x.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "-";
        foreach (var r in rows)
            table.AddRow(r.Method, F(r.ValidationOf(monitor)), F(Metric(r, "hr@10")), F(Metric(r, "ndcg@10")));
        AnsiConsole.Write(table);
        void Gain(string ours, string rival)
        {
            if (rows.FirstOrDefault(r => r.Method == ours) is not { } a || rows.FirstOrDefault(r => r.Method == rival) is not { } b) return;
            double? va = a.ValidationOf(monitor), vb = b.ValidationOf(monitor);
            double? ta = Metric(a, monitor), tb = Metric(b, monitor);
            string Pct(double? x, double? y) => x is double p && y is double q && q > 0 ? ((p - q) / q * 100).ToString("+0.0;-0.0", System.Globalization.CultureInfo.InvariantCulture) + " %" : "-";
            AnsiConsole.MarkupLine(Markup.Escape($"{ours} vs {rival}: validation {Pct(va, vb)}, test {Pct(ta, tb)} ({monitor})"));
        }
        Gain("bdlm-dsm", "lightgcn+text");
        Gain("bdlm-dsm", "lightgcn");
        Gain("bdlm-llm", "llm-text");
    }

    static double? Metric(RunRow r, string name) => r.Metrics.TryGetValue("full", out var m) && m.TryGetValue(name, out double v) ? v : null;

    static async Task<string> Download(string root, CancellationToken ct)
    {
        if (MovieLens100KDownloader.FindExisting(root) is { } existing) return existing;
        AnsiConsole.MarkupLine(Markup.Escape($"MovieLens-100K not under {root}: downloading it from GroupLens (research use only; see its README for the terms)"));
        string? result = null;
        await AnsiConsole.Progress().StartAsync(async ctx =>
        {
            var task = ctx.AddTask("ml-100k.zip", maxValue: 1);
            var progress = new Progress<DownloadProgress>(d =>
            {
                task.Description = d.Phase;
                if (d.Total is > 0) { task.MaxValue = d.Total.Value; task.Value = d.Bytes; }
            });
            result = await MovieLens100KDownloader.EnsureAsync(root, progress, ct);
            task.Value = task.MaxValue;
        });
        return result!;
    }
}
