using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.LlmRec;
using BridgeRec.Models;

namespace BridgeRec.Bridge.Experiments;

/// <summary>A published model's numbers on a dataset's split: <see cref="Protocol"/> is the metrics key (full, sampled, unisrec).</summary>
public sealed record PublishedResult
{
    public string Model { get; init; } = "";
    public string Source { get; init; } = "";
    public string Protocol { get; init; } = "full";
    public Dictionary<string, double> Metrics { get; init; } = new();
}

/// <summary>One dataset of an experiment and how it is evaluated.</summary>
public sealed record ExperimentDataset
{
    /// <summary>Short name used in results and reports, e.g. "ml-100k-loo".</summary>
    public string Name { get; init; } = "";
    public DataConfig Data { get; init; } = new();
    /// <summary>Cut-offs of the test metrics (the monitored metric's K must be among them).</summary>
    public int[] Ks { get; init; } = [5, 10, 20];
    /// <summary>Also the sampled protocol (target + 99 unseen negatives).</summary>
    public bool Sampled { get; init; }
    /// <summary>Also Recall / NDCG at 10 and 50 with the history NOT excluded (UniSRec / RecBole's published variant).</summary>
    public bool UnisrecProtocol { get; init; }
    /// <summary>Training-data fractions for the sparsity curve, e.g. [0.2, 0.5, 1.0]; empty: the full training data only.</summary>
    public double[] Subsample { get; init; } = [];
    /// <summary>Keep only users with index &lt; N in train / validation / test (a small, fast experiment); null keeps all.</summary>
    public int? MaxUsers { get; init; }
    /// <summary>Validate (early stopping, round selection) on a seeded sample of this many validation users; null: all. Test always uses all.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ValidationUsers { get; init; }
    /// <summary>
    /// BDLM's choices (each model's best round, the DSM phase's best epoch, round 0 itself) read every validation user,
    /// not the <see cref="ValidationUsers"/> sample; stage 0 and the LLM baselines keep the sample. The LLM's scoring
    /// pass scores every user anyway (the DSM phase's teacher), so this costs only the DSM's own validations. Needs
    /// <see cref="ValidationUsers"/>; off is not written, so configs without it keep their run hash.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool BdlmAllValidationUsers { get; init; }
    /// <summary>Published results on this exact split, printed beside ours in the report (not part of the run hash).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PublishedResult[]? Published { get; init; }
    /// <summary>Columns of the main report table; null: hr@K and ndcg@K for each K (auc, uauc and warm / cold AUC for click-through data).</summary>
    public string[]? ReportMetrics { get; init; }
    /// <summary>Click-through settings (data format collm-ctr); null: the defaults.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Bridge.CtrOptions? Ctr { get; init; }

    /// <summary>Click-through data (protocol P3: labelled pairs, AUC / UAUC) rather than ranking.</summary>
    [JsonIgnore] public bool IsCtr => Data.Format == "collm-ctr";

    /// <summary>The click-through settings in force.</summary>
    [JsonIgnore] public Bridge.CtrOptions CtrSettings => Ctr ?? new();

    /// <summary>The fractions to run: the subsample list, or [1.0].</summary>
    [JsonIgnore] public double[] Fractions => Subsample.Length == 0 ? [1.0] : Subsample;

    /// <summary>The main table's metrics.</summary>
    [JsonIgnore] public string[] MainMetrics => ReportMetrics ?? (IsCtr ? ["auc", "uauc", "auc_warm", "auc_cold"] : Ks.Order().SelectMany(k => new[] { $"hr@{k}", $"ndcg@{k}" }).ToArray());
}

