using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.Bridge;

/// <summary>How the click-through protocol (P3) samples and validates; the models' own settings stay in the DSM and BDLM options.</summary>
public sealed record CtrOptions
{
    /// <summary>The validation file: valid (valid.tsv) or valid_small (valid_small.tsv).</summary>
    public string Validation { get; init; } = "valid";
    /// <summary>Training rows per LLM epoch, a fresh random sample each epoch; null: all of them.</summary>
    public int? LlmRowsPerEpoch { get; init; }
    /// <summary>Validation rows the LLM is validated on (one seeded sample per seed); null: all. The DSM and test always use all rows.</summary>
    public int? LlmValidationRows { get; init; }
    /// <summary>Training rows the LLM scores each round as the DSM phase's teacher; null: <see cref="LlmRowsPerEpoch"/> (or all).</summary>
    public int? TeacherRows { get; init; }
    /// <summary>LightGCN's graph edges: "all" training rows (every rated pair) or "positive" ones (label 1).</summary>
    public string GraphEdges { get; init; } = "all";
    /// <summary>
    /// true: one-way's and BDLM's LLM score rows with the experiment's item tower (<c>tower</c>: private residual rows,
    /// item text, the user skip, temperature), as ranking does; with a sequential DSM, the user skip and raw dot products,
    /// the LLM starts at the DSM's logits. null or false: the first build's tower, A_out(h) against the shared item rows.
    /// Left out of the JSON when null, so run hashes made before it stay.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public bool? LlmTower { get; init; }

    public void Validate()
    {
        if (Validation is not ("valid" or "valid_small")) throw new ArgumentException($"ctr.validation '{Validation}': expected valid or valid_small");
        if (GraphEdges is not ("all" or "positive")) throw new ArgumentException($"ctr.graph_edges '{GraphEdges}': expected all or positive");
        if (LlmRowsPerEpoch is < 1 || LlmValidationRows is < 1 || TeacherRows is < 1)
            throw new ArgumentOutOfRangeException(nameof(LlmRowsPerEpoch), "ctr row counts must be >= 1");
    }
}

/// <summary>A model's global logit offset: labels are not balanced, and a dot product alone has no intercept.</summary>
public sealed class LogitOffset : nn.Module
{
    public Parameter Value { get; }

    public LogitOffset() : base("offset")
    {
        Value = new Parameter(zeros(1));
        register_parameter("value", Value);
    }
}

/// <summary>
/// The one home of pointwise (click-through) training: both models score labelled (user, item) pairs and learn
/// them with binary cross-entropy. The DSM's logit is &lt;f_u, f_i&gt; + offset; the LLM's is its score of the
/// candidate given a prompt of the row's history with the candidate at the end
/// (<see cref="LlmRecommender.ScorePairs"/>) + offset. Distillation between them is
/// lambda * tau^2 * KL(Bernoulli(sigmoid(t / tau)) || Bernoulli(sigmoid(s / tau))) on labelled training rows.
/// </summary>
public static class CtrTraining
{
    /// <summary>tau^2 * weight * mean KL between the Bernoulli distributions of teacher and student logits.</summary>
    public static Tensor BernoulliKl(Tensor teacher, Tensor student, double tau, double weight = 1.0)
    {
        using var inv = (1.0 / tau).ToScalar();
        using var scale = (tau * tau * weight).ToScalar();
        var t = teacher.mul(inv);
        var s = student.mul(inv);
        // log sigmoid(x) = -softplus(-x); log(1 - sigmoid(x)) = -softplus(x).
        var logP = t.neg().Softplus().neg();
        var log1P = t.Softplus().neg();
        var logQ = s.neg().Softplus().neg();
        var log1Q = s.Softplus().neg();
        var kl = (logP.exp() * (logP - logQ)).Plus(log1P.exp() * (log1P - log1Q));
        return kl.mean().mul(scale);
    }

    internal static Tensor Longs(IEnumerable<int> values, Device device) => tensor(values.Select(v => (long)v).ToArray(), device: device);

