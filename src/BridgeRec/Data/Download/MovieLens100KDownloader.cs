using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;

namespace BridgeRec.Data.Download;

/// <summary>
/// Makes sure a verified MovieLens 100K copy exists under a data root, downloading the GroupLens zip when needed.
/// <list type="bullet">
/// <item>An existing valid <c>dataRoot/movielens-100k/</c> or <c>dataRoot/ml-100k/</c> (or <c>dataRoot</c> itself) is used without network access.</item>
/// <item>Otherwise the zip is streamed to <c>dataRoot/ml-100k.zip.partial</c> (resumed with a Range request when one is left over
/// or the connection drops), its <c>ml-100k/</c> files are extracted into a hidden temporary folder under dataRoot, verified
/// (<see cref="MovieLens100KVerifier"/>) and the folder is renamed to <c>dataRoot/movielens-100k</c> in one step.</item>
/// <item>An existing non-empty folder of the user's is never overwritten or deleted: an invalid one stops with a clear error.</item>
/// </list>
/// The data is GroupLens's (research use only, no redistribution; see its README).
/// </summary>
public static class MovieLens100KDownloader
{
    /// <summary>The official GroupLens archive.</summary>
    public static readonly Uri DefaultSource = new("https://files.grouplens.org/datasets/movielens/ml-100k.zip");

    /// <summary>The folder name that is created under the data root.</summary>
    public const string FolderName = "movielens-100k";

    /// <summary>The folder name inside the zip, also accepted under the data root (a hand-unzipped archive).</summary>
    public const string ArchiveFolderName = "ml-100k";

    /// <summary>The download in progress, kept across runs so that it can be resumed.</summary>
    public const string PartialFileName = "ml-100k.zip.partial";

    internal const string LockFileName = ".movielens-100k.lock";
    internal const string ExtractPrefix = ".movielens-100k.extract-";

    /// <summary>No real ml-100k.zip comes close (it is about 4.9 MB, 16 MB unpacked): a guard against a wrong URL.</summary>
    const long MaxArchiveBytes = 64L << 20;
    const long MaxExtractedBytes = 128L << 20;
    const int MaxAttempts = 5;
    const long ProgressStep = 256 << 10;
    static readonly TimeSpan DefaultStallTimeout = TimeSpan.FromSeconds(30);
    static readonly TimeSpan MaxLockWait = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Returns the folder that holds a verified MovieLens 100K copy under <paramref name="dataRoot"/>, downloading and
    /// extracting it first if needed.
    /// </summary>
    /// <param name="dataRoot">Folder that holds (or will hold) <c>movielens-100k/</c>; created if missing.</param>
    /// <param name="progress">Optional progress: bytes done and total (when known) per phase.</param>
    /// <param name="ct">Cancels the download; the partial file is kept for a later resume.</param>
    /// <param name="source">The archive URL; <see cref="DefaultSource"/> when null.</param>
    /// <param name="http">Client to use; when null a private one is created (and disposed).</param>
    /// <exception cref="DatasetUnavailableException">Offline, DNS/connection failure, timeout or HTTP error.</exception>
    /// <exception cref="DatasetVerificationException">The download or an existing non-empty folder does not match the release.</exception>
    public static Task<string> EnsureAsync(string dataRoot, IProgress<DownloadProgress>? progress, CancellationToken ct,
        Uri? source = null, HttpClient? http = null) =>
        EnsureAsync(dataRoot, progress, ct, source, http, DefaultStallTimeout);

    /// <summary>Looks for a valid copy without any network access: <c>movielens-100k/</c>, <c>ml-100k/</c>, then the root itself.</summary>
    public static string? FindExisting(string dataRoot)
    {
        if (!Directory.Exists(dataRoot)) return null;
        string root = Path.GetFullPath(dataRoot);
        foreach (string candidate in new[] { Path.Combine(root, FolderName), Path.Combine(root, ArchiveFolderName), root })
            if (MovieLens100KVerifier.IsValid(candidate))
                return candidate;
        return null;
    }

