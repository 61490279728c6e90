using System.Globalization;

namespace BridgeRec.Data;

/// <summary>
/// The shape of a synthetic implicit-feedback data set (<see cref="SyntheticInteractions"/>). The defaults follow the
/// LightGCN paper's data sets, which are what a growing catalog looks like (Gowalla: 34 interactions per user, 25 per
/// item; Yelp2018: 49 and 41; Amazon-Book: 57 and 33), rather than ML-1M (165 per user, 270 per item), whose 3.7k items
/// do not grow with the interactions.
/// </summary>
public sealed record SyntheticOptions
{
    /// <summary>Distinct (user, item) pairs in all, train and test together.</summary>
    public long Interactions { get; init; } = 1_000_000;
    /// <summary>Users = interactions / this.</summary>
    public int PerUser { get; init; } = 40;
    /// <summary>Items = interactions / this.</summary>
    public int PerItem { get; init; } = 40;
    /// <summary>Zipf exponent of user activity: the user of rank r draws in proportion to r^-s.</summary>
    public double UserExponent { get; init; } = 0.5;
    /// <summary>Zipf exponent of item popularity: the item of rank r is drawn in proportion to r^-s.</summary>
    public double ItemExponent { get; init; } = 0.7;
    /// <summary>Share of the pairs put in the test set, each pair on its own coin (the LightGCN 80/20 style split).</summary>
    public double TestShare { get; init; } = 0.2;
    public int Seed { get; init; } = 2026;

    public int NumUsers => (int)Math.Max(1, Interactions / PerUser);
    public int NumItems => (int)Math.Max(1, Interactions / PerItem);

    /// <summary>The most pairs a data set may have: the LightGCN graph keeps two int-indexed entries per training pair.</summary>
    public const long MaxInteractions = 500_000_000;

    public void Validate()
    {
        if (Interactions < 1000 || Interactions > MaxInteractions)
            throw new ArgumentOutOfRangeException(nameof(Interactions), $"interactions must be 1,000 to {MaxInteractions:N0} (got {Interactions:N0})");
        if (PerUser < 2) throw new ArgumentOutOfRangeException(nameof(PerUser), $"interactions per user must be >= 2 (got {PerUser})");
        if (PerItem < 2) throw new ArgumentOutOfRangeException(nameof(PerItem), $"interactions per item must be >= 2 (got {PerItem})");
        if (UserExponent is < 0 or > 3 || ItemExponent is < 0 or > 3)
            throw new ArgumentOutOfRangeException(nameof(UserExponent), $"Zipf exponents must be 0 to 3 (got {UserExponent}, {ItemExponent})");
        if (TestShare is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(TestShare), $"the test share must be in [0, 1) (got {TestShare})");
        // Rejection of repeated pairs stays cheap only while the matrix is sparse.
        if ((double)Interactions > 0.05 * NumUsers * (double)NumItems)
            throw new ArgumentException($"{Interactions:N0} interactions over {NumUsers:N0} users x {NumItems:N0} items is over 5% dense; raise the interactions or the per-user / per-item ratios");
    }
}