/// <summary>The domain model used as BDLM's DSM (and as the stage-0 "DSM alone").</summary>
public sealed record DsmSettings
{
    /// <summary>
    /// lightgcn | mf | lightgcn+text | mf+text | sasrec | sasrec+text (with SASRec the LLM reads each prompt's user token through a copy of it). A +text model starts BDLM
    /// from the language model's knowledge: stage 0 is the DSM given frozen text features, the shortcut BDLM must beat.
    /// </summary>
    public string Model { get; init; } = "lightgcn";
    /// <summary>How the shared item rows start: "random" (Normal(0, init_std)) or "text-pca" (the top principal components of the items' frozen text embeddings, scaled to init_std).</summary>
    public string ItemInit { get; init; } = "random";
    public int Dim { get; init; } = 64;
    public int Layers { get; init; } = 3;
    public double InitStd { get; init; } = 0.1;
    public DsmOptions Train { get; init; } = new() { Lr = 0.001, EvalEvery = 10, Patience = 5 };
    /// <summary>SASRec's sizes and loss for the sasrec row (null: the defaults); left out of the JSON when null, so run hashes of other models stay.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SasRecOptions? Sasrec { get; init; }
}

/// <summary>
/// A whole experiment: datasets x seeds (x subsample fractions) x methods, evaluated on test and
/// reported with mean +- std over seeds. JSON in snake_case (like <see cref="TrainConfig"/>).
/// <para>Relative paths (data paths, the items folder, the output folder) are resolved when the file is
/// loaded: against the parent of the config file's folder (configs live in <c>experiments/</c> at the
/// repository root, so paths read as relative to the repository root); when that does not exist, against
/// the current directory.</para>
/// </summary>
public sealed record ExperimentConfig
{
    public string Name { get; init; } = "experiment";
    public ExperimentDataset[] Datasets { get; init; } = [];
    /// <summary>pop, mf, lightgcn, mf+text, lightgcn+text, llm-text, one-way, bdlm (bdlm gives two rows: bdlm-llm and bdlm-dsm); click-through data takes <see cref="CtrMethods"/>.</summary>
    public string[] Methods { get; init; } = [.. AllMethods];
    public int[] Seeds { get; init; } = [1, 2, 3];
    public DsmSettings Dsm { get; init; } = new();
    public BdlmOptions Bdlm { get; init; } = new();
    public PromptOptions Prompt { get; init; } = new();
    public BackboneSettings Backbone { get; init; } = new();
    /// <summary>The LLM recommender's item tower for ranking (private residual rows, item text, temperature); click-through keeps the first build's.</summary>
    public LlmTowerOptions Tower { get; init; } = new();

    /// <summary>
    /// <see cref="Tower"/> as runs on <paramref name="dataset"/> use it: tower.dsm_rows decided when the config leaves it
    /// unset (on for LightGCN and MF on ranking data; off for SASRec and click-through; <see cref="LlmTowerOptions.ResolvedFor"/>),
    /// and tower.popularity_prior (on for ranking data, off for click-through).
    /// </summary>
    public LlmTowerOptions TowerFor(ExperimentDataset dataset)
    {
        var tower = Tower.ResolvedFor(dsmHasFinalRows: RankingWithRows(dataset));
        // tower.popularity_prior unset: on for the ranking protocol's text-only LLM, off on click-through (refused there when set);
        // tower.text_only_lr unset: the text-only LLM's own rate with the prior, BDLM's without it.
        if (tower.PopularityPrior is null) tower = tower with { PopularityPrior = !dataset.IsCtr };
        return tower.TextOnlyLr is not null || tower.PopularityPrior != true ? tower : tower with { TextOnlyLr = LlmRec.LlmTowerOptions.TextOnlyLrWithPrior };
    }
    /// <summary>
    /// <see cref="Bdlm"/> as runs on <paramref name="dataset"/> use it: bdlm.distill and bdlm.dsm_fresh decided where the
    /// config leaves them unset (KL and the fresh phase for LightGCN and MF on ranking data; rank distillation and the
    /// continued phase for SASRec and click-through; <see cref="BdlmOptions.ResolvedFor"/>).
    /// </summary>
    public BdlmOptions BdlmFor(ExperimentDataset dataset) => Bdlm.ResolvedFor(rankingWithRows: RankingWithRows(dataset));