    /// <summary>The DSM's logits of every row (no gradient): from its cached final embeddings, or for a model that reads each row's history (SASRec) from those histories.</summary>
    public static float[] ScoreDsm(DomainModel dsm, LogitOffset offset, CtrRows rows)
    {
        if (dsm.ReadsRowHistory) return ScoreSequential(dsm, offset, rows);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (fu, fi) = dsm.FinalEmbeddings();
        var u = Longs(rows.Users, fu.device);
        var i = Longs(rows.Items, fu.device);
        var s = (fu.index_select(0, u) * fi.index_select(0, i)).sum(1).Plus(offset.Value);
        if (dsm.Ism.ItemBias is not null) s = s.Plus(dsm.Ism.ItemBias.index_select(0, i));
        return s.cpu().data<float>().ToArray();
    }

    /// <summary>The logits of a model that reads each row's history (<see cref="DomainModel.ReadsRowHistory"/>), in batches, in evaluation mode.</summary>
    static float[] ScoreSequential(DomainModel dsm, LogitOffset offset, CtrRows rows, int batch = 1024)
    {
        var result = new float[rows.Count];
        bool wasTraining = dsm.training;
        dsm.eval();
        try
        {
            using var _ = no_grad();
            var device = dsm.Ism.Items.device;
            for (int s = 0; s < rows.Count; s += batch)
            {
                using var scope = NewDisposeScope();
                var part = Enumerable.Range(s, Math.Min(batch, rows.Count - s)).ToArray();
                var (logits, _) = dsm.RowLogits(Longs(part.Select(r => rows.Users[r]), device), Longs(part.Select(r => rows.Items[r]), device),
                    HistoriesOf(rows, part), 0);
                logits.Plus(offset.Value).cpu().data<float>().CopyTo(result, s);
            }
        }
        finally { if (wasTraining) dsm.train(); }
        return result;
    }

    /// <summary>The histories of the given rows, in order.</summary>
    internal static IReadOnlyList<int>[] HistoriesOf(CtrRows rows, IReadOnlyList<int> which) =>
        which.Select(r => (IReadOnlyList<int>)rows.Histories[r]).ToArray();

    /// <summary>The LLM's prompt of row <paramref name="r"/>: its history, then the candidate.</summary>
    public static Prompt PromptOf(LlmRecommender llm, CtrRows rows, int r) => llm.Prompts.Build(rows.Users[r], rows.Histories[r], rows.Items[r]);

    /// <summary>The LLM's logits of the given rows (all when null), in batches of similar prompt length (no gradient); progress gets (done, total).</summary>
    public static float[] ScoreLlm(LlmRecommender llm, LogitOffset offset, CtrRows rows, int[]? subset = null,
        Action<int, int>? progress = null, CancellationToken ct = default, int batch = 64)
    {
        var which = subset ?? Enumerable.Range(0, rows.Count).ToArray();
        var prompts = which.Select(r => PromptOf(llm, rows, r)).ToArray();
        // Similar lengths together pad less; results go back to the caller's order.
        var order = Enumerable.Range(0, which.Length).OrderBy(k => prompts[k].Length).ToArray();
        var result = new float[which.Length];
        bool wasTraining = llm.training;
        llm.eval();
        try
        {
            using var _ = no_grad();
            for (int s = 0; s < order.Length; s += batch)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var part = order.Skip(s).Take(batch).ToArray();
                var logits = llm.ScorePairs(llm.Prompts.Collate(part.Select(k => prompts[k]).ToList()),
                    part.Select(k => (long)rows.Items[which[k]]).ToArray()).Plus(offset.Value);
                var values = logits.cpu().data<float>().ToArray();
                for (int j = 0; j < part.Length; j++) result[part[j]] = values[j];
                progress?.Invoke(Math.Min(s + batch, order.Length), order.Length);
            }
        }
        finally { if (wasTraining) llm.train(); }
        return result;
    }

    /// <summary>AUC, UAUC and the warm / cold AUC of scores of <paramref name="rows"/>.</summary>
    public static Dictionary<string, double> Metrics(CtrRows rows, float[] scores) => ClickMetrics.Evaluate(rows, scores).ToDictionary();

}

