using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.SharedModule;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Bridge;

[Collection("torch-rng")]
public class CtrTrainingTests
{
    [Fact]
    public void BernoulliKlMatchesHandComputedValues()
    {
        // t = 0 -> p = 0.5; s = ln 3 -> q = 0.75: KL = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = 0.143841.
        using var t = tensor(new[] { 0f });
        using var s = tensor(new[] { MathF.Log(3) });
        Assert.Equal(0.143841, CtrTraining.BernoulliKl(t, s, tau: 1).item<float>(), 5);
        // tau 2 and weight 0.5: q = sigmoid(ln 3 / 2) = 0.633975, KL = 0.0186261, times tau^2 * weight = 2.
        Assert.Equal(0.0745046, CtrTraining.BernoulliKl(t, s, tau: 2, weight: 0.5).item<float>(), 5);
        // A batch is the mean over rows: the second row t = 2, s = -1 gives 0.828725.
        using var t2 = tensor(new[] { 0f, 2f });
        using var s2 = tensor(new[] { MathF.Log(3), -1f });
        Assert.Equal(0.486283, CtrTraining.BernoulliKl(t2, s2, tau: 1).item<float>(), 5);
        // Equal logits: no divergence; and the gradient pulls the student toward the teacher.
        Assert.Equal(0, CtrTraining.BernoulliKl(t2, t2.clone(), tau: 2).item<float>(), 6);
        using var student = tensor(new[] { 1f }).requires_grad_();
        CtrTraining.BernoulliKl(tensor(new[] { 3f }), student, tau: 1).backward();
        Assert.True(student.grad!.item<float>() < 0);
    }

    /// <summary>Users and items with hidden 4-d factors; label 1 where their dot product is positive.</summary>
    static CtrDataset Synthetic(int seed = 5)
    {
        var rng = new Random(seed);
        int users = 60, items = 80, dim = 4;
        var uf = new double[users, dim];
        var vf = new double[items, dim];
        for (int k = 0; k < dim; k++)
        {
            for (int u = 0; u < users; u++) uf[u, k] = rng.NextDouble() * 2 - 1;
            for (int i = 0; i < items; i++) vf[i, k] = rng.NextDouble() * 2 - 1;
        }
        CtrRows Part(string name, int perUser)
        {
            var us = new List<int>(); var its = new List<int>(); var ys = new List<float>();
            for (int u = 0; u < users; u++)
                for (int j = 0; j < perUser; j++)
                {
                    int i = rng.Next(items);
                    double dot = 0;
                    for (int k = 0; k < dim; k++) dot += uf[u, k] * vf[i, k];
                    us.Add(u); its.Add(i); ys.Add(dot > 0 ? 1f : 0f);
                }
            int n = us.Count;
            return new CtrRows(name, [.. us], [.. its], [.. ys], new long[n], Enumerable.Repeat(true, n).ToArray(), Enumerable.Range(0, n).Select(_ => Array.Empty<int>()).ToArray());
        }
        return new CtrDataset("synthetic", users, items, new ItemText?[items], Part("train", 40), Part("valid", 10), Part("test", 10));
    }

    static (float[] Scores, TrainResult Fit) FitMf(CtrDataset data, float[]? teacher = null, double lambda = 0)
    {
        manual_seed(3);
        using var ism = new InformationSharingModule(data.NumUsers, data.NumItems, 8, initStd: 0.1);
        using var mf = new MatrixFactorization(ism);
        using var offset = new LogitOffset();
        var options = new DsmOptions { Epochs = 60, Lr = 0.02, L2 = 1e-3, Batch = 256, Seed = 9, EvalEvery = 5, Patience = 3, Monitor = "auc" };
        var fit = new DsmTrainer(options).Fit(mf, new PointwiseDsmObjective(data.Train, offset, options, teacher, lambda, tau: 1),
            m => CtrTraining.Metrics(data.Validation, CtrTraining.ScoreDsm(m, offset, data.Validation)));
        return (CtrTraining.ScoreDsm(mf, offset, data.Test), fit);
    }

