using System.Buffers;
using System.ComponentModel;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using BridgeRec.Models;
using BridgeRec.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Microsoft.OpenApi;

namespace BridgeRec.Cli.Serving;

/// <summary>
/// The HTTP endpoints over a <see cref="RecommenderService"/>. The DSM path runs on the request thread
/// from the precomputed vectors; the LLM path goes through the service's micro-batching worker. Every
/// error is an RFC 7807 problem naming the field or id at fault; no stack trace leaves the server.
/// </summary>
public sealed partial class ServingApi(RecommenderService service, ServeSettings settings, ILogger logger)
{
    const string Tag = "recommendations";

    public void Map(WebApplication app)
    {
        app.MapGet("/healthz", Health)
            .WithName("Health").WithSummary("Liveness: the server answers and a model is loaded").WithTags("operations")
            .Produces<Health>();

        app.MapGet("/v1/model", Model)
            .WithName("Model").WithSummary("What is loaded: folder, dataset, methods, metrics from its report, checkpoint time, limits").WithTags("operations")
            .Produces<ModelInfo>();

        app.MapGet("/v1/items/{itemId}", Item)
            .WithName("Item").WithSummary("An item's text fields, by its id in the dataset's files").WithTags("items")
            .Produces<ItemInfo>().ProducesProblem(StatusCodes.Status404NotFound);

        app.MapGet("/v1/users/{userId}/recommendations", UserRecommendations)
            .WithName("UserRecommendations").WithTags(Tag)
            .WithSummary("Top k unseen items for a known user (original dataset id), by the domain model (via=dsm, default) or the LLM (via=llm)")
            .WithDescription("k: 1 to 1000 (default 10). Items the user has seen in training or validation are left out.")
            .Produces<RecommendationList>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        app.MapPost("/v1/recommendations", (Func<HttpContext, Task>)NewUserRecommendations)
            .WithName("NewUserRecommendations").WithTags(Tag)
            .WithSummary("Top k items for a user the model has never seen, described by their history (item ids, oldest first)")
            .WithDescription("via=dsm folds the history into a user vector (the mean of its items' final vectors); via=llm has the LLM read the history's text. The history's items are left out. " +
                             "With via=llm, new_items (items never in training, by id and text) are ranked next to the catalog from their text and marked \"new\": true; the LLM needs the item-text tower.")
            .AcceptsJson<RecommendationRequest>()
            .Produces<RecommendationList>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        app.MapPost("/v1/explanations", Explanations)
            .WithName("Explanations").WithTags(Tag)
            .WithSummary("A text explanation of a recommendation; needs a generative LLM")
            .WithDescription("BridgeRec's LLM is MiniLM, an encoder that scores items: it cannot write text, so this answers 409 with a problem saying so.")
            .AcceptsJson<ExplanationRequest>()
            .ProducesProblem(StatusCodes.Status409Conflict);

        app.MapPost("/v1/admin/reload", (Func<HttpContext, Task<IResult>>)Reload)
            .WithName("Reload").WithTags("operations")
            .WithSummary("Load the model folder again in the background and swap it in atomically; a broken folder is rejected and the old model keeps serving")
            .WithDescription("Allowed from loopback addresses only, or, when the server was started with an admin token, with 'Authorization: Bearer TOKEN' from anywhere.")
            .Produces<ReloadResult>()
            .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
    }

    IResult Health() => Results.Json(new Health("ok", service.Current.Generation));

    IResult Model()
    {
        var m = service.Current;
        var methods = new Dictionary<string, ServingMethod>
        {
            ["dsm"] = new(m.DsmName, false, m.DsmName == "pop"
                ? "most popular items, the same list for everyone"
                : m.Dsm.UsesAnn
                    ? "final user and item vectors; HNSW candidates (USearch) re-scored exactly by dot product; new users: the mean of their items' vectors"
                    : "final user and item vectors, dot product, SIMD top-k; new users: the mean of their items' vectors"),
        };
        if (m.LlmName is { } llm)
            methods["llm"] = new(llm, m.LlmIsGenerative,
                $"{m.LlmSpec!.Backbone.Display} encoder over the history's text with user/item task tokens, BDLM round {m.LlmSpec!.BestRound}; scores items, writes no text" +
                (m.Llm is { ScoresItemText: true } ? "; ranks new items (POST new_items) from their text" : "; no item-text tower: cannot rank new items"),
                m.Llm is { ScoresItemText: true });
        var o = service.Options;
        var (batches, requests, largest) = service.LlmStats;
        return Results.Json(new ModelInfo(m.Directory, m.Generation, m.Split.ToString(), m.Dataset.NumUsers, m.Dataset.NumItems, m.Dsm.Dim,
            methods, m.CheckpointUtc, m.LoadedUtc, Math.Round(m.LoadSeconds, 3), m.Metrics?.DeepClone(),
            new ServingLimits(TopK.MaxK, o.MaxHistory, o.MaxNewItems, settings.MaxBodyBytes, o.LlmTimeout.TotalMilliseconds,
                o.LlmBatching.Window.TotalMilliseconds, o.LlmBatching.MaxBatch, o.TorchThreads),
            new BatchingStats(batches, requests, largest)));
    }

