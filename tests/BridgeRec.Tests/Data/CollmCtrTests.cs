using System.Text;
using BridgeRec.Data;
using Xunit.Abstractions;

namespace BridgeRec.Tests.Data;

/// <summary>The CoLLM click-through loader on small synthetic folders: what loads, and how each malformed line is reported.</summary>
public sealed class CollmCtrTests : IDisposable
{
    readonly TestData.TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    const string Header = "uid\tiid\tlabel\ttimestamp\tflag\tnot_cold\this\n";
    const string Items = "iid\ttitle\n1\tAlpha (1990)\n2\tBeta, The (1985)\n3\tGamma\n";
    const string Train = Header +
        "1\t1\t1\t100\t-1.0\t1\t0\n" +
        "1\t2\t0\t200\t-1.0\t1\t0 1\n" +
        "2\t3\t1\t150\t-1.0\t1\t0\n";
    const string Valid = Header + "2\t1\t0\t300\t0.0\t0\t0 3\n";
    const string ValidSmall = Header + "3\t2\t1\t310\t0.0\t1\t0 0 3 1\n";
    const string Test = Header +
        "1\t3\t1\t400\t1.0\t1\t0 1 2\n" +
        "2\t4\t0\t500\t1.0\t0\t0 3 6\n";

    string Dir => Path.Combine(_tmp.Path, "collm_ctr");
    string FileOf(string name) => Path.Combine(Dir, name);

    void WriteFolder(string items = Items, string train = Train, string valid = Valid, string validSmall = ValidSmall, string test = Test)
    {
        Directory.CreateDirectory(Dir);
        File.WriteAllText(FileOf("items.tsv"), items);
        File.WriteAllText(FileOf("train.tsv"), train);
        File.WriteAllText(FileOf("valid.tsv"), valid);
        File.WriteAllText(FileOf("valid_small.tsv"), validSmall);
        File.WriteAllText(FileOf("test.tsv"), test);
    }

    CtrDataset Load(string validation = "valid") => CollmCtr.Load(Dir, validation);

    [Fact]
    public void Tiny_folder_loads()
    {
        WriteFolder();
        var d = Load();
        Assert.Equal("ml-1m-ctr", d.Name);
        Assert.Equal(4, d.NumUsers); // user 3 appears only in valid_small.tsv, which still counts
        Assert.Equal(7, d.NumItems); // item 6 appears only in a test history

        Assert.Equal(FileOf("train.tsv"), d.Train.Source);
        Assert.Equal(3, d.Train.Count);
        Assert.Equal([1, 1, 2], d.Train.Users);
        Assert.Equal([1, 2, 3], d.Train.Items);
        Assert.Equal([1f, 0f, 1f], d.Train.Labels);
        Assert.Equal([100L, 200, 150], d.Train.Timestamps);
        Assert.Equal([true, true, true], d.Train.NotCold);
        Assert.Empty(d.Train.Histories[0]);
        Assert.Equal([1], d.Train.Histories[1]);
        Assert.Equal(2.0 / 3.0, d.Train.PositiveRate, 1e-12);

        Assert.Equal(FileOf("valid.tsv"), d.Validation.Source);
        Assert.Equal([false], d.Validation.NotCold);
        Assert.Equal([3], d.Validation.Histories[0]);
        Assert.Equal(0.0, d.Validation.PositiveRate);

        Assert.Equal([4], d.Test.Items.Skip(1));
        Assert.Equal([1, 2], d.Test.Histories[0]);
        Assert.Equal([3, 6], d.Test.Histories[1]);
        Assert.Equal([false], d.Test.NotCold.Skip(1));

        // no movies.dat beside the folder: title and year only
        Assert.Equal(7, d.ItemTexts.Count);
        Assert.Null(d.ItemTexts[0]);
        Assert.Equal("Alpha (1990)", d.ItemTexts[1]!.Title);
        Assert.Equal("1990", d.ItemTexts[1]!["year"]);
        Assert.Null(d.ItemTexts[1]!["genres"]);
        Assert.Null(d.ItemTexts[3]!["year"]);
        Assert.Null(d.ItemTexts[4]);
        Assert.Equal(["item 0", "Alpha (1990)", "Beta, The (1985)", "Gamma", "item 4", "item 5", "item 6"], d.Texts());

        string summary = d.ToString();
        Assert.Contains("4 users", summary);
        Assert.Contains("7 items", summary);
        Assert.Contains("train 3 rows", summary);
    }

