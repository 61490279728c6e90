using BridgeRec.Data;

namespace BridgeRec.Tests.Data;

public sealed class Ml100kFixture
{
    public Dataset Data { get; } = MovieLens100K.Load(TestData.Path_("movielens-100k"));
}

public sealed class MovieLens100KTests(Ml100kFixture fx) : IClassFixture<Ml100kFixture>
{
    readonly Dataset _d = fx.Data;
    static string Ml100k => TestData.Path_("movielens-100k");

    [Fact]
    public void Counts_match_the_release()
    {
        Assert.Equal(943, _d.NumUsers);
        Assert.Equal(1682, _d.NumItems);
        Assert.Equal(100_000, _d.Interactions.Count);
        Assert.NotNull(_d.Interactions.Timestamps);
        var r = _d.Interactions.Ratings!;
        Assert.Equal(6_110, r.Count(x => x == 1));
        Assert.Equal(34_174, r.Count(x => x == 4));
        Assert.Equal(21_201, r.Count(x => x == 5));
    }

    [Fact]
    public void Index_is_id_minus_one()
    {
        for (int i = 0; i < _d.NumItems; i++) Assert.Equal((i + 1).ToString(), _d.Items.Original(i));
        for (int u = 0; u < _d.NumUsers; u++) Assert.Equal((u + 1).ToString(), _d.Users.Original(u));
        // first line of u.data: 196 242 3 881250949
        Assert.Equal(195, _d.Interactions.Users[0]);
        Assert.Equal(241, _d.Interactions.Items[0]);
        Assert.Equal(3f, _d.Interactions.Ratings![0]);
        Assert.Equal(881250949L, _d.Interactions.Timestamps![0]);
    }

    [Fact]
    public void Titles_years_genres_and_latin1()
    {
        var toy = _d.TextOf(0)!;
        Assert.Equal("Toy Story (1995)", toy.Title);
        Assert.Equal("1995", toy["year"]);
        Assert.Equal("Animation, Children's, Comedy", toy["genres"]);
        Assert.Equal("Misérables, Les (1995)", _d.TextOf(542)!.Title);
        Assert.Equal("Á köldum klaka (Cold Fever) (1994)", _d.TextOf(1632)!.Title);
        Assert.Equal("unknown", _d.TextOf(266)!.Title);
        Assert.Null(_d.TextOf(266)!["year"]);
        Assert.Equal("Heidi Fleiss: Hollywood Madam (1995)", _d.TextOf(1127)!.Title); // trailing blank trimmed
        Assert.Equal("1995", _d.TextOf(1411)!["year"]); // "... (1995) (V)"
        Assert.All(_d.ItemTexts, t => Assert.NotNull(t));
    }

    [Fact]
    public void Lightgcn_benchmark_split()
    {
        var s = MovieLens100K.LoadBenchmarkSplit(Path.Combine(TestData.Benchmarks, "ml-100k", "lightgcn-80-20"), Ml100k);
        Assert.Equal(943, s.Dataset.NumUsers);
        Assert.Equal(1682, s.Dataset.NumItems);
        Assert.Equal(100_000, s.Train.Count + s.Test.Count);
        Assert.Equal(0, s.Validation.Count);
        Assert.Equal(100_000, s.Dataset.Interactions.Count);
        Assert.Equal("Toy Story (1995)", s.Dataset.TextOf(0)!.Title);
        Assert.Equal("0", s.Dataset.Items.Original(0));
        // same pairs as the raw data (ids shifted by one)
        var all = DataAssert.Pairs(_d.Interactions);
        Assert.True(DataAssert.Pairs(s.Dataset.Interactions).SetEquals(all));
        // every user has a test item; 20 % per user (Python rounding)
        var testRows = s.Test.RowsByUser(943);
        var trainRows = s.Train.RowsByUser(943);
        for (int u = 0; u < 943; u++)
        {
            int n = testRows[u].Length + trainRows[u].Length;
            Assert.Equal(Math.Max(1, (int)Math.Round(0.2 * n, MidpointRounding.ToEven)), testRows[u].Length);
        }
    }

    [Fact]
    public void Loo_benchmark_split_equals_our_leave_one_out_with_item_ties()
    {
        var s = MovieLens100K.LoadBenchmarkSplit(Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), null);
        Assert.Equal(943, s.Validation.Count);
        Assert.Equal(943, s.Test.Count);
        Assert.Equal(100_000 - 2 * 943, s.Train.Count);
        Assert.Empty(s.Dataset.ItemTexts);

        var ours = Splitter.LeaveOneOut(_d, LooTieBreak.Item);
        Assert.True(DataAssert.Pairs(ours.Test).SetEquals(DataAssert.Pairs(s.Test)));
        Assert.True(DataAssert.Pairs(ours.Validation).SetEquals(DataAssert.Pairs(s.Validation)));
        Assert.Equal(s.Train.Count, ours.Train.Count);
    }

    [Fact]
    public void Item_texts_helper_with_offset()
    {
        var texts = MovieLens100K.LoadItemTexts(Path.Combine(Ml100k, "u.item"), IdMap.Identity(1682), movieIdOffset: -1);
        Assert.Equal("Toy Story (1995)", texts[0]!.Title);
        Assert.Equal("Misérables, Les (1995)", texts[542]!.Title);
    }
}
