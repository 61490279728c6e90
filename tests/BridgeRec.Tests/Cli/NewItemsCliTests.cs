using BridgeRec.Data;
using BridgeRec.Evaluation;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using BridgeRec.Tests.Serving;
using Spectre.Console;
using static TorchSharp.torch;

namespace BridgeRec.Tests.Cli;

/// <summary>recommend --via llm --new-items FILE: items never in training ranked among the catalog by their text, and its errors.</summary>
[Collection("console")]
public class NewItemsCliTests
{
    static int Run(params string[] args) => BridgeRec.Cli.Program.Main(args).GetAwaiter().GetResult();

    /// <summary>Runs the program with what it prints (the Spectre console and stderr) captured.</summary>
    static (int Code, string Out, string Err) Captured(params string[] args)
    {
        var output = new StringWriter();
        var errors = new StringWriter();
        var oldConsole = AnsiConsole.Console;
        var oldError = Console.Error;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 400; // one line per table row
        AnsiConsole.Console = console;
        Console.SetError(errors);
        try { return (Run(args), output.ToString(), errors.ToString()); }
        finally
        {
            AnsiConsole.Console = oldConsole;
            Console.SetError(oldError);
        }
    }

    /// <summary>The cells of a table row (Unicode or ASCII borders); [0] and [^1] are the empty outsides.</summary>
    static string[] Cells(string line) => line.Split(['│', '|'], StringSplitOptions.TrimEntries);

    static string Quoted(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    [Fact]
    public void NewItemsAreRankedAndMarkedAmongTheCatalog()
    {
        string dir = ServingFolders.TextTower;
        var (_, split, dsm) = DsmFolder.Load(dir);
        (dsm as IDisposable)?.Dispose();
        var d = split.Dataset;
        var texts = TextFeatures.Texts(d);
        var fresh = Enumerable.Range(0, 20).Select(j => new NewItem($"cli-new-{j}", texts[(j * 71 + 11) % d.NumItems])).ToList();
        using var tmp = new TestData.TempDir();
        string csv = tmp.File("new.csv");
        File.WriteAllText(csv, "item_id,text\n" + string.Join("\n", fresh.Select(x => $"{x.Id},{Quoted(x.Text)}")) + "\n");

        var (code, output, err) = Captured("recommend", "--model", dir, "--user", "3", "--via", "llm", "--new-items", csv, "-k", "1000");
        Assert.True(code == 0, err);

        // The reference: catalog scores and new-item scores taken apart (ScoreAll, ScoreNewItems), then ranked together.
        int user = d.Users["3"];
        var seen = new UserItemIndex(d.NumUsers, d.NumItems, split.Train, split.Validation);
        int[] top;
        using (var llm = LlmFolder.Load(dir, split))
        using (var encoder = new TextEncoder())
        {
            using var emb = encoder.Embed(fresh.Select(x => x.Text).ToArray());
            // The encoder makes the catalog's own features: a new item with a catalog item's text has that item's embedding.
            using var features = TextFeatures.LoadOrCompute(d, TrainConfig.DefaultCacheDir());
            using var idx = tensor(Enumerable.Range(0, 20).Select(j => (long)((j * 71 + 11) % d.NumItems)).ToArray());
            using var catalogRows = features.index_select(0, idx);
            Assert.True(allclose(emb, catalogRows, rtol: 0, atol: 1e-4));

            using var catalog = llm.ScoreAll([user]);
            using var fresher = llm.ScoreNewItems([user], emb);
            var row = catalog[0].data<float>().ToArray().Concat(fresher[0].data<float>().ToArray()).Select(x => (double)x).ToArray();
            top = RankOrder.TopOfRow(row, seen.ItemsOf(user), 1000);
        }
        var newInTop = top.Where(i => i >= d.NumItems).Select(i => fresh[i - d.NumItems].Id).ToList();
        Assert.NotEmpty(newInTop);
        Assert.Contains($"({newInTop.Count} new in the top 1000)", output);
        var lines = output.Split('\n');
        foreach (string id in newInTop)
        {
            int rank = Array.IndexOf(top, d.NumItems + fresh.FindIndex(x => x.Id == id)) + 1;
            var line = lines.Single(l => l.Contains($" {id} ", StringComparison.Ordinal));
            var cells = Cells(line);
            Assert.Equal(rank.ToString(System.Globalization.CultureInfo.InvariantCulture), cells[1]);
            Assert.Equal("new", cells[5]);
        }
        Assert.Equal(newInTop.Count, lines.Count(l => Cells(l) is { Length: > 6 } c && c[5] == "new" && int.TryParse(c[1], out _)));
    }

    [Fact]
    public void NewItemErrorsNameTheFileLineValueOrOption()
    {
        using var tmp = new TestData.TempDir();
        string good = tmp.File("good.csv");
        File.WriteAllText(good, "item_id,text\nn1,\"Heat (1995), Action, Crime, Thriller\"\n");

        var dsmPath = Captured("recommend", "--model", ServingFolders.Mf, "--user", "3", "--new-items", good);
        Assert.Equal(2, dsmPath.Code);
        Assert.Contains("only --via llm", dsmPath.Err);

        string bad = tmp.File("bad.csv");
        File.WriteAllText(bad, "item_id,text\nn1,Heat\nn1,Ronin\n");
        var dup = Captured("recommend", "--model", ServingFolders.TextTower, "--user", "3", "--via", "llm", "--new-items", bad);
        Assert.Equal(2, dup.Code);
        Assert.Contains($"{bad}:3: duplicate item id (value 'n1')", dup.Err);

        string clash = tmp.File("clash.csv");
        File.WriteAllText(clash, "item_id,text\nn1,Heat\n49,Star Wars (1977)\n");
        var collides = Captured("recommend", "--model", ServingFolders.TextTower, "--user", "3", "--via", "llm", "--new-items", clash);
        Assert.Equal(2, collides.Code);
        Assert.Contains($"{clash}:3: item id already in the catalog (value '49')", collides.Err);

        var missing = Captured("recommend", "--model", ServingFolders.TextTower, "--user", "3", "--via", "llm", "--new-items", tmp.File("none.csv"));
        Assert.Equal(2, missing.Code);
        Assert.Contains("new items file not found", missing.Err);

        // An LLM without the item-text tower says how to train one that has it.
        var idOnly = Captured("recommend", "--model", ServingFolders.Bdlm, "--user", "3", "--via", "llm", "--new-items", good);
        Assert.Equal(2, idOnly.Code);
        Assert.Contains("item-text tower", idOnly.Err);
        Assert.Contains("bridgerec bdlm", idOnly.Err);
    }
}
