namespace BridgeRec.Data;

/// <summary>
/// Malformed input: names the file, the 1-based line (for Parquet files: the 1-based row), the offending value and
/// what was expected.
/// </summary>
public sealed class DataFormatException : Exception
{
    public string FilePath { get; }
    /// <summary>1-based line of a text file, or 1-based row of a Parquet file (see <see cref="IsRow"/>); 0 = the file as a whole.</summary>
    public long Line { get; }
    /// <summary>True when <see cref="Line"/> counts rows of a columnar file rather than lines of text.</summary>
    public bool IsRow { get; }
    public string? Value { get; }

    public DataFormatException(string filePath, long line, string problem, string? value = null, string? expected = null)
        : this(filePath, line, false, problem, value, expected, null) { }

    DataFormatException(string filePath, long line, bool isRow, string problem, string? value, string? expected, Exception? inner)
        : base(Compose(filePath, line, isRow, problem, value, expected), inner)
    {
        FilePath = filePath;
        Line = line;
        IsRow = isRow;
        Value = value;
    }

    /// <summary>A problem at a 1-based row of a columnar (Parquet) file: the message reads <c>path, row N: problem ...</c>.</summary>
    public static DataFormatException AtRow(string filePath, long row, string problem, string? value = null, string? expected = null) =>
        new(filePath, row, true, problem, value, expected, null);

    /// <summary>A problem with the file as a whole (e.g. it is not a Parquet file), keeping the reader's own exception as the inner one.</summary>
    public static DataFormatException InFile(string filePath, string problem, string? expected, Exception? inner) =>
        new(filePath, 0, false, problem, null, expected, inner);

    static string Compose(string file, long line, bool isRow, string problem, string? value, string? expected)
    {
        string where = line <= 0 ? file : isRow ? $"{file}, row {line}" : $"{file}:{line}";
        string msg = $"{where}: {problem}";
        if (value is not null) msg += $" (value '{Shorten(value)}')";
        if (expected is not null) msg += $"; expected {expected}";
        return msg;
    }

    static string Shorten(string v) => v.Length <= 120 ? v : v[..117] + "...";
}
