namespace BridgeRec.Tests;

/// <summary>
/// Where the shared datasets live: the BRIDGEREC_DATA setting (.ci/run sets it to ../shared/datasets),
/// else ../shared/datasets beside the checkout. Tests that need data fail loudly when neither exists.
/// </summary>
public static class TestData
{
    public static string Root
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("BRIDGEREC_DATA");
            if (!string.IsNullOrEmpty(env))
            {
                if (!Directory.Exists(env))
                    throw new DirectoryNotFoundException($"BRIDGEREC_DATA={env} does not exist; point it at the shared datasets folder");
                return Path.GetFullPath(env);
            }
            string? dir = AppContext.BaseDirectory;
            while (dir is not null)
            {
                string candidate = Path.Combine(dir, "..", "shared", "datasets");
                if (Directory.Exists(candidate) && File.Exists(Path.Combine(dir, "BridgeRec.slnx")))
                    return Path.GetFullPath(candidate);
                dir = Path.GetDirectoryName(dir);
            }
            throw new DirectoryNotFoundException(
                "The shared datasets were not found: set BRIDGEREC_DATA to the datasets folder (for example ../shared/datasets).");
        }
    }

    /// <summary>The benchmark splits folder beside the datasets (../shared/benchmarks).</summary>
    public static string Benchmarks => Path.GetFullPath(Path.Combine(Root, "..", "benchmarks"));

    public static string Path_(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>A fresh temporary folder, deleted when disposed.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("bridgerec-test-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
