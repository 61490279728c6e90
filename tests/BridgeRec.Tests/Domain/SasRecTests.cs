using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.Models;
using BridgeRec.IO;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Domain;

/// <summary>SASRec on the shared module: causal, padding-blind, no item table of its own, saved whole, and it learns on ML-100K.</summary>
/// <summary>Runs alone ("torch-rng"): it seeds torch's global generator, which tests running in parallel share.</summary>
[Collection("torch-rng")]
public class SasRecTests
{
    const int Users = 11, Items = 37, Dim = 16;
    static readonly SasRecOptions Small = new() { MaxLength = 8, Layers = 2, Heads = 2, Inner = 32, Dropout = 0.3 };

    /// <summary>A small model in eval mode over random histories of 0 to 12 items.</summary>
    static SasRec Model(int seed = 5, SasRecOptions? options = null)
    {
        manual_seed(seed);
        var ism = new InformationSharingModule(Users, Items, Dim);
        var rng = new Random(seed);
        var histories = Enumerable.Range(0, Users).Select(u => (IReadOnlyList<int>)Enumerable.Range(0, u + 1).Select(_ => rng.Next(Items)).ToArray()).ToArray();
        histories[3] = [];
        var model = new SasRec(ism, histories, options ?? Small);
        model.eval();
        return model;
    }

