using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using BridgeRec.Tests.LlmRec;
using BridgeRec.Torch;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Bridge;

/// <summary>BDLM with SASRec as the DSM: the LLM reads its users through a frozen copy of it, and the DSM phase distils by ranking.</summary>
[Collection("torch-rng")]
public class SequentialBridgeTests
{
    static readonly SasRecOptions Small = new() { MaxLength = 8, Layers = 1, Heads = 2, Inner = 32, Dropout = 0.2 };

    static (SasRec Dsm, LlmRecommender Llm) Models(Split split, LlmTowerOptions? tower)
    {
        manual_seed(4);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        var dsm = new SasRec(ism, Histories.Of(split, includeValidation: false), Small);
        return (dsm, TinyLlm.Over(split, ism, tower));
    }

    [Fact]
    public void WithTheUserSkipTheLlmStartsFromTheSequentialDsmsScoresAndFollowsOnlyWhenRefreshed()
    {
        var split = BdlmTrainerTests.Subset(20);
        // Zero-initialised residual rows and A_out, raw dot products: the query is exactly the DSM's user representation.
        var (dsm, llm) = Models(split, new LlmTowerOptions { Residual = true, ItemText = false, Temperature = null, UserSkip = true });
        using var _d = dsm;
        using var _l = llm;
        llm.FollowUserEncoder(dsm);
        int[] users = [0, 1, 2, 5, 9];
        using (var a = llm.ScoreAll(users))
        using (var b = dsm.ScoreAll(users))
            Assert.True(TinyLlm.MaxDiff(a, b) < 1e-4f, $"LLM and SASRec scores differ by {TinyLlm.MaxDiff(a, b)}");

        // The LLM holds a copy: a change to the DSM does not reach it until the next refresh.
        TinyLlm.FollowsOnlyWhenRefreshed(llm, dsm, users, () =>
        {
            using var moved = dsm.Snapshot();
            using (no_grad()) foreach (var w in moved.Own.Values) w.Plus_(Scalars.Of(0.05));
            dsm.Restore(moved); // as a training step would, through the model's own weights
        }, () => llm.FollowUserEncoder(dsm));
    }

    [Fact]
    public void FromASasRecWithTextTheLlmsTextTowerStartsAtTheDsmsProjection()
    {
        var split = BdlmTrainerTests.Subset(20);
        manual_seed(8);
        using var text = randn(split.Dataset.NumItems, 12);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        using var dsm = new SasRec(ism, Histories.Of(split, includeValidation: false), Small, text);
        // Give the DSM's text projection a value, as training would.
        using (var state = dsm.Snapshot())
        {
            using (no_grad()) state.Own[SasRec.TextProjectionName].copy_(randn(16, 12));
            dsm.Restore(state);
        }
        using var llm = TinyLlm.Over(split, ism, new LlmTowerOptions { Temperature = null, UserSkip = true }, text);
        llm.FollowUserEncoder(dsm);
        int[] users = [0, 4, 7];
        using var a = llm.ScoreAll(users);
        using var b = dsm.ScoreAll(users);
        Assert.True(TinyLlm.MaxDiff(a, b) < 1e-4f, $"LLM and SASRec + text scores differ by {TinyLlm.MaxDiff(a, b)}");
    }

    [Fact]
    public void TheUserTokenReadsTheHistoryEachPromptWasBuiltFrom()
    {
        var split = BdlmTrainerTests.Subset(20);
        var (dsm, llm) = Models(split, new LlmTowerOptions { ItemText = false });
        using var _d = dsm;
        using var _l = llm;
        llm.FollowUserEncoder(dsm);
        var history = Histories.Of(split, includeValidation: false)[3].ToArray();
        Assert.True(history.Length >= 4);
        var batch = llm.Prompts.Collate([llm.Prompts.Build(3, history), llm.Prompts.Build(3, history[..2])]);
        Assert.Equal(history, batch.UserSequences[batch.UserBatch[0] == 0 ? 0 : 1]);
        Assert.Equal(history[..2], batch.UserSequences[batch.UserBatch[0] == 0 ? 1 : 0]);
        // The same user with a shorter history: a different user token, so a different query.
        using var q = llm.Queries(batch);
        Assert.True(TinyLlm.MaxDiff(q[0], q[1]) > 1e-4f);
    }

