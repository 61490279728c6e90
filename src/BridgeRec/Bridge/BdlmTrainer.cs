using System.Diagnostics;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using TorchSharp;
using TorchSharp.Modules;
using BridgeRec.Native;
using static TorchSharp.torch;

namespace BridgeRec.Bridge;

/// <summary>Settings of BDLM's collaborative training (DESIGN.md section 1).</summary>
public sealed record BdlmOptions
{
    /// <summary>
    /// Rounds of (LLM phase, DSM phase) after stage 0; with <see cref="RoundPatience"/>, the most that run. 5 (2 before
    /// 2026-12-02): on ML-100K leave-one-out both models' validation rose to the fifth round on every seed.
    /// </summary>
    public int Rounds { get; init; } = 5;
    /// <summary>
    /// Stop the rounds early once this many rounds in a row raised neither model's best validation figure: <see cref="Rounds"/>
    /// is then a cap. The LLM baselines (one-way, text-only) stop their epochs by the same count. Null: every round runs
    /// (the only behaviour before 2026-12-02). Each model still keeps its best round, so stopping only skips rounds after a
    /// run of no gain. 2: replayed on the validation figures of every BDLM run in docs/results (96 seed runs of 30 experiments on five datasets),
    /// it never changes the round either model keeps; 1 changes it in 4.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? RoundPatience { get; init; } = 2;

