using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using BridgeRec.Tests.Bridge;
using static TorchSharp.torch;

namespace BridgeRec.Tests.LlmRec;

/// <summary>
/// Items that were never in training, ranked by the LLM's item tower from their text: the score path of new items
/// against the catalog's, the errors of a recommender that cannot read item text, and the new-items file.
/// </summary>
public class NewItemTests
{
    /// <summary>
    /// The ML-100K leave-one-out split of the first <paramref name="users"/> users with every interaction of
    /// <paramref name="heldOut"/> removed (train, validation and test): those items are in the catalog, never in training.
    /// </summary>
    static Split WithoutItems(int users, int[] heldOut)
    {
        var s = BdlmTrainerTests.Subset(users);
        var held = heldOut.ToHashSet();
        Interactions Drop(Interactions x) => x.Where(r => !held.Contains(x.Items[r]));
        return new Split(s.Dataset, Drop(s.Train), Drop(s.Validation), Drop(s.Test), s.Description + $", items {string.Join(" ", heldOut)} held out");
    }

    /// <summary>The <paramref name="count"/> items with the most training interactions among the first users (ties: lower index).</summary>
    static int[] Popular(Split s, int count) =>
        s.Train.Items.GroupBy(i => i).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Take(count).Select(g => g.Key).ToArray();

