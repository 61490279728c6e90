using BridgeRec.Bridge;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.LlmRec;
using BridgeRec.SharedModule;
using BridgeRec.Tests.LlmRec;
using BridgeRec.Torch;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Bridge;

/// <summary>tower.dsm_rows: the LLM reads LightGCN's final (propagated) rows, so with the user skip it starts at LightGCN's scores.</summary>
[Collection("torch-rng")]
public class DsmRowsTests
{
    static (LightGcn Dsm, LlmRecommender Llm) Models(Split split, LlmTowerOptions tower)
    {
        manual_seed(11);
        var ism = new InformationSharingModule(split.Dataset.NumUsers, split.Dataset.NumItems, 16);
        var dsm = new LightGcn(ism, new NormalizedGraph(new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train)), 2);
        return (dsm, TinyLlm.Over(split, ism, tower));
    }

    /// <summary>Changes the shared tables as a training step would, through the module (so the DSM's cached final rows are recomputed).</summary>
    static void Move(InformationSharingModule ism, Action<IsmState> change)
    {
        using var state = ism.Snapshot();
        using (no_grad()) change(state);
        ism.Restore(state);
    }

    static readonly LlmTowerOptions Start = new() { Residual = true, ItemText = false, Temperature = null, UserSkip = true, DsmRows = true };

    [Fact]
    public void WithTheDsmRowsAndTheUserSkipTheLlmStartsAtLightGcnsScoresAndFollowsOnlyWhenRefreshed()
    {
        var split = BdlmTrainerTests.Subset(20);
        int[] users = [0, 1, 3, 7, 12];
        // Without the switch the LLM reads the ego rows: its start is not LightGCN's (the test would show nothing otherwise).
        var (plainDsm, plain) = Models(split, Start with { DsmRows = false });
        using (plainDsm)
        using (plain)
        {
            plain.Follow(plainDsm);
            Assert.False(plain.ReadsDsmRows);
            using var a = plain.ScoreAll(users);
            using var b = plainDsm.ScoreAll(users);
            Assert.True(TinyLlm.MaxDiff(a, b) > 1e-3f, "the ego rows' dot products already equal LightGCN's scores");
        }

        var (dsm, llm) = Models(split, Start);
        using var _d = dsm;
        using var _l = llm;
        llm.Follow(dsm);
        Assert.True(llm.ReadsDsmRows);
        using (var a = llm.ScoreAll(users))
        using (var b = dsm.ScoreAll(users))
            Assert.True(TinyLlm.MaxDiff(a, b) < 1e-4f, $"LLM and LightGCN scores differ by {TinyLlm.MaxDiff(a, b)}");

        // The LLM holds a copy: the DSM's next step does not reach it until the next refresh (BDLM's next LLM phase).
        TinyLlm.FollowsOnlyWhenRefreshed(llm, dsm, users, () => Move(dsm.Ism, rows => rows.Items.Plus_(Scalars.Of(0.05))), () => llm.FollowDsmRows(dsm));
    }

    [Fact]
    public void TheLlmsBestRoundKeepsTheDsmRowsItWasScoredWith()
    {
        var split = BdlmTrainerTests.Subset(20);
        var (dsm, llm) = Models(split, Start);
        using var _d = dsm;
        using var _l = llm;
        llm.Follow(dsm);
        int[] users = [2, 5, 9];
        using var atCapture = llm.ScoreAll(users);
        using var state = LlmState.Capture(llm, []);
        Move(dsm.Ism, rows => rows.Users.Plus_(Scalars.Of(0.1)));
        llm.FollowDsmRows(dsm);
        using (var moved = llm.ScoreAll(users)) Assert.True(TinyLlm.MaxDiff(moved, atCapture) > 1e-3f);
        state.Restore(llm);
        using (var back = llm.ScoreAll(users)) Assert.True(TinyLlm.MaxDiff(back, atCapture) < 1e-6f);
    }

    [Fact]
    public void TheSwitchIsRefusedWhereItCannotApply()
    {
        Assert.Throws<ArgumentException>(() => new LlmTowerOptions { DsmRows = true, Residual = false }.Validate());
        var c = new ExperimentConfig
        {
            Datasets = [new ExperimentDataset { Name = "x", Data = new DataConfig { Path = "/d" } }],
            Tower = new LlmTowerOptions { DsmRows = true },
        };
        c.Validate(); // lightgcn+text, the default DSM
        var e = Assert.Throws<ArgumentException>(() => (c with { Dsm = c.Dsm with { Model = "sasrec" } }).Validate());
        Assert.Contains("tower.dsm_rows", e.Message);
        // Unset is not written; set, it is.
        Assert.DoesNotContain("dsm_rows", new ExperimentConfig().ToJson());
        Assert.Contains("\"dsm_rows\": true", c.ToJson());
    }

    [Fact]
    public void UnsetTheSwitchIsOnExactlyWhereItApplies()
    {
        var tower = new LlmTowerOptions();
        Assert.Null(tower.DsmRows);
        Assert.True(tower.UserSkip);
        Assert.Null(tower.Temperature);
        Assert.True(tower.ResolvedFor(dsmHasFinalRows: true).DsmRows);
        Assert.False(tower.ResolvedFor(dsmHasFinalRows: false).DsmRows);
        Assert.False((tower with { Residual = false }).ResolvedFor(dsmHasFinalRows: true).DsmRows); // no private rows to train over them
        Assert.False((tower with { DsmRows = false }).ResolvedFor(dsmHasFinalRows: true).DsmRows); // set stays set
        new LlmTowerOptions { Residual = false }.Validate(); // unset does not ask for private rows
        // The text-only LLM reads no DSM, so it keeps its normalised scores unless the tower sets a temperature.
        Assert.Equal(LlmTowerOptions.TextOnlyTemperature, tower.ForTextOnly().Temperature);
        Assert.Equal(0.5, new LlmTowerOptions { Temperature = 0.5 }.ForTextOnly().Temperature);

        var ranking = new ExperimentDataset { Name = "r", Data = new DataConfig { Path = "/d" } };
        var ctr = new ExperimentDataset { Name = "c", Data = new DataConfig { Path = "/d", Format = "collm-ctr" } };
        Assert.True(ctr.IsCtr);
        var c = new ExperimentConfig { Datasets = [ranking] };
        c.Validate();
        Assert.True(c.TowerFor(ranking).DsmRows); // lightgcn+text
        Assert.True((c with { Dsm = c.Dsm with { Model = "mf" } }).TowerFor(ranking).DsmRows);
        var sasrec = c with { Dsm = c.Dsm with { Model = "sasrec" } };
        sasrec.Validate(); // unset is not refused with SASRec
        Assert.False(sasrec.TowerFor(ranking).DsmRows);
        Assert.False(c.TowerFor(ctr).DsmRows);

        // A config without the key hashes as the value it resolves to, never as the unset key that meant off before.
        var on = c with { Tower = c.Tower with { DsmRows = true } };
        var off = c with { Tower = c.Tower with { DsmRows = false } };
        Assert.Equal(on.RunHash(ranking), c.RunHash(ranking));
        Assert.NotEqual(off.RunHash(ranking), c.RunHash(ranking));
        Assert.Equal((sasrec with { Tower = sasrec.Tower with { DsmRows = false } }).RunHash(ranking), sasrec.RunHash(ranking));
    }

    [Fact]
    public void UnsetTheLlmReadsLightGcnsRowsWithPrivateRowsOnly()
    {
        var split = BdlmTrainerTests.Subset(20);
        var (dsm, llm) = Models(split, new LlmTowerOptions { ItemText = false });
        using (dsm)
        using (llm)
        {
            llm.Follow(dsm);
            Assert.True(llm.ReadsDsmRows);
            int[] users = [0, 4, 8];
            using var a = llm.ScoreAll(users);
            using var b = dsm.ScoreAll(users);
            Assert.True(TinyLlm.MaxDiff(a, b) < 1e-4f, $"with the defaults the LLM starts at LightGCN's scores; they differ by {TinyLlm.MaxDiff(a, b)}");
        }
        var (dsm2, shared) = Models(split, new LlmTowerOptions { ItemText = false, Residual = false });
        using (dsm2)
        using (shared)
        {
            shared.Follow(dsm2);
            Assert.False(shared.ReadsDsmRows);
            Assert.Throws<InvalidOperationException>(() => shared.FollowDsmRows(dsm2));
        }
    }
}
