namespace BridgeRec.Data;

/// <summary>Malformed input: names the file, the 1-based line, the offending value and what was expected.</summary>
public sealed class DataFormatException : Exception
{
    public string FilePath { get; }
    public long Line { get; }
    public string? Value { get; }

    public DataFormatException(string filePath, long line, string problem, string? value = null, string? expected = null)
        : base(Compose(filePath, line, problem, value, expected))
    {
        FilePath = filePath;
        Line = line;
        Value = value;
    }

    static string Compose(string file, long line, string problem, string? value, string? expected)
    {
        string where = line > 0 ? $"{file}:{line}" : file;
        string msg = $"{where}: {problem}";
        if (value is not null) msg += $" (value '{Shorten(value)}')";
        if (expected is not null) msg += $"; expected {expected}";
        return msg;
    }

    static string Shorten(string v) => v.Length <= 120 ? v : v[..117] + "...";
}
