using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;

namespace BridgeRec.Data;

/// <summary>
/// One part (train / validation / test) of a click-through dataset: one labelled (user, item) pair per row, with
/// the row's timestamp, whether the row is warm (its user and item were seen in training) and the user's earlier
/// items. All arrays are parallel (index = row). The arrays are exposed as they are, for speed; treat them as
/// read-only.
/// </summary>
public sealed class CtrRows
{
    /// <summary>Wraps parallel per-row arrays; they must all have the same length and no history may be null.</summary>
    /// <exception cref="ArgumentException">The arrays differ in length or a history is null.</exception>
    public CtrRows(string source, int[] users, int[] items, float[] labels, long[] timestamps, bool[] notCold, int[][] histories)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(users);
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(timestamps);
        ArgumentNullException.ThrowIfNull(notCold);
        ArgumentNullException.ThrowIfNull(histories);
        int n = users.Length;
        if (items.Length != n || labels.Length != n || timestamps.Length != n || notCold.Length != n || histories.Length != n)
            throw new ArgumentException(
                $"CtrRows '{source}': column lengths differ (users {users.Length}, items {items.Length}, labels {labels.Length}, " +
                $"timestamps {timestamps.Length}, notCold {notCold.Length}, histories {histories.Length})");
        for (int r = 0; r < n; r++)
            if (histories[r] is null) throw new ArgumentException($"CtrRows '{source}': the history of row {r} is null", nameof(histories));
        Source = source;
        Users = users;
        Items = items;
        Labels = labels;
        Timestamps = timestamps;
        NotCold = notCold;
        Histories = histories;
    }

    /// <summary>Where the rows came from: the file path, or a description for rows built in code.</summary>
    public string Source { get; }
    /// <summary>User id of each row.</summary>
    public int[] Users { get; }
    /// <summary>Item id of each row.</summary>
    public int[] Items { get; }
    /// <summary>Label of each row: 1f = clicked / liked, 0f = not.</summary>
    public float[] Labels { get; }
    /// <summary>Timestamp of each row as given in the file (Unix seconds for MovieLens).</summary>
    public long[] Timestamps { get; }
    /// <summary>The file's not_cold column: true where the row is warm, false where it is cold.</summary>
    public bool[] NotCold { get; }
    /// <summary>The user's earlier items for each row, oldest first, with the padding id 0 removed (possibly empty).</summary>
    public int[][] Histories { get; }
    /// <summary>Number of rows.</summary>
    public int Count => Users.Length;

    /// <summary>
    /// The given rows, in the given order (repeats allowed), as a new part with the same <see cref="Source"/>.
    /// History arrays are shared with this part, not copied.
    /// </summary>
    public CtrRows Select(IReadOnlyList<int> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int m = rows.Count;
        var users = new int[m];
        var items = new int[m];
        var labels = new float[m];
        var times = new long[m];
        var warm = new bool[m];
        var his = new int[m][];
        for (int k = 0; k < m; k++)
        {
            int r = rows[k];
            if ((uint)r >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(rows), r, $"row index out of range 0..{Count - 1}");
            users[k] = Users[r]; items[k] = Items[r]; labels[k] = Labels[r];
            times[k] = Timestamps[r]; warm[k] = NotCold[r]; his[k] = Histories[r];
        }
        return new CtrRows(Source, users, items, labels, times, warm, his);
    }

    /// <summary>The share of rows labelled 1 (the mean label); NaN when there are no rows.</summary>
    public double PositiveRate
    {
        get
        {
            if (Count == 0) return double.NaN;
            double sum = 0;
            foreach (float l in Labels) sum += l;
            return sum / Count;
        }
    }

    public override string ToString() => $"{Source}: {Count:N0} rows, {PositiveRate:P1} positive";
}

/// <summary>
/// A click-through dataset: dense user and item ids (used directly as indices), the text of each item where known,
/// and the train, validation and test parts.
/// </summary>
public sealed class CtrDataset
{
    readonly ItemText?[] _texts;

