using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.LlmRec;
using TorchSharp.Modules;

namespace BridgeRec.Bridge;

/// <summary>
/// BDLM for click-through (protocol P3). LLM phase: BCE on labelled training rows plus lambda * tau^2 * the Bernoulli
/// KL to the frozen DSM's logits of the same rows. DSM phase: BCE plus the same KL toward the LLM's logits of
/// <see cref="CtrOptions.TeacherRows"/> training rows, scored once per round. Each model has its own logit offset,
/// kept with its best round. One random source serves every LLM phase and the teacher rows' sample, in that order.
/// </summary>
public sealed class CtrProtocol(CtrRows train, CtrRows validation, int[]? llmValidationRows, LogitOffset dsmOffset, LogitOffset llmOffset,
    BdlmOptions options, DsmOptions dsmOptions, CtrOptions ctr, string monitor, CancellationToken ct = default) : IBdlmProtocol
{
    readonly Random _rng = new(unchecked(options.Seed * 7919 + 31));
    readonly CtrRows _llmValidation = llmValidationRows is null ? validation : validation.Select(llmValidationRows);

    public string Monitor => monitor;
    public IReadOnlyList<Parameter> DsmParameters { get; } = dsmOffset.parameters().ToArray();
    public IReadOnlyList<Parameter> LlmParameters { get; } = llmOffset.parameters().ToArray();

    public IReadOnlyDictionary<string, double> ValidateDsm(DomainModel dsm) => CtrTraining.Metrics(validation, CtrTraining.ScoreDsm(dsm, dsmOffset, validation));

    public string Show(IReadOnlyDictionary<string, double> m) => FormattableString.Invariant($"{monitor} {m[monitor]:F4}");

    public Random LlmRandom(int round) => _rng;

    public ILlmObjective LlmObjective(DomainModel dsm, int round) =>
        new PointwiseLlmObjective(train, llmOffset, ctr.LlmRowsPerEpoch,
            options.Lambda > 0 ? new BernoulliDistillation(CtrTraining.ScoreDsm(dsm, dsmOffset, train), options.Tau, options.Lambda) : null);

    public LlmPass ScoreLlm(LlmRecommender llm, DomainModel dsm, int round)
    {
        var metrics = CtrTraining.Metrics(_llmValidation, CtrTraining.ScoreLlm(llm, llmOffset, _llmValidation, ct: ct));
        float[]? teacher = null;
        if (options.Lambda > 0)
        {
            var rows = Enumerable.Range(0, train.Count).ToArray();
            _rng.Shuffle(rows);
            int n = ctr.TeacherRows ?? ctr.LlmRowsPerEpoch ?? rows.Length;
            rows = rows[..Math.Min(n, rows.Length)];
            var scores = CtrTraining.ScoreLlm(llm, llmOffset, train, rows, ct: ct);
            teacher = Enumerable.Repeat(float.NaN, train.Count).ToArray();
            for (int k = 0; k < rows.Length; k++) teacher[rows[k]] = scores[k];
        }
        return new LlmPass(metrics, new PointwiseDsmObjective(train, dsmOffset, DsmPhaseOptions(round), teacher, options.Lambda, options.Tau), null);
    }

    /// <summary>The DSM's own settings (its patience included) with the phase's epochs, a seed per round and <see cref="BdlmOptions.DsmLr"/>.</summary>
    public DsmOptions DsmPhaseOptions(int round) =>
        dsmOptions with { Epochs = options.DsmEpochs, Seed = dsmOptions.Seed + 1000 * round, Lr = options.DsmLr ?? dsmOptions.Lr };
}
