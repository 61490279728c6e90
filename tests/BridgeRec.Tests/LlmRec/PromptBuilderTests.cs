using BridgeRec.Data;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using TorchSharp;

namespace BridgeRec.Tests.LlmRec;

public class PromptBuilderTests
{
    static readonly WordPieceTokenizer Tok = WordPieceTokenizer.MiniLm();

    /// <summary>3 users, 5 items (item 4 without text), timestamps out of row order for user 0.</summary>
    static Split SmallSplit()
    {
        var texts = new ItemText?[]
        {
            ItemText.Of("Toy Story (1995)", ("genres", "Animation, Children's")),
            ItemText.Of("Heat (1995)", ("genres", "Action, Crime, Thriller")),
            ItemText.Of("Fargo (1996)", ("genres", "Crime, Drama, Thriller")),
            ItemText.Of("Star Wars (1977)", ("genres", "Action, Adventure, Sci-Fi")),
            null,
        };
        var users = IdMap.Identity(3);
        var items = new IdMap();
        foreach (string id in new[] { "m0", "m1", "m2", "m3", "B00XYZ" }) items.GetOrAdd(id);
        //               user 0: rows at t=30,10,20 -> chronological 1,2,0 ; user 1 ; user 2 has none in train
        var train = new Interactions([0, 0, 0, 1, 1], [0, 1, 2, 3, 4], [30, 10, 20, 5, 6]);
        var valid = new Interactions([0, 1, 2], [3, 0, 1], [40, 7, 1]);
        var test = new Interactions([0, 1, 2], [4, 2, 2], [50, 8, 2]);
        var ds = new Dataset("tiny", users, items, Interactions.Concat(train, valid, test), texts);
        return new Split(ds, train, valid, test, "hand-made");
    }

    static readonly Split Small = SmallSplit();
    static readonly ItemTextCache Cache = new(Tok, Small.Dataset);

    static int[] Words(string s) => Tok.Encode(s, 1000, addSpecialTokens: false);

    [Fact]
    public void Cache_holds_each_items_text_ids_truncated()
    {
        Assert.Equal(5, Cache.Count);
        Assert.Equal(Words("Toy Story (1995), Animation, Children's"), Cache.Ids(0).ToArray());
        Assert.Equal("toy story ( 1995 ) , animation , children ' s", Show(Cache.Ids(0).ToArray()));
        Assert.Equal(Words("B00XYZ"), Cache.Ids(4).ToArray()); // no text: the original id
        var small = new ItemTextCache(Tok, Small.Dataset, maxItemTokens: 3);
        Assert.Equal(Words("Toy Story (1995)")[..3], small.Ids(0).ToArray());
        for (int i = 0; i < small.Count; i++) Assert.True(small.Length(i) <= 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => Cache.Ids(5));
    }

    [Fact]
    public void Prompt_layout_and_task_token_positions()
    {
        var b = new PromptBuilder(Tok, Cache, new PromptOptions());
        Assert.Equal(Tok.UnusedId(0), b.UserToken);
        Assert.Equal(Tok.UnusedId(1), b.ItemToken);
        int[] history = [1, 2, 0];
        var p = b.Build(7, history);

        Assert.Equal(Tok.ClsId, p.Ids[0]);
        Assert.Equal(Tok.SepId, p.Ids[^1]);
        Assert.Equal(7, p.User);
        Assert.Equal(b.UserToken, p.Ids[p.UserPosition]);
        Assert.Equal(history, p.Items);
        Assert.Equal(history, p.History);
        Assert.Equal(3, p.ItemPositions.Length);
        Assert.True(p.UserPosition < p.ItemPositions[0]);
        for (int k = 0; k < p.Items.Length; k++)
        {
            int pos = p.ItemPositions[k];
            Assert.Equal(b.ItemToken, p.Ids[pos]);
            int[] text = Cache.Ids(p.Items[k]).ToArray();
            Assert.Equal(text, p.Ids.AsSpan(pos + 1, text.Length).ToArray());
            Assert.Equal(Words(";"), p.Ids.AsSpan(pos + 1 + text.Length, 1).ToArray());
        }
        // task ids appear exactly at the recorded positions
        Assert.Equal([p.UserPosition], Positions(p.Ids, b.UserToken));
        Assert.Equal(p.ItemPositions, Positions(p.Ids, b.ItemToken));

        var expected = new List<int> { Tok.ClsId };
        expected.AddRange(Words("user"));
        expected.Add(b.UserToken);
        expected.AddRange(Words("interacted with:"));
        foreach (int i in history) { expected.Add(b.ItemToken); expected.AddRange(Cache.Ids(i).ToArray()); expected.AddRange(Words(";")); }
        expected.AddRange(Words("next:"));
        expected.Add(Tok.SepId);
        Assert.Equal(expected, p.Ids);
        Assert.Equal(b.FixedLength + history.Sum(i => b.ItemOverhead + Cache.Length(i)), p.Length);
        Assert.StartsWith("[CLS] user [unused0] interact ##ed with : [unused1] heat ( 1995 ) , action , crime , thriller ;", Show(p.Ids));
        Assert.EndsWith("; next : [SEP]", Show(p.Ids));
    }

