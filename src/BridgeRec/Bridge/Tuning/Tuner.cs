using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BridgeRec.Bridge.Experiments;
using BridgeRec.IO;

namespace BridgeRec.Bridge.Tuning;

/// <summary>What one trial's run gave: both models' validation metrics per round and the rounds each kept.</summary>
public sealed record TrialOutcome(IReadOnlyList<RoundRow> Rounds, int BestDsmRound, int BestLlmRound, string Stage0Key, bool Stage0Reused, double Stage0Seconds, int TestEvaluations);

/// <summary>Runs trials, one training seed at a time: <see cref="BdlmTrialRunner"/> trains them; tests put in their own.</summary>
public interface ITrialRunner
{
    /// <summary>Whether the trial's stage 0 for <paramref name="seed"/> is already trained (then it costs nothing), for the time estimate.</summary>
    bool HasStage0(Trial trial, int seed);
    /// <summary>Runs the trial with <paramref name="seed"/> on validation; stops with <see cref="OperationCanceledException"/> when <paramref name="ct"/> fires.</summary>
    TrialOutcome Run(Trial trial, int seed, CancellationToken ct);
}

/// <summary>What a tune call did.</summary>
public sealed record TuneSummary(string OutDir, int TrialsRun, int TrialsSkipped, int TrialsFinished, TrialRecord? Chosen, string StopReason,
    double Seconds, int TestEvaluations)
{
    public string TrialsPath => Path.Combine(OutDir, TrialsFile.FileName);
    public string ChosenPath => Path.Combine(OutDir, Tuner.ChosenFile);
    public string ReportPath => Path.Combine(OutDir, Tuner.ReportFile);
}

/// <summary>
/// <c>bridgerec tune</c>: a seeded random search over an experiment config's settings, on the validation split of its
/// first dataset only. Each trial runs stage 0 (from a <see cref="Stage0Store"/> when an earlier trial trained the
/// same one) and BDLM for each training seed (the config's first, or <c>--seeds</c>) through
/// <see cref="ExperimentRunner.RunValidationOnly"/>, which builds no test evaluator. A trial's score on a seed is the
/// mean, over BDLM-DSM and BDLM-LLM, of the monitored validation metric at the round each model kept divided by the
/// stage-0 DSM's (1.0 = no gain); its score is the mean over its seeds. Stops when the space is exhausted, at the
/// trial limit, or at the time budget: a trial that would not fit (the fastest earlier trial per seed times its seeds,
/// plus a stage 0 for each seed that needs a new one, is longer than the time left) is not started, and a trial still running when the budget ends is
/// cancelled and not recorded. trials.json is rewritten after every trial, with chosen.json (the best trial's
/// settings as a config fragment, for an experiment's <c>"tuned"</c>) and tune.md; a rerun into the same folder with
/// the same config, space and seeds skips the finished trials.
/// </summary>
public static class Tuner
{
    public const string ChosenFile = "chosen.json", ReportFile = "tune.md", Stage0Folder = "stage0";

    /// <summary>Plans and runs a tune with the real trials (stage 0 kept under the output's stage0/ folder).</summary>
    public static TuneSummary Run(TuneRequest request, Action<string>? log = null, CancellationToken ct = default)
    {
        var plan = TunePlan.Load(request);
        using var store = new Stage0Store(Path.Combine(plan.OutDir, Stage0Folder));
        var runner = new BdlmTrialRunner(store, log);
        return Run(plan, runner, request.Overwrite, log, ct, TimeProvider.System);
    }

    /// <summary>
    /// Refuses, before anything is written, to replace finished trials of another search (other base settings, space
    /// or seeds) or a chosen.json without its trials, unless <paramref name="overwrite"/>.
    /// </summary>
    static TrialsFile? Guard(TunePlan plan, bool overwrite)
    {
        var existing = TrialsFile.Load(plan.OutDir);
        bool foreign = existing is not null && existing.Fingerprint != plan.Fingerprint && existing.Trials.Count > 0;
        bool orphan = existing is null && File.Exists(Path.Combine(plan.OutDir, ChosenFile));
        if ((foreign || orphan) && !overwrite)
            throw new InvalidOperationException(
                $"{plan.OutDir} holds " + (foreign ? $"{existing!.Trials.Count} finished trial(s) of another search (other settings, space or seeds: fingerprint {existing.Fingerprint}, this one {plan.Fingerprint})"
                                                   : $"a {ChosenFile} without {TrialsFile.FileName}") +
                "; nothing was written. Choose another --out, or pass --overwrite to replace them.");
        return foreign || orphan ? null : existing;
    }

