using System.Text.Json;
using System.Text.Json.Nodes;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Bridge.Tuning;

namespace BridgeRec.Tests.Bridge;

/// <summary>bridgerec tune: the space, the plan's order, the budget, resuming, validation-only runs and the whole path on the tiny experiment.</summary>
/// <remarks>Runs alone ("torch-rng"): its runs seed torch's global generator and compare two runs' models, which a test
/// drawing from the generator in parallel would make differ.</remarks>
[Collection("torch-rng")]
public class TuneTests
{
    /// <summary>A config file under tmp/experiments (so relative paths read against tmp) with no real data: enough to plan.</summary>
    static string WriteConfig(string dir, JsonObject? tune, Action<JsonObject>? edit = null)
    {
        var c = new JsonObject
        {
            ["name"] = "t",
            ["datasets"] = new JsonArray(new JsonObject
            {
                ["name"] = "d", ["data"] = new JsonObject { ["path"] = "data/none", ["format"] = "ml100k-bench" }, ["ks"] = new JsonArray(10),
            }),
            ["methods"] = new JsonArray("mf", "bdlm"),
            ["seeds"] = new JsonArray(3, 4),
            ["dsm"] = new JsonObject { ["model"] = "mf" },
            ["bdlm"] = new JsonObject { ["lambda"] = 0.5, ["tau"] = 2.0 },
            ["monitor"] = "hr@10",
        };
        if (tune is not null) c["tune"] = tune;
        edit?.Invoke(c);
        Directory.CreateDirectory(Path.Combine(dir, "experiments"));
        string path = Path.Combine(dir, "experiments", "t.json");
        File.WriteAllText(path, c.ToJsonString());
        return path;
    }

    internal static JsonObject Space(string json) => new() { ["space"] = JsonNode.Parse(json), ["seed"] = 1 };

    [Fact]
    public void TheSpaceIsParsedKeyByKeyAndBadKeysAreNamed()
    {
        var space = SearchSpace.From(new Dictionary<string, JsonArray>
        {
            ["bdlm.tau"] = new JsonArray(1, 2, 4),
            ["bdlm.lambda"] = new JsonArray(0.1, 1.0),
        });
        Assert.Equal(["bdlm.lambda", "bdlm.tau"], space.Keys);
        Assert.Equal(6, space.Size);
        Assert.Equal("bdlm.lambda=0.1 bdlm.tau=1", TunePlan.Describe(space.At(0)));
        Assert.Equal("bdlm.lambda=1 bdlm.tau=4", TunePlan.Describe(space.At(5)));
        Assert.Equal(6, Enumerable.Range(0, 6).Select(i => TunePlan.Describe(space.At(i))).Distinct().Count());

        // The default space: BDLM's loop settings, every key a field of the config.
        var d = SearchSpace.Default;
        foreach (var key in new[] { "bdlm.lambda", "bdlm.tau", "bdlm.top_k", "bdlm.gate", "tower.user_skip", "bdlm.lr_ism", "bdlm.lr_adapters", "bdlm.dsm_lr", "bdlm.dsm_epochs", "bdlm.rounds", "bdlm.llm_epochs" })
            Assert.Contains(key, d.Keys);

        var e = Assert.Throws<ArgumentException>(() => SearchSpace.From(new Dictionary<string, JsonArray> { ["bdlm.lamda"] = new JsonArray(1) }));
        Assert.Contains("bdlm.lamda", e.Message);
        Assert.Contains("no field 'lamda'", e.Message);
        Assert.Contains("lambda", e.Message); // the fields it has
        Assert.Contains("is a value", Assert.Throws<ArgumentException>(() => SearchSpace.From(new Dictionary<string, JsonArray> { ["bdlm.lambda.x"] = new JsonArray(1) })).Message);
        Assert.Contains("expected an index", Assert.Throws<ArgumentException>(() => SearchSpace.From(new Dictionary<string, JsonArray> { ["datasets.first.ks"] = new JsonArray(1) })).Message);
        Assert.Contains("no candidate values", Assert.Throws<ArgumentException>(() => SearchSpace.From(new Dictionary<string, JsonArray> { ["bdlm.tau"] = new JsonArray() })).Message);
        // Fields of nested records and list entries are reachable.
        ConfigJson.CheckPath("dsm.train.lr");
        ConfigJson.CheckPath("datasets.0.validation_users");
        ConfigJson.CheckPath("bdlm.dsm_lr");

        // In a config file: loading checks the tune section; a bad value stops the plan before anything trains, naming key and value.
        using var tmp = new TestData.TempDir();
        string bad = WriteConfig(tmp.Path, Space("""{ "bdlm.lamda": [0.1] }"""));
        Assert.Contains("bdlm.lamda", Assert.Throws<ArgumentException>(() => ExperimentConfig.FromJsonFile(bad).Validate()).Message);
        Assert.Contains("bdlm.lamda", Assert.Throws<ArgumentException>(() => TunePlan.Load(new TuneRequest { ConfigPath = bad, BudgetMinutes = 1 })).Message);
        string badValue = WriteConfig(tmp.Path, Space("""{ "bdlm.tau": [1, 0] }"""));
        var v = Assert.Throws<ArgumentException>(() => TunePlan.Load(new TuneRequest { ConfigPath = badValue, BudgetMinutes = 1 }));
        Assert.Contains("bdlm.tau=0", v.Message);
        Assert.Contains("tau must be > 0", v.Message);
        string wrongType = WriteConfig(tmp.Path, Space("""{ "bdlm.rounds": ["two"] }"""));
        Assert.Contains("bdlm.rounds=\"two\"", Assert.Throws<ArgumentException>(() => TunePlan.Load(new TuneRequest { ConfigPath = wrongType, BudgetMinutes = 1 })).Message);
        string noBudget = WriteConfig(tmp.Path, Space("""{ "bdlm.tau": [1] }"""));
        Assert.Contains("--budget", Assert.Throws<ArgumentException>(() => TunePlan.Load(new TuneRequest { ConfigPath = noBudget })).Message);
        string ctr = WriteConfig(tmp.Path, null, c => c["datasets"]![0]!["data"]!["format"] = "collm-ctr");
        Assert.Contains("ranking datasets only", Assert.Throws<ArgumentException>(() => TunePlan.Load(new TuneRequest { ConfigPath = ctr, BudgetMinutes = 1 })).Message);
    }

