using BridgeRec.Data;
using BridgeRec.Evaluation;
using BridgeRec.IO;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using TorchSharp;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.Domain;

/// <summary>
/// A domain-specific model (DSM) whose ego embeddings are the information sharing module's
/// tables. Subclasses say how final embeddings come from the ego ones; BPR training and
/// scoring by dot product are the same for all of them.
/// </summary>
public abstract class DomainModel : nn.Module, IRecommender
{
    public InformationSharingModule Ism { get; }
    public abstract string Name { get; }

    /// <summary>
    /// Whether training gives the same weights whatever torch's thread count (no reduction that libtorch splits across
    /// threads reaches a gradient): such a model trains with the cores other jobs leave free (Native/ThreadBudget).
    /// </summary>
    public virtual bool SameResultsAtAnyThreadCount => false;
    public int NumItems => Ism.NumItems;

    protected DomainModel(string name, InformationSharingModule ism) : base(name)
    {
        Ism = ism;
        RegisterComponents();
    }

    /// <summary>Final user and item embeddings computed from the ISM tables (differentiable).</summary>
    public (Tensor Users, Tensor Items) Embed() => Propagate(Ism.Users, EgoItems());

    /// <summary>The model's forward pass: final user and item embeddings from the given ego rows (differentiable).</summary>
    public abstract (Tensor Users, Tensor Items) Propagate(Tensor egoUsers, Tensor egoItems);

    /// <summary>The item rows the forward pass starts from and L2 regularises: the ISM items (a text-augmented model adds to them).</summary>
    protected virtual Tensor EgoItems() => Ism.Items;

    /// <summary>Trained weights this model keeps beside the ISM, by name (none for MF and LightGCN).</summary>
    public virtual IReadOnlyDictionary<string, Tensor> OwnWeights() => new Dictionary<string, Tensor>();

    /// <summary>
    /// The histories (each user's items in time order, <see cref="Data.Histories"/>) the model reads when it scores: training
    /// while it trains and validates, training + validation before test. A sequential model encodes them; the ID models
    /// (MF, LightGCN) learned each user into a row and ignore them.
    /// </summary>
    public virtual void UseHistories(IReadOnlyList<int>[] histories) { }

    /// <summary>What <see cref="DsmTrainer.Fit(DomainModel, UserItemIndex, Func{DomainModel, IReadOnlyDictionary{string, double}}, CheckpointStore?, bool, CancellationToken)"/> trains for ranking: BPR on sampled triples; a sequential model predicts each next item.</summary>
    public virtual IDsmObjective RankingObjective(UserItemIndex train, DsmOptions options) => new BprObjective(train, options);

    /// <summary>Marks the final embeddings stale when something other than the weights changed what they are computed from (the histories).</summary>
    protected void InputsChanged() => _ownVersion++;

    (Tensor Users, Tensor Items)? _final;
    (long Ism, long Steps, long Own) _finalVersion;
    long _ownVersion;

    /// <summary>What the final embeddings were computed from: restores and loads of the tables, optimizer steps of any parameter, restores of the own weights.</summary>
    (long Ism, long Steps, long Own) Version() => (Ism.Version, ParameterVersions.Of(parameters()), _ownVersion);

    /// <summary>
    /// Final embeddings for scoring many users, computed once per state of the weights: a training step or a
    /// restore changes <see cref="Version"/>, and the next call recomputes. The tensors belong to the model and
    /// are freed at that point: a caller that needs them across training (a frozen teacher) clones them.
    /// </summary>
    public (Tensor Users, Tensor Items) FinalEmbeddings()
    {
        var version = Version();
        if (_final is { } f && version == _finalVersion) return f;
        ForgetFinal();
        using var _ = no_grad();
        // The cache outlives any dispose scope the caller (an evaluator's batch loop) may have open.
        using (var scope = NewDisposeScope())
        {
            var (u, i) = Embed();
            _final = (u.detach().DetachFromDisposeScope(), i.detach().DetachFromDisposeScope());
        }
        _finalVersion = version;
        return _final.Value;
    }

