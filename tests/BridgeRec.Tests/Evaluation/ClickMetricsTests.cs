using BridgeRec.Data;
using BridgeRec.Evaluation;

namespace BridgeRec.Tests.Evaluation;

public class ClickMetricsTests
{
    const double Tol = 1e-12;

    /// <summary>The definition itself: over every (positive, negative) pair, 1 when the positive scores higher, 1/2 on a tie.</summary>
    static double NaiveAuc(float[] scores, float[] labels)
    {
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            if (labels[i] != 1f) continue;
            for (int j = 0; j < scores.Length; j++)
            {
                if (labels[j] != 0f) continue;
                pairs++;
                if (scores[i] > scores[j]) wins += 1;
                else if (scores[i] == scores[j]) wins += 0.5;
            }
        }
        return pairs == 0 ? double.NaN : wins / pairs;
    }

    [Fact]
    public void Auc_perfect_reversed_and_all_tied()
    {
        float[] labels = [0, 0, 1, 1, 0, 1];
        Assert.Equal(1.0, ClickMetrics.Auc([0.1f, 0.2f, 0.8f, 0.9f, 0.3f, 0.7f], labels), Tol);
        Assert.Equal(0.0, ClickMetrics.Auc([0.9f, 0.8f, 0.2f, 0.1f, 0.7f, 0.3f], labels), Tol);
        Assert.Equal(0.5, ClickMetrics.Auc([0.4f, 0.4f, 0.4f, 0.4f, 0.4f, 0.4f], labels), Tol);
    }

    [Fact]
    public void Auc_with_a_positive_tied_with_a_negative()
    {
        // positives 0.2 and 0.6, negatives 0.1 and 0.6.
        // Pairs: (0.2 vs 0.1) win 1, (0.2 vs 0.6) loss 0, (0.6 vs 0.1) win 1, (0.6 vs 0.6) tie 1/2 -> 2.5 / 4 = 0.625.
        // Ranks: 0.1 -> 1, 0.2 -> 2, the tied 0.6s share (3 + 4) / 2 = 3.5; positive rank sum 2 + 3.5 = 5.5,
        // U = 5.5 - 2 * 3 / 2 = 2.5, AUC = U / (2 * 2) = 0.625.
        Assert.Equal(0.625, ClickMetrics.Auc([0.6f, 0.1f, 0.2f, 0.6f], [0, 0, 1, 1]), Tol);
    }

    [Fact]
    public void Auc_infinite_scores_and_signed_zero()
    {
        // -0 and +0 are the same score: a tie.
        Assert.Equal(0.5, ClickMetrics.Auc([-0f, 0f], [1, 0]), Tol);
        Assert.Equal(1.0, ClickMetrics.Auc([float.PositiveInfinity, float.NegativeInfinity, 3f], [1, 0, 1]), Tol);
    }

    [Fact]
    public void Auc_of_a_single_class_or_no_rows_is_nan()
    {
        Assert.True(double.IsNaN(ClickMetrics.Auc([0.1f, 0.9f], [1, 1])));
        Assert.True(double.IsNaN(ClickMetrics.Auc([0.1f, 0.9f], [0, 0])));
        Assert.True(double.IsNaN(ClickMetrics.Auc([], [])));
    }

    [Fact]
    public void Auc_rejects_bad_input()
    {
        Assert.Throws<ArgumentException>(() => ClickMetrics.Auc([0.1f, 0.2f], [1]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Auc([0.1f, float.NaN], [1, 0]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Auc([0.1f, 0.2f], [1, 2]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Auc([0.1f, 0.2f], [0.5f, 0]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Auc([0.1f, 0.2f], [-1, 0]));
    }

    [Fact]
    public void Auc_matches_pair_counting_on_random_data_with_ties()
    {
        var rng = new Random(20240607);
        for (int trial = 0; trial < 20; trial++)
        {
            int n = 50 + rng.Next(350);
            int distinct = 1 + rng.Next(12); // few distinct values -> many ties
            var scores = new float[n];
            var labels = new float[n];
            for (int i = 0; i < n; i++)
            {
                scores[i] = rng.Next(distinct) * 0.25f - 1f;
                labels[i] = rng.NextDouble() < 0.4 ? 1 : 0;
            }
            double expected = NaiveAuc(scores, labels);
            double got = ClickMetrics.Auc(scores, labels);
            Assert.Equal(expected, got, 1e-12);
            // the inputs are not changed
            Assert.Equal(expected, ClickMetrics.Auc(scores, labels), 1e-12);
        }
    }

    [Fact]
    public void Uauc_skips_single_row_and_single_class_users()
    {
        // user 7:  pos 0.9, neg 0.1, neg 0.5                  -> AUC 1
        // user -2: pos 0.2, pos 0.7, neg 0.6                  -> (0 + 1) / 2 = 0.5
        // user 3:  a single row                               -> skipped
        // user 40: two rows, both negative                    -> skipped
        // user 5:  pos 0.3, neg 0.3 (tie)                     -> 0.5
        // UAUC = (1 + 0.5 + 0.5) / 3 = 2/3 over 3 users; rows of the users are interleaved.
        int[] users = [7, -2, 3, 40, 7, 5, -2, 40, 7, 5, -2];
        float[] scores = [0.9f, 0.2f, 0.8f, 0.4f, 0.1f, 0.3f, 0.7f, 0.9f, 0.5f, 0.3f, 0.6f];
        float[] labels = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0];
        var (uauc, count) = ClickMetrics.Uauc(users, scores, labels);
        Assert.Equal(2.0 / 3.0, uauc, Tol);
        Assert.Equal(3, count);
    }

    [Fact]
    public void Uauc_without_qualifying_users_is_nan_and_bad_input_throws()
    {
        var (uauc, count) = ClickMetrics.Uauc([1, 2, 2], [0.5f, 0.1f, 0.2f], [1, 0, 0]);
        Assert.True(double.IsNaN(uauc));
        Assert.Equal(0, count);
        Assert.Throws<ArgumentException>(() => ClickMetrics.Uauc([1, 1], [0.5f], [1, 0]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Uauc([1, 1], [0.5f, 0.2f], [1]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Uauc([1, 1], [0.5f, float.NaN], [1, 0]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Uauc([1, 1], [0.5f, 0.1f], [1, 3]));
    }

    [Fact]
    public void Uauc_matches_per_user_pair_counting_on_random_data()
    {
        var rng = new Random(7);
        int n = 400;
        var users = new int[n];
        var scores = new float[n];
        var labels = new float[n];
        for (int i = 0; i < n; i++)
        {
            users[i] = rng.Next(30);
            scores[i] = rng.Next(6);
            labels[i] = rng.Next(2);
        }
        var perUser = users.Distinct()
            .Select(u => Enumerable.Range(0, n).Where(i => users[i] == u).ToArray())
            .Where(rows => rows.Length > 1 && rows.Any(r => labels[r] == 1) && rows.Any(r => labels[r] == 0))
            .Select(rows => NaiveAuc(rows.Select(r => scores[r]).ToArray(), rows.Select(r => labels[r]).ToArray()))
            .ToList();
        var (uauc, count) = ClickMetrics.Uauc(users, scores, labels);
        Assert.Equal(perUser.Count, count);
        Assert.Equal(perUser.Average(), uauc, 1e-12);
    }

    static CtrRows Rows(int[] users, float[] labels, bool[] warm) =>
        new("test rows", users, new int[users.Length], labels, new long[users.Length], warm, users.Select(_ => Array.Empty<int>()).ToArray());

    [Fact]
    public void Evaluate_splits_warm_and_cold_rows()
    {
        // warm rows (0, 2, 3): pos 0.9, neg 0.2, pos 0.1  -> (1 + 0) / 2 = 0.5
        // cold rows (1, 4):    pos 0.8, neg 0.3           -> 1
        // all rows: positives 0.9, 0.8, 0.1; negatives 0.2, 0.3 -> wins 2 + 2 + 0 = 4 of 6
        // users: user 1 = rows 0, 1, 2 (pos 0.9, pos 0.8, neg 0.2 -> 1); user 2 = rows 3, 4 (pos 0.1, neg 0.3 -> 0)
        var rows = Rows([1, 1, 1, 2, 2], [1, 1, 0, 1, 0], [true, false, true, true, false]);
        var e = ClickMetrics.Evaluate(rows, [0.9f, 0.8f, 0.2f, 0.1f, 0.3f]);
        Assert.Equal(4.0 / 6.0, e.Auc, Tol);
        Assert.Equal(0.5, e.Uauc, Tol);
        Assert.Equal(2, e.UaucUsers);
        Assert.Equal(0.5, e.AucWarm, Tol);
        Assert.Equal(1.0, e.AucCold, Tol);
        Assert.Equal(5, e.Rows);
        Assert.Equal(3, e.WarmRows);
        Assert.Equal(2, e.ColdRows);

        var d = e.ToDictionary();
        Assert.Equal(["auc", "auc_cold", "auc_warm", "cold_rows", "rows", "uauc", "uauc_users", "warm_rows"], d.Keys.Order());
        Assert.Equal(4.0 / 6.0, d["auc"], Tol);
        Assert.Equal(3, d["warm_rows"]);
        Assert.Equal(2, d["uauc_users"]);
    }

    [Fact]
    public void Evaluate_keeps_undefined_metrics_as_nan()
    {
        // every row warm: the cold AUC has no rows; one row per user: no UAUC user
        var rows = Rows([1, 2, 3], [1, 0, 1], [true, true, true]);
        var e = ClickMetrics.Evaluate(rows, [0.3f, 0.2f, 0.1f]);
        Assert.Equal(0.5, e.Auc, Tol);
        Assert.Equal(e.Auc, e.AucWarm, Tol);
        Assert.True(double.IsNaN(e.AucCold));
        Assert.True(double.IsNaN(e.Uauc));
        Assert.Equal(0, e.ColdRows);
        var d = e.ToDictionary();
        Assert.True(double.IsNaN(d["auc_cold"]));
        Assert.True(double.IsNaN(d["uauc"]));
        Assert.Throws<ArgumentException>(() => ClickMetrics.Evaluate(rows, [0.1f, 0.2f]));
    }
}
