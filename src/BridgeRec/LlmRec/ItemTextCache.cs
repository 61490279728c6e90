using BridgeRec.Data;
using BridgeRec.Language;

namespace BridgeRec.LlmRec;

/// <summary>
/// The token ids (no [CLS] / [SEP]) of every item's text, computed once: <see cref="ItemText.Render"/> of the item
/// ("Toy Story (1995), Animation, Children's, Comedy"), or its original id when it has no text, encoded with the
/// tokenizer and cut to <see cref="MaxItemTokens"/> tokens (at the end, possibly inside a word, as
/// <see cref="ITextTokenizer.Encode"/> truncates). Built eagerly in the constructor and immutable afterwards, so
/// it is safe to share between threads.
/// </summary>
public sealed class ItemTextCache
{
    /// <summary>The default cap on an item's text tokens.</summary>
    public const int DefaultMaxItemTokens = 24;

    readonly int[] _ids;      // all items' ids, back to back
    readonly int[] _offsets;  // item i's ids are _ids[_offsets[i].._offsets[i + 1]]

    /// <summary>The texts of all <paramref name="dataset"/>'s items (see <see cref="TextOf"/>).</summary>
    public ItemTextCache(ITextTokenizer tokenizer, Dataset dataset, int maxItemTokens = DefaultMaxItemTokens)
        : this(tokenizer, TextsOf(dataset ?? throw new ArgumentNullException(nameof(dataset))), maxItemTokens)
    {
    }

    /// <summary>One text per item index.</summary>
    public ItemTextCache(ITextTokenizer tokenizer, IReadOnlyList<string> texts, int maxItemTokens = DefaultMaxItemTokens)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItemTokens, 1);
        Tokenizer = tokenizer;
        MaxItemTokens = maxItemTokens;
        var input = new string[texts.Count];
        for (int i = 0; i < input.Length; i++)
            input[i] = texts[i] ?? throw new ArgumentException($"Text {i} is null.", nameof(texts));
        var rows = new int[input.Length][];
        // The tokenizer is immutable and thread-safe; items are independent.
        Parallel.For(0, rows.Length, i => rows[i] = tokenizer.Encode(input[i], maxItemTokens, addSpecialTokens: false));
        _offsets = new int[rows.Length + 1];
        for (int i = 0; i < rows.Length; i++) _offsets[i + 1] = _offsets[i] + rows[i].Length;
        _ids = new int[_offsets[^1]];
        for (int i = 0; i < rows.Length; i++) rows[i].CopyTo(_ids, _offsets[i]);
    }

    /// <summary>The tokenizer that made the ids.</summary>
    public ITextTokenizer Tokenizer { get; }

    /// <summary>No item has more than this many ids.</summary>
    public int MaxItemTokens { get; }

    /// <summary>Number of items.</summary>
    public int Count => _offsets.Length - 1;

    /// <summary>The text ids of <paramref name="item"/> (no specials, at most <see cref="MaxItemTokens"/>).</summary>
    public ReadOnlySpan<int> Ids(int item)
    {
        CheckItem(item);
        return _ids.AsSpan(_offsets[item], _offsets[item + 1] - _offsets[item]);
    }

    /// <summary>The number of text ids of <paramref name="item"/>.</summary>
    public int Length(int item)
    {
        CheckItem(item);
        return _offsets[item + 1] - _offsets[item];
    }

    /// <summary>The text an item is known by: its rendered <see cref="ItemText"/>, else its original id.</summary>
    public static string TextOf(Dataset dataset, int item)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        string? text = dataset.TextOf(item)?.Render();
        return string.IsNullOrWhiteSpace(text) ? dataset.Items.Original(item) : text;
    }

    /// <summary>One text per item of <paramref name="dataset"/> (<see cref="TextOf"/>): what the dataset constructor encodes.</summary>
    public static string[] TextsOf(Dataset dataset)
    {
        var texts = new string[dataset.NumItems];
        for (int i = 0; i < texts.Length; i++) texts[i] = TextOf(dataset, i);
        return texts;
    }

    void CheckItem(int item)
    {
        if ((uint)item >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(item), item, $"Item indices run from 0 to {Count - 1}.");
    }
}
