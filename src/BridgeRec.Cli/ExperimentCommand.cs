using System.CommandLine;
using System.Globalization;
using BridgeRec.Bridge.Experiments;

namespace BridgeRec.Cli;

/// <summary>experiment: run a whole experiment from a JSON file (datasets x seeds x methods), resumable, with a report.</summary>
public static class ExperimentCommand
{
    static readonly Option<string> ConfigFile = new("--config") { Description = "experiment JSON (see experiments/); relative paths in it are read against the parent of its folder", Required = true };
    static readonly Option<string?> Out = new("--out") { Description = "output folder (default: the config's output, else results/<name>)" };
    static readonly Option<string?> Seeds = new("--seeds") { Description = "seeds to run, comma-separated (overrides the config's)" };
    static readonly Option<string?> Methods = new("--methods") { Description = "methods to run, comma-separated: " + string.Join(", ", ExperimentConfig.AllMethods) + " (click-through data: " + string.Join(", ", ExperimentConfig.CtrMethods) + ")" };

    static readonly Option<bool> ReportOnly = new("--report-only") { Description = "rewrite report.md and the charts from the output folder's results.json; run nothing" };

    public static Command Create()
    {
        var c = new Command("experiment", "run an experiment (stage 0, baselines, one-way, BDLM) and write results.json, report.md and charts; finished runs are skipped on a rerun");
        c.Options.Add(ConfigFile);
        c.Options.Add(Out);
        c.Options.Add(Seeds);
        c.Options.Add(Methods);
        c.Options.Add(Options.Backbone);
        c.Options.Add(Options.Overwrite);
        c.Options.Add(ReportOnly);
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            string? backbone = Options.BackboneName(p); // checked before the config is read
            var config = ExperimentConfig.FromJsonFile(p.GetValue(ConfigFile)!);
            if (p.GetValue(Out) is { } outDir) config = config with { Output = Path.GetFullPath(outDir) };
            if (p.GetValue(Seeds) is { } seeds)
                config = config with { Seeds = Options.ParseSeeds(seeds, "--seeds") };
            if (p.GetValue(Methods) is { } methods)
                config = config with { Methods = methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
            if (backbone is not null) config = config with { Backbone = config.Backbone with { Name = backbone } };
            var start = DateTime.Now;
            void Log(string line) => Console.WriteLine($"[{(DateTime.Now - start).TotalSeconds,7:F1}s] {line}");
            if (config.Tuned is { } tuned) Log($"settings merged from the tuned file {tuned}");
            if (p.GetValue(ReportOnly))
            {
                Console.WriteLine($"report:  {ExperimentRunner.ReportOnly(config, Log)}");
                return 0;
            }
            var summary = ExperimentRunner.Run(config, Log, ct, p.GetValue(Options.Overwrite));
            Console.WriteLine($"{summary.RowsRun} rows run, {summary.RowsSkipped} already done; {summary.Seconds:F0}s");
            Console.WriteLine($"results: {summary.ResultsPath}");
            Console.WriteLine($"report:  {summary.ReportPath}");
            return 0;
        }));
        return c;
    }
}
