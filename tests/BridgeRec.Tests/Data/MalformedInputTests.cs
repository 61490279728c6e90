using System.Text;
using BridgeRec.Data;

namespace BridgeRec.Tests.Data;

/// <summary>Every loader on small synthetic files: well-formed ones load, each kind of malformed line names file, line and value.</summary>
public sealed class MalformedInputTests : IDisposable
{
    readonly TestData.TempDir _tmp = new();
    public void Dispose() => _tmp.Dispose();

    static readonly byte[] BadUtf8 = [0xC3, 0x28]; // an invalid two-byte sequence

    string Write(string name, string text) => WriteBytes(name, Encoding.UTF8.GetBytes(text));

    string WriteBytes(string name, byte[] bytes)
    {
        string path = _tmp.File(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    string WriteWithBadBytes(string name, string before, string after) =>
        WriteBytes(name, [.. Encoding.UTF8.GetBytes(before), .. BadUtf8, .. Encoding.UTF8.GetBytes(after)]);

    // ---- MovieLens-100K -------------------------------------------------------------------

    void WriteMl100k(string data, string? item = null)
    {
        Write("u.genre", string.Join("\n", Enumerable.Range(0, 19).Select(g => $"genre{g}|{g}")) + "\n\n");
        string flags = string.Join("|", Enumerable.Range(0, 19).Select(g => g == 3 ? "1" : "0"));
        Write("u.item", item ?? $"1|Movie A (1990)|01-Jan-1990||http://x|{flags}\n2|Movie B|01-Jan-1991||http://y|{flags}\n");
        Write("u.data", data);
    }

    [Fact]
    public void Ml100k_synthetic_loads()
    {
        WriteMl100k("2\t1\t4\t100\n1\t2\t5\t200\n");
        var d = MovieLens100K.Load(_tmp.Path);
        Assert.Equal(2, d.NumUsers);
        Assert.Equal("1", d.Users.Original(0));
        Assert.Equal(1, d.Interactions.Users[0]);
        Assert.Equal("Movie A (1990)", d.TextOf(0)!.Title);
        Assert.Equal("genre3", d.TextOf(0)!["genres"]);
        Assert.Equal("1990", d.TextOf(0)!["year"]);
    }

    [Fact]
    public void Ml100k_wrong_column_count()
    {
        WriteMl100k("1\t1\t4\t100\n1\t2\t5\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.data"), 2, "1\t2\t5", "column count");
    }

    [Fact]
    public void Ml100k_non_numeric_id()
    {
        WriteMl100k("1\t1\t4\t100\n1\t2\t5\t100\nuser7\t2\t5\t100\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.data"), 3, "user7", "non-numeric user id");
    }

