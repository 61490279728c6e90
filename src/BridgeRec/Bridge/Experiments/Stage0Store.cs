using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.IO;
using BridgeRec.Domain;
using BridgeRec.SharedModule;

namespace BridgeRec.Bridge.Experiments;

/// <summary>
/// Stage-0 shared modules (the DSM alone, trained with early stopping on validation) kept across seed runs that
/// would train the same one: the tuner's trials differ in BDLM's loop settings, and stage 0 does not read them.
/// Keyed by <see cref="KeyOf"/>; held in memory, and with a folder also as <c>&lt;key&gt;.safetensors</c> there,
/// so a resumed tune does not train it again. The store owns what it holds.
/// </summary>
public sealed class Stage0Store(string? dir = null) : IDisposable
{
    sealed record Entry(DsmState State, double Seconds);

    readonly Dictionary<string, Entry> _held = new();

    /// <summary>Stage-0 modules trained (put) and reused (got) through this store.</summary>
    public int Trained { get; private set; }
    public int Reused { get; private set; }

    /// <summary>
    /// BDLM settings known to act only after stage 0 (its rounds). Every other setting of the configuration, fields
    /// added later included, is part of <see cref="KeyOf"/>: a new field costs at worst a stage 0 trained again,
    /// never a stale one reused. A new BDLM field that stage 0 does not read may be added here.
    /// </summary>
    public static readonly string[] BdlmAfterStage0 =
        ["rounds", "lambda", "tau", "llm_epochs", "llm_batch", "llm_users_per_epoch", "lr_ism", "lr_adapters", "lr_backbone",
         "freeze_ism_in_llm", "dsm_lr", "distill_slate", "dsm_epochs", "seed", "distill", "top_k", "gate", "resume_from_best", "dsm_fresh", "round_patience", "llm_target"];

    /// <summary>
    /// What a stage 0 depends on: the dataset's entry, the training fraction, the seed and every setting of the
    /// configuration except the run's bookkeeping (name, output, seeds, methods, the tune section) and
    /// <see cref="BdlmAfterStage0"/>.
    /// </summary>
    public static string KeyOf(ExperimentConfig config, ExperimentDataset ds, double fraction, int seed)
    {
        var basis = config with
        {
            Name = "", Output = null, Seeds = [], Methods = [], Datasets = [], CacheDir = null, Tune = null, Tuned = null, TimingUsers = 0,
        };
        var node = JsonSerializer.SerializeToNode(basis, ExperimentConfig.JsonOptions)!.AsObject();
        if (node["bdlm"] is JsonObject bdlm)
            foreach (string field in BdlmAfterStage0) bdlm.Remove(field);
        node.Remove("tower"); // the LLM's item tower: built after stage 0
        node["dataset"] = JsonSerializer.SerializeToNode(ds with { Published = null, ReportMetrics = null, Subsample = [], BdlmAllValidationUsers = false }, ExperimentConfig.JsonOptions);
        node["fraction"] = fraction.ToString("R", CultureInfo.InvariantCulture);
        node["seed"] = seed;
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(node.ToJsonString())))[..16];
    }

    string? FileOf(string key) => dir is null ? null : Path.Combine(dir, key + ".safetensors");

    /// <summary>Whether a stage 0 for the key is held or on disk.</summary>
    public bool Contains(string key) => _held.ContainsKey(key) || (FileOf(key) is { } f && File.Exists(f));

    /// <summary>The held stage 0 of the key (from memory, else from the folder), still owned by the store; null when there is none.</summary>
    public DsmState? TryGet(string key)
    {
        if (!_held.TryGetValue(key, out var e))
        {
            if (FileOf(key) is not { } file || !File.Exists(file)) return null;
            var t = SafeTensors.Load(file, out var meta);
            if (!t.TryGetValue("users", out var users) || !t.TryGetValue("items", out var items))
            {
                foreach (var v in t.Values) v.Dispose();
                throw new InvalidDataException($"{file}: not a stage-0 shared module (needs tensors 'users' and 'items'); delete it to train stage 0 again");
            }
            // Held on the CPU as read; DomainModel.Restore copies onto the model's device. The DSM's own weights (a +text
            // model's projection) are stored under "own." names.
            var own = t.Where(kv => kv.Key.StartsWith(OwnPrefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[OwnPrefix.Length..], kv => kv.Value);
            var state = new DsmState(new IsmState(users, items, t.GetValueOrDefault("item_bias")), own);
            double seconds = meta.TryGetValue("seconds", out var s) && double.TryParse(s, CultureInfo.InvariantCulture, out double x) ? x : 0;
            _held[key] = e = new Entry(state, seconds);
        }
        Reused++;
        return e.State;
    }

    /// <summary>Seconds the stage 0 of the key took to train (0 when unknown).</summary>
    public double SecondsOf(string key) => _held.TryGetValue(key, out var e) ? e.Seconds : 0;

    /// <summary>Keeps <paramref name="state"/> (the store owns it from now on) and writes it to the folder, if any.</summary>
    public void Put(string key, DsmState state, double seconds)
    {
        if (_held.Remove(key, out var old) && !ReferenceEquals(old.State, state)) old.State.Dispose();
        _held[key] = new Entry(state, seconds);
        Trained++;
        if (FileOf(key) is { } file)
        {
            Directory.CreateDirectory(dir!);
            var tensors = new Dictionary<string, TorchSharp.torch.Tensor> { ["users"] = state.Ism.Users, ["items"] = state.Ism.Items };
            if (state.Ism.ItemBias is not null) tensors["item_bias"] = state.Ism.ItemBias;
            foreach (var (name, w) in state.Own) tensors[OwnPrefix + name] = w;
            SafeTensors.Save(file, tensors, new Dictionary<string, string> { ["seconds"] = seconds.ToString("R", CultureInfo.InvariantCulture), ["key"] = key });
        }
    }

    const string OwnPrefix = "own.";

    public void Dispose()
    {
        foreach (var e in _held.Values) e.State.Dispose();
        _held.Clear();
    }
}
