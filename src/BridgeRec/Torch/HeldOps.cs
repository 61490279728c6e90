using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Torch;

/// <summary>
/// The held-Scalar forms of the TorchSharp members that make a Scalar of their own (analyzer rule BR0004):
/// <c>a + b</c> is <c>add(b)</c>, which passes a temporary <c>alpha = 1</c>; <c>square()</c> is <c>pow(2)</c>;
/// <c>arange(stop)</c> makes its start and step; <c>softplus</c> makes its beta and threshold. A garbage collection
/// during the native call can free such a temporary while libtorch reads it. These pass the same values as held
/// Scalars, so the numbers are the same and nothing can be freed under libtorch.
/// </summary>
public static class HeldOps
{
    /// <summary><c>a + b</c> with a held alpha of 1 (TorchSharp's <c>add(Tensor)</c> makes its alpha on the fly).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, Scalars.Of(1L));

    /// <summary><c>a += b</c> in place with a held alpha of 1.</summary>
    public static Tensor Plus_(this Tensor a, Tensor b) => a.add_(b, Scalars.Of(1L));

    /// <summary><c>a + s</c> for a held Scalar <paramref name="s"/>, with a held alpha of 1.</summary>
    public static Tensor Plus(this Tensor a, Scalar s) => a.add(s, Scalars.Of(1L));

    /// <summary><c>a += s</c> in place for a held Scalar <paramref name="s"/>, with a held alpha of 1.</summary>
    public static Tensor Plus_(this Tensor a, Scalar s) => a.add_(s, Scalars.Of(1L));

    /// <summary><c>x.square()</c> (which is <c>pow(2)</c> with a temporary 2) with a held exponent.</summary>
    public static Tensor Squared(this Tensor x) => x.pow(Scalars.Of(2L));

    /// <summary>
    /// <c>torch.arange(start, stop, step)</c> with every bound held for the call (TorchSharp's shorter overloads make the
    /// missing start and step themselves). Integral bounds give an int64 tensor, as <c>arange(stop)</c> does.
    /// </summary>
    public static Tensor Arange(long start, long stop, long step = 1, ScalarType? dtype = null, Device? device = null)
    {
        using var first = start.ToScalar();
        using var last = stop.ToScalar();
        using var stride = step.ToScalar();
        return torch.arange(first, last, stride, dtype, device);
    }

    /// <summary>
    /// <c>torch.normal(mean, std, size)</c>, which is <c>randn(size).mul_(std).add_(mean)</c> with temporaries (and
    /// <c>add_</c>'s own alpha); the same steps here with held Scalars, so the same draws.
    /// </summary>
    public static Tensor Normal(double mean, double std, long[] size, Device? device = null, Generator? generator = null)
    {
        var t = randn(size, device: device, generator: generator);
        using var scale = std.ToScalar();
        using var shift = mean.ToScalar();
        t.mul_(scale).Plus_(shift);
        return t;
    }

    /// <summary>
    /// <c>nn.functional.softplus(x)</c> (beta 1, threshold 20). TorchSharp has no public overload that takes Scalars: its
    /// public one turns the doubles into temporaries and calls a private <c>softplus1(Scalar, Scalar)</c>, which this
    /// calls with held ones. Same native call, so the values and the gradient are the same bits (a test checks).
    /// </summary>
    public static Tensor Softplus(this Tensor x) => TorchSharpPrivate.Softplus(x, Scalars.Of(1.0), Scalars.Of(20.0));

    /// <summary>Its own class, so that a TorchSharp without the method breaks Softplus alone, not the other helpers.</summary>
    static class TorchSharpPrivate
    {
        internal static readonly Func<Tensor, Scalar, Scalar, Tensor> Softplus =
            (typeof(Tensor).GetMethod("softplus1", BindingFlags.NonPublic | BindingFlags.Instance, [typeof(Scalar), typeof(Scalar)])
                ?? throw new MissingMethodException("TorchSharp.torch.Tensor.softplus1(Scalar, Scalar) is gone: rewrite HeldOps.Softplus for this TorchSharp"))
            .CreateDelegate<Func<Tensor, Scalar, Scalar, Tensor>>();
    }
}