    [Fact]
    public void FragmentsMergeOverAConfigKeyByKey()
    {
        var settings = new Dictionary<string, JsonNode?> { ["bdlm.lambda"] = 0.1, ["datasets.0.validation_users"] = 10, ["bdlm.dsm_lr"] = null };
        var fragment = ConfigJson.Fragment(settings);
        Assert.Equal("""{"bdlm":{"lambda":0.1,"dsm_lr":null},"datasets":[{"validation_users":10}]}""", fragment.ToJsonString());
        Assert.Equal(["bdlm.lambda", "bdlm.dsm_lr", "datasets.0.validation_users"], ConfigJson.Leaves(fragment));
        var target = JsonNode.Parse("""{"bdlm":{"lambda":0.5,"tau":2,"dsm_lr":0.001},"datasets":[{"name":"a","ks":[5,10]},{"name":"b"}]}""")!.AsObject();
        ConfigJson.Merge(target, fragment);
        Assert.Equal("""{"bdlm":{"lambda":0.1,"tau":2,"dsm_lr":null},"datasets":[{"name":"a","ks":[5,10],"validation_users":10},{"name":"b"}]}""", target.ToJsonString());
        // A list of values is replaced whole.
        ConfigJson.Merge(target, JsonNode.Parse("""{"datasets":[{},{"ks":[20]}]}""")!.AsObject());
        Assert.Equal("""[{"name":"a","ks":[5,10],"validation_users":10},{"name":"b","ks":[20]}]""", target["datasets"]!.ToJsonString());
    }

    [Fact]
    public void TheTrialOrderIsFixedByTheSeed()
    {
        using var tmp = new TestData.TempDir();
        // 3 x 3 combinations; lambda 0.5 / tau 2 are the config's own values, so that combination is the baseline's.
        string path = WriteConfig(tmp.Path, Space("""{ "bdlm.lambda": [0.1, 0.5, 1.0], "bdlm.tau": [1, 2.0, 4] }"""));
        List<string> Order(int seed) => TunePlan.Load(new TuneRequest { ConfigPath = path, BudgetMinutes = 1, Seed = seed }).Trials()
            .Select(t => $"{t.Id}:{(t.Baseline ? "baseline" : TunePlan.Describe(t.Settings))}").ToList();
        var first = Order(1);
        Assert.Equal(first, Order(1));
        Assert.Equal("0:baseline", first[0]);
        Assert.Equal(9, first.Count); // 9 combinations, one of them the baseline's: 8 random trials after it
        Assert.Equal(first.Count, first.Select(s => s[(s.IndexOf(':') + 1)..]).Distinct().Count());
        Assert.DoesNotContain(first, s => s.EndsWith("bdlm.lambda=0.5 bdlm.tau=2"));
        Assert.NotEqual(first, Order(2));

        var plan = TunePlan.Load(new TuneRequest { ConfigPath = path, BudgetMinutes = 1 });
        var baseline = plan.Trials().First();
        Assert.Equal(0.5, baseline.Settings.Single(kv => kv.Key == "bdlm.lambda").Value!.GetValue<double>());
        Assert.Equal(["bdlm"], baseline.Config.Methods);
        Assert.Equal([3], baseline.Config.Seeds); // the config's first seed trains every trial
        var trial = plan.Trials().Skip(1).First();
        Assert.Equal(trial.Settings[0].Value!.GetValue<double>(), trial.Config.Bdlm.Lambda);
        Assert.Equal(trial.Settings[1].Value!.GetValue<double>(), trial.Config.Bdlm.Tau);
    }

