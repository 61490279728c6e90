using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace BridgeRec.Tests.Download;

/// <summary>
/// A real HTTP server on http://127.0.0.1:&lt;free port&gt;/ that serves one payload, honours "Range: bytes=N-" with 206,
/// and records every request. Optional misbehaviour for the first request: cut the body short and close, or stall.
/// </summary>
internal sealed class LoopbackZipServer : IAsyncDisposable
{
    readonly HttpListener _listener;
    readonly byte[] _payload;
    readonly Task _loop;
    readonly CancellationTokenSource _stop = new();
    int _requests;

    public Uri Url { get; }

    /// <summary>Every request's Range header (null when absent), in arrival order.</summary>
    public ConcurrentQueue<string?> RangeHeaders { get; } = new();

    public int RequestCount => Volatile.Read(ref _requests);

    /// <summary>The first response announces the full length but sends only this many bytes, then drops the connection.</summary>
    public long? DropFirstAfter { get; init; }

    /// <summary>The first response sends this many bytes, then goes silent (until the server is disposed).</summary>
    public long? StallFirstAfter { get; init; }

    /// <summary>Answer 200 with the whole body even when a Range is asked for.</summary>
    public bool IgnoreRange { get; init; }

    /// <summary>Answer every request with this status and no body.</summary>
    public HttpStatusCode? FixedStatus { get; init; }

    LoopbackZipServer(byte[] payload, HttpListener listener, int port)
    {
        _payload = payload;
        _listener = listener;
        Url = new Uri($"http://127.0.0.1:{port}/ml-100k.zip");
        _loop = Task.Run(LoopAsync);
    }

    public static LoopbackZipServer Start(byte[] payload, long? dropFirstAfter = null, long? stallFirstAfter = null,
        bool ignoreRange = false, HttpStatusCode? fixedStatus = null)
    {
        for (int attempt = 0; ; attempt++)
        {
            int port = FreePort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close();
                continue; // someone took the port in between: try another
            }
            return new LoopbackZipServer(payload, listener, port)
            {
                DropFirstAfter = dropFirstAfter,
                StallFirstAfter = stallFirstAfter,
                IgnoreRange = ignoreRange,
                FixedStatus = fixedStatus,
            };
        }
    }

    /// <summary>A loopback port that was free a moment ago (bind to port 0, read it, release it).</summary>
    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        try { return ((IPEndPoint)probe.LocalEndpoint).Port; }
        finally { probe.Stop(); }
    }

    async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    async Task HandleAsync(HttpListenerContext context)
    {
        int number = Interlocked.Increment(ref _requests);
        string? range = context.Request.Headers["Range"];
        RangeHeaders.Enqueue(range);
        HttpListenerResponse response = context.Response;
        try
        {
            if (FixedStatus is { } status)
            {
                response.StatusCode = (int)status;
                response.ContentLength64 = 0;
                response.Close();
                return;
            }

            long length = _payload.Length;
            long start = 0;
            if (range is not null && !IgnoreRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-')
                && long.TryParse(range.AsSpan(6, range.Length - 7), out long from))
            {
                if (from >= length)
                {
                    response.StatusCode = 416;
                    response.AddHeader("Content-Range", $"bytes */{length}");
                    response.ContentLength64 = 0;
                    response.Close();
                    return;
                }
                start = from;
                response.StatusCode = 206;
                response.AddHeader("Content-Range", $"bytes {start}-{length - 1}/{length}");
            }
            response.AddHeader("Accept-Ranges", "bytes");
            response.ContentType = "application/zip";
            response.ContentLength64 = length - start;
            Stream output = response.OutputStream;

            long? cut = number == 1 ? DropFirstAfter ?? StallFirstAfter : null;
            if (cut is { } stop && stop > start)
            {
                await output.WriteAsync(_payload.AsMemory((int)start, (int)(stop - start)));
                await output.FlushAsync();
                if (StallFirstAfter is not null)
                {
                    try { await Task.Delay(Timeout.Infinite, _stop.Token); }
                    catch (OperationCanceledException) { }
                }
                response.Abort(); // close the connection with the body incomplete
                return;
            }

            await output.WriteAsync(_payload.AsMemory((int)start));
            response.Close();
        }
        catch (Exception)
        {
            try { response.Abort(); } catch (Exception) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { _listener.Stop(); } catch (ObjectDisposedException) { }
        _listener.Close();
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
        _stop.Dispose();
    }
}
