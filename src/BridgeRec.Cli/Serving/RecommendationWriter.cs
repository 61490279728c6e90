using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using BridgeRec.Data;
using BridgeRec.Serving;
using Microsoft.AspNetCore.Http;

namespace BridgeRec.Cli.Serving;

/// <summary>
/// Writes a <see cref="RecommendationList"/> straight from the top-k buffers into the response, with a
/// per-thread JSON writer and buffer: no objects per item and nothing allocated per request beyond
/// the bytes of the response.
/// </summary>
public static class RecommendationWriter
{
    static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All), SkipValidation = true };

    [ThreadStatic] static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] static Utf8JsonWriter? t_writer;

    /// <summary>Writes the list (status 200) into the response body; flush the body writer afterwards.</summary>
    /// <param name="newItems">the request's new items: an item index items + j is new item j (its id, its text as the title, "new": true)</param>
    public static void Write(HttpResponse response, ServingModel model, string? userId, string via, string modelName, int historyLength,
        ReadOnlySpan<int> items, ReadOnlySpan<float> scores, IReadOnlyList<NewItem>? newItems = null)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var w = t_writer ??= new Utf8JsonWriter(buffer, Options);
        w.Reset(buffer);
        var d = model.Dataset;
        w.WriteStartObject();
        if (userId is null) w.WriteNull("user_id"u8); else w.WriteString("user_id"u8, userId);
        w.WriteString("via"u8, via);
        w.WriteString("model"u8, modelName);
        w.WriteNumber("generation"u8, model.Generation);
        w.WriteNumber("history_length"u8, historyLength);
        w.WriteStartArray("items"u8);
        for (int i = 0; i < items.Length; i++)
        {
            int item = items[i];
            w.WriteStartObject();
            w.WriteNumber("rank"u8, i + 1);
            var fresh = item >= d.NumItems ? newItems![item - d.NumItems] : null;
            w.WriteString("item_id"u8, fresh?.Id ?? d.Items.Original(item));
            w.WriteString("title"u8, fresh?.Text ?? d.DisplayName(item));
            if (float.IsFinite(scores[i])) w.WriteNumber("score"u8, scores[i]); else w.WriteNull("score"u8);
            if (fresh is not null) w.WriteBoolean("new"u8, true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = buffer.WrittenCount;
        response.BodyWriter.Write(buffer.WrittenSpan);
        if (buffer.Capacity > 1 << 20) t_buffer = null; // do not keep a huge buffer for k = 1000 lists forever
    }
}
