using BridgeRec.Data;

namespace BridgeRec.Tests.Data;

public sealed class SplitterTests(Ml100kFixture fx) : IClassFixture<Ml100kFixture>
{
    readonly Dataset _d = fx.Data;

    static Dataset Tiny(int[] users, int[] items, long[]? times = null, float[]? ratings = null, int? numItems = null)
    {
        int nu = users.Max() + 1, ni = numItems ?? items.Max() + 1;
        var texts = Enumerable.Range(0, ni).Select(i => (ItemText?)ItemText.Of($"item {i}")).ToArray();
        return new Dataset("tiny", IdMap.Identity(nu), IdMap.Identity(ni), new Interactions(users, items, times, ratings), texts);
    }

    static void AssertPartition(Split s)
    {
        var rows = new List<(int, int, long)>();
        foreach (var p in new[] { s.Train, s.Validation, s.Test })
            for (int k = 0; k < p.Count; k++) rows.Add((p.Users[k], p.Items[k], p.Timestamps?[k] ?? 0));
        var all = s.Dataset.Interactions;
        var expect = Enumerable.Range(0, all.Count).Select(k => (all.Users[k], all.Items[k], all.Timestamps?[k] ?? 0));
        Assert.Equal(expect.Order(), rows.Order());
    }

    [Fact]
    public void Ratio_split_is_deterministic_and_per_user()
    {
        var a = Splitter.RatioSplit(_d, 0.2, 0.1, seed: 7);
        var b = Splitter.RatioSplit(_d, 0.2, 0.1, seed: 7);
        var c = Splitter.RatioSplit(_d, 0.2, 0.1, seed: 8);
        Assert.Equal(a.Test.Users, b.Test.Users);
        Assert.Equal(a.Test.Items, b.Test.Items);
        Assert.Equal(a.Validation.Items, b.Validation.Items);
        Assert.NotEqual(a.Test.Items, c.Test.Items);
        AssertPartition(a);
        var tr = a.Train.RowsByUser(943);
        var va = a.Validation.RowsByUser(943);
        var te = a.Test.RowsByUser(943);
        for (int u = 0; u < 943; u++)
        {
            int n = tr[u].Length + va[u].Length + te[u].Length;
            Assert.Equal(Math.Max(1, (int)Math.Round(0.2 * n, MidpointRounding.ToEven)), te[u].Length);
            Assert.Equal((int)Math.Round(0.1 * n, MidpointRounding.ToEven), va[u].Length);
        }
        Assert.Equal(a.Test.Ratings!.Length, a.Test.Count); // columns carried
    }

    [Fact]
    public void Ratio_split_small_users()
    {
        var d = Tiny([0, 1, 1, 2, 2, 2], [0, 0, 1, 0, 1, 2]);
        var s = Splitter.RatioSplit(d, 0.2, 0.5, seed: 1);
        Assert.DoesNotContain(0, s.Test.Users); // one interaction: train only
        Assert.Equal([1, 2], s.Test.Users);     // at least one test item each
        var trainUsers = s.Train.Users.GroupBy(u => u).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(1, trainUsers[1]);          // at least one training item remains
        Assert.True(trainUsers[2] >= 1);
        AssertPartition(s);
    }

    [Fact]
    public void Leave_one_out_picks_the_latest()
    {
        // user 0: times 30, 10, 20, 20 -> order rows 1, 2, 3, 0 -> test row 0, validation row 3
        var d = Tiny([0, 0, 0, 0, 1, 1, 2, 2, 2], [5, 6, 7, 8, 1, 2, 3, 4, 0], [30, 10, 20, 20, 1, 2, 5, 5, 5]);
        var s = Splitter.LeaveOneOut(d);
        Assert.Equal([0, 2], s.Test.Users);
        Assert.Equal([5, 0], s.Test.Items);       // user 2: all ties -> last row
        Assert.Equal([8, 4], s.Validation.Items);
        Assert.Equal(2, s.Train.Users.Count(u => u == 1)); // < 3 interactions: all train
        var byItem = Splitter.LeaveOneOut(d, LooTieBreak.Item);
        Assert.Equal([5, 4], byItem.Test.Items);  // ties broken by item: 0 < 3 < 4
        Assert.Equal([8, 3], byItem.Validation.Items);
        Assert.Throws<InvalidOperationException>(() => Splitter.LeaveOneOut(Tiny([0], [0])));
    }