    [Fact]
    public void Click_through_prompt_ends_with_the_candidates_task_token_and_text()
    {
        var b = new PromptBuilder(Tok, Cache);
        int[] history = [1, 2];
        var p = b.Build(7, history, candidate: 3);
        var expected = new List<int> { Tok.ClsId };
        expected.AddRange(Words("user"));
        expected.Add(b.UserToken);
        expected.AddRange(Words("interacted with:"));
        foreach (int i in history) { expected.Add(b.ItemToken); expected.AddRange(Cache.Ids(i).ToArray()); expected.AddRange(Words(";")); }
        expected.AddRange(Words("candidate:"));
        expected.Add(b.ItemToken);
        expected.AddRange(Cache.Ids(3).ToArray());
        expected.Add(Tok.SepId);
        Assert.Equal(expected, p.Ids);
        // The candidate is the last task-token item, not part of the history shown.
        Assert.Equal([1, 2, 3], p.Items);
        Assert.Equal(history, p.History);
        Assert.Equal(p.ItemPositions, Positions(p.Ids, b.ItemToken));
        Assert.Equal(p.Length - 2 - Cache.Length(3), p.ItemPositions[^1]);

        // Text-only: the same words without any task token.
        var t = new PromptBuilder(Tok, Cache, new PromptOptions { IncludeTaskTokens = false }).Build(7, history, 3);
        Assert.Empty(t.Items);
        Assert.Equal(-1, t.UserPosition);
        Assert.Equal(expected.Where(id => id != b.UserToken && id != b.ItemToken), t.Ids);

        // A tight budget drops history first, oldest first, then cuts the candidate's text; it never exceeds the budget.
        int least = b.FixedLength - Words("next:").Length + Words("candidate:").Length + 1 + 1;
        int from = Math.Max(least, b.FixedLength + b.ItemOverhead + 1); // the builder's own minimum applies too
        for (int max = from; max <= p.Length + 2; max++)
        {
            var q = new PromptBuilder(Tok, Cache, new PromptOptions { MaxTokens = max }).Build(7, history, 3);
            Assert.True(q.Length <= max, $"{q.Length} > {max}");
            Assert.Equal(3, q.Items[^1]);
            Assert.Equal(history[^q.History.Length..], q.History);
            Assert.Equal(Tok.SepId, q.Ids[^1]);
            if (q.History.Length > 0) Assert.Equal(Cache.Ids(3).ToArray(), q.Ids.AsSpan(q.ItemPositions[^1] + 1, Cache.Length(3)).ToArray());
        }
        var cut = new PromptBuilder(Tok, Cache, new PromptOptions { MaxTokens = from }).Build(7, history, 3);
        Assert.Empty(cut.History);
        int kept = from - least + 1; // candidate text tokens that fit
        Assert.Equal(Cache.Ids(3)[..kept].ToArray(), cut.Ids.AsSpan(cut.ItemPositions[^1] + 1, kept).ToArray());
        Assert.Equal(from, cut.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Build(7, history, candidate: 5));
    }

    [Fact]
    public void Text_only_prompt_has_no_task_tokens()
    {
        var withTokens = new PromptBuilder(Tok, Cache).Build(0, [0, 1, 2, 3, 4]);
        var b = new PromptBuilder(Tok, Cache, new PromptOptions { IncludeTaskTokens = false });
        var p = b.Build(0, [0, 1, 2, 3, 4]);
        Assert.Equal(-1, p.UserPosition);
        Assert.Empty(p.ItemPositions);
        Assert.Empty(p.Items);
        Assert.Equal([0, 1, 2, 3, 4], p.History);
        Assert.DoesNotContain(Tok.UnusedId(0), p.Ids);
        Assert.DoesNotContain(Tok.UnusedId(1), p.Ids);
        Assert.Equal(withTokens.Ids.Where(id => id != Tok.UnusedId(0) && id != Tok.UnusedId(1)), p.Ids);
        Assert.Equal(withTokens.Length - 6, p.Length);
        Assert.StartsWith("[CLS] user interact ##ed with : toy story ( 1995 ) , animation , children ' s ;", Show(p.Ids));

        var batch = b.Collate([p, p]);
        Assert.Empty(batch.UserBatch);
        Assert.Empty(batch.ItemBatch);
    }