    internal static TuneSummary Run(TunePlan plan, ITrialRunner runner, bool overwrite, Action<string>? log, CancellationToken ct, TimeProvider time)
    {
        log ??= _ => { };
        long start = time.GetTimestamp();
        double Elapsed() => time.GetElapsedTime(start).TotalSeconds;
        double budget = plan.BudgetMinutes * 60;

        var existing = Guard(plan, overwrite);
        Directory.CreateDirectory(plan.OutDir);
        var file = new TrialsFile
        {
            Name = plan.Base.Name, Config = plan.ConfigPath, Dataset = plan.Dataset.Name, Monitor = plan.Base.Monitor,
            TrainSeed = plan.TrainSeed, TrainSeeds = plan.TrainSeeds.Count > 1 ? [.. plan.TrainSeeds] : null, SearchSeed = plan.SearchSeed, Fingerprint = plan.Fingerprint,
            Space = plan.Space.ToJsonObject(), SpaceSize = plan.Space.Size,
        };
        // Every trial finished earlier stays in the file, also those past where this call stops (a smaller --trials or budget).
        var done = (existing?.Trials ?? []).ToDictionary(t => t.Id);
        file.Trials.AddRange(done.Values.OrderBy(t => t.Id));
        if (plan.UnusedDatasets.Count > 0) log($"tune: on {plan.Dataset.Name} only (not {string.Join(", ", plan.UnusedDatasets)})");
        log(FormattableString.Invariant($"tune {plan.Base.Name} on {plan.Dataset.Name}, validation only: {plan.Space.Keys.Count} keys, {plan.Space.Size} combinations, search seed {plan.SearchSeed}, {Seeds(plan)}, budget {plan.BudgetMinutes:0.##} min")
            + (plan.MaxTrials is int m ? $", at most {m} trials" : "") + (done.Count > 0 ? $"; {done.Count} trial(s) done earlier in {plan.OutDir}" : ""));

        int ran = 0, skipped = 0, testEvaluations = 0;
        string stop = $"the search space is exhausted ({plan.Space.Size} combinations)";
        try
        {
            int position = 0;
            foreach (var trial in plan.Trials())
            {
                if (plan.MaxTrials is int max && position >= max) { stop = $"the trial limit ({max}) is reached"; break; }
                position++;
                if (done.TryGetValue(trial.Id, out var earlier))
                {
                    if (earlier.RunHash != trial.RunHash)
                        throw new InvalidDataException($"{Path.Combine(plan.OutDir, TrialsFile.FileName)}: trial {trial.Id} was run with other settings (run hash {earlier.RunHash}, planned {trial.RunHash}); pass --overwrite to start afresh");
                    skipped++;
                    log(FormattableString.Invariant($"trial {trial.Id}: done earlier (score {earlier.Score:F4}), skipped"));
                    continue;
                }
                double left = budget - Elapsed();
                if (left <= 0) { stop = FormattableString.Invariant($"the budget ({plan.BudgetMinutes:0.##} min) is spent"); break; }
                int newStage0 = trial.Seeds.Count(seed => !runner.HasStage0(trial, seed));
                if (Estimate(file.Trials, trial.Seeds.Count, newStage0) is double need && need > left)
                {
                    stop = FormattableString.Invariant($"trial {trial.Id} not started: it would take about {need:F0}s (the fastest trial so far{(newStage0 == 0 ? "" : newStage0 == 1 ? ", plus a new stage 0" : $", plus {newStage0} new stage 0s")}) and {left:F0}s of the budget are left");
                    break;
                }
                log($"trial {trial.Id}: {trial.Describe()}");
                double began = Elapsed();
                var outcomes = new List<(int Seed, TrialOutcome Outcome)>();
                bool cancelled = false;
                using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    cts.CancelAfter(TimeSpan.FromSeconds(left));
                    foreach (int seed in trial.Seeds)
                    {
                        if (trial.Seeds.Count > 1) log($"trial {trial.Id}: seed {seed} ({outcomes.Count + 1} of {trial.Seeds.Count})");
                        try { outcomes.Add((seed, runner.Run(trial, seed, cts.Token))); }
                        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                        {
                            stop = FormattableString.Invariant($"trial {trial.Id} was cancelled when the budget ran out, after {Elapsed() - began:F0}s ({outcomes.Count} of its {trial.Seeds.Count} seed(s) done); it is not recorded");
                            cancelled = true;
                            break;
                        }
                    }
                }
                testEvaluations += outcomes.Sum(o => o.Outcome.TestEvaluations);
                if (cancelled) break;
                var record = Record(trial, outcomes, plan.Base.Monitor, Elapsed() - began);
                file.Trials.Add(record);
                file.Trials.Sort((a, b) => a.Id.CompareTo(b.Id));
                ran++;
                var best = Best(file.Trials);
                log(Line(record, plan.Base.Monitor) + (ReferenceEquals(best, record) ? "; best so far" : $"; best so far: trial {best!.Id} ({best.Score:F4})"));
                Write(plan, file, null);
            }
        }
        catch (OperationCanceledException)
        {
            stop = "interrupted";
            Write(plan, file, stop);
            throw;
        }
        Write(plan, file, stop);
        var chosen = Best(file.Trials);
        log($"tune stopped: {stop}");
        log(chosen is null ? "no trial finished: nothing chosen"
            : FormattableString.Invariant($"chosen: trial {chosen.Id} ({(chosen.Baseline ? "the config's own settings" : TunePlan.Describe(chosen.Settings))}), score {chosen.Score:F4}; {Path.Combine(plan.OutDir, ChosenFile)}"));
        return new TuneSummary(plan.OutDir, ran, skipped, file.Trials.Count, chosen, stop, Elapsed(), testEvaluations);
    }

    /// <summary>
    /// Seconds the next trial needs at least: the fastest finished trial's BDLM part per seed times its seeds, plus the
    /// fastest stage 0 for each seed that needs one; null before any trial.
    /// </summary>
    static double? Estimate(IReadOnlyList<TrialRecord> finished, int seeds, int newStage0)
    {
        if (finished.Count == 0) return null;
        double bdlm = finished.Min(t => Math.Max(0, t.Seconds - t.Stage0Seconds) / t.SeedCount);
        double stage0 = finished.SelectMany(t => t.TrainedStage0Seconds()).DefaultIfEmpty(0).Min();
        return bdlm * seeds + stage0 * newStage0;
    }

    static string Seeds(TunePlan plan) => plan.TrainSeeds.Count == 1
        ? $"training seed {plan.TrainSeed}"
        : $"training seeds {string.Join(", ", plan.TrainSeeds)} (a trial's score is the mean over them)";

    /// <summary>
    /// A trial's record and score from its seeds' outcomes: one seed's as it is, several seeds' as their means with
    /// each seed's part in <see cref="TrialRecord.Seeds"/>.
    /// </summary>
    public static TrialRecord Record(Trial trial, IReadOnlyList<(int Seed, TrialOutcome Outcome)> outcomes, string monitor, double seconds)
    {
        if (outcomes.Count == 0) throw new ArgumentException($"trial {trial.Id}: no seed's outcome to record", nameof(outcomes));
        var parts = outcomes.Select(x => ScoreOf(trial, x.Seed, x.Outcome, monitor)).ToList();
        var settings = trial.Settings.ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone());
        string finished = DateTime.UtcNow.ToString("O");
        if (parts.Count == 1)
        {
            var p = parts[0];
            return new TrialRecord
            {
                Id = trial.Id, Baseline = trial.Baseline, Settings = settings, RunHash = trial.RunHash,
                Stage0Key = p.Stage0Key, Stage0Reused = p.Stage0Reused, Stage0Seconds = p.Stage0Seconds, Stage0Value = p.Stage0Value,
                Dsm = p.Dsm, Llm = p.Llm, Score = p.Score, Rounds = p.Rounds, Seconds = seconds, FinishedUtc = finished,
            };
        }
        static ModelScore Mean(IEnumerable<ModelScore> s)
        {
            var list = s.ToList();
            int round = list.GroupBy(m => m.BestRound).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
            return new ModelScore(round, list.Average(m => m.Value), list.Average(m => m.Part));
        }
        return new TrialRecord
        {
            Id = trial.Id, Baseline = trial.Baseline, Settings = settings, RunHash = trial.RunHash,
            Stage0Key = parts[0].Stage0Key, Stage0Reused = parts.All(p => p.Stage0Reused), Stage0Seconds = parts.Sum(p => p.Stage0Seconds),
            Stage0Value = parts.Average(p => p.Stage0Value), Dsm = Mean(parts.Select(p => p.Dsm)), Llm = Mean(parts.Select(p => p.Llm)),
            Score = parts.Average(p => p.Score), Rounds = MeanRounds(parts.Select(p => p.Rounds).ToList()), Seconds = seconds, FinishedUtc = finished,
            Seeds = parts,
        };
    }

