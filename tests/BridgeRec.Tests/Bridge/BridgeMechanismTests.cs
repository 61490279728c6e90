using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Bridge;

/// <summary>The mechanisms that keep the two models from fighting and distil only where the teacher is ahead.</summary>
public class BridgeMechanismTests
{
    static Interactions Pairs(params (int U, int I)[] p) => new(p.Select(x => x.U).ToArray(), p.Select(x => x.I).ToArray());

    [Fact]
    public void PositionWeightsFallWithRankAndAverageOne()
    {
        var w = RankDistillation.PositionWeights(10);
        Assert.Equal(10, w.Length);
        Assert.Equal(1.0, w.Average(), 5);
        for (int k = 1; k < w.Length; k++) Assert.True(w[k] < w[k - 1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => RankDistillation.PositionWeights(0));
    }

    [Fact]
    public void RanksCountOnlyUnseenItemsAbove()
    {
        // One user, 5 items; item 0 seen. Scores: item0 9 (seen), item1 1, item2 5, item3 3, item4 4.
        var seen = new UserItemIndex(1, 5, Pairs((0, 0)));
        using var scores = tensor(new float[] { 9, 1, 5, 3, 4 }).unsqueeze(0);
        using var mask = RankDistillation.SeenMask(seen, [0], scores.device);
        using var masked = scores.masked_fill(mask, BridgeRec.Torch.Scalars.Of(double.NegativeInfinity));
        using var items = tensor(new long[] { 2, 4, 1 }).unsqueeze(0);
        var ranks = RankDistillation.RanksOf(masked, items).data<long>().ToArray();
        Assert.Equal(new long[] { 0, 1, 3 }, ranks);
    }

    [Fact]
    public void TheDsmPhasesSlateKlReadsTheTeachersScoresOfEachBatchUserOnTheSlate()
    {
        // 3 users x 6 items of teacher scores; a batch of 4 triples; slate 4 = the first 2 positives and 2 negatives.
        using var teacherScores = tensor(new float[] { 1, 2, 3, 4, 5, 6, 6, 1, 0, 2, 3, 1, -1, 0, 4, 2, 2, 5 }).reshape(3, 6);
        using var fu = tensor(new float[] { 0.5f, -1, 1, 0.25f, -0.5f, 2 }).reshape(3, 2);
        using var fi = tensor(new float[] { 1, 0, 0, 1, 1, 1, -1, 2, 0.5f, 0.5f, 2, -1 }).reshape(6, 2);
        using var users = tensor(new long[] { 2, 0, 2, 1 });
        using var pos = tensor(new long[] { 4, 1, 0, 3 });
        using var neg = tensor(new long[] { 5, 2, 3, 0 });
        const double tau = 2, lambda = 0.5;
        using var loss = RankingProtocol.SlateKl(teacherScores, slate: 4, tau, lambda)(fu, fi, users, pos, neg);

        long[] slate = [4, 1, 5, 2];
        var t = teacherScores.data<float>().ToArray();
        var u = fu.data<float>().ToArray();
        var it = fi.data<float>().ToArray();
        double total = 0;
        foreach (long user in new long[] { 2, 0, 2, 1 })
        {
            double[] p = Softmax(slate.Select(i => t[user * 6 + i] / tau).ToArray());
            double[] q = Softmax(slate.Select(i => (u[user * 2] * it[i * 2] + u[user * 2 + 1] * it[i * 2 + 1]) / tau).ToArray());
            total += p.Zip(q, (a, b) => a * Math.Log(a / b)).Sum();
        }
        Assert.Equal(tau * tau * lambda * total / 4, loss.item<float>(), 5);

        static double[] Softmax(double[] x)
        {
            double m = x.Max();
            var e = x.Select(v => Math.Exp(v - m)).ToArray();
            return e.Select(v => v / e.Sum()).ToArray();
        }
    }

    /// <summary>A DSM whose scores are fixed by its tables: MF with 1-d rows, so the order of items is the order of their rows.</summary>
    static MatrixFactorization Mf(float[] users, float[] items)
    {
        var ism = new InformationSharingModule(users.Length, items.Length, 1);
        using (no_grad())
        {
            ism.Users.copy_(tensor(users).unsqueeze(1));
            ism.Items.copy_(tensor(items).unsqueeze(1));
        }
        return new MatrixFactorization(ism);
    }

    [Fact]
    public void TheLlmTermTeachesOnlyItemsTheStudentRanksLower()
    {
        // Teacher (DSM) order for user 0: items 3 > 2 > 1 > 0 > 4; nothing seen.
        using var teacher = Mf([1f], [0.1f, 0.2f, 0.3f, 0.4f, 0f]);
        var seen = new UserItemIndex(1, 5, Pairs());
        using var gated = new LlmRankDistillation(teacher, seen, k: 2, lambda: 1.0, gate: true);
        using var open = new LlmRankDistillation(teacher, seen, k: 2, lambda: 1.0, gate: false);

        // A student that already agrees (3 first, 2 second): the gated term is zero, the open one is not.
        using var agrees = tensor(new float[] { 0, 0, 5, 9, 0 }).unsqueeze(0);
        Assert.Equal(0.0, gated.Loss([0], agrees).item<float>(), 6);
        Assert.True(open.Loss([0], agrees).item<float>() > 0);

        // A student that puts item 3 last: the term pulls item 3 up (its gradient on item 3's logit is negative).
        using var disagrees = tensor(new float[] { 5, 4, 3, -1, 2 }).unsqueeze(0).requires_grad_(true);
        var loss = gated.Loss([0], disagrees);
        Assert.True(loss.item<float>() > 0);
        loss.backward();
        Assert.True(disagrees.grad!.data<float>()[3] < 0);
    }

    [Fact]
    public void TheDsmTermKeepsOnlyPairsTheDsmRanksLowerAndIsSeeded()
    {
        // Teacher (LLM) scores for 2 users; user 1 has item 0 seen.
        using var teacherScores = tensor(new float[,] { { 5, 4, 3, 2, 1 }, { 9, 1, 2, 3, 4 } });
        var seen = new UserItemIndex(2, 5, Pairs((1, 0)));
        // Student (DSM) order for both users: 0 > 1 > 2 > 3 > 4.
        using var student = Mf([1f, 1f], [0.5f, 0.4f, 0.3f, 0.2f, 0.1f]);
        var d = new DsmRankDistillation(teacherScores, [0, 1], student, seen, k: 2, lambda: 1.0, gate: true, seed: 7);
        // User 0: teacher top-2 = 0, 1 and the student agrees: no pair. User 1 (0 seen): teacher 4, 3 at 0 and 1, the
        // student has them at unseen ranks 3 and 2: both pairs kept.
        Assert.Equal(4, d.Candidates);
        Assert.Equal(2, d.Pairs);
        var open = new DsmRankDistillation(teacherScores, [0, 1], student, seen, k: 2, lambda: 1.0, gate: false, seed: 7);
        Assert.Equal(4, open.Pairs);

        var (fu, fi) = student.Embed();
        using var users = tensor(new long[] { 0, 1, 0 });
        using var pos = tensor(new long[] { 1, 2, 3 });
        using var neg = tensor(new long[] { 2, 3, 4 });
        float a = d.Term(fu, fi, users, pos, neg).item<float>();
        var again = new DsmRankDistillation(teacherScores, [0, 1], student, seen, k: 2, lambda: 1.0, gate: true, seed: 7);
        Assert.Equal(a, again.Term(fu, fi, users, pos, neg).item<float>());
        Assert.True(a > 0);
    }

    [Fact]
    public void TextPcaPutsItemsWithTheSameTextOnTheSameRowAtTheRequestedScale()
    {
        manual_seed(3);
        using var text = randn(40, 16);
        using (no_grad()) text[5].copy_(text[9]);
        var ism = new InformationSharingModule(3, 40, 8);
        ItemRowInit.TextPca(ism, text, 0.1);
        Assert.True(allclose(ism.Items[5], ism.Items[9], rtol: 1e-5, atol: 1e-6));
        Assert.Equal(0.1, ism.Items.std().item<float>(), 3);
        Assert.Throws<ArgumentException>(() => ItemRowInit.TextPca(ism, randn(39, 16), 0.1));
    }

    static LlmRecommender TinyLlm(Split split, LlmTowerOptions? tower, Tensor? text)
    {
        manual_seed(2);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset), new PromptOptions { MaxHistory = 5, MaxTokens = 96 });
        return new LlmRecommender(tiny, ism, prompts, PromptBuilder.Histories(split, includeValidation: false), ownsIsm: true, tower: tower, itemText: text);
    }

    [Fact]
    public void WithPrivateRowsTheLlmPhaseNeverMovesTheSharedTables()
    {
        var split = BdlmTrainerTests.Subset(20);
        using var text = randn(split.Dataset.NumItems, 12);
        using var llm = TinyLlm(split, new LlmTowerOptions(), text);
        Assert.True(llm.HasPrivateRows);
        using var before = llm.Ism.Snapshot();
        var rowsBefore = llm.PrivateRows().Select(p => p.detach().clone()).ToArray();
        var sequences = PromptBuilder.Histories(split, includeValidation: false);
        bool trainIsm = !llm.HasPrivateRows;
        LlmTraining.Train(llm, new NextItemObjective(sequences, usersPerEpoch: 8), new LlmTrainingOptions { Batch = 4 }, 1, trainIsm, new Random(1), default);
        Assert.Equal(0f, (before.Users - llm.Ism.Users).abs().max().item<float>());
        Assert.Equal(0f, (before.Items - llm.Ism.Items).abs().max().item<float>());
        Assert.True((rowsBefore[1] - llm.PrivateRows().ElementAt(1)).abs().max().item<float>() > 0);
    }

    [Fact]
    public void TheTextTowerScoresWithNormalisedVectorsAndNeedsTheTextFeatures()
    {
        var split = BdlmTrainerTests.Subset(20);
        using var text = randn(split.Dataset.NumItems, 12);
        using var llm = TinyLlm(split, new LlmTowerOptions { Temperature = 0.5 }, text);
        using var scores = llm.ScoreAll([0, 1]);
        // Cosine similarities over a temperature of 0.5: every score within [-2, 2].
        Assert.True(scores.abs().max().item<float>() <= 2.0f + 1e-4f);
        Assert.Throws<ArgumentException>(() => TinyLlm(split, new LlmTowerOptions(), null));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LlmTowerOptions { Temperature = 0 }.Validate());
    }

    /// <summary>tower.popularity_prior: the text-only LLM's scores are its cosine scores plus log(1 + training count), a bias that trains.</summary>
    [Fact]
    public void ThePopularityPriorAddsLogCountsToTheTextOnlyScoresAndTrains()
    {
        var split = BdlmTrainerTests.Subset(20);
        var counts = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train).ItemDegrees();
        Assert.Contains(counts, c => c > 1);
        using var text = randn(split.Dataset.NumItems, 12);
        manual_seed(2);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset), new PromptOptions { MaxHistory = 5, MaxTokens = 96, IncludeTaskTokens = false });
        var table = new TextItemTable(text, 16, counts);
        using var withPrior = new LlmRecommender(tiny, ism, prompts, PromptBuilder.Histories(split, includeValidation: false), table, ownsIsm: true,
            tower: new LlmTowerOptions().ForTextOnly());
        var expected = counts.Select(c => (float)Math.Log(1.0 + c)).ToArray();
        Assert.Equal(expected, table.Bias!.detach().data<float>().ToArray());
        // The same model with the bias at zero scores by text alone; the prior adds exactly the bias to every user's row.
        using var b = withPrior.ScoreAll([0, 1, 2]);
        using (no_grad()) table.Bias.zero_();
        using var a = withPrior.ScoreAll([0, 1, 2]);
        using (no_grad()) table.Bias.copy_(tensor(expected));
        using var diff = b - a;
        for (int u = 0; u < 3; u++)
        {
            var row = diff[u].data<float>().ToArray();
            for (int i = 0; i < row.Length; i++) Assert.Equal(expected[i], row[i], 4);
        }
        // The bias is an adapter parameter: the text-only LLM's training moves it.
        var bias = withPrior.AdapterParameters().Single(p => p.shape.Length == 1 && p.shape[0] == split.Dataset.NumItems);
        using var before = bias.detach().clone();
        LlmTraining.Train(withPrior, new NextItemObjective(PromptBuilder.Histories(split, includeValidation: false), usersPerEpoch: 8),
            new LlmTrainingOptions { Batch = 4, LrAdapters = 0.01 }, 1, trainIsm: false, new Random(1), default);
        Assert.True((before - bias).abs().max().item<float>() > 0);
        Assert.Throws<ArgumentException>(() => new TextItemTable(text, 16, counts.Take(3).ToArray()));
    }

    /// <summary>Hands the objective's scores and shown items to the test; adds nothing to the loss.</summary>
    sealed class Capture : ILlmDistillation
    {
        public Tensor? Scores;
        public IReadOnlyList<int>[]? Shown;
        public Tensor Loss(int[] batch, Tensor student) => throw new InvalidOperationException("the prefixes overload is expected");
        public Tensor Loss(int[] batch, Tensor student, IReadOnlyList<int>[] prefixes)
        {
            Scores = student.detach().clone();
            Shown = prefixes;
            return zeros(1).sum();
        }
    }

    /// <summary>
    /// bdlm.llm_target set: the prompt shows a random subset of the user's items (in sequence order, at most MaxHistory,
    /// one left over), and the loss is each user's mean cross-entropy of its other items with the shown ones out of the
    /// softmax, averaged over the batch.
    /// </summary>
    [Fact]
    public void TheSetTargetPredictsEveryUnshownItemWithTheShownOnesMasked()
    {
        var split = BdlmTrainerTests.Subset(20);
        using var text = randn(split.Dataset.NumItems, 12);
        using var llm = TinyLlm(split, new LlmTowerOptions(), text);
        var sequences = PromptBuilder.Histories(split, includeValidation: false);
        var capture = new Capture();
        using var objective = new NextItemObjective(sequences, null, capture, "set");
        var batch = objective.Examples(new Random(3))[..6];
        Assert.Contains(batch, u => sequences[u].Count > 6);
        double loss;
        using (no_grad()) loss = objective.BatchLoss(llm, batch, new Random(4)).item<float>();
        double expected = 0;
        for (int k = 0; k < batch.Length; k++)
        {
            var seq = sequences[batch[k]];
            var shown = capture.Shown![k];
            Assert.Equal(Math.Min(5, seq.Count - 1), shown.Count);
            // A subsequence of the history: the shown items keep their order.
            int at = 0;
            foreach (int item in shown) { while (seq[at] != item) at++; at++; }
            var row = capture.Scores![k].data<float>().ToArray().Select(v => (double)v).ToArray();
            var open = Enumerable.Range(0, row.Length).Where(i => !shown.Contains(i)).ToArray();
            double max = open.Max(i => row[i]);
            double logZ = max + Math.Log(open.Sum(i => Math.Exp(row[i] - max)));
            var targets = seq.Where(i => !shown.Contains(i)).Distinct().ToArray();
            Assert.NotEmpty(targets);
            expected += -targets.Average(t => row[t] - logZ) / batch.Length;
        }
        Assert.Equal(expected, loss, 4);
        // Another draw shows other items: the subset is random, not the latest items.
        using (no_grad()) objective.BatchLoss(llm, batch, new Random(5)).Dispose();
        Assert.Contains(Enumerable.Range(0, batch.Length), k => !capture.Shown![k].SequenceEqual(sequences[batch[k]].TakeLast(capture.Shown[k].Count)));
    }
}

