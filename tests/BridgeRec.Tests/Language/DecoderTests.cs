using System.Text.Json;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Language;

/// <summary>
/// The decoders against tools/make_decoder_fixtures.py: tiny random GPT-2, Qwen2 (GQA, q/k/v bias, tied head,
/// vocabulary padded past the tokenizer) and LLaMA (GQA with one key/value head, untied head, BF16 in two shards)
/// written as Hugging Face folders with the logits a plain float64 PyTorch reference computes.
/// </summary>
public class DecoderTests
{
    public const double Tolerance = 1e-4;

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "decoders", name);

    public sealed record Expected(long[][] InputIds, long[][] AttentionMask, int[] GreedyPrompt, int[] GreedyTokens, TokenizerCase[] TokenizerCases);
    public sealed record TokenizerCase(string Text, int[] Ids);

    public static Expected ReadExpected(string name) =>
        JsonSerializer.Deserialize<Expected>(File.ReadAllText(Path.Combine(Fixture(name), "expected.json")),
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower })!;

    static Tensor ExpectedLogits(string name)
    {
        var t = SafeTensors.Load(Path.Combine(Fixture(name), "expected.safetensors"));
        return t["logits"];
    }

    static Tensor Ids(long[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);

    static double MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    public static TheoryData<string> Models => new() { "gpt2-tiny", "qwen2-tiny", "llama-tiny-bf16-sharded" };

    [Theory]
    [MemberData(nameof(Models))]
    public void LogitsMatchThePyTorchReference(string name)
    {
        using var scope = NewDisposeScope();
        var (model, _) = DecoderCheckpoint.Load(Fixture(name));
        var e = ReadExpected(name);
        var expected = ExpectedLogits(name);
        var mask = Ids(e.AttentionMask);
        using var _ = no_grad();
        var logits = model.Logits(model.Forward(Ids(e.InputIds), mask, null));
        Assert.Equal(expected.shape, logits.shape);
        var real = mask.to(ScalarType.Bool).unsqueeze(-1);
        double diff = MaxDiff(logits.masked_fill(real.logical_not(), Scalars.Of(0.0)), expected.masked_fill(real.logical_not(), Scalars.Of(0.0)));
        Assert.True(diff <= Tolerance, $"{name}: max |diff| {diff:E2}");
        // The nn.Module entry point gives the same logits for an unpadded row.
        int n = (int)e.AttentionMask[1].Sum();
        var row = model.forward(Ids([e.InputIds[1][..n]]));
        Assert.True(MaxDiff(row[0], expected[1].narrow(0, 0, n)) <= Tolerance);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void TheKvCacheGivesTheSameLogitsTokenByToken(string name)
    {
        using var scope = NewDisposeScope();
        var (model, _) = DecoderCheckpoint.Load(Fixture(name));
        var e = ReadExpected(name);
        var expected = ExpectedLogits(name);
        using var _ = no_grad();
        double worst = 0;
        // One row at a time: the first three tokens at once, then one by one.
        for (int r = 0; r < e.InputIds.Length; r++)
        {
            int n = (int)e.AttentionMask[r].Sum();
            using var cache = new KvCache(model.Config.Layers);
            for (int at = 0; at < n;)
            {
                int step = at == 0 ? 3 : 1;
                var ids = Ids([e.InputIds[r][at..(at + step)]]);
                var logits = model.Logits(model.Forward(ids, ones_like(ids), null, cache));
                worst = Math.Max(worst, MaxDiff(logits[0], expected[r].narrow(0, at, step)));
                at += step;
            }
            Assert.Equal(n, cache.Length);
        }
        // The padded batch in two chunks: the cache carries each row's mask.
        using (var cache = new KvCache(model.Config.Layers))
        {
            var ids = Ids(e.InputIds);
            var mask = Ids(e.AttentionMask);
            long s = ids.shape[1], first = s / 2;
            var a = model.Logits(model.Forward(ids.narrow(1, 0, first), mask.narrow(1, 0, first), null, cache));
            var b = model.Logits(model.Forward(ids.narrow(1, first, s - first), mask.narrow(1, first, s - first), null, cache));
            var all = cat([a, b], 1);
            var real = mask.to(ScalarType.Bool).unsqueeze(-1).logical_not();
            worst = Math.Max(worst, MaxDiff(all.masked_fill(real, Scalars.Of(0.0)), expected.masked_fill(real, Scalars.Of(0.0))));
        }
        Assert.True(worst <= Tolerance, $"{name}: max |diff| with the cache {worst:E2}");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void GreedyDecodingYieldsTheReferenceTokens(string name)
    {
        using var scope = NewDisposeScope();
        var (model, tokenizer) = DecoderCheckpoint.Load(Fixture(name));
        var e = ReadExpected(name);
        var result = TextGenerator.Generate(model, tokenizer, e.GreedyPrompt,
            new GenerationOptions { Temperature = 0, MaxNewTokens = e.GreedyTokens.Length, StopAtEos = false });
        Assert.Equal(e.GreedyTokens, result.Tokens);
        Assert.Equal("length", result.StopReason);
        // Without the cache (the whole sequence each step) the tokens are the same.
        var ids = e.GreedyPrompt.ToList();
        using var _ = no_grad();
        for (int k = 0; k < e.GreedyTokens.Length; k++)
        {
            var logits = model.forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count]));
            ids.Add((int)logits[0, -1].argmax().item<long>());
        }
        Assert.Equal(e.GreedyTokens, ids.Skip(e.GreedyPrompt.Length).ToArray());
    }

    [Fact]
    public void ConfigsOfEachFamilyAreRead()
    {
        var gpt2 = DecoderConfig.FromHuggingFaceJson(Path.Combine(Fixture("gpt2-tiny"), "config.json"));
        Assert.Equal(DecoderArchitecture.Gpt2, gpt2.Architecture);
        Assert.True(gpt2.TieWordEmbeddings);
        Assert.Equal(64, gpt2.Intermediate);
        var qwen = DecoderConfig.FromHuggingFaceJson(Path.Combine(Fixture("qwen2-tiny"), "config.json"));
        Assert.Equal((DecoderArchitecture.Qwen2, 4, 2, 8, 1e6, true), (qwen.Architecture, qwen.Heads, qwen.KvHeads, qwen.HeadDim, qwen.RopeTheta, qwen.QkvBias));
        var llama = DecoderConfig.FromHuggingFaceJson(Path.Combine(Fixture("llama-tiny-bf16-sharded"), "config.json"));
        Assert.Equal((DecoderArchitecture.Llama, 1, false, false), (llama.Architecture, llama.KvHeads, llama.TieWordEmbeddings, llama.QkvBias));
        using var model = DecoderModel.Create(llama);
        Assert.Equal(llama.ParameterCount(), model.TotalParameters());
        using var g = DecoderModel.Create(gpt2);
        Assert.Equal(gpt2.ParameterCount(), g.TotalParameters());
    }

    [Fact]
    public void AnUnsupportedArchitectureIsNamedWithTheSupportedOnes()
    {
        using var tmp = new TestData.TempDir();
        File.WriteAllText(tmp.File("config.json"), """{"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 8}""");
        var e = Assert.Throws<InvalidDataException>(() => DecoderCheckpoint.Load(tmp.Path));
        Assert.Contains("MistralForCausalLM", e.Message);
        Assert.Contains("GPT2LMHeadModel", e.Message);
        Assert.Contains("LlamaForCausalLM", e.Message);
        Assert.Contains("Qwen2ForCausalLM", e.Message);
    }

    /// <summary>A copy of the sharded fixture whose second shard is rewritten by <paramref name="edit"/>.</summary>
    static string EditedShardCopy(TestData.TempDir tmp, Action<Dictionary<string, Tensor>> edit)
    {
        string src = Fixture("llama-tiny-bf16-sharded");
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(tmp.Path, Path.GetFileName(f)));
        string shard = tmp.File("model-00002-of-00002.safetensors");
        var tensors = SafeTensors.Load(shard);
        edit(tensors);
        SafeTensors.Save(shard, tensors);
        return shard;
    }

    [Fact]
    public void AMissingTensorOrAWrongShapeNamesTheTensor()
    {
        using (var tmp = new TestData.TempDir())
        {
            string removed = "";
            EditedShardCopy(tmp, t => { removed = t.Keys.Order(StringComparer.Ordinal).Last(); t.Remove(removed); });
            var e = Assert.Throws<InvalidDataException>(() => DecoderCheckpoint.LoadModel(tmp.Path));
            Assert.Contains($"missing tensor '{removed}'", e.Message);
        }
        using (var tmp = new TestData.TempDir())
        {
            string bad = "";
            string shard = EditedShardCopy(tmp, t => { bad = t.Keys.Order(StringComparer.Ordinal).First(); t[bad] = zeros(3, 5); });
            var e = Assert.Throws<InvalidDataException>(() => DecoderCheckpoint.LoadModel(tmp.Path));
            Assert.Contains($"tensor '{bad}' has shape [3, 5], expected", e.Message);
            Assert.Contains(Path.GetFileName(shard), e.Message);
        }
        using (var tmp = new TestData.TempDir())
        {
            EditedShardCopy(tmp, t => t["model.layers.9.mlp.up_proj.weight"] = zeros(2));
            var e = Assert.Throws<InvalidDataException>(() => DecoderCheckpoint.LoadModel(tmp.Path));
            Assert.Contains("'model.layers.9.mlp.up_proj.weight' has no place", e.Message);
        }
        using (var tmp = new TestData.TempDir())
        {
            string src = Fixture("llama-tiny-bf16-sharded");
            foreach (var f in Directory.GetFiles(src).Where(f => Path.GetFileName(f) != "model-00002-of-00002.safetensors")) File.Copy(f, Path.Combine(tmp.Path, Path.GetFileName(f)));
            var e = Assert.Throws<FileNotFoundException>(() => DecoderCheckpoint.LoadModel(tmp.Path));
            Assert.True(e.Message.Contains("model-00002-of-00002.safetensors"), e.Message);
        }
    }

    [Fact]
    public void Bf16ShardsLoadAsTheirFloat32Values()
    {
        // Every weight of the BF16 fixture has zero low 16 bits once loaded: it was read as bfloat16, not rounded again.
        using var scope = NewDisposeScope();
        var model = DecoderCheckpoint.LoadModel(Fixture("llama-tiny-bf16-sharded"));
        foreach (var (name, p) in model.named_parameters())
        {
            using var c = p.detach().contiguous();
            var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(c.bytes);
            foreach (uint b in bits) Assert.True((b & 0xFFFF) == 0, name);
        }
    }
}
