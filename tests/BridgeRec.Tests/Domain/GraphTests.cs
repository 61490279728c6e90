using BridgeRec.Data;
using BridgeRec.Domain;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Domain;

public class GraphTests
{
    // 3 users, 4 items: u0 {i0, i1}, u1 {i1}, u2 {i1, i2, i3}; item 1 has degree 3, the others 1.
    static UserItemIndex Tiny() => new(3, 4, new Interactions([0, 0, 1, 2, 2, 2, 0], [0, 1, 1, 1, 2, 3, 1]));

    [Fact]
    public void NormalisationIsSymmetricInverseSqrtDegrees()
    {
        var g = new NormalizedGraph(Tiny());
        var a = g.ToDense();
        Assert.Equal(7, g.NumNodes);
        Assert.Equal(12, g.Nnz); // 6 distinct pairs (the duplicate (0,1) counts once), both directions
        // u0 (deg 2) - i1 (node 4, deg 3): 1/sqrt(6); u2 (deg 3) - i3 (node 6, deg 1): 1/sqrt(3); u1 (deg 1) - i1: 1/sqrt(3)
        Assert.Equal(1 / Math.Sqrt(6), a[0, 4], 6);
        Assert.Equal(1 / Math.Sqrt(3), a[2, 6], 6);
        Assert.Equal(1 / Math.Sqrt(3), a[1, 4], 6);
        Assert.Equal(1 / Math.Sqrt(2), a[0, 3], 6); // u0 - i0 (deg 1)
        for (int r = 0; r < 7; r++)
            for (int c = 0; c < 7; c++)
                Assert.Equal(a[r, c], a[c, r]);
        Assert.Equal(0f, a[0, 1]); // no user-user edges
        Assert.Equal(0f, a[3, 4]); // no item-item edges
    }

    [Theory]
    [InlineData(64)]
    [InlineData(37)] // exercises the scalar tail
    public void PropagationMatchesDenseProductAndItsGradient(int dim)
    {
        var g = new NormalizedGraph(Tiny());
        var dense = g.ToDense();
        var aT = zeros(7, 7);
        for (int r = 0; r < 7; r++) for (int c = 0; c < 7; c++) aT[r, c] = dense[r, c];
        manual_seed(1);
        var x = randn(7, dim).requires_grad_();
        var w = randn(7, dim);
        var y = g.Propagate(g.Propagate(x));
        (y * w).sum().backward();
        var gradSparse = x.grad!.clone();
        x.grad!.zero_();
        var yDense = aT.matmul(aT.matmul(x));
        (yDense * w).sum().backward();
        Assert.True(allclose(y, yDense, 1e-5, 1e-6));
        Assert.True(allclose(gradSparse, x.grad!, 1e-5, 1e-6));
    }
}