/// <summary>The loop's round-to-round state: a round that hurt the DSM is not built on.</summary>
public class BdlmLoopStateTests
{
    /// <summary>A protocol whose validation says only round 0 was good, and whose DSM phase records the item rows it starts from.</summary>
    sealed class RecordingProtocol(UserItemIndex train, DsmOptions dsmOptions) : IBdlmProtocol
    {
        public List<float[]> PhaseStarts { get; } = [];
        int _validations;
        public string Monitor => "score";
        public IReadOnlyList<TorchSharp.Modules.Parameter> DsmParameters => [];
        public IReadOnlyList<TorchSharp.Modules.Parameter> LlmParameters => [];
        public IReadOnlyDictionary<string, double> ValidateDsm(DomainModel dsm) =>
            new Dictionary<string, double> { ["score"] = _validations++ == 0 ? 1.0 : 0.0 };
        public string Show(IReadOnlyDictionary<string, double> m) => m["score"].ToString(System.Globalization.CultureInfo.InvariantCulture);
        public Random LlmRandom(int round) => new(round);
        public ILlmObjective LlmObjective(DomainModel dsm, int round) => new NoExamples();
        public LlmPass ScoreLlm(LlmRecommender llm, DomainModel dsm, int round) =>
            new(new Dictionary<string, double> { ["score"] = 0 }, new Recording(new BprObjective(train, DsmPhaseOptions(round)), PhaseStarts), null);
        public DsmOptions DsmPhaseOptions(int round) => dsmOptions with { Epochs = 2, EvalEvery = 2, Patience = 0, Lr = 0.05, Seed = round };
    }

