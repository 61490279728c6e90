using System.CommandLine;
using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using Spectre.Console;
using Tensor = TorchSharp.torch.Tensor;

namespace BridgeRec.Cli;

/// <summary>train, eval and recommend: the DSM life cycle over a model folder.</summary>
public static class TrainCommands
{
    static readonly Option<string> Out = new("--out") { Description = "model folder to write (config, weights, metrics, checkpoints)", DefaultValueFactory = _ => "runs/model" };
    static readonly Option<bool> Resume = new("--resume") { Description = "continue from the last checkpoint in --out" };
    static readonly Option<string> ModelDir = new("--model") { Description = "model folder written by 'bridgerec train'", Required = true };
    static readonly Option<string> User = new("--user") { Description = "user id as in the dataset's files", Required = true };
    static readonly Option<int> K = new("-k", "--top") { Description = "how many items", DefaultValueFactory = _ => 10 };
    static readonly Option<string> Via = new("--via") { Description = "dsm (the domain model: fast path) | llm (the language model reading the user's history; folders from 'bridgerec bdlm' or 'demo')", DefaultValueFactory = _ => "dsm" };
    static readonly Option<string?> NewItems = new("--new-items")
    {
        Description = "with --via llm: a CSV/TSV file of items the model was never trained on (header 'item_id,text', one item per line), ranked from their text next to the catalog and marked 'new'; needs an LLM with the item-text tower",
    };
    static readonly Option<bool> Sampled = new("--sampled") { Description = "also report the sampled protocol (target + 99 unseen negatives)" };

