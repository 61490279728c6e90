using BridgeRec.Data;

namespace BridgeRec.Evaluation;

/// <summary>
/// Click-through metrics of one part: overall AUC, user-averaged AUC, and AUC on the warm and cold rows separately.
/// Metrics that are undefined (no positives or no negatives, or no qualifying user) are NaN.
/// </summary>
public sealed record CtrEvaluation(double Auc, double Uauc, int Rows, int UaucUsers, double AucWarm, double AucCold, int WarmRows, int ColdRows)
{
    /// <summary>
    /// The metrics by name: "auc", "uauc", "auc_warm", "auc_cold", "rows", "uauc_users", "warm_rows", "cold_rows".
    /// Undefined metrics stay NaN.
    /// </summary>
    public Dictionary<string, double> ToDictionary() => new()
    {
        ["auc"] = Auc,
        ["uauc"] = Uauc,
        ["auc_warm"] = AucWarm,
        ["auc_cold"] = AucCold,
        ["rows"] = Rows,
        ["uauc_users"] = UaucUsers,
        ["warm_rows"] = WarmRows,
        ["cold_rows"] = ColdRows,
    };
}

/// <summary>
/// Ranking quality of click-through scores: ROC AUC and the per-user average of it (UAUC) as CoLLM reports them.
/// </summary>
public static class ClickMetrics
{
    /// <summary>
    /// ROC AUC of <paramref name="scores"/> against 0/1 <paramref name="labels"/>: the chance that a randomly drawn
    /// positive row scores higher than a randomly drawn negative row, a tie counting as half. Computed exactly as the
    /// Mann-Whitney U statistic with average ranks for tied scores, after one sort (O(n log n)); the pair counts are kept
    /// in integers so nothing is lost to rounding before the final division. Infinite scores are allowed.
    /// </summary>
    /// <returns>The AUC in [0, 1]; NaN when all labels are equal (or there are no rows).</returns>
    /// <exception cref="ArgumentException">Lengths differ, a score is NaN, or a label is neither 0 nor 1.</exception>
    public static double Auc(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        Check(scores, labels);
        var keys = scores.ToArray();
        var values = labels.ToArray();
        return SortedAuc(keys, values);
    }

    /// <summary>
    /// User-averaged AUC: each user's AUC over that user's rows, then the plain (unweighted) mean over users. As in
    /// CoLLM, a user with only one row or with rows of only one class is left out. Users may be any integers.
    /// </summary>
    /// <returns>The mean AUC (NaN when no user qualifies) and the number of users it averages.</returns>
    /// <exception cref="ArgumentException">Lengths differ, a score is NaN, or a label is neither 0 nor 1.</exception>
    public static (double Uauc, int Users) Uauc(ReadOnlySpan<int> users, ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        if (users.Length != scores.Length)
            throw new ArgumentException($"{users.Length} users but {scores.Length} scores");
        Check(scores, labels);
        int n = users.Length;
        // Group the rows by user: sort row indices by user (stable order within a user does not matter for AUC).
        var byUser = users.ToArray();
        var order = new int[n];
        for (int r = 0; r < n; r++) order[r] = r;
        Array.Sort(byUser, order);

        var keys = new float[n];
        var values = new float[n];
        double sum = 0;
        int counted = 0;
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && byUser[end] == byUser[start]) end++;
            int len = end - start;
            if (len >= 2)
            {
                int positives = 0;
                for (int k = 0; k < len; k++)
                {
                    int r = order[start + k];
                    keys[k] = scores[r];
                    values[k] = labels[r];
                    if (labels[r] == 1f) positives++;
                }
                if (positives > 0 && positives < len)
                {
                    sum += SortedAuc(keys.AsSpan(0, len), values.AsSpan(0, len));
                    counted++;
                }
            }
            start = end;
        }
        return (counted == 0 ? double.NaN : sum / counted, counted);
    }

    /// <summary>
    /// All click-through metrics of one part: AUC and UAUC over every row, and AUC over the warm rows
    /// (<see cref="CtrRows.NotCold"/> true) and over the cold rows separately.
    /// </summary>
    /// <param name="rows">The labelled rows.</param>
    /// <param name="scores">One score per row, in row order (higher = more likely a click).</param>
    /// <exception cref="ArgumentException">The number of scores differs from the number of rows, or a score is NaN.</exception>
    public static CtrEvaluation Evaluate(CtrRows rows, float[] scores)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Length != rows.Count)
            throw new ArgumentException($"{scores.Length} scores for {rows.Count} rows of {rows.Source}", nameof(scores));
        double auc = Auc(scores, rows.Labels);
        var (uauc, users) = Uauc(rows.Users, scores, rows.Labels);

        int warmRows = 0;
        foreach (bool w in rows.NotCold) if (w) warmRows++;
        int coldRows = rows.Count - warmRows;
        var warmScores = new float[warmRows];
        var warmLabels = new float[warmRows];
        var coldScores = new float[coldRows];
        var coldLabels = new float[coldRows];
        for (int r = 0, w = 0, c = 0; r < rows.Count; r++)
        {
            if (rows.NotCold[r]) { warmScores[w] = scores[r]; warmLabels[w++] = rows.Labels[r]; }
            else { coldScores[c] = scores[r]; coldLabels[c++] = rows.Labels[r]; }
        }
        return new CtrEvaluation(auc, uauc, rows.Count, users,
            SortedAuc(warmScores, warmLabels), SortedAuc(coldScores, coldLabels), warmRows, coldRows);
    }

    static void Check(ReadOnlySpan<float> scores, ReadOnlySpan<float> labels)
    {
        if (scores.Length != labels.Length)
            throw new ArgumentException($"{scores.Length} scores but {labels.Length} labels");
        for (int r = 0; r < scores.Length; r++)
        {
            if (float.IsNaN(scores[r])) throw new ArgumentException($"score of row {r} is NaN", nameof(scores));
            if (labels[r] != 0f && labels[r] != 1f)
                throw new ArgumentException($"label of row {r} is {labels[r]}; labels must be 0 or 1", nameof(labels));
        }
    }

    /// <summary>
    /// AUC of already checked scores and labels; sorts both spans in place (by score). With the rows in ascending score
    /// order and tied scores in groups, each positive in a group beats every negative of the earlier groups and ties
    /// with the negatives of its own group, so 2U = sum over groups of p * (2 * negativesBelow + q) for a group of
    /// p positives and q negatives; this is the rank-sum U with average ranks, counted in integers.
    /// </summary>
    static double SortedAuc(Span<float> scores, Span<float> labels)
    {
        scores.Sort(labels);
        long positives = 0, negatives = 0, twiceU = 0;
        for (int start = 0; start < scores.Length;)
        {
            float s = scores[start];
            long p = 0, q = 0;
            int end = start;
            for (; end < scores.Length && scores[end] == s; end++)
                if (labels[end] == 1f) p++; else q++;
            twiceU += p * (2 * negatives + q);
            positives += p;
            negatives += q;
            start = end;
        }
        if (positives == 0 || negatives == 0) return double.NaN;
        return twiceU / (2.0 * positives * negatives);
    }
}
