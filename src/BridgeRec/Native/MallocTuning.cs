using System.Collections;
using System.Runtime.InteropServices;

namespace BridgeRec.Native;

/// <summary>
/// Keeps glibc's allocator from handing libtorch's freed tensor memory back to the kernel after every batch.
/// <para>Why: with glibc's defaults a training step frees its large temporaries (gradients, Adam's updates over a whole
/// embedding table), glibc trims or unmaps them, and the next step faults every page back in. On a kernel whose
/// transparent huge pages are <c>madvise</c> (Debian's and Ubuntu's default) those are 4 KiB faults: LightGCN on
/// book-crossing (1,500 users) spent a third of its time in the kernel, about 100,000 page faults a second, and ran
/// 4.5 s an epoch; with these settings 0.77 s, with the same numbers. Each of the three alone was not enough (1.1 to
/// 13 s an epoch).</para>
/// <para>What: at load, on Linux with glibc, the same as <c>MALLOC_TOP_PAD_=256 MiB</c>, <c>MALLOC_TRIM_THRESHOLD_=1 GiB</c>
/// and <c>MALLOC_MMAP_THRESHOLD_=32 MiB</c>. The cost is that up to the process's peak heap stays mapped until it
/// exits. Nothing is changed where the user set any <c>MALLOC_*_</c> variable or a malloc tunable in
/// <c>GLIBC_TUNABLES</c> (theirs win), or where <c>BRIDGEREC_MALLOC=system</c>.</para>
/// </summary>
public static class MallocTuning
{
    const int MTrimThreshold = -1, MTopPad = -2, MMmapThreshold = -3; // glibc's malloc.h
    internal const int TopPad = 256 << 20, TrimThreshold = 1 << 30, MmapThreshold = 32 << 20;

    /// <summary>What <see cref="Apply"/> did ("applied: ...", or why not).</summary>
    public static string Status { get; private set; } = "not applied";

    /// <summary>Why the settings must be left alone in this environment, or null when they may be applied.</summary>
    public static string? ReasonToSkip(IDictionary environment, bool isLinux)
    {
        if (!isLinux) return "not Linux";
        if (environment["BRIDGEREC_MALLOC"] is string mode)
        {
            if (mode.Equals("system", StringComparison.OrdinalIgnoreCase)) return "BRIDGEREC_MALLOC=system";
            if (!mode.Equals("tuned", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"BRIDGEREC_MALLOC: '{mode}' is not a mode (expected 'tuned' or 'system')");
        }
        foreach (DictionaryEntry e in environment)
        {
            string name = (string)e.Key;
            if (name.StartsWith("MALLOC_", StringComparison.Ordinal) && name.EndsWith('_')) return $"{name} is set";
            if (name == "GLIBC_TUNABLES" && (e.Value as string ?? "").Contains("glibc.malloc.", StringComparison.Ordinal)) return "GLIBC_TUNABLES sets malloc";
        }
        return null;
    }

    /// <summary>Applies the settings once per process (the module initializer calls it). Never throws.</summary>
    public static void Apply()
    {
        try
        {
            if (ReasonToSkip(Environment.GetEnvironmentVariables(), OperatingSystem.IsLinux()) is string reason)
            {
                Status = $"left as is: {reason}";
                return;
            }
            // mallopt returns 1 on success; musl's stub returns 0 and changes nothing.
            bool ok = mallopt(MTopPad, TopPad) == 1 & mallopt(MTrimThreshold, TrimThreshold) == 1 & mallopt(MMmapThreshold, MmapThreshold) == 1;
            Status = ok ? "applied: top pad 256 MiB, trim threshold 1 GiB, mmap threshold 32 MiB" : "left as is: this C library refused mallopt";
        }
        catch (ArgumentException e)
        {
            Status = $"left as is: {e.Message}";
            Console.Error.WriteLine($"warning: {e.Message}; the allocator is left as is");
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            Status = $"left as is: {e.Message}";
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    static extern int mallopt(int param, int value);
}
