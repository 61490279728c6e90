using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Unicode;

namespace BridgeRec.Data;

internal enum FileEncoding { Utf8, Latin1 }

/// <summary>
/// A data file read whole into memory and walked line by line as bytes (LF or CRLF endings).
/// UTF-8 files are validated up front (a UTF-8 byte order mark is skipped); Latin-1 files cannot have
/// encoding errors. All problems are reported as <see cref="DataFormatException"/> naming this file.
/// </summary>
internal sealed class TextFile
{
    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    static readonly UTF8Encoding LenientUtf8 = new(false, false);

    readonly byte[] _bytes;
    readonly int _start;

    public string Path { get; }
    public FileEncoding Encoding { get; }
    /// <summary>The header line's bytes once <see cref="ReadHeader"/> has read it (used to spot a repeated header).</summary>
    public byte[]? Header { get; private set; }

    TextFile(string path, byte[] bytes, int start, FileEncoding encoding)
    {
        Path = path; _bytes = bytes; _start = start; Encoding = encoding;
    }

    public int Length => _bytes.Length - _start;

    /// <summary>Reads <paramref name="path"/>; a missing file gives a <see cref="FileNotFoundException"/> naming it and what it should hold.</summary>
    public static TextFile Open(string path, FileEncoding encoding, string what)
    {
        RequireFile(path, what);
        byte[] bytes = File.ReadAllBytes(path);
        int start = encoding == FileEncoding.Utf8 && bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0;
        var file = new TextFile(path, bytes, start, encoding);
        if (encoding == FileEncoding.Utf8 && !Utf8.IsValid(bytes.AsSpan(start))) file.ThrowFirstInvalidUtf8();
        return file;
    }