    void ForgetFinal()
    {
        if (_final is { } f) { f.Users.Dispose(); f.Items.Dispose(); }
        _final = null;
    }

    /// <summary>A copy of everything the model trains (the shared tables and its own weights), to <see cref="Restore"/> later.</summary>
    public DsmState Snapshot()
    {
        using var _ = no_grad();
        return new DsmState(Ism.Snapshot(), OwnWeights().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
    }

    /// <summary>Puts a <see cref="Snapshot"/> back; the state stays the caller's.</summary>
    public void Restore(DsmState state)
    {
        Ism.Restore(state.Ism);
        LoadOwnWeights(state.Own, "a snapshot");
    }

    /// <summary>Copies this model's own weights (<see cref="OwnWeights"/>) from tensors read from <paramref name="source"/>.</summary>
    public void LoadOwnWeights(IReadOnlyDictionary<string, Tensor> loaded, string source)
    {
        var own = OwnWeights();
        if (own.Count == 0) return;
        foreach (var (name, w) in own) SafeTensors.CopyInto(loaded, name, w, source);
        _ownVersion++;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) ForgetFinal();
        base.Dispose(disposing);
    }

    public Tensor ScoreAll(int[] users)
    {
        using var _ = no_grad();
        var (u, i) = FinalEmbeddings();
        using var idx = tensor(users.Select(x => (long)x).ToArray(), device: u.device);
        using var rows = u.index_select(0, idx);
        var scores = rows.matmul(i.t());
        if (Ism.ItemBias is not null) scores.Plus_(Ism.ItemBias.detach());
        return scores;
    }

    /// <summary>
    /// BPR loss of a batch of (user, positive, negative) triples plus L2 on the batch's ego
    /// embeddings: mean softplus(s_neg - s_pos) + l2 * 0.5 * (|e_u|^2 + |e_p|^2 + |e_n|^2) / batch.
    /// Returns the loss and, separately, the BPR part for logging.
    /// </summary>
    public (Tensor Loss, double Bpr) BprLoss(Tensor users, Tensor pos, Tensor neg, double l2, ExtraLoss? extra = null)
    {
        var egoItems = EgoItems();
        var (fu, fi) = Propagate(Ism.Users, egoItems);
        var u = fu.index_select(0, users);
        var p = fi.index_select(0, pos);
        var n = fi.index_select(0, neg);
        var sPos = (u * p).sum(1);
        var sNeg = (u * n).sum(1);
        if (Ism.ItemBias is not null)
        {
            sPos = sPos.Plus(Ism.ItemBias.index_select(0, pos));
            sNeg = sNeg.Plus(Ism.ItemBias.index_select(0, neg));
        }
        var bpr = (sNeg - sPos).Softplus().mean();
        var egoU = Ism.Users.index_select(0, users);
        var egoP = egoItems.index_select(0, pos);
        var egoN = egoItems.index_select(0, neg);
        // Scalars held in using locals: a temporary Scalar can be finalized during the native call (see SafeAdam).
        using var regScale = (0.5 / users.shape[0] * l2).ToScalar();
        var reg = egoU.Squared().sum().Plus(egoP.Squared().sum()).Plus(egoN.Squared().sum()).mul(regScale);
        var loss = bpr.Plus(reg);
        if (extra is not null) loss = loss.Plus(extra(fu, fi, users, pos, neg));
        return (loss, bpr.item<float>());
    }

    /// <summary>
    /// Pointwise (click-through) logits &lt;f_u, f_i&gt; (+ b_i) of (user, item) pairs from the final embeddings, and the
    /// L2 term of their ego rows, l2 * 0.5 * (|e_u|^2 + |e_i|^2) / batch, as <see cref="BprLoss"/> regularises (differentiable).
    /// </summary>
    public (Tensor Logits, Tensor Reg) PairLogits(Tensor users, Tensor items, double l2)
    {
        var egoItems = EgoItems();
        var (fu, fi) = Propagate(Ism.Users, egoItems);
        var logits = (fu.index_select(0, users) * fi.index_select(0, items)).sum(1);
        if (Ism.ItemBias is not null) logits = logits.Plus(Ism.ItemBias.index_select(0, items));
        using var regScale = (0.5 / users.shape[0] * l2).ToScalar();
        var reg = Ism.Users.index_select(0, users).Squared().sum().Plus(egoItems.index_select(0, items).Squared().sum()).mul(regScale);
        return (logits, reg);
    }

