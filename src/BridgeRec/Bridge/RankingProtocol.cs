using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Bridge;

/// <summary>
/// BDLM for ranking (protocols P1 / P2). LLM phase: next-item cross-entropy on a random prefix of each user's
/// training sequence plus the distillation from the DSM, a frozen teacher. DSM phase: BPR plus the distillation from
/// the LLM's scores of every item, cached once per round; that one pass also validates the LLM. The distillation is
/// <see cref="BdlmOptions.Distill"/>: rank (top-K, position-weighted, gated: <see cref="RankDistillation"/>) or the
/// first build's lambda * tau^2 * KL over all items (LLM phase) and over each batch's candidate slate (DSM phase).
/// </summary>
public sealed class RankingProtocol(Split split, Func<IRecommender, IReadOnlyDictionary<string, double>> validate, string monitor,
    BdlmOptions options, DsmOptions dsmOptions) : IBdlmProtocol
{
    readonly IReadOnlyList<int>[] _sequences = PromptBuilder.Histories(split, includeValidation: false);
    readonly UserItemIndex _train = new(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);

    public string Monitor => monitor;
    public IReadOnlyList<Parameter> DsmParameters => [];
    public IReadOnlyList<Parameter> LlmParameters => [];

    public IReadOnlyDictionary<string, double> ValidateDsm(DomainModel dsm) => validate(dsm);

    public string Show(IReadOnlyDictionary<string, double> m) =>
        string.Join(" ", m.Where(kv => kv.Key.StartsWith("hr@") || kv.Key.StartsWith("ndcg@") || kv.Key == monitor).Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:F4}")).Distinct());

    public Random LlmRandom(int round) => new(unchecked(options.Seed * 7919 + round));

    public ILlmObjective LlmObjective(DomainModel dsm, int round) =>
        new NextItemObjective(_sequences, options.LlmUsersPerEpoch, LlmDistillationFrom(dsm, _train, options), options.TargetFor(split));

    /// <summary>The LLM's distillation term from a frozen DSM teacher as <paramref name="options"/> set it (null when lambda is 0): BDLM's LLM phase and the one-way baseline.</summary>
    public static ILlmDistillation? LlmDistillationFrom(DomainModel dsm, UserItemIndex train, BdlmOptions options) =>
        LlmDistillationFromResolved(dsm, train, options.ResolvedFor(rankingWithRows: dsm is not SasRec));

    static ILlmDistillation? LlmDistillationFromResolved(DomainModel dsm, UserItemIndex train, BdlmOptions options) =>
        options.Lambda <= 0 ? null
        : options.DistillKind == "rank" && dsm is SasRec sequential ? new SequentialLlmRankDistillation(sequential, options.TopK, options.Lambda, options.Gate)
        : options.DistillKind == "rank" ? new LlmRankDistillation(dsm, train, options.TopK, options.Lambda, options.Gate)
        : new SoftmaxDistillation(dsm.FinalEmbeddings(), options.Tau, options.Lambda);

    public LlmPass ScoreLlm(LlmRecommender llm, DomainModel dsm, int round)
    {
        llm.UseHistories(_sequences);
        var teacher = CacheScores(llm);
        var validation = validate(new PrecomputedScores(llm.Name, teacher));
        DsmRankDistillation? rank = null;
        if (options.Lambda > 0 && options.DistillKind == "rank")
        {
            var users = Enumerable.Range(0, _sequences.Length).Where(u => _sequences[u].Count > 0).ToArray();
            rank = new DsmRankDistillation(teacher, users, dsm, _train, options.TopK, options.Lambda, options.Gate, unchecked(options.Seed * 104729 + round));
        }
        if (dsm is SasRec sequential)
        {
            if (options.Lambda > 0 && rank is null) throw new NotSupportedException("a sasrec DSM distils from the LLM by ranking only: set bdlm.distill to rank");
            return new LlmPass(validation, new SasRecObjective(sequential, DsmPhaseOptions(round), rank?.SequenceTerm), teacher);
        }
        var term = rank?.Term ?? (options.Lambda > 0 ? Distillation(teacher) : null);
        return new LlmPass(validation, new BprObjective(_train, DsmPhaseOptions(round), term), teacher);
    }

    /// <summary>A fresh optimizer per phase, whose first steps move every weight by about its rate: hence the phase's own rate (<see cref="BdlmOptions.DsmLr"/>).</summary>
    /// <remarks>Validated five times per phase (at least every epoch), so the phase keeps its best epoch rather than its last.
    /// With <see cref="BdlmOptions.DsmFresh"/>: the DSM's own settings (a whole early-stopped run), a seed per round, and
    /// <see cref="BdlmOptions.DsmLr"/> when set.</remarks>
    public DsmOptions DsmPhaseOptions(int round) =>
        options.Fresh ? dsmOptions with { Seed = dsmOptions.Seed + 1000 * round, Lr = options.DsmLr ?? dsmOptions.Lr } :
        dsmOptions with
        {
            Epochs = options.DsmEpochs, Patience = 0, Seed = dsmOptions.Seed + 1000 * round, Lr = options.DsmLr ?? dsmOptions.Lr * BdlmOptions.DsmLrShare,
            EvalEvery = Math.Max(1, Math.Min(dsmOptions.EvalEvery, options.DsmEpochs / 5)),
        };

    /// <summary>The LLM's scores of every item for every user with a history (other rows stay 0: they never appear in a BPR batch).</summary>
    Tensor CacheScores(LlmRecommender llm)
    {
        var users = Enumerable.Range(0, _sequences.Length).Where(u => _sequences[u].Count > 0).ToArray();
        var all = zeros(_sequences.Length, llm.NumItems);
        using var scores = llm.ScoreAll(users);
        using var idx = tensor(users.Select(u => (long)u).ToArray());
        all.index_copy_(0, idx, scores);
        return all;
    }

    /// <summary>
    /// The DSM phase's distillation term: tau^2 * KL(p_llm || p_dsm) for every user of the batch over one shared slate
    /// of candidates, the batch's first <see cref="BdlmOptions.DistillSlate"/>/2 positive and as many negative items
    /// (the batch is in random order, so this is a random slate). All 2B of them would cost B x 2B per batch:
    /// with B = 2048 that made one DSM phase on ML-100K take minutes instead of seconds.
    /// </summary>
    ExtraLoss Distillation(Tensor teacherScores) => SlateKl(teacherScores, options.Slate, options.Tau, options.Lambda);

    /// <summary>The KL term of <see cref="Distillation"/> from <paramref name="teacherScores"/> (users x items, frozen); public for <c>bench dsm-phase</c>.</summary>
    public static ExtraLoss SlateKl(Tensor teacherScores, int slate, double tau, double lambda) => (fu, fi, users, pos, neg) =>
    {
        long half = Math.Min(pos.shape[0], Math.Max(1, slate / 2));
        var candidates = cat([pos.narrow(0, 0, half), neg.narrow(0, 0, half)], 0);
        var student = fu.index_select(0, users).matmul(fi.index_select(0, candidates).t());
        Tensor teacher;
        // The slate's columns first, then the batch's users: the other order copies a B x (all items) block per batch.
        using (no_grad())
        {
            using var columns = teacherScores.index_select(1, candidates);
            teacher = columns.index_select(0, users);
        }
        return LlmTraining.Kl(teacher, student, tau, lambda);
    };
}
