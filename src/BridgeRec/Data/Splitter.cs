using System.Globalization;

namespace BridgeRec.Data;

/// <summary>How <see cref="Splitter.LeaveOneOut"/> orders interactions with equal timestamps.</summary>
public enum LooTieBreak
{
    /// <summary>Earlier row first (the order of the file).</summary>
    RowOrder,
    /// <summary>Smaller item index first, then earlier row (benchmarks/make_splits.py sorts by (timestamp, item)).</summary>
    Item,
}

/// <summary>
/// Splits and filters. Everything is deterministic: the random ones draw from <c>new Random(seed)</c>, visiting users
/// in index order and each user's rows in row order. Parts list their rows in the original row order.
/// <para>Duplicate (user, item) pairs are kept as they are (a loader never drops them; <see cref="UserItemIndex"/>
/// counts a pair once). Call <see cref="Dedup"/> before a random split when a repeated pair must not land in both train
/// and test.</para>
/// </summary>
public static class Splitter
{
    /// <summary>
    /// Per-user random split: a user with n &gt;= 2 interactions gives max(1, round(testRatio * n)) of them to test and
    /// round(validRatio * n) to validation (rounding half to even, like Python's round), always leaving at least one for
    /// training (validation shrinks first). Users with one interaction keep it in train.
    /// </summary>
    public static Split RatioSplit(Dataset d, double testRatio, double validRatio = 0, int seed = 2026)
    {
        if (testRatio is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(testRatio), testRatio, "must lie in (0, 1)");
        if (validRatio < 0 || testRatio + validRatio >= 1) throw new ArgumentOutOfRangeException(nameof(validRatio), validRatio, "must be >= 0 with testRatio + validRatio < 1");
        var rng = new Random(seed);
        var part = new byte[d.Interactions.Count]; // 0 train, 1 validation, 2 test
        foreach (var rows in d.Interactions.RowsByUser(d.NumUsers))
        {
            int n = rows.Length;
            if (n < 2) continue;
            int nTest = Math.Max(1, (int)Math.Round(testRatio * n, MidpointRounding.ToEven));
            int nValid = (int)Math.Round(validRatio * n, MidpointRounding.ToEven);
            nTest = Math.Min(nTest, n - 1);
            nValid = Math.Min(nValid, n - 1 - nTest);
            var shuffled = (int[])rows.Clone();
            Shuffle(shuffled, rng);
            for (int k = 0; k < nTest; k++) part[shuffled[k]] = 2;
            for (int k = nTest; k < nTest + nValid; k++) part[shuffled[k]] = 1;
        }
        string desc = string.Create(CultureInfo.InvariantCulture, $"per-user random split test {testRatio:0.###}") +
                      (validRatio > 0 ? string.Create(CultureInfo.InvariantCulture, $", validation {validRatio:0.###}") : "") + $", seed {seed}";
        return Parts(d, part, desc);
    }

    /// <summary>
    /// Chronological leave-one-out: each user's interactions sorted by (timestamp, tie break); the last goes to test,
    /// the second last to validation, the rest to train. Users with fewer than 3 interactions go entirely to train.
    /// Needs timestamps (a sequence position counts).
    /// </summary>
    public static Split LeaveOneOut(Dataset d, LooTieBreak tieBreak = LooTieBreak.RowOrder)
    {
        var t = d.Interactions.Timestamps
            ?? throw new InvalidOperationException($"{d.Name} has no timestamps; leave-one-out needs a chronological order");
        var items = d.Interactions.Items;
        var part = new byte[d.Interactions.Count];
        foreach (var rows in d.Interactions.RowsByUser(d.NumUsers))
        {
            if (rows.Length < 3) continue;
            var sorted = (int[])rows.Clone(); // already in row order
            Comparison<int> cmp = tieBreak == LooTieBreak.Item
                ? (a, b) => t[a] != t[b] ? t[a].CompareTo(t[b]) : items[a] != items[b] ? items[a].CompareTo(items[b]) : a.CompareTo(b)
                : (a, b) => t[a] != t[b] ? t[a].CompareTo(t[b]) : a.CompareTo(b);
            Array.Sort(sorted, cmp);
            part[sorted[^1]] = 2;
            part[sorted[^2]] = 1;
        }
        return Parts(d, part, tieBreak == LooTieBreak.Item ? "leave-one-out (ties by item)" : "leave-one-out");
    }