    [Fact]
    public void ASavedEncoderRebuildsTheSameRepresentations()
    {
        var split = BdlmTrainerTests.Subset(20);
        var (dsm, llm) = Models(split, null);
        using var _d = dsm;
        using var _l = llm;
        using var copy = dsm.FrozenCopy();
        Assert.All(copy.parameters(), p => Assert.False(p.requires_grad));
        using var rebuilt = SasRec.FromFrozenTensors(copy.FrozenTensors(), split.Dataset.NumUsers, Small, "test");
        var histories = Histories.Of(split, includeValidation: false).Take(6).ToArray();
        using var _ = no_grad();
        using var a = dsm.Represent(histories);
        using var b = rebuilt.Represent(histories);
        Assert.Equal(0f, TinyLlm.MaxDiff(a, b));
        Assert.Throws<InvalidDataException>(() => SasRec.FromFrozenTensors(new Dictionary<string, Tensor>(), 3, Small, "empty.safetensors"));
    }

    [Fact]
    public void TheDsmPhasesRankDistillationPullsTheTeachersItemUpInTheSequentialDsm()
    {
        var split = BdlmTrainerTests.Subset(20);
        var (dsm, llm) = Models(split, null);
        using var _d = dsm;
        using var _l = llm;
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        const int user = 2;
        // The teacher ranks, for user 2, the unseen item the DSM ranks lowest first.
        using var dsmScores = dsm.ScoreAll([user]);
        var seen = train.ItemsOf(user).ToArray().ToHashSet();
        int target = Enumerable.Range(0, split.Dataset.NumItems).Where(i => !seen.Contains(i)).MinBy(i => dsmScores[0, i].item<float>());
        using var teacher = zeros(split.Dataset.NumUsers, split.Dataset.NumItems);
        using (no_grad()) teacher[user, target] = tensor(10f);
        var distill = new DsmRankDistillation(teacher, [user], dsm, train, k: 1, lambda: 1.0, gate: true, seed: 3);
        Assert.Equal(1, distill.Pairs);

        dsm.eval(); // no dropout: the step's effect is the term's alone
        using var opt = new BridgeRec.Native.SafeAdam(dsm.parameters(), 0.01);
        for (int step = 0; step < 20; step++)
        {
            opt.ZeroGrad();
            var loss = distill.SequenceTerm(dsm, 4);
            Assert.True(loss.item<float>() > 0);
            loss.backward();
            opt.Step();
        }
        using var after = dsm.ScoreAll([user]);
        int Rank(Tensor s) => Enumerable.Range(0, split.Dataset.NumItems).Count(i => !seen.Contains(i) && s[0, i].item<float>() > s[0, target].item<float>());
        Assert.True(Rank(after) < Rank(dsmScores) / 2, $"rank {Rank(dsmScores)} -> {Rank(after)}");
    }

    [Fact]
    public void TheLlmPhasesTeacherReadsThePromptsPrefixAndNeverTeachesItsItems()
    {
        var split = BdlmTrainerTests.Subset(20);
        var (dsm, llm) = Models(split, null);
        using var _d = dsm;
        using var _l = llm;
        using var distill = new SequentialLlmRankDistillation(dsm, k: 5, lambda: 1.0, gate: true);
        IReadOnlyList<int>[] prefixes = [[1, 2, 3], [4, 5, 6, 7, 8]];
        Tensor teacher;
        using (no_grad()) teacher = dsm.Logits(dsm.Represent(prefixes));

        // A student that ranks exactly as the teacher has nothing to learn: the gate closes every position.
        Assert.Equal(0f, distill.Loss([0, 1], teacher.clone(), prefixes).item<float>());

        // A student that ranks the teacher's order backwards and prefers the prefix items learns the teacher's top items, never the prefix's.
        var student = teacher.neg(); // the teacher's order reversed: its top items are the student's last
        using (no_grad())
            for (int b = 0; b < prefixes.Length; b++)
                foreach (int i in prefixes[b]) student[b, i] = tensor(50f);
        student.requires_grad = true;
        var loss = distill.Loss([0, 1], student, prefixes);
        Assert.True(loss.item<float>() > 0);
        loss.backward();
        var grad = student.grad!;
        for (int b = 0; b < prefixes.Length; b++)
        {
            // Gradient descent raises the logits the term pulls up: those with negative gradient are the teacher's top items.
            var pulled = Enumerable.Range(0, split.Dataset.NumItems).Where(i => grad[b, i].item<float>() < -1e-6f).ToArray();
            Assert.Equal(5, pulled.Length);
            Assert.Empty(pulled.Intersect(prefixes[b]));
            using var masked = teacher[b].clone();
            foreach (int i in prefixes[b]) masked[i] = tensor(float.NegativeInfinity);
            var top = masked.topk(5).indexes.data<long>().Select(x => (int)x).Order().ToArray();
            Assert.Equal(top, pulled.Order().ToArray());
        }
        // The batch-only form cannot know the prefixes.
        Assert.Throws<InvalidOperationException>(() => ((ILlmDistillation)distill).Loss([0], teacher));
    }
}