    /// <summary>Each round's metrics averaged over the seeds that have it (with a round patience, seeds may stop at different rounds).</summary>
    static List<RoundRow> MeanRounds(IReadOnlyList<List<RoundRow>> perSeed)
    {
        static Dictionary<string, double>? Mean(IReadOnlyList<Dictionary<string, double>?> ms) =>
            ms.Any(m => m is null) ? null
            : ms[0]!.Keys.Where(k => ms.All(m => m!.ContainsKey(k))).ToDictionary(k => k, k => ms.Average(m => m![k]));
        return perSeed.SelectMany(r => r).GroupBy(r => r.Round).OrderBy(g => g.Key).Select(g =>
        {
            var rows = g.ToList();
            return new RoundRow(g.Key, Mean(rows.Select(r => r.Llm).ToList()), Mean(rows.Select(r => r.Dsm).ToList())!,
                rows.Average(r => r.LlmLoss), rows.Average(r => r.Seconds));
        }).ToList();
    }

    /// <summary>
    /// A trial's score on one seed. Each part is the model's monitored validation metric at the round it kept over the
    /// stage-0 DSM's (round 0). When stage 0 scored 0 the ratio is undefined, and the part is 1 + the metric (the gain
    /// counted as it is); an LLM with no round (rounds = 0) gets part 0.
    /// </summary>
    static SeedTrial ScoreOf(Trial trial, int seed, TrialOutcome o, string monitor)
    {
        var round0 = o.Rounds.FirstOrDefault(r => r.Round == 0)
            ?? throw new InvalidOperationException($"trial {trial.Id}: the BDLM run reported no round 0 (the stage-0 DSM)");
        double stage0 = Metric(round0.Dsm, monitor, trial, "stage-0 DSM");
        double Part(double v) => double.IsNaN(v) ? 0 : stage0 > 0 ? v / stage0 : 1 + v;
        var dsmRound = o.Rounds.First(r => r.Round == o.BestDsmRound);
        double dsm = Metric(dsmRound.Dsm, monitor, trial, "BDLM-DSM");
        var llmRound = o.Rounds.FirstOrDefault(r => r.Round == o.BestLlmRound && r.Llm is not null);
        double llm = llmRound is null ? double.NaN : Metric(llmRound.Llm!, monitor, trial, "BDLM-LLM");
        var dsmScore = new ModelScore(o.BestDsmRound, dsm, Part(dsm));
        var llmScore = new ModelScore(o.BestLlmRound, llm, Part(llm));
        return new SeedTrial
        {
            Seed = seed, Stage0Key = o.Stage0Key, Stage0Reused = o.Stage0Reused, Stage0Seconds = o.Stage0Seconds,
            Stage0Value = stage0, Dsm = dsmScore, Llm = llmScore, Score = (dsmScore.Part + llmScore.Part) / 2, Rounds = o.Rounds.ToList(),
        };
    }

