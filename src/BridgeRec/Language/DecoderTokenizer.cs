using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace BridgeRec.Language;

/// <summary>
/// A decoder's tokenizer from its Hugging Face folder, on Microsoft.ML.Tokenizers: byte-level BPE from tokenizer.json
/// (GPT-2, Qwen2, Llama 3) or vocab.json + merges.txt (GPT-2), with the pre-tokenization pattern the file names, or
/// SentencePiece from tokenizer.model (LLaMA 2, TinyLlama). Added / special tokens in the text map to their ids.
/// <para>For prompts (<see cref="ITextTokenizer"/>) it adds two task-token ids after everything the model and the
/// tokenizer know (<see cref="UserTokenId"/>, <see cref="ItemTokenId"/>); their embeddings are always the shared
/// module's rows through A_in, so they need no row in the model. A prompt starts with BOS when the model expects one
/// (LLaMA) and ends with nothing. Text pieces are read as they appear after a space ("interacted with:" becomes
/// " interacted with:"), except pieces that start with whitespace or with , . ; : ! ? ) ] }, so that separately
/// encoded pieces join into natural text; SentencePiece's own dummy prefix does the same there.</para>
/// </summary>
public sealed class DecoderTokenizer : ITextTokenizer
{
    /// <summary>GPT-2's pre-tokenization pattern (what a ByteLevel pre-tokenizer with use_regex applies).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    readonly Tokenizer _inner;
    readonly bool _sentencePiece;
    readonly Dictionary<string, int> _special;
    readonly HashSet<int> _specialIds;
    readonly Dictionary<int, string> _tokenOf;

    DecoderTokenizer(Tokenizer inner, bool sentencePiece, Dictionary<string, int> special, int count, int modelVocab,
        int? bos, IReadOnlyList<int> eos, int? pad, bool addBos, string source)
    {
        _inner = inner;
        _sentencePiece = sentencePiece;
        _special = special;
        _specialIds = [.. special.Values];
        _tokenOf = special.ToDictionary(kv => kv.Value, kv => kv.Key);
        TextVocabSize = count;
        TaskTokenBase = Math.Max(count, modelVocab);
        BosId = bos;
        EosIds = eos;
        AddBos = addBos && bos is not null;
        PadId = pad ?? (eos.Count > 0 ? eos[0] : 0);
        Source = source;
        if (bos is int b) _specialIds.Add(b);
        foreach (int e in eos) _specialIds.Add(e);
    }

    /// <summary>The file the tokenizer was read from.</summary>
    public string Source { get; }

    /// <summary>Ids the tokenizer itself can produce: 0 .. TextVocabSize - 1 (added tokens included).</summary>
    public int TextVocabSize { get; }

    /// <summary>The first id after both the tokenizer's and the model's vocabulary: the user task token.</summary>
    public int TaskTokenBase { get; }

    public int UserTokenId => TaskTokenBase;
    public int ItemTokenId => TaskTokenBase + 1;

    /// <summary>Text ids, the model's extra rows and the two task tokens.</summary>
    public int VocabSize => TaskTokenBase + 2;

    public int? BosId { get; }
    public IReadOnlyList<int> EosIds { get; }
    public bool AddBos { get; }
    public int PadId { get; }

    /// <summary>The added / special tokens by text.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _special;

    IReadOnlyList<int> ITextTokenizer.PromptStart => AddBos ? [BosId!.Value] : [];
    IReadOnlyList<int> ITextTokenizer.PromptEnd => [];
    int ITextTokenizer.DefaultUserToken => UserTokenId;
    int ITextTokenizer.DefaultItemToken => ItemTokenId;

    public bool IsSpecial(int id) => _specialIds.Contains(id) || id == PadId;

