using System.Globalization;

namespace BridgeRec.Data;

/// <summary>
/// UniSRec / RecBole leave-one-out files (e.g. the Amazon "Scientific" dataset), all UTF-8, TAB-separated:
/// <list type="bullet">
/// <item><c>{name}.train.inter</c>, <c>.valid.inter</c>, <c>.test.inter</c>: a header line, then
/// <c>user TAB space-separated history TAB target</c> with the indices of item2index / user2index. Histories hold at most
/// the last 50 items.</item>
/// <item><c>{name}.user2index</c>, <c>{name}.item2index</c>: <c>original_id TAB index</c> (indices 0..n-1).</item>
/// <item><c>{name}.text</c>: a header line, then <c>ASIN TAB text</c> (text = "title. categories. brand.").</item>
/// </list>
/// Each user's full chronological sequence is rebuilt: the training rows (one per prefix; the file lists them
/// newest first, but either order is accepted) give the first item and the targets, then the validation and the
/// test targets follow. Every history is checked against the rebuilt sequence (a contradiction is a
/// <see cref="DataFormatException"/>). Timestamps are positions in the sequence (0, 1, 2, ...). Train = all but the
/// last two items, validation = the second last, test = the last.
/// <para>Item text: <c>Title</c> = the whole text line (title, category path and brand joined by ". ", trimmed),
/// because that is exactly what UniSRec feeds its text encoder and the segments cannot be split reliably (titles
/// and brands contain ". " themselves). No further fields.</para>
/// </summary>
public static class UniSRec
{
    sealed class Row(long line, int[] history, int target)
    {
        public long Line { get; } = line;
        public int[] History { get; } = history;
        public int Target { get; } = target;
    }

    /// <summary>The split (8,442 users, 4,385 items, 59,427 interactions for Scientific). Dataset name = <paramref name="name"/>.</summary>
    public static Split Load(string dir, string name = "Scientific")
    {
        var users = ReadIndex(PathOf(dir, name, "user2index"), "user");
        var items = ReadIndex(PathOf(dir, name, "item2index"), "item");
        var texts = ReadTexts(PathOf(dir, name, "text"), items);

        string trainPath = PathOf(dir, name, "train.inter"), validPath = PathOf(dir, name, "valid.inter"), testPath = PathOf(dir, name, "test.inter");
        var trainRows = new List<Row>?[users.Count];
        foreach (var (u, row) in ReadInter(trainPath, users.Count, items.Count))
            (trainRows[u] ??= []).Add(row);
        var validRows = OnePerUser(validPath, users.Count, items.Count);
        var testRows = OnePerUser(testPath, users.Count, items.Count);

        var train = new InteractionsBuilder(trainRows.Sum(r => r?.Count ?? 0) + users.Count);
        var valid = new InteractionsBuilder(users.Count);
        var test = new InteractionsBuilder(users.Count);
        var seq = new List<int>(64);
        for (int u = 0; u < users.Count; u++)
        {
            var rows = trainRows[u];
            Row? v = validRows[u], t = testRows[u];
            if (rows is null && v is null && t is null) continue;
            string who = $"user {u} ({users.Original(u)})";
            if (v is null) throw new DataFormatException(validPath, 0, $"{who} has no validation row", null, "one row per user");
            if (t is null) throw new DataFormatException(testPath, 0, $"{who} has no test row", null, "one row per user");
            seq.Clear();
            if (rows is null)
                seq.AddRange(v.History);
            else
            {
                bool newestFirst;
                if (rows[0].History.Length == 1) newestFirst = false;
                else if (rows[^1].History.Length == 1) newestFirst = true;
                else throw new DataFormatException(trainPath, rows[0].Line, $"{who}: no training row with a one-item history at either end of the user's rows",
                    rows[0].History.Length.ToString(CultureInfo.InvariantCulture), "the user's rows ordered by prefix length (one-item history first or last)");
                seq.Add(rows[newestFirst ? ^1 : 0].History[0]);
                for (int k = 0; k < rows.Count; k++)
                {
                    var r = rows[newestFirst ? rows.Count - 1 - k : k];
                    Check(trainPath, r, seq, who);
                    seq.Add(r.Target);
                }
            }
            Check(validPath, v, seq, who);
            seq.Add(v.Target);
            Check(testPath, t, seq, who);
            seq.Add(t.Target);
            int n = seq.Count;
            for (int p = 0; p < n - 2; p++) train.Add(u, seq[p], p);
            valid.Add(u, seq[n - 2], n - 2);
            test.Add(u, seq[n - 1], n - 1);
        }
        Interactions tr = train.Build(), va = valid.Build(), te = test.Build();
        var ds = new Dataset(name, users, items, Interactions.Concat(tr, va, te), texts);
        return new Split(ds, tr, va, te, "UniSRec leave-one-out");
    }

    /// <summary>
    /// The test file's histories exactly as given (at most the last 50 items, oldest first), indexed by user
    /// index; an empty array for a user without a test row. UniSRec's protocol scores the test target from these.
    /// </summary>
    public static int[][] LoadTestHistories(string dir, string name = "Scientific")
    {
        var users = ReadIndex(PathOf(dir, name, "user2index"), "user");
        var items = ReadIndex(PathOf(dir, name, "item2index"), "item");
        var rows = OnePerUser(PathOf(dir, name, "test.inter"), users.Count, items.Count);
        return rows.Select(r => r?.History ?? []).ToArray();
    }