    /// <summary>Whether runs on <paramref name="dataset"/> rank with LightGCN or MF (final rows to read; what the unset defaults are decided by).</summary>
    bool RankingWithRows(ExperimentDataset dataset) => !dataset.IsCtr && Dsm.Model is not ("sasrec" or "sasrec+text");
    /// <summary>Validation metric for early stopping and for picking each model's best round (also the claims' metric).</summary>
    public string Monitor { get; init; } = "hr@10";
    /// <summary>Output folder; null: results/&lt;name&gt;.</summary>
    public string? Output { get; init; }
    /// <summary>Users timed for the per-user inference latency (claim C3).</summary>
    public int TimingUsers { get; init; } = 50;
    public string Device { get; init; } = "cpu";
    /// <summary>Cache of item-text features; null: $BRIDGEREC_CACHE or ~/.cache/bridgerec.</summary>
    public string? CacheDir { get; init; }

    /// <summary>
    /// The folder the config's relative paths were read against (<see cref="ResolvePaths"/>); <see cref="RunHash"/>
    /// hashes paths relative to it. Null for a config made in code.
    /// </summary>
    [JsonIgnore]
    public string? BaseDirectory { get; init; }
    /// <summary>What <c>bridgerec tune</c> searches (the space, its seed, trials, budget); not part of the run hash.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Tuning.TuneSettings? Tune { get; init; }
    /// <summary>
    /// A config fragment (a tune's <c>chosen.json</c>) merged over this file's own settings when it is loaded
    /// (<see cref="FromJsonFile"/>); relative to the config file like the data paths, absolute once loaded. The merged
    /// values are in the config itself (and so in the run hash); the path records where they came from.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Tuned { get; init; }

