using System.Diagnostics;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Bridge;

/// <summary>Settings of BDLM's collaborative training (DESIGN.md section 1).</summary>
public sealed record BdlmOptions
{
    /// <summary>Rounds of (LLM phase, DSM phase) after stage 0.</summary>
    public int Rounds { get; init; } = 2;
    /// <summary>Weight of the distillation term; 0 gives plain alternating updates of the shared module.</summary>
    public double Lambda { get; init; } = 0.5;
    /// <summary>Softmax temperature of teacher and student in the KL term.</summary>
    public double Tau { get; init; } = 2.0;
    public int LlmEpochs { get; init; } = 1;
    public int LlmBatch { get; init; } = 16;
    /// <summary>Prompts per LLM epoch: a fresh random sample of this many users each epoch (large catalogs of users); null: every user.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? LlmUsersPerEpoch { get; init; }
    public double LrIsm { get; init; } = 1e-3;
    public double LrAdapters { get; init; } = 1e-3;
    public double LrBackbone { get; init; } = 1e-4;
    /// <summary>Keep the shared module fixed in the LLM phase (one-way transfer: DSM knowledge into the LLM only).</summary>
    public bool FreezeIsmInLlm { get; init; }
    /// <summary>The DSM phase's learning rate; null: the DSM's own. Each phase starts a fresh optimizer, whose first
    /// steps move every weight by about the learning rate: a converged DSM wants a smaller one here.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? DsmLr { get; init; }
    /// <summary>Candidate items per DSM batch in the DSM phase's distillation term; null: 128.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? DistillSlate { get; init; }
    [System.Text.Json.Serialization.JsonIgnore] public int Slate => DistillSlate ?? 128;
    /// <summary>DSM epochs per round (BPR + distillation), with the DSM options' evaluation cadence.</summary>
    public int DsmEpochs { get; init; } = 20;
    public int Seed { get; init; } = 2020;

    public void Validate()
    {
        if (Rounds < 0) throw new ArgumentOutOfRangeException(nameof(Rounds), $"rounds must be >= 0 (got {Rounds})");
        if (Lambda < 0) throw new ArgumentOutOfRangeException(nameof(Lambda), $"lambda must be >= 0 (got {Lambda})");
        if (!(Tau > 0)) throw new ArgumentOutOfRangeException(nameof(Tau), $"tau must be > 0 (got {Tau})");
        if (DsmLr is not null && !(DsmLr > 0)) throw new ArgumentOutOfRangeException(nameof(DsmLr), $"dsm lr must be > 0 (got {DsmLr})");
        if (DistillSlate is < 2) throw new ArgumentOutOfRangeException(nameof(DistillSlate), $"distill slate must be >= 2 (got {DistillSlate})");
        if (LlmUsersPerEpoch is < 1) throw new ArgumentOutOfRangeException(nameof(LlmUsersPerEpoch), $"llm users per epoch must be >= 1 (got {LlmUsersPerEpoch})");
        if (LlmEpochs < 0 || DsmEpochs < 0 || LlmBatch < 1) throw new ArgumentOutOfRangeException(nameof(LlmBatch), "epochs must be >= 0 and the batch >= 1");
    }
}

/// <summary>Validation metrics of both models after each round (round 0 = the DSM alone).</summary>
public sealed record RoundReport(int Round, IReadOnlyDictionary<string, double>? Llm, IReadOnlyDictionary<string, double> Dsm, double LlmLoss, double Seconds);

public sealed record BdlmResult(IReadOnlyList<RoundReport> Rounds, int BestLlmRound, int BestDsmRound);

/// <summary>
/// Collaborative training: the LLM phase trains the LLM recommender (and, unless frozen, the shared
/// module) with cross-entropy plus lambda * tau^2 * KL(p_dsm || p_llm), the DSM a frozen teacher; the
/// DSM phase trains the DSM with BPR plus lambda * tau^2 * KL(p_llm || p_dsm) over the batch's
/// candidate items, the LLM's scores cached once per round. Each model keeps its best round on
/// validation: at the end the shared module holds the DSM's best state, and
/// <see cref="BestLlmState"/> the LLM's.
/// </summary>
public sealed class BdlmTrainer(BdlmOptions options, DsmOptions dsmOptions)
{
    public BdlmOptions Options { get; } = options;
    public DsmOptions DsmOptions { get; } = dsmOptions;
    public Action<string>? Log { get; init; }
    /// <summary>(round, users done, users) during each LLM phase's epochs.</summary>
    public Action<int, int, int>? Progress { get; init; }