    sealed class NoExamples : ILlmObjective
    {
        public IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => [];
        public int[] Examples(Random rng) => [];
        public Tensor BatchLoss(LlmRecommender llm, int[] batch, Random rng) => throw new InvalidOperationException("no examples");
    }

    sealed class Recording(IDsmObjective inner, List<float[]> starts) : IDsmObjective
    {
        bool _first = true;
        public IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => inner.Parameters;
        public int StartEpoch(int epoch) => inner.StartEpoch(epoch);
        public (Tensor Loss, double Reported) BatchLoss(DomainModel model, int batch)
        {
            if (_first) { starts.Add(model.Ism.Items.detach().clone().data<float>().ToArray()); _first = false; }
            return inner.BatchLoss(model, batch);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EachRoundStartsFromTheDsmsBestStateWhenAskedTo(bool resumeFromBest)
    {
        var split = BdlmTrainerTests.Subset(20);
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        manual_seed(5);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 8);
        using var dsm = new MatrixFactorization(ism);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        using var llm = new LlmRecommender(tiny, ism, new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset)), PromptBuilder.Histories(split, false));
        var stage0 = ism.Items.detach().clone().data<float>().ToArray();
        var dsmOptions = new DsmOptions { Batch = 64, Monitor = "score" };
        var protocol = new RecordingProtocol(train, dsmOptions);
        using var trainer = new BdlmTrainer(new BdlmOptions { Rounds = 3, ResumeFromBest = resumeFromBest, Distill = "rank", DsmFresh = false }, dsmOptions);
        var result = trainer.Run(dsm, llm, protocol);

