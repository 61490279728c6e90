using BridgeRec.Evaluation;
using BridgeRec.Serving;

namespace BridgeRec.Tests.Serving;

/// <summary>The serving top-k against the evaluation code's exact reference, ties and exclusions included.</summary>
public class TopKTests
{
    [Fact]
    public void SelectMatchesTheReferenceOrderWithTiesAndExclusions()
    {
        var rng = new Random(7);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = rng.Next(1, 300);
            // Few distinct values: many ties, which must fall back to the lower item index.
            var scores = Enumerable.Range(0, n).Select(_ => (float)rng.Next(-5, 6) * 0.25f).ToArray();
            var excluded = Enumerable.Range(0, n).Where(_ => rng.NextDouble() < 0.3).ToArray();
            if (trial % 3 == 0 && excluded.Length > 0) excluded = [.. excluded, excluded[0]]; // a repeat
            Array.Sort(excluded);
            int k = trial % 5 == 0 ? n + 3 : rng.Next(1, n + 1);
            var items = new int[k];
            var top = new float[k];
            int count = TopK.Select(scores, excluded, items, top);
            var expected = RankOrder.TopOfRow(scores.Select(s => (double)s).ToArray(), excluded.Distinct().ToArray(), k);
            Assert.Equal(expected, items[..count]);
            Assert.Equal(expected.Select(i => scores[i]), top[..count]);
        }
    }

    [Fact]
    public void ScoresAreDotProductsPlusBias()
    {
        var rng = new Random(3);
        int n = 37, dim = 19; // not a multiple of any vector width
        var items = Enumerable.Range(0, n * dim).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var user = Enumerable.Range(0, dim).Select(_ => (float)rng.NextDouble()).ToArray();
        var bias = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray();
        var scores = new float[n];
        TopK.Scores(user, items, bias, scores);
        for (int i = 0; i < n; i++)
        {
            double expected = bias[i];
            for (int j = 0; j < dim; j++) expected += (double)user[j] * items[i * dim + j];
            Assert.Equal(expected, scores[i], 1e-5);
        }
        Assert.Throws<ArgumentException>(() => TopK.Scores(user, items.AsSpan(1), default, scores));
    }

    [Fact]
    public void NaNRanksLastAndEmptyRequestsWriteNothing()
    {
        float[] scores = [1f, float.NaN, 3f, 2f];
        var items = new int[4];
        var top = new float[4];
        Assert.Equal(4, TopK.Select(scores, [], items, top));
        Assert.Equal([2, 3, 0, 1], items);
        Assert.Equal(0, TopK.Select(scores, [], Span<int>.Empty, top));
        Assert.Equal(0, TopK.Select(scores, [0, 1, 2, 3], items, top));
    }

    [Fact]
    public void DsmIndexFoldsInTheMeanAndRejectsBrokenVectors()
    {
        // 2 users, 3 items, dim 2.
        float[] users = [1, 0, 0, 1];
        float[] items = [1, 0, 0, 1, 1, 1];
        var index = new DsmIndex(users, items, null, 2);
        var top = new int[3];
        var s = new float[3];
        Assert.Equal(3, index.Recommend(0, [], top, s));
        Assert.Equal([0, 2, 1], top); // item 0 and 2 tie at 1: lower index first
        Assert.Equal(2, index.Recommend(1, [2], top.AsSpan(0, 2), s));
        Assert.Equal([1, 0], top[..2]);

        var v = new float[2];
        index.FoldIn([0, 1, 1], v);
        Assert.Equal([1f / 3, 2f / 3], v);
        Assert.Throws<ArgumentException>(() => index.FoldIn([], v));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.FoldIn([3], v));

        var e = Assert.Throws<InvalidDataException>(() => new DsmIndex(users, [1, 0, float.NaN, 1, 1, 1], null, 2));
        Assert.Contains("row 1", e.Message);
        Assert.Throws<InvalidDataException>(() => new DsmIndex([float.PositiveInfinity, 0], items, null, 2));

        var pop = new DsmIndex([1f], [5f, 9f, 7f], null, 1, sameForAll: true);
        var one = new float[1];
        pop.FoldIn([0], one);
        Assert.Equal(2, pop.RecommendFor(one, [1], top.AsSpan(0, 2), s));
        Assert.Equal([2, 0], top[..2]);
    }
}
