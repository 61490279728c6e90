using BridgeRec.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Domain;

/// <summary>
/// What a DSM learns in <see cref="DsmTrainer.Fit"/>, the one DSM epoch loop: the examples of each epoch and the
/// loss of a batch of them, distillation included. Ranking uses <see cref="BprObjective"/> (sampled triples),
/// click-through a pointwise BCE objective over labelled rows; a sequential DSM adds its own.
/// </summary>
public interface IDsmObjective
{
    /// <summary>Parameters trained beside the model's own (the click-through logit offset); kept best and restored with them.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Draws epoch <paramref name="epoch"/>'s examples (seeded from the epoch, so a resumed run draws the same) and returns its number of batches.</summary>
    int StartEpoch(int epoch);

    /// <summary>The loss of batch <paramref name="batch"/> of the current epoch (differentiable), and the part to report (BPR, BCE).</summary>
    (Tensor Loss, double Reported) BatchLoss(DomainModel model, int batch);
}

/// <summary>
/// BPR over triples drawn as the LightGCN reference draws them (a uniform user, one of its items, a uniform item it
/// lacks), plus L2 on the batch's ego rows, plus <see cref="Extra"/> when set (BDLM's distillation from the LLM).
/// </summary>
public sealed class BprObjective(UserItemIndex train, DsmOptions options, ExtraLoss? extra = null) : IDsmObjective
{
    long[] _users = [], _pos = [], _neg = [];

    public ExtraLoss? Extra { get; } = extra;
    public IReadOnlyList<Parameter> Parameters => [];

    public int StartEpoch(int epoch)
    {
        var rng = BprSampler.EpochRandom(options.Seed, epoch);
        (_users, _pos, _neg) = BprSampler.SampleEpoch(train, train.Nnz, rng);
        return (_users.Length + options.Batch - 1) / options.Batch;
    }

    public (Tensor Loss, double Reported) BatchLoss(DomainModel model, int batch)
    {
        var device = model.Ism.Users.device;
        int start = batch * options.Batch, len = Math.Min(options.Batch, _users.Length - start);
        var u = tensor(_users.AsSpan(start, len).ToArray(), device: device);
        var p = tensor(_pos.AsSpan(start, len).ToArray(), device: device);
        var n = tensor(_neg.AsSpan(start, len).ToArray(), device: device);
        return model.BprLoss(u, p, n, options.L2, Extra);
    }
}