    [Fact]
    public void TheDsmLearnsLabelledPairsWithBceAndKeepsItsBestEpoch()
    {
        var data = Synthetic();
        var (scores, fit) = FitMf(data);
        double auc = ClickMetrics.Evaluate(data.Test, scores).Auc;
        Assert.True(auc > 0.8, $"test AUC {auc:F3} on separable synthetic data");
        Assert.Equal(fit.History.Where(e => e.Metrics is not null).Max(e => e.Metrics!["auc"]), fit.BestMetrics["auc"]);
        // Same seed and data: the same scores.
        var (again, _) = FitMf(data);
        Assert.Equal(scores, again);
    }

    [Fact]
    public void TheDsmPhaseFollowsATeacherOnTheRowsItScored()
    {
        var data = Synthetic();
        // A teacher that says the opposite of every label on half the training rows pulls the DSM away from them.
        var teacher = Enumerable.Range(0, data.Train.Count).Select(r => r % 2 == 0 ? (data.Train.Labels[r] > 0.5f ? -6f : 6f) : float.NaN).ToArray();
        var (plain, _) = FitMf(data);
        var (taught, _) = FitMf(data, teacher, lambda: 5);
        double plainAuc = ClickMetrics.Evaluate(data.Test, plain).Auc, taughtAuc = ClickMetrics.Evaluate(data.Test, taught).Auc;
        Assert.True(taughtAuc < plainAuc - 0.05, $"a contrary teacher should hurt: {taughtAuc:F3} vs {plainAuc:F3}");
        // lambda = 0 ignores the teacher entirely: the plain run again.
        var (ignored, _) = FitMf(data, teacher, lambda: 0);
        Assert.Equal(plain, ignored);
    }

    [Fact]
    public void BdlmRunsTheClickThroughProtocolThroughTheOneLoop()
    {
        var data = Synthetic();
        manual_seed(4);
        var tok = BridgeRec.Language.WordPieceTokenizer.MiniLm();
        var backbone = new BridgeRec.Language.BertModel(new BridgeRec.Language.BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        using var ism = new InformationSharingModule(data.NumUsers, data.NumItems, 8, initStd: 0.1);
        using var mf = new MatrixFactorization(ism);
        using var dsmOffset = new LogitOffset();
        using var llmOffset = new LogitOffset();
        var prompts = new BridgeRec.LlmRec.PromptBuilder(tok, new BridgeRec.LlmRec.ItemTextCache(tok, data.Texts()), new BridgeRec.LlmRec.PromptOptions { MaxHistory = 2, MaxTokens = 32 });
        using var llm = new BridgeRec.LlmRec.LlmRecommender(backbone, ism, prompts, []);
        var dsmOptions = new DsmOptions { Epochs = 4, Lr = 0.02, L2 = 1e-3, Batch = 256, Seed = 9, EvalEvery = 2, Patience = 0, Monitor = "auc" };
        var options = new BdlmOptions { Rounds = 2, Lambda = 0.5, LlmEpochs = 1, LlmBatch = 16, DsmEpochs = 2, Seed = 3 };
        var ctr = new CtrOptions { LlmRowsPerEpoch = 64, TeacherRows = 64 };
        new DsmTrainer(dsmOptions).Fit(mf, new PointwiseDsmObjective(data.Train, dsmOffset, dsmOptions),
            m => CtrTraining.Metrics(data.Validation, CtrTraining.ScoreDsm(m, dsmOffset, data.Validation)));

        using var trainer = new BdlmTrainer(options, dsmOptions);
        var protocol = new CtrProtocol(data.Train, data.Validation, null, dsmOffset, llmOffset, options, dsmOptions, ctr, "auc");
        var result = trainer.Run(mf, llm, protocol);

        Assert.Equal(3, result.Rounds.Count);
        Assert.Null(result.Rounds[0].Llm);
        Assert.All(result.Rounds.Skip(1), r => Assert.InRange(r.Llm!["auc"], 0, 1));
        Assert.All(result.Rounds.Skip(1), r => Assert.True(double.IsFinite(r.LlmLoss)));
        // Each model is left in (or put back to) its best round exactly: validation gives that round's numbers again.
        Assert.Equal(result.Rounds[result.BestDsmRound].Dsm["auc"], protocol.ValidateDsm(mf)["auc"]);
        trainer.RestoreBestLlm(llm);
        Assert.Equal(result.Rounds[result.BestLlmRound].Llm!["auc"],
            CtrTraining.Metrics(data.Validation, CtrTraining.ScoreLlm(llm, llmOffset, data.Validation))["auc"]);
    }
}
