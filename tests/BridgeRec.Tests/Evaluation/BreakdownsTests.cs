using BridgeRec.Data;
using BridgeRec.Evaluation;
using static BridgeRec.Tests.Evaluation.NaiveReference;

namespace BridgeRec.Tests.Evaluation;

public class BreakdownsTests
{
    const double Tol = 1e-12;

    [Fact]
    public void QuartilesHaveEqualCountsSparsestFirstTiesByUserIndex()
    {
        int[] users = [10, 11, 12, 13, 14, 15, 16, 17];
        var counts = new int[18];
        (counts[10], counts[11], counts[12], counts[13], counts[14], counts[15], counts[16], counts[17]) = (5, 1, 3, 3, 8, 2, 3, 7);
        // order by (count, user): 11(1) 15(2) 12(3) 13(3) 16(3) 10(5) 17(7) 14(8)
        // 8 users / 4 -> 2 per quartile: Q1 {11, 15}, Q2 {12, 13}, Q3 {16, 10}, Q4 {17, 14}
        // (16 has the same count as 12 and 13 but the higher index, so it opens Q3)
        int[] bucket = Breakdowns.ActivityBuckets(users, counts);
        Assert.Equal([2, 0, 1, 1, 3, 0, 2, 3], bucket);

        // 10 users into 4: sizes differ by at most one (floor(j * 4 / 10): 3, 2, 3, 2)
        var ten = Breakdowns.ActivityBuckets(Enumerable.Range(0, 10).ToArray(), Enumerable.Range(0, 10).ToArray());
        Assert.Equal([0, 0, 0, 1, 1, 2, 2, 2, 3, 3], ten);
    }

    [Fact]
    public void UserActivityMeansPerQuartile()
    {
        // 4 users with training counts 1, 2, 3, 4 -> one per quartile; user 2 has two cases (sampled style).
        var result = new EvaluationResult("test", [10], ["hr@10", "mrr"],
            [[1, 0, 1, 0, 1], [1.0, 0.5, 0.25, 0.2, 0.1]],
            caseUsers: [0, 1, 2, 2, 3], caseRelevant: [[5], [6], [7], [8], [9]], caseTopItems: [[5], [1], [7], [2], [9]],
            elapsedSeconds: 0);
        var report = Breakdowns.ByUserActivity(result, [1, 2, 3, 4]);
        Assert.Equal(["Q1 (1-1)", "Q2 (2-2)", "Q3 (3-3)", "Q4 (4-4)"], report.Buckets.Select(b => b.Label));
        var q3 = report.Buckets[2];
        Assert.Equal(1, q3.Users);
        Assert.Equal(2, q3.Cases);
        // Q3 = user 2's cases: hr (1 + 0) / 2 = 0.5; mrr (0.25 + 0.2) / 2 = 0.225
        Assert.Equal(0.5, q3.Means["hr@10"], Tol);
        Assert.Equal(0.225, q3.Means["mrr"], Tol);
        Assert.Equal(0.5, report.Buckets[1].Means["mrr"], Tol);
        Assert.Contains("Q1 (1-1)", report.ToTable());
    }

    [Fact]
    public void PopularityBucketsAndLabels()
    {
        var edges = Breakdowns.DefaultPopularityEdges;
        Assert.Equal(["<=5", "6-20", "21-100", ">100"], Breakdowns.PopularityLabels(edges));
        Assert.Equal([0, 0, 1, 1, 2, 2, 3], new[] { 0, 5, 6, 20, 21, 100, 101 }.Select(c => Breakdowns.PopularityBucket(c, edges)));
    }

