namespace BridgeRec.IO;

/// <summary>
/// Every file name of a model folder, in one place. The DSM part: <c>config.json</c>, <c>ism.safetensors</c> (the
/// shared module as the DSM's best round left it), <c>model.safetensors</c> (a DSM's own weights, e.g. the text
/// projection of mf+text), <c>metrics.json</c> and the run's <c>checkpoints/</c>. The LLM part: <c>llm.json</c>
/// (written last: a folder with it is complete), <c>llm.safetensors</c> (every weight that trained) and
/// <c>llm-ism.safetensors</c> (the shared module as the LLM's best round left it).
/// </summary>
public sealed record ModelFolder(string Dir)
{
    public const string ConfigFile = "config.json", IsmFile = "ism.safetensors", OwnWeightsFile = "model.safetensors",
        MetricsFile = "metrics.json", CheckpointsDir = "checkpoints",
        LlmSpecFile = "llm.json", LlmWeightsFile = "llm.safetensors", LlmIsmFile = "llm-ism.safetensors";

    /// <summary>Inside <see cref="CheckpointsDir"/>: the best evaluated weights so far, and in each checkpoint the
    /// shared module (<see cref="IsmFile"/>), the DSM's own weights and the optimizer's state.</summary>
    public const string BestIsmFile = "best.safetensors", BestOwnFile = "best-own.safetensors",
        CheckpointOwnFile = "own.safetensors", OptimizerFile = "optimizer.safetensors";

    public string Config => Path.Combine(Dir, ConfigFile);
    public string Ism => Path.Combine(Dir, IsmFile);
    public string OwnWeights => Path.Combine(Dir, OwnWeightsFile);
    public string Metrics => Path.Combine(Dir, MetricsFile);
    public string Checkpoints => Path.Combine(Dir, CheckpointsDir);
    public string LlmSpec => Path.Combine(Dir, LlmSpecFile);
    public string LlmWeights => Path.Combine(Dir, LlmWeightsFile);
    public string LlmIsm => Path.Combine(Dir, LlmIsmFile);

    /// <summary>Whether the folder holds a complete LLM part.</summary>
    public bool HasLlm => File.Exists(LlmSpec);

    /// <summary>The field of metrics.json (written last, when a model is finished) that fingerprints the settings it was made with.</summary>
    public const string SettingsField = "settings_sha256";

    /// <summary>A fingerprint of a run's resolved settings (their JSON), as stored under <see cref="SettingsField"/>.</summary>
    public static string Fingerprint(params string[] settingsJson) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", settingsJson))));

    /// <summary>
    /// Refuses, before anything is written, to put a new model into a folder that holds a finished model made with
    /// other settings, unless <paramref name="overwrite"/>. The same settings again (a rerun, which reproduces the same
    /// model from the same seed) may write.
    /// </summary>
    public void EnsureMayWrite(string fingerprint, bool overwrite, string option = "--out")
    {
        if (overwrite || !File.Exists(Metrics)) return;
        string? saved = null, written = null;
        try
        {
            var metrics = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Metrics));
            saved = metrics?[SettingsField]?.GetValue<string>();
            written = metrics?["written_utc"]?.GetValue<string>();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            // unreadable metrics: treated as another model
        }
        if (saved == fingerprint) return;
        throw new InvalidOperationException(
            $"{option} {Dir} already holds a finished model{(written is null ? "" : $" (written {written})")} made with other settings; " +
            $"nothing was written. Choose another {option}, or pass --overwrite to replace it.");
    }
}
