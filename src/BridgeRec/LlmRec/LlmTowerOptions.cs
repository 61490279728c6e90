namespace BridgeRec.LlmRec;

/// <summary>
/// How the LLM recommender represents users and items beside the backbone (DESIGN.md section 1, "the method as we now
/// build it"). Each switch can be turned off on its own, for the ablation. A recommender built without these options
/// (null) is the first build's: ID rows of the shared module only, raw dot products, and the LLM phase writes the shared
/// tables.
/// </summary>
public sealed record LlmTowerOptions
{
    /// <summary>
    /// Private residual rows R_u, R_i (zero at the start) over the shared tables: the LLM reads E + R and trains only R,
    /// so its gradients never move the rows the DSM ranks with. Knowledge still flows both ways: the LLM reads the
    /// DSM's rows and both models distil from each other.
    /// </summary>
    public bool Residual { get; init; } = true;

    /// <summary>Item vectors add a trained projection (zero at the start) of the item's frozen sentence embedding, so an item is scored by its text as well as its row; items without interactions can be ranked.</summary>
    public bool ItemText { get; init; } = true;

    /// <summary>
    /// The query adds the user's own row (E_u + R_u), or with a sequential DSM its representation of the prompt's history,
    /// to A_out(h): the LLM starts from what the DSM knows of the user and learns from the prompt (order, text) what to
    /// change, instead of rebuilding the user's taste from scratch. (Before 2026-12-01 scoring left the skip out although
    /// training used it, so the validation trial that turned it off measured a mismatched model.)
    /// </summary>
    public bool UserSkip { get; init; }

    /// <summary>L2-normalised user and item vectors with logits divided by this temperature (UniSRec: 0.07); null: raw dot products.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? Temperature { get; init; } = 0.07;

    /// <summary>
    /// The LLM reads the DSM's final embeddings (LightGCN's after propagation) as its base rows instead of the shared
    /// module's ego rows: a frozen copy taken at the start of each LLM phase (and of one-way's training), with the private
    /// residual rows on top. With <see cref="UserSkip"/> and no temperature the LLM then starts at the DSM's own scores, as
    /// it does with SASRec. For MF the final rows are the ego rows. Needs <see cref="Residual"/> (the LLM trains its own
    /// rows, not the DSM's); SASRec's users are read through its copy instead, so it is refused there. Off by default:
    /// not written when false, so configs without it keep their run hash.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool DsmRows { get; init; }

    public void Validate()
    {
        if (Temperature is { } t && !(t > 0)) throw new ArgumentOutOfRangeException(nameof(Temperature), $"tower.temperature must be > 0 (got {t})");
        if (DsmRows && !Residual) throw new ArgumentException("tower.dsm_rows reads the DSM's final rows frozen, so the LLM trains its private rows over them: it needs tower.residual true");
    }
}
