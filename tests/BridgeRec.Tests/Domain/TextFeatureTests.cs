using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.SharedModule;
using BridgeRec.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Domain;

/// <summary>Frozen MiniLM item-text features and the DSM that adds a trained projection of them to its item rows.</summary>
public class TextFeatureTests
{
    static Dataset TinyDataset()
    {
        var users = new IdMap();
        var items = new IdMap();
        foreach (var u in new[] { "u1", "u2" }) users.GetOrAdd(u);
        foreach (var i in new[] { "m1", "m2", "m3", "m4", "m5" }) items.GetOrAdd(i);
        var texts = new ItemText?[]
        {
            ItemText.Of("Star Wars (1977)", ("genres", "Action, Sci-Fi")),
            ItemText.Of("Toy Story (1995)", ("genres", "Animation, Children's")),
            ItemText.Of("Star Wars (1977)", ("genres", "Action, Sci-Fi")), // same text as item 0
            null,                                                          // no text: embedded from its id
            ItemText.Of("Fargo (1996)"),
        };
        return new Dataset("tiny", users, items, new Interactions([0, 1], [0, 1]), texts);
    }

    [Fact]
    public void FeaturesAreComputedOnceThenLoadedFromTheCache()
    {
        using var cache = new TestData.TempDir();
        var d = TinyDataset();
        Assert.Equal("m4", TextFeatures.Texts(d)[3]);
        Assert.Equal("Fargo (1996)", TextFeatures.Texts(d)[4]);

        int progressCalls = 0, lastDone = -1;
        using var first = TextFeatures.LoadOrCompute(d, cache.Path, (done, total) => { progressCalls++; lastDone = done; Assert.Equal(5, total); });
        Assert.True(progressCalls > 0, "the first call computes, reporting progress");
        Assert.Equal(5, lastDone);
        string file = Assert.Single(Directory.GetFiles(cache.Path));
        Assert.Equal(TextFeatures.CachePath(TextFeatures.Texts(d), cache.Path), file);
        Assert.Matches(@"text-features-[0-9a-f]{16}\.safetensors$", file);
        var written = File.GetLastWriteTimeUtc(file);

        progressCalls = 0;
        using var second = TextFeatures.LoadOrCompute(d, cache.Path, (_, _) => progressCalls++);
        Assert.Equal(0, progressCalls); // loaded, not recomputed
        Assert.Equal(written, File.GetLastWriteTimeUtc(file));
        Assert.Single(Directory.GetFiles(cache.Path)); // no temporary left behind

        Assert.Equal([5L, 384L], first.shape);
        Assert.Equal(first.data<float>().ToArray(), second.data<float>().ToArray());
        var norms = first.norm(1).data<float>().ToArray();
        Assert.All(norms, n => Assert.InRange(n, 0.999f, 1.001f));
        // The same text gives the same row; different texts differ.
        Assert.True((first[0] - first[2]).abs().max().item<float>() < 1e-5f);
        Assert.True((first[0] - first[1]).abs().max().item<float>() > 1e-2f);
    }

    [Fact]
    public void CacheKeyDependsOnEveryText()
    {
        Assert.Equal(TextFeatures.CacheKey(["a", "b"]), TextFeatures.CacheKey(["a", "b"]));
        Assert.NotEqual(TextFeatures.CacheKey(["a", "b"]), TextFeatures.CacheKey(["a", "c"]));
        Assert.NotEqual(TextFeatures.CacheKey(["ab", ""]), TextFeatures.CacheKey(["a", "b"]));
        Assert.NotEqual(TextFeatures.CacheKey(["a"]), TextFeatures.CacheKey(["a", ""]));
    }

    /// <summary>
    /// The encoder is part of the key. MiniLM's key is the one written before there was a choice of encoder (the
    /// same bytes hashed: "all-MiniLM-L6-v2", max_length, item count, length-prefixed texts), so existing caches stay valid.
    /// </summary>
    [Fact]
    public void CacheKeyDependsOnTheEncoderAndKeepsMiniLmsKeys()
    {
        string[] texts = ["a", "b"];
        Assert.Equal("bd56db9a0364dc56", TextFeatures.CacheKey(texts)); // SHA-256 of the bytes above, computed outside .NET
        Assert.Equal(TextFeatures.CacheKey(texts), TextFeatures.CacheKey(texts, EmbeddedEncoder.MiniLm));
        Assert.Equal("0c2d7886f0c11a6d", TextFeatures.CacheKey(texts, EmbeddedEncoder.ArcticXs));
        Assert.Equal(Path.Combine("c", "text-features-bd56db9a0364dc56.safetensors"), TextFeatures.CachePath(texts, "c"));
    }

