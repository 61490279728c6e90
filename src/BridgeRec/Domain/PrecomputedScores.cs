using BridgeRec.Evaluation;
using static TorchSharp.torch;

namespace BridgeRec.Domain;

/// <summary>
/// A recommender over a score table computed once ([users, items]): lets one pass of an expensive
/// model serve both validation and distillation. Does not own the table.
/// </summary>
public sealed class PrecomputedScores(string name, Tensor table) : IRecommender
{
    public string Name { get; } = name;
    public int NumItems => (int)table.shape[1];

    public Tensor ScoreAll(int[] users)
    {
        using var idx = tensor(users.Select(u => (long)u).ToArray(), device: table.device);
        return table.index_select(0, idx);
    }
}
