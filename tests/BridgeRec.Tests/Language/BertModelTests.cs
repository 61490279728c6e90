using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Language;

public class BertModelTests
{
    static readonly BertConfig Tiny = new() { VocabSize = 40, Hidden = 16, Layers = 2, Heads = 4, Intermediate = 32, MaxPositions = 24 };

    static readonly string[] TinyVocab =
        ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", .. Enumerable.Range(0, 33).Select(i => "w" + i)];

    static BertModel RandomTiny(int seed, bool pooler = true)
    {
        manual_seed(seed);
        var m = new BertModel(Tiny, pooler);
        m.eval();
        return m;
    }

    [Fact]
    public void ParameterNamesAreHuggingFaces()
    {
        var names = RandomTiny(1).Weights().Keys.ToHashSet();
        foreach (string n in new[]
        {
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight",
            "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
            "encoder.layer.1.attention.self.query.weight", "encoder.layer.1.attention.self.key.bias", "encoder.layer.0.attention.self.value.weight",
            "encoder.layer.0.attention.output.dense.weight", "encoder.layer.0.attention.output.LayerNorm.bias",
            "encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.output.dense.bias", "encoder.layer.1.output.LayerNorm.weight",
            "pooler.dense.weight", "pooler.dense.bias",
        })
            Assert.Contains(n, names);
        Assert.Equal(5 + 2 * 16 + 2, names.Count);
    }

    [Fact]
    public void CheckpointFolderRoundTripsBitForBit()
    {
        using var tmp = new TestData.TempDir();
        var m = RandomTiny(2);
        BertCheckpoint.SaveDirectory(tmp.Path, m, TinyVocab);
        var (back, tok) = BertCheckpoint.LoadDirectory(tmp.Path);
        foreach (var (name, t) in m.Weights())
            Assert.True(equal(t, back.Weights()[name]).all().item<bool>(), name);
        var ids = tensor(new long[] { 4, 9, 10, 11, 5, 0, 4, 12, 5, 0, 0, 0 }, [2, 6]);
        var mask = ids.ne(Scalars.Of(0L)).to(ScalarType.Int64);
        using var _ = no_grad();
        Assert.True(equal(m.Forward(ids, mask), back.Forward(ids, mask)).all().item<bool>());
        Assert.Equal(40, tok.VocabSize);
    }

    [Fact]
    public void BrokenCheckpointsGiveClearErrors()
    {
        using var tmp = new TestData.TempDir();
        var m = RandomTiny(3);
        BertCheckpoint.SaveDirectory(tmp.Path, m, TinyVocab);
        string file = Path.Combine(tmp.Path, "model.safetensors");
        byte[] good = File.ReadAllBytes(file);

        // truncated data section
        File.WriteAllBytes(file, good[..(good.Length - 100)]);
        var e1 = Assert.Throws<InvalidDataException>(() => BertCheckpoint.LoadDirectory(tmp.Path));
        Assert.Contains("model.safetensors", e1.Message);
        Assert.Contains("truncated", e1.Message);

        // corrupt header: a length far beyond the file
        var bad = (byte[])good.Clone();
        BitConverter.GetBytes((ulong)good.Length * 4).CopyTo(bad, 0);
        File.WriteAllBytes(file, bad);
        var e2 = Assert.Throws<InvalidDataException>(() => BertCheckpoint.LoadDirectory(tmp.Path));
        Assert.Contains("corrupt safetensors header", e2.Message);

        // header JSON broken
        bad = (byte[])good.Clone();
        bad[9] = (byte)'#';
        File.WriteAllBytes(file, bad);
        Assert.Contains("corrupt safetensors header", Assert.Throws<InvalidDataException>(() => BertCheckpoint.LoadDirectory(tmp.Path)).Message);

        // shape mismatch: a checkpoint of a model with a different intermediate size under the same config
        File.WriteAllBytes(file, good);
        manual_seed(4);
        var other = new BertModel(Tiny with { Intermediate = 20 }, true);
        BridgeRec.IO.SafeTensors.Save(file, other.Weights());
        var e3 = Assert.Throws<InvalidDataException>(() => BertCheckpoint.LoadDirectory(tmp.Path));
        Assert.Contains("encoder.layer.0.intermediate.dense.weight", e3.Message);
        Assert.Contains("[20, 16]", e3.Message);

        // a missing tensor is named
        var partial = m.Weights();
        partial.Remove("encoder.layer.1.output.dense.bias");
        BridgeRec.IO.SafeTensors.Save(file, partial);
        Assert.Contains("missing tensor 'encoder.layer.1.output.dense.bias'",
            Assert.Throws<InvalidDataException>(() => BertCheckpoint.LoadDirectory(tmp.Path)).Message);
    }