    /// <summary>A tiny BERT (random weights: the mechanics, not the quality) reading prompts, with the given item tower.</summary>
    static LlmRecommender TinyLlm(Split split, LlmTowerOptions? tower, Tensor? text)
    {
        manual_seed(2);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset), new PromptOptions { MaxHistory = 5, MaxTokens = 96 });
        return new LlmRecommender(tiny, ism, prompts, PromptBuilder.Histories(split, includeValidation: false), ownsIsm: true, tower: tower, itemText: text);
    }

    static float MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a - b).abs().max();
        return d.item<float>();
    }

    [Fact]
    public void NewItemsScoreLikeCatalogItemsWhoseIdRowsAreZero()
    {
        var full = BdlmTrainerTests.Subset(40);
        int[] held = Popular(full, 3);
        var split = WithoutItems(40, held);
        Assert.DoesNotContain(split.Train.Items, held.Contains);
        manual_seed(5);
        using var text = randn(split.Dataset.NumItems, 12);
        using var llm = TinyLlm(split, new LlmTowerOptions { Temperature = 0.1 }, text);
        Assert.True(llm.ScoresItemText);
        var sequences = PromptBuilder.Histories(split, includeValidation: false);
        using var objective = new NextItemObjective(sequences, usersPerEpoch: 16);
        LlmTraining.Train(llm, objective, new LlmTrainingOptions { Batch = 8, LrAdapters = 0.01 }, 1, trainIsm: false, new Random(1), default);

        int[] users = Enumerable.Range(0, 40).ToArray();
        using var heldIdx = tensor(held.Select(i => (long)i).ToArray());
        using var heldText = text.index_select(0, heldIdx);
        using var fresh = llm.ScoreNewItems(users, heldText);
        Assert.Equal([40L, 3L], fresh.shape);
        // The projection trained: new items do not all score 0 (a zero projection would make the comparison empty).
        Assert.True(fresh.abs().max().item<float>() > 1e-3f);
        // Cosines over a temperature of 0.1: on the catalog's scale, within [-10, 10].
        Assert.True(fresh.abs().max().item<float>() <= 10f + 1e-4f);

        // One pass for both: the catalog's columns, then the new items'.
        using var both = llm.ScoreWithNewItems(users, heldText);
        using var catalog = llm.ScoreAll(users);
        Assert.Equal([40L, split.Dataset.NumItems + 3L], both.shape);
        Assert.True(MaxAbsDiff(both.narrow(1, 0, split.Dataset.NumItems), catalog) < 1e-5f);
        Assert.True(MaxAbsDiff(both.narrow(1, split.Dataset.NumItems, 3), fresh) < 1e-5f);

        // The catalog path for the same items once their ID rows (shared E_i and private R_i) are zero: the same scores.
        // (Their user-side rows and prompts are untouched: the held-out items are in no history.)
        using (no_grad())
        {
            llm.Ism.Items.index_fill_(0, heldIdx, BridgeRec.Torch.Scalars.Of(0.0));
            foreach (var rows in llm.PrivateRows().Skip(1)) rows.index_fill_(0, heldIdx, BridgeRec.Torch.Scalars.Of(0.0));
        }
        using var zeroRows = llm.ScoreAll(users);
        using var catalogHeld = zeroRows.index_select(1, heldIdx);
        Assert.True(MaxAbsDiff(catalogHeld, fresh) < 1e-5f, $"catalog path {MaxAbsDiff(catalogHeld, fresh)} away from the new-item path");
    }

    [Fact]
    public void WithoutTheItemTextTowerNewItemsAreAClearError()
    {
        var split = BdlmTrainerTests.Subset(10);
        using var text = randn(split.Dataset.NumItems, 12);
        using var some = randn(2, 12);
        using (var idOnly = TinyLlm(split, new LlmTowerOptions { ItemText = false }, null))
        {
            Assert.False(idOnly.ScoresItemText);
            var e = Assert.Throws<InvalidOperationException>(() => idOnly.ScoreNewItems([0], some));
            Assert.Contains("item_text", e.Message);
            Assert.Contains("bdlm", e.Message);
        }
        using (var firstBuild = TinyLlm(split, null, null))
        {
            var e = Assert.Throws<InvalidOperationException>(() => firstBuild.ScoreNewItems([0], some));
            Assert.Contains("ID rows only", e.Message);
        }
        using var withText = TinyLlm(split, new LlmTowerOptions(), text);
        using var wrongWidth = randn(2, 7);
        var w = Assert.Throws<ArgumentException>(() => withText.ScoreNewItems([0], wrongWidth));
        Assert.Contains("[n, 12]", w.Message);
    }

    /// <summary>The text-only baseline (items as a projection of their text) ranks new items the same way: projection, normalised.</summary>
    [Fact]
    public void TheTextOnlyBaselineScoresNewItemsLikeItsCatalog()
    {
        var split = BdlmTrainerTests.Subset(10);
        manual_seed(4);
        using var text = randn(split.Dataset.NumItems, 12);
        manual_seed(2);
        var tiny = new BertModel(new BertConfig { Hidden = 32, Layers = 1, Heads = 4, Intermediate = 64 });
        var tok = WordPieceTokenizer.MiniLm();
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        var prompts = new PromptBuilder(tok, new ItemTextCache(tok, split.Dataset), new PromptOptions { MaxHistory = 5, MaxTokens = 96, IncludeTaskTokens = false });
        using var llm = new LlmRecommender(tiny, ism, prompts, PromptBuilder.Histories(split, includeValidation: false), new TextItemTable(text, 16), ownsIsm: true,
            tower: new LlmTowerOptions { Temperature = 0.2 });
        Assert.True(llm.ScoresItemText);
        using var idx = tensor(new long[] { 3, 7 });
        using var some = text.index_select(0, idx);
        using var fresh = llm.ScoreNewItems([0, 1, 2], some);
        using var catalog = llm.ScoreAll([0, 1, 2]);
        using var same = catalog.index_select(1, idx);
        Assert.True(MaxAbsDiff(same, fresh) < 1e-5f);
    }

    static Dataset Catalog()
    {
        var users = new IdMap();
        var items = new IdMap();
        users.GetOrAdd("u1");
        foreach (var i in new[] { "10", "20", "30" }) items.GetOrAdd(i);
        return new Dataset("tiny-catalog", users, items, new Interactions([0, 0], [0, 1]));
    }

    static IReadOnlyList<NewItem> ReadFile(TestData.TempDir tmp, string name, string content)
    {
        File.WriteAllText(tmp.File(name), content);
        return NewItemsFile.Read(tmp.File(name), Catalog());
    }

    static DataFormatException Bad(TestData.TempDir tmp, string name, string content) =>
        Assert.Throws<DataFormatException>(() => ReadFile(tmp, name, content));

    [Fact]
    public void TheNewItemsFileReadsCsvAndTsvAndNamesFileLineAndValueOfEveryProblem()
    {
        using var tmp = new TestData.TempDir();
        var csv = ReadFile(tmp, "new.csv", "item_id,text\nn1,\"Heat (1995), Action, Crime\"\n\nn2, Toy Story 5 (2030) \n\"n,3\",\"He said \"\"no\"\"\"\n");
        Assert.Equal([new NewItem("n1", "Heat (1995), Action, Crime"), new NewItem("n2", "Toy Story 5 (2030)"), new NewItem("n,3", "He said \"no\"")], csv);
        var tsv = ReadFile(tmp, "new.tsv", "text\titem_id\textra\nA film, with commas\t40\tignored\n");
        Assert.Equal([new NewItem("40", "A film, with commas")], tsv);

        var e = Bad(tmp, "noheader.csv", "n1,Heat (1995)\n");
        Assert.Contains("noheader.csv:1: missing header line", e.Message);
        Assert.Contains("item_id,text", e.Message);
        Assert.Contains("no text column", Bad(tmp, "notext.csv", "item_id,title\nn1,Heat\n").Message);
        e = Bad(tmp, "columns.csv", "item_id,text\nn1,Heat (1995)\nn2,Heat (1995), Action\n");
        Assert.Equal(3, e.Line);
        Assert.Contains("wrong column count (3)", e.Message);
        Assert.Contains("n2,Heat (1995), Action", e.Message);
        e = Bad(tmp, "dup.csv", "item_id,text\nn1,Heat\nn2,Casino\nn1,Ronin\n");
        Assert.Equal(4, e.Line);
        Assert.Equal("n1", e.Value);
        Assert.Contains("first at line 2", e.Message);
        e = Bad(tmp, "catalog.csv", "item_id,text\nn1,Heat\n20,Casino\n");
        Assert.Equal(3, e.Line);
        Assert.Equal("20", e.Value);
        Assert.Contains("already in the catalog", e.Message);
        Assert.Contains("tiny-catalog", e.Message);
        Assert.Contains("empty text", Bad(tmp, "emptytext.csv", "item_id,text\nn1,\n").Message);
        Assert.Contains("empty item id", Bad(tmp, "emptyid.csv", "item_id,text\n,Heat\n").Message);
        Assert.Contains("unterminated quoted field", Bad(tmp, "quote.csv", "item_id,text\nn1,\"Heat, 1995\n").Message);
        Assert.Contains("no data lines", Bad(tmp, "headeronly.csv", "item_id,text\n").Message);
        Assert.Contains("empty file", Bad(tmp, "empty.csv", "").Message);
        Assert.Contains("duplicate header line", Bad(tmp, "twice.csv", "item_id,text\nn1,Heat\nitem_id,text\n").Message);
        Assert.Throws<FileNotFoundException>(() => NewItemsFile.Read(tmp.File("missing.csv"), Catalog()));
    }
}
