using System.Globalization;
using System.Text;

namespace BridgeRec.Data;

/// <summary>Settings of <see cref="GenericFormat"/>; every one defaults to automatic detection.</summary>
public sealed record GenericOptions
{
    /// <summary>Field separator; null = from the extension (.csv ',', .tsv/.tab TAB), else sniffed from the first line (TAB, ',', ';', '|', then blanks).</summary>
    public char? Delimiter { get; init; }
    /// <summary>Whether the first line names the columns; null = detected (its fields name a user and an item column).</summary>
    public bool? HasHeader { get; init; }
    /// <summary>
    /// Column roles in file order, overriding the header: "user", "item", "rating", "timestamp" (or their aliases);
    /// any other name (e.g. "-") ignores that column.
    /// </summary>
    public IReadOnlyList<string>? Columns { get; init; }
    /// <summary>Dataset name; default = the interactions file name without extension.</summary>
    public string? Name { get; init; }
    /// <summary>Read the files as ISO-8859-1 (Latin-1) instead of UTF-8.</summary>
    public bool Latin1 { get; init; }
}

/// <summary>
/// A plain CSV / TSV format for any dataset.
/// <para>Interactions file: one interaction per line, columns <c>user, item[, rating][, timestamp]</c> by position, or named by
/// a header line (user / user_id / userId, item / item_id / itemId / movie_id / movieId, rating, timestamp / time / ts;
/// case-insensitive, a RecBole type suffix such as <c>:token</c> is ignored; other columns are ignored), or by
/// <see cref="GenericOptions.Columns"/>. Ids are arbitrary strings (trimmed) and are numbered in order of first appearance
/// (items of the items file first, in its order). Ratings are numbers; timestamps are integers (a decimal is truncated)
/// or ISO-8601 date-times (taken as UTC, converted to Unix seconds). Duplicate (user, item) pairs are all kept.</para>
/// <para>Items file (optional): a header line, then the item id in the first column, the title in the column named
/// "title" (else the second column); every other column becomes a text field named by its header.</para>
/// <para>With a delimiter other than TAB, fields may be quoted with '"' (a doubled '"' inside is a literal quote).
/// Blank lines are skipped. Every line must have as many fields as the first line.</para>
/// <para>An interactions file ending in <c>.parquet</c> (or starting with Parquet's magic bytes) is read as Apache Parquet
/// with the same column names, row group by row group (<see cref="ParquetInteractions"/>).</para>
/// </summary>
public static class GenericFormat
{
    internal enum Role { Ignore, User, Item, Rating, Timestamp }

    public static Dataset Load(string interactionsPath, string? itemsPath = null, GenericOptions? options = null)
    {
        options ??= new GenericOptions();
        var users = new IdMap();
        var items = new IdMap();
        var texts = itemsPath is null ? null : ReadItems(itemsPath, items, options);
        var inter = ReadInteractions(interactionsPath, users, items, options);
        return new Dataset(options.Name ?? System.IO.Path.GetFileNameWithoutExtension(interactionsPath), users, items, inter, Texts(texts, items));
    }

    /// <summary>A pre-split dataset in this format; all parts share the id maps. <c>Split.Dataset.Interactions</c> = train + validation + test.</summary>
    public static Split LoadSplit(string trainPath, string testPath, string? validPath = null, string? itemsPath = null, GenericOptions? options = null)
    {
        options ??= new GenericOptions();
        var users = new IdMap();
        var items = new IdMap();
        var texts = itemsPath is null ? null : ReadItems(itemsPath, items, options);
        var train = ReadInteractions(trainPath, users, items, options);
        var valid = validPath is null ? Interactions.Empty : ReadInteractions(validPath, users, items, options);
        var test = ReadInteractions(testPath, users, items, options);
        var ds = new Dataset(options.Name ?? System.IO.Path.GetFileNameWithoutExtension(trainPath), users, items,
            Interactions.Concat(train, valid, test), Texts(texts, items));
        return new Split(ds, train, valid, test, "generic split");
    }

    static ItemText?[]? Texts(List<ItemText?>? texts, IdMap items)
    {
        if (texts is null) return null;
        var arr = new ItemText?[items.Count];
        for (int i = 0; i < texts.Count; i++) arr[i] = texts[i];
        return arr;
    }

