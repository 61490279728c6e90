using System.Globalization;
using System.Text;
using BridgeRec.IO;

namespace BridgeRec.Bridge.Experiments;

/// <summary>Mean and sample standard deviation over seeds.</summary>
public readonly record struct Stat(double Mean, double Std, int N)
{
    public static Stat Of(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).ToArray();
        if (v.Length == 0) return new Stat(double.NaN, double.NaN, 0);
        double mean = v.Average();
        double std = v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)) : 0;
        return new Stat(mean, std, v.Length);
    }

    public override string ToString() => N == 0 ? "-" : string.Create(CultureInfo.InvariantCulture, $"{Mean:F4} ± {Std:F4}");
}

/// <summary>
/// report.md (and PNG charts) of an experiment from its results.json: per dataset the method x metric
/// tables as mean ± std over seeds, the bucket tables, BDLM's rounds, the claims C1-C3 judged from the
/// numbers (<see cref="ReportClaims"/>), where the time went, and the configuration.
/// </summary>
public static class Report
{
    public const string FileName = "report.md";

    internal static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes report.md (atomically) and the charts into <paramref name="outDir"/>; returns the report's path.</summary>
    public static string Write(ExperimentConfig config, ResultsFile results, string outDir, Action<string>? log = null)
    {
        var md = new StringBuilder();
        md.AppendLine($"# Experiment {config.Name}").AppendLine();
        md.AppendLine(F($"Written {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC from `{ResultsFile.FileName}`. Values are mean ± sample std over seeds (n = number of seeds). ")
            + $"Test metrics; the monitored validation metric (early stopping, best round) is `{config.Monitor}`.").AppendLine();
        if (config.Tuned is { } tuned)
            md.AppendLine($"Settings from `{tuned}` (chosen on validation by `bridgerec tune`) are merged over the config's own; `config.json` holds the result.").AppendLine();
        var chartErrors = new List<string>();
        foreach (var ds in config.Datasets)
        {
            string hash = config.RunHash(ds);
            var rows = results.Runs.Where(r => r.Dataset == ds.Name && r.ConfigHash == hash).ToList();
            md.AppendLine($"## {ds.Name}").AppendLine();
            md.AppendLine($"Data: `{ds.Data.Path}` (format {ds.Data.Format}){(ds.MaxUsers is int n ? $", first {n} users" : "")}; config hash `{hash}`.").AppendLine();
            if (rows.Count == 0) { md.AppendLine("No finished runs yet.").AppendLine(); continue; }
            var methods = MethodOrder(config, rows);
            double main = rows.Select(r => r.Fraction).Max();
            var mainRows = rows.Where(r => r.Fraction == main).ToList();
            if (ds.Fractions.Length > 1) md.AppendLine(F($"Tables below use the full training data (fraction {main:0.###}); the sparsity curve follows.")).AppendLine();

            if (ds.IsCtr)
                MetricTable(md, "Test, click-through (every test row): AUC, user-averaged AUC, AUC on warm and on cold rows", mainRows, methods, "ctr", ds.MainMetrics);
            else
                MetricTable(md, "Test, full ranking (train + validation excluded)", mainRows, methods, "full", ds.MainMetrics);
            if (ds.Sampled)
                MetricTable(md, "Test, sampled (target + 99 unseen negatives)", mainRows, methods, "sampled",
                    ds.Ks.Order().SelectMany(k => new[] { $"hr@{k}", $"ndcg@{k}" }).Append("mrr").ToArray());
            if (ds.UnisrecProtocol)
                MetricTable(md, "Test, UniSRec variant (history NOT excluded)", mainRows, methods, "unisrec",
                    ["recall@10", "ndcg@10", "recall@50", "ndcg@50"]);
            if (ds.Published is { Length: > 0 } published) PublishedTable(md, published, mainRows, methods);
            var activity = BucketTable(md, $"By user activity (training interactions; Q1 sparsest), {config.Monitor}", mainRows, methods, "user_activity", config.Monitor, activity: true);
            var popularity = BucketTable(md, $"By item popularity of the test item (training interactions; <=5 = cold), {config.Monitor}", mainRows, methods, "item_popularity", config.Monitor, activity: false);
            var rounds = RoundsTable(md, mainRows, config.Monitor);
            LlmEpochTable(md, mainRows, config.Monitor);
            var sparsity = ds.Fractions.Length > 1 ? SparsityTable(md, rows, methods, config.Monitor) : null;
            if (ds.IsCtr) ReportClaims.ClickThrough(md, config, ds, mainRows);
            else ReportClaims.Ranking(md, config, ds, mainRows);
            TimeTable(md, mainRows, methods, ds.IsCtr);

            // Charts: a failure (e.g. no fonts or native Skia library) leaves the report complete without them.
            string safe = string.Concat(ds.Name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
            var charts = new List<(string File, Action<string> Draw)>();
            if (rounds is not null) charts.Add(($"{safe}-rounds.png", p => Charts.Lines(p, $"{ds.Name}: BDLM validation {config.Monitor} per round", "round", config.Monitor, rounds, rounds.Last().X.Select(x => F($"{x:0}")).ToArray())));
            if (activity is not null) charts.Add(($"{safe}-user-activity.png", p => Charts.GroupedBars(p, $"{ds.Name}: test {config.Monitor} by user activity", config.Monitor, activity.Value.Cats, activity.Value.Methods, activity.Value.Mean, activity.Value.Std)));
            if (popularity is not null) charts.Add(($"{safe}-item-popularity.png", p => Charts.GroupedBars(p, $"{ds.Name}: test {config.Monitor} by item popularity", config.Monitor, popularity.Value.Cats, popularity.Value.Methods, popularity.Value.Mean, popularity.Value.Std)));
            if (sparsity is { Count: > 0 }) charts.Add(($"{safe}-sparsity.png", p => Charts.Lines(p, $"{ds.Name}: test {config.Monitor} vs training fraction", "fraction of training data", config.Monitor, sparsity, sparsity.OrderByDescending(x => x.X.Length).First().X.Select(x => F($"{x:0.##}")).ToArray())));
            if (charts.Count > 0)
            {
                md.AppendLine("### Charts").AppendLine();
                foreach (var (file, draw) in charts)
                {
                    try
                    {
                        draw(Path.Combine(outDir, file));
                        md.AppendLine($"![{file}]({file})").AppendLine();
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        string why = $"{e.GetType().Name}: {e.Message}";
                        chartErrors.Add(why);
                        md.AppendLine($"Chart `{file}` could not be drawn ({why}); the tables above hold the same numbers. "
                            + "On Debian, `apt-get install -y fonts-dejavu-core` provides the fonts ScottPlot needs.").AppendLine();
                    }
                }
            }
        }
        md.AppendLine("## Configuration").AppendLine().AppendLine("```json").AppendLine(config.ToJson()).AppendLine("```");
        string path = Path.Combine(outDir, FileName);
        AtomicFile.WriteAllText(path, md.ToString());
        foreach (var e in chartErrors.Distinct()) log?.Invoke($"chart not drawn: {e}");
        return path;
    }

    /// <summary>Row names in the config's method order (the stage-0 DSM first when it is not a listed method).</summary>
    static List<string> MethodOrder(ExperimentConfig config, List<RunRow> rows)
    {
        var order = new List<string> { config.Dsm.Model };
        order.AddRange(ExperimentRunner.RowNames(config.Methods));
        order.AddRange(rows.Select(r => r.Method));
        var present = rows.Select(r => r.Method).ToHashSet();
        return order.Distinct().Where(present.Contains).ToList();
    }

    internal static Stat StatOf(IEnumerable<RunRow> rows, string method, Func<RunRow, double?> value) =>
        Stat.Of(rows.Where(r => r.Method == method).Select(value).Where(v => v.HasValue).Select(v => v!.Value));

    internal static double? Metric(RunRow r, string protocol, string metric) =>
        r.Metrics.TryGetValue(protocol, out var m) && m.TryGetValue(metric, out double v) ? v : null;

    static void MetricTable(StringBuilder md, string title, List<RunRow> rows, List<string> methods, string protocol, string[] metrics)
    {
        md.AppendLine($"### {title}").AppendLine();
        md.AppendLine($"| method | {string.Join(" | ", metrics)} | n |");
        md.AppendLine($"|---|{string.Concat(metrics.Select(_ => "---|"))}---|");
        foreach (var m in methods)
        {
            var cells = metrics.Select(k => StatOf(rows, m, r => Metric(r, protocol, k)).ToString());
            md.AppendLine($"| {m} | {string.Join(" | ", cells)} | {rows.Count(r => r.Method == m)} |");
        }
        md.AppendLine();
    }

    /// <summary>Published models beside ours on the same split and protocol; says which published rows our best row beats on every metric.</summary>
    static void PublishedTable(StringBuilder md, PublishedResult[] published, List<RunRow> rows, List<string> methods)
    {
        foreach (var group in published.GroupBy(p => p.Protocol))
        {
            var metrics = group.SelectMany(p => p.Metrics.Keys).Distinct().ToArray();
            md.AppendLine($"### Beside published results ({group.Key} protocol, same split)").AppendLine();
            md.AppendLine($"| model | {string.Join(" | ", metrics)} | source |");
            md.AppendLine($"|---|{string.Concat(metrics.Select(_ => "---|"))}---|");
            foreach (var p in group)
                md.AppendLine($"| {p.Model} | {string.Join(" | ", metrics.Select(k => p.Metrics.TryGetValue(k, out double v) ? F($"{v:F4}") : "-"))} | {p.Source} |");
            foreach (var m in methods)
            {
                var stats = metrics.Select(k => StatOf(rows, m, r => Metric(r, group.Key, k))).ToArray();
                if (stats.All(x => x.N == 0)) continue;
                md.AppendLine($"| **BridgeRec {m}** | {string.Join(" | ", stats.Select(x => x.ToString()))} | this run, n = {rows.Count(r => r.Method == m)} |");
            }
            md.AppendLine();
            foreach (var m in new[] { "bdlm-llm", "bdlm-dsm" }.Where(methods.Contains))
            {
                var beaten = group.Where(p => p.Metrics.All(kv => StatOf(rows, m, r => Metric(r, group.Key, kv.Key)) is { N: > 0 } st && st.Mean > kv.Value)).Select(p => p.Model).ToList();
                md.AppendLine(beaten.Count == group.Count()
                    ? $"- {m} is above every published row on every metric listed."
                    : beaten.Count == 0
                        ? $"- {m} is above none of the published rows on all listed metrics."
                        : $"- {m} is above {string.Join(", ", beaten)} on every listed metric, not above {string.Join(", ", group.Select(p => p.Model).Except(beaten))}.");
            }
            md.AppendLine();
        }
    }

    /// <summary>Bucket key: "Q1" for activity quartiles (their ranges differ between splits), the label for popularity.</summary>
    static string BucketKey(string label, bool activity) => activity ? label.Split(' ')[0] : label;

    static (List<string> Cats, List<string> Methods, double[,] Mean, double[,] Std)? BucketTable(
        StringBuilder md, string title, List<RunRow> rows, List<string> methods, string kind, string metric, bool activity)
    {
        var withBuckets = rows.Where(r => r.Buckets.ContainsKey(kind)).ToList();
        if (withBuckets.Count == 0) return null;
        var labels = new List<(string Key, string Label, int Users)>();
        foreach (var b in withBuckets[0].Buckets[kind]) labels.Add((BucketKey(b.Bucket, activity), b.Bucket, b.Cases));
        foreach (var r in withBuckets)
            foreach (var b in r.Buckets[kind])
                if (!labels.Any(l => l.Key == BucketKey(b.Bucket, activity))) labels.Add((BucketKey(b.Bucket, activity), b.Bucket, b.Cases));
        md.AppendLine($"### {title}").AppendLine();
        md.AppendLine($"| method | {string.Join(" | ", labels.Select(l => $"{l.Label} ({l.Users} cases)"))} |");
        md.AppendLine($"|---|{string.Concat(labels.Select(_ => "---|"))}");
        var mean = new double[methods.Count, labels.Count];
        var std = new double[methods.Count, labels.Count];
        for (int m = 0; m < methods.Count; m++)
        {
            var cells = new List<string>();
            for (int c = 0; c < labels.Count; c++)
            {
                var st = StatOf(withBuckets, methods[m], r => r.Buckets[kind].FirstOrDefault(b => BucketKey(b.Bucket, activity) == labels[c].Key) is { } b
                    && b.Metrics.TryGetValue(metric, out double v) ? v : null);
                mean[m, c] = st.Mean; std[m, c] = st.Std;
                cells.Add(st.ToString());
            }
            md.AppendLine($"| {methods[m]} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
        return (labels.Select(l => activity ? l.Label : l.Key).ToList(), methods, mean, std);
    }

    static List<LineSeries>? RoundsTable(StringBuilder md, List<RunRow> rows, string monitor)
    {
        var bdlm = rows.Where(r => r.Method == "bdlm-llm" && r.Rounds is { Count: > 0 }).ToList();
        if (bdlm.Count == 0) return null;
        int maxRound = bdlm.Max(r => r.Rounds!.Max(x => x.Round));
        md.AppendLine($"### BDLM per round (validation {monitor}; round 0 = the DSM alone)").AppendLine();
        md.AppendLine("| round | LLM | DSM | LLM loss | seconds |");
        md.AppendLine("|---|---|---|---|---|");
        var xs = new List<double>();
        var llm = new List<Stat>();
        var dsm = new List<Stat>();
        for (int k = 0; k <= maxRound; k++)
        {
            var at = bdlm.Select(r => r.Rounds!.FirstOrDefault(x => x.Round == k)).Where(x => x is not null).Select(x => x!).ToList();
            var l = Stat.Of(at.Select(x => x.Llm is not null && x.Llm.TryGetValue(monitor, out double v) ? v : double.NaN));
            var d = Stat.Of(at.Select(x => x.Dsm.TryGetValue(monitor, out double v) ? v : double.NaN));
            var loss = Stat.Of(at.Select(x => x.LlmLoss));
            var secs = Stat.Of(at.Select(x => x.Seconds));
            md.AppendLine(F($"| {k} | {l} | {d} | {(loss.N == 0 ? "-" : loss.Mean.ToString("F4", CultureInfo.InvariantCulture))} | {secs.Mean:F1} |"));
            xs.Add(k); llm.Add(l); dsm.Add(d);
        }
        var best = bdlm.Select(r => r.BestRound ?? 0).ToList();
        var bestDsm = rows.Where(r => r.Method == "bdlm-dsm").Select(r => r.BestRound ?? 0).ToList();
        md.AppendLine().AppendLine($"Best round per seed: LLM {string.Join(", ", best)}; DSM {string.Join(", ", bestDsm)}.").AppendLine();
        var series = new List<LineSeries>();
        var llmIdx = Enumerable.Range(0, xs.Count).Where(i => llm[i].N > 0).ToArray();
        if (llmIdx.Length > 0) series.Add(new LineSeries("bdlm-llm", llmIdx.Select(i => xs[i]).ToArray(), llmIdx.Select(i => llm[i].Mean).ToArray(), llmIdx.Select(i => llm[i].Std).ToArray()));
        series.Add(new LineSeries("bdlm-dsm", xs.ToArray(), dsm.Select(s => s.Mean).ToArray(), dsm.Select(s => s.Std).ToArray()));
        return series;
    }

    static void LlmEpochTable(StringBuilder md, List<RunRow> rows, string monitor)
    {
        var baselines = rows.Where(r => r.Method is "llm-text" or "one-way" && r.Rounds is { Count: > 0 }).ToList();
        if (baselines.Count == 0) return;
        md.AppendLine($"### LLM baselines per epoch (validation {monitor})").AppendLine();
        md.AppendLine("| method | epoch | validation | loss |");
        md.AppendLine("|---|---|---|---|");
        foreach (var g in baselines.GroupBy(r => r.Method))
        {
            int max = g.Max(r => r.Rounds!.Max(x => x.Round));
            for (int k = 1; k <= max; k++)
            {
                var at = g.Select(r => r.Rounds!.FirstOrDefault(x => x.Round == k)).Where(x => x is not null).Select(x => x!).ToList();
                var v = Stat.Of(at.Select(x => x.Llm is not null && x.Llm.TryGetValue(monitor, out double y) ? y : double.NaN));
                md.AppendLine(F($"| {g.Key} | {k} | {v} | {Stat.Of(at.Select(x => x.LlmLoss)).Mean:F4} |"));
            }
        }
        md.AppendLine();
    }

    static List<LineSeries> SparsityTable(StringBuilder md, List<RunRow> rows, List<string> methods, string monitor)
    {
        var fractions = rows.Select(r => r.Fraction).Distinct().Order().ToArray();
        md.AppendLine($"### Sparsity: test {monitor} by fraction of training data kept per user").AppendLine();
        md.AppendLine($"| method | {string.Join(" | ", fractions.Select(f => F($"{f:0.###}")))} |");
        md.AppendLine($"|---|{string.Concat(fractions.Select(_ => "---|"))}");
        var series = new List<LineSeries>();
        foreach (var m in methods)
        {
            var stats = fractions.Select(f => StatOf(rows.Where(r => r.Fraction == f), m, r => Metric(r, "full", monitor))).ToArray();
            md.AppendLine($"| {m} | {string.Join(" | ", stats.Select(s => s.ToString()))} |");
            var idx = Enumerable.Range(0, fractions.Length).Where(i => stats[i].N > 0).ToArray();
            if (idx.Length > 0) series.Add(new LineSeries(m, idx.Select(i => fractions[i]).ToArray(), idx.Select(i => stats[i].Mean).ToArray(), idx.Select(i => stats[i].Std).ToArray()));
        }
        md.AppendLine();
        return series;
    }

    static void TimeTable(StringBuilder md, List<RunRow> rows, List<string> methods, bool ctr = false)
    {
        md.AppendLine("### Where the time went (per seed, mean)").AppendLine();
        md.AppendLine(ctr ? "| method | train s | test eval s | one (user, item) pair, ms (median) |" : "| method | train s | test eval s | top-10 for one user, ms (median) |");
        md.AppendLine("|---|---|---|---|");
        foreach (var m in methods)
        {
            var r = rows.Where(x => x.Method == m).ToList();
            md.AppendLine(F($"| {m} | {r.Average(x => x.TrainSeconds):F1} | {r.Average(x => x.EvalSeconds):F1} | {r.Average(x => x.InferMsPerUser):F3} |"));
        }
        md.AppendLine().AppendLine("bdlm-llm and bdlm-dsm share one training run; its seconds are listed on both rows. one-way and bdlm start from the stage-0 DSM, whose training is counted once, in its own row.").AppendLine();
    }
}