    public static Command Train()
    {
        var c = new Command("train", "train a domain model (LightGCN, MF-BPR, SASRec) or popularity on a dataset, with early stopping on validation");
        Options.AddData(c);
        Options.AddModel(c);
        c.Options.Add(Out);
        c.Options.Add(Resume);
        c.Options.Add(Options.Overwrite);
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            var config = Options.Resolve(p);
            Options.WithMonitorCheck(config);
            string outDir = Path.GetFullPath(p.GetValue(Out)!);
            var split = AnsiConsole.Status().Start("loading data", _ => DataSource.Load(config.Data));
            ConsoleUi.DatasetSummary(split);
            (TrainResult? Train, EvaluationResult Test, IRecommender Model) r = default;
            bool overwrite = p.GetValue(Options.Overwrite);
            if (config.Model == "pop") r = DsmPipeline.Run(config, split, outDir, false, null, ct, overwrite);
            else ConsoleUi.Train(config.Train, trainer =>
            {
                r = DsmPipeline.Run(config, split, outDir, p.GetValue(Resume), trainer, ct, overwrite);
                return r.Train!;
            });
            if (r.Train is { } t)
                AnsiConsole.MarkupLine(Markup.Escape($"best validation {config.Train.Monitor} {t.BestMetrics.GetValueOrDefault(config.Train.Monitor):F4} at epoch {t.BestEpoch} ({t.EpochsRun} epochs, {t.StopReason})"));
            ConsoleUi.Metrics("test", r.Test!);
            AnsiConsole.MarkupLine(Markup.Escape($"model written to {outDir}"));
            return 0;
        }));
        return c;
    }

    public static Command Eval()
    {
        var c = new Command("eval", "evaluate a trained model folder on its test split (full ranking; buckets; optionally sampled)");
        c.Options.Add(ModelDir);
        c.Options.Add(Options.Ks);
        c.Options.Add(Sampled);
        c.SetAction(p => Program.Guard(() =>
        {
            var (config, split, model) = AnsiConsole.Status().Start("loading model and data", _ => DsmFolder.Load(p.GetValue(ModelDir)!));
            var ks = p.GetValue(Options.Ks) is { } text ? Options.ParseKs(text) : config.Ks;
            var full = RankingEvaluator.ForTest(split, new RankingOptions { Ks = ks }).Evaluate(model.ScoreAll);
            ConsoleUi.Metrics($"{model.Name} on {split.Dataset.Name}", full);
            var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
            ConsoleUi.Buckets(Breakdowns.ByUserActivity(full, Enumerable.Range(0, split.Dataset.NumUsers).Select(train.CountOf).ToArray()));
            ConsoleUi.Buckets(Breakdowns.ByItemPopularity(full, train.ItemDegrees()));
            if (p.GetValue(Sampled))
                ConsoleUi.Metrics("sampled (target + 99 negatives)", SampledRankingEvaluator.ForTest(split, new RankingOptions { Ks = ks }).Evaluate(model.ScoreAll));
            return 0;
        }));
        return c;
    }

    public static Command Recommend()
    {
        var c = new Command("recommend", "top-k items for one user from a trained model folder, with titles; seen items excluded");
        c.Options.Add(ModelDir);
        c.Options.Add(User);
        c.Options.Add(K);
        c.Options.Add(Via);
        c.Options.Add(NewItems);
        c.SetAction(p => Program.Guard(() =>
        {
            string dir = p.GetValue(ModelDir)!, via = p.GetValue(Via)!;
            if (via is not ("dsm" or "llm")) throw new ArgumentException($"--via {via}: expected dsm or llm");
            int k = p.GetValue(K);
            if (k < 1) throw new ArgumentException($"-k {k}: must be >= 1");
            string? newItemsPath = p.GetValue(NewItems);
            if (newItemsPath is not null && via != "llm")
                throw new ArgumentException($"--new-items {newItemsPath}: only --via llm ranks new items (from their text); the DSM has no rows for items it was not trained on");
            var (_, split, dsm) = DsmFolder.Load(dir);
            string userId = p.GetValue(User)!;
            if (!split.Dataset.Users.TryGet(userId, out int u))
                throw new KeyNotFoundException($"--user {userId}: no such user in {split.Dataset.Name} (ids run like '{split.Dataset.Users.Original(0)}')");
            if (newItemsPath is not null)
            {
                var newItems = NewItemsFile.Read(newItemsPath, split.Dataset);
                using var llm = LlmFolder.Load(dir, split);
                llm.RequireItemText();
                using var encoder = new TextEncoder(LlmFolder.ReadSpec(dir).Backbone.Encoder);
                using var text = encoder.Embed(newItems.Select(n => n.Text).ToArray());
                Show(split, llm, u, k, newItems, text);
                return 0;
            }
            IRecommender model = via == "llm" ? LlmFolder.Load(dir, split) : dsm;
            Show(split, model, u, k);
            return 0;
        }));
        return c;
    }

    /// <summary>
    /// Ranks the catalog and <paramref name="newItems"/> (sentence embeddings <paramref name="newItemText"/>) together for a
    /// user: row index i &lt; items is catalog item i, items + j is new item j. Seen items are left out.
    /// </summary>
    public static (int[] Top, double[] Row) RankWithNewItems(Split split, LlmRecommender llm, int user, int k, Tensor newItemText)
    {
        var d = split.Dataset;
        var seen = new UserItemIndex(d.NumUsers, d.NumItems, split.Train, split.Validation);
        using var scores = llm.ScoreWithNewItems([user], newItemText);
        var row = scores[0].data<float>().ToArray().Select(x => (double)x).ToArray();
        return (RankOrder.TopOfRow(row, seen.ItemsOf(user), k), row);
    }

    /// <summary>As <see cref="Show(Split, IRecommender, int, int)"/> with new items (known by their text only) ranked among the catalog's and marked "new".</summary>
    public static void Show(Split split, LlmRecommender llm, int user, int k, IReadOnlyList<NewItem> newItems, Tensor newItemText)
    {
        var d = split.Dataset;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (top, row) = RankWithNewItems(split, llm, user, k, newItemText);
        double ms = clock.Elapsed.TotalMilliseconds;
        ShowHistory(split, user);
        var t = new Table().AddColumn("#").AddColumn("item").AddColumn("title").AddColumn(new TableColumn("score").RightAligned()).AddColumn("new");
        for (int i = 0; i < top.Length; i++)
        {
            int x = top[i];
            bool isNew = x >= d.NumItems;
            string id = isNew ? newItems[x - d.NumItems].Id : d.Items.Original(x), title = isNew ? newItems[x - d.NumItems].Text : d.DisplayName(x);
            t.AddRow((i + 1).ToString(), Markup.Escape(id), Markup.Escape(title), row[x].ToString("F3"), isNew ? "new" : "");
        }
        AnsiConsole.Write(t);
        int shown = top.Count(x => x >= d.NumItems);
        AnsiConsole.MarkupLine(Markup.Escape($"{llm.Name}: all {d.NumItems} items and {newItems.Count} new items scored in {ms:F1} ms ({shown} new in the top {top.Length})"));
    }

    static void ShowHistory(Split split, int user)
    {
        var d = split.Dataset;
        var seen = new UserItemIndex(d.NumUsers, d.NumItems, split.Train, split.Validation);
        var rows = Enumerable.Range(0, split.Train.Count).Where(r => split.Train.Users[r] == user);
        if (split.Train.Timestamps is { } ts) rows = rows.OrderBy(r => ts[r]); // most recent last
        var history = rows.Select(r => split.Train.Items[r]).TakeLast(5);
        AnsiConsole.MarkupLine(Markup.Escape($"user {d.Users.Original(user)} ({seen.CountOf(user)} items seen), recently: {string.Join("; ", history.Select(d.DisplayName))}"));
    }

    /// <summary>Prints a user's recent history and top-k unseen items with titles.</summary>
    public static void Show(Split split, IRecommender model, int user, int k)
    {
        var d = split.Dataset;
        var seen = new UserItemIndex(d.NumUsers, d.NumItems, split.Train, split.Validation);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var scores = model.ScoreAll([user]);
        double ms = clock.Elapsed.TotalMilliseconds;
        var row = scores[0].data<float>().ToArray().Select(x => (double)x).ToArray();
        var top = RankOrder.TopOfRow(row, seen.ItemsOf(user), k);
        ShowHistory(split, user);
        var t = new Table().AddColumn("#").AddColumn("item").AddColumn("title").AddColumn(new TableColumn("score").RightAligned());
        for (int i = 0; i < top.Length; i++)
            t.AddRow((i + 1).ToString(), Markup.Escape(d.Items.Original(top[i])), Markup.Escape(d.DisplayName(top[i])), row[top[i]].ToString("F3"));
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine(Markup.Escape($"{model.Name}: all {d.NumItems} items scored in {ms:F1} ms"));
    }
}
