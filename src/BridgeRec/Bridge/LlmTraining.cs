using System.Diagnostics;
using BridgeRec.LlmRec;
using BridgeRec.Native;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.Bridge;

/// <summary>How the LLM recommender trains: its batch and the learning rate of each parameter group.</summary>
public sealed record LlmTrainingOptions
{
    public int Batch { get; init; } = 16;
    public double LrIsm { get; init; } = 1e-3;
    public double LrAdapters { get; init; } = 1e-3;
    public double LrBackbone { get; init; } = 1e-4;
}

/// <summary>
/// What the LLM recommender learns in <see cref="LlmTraining.Epoch"/>, the one LLM epoch loop: the examples of an
/// epoch and the loss of a batch of them, distillation included. Ranking trains next-item cross-entropy on users'
/// prefixes (<see cref="NextItemObjective"/>), click-through BCE on labelled rows (<see cref="CtrTraining"/>).
/// </summary>
public interface ILlmObjective
{
    /// <summary>Parameters trained beside the LLM's own (the click-through logit offset), at the adapters' rate.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The examples of one epoch in training order (a fresh sample of them where the objective samples).</summary>
    int[] Examples(Random rng);

    /// <summary>The loss of a batch of examples (differentiable); <paramref name="rng"/> draws anything the batch needs.</summary>
    Tensor BatchLoss(LlmRecommender llm, int[] batch, Random rng);
}

/// <summary>
/// A distillation term of the LLM's loss: a frozen teacher's view of the batch's examples compared with the LLM's
/// (student's) scores of them. Softmax KL over all items for ranking, Bernoulli KL of one logit per row for click-through.
/// </summary>
public interface ILlmDistillation
{
    Tensor Loss(int[] batch, Tensor student);

    /// <summary>
    /// The term for prompts built from <paramref name="prefixes"/> of the users' histories (ranking's next-item prompts):
    /// a teacher that reads sequences reads the same prefix as the student. By default the prefixes are not read.
    /// </summary>
    Tensor Loss(int[] batch, Tensor student, IReadOnlyList<int>[] prefixes) => Loss(batch, student);
}

/// <summary>Validation metrics after one LLM epoch, its mean training loss and its seconds.</summary>
public sealed record LlmEpochReport(int Epoch, double Loss, IReadOnlyDictionary<string, double> Metrics, double Seconds);

public sealed record LlmFit(int BestEpoch, IReadOnlyList<LlmEpochReport> History);

/// <summary>
/// The one home of LLM-recommender training, shared by BDLM's LLM phase and the LLM baselines of both protocols:
/// the optimizers (AdamW per parameter group), the epoch loop over an <see cref="ILlmObjective"/>, and a fit that
/// validates after each epoch and keeps the best one.
/// </summary>
public static class LlmTraining
{
    /// <summary>
    /// AdamW per parameter group: adapters (and the objective's own parameters), the shared module (when it trains), the
    /// LLM's private rows (always: they are its own, at the shared module's rate) and the trainable backbone weights.
    /// </summary>
    public static List<SafeAdam> Optimizers(LlmRecommender llm, ILlmObjective objective, LlmTrainingOptions o, bool trainIsm)
    {
        var list = new List<SafeAdam> { new(llm.AdapterParameters(), o.LrAdapters, weightDecay: 0.01) };
        if (trainIsm) list.Add(new SafeAdam(llm.Ism.parameters(), o.LrIsm));
        var own = llm.PrivateRows().ToList();
        if (own.Count > 0) list.Add(new SafeAdam(own, o.LrIsm));
        var backbone = llm.Backbone.parameters().Where(p => p.requires_grad).ToList();
        if (backbone.Count > 0) list.Add(new SafeAdam(backbone, o.LrBackbone, weightDecay: 0.01));
        if (objective.Parameters.Count > 0) list.Add(new SafeAdam(objective.Parameters, o.LrAdapters));
        return list;
    }