    IResult Item([Description("the item's id as in the dataset's files")] string itemId)
    {
        var m = service.Current;
        var d = m.Dataset;
        if (!d.Items.TryGet(itemId, out int i))
            return Problem(new ApiProblem(StatusCodes.Status404NotFound, "unknown item",
                $"item '{ApiProblem.Clip(itemId)}' is not in {d.Name}; ids look like '{d.Items.Original(0)}'", "itemId"));
        var text = d.TextOf(i);
        var fields = text?.Fields.ToDictionary(f => f.Key, f => f.Value) ?? new Dictionary<string, string>();
        return Results.Json(new ItemInfo(itemId, d.DisplayName(i), text?.Render() ?? d.DisplayName(i), fields, m.ItemCounts[i]));
    }

    Task UserRecommendations(HttpContext ctx,
        [Description("the user's id as in the dataset's files")] string userId,
        [Description("how many items, 1 to 1000 (default 10)")] string? k,
        [Description("dsm (default) or llm")] string? via)
    {
        try
        {
            int top = RequestInput.ParseK(k);
            string path = RequestInput.ParseVia(via);
            TagVia(ctx, path);
            if (path == "llm") return UserRecommendationsByLlm(ctx, userId, top);
            using var lease = service.Acquire(); // a reload frees the old model's ANN index only after this request
            var m = lease.Model;
            int user = ResolveUser(m, userId);
            var items = ArrayPool<int>.Shared.Rent(top);
            var scores = ArrayPool<float>.Shared.Rent(top);
            try
            {
                int n = m.Dsm.Recommend(user, m.Seen.ItemsOf(user), items.AsSpan(0, top), scores.AsSpan(0, top));
                RecommendationWriter.Write(ctx.Response, m, userId, "dsm", m.DsmName, 0, items.AsSpan(0, n), scores.AsSpan(0, n));
            }
            finally
            {
                ArrayPool<int>.Shared.Return(items);
                ArrayPool<float>.Shared.Return(scores);
            }
            return Flush(ctx);
        }
        catch (Exception e) when (IsAnswerable(e))
        {
            return Fail(ctx, e);
        }
    }

    async Task UserRecommendationsByLlm(HttpContext ctx, string userId, int k)
    {
        try
        {
            using var lease = service.Acquire();
            var m = lease.Model;
            RequireLlm(m);
            int user = ResolveUser(m, userId);
            var r = await service.RecommendLlmAsync(lease, user, null, k, ctx.RequestAborted);
            RecommendationWriter.Write(ctx.Response, m, userId, "llm", m.Llm?.Name ?? "bdlm-llm", 0, r.Items, r.Scores);
            await Flush(ctx);
        }
        catch (Exception e) when (IsAnswerable(e))
        {
            await Fail(ctx, e);
        }
    }