    /// <summary>
    /// <see cref="RoundPatience"/> where it can stop a run, null where it cannot: the LLM gains in round 1 (its first
    /// validation), so a stop comes after round <see cref="RoundPatience"/> + 1 at the earliest and before the last round,
    /// and the LLM baselines' epochs (rounds x LLM epochs) likewise. A run hashes with this, so configs written before the
    /// patience existed (3 rounds or fewer with the default 2) still find their finished rows.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int? EffectivePatience => RoundPatience is int p && p <= Math.Max(Rounds, Rounds * Math.Max(1, LlmEpochs)) - 2 ? p : null;
    /// <summary>Weight of the distillation term; 0 gives plain alternating updates of the shared module.</summary>
    public double Lambda { get; init; } = 0.5;
    /// <summary>Softmax temperature of teacher and student in the KL term (<see cref="Distill"/> "kl").</summary>
    public double Tau { get; init; } = 2.0;
    /// <summary>
    /// The ranking protocol's distillation, both directions: "rank" (the teacher's top-K unseen items, weighted by rank
    /// position and gated by rank discrepancy: <see cref="RankDistillation"/>) or "kl" (the first build's full-softmax KL
    /// toward the teacher). Click-through keeps its Bernoulli KL. Null (the default): decided by the DSM
    /// (<see cref="ResolvedFor"/>): kl for LightGCN and MF on ranking data, rank for SASRec; "rank" before 2026-12-02.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Distill { get; init; }
    /// <summary><see cref="Distill"/> as training reads it; only a resolved options record has it (<see cref="ResolvedFor"/>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string DistillKind => Distill ?? throw new InvalidOperationException("bdlm.distill is unset: BdlmOptions.ResolvedFor decides it from the DSM before training");
    /// <summary>K of the rank distillation: how many of the teacher's top unseen items per user it teaches.</summary>
    public int TopK { get; init; } = 20;
    /// <summary>
    /// After a DSM phase that did not beat the DSM's best round on validation, put that best state back before the next
    /// round: the LLM then reads, and distils from, the best DSM, and a phase that hurt the DSM is not built on. Off: the
    /// first build's loop, where each round continues from wherever the last one left the shared module.
    /// </summary>
    public bool ResumeFromBest { get; init; } = true;
    /// <summary>The DSM phase's learning rate as a share of the DSM's own, when <see cref="DsmLr"/> is not set (ranking).</summary>
    public const double DsmLrShare = 0.1;
    /// <summary>Rank-discrepancy gate of the rank distillation: teach an item only where the student ranks it lower than the teacher.</summary>
    public bool Gate { get; init; } = true;
    public int LlmEpochs { get; init; } = 1;
    public int LlmBatch { get; init; } = 16;
    /// <summary>Prompts per LLM epoch: a fresh random sample of this many users each epoch (large catalogs of users); null: every user.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? LlmUsersPerEpoch { get; init; }
    /// <summary>
    /// What the LLM learns to predict on ranking data (its phase in BDLM, one-way and the text-only LLM). "next": the item
    /// after a random prefix of the user's training sequence, the prompt showing that prefix's latest items. "set": every
    /// other training item of the user at once (a multinomial likelihood, each user's items weighted equally), the prompt
    /// showing a random subset of the user's items and those items left out of the softmax. Null (the default since
    /// 2026-12-02): decided by the data (<see cref="TargetFor"/>): next where the training interactions have a time order
    /// (timestamps, or positions in a sequence), set where they do not, since there a user's "sequence" is the file's row
    /// order and its next row is not a next event. Before, every run trained next.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? LlmTarget { get; init; }
    /// <summary><see cref="LlmTarget"/> as training on <paramref name="split"/> reads it: set when unset and the training part has no time order.</summary>
    public string TargetFor(Split split) => LlmTarget ?? (split.Train.Timestamps is null ? "set" : "next");
    public static readonly string[] LlmTargets = ["next", "set"];
    /// <summary>The LLM phase's learning rate of the rows it trains (its private rows, or the shared module without them); 1e-3 before 2026-12-02.</summary>
    public double LrIsm { get; init; } = 1e-4;
    /// <summary>The LLM phase's learning rate of A_in, A_out and the item tower's text projection; 1e-3 before 2026-12-02.</summary>
    public double LrAdapters { get; init; } = 1e-4;
    public double LrBackbone { get; init; } = 1e-4;
    /// <summary>Keep the shared module fixed in the LLM phase (one-way transfer: DSM knowledge into the LLM only).</summary>
    public bool FreezeIsmInLlm { get; init; }
    /// <summary>The DSM phase's learning rate; null: a tenth of the DSM's own (<see cref="DsmLrShare"/>; ranking), the DSM's own with <see cref="DsmFresh"/>. Each phase starts
    /// a fresh optimizer, whose first steps move every weight by about the learning rate: at the DSM's own rate the first
    /// phase undid stage 0 (ML-100K leave-one-out, validation HR@10 0.142 -> 0.105; at a tenth, 0.137-0.143).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? DsmLr { get; init; }
    /// <summary>Candidate items per DSM batch in the DSM phase's distillation term; null: 128.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public int? DistillSlate { get; init; }
    [System.Text.Json.Serialization.JsonIgnore] public int Slate => DistillSlate ?? 128;
    /// <summary>The LLM phase's training settings (also the LLM baselines').</summary>
    [System.Text.Json.Serialization.JsonIgnore] public LlmTrainingOptions Llm => new() { Batch = LlmBatch, LrIsm = LrIsm, LrAdapters = LrAdapters, LrBackbone = LrBackbone };
    /// <summary>DSM epochs per round (BPR + distillation), with the DSM options' evaluation cadence.</summary>
    public int DsmEpochs { get; init; } = 20;
    /// <summary>
    /// Each DSM phase trains the DSM again from its initial weights (those stage 0 started from) for a whole
    /// early-stopped run at its own settings (epochs, learning rate, patience), its loss plus the distillation from that
    /// round's LLM, as Bidirectional Distillation trains its students, instead of continuing from where the LLM phase
    /// left the shared module for <see cref="DsmEpochs"/> epochs. <see cref="DsmLr"/>, when set, is its rate. The gate
    /// compares the teacher with the DSM as it stood before the phase. Off: the continued phase.
    /// </summary>
    /// <para>Null (the default): decided by the DSM (<see cref="ResolvedFor"/>): on for LightGCN and MF on ranking data, off
    /// for SASRec and click-through; off before 2026-12-02.</para>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public bool? DsmFresh { get; init; }
    /// <summary><see cref="DsmFresh"/> as training reads it; only a resolved options record has it (<see cref="ResolvedFor"/>).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool Fresh => DsmFresh ?? throw new InvalidOperationException("bdlm.dsm_fresh is unset: BdlmOptions.ResolvedFor decides it from the DSM before training");
    public int Seed { get; init; } = 2020;

