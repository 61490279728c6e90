using BridgeRec.Torch;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Torch;

/// <summary>The held-Scalar helpers give the same bits as the TorchSharp members they replace (which BR0004 forbids).</summary>
public class HeldOpsTests
{
#pragma warning disable BR0004 // the references under comparison

    static void SameBits(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.cpu().to(ScalarType.Float64).data<double>().ToArray(), actual.cpu().to(ScalarType.Float64).data<double>().ToArray());
    }

    [Fact]
    public void SoftplusIsTorchSharpsSoftplusBitForBitWithItsGradient()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        // Wide values so both branches (x <= 20: log1p(exp(x)), x > 20: x) and the boundary are hit; odd length for the
        // vector loop's tail.
        var x = randn([1001], generator: generator).mul_(Scalars.Of(15.0));
        x[0] = tensor(20f); x[1] = tensor(20.0001f); x[2] = tensor(19.9999f); x[3] = tensor(-100f); x[4] = tensor(100f);
        Assert.True(x.gt(Scalars.Of(20.0)).sum().item<long>() > 10);
        var a = x.detach().requires_grad_(true);
        var b = x.detach().requires_grad_(true);
        var expected = nn.functional.softplus(a);
        var actual = b.Softplus();
        SameBits(expected, actual);
        var weights = rand([1001], generator: generator);
        expected.mul(weights).sum().backward();
        actual.mul(weights).sum().backward();
        SameBits(a.grad!, b.grad!);
    }

    [Fact]
    public void PlusSquaredArangeAndNormalMatchTorchSharp()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var a = randn([257], generator: generator);
        var b = randn([257], generator: generator);
        SameBits(a + b, a.Plus(b));
        SameBits(a.add(Scalars.Of(0.25)), a.Plus(Scalars.Of(0.25)));
        SameBits(a.square(), a.Squared());
        SameBits(a.clone().add_(b), a.clone().Plus_(b));
        SameBits(a.clone().add_(Scalars.Of(1e-8)), a.clone().Plus_(Scalars.Of(1e-8)));
        SameBits(arange(Scalars.Of(12L)), HeldOps.Arange(0, 12));
        SameBits(arange(Scalars.Of(12L), dtype: ScalarType.Float32), HeldOps.Arange(0, 12, dtype: ScalarType.Float32));
        SameBits(normal(0, 0.1, [9, 5], generator: new Generator(11)), HeldOps.Normal(0, 0.1, [9, 5], generator: new Generator(11)));
    }
#pragma warning restore BR0004
}
