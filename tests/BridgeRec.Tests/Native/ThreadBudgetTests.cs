using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Models;
using BridgeRec.Native;

namespace BridgeRec.Tests.Native;

/// <summary>
/// The models that train with the machine's spare cores (<see cref="DomainModel.SameResultsAtAnyThreadCount"/>) must give
/// the same weights with 1 and 2 torch threads; runs alone ("torch-rng") since it fixes the process-wide thread count.
/// </summary>
[Collection("torch-rng")]
public class ThreadBudgetTests
{
    [Theory]
    [InlineData("mf")]
    [InlineData("lightgcn")]
    public void AdaptiveModelsTrainToTheSameWeightsAtAnyThreadCount(string modelName)
    {
        var data = new DataConfig { Path = Path.Combine(TestData.Benchmarks, "ml-100k", "lightgcn-80-20"), Format = "ml100k-bench", ValidRatio = 0.1 };
        var split = DataSource.Load(data);
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var config = new TrainConfig { Data = data, Model = modelName, Ks = [20], Train = new DsmOptions { Epochs = 3, EvalEvery = 3, Patience = 0, Lr = 0.01 } };

        float[] Train(int threads)
        {
            ThreadBudget.Fixed = threads;
            var model = (DomainModel)DsmFactory.Build(config, split, train);
            Assert.True(model.SameResultsAtAnyThreadCount);
            new DsmTrainer(config.Train).Fit(model, train, _ => new Dictionary<string, double> { ["recall@20"] = 0 });
            var items = model.Ism.Items.detach().data<float>().ToArray();
            var users = model.Ism.Users.detach().data<float>().ToArray();
            model.Dispose();
            return [.. items, .. users];
        }
        var saved = ThreadBudget.Fixed;
        try
        {
            var one = Train(1);
            var two = Train(2);
            Assert.True(one.AsSpan().SequenceEqual(two), $"{modelName}: the weights differ between 1 and 2 torch threads");
        }
        finally { ThreadBudget.Fixed = saved; }
    }
}
