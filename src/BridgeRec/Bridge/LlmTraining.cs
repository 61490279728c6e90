using BridgeRec.LlmRec;
using BridgeRec.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Bridge;

/// <summary>
/// The one home of LLM-recommender training steps, shared by BDLM's LLM phase and the LLM baselines:
/// next-item cross-entropy on a random prefix of each user's training sequence, plus, with a teacher,
/// lambda * tau^2 * KL(p_teacher || p_llm).
/// </summary>
public static class LlmTraining
{
    /// <summary>AdamW per parameter group: adapters, the shared module (when it trains) and the trainable backbone weights.</summary>
    public static List<SafeAdam> Optimizers(LlmRecommender llm, BdlmOptions o, bool trainIsm)
    {
        foreach (var p in llm.Ism.parameters()) p.requires_grad = trainIsm;
        var list = new List<SafeAdam> { new(llm.AdapterParameters(), o.LrAdapters, weightDecay: 0.01) };
        if (trainIsm) list.Add(new SafeAdam(llm.Ism.parameters(), o.LrIsm));
        var backbone = llm.Backbone.parameters().Where(p => p.requires_grad).ToList();
        if (backbone.Count > 0) list.Add(new SafeAdam(backbone, o.LrBackbone, weightDecay: 0.01));
        return list;
    }

    /// <summary>Undoes what <see cref="Optimizers"/> changed: the shared module trains again (the DSM needs it).</summary>
    public static void Release(LlmRecommender llm, List<SafeAdam> optimizers)
    {
        foreach (var p in llm.Ism.parameters()) p.requires_grad = true;
        foreach (var o in optimizers) o.Dispose();
        llm.eval();
    }

    /// <summary>One epoch over the users with at least two training items (a random <see cref="BdlmOptions.LlmUsersPerEpoch"/> of them when set); returns the mean loss. <paramref name="progress"/> gets (users done, users) after each batch.</summary>
    public static double Epoch(LlmRecommender llm, (Tensor Users, Tensor Items)? teacher, IReadOnlyList<int>[] sequences,
        IReadOnlyList<SafeAdam> optimizers, BdlmOptions o, Random rng, CancellationToken ct,
        Action<int, int>? progress = null)
    {
        var users = Enumerable.Range(0, sequences.Length).Where(u => sequences[u].Count >= 2).ToArray();
        rng.Shuffle(users);
        if (o.LlmUsersPerEpoch is int n && n < users.Length) users = users[..n];
        double total = 0;
        int steps = 0;
        llm.train();
        for (int s = 0; s < users.Length; s += o.LlmBatch)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var batchUsers = users.Skip(s).Take(o.LlmBatch).ToArray();
            var prompts = new List<Prompt>(batchUsers.Length);
            var targets = new long[batchUsers.Length];
            for (int k = 0; k < batchUsers.Length; k++)
            {
                var seq = sequences[batchUsers[k]];
                int t = 1 + rng.Next(seq.Count - 1); // predict seq[t] from seq[..t]
                prompts.Add(llm.Prompts.Build(batchUsers[k], seq.Take(t).ToList()));
                targets[k] = seq[t];
            }
            foreach (var opt in optimizers) opt.ZeroGrad();
            var scores = llm.Score(llm.Prompts.Collate(prompts));
            var loss = nn.functional.cross_entropy(scores, tensor(targets, device: scores.device));
            if (teacher is { } tch && o.Lambda > 0)
            {
                Tensor teacherScores;
                using (no_grad())
                    teacherScores = tch.Users.index_select(0, tensor(batchUsers.Select(u => (long)u).ToArray(), device: tch.Users.device)).matmul(tch.Items.t());
                loss = loss + Kl(teacherScores, scores, o.Tau, o.Lambda);
            }
            loss.backward();
            foreach (var opt in optimizers) opt.Step();
            total += loss.item<float>();
            steps++;
            progress?.Invoke(Math.Min(s + o.LlmBatch, users.Length), users.Length);
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
