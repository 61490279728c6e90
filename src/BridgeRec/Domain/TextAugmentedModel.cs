using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using BridgeRec.Torch;

namespace BridgeRec.Domain;

/// <summary>
/// A DSM given frozen text features: each item's ego row becomes <c>E_i[i] + W t_i</c>, where t_i is
/// the item's fixed sentence embedding (<c>LlmRec.TextFeatures</c>) and W [d x 384] a trained linear
/// projection without bias. The base model's forward pass (MF: identity; LightGCN: propagation)
/// then runs from these augmented rows, so scoring, BPR and its L2 term all see them. This is the
/// "frozen text features" shortcut that collaborative training must beat (claim C2). The ISM stays
/// the only ID table; W is this model's own parameter.
/// </summary>
public sealed class TextAugmentedModel : DomainModel
{
    /// <summary>The wrapped DSM; only its forward pass is used (it shares this model's ISM).</summary>
    public DomainModel Base { get; }
    /// <summary>W: [d, textDim], trained; the text part of item i is W t_i.</summary>
    public Parameter Projection { get; }
    /// <summary>t: [numItems, textDim], fixed.</summary>
    public Tensor Features { get; }
    public override string Name => Base.Name + "+text";

    public const string ProjectionName = "text_projection";

    /// <summary>
    /// Wraps <paramref name="baseModel"/>. W starts at zero, so training starts from exactly the base
    /// model and W grows only as far as the text helps (its gradient, sum_i g_i t_i^T, is non-zero
    /// from the first step). <paramref name="initStd"/> > 0 draws it from Normal(0, initStd) instead.
    /// </summary>
    public TextAugmentedModel(DomainModel baseModel, Tensor features, double initStd = 0)
        : base(baseModel.Name + "+text", baseModel.Ism)
    {
        if (baseModel is TextAugmentedModel) throw new ArgumentException("the base model already has text features", nameof(baseModel));
        if (features.dim() != 2 || features.shape[0] != Ism.NumItems)
            throw new ArgumentException($"text features have shape [{string.Join(", ", features.shape)}]; expected [{Ism.NumItems}, dim] (one row per item)", nameof(features));
        Base = baseModel;
        var device = Ism.Items.device;
        Features = features.detach().to(ScalarType.Float32, device).contiguous();
        long textDim = features.shape[1];
        Projection = new Parameter(initStd > 0
            ? HeldOps.Normal(0, initStd, [Ism.Dim, textDim], device)
            : zeros(Ism.Dim, textDim, device: device));
        register_parameter(ProjectionName, Projection);
        register_buffer("text_features", Features, persistent: false);
    }

    /// <summary>E_i + W t: the item rows the base model's forward pass starts from.</summary>
    protected override Tensor EgoItems() => Ism.Items.Plus(nn.functional.linear(Features, Projection));

    public override (Tensor Users, Tensor Items) Propagate(Tensor egoUsers, Tensor egoItems) => Base.Propagate(egoUsers, egoItems);

    public override IReadOnlyDictionary<string, Tensor> OwnWeights() => new Dictionary<string, Tensor> { [ProjectionName] = Projection };
}
