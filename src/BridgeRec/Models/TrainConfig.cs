using System.Text.Json;
using BridgeRec.Data;
using BridgeRec.Domain;

namespace BridgeRec.Models;

/// <summary>A whole DSM run: data, model, training, evaluation. Written next to the results as config.json.</summary>
public sealed record TrainConfig
{
    public DataConfig Data { get; init; } = new();
    /// <summary>lightgcn | mf | lightgcn+text | mf+text | sasrec | sasrec+text | pop (+text: frozen MiniLM item-text features through a trained projection).</summary>
    public string Model { get; init; } = "lightgcn";
    public int Dim { get; init; } = 64;
    public int Layers { get; init; } = 3;
    public double InitStd { get; init; } = 0.1;
    /// <summary>How the item rows start: "random" (Normal(0, init_std)) or "text-pca" (<see cref="SharedModule.ItemRowInit.TextPca"/>).</summary>
    public string ItemInit { get; init; } = "random";
    public DsmOptions Train { get; init; } = new();
    /// <summary>SASRec's sizes and loss (--model sasrec; its hidden size is <see cref="Dim"/>); null: the defaults.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public SasRecOptions? Sasrec { get; init; }
    /// <summary>Cut-offs for test metrics (validation uses the monitored one's K among them).</summary>
    public int[] Ks { get; init; } = [10, 20];
    public string Device { get; init; } = "cpu";
    /// <summary>Where computed item-text features are cached (for the +text models).</summary>
    public string CacheDir { get; init; } = DefaultCacheDir();

    public static readonly string[] Models = ["lightgcn", "mf", "lightgcn+text", "mf+text", "sasrec", "sasrec+text", "pop"];

    /// <summary>$BRIDGEREC_CACHE, else ~/.cache/bridgerec.</summary>
    public static string DefaultCacheDir() =>
        Environment.GetEnvironmentVariable("BRIDGEREC_CACHE") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "bridgerec");

    public void Validate()
    {
        if (!Models.Contains(Model)) throw new ArgumentException($"--model {Model}: expected one of {string.Join(", ", Models)}");
        if (Dim < 1) throw new ArgumentOutOfRangeException(nameof(Dim), $"--dim must be >= 1 (got {Dim})");
        if (ItemInit is not ("random" or "text-pca")) throw new ArgumentException($"item_init {ItemInit}: expected random or text-pca");
        if (ItemInit == "text-pca" && Model == "pop") throw new ArgumentException("item_init text-pca needs a model with item rows, not pop");
        if (Layers < 0) throw new ArgumentOutOfRangeException(nameof(Layers), $"--layers must be >= 0 (got {Layers})");
        Train.Validate();
        if (Model is "sasrec" or "sasrec+text") (Sasrec ?? new SasRecOptions()).Validate(Dim);
    }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static TrainConfig FromJsonFile(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainConfig>(File.ReadAllText(path), JsonOptions)
                ?? throw new InvalidDataException($"{path}: empty configuration");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{(e.LineNumber ?? -1) + 1}: invalid configuration: {e.Message}");
        }
    }
}