    [Fact]
    public void Max_history_keeps_the_most_recent_items_oldest_first()
    {
        var b = new PromptBuilder(Tok, Cache, new PromptOptions { MaxHistory = 2 });
        var p = b.Build(1, [3, 4, 0, 1]);
        Assert.Equal([0, 1], p.Items);
        Assert.True(p.ItemPositions[0] < p.ItemPositions[1]);

        var none = new PromptBuilder(Tok, Cache, new PromptOptions { MaxHistory = 0 }).Build(1, [3, 4]);
        Assert.Empty(none.Items);
        Assert.Equal(none.Length, new PromptBuilder(Tok, Cache).Build(1, []).Length);
    }

    [Fact]
    public void Max_tokens_drops_the_oldest_whole_items()
    {
        int[] history = [0, 1, 2, 3, 4];
        var full = new PromptBuilder(Tok, Cache).Build(0, history);
        var probe = new PromptBuilder(Tok, Cache);
        int Cost(int i) => probe.ItemOverhead + Cache.Length(i);
        // room for exactly the last three items, one token short of four
        int limit = probe.FixedLength + Cost(1) + Cost(2) + Cost(3) + Cost(4) - 1;
        var b = new PromptBuilder(Tok, Cache, new PromptOptions { MaxTokens = limit });
        var p = b.Build(0, history);
        Assert.Equal([2, 3, 4], p.Items);
        Assert.True(p.Length <= limit);
        Assert.Equal(probe.FixedLength + Cost(2) + Cost(3) + Cost(4), p.Length);
        // the kept part is the tail of the full prompt's items, uncut
        for (int k = 0; k < p.Items.Length; k++)
        {
            int[] text = Cache.Ids(p.Items[k]).ToArray();
            Assert.Equal(text, p.Ids.AsSpan(p.ItemPositions[k] + 1, text.Length).ToArray());
        }
        Assert.Equal(Tok.SepId, p.Ids[^1]);
        Assert.True(full.Length > limit);

        // every limit: fits, newest item kept, oldest dropped first
        for (int max = probe.FixedLength + probe.ItemOverhead + 1; max <= full.Length + 2; max++)
        {
            var q = new PromptBuilder(Tok, Cache, new PromptOptions { MaxTokens = max }).Build(0, history);
            Assert.True(q.Length <= max, $"{q.Length} > {max}");
            Assert.Equal(history[^q.Items.Length..], q.Items);
            Assert.Equal(Tok.SepId, q.Ids[^1]);
            Assert.Equal(Tok.ClsId, q.Ids[0]);
        }
    }

    [Fact]
    public void A_single_item_too_long_is_cut_to_fit()
    {
        var probe = new PromptBuilder(Tok, Cache);
        int room = 4;
        int limit = probe.FixedLength + probe.ItemOverhead + room;
        Assert.True(Cache.Length(3) > room);
        var b = new PromptBuilder(Tok, Cache, new PromptOptions { MaxTokens = limit });
        var p = b.Build(2, [0, 3]);
        Assert.Equal([3], p.Items);
        Assert.Equal(limit, p.Length);
        Assert.Equal(Cache.Ids(3)[..room].ToArray(), p.Ids.AsSpan(p.ItemPositions[0] + 1, room).ToArray());
        Assert.Equal(Words(";")[0], p.Ids[p.ItemPositions[0] + 1 + room]);
        Assert.Equal(Tok.SepId, p.Ids[^1]);

        Assert.Throws<ArgumentOutOfRangeException>(() => new PromptBuilder(Tok, Cache, new PromptOptions { MaxTokens = limit - room }));
    }