    [Fact]
    public void OverridesReplaceWordEmbeddingsAtTheGivenPositionsOnly()
    {
        var m = RandomTiny(5, pooler: false);
        var ids = tensor(new long[] { 4, 1, 9, 5, 4, 10, 2, 5 }, [2, 4]);
        var mask = ones_like(ids);
        var v = randn(2, 16).requires_grad_();
        var over = new EmbeddingOverrides(tensor(new long[] { 0, 1 }), tensor(new long[] { 1, 2 }), v);
        var h = m.Forward(ids, mask, null, over);
        // Same as writing the vectors into the embedding table rows of two otherwise unused ids.
        using (no_grad())
        {
            var w = m.WordEmbeddings.weight!;
            w[1] = v[0]; w[2] = v[1];
            var plain = m.Forward(ids, mask);
            Assert.True(allclose(h, plain, 1e-5, 1e-6));
        }
        h.sum().backward();
        Assert.NotNull(v.grad);
        Assert.True(v.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void PaddingDoesNotChangeRealTokens()
    {
        var m = RandomTiny(6, pooler: false);
        using var _ = no_grad();
        var shortIds = tensor(new long[] { 4, 9, 10, 5 }, [1, 4]);
        var padded = tensor(new long[] { 4, 9, 10, 5, 0, 0, 0 }, [1, 7]);
        var a = m.Forward(shortIds, ones_like(shortIds));
        var b = m.Forward(padded, tensor(new long[] { 1, 1, 1, 1, 0, 0, 0 }, [1, 7]));
        Assert.True(allclose(a, b.narrow(1, 0, 4), 1e-5, 1e-6));
    }

    [Fact]
    public void LoraMergedEqualsUnmergedAndModesCountParameters()
    {
        var m = RandomTiny(7);
        long total = m.TotalParameters();
        Assert.Equal(0, m.SetTrainingMode(TrainingMode.Frozen));
        Assert.Equal(total, m.SetTrainingMode(TrainingMode.Full));
        long lora = m.SetTrainingMode(TrainingMode.Lora, new LoraOptions { Rank = 4, Alpha = 8 });
        Assert.Equal(2 /*layers*/ * 2 /*query, value*/ * (4 * 16 + 16 * 4), lora);
        // give the adapters non-zero B so they matter
        using (no_grad())
            foreach (var (name, p) in m.named_parameters())
                if (name.EndsWith("lora_B")) p.normal_(0, 0.5);
        var ids = tensor(new long[] { 4, 9, 10, 11, 5, 0 }, [1, 6]);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 0 }, [1, 6]);
        using var _ = no_grad();
        var before = m.Forward(ids, mask).clone();
        var baseQuery = m.Weights()["encoder.layer.0.attention.self.query.weight"].clone();
        m.MergeAdapters();
        var merged = m.Forward(ids, mask).clone();
        Assert.False(equal(baseQuery, m.Weights()["encoder.layer.0.attention.self.query.weight"]).all().item<bool>());
        m.UnmergeAdapters();
        var after = m.Forward(ids, mask);
        Assert.True((merged - before).abs().max().item<float>() <= 1e-5f);
        Assert.True((after - before).abs().max().item<float>() <= 1e-5f);
        Assert.True(allclose(baseQuery, m.Weights()["encoder.layer.0.attention.self.query.weight"], 1e-6, 1e-6));
    }

    [Fact]
    public void Bf16LinearsStayCloseToFp32AndTrainTheSameAdapters()
    {
        var m = RandomTiny(11);
        m.SetTrainingMode(TrainingMode.Lora, new LoraOptions { Rank = 4, Alpha = 8 });
        using (no_grad())
            foreach (var (name, p) in m.named_parameters())
                if (name.EndsWith("lora_B")) p.normal_(0, 0.5);
        var ids = tensor(new long[] { 4, 9, 10, 11, 5, 0, 4, 12, 13, 5, 0, 0 }, [2, 6]);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0 }, [2, 6]);

        // A fixed random read-out: the mean square of LayerNorm'd states is about 1 whatever the input, and has no gradient to compare.
        manual_seed(3);
        var readOut = randn(2, 6, 16);

        (Tensor Out, Tensor[] Grads) Run(string precision)
        {
            Precision.Apply(m, precision);
            foreach (var p in m.parameters()) p.grad?.zero_();
            var h = m.Forward(ids, mask);
            (h * readOut).sum().backward();
            var grads = m.named_parameters().Where(p => p.name.Contains("lora_")).Select(p => p.parameter.grad!.clone()).ToArray();
            return (h.detach().clone(), grads);
        }

        var (fp32, g32) = Run(Precision.Fp32);
        var (bf16, g16) = Run(Precision.Bf16);
        Assert.All(m.modules().OfType<AdaptableLinear>(), l => Assert.True(l.ComputeBf16));
        Assert.Equal(ScalarType.Float32, bf16.dtype);
        Assert.False(equal(fp32, bf16).all().item<bool>()); // the products did run in bf16
        // bf16 keeps 8 bits of mantissa: the hidden states (LayerNorm'd, about unit scale) agree to a few hundredths.
        Assert.True((fp32 - bf16).abs().max().item<float>() < 0.1f, $"max difference {(fp32 - bf16).abs().max().item<float>()}");
        for (int i = 0; i < g32.Length; i++)
        {
            Assert.Equal(ScalarType.Float32, g16[i].dtype);
            double cos = nn.functional.cosine_similarity(g32[i].flatten(), g16[i].flatten(), 0).item<float>();
            Assert.True(cos > 0.98, $"adapter gradient {i}: cosine {cos}");
        }
        Precision.Apply(m, null);
        Assert.All(m.modules().OfType<AdaptableLinear>(), l => Assert.False(l.ComputeBf16));
        Assert.Throws<ArgumentException>(() => Precision.Apply(m, "fp16"));
    }
}
