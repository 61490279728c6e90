namespace BridgeRec.Data;

/// <summary>
/// The LightGCN text format: one line per user, <c>user item item ...</c>, space-separated (TABs also accepted),
/// 0-based ids; a line with a user and no items is allowed, and a user may appear on several lines. No
/// timestamps or ratings. Users and items get identity maps sized to the largest id seen in any part + 1.
/// </summary>
public static class LightGcnText
{
    /// <summary>A pre-split dataset (train / test, optional validation); <c>Split.Dataset.Interactions</c> = train + validation + test.</summary>
    public static Split Load(string trainPath, string testPath, string? validPath = null, string name = "lightgcn") =>
        LoadCore(trainPath, testPath, validPath, name, "lightgcn text", 0, 0, null);

    internal static Split LoadCore(string trainPath, string testPath, string? validPath, string name, string description,
        int minUsers, int minItems, Func<IdMap, ItemText?[]?>? texts)
    {
        int maxUser = minUsers - 1, maxItem = minItems - 1;
        var train = ReadPart(trainPath, ref maxUser, ref maxItem);
        var valid = validPath is null ? Interactions.Empty : ReadPart(validPath, ref maxUser, ref maxItem);
        var test = ReadPart(testPath, ref maxUser, ref maxItem);
        var users = IdMap.Identity(maxUser + 1);
        var items = IdMap.Identity(maxItem + 1);
        var ds = new Dataset(name, users, items, Interactions.Concat(train, valid, test), texts?.Invoke(items));
        return new Split(ds, train, valid, test, description);
    }

    /// <summary>Parses one file; raises the running maxima of the user and item ids.</summary>
    internal static Interactions ReadPart(string path, ref int maxUser, ref int maxItem)
    {
        var f = TextFile.Open(path, FileEncoding.Utf8, "LightGCN-format interaction file");
        int capacity = f.Length / 4 + 16;
        var users = new List<int>(capacity);
        var items = new List<int>(capacity);
        bool any = false;
        var lines = f.Lines();
        while (lines.MoveNext())
        {
            var line = lines.Current;
            int pos = 0, user = -1;
            while (true)
            {
                while (pos < line.Length && (line[pos] == (byte)' ' || line[pos] == (byte)'\t')) pos++;
                if (pos >= line.Length) break;
                int start = pos;
                long v = 0;
                while (pos < line.Length && line[pos] != (byte)' ' && line[pos] != (byte)'\t')
                {
                    uint d = (uint)(line[pos] - (byte)'0');
                    if (d > 9 || v > int.MaxValue) { v = -1; break; }
                    v = v * 10 + d;
                    pos++;
                }
                if (v < 0 || v > int.MaxValue)
                {
                    int end = start;
                    while (end < line.Length && line[end] != (byte)' ' && line[end] != (byte)'\t') end++;
                    throw f.Error(lines.Number, line, user < 0 ? "non-numeric user id" : "non-numeric item id",
                        line[start..end], "a non-negative integer id");
                }
                if (user < 0)
                {
                    user = (int)v;
                    if (user > maxUser) maxUser = user;
                }
                else
                {
                    users.Add(user);
                    items.Add((int)v);
                    if (v > maxItem) maxItem = (int)v;
                }
            }
            any |= user >= 0;
        }
        if (!any) throw f.Empty();
        return new Interactions(users.ToArray(), items.ToArray());
    }
}