        Assert.Equal(0, result.BestDsmRound);
        Assert.Equal(3, protocol.PhaseStarts.Count);
        Assert.Equal(stage0, protocol.PhaseStarts[0]);
        // With resume-from-best every phase starts from stage 0 (the only good round); without, from the last phase's end.
        Assert.Equal(resumeFromBest, protocol.PhaseStarts[1].SequenceEqual(stage0));
        Assert.Equal(resumeFromBest, protocol.PhaseStarts[2].SequenceEqual(stage0));
        // Either way the run ends on the best round.
        Assert.Equal(stage0, ism.Items.detach().data<float>().ToArray());
    }

    [Theory]
    [InlineData(null, 4)]
    [InlineData(1, 2)]
    [InlineData(2, 3)]
    public void RoundPatienceStopsTheRoundsAfterThatManyWithoutAGain(int? patience, int phases)
    {
        var split = BdlmTrainerTests.Subset(20);
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        manual_seed(5);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 8);
        using var dsm = new MatrixFactorization(ism);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        using var llm = new LlmRecommender(tiny, ism, new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset)), PromptBuilder.Histories(split, false));
        var dsmOptions = new DsmOptions { Batch = 64, Monitor = "score" };
        var protocol = new RecordingProtocol(train, dsmOptions);
        var log = new List<string>();
        // Round 1 is the LLM's first (a gain); the DSM never beats round 0, the LLM never beats round 1.
        using var trainer = new BdlmTrainer(new BdlmOptions { Rounds = 4, RoundPatience = patience, Distill = "rank", DsmFresh = false }, dsmOptions) { Log = log.Add };
        var result = trainer.Run(dsm, llm, protocol);

        Assert.Equal(phases, protocol.PhaseStarts.Count);
        Assert.Equal(phases + 1, result.Rounds.Count);
        Assert.Equal(1, result.BestLlmRound);
        Assert.Equal(0, result.BestDsmRound);
        Assert.Equal(patience is not null, log.Any(l => l.StartsWith("stopping after round", StringComparison.Ordinal)));
    }

    [Fact]
    public void RoundPatienceMustBePositive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new BdlmOptions { RoundPatience = 0 }.Validate());

    [Theory]
    [InlineData(null, 5, 5)]
    [InlineData(2, 4, 2)]
    [InlineData(3, 5, 5)]
    public void LlmFitStopsItsEpochsAfterPatienceWithoutAGain(int? patience, int epochsRun, int bestEpoch)
    {
        var split = BdlmTrainerTests.Subset(20);
        manual_seed(5);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 8);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        using var llm = new LlmRecommender(tiny, ism, new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset)), PromptBuilder.Histories(split, false));
        double[] figures = [0.1, 0.2, 0.1, 0.15, 0.3];
        int calls = 0;
        var fit = LlmTraining.Fit(llm, new NoExamples(), new LlmTrainingOptions(), epochs: 5, trainIsm: false,
            () => new Dictionary<string, double> { ["score"] = figures[calls++] }, "score", new Random(1), patience: patience);

        Assert.Equal(epochsRun, fit.History.Count);
        Assert.Equal(epochsRun, calls);
        Assert.Equal(bestEpoch, fit.BestEpoch);
    }

    [Fact]
    public void AFreshDsmPhaseStartsFromTheInitialWeightsEveryRound()
    {
        var split = BdlmTrainerTests.Subset(20);
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        manual_seed(5);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 8);
        using var dsm = new MatrixFactorization(ism);
        using var initial = dsm.Snapshot();
        var initialItems = ism.Items.detach().clone().data<float>().ToArray();
        // Stage 0 moved the rows away from where they started.
        using (no_grad()) BridgeRec.Torch.HeldOps.Plus_(ism.Items, BridgeRec.Torch.Scalars.Of(0.5));
        var stage0 = ism.Items.detach().clone().data<float>().ToArray();
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        using var llm = new LlmRecommender(tiny, ism, new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset)), PromptBuilder.Histories(split, false));
        var dsmOptions = new DsmOptions { Batch = 64, Monitor = "score" };
        var protocol = new RecordingProtocol(train, dsmOptions);
        var options = new BdlmOptions { Rounds = 2, DsmFresh = true };

        using (var without = new BdlmTrainer(options, dsmOptions))
        {
            var e = Assert.Throws<InvalidOperationException>(() => without.Run(dsm, llm, protocol));
            Assert.Contains("dsm_fresh", e.Message);
            Assert.Empty(protocol.PhaseStarts);
        }
        using var trainer = new BdlmTrainer(options, dsmOptions) { InitialDsm = initial };
        var result = trainer.Run(dsm, llm, protocol);

        Assert.Equal(2, protocol.PhaseStarts.Count);
        Assert.All(protocol.PhaseStarts, start => Assert.Equal(initialItems, start));
        // Round 0 stays the best (the protocol says so): the run ends on stage 0, and the initial state is untouched.
        Assert.Equal(0, result.BestDsmRound);
        Assert.Equal(stage0, ism.Items.detach().data<float>().ToArray());
        Assert.Equal(initialItems, initial.Ism.Items.data<float>().ToArray());
    }

    [Fact]
    public void AFreshDsmPhaseRunsAtTheDsmsOwnSettings()
    {
        var split = BdlmTrainerTests.Subset(20);
        var dsmOptions = new DsmOptions { Epochs = 300, Lr = 0.005, Patience = 7, EvalEvery = 10, Seed = 3, Monitor = "hr@10" };
        var fresh = new RankingProtocol(split, _ => new Dictionary<string, double>(), "hr@10", new BdlmOptions { DsmFresh = true }, dsmOptions).DsmPhaseOptions(2);
        Assert.Equal(dsmOptions with { Seed = 2003 }, fresh);
        var continued = new RankingProtocol(split, _ => new Dictionary<string, double>(), "hr@10", new BdlmOptions { DsmFresh = false }, dsmOptions).DsmPhaseOptions(2);
        Assert.Equal(20, continued.Epochs);
        Assert.Equal(0.0005, continued.Lr, 12);

        var rate = new RankingProtocol(split, _ => new Dictionary<string, double>(), "hr@10", new BdlmOptions { DsmFresh = true, DsmLr = 0.001 }, dsmOptions).DsmPhaseOptions(1);
        Assert.Equal(dsmOptions with { Seed = 1003, Lr = 0.001 }, rate);
    }
}
