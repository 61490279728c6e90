using System.Diagnostics;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using BridgeRec.Native;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

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

/// <summary>Validation metrics after one epoch (or one round), the mean training loss and the seconds it took.</summary>
public sealed record CtrEpoch(int Epoch, double Loss, IReadOnlyDictionary<string, double>? Metrics, double Seconds);

public sealed record CtrFit(int BestEpoch, IReadOnlyDictionary<string, double> BestMetrics, List<CtrEpoch> History);

/// <summary>BDLM in the click-through protocol: per round both models' validation metrics (round 0 = the DSM alone).</summary>
public sealed record CtrBdlmResult(IReadOnlyList<RoundReport> Rounds, int BestLlmRound, int BestDsmRound);

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
        var logP = nn.functional.softplus(t.neg()).neg();
        var log1P = nn.functional.softplus(t).neg();
        var logQ = nn.functional.softplus(s.neg()).neg();
        var log1Q = nn.functional.softplus(s).neg();
        var kl = logP.exp() * (logP - logQ) + log1P.exp() * (log1P - log1Q);
        return kl.mean().mul(scale);
    }

    static Tensor Longs(IEnumerable<int> values, Device device) => tensor(values.Select(v => (long)v).ToArray(), device: device);

    /// <summary>The DSM's logits of every row (no gradient), from its cached final embeddings.</summary>
    public static float[] ScoreDsm(DomainModel dsm, LogitOffset offset, CtrRows rows)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (fu, fi) = dsm.FinalEmbeddings();
        var u = Longs(rows.Users, fu.device);
        var i = Longs(rows.Items, fu.device);
        var s = (fu.index_select(0, u) * fi.index_select(0, i)).sum(1) + offset.Value;
        if (dsm.Ism.ItemBias is not null) s = s + dsm.Ism.ItemBias.index_select(0, i);
        return s.cpu().data<float>().ToArray();
    }

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
                    part.Select(k => (long)rows.Items[which[k]]).ToArray()) + offset.Value;
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

    /// <summary>
    /// Trains the DSM (its shared module and offset) with BCE + L2 on the labelled training rows, plus, where
    /// <paramref name="teacher"/> holds a logit (NaN elsewhere), the Bernoulli KL to it. Validates every
    /// <see cref="DsmOptions.EvalEvery"/> epochs on all of <paramref name="validation"/>, stops after
    /// <see cref="DsmOptions.Patience"/> evaluations without gain, and ends with the best epoch's weights.
    /// </summary>
    public static CtrFit FitDsm(DomainModel dsm, LogitOffset offset, CtrRows train, CtrRows validation, DsmOptions o, string monitor,
        float[]? teacher = null, double lambda = 0, double tau = 1, Action<string>? log = null, CancellationToken ct = default)
    {
        if (teacher is not null && teacher.Length != train.Count) throw new ArgumentException($"{teacher.Length} teacher logits for {train.Count} rows", nameof(teacher));
        var parameters = dsm.Ism.parameters().Concat(offset.parameters()).ToList();
        using var opt = new SafeAdam(parameters, o.Lr);
        var device = dsm.Ism.Users.device;
        var history = new List<CtrEpoch>();
        Dictionary<string, double> bestMetrics = new();
        double best = double.NegativeInfinity;
        int bestEpoch = 0, noGain = 0;
        var bestState = Snapshot(parameters);
        try
        {
            for (int epoch = 1; epoch <= o.Epochs; epoch++)
            {
                ct.ThrowIfCancellationRequested();
                var sw = Stopwatch.StartNew();
                var order = Enumerable.Range(0, train.Count).ToArray();
                new Random(unchecked(o.Seed * 1_000_003 + epoch)).Shuffle(order);
                double total = 0;
                int batches = 0;
                dsm.train();
                for (int s = 0; s < order.Length; s += o.Batch)
                {
                    using var scope = NewDisposeScope();
                    var rows = order.AsSpan(s, Math.Min(o.Batch, order.Length - s)).ToArray();
                    var u = Longs(rows.Select(r => train.Users[r]), device);
                    var i = Longs(rows.Select(r => train.Items[r]), device);
                    var y = tensor(rows.Select(r => train.Labels[r]).ToArray(), device: device);
                    opt.ZeroGrad();
                    var (logits, reg) = dsm.PairLogits(u, i, o.L2);
                    logits = logits + offset.Value;
                    var bce = nn.functional.binary_cross_entropy_with_logits(logits, y);
                    var loss = bce + reg;
                    if (teacher is not null && lambda > 0)
                    {
                        var taught = Enumerable.Range(0, rows.Length).Where(k => !float.IsNaN(teacher[rows[k]])).ToArray();
                        if (taught.Length > 0)
                        {
                            var t = tensor(taught.Select(k => teacher[rows[k]]).ToArray(), device: device);
                            loss = loss + BernoulliKl(t, logits.index_select(0, Longs(taught, device)), tau, lambda);
                        }
                    }
                    loss.backward();
                    opt.Step();
                    total += bce.item<float>();
                    batches++;
                }
                dsm.eval();
                dsm.Invalidate();
                IReadOnlyDictionary<string, double>? metrics = null;
                if (epoch % Math.Max(1, o.EvalEvery) == 0 || epoch == o.Epochs)
                {
                    metrics = Metrics(validation, ScoreDsm(dsm, offset, validation));
                    if (metrics[monitor] > best)
                    {
                        best = metrics[monitor]; bestEpoch = epoch; bestMetrics = new(metrics); noGain = 0;
                        DisposeAll(bestState);
                        bestState = Snapshot(parameters);
                    }
                    else noGain++;
                }
                history.Add(new CtrEpoch(epoch, total / Math.Max(1, batches), metrics, sw.Elapsed.TotalSeconds));
                if (metrics is not null)
                    log?.Invoke(FormattableString.Invariant($"  {dsm.Name} epoch {epoch}: bce {total / Math.Max(1, batches):F4}, validation {monitor} {metrics[monitor]:F4}{(bestEpoch == epoch ? " *" : "")}"));
                if (metrics is not null && o.Patience > 0 && noGain >= o.Patience) break;
            }
            Restore(parameters, bestState);
        }
        finally { DisposeAll(bestState); }
        dsm.Invalidate();
        return new CtrFit(bestEpoch, bestMetrics, history);
    }

    /// <summary>
    /// One LLM epoch of BCE on the labelled training rows (a random <paramref name="rowsPerEpoch"/> of them when set), plus
    /// the Bernoulli KL to <paramref name="teacher"/>'s logits of the same rows when given and lambda &gt; 0. Returns the mean loss.
    /// </summary>
    public static double LlmEpoch(LlmRecommender llm, LogitOffset offset, CtrRows train, float[]? teacher, IReadOnlyList<SafeAdam> optimizers,
        BdlmOptions o, int? rowsPerEpoch, Random rng, CancellationToken ct, Action<int, int>? progress = null)
    {
        var rows = Enumerable.Range(0, train.Count).ToArray();
        rng.Shuffle(rows);
        if (rowsPerEpoch is int n && n < rows.Length) rows = rows[..n];
        double total = 0;
        int steps = 0;
        llm.train();
        var device = llm.Ism.Users.device;
        for (int s = 0; s < rows.Length; s += o.LlmBatch)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var batch = rows.AsSpan(s, Math.Min(o.LlmBatch, rows.Length - s)).ToArray();
            foreach (var opt in optimizers) opt.ZeroGrad();
            var prompts = llm.Prompts.Collate(batch.Select(r => PromptOf(llm, train, r)).ToList());
            var logits = llm.ScorePairs(prompts, batch.Select(r => (long)train.Items[r]).ToArray()) + offset.Value;
            var y = tensor(batch.Select(r => train.Labels[r]).ToArray(), device: device);
            var loss = nn.functional.binary_cross_entropy_with_logits(logits, y);
            if (teacher is not null && o.Lambda > 0)
                loss = loss + BernoulliKl(tensor(batch.Select(r => teacher[r]).ToArray(), device: device), logits, o.Tau, o.Lambda);
            loss.backward();
            foreach (var opt in optimizers) opt.Step();
            total += loss.item<float>();
            steps++;
            progress?.Invoke(Math.Min(s + o.LlmBatch, rows.Length), rows.Length);
        }
        llm.eval();
        return steps == 0 ? double.NaN : total / steps;
    }

    /// <summary>The LLM's optimisers (<see cref="LlmTraining.Optimizers"/>) and one for its offset at the adapters' rate.</summary>
    public static List<SafeAdam> LlmOptimizers(LlmRecommender llm, LogitOffset offset, BdlmOptions o, bool trainIsm)
    {
        var list = LlmTraining.Optimizers(llm, o, trainIsm);
        list.Add(new SafeAdam(offset.parameters(), o.LrAdapters));
        return list;
    }

    /// <summary>
    /// An LLM baseline on its own: <paramref name="epochs"/> epochs of <see cref="LlmEpoch"/>, validation after each on
    /// <paramref name="validation"/>[<paramref name="validationRows"/>], ending with the best epoch's trainable weights.
    /// The shared module trains only when <paramref name="trainIsm"/>.
    /// </summary>
    public static CtrFit FitLlm(LlmRecommender llm, LogitOffset offset, CtrRows train, CtrRows validation, int[]? validationRows,
        float[]? teacher, BdlmOptions o, int? rowsPerEpoch, int epochs, bool trainIsm, string monitor,
        Action<string>? log = null, Action<int, int>? progress = null, CancellationToken ct = default)
    {
        var optimizers = LlmOptimizers(llm, offset, o, trainIsm);
        var trainable = llm.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.parameter).Concat(offset.parameters()).ToList();
        var rng = new Random(unchecked(o.Seed * 7919 + 17));
        var history = new List<CtrEpoch>();
        var valRows = validationRows is null ? validation : validation.Select(validationRows);
        List<Tensor>? best = null;
        Dictionary<string, double> bestMetrics = new();
        double bestValue = double.NegativeInfinity;
        int bestEpoch = 0;
        try
        {
            for (int epoch = 1; epoch <= epochs; epoch++)
            {
                var sw = Stopwatch.StartNew();
                double loss = LlmEpoch(llm, offset, train, teacher, optimizers, o, rowsPerEpoch, rng, ct, progress);
                var metrics = Metrics(valRows, ScoreLlm(llm, offset, valRows, ct: ct));
                history.Add(new CtrEpoch(epoch, loss, metrics, sw.Elapsed.TotalSeconds));
                log?.Invoke(FormattableString.Invariant($"  epoch {epoch}/{epochs}: loss {loss:F4}, validation {monitor} {metrics[monitor]:F4} ({sw.Elapsed.TotalSeconds:F0}s)"));
                if (metrics[monitor] > bestValue)
                {
                    bestValue = metrics[monitor]; bestEpoch = epoch; bestMetrics = metrics;
                    if (best is not null) DisposeAll(best);
                    best = Snapshot(trainable);
                }
            }
            if (best is not null) Restore(trainable, best);
        }
        finally
        {
            if (best is not null) DisposeAll(best);
            LlmTraining.Release(llm, optimizers);
        }
        return new CtrFit(bestEpoch, bestMetrics, history);
    }

    /// <summary>
    /// BDLM in the click-through protocol. Round 0 is the DSM alone; each round then runs an LLM phase (BCE + KL to
    /// the frozen DSM's logits of the same rows; the shared module trains) and a DSM phase (BCE + KL to the LLM's
    /// logits of <see cref="CtrOptions.TeacherRows"/> training rows, scored once per round). Each model keeps its best
    /// round on validation: at the end the DSM (shared module and offset) holds its best round, and
    /// <paramref name="bestLlm"/> the LLM's best weights (shared module included) for <see cref="RestoreLlm"/>.
    /// </summary>
    public static CtrBdlmResult RunBdlm(DomainModel dsm, LogitOffset dsmOffset, LlmRecommender llm, LogitOffset llmOffset,
        CtrRows train, CtrRows validation, int[]? llmValidationRows, BdlmOptions o, DsmOptions dsmOptions, CtrOptions c, string monitor,
        out List<Tensor> bestLlm, Action<string>? log = null, Action<int, int>? progress = null, CancellationToken ct = default)
    {
        o.Validate();
        var rounds = new List<RoundReport>();
        var sw = Stopwatch.StartNew();
        var llmValidation = llmValidationRows is null ? validation : validation.Select(llmValidationRows);
        var dsmParams = dsm.Ism.parameters().Concat(dsmOffset.parameters()).ToList();
        var llmParams = LlmStateParameters(llm, llmOffset);
        dsm.Invalidate();
        var dsmMetrics = Metrics(validation, ScoreDsm(dsm, dsmOffset, validation));
        rounds.Add(new RoundReport(0, null, dsmMetrics, double.NaN, sw.Elapsed.TotalSeconds));
        log?.Invoke(FormattableString.Invariant($"round 0 (DSM alone): {monitor} {dsmMetrics[monitor]:F4}"));
        double bestDsm = dsmMetrics[monitor], bestLlmValue = double.NegativeInfinity;
        int bestDsmRound = 0, bestLlmRound = 0;
        var bestDsmState = Snapshot(dsmParams);
        bestLlm = Snapshot(llmParams);
        var rng = new Random(unchecked(o.Seed * 7919 + 31));
        try
        {
            for (int round = 1; round <= o.Rounds; round++)
            {
                ct.ThrowIfCancellationRequested();
                sw.Restart();
                // (a) LLM phase, the DSM a frozen teacher through its logits of the training rows.
                dsm.Invalidate();
                var dsmTeacher = o.Lambda > 0 ? ScoreDsm(dsm, dsmOffset, train) : null;
                var optimizers = LlmOptimizers(llm, llmOffset, o, trainIsm: !o.FreezeIsmInLlm);
                double loss = double.NaN;
                try
                {
                    for (int e = 0; e < o.LlmEpochs; e++)
                        loss = LlmEpoch(llm, llmOffset, train, dsmTeacher, optimizers, o, c.LlmRowsPerEpoch, rng, ct, progress);
                }
                finally { LlmTraining.Release(llm, optimizers); }
                var llmMetrics = Metrics(llmValidation, ScoreLlm(llm, llmOffset, llmValidation, ct: ct));
                if (llmMetrics[monitor] > bestLlmValue)
                {
                    bestLlmValue = llmMetrics[monitor]; bestLlmRound = round;
                    DisposeAll(bestLlm);
                    bestLlm = Snapshot(llmParams);
                }
                // (b) DSM phase, the LLM a frozen teacher through its logits of a sample of training rows.
                float[]? llmTeacher = null;
                if (o.Lambda > 0)
                {
                    var rows = Enumerable.Range(0, train.Count).ToArray();
                    rng.Shuffle(rows);
                    int n = c.TeacherRows ?? c.LlmRowsPerEpoch ?? rows.Length;
                    rows = rows[..Math.Min(n, rows.Length)];
                    var scores = ScoreLlm(llm, llmOffset, train, rows, ct: ct);
                    llmTeacher = Enumerable.Repeat(float.NaN, train.Count).ToArray();
                    for (int k = 0; k < rows.Length; k++) llmTeacher[rows[k]] = scores[k];
                }
                FitDsm(dsm, dsmOffset, train, validation,
                    dsmOptions with { Epochs = o.DsmEpochs, Seed = dsmOptions.Seed + 1000 * round, Lr = o.DsmLr ?? dsmOptions.Lr },
                    monitor: monitor, teacher: llmTeacher, lambda: o.Lambda, tau: o.Tau, log: null, ct: ct);
                dsmMetrics = Metrics(validation, ScoreDsm(dsm, dsmOffset, validation));
                if (dsmMetrics[monitor] > bestDsm)
                {
                    bestDsm = dsmMetrics[monitor]; bestDsmRound = round;
                    DisposeAll(bestDsmState);
                    bestDsmState = Snapshot(dsmParams);
                }
                rounds.Add(new RoundReport(round, llmMetrics, dsmMetrics, loss, sw.Elapsed.TotalSeconds));
                log?.Invoke(FormattableString.Invariant($"round {round}: LLM {monitor} {llmMetrics[monitor]:F4} (loss {loss:F4}); DSM {monitor} {dsmMetrics[monitor]:F4}; {sw.Elapsed.TotalSeconds:F0}s"));
            }
            Restore(dsmParams, bestDsmState);
        }
        finally { DisposeAll(bestDsmState); }
        dsm.Invalidate();
        return new CtrBdlmResult(rounds, bestLlmRound, bestDsmRound);
    }

    /// <summary>Puts the LLM's best round (from <see cref="RunBdlm"/>) back, the shared module included; the DSM's state is then gone from the module.</summary>
    public static void RestoreLlm(LlmRecommender llm, LogitOffset offset, List<Tensor> best) => Restore(LlmStateParameters(llm, offset), best);

    static List<Parameter> LlmStateParameters(LlmRecommender llm, LogitOffset offset) =>
        llm.Ism.parameters().Concat(llm.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.parameter)).Concat(offset.parameters()).ToList();

    static List<Tensor> Snapshot(IEnumerable<Parameter> ps)
    {
        using var _ = no_grad();
        return ps.Select(p => p.detach().clone()).ToList();
    }

    static void Restore(IReadOnlyList<Parameter> ps, List<Tensor> from)
    {
        using var _ = no_grad();
        for (int k = 0; k < ps.Count; k++) ps[k].copy_(from[k]);
    }

    static void DisposeAll(IEnumerable<Tensor> ts) { foreach (var t in ts) t.Dispose(); }
}
