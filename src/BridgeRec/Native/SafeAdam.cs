using BridgeRec.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.Native;

/// <summary>
/// Adam with decoupled weight decay (AdamW; plain Adam when the decay is 0), written so that every
/// TorchSharp <see cref="Scalar"/> it passes to native code is held in a field or a <c>using</c> local.
/// <para>Why not <c>torch.optim.Adam</c>: its step converts doubles to temporary Scalars implicitly,
/// and such a temporary is unreachable once its handle has been read; when a garbage collection runs
/// during the native call, its finalizer can free the Scalar under libtorch. We saw that here as
/// <c>addcmul_ ... Expected false to be true</c> thrown from <c>Scalar::toFloat</c> in an MF run.</para>
/// <para>The update is PyTorch's: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
/// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), after p *= 1 - lr * wd.</para>
/// </summary>
public sealed class SafeAdam : IDisposable
{
    readonly Parameter[] _params;
    readonly Tensor?[] _m, _v;
    readonly Scalar _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2, _eps, _decay;
    readonly double _b1, _b2;
    long _step;

    public double LearningRate { get; }
    public double WeightDecay { get; }
    public long Steps => _step;
    public IReadOnlyList<Parameter> Parameters => _params;

    public SafeAdam(IEnumerable<Parameter> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0)
    {
        if (!(lr > 0)) throw new ArgumentOutOfRangeException(nameof(lr), $"learning rate must be > 0 (got {lr})");
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), $"betas must lie in [0, 1) (got {beta1}, {beta2})");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), $"weight decay must be >= 0 (got {weightDecay})");
        _params = parameters.ToArray();
        _m = new Tensor?[_params.Length];
        _v = new Tensor?[_params.Length];
        LearningRate = lr; WeightDecay = weightDecay; _b1 = beta1; _b2 = beta2;
        _beta1 = beta1.ToScalar(); _beta2 = beta2.ToScalar();
        _oneMinusBeta1 = (1 - beta1).ToScalar(); _oneMinusBeta2 = (1 - beta2).ToScalar();
        _eps = eps.ToScalar(); _decay = (1 - lr * weightDecay).ToScalar();
    }

    /// <summary>Zeroes the gradients of the parameters that have one.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _params)
        {
            using var g = p.grad;
            g?.zero_();
        }
    }

    public void Step()
    {
        // Every trainer steps through here, on the thread that runs its torch work: the place to follow the machine's thread budget.
        ThreadBudget.Refresh();
        _step++;
        double bc1 = 1 - Math.Pow(_b1, _step), bc2 = 1 - Math.Pow(_b2, _step);
        using var negStep = (-LearningRate / bc1).ToScalar();
        using var sqrtBc2 = Math.Sqrt(bc2).ToScalar();
        using var _ = no_grad();
        for (int i = 0; i < _params.Length; i++)
        {
            var p = _params[i];
            if (!p.requires_grad) continue;
            using var scope = NewDisposeScope();
            var g = p.grad;
            if (g is null) continue;
            var m = _m[i] ??= zeros_like(p).DetachFromDisposeScope();
            var v = _v[i] ??= zeros_like(p).DetachFromDisposeScope();
            if (WeightDecay > 0) p.mul_(_decay);
            m.mul_(_beta1).add_(g, _oneMinusBeta1);
            v.mul_(_beta2).addcmul_(g, g, _oneMinusBeta2);
            var denom = v.sqrt();
            denom.div_(sqrtBc2).Plus_(_eps);
            p.addcdiv_(m, denom, negStep);
            ParameterVersions.Bump(p);
        }
        GC.KeepAlive(this);
    }

    /// <summary>Writes the step count and both moments (safetensors, atomically), for exact resume.</summary>
    public void Save(string path)
    {
        var tensors = new Dictionary<string, Tensor>();
        for (int i = 0; i < _params.Length; i++)
        {
            if (_m[i] is { } m) tensors[$"m.{i}"] = m;
            if (_v[i] is { } v) tensors[$"v.{i}"] = v;
        }
        SafeTensors.Save(path, tensors, new Dictionary<string, string>
        {
            ["step"] = _step.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["parameters"] = _params.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
    }

    /// <summary>Reads what <see cref="Save"/> wrote for the same parameter list.</summary>
    public void Load(string path)
    {
        var loaded = SafeTensors.Load(path, out var meta);
        try
        {
            if (!meta.TryGetValue("parameters", out var n) || n != _params.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))
                throw new InvalidDataException($"{path}: optimizer state for {n ?? "?"} parameters, this model has {_params.Length}");
            if (!meta.TryGetValue("step", out var s) || !long.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out _step))
                throw new InvalidDataException($"{path}: no step count in the optimizer state");
            for (int i = 0; i < _params.Length; i++)
            {
                _m[i]?.Dispose(); _v[i]?.Dispose();
                _m[i] = _v[i] = null;
                if (!loaded.ContainsKey($"m.{i}")) continue;
                _m[i] = zeros_like(_params[i]).DetachFromDisposeScope();
                _v[i] = zeros_like(_params[i]).DetachFromDisposeScope();
                SafeTensors.CopyInto(loaded, $"m.{i}", _m[i]!, path);
                SafeTensors.CopyInto(loaded, $"v.{i}", _v[i]!, path);
            }
        }
        finally { foreach (var t in loaded.Values) t.Dispose(); }
    }

    public void Dispose()
    {
        foreach (var t in _m) t?.Dispose();
        foreach (var t in _v) t?.Dispose();
        foreach (var s in new[] { _beta1, _beta2, _oneMinusBeta1, _oneMinusBeta2, _eps, _decay }) s.Dispose();
    }
}