    /// <summary>
    /// Trains <paramref name="epochs"/> epochs with the shared module trainable only when <paramref name="trainIsm"/>
    /// (restored on return); returns the last epoch's mean loss. <paramref name="progress"/> gets (examples done, examples).
    /// </summary>
    public static double Train(LlmRecommender llm, ILlmObjective objective, LlmTrainingOptions o, int epochs, bool trainIsm,
        Random rng, CancellationToken ct, Action<int, int>? progress = null)
    {
        var optimizers = Optimizers(llm, objective, o, trainIsm);
        try { return Train(llm, objective, optimizers, o.Batch, epochs, trainIsm, rng, ct, progress); }
        finally { foreach (var opt in optimizers) opt.Dispose(); }
    }

    /// <summary>
    /// As <see cref="Train(LlmRecommender, ILlmObjective, LlmTrainingOptions, int, bool, Random, CancellationToken, Action{int, int}?)"/>
    /// with the caller's optimizers (from <see cref="Optimizers"/>, made with the same <paramref name="trainIsm"/>): BDLM keeps
    /// them across rounds, so each LLM phase continues where the last one left its moments instead of restarting Adam.
    /// </summary>
    public static double Train(LlmRecommender llm, ILlmObjective objective, IReadOnlyList<SafeAdam> optimizers, int batch, int epochs, bool trainIsm,
        Random rng, CancellationToken ct, Action<int, int>? progress = null)
    {
        using var trainability = llm.Ism.Trainable(trainIsm);
        double loss = double.NaN;
        for (int epoch = 0; epoch < epochs; epoch++)
            loss = Epoch(llm, objective, optimizers, batch, rng, ct, progress);
        return loss;
    }

    /// <summary>
    /// An LLM on its own: <paramref name="epochs"/> epochs, <paramref name="validate"/> after each, ending with the best
    /// epoch's trained weights (the LLM's and the objective's). The shared module trains only when <paramref name="trainIsm"/>.
    /// With <paramref name="patience"/>, training stops once that many epochs in a row did not beat the best validation figure.
    /// </summary>
    public static LlmFit Fit(LlmRecommender llm, ILlmObjective objective, LlmTrainingOptions o, int epochs, bool trainIsm,
        Func<IReadOnlyDictionary<string, double>> validate, string monitor, Random rng,
        Action<string>? log = null, Action<int, int>? progress = null, CancellationToken ct = default, int? patience = null)
    {
        using var trainability = llm.Ism.Trainable(trainIsm);
        var optimizers = Optimizers(llm, objective, o, trainIsm);
        var trained = llm.parameters().Where(p => p.requires_grad).Concat(objective.Parameters).ToList();
        var history = new List<LlmEpochReport>();
        Tensor[]? best = null;
        double bestValue = double.NegativeInfinity;
        int bestEpoch = 0;
        try
        {
            for (int epoch = 1; epoch <= epochs; epoch++)
            {
                var sw = Stopwatch.StartNew();
                double loss = Epoch(llm, objective, optimizers, o.Batch, rng, ct, progress);
                var metrics = validate();
                double value = metrics[monitor];
                history.Add(new LlmEpochReport(epoch, loss, metrics, sw.Elapsed.TotalSeconds));
                log?.Invoke(FormattableString.Invariant($"  epoch {epoch}/{epochs}: loss {loss:F4}, validation {monitor} {value:F4} ({sw.Elapsed.TotalSeconds:F0}s)"));
                if (value > bestValue)
                {
                    bestValue = value; bestEpoch = epoch;
                    if (best is not null) foreach (var t in best) t.Dispose();
                    using var _ = no_grad();
                    best = trained.Select(p => p.detach().clone()).ToArray();
                }
                if (patience is int p && epoch - bestEpoch >= p && epoch < epochs)
                {
                    log?.Invoke($"  stopping after epoch {epoch}: {epoch - bestEpoch} epoch(s) without a gain on validation {monitor} (patience {p}); best epoch {bestEpoch}");
                    break;
                }
            }
            if (best is not null)
            {
                using var _ = no_grad();
                for (int k = 0; k < trained.Count; k++) trained[k].copy_(best[k]);
            }
        }
        finally
        {
            if (best is not null) foreach (var t in best) t.Dispose();
            foreach (var opt in optimizers) opt.Dispose();
            llm.eval();
        }
        return new LlmFit(bestEpoch, history);
    }

