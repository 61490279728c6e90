using System.Runtime.CompilerServices;
using TorchSharp.Modules;

namespace BridgeRec.Native;

/// <summary>
/// How many optimizer steps have changed each parameter. libtorch keeps such a counter on every tensor, but
/// TorchSharp does not expose it; <see cref="SafeAdam.Step"/> counts here instead, so a model that caches
/// what it computes from its parameters (a DSM's final embeddings) sees that they changed without any caller
/// having to say so.
/// </summary>
public static class ParameterVersions
{
    static readonly ConditionalWeakTable<Parameter, StrongBox<long>> Steps = new();

    /// <summary>The sum of the parameters' step counts: changes whenever a step changes one of them.</summary>
    public static long Of(IEnumerable<Parameter> parameters)
    {
        long sum = 0;
        foreach (var p in parameters)
            if (Steps.TryGetValue(p, out var box)) sum += box.Value;
        return sum;
    }

    internal static void Bump(Parameter p) => Steps.GetOrCreateValue(p).Value++;
}