    [Fact]
    public void TheStage0KeyFollowsTheDsmAndNotTheLoop()
    {
        var c = new ExperimentConfig { Datasets = [new ExperimentDataset { Name = "x", Data = new BridgeRec.Data.DataConfig { Path = "/d" } }] };
        var ds = c.Datasets[0];
        string k = Stage0Store.KeyOf(c, ds, 1.0, 1);
        Assert.Equal(k, Stage0Store.KeyOf(c with { Bdlm = c.Bdlm with { Lambda = 0.1, Tau = 4, Rounds = 3, DsmLr = 1e-4, LrIsm = 1e-4 }, Methods = ["bdlm"], Seeds = [9] }, ds, 1.0, 1));
        Assert.NotEqual(k, Stage0Store.KeyOf(c, ds, 1.0, 2));
        Assert.NotEqual(k, Stage0Store.KeyOf(c with { Dsm = c.Dsm with { Dim = 32 } }, ds, 1.0, 1));
        Assert.NotEqual(k, Stage0Store.KeyOf(c with { Dsm = c.Dsm with { Train = c.Dsm.Train with { Lr = 0.01 } } }, ds, 1.0, 1));
        Assert.NotEqual(k, Stage0Store.KeyOf(c, ds with { ValidationUsers = 5 }, 1.0, 1));
        Assert.NotEqual(k, Stage0Store.KeyOf(c with { Monitor = "hr@20" }, ds, 1.0, 1));
    }

    /// <summary>
    /// A trial runner that trains nothing: each seed of a trial "takes" <paramref name="seconds"/> on a fake clock, its
    /// LLM scores by lambda and its DSM by <paramref name="dsmOf"/> the seed (0.21 when not given); a seed's first call
    /// trains its stage 0 (5 s), later ones reuse it.
    /// </summary>
    sealed class FakeRunner(FakeTime time, double seconds, Func<int, double>? dsmOf = null) : ITrialRunner
    {
        public List<int> Ran { get; } = [];
        public List<(int Trial, int Seed)> Calls { get; } = [];
        public bool HasStage0(Trial trial, int seed) => Calls.Any(c => c.Seed == seed);
        public TrialOutcome Run(Trial trial, int seed, CancellationToken ct)
        {
            bool had = HasStage0(trial, seed);
            Calls.Add((trial.Id, seed));
            if (!Ran.Contains(trial.Id)) Ran.Add(trial.Id);
            time.Advance(seconds);
            double lambda = trial.Config.Bdlm.Lambda;
            var rounds = new List<RoundRow>
            {
                new(0, null, new() { ["hr@10"] = 0.2 }, double.NaN, 1),
                new(1, new() { ["hr@10"] = 0.1 + lambda / 10 }, new() { ["hr@10"] = dsmOf?.Invoke(seed) ?? 0.21 }, 1.0, seconds),
            };
            return new TrialOutcome(rounds, 1, 1, $"k{seed}", had, had ? 0 : 5, 0);
        }
    }

    sealed class FakeTime : TimeProvider
    {
        long _ticks;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => _ticks;
        public void Advance(double seconds) => _ticks += (long)(seconds * TimeSpan.TicksPerSecond);
    }

