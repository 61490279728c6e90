namespace BridgeRec.Data;

/// <summary>Each user's items in time order: what a sequential model and an LLM prompt read as the user's history.</summary>
public static class Histories
{
    /// <summary>
    /// Per user index, the items of the training part (and the validation part when <paramref name="includeValidation"/>)
    /// in chronological order: by timestamp where every part has timestamps (ties: training first, then row order),
    /// else each part in its own order (by its timestamps when it has them, else row order), training first.
    /// </summary>
    public static IReadOnlyList<int>[] Of(Split split, bool includeValidation)
    {
        ArgumentNullException.ThrowIfNull(split);
        Interactions[] parts = includeValidation ? [split.Train, split.Validation] : [split.Train];
        bool allTimed = parts.All(p => p.Count == 0 || p.Timestamps is not null);
        int numUsers = split.Dataset.NumUsers;
        var counts = new int[numUsers];
        foreach (var p in parts)
            foreach (int u in p.Users)
            {
                if ((uint)u >= (uint)numUsers) throw new ArgumentException($"Interaction of user {u} outside the {numUsers} users.", nameof(split));
                counts[u]++;
            }
        var entries = new (long Major, long Time, int Part, int Row)[numUsers][];
        for (int u = 0; u < numUsers; u++) entries[u] = new (long, long, int, int)[counts[u]];
        Array.Clear(counts);
        for (int part = 0; part < parts.Length; part++)
        {
            var p = parts[part];
            for (int row = 0; row < p.Count; row++)
            {
                int u = p.Users[row];
                long time = p.Timestamps?[row] ?? 0;
                entries[u][counts[u]++] = (allTimed ? 0 : part, time, part, row);
            }
        }
        var histories = new IReadOnlyList<int>[numUsers];
        for (int u = 0; u < numUsers; u++)
        {
            var e = entries[u];
            Array.Sort(e); // tuple order: (Major, Time, Part, Row)
            var items = new int[e.Length];
            for (int k = 0; k < e.Length; k++) items[k] = parts[e[k].Part].Items[e[k].Row];
            histories[u] = items;
        }
        return histories;
    }
}
