using System.CommandLine;
using BridgeRec.Cli.Serving;
using BridgeRec.Serving;
using Microsoft.Extensions.Logging;

namespace BridgeRec.Cli;

/// <summary>serve: a trained model folder behind an HTTP API (see docs/serving.md).</summary>
public static class ServeCommand
{
    static readonly Option<string> ModelDir = new("--model") { Description = "model folder from 'bridgerec train', 'bdlm', 'demo' or an experiment run", Required = true };
    static readonly Option<string> Urls = new("--urls") { Description = "addresses to listen on, comma-separated (port 0: any free port)", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
    static readonly Option<int> MaxHistory = new("--max-history") { Description = "most items in a posted history", DefaultValueFactory = _ => new ServingOptions().MaxHistory };
    static readonly Option<int> MaxNewItems = new("--max-new-items") { Description = "most new items (new_items: id and text) one via=llm request may rank next to the catalog", DefaultValueFactory = _ => new ServingOptions().MaxNewItems };
    static readonly Option<long> MaxBody = new("--max-body-bytes") { Description = "largest request body accepted", DefaultValueFactory = _ => 64 * 1024 };
    static readonly Option<int> LlmTimeout = new("--llm-timeout-ms") { Description = "time limit of an LLM request, queueing included (503 after it)", DefaultValueFactory = _ => 10_000 };
    static readonly Option<double> LlmWindow = new("--llm-window-ms") { Description = "how long an LLM request waits for others to share its forward pass", DefaultValueFactory = _ => 2.0 };
    static readonly Option<int> LlmMaxBatch = new("--llm-max-batch") { Description = "most LLM requests per forward pass; 1 turns micro-batching off", DefaultValueFactory = _ => 16 };
    static readonly Option<int?> TorchThreads = new("--torch-threads") { Description = "threads of torch's CPU pool for LLM forward passes (default: one per core)" };
    static readonly Option<string?> AdminToken = new("--admin-token") { Description = "token for POST /v1/admin/reload ('Authorization: Bearer TOKEN', from any address; default $BRIDGEREC_ADMIN_TOKEN); without one, reloads are accepted from loopback only" };
    static readonly Option<int> AnnThreshold = new("--ann-threshold") { Description = "catalogs with at least this many items get an HNSW index for the DSM path; smaller ones are scored exactly", DefaultValueFactory = _ => new AnnOptions().Threshold };
    static readonly Option<int> AnnCandidates = new("--ann-candidates") { Description = "HNSW candidates re-scored exactly per DSM request (at least k; the user's seen items are added)", DefaultValueFactory = _ => new AnnOptions().Candidates };
    static readonly Option<int> AnnConnectivity = new("--ann-connectivity") { Description = "HNSW links per item (M): better recall, more memory, slower build", DefaultValueFactory = _ => new AnnOptions().Connectivity };
    static readonly Option<int> AnnExpansion = new("--ann-expansion") { Description = "HNSW candidate list while building (efConstruction)", DefaultValueFactory = _ => new AnnOptions().ExpansionAdd };
    static readonly Option<string> LogLevelOption = new("--log-level") { Description = "information (one JSON line per request) | warning | error | none", DefaultValueFactory = _ => "information" };

    public static Command Create()
    {
        var c = new Command("serve", "serve a model folder over HTTP: recommendations by the domain model or the LLM, new users by their history, item text, model info, reload without downtime; OpenAPI at /openapi/v1.json")
        {
            ModelDir, Urls, MaxHistory, MaxNewItems, MaxBody, LlmTimeout, LlmWindow, LlmMaxBatch, TorchThreads,
            AnnThreshold, AnnCandidates, AnnConnectivity, AnnExpansion, AdminToken, LogLevelOption,
        };
        c.SetAction((p, ct) => Program.Guard(async () =>
        {
            var settings = new ServeSettings
            {
                ModelDir = Path.GetFullPath(p.GetValue(ModelDir)!),
                Urls = p.GetValue(Urls)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                MaxBodyBytes = p.GetValue(MaxBody),
                AdminToken = p.GetValue(AdminToken) ?? Environment.GetEnvironmentVariable("BRIDGEREC_ADMIN_TOKEN"),
                LogLevel = ParseLogLevel(p.GetValue(LogLevelOption)!),
                Serving = new ServingOptions
                {
                    MaxHistory = p.GetValue(MaxHistory),
                    MaxNewItems = p.GetValue(MaxNewItems),
                    TorchThreads = p.GetValue(TorchThreads),
                    LlmTimeout = TimeSpan.FromMilliseconds(p.GetValue(LlmTimeout)),
                    LlmBatching = new BatchingOptions
                    {
                        Window = TimeSpan.FromMilliseconds(p.GetValue(LlmWindow)),
                        MaxBatch = p.GetValue(LlmMaxBatch),
                    },
                    Ann = new AnnOptions
                    {
                        Threshold = p.GetValue(AnnThreshold),
                        Candidates = p.GetValue(AnnCandidates),
                        Connectivity = p.GetValue(AnnConnectivity),
                        ExpansionAdd = p.GetValue(AnnExpansion),
                    },
                },
            };
            if (!Directory.Exists(settings.ModelDir)) throw new DirectoryNotFoundException($"--model {settings.ModelDir}: no such folder");
            Console.Error.WriteLine($"loading {settings.ModelDir} ...");
            await using var host = await ServingHost.StartAsync(settings, ct);
            var m = host.Service.Current;
            Console.Error.WriteLine($"serving {m.Dataset.Name} ({m.DsmName}{(m.LlmName is null ? "" : ", llm " + m.LlmName)}) at {string.Join(", ", host.Urls)}; OpenAPI at /openapi/v1.json, metrics at /metrics; Ctrl+C stops");
            await host.WaitAsync(ct);
            Console.Error.WriteLine("stopping");
            return 0;
        }));
        return c;
    }

    static LogLevel ParseLogLevel(string text) => text.ToLowerInvariant() switch
    {
        "information" or "info" => LogLevel.Information,
        "warning" => LogLevel.Warning,
        "error" => LogLevel.Error,
        "none" => LogLevel.None,
        _ => throw new ArgumentException($"--log-level {text}: expected information, warning, error or none"),
    };
}
