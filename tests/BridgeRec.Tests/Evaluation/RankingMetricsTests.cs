using BridgeRec.Evaluation;

namespace BridgeRec.Tests.Evaluation;

public class RankingMetricsTests
{
    const double Tol = 1e-12;
    static readonly double L3 = 1 / Math.Log2(3); // discount of position 1: 0.6309297535714574
    static readonly double L4 = 1 / Math.Log2(4); // discount of position 2: 0.5
    static readonly double L6 = 1 / Math.Log2(6); // discount of position 4: 0.3868528072345416

    [Fact]
    public void HandComputedListWithTwoHitsOfThree()
    {
        int[] ranked = [10, 3, 7, 5, 9];
        int[] relevant = [42, 9, 3]; // any order; 42 is never ranked
        // hits at positions 1 (item 3) and 4 (item 9)
        // K = 3: one hit. recall = 1/3, precision = 1/3, HR = 1
        //   DCG = 1/log2(1+2) = 0.63093; IDCG over min(3, 3) = 3 positions = 1 + 0.63093 + 0.5 = 2.13093
        //   NDCG = 0.63093 / 2.13093 = 0.29608
        Assert.Equal(1.0 / 3, RankingMetrics.Recall(ranked, relevant, 3), Tol);
        Assert.Equal(1.0 / 3, RankingMetrics.Precision(ranked, relevant, 3), Tol);
        Assert.Equal(1.0, RankingMetrics.HitRate(ranked, relevant, 3), Tol);
        Assert.Equal(L3 / (1 + L3 + L4), RankingMetrics.Ndcg(ranked, relevant, 3), Tol);
        Assert.Equal(0.29608, RankingMetrics.Ndcg(ranked, relevant, 3), 5);
        // K = 5: two hits. recall = 2/3, precision = 2/5
        //   DCG = 0.63093 + 1/log2(4+2) = 0.63093 + 0.38685 = 1.01778; IDCG = 2.13093; NDCG = 0.47762
        Assert.Equal(2.0 / 3, RankingMetrics.Recall(ranked, relevant, 5), Tol);
        Assert.Equal(2.0 / 5, RankingMetrics.Precision(ranked, relevant, 5), Tol);
        Assert.Equal((L3 + L6) / (1 + L3 + L4), RankingMetrics.Ndcg(ranked, relevant, 5), Tol);
        Assert.Equal(0.47762, RankingMetrics.Ndcg(ranked, relevant, 5), 5);
        // first hit at position 1 -> RR = 1/2; within K = 1 there is none -> 0
        Assert.Equal(0.5, RankingMetrics.ReciprocalRank(ranked, relevant), Tol);
        Assert.Equal(0.0, RankingMetrics.ReciprocalRank(ranked, relevant, 1), Tol);
        Assert.Equal(0.5, RankingMetrics.ReciprocalRank(ranked, relevant, 2), Tol);
    }

    [Fact]
    public void MoreRelevantItemsThanK()
    {
        int[] ranked = [1, 2, 5];
        int[] relevant = [1, 2, 3, 4];
        // K = 2: both top items are hits, yet recall = 2/4 = 0.5 (recall divides by |relevant|)
        // DCG = 1 + 0.63093; IDCG over min(4, 2) = 2 positions = 1 + 0.63093 -> NDCG = 1
        Assert.Equal(0.5, RankingMetrics.Recall(ranked, relevant, 2), Tol);
        Assert.Equal(1.0, RankingMetrics.Precision(ranked, relevant, 2), Tol);
        Assert.Equal(1.0, RankingMetrics.Ndcg(ranked, relevant, 2), Tol);
        // K = 3: hits 1 1 0: recall 2/4, precision 2/3, DCG = 1.63093, IDCG over 3 = 2.13093 -> 0.76536
        Assert.Equal(0.5, RankingMetrics.Recall(ranked, relevant, 3), Tol);
        Assert.Equal(2.0 / 3, RankingMetrics.Precision(ranked, relevant, 3), Tol);
        Assert.Equal((1 + L3) / (1 + L3 + L4), RankingMetrics.Ndcg(ranked, relevant, 3), Tol);
    }

    [Fact]
    public void NoHitsGiveZeros()
    {
        int[] ranked = [0, 1, 2];
        int[] relevant = [7];
        Assert.Equal(0.0, RankingMetrics.Recall(ranked, relevant, 3));
        Assert.Equal(0.0, RankingMetrics.Precision(ranked, relevant, 3));
        Assert.Equal(0.0, RankingMetrics.HitRate(ranked, relevant, 3));
        Assert.Equal(0.0, RankingMetrics.Ndcg(ranked, relevant, 3));
        Assert.Equal(0.0, RankingMetrics.ReciprocalRank(ranked, relevant));
    }

    [Fact]
    public void ListShorterThanKKeepsKInPrecision()
    {
        // one rankable item, a hit; K = 5: precision = 1/5 (K, not the list length); recall 1; NDCG 1/1
        int[] ranked = [4];
        int[] relevant = [4];
        Assert.Equal(0.2, RankingMetrics.Precision(ranked, relevant, 5), Tol);
        Assert.Equal(1.0, RankingMetrics.Recall(ranked, relevant, 5), Tol);
        Assert.Equal(1.0, RankingMetrics.Ndcg(ranked, relevant, 5), Tol);
        Assert.Equal(1.0, RankingMetrics.HitRate(ranked, relevant, 5), Tol);
    }

    [Fact]
    public void SingleTargetAtRankThree()
    {
        // leave-one-out style: target at 0-based position 2 -> NDCG@K>=3 = 1/log2(4) = 0.5, RR = 1/3
        bool[] hits = [false, false, true, false];
        Assert.Equal(0.0, RankingMetrics.HitRate(hits, 2));
        Assert.Equal(1.0, RankingMetrics.HitRate(hits, 3));
        Assert.Equal(0.0, RankingMetrics.Ndcg(hits, 1, 2));
        Assert.Equal(0.5, RankingMetrics.Ndcg(hits, 1, 3), Tol);
        Assert.Equal(1.0 / 3, RankingMetrics.ReciprocalRank(hits), Tol);
        Assert.Equal(1, RankingMetrics.HitsAt(hits, 10));
    }

    [Fact]
    public void UndefinedWithoutRelevantItemsOrWithBadK()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RankingMetrics.Recall(new bool[3], 0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankingMetrics.Ndcg(new bool[3], 0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankingMetrics.Precision(new bool[3], 0));
    }

    [Fact]
    public void DuplicateRelevantItemsCountOnce()
    {
        // relevant {2, 2, 5} is the set {2, 5}: recall@1 = 1/2
        Assert.Equal(0.5, RankingMetrics.Recall([2, 9], [2, 2, 5], 1), Tol);
    }
}
