using System.Text;
using static BridgeRec.Bridge.Experiments.Report;

namespace BridgeRec.Bridge.Experiments;

/// <summary>The report's claims section: C1-C3 judged from an experiment's rows, in plain words.</summary>
internal static class ReportClaims
{
    /// <summary>C1-C3 judged from the numbers, in plain words.</summary>
    public static void Ranking(StringBuilder md, ExperimentConfig config, ExperimentDataset ds, List<RunRow> rows)
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

        // The LLM side alone must at least know what is popular and what goes together.
        foreach (var llmSide in new[] { "llm-text", "bdlm-llm" }.Where(Has))
        {
            var floor = new[] { "pop", "mf" }.Where(Has).ToList();
            if (floor.Count == 0) continue;
            var l = S(llmSide);
            md.AppendLine($"- {llmSide} (the LLM side alone) against " + string.Join("; against ", floor.Select(f =>
                $"{f}: {(l.Mean > S(f).Mean ? "above" : "not above")} ({l} vs {S(f)})")) + ".");
        }
        if (Has("bdlm-llm") && Has("one-way"))
        {
            double g = Gain(S("bdlm-llm").Mean, S("one-way").Mean);
            md.AppendLine($"- Goal: bdlm-llm at least 5 % above one-way: {Pct(g)}, {(g >= 0.05 ? "met" : "missed")}.");
        }

        // C2: the DSM after BDLM against the DSM alone (without the text shortcut when BDLM's DSM is a +text model) and the shortcut.
        string dsm = config.Dsm.Model.EndsWith("+text", StringComparison.Ordinal) ? config.Dsm.Model[..^"+text".Length] : config.Dsm.Model, text = dsm + "+text";
        if (!Has("bdlm-dsm") || !Has(dsm))
            md.AppendLine($"- C2 cannot be judged on {ds.Name}: it needs bdlm-dsm and {dsm} alone.");
        else
        {
            var b = S("bdlm-dsm");
            // Every DSM the experiment ran is a rival (SASRec's rows too); the DSM alone is among them, as Has(dsm) holds here.
            var rivals = new[] { "lightgcn", "mf", "lightgcn+text", "mf+text", "sasrec", "sasrec+text" }.Where(Has).ToList();
            var best = rivals.MaxBy(o => S(o).Mean)!;
            double toBest = Gain(b.Mean, S(best).Mean);
            md.AppendLine($"- Goal: bdlm-dsm at least 5 % above the best of {string.Join(", ", rivals)} ({best} {S(best)}): {Pct(toBest)}, {(toBest >= 0.05 ? "met" : "missed")}.");
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
    public static void ClickThrough(StringBuilder md, ExperimentConfig config, ExperimentDataset ds, List<RunRow> rows)
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
                + $" Our backbone is {config.Backbone.Display}{(config.Backbone.Encoder is null ? "" : " (22M parameters)")}; the published rows use 7B LLMs unless noted.");
        }
        md.AppendLine();
    }

    static string Noise(Stat a, Stat b) =>
        a.N > 1 && b.N > 1 && Math.Abs(a.Mean - b.Mean) < Math.Max(a.Std, b.Std) ? " (gap within one std)" : "";

    static double Gain(double a, double b) => b > 0 ? (a - b) / b : double.NaN;

    /// <summary>A gain as a signed percentage with one decimal; one that rounds to zero is "0.0%" (a negative one printed "-+0.0%").</summary>
    internal static string Pct(double g) => double.IsNaN(g) ? "n/a" : Math.Round(g * 100, 1) is var p && p == 0 ? "0.0%" : F($"{p:+0.0;-0.0}%");
}
