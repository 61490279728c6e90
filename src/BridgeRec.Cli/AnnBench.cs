using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using BridgeRec.Serving;
using Spectre.Console;

namespace BridgeRec.Cli;

/// <summary>
/// bench ann: the DSM fast path's HNSW index against exact SIMD scoring on a synthetic catalog: recall@k of the
/// served answers, per-query latency of both, build time and memory.
/// </summary>
public static class AnnBench
{
    public static Command Create()
    {
        var items = new Option<int>("--items") { Description = "catalog size", DefaultValueFactory = _ => 1_000_000 };
        var dim = new Option<int>("--dim") { Description = "vector dimension", DefaultValueFactory = _ => 64 };
        var clusters = new Option<int>("--clusters") { Description = "topic centres the items and users are drawn around (as trained embeddings cluster); 0: isotropic Gaussian vectors", DefaultValueFactory = _ => 1000 };
        var queries = new Option<int>("--queries") { Description = "users timed on both paths (after 20 warm-up queries)", DefaultValueFactory = _ => 300 };
        var k = new Option<int>("-k") { Description = "items per answer", DefaultValueFactory = _ => 10 };
        var seen = new Option<int>("--seen") { Description = "random seen items per user, excluded from both answers (plus 3 of the user's exact best)", DefaultValueFactory = _ => 20 };
        var defaults = new AnnOptions();
        var connectivity = new Option<int>("--connectivity") { Description = "HNSW links per item (M)", DefaultValueFactory = _ => defaults.Connectivity };
        var expansionAdd = new Option<int>("--expansion-add") { Description = "HNSW efConstruction", DefaultValueFactory = _ => defaults.ExpansionAdd };
        var expansionSearch = new Option<int>("--expansion-search") { Description = "HNSW ef at search", DefaultValueFactory = _ => defaults.ExpansionSearch };
        var candidates = new Option<string>("--candidates") { Description = "candidates re-scored exactly per query (plus the seen items); a comma-separated list sweeps them over one build", DefaultValueFactory = _ => defaults.Candidates.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 2026 };
        var c = new Command("ann", "recall@k, per-query latency against exact SIMD scoring, build time and memory of the DSM path's HNSW index on a synthetic catalog")
        {
            items, dim, clusters, queries, k, seen, connectivity, expansionAdd, expansionSearch, candidates, seed,
        };
        c.SetAction(p => Program.Guard(() =>
        {
            int n = p.GetValue(items), d = p.GetValue(dim), q = p.GetValue(queries), top = p.GetValue(k), numSeen = p.GetValue(seen);
            if (n < 100 || d < 1 || q < 1 || top < 1 || top > TopK.MaxK || numSeen < 0)
                throw new ArgumentException("--items >= 100, --dim >= 1, --queries >= 1, -k 1..1000 and --seen >= 0 are needed");
            int[] pools = p.GetValue(candidates)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(x => int.TryParse(x, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) && v >= 1
                    ? v : throw new ArgumentException($"--candidates: '{x}' is not a positive integer")).ToArray();
            if (pools.Length == 0) throw new ArgumentException("--candidates: at least one value is needed");
            var ann = new AnnOptions
            {
                Threshold = 1, Connectivity = p.GetValue(connectivity), ExpansionAdd = p.GetValue(expansionAdd),
                ExpansionSearch = p.GetValue(expansionSearch), Candidates = pools[0],
            };
            ann.Validate();
            var rng = new Random(p.GetValue(seed));
            const int warmUp = 20;
            var (userVectors, itemVectors) = Catalog(rng, n, q + warmUp, d, p.GetValue(clusters));

            long rssBefore = CurrentRssBytes();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            using var index = new DsmIndex(userVectors, itemVectors, null, d, ann: ann);
            double buildSeconds = clock.Elapsed.TotalSeconds;
            double buildCpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            long annBytes = CurrentRssBytes() - rssBefore;

            var exactItems = new int[top]; var exactScores = new float[top];
            var annItems = new int[top]; var annScores = new float[top];
            var exactMs = new List<double>(q);
            var annMs = pools.Select(_ => new List<double>(q)).ToArray();
            var hits = new double[pools.Length];
            for (int u = 0; u < q + warmUp; u++)
            {
                var user = index.UserRow(u);
                // Seen items: 3 of the user's exact best (the index must skip them) and random ones.
                index.RecommendExactly(user, [], exactItems, exactScores);
                var excluded = exactItems.Take(3).Concat(Enumerable.Range(0, numSeen).Select(_ => rng.Next(n))).Order().ToArray();

                long t0 = Stopwatch.GetTimestamp();
                int e = index.RecommendExactly(user, excluded, exactItems, exactScores);
                if (u >= warmUp) exactMs.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                for (int c = 0; c < pools.Length; c++)
                {
                    long t1 = Stopwatch.GetTimestamp();
                    int a = index.RecommendFor(user, excluded, annItems, annScores, pools[c]);
                    if (u < warmUp) continue;
                    annMs[c].Add(Stopwatch.GetElapsedTime(t1).TotalMilliseconds);
                    hits[c] += annItems.AsSpan(0, a).ToArray().Intersect(exactItems.AsSpan(0, e).ToArray()).Count() / (double)e;
                }
            }

            double Percentile(List<double> xs, double pc) => xs.Order().ElementAt(Math.Min(xs.Count - 1, (int)(pc * xs.Count)));
            double exactMedian = Percentile(exactMs, 0.5);
            var sweep = new JsonArray();
            for (int c = 0; c < pools.Length; c++)
                sweep.Add(new JsonObject
                {
                    ["candidates"] = pools[c],
                    [$"recall@{top}"] = Math.Round(hits[c] / q, 4),
                    ["ann_ms_p50"] = Math.Round(Percentile(annMs[c], 0.5), 4),
                    ["ann_ms_p99"] = Math.Round(Percentile(annMs[c], 0.99), 4),
                    ["speedup_p50"] = Math.Round(exactMedian / Percentile(annMs[c], 0.5), 1),
                });
            var json = new JsonObject
            {
                ["items"] = n,
                ["dim"] = d,
                ["clusters"] = p.GetValue(clusters),
                ["queries"] = q,
                ["k"] = top,
                ["connectivity"] = ann.Connectivity,
                ["expansion_add"] = ann.ExpansionAdd,
                ["expansion_search"] = ann.ExpansionSearch,
                ["exact_ms_p50"] = Math.Round(exactMedian, 3),
                ["exact_ms_p99"] = Math.Round(Percentile(exactMs, 0.99), 3),
                ["by_candidates"] = sweep,
                ["build_seconds"] = Math.Round(buildSeconds, 1),
                ["build_cpu_seconds"] = Math.Round(buildCpuSeconds, 1),
                ["vectors_mb"] = Math.Round((double)n * d * sizeof(float) / (1 << 20), 1),
                ["ann_index_mb"] = Math.Round(annBytes / (double)(1 << 20), 1),
                ["peak_rss_mb"] = Math.Round(BenchCommands.PeakRssMb(), 1),
            };
            var t = new Table().AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
            foreach (var (key, v) in json)
                if (v is JsonArray rows)
                    foreach (var row in rows)
                        t.AddRow(Markup.Escape($"candidates {row!["candidates"]}"), Markup.Escape(
                            $"recall@{top} {row[$"recall@{top}"]}, {row["ann_ms_p50"]} ms p50, {row["ann_ms_p99"]} ms p99, {row["speedup_p50"]}x"));
                else t.AddRow(Markup.Escape(key), Markup.Escape(v?.ToString() ?? ""));
            t.Caption(Markup.Escape($"one thread; ann_index_mb = resident memory added by the build (native HNSW graph and its copy of the vectors)"));
            AnsiConsole.Write(t);
            Console.WriteLine(json.ToJsonString());
            return 0;
        }));
        return c;
    }

    /// <summary>Items and users around shared topic centres (centre + 0.5 noise), or isotropic N(0, 1) vectors when <paramref name="clusters"/> is 0.</summary>
    static (float[] Users, float[] Items) Catalog(Random rng, int numItems, int numUsers, int dim, int clusters)
    {
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        var centres = new float[Math.Max(clusters, 1) * dim];
        if (clusters > 0) for (int i = 0; i < centres.Length; i++) centres[i] = Normal();
        float noise = clusters > 0 ? 0.5f : 1f;
        float[] Draw(int count)
        {
            var m = new float[(long)count * dim];
            for (int i = 0; i < count; i++)
            {
                int c = clusters > 0 ? rng.Next(clusters) : 0;
                for (int j = 0; j < dim; j++) m[(long)i * dim + j] = centres[c * dim + j] + noise * Normal();
            }
            return m;
        }
        return (Draw(numUsers), Draw(numItems));
    }

    /// <summary>Resident memory now (VmRSS), after a full garbage collection so that managed garbage does not count.</summary>
    static long CurrentRssBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line[6..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        return Environment.WorkingSet;
    }
}