    /// <summary>
    /// These options with <see cref="Distill"/> and <see cref="DsmFresh"/> decided where they are unset:
    /// <paramref name="rankingWithRows"/> (LightGCN or MF, with or without text, on ranking data) gets the fresh DSM phase
    /// with full-softmax KL, which on ML-100K's ablation was the one setting in which both models rose on validation in
    /// every round of every seed, and which held on book-crossing (docs/benchmarks.md); SASRec (it distils by ranking
    /// only) and click-through (it continues its DSM) keep rank distillation and the continued phase.
    /// </summary>
    public BdlmOptions ResolvedFor(bool rankingWithRows) => Distill is not null && DsmFresh is not null ? this
        : this with { Distill = Distill ?? (rankingWithRows ? "kl" : "rank"), DsmFresh = DsmFresh ?? rankingWithRows };

    public void Validate()
    {
        if (Rounds < 0) throw new ArgumentOutOfRangeException(nameof(Rounds), $"rounds must be >= 0 (got {Rounds})");
        if (RoundPatience is < 1) throw new ArgumentOutOfRangeException(nameof(RoundPatience), $"bdlm.round_patience must be >= 1 or unset (got {RoundPatience})");
        if (Lambda < 0) throw new ArgumentOutOfRangeException(nameof(Lambda), $"lambda must be >= 0 (got {Lambda})");
        if (!(Tau > 0)) throw new ArgumentOutOfRangeException(nameof(Tau), $"tau must be > 0 (got {Tau})");
        if (Distill is not (null or "rank" or "kl")) throw new ArgumentException($"bdlm.distill '{Distill}': expected rank or kl", nameof(Distill));
        if (TopK < 1) throw new ArgumentOutOfRangeException(nameof(TopK), $"bdlm.top_k must be >= 1 (got {TopK})");
        if (DsmLr is not null && !(DsmLr > 0)) throw new ArgumentOutOfRangeException(nameof(DsmLr), $"dsm lr must be > 0 (got {DsmLr})");
        if (DistillSlate is < 2) throw new ArgumentOutOfRangeException(nameof(DistillSlate), $"distill slate must be >= 2 (got {DistillSlate})");
        if (LlmTarget is not null && !LlmTargets.Contains(LlmTarget)) throw new ArgumentException($"bdlm.llm_target '{LlmTarget}': expected {string.Join(" or ", LlmTargets)}", nameof(LlmTarget));
        if (LlmUsersPerEpoch is < 1) throw new ArgumentOutOfRangeException(nameof(LlmUsersPerEpoch), $"llm users per epoch must be >= 1 (got {LlmUsersPerEpoch})");
        if (LlmEpochs < 0 || DsmEpochs < 0 || LlmBatch < 1) throw new ArgumentOutOfRangeException(nameof(LlmBatch), "epochs must be >= 0 and the batch >= 1");
    }
}

/// <summary>Validation metrics of both models after each round (round 0 = the DSM alone).</summary>
public sealed record RoundReport(int Round, IReadOnlyDictionary<string, double>? Llm, IReadOnlyDictionary<string, double> Dsm, double LlmLoss, double Seconds);

public sealed record BdlmResult(IReadOnlyList<RoundReport> Rounds, int BestLlmRound, int BestDsmRound);

/// <summary>
/// One scoring pass of the LLM after its phase: its validation metrics and the DSM phase's objective, which
/// distils from the same pass; <see cref="Teacher"/> holds what that objective reads and is freed after the phase.
/// </summary>
public sealed record LlmPass(IReadOnlyDictionary<string, double> Validation, IDsmObjective DsmObjective, IDisposable? Teacher);

