using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.IO;
using BridgeRec.Models;
using Spectre.Console;

namespace BridgeRec.Cli.Serving;

/// <summary>What a <see cref="HttpBench"/> run sends.</summary>
public sealed record HttpBenchSettings
{
    /// <summary>The server's base address.</summary>
    public string Url { get; init; } = "http://127.0.0.1:5080";
    /// <summary>The model folder the server serves: the bench draws user ids and histories from its data.</summary>
    public required string ModelDir { get; init; }
    public string Via { get; init; } = "dsm";
    /// <summary>POST /v1/recommendations with histories (new users) instead of GET for known users.</summary>
    public bool NewUsers { get; init; }
    public int[] Connections { get; init; } = [1, 8, 64];
    public double Seconds { get; init; } = 10;
    public double WarmupSeconds { get; init; } = 2;
    public int K { get; init; } = 10;
    /// <summary>Items per posted history (the user's most recent ones).</summary>
    public int History { get; init; } = 20;
    public int Seed { get; init; } = 1;

    public void Validate()
    {
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var u) || u.Scheme != "http") throw new ArgumentException($"--url {Url}: expected an http:// address");
        if (Via is not ("dsm" or "llm")) throw new ArgumentException($"--via {Via}: expected dsm or llm");
        if (Connections.Length == 0 || Connections.Any(c => c is < 1 or > 1024)) throw new ArgumentException($"--connections {string.Join(",", Connections)}: each must be 1 to 1024");
        if (!(Seconds > 0) || Seconds > 3600) throw new ArgumentException($"--seconds {Seconds}: must be above 0 and at most 3600");
        if (WarmupSeconds < 0 || WarmupSeconds > 600) throw new ArgumentException($"--warmup {WarmupSeconds}: must be 0 to 600");
        if (K is < 1 or > 1000) throw new ArgumentException($"-k {K}: must be 1 to 1000");
        if (History < 1) throw new ArgumentException($"--history {History}: must be >= 1");
    }
}

/// <summary>One concurrency level's measurements.</summary>
public sealed record HttpBenchRun(int Connections, long Requests, double Seconds, double RequestsPerSecond,
    double P50Ms, double P90Ms, double P99Ms, double MaxMs, long Errors, string? FirstError);