    /// <summary>
    /// Assembles a dataset. <paramref name="itemTexts"/> is indexed by item id and may be shorter than
    /// <paramref name="numItems"/> (missing entries are null). Every user, item and history id of the parts must be
    /// below <paramref name="numUsers"/> / <paramref name="numItems"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An id is out of range, or there are more texts than items.</exception>
    public CtrDataset(string name, int numUsers, int numItems, ItemText?[] itemTexts, CtrRows train, CtrRows validation, CtrRows test)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(itemTexts);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(validation);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentOutOfRangeException.ThrowIfNegative(numUsers);
        ArgumentOutOfRangeException.ThrowIfNegative(numItems);
        if (itemTexts.Length > numItems)
            throw new ArgumentException($"{itemTexts.Length} item texts for {numItems} items", nameof(itemTexts));
        foreach (var part in (ReadOnlySpan<CtrRows>)[train, validation, test]) CheckIds(part, numUsers, numItems);
        _texts = new ItemText?[numItems];
        itemTexts.CopyTo(_texts, 0);
        Name = name;
        NumUsers = numUsers;
        NumItems = numItems;
        ItemTexts = new ReadOnlyCollection<ItemText?>(_texts);
        Train = train;
        Validation = validation;
        Test = test;
    }

    static void CheckIds(CtrRows part, int numUsers, int numItems)
    {
        for (int r = 0; r < part.Count; r++)
        {
            if ((uint)part.Users[r] >= (uint)numUsers)
                throw new ArgumentException($"{part.Source}: row {r} has user id {part.Users[r]}, outside 0..{numUsers - 1}");
            if ((uint)part.Items[r] >= (uint)numItems)
                throw new ArgumentException($"{part.Source}: row {r} has item id {part.Items[r]}, outside 0..{numItems - 1}");
            foreach (int h in part.Histories[r])
                if ((uint)h >= (uint)numItems)
                    throw new ArgumentException($"{part.Source}: row {r} has history item id {h}, outside 0..{numItems - 1}");
        }
    }

    /// <summary>The dataset's name (e.g. "ml-1m-ctr").</summary>
    public string Name { get; }
    /// <summary>Number of user ids: one more than the largest user id.</summary>
    public int NumUsers { get; }
    /// <summary>Number of item ids: one more than the largest item id.</summary>
    public int NumItems { get; }
    /// <summary>Text of each item, indexed by item id; null where the item has none (such as the padding id 0).</summary>
    public IReadOnlyList<ItemText?> ItemTexts { get; }
    /// <summary>The training rows.</summary>
    public CtrRows Train { get; }
    /// <summary>The validation rows.</summary>
    public CtrRows Validation { get; }
    /// <summary>The test rows.</summary>
    public CtrRows Test { get; }

    /// <summary>
    /// The rows of users with id below <paramref name="maxUsers"/> in every part, ids and items unchanged: a quick
    /// experiment on a slice (the table sizes stay those of the whole dataset).
    /// </summary>
    public CtrDataset KeepUsersBelow(int maxUsers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxUsers, 1);
        CtrRows Keep(CtrRows rows) => rows.Select(Enumerable.Range(0, rows.Count).Where(r => rows.Users[r] < maxUsers).ToArray());
        return new CtrDataset(Name, NumUsers, NumItems, ItemTexts.ToArray(), Keep(Train), Keep(Validation), Keep(Test));
    }

    /// <summary>One string per item id: <see cref="ItemText.Render"/> of its text, or "item {id}" where it has none.</summary>
    public string[] Texts()
    {
        var texts = new string[NumItems];
        for (int i = 0; i < texts.Length; i++)
            texts[i] = _texts[i]?.Render() ?? "item " + i.ToString(CultureInfo.InvariantCulture);
        return texts;
    }

    /// <summary>A one-line summary: users, items, and the rows and positive rate of each part.</summary>
    public override string ToString()
    {
        static string Part(string label, CtrRows p) =>
            string.Create(CultureInfo.InvariantCulture, $"{label} {p.Count:N0} rows ({p.PositiveRate:P1} positive)");
        return string.Create(CultureInfo.InvariantCulture, $"{Name}: {NumUsers:N0} users, {NumItems:N0} items; ") +
               $"{Part("train", Train)}, {Part("validation", Validation)}, {Part("test", Test)}";
    }
}

