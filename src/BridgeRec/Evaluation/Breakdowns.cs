using System.Globalization;
using System.Text;
using BridgeRec.Data;

namespace BridgeRec.Evaluation;

/// <summary>Metric means of one bucket of a breakdown.</summary>
/// <param name="Label">e.g. "Q1 (3-17)" or "6-20".</param>
/// <param name="Users">Distinct users contributing.</param>
/// <param name="Cases">Cases averaged over (users for full ranking, (user, target) pairs for the sampled protocol).</param>
/// <param name="Pairs">(user, relevant item) pairs in the bucket.</param>
/// <param name="Means">Mean metric values over the bucket's cases, keyed like <see cref="EvaluationResult"/>.</param>
public sealed record BucketMetrics(string Label, int Users, int Cases, int Pairs, IReadOnlyDictionary<string, double> Means);

/// <summary>A breakdown of one evaluation into buckets (empty buckets are left out).</summary>
public sealed class BucketReport(string title, IReadOnlyList<string> metricNames, IReadOnlyList<BucketMetrics> buckets)
{
    public string Title { get; } = title;
    public IReadOnlyList<string> MetricNames { get; } = metricNames;
    public IReadOnlyList<BucketMetrics> Buckets { get; } = buckets;

    public string ToTable()
    {
        int labelWidth = Math.Max(8, Buckets.Select(b => b.Label.Length).DefaultIfEmpty(0).Max());
        var sb = new StringBuilder();
        sb.AppendLine(Title);
        sb.Append(string.Create(CultureInfo.InvariantCulture, $"{"bucket".PadRight(labelWidth)} {"users",7} {"cases",7} {"pairs",8}"));
        foreach (string m in MetricNames) sb.Append(string.Create(CultureInfo.InvariantCulture, $" {m,12}"));
        sb.AppendLine();
        foreach (var b in Buckets)
        {
            sb.Append(string.Create(CultureInfo.InvariantCulture, $"{b.Label.PadRight(labelWidth)} {b.Users,7} {b.Cases,7} {b.Pairs,8}"));
            foreach (string m in MetricNames) sb.Append(string.Create(CultureInfo.InvariantCulture, $" {b.Means[m],12:F4}"));
            sb.AppendLine();
        }
        return sb.ToString();
    }

    public override string ToString() => ToTable();
}

/// <summary>
/// Sparsity breakdowns of an <see cref="EvaluationResult"/> (DESIGN.md section 3): by user activity
/// and by the popularity of the test items.
/// </summary>
public static class Breakdowns
{
    /// <summary>Item popularity bucket edges (inclusive upper bounds): cold &lt;= 5, 6-20, 21-100, &gt; 100.</summary>
    public static IReadOnlyList<int> DefaultPopularityEdges { get; } = [5, 20, 100];

    /// <summary>Interactions per user (rows, repeats included).</summary>
    public static int[] CountPerUser(Interactions interactions, int numUsers)
    {
        var counts = new int[numUsers];
        foreach (int u in interactions.Users) counts[u]++;
        return counts;
    }

    /// <summary>Interactions per item (rows, repeats included).</summary>
    public static int[] CountPerItem(Interactions interactions, int numItems)
    {
        var counts = new int[numItems];
        foreach (int i in interactions.Items) counts[i]++;
        return counts;
    }

    /// <summary>
    /// Equal-count activity buckets: the users are ordered by (count ascending, user index ascending)
    /// and the j-th of n users goes to bucket floor(j * buckets / n), so bucket sizes differ by at most
    /// one and bucket 0 (Q1) holds the sparsest users. Users with equal counts may straddle a boundary;
    /// the user index decides, deterministically. Returns the bucket of each user in <paramref name="users"/>.
    /// </summary>
    public static int[] ActivityBuckets(IReadOnlyList<int> users, IReadOnlyList<int> countPerUser, int buckets = 4)
    {
        if (buckets <= 0) throw new ArgumentOutOfRangeException(nameof(buckets), buckets, "at least one bucket is needed");
        int n = users.Count;
        var order = Enumerable.Range(0, n)
            .OrderBy(j => countPerUser[users[j]]).ThenBy(j => users[j]).ToArray();
        var bucketOf = new int[n];
        for (int rank = 0; rank < n; rank++) bucketOf[order[rank]] = (int)((long)rank * buckets / n);
        return bucketOf;
    }

