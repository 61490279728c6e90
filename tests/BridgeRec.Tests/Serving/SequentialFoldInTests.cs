using BridgeRec.Domain;
using BridgeRec.Serving;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Serving;

/// <summary>The DSM path for a posted history when the DSM is SASRec: the history is read as a known user's is.</summary>
[Collection("torch-rng")]
public class SequentialFoldInTests
{
    [Fact]
    public void APostedHistoryGetsTheVectorAKnownUserWithThatHistoryHas()
    {
        manual_seed(6);
        var ism = new InformationSharingModule(4, 30, 16);
        IReadOnlyList<int>[] histories = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10], [3, 2, 1]];
        using var sasrec = new SasRec(ism, histories, new SasRecOptions { MaxLength = 5, Layers = 1, Heads = 2, Inner = 32 });
        using var index = ServingModel.ToIndex(sasrec, ann: null);
        var vector = new float[16];
        for (int u = 0; u < histories.Length; u++)
        {
            index.FoldIn(histories[u].ToArray(), vector);
            var known = index.UserRow(u).ToArray();
            for (int k = 0; k < 16; k++) Assert.Equal(known[k], vector[k], 5);
        }
        // Order matters to SASRec (the mean of item vectors would not see it): the reversed history reads differently.
        var reversed = new float[16];
        index.FoldIn(new[] { 3, 2, 1 }, reversed);
        index.FoldIn(new[] { 1, 2, 3 }, vector);
        Assert.NotEqual(vector, reversed);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.FoldIn(new[] { 1, 30 }, vector));
    }
}
