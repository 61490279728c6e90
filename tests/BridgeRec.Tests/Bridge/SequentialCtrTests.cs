using BridgeRec.Bridge;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Bridge;

/// <summary>SASRec on click-through rows: each row is scored from its own history, not from a user row.</summary>
[Collection("torch-rng")]
public class SequentialCtrTests
{
    const int Items = 40, Groups = 4;

    /// <summary>
    /// Rows whose label only the order of the history explains: 1 where the candidate is in the same group (item % 4)
    /// as the history's newest item. The users are random, so a model of user rows alone cannot learn it.
    /// </summary>
    static CtrDataset Synthetic(int seed = 11)
    {
        var rng = new Random(seed);
        const int users = 30;
        CtrRows Part(string name, int n)
        {
            var us = new int[n]; var its = new int[n]; var ys = new float[n]; var his = new int[n][];
            for (int r = 0; r < n; r++)
            {
                us[r] = rng.Next(users);
                his[r] = Enumerable.Range(0, 1 + rng.Next(6)).Select(_ => 1 + rng.Next(Items - 1)).ToArray();
                its[r] = 1 + rng.Next(Items - 1);
                ys[r] = its[r] % Groups == his[r][^1] % Groups ? 1f : 0f;
            }
            return new CtrRows(name, us, its, ys, new long[n], Enumerable.Repeat(true, n).ToArray(), his);
        }
        return new CtrDataset("sequential-synthetic", users, Items, new ItemText?[Items], Part("train", 2000), Part("valid", 300), Part("test", 300));
    }

    static SasRec NewSasRec(CtrDataset data)
    {
        manual_seed(4);
        var ism = new InformationSharingModule(data.NumUsers, data.NumItems, 16, initStd: 0.02);
        var empty = Enumerable.Repeat<IReadOnlyList<int>>([], data.NumUsers).ToArray();
        return new SasRec(ism, empty, new SasRecOptions { MaxLength = 8, Layers = 1, Heads = 1, Inner = 32, Dropout = 0 });
    }

    static void Fit(DomainModel dsm, LogitOffset offset, CtrDataset data, int epochs, double l2 = 0)
    {
        var options = new DsmOptions { Epochs = epochs, Lr = 0.01, L2 = l2, Batch = 256, Seed = 2, EvalEvery = 5, Patience = 2, Monitor = "auc" };
        new DsmTrainer(options).Fit(dsm, new PointwiseDsmObjective(data.Train, offset, options),
            m => CtrTraining.Metrics(data.Validation, CtrTraining.ScoreDsm(m, offset, data.Validation)));
    }

    [Fact]
    public void SasRecScoresARowFromItsHistoryAndLearnsWhatOnlyTheOrderExplains()
    {
        var data = Synthetic();
        using var sasrec = NewSasRec(data);
        using var offset = new LogitOffset();
        Fit(sasrec, offset, data, epochs: 40);
        double auc = ClickMetrics.Evaluate(data.Test, CtrTraining.ScoreDsm(sasrec, offset, data.Test)).Auc;
        Assert.True(auc > 0.9, $"SASRec's test AUC {auc:F3} on labels set by the newest history item");

        // The same user and candidate with two histories: the score follows the history's newest item.
        var probe = new CtrRows("probe", [0, 0], [8, 8], [1, 0], new long[2], [true, true], [[5, 3, 12], [12, 3, 5]]);
        var s = CtrTraining.ScoreDsm(sasrec, offset, probe);
        Assert.True(s[0] > s[1] + 1, $"history ending in the candidate's group scores {s[0]:F2}, the other {s[1]:F2}");
    }

    [Fact]
    public void MatrixFactorizationCannotLearnItSoTheSyntheticTaskTestsTheHistory()
    {
        var data = Synthetic();
        manual_seed(4);
        using var ism = new InformationSharingModule(data.NumUsers, data.NumItems, 16, initStd: 0.1);
        using var mf = new MatrixFactorization(ism);
        using var offset = new LogitOffset();
        Fit(mf, offset, data, epochs: 40, l2: 1e-3);
        double auc = ClickMetrics.Evaluate(data.Test, CtrTraining.ScoreDsm(mf, offset, data.Test)).Auc;
        Assert.True(auc < 0.65, $"MF's test AUC {auc:F3}: it reads no history, so it should stay near chance");
        // MF's row logits ignore the history; its scores are those of its user and item rows.
        var probe = new CtrRows("probe", [0, 0], [8, 8], [1, 0], new long[2], [true, true], [[5, 3, 12], [12, 3, 5]]);
        var s = CtrTraining.ScoreDsm(mf, offset, probe);
        Assert.Equal(s[0], s[1]);
    }

    [Fact]
    public void ScoringInBatchesEqualsScoringRowByRowAndLeavesTheTrainingModeAsItWas()
    {
        var data = Synthetic();
        using var sasrec = NewSasRec(data);
        using var offset = new LogitOffset();
        var all = CtrTraining.ScoreDsm(sasrec, offset, data.Test);
        for (int r = 0; r < 5; r++)
            Assert.Equal(all[r], CtrTraining.ScoreDsm(sasrec, offset, data.Test.Select([r]))[0], 5);
        sasrec.train();
        CtrTraining.ScoreDsm(sasrec, offset, data.Test.Select([0]));
        Assert.True(sasrec.training);
    }

    [Fact]
    public void WithTheTowersUserSkipTheLlmStartsAtSasRecsLogitsOfEachRow()
    {
        var data = Synthetic();
        using var sasrec = NewSasRec(data);
        using var offset = new LogitOffset();
        Fit(sasrec, offset, data, epochs: 10); // logits of a few units, not the near-zero ones of a fresh model
        using (TorchSharp.torch.no_grad()) offset.Value.zero_();
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, data.Texts()), new PromptOptions { MaxHistory = 3, MaxTokens = 64 });
        using var llm = new LlmRecommender(tiny, sasrec.Ism, prompts, [],
            tower: new LlmTowerOptions { Residual = true, ItemText = false, Temperature = null, UserSkip = true });
        llm.FollowUserEncoder(sasrec);
        // Row histories are up to 6 items and the prompt shows 3: the user token still reads the whole history, as SASRec does.
        var rows = data.Test.Select(Enumerable.Range(0, 40).ToArray());
        var fromLlm = CtrTraining.ScoreLlm(llm, offset, rows);
        var fromDsm = CtrTraining.ScoreDsm(sasrec, offset, rows);
        Assert.True(fromDsm.Max(Math.Abs) > 1, $"largest |logit| {fromDsm.Max(Math.Abs):F3}");
        for (int r = 0; r < rows.Count; r++) Assert.Equal(fromDsm[r], fromLlm[r], 3);
    }

    [Fact]
    public void ClickThroughExperimentsTakeSasRecRowsAndRefuseADsmWithoutAClickThroughForm()
    {
        var dataset = new ExperimentDataset { Name = "ctr", Data = new DataConfig { Path = "x", Format = "collm-ctr" } };
        var config = new ExperimentConfig
        {
            Name = "t", Datasets = [dataset], Methods = ["sasrec", "sasrec+text", "one-way", "bdlm"], Monitor = "auc",
            Dsm = new DsmSettings { Model = "sasrec" },
        };
        config.Validate();
        var bad = config with { Dsm = new DsmSettings { Model = "mf+text" }, Methods = ["mf"] };
        var e = Assert.Throws<ArgumentException>(bad.Validate);
        Assert.Contains("mf+text", e.Message);
    }
}
