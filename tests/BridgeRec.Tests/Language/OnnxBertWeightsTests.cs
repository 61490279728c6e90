using System.Diagnostics;
using BridgeRec.Language;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Language;

/// <summary>Reads and maps the real 90 MB MiniLM model once for all tests of the class.</summary>
public sealed class MiniLmOnnxFixture : IDisposable
{
    public OnnxModel Model { get; }
    public OnnxBertWeights.Plan Plan { get; }
    public Dictionary<string, Tensor> Weights { get; }
    public TimeSpan ReadTime { get; }
    public TimeSpan MapTime { get; }

    public MiniLmOnnxFixture()
    {
        var watch = Stopwatch.StartNew();
        using (var stream = MiniLmResources.OpenModel()) Model = OnnxModel.Read(stream, MiniLmResources.ModelResource);
        ReadTime = watch.Elapsed;
        watch.Restart();
        Plan = OnnxBertWeights.MakePlan(Model);
        Weights = OnnxBertWeights.Build(Plan, Model.Initializers);
        MapTime = watch.Elapsed;
    }

    public void Dispose()
    {
        foreach (var t in Weights.Values) t.Dispose();
    }
}

public class OnnxBertWeightsTests(MiniLmOnnxFixture real, ITestOutputHelper output) : IClassFixture<MiniLmOnnxFixture>
{
    const int Layers = 6;

    /// <summary>
    /// The initializers of the MiniLM export that are not parameters: the position-ids buffer, the
    /// two Slice bounds applied to it, and per layer seven INT64 [1] constants that Concat joins into
    /// the attention reshapes' shapes (12 heads, 32 per head, 384 hidden).
    /// </summary>
    static readonly string[] RealNonParameters =
    [
        "embeddings.position_ids", "925", "926",
        "929", "930", "932", "933", "934", "935", "936",
        "942", "943", "945", "946", "947", "948", "949",
        "955", "956", "958", "959", "960", "961", "962",
        "968", "969", "971", "972", "973", "974", "975",
        "981", "982", "984", "985", "986", "987", "988",
        "994", "995", "997", "998", "999", "1000", "1001",
    ];

