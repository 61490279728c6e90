using System.Collections.Concurrent;
using TorchSharp;

namespace BridgeRec.Torch;

/// <summary>
/// TorchSharp Scalars that live as long as the process, for the constants of the models' formulas (0.5, eps, a
/// temperature, -inf). TorchSharp frees a Scalar in its finalizer and no dispose scope tracks it, so a Scalar made on
/// the fly can be freed by a garbage collection while libtorch reads it; one held here never is. The project's
/// analyzer (BR0001-BR0003) rejects every other way of handing torch a number. Values that change from call to call
/// (positions, step sizes) belong in a <c>using</c> local instead, so this cache stays small.
/// </summary>
public static class Scalars
{
    static readonly ConcurrentDictionary<double, Scalar> Doubles = new();
    static readonly ConcurrentDictionary<long, Scalar> Longs = new();

    /// <summary>A float64 Scalar of <paramref name="value"/>, made once.</summary>
#pragma warning disable BR0002 // held: the dictionary keeps it for the life of the process
    public static Scalar Of(double value) => Doubles.GetOrAdd(value, v => v.ToScalar());

    /// <summary>An int64 Scalar of <paramref name="value"/>, made once.</summary>
    public static Scalar Of(long value) => Longs.GetOrAdd(value, v => v.ToScalar());
#pragma warning restore BR0002
}
