using BridgeRec.Data;
using BridgeRec.Evaluation;
using static BridgeRec.Tests.Evaluation.NaiveReference;

namespace BridgeRec.Tests.Evaluation;

public class RankingEvaluatorTests
{
    const double Tol = 1e-12;
    static readonly double L3 = 1 / Math.Log2(3); // 0.63093

    // 5 users x 6 items, hand-made.
    static readonly float[][] Scores =
    [
        [0.9f, 0.8f, 0.5f, 0.5f, 0.1f, 0.0f], // u0: train {0}, test {3, 5}; tie 0.5 between items 2 and 3
        [0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f], // u1: no train, test {0, 1, 2, 3} (more test items than K); all tied
        [0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f], // u2: train {1}, no test -> skipped
        [5.0f, 0.2f, 0.1f, 0.4f, 0.3f, 0.0f], // u3: train {0} scored highest, test {4}
        [0.1f, 0.2f, 0.9f, 0.3f, 0.4f, 0.8f], // u4: train {2}, test {2, 5}: item 2 is relevant but excluded
    ];

    static readonly Interactions Train = Pairs((0, 0), (2, 1), (3, 0), (4, 2));
    static readonly Interactions Test = Pairs((0, 3), (0, 5), (1, 0), (1, 1), (1, 2), (1, 3), (3, 4), (4, 2), (4, 5));

    static RankingEvaluator Evaluator(bool exclude = true, int margin = 16, int[]? ks = null) =>
        new(new UserItemIndex(5, 6, Test), exclude ? new UserItemIndex(5, 6, Train) : null,
            new RankingOptions { Ks = ks ?? [2, 3], BatchSize = 2, TieMargin = margin });

    static double At(EvaluationResult r, int user, string metric) =>
        r.PerCase(metric)[r.CaseUsers.ToList().IndexOf(user)];

    [Theory]
    [InlineData(16, 0)] // topk takes every item: exact directly
    [InlineData(1, 1)]  // one extra candidate: only u1, whose ties run past it, takes the exact slow path
    [InlineData(0, 4)]  // no margin: the cut can never be certified, every user takes the slow path
    public void HandComputedFullRanking(int margin, int expectedFallbacks)
    {
        var r = Evaluator(margin: margin).Evaluate(Scorer(Scores));

        // u2 has no test items: skipped, not counted.
        Assert.Equal([0, 1, 3, 4], r.CaseUsers);
        Assert.Equal(4, r.UsersEvaluated);

        // u0: ranking without item 0 = 1 (0.8), 2 (0.5), 3 (0.5), 4, 5; the 0.5 tie goes to the lower index, item 2.
        //   K=2: top [1, 2], no hit. K=3: item 3 at position 2: recall 1/2, precision 1/3,
        //   NDCG = (1/log2 4) / (1 + 1/log2 3) = 0.5 / 1.63093 = 0.30657. MRR: item 3 at rank 3 -> 1/3.
        Assert.Equal([1, 2, 3], r.CaseTopItems[0]);
        Assert.Equal(0.0, At(r, 0, "recall@2"));
        Assert.Equal(0.0, At(r, 0, "hr@2"));
        Assert.Equal(0.5, At(r, 0, "recall@3"), Tol);
        Assert.Equal(1.0 / 3, At(r, 0, "precision@3"), Tol);
        Assert.Equal(0.5 / (1 + L3), At(r, 0, "ndcg@3"), Tol);
        Assert.Equal(1.0 / 3, At(r, 0, "mrr"), Tol);

        // u1: all scores tied -> items in index order 0, 1, 2 ...; 4 test items, K = 2:
        //   both top items hit but recall = 2/4; NDCG = 1 (IDCG over min(4, 2) = 2 positions).
        //   K = 3: recall 3/4, NDCG 1, precision 1. MRR 1.
        Assert.Equal([0, 1, 2], r.CaseTopItems[1]);
        Assert.Equal(0.5, At(r, 1, "recall@2"), Tol);
        Assert.Equal(1.0, At(r, 1, "ndcg@2"), Tol);
        Assert.Equal(1.0, At(r, 1, "precision@2"), Tol);
        Assert.Equal(0.75, At(r, 1, "recall@3"), Tol);
        Assert.Equal(1.0, At(r, 1, "ndcg@3"), Tol);
        Assert.Equal(1.0, At(r, 1, "mrr"), Tol);

        // u3: item 0 (score 5.0) is a train item and must not appear: ranking 3 (0.4), 4 (0.3), 1, 2, 5.
        //   K=2: hit at position 1: recall 1, precision 1/2, NDCG = (1/log2 3) / 1 = 0.63093. MRR 1/2.
        Assert.DoesNotContain(0, r.CaseTopItems[2]);
        Assert.Equal([3, 4, 1], r.CaseTopItems[2]);
        Assert.Equal(1.0, At(r, 3, "recall@2"), Tol);
        Assert.Equal(0.5, At(r, 3, "precision@2"), Tol);
        Assert.Equal(L3, At(r, 3, "ndcg@2"), Tol);
        Assert.Equal(0.5, At(r, 3, "mrr"), Tol);

        // u4: relevant item 2 is excluded (a certain miss that still counts): ranking 5 (0.8), 4, 3, 1, 0.
        //   K=2: recall 1/2, precision 1/2, NDCG = 1 / (1 + 0.63093) = 0.61315; K=3 NDCG the same
        //   (IDCG over min(2, 3) = 2). MRR 1.
        Assert.Equal([5, 4, 3], r.CaseTopItems[3]);
        Assert.Equal(0.5, At(r, 4, "recall@2"), Tol);
        Assert.Equal(1 / (1 + L3), At(r, 4, "ndcg@2"), Tol);
        Assert.Equal(1 / (1 + L3), At(r, 4, "ndcg@3"), Tol);
        Assert.Equal(1.0, At(r, 4, "mrr"), Tol);
        Assert.Equal(1, r.ExcludedRelevantPairs);

        // Means over the 4 users:
        //   recall@2 = (0 + 0.5 + 1 + 0.5) / 4 = 0.5
        //   ndcg@2 = (0 + 1 + 0.63093 + 0.61315) / 4 = 0.56102
        //   mrr = (1/3 + 1 + 1/2 + 1) / 4 = 0.70833
        Assert.Equal(0.5, r["recall@2"], Tol);
        Assert.Equal((1 + L3 + 1 / (1 + L3)) / 4, r["ndcg@2"], Tol);
        Assert.Equal((1.0 / 3 + 1 + 0.5 + 1) / 4, r["mrr"], Tol);
        Assert.Equal(expectedFallbacks, r.TieFallbackUsers);
    }

