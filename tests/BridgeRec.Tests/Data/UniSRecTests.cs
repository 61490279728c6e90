using System.Diagnostics;
using BridgeRec.Data;
using Xunit.Abstractions;

namespace BridgeRec.Tests.Data;

public sealed class ScientificFixture
{
    public Split Split { get; }
    public int[][] TestHistories { get; }
    public TimeSpan LoadTime { get; }

    public ScientificFixture()
    {
        var sw = Stopwatch.StartNew();
        Split = UniSRec.Load(TestData.Path_("amazon-scientific-unisrec"));
        LoadTime = sw.Elapsed;
        TestHistories = UniSRec.LoadTestHistories(TestData.Path_("amazon-scientific-unisrec"));
    }
}

public sealed class UniSRecTests(ScientificFixture fx, ITestOutputHelper output) : IClassFixture<ScientificFixture>
{
    readonly Split _s = fx.Split;

    [Fact]
    public void Published_counts()
    {
        output.WriteLine($"Scientific load: {fx.LoadTime.TotalMilliseconds:F0} ms (first load, includes JIT)");
        Assert.Equal("Scientific", _s.Dataset.Name);
        Assert.Equal(8442, _s.Dataset.NumUsers);
        Assert.Equal(4385, _s.Dataset.NumItems);
        Assert.Equal(59_427, _s.Dataset.Interactions.Count);
        Assert.Equal(8442, _s.Validation.Count);
        Assert.Equal(8442, _s.Test.Count);
        Assert.Equal(59_427 - 2 * 8442, _s.Train.Count);
        Assert.Equal(4385, DataAssert.DistinctItems(_s.Dataset.Interactions));
    }

    [Fact]
    public void Sequences_are_rebuilt_in_order()
    {
        // user 0: train rows hold 0..11 as targets/history, valid target 12 (file rows are newest first)
        var rows = _s.Train.RowsByUser(_s.Dataset.NumUsers)[0];
        Assert.Equal(Enumerable.Range(0, 12), rows.Select(r => _s.Train.Items[r]));
        Assert.Equal(Enumerable.Range(0, 12).Select(x => (long)x), rows.Select(r => _s.Train.Timestamps![r]));
        int v = _s.Validation.RowsByUser(_s.Dataset.NumUsers)[0].Single();
        Assert.Equal(12, _s.Validation.Items[v]);
        Assert.Equal(12L, _s.Validation.Timestamps![v]);
        // user 1: valid target 24, test target 25 (from the files)
        Assert.Equal(24, _s.Validation.Items[_s.Validation.RowsByUser(8442)[1].Single()]);
        Assert.Equal(25, _s.Test.Items[_s.Test.RowsByUser(8442)[1].Single()]);
        Assert.Equal("ABW8NXS7SV55K", _s.Dataset.Users.Original(0));
        Assert.Equal("B00TNNWMXI", _s.Dataset.Items.Original(0));
    }

    [Fact]
    public void Leave_one_out_of_the_rebuilt_data_gives_the_same_split()
    {
        var loo = Splitter.LeaveOneOut(_s.Dataset);
        Assert.True(DataAssert.Pairs(loo.Test).SetEquals(DataAssert.Pairs(_s.Test)));
        Assert.True(DataAssert.Pairs(loo.Validation).SetEquals(DataAssert.Pairs(_s.Validation)));
    }

    [Fact]
    public void Test_histories_are_the_last_fifty()
    {
        var h = fx.TestHistories;
        Assert.Equal(8442, h.Length);
        Assert.Equal(Enumerable.Range(14, 11), h[1]); // "14 15 ... 24"
        var byUser = _s.Dataset.Interactions.RowsByUser(8442);
        int capped = 0;
        for (int u = 0; u < 8442; u++)
        {
            var seq = byUser[u].OrderBy(r => _s.Dataset.Interactions.Timestamps![r]).Select(r => _s.Dataset.Interactions.Items[r]).ToArray();
            var expect = seq[..^1][Math.Max(0, seq.Length - 1 - 50)..];
            Assert.Equal(expect, h[u]);
            if (seq.Length - 1 > 50) capped += seq.Length - 1 - 50;
        }
        Assert.Equal(43, capped); // SOURCE.md: 43 interactions lost to the 50-item cap
    }

    [Fact]
    public void Item_text_is_the_full_line()
    {
        Assert.All(_s.Dataset.ItemTexts, t => Assert.False(string.IsNullOrWhiteSpace(t!.Title)));
        int gorilla = _s.Dataset.Items["B0000223SI"];
        Assert.StartsWith("PORTER-CABLE 740000801 4 1/2-Inch x 10yd 80 Grit Adhesive-Backed Sanding Roll. Industrial & Scientific", _s.Dataset.TextOf(gorilla)!.Title);
        Assert.EndsWith(". PORTER-CABLE.", _s.Dataset.TextOf(gorilla)!.Title);
        Assert.Contains(_s.Dataset.ItemTexts, t => t!.Title.Any(ch => ch > 127)); // UTF-8 decoded
    }
}