    [Fact]
    public void Item_token_cap_and_option_checks()
    {
        var b = new PromptBuilder(Tok, Cache, new PromptOptions { MaxItemTokens = 2 });
        var p = b.Build(0, [0, 3]);
        for (int k = 0; k < 2; k++)
        {
            Assert.Equal(Cache.Ids(p.Items[k])[..2].ToArray(), p.Ids.AsSpan(p.ItemPositions[k] + 1, 2).ToArray());
            Assert.Equal(Words(";")[0], p.Ids[p.ItemPositions[k] + 3]);
        }
        Assert.Throws<ArgumentException>(() => new PromptBuilder(Tok, Cache, new PromptOptions { MaxItemTokens = Cache.MaxItemTokens + 1 }));
        Assert.Throws<ArgumentException>(() => new PromptBuilder(Tok, Cache, new PromptOptions { UserToken = 5, ItemToken = 5 }));
        Assert.Throws<ArgumentException>(() => new PromptBuilder(Tok, Cache, new PromptOptions { UserToken = Tok.ClsId }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PromptBuilder(Tok, Cache).Build(0, [0, 5]));

        var custom = new PromptBuilder(Tok, Cache, new PromptOptions { UserToken = Tok.UnusedId(7), ItemToken = Tok.UnusedId(8) });
        var c = custom.Build(0, [1]);
        Assert.Equal(Tok.UnusedId(7), c.Ids[c.UserPosition]);
        Assert.Equal(Tok.UnusedId(8), c.Ids[c.ItemPositions[0]]);

        var anonymous = new PromptBuilder(Tok, Cache).Build(-1, [1]);
        Assert.Equal(-1, anonymous.UserPosition);
        Assert.DoesNotContain(Tok.UnusedId(0), anonymous.Ids);
        Assert.Equal(Tok.UnusedId(1), anonymous.Ids[anonymous.ItemPositions[0]]);
    }

    [Fact]
    public void Collate_pads_masks_and_indexes_the_task_cells()
    {
        var b = new PromptBuilder(Tok, Cache);
        var prompts = new[] { b.Build(0, [1, 2]), b.Build(1, [3, 4, 0, 1]), b.Build(-1, [2]), b.Build(2, []) };
        var batch = b.Collate(prompts);
        int seq = prompts.Max(p => p.Length);
        Assert.Equal(4, batch.BatchSize);
        Assert.Equal(seq, batch.SequenceLength);
        Assert.Equal(4 * seq, batch.Ids.Length);
        Assert.Equal(4 * seq, batch.Mask.Length);
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < seq; j++)
            {
                bool real = j < prompts[r].Length;
                Assert.Equal(real ? prompts[r].Ids[j] : Tok.PadId, batch.Ids[r * seq + j]);
                Assert.Equal(real ? 1 : 0, batch.Mask[r * seq + j]);
            }

        Assert.Equal([0L, 1, 3], batch.UserBatch); // row 2 has no user token
        Assert.Equal([0L, 1, 2], batch.UserIds);
        for (int n = 0; n < batch.UserBatch.Length; n++)
        {
            var p = prompts[batch.UserBatch[n]];
            Assert.Equal(p.UserPosition, batch.UserPos[n]);
            Assert.Equal(b.UserToken, batch.Ids[batch.UserBatch[n] * seq + batch.UserPos[n]]);
        }
        Assert.Equal(2 + 4 + 1, batch.ItemBatch.Length);
        Assert.Equal([0L, 0, 1, 1, 1, 1, 2], batch.ItemBatch);
        Assert.Equal([1L, 2, 3, 4, 0, 1, 2], batch.ItemIds);
        for (int n = 0; n < batch.ItemBatch.Length; n++)
        {
            long cell = batch.ItemBatch[n] * seq + batch.ItemPos[n];
            Assert.Equal(b.ItemToken, batch.Ids[cell]);
            // the item's text follows its token in the batch row
            int[] text = Cache.Ids((int)batch.ItemIds[n]).ToArray();
            Assert.Equal(text.Select(x => (long)x), batch.Ids.AsSpan((int)cell + 1, text.Length).ToArray());
        }
        // no task id elsewhere in the batch
        Assert.Equal(batch.ItemBatch.Length, batch.Ids.Count(id => id == b.ItemToken));
        Assert.Equal(batch.UserBatch.Length, batch.Ids.Count(id => id == b.UserToken));

        using var t = batch.ToTensors();
        Assert.Equal([4L, seq], t.Ids.shape);
        Assert.Equal([4L, seq], t.Mask.shape);
        Assert.Equal(torch.ScalarType.Int64, t.Ids.dtype);
        Assert.Equal([7L], t.ItemPos.shape);
        Assert.Equal([3L], t.UserIds.shape);
        Assert.Equal(batch.Ids, t.Ids.data<long>().ToArray());
        Assert.Equal(batch.ItemPos, t.ItemPos.data<long>().ToArray());
        // the index tensors address the task cells directly
        using var picked = t.Ids.index([t.ItemBatch, t.ItemPos]);
        Assert.All(picked.data<long>().ToArray(), id => Assert.Equal(b.ItemToken, id));
        Assert.Equal(seq, batch.ToTokenBatch().SequenceLength);

        var empty = b.Collate([]);
        Assert.Equal(0, empty.BatchSize);
        using var et = empty.ToTensors();
        Assert.Equal([0L, 0L], et.Ids.shape);
    }

