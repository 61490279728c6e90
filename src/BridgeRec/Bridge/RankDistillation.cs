using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Torch;
using static TorchSharp.torch;

namespace BridgeRec.Bridge;

/// <summary>
/// Ranking distillation, the form BDLM now uses in both directions (<see cref="BdlmOptions.Distill"/> "rank"): the
/// student learns the teacher's top-K unseen items for a user, each weighted by its rank position (w_k proportional to
/// exp(-2k/K), mean 1 over the K positions, after DLLM2Rec's position weight), and with the gate on only those items
/// the student ranks lower than the teacher does (rank-discrepancy gating, after Bidirectional Distillation, Kweon et
/// al. 2021): where the student already ranks an item at least as high, the teacher has nothing to teach about it.
/// The top-K lists come from the teacher as it stands at the start of a phase (refreshed every round).
/// </summary>
public static class RankDistillation
{
    /// <summary>w_k for positions 0..K-1, proportional to exp(-2k/K) and scaled to mean 1.</summary>
    public static float[] PositionWeights(int k)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), $"top-K must be >= 1 (got {k})");
        var w = Enumerable.Range(0, k).Select(r => Math.Exp(-2.0 * r / k)).ToArray();
        double mean = w.Average();
        return w.Select(x => (float)(x / mean)).ToArray();
    }

    /// <summary>A [users, items] mask of what each user has in <paramref name="seen"/>.</summary>
    public static Tensor SeenMask(UserItemIndex seen, IReadOnlyList<int> users, Device device) =>
        MaskOf(users.Select(u => (IReadOnlyList<int>)seen.ItemsOf(u).ToArray()).ToArray(), seen.NumItems, device);

    /// <summary>A [rows, items] mask, true at the items each row lists.</summary>
    public static Tensor MaskOf(IReadOnlyList<IReadOnlyList<int>> rows, int items, Device device)
    {
        var flat = new List<long>();
        for (int b = 0; b < rows.Count; b++)
            foreach (int i in rows[b]) flat.Add((long)b * items + i);
        var mask = zeros(rows.Count * (long)items, dtype: ScalarType.Bool, device: device);
        if (flat.Count > 0)
        {
            using var idx = tensor(flat.ToArray(), device: device);
            mask.index_fill_(0, idx, Scalars.Of(1L));
        }
        return mask.view(rows.Count, items);
    }

    /// <summary>
    /// For each row, how many unseen items the scores put strictly above each of <paramref name="items"/> [rows, K]: the
    /// 0-based rank of that item among unseen items. <paramref name="masked"/> holds -inf at seen items.
    /// </summary>
    public static Tensor RanksOf(Tensor masked, Tensor items)
    {
        using var picked = masked.gather(1, items);
        using var above = masked.unsqueeze(1).gt(picked.unsqueeze(2));
        return above.sum(2);
    }

    /// <summary>The 0-based positions 0..K-1 as a [1, K] tensor, to compare ranks against.</summary>
    public static Tensor Positions(int k, Device device) => HeldOps.Arange(0, k, device: device).unsqueeze(0);
}

/// <summary>
/// The LLM phase's distillation from the DSM: lambda * mean over the batch of (1/K) sum_k gate_k w_k (-log p_llm(i_k)),
/// i_k the DSM's k-th unseen item for the user (the DSM frozen when the term is made), p_llm the LLM's softmax over all
/// items for the prompt; gate_k = 1 where the LLM ranks i_k below position k among the user's unseen items (always 1
/// with the gate off).
/// </summary>
public sealed class LlmRankDistillation : ILlmDistillation, IDisposable
{
    readonly Tensor _top, _weights, _positions;
    readonly UserItemIndex _seen;
    readonly double _lambda;
    readonly bool _gate;
    readonly int _k;

    public LlmRankDistillation(DomainModel teacher, UserItemIndex seen, int k, double lambda, bool gate)
    {
        _seen = seen; _lambda = lambda; _gate = gate;
        _k = Math.Min(k, seen.NumItems);
        var device = teacher.Ism.Items.device;
        var parts = new List<Tensor>();
        using (no_grad())
        {
            for (int s = 0; s < seen.NumUsers; s += 256)
            {
                using var scope = NewDisposeScope();
                var users = Enumerable.Range(s, Math.Min(256, seen.NumUsers - s)).ToArray();
                var scores = teacher.ScoreAll(users);
                scores.masked_fill_(RankDistillation.SeenMask(seen, users, device), Scalars.Of(double.NegativeInfinity));
                parts.Add(scores.topk(_k, 1).indexes.MoveToOuterDisposeScope());
            }
            _top = cat(parts, 0).DetachFromDisposeScope();
        }
        foreach (var p in parts) p.Dispose();
        _weights = tensor(RankDistillation.PositionWeights(_k), device: device).unsqueeze(0).DetachFromDisposeScope();
        _positions = RankDistillation.Positions(_k, device).DetachFromDisposeScope();
    }

