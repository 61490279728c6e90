using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.SharedModule;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Domain;

public class SharedModuleTests
{
    [Fact]
    public void SaveLoadRoundTripsExactly()
    {
        using var tmp = new TestData.TempDir();
        manual_seed(3);
        var ism = new InformationSharingModule(5, 7, 8, itemBias: true);
        string path = tmp.File("ism.safetensors");
        ism.Save(path, new Dictionary<string, string> { ["note"] = "x" });
        var back = InformationSharingModule.Load(path);
        Assert.True(equal(ism.Users, back.Users).all().item<bool>());
        Assert.True(equal(ism.Items, back.Items).all().item<bool>());
        Assert.True(equal(ism.ItemBias!, back.ItemBias!).all().item<bool>());
        Assert.Equal("x", SafeTensors.ReadHeader(path).Metadata["note"]);
    }

    [Fact]
    public void LoadingAWrongShapeNamesTheTensor()
    {
        using var tmp = new TestData.TempDir();
        string path = tmp.File("ism.safetensors");
        new InformationSharingModule(5, 7, 8).Save(path);
        var other = new InformationSharingModule(5, 9, 8);
        var e = Assert.Throws<InvalidDataException>(() => other.LoadFrom(path));
        Assert.Contains("'items'", e.Message);
        Assert.Contains("[7, 8]", e.Message);
    }

    [Fact]
    public void DomainModelTrainsTheModuleTablesThemselves()
    {
        // The DSM keeps no private copy: a BPR step changes the ISM tensors another model would read.
        manual_seed(4);
        var ism = new InformationSharingModule(3, 4, 8);
        var train = new UserItemIndex(3, 4, new Interactions([0, 1, 2], [0, 1, 2]));
        var model = new LightGcn(ism, new NormalizedGraph(train), 2);
        Assert.Same(ism.Users, model.parameters().First());
        var before = ism.Items.detach().clone();
        using var opt = new BridgeRec.Native.SafeAdam(model.parameters(), 0.01);
        var (loss, _) = model.BprLoss(tensor(new long[] { 0, 1 }), tensor(new long[] { 0, 1 }), tensor(new long[] { 3, 3 }), 1e-4);
        loss.backward();
        opt.Step();
        Assert.False(equal(before, ism.Items).all().item<bool>());
        Assert.Equal(2, model.parameters().Count()); // exactly the two ISM tables
    }

    [Fact]
    public void SamplerDrawsNegativesOutsideEachUsersItems()
    {
        var train = new UserItemIndex(3, 6, new Interactions([0, 0, 1, 2, 2, 2], [0, 1, 1, 1, 2, 3]));
        var (u, p, n) = BprSampler.SampleEpoch(train, 5000, new Random(7));
        for (int k = 0; k < u.Length; k++)
        {
            Assert.True(train.Contains((int)u[k], (int)p[k]));
            Assert.False(train.Contains((int)u[k], (int)n[k]));
        }
        // users are drawn uniformly, as in the reference sampler
        Assert.InRange(u.Count(x => x == 1), 1400, 1950);
        var again = BprSampler.SampleEpoch(train, 5000, new Random(7));
        Assert.Equal(n, again.Negatives);
    }
}
