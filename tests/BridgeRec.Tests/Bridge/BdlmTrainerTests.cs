using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using BridgeRec.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Bridge;

public class BdlmTrainerTests
{
    /// <summary>The ML-100K leave-one-out split restricted to its first <paramref name="users"/> users (all items kept).</summary>
    internal static Split Subset(int users)
    {
        var s = MovieLens100K.LoadBenchmarkSplit(Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), Path.Combine(TestData.Root, "movielens-100k"));
        Interactions Keep(Interactions x) => x.Where(r => x.Users[r] < users);
        return new Split(s.Dataset, Keep(s.Train), Keep(s.Validation), Keep(s.Test), s.Description + $", first {users} users");
    }

    static (MatrixFactorization Dsm, LlmRecommender Llm) Models(Split split, BertModel backbone, WordPieceTokenizer tok)
    {
        manual_seed(1);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 32);
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset), new PromptOptions { MaxHistory = 5, MaxTokens = 96 });
        var llm = new LlmRecommender(backbone, ism, prompts, PromptBuilder.Histories(split, includeValidation: false));
        return (new MatrixFactorization(ism), llm);
    }

    [Fact]
    public void TheSharedModuleIsOneSetOfTensorsForBothModels()
    {
        var split = Subset(20);
        manual_seed(2);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var (dsm, llm) = Models(split, tiny, WordPieceTokenizer.MiniLm());
        Assert.Same(dsm.Ism, llm.Ism);
        var users = new[] { 0, 1, 2 };
        using var llmBefore = llm.ScoreAll(users);
        using var dsmBefore = dsm.ScoreAll(users);

        // A DSM step (BPR) changes what the LLM reads...
        using var opt = new BridgeRec.Native.SafeAdam(dsm.parameters(), 0.05);
        var (loss, _) = dsm.BprLoss(tensor(new long[] { 0, 1, 2 }), tensor(new long[] { 10, 20, 30 }), tensor(new long[] { 40, 50, 60 }), 0);
        loss.backward();
        opt.Step();
        using var llmAfter = llm.ScoreAll(users);
        Assert.False(allclose(llmBefore, llmAfter));

        // ...and an LLM step (cross-entropy through both adapters) changes what the DSM reads (its cache follows by itself).
        using var dsmMid = dsm.ScoreAll(users);
        using var opt2 = new BridgeRec.Native.SafeAdam(dsm.Ism.parameters(), 0.05);
        var ce = nn.functional.cross_entropy(llm.Score(llm.PromptsFor(users)), tensor(new long[] { 5, 6, 7 }));
        ce.backward();
        opt2.Step();
        using var dsmAfter = dsm.ScoreAll(users);
        Assert.False(allclose(dsmMid, dsmAfter));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    public void ASmallRunOnRealDataCompletesWithAndWithoutDistillation(double lambda)
    {
        var split = Subset(40);
        var (backbone, tok) = BertCheckpoint.MiniLm();
        backbone.SetTrainingMode(TrainingMode.Lora, new LoraOptions { Rank = 4 });
        var (dsm, llm) = Models(split, backbone, tok);
        var validation = RankingEvaluator.ForValidation(split, RankingOptions.LeaveOneOut);
        var dsmOptions = new DsmOptions { Lr = 0.01, EvalEvery = 1, Patience = 0, Monitor = "hr@10" };
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        new DsmTrainer(dsmOptions with { Epochs = 3 }).Fit(dsm, train, m => validation.Evaluate(m.ScoreAll).ToDictionary());

        var ismBeforeRounds = dsm.Ism.Items.detach().clone();
        using var trainer = new BdlmTrainer(new BdlmOptions { Rounds = 1, Lambda = lambda, LlmEpochs = 1, LlmBatch = 8, DsmEpochs = 2, Distill = "rank", DsmFresh = false }, dsmOptions);
        var result = trainer.Run(dsm, llm, split, m => validation.Evaluate(m.ScoreAll).ToDictionary(), "hr@10");

        Assert.Equal(2, result.Rounds.Count);
        Assert.Null(result.Rounds[0].Llm);
        Assert.NotNull(result.Rounds[1].Llm);
        Assert.InRange(result.Rounds[1].Llm!["hr@10"], 0, 1);
        Assert.True(double.IsFinite(result.Rounds[1].LlmLoss));
        Assert.NotNull(trainer.BestLlm);
        // the rounds trained the shared item table (both phases write it)
        trainer.RestoreBestLlm(llm);
        Assert.False(equal(ismBeforeRounds, dsm.Ism.Items).all().item<bool>());
    }

    [Fact]
    public void AnLlmEpochTrainsOnTheSampledNumberOfUsers()
    {
        var split = Subset(30);
        manual_seed(3);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var (_, llm) = Models(split, tiny, WordPieceTokenizer.MiniLm());
        var sequences = PromptBuilder.Histories(split, includeValidation: false);
        var o = new BdlmOptions { LlmBatch = 4, LlmUsersPerEpoch = 10 };
        var seen = new List<(int Done, int All)>();
        double loss = LlmTraining.Train(llm, new NextItemObjective(sequences, o.LlmUsersPerEpoch), o.Llm, epochs: 1, trainIsm: true, new Random(1), default, (d, a) => seen.Add((d, a)));
        Assert.True(double.IsFinite(loss));
        Assert.Equal([(4, 10), (8, 10), (10, 10)], seen);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BdlmOptions { LlmUsersPerEpoch = 0 }.Validate());
    }

    [Fact]
    public void PrecomputedScoresReturnTheTableRows()
    {
        using var table = HeldOps.Arange(0, 12, dtype: float32).reshape(3, 4);
        var r = new PrecomputedScores("cached", table);
        Assert.Equal(4, r.NumItems);
        using var rows = r.ScoreAll([2, 0]);
        Assert.Equal(new float[] { 8, 9, 10, 11, 0, 1, 2, 3 }, rows.data<float>().ToArray());
    }
}