    static double Metric(IReadOnlyDictionary<string, double> m, string monitor, Trial trial, string model) =>
        m.TryGetValue(monitor, out double v) ? v
            : throw new InvalidOperationException($"trial {trial.Id}: the {model}'s validation metrics have no {monitor} (they have {string.Join(", ", m.Keys)})");

    /// <summary>The highest finite score; ties go to the earlier trial (the baseline first).</summary>
    public static TrialRecord? Best(IEnumerable<TrialRecord> trials) =>
        trials.Where(t => double.IsFinite(t.Score)).OrderByDescending(t => t.Score).ThenBy(t => t.Id).FirstOrDefault();

    static string Line(TrialRecord t, string monitor) => FormattableString.Invariant(
        $"trial {t.Id}: score {t.Score:F4} = mean of BDLM-DSM {monitor} {t.Dsm.Value:F4} (round {Kept(t, true)}, x{t.Dsm.Part:F3}) and BDLM-LLM {t.Llm.Value:F4} (round {Kept(t, false)}, x{t.Llm.Part:F3}) over stage 0's {t.Stage0Value:F4}{(t.Stage0Reused ? " (reused)" : "")}")
        + (t.Seeds is { } seeds ? FormattableString.Invariant($"; means over seeds {string.Join(", ", seeds.Select(x => x.Seed))}, whose scores are {string.Join(", ", seeds.Select(x => x.Score.ToString("F4", CultureInfo.InvariantCulture)))}") : "")
        + FormattableString.Invariant($"; {t.Seconds:F1}s");

