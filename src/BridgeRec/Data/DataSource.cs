using System.Globalization;

namespace BridgeRec.Data;

/// <summary>Where the data comes from and how it is split. Every field has a sensible default.</summary>
public sealed record DataConfig
{
    /// <summary>A dataset folder (or, for the generic format, an interactions file).</summary>
    public string Path { get; init; } = "";
    /// <summary>auto | ml100k | ml100k-bench | ml1m | lightgcn | unisrec | caserec | generic.</summary>
    public string Format { get; init; } = "auto";
    /// <summary>given (the format's own split files) | ratio (per-user random) | loo (chronological leave-one-out). Null: given where the format has split files, else ratio.</summary>
    public string? Split { get; init; }
    public double TestRatio { get; init; } = 0.2;
    /// <summary>Share of each user's training interactions held out for validation (early stopping) when the split has none; 0 keeps none.</summary>
    public double ValidRatio { get; init; } = 0.1;
    public int SplitSeed { get; init; } = 2026;
    /// <summary>Keep interactions with rating >= this (implicit feedback from ratings).</summary>
    public float? MinRating { get; init; }
    /// <summary>k-core filter on users and items before splitting (0 = off).</summary>
    public int KCore { get; init; }
    /// <summary>Item-text file (generic format) or MovieLens-100K folder (ml100k-bench) for titles.</summary>
    public string? Items { get; init; }
    /// <summary>CaseRec: load the explicit ratings file instead of the implicit history.</summary>
    public bool UseRatings { get; init; }
    /// <summary>Keep only users with dense index below this (after loading and splitting): quick runs on a slice.</summary>
    public int? MaxUsers { get; init; }
    /// <summary>Share of each user's training interactions kept (sparsity studies); 1 keeps all.</summary>
    public double TrainFraction { get; init; } = 1.0;
    /// <summary>Seed of the <see cref="TrainFraction"/> draw.</summary>
    public int SubsampleSeed { get; init; }
}

/// <summary>Turns a <see cref="DataConfig"/> into a <see cref="Split"/>: files -> Dataset -> filters -> split.</summary>
public static class DataSource
{
    public static readonly string[] Formats = ["auto", "ml100k", "ml100k-bench", "ml1m", "lightgcn", "unisrec", "caserec", "generic"];

