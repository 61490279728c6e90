using System.CommandLine;
using BridgeRec.Bridge;
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
        var epochs = new Option<int>("--epochs") { Description = "maximum LightGCN epochs", DefaultValueFactory = _ => 200 };
        var outDir = new Option<string>("--out") { Description = "model folder", DefaultValueFactory = _ => "runs/demo" };
        var rounds = new Option<int>("--bdlm-rounds") { Description = "BDLM rounds after LightGCN (0 skips BDLM)", DefaultValueFactory = _ => 1 };
        var c = new Command("demo", "download MovieLens-100K when absent, train LightGCN, then a short BDLM run (MiniLM + LoRA), evaluate both, and print recommendations from both paths")
        { data, epochs, outDir, rounds, Options.Seed, Options.Overwrite };
        c.SetAction((p, ct) => Program.Guard(async () =>
        {
            string root = Path.GetFullPath(p.GetValue(data) ?? Environment.GetEnvironmentVariable("BRIDGEREC_DATA") ?? "data");
            string dir = await Download(root, ct);
            var config = new TrainConfig
            {
                Data = new DataConfig { Path = dir, Format = "ml100k", Split = "ratio", TestRatio = 0.2, ValidRatio = 0.1 },
                Model = "lightgcn",
                Ks = [10, 20],
                // Faster than the reference's lr 0.001 so the demo converges in a couple of minutes.
                Train = new DsmOptions { Epochs = p.GetValue(epochs), Lr = 0.005, EvalEvery = 5, Patience = 4, Seed = p.GetValue(Options.Seed) ?? 2020 },
            };
            var split = DataSource.Load(config.Data);
            ConsoleUi.DatasetSummary(split);
            string output = Path.GetFullPath(p.GetValue(outDir)!);
            (TrainResult? Train, EvaluationResult Test, IRecommender Model) r = default;
            ConsoleUi.Train(config.Train, trainer => { r = DsmPipeline.Run(config, split, output, false, trainer, ct, p.GetValue(Options.Overwrite)); return r.Train!; });
            var pop = RankingEvaluator.ForTest(split, new RankingOptions { Ks = config.Ks })
                .Evaluate(new Popularity(new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train)).ScoreAll);
            ConsoleUi.Metrics("LightGCN, test", r.Test!);
            AnsiConsole.MarkupLine(Markup.Escape($"popularity baseline: {pop.Summary}"));
            foreach (int u in new[] { 0, 41, 449 }.Where(u => u < split.Dataset.NumUsers))
                TrainCommands.Show(split, r.Model!, u, 5);
            AnsiConsole.MarkupLine(Markup.Escape($"model folder: {output}  (try: bridgerec recommend --model {output} --user 1 -k 10)"));
            int nRounds = p.GetValue(rounds);
            if (nRounds <= 0) return 0;

            // BDLM, small settings: short prompts, one LLM epoch and 20 DSM epochs per round (a few minutes on 2 cores).
            string bdlmDir = output + "-bdlm";
            AnsiConsole.MarkupLine(Markup.Escape($"BDLM: LightGCN above is stage 0; MiniLM (LoRA) and LightGCN now train together through the shared module"));
            var spec = new LlmSpec { Prompt = new LlmRec.PromptOptions { MaxHistory = 10, MaxTokens = 128 }, Tower = new LlmRec.LlmTowerOptions() };
            var options = new BdlmOptions { Rounds = nRounds, Seed = config.Train.Seed };
            var bdlm = BdlmCommand.Run(output, bdlmDir, options, spec, ct, p.GetValue(Options.Overwrite));
            var (_, split2, dsm2) = DsmFolder.Load(bdlmDir);
            using var llm = LlmFolder.Load(bdlmDir, split2);
            foreach (int u in new[] { 0, 41 }.Where(u => u < split2.Dataset.NumUsers))
            {
                TrainCommands.Show(split2, dsm2, u, 5);
                TrainCommands.Show(split2, llm, u, 5);
            }
            AnsiConsole.MarkupLine(Markup.Escape($"both models: {bdlmDir}  (try: bridgerec recommend --model {bdlmDir} --user 1 -k 10 --via llm)"));
            return 0;
        }));
        return c;
    }

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