    [Fact]
    public void Valid_small_is_chosen_by_name()
    {
        WriteFolder();
        var d = Load("valid_small");
        Assert.Equal(FileOf("valid_small.tsv"), d.Validation.Source);
        Assert.Equal([3], d.Validation.Users);
        Assert.Equal([3, 1], d.Validation.Histories[0]); // both padding zeros dropped, order kept
        Assert.Equal(4, d.NumUsers);
        Assert.Throws<ArgumentException>(() => Load("validation"));
        Assert.Throws<ArgumentException>(() => Load("test"));
    }

    [Fact]
    public void Genres_are_joined_from_movies_dat_by_exact_title()
    {
        WriteFolder(items: "iid\ttitle\n1\tCaf\u00e9 (1990)\n2\tBeta, The (1985)\n3\tGamma\n");
        File.WriteAllBytes(Path.Combine(_tmp.Path, "movies.dat"),
            Encoding.Latin1.GetBytes("10::Caf\u00e9 (1990)::Comedy|Drama\n20::Beta (1985)::Drama\n"));
        var d = Load();
        Assert.Equal("Caf\u00e9 (1990)", d.ItemTexts[1]!.Title);
        Assert.Equal("Comedy, Drama", d.ItemTexts[1]!["genres"]);
        Assert.Equal("Caf\u00e9 (1990), Comedy, Drama", d.Texts()[1]);
        Assert.Null(d.ItemTexts[2]!["genres"]); // "Beta, The (1985)" is not "Beta (1985)"
        Assert.Equal("1985", d.ItemTexts[2]!["year"]);
    }

    [Fact]
    public void Crlf_and_blank_lines_are_accepted()
    {
        WriteFolder(train: (Train + "\n").Replace("\n", "\r\n"), items: Items.Replace("\n", "\n\n"));
        var d = Load();
        Assert.Equal(3, d.Train.Count);
        Assert.Equal([1], d.Train.Histories[1]);
        Assert.Equal("Gamma", d.ItemTexts[3]!.Title);
    }

    [Fact]
    public void Select_takes_a_subset()
    {
        WriteFolder();
        var train = Load().Train;
        var sub = train.Select([2, 0]);
        Assert.Equal(train.Source, sub.Source);
        Assert.Equal([2, 1], sub.Users);
        Assert.Equal([3, 1], sub.Items);
        Assert.Equal([150L, 100], sub.Timestamps);
        Assert.Same(train.Histories[2], sub.Histories[0]);
        Assert.Equal(1.0, sub.PositiveRate);
        Assert.True(double.IsNaN(train.Select([]).PositiveRate));
        Assert.Throws<ArgumentOutOfRangeException>(() => train.Select([3]));
    }

    [Fact]
    public void Constructors_check_their_arguments()
    {
        Assert.Throws<ArgumentException>(() => new CtrRows("x", [1, 2], [1], [1, 0], [0, 0], [true, true], [[], []]));
        Assert.Throws<ArgumentException>(() => new CtrRows("x", [1], [1], [1], [0], [true], [[], []]));
        var rows = new CtrRows("x", [1], [2], [1], [0], [true], [[3]]);
        Assert.Throws<ArgumentException>(() => new CtrDataset("d", 2, 3, [], rows, rows, rows)); // history item 3 >= 3 items
        Assert.Throws<ArgumentException>(() => new CtrDataset("d", 1, 4, [], rows, rows, rows)); // user 1 >= 1 user
        var d = new CtrDataset("d", 2, 4, [null, ItemText.Of("One")], rows, rows, rows);
        Assert.Equal(4, d.ItemTexts.Count);
        Assert.Equal(["item 0", "One", "item 2", "item 3"], d.Texts());
    }

    // ---- missing things ------------------------------------------------------------------

