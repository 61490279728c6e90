using System.CommandLine;
using BridgeRec.Data;
using BridgeRec.Native;
using Spectre.Console;

namespace BridgeRec.Cli;

public static class Program
{
    static readonly Option<string?> Threads = new("--threads")
    {
        Description = "threads of torch's CPU pool: 'auto' (default: every core; LightGCN / MF training and LLM serving use the cores nothing else on this machine is using) or a number; also BRIDGEREC_THREADS",
        Recursive = true,
    };

    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("BridgeRec: a domain recommender and a language model that improve each other through a shared module (BDLM).");
        root.Subcommands.Add(TrainCommands.Train());
        root.Subcommands.Add(TrainCommands.Eval());
        root.Subcommands.Add(TrainCommands.Recommend());
        root.Subcommands.Add(BdlmCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(BenchCommands.Create());
        root.Subcommands.Add(ExperimentCommand.Create());
        root.Subcommands.Add(TuneCommand.Create());
        root.Subcommands.Add(ExplainCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Options.Add(Threads);
        var parsed = root.Parse(args);
        try
        {
            if (parsed.GetValue(Threads) is string threads) ThreadBudget.Fixed = ThreadBudget.Parse(threads);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        return await parsed.InvokeAsync();
    }

    /// <summary>Runs a verb with the project's error policy: known input problems print one clear line and exit 2.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]stopped[/]: run the same command with --resume to continue from the last checkpoint");
            return 130;
        }
        catch (Exception e) when (e is DataFormatException or FileNotFoundException or DirectoryNotFoundException
                                       or ArgumentException or InvalidDataException or InvalidOperationException
                                       or KeyNotFoundException or Data.Download.DatasetUnavailableException
                                       or Data.Download.DatasetVerificationException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            if (Environment.GetEnvironmentVariable("BRIDGEREC_DEBUG") == "1") Console.Error.WriteLine(e);
            return 2;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("BRIDGEREC_DEBUG") == "1") Console.Error.WriteLine(e);
            else Console.Error.WriteLine("(set BRIDGEREC_DEBUG=1 for the stack trace)");
            return 1;
        }
    }

    public static Task<int> Guard(Func<int> body) => Guard(() => Task.FromResult(body()));
}
