using System.Text.Json.Nodes;
using BridgeRec.Language;

namespace BridgeRec.Tests.Language;

/// <summary>
/// The byte-level BPE tokenizer (Microsoft.ML.Tokenizers under <see cref="DecoderTokenizer"/>) against the
/// reference BPE of tools/make_decoder_fixtures.py: vocab.json + merges.txt (GPT-2) and tokenizer.json (Qwen2, Llama 3 style).
/// </summary>
public class DecoderTokenizerTests
{
    static DecoderTokenizer Tokenizer(string name)
    {
        string dir = DecoderTests.Fixture(name);
        return DecoderTokenizer.Load(dir, DecoderConfig.FromHuggingFaceJson(Path.Combine(dir, "config.json")));
    }

    [Theory]
    [MemberData(nameof(DecoderTests.Models), MemberType = typeof(DecoderTests))]
    public void IdsMatchTheReferenceAndTextRoundTrips(string name)
    {
        var tok = Tokenizer(name);
        foreach (var c in DecoderTests.ReadExpected(name).TokenizerCases)
        {
            Assert.Equal(c.Ids, tok.EncodeText(c.Text));
            Assert.Equal(c.Text, tok.Decode(c.Ids));
        }
    }

    [Theory]
    [MemberData(nameof(DecoderTests.Models), MemberType = typeof(DecoderTests))]
    public void EveryVocabularyEntryRoundTrips(string name)
    {
        var tok = Tokenizer(name);
        int checkedEntries = 0;
        for (int id = 0; id < tok.TextVocabSize; id++)
        {
            string text = tok.Decode([id]);
            if (text.Contains('\uFFFD')) continue; // a lone byte of a multi-byte character is not text on its own
            Assert.Equal(text, tok.Decode(tok.EncodeText(text)));
            checkedEntries++;
        }
        Assert.True(checkedEntries > tok.TextVocabSize / 2, $"{checkedEntries} of {tok.TextVocabSize} entries checked");
        // Every byte survives: all 256 byte tokens together spell the bytes back.
        var bytes = Enumerable.Range(0x20, 0x7F - 0x20).Select(b => (byte)b).ToArray();
        string ascii = System.Text.Encoding.ASCII.GetString(bytes);
        Assert.Equal(ascii, tok.Decode(tok.EncodeText(ascii)));
        Assert.Equal("Ünïcödé 東京 🎬 €", tok.Decode(tok.EncodeText("Ünïcödé 東京 🎬 €")));
    }

    [Fact]
    public void SpecialTokensAndTaskTokensHaveTheirIds()
    {
        var qwen = Tokenizer("qwen2-tiny");
        int eot = qwen.SpecialTokens["<|endoftext|>"], imEnd = qwen.SpecialTokens["<|im_end|>"];
        Assert.Equal([eot], qwen.EncodeText("<|endoftext|>"));
        Assert.Equal([imEnd], qwen.EncodeText("<|im_end|>"));
        Assert.Equal(eot, qwen.PadId); // tokenizer_config.json's pad_token
        Assert.Equal([imEnd], qwen.EosIds);
        Assert.False(qwen.AddBos);
        // Qwen2 pads its embedding table past the tokenizer: task tokens come after both.
        Assert.Equal(qwen.TextVocabSize + 13, qwen.UserTokenId);
        Assert.Equal(qwen.UserTokenId + 1, qwen.ItemTokenId);
        Assert.Equal(qwen.ItemTokenId + 1, qwen.VocabSize);
        Assert.Equal("<|user|> a<|item|>", qwen.Decode([qwen.UserTokenId, .. qwen.EncodeText(" a"), qwen.ItemTokenId]));
        Assert.True(qwen.IsSpecial(eot));

        var llama = Tokenizer("llama-tiny-bf16-sharded");
        Assert.True(llama.AddBos);
        ITextTokenizer prompts = llama;
        Assert.Equal([llama.BosId!.Value], prompts.PromptStart);
        Assert.Empty(prompts.PromptEnd);
        Assert.Equal([llama.BosId!.Value, .. llama.EncodeText(" user")], prompts.Encode("user", 100, addSpecialTokens: true));

        var gpt2 = Tokenizer("gpt2-tiny");
        Assert.Equal(gpt2.TextVocabSize, gpt2.UserTokenId);
        Assert.Equal([gpt2.SpecialTokens["<|endoftext|>"]], gpt2.EosIds);
    }

    [Fact]
    public void PromptPiecesReadAsAfterASpace()
    {
        var tok = Tokenizer("gpt2-tiny");
        Assert.Equal(tok.EncodeText(" interacted with:"), tok.EncodePiece("interacted with:"));
        Assert.Equal(tok.EncodeText(";"), tok.EncodePiece(";"));
        Assert.Equal(tok.EncodeText(" next"), tok.EncodePiece(" next"));
        ITextTokenizer prompts = tok;
        Assert.Equal(tok.EncodePiece("Toy Story (1995)")[..3], prompts.Encode("Toy Story (1995)", 3, addSpecialTokens: false));
    }

    [Fact]
    public void SentencePieceModelsLoadFromTokenizerModel()
    {
        // LLaMA 2 / TinyLlama style: BPE pieces with scores, byte fallback, dummy prefix (the reference in the fixture script).
        var tok = Tokenizer("sentencepiece-tokenizer");
        foreach (var c in DecoderTests.ReadExpected("sentencepiece-tokenizer").TokenizerCases)
        {
            Assert.Equal(c.Ids, tok.EncodeText(c.Text));
            Assert.Equal(c.Text, tok.Decode(c.Ids));
        }
        Assert.Equal(1, tok.BosId);
        Assert.True(tok.AddBos);
        Assert.Equal([2], tok.EosIds);
        ITextTokenizer prompts = tok;
        Assert.Equal([1], prompts.PromptStart);
        // SentencePiece's dummy prefix already reads a piece as after a space.
        Assert.Equal(tok.EncodeText("interacted with:"), tok.EncodePiece("interacted with:"));
    }

    [Fact]
    public void AnUnsupportedTokenizerIsNamed()
    {
        using var tmp = new TestData.TempDir();
        string src = DecoderTests.Fixture("qwen2-tiny");
        File.Copy(Path.Combine(src, "config.json"), tmp.File("config.json"));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "tokenizer.json")))!.AsObject();
        json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁" };
        File.WriteAllText(tmp.File("tokenizer.json"), json.ToJsonString());
        var config = DecoderConfig.FromHuggingFaceJson(tmp.File("config.json"));
        var e = Assert.Throws<InvalidDataException>(() => DecoderTokenizer.Load(tmp.Path, config));
        Assert.Contains("Metaspace", e.Message);
        Assert.Contains("tokenizer.model", e.Message);
        File.Delete(tmp.File("tokenizer.json"));
        Assert.Throws<FileNotFoundException>(() => DecoderTokenizer.Load(tmp.Path, config));
    }
}
