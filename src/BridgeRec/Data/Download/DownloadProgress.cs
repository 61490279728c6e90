namespace BridgeRec.Data.Download;

/// <summary>
/// Progress of <see cref="MovieLens100KDownloader.EnsureAsync"/>. <paramref name="Bytes"/> counts what is on disk so far
/// (a resumed download starts at the size of the partial file); <paramref name="Total"/> is known only when the server
/// sends Content-Length or Content-Range. <paramref name="Phase"/> is one of the constants below.
/// </summary>
public sealed record DownloadProgress(long Bytes, long? Total, string Phase)
{
    public const string Checking = "checking";
    public const string Waiting = "waiting for another download";
    public const string Downloading = "downloading";
    public const string Extracting = "extracting";
    public const string Verifying = "verifying";
    public const string Done = "done";
}
