namespace BridgeRec.Evaluation;

/// <summary>
/// The one ordering every protocol ranks by: score descending, ties broken by the lower item
/// index. Scores are compared exactly (float32 scores are widened to double, which is exact), so
/// the order is deterministic whatever order torch.topk returns tied items in.
/// </summary>
public static class RankOrder
{
    /// <summary>True when (scoreA, itemA) ranks before (scoreB, itemB).</summary>
    public static bool Before(double scoreA, int itemA, double scoreB, int itemB) =>
        scoreA > scoreB || (scoreA == scoreB && itemA < itemB);

    /// <summary>Sorts candidates in place into rank order (best first).</summary>
    public static void Sort(Span<double> scores, Span<int> items)
    {
        // Insertion sort: candidate lists are short (max K + a margin, or 100) and nearly sorted.
        for (int a = 1; a < scores.Length; a++)
        {
            double s = scores[a];
            int it = items[a];
            int b = a - 1;
            while (b >= 0 && Before(s, it, scores[b], items[b]))
            {
                scores[b + 1] = scores[b];
                items[b + 1] = items[b];
                b--;
            }
            scores[b + 1] = s;
            items[b + 1] = it;
        }
    }

    /// <summary>
    /// The exact top <paramref name="length"/> of a full score row over the items not in
    /// <paramref name="excludedSorted"/>: the reference the fast path must agree with.
    /// </summary>
    public static int[] TopOfRow(ReadOnlySpan<double> row, ReadOnlySpan<int> excludedSorted, int length)
    {
        var items = new List<int>(row.Length);
        for (int i = 0; i < row.Length; i++)
            if (excludedSorted.BinarySearch(i) < 0) items.Add(i);
        var arr = items.ToArray();
        var keys = new double[arr.Length];
        for (int j = 0; j < arr.Length; j++) keys[j] = row[arr[j]];
        // Array.Sort is not stable, so order by the full key (score desc, item asc) explicitly.
        var order = new int[arr.Length];
        for (int j = 0; j < order.Length; j++) order[j] = j;
        Array.Sort(order, (x, y) => Before(keys[x], arr[x], keys[y], arr[y]) ? -1 : Before(keys[y], arr[y], keys[x], arr[x]) ? 1 : 0);
        int n = Math.Min(length, arr.Length);
        var top = new int[n];
        for (int j = 0; j < n; j++) top[j] = arr[order[j]];
        return top;
    }

    /// <summary>1-based rank of <paramref name="item"/> in a full score row among the items not excluded.</summary>
    public static long RankInRow(ReadOnlySpan<double> row, ReadOnlySpan<int> excludedSorted, int item)
    {
        double s = row[item];
        long ahead = 0;
        for (int i = 0; i < row.Length; i++)
            if (i != item && Before(row[i], i, s, item) && excludedSorted.BinarySearch(i) < 0) ahead++;
        return ahead + 1;
    }
}
