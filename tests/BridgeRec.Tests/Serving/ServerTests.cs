using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using BridgeRec.Bridge;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.IO;
using BridgeRec.Models;
using BridgeRec.SharedModule;
using BridgeRec.Torch;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Serving;

[CollectionDefinition("serving", DisableParallelization = true)]
public class ServingCollection;

/// <summary>
/// The real server (Kestrel on a free loopback port, no mocks) over a small real model folder: every
/// endpoint, every input error, timeouts, the admin guard, and reloads under load.
/// </summary>
[Collection("serving")]
public class ServerTests
{
    static void AssertProblem(int expectedStatus, (int Status, JsonNode? Body, HttpResponseMessage Response) r, string? mentions = null, string? field = null)
    {
        Assert.True(r.Status == expectedStatus, $"expected {expectedStatus}, got {r.Status}: {r.Body?.ToJsonString()}");
        Assert.Equal("application/problem+json", r.Response.Content.Headers.ContentType?.MediaType);
        var body = r.Body!;
        Assert.Equal(expectedStatus, body["status"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(body["title"]?.GetValue<string>()));
        string text = body.ToJsonString();
        Assert.DoesNotContain("   at ", text); // no stack trace
        if (mentions is not null) Assert.Contains(mentions, body["detail"]!.GetValue<string>());
        if (field is not null) Assert.Equal(field, body["field"]!.GetValue<string>());
    }

    static string[] ItemIds(JsonNode list) => list["items"]!.AsArray().Select(i => i!["item_id"]!.GetValue<string>()).ToArray();

    [Fact]
    public async Task EveryEndpointAnswersFromTheRealModel()
    {
        string dir = ServingFolders.Bdlm;
        await using var server = await TestServer.StartAsync(dir);

        var health = await server.Get("/healthz");
        Assert.Equal(200, health.Status);
        Assert.Equal("ok", health.Body!["status"]!.GetValue<string>());
        Assert.Equal(1, health.Body["generation"]!.GetValue<int>());

        var info = (await server.Get("/v1/model")).Body!;
        Assert.Equal(Path.GetFullPath(dir), info["model_dir"]!.GetValue<string>());
        Assert.Contains("ml-100k", info["dataset"]!.GetValue<string>());
        Assert.Equal(1682, info["items"]!.GetValue<int>());
        Assert.Equal("mf", info["methods"]!["dsm"]!["model"]!.GetValue<string>());
        Assert.StartsWith("MiniLM-L6", info["methods"]!["llm"]!["model"]!.GetValue<string>());
        Assert.False(info["methods"]!["llm"]!["generative"]!.GetValue<bool>());
        Assert.True(info["metrics"]!["llm"]!["test"]!["ndcg@10"]!.GetValue<double>() >= 0);
        Assert.True(info["checkpoint_utc"]!.GetValue<DateTime>() > DateTime.UtcNow.AddDays(-1));
        Assert.Equal(1000, info["limits"]!["max_k"]!.GetValue<int>());

        var item = await server.Get("/v1/items/0");
        Assert.Equal(200, item.Status);
        Assert.Equal("Toy Story (1995)", item.Body!["title"]!.GetValue<string>());
        Assert.Contains("Toy Story", item.Body["text"]!.GetValue<string>());
        Assert.True(item.Body["seen_by"]!.GetValue<int>() > 0);

        // The reference: the folder loaded as the CLI loads it, ranked by the evaluation code.
        var (_, split, model) = DsmFolder.Load(dir);
        var d = split.Dataset;
        var seen = new UserItemIndex(d.NumUsers, d.NumItems, split.Train, split.Validation);
        double[] Row(Tensor scores) { using (scores) return scores[0].data<float>().ToArray().Select(x => (double)x).ToArray(); }

        var dsm = await server.Get("/v1/users/3/recommendations?k=7");
        Assert.Equal(200, dsm.Status);
        Assert.Equal("application/json", dsm.Response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("3", dsm.Body!["user_id"]!.GetValue<string>());
        Assert.Equal("dsm", dsm.Body["via"]!.GetValue<string>());
        Assert.Equal("mf", dsm.Body["model"]!.GetValue<string>());
        var row = Row(model.ScoreAll([3]));
        var expected = RankOrder.TopOfRow(row, seen.ItemsOf(3), 7);
        Assert.Equal(expected.Select(i => d.Items.Original(i)), ItemIds(dsm.Body));
        var first = dsm.Body["items"]![0]!;
        Assert.Equal(1, first["rank"]!.GetValue<int>());
        Assert.Equal(d.DisplayName(expected[0]), first["title"]!.GetValue<string>());
        Assert.Equal(row[expected[0]], first["score"]!.GetValue<double>(), 4);

        // A new user by history, DSM path: the mean of the items' final vectors, its items left out.
        string[] history = ["0", "49", "180", "257"];
        var cold = await server.Post("/v1/recommendations", new JsonObject { ["history"] = new JsonArray(history.Select(h => (JsonNode)h).ToArray()), ["k"] = 5 });
        Assert.Equal(200, cold.Status);
        Assert.Null(cold.Body!["user_id"]);
        Assert.Equal(4, cold.Body["history_length"]!.GetValue<int>());
        var dm = (DomainModel)model;
        double[] foldIn;
        using (no_grad())
        {
            var (_, finalItems) = dm.FinalEmbeddings();
            using var idx = tensor(history.Select(h => (long)d.Items[h]).ToArray());
            using var v = finalItems.index_select(0, idx).mean([0]);
            using var s = finalItems.matmul(v);
            foldIn = s.data<float>().ToArray().Select(x => (double)x).ToArray();
        }
        var historyItems = history.Select(h => d.Items[h]).Order().ToArray();
        Assert.Equal(RankOrder.TopOfRow(foldIn, historyItems, 5).Select(i => d.Items.Original(i)), ItemIds(cold.Body));
        // Integer ids are accepted too.
        var coldInts = await server.Post("/v1/recommendations", "{\"history\": [0, 49, 180, 257], \"k\": 5, \"via\": \"dsm\"}");
        Assert.Equal(ItemIds(cold.Body), ItemIds(coldInts.Body!));

        // The LLM path, known user and new user, against the folder's LLM run directly.
        var llmKnown = await server.Get("/v1/users/3/recommendations?k=5&via=llm");
        Assert.Equal(200, llmKnown.Status);
        Assert.Equal("llm", llmKnown.Body!["via"]!.GetValue<string>());
        Assert.Equal("bdlm-llm", llmKnown.Body["model"]!.GetValue<string>());
        var llmCold = await server.Post("/v1/recommendations", new JsonObject { ["history"] = new JsonArray(history.Select(h => (JsonNode)h).ToArray()), ["k"] = 5, ["via"] = "llm" });
        Assert.Equal(200, llmCold.Status);
        Assert.DoesNotContain(ItemIds(llmCold.Body!), history.Contains);
        using (var llm = LlmFolder.Load(dir, split))
        {
            var known = RankOrder.TopOfRow(Row(llm.ScoreAll([3])), seen.ItemsOf(3), 5);
            Assert.Equal(known.Select(i => d.Items.Original(i)), ItemIds(llmKnown.Body));
            using var _ = no_grad();
            var prompt = llm.Prompts.Build(-1, history.Select(h => d.Items[h]).ToArray());
            var coldRow = Row(llm.Score(llm.Prompts.Collate([prompt])));
            Assert.Equal(RankOrder.TopOfRow(coldRow, historyItems, 5).Select(i => d.Items.Original(i)), ItemIds(llmCold.Body!));
        }
        dm.Dispose();

        // k = 1000 is served (fewer when fewer items are unseen); explanations: a clear 409.
        var many = await server.Get("/v1/users/3/recommendations?k=1000");
        Assert.Equal(1000, many.Body!["items"]!.AsArray().Count);
        AssertProblem(409, await server.Post("/v1/explanations", "{\"user_id\": \"3\", \"item_id\": \"0\"}"), "not generative");

        // The OpenAPI document lists every endpoint.
        var openApi = await server.Get("/openapi/v1.json");
        Assert.Equal(200, openApi.Status);
        var paths = openApi.Body!["paths"]!.AsObject().Select(p => p.Key).ToArray();
        foreach (string p in new[] { "/healthz", "/v1/model", "/v1/items/{itemId}", "/v1/users/{userId}/recommendations", "/v1/recommendations", "/v1/explanations", "/v1/admin/reload" })
            Assert.Contains(p, paths);
        Assert.NotNull(openApi.Body["paths"]!["/v1/recommendations"]!["post"]!["requestBody"]);

        // Reload from loopback: the same folder again, a new generation.
        var reload = await server.Post("/v1/admin/reload", "");
        Assert.Equal(200, reload.Status);
        Assert.Equal(2, reload.Body!["generation"]!.GetValue<int>());
        Assert.Equal(2, (await server.Get("/v1/users/3/recommendations")).Body!["generation"]!.GetValue<int>());
        Assert.True((await server.Get("/v1/model")).Body!["llm_batching"]!["requests"]!.GetValue<long>() >= 2);
    }

    [Fact]
    public async Task BadInputIsAProblemNamingTheFieldOrId()
    {
        await using var server = await TestServer.StartAsync(ServingFolders.Bdlm);
        AssertProblem(404, await server.Get("/v1/users/no-such-user/recommendations"), "'no-such-user'", "userId");
        AssertProblem(404, await server.Get("/v1/users/no-such-user/recommendations?via=llm"), "'no-such-user'");
        AssertProblem(404, await server.Get("/v1/items/99999"), "'99999'", "itemId");
        AssertProblem(400, await server.Get("/v1/users/3/recommendations?k=0"), "outside 1..1000", "k");
        AssertProblem(400, await server.Get("/v1/users/3/recommendations?k=1001"), "outside 1..1000", "k");
        AssertProblem(400, await server.Get("/v1/users/3/recommendations?k=ten"), "'ten'", "k");
        AssertProblem(400, await server.Get("/v1/users/3/recommendations?k=5&k=6"), null, "k");
        AssertProblem(400, await server.Get("/v1/users/3/recommendations?via=gpt"), "'gpt'", "via");

        const string path = "/v1/recommendations";
        AssertProblem(400, await server.Post(path, "{\"history\": [\"1\", "), "not valid JSON", "body");
        AssertProblem(400, await server.Post(path, ""), "not valid JSON", "body");
        AssertProblem(400, await server.Post(path, "[1, 2]"), "expected a JSON object", "body");
        AssertProblem(400, await server.Post(path, "{\"k\": 5}"), "missing", "history");
        AssertProblem(400, await server.Post(path, "{\"history\": []}"), "empty", "history");
        AssertProblem(400, await server.Post(path, "{\"history\": \"1\"}"), "expected an array", "history");
        string tooLong = "{\"history\": [" + string.Join(",", Enumerable.Repeat("\"1\"", 51)) + "]}";
        AssertProblem(400, await server.Post(path, tooLong), "at most 50", "history");
        AssertProblem(400, await server.Post(path, "{\"history\": [\"1\", 2.5]}"), "a string or an integer", "history[1]");
        AssertProblem(400, await server.Post(path, "{\"history\": [\"1\"], \"k\": 0}"), "outside 1..1000", "k");
        AssertProblem(400, await server.Post(path, "{\"history\": [\"1\"], \"k\": \"5\"}"), "expected an integer", "k");
        AssertProblem(400, await server.Post(path, "{\"history\": [\"1\"], \"via\": \"both\"}"), "'both'", "via");
        AssertProblem(400, await server.Post(path, "{\"history\": [\"1\"], \"user\": 3}"), "unknown field", "user");
        AssertProblem(400, await server.Post(path, "{\"history\": [\"1\"], \"k\": 3, \"k\": 4}"), "more than once", "k");
        var defaults = await server.Post(path, "{\"history\": [\"1\"], \"k\": null, \"via\": null}"); // null: the default
        Assert.Equal(200, defaults.Status);
        Assert.Equal(10, defaults.Body!["items"]!.AsArray().Count);
        var unknown = await server.Post(path, "{\"history\": [\"1\", \"77777\", \"88888\"]}");
        AssertProblem(404, unknown, "'77777' (history[1])", "history[1]");
        Assert.Equal(["77777", "88888"], unknown.Body!["unknown_ids"]!.AsArray().Select(x => x!.GetValue<string>()));
        AssertProblem(404, await server.Post(path, "{\"history\": [\"77777\"], \"via\": \"llm\"}"), "'77777'");
        AssertProblem(415, await server.Post(path, "{\"history\": [\"1\"]}", "text/plain"), null, "Content-Type");
        string huge = "{\"history\": [\"1\"], \"pad\": \"" + new string('x', 20_000) + "\"}";
        AssertProblem(413, await server.Post(path, huge), "16,384 bytes", "body");

        // Unknown routes and methods are problems too.
        AssertProblem(404, await server.Get("/v2/nothing"));
        var wrongMethod = await server.Client.DeleteAsync("/v1/model");
        Assert.Equal(405, (int)wrongMethod.StatusCode);

        // A folder without an LLM part: via=llm is a conflict with the loaded model, not a crash.
        await using var dsmOnly = await TestServer.StartAsync(ServingFolders.Mf);
        AssertProblem(409, await dsmOnly.Get("/v1/users/3/recommendations?via=llm"), "no LLM part", "via");
        AssertProblem(409, await dsmOnly.Post(path, "{\"history\": [\"1\"], \"via\": \"llm\"}"), "no LLM part");
        AssertProblem(409, await dsmOnly.Post("/v1/explanations", "{}"), "no LLM");
        Assert.Equal(200, (await dsmOnly.Get("/v1/users/3/recommendations")).Status);
    }

    [Fact]
    public async Task LlmTimeoutAndAdminTokenAreEnforced()
    {
        await using var server = await TestServer.StartAsync(ServingFolders.Bdlm, s => s with
        {
            AdminToken = "s3cret",
            // The request waits up to 400 ms for others to join its batch: its 1 ms limit passes first.
            Serving = s.Serving with { LlmTimeout = TimeSpan.FromMilliseconds(1), LlmBatching = new() { Window = TimeSpan.FromMilliseconds(400) } },
        });
        var slow = await server.Get("/v1/users/3/recommendations?via=llm");
        AssertProblem(503, slow, "did not answer within 1 ms");
        Assert.Equal("1", slow.Response.Headers.RetryAfter?.ToString());
        Assert.Equal(200, (await server.Get("/v1/users/3/recommendations")).Status); // the DSM path is unaffected

        AssertProblem(401, await server.Post("/v1/admin/reload", ""), null, "Authorization");
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/reload") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "guess") } };
        Assert.Equal(401, (int)(await server.Client.SendAsync(wrong)).StatusCode);
        using var right = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/reload") { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "s3cret") } };
        var ok = await server.Client.SendAsync(right);
        Assert.Equal(200, (int)ok.StatusCode);
    }

    /// <summary>
    /// Requests on both paths run without pause while the folder gets a good new checkpoint, a truncated
    /// one and one with NaN weights: every request succeeds, the good one is swapped in, the broken ones
    /// are rejected with 422 and the model before them keeps serving.
    /// </summary>
    [Fact]
    public async Task ReloadSwapsGoodCheckpointsAndRejectsBrokenOnesWithoutFailingARequest()
    {
        using var tmp = new TestData.TempDir();
        string dir = ServingFolders.CopyOf(ServingFolders.Bdlm, tmp.File("model"));
        string ism = Path.Combine(dir, ModelFolder.IsmFile);
        await using var server = await TestServer.StartAsync(dir);
        var before = ItemIds((await server.Get("/v1/users/3/recommendations?k=10")).Body!);

        var statuses = new ConcurrentBag<(int Status, string Body)>();
        var generations = new ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource();
        async Task Load(int worker)
        {
            string[] gets = ["/v1/users/3/recommendations?k=10", "/v1/users/7/recommendations?k=5&via=llm", "/v1/items/0", "/v1/model"];
            int n = 0;
            while (!stop.IsCancellationRequested)
            {
                n++;
                var r = (worker + n) % 5 == 0
                    ? await server.Post("/v1/recommendations", $"{{\"history\": [\"0\", \"49\"], \"via\": \"{(n % 2 == 0 ? "llm" : "dsm")}\"}}")
                    : await server.Get(gets[(worker + n) % gets.Length]);
                statuses.Add((r.Status, r.Body?.ToJsonString() ?? ""));
                if (r.Body?["generation"] is { } g) generations.TryAdd(g.GetValue<int>(), 0);
            }
        }
        var load = Enumerable.Range(0, 4).Select(w => Task.Run(() => Load(w))).ToArray();
        await Task.Delay(300);

        // A good new checkpoint: the item table negated (recommendations change), written atomically.
        ReplaceIsm(ism, t => t["items"].neg_());
        var good = await server.Post("/v1/admin/reload", "");
        Assert.Equal(200, good.Status);
        Assert.Equal(2, good.Body!["generation"]!.GetValue<int>());
        var after = ItemIds((await server.Get("/v1/users/3/recommendations?k=10")).Body!);
        Assert.NotEqual(before, after);
        await Task.Delay(200);

        // Broken: truncated mid-file.
        var bytes = File.ReadAllBytes(ism);
        File.WriteAllBytes(ism + ".tmp", bytes[..(bytes.Length / 2)]);
        File.Move(ism + ".tmp", ism, overwrite: true);
        var truncated = await server.Post("/v1/admin/reload", "");
        AssertProblem(422, truncated, "generation 2 keeps serving");
        Assert.Equal(2, truncated.Body!["generation"]!.GetValue<int>());

        // Broken: readable, but the weights hold NaN.
        File.WriteAllBytes(ism, bytes);
        ReplaceIsm(ism, t => t["users"][5, 0].fill_(Scalars.Of(double.NaN)));
        AssertProblem(422, await server.Post("/v1/admin/reload", ""), "non-finite");
        await Task.Delay(200);

        stop.Cancel();
        await Task.WhenAll(load);
        Assert.Equal(2, (await server.Get("/healthz")).Body!["generation"]!.GetValue<int>());
        Assert.Equal(after, ItemIds((await server.Get("/v1/users/3/recommendations?k=10")).Body!));
        var failed = statuses.Where(s => s.Status != 200).ToList();
        Assert.True(failed.Count == 0, $"{failed.Count} of {statuses.Count} requests failed, first: {failed.FirstOrDefault()}");
        Assert.True(statuses.Count > 40, $"only {statuses.Count} requests ran");
        Assert.Contains(1, generations.Keys);
        Assert.Contains(2, generations.Keys);
    }

    /// <summary>Rewrites a shared-module file with a change to its tensors, atomically (write, then rename).</summary>
    static void ReplaceIsm(string path, Action<Dictionary<string, Tensor>> change)
    {
        var tensors = BridgeRec.IO.SafeTensors.Load(path);
        try
        {
            using (no_grad()) change(tensors);
            BridgeRec.IO.SafeTensors.Save(path + ".tmp", tensors);
            File.Move(path + ".tmp", path, overwrite: true);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }
}