    static Interactions ReadInteractions(string path, IdMap users, IdMap items, GenericOptions o)
    {
        if (ParquetInteractions.IsParquet(path)) return ParquetInteractions.Read(path, users, items, o);
        var f = TextFile.Open(path, o.Latin1 ? FileEncoding.Latin1 : FileEncoding.Utf8, "interactions file");
        var lines = f.Lines();
        char delim = '\0';
        Role[]? roles = null;
        string[]? header = null;
        long headerLine = 0;
        int width = 0, userCol = -1, itemCol = -1, ratingCol = -1, timeCol = -1;
        InteractionsBuilder? b = null;
        while (lines.MoveNext())
        {
            var bytes = lines.Current;
            if (TextFile.IsBlank(bytes)) continue;
            long n = lines.Number;
            string line = f.Text(n, bytes);
            if (roles is null)
            {
                delim = o.Delimiter ?? DelimiterOf(path, line);
                var first = Fields(f, n, line, delim);
                width = first.Count;
                var named = first.Select(RoleOf).ToArray();
                bool isHeader = o.HasHeader ?? (named.Contains(Role.User) && named.Contains(Role.Item));
                if (o.Columns is not null)
                {
                    if (o.Columns.Count != width)
                        throw new DataFormatException(path, n, $"wrong column count ({width})", line, $"{o.Columns.Count} columns as GenericOptions.Columns names");
                    roles = o.Columns.Select(RoleOf).ToArray();
                }
                else if (isHeader) roles = named;
                else if (width is >= 2 and <= 4) roles = new[] { Role.User, Role.Item, Role.Rating, Role.Timestamp }[..width];
                else throw new DataFormatException(path, n, $"wrong column count ({width})", line,
                    "2 to 4 columns (user, item[, rating][, timestamp]), or a header line naming the columns, or GenericOptions.Columns");
                userCol = Array.IndexOf(roles, Role.User); itemCol = Array.IndexOf(roles, Role.Item);
                ratingCol = Array.IndexOf(roles, Role.Rating); timeCol = Array.IndexOf(roles, Role.Timestamp);
                if (userCol < 0 || itemCol < 0)
                    throw new DataFormatException(path, n, "no user or no item column", line,
                        "column names user / user_id / userId and item / item_id / itemId / movie_id (or GenericOptions.Columns)");
                b = new InteractionsBuilder(f.Length / 16 + 16);
                if (isHeader) { header = first.ToArray(); headerLine = n; continue; }
            }
            var fields = Fields(f, n, line, delim);
            if (header is not null && fields.Count == header.Length && fields.SequenceEqual(header, StringComparer.OrdinalIgnoreCase))
                throw new DataFormatException(path, n, "duplicate header line", line, $"the header only once (line {headerLine})");
            if (header is null && o.HasHeader is null && fields.Count == width && fields[userCol].Length <= 16 &&
                RoleOf(fields[userCol]) == Role.User && RoleOf(fields[itemCol]) == Role.Item)
                throw new DataFormatException(path, n, "header line in the middle of the data", line, "a header only on the first line");
            if (fields.Count != width)
                throw new DataFormatException(path, n, $"wrong column count ({fields.Count})", line, $"{width} columns like the first line");
            string u = fields[userCol], i = fields[itemCol];
            if (u.Length == 0) throw new DataFormatException(path, n, "empty user id", line, "a user id");
            if (i.Length == 0) throw new DataFormatException(path, n, "empty item id", line, "an item id");
            float? rating = null;
            long? time = null;
            if (ratingCol >= 0)
            {
                if (!float.TryParse(fields[ratingCol], NumberStyles.Float, CultureInfo.InvariantCulture, out float r) || !float.IsFinite(r))
                    throw new DataFormatException(path, n, "non-numeric rating", fields[ratingCol], "a number");
                rating = r;
            }
            if (timeCol >= 0)
                time = ParseTime(fields[timeCol]) ?? throw new DataFormatException(path, n, "non-numeric timestamp", fields[timeCol],
                    "an integer (e.g. Unix seconds) or an ISO-8601 date-time");
            b!.Add(users.GetOrAdd(u), items.GetOrAdd(i), time, rating);
        }
        if (b is null) throw f.Empty();
        if (b.Count == 0) throw f.NoDataAfterHeader(headerLine);
        return b.Build();
    }