    internal static async Task<string> EnsureAsync(string dataRoot, IProgress<DownloadProgress>? progress, CancellationToken ct,
        Uri? source, HttpClient? http, TimeSpan stallTimeout)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataRoot);
        ct.ThrowIfCancellationRequested();
        string root = Path.GetFullPath(dataRoot);
        source ??= DefaultSource;

        progress?.Report(new DownloadProgress(0, null, DownloadProgress.Checking));
        if (FindExisting(root) is { } existing) return Finish(existing, progress);

        string target = Path.Combine(root, FolderName);
        ThrowIfOccupied(target);

        Directory.CreateDirectory(root);
        using FileStream lockFile = await AcquireLockAsync(root, progress, ct).ConfigureAwait(false);

        // Another process may have finished while we waited for the lock.
        if (FindExisting(root) is { } fresh) return Finish(fresh, progress);
        ThrowIfOccupied(target);

        bool ownsClient = http is null;
        http ??= CreateClient();
        try
        {
            string partial = Path.Combine(root, PartialFileName);
            for (int round = 0; ; round++)
            {
                bool resumed = await DownloadAsync(http, source, root, partial, progress, stallTimeout, ct).ConfigureAwait(false);
                try
                {
                    string folder = Install(partial, root, target, source, progress, ct);
                    return Finish(folder, progress);
                }
                catch (InvalidDataException e)
                {
                    TryDeleteFile(partial);
                    // A kept partial file may belong to an older or different archive: start over once.
                    if (resumed && round == 0) continue;
                    throw new DatasetVerificationException(
                        $"{e.Message} Nothing was installed; the download was removed.",
                        "ml-100k.zip", "a zip archive", "not a valid zip archive", e);
                }
            }
        }
        finally
        {
            if (ownsClient) http.Dispose();
        }
    }

    static string Finish(string folder, IProgress<DownloadProgress>? progress)
    {
        progress?.Report(new DownloadProgress(0, null, DownloadProgress.Done));
        return folder;
    }

    static HttpClient CreateClient()
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(15),
            AutomaticDecompression = DecompressionMethods.None,
        };
        // Timeouts are enforced per read (stall timeout), so that a slow but live download is not cut off.
        var client = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("BridgeRec", "1.0"));
        return client;
    }

    // ---------------------------------------------------------------- existing folders and locking

    /// <summary>A non-empty <c>movielens-100k</c> that did not verify (or a file of that name) belongs to the user: stop.</summary>
    static void ThrowIfOccupied(string target)
    {
        if (File.Exists(target))
            throw new DatasetVerificationException(
                $"{target} exists and is a file, not a folder. BridgeRec will not overwrite it: move or rename it, " +
                "or pass --data DIR pointing at another folder.",
                FolderName, "a folder", "a file");
        if (!Directory.Exists(target) || !Directory.EnumerateFileSystemEntries(target).Any()) return;

        DatasetVerificationException? problem = MovieLens100KVerifier.Check(target);
        if (problem is null) return; // became valid in the meantime; the caller's next FindExisting returns it
        throw new DatasetVerificationException(
            $"{target} already exists but is not a valid MovieLens 100K copy: {problem.Detail} " +
            "BridgeRec will not overwrite or delete your files: fix or move that folder (for example rename it), " +
            "or pass --data DIR pointing at another folder, then run again to download a fresh copy.",
            problem.FileName, problem.Expected, problem.Actual, problem) { Detail = problem.Detail };
    }

    static async Task<FileStream> AcquireLockAsync(string root, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string path = Path.Combine(root, LockFileName);
        DateTime giveUp = DateTime.UtcNow + MaxLockWait;
        bool reported = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException e) when (File.Exists(path))
            {
                if (DateTime.UtcNow > giveUp)
                    throw new DatasetUnavailableException(
                        $"Another process has been downloading MovieLens 100K into {root} for more than " +
                        $"{MaxLockWait.TotalMinutes:0} minutes (lock file {path}). Wait for it to finish or stop it, then run again.",
                        null, root, e);
                if (!reported)
                {
                    progress?.Report(new DownloadProgress(0, null, DownloadProgress.Waiting));
                    reported = true;
                }
                await Task.Delay(250, ct).ConfigureAwait(false);
            }
        }
    }

    // ---------------------------------------------------------------- download

    /// <summary>A failure of the network side (connect, DNS, HTTP status, dropped or stalled stream).</summary>
    sealed class TransferFailedException(string message, Exception? inner = null) : Exception(message, inner);

    enum Outcome { Complete, Restart }

    /// <summary>Downloads into <paramref name="partial"/>; returns true when bytes kept from before were reused.</summary>
    static async Task<bool> DownloadAsync(HttpClient http, Uri source, string root, string partial,
        IProgress<DownloadProgress>? progress, TimeSpan stallTimeout, CancellationToken ct)
    {
        bool reused = false;
        for (int attempt = 1; ; attempt++)
        {
            long before = FileLength(partial);
            try
            {
                (Outcome outcome, bool resumed) = await DownloadOnceAsync(http, source, partial, before, progress, stallTimeout, ct)
                    .ConfigureAwait(false);
                reused |= resumed;
                if (outcome == Outcome.Complete) return reused;
                if (attempt >= MaxAttempts) throw new TransferFailedException("the server kept refusing to resume the download");
            }
            catch (TransferFailedException e)
            {
                long now = FileLength(partial);
                // Retry (resuming) only when this attempt made progress: a dead server fails fast.
                if (now > before && attempt < MaxAttempts) continue;
                throw Unavailable(source, root, partial, now, e.Message, e.InnerException ?? e);
            }
        }
    }

    static async Task<(Outcome, bool resumed)> DownloadOnceAsync(HttpClient http, Uri source, string partial, long have,
        IProgress<DownloadProgress>? progress, TimeSpan stallTimeout, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, source);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);

        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stall.CancelAfter(stallTimeout);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new TransferFailedException(e.Message, e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new TransferFailedException($"no answer from the server within {stallTimeout.TotalSeconds:0} s", e);
        }

        using (response)
        {
            long offset;
            long? total;
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            {
                // Either the partial file is already complete, or it does not fit this archive: restart.
                if (response.Content.Headers.ContentRange?.Length == have) return (Outcome.Complete, true);
                TryDeleteFile(partial);
                return (Outcome.Restart, false);
            }
            if (!response.IsSuccessStatusCode)
                throw new TransferFailedException(
                    $"the server answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd());

            if (response.StatusCode == HttpStatusCode.PartialContent)
            {
                ContentRangeHeaderValue? range = response.Content.Headers.ContentRange;
                if (have == 0 || range?.From != have)
                {
                    // A range we did not ask for: do not splice it onto our file.
                    TryDeleteFile(partial);
                    return (Outcome.Restart, false);
                }
                offset = have;
                total = range.Length ?? (response.Content.Headers.ContentLength is { } len ? have + len : null);
            }
            else
            {
                offset = 0; // 200: the server ignored Range (or none was sent): start from byte 0
                total = response.Content.Headers.ContentLength;
            }
            if (total > MaxArchiveBytes)
                throw new TransferFailedException(
                    $"the server offers {total:N0} bytes, far more than the MovieLens 100K archive (about 5 MB); check the URL");

            await using var file = new FileStream(partial, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None,
                1 << 16, FileOptions.Asynchronous);
            file.SetLength(offset);
            file.Position = offset;

            long done = offset;
            long lastReport = done;
            progress?.Report(new DownloadProgress(done, total, DownloadProgress.Downloading));

            Stream body;
            try
            {
                body = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or IOException || e is OperationCanceledException && !ct.IsCancellationRequested)
            {
                throw new TransferFailedException($"the download failed: {e.Message}", e);
            }

            await using (body.ConfigureAwait(false))
            {
                byte[] buffer = new byte[1 << 16];
                while (true)
                {
                    stall.CancelAfter(stallTimeout);
                    int n;
                    try
                    {
                        n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is HttpRequestException or IOException)
                    {
                        await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                        throw new TransferFailedException(
                            $"the connection broke after {done:N0} of {(total is { } t ? t.ToString("N0", CultureInfo.InvariantCulture) : "?")} bytes: {e.Message}", e);
                    }
                    catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                    {
                        await file.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                        throw new TransferFailedException(
                            $"the download stalled (no data for {stallTimeout.TotalSeconds:0} s) after {done:N0} bytes", e);
                    }
                    if (n == 0) break;

                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    done += n;
                    if (done > MaxArchiveBytes)
                        throw new TransferFailedException(
                            $"the server sent more than {MaxArchiveBytes:N0} bytes, far more than the MovieLens 100K archive; check the URL");
                    if (done - lastReport >= ProgressStep)
                    {
                        progress?.Report(new DownloadProgress(done, total, DownloadProgress.Downloading));
                        lastReport = done;
                    }
                }
            }
            await file.FlushAsync(ct).ConfigureAwait(false);

            if (total is { } expected && done != expected)
                throw new TransferFailedException($"the download ended after {done:N0} of {expected:N0} bytes");
            progress?.Report(new DownloadProgress(done, total ?? done, DownloadProgress.Downloading));
            return (Outcome.Complete, offset > 0);
        }
    }

    static DatasetUnavailableException Unavailable(Uri source, string root, string partial, long kept, string reason, Exception inner)
    {
        string message =
            $"MovieLens 100K is not in {root} and could not be downloaded from {source}: {reason}{Environment.NewLine}" +
            $"To fix this, do one of:{Environment.NewLine}" +
            $"  - pass --data DIR, where DIR is a folder that contains {FolderName}/ (u.data, u.item, u.user, u.genre, ...);{Environment.NewLine}" +
            $"  - set the BRIDGEREC_DATA environment variable to such a folder;{Environment.NewLine}" +
            $"  - download {DefaultSource} by hand and unzip it into {root} (its {ArchiveFolderName}/ folder is recognised as is, " +
            $"or rename it to {FolderName}/).";
        if (kept > 0)
            message += $"{Environment.NewLine}A partial download ({kept:N0} bytes) was kept in {partial}; running again resumes it.";
        return new DatasetUnavailableException(message, source, root, inner);
    }

    // ---------------------------------------------------------------- extract, verify, publish

    /// <summary>
    /// Extracts the archive's ml-100k/ files into a hidden folder beside the target, verifies them and renames the folder.
    /// The archive is deleted afterwards, whether it verified or not. Throws InvalidDataException for a broken zip only when
    /// the caller may retry (it then keeps the archive); otherwise a <see cref="DatasetVerificationException"/>.
    /// </summary>
    static string Install(string archive, string root, string target, Uri source, IProgress<DownloadProgress>? progress,
        CancellationToken ct)
    {
        string temp = Path.Combine(root, ExtractPrefix + Guid.NewGuid().ToString("N"));
        bool published = false;
        bool keepArchive = false;
        try
        {
            Directory.CreateDirectory(temp);
            long archiveBytes = FileLength(archive);
            progress?.Report(new DownloadProgress(0, archiveBytes, DownloadProgress.Extracting));
            try
            {
                Extract(archive, temp, ct);
            }
            catch (InvalidDataException e)
            {
                keepArchive = true; // let the caller decide: retry from scratch once, or report
                throw new InvalidDataException(
                    $"The file downloaded from {source} is not a valid zip archive ({e.Message}).", e);
            }

            progress?.Report(new DownloadProgress(archiveBytes, archiveBytes, DownloadProgress.Verifying));
            if (MovieLens100KVerifier.Check(temp) is { } problem)
                throw new DatasetVerificationException(
                    $"The MovieLens 100K archive downloaded from {source} does not match the GroupLens release: " +
                    $"{problem.Detail} Nothing was installed; " +
                    "the downloaded files were removed.",
                    problem.FileName, problem.Expected, problem.Actual, problem) { Detail = problem.Detail };

            ct.ThrowIfCancellationRequested();
            if (Directory.Exists(target))
            {
                if (MovieLens100KVerifier.IsValid(target)) return target; // someone else got there first
                if (Directory.EnumerateFileSystemEntries(target).Any()) ThrowIfOccupied(target);
                Directory.Delete(target, recursive: false); // empty folder: safe to replace
            }
            Directory.Move(temp, target);
            published = true;
            return target;
        }
        catch (OperationCanceledException)
        {
            keepArchive = true; // complete download: reusable (a Range request past the end confirms it)
            throw;
        }
        finally
        {
            if (!published) TryDeleteDirectory(temp);
            if (!keepArchive) TryDeleteFile(archive);
        }
    }

    /// <summary>Copies the files directly under ml-100k/ (flat names only; nested or odd entries are skipped).</summary>
    static void Extract(string archive, string folder, CancellationToken ct)
    {
        using ZipArchive zip = ZipFile.OpenRead(archive);
        const string prefix = ArchiveFolderName + "/";
        long extracted = 0;
        int files = 0;
        char[] invalid = Path.GetInvalidFileNameChars();
        foreach (ZipArchiveEntry entry in zip.Entries)
        {
            ct.ThrowIfCancellationRequested();
            string name = entry.FullName.Replace('\\', '/');
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string rest = name[prefix.Length..];
            if (rest.Length == 0 || rest.Contains('/') || rest is "." or ".." || rest.IndexOfAny(invalid) >= 0) continue;

            using Stream input = entry.Open();
            using var output = new FileStream(Path.Combine(folder, rest), FileMode.CreateNew, FileAccess.Write);
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = input.Read(buffer)) > 0)
            {
                extracted += n;
                if (extracted > MaxExtractedBytes)
                    throw new DatasetVerificationException(
                        $"The archive unpacks to more than {MaxExtractedBytes:N0} bytes; MovieLens 100K is about 16 MB. Nothing was installed.",
                        ArchiveFolderName, "about 16 MB unpacked", $"more than {MaxExtractedBytes:N0} bytes");
                output.Write(buffer, 0, n);
            }
            files++;
        }
        if (files == 0)
            throw new DatasetVerificationException(
                $"The archive has no {prefix} folder with files; it is not the MovieLens 100K archive. Nothing was installed.",
                "ml-100k.zip", $"files under {prefix}", "none");
    }

    // ---------------------------------------------------------------- helpers

    static long FileLength(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? info.Length : 0;
    }

    static void TryDeleteFile(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