    /// <summary>Arctic-embed-xs features: their own cache file beside MiniLM's, [CLS]-pooled unit rows, not MiniLM's numbers.</summary>
    [Fact]
    public void ArcticFeaturesAreCachedApartFromMiniLms()
    {
        using var cache = new TestData.TempDir();
        var d = TinyDataset();
        var arctic = EmbeddedEncoder.ArcticXs;
        using var minilm = TextFeatures.LoadOrCompute(d, cache.Path);
        using var features = TextFeatures.LoadOrCompute(d, cache.Path, encoder: arctic);
        Assert.Equal(2, Directory.GetFiles(cache.Path).Length);
        string file = TextFeatures.CachePath(TextFeatures.Texts(d), cache.Path, arctic);
        Assert.True(File.Exists(file));
        Assert.Equal("snowflake-arctic-embed-xs", SafeTensors.ReadHeader(file).Metadata["backbone"]);
        Assert.Equal([5L, 384L], features.shape);
        Assert.True((features - minilm).abs().max().item<float>() > 1e-2f);

        var (model, tok) = BertCheckpoint.ArcticXs();
        using (model)
        using (no_grad())
        {
            var (ids, mask, types) = tok.EncodeBatch([TextFeatures.Texts(d)[1]], TextFeatures.MaxLength).ToTensors();
            var h = model.Forward(ids, mask, types);
            var cls = nn.functional.normalize(BertModel.ClsPool(h), p: 2, dim: 1);
            Assert.True((features[1] - cls[0]).abs().max().item<float>() < 1e-5f);
        }
        using var again = TextFeatures.LoadOrCompute(d, cache.Path, (_, _) => Assert.Fail("recomputed"), arctic);
        Assert.Equal(features.data<float>().ToArray(), again.data<float>().ToArray());
    }

    /// <summary>A tiny MF+text model with made-up features and a non-zero projection.</summary>
    static (TextAugmentedModel Model, Tensor Features) TinyMfText(int users = 3, int items = 5, int dim = 4, int textDim = 6)
    {
        manual_seed(7);
        var ism = new InformationSharingModule(users, items, dim);
        var features = randn(items, textDim);
        var model = new TextAugmentedModel(new MatrixFactorization(ism), features);
        using (no_grad()) model.Projection.copy_(randn(dim, textDim).mul_(Scalars.Of(0.3)));
        return (model, features);
    }