    [Fact]
    public void TheEmbeddedModelParses()
    {
        var m = real.Model;
        output.WriteLine($"read {real.ReadTime.TotalMilliseconds:F0} ms, map + build tensors {real.MapTime.TotalMilliseconds:F0} ms");
        Assert.Equal("pytorch", m.ProducerName);
        Assert.Equal(148, m.Initializers.Count);
        Assert.Equal(148, m.InitializerOrder.Count);
        Assert.Equal(650, m.Nodes.Count);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], m.InputNames);
        Assert.Contains("last_hidden_state", m.OutputNames);
        Assert.Equal(36 + 12, m.Nodes.Count(n => n.OpType == "MatMul")); // 36 Linear + 12 attention products
        var word = m.Initializers["embeddings.word_embeddings.weight"];
        Assert.Equal(OnnxDataType.Float, word.DataType);
        Assert.Equal([30522L, 384L], word.Dims);
        Assert.Equal(30522 * 384, word.Data.Length);
        Assert.All(m.Initializers.Values.Where(t => t.DataType == OnnxDataType.Float), t => Assert.Equal(t.ElementCount, t.Data.Length));
        var pooler = m.Nodes.Single(n => n.OpType == "Gemm");
        Assert.Equal(1L, pooler.IntAttributes["transB"]);
    }

    [Fact]
    public void EveryParameterOfSixLayersHasItsShape()
    {
        var c = real.Plan.Config;
        Assert.Equal(new BertConfig { VocabSize = 30522, Hidden = 384, Layers = 6, Heads = 12, Intermediate = 1536, MaxPositions = 512, TypeVocabSize = 2, LayerNormEps = 1e-12 }, c);
        Assert.True(real.Plan.HasPooler);
        var w = real.Weights;
        Assert.Equal(5 + 16 * Layers + 2, w.Count);
        Assert.Equal([30522L, 384L], w["embeddings.word_embeddings.weight"].shape);
        Assert.Equal([512L, 384L], w["embeddings.position_embeddings.weight"].shape);
        Assert.Equal([2L, 384L], w["embeddings.token_type_embeddings.weight"].shape);
        Assert.Equal([384L], w["embeddings.LayerNorm.weight"].shape);
        for (int l = 0; l < Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            foreach (string x in new[] { "query", "key", "value" })
            {
                Assert.Equal([384L, 384L], w[$"{p}attention.self.{x}.weight"].shape);
                Assert.Equal([384L], w[$"{p}attention.self.{x}.bias"].shape);
            }
            Assert.Equal([384L, 384L], w[$"{p}attention.output.dense.weight"].shape);
            Assert.Equal([384L], w[$"{p}attention.output.LayerNorm.bias"].shape);
            Assert.Equal([1536L, 384L], w[$"{p}intermediate.dense.weight"].shape);
            Assert.Equal([1536L], w[$"{p}intermediate.dense.bias"].shape);
            Assert.Equal([384L, 1536L], w[$"{p}output.dense.weight"].shape);
            Assert.Equal([384L], w[$"{p}output.LayerNorm.weight"].shape);
        }
        Assert.Equal([384L, 384L], w["pooler.dense.weight"].shape);
        foreach (var (name, t) in w)
        {
            Assert.Equal(ScalarType.Float32, t.dtype);
            Assert.True(t.is_contiguous(), $"{name} is not contiguous");
        }
        Assert.Equal(OnnxBertWeights.ExpectedShapes(c, withPooler: true).Keys.Order(), w.Keys.Order());
    }

    [Fact]
    public void MatMulWeightsAreTheTransposedInitializers()
    {
        var transposed = real.Plan.Entries.Where(e => e.Transposed).ToList();
        Assert.Equal(36, transposed.Count);
        Assert.Equal(36, transposed.Select(e => e.Initializer).Distinct().Count());
        Assert.All(transposed, e => Assert.EndsWith(".weight", e.Parameter));
        Assert.All(transposed, e => Assert.Matches(@"^\d+$", e.Initializer)); // this export's generated names
        foreach (var e in transposed)
        {
            var src = real.Model.Initializers[e.Initializer];
            var w = real.Weights[e.Parameter];
            Assert.Equal([src.Dims[1], src.Dims[0]], w.shape);
            using var stored = tensor(src.Data, src.Dims);
            using var same = equal(stored.t(), w).all();
            Assert.True(same.item<bool>(), $"{e.Parameter} != transpose of {e.Initializer}");
            // Element by element on one value too: W[out, in] == stored[in, out].
            long o = src.Dims[1] - 1, i = src.Dims[0] / 3;
            Assert.Equal(src.Data[i * src.Dims[1] + o], w[o, i].item<float>());
        }
        // The graph ties each weight to its bias: the first layer's query weight feeds the Add with the query bias.
        string q = transposed.Single(e => e.Parameter == "encoder.layer.0.attention.self.query.weight").Initializer;
        var mm = real.Model.Nodes.Single(n => n.OpType == "MatMul" && n.Inputs.Contains(q));
        var add = real.Model.Nodes.Single(n => n.OpType == "Add" && n.Inputs.Contains(mm.Outputs[0]));
        Assert.Contains("encoder.layer.0.attention.self.query.bias", add.Inputs);
        // Named tensors are copied unchanged.
        var ln = real.Model.Initializers["encoder.layer.2.output.LayerNorm.weight"];
        Assert.Equal(ln.Data, real.Weights["encoder.layer.2.output.LayerNorm.weight"].data<float>().ToArray());
        var pw = real.Model.Initializers["pooler.dense.weight"];
        Assert.Equal(pw.Data, real.Weights["pooler.dense.weight"].data<float>().ToArray());
    }

    [Fact]
    public void TheNonParametersAreExactlyTheKnownConstants()
    {
        var names = real.Plan.NonParameters.Select(n => n.Initializer).ToList();
        foreach (var (name, reason) in real.Plan.NonParameters) output.WriteLine($"{name}: {reason}");
        Assert.Equal(RealNonParameters.Order(), names.Order());
        Assert.Equal(148, real.Plan.Entries.Count + names.Count);
    }

    [Fact]
    public void AMissingBiasIsAnErrorNamingTheWeight()
    {
        var inits = real.Model.Initializers.Where(kv => kv.Key != "encoder.layer.3.attention.self.query.bias").ToDictionary();
        var e = Assert.Throws<InvalidDataException>(() => OnnxBertWeights.MakePlan(real.Model.Nodes, inits));
        output.WriteLine(e.Message);
        Assert.Contains("feeds MatMul", e.Message);
        Assert.Contains("'.bias'", e.Message);
    }

    [Fact]
    public void AMissingParameterIsAnErrorNamingIt()
    {
        const string gone = "encoder.layer.4.attention.output.LayerNorm.weight";
        var inits = real.Model.Initializers.Where(kv => kv.Key != gone).ToDictionary();
        var e = Assert.Throws<InvalidDataException>(() => OnnxBertWeights.MakePlan(real.Model.Nodes, inits));
        Assert.Contains($"parameter '{gone}'", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void HeadsMustDivideTheHiddenSize()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxBertWeights.MakePlan(real.Model, heads: 5));
        Assert.Contains("384", e.Message);
        Assert.Equal(6, OnnxBertWeights.MakePlan(real.Model, heads: 6).Config.Heads);
    }

    [Fact]
    public void ConfigCanBeInferredFromAStateDict()
    {
        var c = OnnxBertWeights.InferConfig(real.Weights);
        Assert.Equal(real.Plan.Config, c);
    }

    // --- a tiny synthetic BERT graph written with our own protobuf writer ---

    const int V = 10, H = 4, I = 8, P = 6, T = 2;

    static ProtoWriter FloatTensor(string name, long[] dims, float seed, bool packed = false)
    {
        long n = dims.Aggregate(1L, (a, d) => a * d);
        var values = Enumerable.Range(0, (int)n).Select(k => seed + k * 0.01f).ToArray();
        var t = new ProtoWriter();
        if (packed) t.PackedInt64(1, dims); else foreach (long d in dims) t.Int(1, d);
        t.Int(2, 1).String(8, name);
        if (packed) t.PackedFloats(4, values);
        else
        {
            var raw = new byte[values.Length * 4];
            Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
            t.Bytes(9, raw);
        }
        return t;
    }

    static ProtoWriter Int64Tensor(string name, long[] dims, long[] values)
    {
        var t = new ProtoWriter();
        foreach (long d in dims) t.Int(1, d);
        return t.Int(2, 7).String(8, name).PackedInt64(7, values);
    }

    static ProtoWriter Node(string op, string name, string[] inputs, string[] outputs)
    {
        var n = new ProtoWriter();
        foreach (string i in inputs) n.String(1, i);
        foreach (string o in outputs) n.String(2, o);
        return n.String(3, name).String(4, op);
    }

    /// <summary>
    /// A one-layer BERT laid out as PyTorch exports it: named embeddings, LayerNorms and biases,
    /// Linear weights as numbered [in, out] initializers feeding MatMul -> Add(bias), a position-ids
    /// buffer and an INT64 shape constant read by Concat.
    /// </summary>
    internal static ProtoWriter TinyBert(string? drop = null, Action<ProtoWriter, ProtoWriter>? extra = null)
    {
        var g = new ProtoWriter();
        var inits = new List<ProtoWriter>();
        void Init(string name, ProtoWriter t) { if (name != drop) inits.Add(t); }
        Init("embeddings.word_embeddings.weight", FloatTensor("embeddings.word_embeddings.weight", [V, H], 1));
        Init("embeddings.position_embeddings.weight", FloatTensor("embeddings.position_embeddings.weight", [P, H], 2, packed: true));
        Init("embeddings.token_type_embeddings.weight", FloatTensor("embeddings.token_type_embeddings.weight", [T, H], 3));
        Init("embeddings.LayerNorm.weight", FloatTensor("embeddings.LayerNorm.weight", [H], 4));
        Init("embeddings.LayerNorm.bias", FloatTensor("embeddings.LayerNorm.bias", [H], 5));
        Init("embeddings.position_ids", Int64Tensor("embeddings.position_ids", [1, P], Enumerable.Range(0, P).Select(x => (long)x).ToArray()));
        Init("900", Int64Tensor("900", [1], [2]));
        g.Message(1, Node("Concat", "Concat_1", ["900", "900"], ["shape"]));
        var linears = new (string Module, long In, long Out)[]
        {
            ("attention.self.query", H, H), ("attention.self.key", H, H), ("attention.self.value", H, H),
            ("attention.output.dense", H, H), ("intermediate.dense", H, I), ("output.dense", I, H),
        };
        int id = 100;
        float seed = 10;
        foreach (var (module, inF, outF) in linears)
        {
            string bias = $"encoder.layer.0.{module}.bias", weight = (id++).ToString();
            Init(bias, FloatTensor(bias, [outF], seed++));
            Init(weight, FloatTensor(weight, [inF, outF], seed++, packed: module == "intermediate.dense"));
            g.Message(1, Node("MatMul", $"MatMul_{weight}", ["x", weight], [$"mm_{weight}"]));
            g.Message(1, Node("Add", $"Add_{weight}", [bias, $"mm_{weight}"], [$"y_{weight}"])); // bias first, as PyTorch writes it
        }
        foreach (string ln in new[] { "attention.output.LayerNorm", "output.LayerNorm" })
        {
            Init($"encoder.layer.0.{ln}.weight", FloatTensor($"encoder.layer.0.{ln}.weight", [H], seed++));
            Init($"encoder.layer.0.{ln}.bias", FloatTensor($"encoder.layer.0.{ln}.bias", [H], seed++));
        }
        foreach (var t in inits) g.Message(5, t);
        g.Message(11, new ProtoWriter().String(1, "input_ids"));
        g.Message(12, new ProtoWriter().String(1, "last_hidden_state"));
        var model = new ProtoWriter().Int(1, 7).String(2, "test");
        extra?.Invoke(model, g);
        return model.Message(8, new ProtoWriter().Int(2, 13)).Message(7, g);
    }

    [Fact]
    public void TinyGraphMapsEveryParameter()
    {
        var model = OnnxModel.Parse(TinyBert().ToArray(), "tiny.onnx");
        Assert.Equal(13L, model.OpsetImports[""]);
        Assert.Equal(["input_ids"], model.InputNames);
        var plan = OnnxBertWeights.MakePlan(model, heads: 2);
        Assert.Equal(new BertConfig { VocabSize = V, Hidden = H, Layers = 1, Heads = 2, Intermediate = I, MaxPositions = P, TypeVocabSize = T }, plan.Config);
        Assert.False(plan.HasPooler);
        Assert.Equal(["900", "embeddings.position_ids"], plan.NonParameters.Select(n => n.Initializer).Order());
        var w = OnnxBertWeights.Build(plan, model.Initializers);
        try
        {
            Assert.Equal(5 + 16, w.Count);
            Assert.Equal([(long)I, H], w["encoder.layer.0.intermediate.dense.weight"].shape);
            Assert.Equal([(long)H, I], w["encoder.layer.0.output.dense.weight"].shape);
            // "104" is intermediate.dense's [in=4, out=8] weight (packed float_data): W[o, i] = stored[i, o].
            var stored = model.Initializers["104"].Data;
            var inter = w["encoder.layer.0.intermediate.dense.weight"];
            for (int o = 0; o < I; o++)
                for (int i = 0; i < H; i++)
                    Assert.Equal(stored[i * I + o], inter[o, i].item<float>());
            Assert.Equal(2f + 5 * 0.01f, w["embeddings.position_embeddings.weight"][1, 1].item<float>(), 6);
        }
        finally { foreach (var t in w.Values) t.Dispose(); }
    }

    static ProtoWriter ConstantNode(string output, ProtoWriter tensor) =>
        Node("Constant", "Constant_" + output, [], [output]).Message(5, new ProtoWriter().String(1, "value").Message(5, tensor).Int(20, 4));

    /// <summary>TinyBert plus an attention reshape of the query to [batch, seq, heads, size] and a spelled-out embeddings LayerNorm with epsilon 1e-5, as Constant nodes.</summary>
    static byte[] TinyBertWithReshape(long heads, long size) => TinyBert(extra: (_, g) =>
    {
        g.Message(1, ConstantNode("heads", Int64Tensor("", [1], [heads])));
        g.Message(1, ConstantNode("head_size", Int64Tensor("", [1], [size])));
        g.Message(1, Node("Concat", "Concat_q", ["batch", "seq", "heads", "head_size"], ["q_shape"]));
        g.Message(1, Node("Reshape", "Reshape_q", ["y_100", "q_shape"], ["q_heads"])); // y_100: the query's Add
        g.Message(1, ConstantNode("eps", new ProtoWriter().Int(2, 1).PackedFloats(4, [1e-5f]))); // a float scalar
        g.Message(1, Node("Add", "LayerNorm_Add", ["variance", "eps"], ["variance_eps"]));
        g.Message(1, Node("Sqrt", "LayerNorm_Sqrt", ["variance_eps"], ["std"]));
        g.Message(1, Node("Div", "LayerNorm_Div", ["centered", "std"], ["normed"]));
        g.Message(1, Node("Mul", "LayerNorm_Mul", ["normed", "embeddings.LayerNorm.weight"], ["scaled"]));
    }).ToArray();

    /// <summary>
    /// Heads and LayerNorm epsilon are read from the graph's nodes (the newer exporter writes their constants as
    /// Constant nodes, whose tensors the reader keeps); a graph with nothing to read them from needs heads given.
    /// </summary>
    [Fact]
    public void HeadsAndLayerNormEpsAreReadFromTheGraph()
    {
        var model = OnnxModel.Parse(TinyBertWithReshape(heads: 2, size: 2), "tiny.onnx");
        Assert.Equal([2L], model.Nodes.Single(n => n.Name == "Constant_heads").TensorAttributes["value"].Int64Data);
        Assert.Equal([1e-5f], model.Nodes.Single(n => n.Name == "Constant_eps").TensorAttributes["value"].Data);
        Assert.Equal((2, 2), OnnxBertWeights.ReadAttentionHeads(model.Nodes, model.Initializers));
        Assert.Equal(1e-5, OnnxBertWeights.ReadLayerNormEps(model.Nodes, model.Initializers));
        var plan = OnnxBertWeights.MakePlan(model);
        Assert.Equal(2, plan.Config.Heads);
        Assert.Equal(1e-5, plan.Config.LayerNormEps);
        Assert.Equal(4, OnnxBertWeights.MakePlan(model, heads: 4).Config.Heads); // given heads win

        var bare = OnnxModel.Parse(TinyBert().ToArray());
        Assert.Null(OnnxBertWeights.ReadAttentionHeads(bare.Nodes, bare.Initializers));
        Assert.Null(OnnxBertWeights.ReadLayerNormEps(bare.Nodes, bare.Initializers));
        var e = Assert.Throws<InvalidDataException>(() => OnnxBertWeights.MakePlan(bare));
        Assert.Contains("attention heads could not be read", e.Message);
        Assert.Equal(1e-12, OnnxBertWeights.MakePlan(bare, heads: 2).Config.LayerNormEps); // nothing to read: BERT's

        e = Assert.Throws<InvalidDataException>(() => OnnxBertWeights.MakePlan(OnnxModel.Parse(TinyBertWithReshape(heads: 2, size: 3))));
        Assert.Contains("not the hidden size 4", e.Message);
    }

    [Fact]
    public void AnUnknownInitializerIsAnErrorNamingIt()
    {
        byte[] bytes = TinyBert(extra: (_, g) =>
        {
            g.Message(5, FloatTensor("onnx::Mul_777", [H], 0));
            g.Message(1, Node("Mul", "Mul_9", ["x", "onnx::Mul_777"], ["z"]));
        }).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => OnnxBertWeights.MakePlan(OnnxModel.Parse(bytes), heads: 2));
        Assert.Contains("'onnx::Mul_777'", e.Message);
        Assert.Contains("maps to no BERT parameter", e.Message);

        // An unnamed MatMul weight whose Add has no named bias.
        bytes = TinyBert(extra: (_, g) =>
        {
            g.Message(5, FloatTensor("onnx::MatMul_5", [H, H], 0));
            g.Message(1, Node("MatMul", "MatMul_x", ["x", "onnx::MatMul_5"], ["q"]));
            g.Message(1, Node("Add", "Add_x", ["q", "x"], ["r"]));
        }).ToArray();
        e = Assert.Throws<InvalidDataException>(() => OnnxBertWeights.MakePlan(OnnxModel.Parse(bytes), heads: 2));
        Assert.Contains("'onnx::MatMul_5'", e.Message);
        Assert.Contains("found none", e.Message);

        // A float constant read only by Concat is not a shape constant.
        bytes = TinyBert(extra: (_, g) =>
        {
            g.Message(5, FloatTensor("901", [1], 0));
            g.Message(1, Node("Concat", "Concat_2", ["901"], ["s"]));
        }).ToArray();
        e = Assert.Throws<InvalidDataException>(() => OnnxBertWeights.MakePlan(OnnxModel.Parse(bytes), heads: 2));
        Assert.Contains("'901'", e.Message);
    }

    [Fact]
    public void AMissingTinyParameterIsAnError()
    {
        var e = Assert.Throws<InvalidDataException>(() =>
            OnnxBertWeights.MakePlan(OnnxModel.Parse(TinyBert(drop: "embeddings.token_type_embeddings.weight").ToArray()), heads: 2));
        Assert.Contains("'embeddings.token_type_embeddings.weight'", e.Message);
        e = Assert.Throws<InvalidDataException>(() =>
            OnnxBertWeights.MakePlan(OnnxModel.Parse(TinyBert(drop: "encoder.layer.0.output.dense.bias").ToArray()), heads: 2));
        Assert.Contains("'105'", e.Message); // the weight that lost its bias
    }

    [Fact]
    public void ExternalDataIsRejected()
    {
        var t = new ProtoWriter().Int(1, 2).Int(2, 1).String(8, "big")
            .Message(13, new ProtoWriter().String(1, "location").String(2, "weights.bin"))
            .Int(14, 1);
        byte[] bytes = new ProtoWriter().Int(1, 7).Message(7, new ProtoWriter().Message(5, t)).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(bytes, "ext.onnx"));
        Assert.Contains("ext.onnx", e.Message);
        Assert.Contains("'big'", e.Message);
        Assert.Contains("external", e.Message);
    }

    [Fact]
    public void AShapeDataMismatchIsAnError()
    {
        var t = new ProtoWriter().Int(1, 3).Int(2, 1).String(8, "short").Bytes(9, new byte[8]);
        byte[] bytes = new ProtoWriter().Message(7, new ProtoWriter().Message(5, t)).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => OnnxModel.Parse(bytes, "bad.onnx"));
        Assert.Contains("'short'", e.Message);
        Assert.Contains("8 bytes of raw_data (expected 12)", e.Message);
    }

    [Fact]
    public void VocabularyIsReadable()
    {
        string[] vocab = MiniLmResources.ReadVocab();
        Assert.Equal(30522, vocab.Length);
        Assert.Equal("[PAD]", vocab[0]);
        Assert.Equal("[CLS]", vocab[101]);
        Assert.Equal("[SEP]", vocab[102]);
    }
}
