using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.SharedModule;

/// <summary>Where the shared item rows start, beside the random Normal(0, std) the module draws.</summary>
public static class ItemRowInit
{
    /// <summary>
    /// The item rows become the items' text embeddings [items, textDim] projected on their top <c>dim</c> principal
    /// components (after LLM-ESR, which starts its ID rows from a PCA of the LLM's item embeddings), scaled so the
    /// table's standard deviation is <paramref name="std"/>: items with similar text start close, so the DSM begins
    /// with what the language model knows. Where the text has fewer dimensions than the rows, the rest stay random.
    /// </summary>
    public static void TextPca(InformationSharingModule ism, Tensor text, double std)
    {
        if (text.dim() != 2 || text.shape[0] != ism.NumItems)
            throw new ArgumentException($"text embeddings have shape [{string.Join(", ", text.shape)}]; expected [{ism.NumItems}, dim]", nameof(text));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = text.to(ScalarType.Float64, ism.Items.device);
        var centred = x - x.mean([0], keepdim: true);
        var (_, _, vh) = linalg.svd(centred, fullMatrices: false);
        long k = Math.Min(ism.Dim, vh.shape[0]);
        var components = centred.matmul(vh.narrow(0, 0, k).t());
        double sd = components.std().item<double>();
        if (!(sd > 0)) throw new ArgumentException("the item text embeddings are all the same: nothing to initialise the item rows from", nameof(text));
        using var scale = (std / sd).ToScalar();
        ism.Items.narrow(1, 0, k).copy_(components.mul(scale).to(ism.Items.dtype));
    }
}