    async Task NewUserRecommendations(HttpContext ctx)
    {
        try
        {
            RecommendationInput input;
            using (var doc = await RequestInput.ReadJsonAsync(ctx.Request, settings.MaxBodyBytes, ctx.RequestAborted))
            {
                try { input = RequestInput.ParseRecommendation(doc.RootElement, service.Options.MaxHistory, service.Options.MaxNewItems); }
                catch (InvalidOperationException e) { throw ApiProblem.BadField("body", $"unreadable text: {e.Message}"); }
            }
            TagVia(ctx, input.Via);
            if (input.Via == "llm")
            {
                using var lease = service.Acquire();
                var m = lease.Model;
                RequireLlm(m);
                var history = RequestInput.ResolveItems(m.Dataset, input.History, "history");
                if (input.NewItems is not null)
                {
                    RequireItemText(m);
                    RequestInput.CheckNewItemIds(m.Dataset, input.NewItems);
                }
                var r = await service.RecommendLlmAsync(lease, -1, history, input.K, ctx.RequestAborted, input.NewItems);
                RecommendationWriter.Write(ctx.Response, m, null, "llm", m.Llm?.Name ?? "bdlm-llm", history.Length, r.Items, r.Scores, input.NewItems);
            }
            else
            {
                using var lease = service.Acquire();
                var m = lease.Model;
                var history = RequestInput.ResolveItems(m.Dataset, input.History, "history");
                RecommendByFoldIn(ctx.Response, m, history, input.K);
            }
            await Flush(ctx);
        }
        catch (Exception e) when (IsAnswerable(e))
        {
            await Fail(ctx, e);
        }
    }

