using BridgeRec.Data;
using TorchSharp;

namespace BridgeRec.Tests.Evaluation;

/// <summary>
/// A deliberately plain reference for the evaluators: full sort of every row with LINQ
/// (score desc, then item asc), formulas written out again here rather than calling RankingMetrics.
/// </summary>
internal static class NaiveReference
{
    public static double Discount(int p) => 1.0 / Math.Log2(p + 2);

    /// <summary>The full ranking of one user: all non-excluded items by (score desc, item asc).</summary>
    public static int[] Rank(float[] row, IEnumerable<int> excluded)
    {
        var ex = excluded.ToHashSet();
        return Enumerable.Range(0, row.Length).Where(i => !ex.Contains(i))
            .OrderByDescending(i => row[i]).ThenBy(i => i).ToArray();
    }

    /// <summary>Per-user metrics keyed like EvaluationResult, for users with at least one relevant item.</summary>
    public static Dictionary<string, double> Metrics(int[] fullRanking, ISet<int> relevant, int[] ks)
    {
        var d = new Dictionary<string, double>();
        foreach (int k in ks)
        {
            int hits = 0;
            double dcg = 0;
            for (int p = 0; p < Math.Min(k, fullRanking.Length); p++)
                if (relevant.Contains(fullRanking[p])) { hits++; dcg += Discount(p); }
            double idcg = 0;
            for (int p = 0; p < Math.Min(relevant.Count, k); p++) idcg += Discount(p);
            d[$"recall@{k}"] = (double)hits / relevant.Count;
            d[$"ndcg@{k}"] = dcg / idcg;
            d[$"precision@{k}"] = (double)hits / k;
            d[$"hr@{k}"] = hits > 0 ? 1 : 0;
        }
        int first = Array.FindIndex(fullRanking, relevant.Contains);
        d["mrr"] = first < 0 ? 0 : 1.0 / (first + 1);
        return d;
    }

    /// <summary>A scoring callback over a fixed score matrix: returns fresh [users, items] tensors.</summary>
    public static Func<int[], torch.Tensor> Scorer(float[][] scores) => users =>
    {
        int n = scores[0].Length;
        var flat = new float[users.Length * n];
        for (int r = 0; r < users.Length; r++) Array.Copy(scores[users[r]], 0, flat, r * n, n);
        return torch.tensor(flat, [users.Length, n]);
    };

    public static Interactions Pairs(params (int User, int Item)[] pairs) =>
        new(pairs.Select(p => p.User).ToArray(), pairs.Select(p => p.Item).ToArray());
}
