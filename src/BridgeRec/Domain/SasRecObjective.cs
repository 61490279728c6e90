using BridgeRec.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.Domain;

/// <summary>A term added to a sequential DSM's batch loss: <paramref name="model"/> in training mode, <paramref name="batchSize"/> the batch's number of sequences.</summary>
public delegate Tensor SequenceExtraLoss(SasRec model, int batchSize);

/// <summary>
/// SASRec's next-item objective. Each user's training sequence is cut, from the newest item back, into windows of at
/// most <see cref="SasRecOptions.MaxLength"/> + 1 items; every item of a window but its first is a target, predicted
/// at the position before it from the items up to there (the model is causal). So every training item after a user's
/// first is a target once per epoch, with at most MaxLength items of context, as at scoring time. A batch is
/// <see cref="DsmOptions.Batch"/> windows. The loss is <see cref="SasRecOptions.Loss"/>; <see cref="DsmOptions.L2"/>
/// is not applied (dropout regularises, and RecBole's SASRec trains without weight decay).
/// </summary>
public sealed class SasRecObjective : IDsmObjective
{
    /// <summary>A term added to each batch's loss (BDLM's distillation from the LLM), given the model and the batch's window count.</summary>
    public SequenceExtraLoss? Extra { get; }

    readonly SasRec _model;
    readonly DsmOptions _options;
    readonly (int User, int Start, int End)[] _windows;
    readonly int[][] _seen;
    int[][] _batches = [];
    Random _rng = new(0);

    public SasRecObjective(SasRec model, DsmOptions options, SequenceExtraLoss? extra = null)
    {
        Extra = extra;
        _model = model;
        _options = options;
        var histories = model.TrainHistories;
        int span = model.Options.MaxLength + 1;
        var windows = new List<(int, int, int)>();
        for (int u = 0; u < histories.Length; u++)
            for (int end = histories[u].Count; end >= 2; end -= span - 1)
                windows.Add((u, Math.Max(0, end - span), end));
        if (windows.Count == 0) throw new InvalidOperationException("no user has two training items: nothing to predict");
        _windows = windows.ToArray();
        _seen = histories.Select(h => h.Distinct().Order().ToArray()).ToArray();
    }

    public IReadOnlyList<Parameter> Parameters => [];

    /// <summary>Training windows: each user's sequence cut into spans of at most MaxLength + 1 items.</summary>
    public int Windows => _windows.Length;

    public int StartEpoch(int epoch)
    {
        _rng = BprSampler.EpochRandom(_options.Seed, epoch);
        // Shuffled, then ordered by length (a stable sort keeps the shuffle among equal lengths), so a batch pads to
        // about its own length: most Amazon sequences are far shorter than 50. The batches then go in random order.
        var order = Enumerable.Range(0, _windows.Length).ToArray();
        _rng.Shuffle(order);
        order = order.OrderBy(w => _windows[w].End - _windows[w].Start).ToArray();
        _batches = order.Chunk(_options.Batch).ToArray();
        _rng.Shuffle(_batches);
        return _batches.Length;
    }

    public (Tensor Loss, double Reported) BatchLoss(DomainModel model, int batch)
    {
        if (!ReferenceEquals(model, _model)) throw new ArgumentException("the objective was built for another model", nameof(model));
        var histories = _model.TrainHistories;
        var windows = _batches[batch].Select(w => _windows[w]).ToArray();
        var inputs = windows.Select(w => Slice(histories[w.User], w.Start, w.End - 1)).ToArray();
        int length = inputs.Max(s => s.Length), count = inputs.Sum(s => s.Length);
        // Every input position holds a target: the item after it. Flat positions in the left-padded [batch, length] grid.
        var at = new long[count];
        var targets = new long[count];
        var negatives = _model.Options.Loss is "bce" or "bpr" ? new long[count] : null;
        for (int r = 0, k = 0; r < windows.Length; r++)
        {
            var (user, start, _) = windows[r];
            int pad = length - inputs[r].Length;
            for (int j = 0; j < inputs[r].Length; j++, k++)
            {
                at[k] = (long)r * length + pad + j;
                targets[k] = histories[user][start + 1 + j];
                if (negatives is not null) negatives[k] = Unseen(user);
            }
        }
        var device = _model.Ism.Items.device;
        var hidden = _model.Forward(SequenceBatch.Of(inputs, device));
        var h = hidden.view(-1, hidden.shape[2]).index_select(0, tensor(at, device: device));
        var t = tensor(targets, device: device);
        var loss = _model.Options.Loss switch
        {
            "ce" => nn.functional.cross_entropy(_model.Logits(h), t),
            "sampled" => SampledSoftmax(h, t),
            "bce" => (-_model.Score(h, t)).Softplus().mean().Plus(_model.Score(h, tensor(negatives!, device: device)).Softplus().mean()),
            _ => (_model.Score(h, tensor(negatives!, device: device)) - _model.Score(h, t)).Softplus().mean(),
        };
        double reported = loss.item<float>();
        return (Extra is null ? loss : loss.Plus(Extra(_model, windows.Length)), reported);
    }

    /// <summary>Softmax over the target and the batch's uniform negatives; a negative that is the target is masked out.</summary>
    Tensor SampledSoftmax(Tensor h, Tensor targets)
    {
        var drawn = new long[_model.Options.Negatives];
        for (int k = 0; k < drawn.Length; k++) drawn[k] = _rng.Next(_model.NumItems);
        var negatives = tensor(drawn, device: h.device);
        using var minusInf = float.NegativeInfinity.ToScalar();
        var negativeLogits = _model.Logits(h, negatives).masked_fill(negatives.unsqueeze(0).eq(targets.unsqueeze(1)), minusInf);
        var logits = cat([_model.Score(h, targets).unsqueeze(1), negativeLogits], 1);
        return nn.functional.cross_entropy(logits, zeros(targets.shape[0], ScalarType.Int64, h.device));
    }

    /// <summary>A uniform item the user has no training interaction with (SASRec's negative).</summary>
    long Unseen(int user)
    {
        var seen = _seen[user];
        if (seen.Length >= _model.NumItems) throw new InvalidOperationException($"user {user} has every item: no negative exists");
        int n;
        do n = _rng.Next(_model.NumItems); while (Array.BinarySearch(seen, n) >= 0);
        return n;
    }

    static int[] Slice(IReadOnlyList<int> items, int start, int end)
    {
        var s = new int[end - start];
        for (int k = 0; k < s.Length; k++) s[k] = items[start + k];
        return s;
    }
}
