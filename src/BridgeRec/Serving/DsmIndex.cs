using System.Numerics.Tensors;

namespace BridgeRec.Serving;

/// <summary>
/// The domain model's serving form: its final user and item vectors as contiguous float matrices
/// (row-major, computed once at load), an optional item bias, and top-k by <see cref="TopK"/>. It needs
/// no torch at request time and is safe to use from many threads at once: it is read-only, and the
/// score buffer is per thread.
/// </summary>
public sealed class DsmIndex
{
    readonly float[] _users, _items, _bias;
    readonly bool _sameForAll;

    [ThreadStatic] static float[]? t_scores;

    public int NumUsers { get; }
    public int NumItems { get; }
    public int Dim { get; }

    /// <param name="users">[numUsers, dim] final user vectors</param>
    /// <param name="items">[numItems, dim] final item vectors</param>
    /// <param name="bias">[numItems] added to every score, or null</param>
    /// <param name="sameForAll">every user gets the same list (popularity): a new user's vector is the first user's, not a fold-in of its history</param>
    public DsmIndex(float[] users, float[] items, float[]? bias, int dim, bool sameForAll = false)
    {
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
    }

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

    /// <summary>Top items for any user vector (a folded-in new user).</summary>
    public int RecommendFor(ReadOnlySpan<float> vector, ReadOnlySpan<int> excludedSorted, Span<int> topItems, Span<float> topScores)
    {
        if (vector.Length != Dim) throw new ArgumentException($"the user vector has {vector.Length} entries; expected {Dim}", nameof(vector));
        var scores = t_scores is { } s && s.Length >= NumItems ? s : t_scores = new float[NumItems];
        var row = scores.AsSpan(0, NumItems);
        TopK.Scores(vector, _items, _bias, row);
        return TopK.Select(row, excludedSorted, topItems, topScores);
    }

    /// <summary>
    /// A new user's vector from its history: the mean of the final vectors of its items (repeats count
    /// as often as they occur). With dot-product scoring this ranks items by their mean affinity to the
    /// history. For a same-for-all model (popularity) it is the shared user vector.
    /// </summary>
    public void FoldIn(ReadOnlySpan<int> history, Span<float> vector)
    {
        if (vector.Length != Dim) throw new ArgumentException($"the vector has {vector.Length} entries; expected {Dim}", nameof(vector));
        if (_sameForAll) { UserRow(0).CopyTo(vector); return; }
        if (history.IsEmpty) throw new ArgumentException("a history to fold in needs at least one item", nameof(history));
        vector.Clear();
        foreach (int item in history)
        {
            if ((uint)item >= (uint)NumItems) throw new ArgumentOutOfRangeException(nameof(history), item, $"item index outside 0..{NumItems - 1}");
            TensorPrimitives.Add(vector, ItemRow(item), vector);
        }
        TensorPrimitives.Multiply(vector, 1f / history.Length, vector);
    }

    static void CheckFinite(float[] values, string what, int dim)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i]))
                throw new InvalidDataException($"the {what} vectors hold a non-finite value ({values[i]}) in row {i / dim}: the checkpoint is broken");
    }
}