    /// <summary>The round a model kept: one seed's, or each seed's in order.</summary>
    static string Kept(TrialRecord t, bool dsm) => t.Seeds is { } seeds
        ? string.Join(", ", seeds.Select(x => (dsm ? x.Dsm : x.Llm).BestRound))
        : (dsm ? t.Dsm : t.Llm).BestRound.ToString(CultureInfo.InvariantCulture);

    /// <summary>trials.json, chosen.json (when a trial finished) and tune.md, each atomically.</summary>
    static void Write(TunePlan plan, TrialsFile file, string? stop)
    {
        file.Save(plan.OutDir);
        var best = Best(file.Trials);
        if (best is not null)
            AtomicFile.WriteAllText(Path.Combine(plan.OutDir, ChosenFile), ConfigJson.Fragment(best.Settings).ToJsonString(Json.Indented) + "\n");
        AtomicFile.WriteAllText(Path.Combine(plan.OutDir, ReportFile), Markdown(plan, file, best, stop));
    }

    static string Markdown(TunePlan plan, TrialsFile file, TrialRecord? best, string? stop)
    {
        static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        string monitor = plan.Base.Monitor;
        var md = new StringBuilder();
        md.AppendLine($"# Tune {plan.Base.Name}: {plan.Dataset.Name}").AppendLine();
        md.AppendLine(F($"Validation only (no test figure is computed). Score = mean of BDLM-DSM and BDLM-LLM `{monitor}` at the round each kept, each over the stage-0 DSM's (1.0 = no gain). ")
            + (plan.TrainSeeds.Count > 1 ? F($"On several training seeds each value is the mean over them, and the rounds kept are each seed's. ") : "")
            + F($"Config `{plan.ConfigPath}`, search seed {plan.SearchSeed}, {Seeds(plan)}, {plan.Space.Size} combinations, {file.Trials.Count} trial(s) finished")
            + (stop is null ? " so far." : $"; stopped: {stop}.")).AppendLine();
        var keys = plan.Space.Keys;
        md.AppendLine("| trial | " + string.Join(" | ", keys) + $" | stage 0 | DSM {monitor} (round) | LLM {monitor} (round) | score | seconds |");
        md.AppendLine("|---|" + string.Concat(keys.Select(_ => "---|")) + "---|---|---|---|---|");
        foreach (var t in file.Trials.OrderBy(t => t.Id))
        {
            string id = t.Id.ToString(CultureInfo.InvariantCulture) + (t.Baseline ? " (baseline)" : "") + (ReferenceEquals(t, best) ? " **chosen**" : "");
            md.AppendLine($"| {id} | " + string.Join(" | ", keys.Select(k => ConfigJson.Show(t.Settings.GetValueOrDefault(k))))
                + F($" | {t.Stage0Value:F4} | {t.Dsm.Value:F4} ({Kept(t, true)}) | {t.Llm.Value:F4} ({Kept(t, false)}) | {t.Score:F4} | {t.Seconds:F0} |"));
        }
        md.AppendLine();
        md.AppendLine(best is null ? "No trial finished yet."
            : F($"Chosen: trial {best.Id}, score {best.Score:F4}; its settings are in `{ChosenFile}`: put `\"tuned\": \"{Path.Combine(plan.OutDir, ChosenFile)}\"` in an experiment config to run with them."));
        return md.ToString();
    }
}