/// <summary>
/// What a protocol puts into BDLM's collaborative loop (<see cref="BdlmTrainer.Run"/>): each model's loss and
/// distillation term (as objectives), how each is validated, and how its randomness is drawn. Ranking is
/// <see cref="RankingProtocol"/> (BPR / softmax CE / softmax KL), click-through <see cref="CtrProtocol"/>
/// (BCE / BCE / Bernoulli KL). New distillation terms and other DSMs come in through new objectives here.
/// </summary>
public interface IBdlmProtocol
{
    /// <summary>The validation metric that picks each model's best round.</summary>
    string Monitor { get; }
    /// <summary>Parameters the DSM trains beside its own (click-through: its logit offset); kept with its best round.</summary>
    IReadOnlyList<Parameter> DsmParameters { get; }
    /// <summary>Parameters the LLM trains beside its own; kept with its best round.</summary>
    IReadOnlyList<Parameter> LlmParameters { get; }
    IReadOnlyDictionary<string, double> ValidateDsm(DomainModel dsm);
    /// <summary>The metrics as the round log shows them.</summary>
    string Show(IReadOnlyDictionary<string, double> metrics);
    /// <summary>The random source of round <paramref name="round"/>'s LLM phase.</summary>
    Random LlmRandom(int round);
    /// <summary>The LLM phase's objective: its task loss plus distillation from <paramref name="dsm"/> as it stands now (a frozen teacher).</summary>
    ILlmObjective LlmObjective(DomainModel dsm, int round);
    /// <summary>Scores the LLM once after its phase: validation, and the DSM phase's objective distilling from it into <paramref name="dsm"/> (as it stands now: a gate may compare the two).</summary>
    LlmPass ScoreLlm(LlmRecommender llm, DomainModel dsm, int round);
    /// <summary>The DSM phase's training settings in round <paramref name="round"/>.</summary>
    DsmOptions DsmPhaseOptions(int round);
}

/// <summary>
/// BDLM's collaborative training, the one loop for every protocol. Each round has an LLM phase (the LLM's loss plus
/// distillation from the DSM, a frozen teacher; the shared module trains unless <see cref="BdlmOptions.FreezeIsmInLlm"/>)
/// and a DSM phase (the DSM's loss plus distillation from the LLM's scores of that round, through
/// <see cref="DsmTrainer.Fit"/>). Each model keeps its best round on validation: at the end the shared module holds
/// the DSM's best state, and <see cref="BestLlm"/> the LLM's.
/// </summary>
public sealed class BdlmTrainer(BdlmOptions options, DsmOptions dsmOptions) : IDisposable
{
    /// <summary>The settings; <see cref="BdlmOptions.Distill"/> and <see cref="BdlmOptions.DsmFresh"/> left unset are decided when a run starts (<see cref="BdlmOptions.ResolvedFor"/>).</summary>
    public BdlmOptions Options { get; private set; } = options;
    public DsmOptions DsmOptions { get; } = dsmOptions;
    public Action<string>? Log { get; init; }
    /// <summary>(round, examples done, examples) during each LLM phase's epochs.</summary>
    public Action<int, int, int>? Progress { get; init; }
    /// <summary>
    /// The DSM's weights before stage 0 trained them: where each DSM phase starts with <see cref="BdlmOptions.DsmFresh"/>
    /// (required then). The caller owns it.
    /// </summary>
    public DsmState? InitialDsm { get; set; }

    /// <summary>The LLM's best round (the shared module as it left it and every weight it trained); null before a round ran. The trainer owns it.</summary>
    public LlmState? BestLlm { get; private set; }

    /// <summary>Ranking BDLM (<see cref="RankingProtocol"/>) on <paramref name="split"/>.</summary>
    public BdlmResult Run(DomainModel dsm, LlmRecommender llm, Split split,
        Func<IRecommender, IReadOnlyDictionary<string, double>> validate, string monitor, CancellationToken ct = default)
    {
        Options = Options.ResolvedFor(rankingWithRows: dsm is not SasRec);
        return Run(dsm, llm, new RankingProtocol(split, validate, monitor, Options, DsmOptions), ct);
    }

