using System.Collections;
using BridgeRec.Native;

namespace BridgeRec.Tests.Native;

public class MallocTuningTests
{
    static Hashtable Env(params (string Name, string Value)[] vars)
    {
        var env = new Hashtable { ["PATH"] = "/usr/bin", ["HOME"] = "/root" };
        foreach (var (name, value) in vars) env[name] = value;
        return env;
    }

    [Fact]
    public void AppliedOnAPlainLinuxEnvironment() => Assert.Null(MallocTuning.ReasonToSkip(Env(), isLinux: true));

    [Fact]
    public void TheUsersOwnAllocatorSettingsWin()
    {
        Assert.Equal("MALLOC_ARENA_MAX_ is set", MallocTuning.ReasonToSkip(Env(("MALLOC_ARENA_MAX_", "2")), isLinux: true));
        Assert.Equal("GLIBC_TUNABLES sets malloc", MallocTuning.ReasonToSkip(Env(("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")), isLinux: true));
        Assert.Null(MallocTuning.ReasonToSkip(Env(("GLIBC_TUNABLES", "glibc.rtld.nns=2")), isLinux: true));
        Assert.Equal("BRIDGEREC_MALLOC=system", MallocTuning.ReasonToSkip(Env(("BRIDGEREC_MALLOC", "system")), isLinux: true));
        Assert.Null(MallocTuning.ReasonToSkip(Env(("BRIDGEREC_MALLOC", "tuned")), isLinux: true));
        Assert.Equal("not Linux", MallocTuning.ReasonToSkip(Env(), isLinux: false));
    }

    [Fact]
    public void AnUnknownModeIsNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => MallocTuning.ReasonToSkip(Env(("BRIDGEREC_MALLOC", "fast")), isLinux: true));
        Assert.Contains("'fast'", e.Message);
    }

    [Fact]
    public void ThisTestHostRanIt()
    {
        TorchRuntime.Prepare();
        string expected = OperatingSystem.IsLinux() && MallocTuning.ReasonToSkip(Environment.GetEnvironmentVariables(), true) is null
            ? "applied: " : "left as is: ";
        Assert.StartsWith(expected, MallocTuning.Status);
    }
}
