using System.Text.Json.Nodes;

namespace BridgeRec.Tests.Serving;

/// <summary>The serve and bench http verbs through the program's entry point (they print, so they share the console collection).</summary>
[Collection("console")]
public class ServeCliTests
{
    static int Run(params string[] args) => BridgeRec.Cli.Program.Main(args).GetAwaiter().GetResult();

    static (int Code, string LastLine) RunCaptured(params string[] args)
    {
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        int code;
        try { code = Run(args); }
        finally { Console.SetOut(old); }
        return (code, output.ToString().TrimEnd().Split('\n').Last());
    }

    [Fact]
    public async Task BenchHttpMeasuresARunningServerAndEndsWithJson()
    {
        string dir = ServingFolders.Bdlm;
        await using var server = await TestServer.StartAsync(dir);
        string url = server.BaseAddress.ToString().TrimEnd('/');

        var (code, last) = RunCaptured("bench", "http", "--model", dir, "--url", url, "--connections", "1,4", "--seconds", "1", "--warmup", "0");
        Assert.Equal(0, code);
        var json = JsonNode.Parse(last)!.AsObject();
        Assert.Equal("http", json["bench"]!.GetValue<string>());
        Assert.Equal("dsm", json["via"]!.GetValue<string>());
        Assert.Equal("mf", json["server_model"]!.GetValue<string>());
        var runs = json["runs"]!.AsArray();
        Assert.Equal([1, 4], runs.Select(r => r!["connections"]!.GetValue<int>()));
        foreach (var r in runs)
        {
            Assert.Equal(0, r!["errors"]!.GetValue<long>());
            Assert.True(r["requests"]!.GetValue<long>() > 0);
            Assert.True(r["requests_per_s"]!.GetValue<double>() > 0);
            Assert.True(r["p99_ms"]!.GetValue<double>() >= r["p50_ms"]!.GetValue<double>());
        }

        (code, last) = RunCaptured("bench", "http", "--model", dir, "--url", url, "--via", "llm", "--new-users", "--history", "4",
            "--connections", "2", "--seconds", "1", "--warmup", "0");
        Assert.Equal(0, code);
        json = JsonNode.Parse(last)!.AsObject();
        Assert.Equal("POST /v1/recommendations", json["endpoint"]!.GetValue<string>());
        Assert.Equal(0, json["runs"]![0]!["errors"]!.GetValue<long>());
        Assert.Equal(16, json["server_llm_max_batch"]!.GetValue<int>());

        // Wrong input: exit code 2 with a message, as every verb.
        Assert.Equal(2, Run("bench", "http", "--model", dir, "--url", url, "--via", "gpt", "--seconds", "0.1"));
        Assert.Equal(2, Run("bench", "http", "--model", dir, "--url", "http://127.0.0.1:9", "--seconds", "0.1"));
    }

    [Fact]
    public void ServeRefusesBadSettingsWithExitCodeTwo()
    {
        using var tmp = new TestData.TempDir();
        Assert.Equal(2, Run("serve", "--model", tmp.File("missing")));
        Assert.Equal(2, Run("serve", "--model", tmp.Path)); // no config.json
        Assert.Equal(2, Run("serve", "--model", ServingFolders.Mf, "--urls", "https://127.0.0.1:0"));
        Assert.Equal(2, Run("serve", "--model", ServingFolders.Mf, "--urls", "http://127.0.0.1:0", "--llm-max-batch", "0"));
        Assert.Equal(2, Run("serve", "--model", ServingFolders.Mf, "--urls", "http://127.0.0.1:0", "--log-level", "loud"));
    }
}