    [Fact]
    public void Histories_are_chronological_by_timestamp()
    {
        var train = PromptBuilder.Histories(Small, includeValidation: false);
        Assert.Equal(3, train.Length);
        Assert.Equal([1, 2, 0], train[0]);
        Assert.Equal([3, 4], train[1]);
        Assert.Empty(train[2]);
        var withValid = PromptBuilder.Histories(Small, includeValidation: true);
        Assert.Equal([1, 2, 0, 3], withValid[0]);
        Assert.Equal([3, 4, 0], withValid[1]);
        Assert.Equal([1], withValid[2]);

        // without timestamps: row order, training before validation
        var noTime = new Split(Small.Dataset,
            new Interactions(Small.Train.Users, Small.Train.Items), new Interactions(Small.Validation.Users, Small.Validation.Items),
            Small.Test, "no time");
        var h = PromptBuilder.Histories(noTime, includeValidation: true);
        Assert.Equal([0, 1, 2, 3], h[0]);
        Assert.Equal([3, 4, 0], h[1]);
    }

    [Fact]
    public void Ml100k_loo_histories_are_chronological_and_prompts_fit()
    {
        var split = MovieLens100K.LoadBenchmarkSplit(
            Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), Path.Combine(TestData.Root, "movielens-100k"));
        var cache = new ItemTextCache(Tok, split.Dataset);
        Assert.Equal(1682, cache.Count);
        Assert.Equal(Words("Toy Story (1995), Animation, Children's, Comedy").Take(24), cache.Ids(0).ToArray());

        var histories = PromptBuilder.Histories(split, includeValidation: true);
        Assert.Equal(split.Dataset.NumUsers, histories.Length);
        // the chronological order is checked against the timestamps of the split's own rows
        var time = new Dictionary<(int, int), long>();
        foreach (var part in new[] { split.Train, split.Validation })
            for (int k = 0; k < part.Count; k++) time[(part.Users[k], part.Items[k])] = part.Timestamps![k];
        var validItem = new int[split.Dataset.NumUsers];
        for (int k = 0; k < split.Validation.Count; k++) validItem[split.Validation.Users[k]] = split.Validation.Items[k];
        Assert.Equal(split.Train.Count + split.Validation.Count, histories.Sum(h => h.Count));
        for (int u = 0; u < histories.Length; u++)
        {
            var h = histories[u];
            for (int k = 1; k < h.Count; k++) Assert.True(time[(u, h[k - 1])] <= time[(u, h[k])], $"user {u} position {k}");
            Assert.Equal(validItem[u], h[^1]); // leave-one-out: the validation item comes last
        }

        var b = new PromptBuilder(Tok, cache, new PromptOptions { MaxTokens = 128 });
        var prompts = new List<Prompt>();
        for (int u = 0; u < histories.Length; u++)
        {
            var p = b.Build(u, histories[u]);
            Assert.True(p.Length <= 128);
            Assert.Equal(histories[u].TakeLast(p.Items.Length), p.Items);
            Assert.True(p.Items.Length >= 1);
            prompts.Add(p);
        }
        var batch = b.Collate(prompts);
        Assert.True(batch.SequenceLength <= 128);
        Assert.Equal(prompts.Sum(p => p.Items.Length), batch.ItemIds.Length);

        var toy = b.Build(0, [0]);
        Assert.Contains("[unused1] toy story ( 1995 ) , animation , children ' s , comedy ; next : [SEP]", Show(toy.Ids));
    }

    /// <summary>The vocabulary entries joined by spaces (Decode glues punctuation).</summary>
    static string Show(IEnumerable<int> ids) => string.Join(" ", ids.Select(Tok.IdToToken));

    static int[] Positions(int[] ids, int id) => Enumerable.Range(0, ids.Length).Where(j => ids[j] == id).ToArray();
}
