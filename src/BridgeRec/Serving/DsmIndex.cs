using System.Numerics.Tensors;

namespace BridgeRec.Serving;

/// <summary>
/// The domain model's serving form: its final user and item vectors as contiguous float matrices
/// (row-major, computed once at load), an optional item bias, and top-k by <see cref="TopK"/>. It needs
/// no torch at request time and is safe to use from many threads at once: it is read-only, and the
/// score buffer is per thread.
/// <para>A catalog of at least <see cref="AnnOptions.Threshold"/> items also gets an HNSW index
/// (<see cref="ItemAnnIndex"/>): a request then scores only the index's candidates, exactly, in the same rank order
/// (see <see cref="RecommendFor"/>). Dispose frees that index's native memory; nothing may use the index after.</para>
/// </summary>
public sealed class DsmIndex : IDisposable
{
    readonly float[] _users, _items, _bias;
    readonly bool _sameForAll;
    readonly ItemAnnIndex? _ann;

    [ThreadStatic] static float[]? t_scores;
    [ThreadStatic] static int[]? t_candidates;

    public int NumUsers { get; }
    public int NumItems { get; }
    public int Dim { get; }

    /// <param name="users">[numUsers, dim] final user vectors</param>
    /// <param name="items">[numItems, dim] final item vectors</param>
    /// <param name="bias">[numItems] added to every score, or null</param>
    /// <param name="sameForAll">every user gets the same list (popularity): a new user's vector is the first user's, not a fold-in of its history</param>
    /// <param name="ann">when and how to build an approximate index; null: always score every item</param>
    /// <param name="encodeHistory">a sequential DSM's representation of a posted history (SASRec), used by <see cref="FoldIn"/> instead of the mean of item vectors; <paramref name="encoderOwner"/> is disposed with the index</param>
    public DsmIndex(float[] users, float[] items, float[]? bias, int dim, bool sameForAll = false, AnnOptions? ann = null,
        Func<int[], float[]>? encodeHistory = null, IDisposable? encoderOwner = null)
    {
        _encodeHistory = encodeHistory;
        _encoderOwner = encoderOwner;
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), $"dim must be >= 1 (got {dim})");
        if (users.Length == 0 || users.Length % dim != 0) throw new ArgumentException($"the user matrix has {users.Length} floats, not a positive multiple of dim {dim}", nameof(users));
        if (items.Length == 0 || items.Length % dim != 0) throw new ArgumentException($"the item matrix has {items.Length} floats, not a positive multiple of dim {dim}", nameof(items));
        Dim = dim;
        NumUsers = users.Length / dim;
        NumItems = items.Length / dim;
        if (bias is not null && bias.Length != NumItems) throw new ArgumentException($"the item bias has {bias.Length} entries; expected {NumItems}", nameof(bias));
        CheckFinite(users, "user", dim);
        CheckFinite(items, "item", dim);
        if (bias is not null) CheckFinite(bias, "item bias", 1);
        _users = users; _items = items; _bias = bias ?? []; _sameForAll = sameForAll;
        ann?.Validate();
        if (ann is not null && !sameForAll && NumItems >= ann.Threshold) _ann = ItemAnnIndex.Build(_items, _bias, dim, ann);
    }

    /// <summary>Whether requests go through the approximate index (the catalog reached the threshold).</summary>
    public bool UsesAnn => _ann is not null;

    /// <summary>The final vector of a known user.</summary>
    public ReadOnlySpan<float> UserRow(int user) => _users.AsSpan(user * Dim, Dim);

    /// <summary>The final vector of an item.</summary>
    public ReadOnlySpan<float> ItemRow(int item) => _items.AsSpan(item * Dim, Dim);

    /// <summary>Top items of a known user, best first, <paramref name="excludedSorted"/> left out; returns how many were written.</summary>
    public int Recommend(int user, ReadOnlySpan<int> excludedSorted, Span<int> topItems, Span<float> topScores)
    {
        if ((uint)user >= (uint)NumUsers) throw new ArgumentOutOfRangeException(nameof(user), user, $"user index outside 0..{NumUsers - 1}");
        return RecommendFor(UserRow(user), excludedSorted, topItems, topScores);
    }

    /// <summary>
    /// Top items for any user vector (a folded-in new user). With the approximate index, its candidates are scored
    /// exactly and ranked in the exact path's order, so the answer equals the exact one whenever the candidates hold
    /// the exact top k.
    /// </summary>
    /// <param name="candidates">ANN candidates to re-score (plus the excluded items); 0: <see cref="AnnOptions.Candidates"/>. Benchmarks sweep it over one index.</param>
    public int RecommendFor(ReadOnlySpan<float> vector, ReadOnlySpan<int> excludedSorted, Span<int> topItems, Span<float> topScores, int candidates = 0)
    {
        if (vector.Length != Dim) throw new ArgumentException($"the user vector has {vector.Length} entries; expected {Dim}", nameof(vector));
        if (candidates < 0) throw new ArgumentOutOfRangeException(nameof(candidates), candidates, "candidates must be >= 0 (0: the index's option)");
        if (_ann is not null)
        {
            // The graph search can come back short (a user who has seen nearly everything, a poorly connected region):
            // then every item is scored, which also gives the right short list when fewer than k items are unseen.
            int pool = candidates > 0 ? candidates : _ann.Options.Candidates;
            if (RecommendFromCandidates(_ann, pool, vector, excludedSorted, topItems, topScores) == topItems.Length) return topItems.Length;
        }
        return RecommendExactly(vector, excludedSorted, topItems, topScores);
    }

    /// <summary>Every item scored: the reference the approximate path is measured against.</summary>
    public int RecommendExactly(ReadOnlySpan<float> vector, ReadOnlySpan<int> excludedSorted, Span<int> topItems, Span<float> topScores)
    {
        if (vector.Length != Dim) throw new ArgumentException($"the user vector has {vector.Length} entries; expected {Dim}", nameof(vector));
        var row = ScoreBuffer(NumItems);
        TopK.Scores(vector, _items, _bias, row);
        return TopK.Select(row, excludedSorted, topItems, topScores);
    }

    int RecommendFromCandidates(ItemAnnIndex ann, int fetch, ReadOnlySpan<float> vector, ReadOnlySpan<int> excludedSorted, Span<int> topItems, Span<float> topScores)
    {
        int k = topItems.Length;
        int want = (int)Math.Min(NumItems, (long)Math.Max(fetch, k) + excludedSorted.Length);
        var keys = ann.Search(vector, want);
        var candidates = t_candidates is { } c && c.Length >= keys.Length ? c : t_candidates = new int[Math.Max(keys.Length, 256)];
        int m = 0;
        foreach (ulong key in keys)
        {
            int item = (int)key;
            if (excludedSorted.BinarySearch(item) < 0) candidates[m++] = item;
        }
        // Ascending item order, so that TopK.Select's tie rule (the lower position first) is the exact path's (the lower item first).
        var pool = candidates.AsSpan(0, m);
        pool.Sort();
        var scores = ScoreBuffer(m);
        for (int j = 0; j < m; j++)
        {
            // The same float operations as TopK.Scores: the dot product, then the bias added.
            float s = TensorPrimitives.Dot(vector, ItemRow(pool[j]));
            scores[j] = _bias.Length == 0 ? s : s + _bias[pool[j]];
        }
        int n = TopK.Select(scores, [], topItems, topScores);
        for (int i = 0; i < n; i++) topItems[i] = pool[topItems[i]];
        return n;
    }

    static Span<float> ScoreBuffer(int n) => (t_scores is { } s && s.Length >= n ? s : t_scores = new float[n]).AsSpan(0, n);

    /// <summary>
    /// A new user's vector from its history: a sequential DSM's representation of it (SASRec: the hidden state at its
    /// newest item, as for a known user), else the mean of the final vectors of its items (repeats count as often as
    /// they occur; with dot-product scoring this ranks items by their mean affinity to the history). For a
    /// same-for-all model (popularity) it is the shared user vector.
    /// </summary>
    public void FoldIn(ReadOnlySpan<int> history, Span<float> vector)
    {
        if (vector.Length != Dim) throw new ArgumentException($"the vector has {vector.Length} entries; expected {Dim}", nameof(vector));
        if (_sameForAll) { UserRow(0).CopyTo(vector); return; }
        if (history.IsEmpty) throw new ArgumentException("a history to fold in needs at least one item", nameof(history));
        if (_encodeHistory is not null)
        {
            foreach (int item in history)
                if ((uint)item >= (uint)NumItems) throw new ArgumentOutOfRangeException(nameof(history), item, $"item index outside 0..{NumItems - 1}");
            var encoded = _encodeHistory(history.ToArray());
            if (encoded.Length != Dim) throw new InvalidOperationException($"the history encoder gave {encoded.Length} values; expected {Dim}");
            encoded.CopyTo(vector);
            return;
        }
        vector.Clear();
        foreach (int item in history)
        {
            if ((uint)item >= (uint)NumItems) throw new ArgumentOutOfRangeException(nameof(history), item, $"item index outside 0..{NumItems - 1}");
            TensorPrimitives.Add(vector, ItemRow(item), vector);
        }
        TensorPrimitives.Multiply(vector, 1f / history.Length, vector);
    }

    /// <summary>Frees the approximate index's native memory; the vectors are managed memory.</summary>
    public void Dispose() { _ann?.Dispose(); _encoderOwner?.Dispose(); }

    readonly Func<int[], float[]>? _encodeHistory;
    readonly IDisposable? _encoderOwner;

    static void CheckFinite(float[] values, string what, int dim)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new InvalidDataException($"the {what} vectors hold a non-finite value ({values[i]}) in row {i / dim}: the checkpoint is broken");
    }
}
