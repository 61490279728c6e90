using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using BridgeRec.Bridge;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Cli.Serving;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.Serving;
using Microsoft.Extensions.Logging;

namespace BridgeRec.Tests.Serving;

/// <summary>
/// One small real model folder for all serving tests, built once per test run: MF trained for 3 epochs on
/// the ML-100K leave-one-out benchmark (first 30 users have interactions), then a BDLM folder with an
/// LLM part (0 rounds: the LLM as BDLM starts it, which is all serving needs). Built through the library,
/// so nothing is printed while other tests capture the console.
/// </summary>
public static class ServingFolders
{
    static readonly Lazy<string> Root = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The folder with both parts (DSM + LLM).</summary>
    public static string Bdlm => Path.Combine(Root.Value, "bdlm");

    /// <summary>The DSM-only folder it was built from.</summary>
    public static string Mf => Path.Combine(Root.Value, "mf");

    static readonly Lazy<string> TowerFolder = new(BuildTower, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// A BDLM folder from <see cref="Mf"/> whose LLM has the item tower with item text (the default <see cref="LlmTowerOptions"/>),
    /// trained for one round so that its text projection is not zero: it ranks items it was never trained on.
    /// </summary>
    public static string TextTower => TowerFolder.Value;

    static string BuildTower()
    {
        string dir = Path.Combine(Root.Value, "bdlm-text");
        var (config, split, model) = DsmFolder.Load(Mf);
        using var dsm = (DomainModel)model;
        var spec = new LlmSpec
        {
            Prompt = new PromptOptions { MaxHistory = 5, MaxTokens = 64 },
            Backbone = new BackboneSettings { Lora = new LoraOptions { Rank = 4 } },
            Tower = new LlmTowerOptions(),
        };
        BdlmPipeline.Run(config, split, dsm, spec, new BdlmOptions { Rounds = 1, LlmEpochs = 1, LlmBatch = 8, DsmEpochs = 1, LrAdapters = 0.01, DsmFresh = false }, dir);
        return dir;
    }

    static string Build()
    {
        string root = Directory.CreateTempSubdirectory("bridgerec-serving-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        var config = new TrainConfig
        {
            Data = new DataConfig
            {
                Path = Path.Combine(TestData.Benchmarks, "ml-100k", "loo"), Format = "ml100k-bench",
                Items = Path.Combine(TestData.Root, "movielens-100k"), MaxUsers = 30,
            },
            Model = "mf", Dim = 16, Ks = [5, 10],
            Train = new DsmOptions { Epochs = 3, EvalEvery = 1, Lr = 0.01, Monitor = "hr@10", Patience = 0 },
        };
        var split = DataSource.Load(config.Data);
        var (_, _, model) = DsmPipeline.Run(config, split, Path.Combine(root, "mf"), resume: false);
        var dsm = (DomainModel)model;
        var spec = new LlmSpec
        {
            Prompt = new PromptOptions { MaxHistory = 5, MaxTokens = 64 },
            Backbone = new BackboneSettings { Lora = new LoraOptions { Rank = 4 } },
        };
        BdlmPipeline.Run(config, split, dsm, spec, new BdlmOptions { Rounds = 0 }, Path.Combine(root, "bdlm"));
        dsm.Dispose();
        return root;
    }

    /// <summary>A copy of a folder (its files, not its checkpoints) that a test may change.</summary>
    public static string CopyOf(string folder, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(folder)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        return to;
    }
}

/// <summary>A real server on a free loopback port, and an HTTP client for it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    public ServingHost Host { get; }
    public HttpClient Client { get; }
    public Uri BaseAddress { get; }

    TestServer(ServingHost host)
    {
        Host = host;
        BaseAddress = new Uri(host.Urls.First(u => u.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public static async Task<TestServer> StartAsync(string modelDir, Func<ServeSettings, ServeSettings>? change = null)
    {
        var settings = new ServeSettings
        {
            ModelDir = modelDir,
            Urls = ["http://127.0.0.1:0"],
            LogLevel = LogLevel.None,
            Serving = new ServingOptions { MaxHistory = 50 },
            MaxBodyBytes = 16 * 1024,
        };
        return new TestServer(await ServingHost.StartAsync(change?.Invoke(settings) ?? settings));
    }

    public async Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> Get(string path)
    {
        var r = await Client.GetAsync(path);
        return ((int)r.StatusCode, await ReadJson(r), r);
    }

    public async Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> Post(string path, string body, string contentType = "application/json")
    {
        using var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        var r = await Client.PostAsync(path, content);
        return ((int)r.StatusCode, await ReadJson(r), r);
    }

    public Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> Post(string path, JsonNode body) => Post(path, body.ToJsonString());

    static async Task<JsonNode?> ReadJson(HttpResponseMessage r)
    {
        string text = await r.Content.ReadAsStringAsync();
        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Host.DisposeAsync();
    }
}
