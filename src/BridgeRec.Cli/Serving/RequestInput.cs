using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text.Json;
using BridgeRec.Data;
using BridgeRec.Serving;
using Microsoft.AspNetCore.Http;

namespace BridgeRec.Cli.Serving;

/// <summary>
/// A request the API answers with an RFC 7807 problem: the status, a short title, a detail that names
/// the field or id at fault, and extensions (field, unknown ids ...) for programs.
/// </summary>
public sealed class ApiProblem(int status, string title, string detail, string? field = null) : Exception(detail)
{
    public int Status { get; } = status;
    public string Title { get; } = title;
    public string Detail => Message;
    public string? Field { get; } = field;
    public Dictionary<string, object?> Extensions { get; } = new();

    public static ApiProblem BadField(string field, string detail) => new(StatusCodes.Status400BadRequest, "invalid request", $"{field}: {detail}", field);

    public static ApiProblem UnknownItems(Dataset d, IReadOnlyList<(string Id, string Where)> unknown)
    {
        var (id, where) = unknown[0];
        string more = unknown.Count > 1 ? $" ({unknown.Count} unknown ids in all)" : "";
        var p = new ApiProblem(StatusCodes.Status404NotFound, "unknown item",
            $"item '{Clip(id)}' ({where}) is not in {d.Name}{more}; ids look like '{d.Items.Original(0)}'", where);
        p.Extensions["unknown_ids"] = unknown.Take(20).Select(u => Clip(u.Id)).ToArray();
        return p;
    }

    /// <summary>Client text quoted in a message, cut to a readable length.</summary>
    public static string Clip(string s) => s.Length <= 80 ? s : s[..80] + "...";
}

/// <summary>A parsed POST /v1/recommendations body: the history still as the client's ids; new items (never in training, known by their text) or null.</summary>
public sealed record RecommendationInput(IReadOnlyList<string> History, int K, string Via, IReadOnlyList<NewItem>? NewItems = null);

/// <summary>Reading and checking request input: query values, JSON bodies, ids.</summary>
public static class RequestInput
{
    public const int DefaultK = 10;

