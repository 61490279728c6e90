using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.IO;

namespace BridgeRec.Models;

/// <summary>
/// The DSM part of a model folder (file names in <see cref="ModelFolder"/>): <c>config.json</c> (the
/// <see cref="TrainConfig"/>, which rebuilds the split), <c>ism.safetensors</c> (the shared module of the DSM's best
/// epoch or round) and, for a DSM with weights of its own, <c>model.safetensors</c>. The LLM part is <see cref="LlmFolder"/>.
/// </summary>
public static class DsmFolder
{
    /// <summary>Writes a trained DSM's weights into a model folder (the shared module, then its own weights) so <see cref="Load"/> can read them.</summary>
    public static void SaveWeights(string outDir, TrainConfig config, DomainModel dsm, int bestEpoch)
    {
        Directory.CreateDirectory(outDir);
        dsm.Ism.Save(Path.Combine(outDir, ModelFolder.IsmFile), new Dictionary<string, string>
        {
            ["model"] = config.Model, ["best_epoch"] = bestEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        if (dsm.OwnWeights() is { Count: > 0 } own) SafeTensors.Save(Path.Combine(outDir, ModelFolder.OwnWeightsFile), own);
    }

    /// <summary>Reloads a model folder: its configuration, the same split, and the trained model.</summary>
    public static (TrainConfig Config, Split Split, IRecommender Model) Load(string modelDir)
    {
        string configPath = Path.Combine(modelDir, ModelFolder.ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"--model {modelDir}: no {ModelFolder.ConfigFile}; is this a folder written by 'bridgerec train'?", configPath);
        var config = TrainConfig.FromJsonFile(configPath);
        var split = DataSource.Load(config.Data);
        var train = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var model = DsmFactory.Build(config, split, train);
        if (model is DomainModel dsm)
        {
            string ism = Path.Combine(modelDir, ModelFolder.IsmFile);
            if (!File.Exists(ism)) throw new FileNotFoundException($"--model {modelDir}: no {ModelFolder.IsmFile} (training did not finish?)", ism);
            dsm.Ism.LoadFrom(ism);
            if (dsm.OwnWeights().Count > 0)
            {
                string path = Path.Combine(modelDir, ModelFolder.OwnWeightsFile);
                if (!File.Exists(path)) throw new FileNotFoundException($"--model {modelDir}: no {ModelFolder.OwnWeightsFile} ({config.Model} keeps weights beside the ISM)", path);
                var loaded = SafeTensors.Load(path);
                try { dsm.LoadOwnWeights(loaded, path); }
                finally { foreach (var t in loaded.Values) t.Dispose(); }
            }
            // A folder serves and tests with what the user did up to the test item: training + validation.
            dsm.UseHistories(Histories.Of(split, includeValidation: true));
        }
        return (config, split, model);
    }
}