    public Tensor Loss(int[] batch, Tensor student)
    {
        var idx = _top.index_select(0, tensor(batch.Select(u => (long)u).ToArray(), device: _top.device));
        var picked = nn.functional.log_softmax(student, 1).gather(1, idx);
        var weight = _weights;
        if (_gate)
        {
            using var _ = no_grad();
            var masked = student.detach().masked_fill(RankDistillation.SeenMask(_seen, batch, student.device), Scalars.Of(double.NegativeInfinity));
            var gate = RankDistillation.RanksOf(masked, idx).gt(_positions).to(ScalarType.Float32);
            weight = gate.mul(_weights);
        }
        return picked.mul(weight).sum(1).mean().mul(Scalars.Of(-_lambda / _k));
    }

    public void Dispose() { _top.Dispose(); _weights.Dispose(); _positions.Dispose(); }
}

/// <summary>
/// The LLM phase's rank distillation from a sequential DSM: as <see cref="LlmRankDistillation"/>, but the teacher reads
/// the very prefix the prompt was built from (a frozen copy of the DSM, made when the term is), so its top-K are its
/// next items after that prefix, the items of the prefix excluded. (From a whole-history teacher a prefix prompt would
/// learn items the user took later than the prefix: the future of the prompt.)
/// </summary>
public sealed class SequentialLlmRankDistillation : ILlmDistillation, IDisposable
{
    readonly SasRec _teacher;
    readonly Tensor _weights, _positions;
    readonly double _lambda;
    readonly bool _gate;
    readonly int _k;

    public SequentialLlmRankDistillation(SasRec teacher, int k, double lambda, bool gate)
    {
        _teacher = teacher.FrozenCopy();
        _lambda = lambda; _gate = gate;
        _k = Math.Min(k, teacher.NumItems);
        var device = teacher.Ism.Items.device;
        _weights = tensor(RankDistillation.PositionWeights(_k), device: device).unsqueeze(0).DetachFromDisposeScope();
        _positions = RankDistillation.Positions(_k, device).DetachFromDisposeScope();
    }

    public Tensor Loss(int[] batch, Tensor student) =>
        throw new InvalidOperationException("the sequential teacher reads each prompt's prefix: call Loss(batch, student, prefixes)");

    public Tensor Loss(int[] batch, Tensor student, IReadOnlyList<int>[] prefixes)
    {
        if (prefixes.Length != batch.Length) throw new ArgumentException($"{prefixes.Length} prefixes for {batch.Length} prompts", nameof(prefixes));
        Tensor top, seen;
        using (no_grad())
        {
            seen = RankDistillation.MaskOf(prefixes, _teacher.NumItems, student.device);
            using var hidden = _teacher.Represent(prefixes);
            using var scores = _teacher.Logits(hidden);
            top = scores.masked_fill(seen, Scalars.Of(double.NegativeInfinity)).topk(_k, 1).indexes;
        }
        var picked = nn.functional.log_softmax(student, 1).gather(1, top);
        var weight = _weights;
        if (_gate)
        {
            using var _ = no_grad();
            var masked = student.detach().masked_fill(seen, Scalars.Of(double.NegativeInfinity));
            weight = RankDistillation.RanksOf(masked, top).gt(_positions).to(ScalarType.Float32).mul(_weights);
        }
        return picked.mul(weight).sum(1).mean().mul(Scalars.Of(-_lambda / _k));
    }

    public void Dispose() { _teacher.Dispose(); _weights.Dispose(); _positions.Dispose(); }
}

