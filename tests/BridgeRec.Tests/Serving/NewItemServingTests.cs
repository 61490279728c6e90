using System.Text.Json.Nodes;
using BridgeRec.Cli.Serving;
using BridgeRec.Data;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.Serving;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Serving;

/// <summary>
/// POST /v1/recommendations with new_items: items never in training, known by id and text, ranked by the LLM's item tower
/// next to the catalog (real server, real folder whose LLM has the item-text tower), and every way such a request is refused.
/// </summary>
[Collection("serving")]
public class NewItemServingTests
{
    const string Path_ = "/v1/recommendations";

    static void AssertProblem(int expectedStatus, (int Status, JsonNode? Body, HttpResponseMessage Response) r, string? mentions, string field)
    {
        Assert.True(r.Status == expectedStatus, $"expected {expectedStatus}, got {r.Status}: {r.Body?.ToJsonString()}");
        Assert.Equal("application/problem+json", r.Response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(expectedStatus, r.Body!["status"]!.GetValue<int>());
        if (mentions is not null) Assert.Contains(mentions, r.Body["detail"]!.GetValue<string>());
        Assert.Equal(field, r.Body["field"]!.GetValue<string>());
    }

    static JsonArray Ids(IEnumerable<string> ids) => new(ids.Select(h => (JsonNode)h).ToArray());

    static ServeSettings Patient(ServeSettings s) => s with { Serving = s.Serving with { LlmTimeout = TimeSpan.FromMinutes(2), MaxNewItems = 30 } };

    [Fact]
    public async Task NewItemsAreRankedAmongTheCatalogByTheirText()
    {
        string dir = ServingFolders.TextTower;
        await using var server = await TestServer.StartAsync(dir, Patient);
        var info = (await server.Get("/v1/model")).Body!;
        Assert.True(info["methods"]!["llm"]!["new_items"]!.GetValue<bool>());
        Assert.False(info["methods"]!["dsm"]!["new_items"]!.GetValue<bool>());
        Assert.Equal(30, info["limits"]!["max_new_items"]!.GetValue<int>());

        var (_, split, dsm) = DsmFolder.Load(dir);
        (dsm as IDisposable)?.Dispose();
        var d = split.Dataset;
        string[] history = ["0", "49", "180", "257"];
        // New items: 20 catalog texts under new ids (integers and strings), so that some land in any top 1000 of 1,698.
        var texts = TextFeatures.Texts(d);
        var fresh = Enumerable.Range(0, 20).Select(j => new NewItem(j % 2 == 0 ? $"new-{j}" : (900_000 + j).ToString(), texts[(j * 83 + 7) % d.NumItems])).ToList();
        var body = new JsonObject
        {
            ["history"] = Ids(history), ["k"] = 1000, ["via"] = "llm",
            ["new_items"] = new JsonArray(fresh.Select((x, j) => (JsonNode)new JsonObject
            {
                ["id"] = j % 2 == 0 ? JsonValue.Create(x.Id) : JsonValue.Create(int.Parse(x.Id, System.Globalization.CultureInfo.InvariantCulture)),
                ["text"] = x.Text,
            }).ToArray()),
        };
        var r = await server.Post(Path_, body);
        Assert.True(r.Status == 200, r.Body?.ToJsonString());
        var items = r.Body!["items"]!.AsArray();
        Assert.Equal(1000, items.Count);

        // The reference: the folder's LLM run directly, the texts embedded as TextFeatures embeds them, one ranking of both.
        string[] expected;
        float[] expectedScores;
        using (var llm = LlmFolder.Load(dir, split))
        using (var encoder = new TextEncoder())
        using (no_grad())
        {
            using var emb = encoder.Embed(fresh.Select(x => x.Text).ToArray());
            var historyItems = history.Select(h => d.Items[h]).ToArray();
            using var q = llm.Queries(llm.Prompts.Collate([llm.Prompts.Build(-1, historyItems)]));
            using var v = llm.NewItemVectors(emb);
            using var all = cat([llm.CatalogLogits(q), LlmRecommender.NewItemLogits(q, v)], 1);
            var row = all[0].data<float>().ToArray().Select(x => (double)x).ToArray();
            var top = RankOrder.TopOfRow(row, historyItems.Order().ToArray(), 1000);
            expected = top.Select(i => i >= d.NumItems ? fresh[i - d.NumItems].Id : d.Items.Original(i)).ToArray();
            expectedScores = top.Select(i => (float)row[i]).ToArray();
        }
        Assert.Equal(expected, items.Select(i => i!["item_id"]!.GetValue<string>()));
        var newOnes = items.Where(i => i!["new"] is not null).ToList();
        int inTop = expected.Count(fresh.Select(x => x.Id).Contains);
        Assert.True(inTop > 0, "no new item in the top 1000: the test shows nothing");
        Assert.Equal(inTop, newOnes.Count);
        foreach (var n in newOnes)
        {
            Assert.True(n!["new"]!.GetValue<bool>());
            var x = fresh.Single(f => f.Id == n["item_id"]!.GetValue<string>());
            Assert.Equal(x.Text, n["title"]!.GetValue<string>());
            int rank = n["rank"]!.GetValue<int>();
            Assert.Equal(expectedScores[rank - 1], n["score"]!.GetValue<float>(), 4);
        }
        // The catalog items keep their titles and carry no "new".
        Assert.All(items.Where(i => i!["new"] is null), i => Assert.True(d.Items.TryGet(i!["item_id"]!.GetValue<string>(), out _)));

        // A known user by history plus new items next to a request without them, batched or not: the catalog part is the same ranking.
        var plain = await server.Post(Path_, new JsonObject { ["history"] = Ids(history), ["k"] = 50, ["via"] = "llm" });
        var catalogOnly = items.Where(i => i!["new"] is null).Take(50).Select(i => i!["item_id"]!.GetValue<string>());
        Assert.Equal(plain.Body!["items"]!.AsArray().Select(i => i!["item_id"]!.GetValue<string>()), catalogOnly);

        // An empty list, or null, is no new items; on the DSM path too.
        Assert.Equal(200, (await server.Post(Path_, "{\"history\": [\"0\"], \"via\": \"dsm\", \"new_items\": []}")).Status);
        Assert.Equal(200, (await server.Post(Path_, "{\"history\": [\"0\"], \"via\": \"llm\", \"new_items\": null}")).Status);
    }

    [Fact]
    public async Task BadNewItemsAreProblemsNamingTheField()
    {
        await using var server = await TestServer.StartAsync(ServingFolders.TextTower, s => Patient(s) with { Serving = Patient(s).Serving with { MaxNewItems = 3 } });
        string Body(string newItems, string via = "llm") => $"{{\"history\": [\"0\", \"49\"], \"via\": \"{via}\", \"new_items\": {newItems}}}";

        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"text\": \"Heat (1995)\"}]", "dsm")), "only via=llm", "new_items");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"text\": \"Heat (1995)\"}]").Replace(", \"via\": \"llm\"", "")), "only via=llm", "new_items");
        AssertProblem(400, await server.Post(Path_, Body("{\"id\": \"n1\"}")), "expected an array", "new_items");
        AssertProblem(400, await server.Post(Path_, Body("[\"Heat (1995)\"]")), "expected an object", "new_items[0]");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\"}]")), "missing", "new_items[0].text");
        AssertProblem(400, await server.Post(Path_, Body("[{\"text\": \"Heat\"}]")), "missing", "new_items[0].id");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"text\": \"Heat\"}, {\"id\": \"n2\", \"text\": \"   \"}]")), "blank", "new_items[1].text");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"text\": 5}]")), "as a string", "new_items[0].text");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": 2.5, \"text\": \"Heat\"}]")), "a string or an integer", "new_items[0].id");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"\", \"text\": \"Heat\"}]")), "empty id", "new_items[0].id");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"text\": \"Heat\", \"title\": \"Heat\"}]")), "unknown field", "new_items[0].title");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"id\": \"n2\", \"text\": \"Heat\"}]")), "more than once", "new_items[0].id");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"text\": \"Heat\"}, {\"id\": \"n1\", \"text\": \"Ronin\"}]")), "repeats new_items[0].id", "new_items[1].id");
        AssertProblem(400, await server.Post(Path_, Body("[{\"id\": \"n1\", \"text\": \"Heat\"}, {\"id\": 50, \"text\": \"Star Wars\"}]")), "already an item of", "new_items[1].id");
        string four = "[" + string.Join(", ", Enumerable.Range(0, 4).Select(j => $"{{\"id\": \"n{j}\", \"text\": \"t{j}\"}}")) + "]";
        AssertProblem(400, await server.Post(Path_, Body(four)), "at most 3", "new_items");
        AssertProblem(400, await server.Post(Path_, "{\"history\": [\"0\"], \"via\": \"llm\", \"new_items\": [], \"new_items\": []}"), "more than once", "new_items");

        // A folder whose LLM has no item-text tower (the first build's): a conflict with the loaded model, naming the option.
        await using var idOnly = await TestServer.StartAsync(ServingFolders.Bdlm);
        var info = (await idOnly.Get("/v1/model")).Body!;
        Assert.False(info["methods"]!["llm"]!["new_items"]!.GetValue<bool>());
        AssertProblem(409, await idOnly.Post(Path_, Body("[{\"id\": \"n1\", \"text\": \"Heat (1995)\"}]")), "item-text tower", "new_items");
    }
}
