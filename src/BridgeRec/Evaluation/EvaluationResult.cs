using System.Globalization;
using System.Text;

namespace BridgeRec.Evaluation;

/// <summary>
/// The outcome of one evaluation: mean metrics, and per case the values behind them so that
/// breakdowns (<see cref="Breakdowns"/>) can regroup them. A case is one user for full ranking and
/// one (user, target) pair for the sampled protocol. Metric keys are "recall@20", "ndcg@20",
/// "precision@20", "hr@10" (one per requested K) and "mrr".
/// </summary>
public sealed class EvaluationResult
{
    readonly double[][] _perCase;
    readonly Dictionary<string, int> _column;
    readonly Dictionary<string, double> _means;

    internal EvaluationResult(string protocol, IReadOnlyList<int> ks, IReadOnlyList<string> metricNames, double[][] perCase,
        int[] caseUsers, int[][] caseRelevant, int[][] caseTopItems, double elapsedSeconds,
        int tieFallbackUsers = 0, int excludedRelevantPairs = 0)
    {
        Protocol = protocol;
        Ks = ks;
        MetricNames = metricNames;
        _perCase = perCase;
        CaseUsers = caseUsers;
        CaseRelevant = caseRelevant;
        CaseTopItems = caseTopItems;
        ElapsedSeconds = elapsedSeconds;
        TieFallbackUsers = tieFallbackUsers;
        ExcludedRelevantPairs = excludedRelevantPairs;
        UsersEvaluated = caseUsers.Distinct().Count();
        _column = new Dictionary<string, int>(StringComparer.Ordinal);
        _means = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int m = 0; m < metricNames.Count; m++)
        {
            _column[metricNames[m]] = m;
            double sum = 0;
            foreach (double v in perCase[m]) sum += v;
            _means[metricNames[m]] = caseUsers.Length == 0 ? double.NaN : sum / caseUsers.Length;
        }
    }

    /// <summary>"recall" and 20 give "recall@20".</summary>
    public static string Key(string metric, int k) => string.Create(CultureInfo.InvariantCulture, $"{metric}@{k}");

    /// <summary>What was measured, e.g. "full ranking, history excluded".</summary>
    public string Protocol { get; }
    public IReadOnlyList<int> Ks { get; }
    /// <summary>Metric keys in report order.</summary>
    public IReadOnlyList<string> MetricNames { get; }
    public int Cases => CaseUsers.Count;
    /// <summary>Distinct users evaluated (users without relevant items are skipped).</summary>
    public int UsersEvaluated { get; }
    /// <summary>Wall-clock seconds of the evaluation, scoring callback included.</summary>
    public double ElapsedSeconds { get; }
    /// <summary>The user of each case.</summary>
    public IReadOnlyList<int> CaseUsers { get; }
    /// <summary>The relevant items of each case, sorted ascending.</summary>
    public IReadOnlyList<int[]> CaseRelevant { get; }
    /// <summary>The first max-K items of each case's ranking, best first (excluded items never appear).</summary>
    public IReadOnlyList<int[]> CaseTopItems { get; }
    /// <summary>Users whose ranking needed the exact slow path (ties across the top-K cut, or non-finite scores).</summary>
    public int TieFallbackUsers { get; }
    /// <summary>(user, relevant item) pairs that were also excluded: they can never be hit, and still count as relevant.</summary>
    public int ExcludedRelevantPairs { get; }

    /// <summary>Mean of a metric over cases, e.g. <c>result["ndcg@20"]</c>.</summary>
    public double this[string metric] => _means.TryGetValue(metric, out double v)
        ? v
        : throw new KeyNotFoundException($"no metric '{metric}' in this result; it has {string.Join(", ", MetricNames)}");

    /// <summary>A metric's value per case, aligned with <see cref="CaseUsers"/>.</summary>
    public IReadOnlyList<double> PerCase(string metric) => _column.TryGetValue(metric, out int m)
        ? _perCase[m]
        : throw new KeyNotFoundException($"no metric '{metric}' in this result; it has {string.Join(", ", MetricNames)}");

    /// <summary>Mean metrics keyed "recall@20", "ndcg@20", ..., "mrr", in report order.</summary>
    public Dictionary<string, double> ToDictionary()
    {
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string name in MetricNames) d[name] = _means[name];
        return d;
    }

    /// <summary>One line: "recall@20=0.1234 ndcg@20=0.2345 ... mrr=0.4567 (6,040 users, 0.31 s)".</summary>
    public string Summary
    {
        get
        {
            var parts = MetricNames.Select(n => string.Create(CultureInfo.InvariantCulture, $"{n}={_means[n]:F4}"));
            return $"{string.Join(' ', parts)} ({Extent})";
        }
    }

    /// <summary>"6,040 users, 0.31 s" or "6,100 cases, 6,040 users, 0.31 s".</summary>
    string Extent => Cases == UsersEvaluated
        ? string.Create(CultureInfo.InvariantCulture, $"{UsersEvaluated:N0} users, {ElapsedSeconds:F2} s")
        : string.Create(CultureInfo.InvariantCulture, $"{Cases:N0} cases, {UsersEvaluated:N0} users, {ElapsedSeconds:F2} s");

    /// <summary>A small fixed-width table: one row per K, one column per metric, then the metrics without K.</summary>
    public string ToTable()
    {
        var sb = new StringBuilder();
        sb.Append(Protocol).Append(": ").AppendLine(Extent);
        var families = MetricNames.Where(n => n.Contains('@')).Select(n => n[..n.IndexOf('@')]).Distinct().ToList();
        if (families.Count > 0)
        {
            sb.Append(string.Create(CultureInfo.InvariantCulture, $"{"K",5}"));
            foreach (string f in families) sb.Append(string.Create(CultureInfo.InvariantCulture, $" {f,10}"));
            sb.AppendLine();
            foreach (int k in Ks)
            {
                sb.Append(string.Create(CultureInfo.InvariantCulture, $"{k,5}"));
                foreach (string f in families)
                {
                    string key = Key(f, k);
                    sb.Append(_means.TryGetValue(key, out double v)
                        ? string.Create(CultureInfo.InvariantCulture, $" {v,10:F4}")
                        : $" {"",10}");
                }
                sb.AppendLine();
            }
        }
        foreach (string n in MetricNames.Where(n => !n.Contains('@')))
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{n} {_means[n]:F4}"));
        if (ExcludedRelevantPairs > 0)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"note: {ExcludedRelevantPairs:N0} relevant (user, item) pairs were also excluded and count as misses"));
        return sb.ToString();
    }

    public override string ToString() => $"{Protocol}: {Summary}";
}
