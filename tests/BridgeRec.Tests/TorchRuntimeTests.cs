using BridgeRec.Native;
using TorchSharp;

namespace BridgeRec.Tests;

public class TorchRuntimeTests
{
    [Fact]
    public void TorchSharpLoadsAndComputes()
    {
        TorchRuntime.Prepare();
        using var a = torch.tensor(new float[] { 1, 2, 3 });
        using var b = (a * a).sum();
        Assert.Equal(14f, b.item<float>());
    }

    [Fact]
    public void PatchIsIdempotentOnTheShippedLibrary()
    {
        string pkg = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
            "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(pkg), $"TorchSharp native library not found at {pkg}");
        byte[] image = File.ReadAllBytes(pkg); // a copy in memory: the NuGet cache is never written
        bool first = LibStdCxxCompat.Patch(image, pkg, out bool found);
        Assert.True(found);
        Assert.True(first, "the shipped library should need the patch");
        bool second = LibStdCxxCompat.Patch(image, pkg, out _);
        Assert.False(second);
    }
}
