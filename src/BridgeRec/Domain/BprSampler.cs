using BridgeRec.Data;

namespace BridgeRec.Domain;

/// <summary>
/// Draws one epoch of BPR triples the way the LightGCN reference does: as many triples as
/// training interactions, each from a uniformly drawn user (with at least one training item),
/// one of that user's items, and a uniformly drawn item the user does not have.
/// </summary>
public static class BprSampler
{
    public static (long[] Users, long[] Positives, long[] Negatives) SampleEpoch(UserItemIndex train, int count, Random rng)
    {
        var active = Enumerable.Range(0, train.NumUsers).Where(u => train.CountOf(u) > 0).ToArray();
        if (active.Length == 0) throw new InvalidOperationException("no user has a training interaction");
        var users = new long[count]; var pos = new long[count]; var neg = new long[count];
        for (int k = 0; k < count; k++)
        {
            int u = active[rng.Next(active.Length)];
            var items = train.ItemsOf(u);
            if (items.Length >= train.NumItems)
                throw new InvalidOperationException($"user {u} has every item: no negative exists");
            users[k] = u;
            pos[k] = items[rng.Next(items.Length)];
            int n;
            do n = rng.Next(train.NumItems); while (items.BinarySearch(n) >= 0);
            neg[k] = n;
        }
        return (users, pos, neg);
    }

    /// <summary>A per-epoch generator, so a resumed run draws exactly what an uninterrupted one would.</summary>
    public static Random EpochRandom(int seed, int epoch) => new(unchecked(seed * 1_000_003 + epoch * 7919 + 17));
}
