namespace BridgeRec.Data.Download;

/// <summary>
/// A MovieLens 100K copy (downloaded or already on disk) does not match the known GroupLens release:
/// names the file and the expected versus actual size, line count or content.
/// </summary>
public sealed class DatasetVerificationException : Exception
{
    /// <summary>The offending file, e.g. <c>u.data</c> (or <c>ml-100k.zip</c> for a broken archive).</summary>
    public string FileName { get; }

    /// <summary>What was expected, e.g. "1,979,173 bytes".</summary>
    public string Expected { get; }

    /// <summary>What was found, e.g. "1,000,000 bytes".</summary>
    public string Actual { get; }

    /// <summary>The finding without the folder, e.g. "u.data has the wrong size: expected ..., found ...".</summary>
    internal string Detail { get; init; } = "";

    public DatasetVerificationException(string message, string fileName, string expected, string actual, Exception? innerException = null)
        : base(message, innerException)
    {
        FileName = fileName;
        Expected = expected;
        Actual = actual;
    }
}