/// <summary>
/// <c>bridgerec bench http</c>: a closed-loop load generator against a running <c>bridgerec serve</c>.
/// Each of C connections sends its next request as soon as the previous answer has been read, for a
/// warm-up (not counted) and then a measured period; it reports requests/s, latency percentiles and
/// errors (anything but 200) per C.
/// </summary>
public static class HttpBench
{
    public static Command Create()
    {
        var url = new Option<string>("--url") { Description = "the server's address", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var model = new Option<string>("--model") { Description = "the model folder the server serves (user ids and histories are drawn from its data)", Required = true };
        var via = new Option<string>("--via") { Description = "dsm | llm", DefaultValueFactory = _ => "dsm" };
        var newUsers = new Option<bool>("--new-users") { Description = "POST /v1/recommendations with each user's recent history instead of GET for known users" };
        var connections = new Option<string>("--connections") { Description = "concurrency levels, comma-separated", DefaultValueFactory = _ => "1,8,64" };
        var seconds = new Option<double>("--seconds") { Description = "measured seconds per level", DefaultValueFactory = _ => 10 };
        var warmup = new Option<double>("--warmup") { Description = "unmeasured seconds before each level", DefaultValueFactory = _ => 2 };
        var k = new Option<int>("-k") { Description = "items per request", DefaultValueFactory = _ => 10 };
        var history = new Option<int>("--history") { Description = "items per posted history (with --new-users)", DefaultValueFactory = _ => 20 };
        var c = new Command("http", "load-test a running 'bridgerec serve' at several concurrency levels: requests/s, p50/p99 latency, errors")
        {
            url, model, via, newUsers, connections, seconds, warmup, k, history, Options.Seed,
        };
        c.SetAction((p, ct) => Program.Guard(async () =>
        {
            var settings = new HttpBenchSettings
            {
                Url = p.GetValue(url)!.TrimEnd('/'),
                ModelDir = Path.GetFullPath(p.GetValue(model)!),
                Via = p.GetValue(via)!,
                NewUsers = p.GetValue(newUsers),
                Connections = ParseConnections(p.GetValue(connections)!),
                Seconds = p.GetValue(seconds),
                WarmupSeconds = p.GetValue(warmup),
                K = p.GetValue(k),
                History = p.GetValue(history),
                Seed = p.GetValue(Options.Seed) ?? 1,
            };
            var report = await RunAsync(settings, ct);
            var runs = (JsonArray)report["runs"]!;
            var t = new Table().AddColumn("connections").AddColumn(new TableColumn("requests").RightAligned())
                .AddColumn(new TableColumn("req/s").RightAligned()).AddColumn(new TableColumn("p50 ms").RightAligned())
                .AddColumn(new TableColumn("p99 ms").RightAligned()).AddColumn(new TableColumn("errors").RightAligned());
            foreach (var r in runs)
                t.AddRow(r!["connections"]!.ToString(), r["requests"]!.ToString(), r["requests_per_s"]!.ToString(),
                    r["p50_ms"]!.ToString(), r["p99_ms"]!.ToString(), r["errors"]!.ToString());
            t.Caption(Markup.Escape($"{report["endpoint"]} via {settings.Via} against {settings.Url} ({report["dataset"]}), {settings.Seconds}s per level"));
            AnsiConsole.Write(t);
            Console.WriteLine(report.ToJsonString());
            return runs.Any(r => r!["errors"]!.GetValue<long>() > 0) ? 1 : 0;
        }));
        return c;
    }

    static int[] ParseConnections(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var levels = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out levels[i]))
                throw new ArgumentException($"--connections {text}: '{parts[i]}' is not a positive integer");
        return levels;
    }

    /// <summary>Runs every concurrency level and returns the report (the JSON object the verb prints last).</summary>
    public static async Task<JsonObject> RunAsync(HttpBenchSettings s, CancellationToken ct = default)
    {
        s.Validate();
        var requests = BuildRequests(s, out var split);
        var server = await ServerInfo(s.Url, split, ct);
        var runs = new JsonArray();
        foreach (int c in s.Connections)
        {
            var run = await RunLevel(s, requests, c, ct);
            runs.Add(new JsonObject
            {
                ["connections"] = run.Connections,
                ["requests"] = run.Requests,
                ["seconds"] = Math.Round(run.Seconds, 3),
                ["requests_per_s"] = Math.Round(run.RequestsPerSecond, 1),
                ["p50_ms"] = Math.Round(run.P50Ms, 3),
                ["p90_ms"] = Math.Round(run.P90Ms, 3),
                ["p99_ms"] = Math.Round(run.P99Ms, 3),
                ["max_ms"] = Math.Round(run.MaxMs, 3),
                ["errors"] = run.Errors,
                ["first_error"] = run.FirstError,
            });
        }
        return new JsonObject
        {
            ["bench"] = "http",
            ["url"] = s.Url,
            ["endpoint"] = s.NewUsers ? "POST /v1/recommendations" : "GET /v1/users/{id}/recommendations",
            ["via"] = s.Via,
            ["k"] = s.K,
            ["history"] = s.NewUsers ? s.History : null,
            ["dataset"] = split.Dataset.Name,
            ["items"] = split.Dataset.NumItems,
            ["server_model"] = server["methods"]?[s.Via]?["model"]?.GetValue<string>(),
            ["server_llm_max_batch"] = server["limits"]?["llm_max_batch"]?.GetValue<int>(),
            ["server_llm_window_ms"] = server["limits"]?["llm_batch_window_ms"]?.GetValue<double>(),
            ["processor_count"] = Environment.ProcessorCount,
            ["runs"] = runs,
        };
    }

    /// <summary>A fixed pool of requests over users with a history, in a seeded random order.</summary>
    static BenchRequest[] BuildRequests(HttpBenchSettings s, out Split split)
    {
        var config = TrainConfig.FromJsonFile(Path.Combine(s.ModelDir, ModelFolder.ConfigFile) is var path && File.Exists(path)
            ? path
            : throw new FileNotFoundException($"--model {s.ModelDir}: no {ModelFolder.ConfigFile}; give the folder the server serves", path));
        split = DataSource.Load(config.Data);
        var d = split.Dataset;
        var histories = LlmRec.PromptBuilder.Histories(split, includeValidation: true);
        var users = Enumerable.Range(0, d.NumUsers).Where(u => histories[u].Count > 0).ToArray();
        if (users.Length == 0) throw new InvalidDataException($"--model {s.ModelDir}: no user has a history");
        new Random(s.Seed).Shuffle(users);
        var pool = new BenchRequest[Math.Min(users.Length, 4096)];
        for (int j = 0; j < pool.Length; j++)
        {
            int u = users[j];
            if (s.NewUsers)
            {
                var recent = histories[u].TakeLast(s.History).Select(i => d.Items.Original(i)).ToArray();
                var body = JsonSerializer.SerializeToUtf8Bytes(new { history = recent, k = s.K, via = s.Via });
                pool[j] = new BenchRequest(new Uri($"{s.Url}/v1/recommendations"), body);
            }
            else
                pool[j] = new BenchRequest(new Uri($"{s.Url}/v1/users/{Uri.EscapeDataString(d.Users.Original(u))}/recommendations?k={s.K}&via={s.Via}"), null);
        }
        return pool;
    }

    /// <summary>GET /v1/model: checks that the server serves the same data as the folder.</summary>
    static async Task<JsonNode> ServerInfo(string url, Split split, CancellationToken ct)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        JsonNode info;
        try
        {
            info = JsonNode.Parse(await client.GetStringAsync($"{url}/v1/model", ct))!;
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException($"--url {url}: no BridgeRec server answers there ({e.Message}); start one with 'bridgerec serve --model DIR'", e);
        }
        int items = info["items"]?.GetValue<int>() ?? -1;
        if (items != split.Dataset.NumItems)
            throw new InvalidOperationException($"--url {url} serves {items} items but --model has {split.Dataset.NumItems}: give the folder the server serves");
        return info;
    }

    sealed record BenchRequest(Uri Uri, byte[]? Body);

    static async Task<HttpBenchRun> RunLevel(HttpBenchSettings s, BenchRequest[] pool, int connections, CancellationToken ct)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(60) };
        var json = new MediaTypeHeaderValue("application/json");
        long errors = 0;
        string? firstError = null;
        long measureFrom = (long)(s.WarmupSeconds * Stopwatch.Frequency), measureTo = measureFrom + (long)(s.Seconds * Stopwatch.Frequency);
        long origin = Stopwatch.GetTimestamp();
        var latencies = new List<long>[connections];

        async Task Worker(int w)
        {
            var mine = latencies[w] = new List<long>(1 << 14);
            int next = w * 7919 % pool.Length;
            while (!ct.IsCancellationRequested)
            {
                long start = Stopwatch.GetTimestamp();
                if (start - origin >= measureTo) break;
                var r = pool[next];
                next = (next + 1) % pool.Length;
                using var message = new HttpRequestMessage(r.Body is null ? HttpMethod.Get : HttpMethod.Post, r.Uri);
                if (r.Body is not null) message.Content = new ByteArrayContent(r.Body) { Headers = { ContentType = json } };
                string? failure = null;
                try
                {
                    using var response = await client.SendAsync(message, HttpCompletionOption.ResponseContentRead, ct);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        string body = await response.Content.ReadAsStringAsync(ct);
                        failure = $"{(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}";
                    }
                }
                catch (HttpRequestException e) { failure = e.Message; }
                catch (TaskCanceledException) when (!ct.IsCancellationRequested) { failure = "timed out after 60 s"; }
                long end = Stopwatch.GetTimestamp();
                if (start - origin < measureFrom) continue; // warm-up
                mine.Add(end - start);
                if (failure is not null)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, failure, null);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, connections).Select(w => Task.Run(() => Worker(w), ct)));
        ct.ThrowIfCancellationRequested();
        var all = latencies.SelectMany(l => l).ToArray();
        if (all.Length == 0) throw new InvalidOperationException($"no request finished in the measured {s.Seconds} s at {connections} connections; measure longer (--seconds)");
        Array.Sort(all);
        double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
        double Pct(double q) => Ms(all[Math.Clamp((int)Math.Ceiling(q * all.Length) - 1, 0, all.Length - 1)]);
        double seconds = Math.Max(1e-9, Ms(Stopwatch.GetTimestamp() - origin) / 1000.0 - s.WarmupSeconds);
        return new HttpBenchRun(connections, all.Length, seconds, all.Length / seconds, Pct(0.50), Pct(0.90), Pct(0.99),
            Ms(all[^1]), errors, firstError);
    }
}