    public static readonly string[] AllMethods = ["pop", "mf", "lightgcn", "mf+text", "lightgcn+text", "sasrec", "sasrec+text", "llm-text", "one-way", "bdlm"];
    public static readonly string[] LlmMethods = ["llm-text", "one-way", "bdlm"];
    /// <summary>The methods of the click-through protocol (collm-ctr data).</summary>
    public static readonly string[] CtrMethods = ["mf", "lightgcn", "sasrec", "sasrec+text", "llm-text", "one-way", "bdlm"];

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public string OutputDir => Output ?? System.IO.Path.Combine("results", Name);

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new ArgumentException("experiment: name is empty");
        if (Datasets.Length == 0) throw new ArgumentException($"experiment {Name}: no datasets");
        if (Seeds.Length == 0) throw new ArgumentException($"experiment {Name}: no seeds");
        if (Methods.Length == 0) throw new ArgumentException($"experiment {Name}: no methods");
        foreach (var m in Methods)
            if (!AllMethods.Contains(m)) throw new ArgumentException($"experiment {Name}: method '{m}' unknown; expected one of {string.Join(", ", AllMethods)}");
        if (Dsm.Model is not ("lightgcn" or "mf" or "lightgcn+text" or "mf+text" or "sasrec" or "sasrec+text")) throw new ArgumentException($"experiment {Name}: dsm.model '{Dsm.Model}': expected lightgcn, mf, lightgcn+text, mf+text, sasrec or sasrec+text");
        if (Dsm.ItemInit is not ("random" or "text-pca")) throw new ArgumentException($"experiment {Name}: dsm.item_init '{Dsm.ItemInit}': expected random or text-pca");
        Tower.Validate();
        if (Tower.DsmRows == true && Dsm.Model is "sasrec" or "sasrec+text")
            throw new ArgumentException($"experiment {Name}: tower.dsm_rows with dsm.model {Dsm.Model}: SASRec gives the LLM its users through its user encoder; dsm_rows applies to lightgcn and mf (with or without +text)");
        // With SASRec on ranking data the LLM reads its user token through a copy of it, and the DSM phase distils by ranking only (click-through distils pointwise).
        if ((Dsm.Model is "sasrec" or "sasrec+text") && Methods.Any(m => m is "one-way" or "bdlm") && Bdlm.Lambda > 0 && Bdlm.Distill is not (null or "rank") && Datasets.Any(d => !d.IsCtr))
            throw new ArgumentException($"experiment {Name}: bdlm.distill '{Bdlm.Distill}' with dsm.model sasrec: a sequential DSM distils by ranking only; use \"distill\": \"rank\"");
        Dsm.Sasrec?.Validate(Dsm.Dim);
        Backbone.Validate();
        Bdlm.Validate();
        Dsm.Train.Validate();
        Tune?.Validate();
        var names = Datasets.Select(d => d.Name).ToList();
        if (names.Distinct().Count() != names.Count) throw new ArgumentException($"experiment {Name}: dataset names repeat");
        foreach (var d in Datasets)
        {
            if (string.IsNullOrWhiteSpace(d.Name)) throw new ArgumentException($"experiment {Name}: a dataset has no name");
            // An experiment slices users with the dataset entry's max_users; one inside data was silently replaced by it (anime and
            // book-crossing ran on every user while their configs said 1,500).
            if (d.Data.MaxUsers is not null)
                throw new ArgumentException($"dataset {d.Name}: data.max_users ({d.Data.MaxUsers}) is not read by an experiment; put \"max_users\" on the dataset entry, beside \"ks\"");
            if (d.IsCtr)
            {
                if (Dsm.Model is not ("mf" or "lightgcn" or "sasrec" or "sasrec+text"))
                    throw new ArgumentException($"dataset {d.Name}: dsm.model '{Dsm.Model}' has no click-through form; use mf, lightgcn, sasrec or sasrec+text");
                if (Monitor is not ("auc" or "uauc")) throw new ArgumentException($"dataset {d.Name}: click-through data is monitored by auc or uauc, not {Monitor}");
                foreach (var m in Methods)
                    if (!CtrMethods.Contains(m)) throw new ArgumentException($"dataset {d.Name}: method '{m}' has no click-through form; use {string.Join(", ", CtrMethods)}");
                if (d.Subsample.Length > 0 || d.Sampled || d.UnisrecProtocol || d.ValidationUsers is not null || d.BdlmAllValidationUsers)
                    throw new ArgumentException($"dataset {d.Name}: subsample, sampled, unisrec_protocol, validation_users and bdlm_all_validation_users apply to ranking data, not click-through (ctr.llm_validation_rows samples validation rows)");
                if (d.MaxUsers is < 1) throw new ArgumentException($"dataset {d.Name}: max_users must be >= 1");
                if (Bdlm.DsmFresh == true) throw new ArgumentException($"dataset {d.Name}: bdlm.dsm_fresh applies to ranking data; click-through BDLM continues the DSM in each phase");
                if (Tower.PopularityPrior == true) throw new ArgumentException($"dataset {d.Name}: tower.popularity_prior applies to the ranking protocol's text-only LLM (a softmax over items), not click-through");
                if (Bdlm.LlmTarget is not null) throw new ArgumentException($"dataset {d.Name}: bdlm.llm_target applies to ranking data; click-through's LLM predicts each row's label");
                if (Tower.TextOnlyLr is not null) throw new ArgumentException($"dataset {d.Name}: tower.text_only_lr applies to the ranking protocol's text-only LLM; click-through's trains at bdlm.lr_adapters");
                d.CtrSettings.Validate();
                continue;
            }
            if (d.Ctr is not null) throw new ArgumentException($"dataset {d.Name}: ctr settings need data.format collm-ctr");
            int monitorK = MonitorK(Monitor);
            if (!d.Ks.Contains(monitorK)) throw new ArgumentException($"dataset {d.Name}: monitor {Monitor} needs K = {monitorK} among ks ({string.Join(",", d.Ks)})");
            foreach (double f in d.Subsample)
                if (f is <= 0 or > 1 || double.IsNaN(f)) throw new ArgumentException($"dataset {d.Name}: subsample fraction {f} outside (0, 1]");
            if (d.MaxUsers is < 1) throw new ArgumentException($"dataset {d.Name}: max_users must be >= 1");
            if (d.ValidationUsers is < 1) throw new ArgumentException($"dataset {d.Name}: validation_users must be >= 1");
            if (d.BdlmAllValidationUsers && d.ValidationUsers is null)
                throw new ArgumentException($"dataset {d.Name}: bdlm_all_validation_users widens a validation_users sample, and there is none (every choice already reads every validation user)");
        }
    }

    static int MonitorK(string monitor)
    {
        int at = monitor.IndexOf('@');
        if (at < 0 || !int.TryParse(monitor.AsSpan(at + 1), out int k))
            throw new ArgumentException($"monitor '{monitor}': expected a metric at a cut-off, e.g. hr@10");
        return k;
    }

    /// <summary>
    /// The hash of everything that changes a run's numbers for <paramref name="dataset"/> (the dataset's entry,
    /// the DSM, BDLM, prompt and backbone settings, the monitor, the device), and not the name, the output
    /// folder, the seeds or the methods: adding a seed or a method keeps the finished runs. Paths (the dataset's, its
    /// items', the backbone's) enter relative to <see cref="BaseDirectory"/>, so a checkout in another folder, with its
    /// data beside it as before, finds the same finished runs.
    /// </summary>
    public string RunHash(ExperimentDataset dataset) => Hash(dataset, portable: true);

    /// <summary>
    /// The hash as it was before 2026-12-02, with the paths absolute: rows written then carry it, and
    /// <see cref="ResultsFile.AdoptLegacyHashes"/> rewrites them to <see cref="RunHash"/>.
    /// </summary>
    public string LegacyRunHash(ExperimentDataset dataset) => Hash(dataset, portable: false);

    string Hash(ExperimentDataset dataset, bool portable)
    {
        string P(string p) => !portable || BaseDirectory is null || p.Length == 0 ? p : System.IO.Path.GetRelativePath(BaseDirectory, p).Replace('\\', '/');
        if (portable)
            dataset = dataset with { Data = dataset.Data with { Path = P(dataset.Data.Path), Items = dataset.Data.Items is null ? null : P(dataset.Data.Items) } };
        // The tower as the runs use it: a config that leaves dsm_rows unset hashes as on or off, never as the unset key
        // that meant off before it had a default.
        // BDLM's settings likewise as the runs use them; dsm_fresh off hashes as absent, the way it was written before it had a default,
        // and a round patience that cannot stop the run as absent too (BdlmOptions.EffectivePatience).
        var bdlm = BdlmFor(dataset);
        // popularity_prior off hashes as absent, the way it was written before it existed (and had a default).
        var tower = TowerFor(dataset);
        var basis = this with { Name = "", Output = null, Seeds = [], Methods = [], Datasets = [], CacheDir = null, Tune = null, Tuned = null,
            // text_only_lr equal to bdlm.lr_adapters (what llm-text trained at before it existed) hashes as absent too.
            Tower = tower with { PopularityPrior = tower.PopularityPrior == true ? true : null, TextOnlyLr = tower.TextOnlyLr == Bdlm.LrAdapters ? null : tower.TextOnlyLr },
            Bdlm = bdlm with { DsmFresh = bdlm.DsmFresh == true ? true : null, RoundPatience = bdlm.EffectivePatience,
                // llm_target next is what every run did before it existed: hashed as absent. Unset is decided by the data
                // (BdlmOptions.TargetFor), which the hash cannot see: hashed as "auto", so configs measured before spell out next.
                LlmTarget = dataset.IsCtr || bdlm.LlmTarget == "next" ? null : bdlm.LlmTarget ?? "auto" } };
        // backbone.name minilm is the default spelled out: the same runs as no name.
        if (basis.Backbone.Name == Language.EmbeddedEncoder.MiniLm.Name) basis = basis with { Backbone = basis.Backbone with { Name = null } };
        if (portable && basis.Backbone.Path is { } backbonePath) basis = basis with { Backbone = basis.Backbone with { Path = P(backbonePath) } };
        string text = basis.ToJson() + "\n" + JsonSerializer.Serialize(dataset with { Published = null }, JsonOptions);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>Reads a config file; a <see cref="Tuned"/> fragment it names is merged over its settings first (<see cref="ReadJsonFile"/>).</summary>
    public static ExperimentConfig FromJsonFile(string path)
    {
        string text = File.ReadAllText(path);
        var node = ConfigJson.Parse(text, path);
        if (node["tuned"] is null) return Deserialize(text, path, lines: true).ResolvePaths(BaseDirectoryFor(path));
        MergeTuned(node, path);
        return FromJson(node, path);
    }

    /// <summary>
    /// A config file as JSON, with its <c>tuned</c> fragment merged over it and that path made absolute: what
    /// <see cref="FromJson"/> reads, and what the tuner edits trial by trial.
    /// </summary>
    public static System.Text.Json.Nodes.JsonObject ReadJsonFile(string path)
    {
        var node = ConfigJson.ReadFile(path);
        if (node["tuned"] is not null) MergeTuned(node, path);
        return node;
    }

    /// <summary>
    /// A configuration from JSON as <see cref="ReadJsonFile"/> gives it (a <c>tuned</c> path in it is recorded, not
    /// merged again), relative paths read as for the file at <paramref name="path"/>. Not validated.
    /// </summary>
    public static ExperimentConfig FromJson(System.Text.Json.Nodes.JsonObject node, string path) =>
        Deserialize(node.ToJsonString(), path, lines: false).ResolvePaths(BaseDirectoryFor(path));

    static ExperimentConfig Deserialize(string text, string path, bool lines)
    {
        try
        {
            return JsonSerializer.Deserialize<ExperimentConfig>(text, JsonOptions)
                ?? throw new InvalidDataException($"{path}: empty configuration");
        }
        catch (JsonException e)
        {
            string at = lines ? $":{(e.LineNumber ?? -1) + 1}" : e.Path is { } p ? $" ({p})" : "";
            throw new InvalidDataException($"{path}{at}: invalid experiment configuration: {e.Message}");
        }
    }

    /// <summary>Merges the fragment named by the node's "tuned" over it; every key of the fragment must be a field of the configuration.</summary>
    static void MergeTuned(System.Text.Json.Nodes.JsonObject node, string path)
    {
        if (node["tuned"] is not System.Text.Json.Nodes.JsonValue v || !v.TryGetValue(out string? tuned) || tuned.Length == 0)
            throw new InvalidDataException($"{path}: \"tuned\" must be the path of a tuned settings file (a tune's chosen.json)");
        string file = System.IO.Path.IsPathRooted(tuned) ? tuned : System.IO.Path.GetFullPath(System.IO.Path.Combine(BaseDirectoryFor(path), tuned));
        if (!File.Exists(file)) throw new FileNotFoundException($"{path}: tuned settings file {file} not found (\"tuned\": \"{tuned}\")", file);
        var fragment = ConfigJson.ReadFile(file);
        foreach (string key in ConfigJson.Leaves(fragment))
        {
            if (key.Split('.')[0] is "tuned" or "tune")
                throw new InvalidDataException($"{file}: a tuned settings file cannot set '{key}'");
            try { ConfigJson.CheckPath(key); }
            catch (ArgumentException e) { throw new InvalidDataException($"{file}: {e.Message}"); }
        }
        ConfigJson.Merge(node, fragment);
        node["tuned"] = file;
    }

    /// <summary>The folder relative paths of a config file are read against: the parent of its folder when that exists, else the current directory.</summary>
    public static string BaseDirectoryFor(string configPath)
    {
        string? parent = System.IO.Path.GetDirectoryName(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(configPath)));
        return parent is not null && Directory.Exists(parent) ? parent : Directory.GetCurrentDirectory();
    }

    /// <summary>The config with relative data, items and output paths made absolute against <paramref name="baseDir"/>.</summary>
    public ExperimentConfig ResolvePaths(string baseDir)
    {
        baseDir = System.IO.Path.GetFullPath(baseDir);
        string Abs(string p) => p.Length == 0 || System.IO.Path.IsPathRooted(p) ? p : System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, p));
        return this with
        {
            Datasets = Datasets.Select(d => d with
            {
                Data = d.Data with { Path = Abs(d.Data.Path), Items = d.Data.Items is null ? null : Abs(d.Data.Items) },
            }).ToArray(),
            Output = Abs(OutputDir),
            Backbone = Backbone.Path is null ? Backbone : Backbone with { Path = Abs(Backbone.Path) },
            BaseDirectory = baseDir,
        };
    }
}
