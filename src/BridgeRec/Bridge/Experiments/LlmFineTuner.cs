using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;

namespace BridgeRec.Bridge.Experiments;

/// <summary>
/// Trains an LLM recommender on its own for ranking: the baselines' counterpart of BDLM's LLM phase. llm-text trains
/// its adapters and text projection (no task tokens, the shared module unused); one-way keeps the stage-0 shared
/// module frozen and, with lambda &gt; 0, distils from the frozen stage-0 DSM as BDLM's LLM phase does. The same
/// objective (<see cref="NextItemObjective"/>), optimisers and learning rates as <see cref="RankingProtocol"/>,
/// through <see cref="LlmTraining.Fit"/>: validation after every epoch, the best epoch's weights kept.
/// </summary>
public static class LlmFineTuner
{
    public static LlmFit Fit(LlmRecommender llm, DomainModel? teacher, Split split,
        Func<IRecommender, IReadOnlyDictionary<string, double>> validate, string monitor, BdlmOptions o, int epochs,
        bool trainIsm, int seed, Action<string>? log = null, CancellationToken ct = default, Action<int, int>? progress = null)
    {
        var sequences = PromptBuilder.Histories(split, includeValidation: false);
        llm.UseHistories(sequences);
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var distillation = teacher is null ? null : RankingProtocol.LlmDistillationFrom(teacher, train, o);
        try
        {
            return LlmTraining.Fit(llm, new NextItemObjective(sequences, o.LlmUsersPerEpoch, distillation, o.TargetFor(split)), o.Llm, epochs, trainIsm,
                () => validate(llm), monitor, new Random(unchecked(seed * 7919 + 17)), log, progress, ct, o.RoundPatience);
        }
        finally { (distillation as IDisposable)?.Dispose(); }
    }
}