    [Fact]
    public void Ml100k_non_numeric_rating_and_timestamp()
    {
        WriteMl100k("1\t1\tfive\t100\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.data"), 1, "five", "rating");
        WriteMl100k("1\t1\t5\t100\n\n1\t2\t5\t1e9x\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.data"), 3, "1e9x", "timestamp");
    }

    [Fact]
    public void Ml100k_bad_utf8_empty_and_missing()
    {
        WriteMl100k("");
        WriteWithBadBytes("u.data", "1\t1\t4\t100\n1\t", "\t5\t100\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.data"), 2, "1\t\uFFFD(", "UTF-8");

        WriteMl100k("\n  \n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.data"), 1, problem: "empty");

        File.Delete(_tmp.File("u.data"));
        var e = Assert.Throws<FileNotFoundException>(() => MovieLens100K.Load(_tmp.Path));
        Assert.Contains(_tmp.File("u.data"), e.Message);
    }

    [Fact]
    public void Ml100k_item_file_errors()
    {
        string flags = string.Join("|", Enumerable.Repeat("0", 19));
        WriteMl100k("1\t1\t4\t100\n", $"1|A (1990)|x||u|{flags}\n2|B (1990)|x||u|0|0\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.item"), 2, "2|B (1990)", "column count");
        WriteMl100k("1\t1\t4\t100\n", $"1|A (1990)|x||u|{flags}\n1|B (1990)|x||u|{flags}\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.item"), 2, "1", "duplicate movie id");
        WriteMl100k("1\t1\t4\t100\n", $"1|A (1990)|x||u|{flags[..^1]}2\n");
        DataAssert.Names(() => MovieLens100K.Load(_tmp.Path), _tmp.File("u.item"), 1, "2", "genre flag 19");
    }

    [Fact]
    public void Ml100k_latin1_titles_never_fail()
    {
        WriteMl100k("1\t1\t4\t100\n");
        string flags = string.Join("|", Enumerable.Repeat("0", 19));
        WriteBytes("u.item", Encoding.Latin1.GetBytes($"1|Mis\u00e9rables, Les (1995)|x||u|{flags}\n"));
        Assert.Equal("Misérables, Les (1995)", MovieLens100K.Load(_tmp.Path).TextOf(0)!.Title);
    }

    [Fact]
    public void Benchmark_split_missing_files()
    {
        var e = Assert.Throws<FileNotFoundException>(() => MovieLens100K.LoadBenchmarkSplit(_tmp.Path));
        Assert.Contains(_tmp.Path, e.Message);
        Write("train.tsv", "0\t0\t5\n");
        Write("valid.tsv", "0\t1\t6\n");
        Write("test.tsv", "0\t2\n");
        DataAssert.Names(() => MovieLens100K.LoadBenchmarkSplit(_tmp.Path), _tmp.File("test.tsv"), 1, "0\t2", "column count");
    }

    // ---- LightGCN text and ML-1M ------------------------------------------------------------

    [Fact]
    public void LightGcn_synthetic_loads_with_empty_user_line()
    {
        string train = Write("train.txt", "0 1 2 3\n1\n2 0\r\n");
        string test = Write("test.txt", "0 4\n1 5 \n");
        var s = LightGcnText.Load(train, test, name: "tiny");
        Assert.Equal(3, s.Dataset.NumUsers);
        Assert.Equal(6, s.Dataset.NumItems);
        Assert.Equal(4, s.Train.Count);
        Assert.Equal(2, s.Test.Count);
        Assert.Equal([0, 0, 0, 2], s.Train.Users);
        Assert.Equal([1, 2, 3, 0], s.Train.Items);
        Assert.Equal("tiny", s.Dataset.Name);
    }

    [Fact]
    public void LightGcn_errors()
    {
        string test = Write("test.txt", "0 4\n");
        string train = Write("train.txt", "0 1 2\n1 2 x3 4\n");
        DataAssert.Names(() => LightGcnText.Load(train, test), train, 2, "x3", "non-numeric item id");
        Write("train.txt", "0 1 2\nu1 2\n");
        DataAssert.Names(() => LightGcnText.Load(train, test), train, 2, "u1", "non-numeric user id");
        Write("train.txt", "0 1 2\n1 2 99999999999\n");
        DataAssert.Names(() => LightGcnText.Load(train, test), train, 2, "99999999999");
        WriteWithBadBytes("train.txt", "0 1 2\n0 1 2\n1 2 ", "\n");
        DataAssert.Names(() => LightGcnText.Load(train, test), train, 3, "1 2 \uFFFD(", "UTF-8");
        Write("train.txt", "");
        DataAssert.Names(() => LightGcnText.Load(train, test), train, 1, problem: "empty");
        Write("train.txt", "0 1\n");
        var e = Assert.Throws<FileNotFoundException>(() => LightGcnText.Load(train, _tmp.File("nope.txt")));
        Assert.Contains(_tmp.File("nope.txt"), e.Message);
    }

    [Fact]
    public void Ml1m_errors()
    {
        Write("colakg_implicit/train.txt", "0 0 1\n1 1\n");
        Write("colakg_implicit/test.txt", "0 2\n1 0\n");
        Write("colakg_implicit/user_map.txt", "1 0\n2 1\n");
        Write("colakg_implicit/item_map.txt", "10 0\n20 1\n30 2\n");
        WriteBytes("movies.dat", Encoding.Latin1.GetBytes("10::Caf\u00e9 (1990)::Comedy|Drama\n20::B (1991)::Drama\n30::C (1992)::Drama\n"));
        var s = MovieLens1M.LoadColakg(_tmp.Path);
        Assert.Equal("Café (1990)", s.Dataset.TextOf(0)!.Title);
        Assert.Equal("Comedy, Drama", s.Dataset.TextOf(0)!["genres"]);
        Assert.Equal("30", s.Dataset.Items.Original(2));

        Write("movies.dat", "10::A (1990)::Drama\n20 B (1991) Drama\n");
        DataAssert.Names(() => MovieLens1M.LoadColakg(_tmp.Path), _tmp.File("movies.dat"), 2, "20 B (1991) Drama", "column count");
        Write("movies.dat", "10::A (1990)::Drama\nx20::B (1991)::Drama\n");
        DataAssert.Names(() => MovieLens1M.LoadColakg(_tmp.Path), _tmp.File("movies.dat"), 2, "x20", "non-numeric movie id");
        Write("movies.dat", "10::A (1990)::Drama\n");
        Write("colakg_implicit/item_map.txt", "10 0\n20 1\n30 2 7\n");
        DataAssert.Names(() => MovieLens1M.LoadColakg(_tmp.Path), _tmp.File("colakg_implicit/item_map.txt"), 3, "30 2 7", "column count");
        Write("colakg_implicit/item_map.txt", "10 0\n20 1\n30 1\n");
        DataAssert.Names(() => MovieLens1M.LoadColakg(_tmp.Path), _tmp.File("colakg_implicit/item_map.txt"), 3, "1", "duplicate item index");
        Write("colakg_implicit/item_map.txt", "10 0\n20 1\n");
        Assert.Throws<DataFormatException>(() => MovieLens1M.LoadColakg(_tmp.Path)); // the split uses item 2
    }

    // ---- UniSRec ----------------------------------------------------------------------------

    const string InterHeader = "user_id:token\titem_id_list:token_seq\titem_id:token\n";

    void WriteUniSRec(string? train = null, string? text = null)
    {
        Write("T.user2index", "UA\t0\nUB\t1\n");
        Write("T.item2index", "I0\t0\nI1\t1\nI2\t2\nI3\t3\nI4\t4\n");
        Write("T.text", text ?? "item_id:token\ttext:token_seq\nI0\tZero. Cat. Brand. \nI1\tOne\nI2\tTwo\nI3\tThree\nI4\tFour\n");
        Write("T.train.inter", InterHeader + (train ?? "0\t0 1 2\t3\n0\t0 1\t2\n0\t0\t1\n1\t4\t3\n"));
        Write("T.valid.inter", InterHeader + "0\t0 1 2 3\t4\n1\t4 3\t2\n");
        Write("T.test.inter", InterHeader + "0\t1 2 3 4\t0\n1\t4 3 2\t1\n");
    }

    [Fact]
    public void UniSRec_synthetic_loads()
    {
        WriteUniSRec();
        var s = UniSRec.Load(_tmp.Path, "T");
        Assert.Equal([0, 1, 2, 3, 4, 3], s.Train.Items);
        Assert.Equal([0L, 1, 2, 3, 0, 1], s.Train.Timestamps!);
        Assert.Equal([4, 2], s.Validation.Items);
        Assert.Equal([0, 1], s.Test.Items);
        Assert.Equal(10, s.Dataset.Interactions.Count);
        Assert.Equal("Zero. Cat. Brand.", s.Dataset.TextOf(0)!.Title);
        var h = UniSRec.LoadTestHistories(_tmp.Path, "T");
        Assert.Equal([1, 2, 3, 4], h[0]); // truncated history as given
    }

    [Fact]
    public void UniSRec_errors()
    {
        string train = _tmp.File("T.train.inter");
        WriteUniSRec(train: "0\t0 1 2\t3\n" + InterHeader + "0\t0 1\t2\n0\t0\t1\n1\t4\t3\n");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), train, 3, "user_id:token", "duplicate header");
        WriteUniSRec(train: "0\t0 1 2\t3\n0\t0 1\n0\t0\t1\n1\t4\t3\n");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), train, 3, "0\t0 1", "column count");
        WriteUniSRec(train: "0\t0 1 2\t3\n0\t0 one\t2\n0\t0\t1\n1\t4\t3\n");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), train, 3, "one", "non-numeric");
        WriteUniSRec(train: "0\t0 1 2\t3\n0\t0 1\t2\n0\t0\t1\n1\t4\t7\n");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), train, 5, "7", "out of range");
        WriteUniSRec(train: "0\t0 1 4\t3\n0\t0 1\t2\n0\t0\t1\n1\t4\t3\n");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), train, 2, "0 1 4", "contradicts");
        WriteUniSRec();
        WriteWithBadBytes("T.text", "item_id:token\ttext:token_seq\nI0\tZero\nI1\tO", "ne\n");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), _tmp.File("T.text"), 3, "I1\tO\uFFFD(ne", "UTF-8");
        WriteUniSRec();
        Write("T.valid.inter", "");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), _tmp.File("T.valid.inter"), 1, problem: "empty");
        Write("T.valid.inter", InterHeader);
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), _tmp.File("T.valid.inter"), 1, problem: "no data lines");
        Write("T.valid.inter", "0\t0 1 2 3\t4\n1\t4 3\t2\n");
        DataAssert.Names(() => UniSRec.Load(_tmp.Path, "T"), _tmp.File("T.valid.inter"), 1, "0\t0 1 2 3\t4", "missing header");
    }

    // ---- CaseRec ----------------------------------------------------------------------------

    void WriteAnime(string history, string? info = null)
    {
        Write("anime_info.dat", info ?? "anime_ids\tname\tgenre\ttype\tepisodes\trating\tmembers\n1\tGintama&#039;\tAction, Comedy\tTV\t51\t9.16\t151266\n2\tB\t\tMovie\t1\t7\t10\n");
        Write("anime_history.dat", "User_ID\tAnime_ID\tFeedback\n" + history);
    }

    [Fact]
    public void CaseRec_synthetic_anime_and_books()
    {
        WriteAnime("3\t2\t1\n1\t2\t1\n");
        var d = CaseRec.Load(_tmp.Path);
        Assert.Equal(["1", "3"], d.Users.Originals);
        Assert.Equal(2, d.NumItems); // item 1 only in the info file
        Assert.Equal("Gintama'", d.TextOf(0)!.Title);
        Assert.Null(d.TextOf(1)!["genres"]);

        using var books = new TestData.TempDir();
        File.WriteAllText(books.File("book_history.dat"), "user\titem\taccessed\n1\t1\t1\n");
        File.WriteAllText(books.File("book_ratings.dat"), "user\titem\trating\n1\t1\t7.000000\n");
        File.WriteAllText(books.File("items_info.dat"),
            "Book_ID\tISBN\tBook-Title\tBook-Author\tYear-Of-Publication\tPublisher\tImage-URL-S\tImage-URL-M\tImage-URL-L\n" +
            "1\t0393045218\tA &amp\t B\tE. J. W. Barber\t1999\tW. W. Norton &amp\t Company\thttp://s\thttp://m\thttp://l\t\n");
        var b = CaseRec.Load(books.Path, useRatings: true);
        Assert.Equal(7f, b.Interactions.Ratings![0]);
        Assert.Equal("A & B", b.TextOf(0)!.Title);
        Assert.Equal("W. W. Norton & Company", b.TextOf(0)!["publisher"]);
        File.WriteAllText(books.File("items_info.dat"),
            "Book_ID\tISBN\tBook-Title\tBook-Author\tYear-Of-Publication\tPublisher\tImage-URL-S\tImage-URL-M\tImage-URL-L\n" +
            "1\t0393045218\tTitle\t1999\tPub\thttp://s\thttp://m\thttp://l\t\n");
        DataAssert.Names(() => CaseRec.Load(books.Path), books.File("items_info.dat"), 2, "0393045218", "column count");
    }

    [Fact]
    public void CaseRec_errors()
    {
        string hist = _tmp.File("anime_history.dat");
        WriteAnime("1\t1\t1\nUser_ID\tAnime_ID\tFeedback\n1\t2\t1\n");
        DataAssert.Names(() => CaseRec.Load(_tmp.Path), hist, 3, "User_ID\tAnime_ID\tFeedback", "duplicate header");
        WriteAnime("1\t1\t1\n1\t2\n");
        DataAssert.Names(() => CaseRec.Load(_tmp.Path), hist, 3, "1\t2", "column count");
        WriteAnime("1\t1\t1\n1\t#2\t1\n");
        DataAssert.Names(() => CaseRec.Load(_tmp.Path), hist, 3, "#2", "non-numeric item id");
        WriteAnime("");
        DataAssert.Names(() => CaseRec.Load(_tmp.Path), hist, 1, problem: "no data lines");
        Write("anime_history.dat", "");
        DataAssert.Names(() => CaseRec.Load(_tmp.Path), hist, 1, problem: "empty");
        WriteAnime("1\t1\t1\n");
        WriteWithBadBytes("anime_info.dat", "anime_ids\tname\tgenre\ttype\tepisodes\trating\tmembers\n1\tA", "\tAction\tTV\t1\t1\t1\n");
        DataAssert.Names(() => CaseRec.Load(_tmp.Path), _tmp.File("anime_info.dat"), 2, "1\tA\uFFFD(", "UTF-8");
        WriteAnime("1\t1\t1\n");
        var e = Assert.Throws<FileNotFoundException>(() => CaseRec.Load(_tmp.Path, useRatings: true));
        Assert.Contains(_tmp.File("anime_ratings.dat"), e.Message);
        Assert.Throws<FileNotFoundException>(() => CaseRec.Load(Path.Combine(_tmp.Path, "nothing-here")));
    }
}