    [Fact]
    public void Leave_one_out_on_movielens()
    {
        var s = Splitter.LeaveOneOut(_d);
        Assert.Equal(943, s.Test.Count);
        Assert.Equal(943, s.Validation.Count);
        AssertPartition(s);
        var t = _d.Interactions.Timestamps!;
        var byUser = _d.Interactions.RowsByUser(943);
        for (int k = 0; k < s.Test.Count; k++)
            Assert.Equal(byUser[s.Test.Users[k]].Max(r => t[r]), s.Test.Timestamps![k]);
        var trainMax = new long[943];
        for (int k = 0; k < s.Train.Count; k++) trainMax[s.Train.Users[k]] = Math.Max(trainMax[s.Train.Users[k]], s.Train.Timestamps![k]);
        for (int k = 0; k < s.Validation.Count; k++) Assert.True(s.Validation.Timestamps![k] >= trainMax[s.Validation.Users[k]]);
    }

    [Fact]
    public void K_core_satisfies_the_core_property()
    {
        var core = Splitter.KCore(_d, 50, 40);
        Assert.True(core.NumUsers > 0 && core.NumUsers < 943);
        var x = core.Interactions;
        var ud = new int[core.NumUsers];
        var id = new int[core.NumItems];
        for (int k = 0; k < x.Count; k++) { ud[x.Users[k]]++; id[x.Items[k]]++; }
        Assert.All(ud, c => Assert.True(c >= 50));
        Assert.All(id, c => Assert.True(c >= 40));
        // ids re-indexed contiguously in their old order; originals and texts kept
        var olds = Enumerable.Range(0, core.NumItems).Select(i => int.Parse(core.Items.Original(i))).ToArray();
        Assert.Equal(olds.Order(), olds);
        for (int i = 0; i < core.NumItems; i++) Assert.Same(_d.TextOf(_d.Items[core.Items.Original(i)]), core.TextOf(i));
        // every interaction of the core is an interaction of the original data
        var orig = DataAssert.Pairs(_d.Interactions);
        for (int k = 0; k < x.Count; k++)
            Assert.Contains((_d.Users[core.Users.Original(x.Users[k])], _d.Items[core.Items.Original(x.Items[k])]), orig);
        // maximal: nothing could have stayed -- one more pass of the filter changes nothing
        Assert.Equal(x.Count, Splitter.KCore(core, 50, 40).Interactions.Count);
    }

    [Fact]
    public void K_core_iterates()
    {
        // items 0,1 have 2 users; item 2 only user 2; removing item 2 leaves user 2 with 1 interaction -> removed -> item 1 drops to 1 ...
        var d = Tiny([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 1, 2]);
        var core = Splitter.KCore(d, 2, 2);
        Assert.Equal(["0", "1"], core.Users.Originals);
        Assert.Equal(["0", "1"], core.Items.Originals);
        Assert.Equal(4, core.Interactions.Count);
        Assert.Equal("item 1", core.TextOf(1)!.Title);
    }

    [Fact]
    public void Rating_threshold_and_dedup()
    {
        var pos = Splitter.RatingThreshold(_d, 4);
        Assert.Equal(34_174 + 21_201, pos.Interactions.Count);
        Assert.Equal(943, pos.NumUsers);
        Assert.Throws<InvalidOperationException>(() => Splitter.RatingThreshold(Tiny([0], [0]), 1));

        var dup = Tiny([0, 0, 0, 1], [1, 2, 1, 1], [5, 6, 2, 1]);
        var dd = Splitter.Dedup(dup);
        Assert.Equal([2, 1, 1], dd.Interactions.Items);
        Assert.Equal([6L, 2, 1], dd.Interactions.Timestamps!); // the earliest (user 0, item 1) kept
        Assert.Same(_d, Splitter.Dedup(_d));
    }

    [Fact]
    public void Subsample_keeps_a_fraction_of_training_only()
    {
        var s = Splitter.RatioSplit(_d, 0.2, 0, seed: 3);
        var half = Splitter.Subsample(s, 0.5, seed: 11);
        Assert.Same(s.Test, half.Test);
        Assert.Equal(half.Train.Items, Splitter.Subsample(s, 0.5, seed: 11).Train.Items);
        var before = s.Train.RowsByUser(943);
        var after = half.Train.RowsByUser(943);
        var trainPairs = DataAssert.Pairs(s.Train);
        for (int u = 0; u < 943; u++)
            Assert.Equal(Math.Max(1, (int)Math.Round(0.5 * before[u].Length, MidpointRounding.ToEven)), after[u].Length);
        Assert.Subset(trainPairs, DataAssert.Pairs(half.Train));
        Assert.Equal(half.Train.Count + half.Test.Count, half.Dataset.Interactions.Count);
        Assert.Equal(s.Train.Count, Splitter.Subsample(s, 1.0, 1).Train.Count);
        var tiny = Splitter.Subsample(s, 0.01, seed: 1);
        Assert.Equal(943, DataAssert.DistinctUsers(tiny.Train)); // at least one per user
    }
}