/// <summary>
/// The DSM phase's distillation from the LLM: each DSM batch draws as many (user, item) pairs from the LLM's top-K
/// unseen items per user (pairs the gate passes: the DSM, as it stands at the start of the phase, ranks the item below
/// the LLM's position), and adds lambda * mean w_k softplus(s_uj - s_ui) with j the batch's negative items: BPR with
/// the teacher's confident items as extra positives. Draws are seeded, so a phase is reproducible.
/// </summary>
public sealed class DsmRankDistillation
{
    readonly long[] _users, _items;
    readonly float[] _weights;
    readonly double _lambda;
    readonly Random _rng;

    /// <summary>Pairs kept after the gate.</summary>
    public int Pairs => _users.Length;
    /// <summary>Pairs before the gate (users with a teacher row x K).</summary>
    public int Candidates { get; }

    /// <param name="teacherScores">the LLM's scores [all users, items]; only <paramref name="users"/>' rows are read</param>
    public DsmRankDistillation(Tensor teacherScores, IReadOnlyList<int> users, DomainModel student, UserItemIndex seen, int k, double lambda, bool gate, int seed)
    {
        _lambda = lambda;
        _rng = new Random(seed);
        k = Math.Min(k, seen.NumItems);
        var weights = RankDistillation.PositionWeights(k);
        var pu = new List<long>(); var pi = new List<long>(); var pw = new List<float>();
        var device = teacherScores.device;
        using (no_grad())
        {
            using var positions = RankDistillation.Positions(k, device);
            for (int s = 0; s < users.Count; s += 256)
            {
                using var scope = NewDisposeScope();
                var chunk = users.Skip(s).Take(256).ToArray();
                var mask = RankDistillation.SeenMask(seen, chunk, device);
                var t = teacherScores.index_select(0, tensor(chunk.Select(u => (long)u).ToArray(), device: device)).masked_fill(mask, Scalars.Of(double.NegativeInfinity));
                var top = t.topk(k, 1).indexes;
                var keep = gate
                    ? RankDistillation.RanksOf(student.ScoreAll(chunk).masked_fill(mask, Scalars.Of(double.NegativeInfinity)), top).gt(positions)
                    : ones_like(top, dtype: ScalarType.Bool);
                var topArr = top.data<long>().ToArray();
                var keepArr = keep.data<bool>().ToArray();
                for (int b = 0; b < chunk.Length; b++)
                    for (int r = 0; r < k; r++)
                        if (keepArr[b * k + r]) { pu.Add(chunk[b]); pi.Add(topArr[b * k + r]); pw.Add(weights[r]); }
            }
        }
        Candidates = users.Count * k;
        _users = [.. pu]; _items = [.. pi]; _weights = [.. pw];
    }

    /// <summary>
    /// The same pairs for a sequential DSM: per batch as many pairs as the batch has sequences, each user read from its
    /// whole training history, lambda * mean w_k (-log softmax_i(h_u . E)), softmax over all items as SASRec trains.
    /// </summary>
    public SequenceExtraLoss SequenceTerm => (model, n) =>
    {
        var device = model.Ism.Items.device;
        if (_users.Length == 0) return zeros(1, device: device).sum();
        var pick = Draw(n);
        var hidden = model.Represent(pick.Select(p => model.TrainHistories[(int)_users[p]]).ToArray());
        var i = tensor(pick.Select(p => _items[p]).ToArray(), device: device).unsqueeze(1);
        var w = tensor(pick.Select(p => _weights[p]).ToArray(), device: device);
        var picked = nn.functional.log_softmax(model.Logits(hidden), 1).gather(1, i).squeeze(1);
        return picked.mul(w).mean().mul(Scalars.Of(-_lambda));
    };

    long[] Draw(long n)
    {
        var pick = new long[n];
        for (int k = 0; k < n; k++) pick[k] = _rng.NextInt64(_users.Length);
        return pick;
    }

    public ExtraLoss Term => (fu, fi, users, pos, neg) =>
    {
        long b = neg.shape[0];
        if (_users.Length == 0) return zeros(1, device: fu.device).sum();
        var pick = Draw(b);
        var u = tensor(pick.Select(p => _users[p]).ToArray(), device: fu.device);
        var i = tensor(pick.Select(p => _items[p]).ToArray(), device: fu.device);
        var w = tensor(pick.Select(p => _weights[p]).ToArray(), device: fu.device);
        var rows = fu.index_select(0, u);
        var margin = (rows * fi.index_select(0, i)).sum(1) - (rows * fi.index_select(0, neg)).sum(1);
        return margin.neg().Softplus().mul(w).mean().mul(Scalars.Of(_lambda));
    };
}