/// <summary>
/// Loader for the click-through split of MovieLens-1M used by CoLLM (folder <c>collm_ctr</c>).
/// <para>Row files <c>train.tsv</c>, <c>valid.tsv</c>, <c>valid_small.tsv</c> and <c>test.tsv</c> (UTF-8, tab-separated)
/// start with the header <c>uid iid label timestamp flag not_cold his</c>; then one row per line: user id, item id,
/// label 0/1, integer timestamp, a numeric flag (checked, not kept), not_cold 0/1, and the space-separated history
/// (item ids oldest first; id 0 is padding and is dropped). <c>items.tsv</c> has the header <c>iid title</c>.</para>
/// <para>Ids are already dense and are used as they are: NumUsers is one more than the largest user id in the four row
/// files and NumItems one more than the largest item id anywhere (items.tsv, row items, histories), so the id space
/// does not depend on which validation file is chosen. All four row files are therefore required and checked.</para>
/// <para>Item text is the title with its year; when the folder's parent holds MovieLens-1M's <c>movies.dat</c>,
/// genres are added by matching the exact title. Blank lines are skipped; every malformed line raises a
/// <see cref="DataFormatException"/> naming the file, the line and the value.</para>
/// </summary>
public static class CollmCtr
{
    /// <summary>The name given to the loaded dataset.</summary>
    public const string DatasetName = "ml-1m-ctr";

    /// <summary>Ids must stay below this so that arrays indexed by id stay reasonable.</summary>
    const int MaxId = 1 << 24;

    static readonly string[] RowHeader = ["uid", "iid", "label", "timestamp", "flag", "not_cold", "his"];
    static readonly string[] ItemHeader = ["iid", "title"];
    static readonly string[] RowFiles = ["train", "valid", "valid_small", "test"];

    /// <summary>
    /// Loads the folder. <paramref name="validation"/> picks the validation part: "valid" (valid.tsv, the default)
    /// or "valid_small" (valid_small.tsv).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown validation name.</exception>
    /// <exception cref="FileNotFoundException">The folder or one of its files is missing.</exception>
    /// <exception cref="DataFormatException">A file is empty, lacks its header or has a malformed line.</exception>
    public static CtrDataset Load(string folder, string validation = "valid")
    {
        ArgumentNullException.ThrowIfNull(folder);
        ArgumentNullException.ThrowIfNull(validation);
        if (validation is not ("valid" or "valid_small"))
            throw new ArgumentException($"unknown validation part '{validation}'; expected \"valid\" or \"valid_small\"", nameof(validation));
        if (!Directory.Exists(folder))
            throw new FileNotFoundException($"CoLLM click-through folder not found: {Path.GetFullPath(folder)}", folder);

        string itemsPath = Path.Combine(folder, "items.tsv");
        TextFile.RequireFile(itemsPath, "CoLLM item file items.tsv");
        foreach (string part in RowFiles)
            TextFile.RequireFile(Path.Combine(folder, part + ".tsv"), $"CoLLM click-through file {part}.tsv");

        var titles = ReadItems(itemsPath, out int maxItem);
        int maxUser = -1;
        var parts = new Dictionary<string, CtrRows>(RowFiles.Length);
        foreach (string part in RowFiles)
            parts[part] = ReadRows(Path.Combine(folder, part + ".tsv"), ref maxUser, ref maxItem);

        int numItems = maxItem + 1, numUsers = maxUser + 1;
        var texts = new ItemText?[numItems];
        var movies = MoviesByTitle(folder);
        foreach (var (id, title) in titles)
            texts[id] = movies is not null && movies.TryGetValue(title, out var known)
                ? known
                : ItemText.Of(title, ("year", LoaderText.YearOf(title)));
        return new CtrDataset(DatasetName, numUsers, numItems, texts, parts["train"], parts[validation], parts["test"]);
    }