    public static void RequireFile(string path, string what)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{what} not found: {System.IO.Path.GetFullPath(path)}", path);
    }

    public LineReader Lines() => new(_bytes.AsSpan(_start));

    /// <summary>The first non-blank line, which must be the header; remembers it. Throws when the file is empty.</summary>
    public ReadOnlySpan<byte> ReadHeader(ref LineReader lines)
    {
        while (lines.MoveNext())
        {
            var line = lines.Current;
            if (IsBlank(line)) continue;
            int tab = line.IndexOf((byte)'\t');
            var first = Trim(tab < 0 ? line : line[..tab]);
            if (first.Length > 0 && first.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
                throw new DataFormatException(Path, lines.Number, "missing header line", Decode(line), "a header line of column names first");
            Header = line.ToArray();
            return line;
        }
        throw Empty();
    }

    public DataFormatException Empty() => new(Path, 1, "empty file (no data lines)");

    public DataFormatException NoDataAfterHeader(long headerLine) =>
        new(Path, headerLine, "no data lines after the header");

    /// <summary>A malformed-line error. A line that repeats the header is reported as such, whatever the other problem was.</summary>
    public DataFormatException Error(long line, ReadOnlySpan<byte> lineBytes, string problem, ReadOnlySpan<byte> value, string? expected)
    {
        if (Header is not null && lineBytes.SequenceEqual(Header))
            return new DataFormatException(Path, line, "duplicate header line", Decode(lineBytes), "the header only once, on the first line");
        return new DataFormatException(Path, line, problem, Decode(value), expected);
    }

    public DataFormatException ColumnCount(long line, ReadOnlySpan<byte> lineBytes, int count, string expected) =>
        Error(line, lineBytes, $"wrong column count ({count})", lineBytes, expected);

    /// <summary>Text of a span for messages (never throws: invalid bytes become U+FFFD).</summary>
    public string Decode(ReadOnlySpan<byte> bytes) =>
        Encoding == FileEncoding.Latin1 ? System.Text.Encoding.Latin1.GetString(bytes) : LenientUtf8.GetString(bytes);

    /// <summary>Text of a field, decoded strictly (UTF-8 errors name the line).</summary>
    public string Text(long line, ReadOnlySpan<byte> bytes)
    {
        if (Encoding == FileEncoding.Latin1) return System.Text.Encoding.Latin1.GetString(bytes);
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException e) { throw InvalidUtf8(line, bytes, e); }
    }

    DataFormatException InvalidUtf8(long line, ReadOnlySpan<byte> lineBytes, DecoderFallbackException e)
    {
        string bad = e.BytesUnknown is { Length: > 0 } b ? string.Join(" ", b.Select(x => "0x" + x.ToString("X2", CultureInfo.InvariantCulture))) : "?";
        return new DataFormatException(Path, line, $"invalid UTF-8 byte sequence {bad}", LenientUtf8.GetString(lineBytes), "UTF-8 text");
    }

    void ThrowFirstInvalidUtf8()
    {
        var lines = Lines();
        while (lines.MoveNext())
        {
            if (Utf8.IsValid(lines.Current)) continue;
            try { StrictUtf8.GetString(lines.Current); }
            catch (DecoderFallbackException e) { throw InvalidUtf8(lines.Number, lines.Current, e); }
        }
        throw new DataFormatException(Path, 0, "invalid UTF-8", null, "UTF-8 text");
    }

    // ---- small parsing helpers -------------------------------------------------------------

    public static bool IsBlank(ReadOnlySpan<byte> line)
    {
        foreach (byte b in line) if (b != (byte)' ' && b != (byte)'\t') return false;
        return true;
    }

    public static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> s)
    {
        int a = 0, e = s.Length;
        while (a < e && (s[a] == (byte)' ' || s[a] == (byte)'\t')) a++;
        while (e > a && (s[e - 1] == (byte)' ' || s[e - 1] == (byte)'\t')) e--;
        return s[a..e];
    }

    /// <summary>Splits on a one-byte separator; returns the field count (fills at most <paramref name="fields"/>.Length ranges).</summary>
    public static int Split(ReadOnlySpan<byte> line, byte sep, Span<Range> fields)
    {
        int count = 0, start = 0;
        while (true)
        {
            int k = line[start..].IndexOf(sep);
            int end = k < 0 ? line.Length : start + k;
            if (count < fields.Length) fields[count] = new Range(start, end);
            count++;
            if (k < 0) return count;
            start = end + 1;
        }
    }

    /// <summary>Splits on a multi-byte separator (e.g. "::").</summary>
    public static int Split(ReadOnlySpan<byte> line, ReadOnlySpan<byte> sep, Span<Range> fields)
    {
        int count = 0, start = 0;
        while (true)
        {
            int k = line[start..].IndexOf(sep);
            int end = k < 0 ? line.Length : start + k;
            if (count < fields.Length) fields[count] = new Range(start, end);
            count++;
            if (k < 0) return count;
            start = end + sep.Length;
        }
    }

    /// <summary>Fast path: 1..9 ASCII digits and nothing else.</summary>
    static bool TryDigits(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        if (s.Length is 0 or > 9) return false;
        foreach (byte b in s)
        {
            uint d = (uint)(b - (byte)'0');
            if (d > 9) return false;
            value = value * 10 + (int)d;
        }
        return true;
    }

    /// <summary>A non-negative integer id (surrounding blanks allowed).</summary>
    public int Id(long line, ReadOnlySpan<byte> lineBytes, ReadOnlySpan<byte> field, string what)
    {
        if (TryDigits(field, out int v)) return v;
        var t = Trim(field);
        if (int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out v)) return v;
        throw Error(line, lineBytes, $"non-numeric {what}", field, "a non-negative integer");
    }

    public long Long(long line, ReadOnlySpan<byte> lineBytes, ReadOnlySpan<byte> field, string what)
    {
        if (TryDigits(field, out int iv)) return iv;
        var t = Trim(field);
        if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v)) return v;
        throw Error(line, lineBytes, $"non-numeric {what}", field, "an integer");
    }

    public float Float(long line, ReadOnlySpan<byte> lineBytes, ReadOnlySpan<byte> field, string what)
    {
        if (TryDigits(field, out int iv) && iv < (1 << 24)) return iv;
        var t = Trim(field);
        if (float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)) return v;
        throw Error(line, lineBytes, $"non-numeric {what}", field, "a number");
    }
}