    [Fact]
    public void TheBudgetStopsTheSearch()
    {
        using var tmp = new TestData.TempDir();
        string path = WriteConfig(tmp.Path, Space("""{ "bdlm.lambda": [0.1, 1.0, 2.0], "bdlm.tau": [1, 4] }"""));
        var plan = TunePlan.Load(new TuneRequest { ConfigPath = path, BudgetMinutes = 2, OutDir = tmp.File("out") });
        var time = new FakeTime();
        var runner = new FakeRunner(time, 50);
        var log = new List<string>();
        var s = Tuner.Run(plan, runner, false, log.Add, default, time);
        // 50 s each in 120 s: after two trials 20 s are left, less than the fastest trial took: the third is not started.
        Assert.Equal([0, 1], runner.Ran);
        Assert.Equal(2, s.TrialsRun);
        Assert.Contains("trial 2 not started", s.StopReason);
        Assert.Contains(log, l => l.Contains("tune stopped: trial 2 not started"));
        Assert.Equal(2, TrialsFile.Load(s.OutDir)!.Trials.Count);

        // A trial still running when the budget ends is cancelled and not recorded (real time: 1.2 s of budget).
        var slow = TunePlan.Load(new TuneRequest { ConfigPath = path, BudgetMinutes = 0.02, OutDir = tmp.File("slow") });
        var blocking = new BlockingRunner();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var c = Tuner.Run(slow, blocking, false, null, default, TimeProvider.System);
        Assert.True(clock.Elapsed.TotalSeconds < 20, $"took {clock.Elapsed.TotalSeconds:F1}s");
        Assert.True(blocking.SawCancellation);
        Assert.Contains("trial 0 was cancelled when the budget ran out", c.StopReason);
        Assert.Equal(0, c.TrialsRun);
        Assert.Empty(TrialsFile.Load(c.OutDir)!.Trials);
        Assert.False(File.Exists(Path.Combine(c.OutDir, Tuner.ChosenFile)));
    }

    /// <summary>--seeds: every trial trains on each seed, its score and values are the means, each seed's part is kept.</summary>
    [Fact]
    public void TrialsOnSeveralSeedsScoreTheMeanOverThem()
    {
        using var tmp = new TestData.TempDir();
        string path = WriteConfig(tmp.Path, Space("""{ "bdlm.lambda": [0.1, 1.0, 2.0] }"""));
        TunePlan Plan(int[]? seeds, double budget = 60, string outDir = "out") =>
            TunePlan.Load(new TuneRequest { ConfigPath = path, BudgetMinutes = budget, OutDir = tmp.File(outDir), Trials = 2, Seeds = seeds });
        var time = new FakeTime();
        var runner = new FakeRunner(time, 10, seed => 0.2 + seed / 100.0);
        var log = new List<string>();
        var summary = Tuner.Run(Plan([1, 2, 3]), runner, false, log.Add, default, time);

        Assert.Equal(new (int, int)[] { (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3) }, runner.Calls);
        var file = TrialsFile.Load(summary.OutDir)!;
        Assert.Equal([1, 2, 3], file.TrainSeeds!);
        var t0 = file.Trials[0];
        Assert.Equal([1, 2, 3], t0.Seeds!.Select(x => x.Seed));
        Assert.Equal([1.05, 1.1, 1.15], t0.Seeds!.Select(x => Math.Round(x.Dsm.Part, 9)));
        Assert.Equal(0.22 / 0.2, t0.Dsm.Part, 9);
        Assert.Equal(0.22, t0.Dsm.Value, 9);
        Assert.Equal(t0.Seeds!.Average(x => x.Score), t0.Score, 9);
        Assert.Equal(0.22, t0.Rounds.Single(r => r.Round == 1).Dsm["hr@10"], 9); // each round's metrics, averaged
        Assert.Equal(15, t0.Stage0Seconds); // three stage 0s trained
        Assert.False(t0.Stage0Reused);
        Assert.True(file.Trials[1].Stage0Reused);
        Assert.Contains(log, l => l.StartsWith("trial 0: seed 2 (2 of 3)"));
        Assert.Contains(log, l => l.StartsWith("trial 0: score") && l.Contains("round 1, 1, 1") && l.Contains("means over seeds 1, 2, 3"));
        Assert.Contains("(1, 1, 1)", File.ReadAllText(summary.ReportPath));

        // Another set of seeds is another search: refused without --overwrite.
        Assert.Throws<InvalidOperationException>(() => Tuner.Run(Plan([1, 2]), new FakeRunner(time, 10), false, null, default, time));
        Assert.NotEqual(Plan([1, 2]).Fingerprint, Plan([1, 2, 3]).Fingerprint);
        // One seed writes the file as before: no per-seed parts, no seed list.
        var one = Tuner.Run(Plan([3], outDir: "one"), new FakeRunner(time, 10), false, null, default, time);
        string oneText = File.ReadAllText(one.TrialsPath);
        Assert.DoesNotContain("\"seeds\"", oneText);
        Assert.DoesNotContain("train_seeds", oneText);
        Assert.Equal(Plan(null).Fingerprint, Plan([3]).Fingerprint); // the config's first seed, given or not

        // The budget counts every seed: 3 x 50 s fits in 4 minutes once, not twice.
        var slow = new FakeRunner(time, 50);
        var stopped = Tuner.Run(Plan([1, 2, 3], budget: 4, outDir: "slow"), slow, false, null, default, time);
        Assert.Equal([0], slow.Ran);
        Assert.Contains("trial 1 not started", stopped.StopReason);

        Assert.Contains("repeat", Assert.Throws<ArgumentException>(() => Plan([1, 1])).Message);
    }

