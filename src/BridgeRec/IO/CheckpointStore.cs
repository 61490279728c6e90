using System.Text.Json.Nodes;

namespace BridgeRec.IO;

/// <summary>
/// Training checkpoints in a run folder, written so that a crash never leaves a half-written one:
/// each checkpoint is filled in <c>ckpt-N.tmp/</c>, renamed to <c>ckpt-N/</c>, and only then does
/// <c>latest.json</c> (itself replaced atomically) point at it. Older checkpoints are then removed.
/// </summary>
public sealed class CheckpointStore(string runDir)
{
    public string RunDir { get; } = runDir;
    string LatestPath => Path.Combine(RunDir, "latest.json");

    /// <summary>Writes a checkpoint: <paramref name="writeFiles"/> fills the given folder; <paramref name="state"/> is saved beside it.</summary>
    public string Save(int step, JsonObject state, Action<string> writeFiles)
    {
        Directory.CreateDirectory(RunDir);
        string name = $"ckpt-{step}";
        string final = Path.Combine(RunDir, name), tmp = final + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        writeFiles(tmp);
        File.WriteAllText(Path.Combine(tmp, "state.json"), state.ToJsonString(Json.Indented));
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(tmp, final);
        AtomicFile.WriteAllText(LatestPath, new JsonObject { ["checkpoint"] = name, ["step"] = step }.ToJsonString(Json.Indented));
        foreach (string old in Directory.GetDirectories(RunDir, "ckpt-*"))
            if (Path.GetFileName(old) != name) Directory.Delete(old, recursive: true);
        return final;
    }

    /// <summary>The latest complete checkpoint folder and its state, or null when the run has none.</summary>
    public (string Dir, JsonObject State)? Latest()
    {
        if (!File.Exists(LatestPath)) return null;
        var latest = JsonNode.Parse(File.ReadAllText(LatestPath)) as JsonObject
            ?? throw new InvalidDataException($"{LatestPath}: not a JSON object");
        string dir = Path.Combine(RunDir, latest["checkpoint"]?.GetValue<string>()
            ?? throw new InvalidDataException($"{LatestPath}: no 'checkpoint' field"));
        string statePath = Path.Combine(dir, "state.json");
        if (!File.Exists(statePath)) throw new InvalidDataException($"{LatestPath} points at {dir}, which has no state.json");
        return (dir, (JsonObject)JsonNode.Parse(File.ReadAllText(statePath))!);
    }
}