/// <summary>
/// The DSM's click-through objective: BCE of its row logit (&lt;f_u, f_i&gt;, or a sequential model's score of the row's history, <see cref="DomainModel.RowLogits"/>) + offset on the labelled training rows (shuffled per epoch
/// from (seed, epoch)) plus L2 on the batch's ego rows, plus, where <paramref name="teacher"/> holds a logit (NaN
/// elsewhere), lambda * tau^2 * the Bernoulli KL to it.
/// </summary>
public sealed class PointwiseDsmObjective(CtrRows train, LogitOffset offset, DsmOptions options,
    float[]? teacher = null, double lambda = 0, double tau = 1) : IDsmObjective
{
    int[] _order = [];

    public IReadOnlyList<Parameter> Parameters { get; } = offset.parameters().ToArray();

    public int StartEpoch(int epoch)
    {
        if (teacher is not null && teacher.Length != train.Count) throw new ArgumentException($"{teacher.Length} teacher logits for {train.Count} rows", nameof(teacher));
        _order = Enumerable.Range(0, train.Count).ToArray();
        new Random(unchecked(options.Seed * 1_000_003 + epoch)).Shuffle(_order);
        return (_order.Length + options.Batch - 1) / options.Batch;
    }

    public (Tensor Loss, double Reported) BatchLoss(DomainModel dsm, int batch)
    {
        var device = dsm.Ism.Users.device;
        int s = batch * options.Batch;
        var rows = _order.AsSpan(s, Math.Min(options.Batch, _order.Length - s)).ToArray();
        var u = CtrTraining.Longs(rows.Select(r => train.Users[r]), device);
        var i = CtrTraining.Longs(rows.Select(r => train.Items[r]), device);
        var y = tensor(rows.Select(r => train.Labels[r]).ToArray(), device: device);
        var (logits, reg) = dsm.RowLogits(u, i, CtrTraining.HistoriesOf(train, rows), options.L2);
        logits = logits.Plus(offset.Value);
        var bce = nn.functional.binary_cross_entropy_with_logits(logits, y);
        var loss = bce.Plus(reg);
        if (teacher is not null && lambda > 0)
        {
            var taught = Enumerable.Range(0, rows.Length).Where(k => !float.IsNaN(teacher[rows[k]])).ToArray();
            if (taught.Length > 0)
            {
                var t = tensor(taught.Select(k => teacher[rows[k]]).ToArray(), device: device);
                loss = loss.Plus(CtrTraining.BernoulliKl(t, logits.index_select(0, CtrTraining.Longs(taught, device)), tau, lambda));
            }
        }
        return (loss, bce.item<float>());
    }
}

/// <summary>
/// The LLM's click-through objective: BCE of its logit of each labelled training row (a fresh random
/// <paramref name="rowsPerEpoch"/> of them per epoch when set) + offset, plus the distillation term.
/// </summary>
public sealed class PointwiseLlmObjective(CtrRows train, LogitOffset offset, int? rowsPerEpoch, ILlmDistillation? distillation = null) : ILlmObjective
{
    public IReadOnlyList<Parameter> Parameters { get; } = offset.parameters().ToArray();

    public int[] Examples(Random rng)
    {
        var rows = Enumerable.Range(0, train.Count).ToArray();
        rng.Shuffle(rows);
        return rowsPerEpoch is int n && n < rows.Length ? rows[..n] : rows;
    }

    public Tensor BatchLoss(LlmRecommender llm, int[] batch, Random rng)
    {
        var prompts = llm.Prompts.Collate(batch.Select(r => CtrTraining.PromptOf(llm, train, r)).ToList());
        var logits = llm.ScorePairs(prompts, batch.Select(r => (long)train.Items[r]).ToArray()).Plus(offset.Value);
        var y = tensor(batch.Select(r => train.Labels[r]).ToArray(), device: logits.device);
        var loss = nn.functional.binary_cross_entropy_with_logits(logits, y);
        return distillation is null ? loss : loss.Plus(distillation.Loss(batch, logits));
    }
}

/// <summary>lambda * tau^2 * the Bernoulli KL from a frozen teacher's logits of the rows (indexed by row) to the LLM's.</summary>
public sealed class BernoulliDistillation(float[] teacher, double tau, double lambda) : ILlmDistillation
{
    public Tensor Loss(int[] batch, Tensor student) =>
        CtrTraining.BernoulliKl(tensor(batch.Select(r => teacher[r]).ToArray(), device: student.device), student, tau, lambda);
}
