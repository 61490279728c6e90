using BridgeRec.Data;
using BridgeRec.Evaluation;
using static BridgeRec.Tests.Evaluation.NaiveReference;

namespace BridgeRec.Tests.Evaluation;

public class SampledRankingEvaluatorTests
{
    const double Tol = 1e-12;

    [Fact]
    public void HandComputedSampledRanking()
    {
        // 2 users x 6 items. u0 has seen {1, 3}, target 3; 4 negatives wanted and exactly 4 unseen
        // items exist ({0, 2, 4, 5}), so all of them are used.
        // u0 scores: item 1 scores 9 but is seen, so it is never a candidate.
        //   list by (score desc, item asc): 2 (0.7), 0 (0.5), 3 (0.5), 4 (0.5), 5 (0.1)
        //   the tie at 0.5 puts item 0 before the target and item 4 after it -> target rank 3.
        //   HR@1 = 0, NDCG@1 = 0; HR@3 = 1, NDCG@3 = 1/log2(3+1) = 0.5; MRR = 1/3.
        // u1 has seen {5}, target 5 scores highest -> rank 1: HR 1, NDCG 1, MRR 1.
        float[][] scores =
        [
            [0.5f, 9f, 0.7f, 0.5f, 0.5f, 0.1f],
            [0f, 0f, 0f, 0f, 0f, 1f],
        ];
        var seen = new UserItemIndex(2, 6, Pairs((0, 1), (0, 3), (1, 5)));
        var evaluator = new SampledRankingEvaluator(Pairs((0, 3), (1, 5)), seen,
            new RankingOptions { Ks = [1, 3] }, numNegatives: 4, seed: 5);

        Assert.Equal([0, 2, 4, 5], evaluator.NegativesOf(0).Order());
        Assert.Equal(4, evaluator.NegativesOf(1).Count);
        Assert.DoesNotContain(5, evaluator.NegativesOf(1));

        var r = evaluator.Evaluate(Scorer(scores));
        Assert.Equal(["hr@1", "ndcg@1", "hr@3", "ndcg@3", "mrr"], r.MetricNames);
        Assert.Equal(0.0, r.PerCase("hr@1")[0]);
        Assert.Equal(0.0, r.PerCase("ndcg@1")[0]);
        Assert.Equal(1.0, r.PerCase("hr@3")[0]);
        Assert.Equal(0.5, r.PerCase("ndcg@3")[0], Tol);
        Assert.Equal(1.0 / 3, r.PerCase("mrr")[0], Tol);
        Assert.Equal([2, 0, 3], r.CaseTopItems[0]);
        Assert.Equal(1.0, r.PerCase("ndcg@1")[1], Tol);
        // means: hr@3 = (1 + 1) / 2; mrr = (1/3 + 1) / 2
        Assert.Equal(1.0, r["hr@3"], Tol);
        Assert.Equal((1.0 / 3 + 1) / 2, r["mrr"], Tol);
    }

    static (Interactions Cases, UserItemIndex Seen) RandomProblem(int numUsers, int numItems, int seed)
    {
        var rng = new Random(seed);
        var all = new InteractionsBuilder();
        var test = new InteractionsBuilder();
        for (int u = 0; u < numUsers; u++)
        {
            var items = Enumerable.Range(0, numItems).OrderBy(_ => rng.Next()).Take(rng.Next(2, 80)).ToArray();
            foreach (int i in items) all.Add(u, i); // train + validation + test
            test.Add(u, items[^1]);
            if (u % 7 == 0) test.Add(u, items[^2]); // some users have two test cases
        }
        return (test.Build(), new UserItemIndex(numUsers, numItems, all.Build()));
    }

