using System.Globalization;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using Spectre.Console;

namespace BridgeRec.Cli;

/// <summary>How verbs show progress and results: live bars on a terminal, one line per evaluation in logs.</summary>
public static class ConsoleUi
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static bool Interactive => AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

    /// <summary>Runs training with a progress bar (loss, last validation metric, ETA) or log lines.</summary>
    public static TrainResult Train(DsmOptions o, Func<DsmTrainer, TrainResult> run)
    {
        if (!Interactive)
        {
            var trainer = new DsmTrainer(o)
            {
                OnEpoch = r =>
                {
                    if (r.Metrics is null) return;
                    string m = string.Join(" ", r.Metrics.Where(kv => kv.Key.StartsWith("recall@") || kv.Key.StartsWith("ndcg@") || kv.Key.StartsWith("hr@")).Select(kv => $"{kv.Key} {kv.Value:F4}"));
                    Console.WriteLine($"epoch {r.Epoch}/{r.Epochs}  loss {r.Loss:F4}  {r.Seconds:F2}s/epoch  eval {m}{(r.Improved ? "  *best" : "")}");
                },
            };
            return run(trainer);
        }
        TrainResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                     new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: o.Epochs);
                string last = "";
                var trainer = new DsmTrainer(o)
                {
                    OnBatch = b =>
                    {
                        task.Value = b.Epoch - 1 + (double)b.Batch / b.Batches;
                        task.Description = Markup.Escape($"epoch {b.Epoch} loss {b.Loss:F4} {last}");
                    },
                    OnEpoch = r =>
                    {
                        task.Value = r.Epoch;
                        if (r.Metrics is not null && r.Metrics.TryGetValue(o.Monitor, out double v))
                            last = $"| val {o.Monitor} {v:F4}{(r.Improved ? " *" : "")}";
                    },
                };
                result = run(trainer);
                task.Value = task.MaxValue;
            });
        return result!;
    }

    public static void Metrics(string title, EvaluationResult r)
    {
        var t = new Table().Title(Markup.Escape(title)).AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        foreach (var (k, v) in r.ToDictionary()) t.AddRow(Markup.Escape(k), v.ToString("F4", Inv));
        t.Caption(Markup.Escape($"{r.Protocol}; {r.UsersEvaluated:N0} users; {r.ElapsedSeconds:F2}s"));
        AnsiConsole.Write(t);
    }

    public static void Buckets(BucketReport r)
    {
        var metrics = r.MetricNames.Where(m => m.StartsWith("recall") || m.StartsWith("ndcg") || m.StartsWith("hr")).Take(4).ToList();
        var t = new Table().Title(Markup.Escape(r.Title)).AddColumn("bucket").AddColumn(new TableColumn("users").RightAligned()).AddColumn(new TableColumn("cases").RightAligned());
        foreach (var m in metrics) t.AddColumn(new TableColumn(Markup.Escape(m)).RightAligned());
        foreach (var b in r.Buckets)
            t.AddRow([Markup.Escape(b.Label), b.Users.ToString(Inv), b.Cases.ToString(Inv), .. metrics.Select(m => b.Means.TryGetValue(m, out var v) ? v.ToString("F4", Inv) : "-")]);
        AnsiConsole.Write(t);
    }

    public static void DatasetSummary(Split s)
    {
        var d = s.Dataset;
        var t = new Table().Title(Markup.Escape(d.Name)).AddColumn("").AddColumn(new TableColumn("").RightAligned()).HideHeaders();
        t.AddRow("users", d.NumUsers.ToString("N0", Inv));
        t.AddRow("items", d.NumItems.ToString("N0", Inv));
        t.AddRow("train", s.Train.Count.ToString("N0", Inv));
        t.AddRow("validation", s.Validation.Count.ToString("N0", Inv));
        t.AddRow("test", s.Test.Count.ToString("N0", Inv));
        t.AddRow("items with text", d.ItemTexts.Count(x => x is not null).ToString("N0", Inv));
        t.Caption(Markup.Escape(s.Description));
        AnsiConsole.Write(t);
    }
}