    /// <summary>True when the model scores a click-through row from the row's own earlier items (<see cref="RowLogits"/>), not from a user row.</summary>
    public virtual bool ReadsRowHistory => false;

    /// <summary>
    /// Click-through logits of labelled rows: (user, item) and the items the user had before that row, oldest first,
    /// with the L2 term of the rows read. This default reads the user rows (<see cref="PairLogits"/>) and ignores the
    /// histories; a sequential model (<see cref="ReadsRowHistory"/>) reads the histories instead. Differentiable.
    /// </summary>
    public virtual (Tensor Logits, Tensor Reg) RowLogits(Tensor users, Tensor items, IReadOnlyList<IReadOnlyList<int>> histories, double l2) =>
        PairLogits(users, items, l2);
}

/// <summary>A copy of a DSM's trained weights (<see cref="DomainModel.Snapshot"/>): the shared tables and the model's own weights, by name.</summary>
public sealed class DsmState(IsmState ism, Dictionary<string, Tensor> own) : IDisposable
{
    public IsmState Ism { get; } = ism;
    public IReadOnlyDictionary<string, Tensor> Own { get; } = own;

    public void Dispose()
    {
        Ism.Dispose();
        foreach (var t in Own.Values) t.Dispose();
    }
}

/// <summary>A term added to a DSM's BPR loss, given the batch and the final embeddings (BDLM's distillation from the LLM).</summary>
public delegate Tensor ExtraLoss(Tensor finalUsers, Tensor finalItems, Tensor users, Tensor pos, Tensor neg);

/// <summary>Matrix factorisation: final embeddings are the ISM tables themselves.</summary>
public sealed class MatrixFactorization(InformationSharingModule ism) : DomainModel("mf", ism)
{
    public override string Name => "mf";
    public override bool SameResultsAtAnyThreadCount => true;
    public override (Tensor Users, Tensor Items) Propagate(Tensor egoUsers, Tensor egoItems) => (egoUsers, egoItems);
}

/// <summary>
/// LightGCN: E(k+1) = A_hat E(k) over the normalised user-item graph, starting from the ego
/// rows (the ISM tables); the final embedding of each node is the mean of layers 0..K.
/// </summary>
public sealed class LightGcn(InformationSharingModule ism, NormalizedGraph graph, int layers = 3) : DomainModel("lightgcn", ism)
{
    public NormalizedGraph Graph { get; } = graph;
    public int Layers { get; } = layers >= 0 ? layers : throw new ArgumentOutOfRangeException(nameof(layers));
    public override string Name => "lightgcn";
    public override bool SameResultsAtAnyThreadCount => true;

    public override (Tensor Users, Tensor Items) Propagate(Tensor egoUsers, Tensor egoItems)
    {
        var e = cat([egoUsers, egoItems], 0);
        var sum = e;
        for (int k = 0; k < Layers; k++)
        {
            e = Graph.Propagate(e);
            sum = sum.Plus(e);
        }
        using var layers = ((double)(Layers + 1)).ToScalar();
        var final = sum.div(layers);
        var parts = final.split([Ism.NumUsers, Ism.NumItems], 0);
        return (parts[0], parts[1]);
    }
}

/// <summary>Most popular items first (training interaction counts), the same list for everyone.</summary>
public sealed class Popularity : IRecommender
{
    readonly float[] _counts;
    public string Name => "pop";
    public int NumItems => _counts.Length;

    public Popularity(Data.UserItemIndex train)
    {
        _counts = train.ItemDegrees().Select(c => (float)c).ToArray();
    }

    public float[] Counts => _counts;

    public Tensor ScoreAll(int[] users) =>
        tensor(_counts).unsqueeze(0).expand(users.Length, _counts.Length).contiguous();
}