    static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 16, CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false };

    /// <summary>k from the query string: an integer from 1 to <see cref="TopK.MaxK"/>; 10 when absent.</summary>
    public static int ParseK(string? text)
    {
        if (text is null) return DefaultK;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int k))
            throw ApiProblem.BadField("k", $"'{ApiProblem.Clip(text)}' is not an integer; expected 1 to {TopK.MaxK}");
        return CheckK(k);
    }

    static int CheckK(int k) => k is >= 1 and <= TopK.MaxK
        ? k
        : throw ApiProblem.BadField("k", $"{k} is outside 1..{TopK.MaxK}");

    /// <summary>via: dsm (the default) or llm.</summary>
    public static string ParseVia(string? text) => text switch
    {
        null or "dsm" => "dsm",
        "llm" => "llm",
        _ => throw ApiProblem.BadField("via", $"'{ApiProblem.Clip(text)}' is not a serving path; expected dsm or llm"),
    };

    /// <summary>
    /// Reads a JSON body of at most <paramref name="maxBytes"/>: 415 when it is not declared as JSON,
    /// 413 when too large, 400 when it does not parse (with the position of the error).
    /// </summary>
    public static async Task<JsonDocument> ReadJsonAsync(HttpRequest request, long maxBytes, CancellationToken ct)
    {
        if (!IsJson(request.ContentType))
            throw new ApiProblem(StatusCodes.Status415UnsupportedMediaType, "unsupported media type",
                $"Content-Type: send the body as application/json (got '{ApiProblem.Clip(request.ContentType ?? "none")}')", "Content-Type");
        if (request.ContentLength > maxBytes) throw TooLarge(maxBytes);
        PipeReader reader = request.BodyReader;
        ReadResult read;
        try
        {
            while (true)
            {
                read = await reader.ReadAsync(ct);
                if (read.Buffer.Length > maxBytes)
                {
                    reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                    throw TooLarge(maxBytes);
                }
                if (read.IsCompleted || read.IsCanceled) break;
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End); // keep it all; wait for more
            }
        }
        catch (BadHttpRequestException e)
        {
            throw e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TooLarge(maxBytes)
                : new ApiProblem(e.StatusCode, "bad request body", $"body: {e.Message}", "body");
        }
        try
        {
            // JsonDocument.Parse over a ReadOnlySequence keeps reading that memory for the document's lifetime, and
            // Kestrel reuses the pipe's buffers for other requests once AdvanceTo returns them: parse a copy we own.
            return JsonDocument.Parse(read.Buffer.ToArray(), DocumentOptions);
        }
        catch (JsonException e)
        {
            string where = e.LineNumber is long line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
            throw ApiProblem.BadField("body", $"not valid JSON{where}: {FirstSentence(e.Message)}");
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    static ApiProblem TooLarge(long maxBytes) =>
        new(StatusCodes.Status413PayloadTooLarge, "request body too large", $"body: larger than the limit of {maxBytes:N0} bytes", "body");

    static bool IsJson(string? contentType)
    {
        if (contentType is null) return false;
        var media = contentType.AsSpan();
        int semi = media.IndexOf(';');
        if (semi >= 0) media = media[..semi];
        media = media.Trim();
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase)
               || (media.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && media.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    static string FirstSentence(string message)
    {
        // System.Text.Json appends "Path: ... | LineNumber: ... | BytePositionInLine: ..."; the position is reported separately.
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut < 0) cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd();
    }

    /// <summary>
    /// The body of POST /v1/recommendations: <c>{"history": [ids...], "k": 10, "via": "dsm"}</c>, and for via=llm optionally
    /// <c>"new_items": [{"id": "...", "text": "..."}]</c> (at most <paramref name="maxNewItems"/>; an empty list or null is none).
    /// </summary>
    public static RecommendationInput ParseRecommendation(JsonElement root, int maxHistory, int maxNewItems = 100)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw ApiProblem.BadField("body", $"expected a JSON object like {{\"history\": [\"1\", \"50\"], \"k\": 10, \"via\": \"dsm\"}}, got {Kind(root)}");
        List<string>? history = null;
        List<NewItem>? newItems = null;
        int? k = null;
        string? via = null;
        var given = new HashSet<string>(4);
        foreach (var p in root.EnumerateObject())
        {
            if ((p.Name is "history" or "k" or "via" or "new_items") && !given.Add(p.Name)) throw Twice(p.Name);
            bool isNull = p.Value.ValueKind == JsonValueKind.Null; // k and via: null means the default
            switch (p.Name)
            {
                case "history":
                    history = ParseIds(p.Value, "history", maxHistory);
                    break;
                case "k":
                    k = isNull ? null
                        : p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int n) ? CheckK(n)
                        : throw ApiProblem.BadField("k", $"expected an integer from 1 to {TopK.MaxK}, got {Kind(p.Value)}");
                    break;
                case "via":
                    via = isNull ? null
                        : p.Value.ValueKind == JsonValueKind.String ? ParseVia(p.Value.GetString())
                        : throw ApiProblem.BadField("via", $"expected \"dsm\" or \"llm\", got {Kind(p.Value)}");
                    break;
                case "new_items":
                    newItems = isNull ? null : ParseNewItems(p.Value, maxNewItems);
                    break;
                default:
                    throw ApiProblem.BadField(ApiProblem.Clip(p.Name), "unknown field; expected history, k, via and new_items");
            }
        }
        if (history is null) throw ApiProblem.BadField("history", "missing: give the new user's item ids, oldest first");
        string path = via ?? "dsm";
        if (newItems is { Count: > 0 } && path != "llm")
            throw ApiProblem.BadField("new_items", "only via=llm ranks new items (from their text); the domain model (via=dsm) has no rows for items it was not trained on");
        return new RecommendationInput(history, k ?? DefaultK, path, newItems is { Count: > 0 } ? newItems : null);
    }

    /// <summary>The longest text of a new item that is accepted (MiniLM reads its first 128 tokens).</summary>
    public const int MaxNewItemText = 10_000;

    /// <summary><c>[{"id": "...", "text": "..."}, ...]</c>: ids strings or integers, unique within the list; texts non-blank strings.</summary>
    static List<NewItem> ParseNewItems(JsonElement value, int max)
    {
        const string field = "new_items";
        if (value.ValueKind != JsonValueKind.Array)
            throw ApiProblem.BadField(field, $"expected an array of objects like {{\"id\": \"n1\", \"text\": \"Title (2024), Genre\"}}, got {Kind(value)}");
        int count = value.GetArrayLength();
        if (count > max) throw ApiProblem.BadField(field, $"has {count:N0} items; at most {max:N0} are accepted");
        var items = new List<NewItem>(count);
        var firstAt = new Dictionary<string, int>(StringComparer.Ordinal);
        int at = 0;
        foreach (var e in value.EnumerateArray())
        {
            string where = $"{field}[{at}]";
            if (e.ValueKind != JsonValueKind.Object)
                throw ApiProblem.BadField(where, $"expected an object with \"id\" and \"text\", got {Kind(e)}");
            string? id = null, text = null;
            var seen = new HashSet<string>(2);
            foreach (var p in e.EnumerateObject())
            {
                string name = $"{where}.{ApiProblem.Clip(p.Name)}";
                if ((p.Name is "id" or "text") && !seen.Add(p.Name)) throw Twice(name);
                switch (p.Name)
                {
                    case "id":
                        id = p.Value.ValueKind switch
                        {
                            JsonValueKind.String => p.Value.GetString()!,
                            JsonValueKind.Number when p.Value.TryGetInt64(out long n) => n.ToString(CultureInfo.InvariantCulture),
                            _ => throw ApiProblem.BadField(name, $"expected an item id (a string or an integer), got {Kind(p.Value)}"),
                        };
                        if (id.Length is 0 or > 256) throw ApiProblem.BadField(name, id.Length == 0 ? "an empty id" : "an id longer than 256 characters");
                        break;
                    case "text":
                        if (p.Value.ValueKind != JsonValueKind.String) throw ApiProblem.BadField(name, $"expected the item's text as a string, got {Kind(p.Value)}");
                        text = p.Value.GetString()!.Trim();
                        if (text.Length == 0) throw ApiProblem.BadField(name, "is blank; give the item's text (title, genres, ...)");
                        if (text.Length > MaxNewItemText) throw ApiProblem.BadField(name, $"is {text.Length:N0} characters long; at most {MaxNewItemText:N0} are accepted");
                        break;
                    default:
                        throw ApiProblem.BadField(name, "unknown field; expected id and text");
                }
            }
            if (id is null) throw ApiProblem.BadField($"{where}.id", "missing: give the new item an id");
            if (text is null) throw ApiProblem.BadField($"{where}.text", "missing: give the new item's text");
            if (!firstAt.TryAdd(id, at)) throw ApiProblem.BadField($"{where}.id", $"'{ApiProblem.Clip(id)}' repeats {field}[{firstAt[id]}].id; each new item once");
            items.Add(new NewItem(id, text));
            at++;
        }
        return items;
    }

    /// <summary>400 naming the first new item whose id is already a catalog item's (a new item needs a new id).</summary>
    public static void CheckNewItemIds(Dataset d, IReadOnlyList<NewItem>? items)
    {
        if (items is null) return;
        for (int i = 0; i < items.Count; i++)
            if (d.Items.TryGet(items[i].Id, out _))
                throw ApiProblem.BadField($"new_items[{i}].id",
                    $"'{ApiProblem.Clip(items[i].Id)}' is already an item of {d.Name}; a new item needs an id the catalog does not have (GET /v1/items/{{itemId}} shows the catalog's)");
    }

    static ApiProblem Twice(string field) => ApiProblem.BadField(field, "given more than once");

    /// <summary>A non-empty array of at most <paramref name="max"/> ids, each a string or an integer.</summary>
    static List<string> ParseIds(JsonElement value, string field, int max)
    {
        if (value.ValueKind != JsonValueKind.Array) throw ApiProblem.BadField(field, $"expected an array of item ids, got {Kind(value)}");
        int count = value.GetArrayLength();
        if (count == 0) throw ApiProblem.BadField(field, "is empty; give at least one item id");
        if (count > max) throw ApiProblem.BadField(field, $"has {count:N0} items; at most {max:N0} are accepted");
        var ids = new List<string>(count);
        int at = 0;
        foreach (var e in value.EnumerateArray())
        {
            string where = $"{field}[{at++}]";
            switch (e.ValueKind)
            {
                case JsonValueKind.String:
                    string s = e.GetString()!;
                    if (s.Length is 0 or > 256) throw ApiProblem.BadField(where, s.Length == 0 ? "an empty id" : "an id longer than 256 characters");
                    ids.Add(s);
                    break;
                case JsonValueKind.Number when e.TryGetInt64(out long n):
                    ids.Add(n.ToString(CultureInfo.InvariantCulture));
                    break;
                default:
                    throw ApiProblem.BadField(where, $"expected an item id (a string or an integer), got {Kind(e)}");
            }
        }
        return ids;
    }

    /// <summary>Item indices of client ids; 404 naming every unknown one.</summary>
    public static int[] ResolveItems(Dataset d, IReadOnlyList<string> ids, string field)
    {
        var items = new int[ids.Count];
        List<(string, string)>? unknown = null;
        for (int i = 0; i < ids.Count; i++)
            if (!d.Items.TryGet(ids[i], out items[i])) (unknown ??= []).Add((ids[i], $"{field}[{i}]"));
        return unknown is null ? items : throw ApiProblem.UnknownItems(d, unknown);
    }

    static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {ApiProblem.Clip(e.GetRawText())}",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => e.ValueKind.ToString(),
    };
}