    public static Split Load(DataConfig c)
    {
        if (string.IsNullOrWhiteSpace(c.Path)) throw new ArgumentException("no data path given (--data)");
        if (!Directory.Exists(c.Path) && !File.Exists(c.Path))
            throw new FileNotFoundException($"--data {c.Path}: no such file or folder", c.Path);
        string format = c.Format == "auto" ? Detect(c.Path) : c.Format;
        Split split = format switch
        {
            "ml100k" => SplitRaw(MovieLens100K.Load(c.Path), c),
            "caserec" => SplitRaw(CaseRec.Load(c.Path, c.UseRatings), c),
            "generic" => Directory.Exists(c.Path) ? GivenOrRaw(GenericDir(c), c) : SplitRaw(GenericFormat.Load(c.Path, c.Items), c),
            "ml100k-bench" => Given(MovieLens100K.LoadBenchmarkSplit(c.Path, c.Items), c),
            "ml1m" => Given(MovieLens1M.LoadColakg(c.Path), c),
            "lightgcn" => Given(LightGcnText.Load(
                System.IO.Path.Combine(c.Path, "train.txt"), System.IO.Path.Combine(c.Path, "test.txt"),
                File.Exists(System.IO.Path.Combine(c.Path, "valid.txt")) ? System.IO.Path.Combine(c.Path, "valid.txt") : null,
                System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(c.Path))), c),
            "unisrec" => Given(UniSRec.Load(c.Path, UniSRecName(c.Path)), c),
            _ => throw new ArgumentException($"--format {c.Format}: unknown; expected one of {string.Join(", ", Formats)}"),
        };
        if (c.ValidRatio > 0 && split.Validation.Count == 0) split = WithValidation(split, c.ValidRatio, c.SplitSeed);
        return Restrict(split, c);
    }

    /// <summary>Applies <see cref="DataConfig.MaxUsers"/> and <see cref="DataConfig.TrainFraction"/> to a loaded split.</summary>
    public static Split Restrict(Split s, DataConfig c)
    {
        if (c.MaxUsers is int n)
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(c.MaxUsers), $"max users must be >= 1 (got {n})");
            Interactions Keep(Interactions x) => x.Where(r => x.Users[r] < n);
            s = new Split(s.Dataset, Keep(s.Train), Keep(s.Validation), Keep(s.Test), s.Description + $"; first {n} users");
        }
        return c.TrainFraction < 1 ? Splitter.Subsample(s, c.TrainFraction, c.SubsampleSeed) : s;
    }

    /// <summary>Recognises a folder by its files.</summary>
    public static string Detect(string path)
    {
        if (File.Exists(path)) return "generic";
        bool Has(string f) => File.Exists(System.IO.Path.Combine(path, f));
        if (Has("u.data") && Has("u.item")) return "ml100k";
        if (Has("movies.dat") && Directory.Exists(System.IO.Path.Combine(path, "colakg_implicit"))) return "ml1m";
        if (Directory.GetFiles(path, "*.train.inter").Length > 0) return "unisrec";
        if (Has("anime_history.dat") || Has("book_history.dat")) return "caserec";
        if (Has("train.txt") && Has("test.txt")) return "lightgcn";
        if (Has("train.tsv") && Has("test.tsv")) return "ml100k-bench";
        throw new ArgumentException($"--data {path}: cannot tell the format from its files; pass --format ({string.Join(", ", Formats.Skip(1))})");
    }

    static string UniSRecName(string dir)
    {
        var files = Directory.GetFiles(dir, "*.train.inter");
        if (files.Length != 1) throw new ArgumentException($"{dir}: expected exactly one *.train.inter file, found {files.Length}");
        string f = System.IO.Path.GetFileName(files[0]);
        return f[..^".train.inter".Length];
    }

    static object GenericDir(DataConfig c)
    {
        string? Find(string stem) => new[] { ".tsv", ".csv", ".txt", ".parquet" }
            .Select(e => System.IO.Path.Combine(c.Path, stem + e)).FirstOrDefault(File.Exists);
        string? items = c.Items ?? Find("items");
        if (Find("train") is { } train && Find("test") is { } test)
            return GenericFormat.LoadSplit(train, test, Find("valid") ?? Find("validation"), items);
        if (Find("interactions") is { } all) return GenericFormat.Load(all, items);
        throw new ArgumentException($"--data {c.Path}: a generic-format folder needs train.* and test.* (csv/tsv/parquet), or interactions.*");
    }

    static Split GivenOrRaw(object loaded, DataConfig c) => loaded switch
    {
        Split s => Given(s, c),
        Dataset d => SplitRaw(d, c),
        _ => throw new InvalidOperationException(),
    };

    static Split Given(Split s, DataConfig c)
    {
        if (c.Split is not null and not "given")
            throw new ArgumentException($"--split {c.Split}: {s.Dataset.Name} comes pre-split; use --split given (or leave it out)");
        if (c.MinRating is not null || c.KCore > 0)
            throw new ArgumentException("--min-rating and --kcore apply to raw datasets, not to pre-split ones");
        return s;
    }

    static Split SplitRaw(Dataset d, DataConfig c)
    {
        if (c.MinRating is { } r) d = Splitter.RatingThreshold(d, r);
        if (c.KCore > 0) d = Splitter.KCore(d, c.KCore, c.KCore);
        return (c.Split ?? "ratio") switch
        {
            "ratio" => Splitter.RatioSplit(d, c.TestRatio, c.ValidRatio, c.SplitSeed),
            "loo" => Splitter.LeaveOneOut(d),
            "given" => throw new ArgumentException($"--split given: {d.Name} has no split files; use ratio or loo"),
            _ => throw new ArgumentException($"--split {c.Split}: expected given, ratio or loo"),
        };
    }

    /// <summary>Holds out a per-user random share of the training part as validation; test is untouched.</summary>
    public static Split WithValidation(Split s, double ratio, int seed)
    {
        var d = s.Dataset;
        var trainOnly = new Dataset(d.Name, d.Users, d.Items, s.Train, d.ItemTexts);
        var carved = Splitter.RatioSplit(trainOnly, ratio, 0, seed);
        string desc = s.Description + string.Create(CultureInfo.InvariantCulture, $"; validation = {ratio:0.###} of train per user (seed {seed})");
        return new Split(d, carved.Train, carved.Test, s.Test, desc);
    }
}