    /// <summary>One epoch over the objective's examples in batches; returns the mean loss. <paramref name="progress"/> gets (examples done, examples) after each batch.</summary>
    public static double Epoch(LlmRecommender llm, ILlmObjective objective, IReadOnlyList<SafeAdam> optimizers, int batchSize,
        Random rng, CancellationToken ct, Action<int, int>? progress = null)
    {
        var examples = objective.Examples(rng);
        double total = 0;
        int steps = 0;
        llm.train();
        for (int s = 0; s < examples.Length; s += batchSize)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var batch = examples.AsSpan(s, Math.Min(batchSize, examples.Length - s)).ToArray();
            foreach (var opt in optimizers) opt.ZeroGrad();
            var loss = objective.BatchLoss(llm, batch, rng);
            loss.backward();
            foreach (var opt in optimizers) opt.Step();
            total += loss.item<float>();
            steps++;
            progress?.Invoke(Math.Min(s + batchSize, examples.Length), examples.Length);
        }
        llm.eval();
        return steps == 0 ? double.NaN : total / steps;
    }

    /// <summary>tau^2 * KL(softmax(teacher / tau) || softmax(student / tau)), averaged over rows.</summary>
    public static Tensor Kl(Tensor teacher, Tensor student, double tau, double weight = 1.0)
    {
        // Scalars held in using locals: a temporary Scalar can be finalized during the native call (see SafeAdam).
        using var inv = (1.0 / tau).ToScalar();
        using var scale = (tau * tau * weight).ToScalar();
        var logP = nn.functional.log_softmax(teacher.mul(inv), 1);
        var logQ = nn.functional.log_softmax(student.mul(inv), 1);
        return (logP.exp() * (logP - logQ)).sum(1).mean().mul(scale);
    }
}

/// <summary>
/// Ranking's LLM objective over users with at least two training items (a random <paramref name="usersPerEpoch"/> of
/// them per epoch when set), plus the distillation term. <paramref name="target"/> (<see cref="BdlmOptions.LlmTarget"/>):
/// "next", cross-entropy of the item after a random prefix of the user's sequence; "set", the mean cross-entropy of
/// every training item of the user that the prompt does not show, the prompt showing a random subset of them (as many
/// as <see cref="PromptOptions.MaxHistory"/> allows, one item always left to predict) in sequence order, and the
/// shown items masked out of the softmax, as evaluation leaves a user's known items out of the ranking.
/// </summary>
public sealed class NextItemObjective(IReadOnlyList<int>[] sequences, int? usersPerEpoch, ILlmDistillation? distillation = null, string target = "next") : ILlmObjective, IDisposable
{
    readonly bool _set = target switch
    {
        "next" => false,
        "set" => true,
        _ => throw new ArgumentException($"LLM target '{target}': expected {string.Join(" or ", BdlmOptions.LlmTargets)}", nameof(target)),
    };

    public void Dispose() => (distillation as IDisposable)?.Dispose();

    public IReadOnlyList<Parameter> Parameters => [];

    public int[] Examples(Random rng)
    {
        var users = Enumerable.Range(0, sequences.Length).Where(u => sequences[u].Count >= 2).ToArray();
        rng.Shuffle(users);
        return usersPerEpoch is int n && n < users.Length ? users[..n] : users;
    }

