using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.Models;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Domain;

/// <summary>DsmTrainer keeps, checkpoints and resumes a model's own weights (mf+text's projection) with the ISM.</summary>
/// <summary>Runs alone ("torch-rng"): it asserts bit-identical weights, and torch\'s global generator is shared with tests running in parallel.</summary>
[Collection("torch-rng")]
public class OwnWeightsTrainingTests
{
    static DataConfig Ml100k() => new()
    {
        Path = Path.Combine(TestData.Benchmarks, "ml-100k", "lightgcn-80-20"),
        Format = "ml100k-bench",
        ValidRatio = 0.1,
    };

    [Fact]
    public void ProjectionIsRestoredToTheBestEpochAndResumesExactly()
    {
        var split = DataSource.Load(Ml100k());
        var trainIdx = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var config = new TrainConfig { Data = Ml100k(), Model = "mf", Ks = [20], Train = new DsmOptions { Epochs = 4, EvalEvery = 2, Patience = 0, Lr = 0.01 } };
        var validation = DsmPipeline.ValidationEvaluator(split, config);
        manual_seed(11);
        var features = nn.functional.normalize(randn(split.Dataset.NumItems, 16), p: 2, dim: 1);

        (float[] W, float[] Items) RunOnce(string dir, int epochs, bool resume)
        {
            var model = new TextAugmentedModel((DomainModel)DsmFactory.Build(config, split, trainIdx), features);
            var trainer = new DsmTrainer(config.Train with { Epochs = epochs });
            trainer.Fit(model, trainIdx, m => validation.Evaluate(m.ScoreAll).ToDictionary(), new CheckpointStore(dir), resume);
            // The model ends with the best epoch's weights, W included.
            var best = SafeTensors.Load(Path.Combine(dir, "best-own.safetensors"));
            Assert.Equal(best[TextAugmentedModel.ProjectionName].data<float>().ToArray(), model.Projection.detach().data<float>().ToArray());
            return (model.Projection.detach().data<float>().ToArray(), model.Ism.Items.detach().data<float>().ToArray());
        }

        using var a = new TestData.TempDir();
        using var c = new TestData.TempDir();
        var straight = RunOnce(a.Path, 4, false);
        Assert.Contains(straight.W, x => x != 0);
        RunOnce(c.Path, 2, false);
        var resumed = RunOnce(c.Path, 4, true);
        Assert.Equal(straight.W, resumed.W);
        Assert.Equal(straight.Items, resumed.Items);
    }
}
