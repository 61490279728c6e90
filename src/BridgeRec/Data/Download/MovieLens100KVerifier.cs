using System.Globalization;

namespace BridgeRec.Data.Download;

/// <summary>
/// Offline check of a MovieLens 100K folder against the known GroupLens release (GroupLens publishes no checksum file):
/// exact sizes and line counts of u.data, u.item, u.user and u.genre, and every u.data line is 4 TAB-separated integers.
/// </summary>
public static class MovieLens100KVerifier
{
    /// <summary>A file of the release with its exact size in bytes and number of LF-terminated lines.</summary>
    public readonly record struct ExpectedFile(string Name, long Bytes, long Lines);

    /// <summary>The files that are checked (u.data is also parsed line by line).</summary>
    public static IReadOnlyList<ExpectedFile> ExpectedFiles { get; } =
    [
        new("u.data", 1_979_173, 100_000),
        new("u.item", 236_344, 1_682),
        new("u.user", 22_628, 943),
        new("u.genre", 202, 20),
    ];

    const int UDataFields = 4;

    /// <summary>True when <paramref name="folder"/> exists and holds a copy that passes <see cref="Verify"/>.</summary>
    public static bool IsValid(string folder) => Directory.Exists(folder) && Check(folder) is null;

    /// <summary>Throws <see cref="DatasetVerificationException"/> naming the first file that does not match.</summary>
    public static void Verify(string folder)
    {
        if (Check(folder) is { } problem) throw problem;
    }

    /// <summary>The first mismatch as an exception (not thrown), or null when the folder verifies.</summary>
    internal static DatasetVerificationException? Check(string folder)
    {
        foreach (ExpectedFile expected in ExpectedFiles)
        {
            string path = Path.Combine(folder, expected.Name);
            var info = new FileInfo(path);
            if (!info.Exists)
                return Mismatch(folder, expected.Name, "missing", $"a file of {Count(expected.Bytes)} bytes", "no such file");
            if (info.Length != expected.Bytes)
                return Mismatch(folder, expected.Name, "has the wrong size",
                    $"{Count(expected.Bytes)} bytes", $"{Count(info.Length)} bytes");

            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Mismatch(folder, expected.Name, "cannot be read", "a readable file", e.Message, e);
            }

            long lines = CountLines(bytes);
            if (lines != expected.Lines)
                return Mismatch(folder, expected.Name, "has the wrong number of lines",
                    $"{Count(expected.Lines)} lines", $"{Count(lines)} lines");

            if (expected.Name == "u.data" && CheckRatings(folder, bytes) is { } bad)
                return bad;
        }
        return null;
    }

    static long CountLines(ReadOnlySpan<byte> bytes)
    {
        long lines = bytes.Count((byte)'\n');
        if (bytes.Length > 0 && bytes[^1] != (byte)'\n') lines++;
        return lines;
    }

    /// <summary>Every line of u.data must be user, item, rating, timestamp: 4 TAB-separated unsigned integers.</summary>
    static DatasetVerificationException? CheckRatings(string folder, ReadOnlySpan<byte> bytes)
    {
        long lineNo = 0;
        while (!bytes.IsEmpty)
        {
            lineNo++;
            int end = bytes.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = end < 0 ? bytes : bytes[..end];
            bytes = end < 0 ? [] : bytes[(end + 1)..];

            int fields = 0;
            bool allIntegers = true;
            foreach (Range r in line.Split((byte)'\t'))
            {
                fields++;
                if (!int.TryParse(line[r], NumberStyles.None, CultureInfo.InvariantCulture, out _)) allIntegers = false;
            }
            if (fields != UDataFields || !allIntegers)
            {
                string text = System.Text.Encoding.Latin1.GetString(line.Length > 80 ? line[..80] : line);
                return Mismatch(folder, "u.data", $"line {Count(lineNo)} is not 4 TAB-separated integers",
                    "user_id<TAB>item_id<TAB>rating<TAB>timestamp", $"'{text}'");
            }
        }
        return null;
    }

    static DatasetVerificationException Mismatch(string folder, string file, string problem, string expected, string actual,
        Exception? inner = null) =>
        new($"MovieLens 100K check failed in {folder}: {file} {problem}: expected {expected}, found {actual}.",
            file, expected, actual, inner)
        {
            Detail = $"{file} {problem}: expected {expected}, found {actual}.",
        };

    static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
