using BridgeRec.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Evaluation;

/// <summary>
/// A synthetic full-ranking problem shaped like MovieLens-1M under P1 (6,040 users x 3,260 items,
/// about 133 train and 33 test items per user, d = 64 random embeddings) for timing the evaluator:
/// the time reported covers scoring (the users x items matmul) and ranking. For `bench`-style use;
/// no test asserts a time.
/// </summary>
public static class EvaluationBenchmark
{
    /// <summary>Builds the problem, evaluates it once to warm up, then times <paramref name="repeats"/> evaluations and returns the fastest.</summary>
    public static (EvaluationResult Result, double BestSeconds) RandomFullRanking(
        int numUsers = 6040, int numItems = 3260, int dim = 64, int trainPerUser = 133, int testPerUser = 33,
        int repeats = 3, int seed = 1, RankingOptions? options = null)
    {
        var rng = new Random(seed);
        var train = new InteractionsBuilder(numUsers * trainPerUser);
        var test = new InteractionsBuilder(numUsers * testPerUser);
        var picked = new HashSet<int>();
        for (int u = 0; u < numUsers; u++)
        {
            picked.Clear();
            int want = Math.Min(trainPerUser + testPerUser, numItems);
            while (picked.Count < want) picked.Add(rng.Next(numItems));
            int j = 0;
            foreach (int i in picked)
                (j++ < trainPerUser ? train : test).Add(u, i);
        }
        var evaluator = new RankingEvaluator(new UserItemIndex(numUsers, numItems, test.Build()),
            new UserItemIndex(numUsers, numItems, train.Build()), options, "full ranking, synthetic ML-1M-sized problem");

        var gen = new torch.Generator((ulong)seed);
        using var userEmb = randn(numUsers, dim, generator: gen);
        using var itemEmb = randn(numItems, dim, generator: gen);
        using var itemT = itemEmb.t().contiguous();
        Tensor Score(int[] users)
        {
            using var idx = tensor(users.Select(u => (long)u).ToArray());
            using var rows = userEmb.index_select(0, idx);
            return rows.matmul(itemT);
        }

        var result = evaluator.Evaluate(Score);
        double best = double.MaxValue;
        for (int r = 0; r < repeats; r++)
        {
            result = evaluator.Evaluate(Score);
            best = Math.Min(best, result.ElapsedSeconds);
        }
        return (result, best);
    }
}