    [Fact]
    public void MfScoresAreUsersTimesItemsPlusProjectedText()
    {
        var (model, t) = TinyMfText();
        Assert.Equal("mf+text", model.Name);
        var u = model.Ism.Users.detach();
        var i = model.Ism.Items.detach();
        var w = model.Projection.detach();
        var expected = u.matmul(i.Plus(t.matmul(w.t())).t());
        var scores = model.ScoreAll([0, 1, 2]);
        Assert.Equal([3L, 5L], scores.shape);
        Assert.True(allclose(scores, expected, rtol: 1e-5, atol: 1e-6), "ScoreAll must be U (I + W t)^T");
        // Order of users follows the request.
        Assert.True(allclose(model.ScoreAll([2, 0]), expected.index_select(0, tensor(new long[] { 2, 0 })), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void GradientReachesTheProjectionAndTheSharedModule()
    {
        var (model, _) = TinyMfText();
        // The optimizer sees the ISM tables and W, each once (the wrapped base model is not a submodule).
        var ps = model.parameters().ToList();
        Assert.Equal(3, ps.Count);
        Assert.Contains(ps, p => ReferenceEquals(p, model.Projection));
        Assert.Contains(ps, p => ReferenceEquals(p, model.Ism.Users));
        Assert.Contains(ps, p => ReferenceEquals(p, model.Ism.Items));

        var (loss, _) = model.BprLoss(tensor(new long[] { 0, 1, 2 }), tensor(new long[] { 0, 1, 2 }), tensor(new long[] { 3, 4, 3 }), l2: 1e-2);
        loss.backward();
        foreach (var p in new[] { model.Projection, model.Ism.Users, model.Ism.Items })
            Assert.True(p.grad is { } g && g.abs().sum().item<float>() > 0, "every parameter gets a gradient");
    }

    [Fact]
    public void ZeroInitialProjectionStartsFromTheBaseModelAndStillLearns()
    {
        manual_seed(3);
        var ism = new InformationSharingModule(3, 5, 4);
        var plain = new MatrixFactorization(ism);
        var withText = new TextAugmentedModel(plain, randn(5, 6));
        Assert.Equal(0f, withText.Projection.abs().sum().item<float>());
        Assert.True(allclose(withText.ScoreAll([0, 1, 2]), plain.ScoreAll([0, 1, 2])));
        var (loss, _) = withText.BprLoss(tensor(new long[] { 0, 1 }), tensor(new long[] { 0, 1 }), tensor(new long[] { 2, 3 }), l2: 0);
        loss.backward();
        Assert.True(withText.Projection.grad!.abs().sum().item<float>() > 0, "W = 0 still gets a gradient: sum_i g_i t_i^T");
    }

    [Fact]
    public void LightGcnPropagatesFromTheAugmentedItemRows()
    {
        manual_seed(5);
        int users = 3, items = 4;
        var train = new UserItemIndex(users, items, new Interactions([0, 0, 1, 2, 2], [0, 1, 1, 2, 3]));
        var graph = new NormalizedGraph(train);
        var ism = new InformationSharingModule(users, items, 4);
        var features = randn(items, 6);
        var model = new TextAugmentedModel(new LightGcn(ism, graph, layers: 2), features);
        Assert.Equal("lightgcn+text", model.Name);
        using (no_grad()) model.Projection.copy_(randn(4, 6).mul_(Scalars.Of(0.3)));

        // Reference: a plain LightGCN whose ISM item table holds I + W t.
        var reference = new InformationSharingModule(users, items, 4);
        using (no_grad())
        {
            reference.Users.copy_(ism.Users);
            reference.Items.copy_(ism.Items.Plus(features.matmul(model.Projection.t())));
        }
        var expected = new LightGcn(reference, graph, layers: 2).ScoreAll([0, 1, 2]);
        Assert.True(allclose(model.ScoreAll([0, 1, 2]), expected, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void RejectsFeaturesWithTheWrongNumberOfRows()
    {
        var ism = new InformationSharingModule(2, 5, 4);
        Assert.Throws<ArgumentException>(() => new TextAugmentedModel(new MatrixFactorization(ism), zeros(4, 384)));
    }

    [Fact]
    public void PipelineAcceptsTheTextModels()
    {
        new TrainConfig { Model = "mf+text" }.Validate();
        new TrainConfig { Model = "lightgcn+text" }.Validate();
        Assert.Throws<ArgumentException>(() => new TrainConfig { Model = "pop+text" }.Validate());
        Assert.False(string.IsNullOrEmpty(new TrainConfig().CacheDir));
    }

    [Fact]
    public void MfTextTrainsOnMl100kLeaveOneOutAndReloads()
    {
        using var cache = new TestData.TempDir();
        using var run = new TestData.TempDir();
        var config = new TrainConfig
        {
            Data = new DataConfig
            {
                Path = Path.Combine(TestData.Benchmarks, "ml-100k", "loo"),
                Format = "ml100k-bench",
                Items = Path.Combine(TestData.Root, "movielens-100k"),
            },
            Model = "mf+text",
            Ks = [10],
            CacheDir = cache.Path,
            Train = new DsmOptions { Epochs = 4, Lr = 0.001, L2 = 1e-2, EvalEvery = 2, Patience = 0, Monitor = "hr@10" },
        };
        var split = DataSource.Load(config.Data);
        var (train, test, model) = DsmPipeline.Run(config, split, run.Path, resume: false);
        Assert.IsType<TextAugmentedModel>(model);
        Assert.NotNull(train);
        Assert.Equal(2, train.History.Count);
        Assert.True(train.BestMetrics["hr@10"] > 0, "validation metrics are computed");
        Assert.True(test["hr@10"] > 0);
        Assert.Single(Directory.GetFiles(cache.Path, "text-features-*.safetensors"));
        Assert.True(((TextAugmentedModel)model).Projection.abs().sum().item<float>() > 0, "W was trained");

        // The model folder holds W beside the ISM, and loading it gives the same scores.
        Assert.True(File.Exists(Path.Combine(run.Path, ModelFolder.OwnWeightsFile)));
        var (_, _, reloaded) = DsmFolder.Load(run.Path);
        Assert.True(allclose(reloaded.ScoreAll([0, 1, 2]), model.ScoreAll([0, 1, 2]), rtol: 1e-5, atol: 1e-5));
    }
}
