using BridgeRec.Data;
using BridgeRec.Language;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Language;

/// <summary>The embedded MiniLM, loaded once per test class.</summary>
public sealed class MiniLmFixture
{
    public BertModel Model { get; }
    public WordPieceTokenizer Tokenizer { get; }
    public MiniLmFixture() => (Model, Tokenizer) = BertCheckpoint.MiniLm();
}

public class MiniLmTests(MiniLmFixture fx, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<MiniLmFixture>
{
    internal static readonly string[] Sentences =
    [
        "", "a", "Toy Story (1995)", "Toy Story (1995), Animation, Children's, Comedy",
        "GoldenEye (1995), Action, Adventure, Thriller", "Misérables, Les (1995), Drama, Musical",
        "Á köldum klaka (Cold Fever) (1994)", "Ünïcödé têxt wïth äccents", "日本語のテキスト", "中文文本测试",
        "Emoji 🎬🍿 night", "Gorilla Original Gorilla Glue, Waterproof Polyurethane Glue, 8 ounce Bottle, Brown. Industrial & Scientific. Gorilla.",
        "user [U] interacted with: [I] Star Wars (1977); [I] Return of the Jedi (1983); next:",
        "Numbers 1234567890 and 3.14159 and 2,000,000", "Punctuation!!! ??? ... --- ;;; ::: ((( )))",
        "UPPER CASE SHOUTING", "MiXeD CaSe WoRdS", "tabs\tand\nnewlines\r\nhere", "   leading and trailing spaces   ",
        "don't won't can't shouldn't", "e-mail: someone@example.com, url: https://example.org/path?q=1",
        "The quick brown fox jumps over the lazy dog.", "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        "A single-word", "supercalifragilisticexpialidocious", "antidisestablishmentarianism",
        "Résumé naïve café coöperate", "Ελληνικά κείμενο", "Русский текст для проверки", "עברית", "العربية",
        "한국어 문장", "ไทย", "Mix of English and 日本語 and emoji 😀", "C++ and C# and F# programming",
        "$100 & 50% off #deal @store", "x" + new string('y', 300), string.Join(" ", Enumerable.Repeat("long", 400)),
        string.Join(", ", Enumerable.Range(0, 300).Select(i => "item" + i)),
        "Star Wars (1977), Action, Adventure, Romance, Sci-Fi, War", "Fargo (1996), Crime, Drama, Thriller",
        "Shawshank Redemption, The (1994), Drama", "Schindler's List (1993), Drama, War",
        "Wrong Trousers, The (1993), Animation, Comedy", "Casablanca (1942), Drama, Romance, War",
        "Microscope slides, pre-cleaned, 72 pieces. Lab supplies. AmScope.", "3M safety glasses, anti-fog, clear lens",
        "Arduino Uno R3 microcontroller board", "Nitrile gloves, powder free, large, 100 count",
        "Multimeter with auto-ranging, True RMS", "sentence number fifty one", "and one more for good measure",
    ];

    [Fact]
    public void EmbeddingsMatchOnnxRuntimeOnTheSameModel()
    {
        Assert.True(Sentences.Length >= 50);
        using var resource = MiniLmResources.OpenModel();
        using var copy = new MemoryStream();
        resource.CopyTo(copy);
        using var session = new InferenceSession(copy.ToArray());
        double worstDiff = 0, worstCos = 1;
        foreach (var chunk in Sentences.Chunk(16))
        {
            var batch = fx.Tokenizer.EncodeBatch(chunk, 256);
            var (ids, mask, types) = batch.ToTensors();
            float[] ours;
            using (no_grad()) ours = fx.Model.SentenceEmbedding(ids, mask, types).data<float>().ToArray();
            float[] reference = OnnxSentenceEmbeddings(session, batch);
            int hidden = 384;
            for (int r = 0; r < chunk.Length; r++)
            {
                double dot = 0, na = 0, nb = 0, diff = 0;
                for (int j = 0; j < hidden; j++)
                {
                    double a = ours[r * hidden + j], b = reference[r * hidden + j];
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
        output.WriteLine($"MiniLM vs ONNX Runtime over {Sentences.Length} sentences: worst max|diff| {worstDiff:E2}, worst cosine {worstCos:F8}");
    }

    /// <summary>ONNX Runtime on the package's graph, then mean pooling and L2 normalisation as sentence-transformers does.</summary>
    static float[] OnnxSentenceEmbeddings(InferenceSession session, TokenBatch batch)
    {
        int b = batch.BatchSize, s = batch.SequenceLength;
        var feeds = new List<NamedOnnxValue>();
        foreach (string name in session.InputMetadata.Keys)
        {
            long[] data = name switch
            {
                "input_ids" => batch.InputIds,
                "attention_mask" => batch.AttentionMask,
                "token_type_ids" => batch.TokenTypeIds,
                _ => throw new InvalidOperationException($"unexpected ONNX input {name}"),
            };
            feeds.Add(NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(data, [b, s])));
        }
        using var results = session.Run(feeds);
        var hiddenStates = results.First().AsTensor<float>();
        int h = (int)hiddenStates.Dimensions[2];
        var outp = new float[b * h];
        for (int r = 0; r < b; r++)
        {
            double count = 0;
            var acc = new double[h];
            for (int t = 0; t < s; t++)
            {
                if (batch.AttentionMask[r * s + t] == 0) continue;
                count++;
                for (int j = 0; j < h; j++) acc[j] += hiddenStates[r, t, j];
            }
            double norm = Math.Sqrt(acc.Sum(x => (x / count) * (x / count)));
            for (int j = 0; j < h; j++) outp[r * h + j] = (float)(acc[j] / count / Math.Max(norm, 1e-12));
        }
        return outp;
    }

    [Fact]
    public void LoraTrainingOnTitlesToGenresLowersLossAndLeavesBaseWeights()
    {
        // A small real text task: from a MovieLens title, predict its first genre.
        var d = MovieLens100K.Load(Path.Combine(TestData.Root, "movielens-100k"));
        var rows = Enumerable.Range(0, d.NumItems).Where(i => d.TextOf(i)?["genres"] is not null).Take(32).ToList();
        var titles = rows.Select(i => d.TextOf(i)!.Title).ToArray();
        var genreNames = rows.Select(i => d.TextOf(i)!["genres"]!.Split(", ")[0]).ToArray();
        var classes = genreNames.Distinct().Order().ToList();
        var labels = tensor(genreNames.Select(g => (long)classes.IndexOf(g)).ToArray());

        var (model, tok) = BertCheckpoint.MiniLm();
        long trainable = model.SetTrainingMode(TrainingMode.Lora, new LoraOptions { Rank = 8, Alpha = 16 });
        Assert.Equal(6 * 2 * (8 * 384 + 384 * 8), trainable);
        // Plain arrays, so the check at the end holds no tensor of its own.
        var baseBefore = model.Weights().Where(kv => !kv.Key.Contains("lora_")).ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        manual_seed(11);
        var head = nn.Linear(384, classes.Count);
        using var opt = new BridgeRec.Native.SafeAdam(model.parameters().Where(p => p.requires_grad).Concat(head.parameters()), 3e-3, weightDecay: 0.01);
        var (ids, mask, types) = tok.EncodeBatch(titles, 64).ToTensors();
        float Loss()
        {
            using var _ = no_grad();
            return nn.functional.cross_entropy(head.forward(BertModel.MeanPool(model.Forward(ids, mask, types), mask)), labels).item<float>();
        }
        model.train();
        float before = Loss();
        for (int step = 0; step < 8; step++)
        {
            using var scope = NewDisposeScope();
            opt.ZeroGrad();
            var loss = nn.functional.cross_entropy(head.forward(BertModel.MeanPool(model.Forward(ids, mask, types), mask)), labels);
            loss.backward();
            opt.Step();
        }
        float after = Loss();
        Assert.True(after < before * 0.8, $"loss should fall: {before:F4} -> {after:F4}");
        var baseAfter = model.Weights().Where(kv => !kv.Key.Contains("lora_")).ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        Assert.Equal(baseBefore.Keys.Order(), baseAfter.Keys.Order());
        foreach (var (name, values) in baseBefore)
            Assert.True(values.AsSpan().SequenceEqual(baseAfter[name]), $"frozen base weight {name} changed");
        GC.KeepAlive(model); GC.KeepAlive(head);
    }
}