    /// <summary>The DSM path for a new user: the history folded into a vector, its items left out.</summary>
    static void RecommendByFoldIn(HttpResponse response, ServingModel m, int[] history, int k)
    {
        var vector = ArrayPool<float>.Shared.Rent(m.Dsm.Dim);
        var items = ArrayPool<int>.Shared.Rent(k);
        var scores = ArrayPool<float>.Shared.Rent(k);
        var excluded = ArrayPool<int>.Shared.Rent(history.Length);
        try
        {
            var v = vector.AsSpan(0, m.Dsm.Dim);
            m.Dsm.FoldIn(history, v);
            var seen = excluded.AsSpan(0, history.Length);
            history.CopyTo(seen);
            seen.Sort();
            int n = m.Dsm.RecommendFor(v, seen, items.AsSpan(0, k), scores.AsSpan(0, k));
            RecommendationWriter.Write(response, m, null, "dsm", m.DsmName, history.Length, items.AsSpan(0, n), scores.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(vector);
            ArrayPool<int>.Shared.Return(items);
            ArrayPool<float>.Shared.Return(scores);
            ArrayPool<int>.Shared.Return(excluded);
        }
    }

    IResult Explanations()
    {
        var m = service.Current;
        string detail = m.LlmName is { } llm
            ? $"the loaded LLM ({llm}) is not generative: it is an encoder that scores items and cannot write an explanation. Serve a model folder with a generative LLM to use /v1/explanations."
            : $"the loaded model folder has no LLM, and explanations need a generative one; {m.DsmName} gives scores only.";
        return Problem(new ApiProblem(StatusCodes.Status409Conflict, "the loaded LLM is not generative", detail));
    }

    async Task<IResult> Reload(HttpContext ctx)
    {
        if (AdminRefusal(ctx) is { } refusal) return refusal;
        int before = service.Current.Generation;
        try
        {
            var m = await service.ReloadAsync();
            LogReloaded(logger, m.Generation, m.Directory, m.LoadSeconds);
            var methods = m.LlmName is null ? new[] { "dsm" } : ["dsm", "llm"];
            return Results.Json(new ReloadResult(m.Generation, m.Directory, m.CheckpointUtc, Math.Round(m.LoadSeconds, 3), methods));
        }
        catch (ReloadInProgressException e)
        {
            return Problem(new ApiProblem(StatusCodes.Status409Conflict, "reload in progress", e.Message));
        }
        catch (CheckpointRejectedException e)
        {
            LogReloadRejected(logger, before, e.Message);
            var p = new ApiProblem(StatusCodes.Status422UnprocessableEntity, "checkpoint rejected", e.Message);
            p.Extensions["generation"] = before;
            return Problem(p);
        }
    }

    /// <summary>Null when the caller may reload: the admin token when one was given at start, else a loopback address.</summary>
    IResult? AdminRefusal(HttpContext ctx)
    {
        if (settings.AdminToken is { Length: > 0 } token)
        {
            string given = ctx.Request.Headers.Authorization.ToString();
            const string scheme = "Bearer ";
            bool ok = given.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
                      && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given[scheme.Length..].Trim()), Encoding.UTF8.GetBytes(token));
            if (ok) return null;
            ctx.Response.Headers.WWWAuthenticate = "Bearer";
            return Problem(new ApiProblem(StatusCodes.Status401Unauthorized, "admin token required",
                "Authorization: give 'Bearer <token>' with the token the server was started with (--admin-token)", "Authorization"));
        }
        var remote = ctx.Connection.RemoteIpAddress;
        if (remote is not null && IPAddress.IsLoopback(remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote)) return null;
        return Problem(new ApiProblem(StatusCodes.Status403Forbidden, "reload refused",
            $"reloads are accepted from loopback addresses only (this request came from {remote?.ToString() ?? "an unknown address"}); start the server with --admin-token to allow them from elsewhere"));
    }

    static int ResolveUser(ServingModel m, string userId)
    {
        var d = m.Dataset;
        if (d.Users.TryGet(userId, out int user)) return user;
        var p = new ApiProblem(StatusCodes.Status404NotFound, "unknown user",
            $"user '{ApiProblem.Clip(userId)}' is not in {d.Name}; ids look like '{d.Users.Original(0)}' (POST /v1/recommendations serves users the model has never seen)", "userId");
        p.Extensions["user_id"] = ApiProblem.Clip(userId);
        throw p;
    }

    static void RequireLlm(ServingModel m)
    {
        if (m.Llm is null)
            throw new ApiProblem(StatusCodes.Status409Conflict, "no LLM loaded",
                $"via: the model folder {m.Directory} has no LLM part (llm.json); use via=dsm, or serve a folder written by 'bridgerec bdlm'", "via");
    }

    /// <summary>409 when the loaded LLM cannot rank new items: it does not read item text.</summary>
    static void RequireItemText(ServingModel m)
    {
        if (m.Llm is { ScoresItemText: false })
            throw new ApiProblem(StatusCodes.Status409Conflict, "the loaded LLM cannot rank new items",
                $"new_items: the LLM of {m.Directory} scores items by their ID rows only (its llm.json has no item-text tower), so it cannot rank items it was " +
                "not trained on; leave new_items out, or serve a folder whose LLM was trained with the item-text tower ('bridgerec bdlm' trains one: tower.item_text true)", "new_items");
    }

    /// <summary>
    /// Adds the serving path (dsm or llm) to ASP.NET Core's request metrics (http.server.request.duration), beside the
    /// route, method and status. A request refused before its path is known has no such tag.
    /// </summary>
    static void TagVia(HttpContext ctx, string via) =>
        ctx.Features.Get<IHttpMetricsTagsFeature>()?.Tags.Add(new KeyValuePair<string, object?>("bridgerec.via", via));

    static bool IsAnswerable(Exception e) => e is ApiProblem or LlmTimeoutException or OperationCanceledException;

    Task Fail(HttpContext ctx, Exception e)
    {
        switch (e)
        {
            case ApiProblem p:
                return Problem(p).ExecuteAsync(ctx);
            case LlmTimeoutException t:
                LogLlmTimeout(logger, t.Message);
                ctx.Response.Headers.RetryAfter = "1";
                return Problem(new ApiProblem(StatusCodes.Status503ServiceUnavailable, "LLM timeout", t.Message)).ExecuteAsync(ctx);
            default: // the client went away: nothing to answer
                ctx.Response.StatusCode = 499;
                return Task.CompletedTask;
        }
    }

    static Task Flush(HttpContext ctx)
    {
        var flush = ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted);
        return flush.IsCompletedSuccessfully ? Task.CompletedTask : flush.AsTask();
    }

    static IResult Problem(ApiProblem p)
    {
        var details = new ProblemDetails { Status = p.Status, Title = p.Title, Detail = p.Detail };
        if (p.Field is not null) details.Extensions["field"] = p.Field;
        foreach (var (key, value) in p.Extensions) details.Extensions[key] = value;
        return Results.Problem(details);
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "reloaded: generation {Generation} from {ModelDir} in {Seconds:F2} s")]
    static partial void LogReloaded(ILogger logger, int generation, string modelDir, double seconds);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "reload rejected, generation {Generation} keeps serving: {Reason}")]
    static partial void LogReloadRejected(ILogger logger, int generation, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "LLM request timed out: {Reason}")]
    static partial void LogLlmTimeout(ILogger logger, string reason);
}

static class OpenApiBodies
{
    /// <summary>
    /// Documents a JSON request body that the handler reads itself. (Accepts&lt;T&gt; would also make routing refuse
    /// other content types with a bare 415 before the handler could name the problem.)
    /// </summary>
    public static RouteHandlerBuilder AcceptsJson<T>(this RouteHandlerBuilder builder) =>
        builder.AddOpenApiOperationTransformer(async (operation, context, ct) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(T), null, ct);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
            };
        });
}