    public BdlmResult Run(DomainModel dsm, LlmRecommender llm, IBdlmProtocol protocol, CancellationToken ct = default)
    {
        Options = Options.ResolvedFor(rankingWithRows: protocol is RankingProtocol && dsm is not SasRec);
        Options.Validate();
        if (Options.Fresh && InitialDsm is null)
            throw new InvalidOperationException("bdlm.dsm_fresh: each DSM phase starts from the DSM's initial weights, and none were given (BdlmTrainer.InitialDsm); ranking experiments and the bdlm verb give them, click-through runs do not support it");
        string monitor = protocol.Monitor;
        var rounds = new List<RoundReport>();
        var sw = Stopwatch.StartNew();

        var dsmMetrics = protocol.ValidateDsm(dsm);
        rounds.Add(new RoundReport(0, null, dsmMetrics, double.NaN, sw.Elapsed.TotalSeconds));
        Log?.Invoke($"round 0 (DSM alone): {protocol.Show(dsmMetrics)}");
        double bestDsm = dsmMetrics[monitor], bestLlm = double.NegativeInfinity;
        int bestDsmRound = 0, bestLlmRound = 0, sinceGain = 0;
        var bestDsmState = DsmBest.Capture(dsm, protocol.DsmParameters);
        try
        {
            for (int round = 1; round <= Options.Rounds; round++)
            {
                sw.Restart();
                ct.ThrowIfCancellationRequested();
                double llmLoss = RunLlmPhase(llm, dsm, protocol, round, ct);
                // The scoring pass can take minutes (every user x every item with the LLM); say what is running.
                Log?.Invoke(FormattableString.Invariant($"round {round}: LLM phase done (loss {llmLoss:F4}); the LLM scores validation and the DSM phase's teacher"));
                var pass = protocol.ScoreLlm(llm, dsm, round);
                using var teacher = pass.Teacher;
                bool gained = false;
                if (pass.Validation[monitor] > bestLlm)
                {
                    gained = true;
                    bestLlm = pass.Validation[monitor]; bestLlmRound = round;
                    BestLlm?.Dispose();
                    BestLlm = LlmState.Capture(llm, protocol.LlmParameters);
                }
                // The objective was made (its gate read the DSM) before a fresh phase puts the initial weights back.
                if (Options.Fresh) dsm.Restore(InitialDsm!);
                var dsmPhase = new DsmTrainer(protocol.DsmPhaseOptions(round))
                {
                    OnEpoch = e => Log?.Invoke(FormattableString.Invariant($"round {round} DSM phase: epoch {e.Epoch}/{e.Epochs}, loss {e.Loss:F4} ({e.Seconds:F2}s)")),
                };
                dsmPhase.Fit(dsm, pass.DsmObjective, protocol.ValidateDsm, store: null, resume: false, ct);
                dsmMetrics = protocol.ValidateDsm(dsm);
                if (dsmMetrics[monitor] > bestDsm)
                {
                    gained = true;
                    bestDsm = dsmMetrics[monitor]; bestDsmRound = round;
                    bestDsmState.Dispose();
                    bestDsmState = DsmBest.Capture(dsm, protocol.DsmParameters);
                }
                else if (Options.ResumeFromBest)
                    bestDsmState.Restore(dsm); // the next round's LLM reads, and its DSM phase starts from, the DSM's best state
                rounds.Add(new RoundReport(round, pass.Validation, dsmMetrics, llmLoss, sw.Elapsed.TotalSeconds));
                Log?.Invoke(FormattableString.Invariant($"round {round}: LLM {protocol.Show(pass.Validation)} (loss {llmLoss:F4}); DSM {protocol.Show(dsmMetrics)}; {sw.Elapsed.TotalSeconds:F0}s"));
                sinceGain = gained ? 0 : sinceGain + 1;
                if (Options.RoundPatience is int patience && sinceGain >= patience && round < Options.Rounds)
                {
                    Log?.Invoke($"stopping after round {round}: {sinceGain} round(s) without a gain on validation {monitor} for either model (round_patience {patience}); best rounds: LLM {bestLlmRound}, DSM {bestDsmRound}");
                    break;
                }
            }
            bestDsmState.Restore(dsm);
        }
        finally { bestDsmState.Dispose(); DisposeLlmOptimizers(); }
        return new BdlmResult(rounds, bestLlmRound, bestDsmRound);
    }

    /// <summary>The LLM's optimizers, made in the first LLM phase and kept across rounds (Adam's moments carry on, as in one-way's epochs).</summary>
    List<SafeAdam>? _llmOptimizers;