    /// <summary>
    /// Metric means per user-activity bucket (default quartiles, Q1 sparsest), users bucketed by
    /// <paramref name="countPerUser"/> (training interactions; see <see cref="CountPerUser"/>) among the
    /// users evaluated. Every metric of the result is averaged over the cases of each bucket's users.
    /// Labels give the activity range, e.g. "Q1 (3-17)".
    /// </summary>
    public static BucketReport ByUserActivity(EvaluationResult result, IReadOnlyList<int> countPerUser, int buckets = 4)
    {
        int[] users = result.CaseUsers.Distinct().Order().ToArray();
        int[] bucketOfUser = ActivityBuckets(users, countPerUser, buckets);
        var bucketByUser = new Dictionary<int, int>(users.Length);
        for (int j = 0; j < users.Length; j++) bucketByUser[users[j]] = bucketOfUser[j];

        var report = new List<BucketMetrics>();
        for (int q = 0; q < buckets; q++)
        {
            var members = Enumerable.Range(0, users.Length).Where(j => bucketOfUser[j] == q).Select(j => users[j]).ToList();
            if (members.Count == 0) continue;
            int lo = members.Min(u => countPerUser[u]), hi = members.Max(u => countPerUser[u]);
            var cases = Enumerable.Range(0, result.Cases).Where(c => bucketByUser[result.CaseUsers[c]] == q).ToList();
            var means = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (string m in result.MetricNames)
            {
                var values = result.PerCase(m);
                means[m] = cases.Sum(c => values[c]) / cases.Count;
            }
            int pairs = cases.Sum(c => result.CaseRelevant[c].Length);
            report.Add(new BucketMetrics(string.Create(CultureInfo.InvariantCulture, $"Q{q + 1} ({lo}-{hi})"),
                members.Count, cases.Count, pairs, means));
        }
        return new BucketReport($"{result.Protocol}: by user activity ({buckets} equal-count buckets of training interactions)",
            result.MetricNames, report);
    }

    /// <summary>The bucket of an item count under inclusive upper edges: edges [5, 20, 100] give 0 for &lt;= 5 ... 3 for &gt; 100.</summary>
    public static int PopularityBucket(int count, IReadOnlyList<int> upperEdges)
    {
        int b = 0;
        while (b < upperEdges.Count && count > upperEdges[b]) b++;
        return b;
    }

    /// <summary>"&lt;=5", "6-20", "21-100", "&gt;100" for edges [5, 20, 100].</summary>
    public static string[] PopularityLabels(IReadOnlyList<int> upperEdges)
    {
        var labels = new string[upperEdges.Count + 1];
        for (int b = 0; b <= upperEdges.Count; b++)
        {
            labels[b] = b == 0 ? string.Create(CultureInfo.InvariantCulture, $"<={upperEdges[0]}")
                : b == upperEdges.Count ? string.Create(CultureInfo.InvariantCulture, $">{upperEdges[b - 1]}")
                : upperEdges[b - 1] + 1 == upperEdges[b] ? upperEdges[b].ToString(CultureInfo.InvariantCulture)
                : string.Create(CultureInfo.InvariantCulture, $"{upperEdges[b - 1] + 1}-{upperEdges[b]}");
        }
        return labels;
    }

