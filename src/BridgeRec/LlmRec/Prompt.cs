using BridgeRec.Language;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.LlmRec;

/// <summary>
/// One user's prompt as token ids, [CLS] first and [SEP] last, and where its task tokens are: the input embedding at
/// <see cref="UserPosition"/> stands for user <see cref="User"/>, the one at <c>ItemPositions[k]</c> for item
/// <c>Items[k]</c> (the item's text follows right after it).
/// </summary>
/// <param name="Ids">token ids, specials included</param>
/// <param name="UserPosition">the position of the user task token, -1 when the prompt has none</param>
/// <param name="ItemPositions">the positions of the item task tokens, ascending (empty without task tokens)</param>
/// <param name="Items">the item index at each of <paramref name="ItemPositions"/>, same order (oldest -> newest)</param>
/// <param name="User">the user index the prompt was built for</param>
/// <param name="History">the history items the prompt shows, oldest -> newest, with or without task tokens</param>
public sealed record Prompt(int[] Ids, int UserPosition, int[] ItemPositions, int[] Items, int User, int[] History)
{
    /// <summary>
    /// The whole history the prompt was built from (oldest first), of which <see cref="History"/> shows the newest: what a
    /// sequential DSM reads for the user token (<see cref="LlmRecommender.FollowUserEncoder"/>). Null: <see cref="History"/>.
    /// </summary>
    public IReadOnlyList<int>? Sequence { get; init; }

    /// <summary>Number of tokens, specials included.</summary>
    public int Length => Ids.Length;
}

/// <summary>
/// Prompts collated into a right-padded batch: ids and attention mask, BatchSize × SequenceLength, row-major, plus the
/// task-token cells as flat index arrays. For the n-th user token, the embedding at (UserBatch[n], UserPos[n]) is to
/// be replaced by the adapter output of user row UserIds[n]; the same for items. These are the Batch / Position
/// tensors of <see cref="EmbeddingOverrides"/> once the vectors have been looked up.
/// </summary>
public sealed record PromptBatch(
    long[] Ids, long[] Mask, int BatchSize, int SequenceLength,
    long[] UserBatch, long[] UserPos, long[] UserIds,
    long[] ItemBatch, long[] ItemPos, long[] ItemIds)
{
    /// <summary>For each user token (aligned with <see cref="UserIds"/>), the history its prompt was built from (<see cref="Prompt.Sequence"/>).</summary>
    public IReadOnlyList<int>[] UserSequences { get; init; } = [];

    /// <summary>Right-pads <paramref name="prompts"/> with <paramref name="padId"/> to the longest of them.</summary>
    public static PromptBatch Collate(IReadOnlyList<Prompt> prompts, int padId)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        int b = prompts.Count, seq = 0, users = 0, items = 0;
        for (int r = 0; r < b; r++)
        {
            var p = prompts[r] ?? throw new ArgumentException($"Prompt {r} is null.", nameof(prompts));
            if (p.ItemPositions.Length != p.Items.Length)
                throw new ArgumentException($"Prompt {r} has {p.ItemPositions.Length} item positions but {p.Items.Length} items.", nameof(prompts));
            seq = Math.Max(seq, p.Ids.Length);
            if (p.UserPosition >= 0) users++;
            items += p.Items.Length;
        }
        var ids = new long[(long)b * seq];
        var mask = new long[ids.LongLength];
        if (padId != 0) Array.Fill(ids, padId);
        var userBatch = new long[users]; var userPos = new long[users]; var userIds = new long[users];
        var userSequences = new IReadOnlyList<int>[users];
        var itemBatch = new long[items]; var itemPos = new long[items]; var itemIds = new long[items];
        int nu = 0, ni = 0;
        for (int r = 0; r < b; r++)
        {
            var p = prompts[r];
            int at = r * seq;
            for (int j = 0; j < p.Ids.Length; j++)
            {
                ids[at + j] = p.Ids[j];
                mask[at + j] = 1;
            }
            if (p.UserPosition >= 0)
            {
                userBatch[nu] = r; userPos[nu] = p.UserPosition; userIds[nu] = p.User; userSequences[nu] = p.Sequence ?? p.History;
                nu++;
            }
            for (int k = 0; k < p.Items.Length; k++)
            {
                itemBatch[ni] = r; itemPos[ni] = p.ItemPositions[k]; itemIds[ni] = p.Items[k];
                ni++;
            }
        }
        return new PromptBatch(ids, mask, b, seq, userBatch, userPos, userIds, itemBatch, itemPos, itemIds) { UserSequences = userSequences };
    }

    /// <summary>The ids and mask as a <see cref="TokenBatch"/> (token types all 0).</summary>
    public TokenBatch ToTokenBatch() => new(Ids, Mask, new long[Ids.LongLength], BatchSize, SequenceLength);

    /// <summary>
    /// Everything as int64 tensors on <paramref name="device"/> (the CPU by default), copied: ids and mask
    /// [BatchSize, SequenceLength], the six index arrays 1-D.
    /// </summary>
    public PromptTensors ToTensors(Device? device = null)
    {
        var made = new List<Tensor>(8);
        Tensor Make(long[] values, params long[] shape)
        {
            var t = tensor(values, shape, ScalarType.Int64, device);
            made.Add(t);
            return t;
        }
        try
        {
            return new PromptTensors(
                Make(Ids, BatchSize, SequenceLength), Make(Mask, BatchSize, SequenceLength),
                Make(UserBatch, UserBatch.Length), Make(UserPos, UserPos.Length), Make(UserIds, UserIds.Length),
                Make(ItemBatch, ItemBatch.Length), Make(ItemPos, ItemPos.Length), Make(ItemIds, ItemIds.Length));
        }
        catch
        {
            foreach (var t in made) t.Dispose();
            throw;
        }
    }
}

/// <summary>A <see cref="PromptBatch"/> as int64 tensors. Disposing disposes all of them.</summary>
public sealed record PromptTensors(
    Tensor Ids, Tensor Mask,
    Tensor UserBatch, Tensor UserPos, Tensor UserIds,
    Tensor ItemBatch, Tensor ItemPos, Tensor ItemIds) : IDisposable
{
    public void Dispose()
    {
        Ids.Dispose(); Mask.Dispose();
        UserBatch.Dispose(); UserPos.Dispose(); UserIds.Dispose();
        ItemBatch.Dispose(); ItemPos.Dispose(); ItemIds.Dispose();
    }
}
