using System.CommandLine;
using BridgeRec.Data;
using Spectre.Console;

namespace BridgeRec.Cli;

/// <summary>data: load a dataset as training would and describe it (a quick check of one's own files).</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var c = new Command("data", "load a dataset, split it as configured, and print its statistics");
        Options.AddData(c);
        c.SetAction(p => Program.Guard(() =>
        {
            var config = Options.Resolve(p);
            var split = AnsiConsole.Status().Start("loading data", _ => DataSource.Load(config.Data));
            ConsoleUi.DatasetSummary(split);
            var d = split.Dataset;
            foreach (int i in Enumerable.Range(0, Math.Min(3, d.NumItems)))
                AnsiConsole.MarkupLine(Markup.Escape($"item {d.Items.Original(i)}: {d.TextOf(i)?.Render() ?? "(no text)"}"));
            return 0;
        }));
        return c;
    }
}
