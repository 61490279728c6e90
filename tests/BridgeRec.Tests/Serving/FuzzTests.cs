using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace BridgeRec.Tests.Serving;

/// <summary>
/// A fuzz pass over the JSON inputs: 10,000 random, generated and mutated bodies against the real
/// server. No answer may be a 5xx; every refusal is a problem document; every success a recommendation list.
/// </summary>
[Collection("serving")]
public class FuzzTests(ITestOutputHelper output)
{
    const int Cases = 10_000;

    [Fact]
    public async Task TenThousandRandomAndMutatedBodiesNeverGiveA5xx()
    {
        await using var server = await TestServer.StartAsync(ServingFolders.Bdlm);
        var counts = new ConcurrentDictionary<int, int>();
        var failures = new ConcurrentQueue<string>();
        int next = -1;

        async Task Worker(int w)
        {
            var rng = new Random(1000 + w);
            while (true)
            {
                int c = Interlocked.Increment(ref next);
                if (c >= Cases) return;
                var (body, kind) = Fuzz.Case(rng);
                string path = rng.Next(20) == 0 ? "/v1/explanations" : "/v1/recommendations";
                using var content = new ByteArrayContent(body);
                int media = rng.Next(40);
                content.Headers.ContentType = media switch
                {
                    0 => null,
                    1 => new MediaTypeHeaderValue("text/plain"),
                    2 => new MediaTypeHeaderValue("application/problem+json"),
                    3 => MediaTypeHeaderValue.Parse("application/json; charset=latin1"),
                    _ => new MediaTypeHeaderValue("application/json"),
                };
                using var response = await server.Client.PostAsync(path, content);
                int status = (int)response.StatusCode;
                counts.AddOrUpdate(status, 1, (_, n) => n + 1);
                string text = await response.Content.ReadAsStringAsync();
                string? problem = null;
                if (status >= 500) problem = "5xx";
                else if (status == 200)
                {
                    if (JsonNode.Parse(text)?["items"] is not JsonArray) problem = "200 without items";
                }
                else if (response.Content.Headers.ContentType?.MediaType != "application/problem+json") problem = "error without a problem document";
                else if (JsonNode.Parse(text)?["status"]?.GetValue<int>() != status) problem = "problem status differs";
                if (text.Contains("   at ", StringComparison.Ordinal)) problem = "stack trace in the response";
                if (problem is not null && failures.Count < 5)
                    failures.Enqueue($"{problem}: case {c} ({kind}) {path} -> {status} {text[..Math.Min(300, text.Length)]}; body {Show(body)}");
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(() => Worker(w))));
        string summary = string.Join(", ", counts.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}: {kv.Value}"));
        output.WriteLine($"{Cases} cases; statuses {summary}; LLM requests answered: {server.Host.Service.LlmStats.Requests}");
        Assert.True(failures.IsEmpty, $"{string.Join("\n", failures)}\nstatuses: {summary}");
        Assert.Equal(Cases, counts.Values.Sum());
        Assert.DoesNotContain(counts.Keys, s => s >= 500);
        // The generator reaches every kind of answer: successes, malformed input, unknown ids, media types.
        foreach (int s in new[] { 200, 400, 404, 409, 415 })
            Assert.True(counts.GetValueOrDefault(s) > 0, $"no {s} among {summary}");
        Assert.Equal(200, (await server.Get("/healthz")).Status);
    }

    static string Show(byte[] body) => Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).Replace("\n", "\\n");
}

/// <summary>Request bodies for fuzzing: valid ones, mutations of them, random JSON, token soup and raw bytes.</summary>
public static class Fuzz
{
    // Real ids of the ML-100K folder, unknown ones and odd ones.
    static readonly string[] Ids = ["0", "1", "49", "99", "180", "257", "1681", "1682", "-1", "99999", "", " 1", "01", "1e2", "abc", "\u00e9", "\ud83c\udfac"];
    static readonly string[] Tokens = ["{", "}", "[", "]", ",", ":", "\"", "\"history\"", "\"k\"", "\"via\"", "null", "true", "false", "0", "-1", "1e309",
        "2147483648", "10.5", "\"dsm\"", "\"llm\"", "\\", "\\u0000", "\\ud800", " ", "\n", "/*", "*/", "NaN", "\"\\u00"];

