using System.CommandLine;
using BridgeRec.Bridge.Tuning;

namespace BridgeRec.Cli;

/// <summary>tune: choose an experiment's BDLM settings on validation only, within a time budget; resumable.</summary>
public static class TuneCommand
{
    static readonly Option<string> ConfigFile = new("--config") { Description = "experiment JSON (see experiments/); its \"tune\" section gives the search space (default: BDLM's loop settings)", Required = true };
    static readonly Option<double?> Budget = new("--budget") { Description = "wall-clock minutes for this call (default: the config's tune.budget_minutes); a trial that would not fit is not started, one still running at the end is cancelled" };
    static readonly Option<string?> Out = new("--out") { Description = "output folder: trials.json, chosen.json, tune.md (default: the config's output folder + \"-tune\")" };
    static readonly Option<int?> Trials = new("--trials") { Description = "at most this many trials, the baseline (the config's own settings) included" };
    static readonly Option<int?> Seed = new("--seed") { Description = "seed of the search order (default: tune.seed, else 1)" };
    static readonly Option<string?> TrainSeeds = new("--seeds") { Description = "comma-separated seeds every trial trains with; its score is the mean over them (default: tune.seeds, else the config's first seed)" };

    public static Command Create()
    {
        var c = new Command("tune", "search BDLM settings on the validation split of the config's first dataset (stage 0 trained once per DSM settings; no test figure computed) and write trials.json, chosen.json and tune.md; finished trials are skipped on a rerun");
        c.Options.Add(ConfigFile);
        c.Options.Add(Budget);
        c.Options.Add(Out);
        c.Options.Add(Trials);
        c.Options.Add(Seed);
        c.Options.Add(TrainSeeds);
        c.Options.Add(Options.Overwrite);
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            var start = DateTime.Now;
            void Log(string line) => Console.WriteLine($"[{(DateTime.Now - start).TotalSeconds,7:F1}s] {line}");
            var request = new TuneRequest
            {
                ConfigPath = p.GetValue(ConfigFile)!,
                OutDir = p.GetValue(Out) is { } o ? Path.GetFullPath(o) : null,
                BudgetMinutes = p.GetValue(Budget),
                Trials = p.GetValue(Trials),
                Seed = p.GetValue(Seed),
                Seeds = p.GetValue(TrainSeeds) is { } list ? Options.ParseSeeds(list, "--seeds") : null,
                Overwrite = p.GetValue(Options.Overwrite),
            };
            TuneSummary summary;
            try { summary = Tuner.Run(request, Log, ct); }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("stopped: finished trials are in trials.json; the same command again continues after them");
                return 130;
            }
            Console.WriteLine($"{summary.TrialsRun} trials run, {summary.TrialsSkipped} done earlier; {summary.Seconds:F0}s; stopped: {summary.StopReason}");
            Console.WriteLine($"trials: {summary.TrialsPath}");
            Console.WriteLine($"report: {summary.ReportPath}");
            if (summary.Chosen is not null) Console.WriteLine($"chosen: {summary.ChosenPath} (trial {summary.Chosen.Id}, score {summary.Chosen.Score:F4})");
            return 0;
        }));
        return c;
    }
}
