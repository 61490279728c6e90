using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.Json.Serialization;
using BridgeRec.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.OpenApi;
using OpenTelemetry.Metrics;

namespace BridgeRec.Cli.Serving;

/// <summary>Everything <c>bridgerec serve</c> is started with.</summary>
public sealed record ServeSettings
{
    /// <summary>The model folder (from train, bdlm, demo or an experiment run).</summary>
    public required string ModelDir { get; init; }

    /// <summary>Addresses to listen on; port 0 picks a free port (see <see cref="ServingHost.Urls"/>).</summary>
    public IReadOnlyList<string> Urls { get; init; } = ["http://127.0.0.1:5080"];

    public ServingOptions Serving { get; init; } = new();

    /// <summary>The largest request body accepted (413 above it).</summary>
    public long MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>When set, POST /v1/admin/reload needs 'Authorization: Bearer TOKEN' (from any address); else it is accepted from loopback only.</summary>
    public string? AdminToken { get; init; }

    /// <summary>Log level of the JSON console log; Information logs one structured line per request.</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelDir)) throw new ArgumentException("--model: a model folder is needed");
        if (Urls.Count == 0) throw new ArgumentException("--urls: at least one address is needed");
        foreach (string url in Urls)
            if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme != "http")
                throw new ArgumentException($"--urls {url}: expected an http:// address such as http://127.0.0.1:5080 (put TLS in a reverse proxy in front)");
        if (MaxBodyBytes is < 1024 or > 64 * 1024 * 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxBodyBytes), $"--max-body-bytes must be 1024 to 67108864 (got {MaxBodyBytes})");
        Serving.Validate();
    }
}

/// <summary>
/// The BridgeRec HTTP server: an ASP.NET Core minimal API on Kestrel over a <see cref="RecommenderService"/>,
/// with an OpenAPI document at /openapi/v1.json, RFC 7807 problems for every error (no stack traces),
/// a request body limit, one structured (JSON) log line per request, and OpenTelemetry metrics (ASP.NET Core's request
/// metrics tagged with the path, and <see cref="ServingMetrics"/>) on a Prometheus scrape endpoint at /metrics.
/// </summary>
public sealed partial class ServingHost : IAsyncDisposable
{
    public WebApplication App { get; }
    public RecommenderService Service { get; }

    /// <summary>The addresses actually bound (port 0 resolved).</summary>
    public IReadOnlyList<string> Urls => App.Urls.ToList();

    ServingHost(WebApplication app, RecommenderService service) { App = app; Service = service; }

    /// <summary>Loads the model folder and starts listening. Throws with a clear message when either fails.</summary>
    public static async Task<ServingHost> StartAsync(ServeSettings settings, CancellationToken ct = default)
    {
        settings.Validate();
        // The service's meter comes from the host's container, so the host's OpenTelemetry reads it and it ends with the host.
        var app = Build(settings);
        RecommenderService? service = null;
        try
        {
            service = await RecommenderService.StartAsync(settings.ModelDir, settings.Serving, app.Services.GetRequiredService<IMeterFactory>());
            Map(app, settings, service);
            try
            {
                await app.StartAsync(ct);
            }
            catch (IOException e)
            {
                throw new InvalidOperationException($"--urls {string.Join(",", settings.Urls)}: cannot listen: {e.Message}", e);
            }
            return new ServingHost(app, service);
        }
        catch
        {
            await app.DisposeAsync();
            service?.Dispose();
            throw;
        }
    }

    static WebApplication Build(ServeSettings settings)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            EnvironmentName = Environments.Production, // never the developer exception page
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls([.. settings.Urls]);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = settings.MaxBodyBytes;
        });
        builder.Logging.ClearProviders();
        if (settings.LogLevel != LogLevel.None)
            builder.Logging.AddJsonConsole(o => { o.UseUtcTimestamp = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; });
        builder.Logging.SetMinimumLevel(settings.LogLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict; // as the hand-written body parser: numbers are numbers
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info = new OpenApiInfo
            {
                Title = "BridgeRec",
                Version = "v1",
                Description = "Recommendations from a BridgeRec model folder: the domain model (fast path) and the LLM (new users by their history). Errors are RFC 7807 problems.",
            };
            return Task.CompletedTask;
        }));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddAspNetCoreInstrumentation()
            .AddMeter(ServingMetrics.MeterName)
            // ASP.NET Core's default buckets start at 5 ms; a DSM answer takes well under 1 ms.
            .AddView("http.server.request.duration", new ExplicitBucketHistogramConfiguration { Boundaries = RequestBuckets })
            .AddPrometheusExporter());
        return builder.Build();
    }

    /// <summary>Request-latency buckets in seconds, from 0.1 ms (the DSM path) to 10 s (the LLM timeout's default).</summary>
    static readonly double[] RequestBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    static void Map(WebApplication app, ServeSettings settings, RecommenderService service)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("BridgeRec.Serving");
        app.Use(async (ctx, next) =>
        {
            long start = Stopwatch.GetTimestamp();
            try
            {
                await next(ctx);
            }
            finally
            {
                if (logger.IsEnabled(LogLevel.Information))
                    LogRequest(logger, ctx.Request.Method, ctx.Request.Path.Value ?? "", ctx.Request.QueryString.Value ?? "",
                        ctx.Response.StatusCode, Stopwatch.GetElapsedTime(start).TotalMilliseconds, Activity.Current?.Id ?? ctx.TraceIdentifier);
            }
        });
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // Errors Kestrel raises while reading a request keep their own status; anything else is a 500 problem without details.
            StatusCodeSelector = e => e is BadHttpRequestException b ? b.StatusCode : StatusCodes.Status500InternalServerError,
        });
        app.UseStatusCodePages(); // 404 / 405 for unknown routes and methods as problems too
        app.MapOpenApi();
        app.MapPrometheusScrapingEndpoint(); // GET /metrics, Prometheus text format
        new ServingApi(service, settings, logger).Map(app);
        LogServing(logger, service.ModelDir, service.Current.Generation, service.Current.DsmName, service.Current.LlmName ?? "none");
    }

    /// <summary>Waits until <paramref name="ct"/> is cancelled (Ctrl+C) or the host is told to stop (SIGTERM).</summary>
    public async Task WaitAsync(CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, App.Lifetime.ApplicationStopping);
        try { await Task.Delay(Timeout.Infinite, stop.Token); }
        catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Service.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Method} {Path}{Query}: {Status} in {ElapsedMs:F3} ms, trace {TraceId}")]
    static partial void LogRequest(ILogger logger, string method, string path, string query, int status, double elapsedMs, string traceId);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "serving {ModelDir} (generation {Generation}): dsm {Dsm}, llm {Llm}")]
    static partial void LogServing(ILogger logger, string modelDir, int generation, string dsm, string llm);
}
