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
        // Off is not written, so configs without it keep their run hash.
        Assert.DoesNotContain("dsm_rows", new ExperimentConfig().ToJson());
        Assert.Contains("\"dsm_rows\": true", c.ToJson());
    }
}