    [Fact]
    public void SameSeedSameNegativesAndNegativesAreUnseen()
    {
        var (cases, seen) = RandomProblem(60, 500, 3);
        var a = new SampledRankingEvaluator(cases, seen, seed: 42);
        var b = new SampledRankingEvaluator(cases, seen, seed: 42);
        var c = new SampledRankingEvaluator(cases, seen, seed: 43);
        bool anyDifferent = false;
        for (int k = 0; k < a.Cases; k++)
        {
            var negs = a.NegativesOf(k);
            Assert.Equal(negs, b.NegativesOf(k));
            anyDifferent |= !negs.SequenceEqual(c.NegativesOf(k));
            Assert.Equal(99, negs.Count);
            Assert.Equal(99, negs.Distinct().Count());
            int user = cases.Users[k];
            foreach (int i in negs)
            {
                Assert.InRange(i, 0, 499);
                Assert.False(seen.Contains(user, i), $"case {k}: negative {i} was seen by user {user}");
                Assert.NotEqual(cases.Items[k], i);
            }
        }
        Assert.True(anyDifferent);

        var rng = new Random(9);
        var scores = Enumerable.Range(0, 60).Select(_ => Enumerable.Range(0, 500).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
        var ra = a.Evaluate(Scorer(scores));
        var rb = b.Evaluate(Scorer(scores));
        Assert.Equal(ra.ToDictionary(), rb.ToDictionary());
    }

    [Fact]
    public void NegativesDoNotDependOnCaseOrder()
    {
        var (cases, seen) = RandomProblem(30, 400, 4);
        var forward = new SampledRankingEvaluator(cases, seen, seed: 1);
        var reversedRows = Enumerable.Range(0, cases.Count).Reverse().ToArray();
        var backward = new SampledRankingEvaluator(cases.Select(reversedRows), seen, seed: 1);
        for (int k = 0; k < cases.Count; k++)
            Assert.Equal(forward.NegativesOf(k), backward.NegativesOf(cases.Count - 1 - k));
    }

    [Fact]
    public void ScarceUnseenItemsAreAllUsed()
    {
        // user 0 has seen 196 of 200 items (target 0 among them): only 4 unseen remain.
        var seenPairs = Enumerable.Range(0, 196).Select(i => (0, i)).ToArray();
        var evaluator = new SampledRankingEvaluator(Pairs((0, 0)), new UserItemIndex(1, 200, Pairs(seenPairs)));
        Assert.Equal([196, 197, 198, 199], evaluator.NegativesOf(0).Order());
    }

    [Theory]
    [InlineData(200)]  // scarce branch: partial Fisher-Yates over the unseen list
    [InlineData(1000)] // plentiful branch: rejection sampling
    public void NegativesAreRoughlyUniform(int numItems)
    {
        // 2,000 users with no history, target 0 each: each other item is drawn with probability 99 / (n - 1).
        const int users = 2000;
        var cases = Pairs(Enumerable.Range(0, users).Select(u => (u, 0)).ToArray());
        var evaluator = new SampledRankingEvaluator(cases, new UserItemIndex(users, numItems, Pairs(Enumerable.Range(0, users).Select(u => (u, 0)).ToArray())), seed: 3);
        var counts = new int[numItems];
        for (int k = 0; k < users; k++) foreach (int i in evaluator.NegativesOf(k)) counts[i]++;
        double expected = users * 99.0 / (numItems - 1);
        Assert.Equal(0, counts[0]);
        for (int i = 1; i < numItems; i++) Assert.InRange(counts[i], expected * 0.6, expected * 1.4);
    }

    [Fact]
    public void MatchesNaiveReferenceWithTies()
    {
        var (cases, seen) = RandomProblem(80, 300, 5);
        var rng = new Random(6);
        var scores = Enumerable.Range(0, 80).Select(_ => Enumerable.Range(0, 300).Select(_ => rng.Next(6) / 6f).ToArray()).ToArray();
        int[] ks = [5, 10, 20];
        var evaluator = new SampledRankingEvaluator(cases, seen, new RankingOptions { Ks = ks, BatchSize = 16 }, seed: 8);
        var r = evaluator.Evaluate(Scorer(scores));
        Assert.Equal(cases.Count, r.Cases);
        for (int k = 0; k < cases.Count; k++)
        {
            int u = cases.Users[k], t = cases.Items[k];
            float st = scores[u][t];
            int ahead = evaluator.NegativesOf(k).Count(i => scores[u][i] > st || (scores[u][i] == st && i < t));
            int rank = ahead + 1;
            foreach (int K in ks)
            {
                Assert.Equal(rank <= K ? 1.0 : 0.0, r.PerCase($"hr@{K}")[k]);
                Assert.Equal(rank <= K ? 1 / Math.Log2(rank + 1) : 0.0, r.PerCase($"ndcg@{K}")[k], 1e-9);
            }
            Assert.Equal(1.0 / rank, r.PerCase("mrr")[k], 1e-9);
        }
    }
}