    [Fact]
    public void Missing_folder_or_file_names_the_path()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Load());
        Assert.Contains(Dir, e.Message);
        WriteFolder();
        File.Delete(FileOf("valid_small.tsv"));
        e = Assert.Throws<FileNotFoundException>(() => Load());
        Assert.Contains(FileOf("valid_small.tsv"), e.Message);
        File.Delete(FileOf("items.tsv"));
        e = Assert.Throws<FileNotFoundException>(() => Load());
        Assert.Contains(FileOf("items.tsv"), e.Message);
    }

    [Fact]
    public void Empty_file()
    {
        WriteFolder(test: "");
        DataAssert.Names(() => Load(), FileOf("test.tsv"), 1, problem: "empty");
    }

    [Fact]
    public void Missing_header()
    {
        WriteFolder(train: Train[Header.Length..]);
        DataAssert.Names(() => Load(), FileOf("train.tsv"), 1, "1\t1\t1\t100", "missing header");
    }

    [Fact]
    public void Wrong_header()
    {
        WriteFolder(valid: Valid.Replace("not_cold", "warm"));
        DataAssert.Names(() => Load(), FileOf("valid.tsv"), 1, "warm", "unexpected header");
        WriteFolder(items: Items.Replace("title", "name"));
        DataAssert.Names(() => Load(), FileOf("items.tsv"), 1, "name", "unexpected header");
    }

    [Fact]
    public void Header_without_rows()
    {
        WriteFolder(validSmall: Header);
        DataAssert.Names(() => Load(), FileOf("valid_small.tsv"), 1, problem: "no data lines");
    }

    [Fact]
    public void Repeated_header()
    {
        WriteFolder(train: Train + Header);
        DataAssert.Names(() => Load(), FileOf("train.tsv"), 5, "uid\tiid", "duplicate header");
    }

    // ---- malformed rows ------------------------------------------------------------------

    [Fact]
    public void Wrong_column_count()
    {
        WriteFolder(train: Header + "1\t1\t1\t100\t-1.0\t1\t0\n1\t2\t0\t200\t-1.0\t1\n");
        DataAssert.Names(() => Load(), FileOf("train.tsv"), 3, "1\t2\t0\t200\t-1.0\t1", "column count");
        WriteFolder(test: Test + "1\t2\t0\t200\t-1.0\t1\t0\textra\n");
        DataAssert.Names(() => Load(), FileOf("test.tsv"), 4, "extra", "column count");
        WriteFolder(items: Items + "4\n");
        DataAssert.Names(() => Load(), FileOf("items.tsv"), 5, "4", "column count");
    }

    [Fact]
    public void Line_numbers_count_blank_lines()
    {
        WriteFolder(valid: Header + "\n2\t1\t0\t300\t0.0\t0\t0 3\n\n2\tx9\t0\t300\t0.0\t0\t0\n");
        DataAssert.Names(() => Load(), FileOf("valid.tsv"), 5, "x9", "non-integer item id");
    }

    [Fact]
    public void Non_integer_user_item_and_timestamp()
    {
        WriteFolder(valid: Header + "u2\t1\t0\t300\t0.0\t0\t0 3\n");
        DataAssert.Names(() => Load(), FileOf("valid.tsv"), 2, "u2", "non-integer user id");
        WriteFolder(test: Test + "1\t1.5\t0\t300\t0.0\t0\t0\n");
        DataAssert.Names(() => Load(), FileOf("test.tsv"), 4, "1.5", "non-integer item id");
        WriteFolder(train: Train + "1\t3\t0\t2001-01-01\t-1.0\t1\t0\n");
        DataAssert.Names(() => Load(), FileOf("train.tsv"), 5, "2001-01-01", "timestamp");
        WriteFolder(items: Items + "4x\tDelta\n");
        DataAssert.Names(() => Load(), FileOf("items.tsv"), 5, "4x", "non-integer item id");
    }

    [Fact]
    public void Negative_and_huge_ids()
    {
        WriteFolder(train: Train + "-3\t1\t0\t300\t-1.0\t1\t0\n");
        DataAssert.Names(() => Load(), FileOf("train.tsv"), 5, "-3", "negative user id");
        WriteFolder(validSmall: Header + "1\t-7\t0\t300\t0.0\t1\t0\n");
        DataAssert.Names(() => Load(), FileOf("valid_small.tsv"), 2, "-7", "negative item id");
        WriteFolder(test: Header + "1\t99999999999\t0\t300\t0.0\t1\t0\n");
        DataAssert.Names(() => Load(), FileOf("test.tsv"), 2, "99999999999", "too large");
    }

    [Fact]
    public void Label_and_not_cold_must_be_0_or_1()
    {
        WriteFolder(train: Train + "1\t3\t2\t300\t-1.0\t1\t0\n");
        DataAssert.Names(() => Load(), FileOf("train.tsv"), 5, "2", "label not 0 or 1");
        WriteFolder(test: Test + "1\t3\tyes\t300\t1.0\t1\t0\n");
        DataAssert.Names(() => Load(), FileOf("test.tsv"), 4, "yes", "label not 0 or 1");
        WriteFolder(valid: Header + "2\t1\t0\t300\t0.0\t-1\t0 3\n");
        DataAssert.Names(() => Load(), FileOf("valid.tsv"), 2, "-1", "not_cold not 0 or 1");
        // "1.0" is the number 1 and is accepted
        WriteFolder(valid: Header + "2\t1\t1.0\t300\t0.0\t0.0\t0 3\n");
        Assert.Equal([1f], Load().Validation.Labels);
    }

    [Fact]
    public void Flag_must_be_a_number()
    {
        WriteFolder(test: Test + "1\t3\t1\t300\tnone\t1\t0\n");
        DataAssert.Names(() => Load(), FileOf("test.tsv"), 4, "none", "flag");
    }

    [Fact]
    public void Bad_history_entries()
    {
        WriteFolder(train: Train + "1\t3\t1\t300\t-1.0\t1\t0 1 x2 3\n");
        DataAssert.Names(() => Load(), FileOf("train.tsv"), 5, "x2", "non-integer history item id");
        WriteFolder(test: Test + "1\t3\t1\t300\t1.0\t1\t0 1 -4\n");
        DataAssert.Names(() => Load(), FileOf("test.tsv"), 4, "-4", "negative history item id");
        WriteFolder(valid: Header + "2\t1\t0\t300\t0.0\t0\t0 3,4\n");
        DataAssert.Names(() => Load(), FileOf("valid.tsv"), 2, "3,4", "non-integer history item id");
    }

    [Fact]
    public void Duplicate_item_id_and_empty_title()
    {
        WriteFolder(items: Items + "12\tDelta\n2\tBeta again\n");
        var e = DataAssert.Names(() => Load(), FileOf("items.tsv"), 6, "2", "duplicate item id");
        Assert.Contains("first at line 3", e.Message);
        WriteFolder(items: Items + "12\t  \n");
        DataAssert.Names(() => Load(), FileOf("items.tsv"), 5, "12", "empty title");
    }
}