    /// <summary>The LLM's best weights (shared module + its trainable parameters), by name.</summary>
    public Dictionary<string, Tensor> BestLlmState { get; } = new();

    public BdlmResult Run(DomainModel dsm, LlmRecommender llm, Split split,
        Func<IRecommender, IReadOnlyDictionary<string, double>> validate, string monitor, CancellationToken ct = default)
    {
        Options.Validate();
        var d = split.Dataset;
        var train = new UserItemIndex(d.NumUsers, d.NumItems, split.Train);
        var sequences = PromptBuilder.Histories(split, includeValidation: false);
        llm.UseHistories(sequences);
        var rounds = new List<RoundReport>();
        var sw = Stopwatch.StartNew();

        var dsmMetrics = validate(dsm);
        rounds.Add(new RoundReport(0, null, dsmMetrics, double.NaN, sw.Elapsed.TotalSeconds));
        Log?.Invoke($"round 0 (DSM alone): {Show(dsmMetrics, monitor)}");
        double bestDsm = dsmMetrics[monitor], bestLlm = double.NegativeInfinity;
        int bestDsmRound = 0, bestLlmRound = 0;
        var bestDsmIsm = Snapshot(dsm.Ism.named_parameters());

        for (int round = 1; round <= Options.Rounds; round++)
        {
            sw.Restart();
            ct.ThrowIfCancellationRequested();
            // (a) LLM phase, the DSM a frozen teacher.
            dsm.Invalidate();
            double llmLoss = LlmPhase(llm, dsm, sequences, round, ct);
            // One pass of the LLM over every user's training prompt serves both its validation and the DSM phase's teacher.
            using var teacher = CacheScores(llm, sequences, d.NumUsers, d.NumItems);
            var llmMetrics = validate(new PrecomputedScores(llm.Name, teacher));
            if (llmMetrics[monitor] > bestLlm)
            {
                bestLlm = llmMetrics[monitor]; bestLlmRound = round;
                foreach (var t in BestLlmState.Values) t.Dispose();
                BestLlmState.Clear();
                foreach (var (k, v) in Snapshot(LlmState(llm))) BestLlmState[k] = v;
            }
            // (b) DSM phase, the LLM a frozen teacher through its cached scores.
            var trainer = new DsmTrainer(DsmOptions with { Epochs = Options.DsmEpochs, Patience = 0, Seed = DsmOptions.Seed + 1000 * round, Lr = Options.DsmLr ?? DsmOptions.Lr })
            {
                Extra = Options.Lambda > 0 ? DsmDistillation(teacher) : null,
            };
            trainer.Fit(dsm, train, m => validate(m), store: null, resume: false, ct);
            dsm.Invalidate();
            dsmMetrics = validate(dsm);
            if (dsmMetrics[monitor] > bestDsm)
            {
                bestDsm = dsmMetrics[monitor]; bestDsmRound = round;
                DisposeAll(bestDsmIsm);
                bestDsmIsm = Snapshot(dsm.Ism.named_parameters());
            }
            rounds.Add(new RoundReport(round, llmMetrics, dsmMetrics, llmLoss, sw.Elapsed.TotalSeconds));
            Log?.Invoke($"round {round}: LLM {Show(llmMetrics, monitor)} (loss {llmLoss:F4}); DSM {Show(dsmMetrics, monitor)}; {sw.Elapsed.TotalSeconds:F0}s");
        }
        Restore(dsm.Ism.named_parameters(), bestDsmIsm);
        DisposeAll(bestDsmIsm);
        dsm.Invalidate();
        return new BdlmResult(rounds, bestLlmRound, bestDsmRound);
    }

