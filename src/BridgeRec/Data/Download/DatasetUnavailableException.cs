namespace BridgeRec.Data.Download;

/// <summary>
/// The dataset is not on disk and could not be fetched (offline, DNS failure, refused connection, timeout, HTTP error).
/// The message says what failed and how to provide the data by hand.
/// </summary>
public sealed class DatasetUnavailableException : Exception
{
    /// <summary>Where the download was attempted from, when known.</summary>
    public Uri? SourceUri { get; }

    /// <summary>The data root that was searched.</summary>
    public string? DataRoot { get; }

    public DatasetUnavailableException(string message) : base(message) { }

    public DatasetUnavailableException(string message, Exception? innerException) : base(message, innerException) { }

    public DatasetUnavailableException(string message, Uri? source, string? dataRoot, Exception? innerException)
        : base(message, innerException)
    {
        SourceUri = source;
        DataRoot = dataRoot;
    }
}