    sealed class BlockingRunner : ITrialRunner
    {
        public bool SawCancellation { get; private set; }
        public bool HasStage0(Trial trial, int seed) => false;
        public TrialOutcome Run(Trial trial, int seed, CancellationToken ct)
        {
            SawCancellation = ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(30));
            ct.ThrowIfCancellationRequested();
            throw new InvalidOperationException("the budget did not cancel the trial");
        }
    }

    [Fact]
    public void ARerunSkipsFinishedTrialsAndRefusesAnotherSearch()
    {
        using var tmp = new TestData.TempDir();
        string path = WriteConfig(tmp.Path, Space("""{ "bdlm.lambda": [0.1, 1.0, 2.0], "bdlm.tau": [1, 4] }"""));
        TunePlan Plan(int trials, int? seed = null) => TunePlan.Load(new TuneRequest { ConfigPath = path, BudgetMinutes = 60, OutDir = tmp.File("out"), Trials = trials, Seed = seed });
        var time = new FakeTime();

        var first = new FakeRunner(time, 10);
        var s1 = Tuner.Run(Plan(2), first, false, null, default, time);
        Assert.Equal([0, 1], first.Ran);
        Assert.Equal("the trial limit (2) is reached", s1.StopReason);

        var second = new FakeRunner(time, 10);
        var log = new List<string>();
        var s2 = Tuner.Run(Plan(4), second, false, log.Add, default, time);
        Assert.Equal([2, 3], second.Ran);
        Assert.Equal(2, s2.TrialsSkipped);
        Assert.Contains(log, l => l.StartsWith("trial 0: done earlier") && l.EndsWith("skipped"));
        var file = TrialsFile.Load(s2.OutDir)!;
        Assert.Equal([0, 1, 2, 3], file.Trials.Select(t => t.Id));
        Assert.True(file.Trials[0].Baseline);

        // The score: each model's validation hr@10 at its kept round over stage 0's 0.2, averaged.
        var t1 = file.Trials[1];
        double lambda = t1.Settings["bdlm.lambda"]!.GetValue<double>();
        Assert.Equal(0.21 / 0.2, t1.Dsm.Part, 9);
        Assert.Equal((0.1 + lambda / 10) / 0.2, t1.Llm.Part, 9);
        Assert.Equal((t1.Dsm.Part + t1.Llm.Part) / 2, t1.Score, 9);
        // chosen.json holds the best trial's settings as a config fragment.
        var best = file.Trials.OrderByDescending(t => t.Score).First();
        var chosen = JsonNode.Parse(File.ReadAllText(s2.ChosenPath))!;
        Assert.Equal(best.Settings["bdlm.lambda"]!.GetValue<double>(), chosen["bdlm"]!["lambda"]!.GetValue<double>());
        Assert.Contains("**chosen**", File.ReadAllText(s2.ReportPath));

        // Everything done: nothing runs again.
        var third = new FakeRunner(time, 10);
        Assert.Equal(0, Tuner.Run(Plan(4), third, false, null, default, time).TrialsRun);
        Assert.Empty(third.Ran);

        // Another search seed is another search: refused, nothing written, unless --overwrite.
        byte[] before = File.ReadAllBytes(s2.TrialsPath);
        var e = Assert.Throws<InvalidOperationException>(() => Tuner.Run(Plan(2, seed: 7), new FakeRunner(time, 10), false, null, default, time));
        Assert.Contains("--overwrite", e.Message);
        Assert.Equal(before, File.ReadAllBytes(s2.TrialsPath));
        var fresh = new FakeRunner(time, 10);
        Tuner.Run(Plan(2, seed: 7), fresh, true, null, default, time);
        Assert.Equal([0, 1], fresh.Ran);
        Assert.Equal(7, TrialsFile.Load(s2.OutDir)!.SearchSeed);
    }

    static string RepoRoot() => TestData.RepositoryRoot() ?? throw new DirectoryNotFoundException("BridgeRec.slnx not found above the test binaries");

    /// <summary>experiments/tiny.json written as tmp/experiments/<paramref name="name"/> with its data paths pointed at the shared data, edited.</summary>
    internal static string TinyConfig(string dir, Action<JsonObject>? edit = null, string name = "tiny.json")
    {
        var c = ConfigJson.ReadFile(Path.Combine(RepoRoot(), "experiments", "tiny.json"));
        var data = c["datasets"]![0]!["data"]!;
        data["path"] = Path.Combine(TestData.Benchmarks, "ml-100k", "loo");
        data["items"] = Path.Combine(TestData.Root, "movielens-100k");
        edit?.Invoke(c);
        Directory.CreateDirectory(Path.Combine(dir, "experiments"));
        string path = Path.Combine(dir, "experiments", name);
        File.WriteAllText(path, c.ToJsonString());
        return path;
    }

    /// <summary>
    /// bdlm_all_validation_users: stage 0 still chooses on the validation_users sample, BDLM's rounds read every
    /// validation user. With 7 sampled users of 60 an HR@20 is a multiple of 1/7 on the sample and of 1/60 on all of
    /// them, and only 0 and 1 are both.
    /// </summary>
    [Fact]
    public void BdlmAllValidationUsersWidensBdlmsChoicesOnly()
    {
        using var tmp = new TestData.TempDir();
        var sampled = ExperimentConfig.FromJsonFile(TinyConfig(tmp.Path, c =>
        {
            c["datasets"]![0]!["validation_users"] = 7;
            c["datasets"]![0]!["max_users"] = 60;
            c["dsm"]!["train"]!["lr"] = 0.05; // MF learns popularity in its 6 epochs: HR@20 above 0
        })) with { Methods = ["mf", "bdlm"], Output = tmp.File("out") };
        var wide = sampled with { Datasets = [sampled.Datasets[0] with { BdlmAllValidationUsers = true }] };
        var split = ExperimentRunner.LoadRankingSplit(sampled.Datasets[0]);
        int all = BridgeRec.Evaluation.RankingEvaluator.ForValidation(split, new BridgeRec.Evaluation.RankingOptions { Ks = [20] }).Users.Count;
        Assert.Equal(60, all);
        static bool Multiple(double v, int n) => Math.Abs(v * n - Math.Round(v * n)) < 1e-6;

        var a = ExperimentRunner.RunValidationOnly(sampled, split, 1).Rows;
        var b = ExperimentRunner.RunValidationOnly(wide, split, 1).Rows;
        double stage0 = a.Single(r => r.Method == "mf").Metrics["validation"]["hr@20"];
        Assert.Equal(stage0, b.Single(r => r.Method == "mf").Metrics["validation"]["hr@20"]); // stage 0 untouched
        Assert.True(Multiple(stage0, 7));
        double sampledRound0 = a.Single(r => r.Method == "bdlm-dsm").Rounds![0].Dsm["hr@20"];
        double wideRound0 = b.Single(r => r.Method == "bdlm-dsm").Rounds![0].Dsm["hr@20"];
        Assert.Equal(stage0, sampledRound0);
        Assert.True(wideRound0 is > 0 and < 1, $"round 0 hr@20 {wideRound0}: the test needs a value strictly between 0 and 1");
        Assert.True(Multiple(wideRound0, all) && !Multiple(wideRound0, 7), $"round 0 hr@20 {wideRound0} is not over all {all} users");
        foreach (var round in b.Single(r => r.Method == "bdlm-llm").Rounds!.Where(r => r.Llm is not null))
            Assert.True(Multiple(round.Llm!["hr@20"], all), $"round {round.Round} LLM hr@20 {round.Llm!["hr@20"]} is not over all {all} users");

        // It widens a sample, so it needs one; and it leaves the stage-0 key (and a config without it, its hash) alone.
        var none = wide with { Datasets = [wide.Datasets[0] with { ValidationUsers = null }] };
        Assert.Contains("bdlm_all_validation_users", Assert.Throws<ArgumentException>(none.Validate).Message);
        Assert.Equal(Stage0Store.KeyOf(sampled, sampled.Datasets[0], 1.0, 1), Stage0Store.KeyOf(wide, wide.Datasets[0], 1.0, 1));
        Assert.NotEqual(sampled.RunHash(sampled.Datasets[0]), wide.RunHash(wide.Datasets[0]));
        Assert.DoesNotContain("bdlm_all_validation_users", JsonSerializer.Serialize(sampled.Datasets[0], ExperimentConfig.JsonOptions));
    }

    /// <summary>
    /// bdlm.dsm_fresh through an experiment: each DSM phase retrains from the initial weights (a whole early-stopped run),
    /// so a round's DSM differs from the continued phase's; stage 0 is shared (the stage-0 key leaves it out), the run
    /// hash is not, a config without it hashes as before, and click-through refuses it.
    /// </summary>
    [Fact]
    public void DsmFreshRunsThroughAnExperimentAndKeepsStage0()
    {
        using var tmp = new TestData.TempDir();
        var continued = ExperimentConfig.FromJsonFile(TinyConfig(tmp.Path, c =>
        {
            c["datasets"]![0]!["max_users"] = 60;
            c["dsm"]!["train"]!["lr"] = 0.05;
        })) with { Methods = ["mf", "bdlm"], Output = tmp.File("out") };
        continued = continued with { Bdlm = continued.Bdlm with { Distill = "rank", DsmFresh = false } }; // MF's default is fresh since 2026-12-02
        var fresh = continued with { Bdlm = continued.Bdlm with { DsmFresh = true } };
        fresh.Validate();
        var split = ExperimentRunner.LoadRankingSplit(continued.Datasets[0]);

        var a = ExperimentRunner.RunValidationOnly(continued, split, 1).Rows;
        var b = ExperimentRunner.RunValidationOnly(fresh, split, 1).Rows;
        Assert.Equal(a.Single(r => r.Method == "mf").Metrics["validation"], b.Single(r => r.Method == "mf").Metrics["validation"]);
        var ra = a.Single(r => r.Method == "bdlm-dsm").Rounds!;
        var rb = b.Single(r => r.Method == "bdlm-dsm").Rounds!;
        Assert.Equal(ra[0].Dsm, rb[0].Dsm); // round 0 is the same stage 0
        Assert.Equal(ra.Count, rb.Count);
        Assert.NotEqual(ra[1].Dsm, rb[1].Dsm);

        Assert.Equal(Stage0Store.KeyOf(continued, continued.Datasets[0], 1.0, 1), Stage0Store.KeyOf(fresh, fresh.Datasets[0], 1.0, 1));
        Assert.NotEqual(continued.RunHash(continued.Datasets[0]), fresh.RunHash(fresh.Datasets[0]));
        Assert.True(JsonNode.Parse(JsonSerializer.Serialize(fresh.Bdlm, ExperimentConfig.JsonOptions))!["dsm_fresh"]!.GetValue<bool>());

        var ctr = ExperimentConfig.FromJsonFile(TinyConfig(tmp.Path, c =>
        {
            var d = c["datasets"]![0]!.AsObject();
            d["data"]!["format"] = "collm-ctr";
            d.Remove("sampled");
            d.Remove("validation_users");
        }, name: "ctr.json"));
        ctr = ctr with { Methods = ["bdlm"], Dsm = ctr.Dsm with { Model = "mf" }, Monitor = "auc", Bdlm = ctr.Bdlm with { DsmFresh = true } };
        Assert.Contains("dsm_fresh", Assert.Throws<ArgumentException>(ctr.Validate).Message);
    }

    /// <summary>A validation-only run never reaches the test split: no evaluator built or asked, rows with validation metrics only.</summary>
    [Fact]
    public void AValidationOnlyRunNeverEvaluatesTest()
    {
        using var tmp = new TestData.TempDir();
        var config = ExperimentConfig.FromJsonFile(TinyConfig(tmp.Path)) with { Methods = ["pop", "mf"], Output = tmp.File("out") };
        var split = ExperimentRunner.LoadRankingSplit(config.Datasets[0]);
        var run = ExperimentRunner.RunValidationOnly(config, split, 1);
        Assert.Equal(0, run.TestEvaluations);
        Assert.Equal(["mf", "pop"], run.Rows.Select(r => r.Method).Order());
        foreach (var row in run.Rows)
        {
            Assert.Equal(["validation"], row.Metrics.Keys);
            Assert.Contains("hr@10", row.Metrics["validation"].Keys);
            Assert.Empty(row.Buckets);
        }
        Assert.False(Directory.Exists(tmp.File("out")));

        // The same gate counts in a normal run: there the test split is evaluated.
        var normal = ExperimentRunner.Run(config with { Methods = ["pop"] });
        Assert.True(normal.TestEvaluations > 0);
        Assert.Contains("full", JsonSerializer.Deserialize<ResultsFile>(File.ReadAllText(normal.ResultsPath), ExperimentConfig.JsonOptions)!.Runs.Single().Metrics.Keys);
    }

}

