using BridgeRec.Data;
using BridgeRec.Language;

namespace BridgeRec.LlmRec;

/// <summary>
/// How prompts are built. The layout is
/// <c>[CLS] {UserWords} [U] {HistoryWords} [I] item text {Separator} [I] item text {Separator} ... {NextWords} [SEP]</c>,
/// e.g. "[CLS] user [U] interacted with : [I] toy story ( 1995 ) , animation , children ' s ; [I] ... ; next : [SEP]".
/// A click-through prompt ends with the candidate instead of {NextWords}: <c>... {CandidateWords} [I] candidate text [SEP]</c>.
/// [CLS] and [SEP] stand for the tokenizer's <see cref="ITextTokenizer.PromptStart"/> and <see cref="ITextTokenizer.PromptEnd"/>:
/// a decoder's prompt starts with its BOS token (when it uses one) and ends after {NextWords}, where the next token is predicted.
/// </summary>
public sealed record PromptOptions
{
    /// <summary>The most recent items of the history shown (at most).</summary>
    public int MaxHistory { get; init; } = 20;

    /// <summary>The most tokens in a prompt, [CLS] and [SEP] included; the oldest items are dropped to fit.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>The most text tokens per item; at most the <see cref="ItemTextCache.MaxItemTokens"/> of the cache.</summary>
    public int MaxItemTokens { get; init; } = ItemTextCache.DefaultMaxItemTokens;

    /// <summary>The id of the user task token [U]; null: the tokenizer's [unused0].</summary>
    public int? UserToken { get; init; }

    /// <summary>The id of the item task token [I]; null: the tokenizer's [unused1].</summary>
    public int? ItemToken { get; init; }

    /// <summary>Put [U] / [I] in the prompt; false gives the text-only baseline prompt (no task tokens at all).</summary>
    public bool IncludeTaskTokens { get; init; } = true;

    /// <summary>Template words before [U].</summary>
    public string UserWords { get; init; } = "user";

    /// <summary>Template words between [U] and the first item.</summary>
    public string HistoryWords { get; init; } = "interacted with:";

    /// <summary>Written after each item's text.</summary>
    public string Separator { get; init; } = ";";

    /// <summary>Template words after the last item, before [SEP].</summary>
    public string NextWords { get; init; } = "next:";

    /// <summary>
    /// Click-through prompts (<see cref="PromptBuilder.Build(int, IReadOnlyList{int}, int)"/>): the words between the
    /// history and the candidate item, which takes the place of <see cref="NextWords"/>; null: "candidate:".
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? CandidateWords { get; init; }
}

/// <summary>
/// Builds prompts from a user's history with task tokens and records where they are (see <see cref="Prompt"/>).
/// Immutable after construction and safe to share between threads.
/// </summary>
public sealed class PromptBuilder
{
    readonly int[] _userWords, _historyWords, _separator, _nextWords, _candidateWords, _start, _end;
    readonly int _itemCap;

