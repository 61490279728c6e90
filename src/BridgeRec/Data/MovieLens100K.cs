using System.Globalization;

namespace BridgeRec.Data;

/// <summary>
/// MovieLens 100K (GroupLens release): <c>u.data</c> (TAB: user item rating timestamp, ASCII),
/// <c>u.item</c> (Latin-1, <c>|</c>-separated: id|title|release|video release|URL|19 genre flags) and
/// <c>u.genre</c> (genre|index). Users and items are numbered in ascending numeric id order, so
/// index = id - 1 for the complete release (943 users, 1,682 items). Item text: Title = the title as
/// written (trimmed), fields "year" (the last "(YYYY)" in the title) and "genres" (", "-joined names).
/// </summary>
public static class MovieLens100K
{
    public const int NumUsers = 943;
    public const int NumItems = 1682;
    const int GenreCount = 19;

    /// <summary>The full dataset: 100,000 ratings with timestamps; every u.item movie gets an index, also without ratings.</summary>
    public static Dataset Load(string dir)
    {
        const string what = "MovieLens-100K ratings file u.data";
        string dataPath = System.IO.Path.Combine(dir, "u.data");
        TextFile.RequireFile(dataPath, what);
        var movies = ReadMovies(System.IO.Path.Combine(dir, "u.item"));
        var f = TextFile.Open(dataPath, FileEncoding.Utf8, what);

        int capacity = f.Length / 20 + 16;
        var rawUsers = new List<int>(capacity);
        var rawItems = new List<int>(capacity);
        var ratings = new List<float>(capacity);
        var times = new List<long>(capacity);
        Span<Range> c = stackalloc Range[5];
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 4) throw f.ColumnCount(n, line, count, "4 TAB-separated columns: user item rating timestamp");
            rawUsers.Add(f.Id(n, line, line[c[0]], "user id"));
            rawItems.Add(f.Id(n, line, line[c[1]], "item id"));
            ratings.Add(f.Float(n, line, line[c[2]], "rating"));
            times.Add(f.Long(n, line, line[c[3]], "timestamp"));
        }
        if (rawUsers.Count == 0) throw f.Empty();

        var users = new AscendingIds();
        foreach (int u in rawUsers) users.Add(u);
        var items = new AscendingIds();
        foreach (var m in movies) items.Add(m.Id);
        foreach (int i in rawItems) items.Add(i);
        IdMap userMap = users.Build(), itemMap = items.Build();

        int rows = rawUsers.Count;
        var uArr = new int[rows];
        var iArr = new int[rows];
        for (int k = 0; k < rows; k++) { uArr[k] = users[rawUsers[k]]; iArr[k] = items[rawItems[k]]; }
        var texts = new ItemText?[itemMap.Count];
        foreach (var m in movies) texts[items[m.Id]] = m.Text;
        return new Dataset("ml-100k", userMap, itemMap, new Interactions(uArr, iArr, times.ToArray(), ratings.ToArray()), texts);
    }

    /// <summary>
    /// Texts from <paramref name="uItemPath"/> (with <c>u.genre</c> beside it) for the items of <paramref name="items"/>:
    /// the movie with id m goes to the index whose original id is m + <paramref name="movieIdOffset"/>
    /// (use -1 for maps of 0-based ids, such as the benchmark splits). Items without a movie stay null.
    /// </summary>
    public static ItemText?[] LoadItemTexts(string uItemPath, IdMap items, int movieIdOffset = 0)
    {
        var texts = new ItemText?[items.Count];
        foreach (var m in ReadMovies(uItemPath))
            if (items.TryGet((m.Id + movieIdOffset).ToString(CultureInfo.InvariantCulture), out int idx))
                texts[idx] = m.Text;
        return texts;
    }

    /// <summary>
    /// A benchmark split of ML-100K with 0-based ids (user = u.data id - 1, item = movie id - 1): either
    /// <c>train.txt</c>/<c>test.txt</c> (LightGCN text format) or <c>train.tsv</c>/<c>valid.tsv</c>/<c>test.tsv</c>
    /// (user TAB item TAB timestamp, chronological leave-one-out). Identity id maps of at least 943 users and 1,682
    /// items (larger when the files hold larger ids). Titles are attached when <paramref name="ml100kDir"/> is given.
    /// </summary>
    public static Split LoadBenchmarkSplit(string splitDir, string? ml100kDir = null)
    {
        string txtTrain = System.IO.Path.Combine(splitDir, "train.txt"), tsvTrain = System.IO.Path.Combine(splitDir, "train.tsv");
        string kind = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(splitDir)));
        ItemText?[]? Texts(IdMap items) =>
            ml100kDir is null ? null : LoadItemTexts(System.IO.Path.Combine(ml100kDir, "u.item"), items, movieIdOffset: -1);

        if (File.Exists(txtTrain))
            return LightGcnText.LoadCore(txtTrain, System.IO.Path.Combine(splitDir, "test.txt"), null, "ml-100k",
                $"benchmark {kind}", NumUsers, NumItems, Texts);
        if (File.Exists(tsvTrain))
        {
            int maxU = NumUsers - 1, maxI = NumItems - 1;
            var train = ReadTriples(tsvTrain, ref maxU, ref maxI);
            var valid = ReadTriples(System.IO.Path.Combine(splitDir, "valid.tsv"), ref maxU, ref maxI);
            var test = ReadTriples(System.IO.Path.Combine(splitDir, "test.tsv"), ref maxU, ref maxI);
            var users = IdMap.Identity(maxU + 1);
            var items = IdMap.Identity(maxI + 1);
            var ds = new Dataset("ml-100k", users, items, Interactions.Concat(train, valid, test), Texts(items));
            return new Split(ds, train, valid, test, $"benchmark {kind}");
        }
        throw new FileNotFoundException(
            $"no benchmark split in {System.IO.Path.GetFullPath(splitDir)}: expected train.txt + test.txt (LightGCN format) or train.tsv + valid.tsv + test.tsv",
            txtTrain);
    }

    /// <summary>user TAB item TAB timestamp, 0-based ids.</summary>
    static Interactions ReadTriples(string path, ref int maxUser, ref int maxItem)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "benchmark split file");
        var b = new InteractionsBuilder(f.Length / 16 + 16);
        Span<Range> c = stackalloc Range[4];
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 3) throw f.ColumnCount(n, line, count, "3 TAB-separated columns: user item timestamp");
            int u = f.Id(n, line, line[c[0]], "user id"), i = f.Id(n, line, line[c[1]], "item id");
            b.Add(u, i, f.Long(n, line, line[c[2]], "timestamp"));
            if (u > maxUser) maxUser = u;
            if (i > maxItem) maxItem = i;
        }
        if (b.Count == 0) throw f.Empty();
        return b.Build();
    }

    internal readonly record struct Movie(int Id, ItemText Text);

    /// <summary>u.item rows in file order (u.genre from the same folder names the genre flags).</summary>
    internal static List<Movie> ReadMovies(string uItemPath)
    {
        string genrePath = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(uItemPath))!, "u.genre");
        var genres = ReadGenres(genrePath);
        var f = TextFile.Open(uItemPath, FileEncoding.Latin1, "MovieLens-100K item file u.item");
        var movies = new List<Movie>(NumItems);
        var seen = new Dictionary<int, long>();
        Span<Range> c = stackalloc Range[5 + GenreCount + 1];
        var names = new List<string>(4);
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'|', c);
            if (count != 5 + GenreCount)
                throw f.ColumnCount(n, line, count, $"{5 + GenreCount} '|'-separated columns: id|title|release date|video release date|URL|{GenreCount} genre flags");
            int id = f.Id(n, line, line[c[0]], "movie id");
            if (!seen.TryAdd(id, n))
                throw f.Error(n, line, "duplicate movie id", line[c[0]], $"each id once (first at line {seen[id]})");
            names.Clear();
            for (int g = 0; g < GenreCount; g++)
            {
                var flag = TextFile.Trim(line[c[5 + g]]);
                if (flag.SequenceEqual("1"u8)) names.Add(genres[g]);
                else if (!flag.SequenceEqual("0"u8))
                    throw f.Error(n, line, $"genre flag {g + 1} is not 0 or 1", line[c[5 + g]], "0 or 1");
            }
            string title = f.Text(n, line[c[1]]).Trim();
            movies.Add(new Movie(id, ItemText.Of(title, ("year", LoaderText.YearOf(title)), ("genres", string.Join(", ", names)))));
        }
        if (movies.Count == 0) throw f.Empty();
        return movies;
    }

    static string[] ReadGenres(string path)
    {
        var f = TextFile.Open(path, FileEncoding.Latin1, "MovieLens-100K genre file u.genre");
        var genres = new string?[GenreCount];
        Span<Range> c = stackalloc Range[3];
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'|', c);
            if (count != 2) throw f.ColumnCount(n, line, count, "2 '|'-separated columns: genre|index");
            int idx = f.Id(n, line, line[c[1]], "genre index");
            if (idx >= GenreCount) throw f.Error(n, line, "genre index out of range", line[c[1]], $"0..{GenreCount - 1}");
            genres[idx] = f.Text(n, line[c[0]]).Trim();
        }
        for (int g = 0; g < GenreCount; g++)
            if (genres[g] is null) throw new DataFormatException(path, 0, $"genre index {g} missing", null, $"{GenreCount} genres, indices 0..{GenreCount - 1}");
        return genres!;
    }
}
