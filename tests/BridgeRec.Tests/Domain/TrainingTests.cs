using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.IO;
using BridgeRec.Models;
using BridgeRec.SharedModule;
using TorchSharp;

namespace BridgeRec.Tests.Domain;

/// <summary>Short training runs on the real ML-100K benchmark split (read in place).</summary>
/// <summary>Runs alone ("torch-rng"): it asserts bit-identical weights, and torch\'s global generator is shared with tests running in parallel.</summary>
[Collection("torch-rng")]
public class TrainingTests
{
    static DataConfig Ml100k() => new()
    {
        Path = Path.Combine(TestData.Benchmarks, "ml-100k", "lightgcn-80-20"),
        Format = "ml100k-bench",
        ValidRatio = 0.1,
    };

    [Fact]
    public void LightGcnBeatsPopularityOnTheTestSplit()
    {
        using var tmp = new TestData.TempDir();
        var config = new TrainConfig
        {
            Data = Ml100k(),
            Model = "lightgcn",
            Ks = [20],
            Train = new DsmOptions { Epochs = 20, Lr = 0.005, EvalEvery = 5, Patience = 0 },
        };
        var split = DataSource.Load(config.Data);
        var (train, test, _) = DsmPipeline.Run(config, split, tmp.Path, resume: false);
        var pop = DsmPipeline.Run(config with { Model = "pop" }, split, tmp.File("pop"), resume: false).Test;
        Assert.NotNull(train);
        Assert.True(test["recall@20"] > pop["recall@20"] * 1.3,
            $"LightGCN recall@20 {test["recall@20"]:F4} should clearly beat popularity {pop["recall@20"]:F4}");
        Assert.True(File.Exists(tmp.File("ism.safetensors")));
        Assert.True(File.Exists(tmp.File("metrics.json")));
        Assert.True(File.Exists(tmp.File("config.json")));
    }

    [Fact]
    public void SameSeedGivesSameMetricsAndResumeContinuesExactly()
    {
        var split = DataSource.Load(Ml100k());
        var trainIdx = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var config = new TrainConfig { Data = Ml100k(), Model = "mf", Ks = [20], Train = new DsmOptions { Epochs = 4, EvalEvery = 2, Patience = 0, Lr = 0.01 } };
        var validation = DsmPipeline.ValidationEvaluator(split, config);

        float[] RunOnce(string dir, int epochs, bool resume)
        {
            var model = (DomainModel)DsmFactory.Build(config, split, trainIdx);
            var trainer = new DsmTrainer(config.Train with { Epochs = epochs });
            trainer.Fit(model, trainIdx, m => validation.Evaluate(m.ScoreAll).ToDictionary(), new CheckpointStore(dir), resume);
            return model.Ism.Items.detach().data<float>().ToArray();
        }

        using var a = new TestData.TempDir();
        using var b = new TestData.TempDir();
        using var c = new TestData.TempDir();
        float[] straight = RunOnce(a.Path, 4, false);
        float[] again = RunOnce(b.Path, 4, false);
        Assert.Equal(straight, again); // same seed, same data -> the same weights, hence the same metrics

        RunOnce(c.Path, 2, false);                 // "interrupted" after epoch 2
        float[] resumed = RunOnce(c.Path, 4, true); // continues at epoch 3 from the checkpoint
        Assert.Equal(straight, resumed);
        Assert.True(File.Exists(Path.Combine(c.Path, "latest.json")));
        Assert.Single(Directory.GetDirectories(c.Path, "ckpt-*"));
    }
}
