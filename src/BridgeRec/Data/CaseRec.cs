using System.Net;

namespace BridgeRec.Data;

/// <summary>
/// CaseRecommender's processed datasets (UTF-8, TAB-separated, a header line), detected from the files present:
/// <list type="bullet">
/// <item>anime-caserec: <c>anime_history.dat</c> / <c>anime_ratings.dat</c> (<c>User_ID Anime_ID Feedback</c>) and
/// <c>anime_info.dat</c> (<c>anime_ids name genre type episodes rating members</c>). Item text: Title = name with
/// HTML entities decoded, fields "genres", "type".</item>
/// <item>bookcrossing-caserec: <c>book_history.dat</c> / <c>book_ratings.dat</c> (<c>user item accessed|rating</c>) and
/// <c>items_info.dat</c> (<c>Book_ID ISBN Book-Title Book-Author Year-Of-Publication Publisher</c> + 3 image URLs). Item text:
/// Title = book title, fields "author", "year" (absent where BX has 0), "publisher" (HTML entities decoded).</item>
/// </list>
/// Users and items are numbered in ascending numeric id order (ids are 1-based, so index = id - 1 where ids are
/// contiguous). Items = every item of the info file plus any item of the interaction file; users = those of the
/// interaction file. No timestamps.
/// </summary>
public static class CaseRec
{
    /// <param name="dir">the dataset folder</param>
    /// <param name="useRatings">load the explicit ratings file (ratings in <see cref="Interactions.Ratings"/>) instead of the history file</param>
    public static Dataset Load(string dir, bool useRatings = false)
    {
        bool anime = File.Exists(System.IO.Path.Combine(dir, "anime_info.dat")) || File.Exists(System.IO.Path.Combine(dir, "anime_history.dat"));
        bool books = File.Exists(System.IO.Path.Combine(dir, "items_info.dat")) || File.Exists(System.IO.Path.Combine(dir, "book_history.dat"));
        if (anime == books)
            throw new FileNotFoundException(anime
                ? $"{System.IO.Path.GetFullPath(dir)} holds both anime and book files; cannot tell which CaseRec dataset it is"
                : $"no CaseRec dataset in {System.IO.Path.GetFullPath(dir)}: expected anime_history.dat + anime_info.dat or book_history.dat + items_info.dat",
                dir);
        string prefix = anime ? "anime" : "book";
        string interPath = System.IO.Path.Combine(dir, $"{prefix}_{(useRatings ? "ratings" : "history")}.dat");
        string infoPath = System.IO.Path.Combine(dir, anime ? "anime_info.dat" : "items_info.dat");
        TextFile.RequireFile(interPath, $"CaseRec {(useRatings ? "ratings" : "history")} file");

        var info = anime ? ReadAnimeInfo(infoPath) : ReadBookInfo(infoPath);
        var f = TextFile.Open(interPath, FileEncoding.Utf8, "CaseRec interaction file");
        int capacity = f.Length / 10 + 16;
        var rawU = new List<int>(capacity);
        var rawI = new List<int>(capacity);
        var ratings = useRatings ? new List<float>(capacity) : null;
        Span<Range> c = stackalloc Range[4];
        var lines = f.Lines();
        f.ReadHeader(ref lines);
        long headerLine = lines.Number;
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 3) throw f.ColumnCount(n, line, count, $"3 TAB-separated columns: user item {(useRatings ? "rating" : "feedback")}");
            rawU.Add(f.Id(n, line, line[c[0]], "user id"));
            rawI.Add(f.Id(n, line, line[c[1]], "item id"));
            float value = f.Float(n, line, line[c[2]], useRatings ? "rating" : "feedback");
            ratings?.Add(value);
        }
        if (rawU.Count == 0) throw f.NoDataAfterHeader(headerLine);

        var users = new AscendingIds();
        foreach (int u in rawU) users.Add(u);
        var items = new AscendingIds();
        foreach (int id in info.Keys) items.Add(id);
        foreach (int i in rawI) items.Add(i);
        IdMap userMap = users.Build(), itemMap = items.Build();
        var uArr = new int[rawU.Count];
        var iArr = new int[rawU.Count];
        for (int k = 0; k < uArr.Length; k++) { uArr[k] = users[rawU[k]]; iArr[k] = items[rawI[k]]; }
        var texts = new ItemText?[itemMap.Count];
        foreach (var (id, text) in info) texts[items[id]] = text;
        string name = (anime ? "anime-caserec" : "bookcrossing-caserec") + (useRatings ? "-ratings" : "");
        return new Dataset(name, userMap, itemMap, new Interactions(uArr, iArr, null, ratings?.ToArray()), texts);
    }

    static Dictionary<int, ItemText> ReadAnimeInfo(string path)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "CaseRec anime info file anime_info.dat");
        var info = new Dictionary<int, ItemText>(8192);
        Span<Range> c = stackalloc Range[8];
        var lines = f.Lines();
        f.ReadHeader(ref lines);
        long headerLine = lines.Number;
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 7) throw f.ColumnCount(n, line, count, "7 TAB-separated columns: anime_ids name genre type episodes rating members");
            int id = f.Id(n, line, line[c[0]], "anime id");
            string name = WebUtility.HtmlDecode(f.Text(n, line[c[1]])).Trim();
            string genres = WebUtility.HtmlDecode(f.Text(n, line[c[2]])).Trim();
            string type = f.Text(n, line[c[3]]).Trim();
            if (!info.TryAdd(id, ItemText.Of(name, ("genres", genres), ("type", type))))
                throw f.Error(n, line, "duplicate anime id", line[c[0]], "each id once");
        }
        if (info.Count == 0) throw f.NoDataAfterHeader(headerLine);
        return info;
    }

    /// <summary>
    /// items_info.dat, parsed as SOURCE.md prescribes: column 0 = id, column 1 = ISBN, the last three non-empty fields =
    /// image URLs, the fields in between = title / author / year / publisher, where a field ending in an entity that lost
    /// its ';' (<c>&amp;amp</c>, <c>&amp;quot</c>, <c>&amp;lt</c>, <c>&amp;gt</c>) is re-joined with the next one by ';'.
    /// 27 rows still have more than four middle fields because their title held a plain ';': the extra leading fields
    /// are re-joined into the title with ';' (author, year and publisher are always the last three).
    /// </summary>
    static Dictionary<int, ItemText> ReadBookInfo(string path)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "CaseRec book info file items_info.dat");
        var info = new Dictionary<int, ItemText>(20000);
        Span<Range> c = stackalloc Range[64];
        var mid = new List<string>(8);
        var lines = f.Lines();
        f.ReadHeader(ref lines);
        long headerLine = lines.Number;
        const string expected = "Book_ID, ISBN, title, author, year, publisher and 3 image URLs, TAB-separated";
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count > c.Length) throw f.ColumnCount(n, line, count, expected);
            int last = count - 1;
            while (last >= 0 && TextFile.IsBlank(line[c[last]])) last--;
            int urlStart = last - 2; // the last three non-empty fields are the image URLs
            if (urlStart < 6) throw f.ColumnCount(n, line, count, expected);
            int id = f.Id(n, line, line[c[0]], "book id");
            mid.Clear();
            for (int k = 2; k < urlStart; k++)
            {
                string field = f.Text(n, line[c[k]]);
                if (mid.Count > 0 && EndsWithBrokenEntity(mid[^1])) mid[^1] += ";" + field;
                else mid.Add(field);
            }
            if (mid.Count < 4) throw f.ColumnCount(n, line, count, expected);
            int extra = mid.Count - 4;
            string title = string.Join(";", mid.Take(extra + 1));
            string Clean(string s) => WebUtility.HtmlDecode(s).Trim();
            string year = Clean(mid[extra + 2]);
            if (year == "0") year = ""; // BX writes 0 for an unknown year
            var text = ItemText.Of(Clean(title), ("author", Clean(mid[extra + 1])), ("year", year), ("publisher", Clean(mid[extra + 3])));
            if (!info.TryAdd(id, text)) throw f.Error(n, line, "duplicate book id", line[c[0]], "each id once");
        }
        if (info.Count == 0) throw f.NoDataAfterHeader(headerLine);
        return info;
    }

    static bool EndsWithBrokenEntity(string s) =>
        s.EndsWith("&amp", StringComparison.Ordinal) || s.EndsWith("&quot", StringComparison.Ordinal) ||
        s.EndsWith("&lt", StringComparison.Ordinal) || s.EndsWith("&gt", StringComparison.Ordinal);
}
