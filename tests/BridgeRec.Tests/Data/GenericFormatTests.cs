using System.Text;
using BridgeRec.Data;

namespace BridgeRec.Tests.Data;

public sealed class GenericFormatTests : IDisposable
{
    readonly TestData.TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    string Write(string name, string text)
    {
        File.WriteAllText(_tmp.File(name), text);
        return _tmp.File(name);
    }

    [Fact]
    public void Headerless_csv_by_position()
    {
        string p = Write("ratings.csv", "alice,m1,4.5,100\nbob,m2,3,200\nalice,m2,5,300\n");
        var d = GenericFormat.Load(p);
        Assert.Equal("ratings", d.Name);
        Assert.Equal(["alice", "bob"], d.Users.Originals);
        Assert.Equal(["m1", "m2"], d.Items.Originals);
        Assert.Equal([0, 1, 0], d.Interactions.Users);
        Assert.Equal([0, 1, 1], d.Interactions.Items);
        Assert.Equal([4.5f, 3f, 5f], d.Interactions.Ratings!);
        Assert.Equal([100L, 200, 300], d.Interactions.Timestamps!);
    }

    [Fact]
    public void Two_and_three_columns_and_sniffed_delimiters()
    {
        var d2 = GenericFormat.Load(Write("pairs.txt", "u1;i1\nu2;i1\n"));
        Assert.Equal(2, d2.Interactions.Count);
        Assert.Null(d2.Interactions.Ratings);
        Assert.Null(d2.Interactions.Timestamps);
        var d3 = GenericFormat.Load(Write("r.dat", "u1\ti1\t2\nu2\ti1\t1\n"));
        Assert.Equal([2f, 1f], d3.Interactions.Ratings!);
        var blank = GenericFormat.Load(Write("b.txt", "1 10  3.0\n2  20 4\n"));
        Assert.Equal(["10", "20"], blank.Items.Originals);
    }

    [Fact]
    public void Header_names_aliases_and_order()
    {
        string p = Write("x.tsv", "timestamp\tmovie_id\tuserId\tRating\tcomment\n5\tA\tU1\t1\tnice\n9\tB\tU2\t2\t\n");
        var d = GenericFormat.Load(p);
        Assert.Equal(["U1", "U2"], d.Users.Originals);
        Assert.Equal(["A", "B"], d.Items.Originals);
        Assert.Equal([1f, 2f], d.Interactions.Ratings!);
        Assert.Equal([5L, 9], d.Interactions.Timestamps!);
        // RecBole atomic-file header
        var rb = GenericFormat.Load(Write("ml.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t2\t3\t978300760\n"));
        Assert.Equal(978300760L, rb.Interactions.Timestamps![0]);
    }

    [Fact]
    public void Options_force_delimiter_header_and_columns()
    {
        string p = Write("odd.txt", "x|y|z\n7|u|i\n8|v|j\n");
        var d = GenericFormat.Load(p, options: new GenericOptions { Delimiter = '|', HasHeader = true, Columns = ["ts", "user", "item"], Name = "odd" });
        Assert.Equal("odd", d.Name);
        Assert.Equal(["u", "v"], d.Users.Originals);
        Assert.Equal([7L, 8], d.Interactions.Timestamps!);
        var noHeader = GenericFormat.Load(Write("n.csv", "user,item\nuser,item2\n"), options: new GenericOptions { HasHeader = false });
        Assert.Equal(2, noHeader.Interactions.Count);
    }

    [Fact]
    public void Iso_timestamps_and_quoted_fields()
    {
        string p = Write("q.csv", "user,item,timestamp\n\"Smith, J\",\"The \"\"Best\"\" One\",2020-01-02T00:00:00Z\nx,y,2020-01-01\n");
        var d = GenericFormat.Load(p);
        Assert.Equal("Smith, J", d.Users.Original(0));
        Assert.Equal("The \"Best\" One", d.Items.Original(0));
        Assert.Equal(1577923200L, d.Interactions.Timestamps![0]);
        Assert.Equal(1577836800L, d.Interactions.Timestamps![1]);
    }