    [Fact]
    public void MrrCountsTheFullRankingBeyondK()
    {
        // K = 1, no margin: u0's first relevant item (3) is outside the top list; its rank is counted on the
        // score tensor: items scoring above 0.5 (item 1; item 0 is excluded) + items tied at 0.5 with a lower
        // index (item 2) = 2 ahead -> rank 3 -> MRR 1/3. u3: rank 2 -> 1/2.
        var r = Evaluator(margin: 0, ks: [1]).Evaluate(Scorer(Scores));
        Assert.Equal(1.0 / 3, At(r, 0, "mrr"), Tol);
        Assert.Equal(0.5, At(r, 3, "mrr"), Tol);
        Assert.Equal(0.0, At(r, 0, "hr@1"));
        Assert.Equal(1.0, At(r, 4, "hr@1"));
    }

    [Fact]
    public void WithoutExclusionHistoryItemsAreRanked()
    {
        var r = Evaluator(exclude: false).Evaluate(Scorer(Scores));
        // u3: item 0 now leads: ranking 0 (5.0), 3 (0.4), 4 (0.3), ...: item 4 drops to position 2.
        //   K=2: top [0, 3], no hit; K=3: hit at position 2. MRR 1/3.
        Assert.Equal([0, 3, 4], r.CaseTopItems[2]);
        Assert.Equal(0.0, At(r, 3, "hr@2"));
        Assert.Equal(1.0, At(r, 3, "hr@3"));
        Assert.Equal(1.0 / 3, At(r, 3, "mrr"), Tol);
        // u4: item 2 is rankable again and first: top [2, 5], recall@2 = 2/2, NDCG 1.
        Assert.Equal(1.0, At(r, 4, "recall@2"), Tol);
        Assert.Equal(1.0, At(r, 4, "ndcg@2"), Tol);
        Assert.Equal(0, r.ExcludedRelevantPairs);
    }

    [Fact]
    public void SubsetOfUsersAndDictionaryKeys()
    {
        var r = Evaluator().Evaluate(Scorer(Scores), users: [3, 2]); // 2 has no test items: skipped
        Assert.Equal([3], r.CaseUsers);
        var d = r.ToDictionary();
        Assert.Equal(["recall@2", "ndcg@2", "precision@2", "hr@2", "recall@3", "ndcg@3", "precision@3", "hr@3", "mrr"], d.Keys);
        Assert.Equal(1.0, d["recall@2"]);
        Assert.Contains("recall@2=1.0000", r.Summary);
        Assert.Contains("mrr", r.ToTable());
    }