    /// <summary>One LLM phase: <see cref="LlmTraining.Train"/> for the configured epochs on the protocol's objective.</summary>
    double RunLlmPhase(LlmRecommender llm, DomainModel dsm, IBdlmProtocol protocol, int round, CancellationToken ct)
    {
        // The LLM reads the DSM as it stands now: a sequential DSM gives it its users (each prompt's history), tower.dsm_rows its final rows.
        llm.Follow(dsm);
        var objective = protocol.LlmObjective(dsm, round);
        try
        {
            // An LLM with private rows trains those and leaves the shared tables to the DSM.
            bool trainIsm = !Options.FreezeIsmInLlm && !llm.HasPrivateRows;
            _llmOptimizers ??= LlmTraining.Optimizers(llm, objective, Options.Llm, trainIsm);
            return LlmTraining.Train(llm, objective, _llmOptimizers, Options.Llm.Batch, Options.LlmEpochs, trainIsm,
                protocol.LlmRandom(round), ct, Progress is null ? null : (done, all) => Progress(round, done, all));
        }
        finally { (objective as IDisposable)?.Dispose(); }
    }

    /// <summary>Puts the LLM's best round back (the shared module included); the DSM's state is then gone from the module.</summary>
    public void RestoreBestLlm(LlmRecommender llm) => BestLlm?.Restore(llm);

    public void Dispose()
    {
        BestLlm?.Dispose();
        BestLlm = null;
        DisposeLlmOptimizers();
    }

    void DisposeLlmOptimizers()
    {
        foreach (var opt in _llmOptimizers ?? []) opt.Dispose();
        _llmOptimizers = null;
    }

    /// <summary>The DSM's best round: its weights and the protocol's parameters beside them.</summary>
    sealed class DsmBest(DsmState model, Tensor[] extra, IReadOnlyList<Parameter> parameters) : IDisposable
    {
        public static DsmBest Capture(DomainModel dsm, IReadOnlyList<Parameter> parameters)
        {
            using var _ = no_grad();
            return new DsmBest(dsm.Snapshot(), parameters.Select(p => p.detach().clone()).ToArray(), parameters);
        }

        public void Restore(DomainModel dsm)
        {
            dsm.Restore(model);
            using var _ = no_grad();
            for (int k = 0; k < extra.Length; k++) parameters[k].copy_(extra[k]);
        }

        public void Dispose()
        {
            model.Dispose();
            foreach (var t in extra) t.Dispose();
        }
    }
}

/// <summary>
/// An LLM's trained state: the shared module as it was and every other weight that trains (adapters, LoRA or backbone
/// weights, the protocol's parameters such as a logit offset). Kept in memory beside the DSM's own best state.
/// </summary>
public sealed class LlmState : IDisposable
{
    readonly IsmState _ism;
    readonly Parameter[] _trained;
    readonly Tensor[] _values;
    readonly DsmState? _userEncoder;
    readonly (Tensor Users, Tensor Items)? _dsmRows;

    LlmState(IsmState ism, Parameter[] trained, Tensor[] values, DsmState? userEncoder, (Tensor, Tensor)? dsmRows)
    {
        _ism = ism; _trained = trained; _values = values; _userEncoder = userEncoder; _dsmRows = dsmRows;
    }

    /// <remarks>
    /// The user encoder (<see cref="LlmRecommender.UserEncoder"/>) and the DSM rows it reads (<see cref="LlmRecommender.DsmRows"/>)
    /// are kept too: the LLM was scored with the DSM as it was then.
    /// </remarks>
    public static LlmState Capture(LlmRecommender llm, IReadOnlyList<Parameter> extra)
    {
        var trained = llm.parameters().Where(p => p.requires_grad).Concat(extra).ToArray();
        using var _ = no_grad();
        var rows = llm.DsmRows is { } r ? (r.Users.clone(), r.Items.clone()) : ((Tensor, Tensor)?)null;
        return new LlmState(llm.Ism.Snapshot(), trained, trained.Select(p => p.detach().clone()).ToArray(), llm.UserEncoder?.Snapshot(), rows);
    }

    public void Restore(LlmRecommender llm)
    {
        llm.Ism.Restore(_ism);
        if (_userEncoder is not null) llm.UserEncoder!.Restore(_userEncoder);
        if (_dsmRows is { } rows) llm.SetDsmRows(rows.Users, rows.Items);
        using var _ = no_grad();
        for (int k = 0; k < _trained.Length; k++) _trained[k].copy_(_values[k]);
    }

    public void Dispose()
    {
        _ism.Dispose();
        _userEncoder?.Dispose();
        if (_dsmRows is { } rows) { rows.Users.Dispose(); rows.Items.Dispose(); }
        foreach (var t in _values) t.Dispose();
    }
}