    /// <summary>
    /// Iterative k-core: repeatedly drops interactions of users with fewer than <paramref name="userK"/> and items with fewer
    /// than <paramref name="itemK"/> interactions (rows, duplicates counted) until both hold. Returns a new dataset whose
    /// remaining users and items are re-indexed contiguously in their old order; id maps keep the original ids, item texts
    /// follow their items. Users and items left with no interactions are dropped unless k &lt;= 0.
    /// </summary>
    public static Dataset KCore(Dataset d, int userK, int itemK)
    {
        var x = d.Interactions;
        int m = x.Count;
        var alive = new bool[m];
        Array.Fill(alive, true);
        var uDeg = new int[d.NumUsers];
        var iDeg = new int[d.NumItems];
        for (int k = 0; k < m; k++) { uDeg[x.Users[k]]++; iDeg[x.Items[k]]++; }
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int k = 0; k < m; k++)
            {
                if (!alive[k]) continue;
                int u = x.Users[k], i = x.Items[k];
                if (uDeg[u] < userK || iDeg[i] < itemK)
                {
                    alive[k] = false; uDeg[u]--; iDeg[i]--; changed = true;
                }
            }
        }
        var (userMap, newUser) = Reindex(d.Users, uDeg, userK);
        var (itemMap, newItem) = Reindex(d.Items, iDeg, itemK);
        var keep = new List<int>(m);
        for (int k = 0; k < m; k++) if (alive[k]) keep.Add(k);
        var sel = x.Select(keep);
        for (int k = 0; k < sel.Count; k++) { sel.Users[k] = newUser[sel.Users[k]]; sel.Items[k] = newItem[sel.Items[k]]; }
        ItemText?[]? texts = null;
        if (d.ItemTexts.Length > 0)
        {
            texts = new ItemText?[itemMap.Count];
            for (int i = 0; i < d.NumItems; i++) if (newItem[i] >= 0) texts[newItem[i]] = d.TextOf(i);
        }
        return new Dataset($"{d.Name} ({userK},{itemK})-core", userMap, itemMap, sel, texts);
    }

    /// <summary>Keeps interactions rated at least <paramref name="minRating"/> (ids unchanged). Needs ratings.</summary>
    public static Dataset RatingThreshold(Dataset d, float minRating)
    {
        var r = d.Interactions.Ratings ?? throw new InvalidOperationException($"{d.Name} has no ratings to threshold");
        var kept = d.Interactions.Where(k => r[k] >= minRating);
        return new Dataset(string.Create(CultureInfo.InvariantCulture, $"{d.Name} (rating >= {minRating})"), d.Users, d.Items, kept, d.ItemTexts);
    }

    /// <summary>
    /// Keeps one row per (user, item) pair: the earliest by timestamp when there are timestamps, else the first row
    /// (ties by row order). Ids unchanged; rows stay in their original order.
    /// </summary>
    public static Dataset Dedup(Dataset d)
    {
        var x = d.Interactions;
        var best = new Dictionary<long, int>(x.Count);
        for (int k = 0; k < x.Count; k++)
        {
            long key = (long)x.Users[k] * d.NumItems + x.Items[k];
            if (!best.TryGetValue(key, out int prev) || (x.Timestamps is { } t && t[k] < t[prev])) best[key] = k;
        }
        if (best.Count == x.Count) return d;
        var rows = best.Values.ToList();
        rows.Sort();
        return new Dataset(d.Name, d.Users, d.Items, x.Select(rows), d.ItemTexts);
    }

    /// <summary>
    /// Keeps max(1, round(fraction * n)) random training interactions of each user with n of them (for sparsity
    /// curves); validation and test are untouched. The dataset's interactions become the remaining parts.
    /// </summary>
    public static Split Subsample(Split s, double fraction, int seed)
    {
        if (fraction is <= 0 or > 1 || double.IsNaN(fraction)) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "must lie in (0, 1]");
        var rng = new Random(seed);
        var keep = new List<int>(s.Train.Count);
        foreach (var rows in s.Train.RowsByUser(s.Dataset.NumUsers))
        {
            int n = rows.Length;
            if (n == 0) continue;
            int k = Math.Max(1, (int)Math.Round(fraction * n, MidpointRounding.ToEven));
            if (k >= n) { keep.AddRange(rows); continue; }
            var shuffled = (int[])rows.Clone();
            Shuffle(shuffled, rng);
            keep.AddRange(shuffled.AsSpan(0, k));
        }
        keep.Sort();
        var train = s.Train.Select(keep);
        var d = s.Dataset;
        var ds = new Dataset(d.Name, d.Users, d.Items, Interactions.Concat(train, s.Validation, s.Test), d.ItemTexts);
        return new Split(ds, train, s.Validation, s.Test,
            string.Create(CultureInfo.InvariantCulture, $"{s.Description}; train subsampled to {fraction:0.###} (seed {seed})"));
    }

    static void Shuffle(int[] a, Random rng)
    {
        for (int k = a.Length - 1; k > 0; k--)
        {
            int j = rng.Next(k + 1);
            (a[k], a[j]) = (a[j], a[k]);
        }
    }

    static Split Parts(Dataset d, byte[] part, string description)
    {
        var rows = new List<int>[3] { new(), new(), new() };
        for (int k = 0; k < part.Length; k++) rows[part[k]].Add(k);
        var x = d.Interactions;
        return new Split(d, x.Select(rows[0]), x.Select(rows[1]), x.Select(rows[2]), description);
    }

    static (IdMap Map, int[] NewIndex) Reindex(IdMap old, int[] degree, int k)
    {
        var map = new IdMap();
        var idx = new int[old.Count];
        for (int i = 0; i < old.Count; i++)
            idx[i] = degree[i] >= Math.Max(k, 1) || k <= 0 ? map.GetOrAdd(old.Original(i)) : -1;
        return (map, idx);
    }
}