/// <summary>The tune verb on real data (in the console collection: it runs the program, which writes to the console).</summary>
[Collection("console")]
public class TuneEndToEndTests
{
    static JsonObject Space(string json) => TuneTests.Space(json);
    static string TinyConfig(string dir, Action<JsonObject>? edit = null, string name = "tiny.json") => TuneTests.TinyConfig(dir, edit, name);

    static int Cli(params string[] args) => BridgeRec.Cli.Program.Main(args).GetAwaiter().GetResult();

    /// <summary>tune on the tiny experiment (two trials, stage 0 trained once), resumed, and its choice used by an experiment.</summary>
    [Fact]
    public void TheTinyTuneRunsEndToEndAndAnExperimentUsesItsChoice()
    {
        using var tmp = new TestData.TempDir();
        string config = TinyConfig(tmp.Path, c =>
        {
            c["bdlm"]!["llm_users_per_epoch"] = 8;
            c["datasets"]![0]!["validation_users"] = 10;
            c["tune"] = Space("""{ "bdlm.lambda": [0.1, 1.0], "bdlm.tau": [1, 4] }""");
        });
        string outDir = tmp.File("tune");
        var log = new List<string>();
        var s = Tuner.Run(new TuneRequest { ConfigPath = config, BudgetMinutes = 60, Trials = 2, OutDir = outDir }, log.Add);
        Assert.Equal(2, s.TrialsRun);
        Assert.Equal(0, s.TestEvaluations);
        var file = TrialsFile.Load(outDir)!;
        Assert.Equal([0, 1], file.Trials.Select(t => t.Id));
        Assert.False(file.Trials[0].Stage0Reused);
        Assert.True(file.Trials[1].Stage0Reused); // the same DSM settings: stage 0 trained once
        Assert.Equal(file.Trials[0].Stage0Value, file.Trials[1].Stage0Value);
        Assert.Single(Directory.GetFiles(Path.Combine(outDir, Tuner.Stage0Folder), "*.safetensors"));
        foreach (var t in file.Trials)
        {
            Assert.True(double.IsFinite(t.Score) && t.Score >= 0, $"trial {t.Id} score {t.Score}");
            Assert.Equal([0, 1], t.Rounds.Select(r => r.Round));
            Assert.NotNull(t.Rounds[1].Llm);
            Assert.Equal(t.Rounds[t.Dsm.BestRound].Dsm["hr@10"], t.Dsm.Value);
        }
        Assert.Contains(log, l => l.Contains("reused"));
        string text = File.ReadAllText(s.TrialsPath);
        Assert.DoesNotContain("\"full\"", text);
        Assert.DoesNotContain("\"sampled\"", text);
        Assert.False(Directory.Exists(Path.Combine(outDir, "models")));
        Assert.Contains("| 0 (baseline)", File.ReadAllText(s.ReportPath));

        // The same command again: both trials are in trials.json, nothing trains.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, Cli("tune", "--config", config, "--budget", "60", "--trials", "2", "--out", outDir));
        Assert.True(clock.Elapsed.TotalSeconds < 20, $"resume took {clock.Elapsed.TotalSeconds:F1}s");
        Assert.Equal(2, TrialsFile.Load(outDir)!.Trials.Count);
        // Another search into the same folder is refused (exit 2).
        Assert.Equal(2, Cli("tune", "--config", config, "--budget", "60", "--trials", "2", "--out", outDir, "--seed", "9"));

        // An experiment with "tuned" runs with the chosen settings and records where they came from.
        var chosen = JsonNode.Parse(File.ReadAllText(s.ChosenPath))!;
        string tunedConfig = TinyConfig(tmp.Path, c =>
        {
            c["name"] = "tiny-tuned";
            c["methods"] = new JsonArray("pop");
            c["tuned"] = "tune/chosen.json"; // relative, like the data paths: against tmp
            c["output"] = "exp";
        }, "tiny-tuned.json");
        var merged = ExperimentConfig.FromJsonFile(tunedConfig);
        Assert.Equal(chosen["bdlm"]!["lambda"]!.GetValue<double>(), merged.Bdlm.Lambda);
        Assert.Equal(chosen["bdlm"]!["tau"]!.GetValue<double>(), merged.Bdlm.Tau);
        Assert.Equal(s.ChosenPath, merged.Tuned);
        Assert.Equal(2, merged.Bdlm.DsmEpochs); // the config's own settings stay where the fragment says nothing
        var summary = ExperimentRunner.Run(merged);
        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(summary.OutputDir, "config.json")))!;
        Assert.Equal(s.ChosenPath, written["tuned"]!.GetValue<string>());
        Assert.Equal(merged.Bdlm.Lambda, written["bdlm"]!["lambda"]!.GetValue<double>());
        Assert.Contains("bridgerec tune", File.ReadAllText(summary.ReportPath));

        // A tuned file with a key the config does not have is an error naming file and key.
        File.WriteAllText(tmp.File("bad.json"), """{ "bdlm": { "lamda": 1 } }""");
        string badTuned = TinyConfig(tmp.Path, c => c["tuned"] = "bad.json", "bad-tuned.json");
        var e = Assert.Throws<InvalidDataException>(() => ExperimentConfig.FromJsonFile(badTuned));
        Assert.Contains("bad.json", e.Message);
        Assert.Contains("bdlm.lamda", e.Message);
    }
}
