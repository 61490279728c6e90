using System.Diagnostics;
using BridgeRec.Data;
using Xunit.Abstractions;

namespace BridgeRec.Tests.Data;

public sealed class Ml1mFixture
{
    public Split Split { get; }
    public TimeSpan LoadTime { get; }

    public Ml1mFixture()
    {
        var sw = Stopwatch.StartNew();
        Split = MovieLens1M.LoadColakg(TestData.Path_("movielens-1m"));
        LoadTime = sw.Elapsed;
    }
}

public sealed class MovieLens1MTests(Ml1mFixture fx, ITestOutputHelper output) : IClassFixture<Ml1mFixture>
{
    readonly Split _s = fx.Split;

    [Fact]
    public void Colakg_counts()
    {
        Assert.Equal(6040, _s.Dataset.NumUsers);
        Assert.Equal(3260, _s.Dataset.NumItems);
        Assert.Equal(801_218, _s.Train.Count);
        Assert.Equal(197_321, _s.Test.Count);
        Assert.Equal(0, _s.Validation.Count);
        Assert.Equal(998_539, _s.Dataset.Interactions.Count);
        Assert.Equal(998_539, DataAssert.Pairs(_s.Dataset.Interactions).Count); // no duplicate pairs
        Assert.Null(_s.Train.Timestamps);
    }

    [Fact]
    public void Original_ids_and_titles()
    {
        var d = _s.Dataset;
        Assert.Equal("1", d.Users.Original(0));
        Assert.Equal("6040", d.Users.Original(6039));
        Assert.Equal("1193", d.Items.Original(0));
        var cuckoo = d.TextOf(0)!;
        Assert.Equal("One Flew Over the Cuckoo's Nest (1975)", cuckoo.Title);
        Assert.Equal("1975", cuckoo["year"]);
        Assert.Equal("Drama", cuckoo["genres"]);
        Assert.Equal(404, d.Items["73"]);
        Assert.Equal("Misérables, Les (1995)", d.TextOf(404)!.Title); // Latin-1
        Assert.Equal("Drama, Musical", d.TextOf(404)!["genres"]);
        Assert.All(d.ItemTexts, t => Assert.NotNull(t));
        // first line of train.txt: "0 0 1 2 ..."
        Assert.Equal(0, _s.Train.Users[0]);
        Assert.Equal(0, _s.Train.Items[0]);
        Assert.Equal(1, _s.Train.Items[1]);
    }

    [Fact]
    public void A_second_load_reads_the_same_split()
    {
        // Timing is printed, never asserted (a loaded machine would fail a time limit): load speed is a benchmark's job.
        output.WriteLine($"ML-1M colakg incl. movies.dat: {fx.LoadTime.TotalMilliseconds:F0} ms (first load, includes JIT)");
        var sw = Stopwatch.StartNew();
        var again = MovieLens1M.LoadColakg(TestData.Path_("movielens-1m"));
        output.WriteLine($"ML-1M colakg incl. movies.dat, second load: {sw.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(_s.Train.Users, again.Train.Users);
        Assert.Equal(_s.Train.Items, again.Train.Items);
        Assert.Equal(_s.Test.Items, again.Test.Items);
        Assert.Equal(_s.Dataset.NumItems, again.Dataset.NumItems);
    }

    [Fact]
    public void Movies_file_has_all_3883_movies()
    {
        var movies = MovieLens1M.LoadMovies(TestData.Path_("movielens-1m", "movies.dat"));
        Assert.Equal(3883, movies.Count);
        Assert.Equal("Toy Story (1995)", movies[1].Title);
        Assert.Equal("Animation, Children's, Comedy", movies[1]["genres"]);
    }
}
