using System.Runtime.CompilerServices;
using TorchSharp;

namespace BridgeRec.Native;

/// <summary>
/// One place that prepares TorchSharp's native libraries before first use. It runs as this
/// assembly's module initializer, so any BridgeRec entry point gets a working TorchSharp, and
/// glibc's allocator tuned for libtorch's large temporaries (<see cref="MallocTuning"/>).
/// </summary>
public static class TorchRuntime
{
    static readonly object Gate = new();
    static bool _prepared;

    /// <summary>What <see cref="Prepare"/> did, for diagnostics ("patched", "already compatible", ...).</summary>
    public static string Status { get; private set; } = "not prepared";

#pragma warning disable CA2255 // a module initializer is exactly right here: it must run before TorchSharp loads
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void OnModuleLoad() => Prepare();

    /// <summary>Patches the output-folder copy of libLibTorchSharp.so where the system libstdc++ is too old. Idempotent.</summary>
    public static void Prepare()
    {
        lock (Gate)
        {
            if (_prepared) return;
            _prepared = true;
            MallocTuning.Apply();
            if (!OperatingSystem.IsLinux()) { Status = "not Linux: nothing to do"; return; }
            if (LibStdCxxCompat.SystemLibStdCxxHas(LibStdCxxCompat.RequiredVersion))
            {
                Status = $"system libstdc++ has {LibStdCxxCompat.RequiredVersion}: nothing to do";
                return;
            }
            var found = CandidatePaths().Where(File.Exists).ToList();
            if (found.Count == 0) { Status = "libLibTorchSharp.so not found next to the program"; return; }
            var outcomes = new List<string>();
            foreach (string path in found)
            {
                try
                {
                    outcomes.Add($"{path}: {LibStdCxxCompat.PatchFile(path)}");
                }
                catch (UnauthorizedAccessException e)
                {
                    outcomes.Add($"{path}: cannot patch ({e.Message})");
                }
            }
            Status = string.Join("; ", outcomes);
        }
    }

    static IEnumerable<string> CandidatePaths()
    {
        string baseDir = AppContext.BaseDirectory;
        string rid = RuntimeInformationRid();
        yield return Path.Combine(baseDir, "runtimes", rid, "native", "libLibTorchSharp.so");
        yield return Path.Combine(baseDir, "libLibTorchSharp.so");
    }

    static string RuntimeInformationRid() =>
        System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64
            ? "linux-arm64" : "linux-x64";

    /// <summary>Seeds every random generator TorchSharp uses.</summary>
    public static void Seed(int seed) => torch.manual_seed(seed);

    /// <summary>Resolves "cpu" / "cuda" / "cuda:N", with a clear error when CUDA is not available.</summary>
    public static torch.Device Device(string name)
    {
        Prepare();
        if (name.StartsWith("cuda", StringComparison.OrdinalIgnoreCase) && !torch.cuda.is_available())
            throw new ArgumentException($"--device {name}: CUDA is not available in this build (TorchSharp-cpu). Reference TorchSharp-cuda-linux instead of TorchSharp-cpu to train on a GPU.");
        return new torch.Device(name);
    }
}
