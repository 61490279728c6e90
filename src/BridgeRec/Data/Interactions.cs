namespace BridgeRec.Data;

/// <summary>
/// A column store of (user, item[, timestamp][, rating]) interactions with contiguous ids.
/// Timestamps are any increasing order key (unix seconds, or the position in a sequence).
/// </summary>
public sealed class Interactions
{
    public int[] Users { get; }
    public int[] Items { get; }
    public long[]? Timestamps { get; }
    public float[]? Ratings { get; }
    public int Count => Users.Length;

    public Interactions(int[] users, int[] items, long[]? timestamps = null, float[]? ratings = null)
    {
        if (users.Length != items.Length) throw new ArgumentException("users and items differ in length");
        if (timestamps is not null && timestamps.Length != users.Length) throw new ArgumentException("timestamps differ in length");
        if (ratings is not null && ratings.Length != users.Length) throw new ArgumentException("ratings differ in length");
        Users = users; Items = items; Timestamps = timestamps; Ratings = ratings;
    }

    public static Interactions Empty { get; } = new([], []);

    /// <summary>The rows at <paramref name="rows"/>, in that order.</summary>
    public Interactions Select(IReadOnlyList<int> rows)
    {
        int n = rows.Count;
        var u = new int[n]; var i = new int[n];
        long[]? t = Timestamps is null ? null : new long[n];
        float[]? r = Ratings is null ? null : new float[n];
        for (int k = 0; k < n; k++)
        {
            int row = rows[k];
            u[k] = Users[row]; i[k] = Items[row];
            if (t is not null) t[k] = Timestamps![row];
            if (r is not null) r[k] = Ratings![row];
        }
        return new Interactions(u, i, t, r);
    }

    public Interactions Where(Func<int, bool> keepRow)
    {
        var rows = new List<int>(Count);
        for (int k = 0; k < Count; k++) if (keepRow(k)) rows.Add(k);
        return Select(rows);
    }

    public static Interactions Concat(params Interactions[] parts)
    {
        int n = parts.Sum(p => p.Count);
        bool hasT = parts.All(p => p.Timestamps is not null || p.Count == 0) && parts.Any(p => p.Timestamps is not null);
        bool hasR = parts.All(p => p.Ratings is not null || p.Count == 0) && parts.Any(p => p.Ratings is not null);
        var b = new InteractionsBuilder(n);
        foreach (var p in parts)
            for (int k = 0; k < p.Count; k++)
                b.Add(p.Users[k], p.Items[k], hasT ? p.Timestamps![k] : null, hasR ? p.Ratings![k] : null);
        return b.Build();
    }

    /// <summary>Row indices grouped by user (each group in row order).</summary>
    public int[][] RowsByUser(int numUsers)
    {
        var counts = new int[numUsers];
        foreach (int u in Users) counts[u]++;
        var groups = new int[numUsers][];
        for (int u = 0; u < numUsers; u++) groups[u] = new int[counts[u]];
        Array.Clear(counts);
        for (int k = 0; k < Count; k++) { int u = Users[k]; groups[u][counts[u]++] = k; }
        return groups;
    }
}

/// <summary>Accumulates interactions; timestamp and rating columns exist when any row has them.</summary>
public sealed class InteractionsBuilder(int capacity = 0)
{
    readonly List<int> _u = new(capacity), _i = new(capacity);
    List<long>? _t;
    List<float>? _r;

    public int Count => _u.Count;

    public void Add(int user, int item, long? timestamp = null, float? rating = null)
    {
        if (timestamp is not null) (_t ??= Backfill<long>(0))?.Add(timestamp.Value);
        else _t?.Add(0);
        if (rating is not null) (_r ??= Backfill(float.NaN))?.Add(rating.Value);
        else _r?.Add(float.NaN);
        _u.Add(user); _i.Add(item);
    }

    List<T> Backfill<T>(T value)
    {
        var list = new List<T>(Math.Max(capacity, _u.Count + 1));
        for (int k = 0; k < _u.Count; k++) list.Add(value);
        return list;
    }

    public Interactions Build() => new(_u.ToArray(), _i.ToArray(), _t?.ToArray(), _r?.ToArray());
}
