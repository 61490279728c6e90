using System.Text.Json;
using Xunit.Abstractions;
using BridgeRec.Bridge;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Data;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.SharedModule;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Language;

/// <summary>A decoder as the LLM side of BDLM: the same LlmRecommender, prompts, trainer and experiment runner as MiniLM.</summary>
public class DecoderRecommenderTests(ITestOutputHelper output)
{
    static Split Subset(int users)
    {
        var s = MovieLens100K.LoadBenchmarkSplit(Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), Path.Combine(TestData.Root, "movielens-100k"));
        Interactions Keep(Interactions x) => x.Where(r => x.Users[r] < users);
        return new Split(s.Dataset, Keep(s.Train), Keep(s.Validation), Keep(s.Test), s.Description + $", first {users} users");
    }

    static readonly PromptOptions Short = new() { MaxHistory = 3, MaxTokens = 60, MaxItemTokens = 12 };

    static LlmRecommender Recommender(string fixture, Split split, TrainingMode mode = TrainingMode.Lora)
    {
        // gpt2-tiny has 48 learned positions; the LLaMA-family fixtures 64.
        var options = fixture == "gpt2-tiny" ? Short with { MaxTokens = 44 } : Short;
        var (model, tok) = LanguageBackbones.Load(DecoderTests.Fixture(fixture));
        model.SetTrainingMode(mode, new LoraOptions { Rank = 4, Alpha = 8 });
        manual_seed(5);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset), options);
        return new LlmRecommender(model, ism, prompts, PromptBuilder.Histories(split, includeValidation: false));
    }

    [Fact]
    public void DecoderPromptsStartWithBosAndEndBeforeTheNextToken()
    {
        var split = Subset(5);
        var llm = Recommender("llama-tiny-bf16-sharded", split);
        var tok = (DecoderTokenizer)llm.Prompts.Tokenizer;
        var p = llm.Prompts.Build(0, PromptBuilder.Histories(split, false)[0]);
        Assert.Equal(tok.BosId, p.Ids[0]);
        Assert.Equal(tok.UserTokenId, p.Ids[p.UserPosition]);
        Assert.All(p.ItemPositions, i => Assert.Equal(tok.ItemTokenId, p.Ids[i]));
        Assert.EndsWith(" next:", tok.Decode(p.Ids));
        Assert.StartsWith(" user<|user|> interacted with:<|item|> ", tok.Decode(p.Ids, skipSpecialTokens: true));
        Assert.True(p.Length <= Short.MaxTokens);
    }

    [Theory]
    [InlineData("qwen2-tiny")]
    [InlineData("gpt2-tiny")]
    public void GeneratingAnItemTokenIsScoringAllItems(string fixture)
    {
        var split = Subset(12);
        var llm = Recommender(fixture, split);
        var histories = PromptBuilder.Histories(split, false);
        var users = new[] { 0, 3, 7, 11 };
        using var scores = llm.ScoreAll(users);
        for (int k = 0; k < users.Length; k++)
        {
            var row = scores[k].clone();
            foreach (int seen in histories[users[k]]) row[seen] = float.NegativeInfinity;
            int top = (int)row.argmax().item<long>();
            Assert.Equal(top, llm.GenerateItem(users[k]));
            // Without exclusion the greedy item token is the overall top score.
            Assert.Equal((int)scores[k].argmax().item<long>(), llm.GenerateItem(users[k], excludeHistory: false));
        }
        // Sampled decoding still yields items outside the history.
        for (int seed = 0; seed < 5; seed++)
        {
            int item = llm.GenerateItem(0, new GenerationOptions { Temperature = 1.0, TopK = 50, TopP = 0.9, Seed = seed });
            Assert.DoesNotContain(item, histories[0]);
            Assert.InRange(item, 0, split.Dataset.NumItems - 1);
        }
    }

    [Fact]
    public void TheItemTokenLogitsInGenerationEqualTheScores()
    {
        // Free generation over text and item tokens: the item part of the next-token distribution is Score's row.
        var split = Subset(6);
        var llm = Recommender("qwen2-tiny", split);
        var tok = (DecoderTokenizer)llm.Prompts.Tokenizer;
        var model = (DecoderModel)llm.Backbone;
        var prompt = llm.Prompts.Build(2, PromptBuilder.Histories(split, false)[2]);
        using var scores = llm.ScoreAll([2]);
        var both = TextGenerator.Generate(model, tok, prompt.Ids, new GenerationOptions { MaxNewTokens = 1 }, Overrides(llm, prompt), llm.ItemTokens, GenerationMode.Items);
        Assert.Equal((int)scores[0].argmax().item<long>(), both.Items[0]);
        Assert.Equal(tok.VocabSize + both.Items[0], both.Tokens[0]);
        // An item token, once generated, is read back through A_in: generation continues with text after it.
        var mixed = TextGenerator.Generate(model, tok, prompt.Ids, new GenerationOptions { MaxNewTokens = 4, Temperature = 1.5, Seed = 3, StopAtEos = false },
            Overrides(llm, prompt), llm.ItemTokens, GenerationMode.TextAndItems);
        Assert.Equal(4, mixed.Tokens.Length);
    }

    /// <summary>The prompt's task-token vectors, as the recommender builds them.</summary>
    static EmbeddingOverrides Overrides(LlmRecommender llm, Prompt p)
    {
        using var _ = no_grad();
        return llm.Inputs(llm.Prompts.Collate([p])).Overrides!;
    }

    [Fact]
    public void GenerationStopsAtStopStringsAndSamplesReproducibly()
    {
        var (model, tok) = DecoderCheckpoint.Load(DecoderTests.Fixture("gpt2-tiny"));
        var prompt = tok.EncodeText("the user liked");
        var greedy = TextGenerator.Generate(model, tok, prompt, new GenerationOptions { MaxNewTokens = 8, StopAtEos = false });
        Assert.Equal("length", greedy.StopReason);
        string stop = greedy.Text.Length > 1 ? greedy.Text.Substring(greedy.Text.Length / 2, 1) : greedy.Text;
        var stopped = TextGenerator.Generate(model, tok, prompt, new GenerationOptions { MaxNewTokens = 8, StopAtEos = false, StopStrings = [stop] });
        Assert.Equal("stop", stopped.StopReason);
        Assert.DoesNotContain(stop, stopped.Text);
        Assert.StartsWith(stopped.Text, greedy.Text);
        var o = new GenerationOptions { MaxNewTokens = 12, Temperature = 0.9, TopK = 20, TopP = 0.95, Seed = 42, StopAtEos = false };
        Assert.Equal(TextGenerator.Generate(model, tok, prompt, o).Tokens, TextGenerator.Generate(model, tok, prompt, o).Tokens);
        Assert.Throws<ArgumentOutOfRangeException>(() => TextGenerator.Generate(model, tok, prompt, o with { TopP = 0 }));
        // top-k 1 is greedy.
        Assert.Equal(greedy.Tokens, TextGenerator.Generate(model, tok, prompt, o with { TopK = 1, MaxNewTokens = 8 }).Tokens);
    }

    [Theory]
    [InlineData(TrainingMode.Frozen)]
    [InlineData(TrainingMode.Lora)]
    [InlineData(TrainingMode.Full)]
    public void TrainingModesPickTheTrainableWeights(TrainingMode mode)
    {
        var (model, _) = DecoderCheckpoint.Load(DecoderTests.Fixture("qwen2-tiny"));
        long trainable = model.SetTrainingMode(mode, new LoraOptions { Rank = 2, Targets = ["query", "value"] });
        var names = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        switch (mode)
        {
            case TrainingMode.Frozen: Assert.Equal(0, trainable); break;
            case TrainingMode.Full: Assert.Equal(model.TotalParameters(), trainable); break;
            default:
                Assert.All(names, n => Assert.Matches(@"self_attn\.(q|v)_proj\.lora_[AB]$", n));
                Assert.Equal(2 * 2 * model.Config.Layers, names.Count);
                break;
        }
        var (gpt2, _) = DecoderCheckpoint.Load(DecoderTests.Fixture("gpt2-tiny"));
        gpt2.SetTrainingMode(TrainingMode.Lora, new LoraOptions { Rank = 2, Targets = ["query", "value", "output"] });
        Assert.All(gpt2.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name),
            n => Assert.Matches(@"(attn\.c_attn|mlp\.c_proj)\.lora_[AB]$", n));
    }

    [Fact]
    public void ADecoderTrainsAsTheLlmSideAndItsLossFalls()
    {
        // LlmTraining, the BDLM LLM phase's steps, on each user's first three training items: a small set of
        // (prefix -> next item) pairs that a few epochs can fit, so the fall of the loss is plain.
        var split = Subset(20);
        var llm = Recommender("qwen2-tiny", split);
        var sequences = PromptBuilder.Histories(split, includeValidation: false).Select(h => (IReadOnlyList<int>)h.Take(3).ToList()).ToArray();
        var o = new BdlmOptions { LlmBatch = 4, LrAdapters = 0.02, LrIsm = 0.02, LrBackbone = 0.01 };
        var objective = new NextItemObjective(sequences, o.LlmUsersPerEpoch);
        var optimizers = LlmTraining.Optimizers(llm, objective, o.Llm, trainIsm: true);
        Assert.Equal(3, optimizers.Count); // adapters, shared module, LoRA weights of the decoder
        var pairs = Enumerable.Range(0, sequences.Length).Where(u => sequences[u].Count >= 2)
            .SelectMany(u => Enumerable.Range(1, sequences[u].Count - 1).Select(t => (User: u, T: t))).ToList();
        var check = llm.Prompts.Collate(pairs.Select(p => llm.Prompts.Build(p.User, sequences[p.User].Take(p.T).ToList())).ToList());
        var targets = tensor(pairs.Select(p => (long)sequences[p.User][p.T]).ToArray());
        double CheckLoss()
        {
            llm.eval();
            using var _ = no_grad();
            return nn.functional.cross_entropy(llm.Score(check), targets).item<float>();
        }
        double before = CheckLoss();
        var rng = new Random(1);
        var losses = Enumerable.Range(0, 25).Select(_ => LlmTraining.Epoch(llm, objective, optimizers, o.LlmBatch, rng, default)).ToList();
        foreach (var opt in optimizers) opt.Dispose();
        double after = CheckLoss();
        string shown = $"epoch losses {string.Join(", ", losses.Select(l => l.ToString("F2")))}; all pairs {before:F3} -> {after:F3}";
        output.WriteLine(shown);
        Assert.All(losses, l => Assert.True(double.IsFinite(l), shown));
        Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average() - 1, shown);
        Assert.True(after < before - 1, shown);
    }

    [Fact]
    public void TheTinyDecoderExperimentRunsEndToEnd()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "BridgeRec.slnx"))) root = Path.GetDirectoryName(root)!;
        using var tmp = new TestData.TempDir();
        var c = ExperimentConfig.FromJsonFile(Path.Combine(root, "experiments", "tiny-decoder.json"));
        Assert.Equal(Path.Combine(root, "tests", "BridgeRec.Tests", "Fixtures", "decoders", "qwen2-tiny"), c.Backbone.Path);
        c = c with
        {
            Datasets = c.Datasets.Select(d => d with
            {
                Data = d.Data with { Path = Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), Items = Path.Combine(TestData.Root, "movielens-100k") },
            }).ToArray(),
            Output = tmp.Path,
        };
        var summary = ExperimentRunner.Run(c);
        Assert.Equal(4, summary.RowsRun);
        var results = JsonSerializer.Deserialize<ResultsFile>(File.ReadAllText(summary.ResultsPath), ExperimentConfig.JsonOptions)!;
        Assert.Equal(["bdlm-dsm", "bdlm-llm", "mf", "one-way"], results.Runs.Select(r => r.Method).Order().ToArray());
        foreach (var row in results.Runs)
            foreach (var (name, v) in row.Metrics["full"])
                Assert.True(double.IsFinite(v) && v is >= 0 and <= 1, $"{row.Method} {name} = {v}");
        var bdlm = results.Runs.Single(r => r.Method == "bdlm-llm");
        Assert.Equal([0, 1, 2], bdlm.Rounds!.Select(r => r.Round).ToArray());
        Assert.All(bdlm.Rounds!.Skip(1), r => Assert.True(double.IsFinite(r.LlmLoss)));
        // The saved LLM spec names the decoder, so the folder can be rebuilt with it.
        string models = Path.Combine(tmp.Path, "models", "ml-100k-loo-tiny-seed1");
        var spec = LlmFolder.ReadSpec(models);
        int Cli(params string[] args) => BridgeRec.Cli.Program.Main(args).GetAwaiter().GetResult();
        Assert.Equal(c.Backbone.Path, spec.Backbone.Path);
        Assert.Equal(0, Cli("recommend", "--model", models, "--user", "1", "-k", "5", "--via", "llm")); // LlmFolder.Load builds the decoder

        // 'bridgerec explain' rebuilds that LLM on the decoder and writes a reason (random weights: any text).
        Assert.Equal(0, Cli("explain", "--model", models, "--user", "1", "--item", "50", "--max-new-tokens", "6"));
        Assert.Equal(0, Cli("explain", "--model", models, "--user", "2", "--temperature", "0.8", "--top-k", "20", "--seed", "3", "--max-new-tokens", "6"));
        Assert.Equal(2, Cli("explain", "--model", models, "--user", "no-such-user"));
        Assert.Equal(2, Cli("explain", "--model", models, "--user", "1", "--item", "no-such-item"));
        Assert.Equal(2, Cli("explain", "--model", models, "--user", "1", "--max-new-tokens", "60"));
    }

    [Fact]
    public void AnExplanationContinuesThePromptWithTheItemInWords()
    {
        var split = Subset(6);
        var llm = Recommender("qwen2-tiny", split);
        var tok = (DecoderTokenizer)llm.Prompts.Tokenizer;
        var r = llm.Explain(1, 40, new GenerationOptions { MaxNewTokens = 6, StopAtEos = false });
        Assert.Equal(6, r.Tokens.Length);
        Assert.All(r.Tokens, t => Assert.InRange(t, 0, tok.TextVocabSize - 1)); // free text: no item or task tokens
        Assert.Empty(r.Items);
        Assert.Equal(tok.Decode(r.Tokens, skipSpecialTokens: true), r.Text);
        // A longer reason leaves less room: the history gives way, and a reason that cannot fit is refused.
        Assert.Equal(20, llm.Explain(1, 40, new GenerationOptions { MaxNewTokens = 20, StopAtEos = false }).Tokens.Length);
        Assert.Throws<ArgumentException>(() => llm.Explain(1, 40, new GenerationOptions { MaxNewTokens = 60 }));
        // MiniLM cannot write.
        var (bert, wp) = BertCheckpoint.MiniLm();
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 8);
        var encoder = new LlmRecommender(bert, ism, new PromptBuilder(wp, new ItemTextCache(wp, split.Dataset)), PromptBuilder.Histories(split, false));
        Assert.Throws<InvalidOperationException>(() => encoder.Explain(1, 40, new GenerationOptions()));
    }

    [Fact]
    public void TheBackbonePathIsLeftOutOfTheJsonWhenNull()
    {
        var c = new ExperimentConfig();
        Assert.DoesNotContain("\"path\"", JsonSerializer.Serialize(c.Backbone, ExperimentConfig.JsonOptions));
        Assert.Contains("\"path\": \"/x\"", JsonSerializer.Serialize(c.Backbone with { Path = "/x" }, ExperimentConfig.JsonOptions));
    }
}
