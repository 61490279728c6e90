namespace BridgeRec.Evaluation;

/// <summary>
/// The ranking metrics of one ranked list (distinct items, best first) against a set of relevant
/// items, written once and used by every protocol. Each metric is a function of the hit mask
/// (<c>hits[p]</c> = the item at 0-based position p is relevant), the number of relevant items and
/// the cut-off K:
/// <list type="bullet">
/// <item>Recall@K = hits in the first K / |relevant|.</item>
/// <item>Precision@K = hits in the first K / K (K, not the list length, even when the list is shorter).</item>
/// <item>HR@K = 1 when any relevant item is in the first K, else 0.</item>
/// <item>NDCG@K = DCG / IDCG with DCG = sum over hit positions p &lt; K of 1 / log2(p + 2) and
/// IDCG = sum over p &lt; min(|relevant|, K) of 1 / log2(p + 2).</item>
/// <item>RR@K = 1 / (p + 1) for the first hit position p &lt; K, else 0; without K, the whole list
/// passed is considered (MRR is the mean of RR over users).</item>
/// </list>
/// Metrics that divide by |relevant| are undefined for a user with no relevant items: such users
/// are skipped by the evaluators and rejected here.
/// </summary>
public static class RankingMetrics
{
    /// <summary>The discount of 0-based position p: 1 / log2(p + 2).</summary>
    public static double Discount(int position) => 1.0 / Math.Log2(position + 2);

    /// <summary>The hit mask of a ranked list: <c>hits[p]</c> is true when <c>ranked[p]</c> is relevant. Relevant items may be in any order.</summary>
    public static bool[] Hits(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant)
    {
        var hits = new bool[ranked.Length];
        FillHits(ranked, SortedDistinct(relevant), hits);
        return hits;
    }

    /// <summary>Hit mask against relevant items already sorted ascending (as <see cref="Data.UserItemIndex"/> stores them).</summary>
    internal static void FillHits(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevantSorted, Span<bool> hits)
    {
        for (int p = 0; p < ranked.Length; p++) hits[p] = relevantSorted.BinarySearch(ranked[p]) >= 0;
    }

    /// <summary>Number of hits among the first <paramref name="k"/> positions.</summary>
    public static int HitsAt(ReadOnlySpan<bool> hits, int k)
    {
        CheckK(k);
        int n = Math.Min(k, hits.Length), count = 0;
        for (int p = 0; p < n; p++) if (hits[p]) count++;
        return count;
    }

    public static double Recall(ReadOnlySpan<bool> hits, int numRelevant, int k)
    {
        CheckRelevant(numRelevant);
        return (double)HitsAt(hits, k) / numRelevant;
    }

    public static double Precision(ReadOnlySpan<bool> hits, int k) => (double)HitsAt(hits, k) / k;

    public static double HitRate(ReadOnlySpan<bool> hits, int k) => HitsAt(hits, k) > 0 ? 1.0 : 0.0;

    public static double Ndcg(ReadOnlySpan<bool> hits, int numRelevant, int k)
    {
        CheckRelevant(numRelevant);
        CheckK(k);
        double dcg = 0, idcg = 0;
        int n = Math.Min(k, hits.Length);
        for (int p = 0; p < n; p++) if (hits[p]) dcg += Discount(p);
        int ideal = Math.Min(numRelevant, k);
        for (int p = 0; p < ideal; p++) idcg += Discount(p);
        return dcg / idcg;
    }

    /// <summary>1 / (p + 1) for the first hit position p within the first <paramref name="k"/> (default: the whole list), else 0.</summary>
    public static double ReciprocalRank(ReadOnlySpan<bool> hits, int k = int.MaxValue)
    {
        CheckK(k);
        int n = Math.Min(k, hits.Length);
        for (int p = 0; p < n; p++) if (hits[p]) return 1.0 / (p + 1);
        return 0.0;
    }

    // Conveniences over (ranked list, relevant items): the same definitions through the hit mask.

    public static double Recall(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k) =>
        Recall(Hits(ranked, relevant), SortedDistinct(relevant).Length, k);

    public static double Precision(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k) => Precision(Hits(ranked, relevant), k);

    public static double HitRate(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k) => HitRate(Hits(ranked, relevant), k);

    public static double Ndcg(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k) =>
        Ndcg(Hits(ranked, relevant), SortedDistinct(relevant).Length, k);

    public static double ReciprocalRank(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k = int.MaxValue) =>
        ReciprocalRank(Hits(ranked, relevant), k);

    static int[] SortedDistinct(ReadOnlySpan<int> items)
    {
        var a = items.ToArray();
        Array.Sort(a);
        int n = 0;
        for (int i = 0; i < a.Length; i++) if (n == 0 || a[i] != a[n - 1]) a[n++] = a[i];
        return n == a.Length ? a : a[..n];
    }

    static void CheckK(int k)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "the cut-off K must be positive");
    }

    static void CheckRelevant(int numRelevant)
    {
        if (numRelevant <= 0)
            throw new ArgumentOutOfRangeException(nameof(numRelevant), numRelevant,
                "the metric is undefined without relevant items (evaluators skip such users)");
    }
}
