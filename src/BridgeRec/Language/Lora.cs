using BridgeRec.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Language;

/// <summary>How much of a backbone trains: nothing, only LoRA adapters, or every weight.</summary>
public enum TrainingMode { Frozen, Lora, Full }

/// <summary>The one home of switching a backbone between <see cref="TrainingMode"/>s (BERT and the decoders).</summary>
public static class TrainingModes
{
    /// <summary>
    /// In LoRA mode adds adapters to the <paramref name="linears"/> for which <paramref name="isTarget"/> holds
    /// (an error when none ends up with one), then makes trainable: every weight (full), only the adapters (LoRA)
    /// or nothing (frozen). Returns the number of trainable weights.
    /// </summary>
    public static long Apply(nn.Module model, Func<IEnumerable<(string Name, AdaptableLinear Linear)>> linears,
        TrainingMode mode, LoraOptions? lora, Func<string, LoraOptions, bool> isTarget)
    {
        if (mode == TrainingMode.Lora)
        {
            lora ??= new LoraOptions();
            lora.Validate();
            foreach (var (name, linear) in linears().ToList())
                if (!linear.HasAdapter && isTarget(name, lora)) linear.AddAdapter(lora);
            if (!linears().Any(l => l.Linear.HasAdapter))
                throw new ArgumentException($"LoRA targets {string.Join(", ", lora.Targets)} match no linear layer; names look like '{linears().First().Name}'");
        }
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = mode switch
            {
                TrainingMode.Full => true,
                TrainingMode.Lora => name.Contains("lora_", StringComparison.Ordinal),
                _ => false,
            };
        return model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    }
}

/// <summary>LoRA settings: rank r, scale alpha / r, dropout on the adapter's input, target module names.</summary>
public sealed record LoraOptions
{
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public double Dropout { get; init; } = 0.0;
    /// <summary>Names of the linear layers that get adapters (BERT: query, key, value, attention.output, intermediate, output).</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["query", "value"];

    public void Validate()
    {
        if (Rank < 1) throw new ArgumentOutOfRangeException(nameof(Rank), $"LoRA rank must be >= 1 (got {Rank})");
        if (!(Alpha > 0)) throw new ArgumentOutOfRangeException(nameof(Alpha), $"LoRA alpha must be > 0 (got {Alpha})");
        if (Dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Dropout), $"LoRA dropout must be in [0, 1) (got {Dropout})");
        if (Targets.Count == 0) throw new ArgumentException("LoRA needs at least one target module");
    }
}

/// <summary>
/// A linear layer y = x W^T + b that can carry a low-rank adapter: y += (alpha / r) * drop(x) A^T B^T,
/// with A [r, in] and B [out, r] (B starts at zero, so a fresh adapter changes nothing).
/// Its own parameters keep the plain names <c>weight</c> and <c>bias</c>, so checkpoints of the
/// base model load unchanged; the adapter adds <c>lora_A</c> and <c>lora_B</c>.
/// </summary>
public sealed class AdaptableLinear : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    public Parameter? bias;
    public Parameter? lora_A;
    public Parameter? lora_B;
    Scalar _scale = Scalars.Of(1.0); // alpha / rank, held: torch reads it in every forward
    double _dropout;
    public bool Merged { get; private set; }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    public AdaptableLinear(int inFeatures, int outFeatures, bool hasBias = true) : base("linear")
    {
        InFeatures = inFeatures; OutFeatures = outFeatures;
        weight = new Parameter(empty(outFeatures, inFeatures));
        bias = hasBias ? new Parameter(zeros(outFeatures)) : null;
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
        RegisterComponents();
    }

    public bool HasAdapter => lora_A is not null;

    /// <summary>Adds a fresh adapter (A Kaiming-uniform, B zero).</summary>
    public void AddAdapter(LoraOptions o)
    {
        o.Validate();
        if (HasAdapter) throw new InvalidOperationException("this layer already has a LoRA adapter");
        lora_A = new Parameter(empty(o.Rank, InFeatures, device: weight.device));
        nn.init.kaiming_uniform_(lora_A, Math.Sqrt(5));
        lora_B = new Parameter(zeros(OutFeatures, o.Rank, device: weight.device));
        register_parameter("lora_A", lora_A);
        register_parameter("lora_B", lora_B);
        _scale = o.Alpha / o.Rank;
        _dropout = o.Dropout;
    }

    /// <summary>
    /// Computes the base product x W^T in bfloat16 (the input and a copy of the weight cast per call; the result cast back
    /// to the input's type, the bias and the adapter added in it). CPUs with AVX-512 BF16 or AMX run the product several times
    /// faster than float32; the weights stay float32, so training, merging and saving are unchanged. Set through
    /// <see cref="Precision.Apply"/>.
    /// </summary>
    public bool ComputeBf16 { get; set; }

    public override Tensor forward(Tensor x)
    {
        var y = ComputeBf16 ? LowPrecisionProduct(x) : nn.functional.linear(x, weight, bias);
        if (lora_A is null || lora_B is null || Merged) return y;
        var h = _dropout > 0 ? nn.functional.dropout(x, _dropout, training) : x;
        return y.Plus(nn.functional.linear(nn.functional.linear(h, lora_A), lora_B) * _scale);
    }

    Tensor LowPrecisionProduct(Tensor x)
    {
        using var xb = x.to(ScalarType.BFloat16);
        using var wb = weight.to(ScalarType.BFloat16);
        using var yb = nn.functional.linear(xb, wb);
        var y = yb.to(x.dtype);
        return bias is null ? y : y.Plus(bias);
    }

    /// <summary>Folds the adapter into the weight (W += scale * B A) for inference without the extra matmuls.</summary>
    public void Merge()
    {
        if (lora_A is null || lora_B is null || Merged) return;
        using (no_grad()) weight.Plus_(lora_B.matmul(lora_A) * _scale);
        Merged = true;
    }

    /// <summary>Takes the adapter back out of the weight (W -= scale * B A).</summary>
    public void Unmerge()
    {
        if (lora_A is null || lora_B is null || !Merged) return;
        using (no_grad()) weight.sub_(lora_B.matmul(lora_A) * _scale);
        Merged = false;
    }
}

/// <summary>The arithmetic a backbone's linear layers compute in: fp32 (the default) or bf16 (<see cref="AdaptableLinear.ComputeBf16"/>).</summary>
public static class Precision
{
    public const string Fp32 = "fp32", Bf16 = "bf16";

    /// <summary>Sets every <see cref="AdaptableLinear"/> of <paramref name="model"/> to <paramref name="precision"/> (null: fp32); an unknown name is an error.</summary>
    public static void Apply(nn.Module model, string? precision)
    {
        bool bf16 = Check(precision) == Bf16;
        foreach (var m in model.modules().OfType<AdaptableLinear>()) m.ComputeBf16 = bf16;
    }

    /// <summary>The precision in force (null: fp32), or an error naming the valid ones.</summary>
    public static string Check(string? precision) => precision switch
    {
        null or Fp32 => Fp32,
        Bf16 => Bf16,
        _ => throw new ArgumentException($"backbone.precision '{precision}': expected {Fp32} or {Bf16}"),
    };
}