    [Fact]
    public void ItemPopularityRestrictsRelevanceToTheBucket()
    {
        // Training counts: item 1 -> 3, item 7 -> 4 (both cold, <= 5), item 2 -> 50 (21-100), others 200.
        var counts = Enumerable.Repeat(200, 10).ToArray();
        (counts[1], counts[7], counts[2]) = (3, 4, 50);
        // case 0: relevant {1, 2, 7}, top list [7, 5, 2]; case 1: relevant {2}, top list [0, 1, 3].
        var result = new EvaluationResult("test", [3], ["recall@3", "ndcg@3", "precision@3", "hr@3", "mrr"],
            [[2.0 / 3, 0], [0.5, 0], [2.0 / 3, 0], [1, 0], [1, 0]],
            caseUsers: [0, 1], caseRelevant: [[1, 2, 7], [2]], caseTopItems: [[7, 5, 2], [0, 1, 3]], elapsedSeconds: 0);
        var report = Breakdowns.ByItemPopularity(result, counts);
        Assert.Equal(["recall@3", "ndcg@3", "hr@3"], report.MetricNames);
        Assert.Equal(["<=5", "21-100"], report.Buckets.Select(b => b.Label));

        // cold: only case 0 with relevant {1, 7}: item 7 at position 0 -> recall 1/2, HR 1,
        //   NDCG = 1 / (1 + 1/log2 3) = 0.61315 (IDCG over min(2, 3) = 2 positions).
        var cold = report.Buckets[0];
        Assert.Equal((1, 1, 2), (cold.Users, cold.Cases, cold.Pairs));
        Assert.Equal(0.5, cold.Means["recall@3"], Tol);
        Assert.Equal(1.0, cold.Means["hr@3"], Tol);
        Assert.Equal(1 / (1 + 1 / Math.Log2(3)), cold.Means["ndcg@3"], Tol);

        // 21-100: case 0 with {2}: hit at position 2 -> recall 1, NDCG (1/log2 4) / 1 = 0.5;
        //   case 1 with {2}: miss -> 0. Means: recall 0.5, NDCG 0.25, HR 0.5.
        var mid = report.Buckets[1];
        Assert.Equal((2, 2, 2), (mid.Users, mid.Cases, mid.Pairs));
        Assert.Equal(0.5, mid.Means["recall@3"], Tol);
        Assert.Equal(0.25, mid.Means["ndcg@3"], Tol);
        Assert.Equal(0.5, mid.Means["hr@3"], Tol);
    }

    [Fact]
    public void SingleTargetBreakdownEqualsCaseMetricsGroupedByTarget()
    {
        // Leave-one-out through the full evaluator: one test item per user, the item breakdown is the
        // users' own HR / NDCG grouped by their target's bucket.
        var rng = new Random(2);
        const int numUsers = 40, numItems = 50;
        var scores = Enumerable.Range(0, numUsers).Select(_ => Enumerable.Range(0, numItems).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
        var train = new InteractionsBuilder();
        var test = new InteractionsBuilder();
        for (int u = 0; u < numUsers; u++)
        {
            var items = Enumerable.Range(0, numItems).OrderBy(_ => rng.Next()).Take(1 + rng.Next(20)).ToArray();
            for (int j = 0; j < items.Length - 1; j++) train.Add(u, items[j]);
            test.Add(u, items[^1]);
        }
        var trainRows = train.Build();
        var evaluator = new RankingEvaluator(new UserItemIndex(numUsers, numItems, test.Build()),
            new UserItemIndex(numUsers, numItems, trainRows), RankingOptions.LeaveOneOut);
        var result = evaluator.Evaluate(Scorer(scores));
        int[] itemCounts = Breakdowns.CountPerItem(trainRows, numItems);
        var report = Breakdowns.ByItemPopularity(result, itemCounts, [5, 8]);
        Assert.Equal(result.Cases, report.Buckets.Sum(b => b.Cases));
        foreach (var bucket in report.Buckets)
        {
            int b = Array.IndexOf(Breakdowns.PopularityLabels([5, 8]), bucket.Label);
            var members = Enumerable.Range(0, result.Cases)
                .Where(c => Breakdowns.PopularityBucket(itemCounts[result.CaseRelevant[c][0]], [5, 8]) == b).ToList();
            Assert.Equal(members.Count, bucket.Cases);
            foreach (string m in new[] { "hr@10", "ndcg@20" })
                Assert.Equal(members.Average(c => result.PerCase(m)[c]), bucket.Means[m], 1e-12);
        }
        var users = Breakdowns.ByUserActivity(result, trainRows, numUsers);
        Assert.Equal(4, users.Buckets.Count);
        Assert.Equal(numUsers, users.Buckets.Sum(b => b.Users));
        Assert.Equal(result["ndcg@10"], users.Buckets.Sum(b => b.Means["ndcg@10"] * b.Cases) / result.Cases, 1e-12);
    }
}