/// <summary>Walks lines of a byte buffer: <see cref="Current"/> excludes the line end; <see cref="Number"/> is 1-based.</summary>
internal ref struct LineReader(ReadOnlySpan<byte> bytes)
{
    ReadOnlySpan<byte> _rest = bytes;
    public long Number { get; private set; }
    public ReadOnlySpan<byte> Current { get; private set; }

    public bool MoveNext()
    {
        if (_rest.IsEmpty) return false;
        int nl = _rest.IndexOf((byte)'\n');
        ReadOnlySpan<byte> line;
        if (nl < 0) { line = _rest; _rest = default; }
        else { line = _rest[..nl]; _rest = _rest[(nl + 1)..]; }
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        Number++;
        Current = line;
        return true;
    }
}

/// <summary>
/// Collects integer ids and then numbers them in ascending numeric order (index 0 = smallest id), so
/// that, for example, MovieLens ids 1..n get indices 0..n-1. Original ids are kept as decimal text.
/// </summary>
internal sealed class AscendingIds
{
    const int DenseLimit = 1 << 24;
    bool[] _seen = new bool[1024];
    HashSet<int>? _large;
    int[]? _lookup;
    Dictionary<int, int>? _largeIndex;

    public void Add(int id)
    {
        if (id >= DenseLimit) { (_large ??= []).Add(id); return; }
        if (id >= _seen.Length) Array.Resize(ref _seen, Math.Min(DenseLimit, Math.Max(id + 1, _seen.Length * 2)));
        _seen[id] = true;
    }

    public IdMap Build()
    {
        var sorted = new List<int>();
        for (int id = 0; id < _seen.Length; id++) if (_seen[id]) sorted.Add(id);
        int dense = sorted.Count;
        if (_large is not null) { var extra = _large.ToList(); extra.Sort(); sorted.AddRange(extra); }
        var map = new IdMap(sorted.Count);
        _lookup = new int[dense == 0 ? 0 : sorted[dense - 1] + 1];
        _largeIndex = _large is null ? null : new Dictionary<int, int>(_large.Count);
        for (int k = 0; k < sorted.Count; k++)
        {
            int id = sorted[k];
            map.GetOrAdd(id.ToString(CultureInfo.InvariantCulture));
            if (k < dense) _lookup[id] = k; else _largeIndex![id] = k;
        }
        return map;
    }

    /// <summary>Index of an id added before <see cref="Build"/>.</summary>
    public int this[int id] => id < DenseLimit ? _lookup![id] : _largeIndex![id];
}

/// <summary>Helpers shared by the loaders.</summary>
internal static partial class LoaderText
{
    [GeneratedRegex(@"\((\d{4})\)")]
    private static partial Regex YearPattern();

    /// <summary>The last "(YYYY)" in a title, e.g. "Toy Story (1995)" -> "1995"; empty when there is none.</summary>
    public static string YearOf(string title)
    {
        var matches = YearPattern().Matches(title);
        return matches.Count == 0 ? "" : matches[^1].Groups[1].Value;
    }

    /// <summary>An IdMap whose index i holds original id <c>originals[i]</c>; pairs come as (original, index).</summary>
    public static IdMap FromIndexedPairs(TextFile file, List<(string Original, int Index, long Line)> pairs, string what)
    {
        var byIndex = new (string Original, long Line)?[pairs.Count];
        foreach (var (orig, idx, line) in pairs)
        {
            if ((uint)idx >= (uint)pairs.Count)
                throw new DataFormatException(file.Path, line, $"{what} index out of range", idx.ToString(CultureInfo.InvariantCulture),
                    $"contiguous indices 0..{pairs.Count - 1}");
            if (byIndex[idx] is not null)
                throw new DataFormatException(file.Path, line, $"duplicate {what} index", idx.ToString(CultureInfo.InvariantCulture),
                    $"each index once (first at line {byIndex[idx]!.Value.Line})");
            byIndex[idx] = (orig, line);
        }
        var map = new IdMap(pairs.Count);
        for (int i = 0; i < byIndex.Length; i++)
        {
            var (orig, line) = byIndex[i]!.Value;
            if (map.GetOrAdd(orig) != i)
                throw new DataFormatException(file.Path, line, $"duplicate original {what} id", orig, "each original id once");
        }
        return map;
    }
}
