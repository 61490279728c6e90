using System.Diagnostics;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.LlmRec;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Bridge.Experiments;

/// <summary>
/// Trains an LLM recommender on its own: the baselines' counterpart of BDLM's LLM phase. llm-text trains
/// its adapters and text projection (no task tokens, the shared module unused); one-way keeps the stage-0
/// shared module frozen and, with lambda &gt; 0, distils from the frozen stage-0 DSM as BDLM's LLM phase does.
/// Same loss (next-item cross-entropy on a random prefix of each training sequence, + lambda * tau^2 * KL),
/// the same optimisers and learning rates as <see cref="BdlmTrainer"/>. Validates after every epoch and
/// keeps the best epoch's trainable weights.
/// <para>The training steps are <see cref="LlmTraining.Epoch"/>, the same as BDLM's LLM phase.</para>
/// </summary>
public static class LlmFineTuner
{
    public sealed record Result(int BestEpoch, List<RoundRow> Rows);

    public static Result Fit(LlmRecommender llm, DomainModel? teacher, Split split,
        Func<IRecommender, IReadOnlyDictionary<string, double>> validate, string monitor, BdlmOptions o, int epochs,
        bool trainIsm, int seed, Action<string>? log = null, CancellationToken ct = default, Action<int, int>? progress = null)
    {
        var sequences = PromptBuilder.Histories(split, includeValidation: false);
        llm.UseHistories(sequences);
        var optimizers = LlmTraining.Optimizers(llm, o, trainIsm);
        var trainable = llm.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        (Tensor, Tensor)? teacherEmbeddings = teacher is not null && o.Lambda > 0 ? teacher.FinalEmbeddings() : null;
        var rng = new Random(unchecked(seed * 7919 + 17));
        var rows = new List<RoundRow>();
        Dictionary<string, Tensor>? best = null;
        double bestValue = double.NegativeInfinity;
        int bestEpoch = 0;
        try
        {
            for (int epoch = 1; epoch <= epochs; epoch++)
            {
                var sw = Stopwatch.StartNew();
                double meanLoss = LlmTraining.Epoch(llm, teacherEmbeddings, sequences, optimizers, o, rng, ct, progress);
                var metrics = validate(llm);
                double value = metrics[monitor];
                rows.Add(new RoundRow(epoch, new Dictionary<string, double>(metrics), new Dictionary<string, double>(), meanLoss, sw.Elapsed.TotalSeconds));
                log?.Invoke(FormattableString.Invariant($"  epoch {epoch}/{epochs}: loss {meanLoss:F4}, validation {monitor} {value:F4} ({sw.Elapsed.TotalSeconds:F0}s)"));
                if (value > bestValue)
                {
                    bestValue = value; bestEpoch = epoch;
                    if (best is not null) foreach (var t in best.Values) t.Dispose();
                    using var _ = no_grad();
                    best = trainable.ToDictionary(p => p.name, p => p.parameter.detach().clone());
                }
            }
            if (best is not null)
            {
                using var _ = no_grad();
                foreach (var (name, p) in trainable) p.copy_(best[name]);
            }
        }
        finally
        {
            if (best is not null) foreach (var t in best.Values) t.Dispose();
            LlmTraining.Release(llm, optimizers);
        }
        return new Result(bestEpoch, rows);
    }
}