    static string PathOf(string dir, string name, string ext) => System.IO.Path.Combine(dir, $"{name}.{ext}");

    /// <summary>The history must be the latest items of the sequence so far (possibly truncated to the last N).</summary>
    static void Check(string path, Row r, List<int> seq, string who)
    {
        int len = r.History.Length, p = seq.Count;
        bool ok = len <= p;
        for (int k = 0; ok && k < len; k++) ok = r.History[k] == seq[p - len + k];
        if (!ok)
            throw new DataFormatException(path, r.Line, $"{who}: history contradicts the sequence rebuilt from the other rows",
                string.Join(' ', r.History), $"the last {Math.Min(len, p)} of the {p} items so far: {string.Join(' ', seq.Skip(Math.Max(0, p - len)))}");
    }

    static Row?[] OnePerUser(string path, int numUsers, int numItems)
    {
        var rows = new Row?[numUsers];
        foreach (var (u, row) in ReadInter(path, numUsers, numItems))
        {
            if (rows[u] is { } prev)
                throw new DataFormatException(path, row.Line, "second row for one user", u.ToString(CultureInfo.InvariantCulture),
                    $"one row per user (first at line {prev.Line})");
            rows[u] = row;
        }
        return rows;
    }

    static List<(int User, Row Row)> ReadInter(string path, int numUsers, int numItems)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "UniSRec interaction file");
        var result = new List<(int, Row)>(f.Length / 24 + 16);
        Span<Range> c = stackalloc Range[4];
        var hist = new List<int>(64);
        var lines = f.Lines();
        f.ReadHeader(ref lines);
        long headerLine = lines.Number;
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 3) throw f.ColumnCount(n, line, count, "3 TAB-separated columns: user, space-separated history, target");
            int u = f.Id(n, line, line[c[0]], "user index");
            if (u >= numUsers) throw f.Error(n, line, "user index out of range", line[c[0]], $"an index from user2index (0..{numUsers - 1})");
            hist.Clear();
            var h = line[c[1]];
            foreach (var tok in new SpaceTokens(h))
            {
                int i = f.Id(n, line, tok, "item index in history");
                if (i >= numItems) throw f.Error(n, line, "item index out of range", tok, $"an index from item2index (0..{numItems - 1})");
                hist.Add(i);
            }
            if (hist.Count == 0) throw f.Error(n, line, "empty history", h, "at least one item index");
            int target = f.Id(n, line, line[c[2]], "target item index");
            if (target >= numItems) throw f.Error(n, line, "item index out of range", line[c[2]], $"an index from item2index (0..{numItems - 1})");
            result.Add((u, new Row(n, hist.ToArray(), target)));
        }
        if (result.Count == 0) throw f.NoDataAfterHeader(headerLine);
        return result;
    }

    static IdMap ReadIndex(string path, string what)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, $"UniSRec {what}2index file");
        var pairs = new List<(string, int, long)>(8192);
        Span<Range> c = stackalloc Range[3];
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 2) throw f.ColumnCount(n, line, count, $"2 TAB-separated columns: original {what} id, index");
            string orig = f.Text(n, TextFile.Trim(line[c[0]]));
            if (orig.Length == 0) throw f.Error(n, line, $"empty {what} id", line, $"an original {what} id");
            pairs.Add((orig, f.Id(n, line, line[c[1]], $"{what} index"), n));
        }
        if (pairs.Count == 0) throw f.Empty();
        return LoaderText.FromIndexedPairs(f, pairs, what);
    }

    static ItemText?[] ReadTexts(string path, IdMap items)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "UniSRec item text file");
        var texts = new ItemText?[items.Count];
        var lines = f.Lines();
        f.ReadHeader(ref lines);
        long headerLine = lines.Number;
        bool any = false;
        Span<Range> c = stackalloc Range[3];
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (TextFile.IsBlank(line)) continue;
            long n = lines.Number;
            int count = TextFile.Split(line, (byte)'\t', c);
            if (count != 2) throw f.ColumnCount(n, line, count, "2 TAB-separated columns: item id, text");
            if (f.Header is not null && line.SequenceEqual(f.Header)) throw f.Error(n, line, "duplicate header line", line, null);
            any = true;
            string id = f.Text(n, TextFile.Trim(line[c[0]]));
            if (!items.TryGet(id, out int idx)) continue; // text of an item outside the dataset
            if (texts[idx] is not null) throw f.Error(n, line, "duplicate item id", line[c[0]], "one text line per item");
            texts[idx] = ItemText.Of(f.Text(n, line[c[1]]).Trim());
        }
        if (!any) throw f.NoDataAfterHeader(headerLine);
        return texts;
    }
}

/// <summary>Space-separated tokens of a byte span (runs of spaces count as one separator).</summary>
internal ref struct SpaceTokens(ReadOnlySpan<byte> s)
{
    ReadOnlySpan<byte> _rest = s;
    public ReadOnlySpan<byte> Current { get; private set; }
    public readonly SpaceTokens GetEnumerator() => this;

    public bool MoveNext()
    {
        int a = 0;
        while (a < _rest.Length && _rest[a] == (byte)' ') a++;
        if (a == _rest.Length) { _rest = default; return false; }
        int e = a;
        while (e < _rest.Length && _rest[e] != (byte)' ') e++;
        Current = _rest[a..e];
        _rest = _rest[e..];
        return true;
    }
}
