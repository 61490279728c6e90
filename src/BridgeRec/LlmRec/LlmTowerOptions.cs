namespace BridgeRec.LlmRec;

/// <summary>
/// How the LLM recommender represents users and items beside the backbone (DESIGN.md section 1, "the method as we now
/// build it"). Each switch can be turned off on its own, for the ablation; the defaults are the settings that lifted the
/// LLM side on every ranking dataset here (docs/results). A recommender built without these options (null) is the first
/// build's: ID rows of the shared module only, raw dot products, and the LLM phase writes the shared tables.
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
    /// training used it, so the validation trial that turned it off measured a mismatched model.) On by default since
    /// 2026-12-02: every config that lifted the LLM side (SASRec, dsm_rows; docs/results) ran with it.
    /// </summary>
    public bool UserSkip { get; init; } = true;

    /// <summary>
    /// L2-normalised user and item vectors with logits divided by this temperature (UniSRec: 0.07); null (the default
    /// since 2026-12-02; 0.07 before): raw dot products, so that with <see cref="UserSkip"/> the LLM starts at the DSM's
    /// own scores.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? Temperature { get; init; }

    /// <summary>
    /// The LLM reads the DSM's final embeddings (LightGCN's after propagation) as its base rows instead of the shared
    /// module's ego rows: a frozen copy taken at the start of each LLM phase (and of one-way's training), with the private
    /// residual rows on top. With <see cref="UserSkip"/> and no temperature the LLM then starts at the DSM's own scores, as
    /// it does with SASRec. For MF the final rows are the ego rows. Needs <see cref="Residual"/> (the LLM trains its own
    /// rows, not the DSM's); SASRec's users are read through its copy instead, so true is refused there.
    /// null (the default since 2026-12-02; off before): on wherever it applies, a LightGCN or MF DSM on ranking data
    /// with private rows (<see cref="ResolvedFor"/>); it lifted the LLM side on all four ranking datasets (docs/results).
    /// Configs resolve it before their run hash is taken, so a config without the key no longer shares a hash with runs
    /// made when it meant false.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public bool? DsmRows { get; init; }

    /// <summary>
    /// The tower with <see cref="DsmRows"/> decided: as set, or when unset on exactly where it applies: a DSM that has
    /// final rows to give (LightGCN, MF; not SASRec), ranking data, and private rows to train over them.
    /// </summary>
    public LlmTowerOptions ResolvedFor(bool dsmHasFinalRows) => DsmRows is not null ? this : this with { DsmRows = dsmHasFinalRows && Residual };

    /// <summary>
    /// The text-only LLM (llm-text) adds a per-item bias to its scores, started at log(1 + the item's training interactions)
    /// and trained with its adapters. Under softmax cross-entropy, log frequency is what a popularity-only model's logits
    /// are, so the baseline starts at popularity's ranking and learns from the text what to add. Only llm-text reads it:
    /// BDLM's LLM and one-way read the DSM's rows, which carry popularity. Items never in training (new items) get the
    /// bias of an item with no interactions, 0. Null (the default since 2026-12-02): decided by the protocol, on for ranking
    /// and off for click-through (<c>ExperimentConfig.TowerFor</c>); on ML-100K, book-crossing and anime it raised the
    /// text-only LLM's validation figure on every seed (docs/benchmarks.md). False: no bias, the text-only LLM as before;
    /// configs measured before spell it out, and it hashes as absent.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public bool? PopularityPrior { get; init; }

    /// <summary>
    /// The text-only LLM's (llm-text) learning rate for its adapters (the text projection, A_out and the prior's bias; its
    /// LoRA weights keep bdlm.lr_backbone). Null (the default): <see cref="TextOnlyLrWithPrior"/> when the popularity prior is
    /// on (<c>ExperimentConfig.TowerFor</c>), else bdlm.lr_adapters, BDLM's LLM's rate. BDLM's rates (1e-4) were chosen for an
    /// LLM that starts at the DSM's scores; the text-only LLM starts from its text alone. A rate equal to bdlm.lr_adapters
    /// hashes as absent.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? TextOnlyLr { get; init; }

    /// <summary>
    /// The text-only LLM's adapter rate with the popularity prior when <see cref="TextOnlyLr"/> is unset: the first build's
    /// 1e-3. With the prior it raised validation over 1e-4 on every seed of ML-100K, book-crossing and anime (docs/benchmarks.md).
    /// </summary>
    public const double TextOnlyLrWithPrior = 1e-3;

    /// <summary>The temperature of the text-only LLM (llm-text) when the tower has none: UniSRec's.</summary>
    public const double TextOnlyTemperature = 0.07;

    /// <summary>
    /// The tower as the text-only LLM (llm-text) reads it: raw dot products are the default so that the LLM starts at a
    /// DSM's scores, and the text-only LLM reads no DSM, so without a temperature it scores normalised vectors at
    /// <see cref="TextOnlyTemperature"/>, as it always has.
    /// </summary>
    public LlmTowerOptions ForTextOnly() => Temperature is null ? this with { Temperature = TextOnlyTemperature } : this;

    public void Validate()
    {
        if (Temperature is { } t && !(t > 0)) throw new ArgumentOutOfRangeException(nameof(Temperature), $"tower.temperature must be > 0 (got {t})");
        if (TextOnlyLr is { } lr && !(lr > 0)) throw new ArgumentOutOfRangeException(nameof(TextOnlyLr), $"tower.text_only_lr must be > 0 (got {lr})");
        if (DsmRows == true && !Residual) throw new ArgumentException("tower.dsm_rows reads the DSM's final rows frozen, so the LLM trains its private rows over them: it needs tower.residual true");
    }
}