    /// <summary>Items file: header, id first, then "title" (or the second column), further columns become named fields.</summary>
    static List<ItemText?> ReadItems(string path, IdMap items, GenericOptions o)
    {
        var f = TextFile.Open(path, o.Latin1 ? FileEncoding.Latin1 : FileEncoding.Utf8, "items file");
        var lines = f.Lines();
        var texts = new List<ItemText?>();
        var firstLine = new Dictionary<string, long>(StringComparer.Ordinal);
        List<string>? header = null;
        long headerLine = 0;
        char delim = '\0';
        int titleCol = 1;
        while (lines.MoveNext())
        {
            var bytes = lines.Current;
            if (TextFile.IsBlank(bytes)) continue;
            long n = lines.Number;
            string line = f.Text(n, bytes);
            if (header is null)
            {
                delim = o.Delimiter ?? DelimiterOf(path, line);
                header = Fields(f, n, line, delim);
                headerLine = n;
                if (header.Count < 2)
                    throw new DataFormatException(path, n, $"wrong column count ({header.Count})", line, "a header line with at least an item id and a title column");
                int t = header.FindIndex(h => Canonical(h) is "title");
                if (t > 0) titleCol = t;
                continue;
            }
            var fields = Fields(f, n, line, delim);
            if (fields.SequenceEqual(header, StringComparer.OrdinalIgnoreCase))
                throw new DataFormatException(path, n, "duplicate header line", line, $"the header only once (line {headerLine})");
            if (fields.Count != header.Count)
                throw new DataFormatException(path, n, $"wrong column count ({fields.Count})", line, $"{header.Count} columns like the header");
            string id = fields[0];
            if (id.Length == 0) throw new DataFormatException(path, n, "empty item id", line, "an item id");
            if (!firstLine.TryAdd(id, n)) throw new DataFormatException(path, n, "duplicate item id", id, $"each item once (first at line {firstLine[id]})");
            var extra = new List<(string, string)>();
            for (int k = 1; k < fields.Count; k++) if (k != titleCol) extra.Add((header[k], fields[k]));
            int idx = items.GetOrAdd(id);
            while (texts.Count <= idx) texts.Add(null);
            texts[idx] = ItemText.Of(fields[titleCol], [.. extra]);
        }
        if (header is null) throw f.Empty();
        return texts;
    }

    internal static long? ParseTime(string s)
    {
        if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v)) return v;
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d) && Math.Abs(d) < 9e18)
            return (long)Math.Floor(d);
        if (s.Length >= 8 && char.IsAsciiDigit(s[0]) && s.Contains('-') &&
            DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var dt))
            return dt.ToUnixTimeSeconds();
        return null;
    }

    internal static Role RoleOf(string name) => Canonical(name) switch
    {
        "user" or "userid" => Role.User,
        "item" or "itemid" or "movieid" => Role.Item,
        "rating" => Role.Rating,
        "timestamp" or "time" or "ts" => Role.Timestamp,
        _ => Role.Ignore,
    };

    /// <summary>Lower case without '_' and without a RecBole ":type" suffix: "user_id:token" -> "userid".</summary>
    static string Canonical(string name)
    {
        int colon = name.IndexOf(':');
        if (colon > 0) name = name[..colon];
        return name.Trim().Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();
    }

    internal static char DelimiterOf(string path, string firstLine)
    {
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".csv") return ',';
        if (ext is ".tsv" or ".tab") return '\t';
        char best = ' ';
        int bestCount = 0;
        foreach (char c in "\t,;|")
        {
            int count = firstLine.Count(x => x == c);
            if (count > bestCount) { best = c; bestCount = count; }
        }
        return best;
    }

    /// <summary>Fields of a line, trimmed; quotes are honoured unless the delimiter is TAB; blank runs separate when it is ' '.</summary>
    internal static List<string> Fields(TextFile f, long n, string line, char delim)
    {
        var fields = new List<string>();
        if (delim == ' ')
        {
            fields.AddRange(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
            return fields;
        }
        if (delim == '\t' || line.IndexOf('"') < 0)
        {
            foreach (var s in line.Split(delim)) fields.Add(s.Trim());
            return fields;
        }
        var sb = new StringBuilder();
        int i = 0;
        while (true)
        {
            sb.Clear();
            while (i < line.Length && line[i] == ' ') i++;
            if (i < line.Length && line[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= line.Length) throw new DataFormatException(f.Path, n, "unterminated quoted field", line, "a closing '\"'");
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    sb.Append(line[i++]);
                }
                while (i < line.Length && line[i] == ' ') i++;
                if (i < line.Length && line[i] != delim)
                    throw new DataFormatException(f.Path, n, "text after a closing quote", line, $"'{delim}' after a quoted field");
                fields.Add(sb.ToString());
            }
            else
            {
                int end = line.IndexOf(delim, i);
                if (end < 0) end = line.Length;
                fields.Add(line[i..end].Trim());
                i = end;
            }
            if (i >= line.Length) return fields;
            i++; // skip the delimiter
            if (i == line.Length) { fields.Add(""); return fields; }
        }
    }
}
