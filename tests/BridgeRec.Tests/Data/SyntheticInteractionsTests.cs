using BridgeRec.Data;

namespace BridgeRec.Tests.Data;

/// <summary>The synthetic power-law data behind <c>bench scale</c>: seeded, exact in size, distinct pairs, Zipf-shaped.</summary>
public sealed class SyntheticInteractionsTests
{
    static readonly SyntheticOptions Small = new() { Interactions = 200_000, Seed = 11 };

    static long[] Keys(Split s, int numItems) =>
        [.. Enumerable.Range(0, s.Train.Count).Select(k => (long)s.Train.Users[k] * numItems + s.Train.Items[k]),
         .. Enumerable.Range(0, s.Test.Count).Select(k => (long)s.Test.Users[k] * numItems + s.Test.Items[k])];

    [Fact]
    public void Same_seed_same_data_other_seed_other_data()
    {
        var a = SyntheticInteractions.Generate(Small);
        var b = SyntheticInteractions.Generate(Small);
        var c = SyntheticInteractions.Generate(Small with { Seed = 12 });
        Assert.Equal(a.Train.Users, b.Train.Users);
        Assert.Equal(a.Train.Items, b.Train.Items);
        Assert.Equal(a.Test.Users, b.Test.Users);
        Assert.Equal(a.Test.Items, b.Test.Items);
        Assert.NotEqual(a.Train.Items, c.Train.Items);
    }

    [Fact]
    public void Sizes_are_exact_and_pairs_distinct()
    {
        var s = SyntheticInteractions.Generate(Small);
        Assert.Equal(200_000 / 40, s.Dataset.NumUsers);
        Assert.Equal(200_000 / 40, s.Dataset.NumItems);
        Assert.Equal(200_000, s.Train.Count + s.Test.Count);
        Assert.Equal(200_000, s.Dataset.Interactions.Count);
        Assert.Equal(0, s.Validation.Count);
        var keys = Keys(s, s.Dataset.NumItems);
        Assert.Equal(keys.Length, keys.Distinct().Count());
        Assert.All(s.Train.Users, u => Assert.InRange(u, 0, s.Dataset.NumUsers - 1));
        Assert.All(s.Train.Items, i => Assert.InRange(i, 0, s.Dataset.NumItems - 1));
        Assert.InRange(s.Test.Count / 200_000.0, 0.19, 0.21);

        var other = SyntheticInteractions.Generate(Small with { Interactions = 300_000, PerUser = 20, PerItem = 60 });
        Assert.Equal(15_000, other.Dataset.NumUsers);
        Assert.Equal(5_000, other.Dataset.NumItems);
        Assert.Equal(300_000, other.Train.Count + other.Test.Count);
    }

    /// <summary>Rank-frequency on log-log axes is close to a line of slope -s over the middle ranks, and the head is heavy.</summary>
    [Fact]
    public void Degrees_follow_the_zipf_laws_roughly()
    {
        var s = SyntheticInteractions.Generate(Small);
        var all = s.Dataset.Interactions;
        var itemDeg = new int[s.Dataset.NumItems];
        var userDeg = new int[s.Dataset.NumUsers];
        for (int k = 0; k < all.Count; k++) { itemDeg[all.Items[k]]++; userDeg[all.Users[k]]++; }

        Assert.InRange(Slope(itemDeg), -0.85, -0.55); // item exponent 0.7
        Assert.InRange(Slope(userDeg), -0.6, -0.4);   // user exponent 0.5
        // Heavy head: the top 1% of items hold far more than 1% of the interactions (about 10% here).
        var sorted = itemDeg.OrderDescending().ToArray();
        double top = sorted.Take(sorted.Length / 100).Sum() / (double)all.Count;
        Assert.InRange(top, 0.05, 0.3);
        // Nobody is empty at these sizes: the rarest rank still expects about 20 draws.
        Assert.True(userDeg.Min() > 0 && itemDeg.Min() > 0);
    }

    [Fact]
    public void Dense_or_tiny_shapes_are_refused_clearly()
    {
        var e = Assert.Throws<ArgumentException>(() => SyntheticInteractions.Generate(new SyntheticOptions { Interactions = 10_000 }));
        Assert.Contains("dense", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticInteractions.Generate(new SyntheticOptions { Interactions = 10 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticInteractions.Generate(Small with { TestShare = 1 }));
    }

    /// <summary>Least-squares slope of log(degree) against log(rank) over ranks 10 to n/10.</summary>
    static double Slope(int[] degrees)
    {
        var d = degrees.OrderDescending().ToArray();
        var pts = Enumerable.Range(10, d.Length / 10 - 10).Select(r => (X: Math.Log(r + 1), Y: Math.Log(d[r]))).ToArray();
        double mx = pts.Average(p => p.X), my = pts.Average(p => p.Y);
        return pts.Sum(p => (p.X - mx) * (p.Y - my)) / pts.Sum(p => (p.X - mx) * (p.X - mx));
    }
}