/// <summary>
/// A seeded synthetic implicit data set with power-law (Zipf-like) user activity and item popularity, for measuring
/// how training and evaluation cost grow with size. Each interaction draws a user and an item independently from
/// their Zipf laws (ranks mapped to ids by a seeded permutation, so popularity is not ordered by id); a pair drawn
/// twice counts once, and the deficit is drawn again until there are exactly <see cref="SyntheticOptions.Interactions"/>
/// distinct pairs. Then each pair goes to test with probability <see cref="SyntheticOptions.TestShare"/>.
/// The same options give the same data set.
/// </summary>
public static class SyntheticInteractions
{
    public static Split Generate(SyntheticOptions o, Action<string>? progress = null)
    {
        o.Validate();
        int numUsers = o.NumUsers, numItems = o.NumItems;
        int n = checked((int)o.Interactions);
        var rng = new Random(o.Seed);
        var users = new ZipfSampler(numUsers, o.UserExponent, rng);
        var items = new ZipfSampler(numItems, o.ItemExponent, rng);

        // Distinct keys user * numItems + item, kept sorted; each round draws the remaining deficit.
        long[] have = [];
        for (int round = 1; have.Length < n; round++)
        {
            int need = n - have.Length;
            var draw = new long[need];
            for (int k = 0; k < need; k++) draw[k] = (long)users.Next(rng) * numItems + items.Next(rng);
            Array.Sort(draw);
            have = MergeDistinct(have, draw);
            if (round == 1 || have.Length == n)
                progress?.Invoke(string.Create(CultureInfo.InvariantCulture, $"round {round}: {have.Length:N0} of {n:N0} distinct pairs"));
            if (round > 10_000) throw new InvalidOperationException($"synthetic data: {have.Length:N0} of {n:N0} distinct pairs after {round} rounds; the laws are too concentrated for this size");
        }

        var split = new Random(unchecked(o.Seed * 31 + 7));
        int nTest = 0;
        var isTest = new bool[n];
        for (int k = 0; k < n; k++) if (split.NextDouble() < o.TestShare) { isTest[k] = true; nTest++; }
        var trU = new int[n - nTest]; var trI = new int[n - nTest];
        var teU = new int[nTest]; var teI = new int[nTest];
        var allU = new int[n]; var allI = new int[n];
        for (int k = 0, a = 0, b = 0; k < n; k++)
        {
            int u = (int)(have[k] / numItems), i = (int)(have[k] % numItems);
            allU[k] = u; allI[k] = i;
            if (isTest[k]) { teU[b] = u; teI[b++] = i; }
            else { trU[a] = u; trI[a++] = i; }
        }
        string name = string.Create(CultureInfo.InvariantCulture, $"synthetic-{o.Interactions}");
        var dataset = new Dataset(name, IdMap.Identity(numUsers), IdMap.Identity(numItems), new Interactions(allU, allI));
        return new Split(dataset, new Interactions(trU, trI), Interactions.Empty, new Interactions(teU, teI),
            string.Create(CultureInfo.InvariantCulture,
                $"synthetic Zipf users s={o.UserExponent}, items s={o.ItemExponent}, seed {o.Seed}, {o.TestShare:P0} of pairs to test"));
    }

    /// <summary>The distinct union of two sorted arrays (the first already distinct).</summary>
    static long[] MergeDistinct(long[] a, long[] b)
    {
        var merged = new long[a.Length + b.Length];
        int i = 0, j = 0, m = 0;
        while (i < a.Length || j < b.Length)
        {
            long next = j >= b.Length || (i < a.Length && a[i] <= b[j]) ? a[i++] : b[j++];
            if (m == 0 || merged[m - 1] != next) merged[m++] = next;
        }
        return m == merged.Length ? merged : merged.AsSpan(0, m).ToArray();
    }

    /// <summary>Draws ids whose ranks follow r^-s (rank 1 the most likely), the ranks shuffled onto ids.</summary>
    sealed class ZipfSampler
    {
        readonly double[] _cdf;
        readonly int[] _idOfRank;

        public ZipfSampler(int count, double exponent, Random rng)
        {
            _cdf = new double[count];
            double total = 0;
            for (int r = 0; r < count; r++) _cdf[r] = total += Math.Pow(r + 1, -exponent);
            for (int r = 0; r < count; r++) _cdf[r] /= total;
            _cdf[count - 1] = 1.0;
            _idOfRank = Enumerable.Range(0, count).ToArray();
            rng.Shuffle(_idOfRank);
        }

        public int Next(Random rng)
        {
            int r = Array.BinarySearch(_cdf, rng.NextDouble());
            if (r < 0) r = ~r;
            return _idOfRank[Math.Min(r, _cdf.Length - 1)];
        }
    }
}
