using BridgeRec.Native;
using BridgeRec.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Native;

/// <summary>Runs alone ("torch-rng"): it asserts bit-identical weights, and torch\'s global generator is shared with tests running in parallel.</summary>
[Collection("torch-rng")]
public class SafeAdamTests
{
    static (Parameter A, Parameter B) Params()
    {
        manual_seed(5);
        return (new Parameter(randn(4, 3)), new Parameter(randn(3)));
    }

    static void Steps(Action zero, Action step, Parameter a, Parameter b, int n, int offset = 0)
    {
        for (int i = offset; i < offset + n; i++)
        {
            using var scope = NewDisposeScope();
            zero();
            using var x = HeldOps.Arange(0, 12, dtype: float32).reshape(3, 4).div_(Scalars.Of(i + 1.0));
            x.matmul(a).Plus(b).pow(Scalars.Of(2L)).sum().backward();
            step();
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    public void FollowsTorchsAdamW(double decay)
    {
        var (a1, b1) = Params();
        var (a2, b2) = Params();
        var reference = optim.AdamW([a1, b1], 0.05, weight_decay: decay);
        using var ours = new SafeAdam([a2, b2], 0.05, weightDecay: decay);
        Steps(() => reference.zero_grad(), () => reference.step(), a1, b1, 20);
        Steps(ours.ZeroGrad, ours.Step, a2, b2, 20);
        Assert.True(allclose(a1, a2, rtol: 1e-5, atol: 1e-6));
        Assert.True(allclose(b1, b2, rtol: 1e-5, atol: 1e-6));
        Assert.False(allclose(a1, Params().A)); // it moved
    }

    [Fact]
    public void SavedStateResumesExactly()
    {
        using var tmp = new TestData.TempDir();
        var (a1, b1) = Params();
        using var straight = new SafeAdam([a1, b1], 0.05);
        Steps(straight.ZeroGrad, straight.Step, a1, b1, 10);

        var (a2, b2) = Params();
        using (var first = new SafeAdam([a2, b2], 0.05))
        {
            Steps(first.ZeroGrad, first.Step, a2, b2, 4);
            first.Save(tmp.File("opt.safetensors"));
        }
        using var second = new SafeAdam([a2, b2], 0.05);
        second.Load(tmp.File("opt.safetensors"));
        Assert.Equal(4, second.Steps);
        Steps(second.ZeroGrad, second.Step, a2, b2, 6, offset: 4);
        Assert.True(equal(a1, a2).all().item<bool>());
        Assert.True(equal(b1, b2).all().item<bool>());

        using var other = new SafeAdam([a2], 0.05);
        Assert.Throws<InvalidDataException>(() => other.Load(tmp.File("opt.safetensors")));
    }
}

/// <summary>Tests that seed torch's process-wide generator and compare weights bit for bit run outside the parallel phase.</summary>
[CollectionDefinition("torch-rng", DisableParallelization = true)]
public class TorchRngCollection;