    /// <summary>movies.dat beside the folder as title -> text, or null when it is not there.</summary>
    static Dictionary<string, ItemText>? MoviesByTitle(string folder)
    {
        string? parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        if (parent is null) return null;
        string path = Path.Combine(parent, "movies.dat");
        if (!File.Exists(path)) return null;
        var byTitle = new Dictionary<string, ItemText>(4096, StringComparer.Ordinal);
        foreach (var (_, text) in MovieLens1M.LoadMovies(path).OrderBy(kv => kv.Key)) byTitle.TryAdd(text.Title, text);
        return byTitle;
    }

    // ---- items.tsv ---------------------------------------------------------------------------

    static List<(int Id, string Title)> ReadItems(string path, out int maxItem)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "CoLLM item file items.tsv");
        var lines = f.Lines();
        CheckHeader(f, f.ReadHeader(ref lines), lines.Number, ItemHeader);
        long headerLine = lines.Number;
        var items = new List<(int, string)>(4096);
        var firstLine = new Dictionary<int, long>(4096);
        Span<Range> c = stackalloc Range[3];
        maxItem = -1;
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 2) throw f.ColumnCount(n, line, count, "2 tab-separated columns: iid title");
            int id = Id(f, n, line, line[c[0]], "item id");
            string title = f.Text(n, line[c[1]]).Trim();
            if (title.Length == 0) throw f.Error(n, line, "empty title", line, "a title in the second column");
            if (!firstLine.TryAdd(id, n))
                throw f.Error(n, line, "duplicate item id", line[c[0]], $"each item id once (first at line {firstLine[id]})");
            items.Add((id, title));
            maxItem = Math.Max(maxItem, id);
        }
        if (items.Count == 0) throw f.NoDataAfterHeader(headerLine);
        return items;
    }

    // ---- row files ---------------------------------------------------------------------------

    static CtrRows ReadRows(string path, ref int maxUser, ref int maxItem)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, $"CoLLM click-through file {Path.GetFileName(path)}");
        var lines = f.Lines();
        CheckHeader(f, f.ReadHeader(ref lines), lines.Number, RowHeader);
        long headerLine = lines.Number;

        int capacity = 0;
        for (var counter = lines; counter.MoveNext();) capacity++;
        var users = new int[capacity];
        var items = new int[capacity];
        var labels = new float[capacity];
        var times = new long[capacity];
        var warm = new bool[capacity];
        var his = new int[capacity][];
        int[] scratch = new int[256];
        Span<Range> c = stackalloc Range[8];
        int rows = 0, mu = maxUser, mi = maxItem;
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 7) throw f.ColumnCount(n, line, count, "7 tab-separated columns: uid iid label timestamp flag not_cold his");
            int u = Id(f, n, line, line[c[0]], "user id");
            int i = Id(f, n, line, line[c[1]], "item id");
            labels[rows] = Binary(f, n, line, line[c[2]], "label") ? 1f : 0f;
            times[rows] = f.Long(n, line, line[c[3]], "timestamp");
            f.Float(n, line, line[c[4]], "flag");
            warm[rows] = Binary(f, n, line, line[c[5]], "not_cold");
            his[rows] = History(f, n, line, line[c[6]], ref scratch, ref mi);
            users[rows] = u;
            items[rows] = i;
            if (u > mu) mu = u;
            if (i > mi) mi = i;
            rows++;
        }
        if (rows == 0) throw f.NoDataAfterHeader(headerLine);
        if (rows < capacity)
        {
            Array.Resize(ref users, rows); Array.Resize(ref items, rows); Array.Resize(ref labels, rows);
            Array.Resize(ref times, rows); Array.Resize(ref warm, rows); Array.Resize(ref his, rows);
        }
        maxUser = mu;
        maxItem = mi;
        return new CtrRows(path, users, items, labels, times, warm, his);
    }

    static void CheckHeader(TextFile f, ReadOnlySpan<byte> header, long line, string[] expected)
    {
        Span<Range> c = stackalloc Range[expected.Length + 1];
        int count = TextFile.Split(header, (byte)'\t', c);
        bool ok = count == expected.Length;
        for (int k = 0; ok && k < count; k++)
            ok = Encoding.UTF8.GetString(TextFile.Trim(header[c[k]])) == expected[k];
        if (!ok)
            throw new DataFormatException(f.Path, line, "unexpected header line", f.Decode(header),
                $"the tab-separated column names: {string.Join(" ", expected)}");
    }

    /// <summary>A non-negative id below <see cref="MaxId"/>; ASCII digits take the fast path.</summary>
    static int Id(TextFile f, long n, ReadOnlySpan<byte> line, ReadOnlySpan<byte> field, string what)
    {
        if (field.Length is > 0 and <= 7)
        {
            int v = 0;
            foreach (byte b in field)
            {
                uint d = (uint)(b - (byte)'0');
                if (d > 9) return SlowId(f, n, line, field, what);
                v = v * 10 + (int)d;
            }
            return v; // at most 7 digits, so below MaxId
        }
        return SlowId(f, n, line, field, what);
    }

    static int SlowId(TextFile f, long n, ReadOnlySpan<byte> line, ReadOnlySpan<byte> field, string what)
    {
        var t = TextFile.Trim(field);
        if (!long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
            throw f.Error(n, line, $"non-integer {what}", field, "a non-negative integer");
        if (v < 0) throw f.Error(n, line, $"negative {what}", field, "a non-negative integer");
        if (v >= MaxId) throw f.Error(n, line, $"{what} too large", field, $"a dense id below {MaxId}");
        return (int)v;
    }

    /// <summary>A 0/1 column ("0", "1", or a number equal to 0 or 1 such as "1.0").</summary>
    static bool Binary(TextFile f, long n, ReadOnlySpan<byte> line, ReadOnlySpan<byte> field, string what)
    {
        if (field.Length == 1)
        {
            if (field[0] == (byte)'1') return true;
            if (field[0] == (byte)'0') return false;
        }
        var t = TextFile.Trim(field);
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || (v != 0 && v != 1))
            throw f.Error(n, line, $"{what} not 0 or 1", field, "0 or 1");
        return v == 1;
    }

    /// <summary>
    /// The space-separated history with padding zeros removed; tracks the largest item id. Histories are most of the
    /// bytes of a row file, so this loop walks them with a pointer (fast in unoptimised Debug builds too).
    /// </summary>
    static unsafe int[] History(TextFile f, long n, ReadOnlySpan<byte> line, ReadOnlySpan<byte> field, ref int[] scratch, ref int maxItem)
    {
        if (scratch.Length < field.Length / 2 + 1) scratch = new int[field.Length / 2 + 1];
        int count = 0, max = maxItem;
        fixed (byte* first = field)
        fixed (int* output = scratch)
        {
            byte* p = first, end = first + field.Length;
            while (p < end)
            {
                if (*p == (byte)' ') { p++; continue; }
                byte* start = p;
                int v = 0;
                bool fast = true;
                for (; p < end && *p != (byte)' '; p++)
                {
                    uint d = (uint)(*p - (byte)'0');
                    if (d > 9 || p - start >= 7) fast = false;
                    else v = v * 10 + (int)d;
                }
                if (!fast) v = SlowId(f, n, line, field[(int)(start - first)..(int)(p - first)], "history item id");
                if (v == 0) continue; // padding
                output[count++] = v;
                if (v > max) max = v;
            }
        }
        maxItem = max;
        return count == 0 ? [] : scratch.AsSpan(0, count).ToArray();
    }
}
