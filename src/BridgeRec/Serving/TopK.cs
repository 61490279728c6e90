using System.Numerics.Tensors;

namespace BridgeRec.Serving;

/// <summary>
/// Top-k over a contiguous row-major float item matrix, for serving: scores by SIMD dot products
/// (<see cref="TensorPrimitives"/>), then one pass that keeps the best k in a bounded heap. The order is
/// the project's one rank order (<see cref="Evaluation.RankOrder"/>): higher score first, ties broken by
/// the lower item index. Nothing is allocated: callers hand in every buffer.
/// </summary>
public static class TopK
{
    /// <summary>The largest k a caller may ask for (the serving API's limit).</summary>
    public const int MaxK = 1000;

    /// <summary>
    /// scores[i] = &lt;user, items[i]&gt; (+ bias[i] when <paramref name="bias"/> is not empty), for the
    /// <c>scores.Length</c> rows of <paramref name="items"/> ([scores.Length, user.Length], row-major).
    /// </summary>
    public static void Scores(ReadOnlySpan<float> user, ReadOnlySpan<float> items, ReadOnlySpan<float> bias, Span<float> scores)
    {
        int dim = user.Length, n = scores.Length;
        if (dim == 0) throw new ArgumentException("the user vector is empty", nameof(user));
        if (items.Length != n * dim)
            throw new ArgumentException($"the item matrix holds {items.Length} floats; expected {n} items x {dim} = {n * dim}", nameof(items));
        if (!bias.IsEmpty && bias.Length != n)
            throw new ArgumentException($"the item bias has {bias.Length} entries; expected {n}", nameof(bias));
        for (int i = 0, at = 0; i < n; i++, at += dim)
            scores[i] = TensorPrimitives.Dot(user, items.Slice(at, dim));
        if (!bias.IsEmpty) TensorPrimitives.Add(scores, bias, scores);
    }

    /// <summary>
    /// The best <c>topItems.Length</c> items of a score row, leaving out <paramref name="excludedSorted"/>
    /// (ascending item indices; repeats allowed), written best first into <paramref name="topItems"/> and
    /// <paramref name="topScores"/>. Returns how many were written: fewer than asked only when fewer items
    /// are left. NaN scores rank last.
    /// </summary>
    public static int Select(ReadOnlySpan<float> scores, ReadOnlySpan<int> excludedSorted, Span<int> topItems, Span<float> topScores)
    {
        int k = topItems.Length;
        if (topScores.Length < k) throw new ArgumentException($"topScores holds {topScores.Length} entries; topItems asks for {k}", nameof(topScores));
        if (k == 0) return 0;
        // A min-heap on rank order: the root is the worst item kept. Items come in ascending index order,
        // so a new item that ties the root ranks after it: it enters only when its score is strictly higher.
        int size = 0, e = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            while (e < excludedSorted.Length && excludedSorted[e] < i) e++;
            if (e < excludedSorted.Length && excludedSorted[e] == i) continue;
            float s = scores[i];
            if (float.IsNaN(s)) s = float.NegativeInfinity;
            if (size < k)
            {
                topItems[size] = i; topScores[size] = s;
                SiftUp(topItems, topScores, size++);
            }
            else if (s > topScores[0])
            {
                topItems[0] = i; topScores[0] = s;
                SiftDown(topItems, topScores, 0, size);
            }
        }
        // Heap sort: moving the worst to the end each time leaves the best first.
        for (int end = size - 1; end > 0; end--)
        {
            (topItems[0], topItems[end]) = (topItems[end], topItems[0]);
            (topScores[0], topScores[end]) = (topScores[end], topScores[0]);
            SiftDown(topItems, topScores, 0, end);
        }
        return size;
    }

    /// <summary>True when (sa, ia) ranks after (sb, ib): a lower score, or the same score and a higher index.</summary>
    static bool Worse(float sa, int ia, float sb, int ib) => sa < sb || (sa == sb && ia > ib);

    static void SiftUp(Span<int> items, Span<float> scores, int at)
    {
        while (at > 0)
        {
            int parent = (at - 1) >> 1;
            if (!Worse(scores[at], items[at], scores[parent], items[parent])) break;
            (items[at], items[parent]) = (items[parent], items[at]);
            (scores[at], scores[parent]) = (scores[parent], scores[at]);
            at = parent;
        }
    }

    static void SiftDown(Span<int> items, Span<float> scores, int at, int size)
    {
        while (true)
        {
            int left = 2 * at + 1, worst = at;
            if (left < size && Worse(scores[left], items[left], scores[worst], items[worst])) worst = left;
            int right = left + 1;
            if (right < size && Worse(scores[right], items[right], scores[worst], items[worst])) worst = right;
            if (worst == at) return;
            (items[at], items[worst]) = (items[worst], items[at]);
            (scores[at], scores[worst]) = (scores[worst], scores[at]);
            at = worst;
        }
    }
}
