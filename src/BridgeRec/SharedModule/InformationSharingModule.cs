using BridgeRec.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.SharedModule;

/// <summary>
/// The information sharing module (ISM): the one store of task knowledge, user and item
/// embedding tables (plus an optional item bias). Every model reads and writes these same
/// tensors; none keeps a private copy of ID embeddings. Saved and loaded on its own.
/// <para>It owns its state: <see cref="Snapshot"/> and <see cref="Restore"/> are the only way a trainer keeps and
/// puts back a round's tables, <see cref="Trainable"/> the only way to freeze them, and <see cref="Version"/>
/// changes with every restore or load, so models that cache what they compute from the tables know when to
/// recompute (optimizer steps are counted per parameter by <c>SafeAdam</c>).</para>
/// </summary>
public sealed class InformationSharingModule : nn.Module
{
    public Parameter Users { get; }
    public Parameter Items { get; }
    public Parameter? ItemBias { get; }
    public int NumUsers { get; }
    public int NumItems { get; }
    public int Dim { get; }

    public InformationSharingModule(int numUsers, int numItems, int dim = 64, bool itemBias = false, double initStd = 0.1, Device? device = null)
        : base("ism")
    {
        if (numUsers <= 0 || numItems <= 0 || dim <= 0)
            throw new ArgumentOutOfRangeException(nameof(dim), $"ISM needs positive sizes, got {numUsers} users, {numItems} items, dim {dim}");
        NumUsers = numUsers; NumItems = numItems; Dim = dim;
        // Normal(0, 0.1), the LightGCN reference initialisation: with the default uniform Xavier MF barely learns.
        Users = new Parameter(HeldOps.Normal(0, initStd, [numUsers, dim], device));
        Items = new Parameter(HeldOps.Normal(0, initStd, [numItems, dim], device));
        if (itemBias) ItemBias = new Parameter(zeros(numItems, device: device));
        RegisterComponents();
    }

    /// <summary>Goes up with every <see cref="Restore"/> and load: the tables were overwritten wholesale.</summary>
    public long Version { get; private set; }

    /// <summary>A copy of the tables (bit-identical), to <see cref="Restore"/> later; the caller disposes it.</summary>
    public IsmState Snapshot()
    {
        using var _ = no_grad();
        return new IsmState(Users.detach().clone(), Items.detach().clone(), ItemBias?.detach().clone());
    }

    /// <summary>Puts a <see cref="Snapshot"/> back (sizes must match); the state stays the caller's.</summary>
    public void Restore(IsmState state)
    {
        using (no_grad())
        {
            Users.copy_(state.Users);
            Items.copy_(state.Items);
            if (ItemBias is not null && state.ItemBias is not null) ItemBias.copy_(state.ItemBias);
        }
        Version++;
    }

    /// <summary>
    /// Sets whether the tables train (requires_grad) until the returned scope is disposed, which puts back what
    /// each table had: a phase that freezes the module cannot leave it frozen for the next one.
    /// </summary>
    public IDisposable Trainable(bool trainable)
    {
        var ps = parameters().ToArray();
        var before = ps.Select(p => p.requires_grad).ToArray();
        foreach (var p in ps) p.requires_grad = trainable;
        return new Scope(() => { for (int k = 0; k < ps.Length; k++) ps[k].requires_grad = before[k]; });
    }

    sealed class Scope(Action exit) : IDisposable
    {
        Action? _exit = exit;
        public void Dispose() { _exit?.Invoke(); _exit = null; }
    }

    /// <summary>Users then items stacked: the node table of the user-item graph.</summary>
    public Tensor AllNodes() => cat([Users, Items], 0);

    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var tensors = new Dictionary<string, Tensor> { ["users"] = Users, ["items"] = Items };
        if (ItemBias is not null) tensors["item_bias"] = ItemBias;
        SafeTensors.Save(path, tensors, metadata);
    }

    /// <summary>Reads a module saved by <see cref="Save"/>; sizes come from the file.</summary>
    public static InformationSharingModule Load(string path, Device? device = null)
    {
        var t = SafeTensors.Load(path);
        try
        {
            if (!t.TryGetValue("users", out var u) || !t.TryGetValue("items", out var i))
                throw new InvalidDataException($"{path}: not an information sharing module (needs tensors 'users' and 'items')");
            if (u.dim() != 2 || i.dim() != 2 || u.shape[1] != i.shape[1])
                throw new InvalidDataException($"{path}: 'users' [{string.Join(", ", u.shape)}] and 'items' [{string.Join(", ", i.shape)}] must be 2-D with the same width");
            var ism = new InformationSharingModule((int)u.shape[0], (int)i.shape[0], (int)u.shape[1], t.ContainsKey("item_bias"), device: device);
            ism.CopyFrom(t, path);
            return ism;
        }
        finally { foreach (var v in t.Values) v.Dispose(); }
    }

    /// <summary>Overwrites this module's tables with those of a file (sizes must match).</summary>
    public void LoadFrom(string path)
    {
        var t = SafeTensors.Load(path);
        try { CopyFrom(t, path); }
        finally { foreach (var v in t.Values) v.Dispose(); }
    }

    void CopyFrom(IReadOnlyDictionary<string, Tensor> t, string path)
    {
        SafeTensors.CopyInto(t, "users", Users, path);
        SafeTensors.CopyInto(t, "items", Items, path);
        if (ItemBias is not null) SafeTensors.CopyInto(t, "item_bias", ItemBias, path);
        Version++;
    }
}

/// <summary>A copy of the shared module's tables (<see cref="InformationSharingModule.Snapshot"/>); disposing frees it.</summary>
public sealed class IsmState(Tensor users, Tensor items, Tensor? itemBias) : IDisposable
{
    public Tensor Users { get; } = users;
    public Tensor Items { get; } = items;
    public Tensor? ItemBias { get; } = itemBias;

    public void Dispose()
    {
        Users.Dispose();
        Items.Dispose();
        ItemBias?.Dispose();
    }
}