    [Fact]
    public void Items_file_gives_titles_and_fields()
    {
        string items = Write("items.csv", "id,year,title,genres\nm1,1995,\"Toy Story (1995)\",\"Animation, Comedy\"\nm3,2000,Unrated Movie,\n");
        string inter = Write("ratings.csv", "user,item\nu1,m1\nu1,m2\n");
        var d = GenericFormat.Load(inter, items);
        Assert.Equal(["m1", "m3", "m2"], d.Items.Originals); // items file first, in its order
        Assert.Equal("Toy Story (1995)", d.TextOf(0)!.Title);
        Assert.Equal("1995", d.TextOf(0)!["year"]);
        Assert.Equal("Animation, Comedy", d.TextOf(0)!["genres"]);
        Assert.Null(d.TextOf(1)!["genres"]);
        Assert.Null(d.TextOf(2));
        Assert.Equal("Toy Story (1995), Animation, Comedy", d.TextOf(0)!.Render()); // the year field is already in the title
        // no "title" header: the second column is the title
        var d2 = GenericFormat.Load(inter, Write("items2.tsv", "item\tname\nm1\tToy\n"));
        Assert.Equal("Toy", d2.TextOf(0)!.Title);
    }

    [Fact]
    public void Split_shares_id_maps()
    {
        string train = Write("train.csv", "user,item,rating\na,x,1\nb,y,2\n");
        string valid = Write("valid.csv", "user,item,rating\na,y,3\n");
        string test = Write("test.csv", "user,item,rating\nc,z,4\n");
        var s = GenericFormat.LoadSplit(train, test, valid);
        Assert.Equal(3, s.Dataset.NumUsers);
        Assert.Equal(3, s.Dataset.NumItems);
        Assert.Equal([1], s.Validation.Items);
        Assert.Equal([2], s.Test.Users);
        Assert.Equal(4, s.Dataset.Interactions.Count);
        Assert.Equal([1f, 2f, 3f, 4f], s.Dataset.Interactions.Ratings!);
    }

    [Fact]
    public void Malformed_lines_name_file_line_and_value()
    {
        string p = Write("a.csv", "user,item,rating\nu1,i1,4\nu2,i2\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 3, "u2,i2", "column count");
        Write("a.csv", "user,item,rating\nu1,i1,4\nu2,i2,high\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 3, "high", "non-numeric rating");
        Write("a.csv", "u1,i1,4,100\nu2,i2,4,yesterday\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 2, "yesterday", "non-numeric timestamp");
        Write("a.csv", "user,item,rating\nu1,i1,4\nuser,item,rating\nu2,i2,4\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 3, "user,item,rating", "duplicate header");
        Write("a.csv", "u1,i1\nu2,i2\nuser_id,item_id\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 3, "user_id,item_id", "header");
        Write("a.csv", "");
        DataAssert.Names(() => GenericFormat.Load(p), p, 1, problem: "empty");
        Write("a.csv", "user,item\n\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 1, problem: "no data lines");
        Write("a.csv", "user,item\nu1,\"i1\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 2, "u1,\"i1", "unterminated");
        Write("a.csv", "a,b,c,d,e\n");
        DataAssert.Names(() => GenericFormat.Load(p), p, 1, "a,b,c,d,e", "column count");
        File.WriteAllBytes(p, [.. "user,item\nu1,i1\nu2,"u8, 0xFF, .. "x\n"u8]);
        DataAssert.Names(() => GenericFormat.Load(p), p, 3, "u2,\uFFFDx", "UTF-8");
        var e = Assert.Throws<FileNotFoundException>(() => GenericFormat.Load(_tmp.File("missing.csv")));
        Assert.Contains(_tmp.File("missing.csv"), e.Message);
    }

    [Fact]
    public void Malformed_items_file()
    {
        string inter = Write("r.csv", "u1,i1\n");
        string items = Write("items.csv", "id,title\ni1,A\ni1,B\n");
        DataAssert.Names(() => GenericFormat.Load(inter, items), items, 3, "i1", "duplicate item id");
        Write("items.csv", "id,title,year\ni1,A,1990\ni2,B\n");
        DataAssert.Names(() => GenericFormat.Load(inter, items), items, 3, "i2,B", "column count");
        Write("items.csv", "id,title\ni1,A\nid,title\n");
        DataAssert.Names(() => GenericFormat.Load(inter, items), items, 3, "id,title", "duplicate header");
    }

    [Fact]
    public void Latin1_option()
    {
        string p = _tmp.File("l.csv");
        File.WriteAllBytes(p, Encoding.Latin1.GetBytes("user,item\nJos\u00e9,Caf\u00e9\n"));
        Assert.Throws<DataFormatException>(() => GenericFormat.Load(p));
        var d = GenericFormat.Load(p, options: new GenericOptions { Latin1 = true });
        Assert.Equal("José", d.Users.Original(0));
    }
}
