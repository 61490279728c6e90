using BridgeRec.Domain;
using BridgeRec.Native;
using BridgeRec.SharedModule;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Domain;

/// <summary>The shared module owns its state: snapshot / restore, trainability scopes, and caches that follow the tables by themselves.</summary>
[Collection("torch-rng")]
public class SharedStateTests
{
    static float[] Values(Tensor t) => t.detach().cpu().data<float>().ToArray();

    /// <summary>One Adam step of a BPR loss on a few triples: every table row they touch moves.</summary>
    static void Step(DomainModel dsm, SafeAdam opt)
    {
        opt.ZeroGrad();
        var (loss, _) = dsm.BprLoss(tensor(new long[] { 0, 1, 2 }), tensor(new long[] { 3, 4, 5 }), tensor(new long[] { 6, 0, 1 }), 1e-3);
        loss.backward();
        opt.Step();
    }

    [Fact]
    public void SnapshotAndRestoreRoundTripBitForBit()
    {
        manual_seed(11);
        using var ism = new InformationSharingModule(4, 7, 8, itemBias: true);
        using var mf = new MatrixFactorization(ism);
        using (no_grad()) ism.ItemBias!.normal_();
        var users = Values(ism.Users); var items = Values(ism.Items); var bias = Values(ism.ItemBias!);
        using var state = ism.Snapshot();
        using var opt = new SafeAdam(mf.parameters(), 0.1);
        Step(mf, opt);
        Assert.NotEqual(items, Values(ism.Items));
        long before = ism.Version;
        ism.Restore(state);
        Assert.Equal(users, Values(ism.Users));
        Assert.Equal(items, Values(ism.Items));
        Assert.Equal(bias, Values(ism.ItemBias!));
        Assert.True(ism.Version > before);
        // The state is the caller's: restoring it again gives the same tables again.
        Step(mf, opt);
        ism.Restore(state);
        Assert.Equal(items, Values(ism.Items));
    }

    [Fact]
    public void FinalEmbeddingsFollowOptimizerStepsAndRestoresWithoutBeingTold()
    {
        manual_seed(12);
        using var ism = new InformationSharingModule(4, 7, 8);
        using var mf = new MatrixFactorization(ism);
        using var start = ism.Snapshot();
        using var opt = new SafeAdam(ism.parameters(), 0.1);
        float[] Scores() { using var s = mf.ScoreAll([0, 1, 2]); return Values(s); }

        var initial = Scores();
        Assert.Equal(initial, Scores()); // cached: the same tensors, the same scores
        Step(mf, opt);
        var stepped = Scores();
        Assert.NotEqual(initial, stepped);
        Assert.Equal(Values(ism.Items), Values(mf.FinalEmbeddings().Items)); // MF: final = ego, as the step left them
        ism.Restore(start);
        Assert.Equal(initial, Scores());
        // A step of an optimizer over other parameters leaves the cache alone.
        var cached = mf.FinalEmbeddings().Items;
        using var other = new Parameter(zeros(3));
        using var otherOpt = new SafeAdam([other], 0.1);
        other.sum().backward();
        otherOpt.Step();
        Assert.Same(cached, mf.FinalEmbeddings().Items);
    }

    [Fact]
    public void TrainabilityIsSetForAScopeAndPutBack()
    {
        using var ism = new InformationSharingModule(3, 4, 2);
        Assert.True(ism.Users.requires_grad);
        using (ism.Trainable(false))
        {
            Assert.False(ism.Users.requires_grad);
            Assert.False(ism.Items.requires_grad);
            using (ism.Trainable(true)) Assert.True(ism.Items.requires_grad);
            Assert.False(ism.Items.requires_grad);
        }
        Assert.True(ism.Users.requires_grad);
        Assert.True(ism.Items.requires_grad);
    }
}
