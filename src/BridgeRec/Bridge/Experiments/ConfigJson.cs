using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace BridgeRec.Bridge.Experiments;

/// <summary>
/// An experiment configuration as JSON: read with comments, addressed by dotted keys (<c>bdlm.lambda</c>,
/// <c>dsm.train.lr</c>, <c>datasets.0.validation_users</c>: field names as the file writes them, list indexes as
/// numbers), a key checked against the fields <see cref="ExperimentConfig"/> accepts (read from its JSON contract,
/// so fields added later are known without a change here), set, read, and fragments merged over a configuration.
/// What <c>bridgerec tune</c> searches and what <c>"tuned"</c> merges.
/// </summary>
public static class ConfigJson
{
    static readonly JsonDocumentOptions DocumentOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>A JSON object from text (comments and trailing commas allowed); errors name <paramref name="source"/> and the line.</summary>
    public static JsonObject Parse(string text, string source)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(text, documentOptions: DocumentOptions); }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}:{(e.LineNumber ?? -1) + 1}: invalid JSON: {e.Message}");
        }
        return node as JsonObject ?? throw new InvalidDataException($"{source}: expected a JSON object at the top level");
    }

    public static JsonObject ReadFile(string path) => Parse(File.ReadAllText(path), path);

    static string[] Segments(string key)
    {
        var segs = key.Split('.');
        if (key.Length == 0 || segs.Any(s => s.Length == 0))
            throw new ArgumentException($"key '{key}': expected a dotted path such as bdlm.lambda");
        return segs;
    }

    /// <summary>
    /// Throws, naming the key, unless <paramref name="key"/> addresses a field an experiment configuration accepts:
    /// each segment a field of the record at that depth (its JSON name), an index into a list, or a key of a map.
    /// </summary>
    public static void CheckPath(string key)
    {
        var options = ExperimentConfig.JsonOptions;
        options.MakeReadOnly(populateMissingResolver: true);
        Type type = typeof(ExperimentConfig);
        string at = "";
        foreach (string seg in Segments(key))
        {
            type = Nullable.GetUnderlyingType(type) ?? type;
            var info = options.GetTypeInfo(type);
            string where = at.Length == 0 ? "the experiment configuration" : $"'{at}'";
            switch (info.Kind)
            {
                case JsonTypeInfoKind.Object:
                    var field = info.Properties.FirstOrDefault(p => p.Name == seg)
                        ?? throw new ArgumentException($"key '{key}': {where} has no field '{seg}' (its fields: {string.Join(", ", info.Properties.Select(p => p.Name))})");
                    type = field.PropertyType;
                    break;
                case JsonTypeInfoKind.Enumerable:
                    if (!int.TryParse(seg, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
                        throw new ArgumentException($"key '{key}': {where} is a list; expected an index (0, 1, ...), not '{seg}'");
                    type = info.ElementType!;
                    if (options.GetTypeInfo(Nullable.GetUnderlyingType(type) ?? type).Kind != JsonTypeInfoKind.Object)
                        throw new ArgumentException($"key '{key}': {where} is a list of values; give the whole list ('{at}') rather than one entry");
                    break;
                case JsonTypeInfoKind.Dictionary:
                    type = info.ElementType!;
                    break;
                default:
                    throw new ArgumentException($"key '{key}': {where} is a value ({type.Name}), it has no field '{seg}'");
            }
            at = at.Length == 0 ? seg : at + "." + seg;
        }
    }

    /// <summary>The value at <paramref name="key"/>, or null when a field on the way is absent.</summary>
    public static JsonNode? Get(JsonNode root, string key)
    {
        JsonNode? cur = root;
        foreach (string seg in Segments(key))
        {
            cur = cur switch
            {
                JsonObject o => o[seg],
                JsonArray a when int.TryParse(seg, out int i) && i >= 0 && i < a.Count => a[i],
                _ => null,
            };
            if (cur is null) return null;
        }
        return cur;
    }

    /// <summary>Sets <paramref name="key"/> to a copy of <paramref name="value"/>, making absent objects on the way; a list index must exist.</summary>
    public static void Set(JsonObject root, string key, JsonNode? value)
    {
        var segs = Segments(key);
        JsonNode cur = root;
        for (int k = 0; k < segs.Length; k++)
        {
            bool last = k == segs.Length - 1;
            string seg = segs[k];
            string at = string.Join('.', segs[..k]);
            switch (cur)
            {
                case JsonObject o:
                    if (last) { o[seg] = value?.DeepClone(); return; }
                    if (o[seg] is not JsonNode next) o[seg] = next = new JsonObject();
                    cur = next;
                    break;
                case JsonArray a:
                    if (!int.TryParse(seg, out int i) || i < 0 || i >= a.Count)
                        throw new ArgumentException($"key '{key}': '{at}' has {a.Count} entries; there is no entry '{seg}'");
                    if (last) { a[i] = value?.DeepClone(); return; }
                    cur = a[i] ?? throw new ArgumentException($"key '{key}': '{at}.{seg}' is null");
                    break;
                default:
                    throw new ArgumentException($"key '{key}': '{at}' is a value, it has no field '{seg}'");
            }
        }
    }

    /// <summary>
    /// The nested object that sets each key to its value (a config fragment): <c>bdlm.lambda</c> = 0.1 gives
    /// <c>{"bdlm": {"lambda": 0.1}}</c>. A list index gives a list whose earlier entries are <c>{}</c>, which
    /// <see cref="Merge"/> reads as "keep".
    /// </summary>
    public static JsonObject Fragment(IEnumerable<KeyValuePair<string, JsonNode?>> settings)
    {
        var root = new JsonObject();
        foreach (var (key, value) in settings)
        {
            var segs = Segments(key);
            JsonNode cur = root;
            for (int k = 0; k < segs.Length; k++)
            {
                bool last = k == segs.Length - 1;
                bool nextIsIndex = !last && int.TryParse(segs[k + 1], out _);
                JsonNode Make() => last ? value?.DeepClone()! : nextIsIndex ? new JsonArray() : new JsonObject();
                if (cur is JsonObject o)
                {
                    if (last) { o[segs[k]] = value?.DeepClone(); break; }
                    if (o[segs[k]] is not JsonNode next) o[segs[k]] = next = Make();
                    cur = next;
                }
                else
                {
                    var a = (JsonArray)cur;
                    int i = int.Parse(segs[k], System.Globalization.CultureInfo.InvariantCulture);
                    while (a.Count <= i) a.Add(new JsonObject());
                    if (last) { a[i] = value?.DeepClone(); break; }
                    if (a[i] is JsonObject { Count: 0 } && nextIsIndex) a[i] = new JsonArray();
                    cur = a[i]!;
                }
            }
        }
        return root;
    }

    /// <summary>
    /// Merges <paramref name="fragment"/> over <paramref name="target"/> in place: objects field by field; a list of
    /// objects entry by entry (an empty object <c>{}</c> keeps the entry: how <see cref="Fragment"/> writes a key
    /// through a list such as <c>datasets.0.validation_users</c>); anything else, other lists included, replaced.
    /// </summary>
    public static void Merge(JsonObject target, JsonObject fragment)
    {
        foreach (var (name, value) in fragment)
        {
            if (value is JsonObject fo && target[name] is JsonObject to) Merge(to, fo);
            else if (value is JsonArray fa && target[name] is JsonArray ta && fa.All(x => x is JsonObject)) MergeList(ta, fa);
            else target[name] = value?.DeepClone();
        }
    }

    static void MergeList(JsonArray target, JsonArray fragment)
    {
        for (int i = 0; i < fragment.Count; i++)
        {
            var value = fragment[i];
            if (i >= target.Count) target.Add(value?.DeepClone());
            else if (value is JsonObject { Count: 0 }) continue;
            else if (value is JsonObject fo && target[i] is JsonObject to) Merge(to, fo);
            else if (value is JsonArray fa && target[i] is JsonArray ta && fa.All(x => x is JsonObject)) MergeList(ta, fa);
            else target[i] = value?.DeepClone();
        }
    }

    /// <summary>The dotted keys of every value of a fragment, as <see cref="Fragment"/> writes them (a list of objects is followed entry by entry, any other list is a value).</summary>
    public static IEnumerable<string> Leaves(JsonNode? node, string prefix = "")
    {
        switch (node)
        {
            case JsonObject o when o.Count > 0 || prefix.Length == 0:
                foreach (var (name, value) in o)
                    foreach (var leaf in Leaves(value, prefix.Length == 0 ? name : prefix + "." + name)) yield return leaf;
                break;
            case JsonObject:
                break; // {}: a kept list entry
            case JsonArray a when a.Count > 0 && a.All(x => x is JsonObject):
                for (int i = 0; i < a.Count; i++)
                    foreach (var leaf in Leaves(a[i], prefix + "." + i.ToString(System.Globalization.CultureInfo.InvariantCulture))) yield return leaf;
                break;
            default:
                yield return prefix;
                break;
        }
    }

    /// <summary>Compact JSON of a value, for logs and tables ("null" for null).</summary>
    public static string Show(JsonNode? value) => value?.ToJsonString() ?? "null";
}