    static float[] Row(Tensor hidden, int row, int position) => hidden[row, position].data<float>().ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ALaterItemNeverChangesAnEarlierPosition(bool postNorm)
    {
        using var model = Model(options: Small with { PostNorm = postNorm });
        using var _ = no_grad();
        int[] seq = [3, 5, 7, 9, 11, 13];
        int[] changed = [3, 5, 7, 30, 2, 13];
        var a = model.Forward(SequenceBatch.Of([seq]));
        var b = model.Forward(SequenceBatch.Of([changed]));
        for (int p = 0; p < 3; p++) Assert.Equal(Row(a, 0, p), Row(b, 0, p));
        Assert.NotEqual(Row(a, 0, 3), Row(b, 0, 3));
        Assert.NotEqual(Row(a, 0, 5), Row(b, 0, 5)); // position 5 reads the changed items
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ALeftPaddedSequenceGivesTheSameOutputAsUnpadded(bool postNorm)
    {
        using var model = Model(options: Small with { PostNorm = postNorm });
        using var _ = no_grad();
        int[] shortSeq = [4, 8, 15];
        int[] longSeq = [16, 23, 42 % Items, 1, 2, 6, 7];
        var alone = model.Forward(SequenceBatch.Of([shortSeq]));
        var padded = model.Forward(SequenceBatch.Of([longSeq, shortSeq]));
        int pad = longSeq.Length - shortSeq.Length;
        for (int p = 0; p < shortSeq.Length; p++)
        {
            var x = Row(alone, 0, p);
            var y = Row(padded, 1, pad + p);
            for (int k = 0; k < x.Length; k++) Assert.Equal(x[k], y[k], 1e-5f);
        }
        // Padded positions are zero and feed nothing: the long sequence alone gives the same states too.
        Assert.All(Row(padded, 1, 0), v => Assert.Equal(0f, v));
        var longAlone = model.Forward(SequenceBatch.Of([longSeq]));
        Assert.True(allclose(longAlone[0], padded[0], rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void TheSharedItemTableIsTheOnlyItemEmbedding()
    {
        using var model = Model();
        var withRowsPerItem = model.named_parameters().Where(p => p.parameter.shape[0] == Items).ToList();
        Assert.Single(withRowsPerItem);
        Assert.Same(model.Ism.Items, withRowsPerItem[0].parameter);
        Assert.DoesNotContain(model.OwnWeights().Values, w => w.shape[0] == Items);
        // Training moves the shared rows themselves (read at the input and scored against at the output).
        model.train();
        var before = model.Ism.Items.detach().clone();
        using var opt = new BridgeRec.Native.SafeAdam(model.parameters(), 0.01);
        var objective = model.RankingObjective(new UserItemIndex(Users, Items, new Interactions([0], [0])), new DsmOptions { Batch = 4, Seed = 1 });
        objective.StartEpoch(1);
        var (loss, _) = objective.BatchLoss(model, 0);
        loss.backward();
        opt.Step();
        Assert.False(equal(before, model.Ism.Items).all().item<bool>());
    }

    [Fact]
    public void WithTextTheItemRowsGainAProjectionThatStartsAtZeroAndTrains()
    {
        manual_seed(11);
        using var text = randn(Items, 12);
        using var plain = Model(11);
        var ism = new InformationSharingModule(Users, Items, Dim);
        using var withText = new SasRec(ism, plain.TrainHistories, Small, text);
        Assert.Equal("sasrec+text", withText.Name);
        Assert.Contains(SasRec.TextProjectionName, withText.OwnWeights().Keys);
        // The same weights but the projection: the same scores, because the projection starts at zero.
        using (var state = withText.Ism.Snapshot()) plain.Ism.Restore(state);
        plain.LoadOwnWeights(withText.OwnWeights().Where(kv => kv.Key != SasRec.TextProjectionName).ToDictionary(), "test");
        int[] users = Enumerable.Range(0, Users).ToArray();
        using (var a = plain.ScoreAll(users))
        using (var b = withText.ScoreAll(users))
            Assert.Equal(a.data<float>().ToArray(), b.data<float>().ToArray());

        // A step moves the projection, and the text then changes the scores.
        withText.train();
        using var opt = new BridgeRec.Native.SafeAdam(withText.parameters(), 0.01);
        var objective = new SasRecObjective(withText, new DsmOptions { Batch = 4, Seed = 1 });
        objective.StartEpoch(1);
        objective.BatchLoss(withText, 0).Loss.backward();
        opt.Step();
        withText.eval();
        Assert.True(withText.OwnWeights()[SasRec.TextProjectionName].abs().max().item<float>() > 0);

        // A frozen copy, saved and rebuilt, reads histories as the model does, text included.
        using var copy = withText.FrozenCopy();
        using var rebuilt = SasRec.FromFrozenTensors(copy.FrozenTensors(), Users, Small, "test");
        Assert.Equal("sasrec+text", rebuilt.Name);
        using var _ = no_grad();
        using var x = withText.Represent(withText.TrainHistories);
        using var y = rebuilt.Represent(withText.TrainHistories);
        Assert.Equal(x.data<float>().ToArray(), y.data<float>().ToArray());
    }

    [Fact]
    public void EveryLossTrainsAndTheWindowsCoverEveryTarget()
    {
        foreach (var loss in SasRecOptions.Losses)
        {
            using var model = Model(7, Small with { Loss = loss, Negatives = 10 });
            var objective = new SasRecObjective(model, new DsmOptions { Batch = 3, Seed = 2 });
            // Users 0..10 have 1..11 items (user 3 none); windows of at most 9 items: user u with n >= 2 items gives ceil((n - 1) / 8).
            int expected = Enumerable.Range(0, Users).Where(u => u != 3).Sum(u => (u + 1 - 1 + 7) / 8);
            Assert.Equal(expected, objective.Windows);
            int batches = objective.StartEpoch(1);
            model.train();
            for (int b = 0; b < batches; b++)
            {
                var (l, reported) = objective.BatchLoss(model, b);
                Assert.True(double.IsFinite(reported) && reported > 0, $"{loss}: loss {reported}");
                l.backward();
            }
            Assert.NotNull(model.Ism.Items.grad);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ScoresComeFromTheHistoryItReadsAndSurviveSaveAndLoad(bool postNorm)
    {
        using var tmp = new TestData.TempDir();
        var options = Small with { PostNorm = postNorm };
        using var model = Model(9, options);
        int[] users = Enumerable.Range(0, Users).ToArray();
        using var before = model.ScoreAll(users);
        // An empty history scores every item 0; another history gives other scores.
        Assert.Equal(0, before[3].count_nonzero().item<long>());
        var longer = Enumerable.Range(0, Users).Select(u => (IReadOnlyList<int>)[.. model.TrainHistories[u], 1]).ToArray();
        model.UseHistories(longer);
        using var after = model.ScoreAll(users);
        Assert.False(allclose(before, after));

        model.Ism.Save(tmp.File(ModelFolder.IsmFile));
        SafeTensors.Save(tmp.File(ModelFolder.OwnWeightsFile), model.OwnWeights());
        using var copy = Model(10, options); // other random weights
        copy.Ism.LoadFrom(tmp.File(ModelFolder.IsmFile));
        var loaded = SafeTensors.Load(tmp.File(ModelFolder.OwnWeightsFile));
        copy.LoadOwnWeights(loaded, "test");
        foreach (var t in loaded.Values) t.Dispose();
        copy.UseHistories(longer);
        using var reloaded = copy.ScoreAll(users);
        Assert.Equal(after.data<float>().ToArray(), reloaded.data<float>().ToArray());
    }

    [Fact]
    public void AShortRunOnMovieLensLeaveOneOutBeatsPopularityAndReloadsIdentically()
    {
        using var tmp = new TestData.TempDir();
        var data = new DataConfig { Path = Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), Format = "ml100k-bench" };
        var split = DataSource.Load(data);
        var config = new TrainConfig
        {
            Data = data, Model = "sasrec", Ks = [10], Sasrec = new SasRecOptions { Dropout = 0.2 },
            Train = new DsmOptions { Epochs = 3, EvalEvery = 3, Patience = 0, Lr = 0.002, Batch = 128, Monitor = "hr@10", Seed = 1 },
        };
        var (train, test, model) = DsmPipeline.Run(config, split, tmp.Path, resume: false);
        var trainIndex = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var pop = DsmPipeline.ValidationEvaluator(split, config).Evaluate(new Popularity(trainIndex).ScoreAll).ToDictionary()["hr@10"];
        double sasrec = train!.BestMetrics["hr@10"];
        Assert.True(sasrec > pop, $"SASRec validation HR@10 {sasrec:F4} <= popularity {pop:F4}");

        // The folder holds the whole model: reloaded, it scores the test users exactly as the run did.
        var (_, _, back) = DsmFolder.Load(tmp.Path);
        var again = DsmPipeline.TestEvaluator(split, config).Evaluate(back.ScoreAll);
        Assert.Equal(test.ToDictionary(), again.ToDictionary());
        ((IDisposable)model).Dispose();
        ((IDisposable)back).Dispose();
    }

    /// <summary>Post-norm (RecBole's order) is another model: an input norm instead of a final one, other outputs; off, it is not written.</summary>
    [Fact]
    public void PostNormIsRecBolesBlockOrderAndStaysOutOfTheJsonWhenOff()
    {
        using var pre = Model(4);
        using var post = Model(4, Small with { PostNorm = true });
        Assert.Contains("final_norm.weight", pre.OwnWeights().Keys);
        Assert.DoesNotContain("input_norm.weight", pre.OwnWeights().Keys);
        Assert.Contains("input_norm.weight", post.OwnWeights().Keys);
        Assert.DoesNotContain("final_norm.weight", post.OwnWeights().Keys);
        using var _ = no_grad();
        int[] seq = [3, 5, 7, 9];
        using var a = pre.Forward(SequenceBatch.Of([seq]));
        using var b = post.Forward(SequenceBatch.Of([seq]));
        Assert.False(allclose(a, b));
        // Each post-norm block ends in a layer norm (weight 1, bias 0 at the start): every item position has mean 0, variance 1.
        using var last = b[0];
        Assert.True(allclose(last.mean([1L]), zeros(seq.Length), atol: 1e-5));
        Assert.True(allclose(last.var([1L], unbiased: false), ones(seq.Length), atol: 1e-3));

        Assert.DoesNotContain("post_norm", new TrainConfig { Model = "sasrec", Sasrec = Small }.ToJson());
        Assert.Contains("\"post_norm\": true", new TrainConfig { Model = "sasrec", Sasrec = Small with { PostNorm = true } }.ToJson());
    }

    [Fact]
    public void ConfigsTakeSasRecAndKeepOtherModelsRunHashes()
    {
        var ds = new BridgeRec.Bridge.Experiments.ExperimentDataset { Name = "x", Data = new DataConfig { Path = "/d" }, Ks = [10] };
        var c = new BridgeRec.Bridge.Experiments.ExperimentConfig { Name = "e", Datasets = [ds], Methods = ["pop", "sasrec"], Monitor = "ndcg@10" };
        c.Validate();
        // Unset SASRec settings stay out of the JSON: finished runs of the other models keep their hashes.
        Assert.DoesNotContain("sasrec", System.Text.Json.JsonSerializer.Serialize(c.Dsm, BridgeRec.Bridge.Experiments.ExperimentConfig.JsonOptions));
        var tuned = c with { Dsm = c.Dsm with { Sasrec = new SasRecOptions { Dropout = 0.2 } } };
        Assert.NotEqual(c.RunHash(ds), tuned.RunHash(ds));
        // BDLM with SASRec as its DSM distils by ranking; the first build's KL is refused, and says why.
        var bdlm = c with { Methods = ["bdlm"], Dsm = c.Dsm with { Model = "sasrec" } };
        bdlm.Validate();
        (bdlm with { Dsm = c.Dsm with { Model = "sasrec+text" } }).Validate();
        var kl = bdlm with { Bdlm = bdlm.Bdlm with { Distill = "kl" } };
        Assert.Contains("sasrec", Assert.Throws<ArgumentException>(kl.Validate).Message);
        var train = new TrainConfig { Model = "sasrec", Sasrec = new SasRecOptions { Heads = 3 } };
        Assert.Throws<ArgumentOutOfRangeException>(train.Validate); // 3 heads do not divide 64
        Assert.Contains("\"max_length\": 50", (train with { Sasrec = new SasRecOptions() }).ToJson());
    }
}
