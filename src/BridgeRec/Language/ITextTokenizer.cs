namespace BridgeRec.Language;

/// <summary>
/// What prompts need of a tokenizer: ids of text pieces, the special ids a prompt starts and ends with, the padding id,
/// and two ids for the user and item task tokens (their embeddings are always replaced). BERT's WordPiece tokenizer
/// puts [CLS] and [SEP] around a prompt and uses [unused0] / [unused1] as task tokens; a decoder's tokenizer starts
/// with its BOS token where the model expects one, ends with nothing (the last token predicts the next one) and adds
/// two task-token ids after its vocabulary.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>Ids run from 0 to VocabSize - 1, task tokens included.</summary>
    int VocabSize { get; }

    int PadId { get; }

    /// <summary>The ids every prompt starts with ([CLS]; a decoder's BOS or nothing).</summary>
    IReadOnlyList<int> PromptStart { get; }

    /// <summary>The ids every prompt ends with ([SEP]; nothing for a decoder).</summary>
    IReadOnlyList<int> PromptEnd { get; }

    /// <summary>The id that marks the user task token when the prompt options name none.</summary>
    int DefaultUserToken { get; }

    /// <summary>The id that marks an item task token when the prompt options name none.</summary>
    int DefaultItemToken { get; }

    /// <summary>Whether <paramref name="id"/> is a special token that must not serve as a task token.</summary>
    bool IsSpecial(int id);

    /// <summary>
    /// The ids of a piece of text, at most <paramref name="maxLength"/>, cut at the end; with
    /// <paramref name="addSpecialTokens"/> the prompt's start and end ids around it. A decoder's tokenizer reads the
    /// piece as it would appear after a space (see <see cref="DecoderTokenizer"/>), so pieces join into natural text.
    /// </summary>
    int[] Encode(string text, int maxLength, bool addSpecialTokens);

    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false);

    string IdToToken(int id);
}
