using System.ComponentModel;
using System.Text.Json.Nodes;

namespace BridgeRec.Cli.Serving;

// The shapes of the HTTP API, for the OpenAPI document and for the endpoints that serialize them.
// JSON names are snake_case (item_id, user_id ...). The recommendation lists are written by hand
// (RecommendationWriter) in exactly the shape of RecommendationList, without serializing this record.

/// <summary>One recommended item.</summary>
public sealed record RecommendedItem(
    [property: Description("1-based position in the list")] int Rank,
    [property: Description("the item's id as in the dataset's files")] string ItemId,
    [property: Description("the item's title, or its id where the data has no text")] string Title,
    [property: Description("the model's score (higher is better); null if not finite")] float? Score,
    [property: Description("true for an item of the request's new_items (ranked from its text; its title is that text); absent for catalog items")] bool? New = null);

/// <summary>Top items for a user, best first; items the user has seen are left out.</summary>
public sealed record RecommendationList(
    [property: Description("the known user's id; null for a posted history")] string? UserId,
    [property: Description("dsm (the domain model) or llm (the language model reading the history)")] string Via,
    [property: Description("the model that answered: lightgcn, mf, ... or bdlm-llm")] string Model,
    [property: Description("the model generation (1 at start, +1 per successful reload)")] int Generation,
    [property: Description("items in the posted history (0 for a known user)")] int HistoryLength,
    IReadOnlyList<RecommendedItem> Items);

/// <summary>A new user described by their history.</summary>
public sealed record RecommendationRequest(
    [property: Description("item ids (strings or integers) the user interacted with, oldest first; 1 to max_history of them")] IReadOnlyList<string> History,
    [property: Description("how many items, 1 to 1000 (default 10)")] int? K = null,
    [property: Description("dsm (default: the history folded into a user vector: SASRec's representation of it, else the mean of its items' final vectors) or llm (the LLM reads the history's text)")] string? Via = null,
    [property: Description("via=llm only: items never in training, ranked from their text next to the catalog (the LLM needs the item-text tower); 0 to max_new_items, ids unique and none a catalog item's")] IReadOnlyList<NewItemInput>? NewItems = null);

/// <summary>An item the model was never trained on, known by its text.</summary>
public sealed record NewItemInput(
    [property: Description("its id (a string or an integer), not one of the catalog's")] string Id,
    [property: Description("its text, written like the catalog's (GET /v1/items/{itemId} shows how the LLM reads one), e.g. \"Heat (1995), Action, Crime, Thriller\"")] string Text);

/// <summary>A request for a text explanation of why an item suits a user (needs a generative LLM).</summary>
public sealed record ExplanationRequest(string ItemId, string? UserId = null, IReadOnlyList<string>? History = null);

/// <summary>An item's text.</summary>
public sealed record ItemInfo(
    string ItemId,
    [property: Description("the title where the data has one, else the id")] string Title,
    [property: Description("title and fields as the LLM reads them")] string Text,
    [property: Description("named text fields (year, genres, brand ...)")] IReadOnlyDictionary<string, string> Fields,
    [property: Description("users who interacted with it in training and validation")] int SeenBy);

/// <summary>What one serving path is.</summary>
public sealed record ServingMethod(string Model, bool Generative, string Detail,
    [property: Description("whether the path ranks new items (POST /v1/recommendations new_items) from their text")] bool NewItems = false);

/// <summary>Limits the server enforces.</summary>
public sealed record ServingLimits(int MaxK, int MaxHistory, int MaxNewItems, long MaxBodyBytes, double LlmTimeoutMs, double LlmBatchWindowMs, int LlmMaxBatch,
    [property: Description("torch CPU threads for LLM forward passes; null: torch's default")] int? TorchThreads);

/// <summary>LLM micro-batching so far.</summary>
public sealed record BatchingStats(long Batches, long Requests, long LargestBatch);

/// <summary>What is loaded.</summary>
public sealed record ModelInfo(
    string ModelDir,
    int Generation,
    [property: Description("dataset name and split")] string Dataset,
    int Users,
    int Items,
    [property: Description("embedding width of the domain model")] int Dim,
    [property: Description("the serving paths: dsm always, llm when the folder has an LLM part")] IReadOnlyDictionary<string, ServingMethod> Methods,
    [property: Description("when the weights were written")] DateTime CheckpointUtc,
    DateTime LoadedUtc,
    double LoadSeconds,
    [property: Description("the folder's metrics.json (test metrics of its report)")] JsonNode? Metrics,
    ServingLimits Limits,
    BatchingStats LlmBatching);

/// <summary>The outcome of a reload.</summary>
public sealed record ReloadResult(int Generation, string ModelDir, DateTime CheckpointUtc, double LoadSeconds, IReadOnlyList<string> Methods);

/// <summary>Liveness.</summary>
public sealed record Health(string Status, int Generation);