    [Fact]
    public void Float64ScoresRankTheSame()
    {
        // float64 tensors take the converted (non in-place) path for the MRR count; K = 1 forces that count.
        var ev = Evaluator(ks: [1]);
        var f32 = ev.Evaluate(Scorer(Scores));
        var f64 = ev.Evaluate(users => Scorer(Scores)(users).to(TorchSharp.torch.ScalarType.Float64));
        Assert.Equal(f32.ToDictionary(), f64.ToDictionary());
        Assert.Equal(1.0 / 3, At(f64, 0, "mrr"), Tol);
    }

    [Fact]
    public void NaNScoresAndWrongShapesAreRejected()
    {
        var nan = Scores.Select(row => row.ToArray()).ToArray();
        nan[3][4] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => Evaluator().Evaluate(Scorer(nan)));
        Assert.Contains("user 3", e.Message);
        nan[3][4] = 0; nan[3][0] = float.NaN; // a NaN in an excluded position is harmless
        Evaluator().Evaluate(Scorer(nan));
        Assert.Throws<ArgumentException>(() => Evaluator().Evaluate(users => TorchSharp.torch.zeros(users.Length, 5)));
    }

    [Theory]
    [InlineData(false, 16, true)]
    [InlineData(true, 16, true)]
    [InlineData(true, 0, true)]
    [InlineData(true, 3, false)]
    [InlineData(false, 0, false)]
    public void BatchedEvaluatorMatchesNaiveReference(bool quantized, int margin, bool exclude)
    {
        const int numUsers = 200, numItems = 300;
        var rng = new Random(quantized ? 11 : 7);
        var scores = new float[numUsers][];
        for (int u = 0; u < numUsers; u++)
        {
            scores[u] = new float[numItems];
            for (int i = 0; i < numItems; i++)
                scores[u][i] = quantized ? rng.Next(8) / 8f : (float)rng.NextDouble();
        }
        if (quantized)
        {
            // A few infinite scores: they take the exact slow path and must still rank right.
            for (int j = 0; j < 40; j++) scores[rng.Next(numUsers)][rng.Next(numItems)] = float.NegativeInfinity;
            for (int j = 0; j < 10; j++) scores[rng.Next(numUsers)][rng.Next(numItems)] = float.PositiveInfinity;
        }
        var train = new InteractionsBuilder();
        var test = new InteractionsBuilder();
        for (int u = 0; u < numUsers; u++)
        {
            int nTrain = u == 7 ? 295 : rng.Next(0, 60); // user 7 keeps only 5 rankable items (< K)
            int nTest = u == 7 ? 3 : rng.Next(0, 15);    // some users get none: skipped
            var items = Enumerable.Range(0, numItems).OrderBy(_ => rng.Next()).Take(nTrain + nTest).ToArray();
            for (int j = 0; j < nTrain; j++) train.Add(u, items[j]);
            for (int j = nTrain; j < nTrain + nTest; j++) test.Add(u, items[j]);
            if (u % 10 == 0 && nTrain > 0 && nTest > 0) test.Add(u, items[0]); // a relevant item that is also excluded
        }
        var trainIdx = new UserItemIndex(numUsers, numItems, train.Build());
        var testIdx = new UserItemIndex(numUsers, numItems, test.Build());
        int[] ks = [5, 10, 20];
        var evaluator = new RankingEvaluator(testIdx, exclude ? trainIdx : null,
            new RankingOptions { Ks = ks, BatchSize = 64, TieMargin = margin });

        var result = evaluator.Evaluate(Scorer(scores));

        var expectedUsers = Enumerable.Range(0, numUsers).Where(u => testIdx.CountOf(u) > 0).ToArray();
        Assert.Equal(expectedUsers, result.CaseUsers);
        foreach (string name in result.MetricNames) Assert.Equal(expectedUsers.Length, result.PerCase(name).Count);
        var sums = result.MetricNames.ToDictionary(n => n, _ => 0.0);
        for (int c = 0; c < expectedUsers.Length; c++)
        {
            int u = expectedUsers[c];
            var ranking = Rank(scores[u], exclude ? trainIdx.ItemsOf(u).ToArray() : []);
            var expected = Metrics(ranking, testIdx.ItemsOf(u).ToArray().ToHashSet(), ks);
            Assert.Equal(ranking.Take(20), result.CaseTopItems[c]);
            foreach (var (name, value) in expected)
            {
                Assert.True(Math.Abs(value - result.PerCase(name)[c]) <= 1e-9,
                    $"user {u} {name}: expected {value}, got {result.PerCase(name)[c]}");
                sums[name] += value;
            }
        }
        foreach (var (name, sum) in sums) Assert.Equal(sum / expectedUsers.Length, result[name], 1e-9);
        if (quantized && margin == 0) Assert.True(result.TieFallbackUsers > 0);
    }
}
