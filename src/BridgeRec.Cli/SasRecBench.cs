using System.CommandLine;
using System.Text.Json.Nodes;
using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Models;
using BridgeRec.Native;
using static TorchSharp.torch;

namespace BridgeRec.Cli;

/// <summary>
/// bench sasrec: seconds per SASRec training epoch (no evaluation inside the timed part) on a dataset, to set beside
/// bench/sasrec_torch.py, which reads the same training sequences (--sequences-out) and trains the same sizes.
/// </summary>
public static class SasRecBench
{
    public static Command Create()
    {
        var epochs = new Option<int>("--epochs") { Description = "timed epochs", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "sequences (training windows) per batch", DefaultValueFactory = _ => 128 };
        var dim = new Option<int>("--dim") { Description = "hidden size = the shared module's d", DefaultValueFactory = _ => 64 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 0.001 };
        var sequencesOut = new Option<string?>("--sequences-out") { Description = "also write the training sequences (one user a line, item ids in time order) for bench/sasrec_torch.py" };
        var ctr = new Option<bool>("--ctr") { Description = "click-through: --data is a CoLLM split folder; each labelled training row is one sequence (its own history) scored against its candidate with BCE" };
        var rowsOut = new Option<string?>("--rows-out") { Description = "with --ctr: also write the training rows (label, candidate, then the history's item ids) for bench/sasrec_torch.py --ctr" };
        var c = new Command("sasrec", "seconds per SASRec training epoch (softmax over all items on every prefix; with --ctr, BCE on CoLLM's labelled rows) on a dataset; compare with bench/sasrec_torch.py")
        {
            epochs, batch, dim, lr, sequencesOut, ctr, rowsOut,
        };
        Options.AddData(c);
        c.Options.Add(Options.Layers);
        c.Options.Add(Options.Seed);
        Options.AddSasRec(c);
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            var start = new TrainConfig { Model = "sasrec" };
            if (p.GetValue(Options.Config) is { } file) start = TrainConfig.FromJsonFile(file);
            var config = start with
            {
                Model = "sasrec",
                Data = Options.ResolveData(p, start.Data),
                Dim = p.GetValue(dim),
                Sasrec = Options.ResolveSasRec(p, start.Sasrec),
                Train = new DsmOptions { Epochs = p.GetValue(epochs), Batch = p.GetValue(batch), Lr = p.GetValue(lr), Seed = p.GetValue(Options.Seed) ?? 2020, Patience = 0, EvalEvery = int.MaxValue, Monitor = "none" },
            };
            if (p.GetValue(ctr)) return ClickThrough(config, p.GetValue(rowsOut), ct);
            if (p.GetValue(rowsOut) is not null) throw new ArgumentException("--rows-out writes click-through rows: it needs --ctr");
            var split = DataSource.Load(config.Data);
            var trainIndex = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
            var model = (SasRec)DsmFactory.Build(config, split, trainIndex);
            if (p.GetValue(sequencesOut) is { } path)
                File.WriteAllLines(path, [$"items {split.Dataset.NumItems}", .. model.TrainHistories.Select(h => string.Join(' ', h))]);
            var objective = new SasRecObjective(model, config.Train);
            long targets = model.TrainHistories.Sum(h => Math.Max(0, h.Count - 1));
            // No evaluation: the loop asks for one after the last epoch, outside the timed epochs.
            var result = ConsoleUi.Train(config.Train, trainer => trainer.Fit(model, objective, _ => new Dictionary<string, double> { ["none"] = 0 }, ct: ct));
            var s = config.Sasrec!;
            var json = new JsonObject
            {
                ["model"] = "sasrec",
                ["dataset"] = split.Dataset.Name,
                ["items"] = split.Dataset.NumItems,
                ["windows"] = objective.Windows,
                ["targets"] = targets,
                ["batch"] = config.Train.Batch,
                ["dim"] = config.Dim, ["layers"] = s.Layers, ["heads"] = s.Heads, ["inner"] = s.Inner, ["max_len"] = s.MaxLength, ["dropout"] = s.Dropout, ["post_norm"] = s.PostNorm, ["loss"] = s.Loss,
                ["threads"] = get_num_threads(),
                ["epochs"] = result.EpochsRun,
                ["epoch_seconds"] = new JsonArray(result.EpochSeconds.Select(x => (JsonNode)Math.Round(x, 3)).ToArray()),
                ["sec_per_epoch_median"] = Math.Round(BenchCommands.Median(result.EpochSeconds), 3),
                ["peak_rss_mb"] = Math.Round(BenchCommands.PeakRssMb(), 1),
            };
            BenchCommands.Print(json);
            model.Dispose();
            return 0;
        }));
        return c;
    }

    /// <summary>
    /// The click-through SASRec's epochs (what an experiment's stage 0 trains with dsm.model sasrec): every labelled
    /// training row read as its own history (the latest max_length items) against its candidate, BCE plus the logit
    /// offset, batches of random rows.
    /// </summary>
    static int ClickThrough(TrainConfig config, string? rowsOut, CancellationToken ct)
    {
        var data = CollmCtr.Load(config.Data.Path!);
        var s = config.Sasrec ?? new SasRecOptions();
        var train = data.Train;
        if (rowsOut is not null)
            File.WriteAllLines(rowsOut, [$"items {data.NumItems}", .. Enumerable.Range(0, train.Count).Select(r =>
                string.Join(' ', new[] { train.Labels[r] > 0.5f ? 1 : 0, train.Items[r] }.Concat(train.Histories[r])))]);
        TorchRuntime.Seed(config.Train.Seed);
        var histories = new IReadOnlyList<int>[data.NumUsers];
        for (int u = 0; u < histories.Length; u++) histories[u] = [];
        using var model = new SasRec(new BridgeRec.SharedModule.InformationSharingModule(data.NumUsers, data.NumItems, config.Dim), histories, s);
        using var offset = new LogitOffset();
        var objective = new PointwiseDsmObjective(train, offset, config.Train);
        var result = ConsoleUi.Train(config.Train, trainer => trainer.Fit(model, objective, _ => new Dictionary<string, double> { ["none"] = 0 }, ct: ct));
        BenchCommands.Print(new JsonObject
        {
            ["model"] = "sasrec (click-through)",
            ["dataset"] = data.Name,
            ["items"] = data.NumItems,
            ["rows"] = train.Count,
            ["history_items_read"] = train.Histories.Sum(h => (long)Math.Min(h.Length, s.MaxLength)),
            ["batch"] = config.Train.Batch,
            ["dim"] = config.Dim, ["layers"] = s.Layers, ["heads"] = s.Heads, ["inner"] = s.Inner, ["max_len"] = s.MaxLength, ["dropout"] = s.Dropout,
            ["threads"] = get_num_threads(),
            ["epochs"] = result.EpochsRun,
            ["epoch_seconds"] = new JsonArray(result.EpochSeconds.Select(x => (JsonNode)Math.Round(x, 3)).ToArray()),
            ["sec_per_epoch_median"] = Math.Round(BenchCommands.Median(result.EpochSeconds), 3),
            ["peak_rss_mb"] = Math.Round(BenchCommands.PeakRssMb(), 1),
        });
        return 0;
    }

}
