using System.CommandLine;
using System.Globalization;
using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Models;

namespace BridgeRec.Cli;

/// <summary>The options shared by verbs, each declared once, and how they override a configuration.</summary>
public static class Options
{
    /// <summary>A comma-separated list of integer seeds, as --seeds takes it; errors name the option and the value.</summary>
    public static int[] ParseSeeds(string list, string option) =>
        list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
            int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) ? v
            : throw new ArgumentException($"{option}: '{s}' is not an integer")).ToArray() is { Length: > 0 } seeds ? seeds
        : throw new ArgumentException($"{option} '{list}': no seed given");

    public static readonly Option<string?> Config = new("--config") { Description = "JSON configuration file; command-line options override it" };
    public static readonly Option<string?> Data = new("--data") { Description = "dataset folder (or interactions file for the generic format)" };
    public static readonly Option<string?> Format = new("--format") { Description = "auto | ml100k | ml100k-bench | ml1m | lightgcn | unisrec | caserec | generic" };
    public static readonly Option<string?> Split = new("--split") { Description = "given | ratio | loo (default: given where the data comes split, else ratio)" };
    public static readonly Option<double?> TestRatio = new("--test-ratio") { Description = "per-user test share for --split ratio (default 0.2)" };
    public static readonly Option<double?> ValidRatio = new("--valid-ratio") { Description = "share of each user's training data held out for early stopping when the split has no validation (default 0.1)" };
    public static readonly Option<int?> SplitSeed = new("--split-seed") { Description = "seed of the random split (default 2026)" };
    public static readonly Option<float?> MinRating = new("--min-rating") { Description = "keep interactions with rating >= this" };
    public static readonly Option<int?> KCore = new("--kcore") { Description = "k-core filter on users and items (0 = off)" };
    public static readonly Option<string?> Items = new("--items") { Description = "item-text file (generic) or MovieLens-100K folder (ml100k-bench)" };

    public static readonly Option<string?> Model = new("--model") { Description = "lightgcn | mf | lightgcn+text | mf+text | sasrec | sasrec+text | pop" };
    public static readonly Option<int?> Epochs = new("--epochs") { Description = "maximum epochs (default 1000)" };
    public static readonly Option<int?> Dim = new("--dim") { Description = "embedding size d of the shared module (default 64)" };
    public static readonly Option<string?> ItemInit = new("--item-init") { Description = "how the item rows start: random (default) or text-pca (the top principal components of the items' MiniLM text embeddings)" };
    public static readonly Option<int?> Layers = new("--layers") { Description = "LightGCN layers K (default 3); SASRec blocks (default 2)" };
    public static readonly Option<int?> MaxLength = new("--max-len") { Description = "SASRec: the most recent items read per user (default 50)" };
    public static readonly Option<int?> Heads = new("--heads") { Description = "SASRec: attention heads (default 2)" };
    public static readonly Option<int?> Inner = new("--inner") { Description = "SASRec: feed-forward width (default 256)" };
    public static readonly Option<double?> Dropout = new("--dropout") { Description = "SASRec: dropout (default 0.5)" };
    public static readonly Option<bool> PostNorm = new("--post-norm") { Description = "SASRec: RecBole's block order (input norm, post-norm residuals, no dropout after the activation) instead of pre-norm" };
    public static readonly Option<string?> Loss = new("--loss") { Description = "SASRec: ce (softmax over all items, default) | sampled (softmax over --negatives uniform items) | bce | bpr (one negative per position)" };
    public static readonly Option<int?> Negatives = new("--negatives") { Description = "SASRec: uniform negatives per batch for --loss sampled (default 1000)" };
    public static readonly Option<double?> Lr = new("--lr") { Description = "Adam learning rate (default 0.001)" };
    public static readonly Option<double?> L2 = new("--l2") { Description = "L2 weight on the batch's ego embeddings (default 1e-4)" };
    public static readonly Option<int?> Batch = new("--batch") { Description = "batch size: BPR triples, or SASRec sequences (default 2048)" };
    public static readonly Option<bool> Overwrite = new("--overwrite") { Description = "replace a finished model (or results) in the output folder that was made with other settings" };
    public static readonly Option<int?> Seed = new("--seed") { Description = "seed of initialisation and sampling (default 2020)" };
    public static readonly Option<int?> EvalEvery = new("--eval-every") { Description = "evaluate and checkpoint every N epochs (default 10)" };
    public static readonly Option<int?> Patience = new("--patience") { Description = "stop after N evaluations without gain (default 5; 0 = never)" };
    public static readonly Option<string?> Monitor = new("--monitor") { Description = "validation metric for early stopping (default recall@20)" };
    public static readonly Option<string?> Ks = new("--ks") { Description = "cut-offs for the metrics, comma-separated (default 10,20)" };
    public static readonly Option<string?> Device = new("--device") { Description = "cpu | cuda (needs the TorchSharp CUDA package)" };
    public static readonly Option<string?> Backbone = new("--backbone")
    {
        Description = "the LLM's encoder, embedded in its NuGet package: " + string.Join(" | ", Language.EmbeddedEncoder.All.Select(e => e.Name)) + " (default minilm)",
    };

    /// <summary>The --backbone value, checked: null when not given; an unknown name is an error listing the valid ones.</summary>
    public static string? BackboneName(ParseResult p) =>
        p.GetValue(Backbone) is { } name ? Language.EmbeddedEncoder.Get(name, "--backbone").Name : null;

    public static void AddData(Command c)
    {
        foreach (var o in new Option[] { Config, Data, Format, Split, TestRatio, ValidRatio, SplitSeed, MinRating, KCore, Items }) c.Options.Add(o);
    }

    public static void AddModel(Command c)
    {
        foreach (var o in new Option[] { Model, ItemInit, Epochs, Dim, Layers, Lr, L2, Batch, Seed, EvalEvery, Patience, Monitor, Ks, Device }) c.Options.Add(o);
        AddSasRec(c);
    }

    public static void AddSasRec(Command c)
    {
        foreach (var o in new Option[] { MaxLength, Heads, Inner, Dropout, PostNorm, Loss, Negatives }) c.Options.Add(o);
    }

    /// <summary>Defaults, then the --config file, then the command line.</summary>
    public static TrainConfig Resolve(ParseResult p, TrainConfig? start = null)
    {
        var c = start ?? new TrainConfig();
        if (p.GetValue(Config) is { } file) c = TrainConfig.FromJsonFile(file);
        var d = ResolveData(p, c.Data);
        var t = c.Train;
        t = t with
        {
            Epochs = p.GetValue(Epochs) ?? t.Epochs,
            Lr = p.GetValue(Lr) ?? t.Lr,
            L2 = p.GetValue(L2) ?? t.L2,
            Batch = p.GetValue(Batch) ?? t.Batch,
            Seed = p.GetValue(Seed) ?? t.Seed,
            EvalEvery = p.GetValue(EvalEvery) ?? t.EvalEvery,
            Patience = p.GetValue(Patience) ?? t.Patience,
            Monitor = p.GetValue(Monitor) ?? t.Monitor,
        };
        string model = p.GetValue(Model) ?? c.Model;
        return c with
        {
            Data = d,
            Train = t,
            Model = model,
            Dim = p.GetValue(Dim) ?? c.Dim,
            ItemInit = p.GetValue(ItemInit) ?? c.ItemInit,
            Layers = model is "sasrec" or "sasrec+text" ? c.Layers : p.GetValue(Layers) ?? c.Layers,
            Sasrec = model is "sasrec" or "sasrec+text" ? ResolveSasRec(p, c.Sasrec) : c.Sasrec,
            Ks = p.GetValue(Ks) is { } ks ? ParseKs(ks) : c.Ks,
            Device = p.GetValue(Device) ?? c.Device,
        };
    }

    /// <summary>The data options (<see cref="AddData"/>) over <paramref name="d"/>.</summary>
    public static DataConfig ResolveData(ParseResult p, DataConfig d) => d with
    {
        Path = p.GetValue(Data) is { } path ? System.IO.Path.GetFullPath(path) : d.Path,
        Format = p.GetValue(Format) ?? d.Format,
        Split = p.GetValue(Split) ?? d.Split,
        TestRatio = p.GetValue(TestRatio) ?? d.TestRatio,
        ValidRatio = p.GetValue(ValidRatio) ?? d.ValidRatio,
        SplitSeed = p.GetValue(SplitSeed) ?? d.SplitSeed,
        MinRating = p.GetValue(MinRating) ?? d.MinRating,
        KCore = p.GetValue(KCore) ?? d.KCore,
        Items = p.GetValue(Items) is { } items ? System.IO.Path.GetFullPath(items) : d.Items,
    };

    /// <summary>SASRec's options: defaults, then the configuration's, then the command line (--layers is its number of blocks).</summary>
    public static SasRecOptions ResolveSasRec(ParseResult p, SasRecOptions? start = null)
    {
        var s = start ?? new SasRecOptions();
        return s with
        {
            MaxLength = p.GetValue(MaxLength) ?? s.MaxLength,
            Layers = p.GetValue(Layers) ?? s.Layers,
            Heads = p.GetValue(Heads) ?? s.Heads,
            Inner = p.GetValue(Inner) ?? s.Inner,
            Dropout = p.GetValue(Dropout) ?? s.Dropout,
            PostNorm = p.GetValue(PostNorm) || s.PostNorm,
            Loss = p.GetValue(Loss) ?? s.Loss,
            Negatives = p.GetValue(Negatives) ?? s.Negatives,
        };
    }

    public static int[] ParseKs(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ks = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ks[i]) || ks[i] < 1)
                throw new ArgumentException($"--ks {text}: '{parts[i]}' is not a positive integer");
        return ks.Length > 0 ? ks : throw new ArgumentException("--ks: at least one cut-off is needed");
    }

    public static DsmOptions WithMonitorCheck(TrainConfig c)
    {
        int k = int.Parse(c.Train.Monitor.Split('@').ElementAtOrDefault(1) ?? "0", CultureInfo.InvariantCulture);
        if (!c.Ks.Contains(k)) throw new ArgumentException($"--monitor {c.Train.Monitor}: its cut-off {k} is not among --ks {string.Join(",", c.Ks)}");
        return c.Train;
    }
}
