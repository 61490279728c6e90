namespace BridgeRec.Data;

/// <summary>
/// Compressed rows of each user's distinct items (sorted), built once from interactions: the
/// membership test behind negative sampling, exclusion of seen items, and the interaction graph.
/// </summary>
public sealed class UserItemIndex
{
    public int NumUsers { get; }
    public int NumItems { get; }
    /// <summary>Row offsets: the items of user u are <c>ItemIds[Offsets[u]..Offsets[u+1]]</c>.</summary>
    public int[] Offsets { get; }
    public int[] ItemIds { get; }
    public int Nnz => ItemIds.Length;

    public UserItemIndex(int numUsers, int numItems, params Interactions[] parts)
    {
        NumUsers = numUsers; NumItems = numItems;
        var lists = new List<int>[numUsers];
        for (int u = 0; u < numUsers; u++) lists[u] = new List<int>();
        foreach (var p in parts)
            for (int k = 0; k < p.Count; k++)
            {
                int u = p.Users[k], i = p.Items[k];
                if ((uint)u >= (uint)numUsers || (uint)i >= (uint)numItems)
                    throw new ArgumentOutOfRangeException(nameof(parts), $"interaction ({u}, {i}) outside {numUsers} users x {numItems} items");
                lists[u].Add(i);
            }
        Offsets = new int[numUsers + 1];
        var ids = new List<int>();
        for (int u = 0; u < numUsers; u++)
        {
            var l = lists[u];
            l.Sort();
            int prev = -1;
            foreach (int i in l) if (i != prev) { ids.Add(i); prev = i; }
            Offsets[u + 1] = ids.Count;
        }
        ItemIds = ids.ToArray();
    }

    public ReadOnlySpan<int> ItemsOf(int user) => ItemIds.AsSpan(Offsets[user], Offsets[user + 1] - Offsets[user]);

    public int CountOf(int user) => Offsets[user + 1] - Offsets[user];

    public bool Contains(int user, int item) => ItemsOf(user).BinarySearch(item) >= 0;

    /// <summary>Number of distinct users per item.</summary>
    public int[] ItemDegrees()
    {
        var deg = new int[NumItems];
        foreach (int i in ItemIds) deg[i]++;
        return deg;
    }
}
