namespace BridgeRec.Data;

/// <summary>Maps original ids (as written in the files) to contiguous 0-based indices and back.</summary>
public sealed class IdMap
{
    readonly Dictionary<string, int> _index;
    readonly List<string> _originals;

    public IdMap(int capacity = 0)
    {
        _index = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
        _originals = new List<string>(capacity);
    }

    public int Count => _originals.Count;

    public IReadOnlyList<string> Originals => _originals;

    public int GetOrAdd(string originalId)
    {
        if (_index.TryGetValue(originalId, out int idx)) return idx;
        idx = _originals.Count;
        _index.Add(originalId, idx);
        _originals.Add(originalId);
        return idx;
    }

    public bool TryGet(string originalId, out int index) => _index.TryGetValue(originalId, out index);

    /// <summary>The index of an original id; a clear error when the id is unknown.</summary>
    public int this[string originalId] => _index.TryGetValue(originalId, out int idx)
        ? idx
        : throw new KeyNotFoundException($"unknown id '{originalId}'");

    public string Original(int index) => _originals[index];

    /// <summary>A map whose original ids are "0".."n-1", for formats that are already contiguous.</summary>
    public static IdMap Identity(int count)
    {
        var map = new IdMap(count);
        for (int i = 0; i < count; i++) map.GetOrAdd(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return map;
    }
}