    public Tensor BatchLoss(LlmRecommender llm, int[] batch, Random rng)
    {
        if (_set) return SetLoss(llm, batch, rng);
        var prompts = new List<Prompt>(batch.Length);
        var prefixes = new IReadOnlyList<int>[batch.Length];
        var targets = new long[batch.Length];
        for (int k = 0; k < batch.Length; k++)
        {
            var seq = sequences[batch[k]];
            int t = 1 + rng.Next(seq.Count - 1); // predict seq[t] from seq[..t]
            prefixes[k] = seq.Take(t).ToList();
            prompts.Add(llm.Prompts.Build(batch[k], prefixes[k]));
            targets[k] = seq[t];
        }
        var scores = llm.Score(llm.Prompts.Collate(prompts));
        var loss = nn.functional.cross_entropy(scores, tensor(targets, device: scores.device));
        return distillation is null ? loss : loss.Plus(distillation.Loss(batch, scores, prefixes));
    }

    /// <summary>
    /// The "set" target's loss: -1/|T_u| sum over t in T_u of log softmax(s_u with the shown items masked)_t, averaged
    /// over the batch, T_u the user's items the prompt does not show.
    /// </summary>
    Tensor SetLoss(LlmRecommender llm, int[] batch, Random rng)
    {
        int shownMax = llm.Prompts.Options.MaxHistory;
        var prompts = new List<Prompt>(batch.Length);
        var shown = new IReadOnlyList<int>[batch.Length];
        var maskAt = new List<long>();
        var targetAt = new List<long>();
        var weights = new List<float>();
        int numItems = llm.NumItems;
        for (int k = 0; k < batch.Length; k++)
        {
            var seq = sequences[batch[k]];
            var positions = Enumerable.Range(0, seq.Count).ToArray();
            rng.Shuffle(positions);
            int m = Math.Min(shownMax, seq.Count - 1);
            var pick = positions[..m];
            Array.Sort(pick);
            shown[k] = pick.Select(i => seq[i]).ToArray();
            prompts.Add(llm.Prompts.Build(batch[k], shown[k]));
            var shownSet = shown[k].ToHashSet();
            foreach (int item in shownSet) maskAt.Add((long)k * numItems + item);
            var rest = positions[m..].Select(i => seq[i]).Where(i => !shownSet.Contains(i)).Distinct().ToArray();
            // A history whose items all repeat the shown ones has nothing left to predict: it adds nothing to the loss.
            foreach (int item in rest) { targetAt.Add((long)k * numItems + item); weights.Add(1f / rest.Length); }
        }
        var scores = llm.Score(llm.Prompts.Collate(prompts));
        var device = scores.device;
        using var minusInf = float.NegativeInfinity.ToScalar();
        var masked = maskAt.Count == 0 ? scores
            : scores.reshape(-1).index_fill(0, tensor(maskAt.ToArray(), device: device), minusInf).view(scores.shape);
        var logp = nn.functional.log_softmax(masked, 1).view(-1).index_select(0, tensor(targetAt.ToArray(), device: device));
        using var inv = (-1.0 / batch.Length).ToScalar();
        var loss = (logp * tensor(weights.ToArray(), device: device)).sum().mul(inv);
        return distillation is null ? loss : loss.Plus(distillation.Loss(batch, scores, shown));
    }
}

/// <summary>
/// lambda * tau^2 * KL(softmax(teacher / tau) || softmax(llm / tau)) over all items, the teacher a DSM's final
/// embeddings frozen when the term is made (a copy: the phase's own steps must not move the teacher).
/// </summary>
public sealed class SoftmaxDistillation : ILlmDistillation, IDisposable
{
    readonly Tensor _users, _items;
    readonly double _tau, _lambda;

    public SoftmaxDistillation((Tensor Users, Tensor Items) teacher, double tau, double lambda)
    {
        using (no_grad())
        {
            _users = teacher.Users.detach().clone().DetachFromDisposeScope();
            _items = teacher.Items.detach().clone().DetachFromDisposeScope();
        }
        _tau = tau; _lambda = lambda;
    }

    public Tensor Loss(int[] batch, Tensor student)
    {
        Tensor teacher;
        using (no_grad())
            teacher = _users.index_select(0, tensor(batch.Select(u => (long)u).ToArray(), device: _users.device)).matmul(_items.t());
        return LlmTraining.Kl(teacher, student, _tau, _lambda);
    }

    public void Dispose() { _users.Dispose(); _items.Dispose(); }
}
