using static TorchSharp.torch;

namespace BridgeRec.Evaluation;

/// <summary>Anything that scores every item for a batch of users.</summary>
public interface IRecommender
{
    string Name { get; }
    int NumItems { get; }

    /// <summary>Scores [users.Length, NumItems] (no gradient). Seen items are not excluded here: protocols do that.</summary>
    Tensor ScoreAll(int[] users);
}
