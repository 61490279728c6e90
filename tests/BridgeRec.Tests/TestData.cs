namespace BridgeRec.Tests;

/// <summary>
/// Where the shared datasets live: the BRIDGEREC_DATA setting (README and .ci/run set it to ../shared/datasets;
/// a relative path is read against the repository root), else ../shared/datasets beside the checkout. Tests that need data fail loudly when neither exists.
/// </summary>
public static class TestData
{
    public static string Root
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("BRIDGEREC_DATA");
            string? repo = RepositoryRoot();
            if (!string.IsNullOrEmpty(env))
            {
                // dotnet test runs the test host in the output folder, not where the command was typed: a relative
                // setting (README's BRIDGEREC_DATA=../shared/datasets) is read against the repository root.
                string path = Path.IsPathRooted(env) || repo is null ? Path.GetFullPath(env) : Path.GetFullPath(Path.Combine(repo, env));
                if (!Directory.Exists(path))
                    throw new DirectoryNotFoundException(
                        $"BRIDGEREC_DATA={env} does not exist (looked in {path}; a relative path is read against the repository root); point it at the shared datasets folder");
                return path;
            }
            if (repo is not null && Directory.Exists(Path.Combine(repo, "..", "shared", "datasets")))
                return Path.GetFullPath(Path.Combine(repo, "..", "shared", "datasets"));
            throw new DirectoryNotFoundException(
                "The shared datasets were not found: set BRIDGEREC_DATA to the datasets folder (for example ../shared/datasets).");
        }
    }

    /// <summary>The folder holding BridgeRec.slnx, found upward from the test assembly; null outside a checkout.</summary>
    public static string? RepositoryRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "BridgeRec.slnx"))) return Path.GetFullPath(dir);
        return null;
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
