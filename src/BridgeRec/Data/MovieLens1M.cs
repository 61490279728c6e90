using System.Globalization;

namespace BridgeRec.Data;

/// <summary>
/// MovieLens 1M: <c>movies.dat</c> (Latin-1, <c>MovieID::Title::Genres</c>, genres <c>|</c>-separated) and the
/// CoLaKG implicit 80/20 split in <c>colakg_implicit/</c> (LightGCN text format plus <c>item_map.txt</c> /
/// <c>user_map.txt</c>: <c>original_id remapped_id</c>). Item text: Title = the title as written, fields "year"
/// and "genres" (", "-joined).
/// </summary>
public static class MovieLens1M
{
    /// <summary>
    /// The CoLaKG split (6,040 users, 3,260 items, 801,218 train + 197,321 test pairs). Indices are the split's
    /// remapped ids; the id maps hold the original UserIDs and MovieIDs; titles come from movies.dat.
    /// </summary>
    public static Split LoadColakg(string ml1mDir)
    {
        string dir = System.IO.Path.Combine(ml1mDir, "colakg_implicit");
        var movies = LoadMovies(System.IO.Path.Combine(ml1mDir, "movies.dat"));
        int maxUser = -1, maxItem = -1;
        var train = LightGcnText.ReadPart(System.IO.Path.Combine(dir, "train.txt"), ref maxUser, ref maxItem);
        var test = LightGcnText.ReadPart(System.IO.Path.Combine(dir, "test.txt"), ref maxUser, ref maxItem);
        var users = ReadMap(System.IO.Path.Combine(dir, "user_map.txt"), "user", maxUser);
        var items = ReadMap(System.IO.Path.Combine(dir, "item_map.txt"), "item", maxItem);
        var texts = new ItemText?[items.Count];
        for (int i = 0; i < items.Count; i++)
            if (movies.TryGetValue(int.Parse(items.Original(i), CultureInfo.InvariantCulture), out var t)) texts[i] = t;
        var ds = new Dataset("ml-1m", users, items, Interactions.Concat(train, test), texts);
        return new Split(ds, train, Interactions.Empty, test, "colakg_implicit 80/20");
    }

    /// <summary>movies.dat as MovieID -> text.</summary>
    public static Dictionary<int, ItemText> LoadMovies(string moviesPath)
    {
        var f = TextFile.Open(moviesPath, FileEncoding.Latin1, "MovieLens-1M movie file movies.dat");
        var movies = new Dictionary<int, ItemText>(4096);
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            // Title between the first and the last "::" (robust to a "::" inside a title).
            int first = line.IndexOf("::"u8), last = line.LastIndexOf("::"u8);
            if (first < 0 || last == first)
                throw f.ColumnCount(n, line, first < 0 ? 1 : 2, "3 '::'-separated columns: MovieID::Title::Genres");
            int id = f.Id(n, line, line[..first], "movie id");
            string title = f.Text(n, line[(first + 2)..last]).Trim();
            string genres = string.Join(", ", f.Text(n, line[(last + 2)..]).Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            if (!movies.TryAdd(id, ItemText.Of(title, ("year", LoaderText.YearOf(title)), ("genres", genres))))
                throw f.Error(n, line, "duplicate movie id", line[..first], "each id once");
        }
        if (movies.Count == 0) throw f.Empty();
        return movies;
    }

    /// <summary><c>original remapped</c> lines -> an IdMap with index = remapped id, original = the original id.</summary>
    static IdMap ReadMap(string path, string what, int maxUsedIndex)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, $"CoLaKG {what} map");
        var pairs = new List<(string, int, long)>(8192);
        Span<Range> c = stackalloc Range[3];
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            var trimmed = TextFile.Trim(line);
            int count = TextFile.Split(trimmed, (byte)' ', c);
            if (count != 2) throw f.ColumnCount(n, line, count, $"2 space-separated columns: original_{what}_id remapped_id");
            int orig = f.Id(n, line, trimmed[c[0]], $"original {what} id");
            int idx = f.Id(n, line, trimmed[c[1]], $"remapped {what} id");
            pairs.Add((orig.ToString(CultureInfo.InvariantCulture), idx, n));
        }
        if (pairs.Count == 0) throw f.Empty();
        var map = LoaderText.FromIndexedPairs(f, pairs, what);
        if (maxUsedIndex >= map.Count)
            throw new DataFormatException(path, 0, $"the split uses {what} id {maxUsedIndex}, which the map does not list", null,
                $"remapped ids 0..{map.Count - 1} covering every id in train.txt/test.txt");
        return map;
    }
}
