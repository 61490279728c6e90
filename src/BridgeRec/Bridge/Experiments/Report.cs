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
/// numbers, where the time went, and the configuration.
/// </summary>
public static class Report
{
    public const string FileName = "report.md";

    static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes report.md (atomically) and the charts into <paramref name="outDir"/>; returns the report's path.</summary>
    public static string Write(ExperimentConfig config, ResultsFile results, string outDir, Action<string>? log = null)
    {
        var md = new StringBuilder();
        md.AppendLine($"# Experiment {config.Name}").AppendLine();
        md.AppendLine(F($"Written {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC from `{ResultsFile.FileName}`. Values are mean ± sample std over seeds (n = number of seeds). ")
            + $"Test metrics; the monitored validation metric (early stopping, best round) is `{config.Monitor}`.").AppendLine();
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
            if (ds.IsCtr) CtrClaims(md, config, ds, mainRows);
            else Claims(md, config, ds, mainRows);
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

    static Stat StatOf(IEnumerable<RunRow> rows, string method, Func<RunRow, double?> value) =>
        Stat.Of(rows.Where(r => r.Method == method).Select(value).Where(v => v.HasValue).Select(v => v!.Value));

    static double? Metric(RunRow r, string protocol, string metric) =>
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

    /// <summary>C1-C3 judged from the numbers, in plain words.</summary>
    static void Claims(StringBuilder md, ExperimentConfig config, ExperimentDataset ds, List<RunRow> rows)
    {
        string metric = config.Monitor;
        Stat S(string m) => StatOf(rows, m, r => Metric(r, "full", metric));
        bool Has(string m) => rows.Any(r => r.Method == m);
        string seedsNote = rows.Select(r => r.Seed).Distinct().Count() < 3 ? " (fewer than 3 seeds: indicative only)" : "";
        md.AppendLine("### Claims").AppendLine();

        // C1
        var c1Others = new[] { "llm-text", "one-way" }.Where(Has).ToList();
        if (!Has("bdlm-llm") || c1Others.Count == 0)
            md.AppendLine($"- C1 cannot be judged on {ds.Name}: it needs bdlm-llm and llm-text / one-way (missing: {string.Join(", ", new[] { "bdlm-llm", "llm-text", "one-way" }.Where(m => !Has(m)))}).");
        else
        {
            var b = S("bdlm-llm");
            var beats = c1Others.Where(o => b.Mean > S(o).Mean).ToList();
            string verdict = beats.Count == c1Others.Count && c1Others.Count == 2 ? "holds" : beats.Count > 0 ? "holds only in part" : "does not hold";
            md.AppendLine($"- C1 {verdict} on {ds.Name}: bdlm-llm {metric.ToUpperInvariant()} {b} "
                + string.Join(" and ", c1Others.Select(o => $"{(b.Mean > S(o).Mean ? ">" : "<=")} {o} {S(o)}{Noise(b, S(o))}"))
                + (c1Others.Count < 2 ? $" ({new[] { "llm-text", "one-way" }.First(m => !Has(m))} not run)" : "") + $"{seedsNote}.");
        }

        // C2
        string dsm = config.Dsm.Model, text = dsm + "+text";
        if (!Has("bdlm-dsm") || !Has(dsm))
            md.AppendLine($"- C2 cannot be judged on {ds.Name}: it needs bdlm-dsm and {dsm} alone.");
        else
        {
            var b = S("bdlm-dsm");
            var others = new[] { dsm, text }.Where(Has).ToList();
            var beats = others.Where(o => b.Mean > S(o).Mean).ToList();
            string verdict = beats.Count == 2 ? "holds" : beats.Count > 0 ? "holds only in part" : "does not hold";
            md.AppendLine($"- C2 {verdict} on {ds.Name}: bdlm-dsm {metric.ToUpperInvariant()} {b} "
                + string.Join(" and ", others.Select(o => $"{(b.Mean > S(o).Mean ? ">" : "<=")} {o} {S(o)}{Noise(b, S(o))}"))
                + (Has(text) ? "" : $" ({text} not run)") + $"{seedsNote}.");
            double overall = Gain(b.Mean, S(dsm).Mean);
            Stat B(string m, string kind, Func<string, bool> pick) => StatOf(rows, m, r => r.Buckets.TryGetValue(kind, out var bs)
                && bs.FirstOrDefault(x => pick(x.Bucket)) is { } x && x.Metrics.TryGetValue(metric, out double v) ? v : null);
            double q1 = Gain(B("bdlm-dsm", "user_activity", l => l.StartsWith("Q1", StringComparison.Ordinal)).Mean, B(dsm, "user_activity", l => l.StartsWith("Q1", StringComparison.Ordinal)).Mean);
            double q4 = Gain(B("bdlm-dsm", "user_activity", l => l.StartsWith("Q4", StringComparison.Ordinal)).Mean, B(dsm, "user_activity", l => l.StartsWith("Q4", StringComparison.Ordinal)).Mean);
            double cold = Gain(B("bdlm-dsm", "item_popularity", l => l == "<=5").Mean, B(dsm, "item_popularity", l => l == "<=5").Mean);
            bool sparseLargest = q1 > q4 && q1 > overall;
            bool coldLargest = cold > overall;
            md.AppendLine(F($"  - Gains over {dsm} alone: overall {Pct(overall)}; sparsest users (Q1) {Pct(q1)} vs most active (Q4) {Pct(q4)}; cold test items (<=5 training interactions) {Pct(cold)}. ")
                + $"The largest gains {(sparseLargest ? "are" : "are not")} for sparse users and {(coldLargest ? "are" : "are not")} for cold items.");
        }

        // C3
        string? llmRow = new[] { "bdlm-llm", "one-way", "llm-text" }.FirstOrDefault(Has);
        string? dsmRow = new[] { "bdlm-dsm", dsm }.FirstOrDefault(Has);
        if (llmRow is null || dsmRow is null)
            md.AppendLine($"- C3 cannot be judged on {ds.Name}: it needs an LLM row and a DSM row with timings.");
        else
        {
            double l = rows.Where(r => r.Method == llmRow).Average(r => r.InferMsPerUser);
            double d = rows.Where(r => r.Method == dsmRow).Average(r => r.InferMsPerUser);
            double ratio = l / Math.Max(d, 1e-9);
            string verdict = ratio >= 100 ? "holds" : ratio >= 10 ? "holds in part (one order of magnitude, not several)" : "does not hold";
            md.AppendLine(F($"- C3 {verdict} on {ds.Name}: both models served every test user on their own; top-10 for one user takes {d:F3} ms with {dsmRow} and {l:F1} ms with {llmRow} (median over up to {config.TimingUsers} users): the DSM is {ratio:F0}x faster. ")
                + F($"Goals: DSM under 1 ms {(d < 1 ? "met" : "missed")}; LLM under 100 ms {(l < 100 ? "met" : "missed")}."));
        }
        md.AppendLine();
    }

    /// <summary>C1 and C2 in the click-through protocol (AUC), and where BDLM-LLM lands against the published goal row.</summary>
    static void CtrClaims(StringBuilder md, ExperimentConfig config, ExperimentDataset ds, List<RunRow> rows)
    {
        string metric = config.Monitor;
        Stat S(string m, string k) => StatOf(rows, m, r => Metric(r, "ctr", k));
        bool Has(string m) => rows.Any(r => r.Method == m);
        string seedsNote = rows.Select(r => r.Seed).Distinct().Count() < 3 ? " (fewer than 3 seeds: indicative only)" : "";
        md.AppendLine("### Claims (click-through)").AppendLine();
        void Compare(string claim, string ours, string[] others)
        {
            var present = others.Where(Has).ToList();
            if (!Has(ours) || present.Count == 0) { md.AppendLine($"- {claim} cannot be judged on {ds.Name}: it needs {ours} and one of {string.Join(", ", others)}."); return; }
            var b = S(ours, metric);
            var beats = present.Where(o => b.Mean > S(o, metric).Mean).ToList();
            string verdict = beats.Count == others.Length ? "holds" : beats.Count > 0 ? "holds only in part" : "does not hold";
            md.AppendLine($"- {claim} {verdict} on {ds.Name}: {ours} {metric.ToUpperInvariant()} {b} "
                + string.Join(" and ", present.Select(o => $"{(b.Mean > S(o, metric).Mean ? ">" : "<=")} {o} {S(o, metric)}{Noise(b, S(o, metric))}"))
                + (present.Count < others.Length ? $" ({string.Join(", ", others.Except(present))} not run)" : "") + $"{seedsNote}.");
        }
        Compare("C1", "bdlm-llm", ["llm-text", "one-way"]);
        Compare("C2", "bdlm-dsm", [config.Dsm.Model]);
        if (Has("bdlm-dsm") && Has(config.Dsm.Model))
            md.AppendLine(F($"  - On cold test rows (not_cold = 0): bdlm-dsm AUC {S("bdlm-dsm", "auc_cold")} vs {config.Dsm.Model} {S(config.Dsm.Model, "auc_cold")}; on warm rows {S("bdlm-dsm", "auc_warm")} vs {S(config.Dsm.Model, "auc_warm")}."));
        if (ds.Published?.FirstOrDefault(p => p.Protocol == "ctr" && p.Model.StartsWith("CoLLM-MF", StringComparison.Ordinal) && p.Metrics.ContainsKey("auc")) is { } goal && Has("bdlm-llm"))
        {
            var b = S("bdlm-llm", "auc");
            md.AppendLine(F($"- Goal: bdlm-llm AUC {b} is {(b.Mean > goal.Metrics["auc"] ? "above" : "below")} {goal.Model}'s published {goal.Metrics["auc"]:F4} ({goal.Source}).")
                + " Our backbone is MiniLM-L6 (22M parameters); the published rows use 7B LLMs unless noted.");
        }
        md.AppendLine();
    }

    static string Noise(Stat a, Stat b) =>
        a.N > 1 && b.N > 1 && Math.Abs(a.Mean - b.Mean) < Math.Max(a.Std, b.Std) ? " (gap within one std)" : "";

    static double Gain(double a, double b) => b > 0 ? (a - b) / b : double.NaN;

    static string Pct(double g) => double.IsNaN(g) ? "n/a" : F($"{g * 100:+0.0;-0.0}%");
}