/// <summary>Loads the real folder once for <see cref="CollmCtrDataTests"/>.</summary>
public sealed class CollmCtrFixture
{
    public CtrDataset Data { get; } = CollmCtr.Load(TestData.Path_("movielens-1m", "collm_ctr"));
}

/// <summary>The real CoLLM MovieLens-1M click-through folder (fails, not skips, when the data is missing).</summary>
public sealed class CollmCtrDataTests(CollmCtrFixture fx, ITestOutputHelper output) : IClassFixture<CollmCtrFixture>
{
    readonly CtrDataset _d = fx.Data;

    [Fact]
    public void Row_counts_and_ids()
    {
        output.WriteLine(_d.ToString());
        // line counts of the files minus their header (wc -l: 33892, 10402, 7332)
        Assert.Equal(33_891, _d.Train.Count);
        Assert.Equal(10_401, _d.Validation.Count);
        Assert.Equal(7_331, _d.Test.Count);
        Assert.Equal(839, _d.NumUsers);   // largest uid 838
        Assert.Equal(3_256, _d.NumItems); // largest iid 3255
        // positives per part (label column sums)
        Assert.Equal(18_191, _d.Train.Labels.Count(l => l == 1f));
        Assert.Equal(5_495, _d.Validation.Labels.Count(l => l == 1f));
        Assert.Equal(3_998, _d.Test.Labels.Count(l => l == 1f));
        // training rows are all warm; about a third of the test rows are cold
        Assert.All(_d.Train.NotCold, Assert.True);
        Assert.Equal(4_153, _d.Test.NotCold.Count(w => w));

        foreach (var part in new[] { _d.Train, _d.Validation, _d.Test })
        {
            Assert.All(part.Labels, l => Assert.True(l is 0f or 1f));
            Assert.All(part.Items, i => Assert.InRange(i, 1, _d.NumItems - 1));
            Assert.All(part.Users, u => Assert.InRange(u, 0, _d.NumUsers - 1));
            foreach (var h in part.Histories)
                foreach (int i in h)
                    Assert.InRange(i, 1, _d.NumItems - 1); // padding 0 dropped, every id known
        }
        Assert.All(_d.Test.Histories, h => Assert.DoesNotContain(0, h));
    }

    [Fact]
    public void Item_texts_with_genres()
    {
        Assert.Null(_d.ItemTexts[0]);
        var shawshank = _d.ItemTexts[1]!;
        Assert.Contains("Shawshank Redemption", shawshank.Title);
        Assert.Equal("1994", shawshank["year"]);
        Assert.Equal("Drama", shawshank["genres"]);
        Assert.Contains("Shawshank Redemption", _d.Texts()[1]);
        // every title of items.tsv is found in movies.dat
        for (int i = 1; i < _d.NumItems; i++) Assert.NotNull(_d.ItemTexts[i]?["genres"]);
    }

    [Fact]
    public void Valid_small_is_the_other_validation_file()
    {
        var small = CollmCtr.Load(TestData.Path_("movielens-1m", "collm_ctr"), "valid_small");
        Assert.Equal(5_200, small.Validation.Count);
        Assert.Equal(_d.NumUsers, small.NumUsers);
        Assert.Equal(_d.NumItems, small.NumItems);
    }
}
