using System.Diagnostics;
using System.Net;
using System.Text;
using BridgeRec.Data.Download;

namespace BridgeRec.Tests.Download;

public sealed class MovieLens100KDownloaderTests(MovieLensZipFixture data) : IClassFixture<MovieLensZipFixture>
{
    static readonly string[] Expected = ["u.data", "u.item", "u.user", "u.genre"];

    /// <summary>Records progress synchronously (Progress&lt;T&gt; would post to the thread pool).</summary>
    sealed class ListProgress : IProgress<DownloadProgress>
    {
        readonly List<DownloadProgress> _items = [];
        public void Report(DownloadProgress value) { lock (_items) _items.Add(value); }
        public DownloadProgress[] Items { get { lock (_items) return [.. _items]; } }
    }

    /// <summary>A client that never goes through a proxy, so every request stays on 127.0.0.1.</summary>
    static HttpClient LoopbackClient() => new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) })
    {
        Timeout = TimeSpan.FromSeconds(20),
    };

    static CancellationToken Bounded() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    void AssertInstalled(string folder)
    {
        MovieLens100KVerifier.Verify(folder);
        foreach (string name in Expected)
            Assert.Equal(File.ReadAllBytes(Path.Combine(data.SourceFolder, name)), File.ReadAllBytes(Path.Combine(folder, name)));
    }

    static string[] Entries(string root) =>
        Directory.Exists(root)
            ? [.. Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)]
            : [];

    [Fact]
    public async Task FreshDownload_ExtractsAndVerifies_SecondCallMakesNoRequest()
    {
        using var temp = new TestData.TempDir();
        string root = temp.File("data"); // does not exist yet
        await using var server = LoopbackZipServer.Start(data.Zip);
        using HttpClient http = LoopbackClient();
        var progress = new ListProgress();

        string folder = await MovieLens100KDownloader.EnsureAsync(root, progress, Bounded(), server.Url, http);

        Assert.Equal(Path.Combine(Path.GetFullPath(root), "movielens-100k"), folder);
        AssertInstalled(folder);
        Assert.Equal(1, server.RequestCount);
        Assert.Equal([null], server.RangeHeaders);
        Assert.Equal(["movielens-100k"], Entries(root)); // no .partial, lock or extraction folder left

        DownloadProgress[] steps = progress.Items;
        DownloadProgress lastDownload = steps.Last(p => p.Phase == DownloadProgress.Downloading);
        Assert.Equal(data.Zip.Length, lastDownload.Bytes);
        Assert.Equal(data.Zip.Length, lastDownload.Total);
        Assert.Contains(steps, p => p.Phase == DownloadProgress.Extracting);
        Assert.Contains(steps, p => p.Phase == DownloadProgress.Verifying);
        Assert.Equal(DownloadProgress.Done, steps[^1].Phase);
        Assert.True(steps.Where(p => p.Phase == DownloadProgress.Downloading).Select(p => p.Bytes)
            .Zip(steps.Where(p => p.Phase == DownloadProgress.Downloading).Select(p => p.Bytes).Skip(1)).All(t => t.First <= t.Second));

        string again = await MovieLens100KDownloader.EnsureAsync(root, null, Bounded(), server.Url, http);
        Assert.Equal(folder, again);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task DroppedConnection_IsResumedWithRangeRequest()
    {
        using var temp = new TestData.TempDir();
        long cut = data.Zip.Length / 2;
        await using var server = LoopbackZipServer.Start(data.Zip, dropFirstAfter: cut);
        using HttpClient http = LoopbackClient();

        string folder = await MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http);

        AssertInstalled(folder);
        Assert.Equal(2, server.RequestCount);
        string?[] ranges = [.. server.RangeHeaders];
        Assert.Null(ranges[0]);
        Assert.NotNull(ranges[1]);
        Assert.StartsWith("bytes=", ranges[1]);
        long resumedAt = long.Parse(ranges[1]!["bytes=".Length..^1]);
        Assert.InRange(resumedAt, 1, cut);
        Assert.Equal(["movielens-100k"], Entries(temp.Path));
    }

    [Fact]
    public async Task LeftoverPartialFile_IsResumedWithRangeRequest()
    {
        using var temp = new TestData.TempDir();
        const int have = 1_000_000;
        File.WriteAllBytes(Path.Combine(temp.Path, MovieLens100KDownloader.PartialFileName), data.Zip[..have]);
        await using var server = LoopbackZipServer.Start(data.Zip);
        using HttpClient http = LoopbackClient();
        var progress = new ListProgress();

        string folder = await MovieLens100KDownloader.EnsureAsync(temp.Path, progress, Bounded(), server.Url, http);

        AssertInstalled(folder);
        Assert.Equal(1, server.RequestCount);
        Assert.Equal([$"bytes={have}-"], server.RangeHeaders);
        Assert.Equal(have, progress.Items.First(p => p.Phase == DownloadProgress.Downloading).Bytes);
        Assert.Equal(["movielens-100k"], Entries(temp.Path));
    }

    [Fact]
    public async Task ServerIgnoringRange_RestartsFromZero()
    {
        using var temp = new TestData.TempDir();
        // A leftover that does not even match the archive: a 200 reply must replace it, not be appended to it.
        File.WriteAllBytes(Path.Combine(temp.Path, MovieLens100KDownloader.PartialFileName), new byte[12_345]);
        await using var server = LoopbackZipServer.Start(data.Zip, ignoreRange: true);
        using HttpClient http = LoopbackClient();

        string folder = await MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http);

        AssertInstalled(folder);
        Assert.Equal(["bytes=12345-"], server.RangeHeaders);
        Assert.Equal(["movielens-100k"], Entries(temp.Path));
    }

    [Fact]
    public async Task StalledDownload_TimesOutAndResumes()
    {
        using var temp = new TestData.TempDir();
        await using var server = LoopbackZipServer.Start(data.Zip, stallFirstAfter: 300_000);
        using HttpClient http = LoopbackClient();
        var clock = Stopwatch.StartNew();

        string folder = await MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http,
            stallTimeout: TimeSpan.FromSeconds(1));

        AssertInstalled(folder);
        Assert.Equal(2, server.RequestCount);
        Assert.StartsWith("bytes=", server.RangeHeaders.Last());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task TruncatedUData_FailsNamingTheFile_AndLeavesNothingBehind()
    {
        using var temp = new TestData.TempDir();
        byte[] zip = data.Build((name, bytes) => name == "u.data" ? bytes[..1_000_000] : bytes);
        await using var server = LoopbackZipServer.Start(zip);
        using HttpClient http = LoopbackClient();

        var e = await Assert.ThrowsAsync<DatasetVerificationException>(
            () => MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http));

        Assert.Equal("u.data", e.FileName);
        Assert.Contains("u.data", e.Message);
        Assert.Contains("1,979,173 bytes", e.Message);
        Assert.Contains("1,000,000 bytes", e.Message);
        Assert.Empty(Entries(temp.Path)); // no movielens-100k, no .partial, no extraction folder, no lock
    }

    [Fact]
    public async Task MalformedUDataLine_FailsNamingFileAndLine()
    {
        using var temp = new TestData.TempDir();
        byte[] zip = data.Build((name, bytes) =>
        {
            if (name != "u.data") return bytes;
            byte[] copy = [.. bytes];
            int line5 = 0;
            for (int i = 0; i < 4; i++) line5 = Array.IndexOf(copy, (byte)'\n', line5) + 1;
            copy[line5] = (byte)'x'; // same size and line count, but not an integer
            return copy;
        });
        await using var server = LoopbackZipServer.Start(zip);
        using HttpClient http = LoopbackClient();

        var e = await Assert.ThrowsAsync<DatasetVerificationException>(
            () => MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http));

        Assert.Equal("u.data", e.FileName);
        Assert.Contains("line 5", e.Message);
        Assert.Empty(Entries(temp.Path));
    }

    [Fact]
    public async Task NotAZip_FailsClearly_AndLeavesNothingBehind()
    {
        using var temp = new TestData.TempDir();
        await using var server = LoopbackZipServer.Start(Encoding.ASCII.GetBytes("<html>captive portal</html>"));
        using HttpClient http = LoopbackClient();

        var e = await Assert.ThrowsAsync<DatasetVerificationException>(
            () => MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http));

        Assert.Contains("not a valid zip", e.Message);
        Assert.Empty(Entries(temp.Path));
    }

    [Fact]
    public async Task ClosedPort_GivesDatasetUnavailableWithGuidance()
    {
        using var temp = new TestData.TempDir();
        int port = LoopbackZipServer.FreePort(); // released again: nothing listens there
        var source = new Uri($"http://127.0.0.1:{port}/ml-100k.zip");
        var clock = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<DatasetUnavailableException>(
            () => MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), source));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Contains("--data", e.Message);
        Assert.Contains("BRIDGEREC_DATA", e.Message);
        Assert.Contains("movielens-100k/", e.Message);
        Assert.Contains("u.data", e.Message);
        Assert.Contains(MovieLens100KDownloader.DefaultSource.ToString(), e.Message);
        Assert.Contains(source.ToString(), e.Message);
        Assert.Equal(source, e.SourceUri);
        Assert.IsType<HttpRequestException>(e.InnerException);
        Assert.Empty(Entries(temp.Path));
    }

    [Fact]
    public async Task HttpError_GivesDatasetUnavailable()
    {
        using var temp = new TestData.TempDir();
        await using var server = LoopbackZipServer.Start(data.Zip, fixedStatus: HttpStatusCode.NotFound);
        using HttpClient http = LoopbackClient();

        var e = await Assert.ThrowsAsync<DatasetUnavailableException>(
            () => MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http));

        Assert.Contains("404", e.Message);
        Assert.Contains("--data", e.Message);
        Assert.Equal(1, server.RequestCount);
        Assert.Empty(Entries(temp.Path));
    }

    [Theory]
    [InlineData("movielens-100k")]
    [InlineData("ml-100k")]
    public async Task ExistingValidFolder_IsReturnedWithoutNetwork(string name)
    {
        using var temp = new TestData.TempDir();
        string existing = Path.Combine(temp.Path, name);
        data.CopyTo(existing);
        string[] before = Entries(existing);
        await using var server = LoopbackZipServer.Start(data.Zip);
        using HttpClient http = LoopbackClient();

        string folder = await MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http);

        Assert.Equal(existing, folder);
        Assert.Equal(0, server.RequestCount);
        Assert.Equal(before, Entries(existing));
        Assert.Equal([name], Entries(temp.Path));
    }

    [Fact]
    public async Task ExistingInvalidFolder_IsNeitherOverwrittenNorDeleted()
    {
        using var temp = new TestData.TempDir();
        string existing = Path.Combine(temp.Path, "movielens-100k");
        data.CopyTo(existing);
        File.WriteAllText(Path.Combine(existing, "u.data"), "1\t2\t3\t4\n");
        File.WriteAllText(Path.Combine(existing, "my-notes.txt"), "mine");
        await using var server = LoopbackZipServer.Start(data.Zip);
        using HttpClient http = LoopbackClient();

        var e = await Assert.ThrowsAsync<DatasetVerificationException>(
            () => MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http));

        Assert.Equal("u.data", e.FileName);
        Assert.Contains(existing, e.Message);
        Assert.Contains("will not overwrite", e.Message);
        Assert.Equal(0, server.RequestCount);
        Assert.Equal("1\t2\t3\t4\n", File.ReadAllText(Path.Combine(existing, "u.data")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(existing, "my-notes.txt")));
        Assert.Equal(["movielens-100k"], Entries(temp.Path));
    }

    [Fact]
    public async Task ExistingEmptyFolder_IsFilled()
    {
        using var temp = new TestData.TempDir();
        Directory.CreateDirectory(Path.Combine(temp.Path, "movielens-100k"));
        await using var server = LoopbackZipServer.Start(data.Zip);
        using HttpClient http = LoopbackClient();

        string folder = await MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http);

        AssertInstalled(folder);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task Cancellation_KeepsThePartialFileForResume()
    {
        using var temp = new TestData.TempDir();
        await using var server = LoopbackZipServer.Start(data.Zip, stallFirstAfter: 300_000);
        using HttpClient http = LoopbackClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => MovieLens100KDownloader.EnsureAsync(temp.Path, null, cts.Token, server.Url, http));

        string partial = Path.Combine(temp.Path, MovieLens100KDownloader.PartialFileName);
        Assert.True(File.Exists(partial));
        Assert.Equal([MovieLens100KDownloader.PartialFileName], Entries(temp.Path));

        string folder = await MovieLens100KDownloader.EnsureAsync(temp.Path, null, Bounded(), server.Url, http);
        AssertInstalled(folder);
        Assert.StartsWith("bytes=", server.RangeHeaders.Last());
    }
}
