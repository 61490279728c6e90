using System.Globalization;
using System.Text.RegularExpressions;
using BridgeRec.Bridge;

namespace BridgeRec.Tests.Serving;

/// <summary>
/// /metrics after known traffic: the Prometheus text holds exactly the requests sent, by route, path (dsm / llm) and
/// status, the LLM batches they made, the reload outcomes and the model generation. The test runs in the serving
/// collection, which runs alone, so no other server in this process adds measurements meanwhile.
/// </summary>
[Collection("serving")]
public partial class MetricsTests
{
    const string UserRoute = "/v1/users/{userId}/recommendations";
    const string PostRoute = "/v1/recommendations";
    const string ReloadRoute = "/v1/admin/reload";

    [Fact]
    public async Task MetricsCountTheTrafficSent()
    {
        using var tmp = new TestData.TempDir();
        string dir = ServingFolders.CopyOf(ServingFolders.Bdlm, tmp.File("model"));
        await using var server = await TestServer.StartAsync(dir);

        foreach (string user in new[] { "1", "2", "3" })
            Assert.Equal(200, (await server.Get($"/v1/users/{user}/recommendations?k=5")).Status);
        Assert.Equal(404, (await server.Get("/v1/users/nobody/recommendations")).Status);
        Assert.Equal(404, (await server.Get("/v1/users/nobody/recommendations?via=dsm")).Status);
        Assert.Equal(400, (await server.Get("/v1/users/1/recommendations?k=0")).Status); // refused before the path is read
        Assert.Equal(200, (await server.Get("/v1/users/1/recommendations?k=5&via=llm")).Status);
        Assert.Equal(200, (await server.Post(PostRoute, """{"history": ["0", "49"], "via": "llm"}""")).Status);
        Assert.Equal(200, (await server.Post(PostRoute, """{"history": ["0", "49", "99"], "k": 3, "via": "llm"}""")).Status);
        Assert.Equal(200, (await server.Post(PostRoute, """{"history": ["0"], "via": "dsm"}""")).Status);
        Assert.Equal(200, (await server.Post(ReloadRoute, "")).Status);
        string ism = Path.Combine(dir, BridgeRec.IO.ModelFolder.IsmFile);
        File.WriteAllBytes(ism, File.ReadAllBytes(ism)[..100]);
        Assert.Equal(422, (await server.Post(ReloadRoute, "")).Status);

        // ASP.NET Core records a request's duration as the request ends, which can be just after the client has read
        // the answer: scrape until the last request is there, then compare everything exactly.
        Metrics m = await Scrape(server);
        for (int tries = 0; m.Sum("http_server_request_duration_seconds_count", ("http_route", ReloadRoute)) < 2 && tries < 50; tries++)
        {
            await Task.Delay(100);
            m = await Scrape(server);
        }

        double Requests(string route, int status, string? via) =>
            m.Sum("http_server_request_duration_seconds_count", ("http_route", route), ("http_response_status_code", status.ToString(CultureInfo.InvariantCulture)),
                ("bridgerec_via", via));
        Assert.Equal(3, Requests(UserRoute, 200, "dsm"));
        Assert.Equal(2, Requests(UserRoute, 404, "dsm"));
        Assert.Equal(1, Requests(UserRoute, 400, null));
        Assert.Equal(1, Requests(UserRoute, 200, "llm"));
        Assert.Equal(2, Requests(PostRoute, 200, "llm"));
        Assert.Equal(1, Requests(PostRoute, 200, "dsm"));
        Assert.Equal(1, Requests(ReloadRoute, 200, null));
        Assert.Equal(1, Requests(ReloadRoute, 422, null));
        // Every request lands in exactly one latency bucket: the +Inf bucket equals the count.
        Assert.Equal(3, m.Sum("http_server_request_duration_seconds_bucket", ("http_route", UserRoute), ("http_response_status_code", "200"),
            ("bridgerec_via", "dsm"), ("le", "+Inf")));

        // Three LLM requests sent one after another: three batches of one.
        Assert.Equal(3, m.Sum("bridgerec_llm_batch_size_count"));
        Assert.Equal(3, m.Sum("bridgerec_llm_batch_size_sum"));
        Assert.Equal(3, m.Sum("bridgerec_llm_batch_size_bucket", ("le", "1")));
        Assert.Equal(3, m.Sum("bridgerec_llm_batch_duration_seconds_count"));
        Assert.Equal(0, m.Sum("bridgerec_llm_queue_depth"));
        Assert.Equal(1, m.Sum("bridgerec_model_reloads_total", ("outcome", "ok")));
        Assert.Equal(1, m.Sum("bridgerec_model_reloads_total", ("outcome", "rejected")));
        Assert.Equal(0, m.Sum("bridgerec_model_reloads_total", ("outcome", "busy")));
        Assert.Equal(2, m.Sum("bridgerec_model_generation"));
    }

    static async Task<Metrics> Scrape(TestServer server)
    {
        var r = await server.Client.GetAsync("/metrics");
        Assert.True(r.IsSuccessStatusCode, $"/metrics answered {(int)r.StatusCode}");
        return Metrics.Parse(await r.Content.ReadAsStringAsync());
    }

    /// <summary>The samples of a Prometheus text exposition: name, labels, value.</summary>
    sealed partial class Metrics(List<(string Name, Dictionary<string, string> Labels, double Value)> samples)
    {
        public static Metrics Parse(string text)
        {
            var samples = new List<(string, Dictionary<string, string>, double)>();
            foreach (string line in text.Split('\n'))
            {
                if (line.Length == 0 || line[0] == '#') continue;
                var s = SampleLine().Match(line);
                Assert.True(s.Success, $"not a Prometheus sample line: {line}");
                var labels = Label().Matches(s.Groups["labels"].Value)
                    .ToDictionary(l => l.Groups[1].Value, l => Regex.Unescape(l.Groups[2].Value));
                string v = s.Groups["value"].Value;
                samples.Add((s.Groups["name"].Value, labels, v switch
                {
                    "+Inf" => double.PositiveInfinity,
                    "-Inf" => double.NegativeInfinity,
                    _ => double.Parse(v, CultureInfo.InvariantCulture),
                }));
            }
            return new Metrics(samples);
        }

        /// <summary>The sum over samples of <paramref name="name"/> whose labels match; a null value means the label must be absent.</summary>
        public double Sum(string name, params (string Label, string? Value)[] match) =>
            samples.Where(s => s.Name == name && match.All(m => m.Value is null
                    ? !s.Labels.ContainsKey(m.Label)
                    : s.Labels.TryGetValue(m.Label, out var v) && v == m.Value))
                .Sum(s => s.Value);

        [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$""")]
        private static partial Regex SampleLine();

        [GeneratedRegex("""([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?""")]
        private static partial Regex Label();
    }
}