    /// <summary>
    /// Metric means per popularity bucket of the relevant (test) items, items bucketed by
    /// <paramref name="countPerItem"/> (training interactions; see <see cref="CountPerItem"/>) under
    /// inclusive upper edges (default <see cref="DefaultPopularityEdges"/>).
    /// <para>
    /// Definition for cases with several relevant items (P1): the ranking is left as it is and only
    /// the relevant items in the bucket count as relevant. A case contributes to a bucket when it has
    /// at least one relevant item there, with Recall@K = (its bucket items in the top K) / (its bucket
    /// items), HR@K = 1 when any of them is in the top K, and NDCG@K = DCG over the hit positions of
    /// its bucket items / IDCG over min(bucket items, K) positions; means are over contributing cases,
    /// so "&lt;=5 / recall@20" reads: of a user's cold test items, the share found in the top 20.
    /// Precision and MRR are not broken down (they do not restrict meaningfully). With one relevant
    /// item per case (leave-one-out, sampled) this is simply the case's own HR / NDCG grouped by the
    /// target's bucket. The top lists stored in the result are max K long, so every K is covered.
    /// </para>
    /// </summary>
    public static BucketReport ByItemPopularity(EvaluationResult result, IReadOnlyList<int> countPerItem, IReadOnlyList<int>? upperEdges = null)
    {
        upperEdges ??= DefaultPopularityEdges;
        if (upperEdges.Count == 0) throw new ArgumentException("at least one bucket edge is needed", nameof(upperEdges));
        for (int b = 1; b < upperEdges.Count; b++)
            if (upperEdges[b] <= upperEdges[b - 1])
                throw new ArgumentException($"bucket edges must increase: {string.Join(", ", upperEdges)}", nameof(upperEdges));
        var labels = PopularityLabels(upperEdges);
        int numBuckets = labels.Length;

        var names = new List<string>();
        var measures = new List<(string Family, int K)>();
        foreach (int k in result.Ks)
            foreach (string family in new[] { "recall", "ndcg", "hr" })
            {
                string key = EvaluationResult.Key(family, k);
                if (!result.MetricNames.Contains(key)) continue;
                names.Add(key);
                measures.Add((family, k));
            }

        var sums = new double[numBuckets, names.Count];
        var cases = new int[numBuckets];
        var pairs = new int[numBuckets];
        var users = new HashSet<int>[numBuckets];
        for (int b = 0; b < numBuckets; b++) users[b] = [];
        var groups = new List<int>[numBuckets];
        for (int b = 0; b < numBuckets; b++) groups[b] = [];

        for (int c = 0; c < result.Cases; c++)
        {
            foreach (var g in groups) g.Clear();
            foreach (int item in result.CaseRelevant[c]) groups[PopularityBucket(countPerItem[item], upperEdges)].Add(item);
            int[] list = result.CaseTopItems[c];
            for (int b = 0; b < numBuckets; b++)
            {
                if (groups[b].Count == 0) continue;
                var rel = groups[b].ToArray(); // a subset of a sorted list: still sorted
                var hits = new bool[list.Length];
                RankingMetrics.FillHits(list, rel, hits);
                for (int m = 0; m < measures.Count; m++)
                {
                    var (family, k) = measures[m];
                    sums[b, m] += family switch
                    {
                        "recall" => RankingMetrics.Recall(hits, rel.Length, k),
                        "ndcg" => RankingMetrics.Ndcg(hits, rel.Length, k),
                        _ => RankingMetrics.HitRate(hits, k),
                    };
                }
                cases[b]++;
                pairs[b] += rel.Length;
                users[b].Add(result.CaseUsers[c]);
            }
        }

        var report = new List<BucketMetrics>();
        for (int b = 0; b < numBuckets; b++)
        {
            if (cases[b] == 0) continue;
            var means = new Dictionary<string, double>(StringComparer.Ordinal);
            for (int m = 0; m < names.Count; m++) means[names[m]] = sums[b, m] / cases[b];
            report.Add(new BucketMetrics(labels[b], users[b].Count, cases[b], pairs[b], means));
        }
        return new BucketReport(
            $"{result.Protocol}: by test-item popularity (training interactions, edges {string.Join("/", upperEdges)})", names, report);
    }

    /// <summary><see cref="ByUserActivity(EvaluationResult, IReadOnlyList{int}, int)"/> with activity = training rows per user.</summary>
    public static BucketReport ByUserActivity(EvaluationResult result, Interactions train, int numUsers, int buckets = 4) =>
        ByUserActivity(result, CountPerUser(train, numUsers), buckets);

    /// <summary><see cref="ByItemPopularity(EvaluationResult, IReadOnlyList{int}, IReadOnlyList{int}?)"/> with popularity = training rows per item.</summary>
    public static BucketReport ByItemPopularity(EvaluationResult result, Interactions train, int numItems, IReadOnlyList<int>? upperEdges = null) =>
        ByItemPopularity(result, CountPerItem(train, numItems), upperEdges);
}
