using BridgeRec.Data;

namespace BridgeRec.Tests.Data;

static class DataAssert
{
    /// <summary>The exception and its message name the file, the line and (when given) the offending value.</summary>
    public static DataFormatException Names(Func<object> load, string path, long line, string? value = null, string? problem = null)
    {
        var e = Assert.Throws<DataFormatException>(() => { load(); });
        Assert.Equal(path, e.FilePath);
        Assert.Equal(line, e.Line);
        Assert.Contains($"{path}:{line}", e.Message);
        if (value is not null) Assert.Contains(value, e.Message);
        if (problem is not null) Assert.Contains(problem, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    /// <summary>Distinct (user, item) pairs of an interaction set.</summary>
    public static HashSet<(int, int)> Pairs(Interactions x)
    {
        var set = new HashSet<(int, int)>(x.Count);
        for (int k = 0; k < x.Count; k++) set.Add((x.Users[k], x.Items[k]));
        return set;
    }

    public static int DistinctItems(Interactions x) => x.Items.Distinct().Count();
    public static int DistinctUsers(Interactions x) => x.Users.Distinct().Count();
}