    public static (byte[] Body, string Kind) Case(Random rng)
    {
        int pick = rng.Next(100);
        if (pick < 20) return (Encoding.UTF8.GetBytes(ValidBody(rng)), "valid");
        if (pick < 60) return (Mutate(rng, Encoding.UTF8.GetBytes(ValidBody(rng))), "mutated");
        if (pick < 80) return (Encoding.UTF8.GetBytes(RandomValue(rng, 0, rootObject: rng.Next(3) > 0)), "random-json");
        if (pick < 92) return (Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, rng.Next(1, 30)).Select(_ => Tokens[rng.Next(Tokens.Length)]))), "tokens");
        var raw = new byte[rng.Next(0, 200)];
        rng.NextBytes(raw);
        return (raw, "bytes");
    }

    /// <summary>A body the API accepts or refuses for one reason (an unknown id, an out-of-range k ...).</summary>
    static string ValidBody(Random rng)
    {
        var o = new JsonObject();
        int n = rng.Next(10) == 0 ? rng.Next(0, 70) : rng.Next(1, 8);
        var history = new JsonArray();
        for (int i = 0; i < n; i++)
        {
            bool real = rng.Next(12) > 0;
            string id = real ? rng.Next(0, 1682).ToString() : Ids[rng.Next(Ids.Length)];
            history.Add(rng.Next(4) == 0 && long.TryParse(id, out long v) ? JsonValue.Create(v) : JsonValue.Create(id));
        }
        if (rng.Next(20) > 0) o["history"] = history;
        if (rng.Next(2) == 0) o["k"] = rng.Next(10) == 0 ? rng.Next(-5, 1100) : rng.Next(1, 50);
        if (rng.Next(2) == 0) o["via"] = rng.Next(40) switch { 0 => "llm", 1 => "LLM", 2 => "", 3 => "dsm ", _ => "dsm" };
        return o.ToJsonString();
    }

    const string JsonChars = "{}[]\",:0123456789-.eE \\";

    static byte[] Mutate(Random rng, byte[] body)
    {
        var b = new List<byte>(body);
        int ops = rng.Next(1, 5);
        for (int op = 0; op < ops; op++)
        {
            int at = b.Count == 0 ? 0 : rng.Next(b.Count);
            switch (rng.Next(6))
            {
                case 0 when b.Count > 0: b[at] = (byte)rng.Next(256); break;
                case 1 when b.Count > 0: b.RemoveRange(at, Math.Min(rng.Next(1, 8), b.Count - at)); break;
                case 2: b.InsertRange(at, Encoding.UTF8.GetBytes(Tokens[rng.Next(Tokens.Length)])); break;
                case 3 when b.Count > 0:
                    int len = Math.Min(rng.Next(1, 12), b.Count - at);
                    b.InsertRange(at, b.GetRange(at, len));
                    break;
                case 4 when b.Count > 0: b.RemoveRange(at, b.Count - at); break;
                default: b.Insert(at, (byte)JsonChars[rng.Next(JsonChars.Length)]); break;
            }
        }
        return [.. b];
    }

    static string RandomValue(Random rng, int depth, bool rootObject = false)
    {
        int kind = rootObject ? 6 : rng.Next(depth > 20 ? 5 : 8);
        switch (kind)
        {
            case 0: return "null";
            case 1: return rng.Next(2) == 0 ? "true" : "false";
            case 2: return rng.Next(6) switch { 0 => "1e400", 1 => "-0", 2 => "99999999999999999999", 3 => "3.25", _ => rng.Next(-10, 2000).ToString() };
            case 3: return RandomString(rng);
            case 4: return "\"" + Ids[rng.Next(Ids.Length)] + "\"";
            case 5:
            case 7:
                return "[" + string.Join(",", Enumerable.Range(0, rng.Next(0, 6)).Select(_ => RandomValue(rng, depth + 1))) + "]";
            default:
                string[] keys = ["history", "k", "via", "History", "", "history ", "\\u0068istory"];
                var fields = Enumerable.Range(0, rng.Next(0, 5)).Select(_ =>
                    "\"" + (rng.Next(4) == 0 ? RandomText(rng) : keys[rng.Next(keys.Length)]) + "\":" + RandomValue(rng, depth + 1));
                return "{" + string.Join(",", fields) + "}";
        }
    }

    static string RandomString(Random rng) => rng.Next(5) switch
    {
        0 => "\"\\ud800\"", // a lone surrogate
        1 => "\"\\u0000\\n\\t\"",
        2 => "\"" + new string('9', rng.Next(200, 400)) + "\"",
        _ => "\"" + RandomText(rng) + "\"",
    };

    static string RandomText(Random rng)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 _-.\u00e9\u4e2d";
        return new string(Enumerable.Range(0, rng.Next(0, 12)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray());
    }
}