    /// <summary>The ids of <paramref name="text"/> exactly as the model's own tokenizer gives them, without BOS.</summary>
    public int[] EncodeText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        var ids = _sentencePiece
            ? ((SentencePieceTokenizer)_inner).EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false)
            : _inner.EncodeToIds(text);
        return [.. ids];
    }

    /// <summary>
    /// The ids of a piece of a prompt, read as it appears after a space unless it starts with whitespace or with
    /// , . ; : ! ? ) ] } (SentencePiece adds its own dummy prefix).
    /// </summary>
    public int[] EncodePiece(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) return [];
        bool space = !_sentencePiece && !char.IsWhiteSpace(text[0]) && ",.;:!?)]}".IndexOf(text[0]) < 0;
        return EncodeText(space ? " " + text : text);
    }

    int[] ITextTokenizer.Encode(string text, int maxLength, bool addSpecialTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var ids = new List<int>();
        if (addSpecialTokens && AddBos) ids.Add(BosId!.Value);
        ids.AddRange(EncodePiece(text));
        return ids.Count > maxLength ? ids.GetRange(0, maxLength).ToArray() : ids.ToArray();
    }

    /// <summary>
    /// Text of ids. Task tokens read as &lt;|user|&gt; and &lt;|item|&gt;; the model's padding rows beyond the
    /// tokenizer (and item tokens of generation) are skipped.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new System.Text.StringBuilder();
        var run = new List<int>();
        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(_sentencePiece ? ((SentencePieceTokenizer)_inner).Decode(run, considerSpecialTokens: false) : _inner.Decode(run));
            run.Clear();
        }
        foreach (int id in ids)
        {
            if (id == UserTokenId || id == ItemTokenId) { Flush(); text.Append(id == UserTokenId ? "<|user|>" : "<|item|>"); continue; }
            if ((uint)id >= (uint)TextVocabSize) continue;
            if (_specialIds.Contains(id))
            {
                Flush();
                if (!skipSpecialTokens && _tokenOf.TryGetValue(id, out var s)) text.Append(s);
                continue;
            }
            run.Add(id);
        }
        Flush();
        return text.ToString();
    }

    public string IdToToken(int id)
    {
        if (id == UserTokenId) return "<|user|>";
        if (id == ItemTokenId) return "<|item|>";
        if (_tokenOf.TryGetValue(id, out var s)) return s;
        if ((uint)id >= (uint)TextVocabSize) return "";
        return _sentencePiece ? ((SentencePieceTokenizer)_inner).Decode([id], considerSpecialTokens: true) : _inner.Decode([id]) ?? "";
    }

    /// <summary>
    /// The tokenizer of a Hugging Face folder: tokenizer.json (byte-level BPE), else vocab.json + merges.txt, else
    /// tokenizer.model (SentencePiece). <paramref name="config"/> supplies BOS / EOS ids and the model's vocabulary size
    /// (task-token ids go after it); tokenizer_config.json, when present, add_bos_token and the pad token.
    /// </summary>
    public static DecoderTokenizer Load(string dir, DecoderConfig config)
    {
        string json = Path.Combine(dir, "tokenizer.json"), vocab = Path.Combine(dir, "vocab.json"), merges = Path.Combine(dir, "merges.txt");
        string spm = Path.Combine(dir, "tokenizer.model");
        var tc = ReadTokenizerConfig(Path.Combine(dir, "tokenizer_config.json"));
        bool addBos = tc?["add_bos_token"] is JsonNode ab && ab.GetValueKind() is JsonValueKind.True or JsonValueKind.False
            ? ab.GetValue<bool>()
            : config.Architecture == DecoderArchitecture.Llama;

        if (File.Exists(json))
        {
            var root = ParseObject(json);
            var model = root["model"] as JsonObject ?? throw new InvalidDataException($"{json}: no 'model' object");
            string type = model["type"]?.GetValue<string>() ?? "?";
            string? pattern = ByteLevelPattern(root["pre_tokenizer"], json);
            if (type == "BPE" && pattern is not null)
            {
                var vocabMap = (model["vocab"] as JsonObject ?? throw new InvalidDataException($"{json}: model.vocab is not an object"))
                    .ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>(), StringComparer.Ordinal);
                var mergeList = (model["merges"] as JsonArray ?? throw new InvalidDataException($"{json}: model.merges is not a list"))
                    .Select(m => m is JsonArray pair ? pair[0]!.GetValue<string>() + " " + pair[1]!.GetValue<string>() : m!.GetValue<string>()).ToList();
                var special = new Dictionary<string, int>(StringComparer.Ordinal);
                if (root["added_tokens"] is JsonArray added)
                    foreach (var a in added)
                        special[a!["content"]!.GetValue<string>()] = a["id"]!.GetValue<int>();
                return Bpe(vocabMap, mergeList, special, pattern, config, tc, addBos, json);
            }
            if (!File.Exists(spm))
                throw new InvalidDataException($"{json}: a {type} model with pre-tokenizer {root["pre_tokenizer"]?["type"]?.GetValue<string>() ?? "none"} is not supported; " +
                                               "supported: byte-level BPE tokenizer.json, vocab.json + merges.txt, or a SentencePiece tokenizer.model");
        }
        else if (File.Exists(vocab) && File.Exists(merges))
        {
            var vocabMap = ParseObject(vocab).ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>(), StringComparer.Ordinal);
            var mergeList = File.ReadLines(merges).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
            // GPT-2 style folders: the <|...|> entries of the vocabulary and the named specials are special tokens.
            var special = vocabMap.Where(kv => kv.Key.StartsWith("<|", StringComparison.Ordinal) && kv.Key.EndsWith("|>", StringComparison.Ordinal))
                .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            foreach (var key in new[] { "bos_token", "eos_token", "unk_token", "pad_token" })
                if (TokenText(tc?[key]) is string s && vocabMap.TryGetValue(s, out int id)) special[s] = id;
            foreach (var s in special.Keys) vocabMap.Remove(s);
            return Bpe(vocabMap, mergeList, special, Gpt2Pattern, config, tc, addBos, vocab);
        }
        if (File.Exists(spm))
        {
            SentencePieceTokenizer sp;
            using (var stream = File.OpenRead(spm))
            {
                try { sp = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false); }
                catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or NotSupportedException)
                {
                    throw new InvalidDataException($"{spm}: not a SentencePiece model Microsoft.ML.Tokenizers can read: {e.Message}", e);
                }
            }
            var special = new Dictionary<string, int>(StringComparer.Ordinal)
            {
                [sp.BeginningOfSentenceToken] = sp.BeginningOfSentenceId,
                [sp.EndOfSentenceToken] = sp.EndOfSentenceId,
                [sp.UnknownToken] = sp.UnknownId,
            };
            int count = sp.Vocabulary.Count;
            int? bos = config.BosTokenId ?? sp.BeginningOfSentenceId;
            var eos = config.EosTokenIds.Count > 0 ? config.EosTokenIds : [sp.EndOfSentenceId];
            return new DecoderTokenizer(sp, true, special, count, config.VocabSize, bos, eos, PadOf(tc, special), addBos, spm);
        }
        throw new FileNotFoundException($"{dir}: no tokenizer found: expected tokenizer.json, vocab.json + merges.txt, or tokenizer.model", json);
    }

    static DecoderTokenizer Bpe(Dictionary<string, int> vocab, List<string> merges, Dictionary<string, int> special, string pattern,
        DecoderConfig config, JsonObject? tc, bool addBos, string source)
    {
        Regex regex;
        try { regex = new Regex(pattern, RegexOptions.CultureInvariant); }
        catch (ArgumentException e) { throw new InvalidDataException($"{source}: pre-tokenization pattern {pattern} is not a .NET regular expression: {e.Message}"); }
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(regex, special),
                SpecialTokens = special,
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new InvalidDataException($"{source}: not a byte-level BPE vocabulary: {e.Message}", e);
        }
        int count = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, special.Count == 0 ? 0 : special.Values.Max() + 1);
        int? bos = config.BosTokenId ?? (TokenText(tc?["bos_token"]) is string b && special.TryGetValue(b, out int bi) ? bi : null);
        var eos = config.EosTokenIds.Count > 0 ? config.EosTokenIds
            : TokenText(tc?["eos_token"]) is string e2 && special.TryGetValue(e2, out int ei) ? [ei] : [];
        return new DecoderTokenizer(bpe, false, special, count, config.VocabSize, bos, eos, PadOf(tc, special), addBos, source);
    }

    static int? PadOf(JsonObject? tc, Dictionary<string, int> special) =>
        TokenText(tc?["pad_token"]) is string p && special.TryGetValue(p, out int id) ? id : null;

    /// <summary>The pattern of a byte-level pre-tokenizer: a Split's regex before ByteLevel, or GPT-2's when ByteLevel applies its own; null when not byte-level.</summary>
    static string? ByteLevelPattern(JsonNode? pre, string path)
    {
        if (pre is not JsonObject o) return null;
        string type = o["type"]?.GetValue<string>() ?? "";
        if (type == "ByteLevel") return o["use_regex"]?.GetValue<bool>() == false ? @"[\s\S]+" : Gpt2Pattern;
        if (type != "Sequence" || o["pretokenizers"] is not JsonArray list) return null;
        string? split = null;
        bool byteLevel = false;
        foreach (var p in list.OfType<JsonObject>())
        {
            string t = p["type"]?.GetValue<string>() ?? "";
            if (t == "Split")
            {
                if (split is not null) throw new InvalidDataException($"{path}: more than one Split pre-tokenizer is not supported");
                split = p["pattern"]?["Regex"]?.GetValue<string>() ?? (p["pattern"]?["String"]?.GetValue<string>() is string lit ? Regex.Escape(lit) : null);
                string behavior = p["behavior"]?.GetValue<string>() ?? "Isolated";
                if (behavior != "Isolated" || p["invert"]?.GetValue<bool>() == true)
                    throw new InvalidDataException($"{path}: Split pre-tokenizer with behavior {behavior} is not supported (only Isolated)");
            }
            else if (t == "ByteLevel")
            {
                byteLevel = true;
                if (p["use_regex"]?.GetValue<bool>() == true) split ??= Gpt2Pattern;
            }
            else throw new InvalidDataException($"{path}: pre-tokenizer {t} is not supported");
        }
        return byteLevel ? split ?? @"[\s\S]+" : null;
    }

    static string? TokenText(JsonNode? n) => n switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonObject o => o["content"]?.GetValue<string>(),
        _ => null,
    };

    static JsonObject? ReadTokenizerConfig(string path) => File.Exists(path) ? ParseObject(path) : null;

    static JsonObject ParseObject(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON: {e.Message}"); }
    }
}
