using System.Diagnostics;
using BridgeRec.Data;
using Xunit.Abstractions;

namespace BridgeRec.Tests.Data;

public sealed class CaseRecFixture
{
    public Dataset Anime { get; }
    public Dataset AnimeRatings { get; }
    public Dataset Books { get; }
    public Dataset BookRatings { get; }
    public TimeSpan AnimeLoadTime { get; }

    public CaseRecFixture()
    {
        var sw = Stopwatch.StartNew();
        Anime = CaseRec.Load(TestData.Path_("anime-caserec"));
        AnimeLoadTime = sw.Elapsed;
        AnimeRatings = CaseRec.Load(TestData.Path_("anime-caserec"), useRatings: true);
        Books = CaseRec.Load(TestData.Path_("bookcrossing-caserec"));
        BookRatings = CaseRec.Load(TestData.Path_("bookcrossing-caserec"), useRatings: true);
    }
}

public sealed class CaseRecTests(CaseRecFixture fx, ITestOutputHelper output) : IClassFixture<CaseRecFixture>
{
    [Fact]
    public void Anime_history_counts()
    {
        output.WriteLine($"anime history load: {fx.AnimeLoadTime.TotalMilliseconds:F0} ms (first load, includes JIT)");
        var d = fx.Anime;
        Assert.Equal("anime-caserec", d.Name);
        Assert.Equal(5000, d.NumUsers);
        Assert.Equal(7390, d.NumItems);
        Assert.Equal(520_609, d.Interactions.Count);
        Assert.Null(d.Interactions.Ratings);
        Assert.Null(d.Interactions.Timestamps);
        for (int i = 0; i < d.NumItems; i++) Assert.Equal((i + 1).ToString(), d.Items.Original(i));
        Assert.Equal("1", d.Users.Original(0));
    }

    [Fact]
    public void Anime_text_decodes_entities()
    {
        var d = fx.Anime;
        var kimi = d.TextOf(1722)!;
        Assert.Equal("Kimi no Na wa.", kimi.Title);
        Assert.Equal("Drama, Romance, School, Supernatural", kimi["genres"]);
        Assert.Equal("Movie", kimi["type"]);
        Assert.Equal("Gintama'", d.TextOf(136)!.Title);
        Assert.Equal("Tiger & Bunny", d.TextOf(831)!.Title);
        Assert.DoesNotContain(d.ItemTexts, t => t!.Title.Contains("&#039;") || t.Title.Contains("&amp;"));
    }

    [Fact]
    public void Anime_ratings()
    {
        var d = fx.AnimeRatings;
        Assert.Equal("anime-caserec-ratings", d.Name);
        Assert.Equal(419_943, d.Interactions.Count);
        Assert.Equal(4714, d.NumUsers);
        Assert.Equal(7390, d.NumItems); // the whole catalogue
        Assert.Equal(7157, DataAssert.DistinctItems(d.Interactions));
        Assert.Equal(62_557, d.Interactions.Ratings!.Count(r => r == 10));
        Assert.Equal(1_278, d.Interactions.Ratings!.Count(r => r == 1));
    }

    [Fact]
    public void Bookcrossing_counts()
    {
        var d = fx.Books;
        Assert.Equal("bookcrossing-caserec", d.Name);
        Assert.Equal(2946, d.NumUsers);
        Assert.Equal(17_384, d.NumItems);
        Assert.Equal(272_678, d.Interactions.Count);
        var r = fx.BookRatings;
        Assert.Equal(62_656, r.Interactions.Count);
        Assert.Equal(1295, r.NumUsers);
        Assert.Equal(14_684, DataAssert.DistinctItems(r.Interactions));
        Assert.Equal(13_884, r.Interactions.Ratings!.Count(x => x == 10));
    }

    [Fact]
    public void Bookcrossing_text_rejoins_split_entities()
    {
        var d = fx.Books;
        var first = d.TextOf(0)!;
        Assert.Equal("Decision in Normandy", first.Title);
        Assert.Equal("Carlo D'Este", first["author"]);
        Assert.Equal("1991", first["year"]);
        Assert.Equal("HarperPerennial", first["publisher"]);
        Assert.Equal("W. W. Norton & Company", d.TextOf(1)!["publisher"]);
        var b1765 = d.TextOf(1764)!;
        Assert.Equal("Algebra & Trigonometry Super Review", b1765.Title);
        Assert.Equal("The Staff of Research & Education Association", b1765["author"]);
        Assert.Equal("2000", b1765["year"]);
        Assert.Equal("Research & Education Association", b1765["publisher"]);
        // a title with a plain ';' (split into two fields): the extra field goes back into the title
        var tally = d.TextOf(379)!;
        Assert.Equal("A Tally of Types: With Additions by Several Hands ; And With a New Introduction by Mike Parker", tally.Title);
        Assert.Equal("Stanley Morison", tally["author"]);
        Assert.Equal("1999", tally["year"]);
        Assert.All(d.ItemTexts, t => Assert.Matches(@"^\d{1,4}$", t!["year"] ?? "0"));
        Assert.DoesNotContain(d.ItemTexts, t => t!["year"] == "0");
        Assert.DoesNotContain(d.ItemTexts, t => t!.Fields.Any(f => f.Value.StartsWith("http", StringComparison.Ordinal)));
    }
}