    /// <summary>Puts the LLM's best round back (the shared module included); the DSM's state is then gone from the module.</summary>
    public void RestoreBestLlm(LlmRecommender llm)
    {
        if (BestLlmState.Count > 0) Restore(LlmState(llm), BestLlmState);
    }

    static IEnumerable<(string name, Parameter parameter)> LlmState(LlmRecommender llm) =>
        llm.Ism.named_parameters().Select(p => ("ism." + p.name, p.parameter))
            .Concat(llm.named_parameters().Where(p => p.parameter.requires_grad));

    /// <summary>The LLM's scores of every item for every user with a history (other rows stay 0: they never appear in a BPR batch).</summary>
    static Tensor CacheScores(LlmRecommender llm, IReadOnlyList<int>[] sequences, int numUsers, int numItems)
    {
        var users = Enumerable.Range(0, numUsers).Where(u => sequences[u].Count > 0).ToArray();
        var all = zeros(numUsers, numItems);
        using var scores = llm.ScoreAll(users);
        using var idx = tensor(users.Select(u => (long)u).ToArray());
        all.index_copy_(0, idx, scores);
        return all;
    }

    /// <summary>One LLM phase: <see cref="LlmTraining.Epoch"/> for the configured epochs, the DSM a frozen teacher.</summary>
    double LlmPhase(LlmRecommender llm, DomainModel teacher, IReadOnlyList<int>[] sequences, int round, CancellationToken ct)
    {
        var optimizers = LlmTraining.Optimizers(llm, Options, trainIsm: !Options.FreezeIsmInLlm);
        try
        {
            var rng = new Random(unchecked(Options.Seed * 7919 + round));
            double loss = double.NaN;
            for (int epoch = 0; epoch < Options.LlmEpochs; epoch++)
                loss = LlmTraining.Epoch(llm, teacher.FinalEmbeddings(), sequences, optimizers, Options, rng, ct,
                    Progress is null ? null : (done, all) => Progress(round, done, all));
            return loss;
        }
        finally { LlmTraining.Release(llm, optimizers); }
    }

    /// <summary>
    /// The DSM phase's extra term: tau^2 * KL(p_llm || p_dsm) for every user of the batch over one shared slate
    /// of candidates, the batch's first <see cref="BdlmOptions.DistillSlate"/>/2 positive and as many negative items
    /// (the batch is in random order, so this is a random slate). All 2B of them would cost B x 2B per batch:
    /// with B = 2048 that made one DSM phase on ML-100K take minutes instead of seconds.
    /// </summary>
    ExtraLoss DsmDistillation(Tensor teacherScores) => (fu, fi, users, pos, neg) =>
    {
        long half = Math.Min(pos.shape[0], Math.Max(1, Options.Slate / 2));
        var candidates = cat([pos.narrow(0, 0, half), neg.narrow(0, 0, half)], 0);
        var student = fu.index_select(0, users).matmul(fi.index_select(0, candidates).t());
        Tensor teacher;
        using (no_grad()) teacher = teacherScores.index_select(0, users).index_select(1, candidates);
        return LlmTraining.Kl(teacher, student, Options.Tau, Options.Lambda);
    };

    static string Show(IReadOnlyDictionary<string, double> m, string monitor) =>
        string.Join(" ", m.Where(kv => kv.Key.StartsWith("hr@") || kv.Key.StartsWith("ndcg@") || kv.Key == monitor).Select(kv => $"{kv.Key} {kv.Value:F4}").Distinct());

    static Dictionary<string, Tensor> Snapshot(IEnumerable<(string name, Parameter parameter)> ps)
    {
        using var _ = no_grad();
        return ps.ToDictionary(p => p.name, p => p.parameter.detach().clone());
    }

    static void Restore(IEnumerable<(string name, Parameter parameter)> ps, IReadOnlyDictionary<string, Tensor> from)
    {
        using var _ = no_grad();
        foreach (var (name, p) in ps)
            if (from.TryGetValue(name, out var t)) p.copy_(t);
    }

    static void DisposeAll(Dictionary<string, Tensor> ts) { foreach (var t in ts.Values) t.Dispose(); }
}