    public PromptBuilder(ITextTokenizer tokenizer, ItemTextCache cache, PromptOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(cache);
        options ??= new PromptOptions();
        if (cache.Tokenizer.VocabSize != tokenizer.VocabSize)
            throw new ArgumentException($"The item texts were tokenized with a vocabulary of {cache.Tokenizer.VocabSize} entries, the prompts use {tokenizer.VocabSize}.", nameof(cache));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxHistory, "MaxHistory");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxItemTokens, 1, "MaxItemTokens");
        if (options.MaxItemTokens > cache.MaxItemTokens)
            throw new ArgumentException($"MaxItemTokens is {options.MaxItemTokens} but the item text cache holds at most {cache.MaxItemTokens} tokens per item; build the cache with maxItemTokens >= {options.MaxItemTokens}.", nameof(options));
        Tokenizer = tokenizer;
        Cache = cache;
        Options = options;
        UserToken = options.UserToken ?? tokenizer.DefaultUserToken;
        ItemToken = options.ItemToken ?? tokenizer.DefaultItemToken;
        CheckTaskToken(UserToken, "UserToken");
        CheckTaskToken(ItemToken, "ItemToken");
        if (UserToken == ItemToken) throw new ArgumentException($"UserToken and ItemToken are both {UserToken}; they must differ.", nameof(options));

        int[] Words(string? words, string name) =>
            tokenizer.Encode(words ?? throw new ArgumentException($"{name} is null.", nameof(options)), int.MaxValue, addSpecialTokens: false);
        _userWords = Words(options.UserWords, "UserWords");
        _historyWords = Words(options.HistoryWords, "HistoryWords");
        _separator = Words(options.Separator, "Separator");
        _nextWords = Words(options.NextWords, "NextWords");
        _candidateWords = Words(options.CandidateWords ?? "candidate:", "CandidateWords");
        _itemCap = options.MaxItemTokens;

        int task = options.IncludeTaskTokens ? 1 : 0;
        _start = [.. tokenizer.PromptStart];
        _end = [.. tokenizer.PromptEnd];
        FixedLength = _start.Length + _end.Length + _userWords.Length + task + _historyWords.Length + _nextWords.Length;
        ItemOverhead = task + _separator.Length;
        int least = FixedLength + ItemOverhead + 1;
        if (options.MaxTokens < least)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxTokens,
                $"MaxTokens must be at least {least}: the template takes {FixedLength} tokens and one item at least {ItemOverhead + 1}.");
    }

    public ITextTokenizer Tokenizer { get; }
    public ItemTextCache Cache { get; }
    public PromptOptions Options { get; }

    /// <summary>The id of [U] (resolved from the options).</summary>
    public int UserToken { get; }

    /// <summary>The id of [I] (resolved from the options).</summary>
    public int ItemToken { get; }

    /// <summary>Tokens of a prompt outside its items: specials, template words and [U].</summary>
    public int FixedLength { get; }

    /// <summary>Tokens each item adds besides its text: [I] and the separator.</summary>
    public int ItemOverhead { get; }

    /// <summary>
    /// The prompt of <paramref name="user"/> (a negative user: no [U]) over <paramref name="history"/> (oldest first).
    /// It shows the most recent <see cref="PromptOptions.MaxHistory"/> items, oldest -> newest; when they exceed
    /// <see cref="PromptOptions.MaxTokens"/> the oldest are dropped until they fit (items are never cut), and when
    /// even the newest item alone does not fit, its text is cut at the end to fit.
    /// </summary>
    public Prompt Build(int user, IReadOnlyList<int> history) => Compose(user, history, -1);

    /// <summary>
    /// A click-through prompt: the history as in <see cref="Build(int, IReadOnlyList{int})"/>, then
    /// {CandidateWords}, the candidate's task token [I] and its text instead of {NextWords}. The candidate is the last
    /// entry of <see cref="Prompt.Items"/> (not of <see cref="Prompt.History"/>). To fit the token budget the oldest
    /// history items give way first, all of them if need be; then the candidate's text is cut at the end.
    /// </summary>
    public Prompt Build(int user, IReadOnlyList<int> history, int candidate)
    {
        if ((uint)candidate >= (uint)Cache.Count)
            throw new ArgumentOutOfRangeException(nameof(candidate), candidate, $"The candidate is not an item index (0 to {Cache.Count - 1}).");
        int least = FixedLength - _nextWords.Length + _candidateWords.Length + (Options.IncludeTaskTokens ? 1 : 0) + 1;
        if (Options.MaxTokens < least)
            throw new ArgumentOutOfRangeException(nameof(candidate), Options.MaxTokens,
                $"MaxTokens must be at least {least} for a click-through prompt (template and one candidate token).");
        return Compose(user, history, candidate);
    }

    Prompt Compose(int user, IReadOnlyList<int> history, int candidate)
    {
        ArgumentNullException.ThrowIfNull(history);
        bool task = Options.IncludeTaskTokens, hasCandidate = candidate >= 0;
        int end = history.Count;
        int start = Math.Max(0, end - Options.MaxHistory);
        int total = FixedLength;
        if (task && user < 0) total--; // no [U]
        int candidateLength = hasCandidate ? TextLength(candidate) : 0;
        if (hasCandidate) total += _candidateWords.Length - _nextWords.Length + (task ? 1 : 0) + candidateLength;
        for (int k = start; k < end; k++)
        {
            int item = history[k];
            if ((uint)item >= (uint)Cache.Count)
                throw new ArgumentOutOfRangeException(nameof(history), item, $"History entry {k} is not an item index (0 to {Cache.Count - 1}).");
            total += ItemOverhead + TextLength(item);
        }
        int keep = hasCandidate ? 0 : 1; // a next-item prompt keeps its newest item; a click-through prompt its candidate
        while (total > Options.MaxTokens && end - start > keep)
        {
            total -= ItemOverhead + TextLength(history[start]);
            start++;
        }
        int lastCap = _itemCap, candidateCap = candidateLength;
        if (total > Options.MaxTokens) // what is left is too long: cut the candidate's text, or the one history item's
        {
            if (hasCandidate) candidateCap = candidateLength - (total - Options.MaxTokens);
            else lastCap = TextLength(history[start]) - (total - Options.MaxTokens);
        }

        var ids = new int[Math.Min(total, Options.MaxTokens)];
        int n = start < end ? end - start : 0;
        var shown = new int[n];
        int tagged = task ? n + (hasCandidate ? 1 : 0) : 0;
        var positions = new int[tagged];
        var taggedItems = new int[tagged];
        int at = 0, userPosition = -1;
        Put(_start);
        Put(_userWords);
        if (task && user >= 0) { userPosition = at; ids[at++] = UserToken; }
        Put(_historyWords);
        for (int k = 0; k < n; k++)
        {
            int item = history[start + k];
            shown[k] = item;
            if (task) { positions[k] = at; taggedItems[k] = item; ids[at++] = ItemToken; }
            var text = Cache.Ids(item);
            Put(text[..Math.Min(text.Length, k == n - 1 ? lastCap : _itemCap)]);
            Put(_separator);
        }
        if (hasCandidate)
        {
            Put(_candidateWords);
            if (task) { positions[n] = at; taggedItems[n] = candidate; ids[at++] = ItemToken; }
            Put(Cache.Ids(candidate)[..candidateCap]);
        }
        else Put(_nextWords);
        Put(_end);
        if (at != ids.Length) throw new InvalidOperationException($"Prompt length {at} differs from the planned {ids.Length}.");
        return new Prompt(ids, userPosition, positions, taggedItems, user, shown) { Sequence = history };

        void Put(ReadOnlySpan<int> span)
        {
            span.CopyTo(ids.AsSpan(at));
            at += span.Length;
        }
    }

    /// <summary>Right-pads <paramref name="prompts"/> with [PAD] into one batch (see <see cref="PromptBatch"/>).</summary>
    public PromptBatch Collate(IReadOnlyList<Prompt> prompts) => PromptBatch.Collate(prompts, Tokenizer.PadId);

    /// <summary>Per user index, the items of the training part (and validation when asked) in chronological order: <see cref="Data.Histories.Of"/>.</summary>
    public static IReadOnlyList<int>[] Histories(Split split, bool includeValidation) => Data.Histories.Of(split, includeValidation);

    int TextLength(int item) => Math.Min(Cache.Length(item), _itemCap);

    void CheckTaskToken(int id, string name)
    {
        if ((uint)id >= (uint)Tokenizer.VocabSize)
            throw new ArgumentOutOfRangeException(name, id, $"{name} {id} is outside the vocabulary (0 to {Tokenizer.VocabSize - 1}).");
        if (Tokenizer.IsSpecial(id))
            throw new ArgumentException($"{name} {id} is a special token ({Tokenizer.IdToToken(id)}); use a reserved [unusedN] id (BERT) or the tokenizer's task-token ids (decoders).", name);
    }
}
