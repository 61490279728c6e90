using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using BridgeRec.Native;
using BridgeRec.SharedModule;

namespace BridgeRec.Models;

/// <summary>The DSM a <see cref="TrainConfig"/> names, fresh: what training starts from and what a model folder's weights are loaded into.</summary>
public static class DsmFactory
{
    /// <summary>A fresh model for the split (ISM initialised with the config's seed).</summary>
    public static IRecommender Build(TrainConfig config, Split split, UserItemIndex train)
    {
        config.Validate();
        if (config.Model == "pop") return new Popularity(train);
        var device = TorchRuntime.Device(config.Device);
        TorchRuntime.Seed(config.Train.Seed);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, config.Dim, initStd: config.InitStd, device: device);
        if (config.ItemInit == "text-pca")
        {
            using var text = TextFeatures.LoadOrCompute(split.Dataset, config.CacheDir);
            ItemRowInit.TextPca(ism, text, config.InitStd);
        }
        if (config.Model is "sasrec" or "sasrec+text")
        {
            using var text = config.Model == "sasrec+text" ? TextFeatures.LoadOrCompute(split.Dataset, config.CacheDir) : null;
            return new SasRec(ism, Histories.Of(split, includeValidation: false), config.Sasrec, text);
        }
        bool withText = config.Model.EndsWith("+text", StringComparison.Ordinal);
        DomainModel dsm = config.Model.StartsWith("mf", StringComparison.Ordinal)
            ? new MatrixFactorization(ism)
            : new LightGcn(ism, new NormalizedGraph(train), config.Layers);
        if (!withText) return dsm;
        using var features = TextFeatures.LoadOrCompute(split.Dataset, config.CacheDir);
        return new TextAugmentedModel(dsm, features);
    }

    /// <summary>The weights a fresh <see cref="Build"/> starts from (what stage 0 started from), as a state to restore; the model is freed. Re-seeds the global generator as Build does.</summary>
    public static DsmState InitialState(TrainConfig config, Split split, UserItemIndex train)
    {
        if (Build(config, split, train) is not DomainModel dsm)
            throw new ArgumentException($"dsm model '{config.Model}' has no weights to start from");
        using (dsm) return dsm.Snapshot();
    }
}
