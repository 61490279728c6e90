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
/// bench dsm-phase: seconds per epoch of a BDLM DSM phase (BPR plus the slate KL toward the LLM's cached scores, as
/// <see cref="RankingProtocol"/> trains it) against the same DSM's plain BPR epochs, on a dataset. The teacher is a
/// seeded random users x items matrix: the term's cost does not depend on the teacher's values.
/// </summary>
public static class DsmPhaseBench
{
    public static Command Create()
    {
        var epochs = new Option<int>("--epochs") { Description = "timed epochs of each kind", DefaultValueFactory = _ => 5 };
        var model = new Option<string>("--model") { Description = "lightgcn | mf", DefaultValueFactory = _ => "lightgcn" };
        var dim = new Option<int>("--dim") { Description = "embedding size d", DefaultValueFactory = _ => 64 };
        var layers = new Option<int>("--layers") { Description = "LightGCN layers", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "BPR triples per batch", DefaultValueFactory = _ => 2048 };
        var slate = new Option<int>("--slate") { Description = "candidates per batch in the distillation term (bdlm.distill_slate)", DefaultValueFactory = _ => new BdlmOptions().Slate };
        var c = new Command("dsm-phase", "seconds per epoch of BDLM's DSM phase (BPR + the KL term toward cached LLM scores) against plain BPR epochs of the same DSM")
        {
            epochs, model, dim, layers, batch, slate,
        };
        Options.AddData(c);
        c.Options.Add(Options.Seed);
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            string kind = p.GetValue(model)!;
            if (kind is not ("lightgcn" or "mf")) throw new ArgumentException($"--model: lightgcn or mf (got '{kind}')");
            var start = p.GetValue(Options.Config) is { } file ? TrainConfig.FromJsonFile(file) : new TrainConfig();
            int seed = p.GetValue(Options.Seed) ?? 2020;
            var train = new DsmOptions { Epochs = p.GetValue(epochs), Batch = p.GetValue(batch), Seed = seed, Patience = 0, EvalEvery = int.MaxValue, Monitor = "none" };
            var config = start with { Model = kind, Data = Options.ResolveData(p, start.Data), Dim = p.GetValue(dim), Layers = p.GetValue(layers), Train = train };
            var split = DataSource.Load(config.Data);
            var trainIndex = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
            var defaults = new BdlmOptions();

            // No evaluation: the loop asks for one after the last epoch, outside the timed epochs.
            IReadOnlyList<double> Time(ExtraLoss? term)
            {
                TorchRuntime.Seed(seed);
                using var dsm = (DomainModel)DsmFactory.Build(config, split, trainIndex);
                var result = ConsoleUi.Train(train, t => t.Fit(dsm, new BprObjective(trainIndex, train, term), _ => new Dictionary<string, double> { ["none"] = 0 }, ct: ct));
                return result.EpochSeconds;
            }

            var plain = Time(null);
            TorchRuntime.Seed(seed + 1);
            using var teacher = randn(split.Dataset.NumUsers, split.Dataset.NumItems);
            var distill = Time(RankingProtocol.SlateKl(teacher, p.GetValue(slate), defaults.Tau, defaults.Lambda));
            var json = new JsonObject
            {
                ["bench"] = "dsm-phase",
                ["model"] = kind,
                ["dataset"] = split.Dataset.Name,
                ["users"] = split.Dataset.NumUsers,
                ["items"] = split.Dataset.NumItems,
                ["train_interactions"] = trainIndex.Nnz,
                ["batch"] = train.Batch,
                ["slate"] = p.GetValue(slate),
                ["threads"] = get_num_threads(),
                ["epochs"] = train.Epochs,
                ["bpr_sec_per_epoch_median"] = Math.Round(BenchCommands.Median(plain), 3),
                ["phase_sec_per_epoch_median"] = Math.Round(BenchCommands.Median(distill), 3),
                ["phase_over_bpr"] = Math.Round(BenchCommands.Median(distill) / BenchCommands.Median(plain), 3),
                ["bpr_epoch_seconds"] = new JsonArray(plain.Select(x => (JsonNode)Math.Round(x, 3)).ToArray()),
                ["phase_epoch_seconds"] = new JsonArray(distill.Select(x => (JsonNode)Math.Round(x, 3)).ToArray()),
                ["peak_rss_mb"] = Math.Round(BenchCommands.PeakRssMb(), 1),
            };
            BenchCommands.Print(json);
            return 0;
        }));
        return c;
    }
}
