using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BridgeRec.Data;
using BridgeRec.Domain;
using BridgeRec.Evaluation;
using BridgeRec.Models;
using BridgeRec.Native;
using Spectre.Console;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BridgeRec.Cli;

/// <summary>
/// bench scale: the cost curve of the DSMs on synthetic power-law data of growing size. For each size and model it
/// times BPR training (the one DSM loop, <see cref="DsmTrainer"/>, on the model's own objective) and a full-ranking
/// test (<see cref="RankingEvaluator"/>: all items, train items excluded, K = 20), and reads the process's peak
/// resident memory. By default each (size, model) runs in a fresh child process so that its peak is its own.
/// </summary>
public static class ScaleBench
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    sealed record Settings(
        long[] Sizes, string[] Models, int Epochs, int MaxBatches, int WarmupBatches, int EvalUsers, int PerUser, int PerItem,
        double UserZipf, double ItemZipf, int Seed, int Dim, int Layers, int Batch, string Device);

    public static Command Create()
    {
        var sizes = new Option<string>("--sizes") { Description = "data set sizes in interactions (train + test), comma-separated; K and M suffixes", DefaultValueFactory = _ => "1M,5M,20M" };
        var models = new Option<string>("--models") { Description = "lightgcn, mf, or both comma-separated", DefaultValueFactory = _ => "lightgcn,mf" };
        var epochs = new Option<int>("--epochs") { Description = "timed training epochs per model", DefaultValueFactory = _ => 1 };
        var maxBatches = new Option<int>("--max-batches") { Description = "batches run per epoch: a longer epoch stops there and its time is projected from the mean batch (0: whole epochs)", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup-batches") { Description = "the run's first batches, timed but left out of the mean (first use of each operator and of the memory)", DefaultValueFactory = _ => 3 };
        var evalUsers = new Option<int>("--eval-users") { Description = "users ranked in the timed full-ranking test, evenly spaced, after one untimed batch of others; the time for all users is projected from them (0: all users, no warm-up)", DefaultValueFactory = _ => 2048 };
        var perUser = new Option<int>("--per-user") { Description = "users = interactions / this", DefaultValueFactory = _ => 40 };
        var perItem = new Option<int>("--per-item") { Description = "items = interactions / this", DefaultValueFactory = _ => 40 };
        var userZipf = new Option<double>("--user-zipf") { Description = "Zipf exponent of user activity", DefaultValueFactory = _ => 0.5 };
        var itemZipf = new Option<double>("--item-zipf") { Description = "Zipf exponent of item popularity", DefaultValueFactory = _ => 0.7 };
        var seed = new Option<int>("--seed") { Description = "seed of the data, the initialisation and the sampling", DefaultValueFactory = _ => 2026 };
        var inProcess = new Option<bool>("--in-process") { Description = "run every size and model in this process (peak RSS is then the process's, cumulative) instead of one fresh child process each" };
        var c = new Command("scale", "seconds per epoch, full-ranking test time and peak memory of LightGCN and MF on synthetic power-law data of growing size")
        {
            sizes, models, epochs, maxBatches, warmup, evalUsers, perUser, perItem, userZipf, itemZipf, seed, inProcess,
            Options.Dim, Options.Layers, Options.Batch, Options.Device,
        };
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            var s = new Settings(
                ParseSizes(p.GetValue(sizes)!), ParseModels(p.GetValue(models)!), p.GetValue(epochs), p.GetValue(maxBatches), p.GetValue(warmup), p.GetValue(evalUsers),
                p.GetValue(perUser), p.GetValue(perItem), p.GetValue(userZipf), p.GetValue(itemZipf), p.GetValue(seed),
                p.GetValue(Options.Dim) ?? 64, p.GetValue(Options.Layers) ?? 3, p.GetValue(Options.Batch) ?? 2048, p.GetValue(Options.Device) ?? "cpu");
            if (s.Epochs < 1) throw new ArgumentException($"--epochs must be >= 1 (got {s.Epochs})");
            if (s.MaxBatches < 0 || s.EvalUsers < 0) throw new ArgumentException("--max-batches and --eval-users must be >= 0 (0: all)");
            if (s.WarmupBatches < 0 || (s.MaxBatches > 0 && s.WarmupBatches >= s.MaxBatches * s.Epochs))
                throw new ArgumentException($"--warmup-batches must be >= 0 and leave timed batches: below --max-batches x --epochs ({s.MaxBatches * s.Epochs})");
            if (s.Dim < 1 || s.Layers < 0 || s.Batch < 1) throw new ArgumentException("--dim and --batch must be >= 1 and --layers >= 0");
            foreach (long n in s.Sizes) Data(s, n).Validate(); // every size's shape is checked before the first one runs
            TorchRuntime.Device(s.Device); // --device cuda without the CUDA package: one clear error here, not one per child

            bool isolated = !p.GetValue(inProcess);
            if (!isolated && Environment.GetEnvironmentVariable(ChildVariable) == "1") ExitWithParent();
            var runs = new List<JsonObject>();
            int total = s.Sizes.Length * s.Models.Length, k = 0;
            bool failed = false;
            foreach (long n in s.Sizes)
                foreach (string m in s.Models)
                {
                    k++;
                    if (isolated || total > 1) Progress(Tag(n, m), string.Create(Inv, $"run {k}/{total}{(isolated ? ", fresh child process" : "")}"));
                    var run = isolated ? RunChild(s, n, m, ct) : RunOne(s, n, m, ct);
                    run["peak_rss_scope"] = isolated ? "per run (fresh process)" : "cumulative (one process, --in-process)";
                    failed |= run.ContainsKey("error");
                    runs.Add(run);
                }

            var t = new Table()
                .AddColumn("size").AddColumn("model").AddColumn(new TableColumn("batches").RightAligned())
                .AddColumn(new TableColumn("s/epoch").RightAligned()).AddColumn(new TableColumn("CPU-s/epoch").RightAligned())
                .AddColumn(new TableColumn("test s").RightAligned()).AddColumn(new TableColumn("test CPU-s").RightAligned())
                .AddColumn(new TableColumn("peak MB").RightAligned());
            foreach (var r in runs)
            {
                string size = SizeLabel(r["interactions"]!.GetValue<long>());
                if (r["error"] is { } err)
                {
                    t.AddRow(size, Markup.Escape(r["model"]!.GetValue<string>()), Markup.Escape("failed: " + err.GetValue<string>()), "", "", "", "", "");
                    continue;
                }
                string Num(string key, string fmt) => r[key]!.GetValue<double>().ToString(fmt, Inv);
                string epochMark = r["epoch_projected"]!.GetValue<bool>() ? "*" : "", evalMark = r["eval_projected"]!.GetValue<bool>() ? "*" : "";
                t.AddRow(size, Markup.Escape(r["model"]!.GetValue<string>()), r["batches_per_epoch"]!.GetValue<int>().ToString("N0", Inv),
                    Num("sec_per_epoch", "N1") + epochMark, Num("cpu_sec_per_epoch", "N1") + epochMark,
                    Num("eval_seconds", "N1") + evalMark, Num("eval_cpu_seconds", "N1") + evalMark, Num("peak_rss_mb", "N0"));
            }
            t.Caption(Markup.Escape(string.Create(Inv,
                $"size: interactions; users = size/{s.PerUser}, items = size/{s.PerItem}. CPU-s: the process's CPU seconds. test: full ranking, top-20. "
                + $"* projected from the timed batches or users. Peak RSS {(isolated ? "per run" : "cumulative")}.")));
            AnsiConsole.Write(t);

            var json = new JsonObject
            {
                ["bench"] = "scale",
                ["isolation"] = isolated ? "child process per run" : "one process",
                ["epochs"] = s.Epochs, ["max_batches"] = s.MaxBatches, ["warmup_batches"] = s.WarmupBatches, ["eval_users"] = s.EvalUsers,
                ["per_user"] = s.PerUser, ["per_item"] = s.PerItem, ["user_zipf"] = s.UserZipf, ["item_zipf"] = s.ItemZipf, ["seed"] = s.Seed,
                ["cores"] = Environment.ProcessorCount,
                ["runs"] = new JsonArray(runs.Select(r => (JsonNode)r).ToArray()),
            };
            Console.WriteLine(json.ToJsonString());
            return failed ? 1 : 0;
        }));
        return c;
    }

    static SyntheticOptions Data(Settings s, long n) => new()
    {
        Interactions = n, PerUser = s.PerUser, PerItem = s.PerItem, UserExponent = s.UserZipf, ItemExponent = s.ItemZipf, Seed = s.Seed,
    };

    /// <summary>One size and model, here: data, model, timed epochs, timed full-ranking test, memory.</summary>
    static JsonObject RunOne(Settings s, long n, string modelName, CancellationToken ct)
    {
        string tag = Tag(n, modelName);
        double loadStart = LoadAverage();
        var clock = Stopwatch.StartNew();
        var dataOptions = Data(s, n);
        Progress(tag, string.Create(Inv, $"generating {n:N0} interactions over {dataOptions.NumUsers:N0} users x {dataOptions.NumItems:N0} items"));
        var split = SyntheticInteractions.Generate(dataOptions, line => Progress(tag, "  " + line));
        double genSeconds = clock.Elapsed.TotalSeconds;
        var trainIndex = new UserItemIndex(split.Dataset.NumUsers, split.Dataset.NumItems, split.Train);
        var evaluator = RankingEvaluator.ForTest(split, new RankingOptions { Ks = [20] });
        double rssData = Status("VmRSS");
        Progress(tag, string.Create(Inv, $"data in {genSeconds:F1}s: train {split.Train.Count:N0}, test {split.Test.Count:N0}; RSS {rssData:N0} MB"));

        var options = new DsmOptions { Epochs = s.Epochs, Batch = s.Batch, Seed = s.Seed, EvalEvery = int.MaxValue, Patience = 0, Monitor = "none" };
        var config = new TrainConfig { Model = modelName, Dim = s.Dim, Layers = s.Layers, Ks = [20], Device = s.Device, Train = options };
        clock.Restart();
        using var model = (DomainModel)DsmFactory.Build(config, split, trainIndex);
        double buildSeconds = clock.Elapsed.TotalSeconds;
        double parametersMb = model.parameters().Sum(t => t.NumberOfElements * t.ElementSize) / Mb;
        double graphMb = model is LightGcn g ? (g.Graph.RowPtr.LongLength + g.Graph.Cols.LongLength + g.Graph.Values.LongLength) * 4 / Mb : 0;
        Progress(tag, string.Create(Inv, $"model built in {buildSeconds:F1}s: parameters {parametersMb:N0} MB{(graphMb > 0 ? $", graph {graphMb:N0} MB" : "")}"));

        // Training: the one DSM loop on the model's own objective, cut at --max-batches per epoch.
        var objective = new TimedObjective(model.RankingObjective(trainIndex, options), s.MaxBatches);
        var batchSeconds = new List<double>();
        var batchCpuSeconds = new List<double>();
        long mark = 0, lastPrint = Stopwatch.GetTimestamp();
        TimeSpan cpuMark = TimeSpan.Zero;
        var trainer = new DsmTrainer(options)
        {
            OnBatch = b =>
            {
                long now = Stopwatch.GetTimestamp();
                var cpu = CpuTime();
                bool firstOfEpoch = objective.BatchesStartedAt > mark;
                batchSeconds.Add(Stopwatch.GetElapsedTime(firstOfEpoch ? objective.BatchesStartedAt : mark, now).TotalSeconds);
                batchCpuSeconds.Add((cpu - (firstOfEpoch ? objective.CpuAtBatchesStart : cpuMark)).TotalSeconds);
                mark = now; cpuMark = cpu;
                if (Stopwatch.GetElapsedTime(lastPrint, now).TotalSeconds >= 10 || b.Batch == b.Batches)
                {
                    lastPrint = now;
                    Progress(tag, string.Create(Inv,
                        $"epoch {b.Epoch}/{s.Epochs}: batch {b.Batch}/{b.Batches} timed of {objective.FullBatches:N0}, {batchSeconds.Average():F3}s/batch, loss {b.Loss:F4}"));
                }
            },
        };
        var fit = trainer.Fit(model, objective, _ => new Dictionary<string, double> { ["none"] = 0 }, ct: ct);
        if (fit.StopReason == "cancelled") throw new OperationCanceledException();
        double peakTrain = Status("VmHWM");
        // The run's first batches carry one-off costs (first use of each operator, memory first touched); the mean leaves them out.
        int skip = Math.Min(s.WarmupBatches, batchSeconds.Count - 1);
        double firstBatch = batchSeconds[0];
        double perBatch = batchSeconds.Skip(skip).Average();
        double cpuPerBatch = batchCpuSeconds.Skip(skip).Average();
        double sampling = objective.SamplingSeconds.Average();
        bool epochProjected = objective.FullBatches > objective.TimedBatchesPerEpoch;
        double perEpoch = epochProjected ? sampling + perBatch * objective.FullBatches : BenchCommands.Median(fit.EpochSeconds);
        // CPU seconds of the process: what the work costs whatever else shares the cores (on a shared machine wall time is mostly waiting).
        double samplingCpu = objective.SamplingCpuSeconds.Average();
        double cpuPerEpoch = samplingCpu + cpuPerBatch * objective.FullBatches;
        Progress(tag, string.Create(Inv,
            $"training: {perBatch:F3}s/batch ({cpuPerBatch:F3} CPU-s), sampling {sampling:F1}s, {perEpoch:N1}s/epoch ({cpuPerEpoch:N1} CPU-s){(epochProjected ? $" (projected from batches {skip + 1}-{batchSeconds.Count} of {objective.FullBatches:N0})" : "")}; peak RSS {peakTrain:N0} MB"));

        // Full ranking: the final embeddings once (LightGCN's propagation), then the evaluator over the timed users.
        clock.Restart();
        var embedCpu = CpuTime();
        model.FinalEmbeddings();
        double embedSeconds = clock.Elapsed.TotalSeconds;
        double embedCpuSeconds = (CpuTime() - embedCpu).TotalSeconds;
        var all = evaluator.Users;
        int m = s.EvalUsers == 0 || s.EvalUsers >= all.Count ? all.Count : s.EvalUsers;
        var timedUsers = Enumerable.Range(0, m).Select(k => all[(int)((long)k * all.Count / m)]).ToArray();
        if (m < all.Count)
        {
            // One untimed batch of other users first: the first score matrix of this size is allocated and touched here.
            var timed = timedUsers.ToHashSet();
            var warm = all.Where(u => !timed.Contains(u)).Take(evaluator.Options.BatchSize).ToArray();
            if (warm.Length > 0) evaluator.Evaluate(model.ScoreAll, warm);
        }
        int batchesDone = 0, evalBatches = (m + evaluator.Options.BatchSize - 1) / evaluator.Options.BatchSize;
        lastPrint = Stopwatch.GetTimestamp();
        var evalCpu = CpuTime();
        var result = evaluator.Evaluate(users =>
        {
            var scores = model.ScoreAll(users);
            batchesDone++;
            if (Stopwatch.GetElapsedTime(lastPrint).TotalSeconds >= 10) { lastPrint = Stopwatch.GetTimestamp(); Progress(tag, $"full ranking: scored batch {batchesDone}/{evalBatches}"); }
            return scores;
        }, timedUsers);
        double evalCpuSeconds = (CpuTime() - evalCpu).TotalSeconds;
        bool evalProjected = m < all.Count;
        double evalSeconds = embedSeconds + result.ElapsedSeconds * all.Count / m;
        double evalCpuAll = embedCpuSeconds + evalCpuSeconds * all.Count / m;
        double peak = Status("VmHWM");
        Progress(tag, string.Create(Inv,
            $"full ranking of {m:N0}{(evalProjected ? $" of {all.Count:N0}" : "")} users in {result.ElapsedSeconds:F1}s (+{embedSeconds:F1}s embedding): {evalSeconds:N1}s ({evalCpuAll:N1} CPU-s) for all{(evalProjected ? " (projected)" : "")}; peak RSS {peak:N0} MB"));

        return new JsonObject
        {
            ["interactions"] = n,
            ["model"] = modelName,
            ["users"] = split.Dataset.NumUsers,
            ["items"] = split.Dataset.NumItems,
            ["train_interactions"] = split.Train.Count,
            ["test_interactions"] = split.Test.Count,
            ["dim"] = s.Dim, ["layers"] = modelName == "lightgcn" ? s.Layers : 0, ["batch"] = s.Batch, ["device"] = s.Device,
            ["gen_seconds"] = Math.Round(genSeconds, 2),
            ["build_seconds"] = Math.Round(buildSeconds, 2),
            ["epochs_timed"] = fit.EpochsRun,
            ["batches_per_epoch"] = objective.FullBatches,
            ["batches_timed"] = batchSeconds.Count,
            ["first_batch_seconds"] = Math.Round(firstBatch, 4),
            ["batches_averaged"] = batchSeconds.Count - skip,
            ["batch_seconds"] = new JsonArray(batchSeconds.Select(x => (JsonNode)Math.Round(x, 4)).ToArray()),
            ["batch_cpu_seconds"] = new JsonArray(batchCpuSeconds.Select(x => (JsonNode)Math.Round(x, 3)).ToArray()),
            ["sec_per_batch"] = Math.Round(perBatch, 4),
            ["cpu_sec_per_batch"] = Math.Round(cpuPerBatch, 4),
            ["sampling_seconds"] = Math.Round(sampling, 3),
            ["sampling_cpu_seconds"] = Math.Round(samplingCpu, 3),
            ["sec_per_epoch"] = Math.Round(perEpoch, 2),
            ["cpu_sec_per_epoch"] = Math.Round(cpuPerEpoch, 2),
            ["epoch_projected"] = epochProjected,
            ["eval_users"] = all.Count,
            ["eval_users_timed"] = m,
            ["embed_seconds"] = Math.Round(embedSeconds, 3),
            ["embed_cpu_seconds"] = Math.Round(embedCpuSeconds, 3),
            ["eval_seconds_timed"] = Math.Round(result.ElapsedSeconds, 3),
            ["eval_cpu_seconds_timed"] = Math.Round(evalCpuSeconds, 3),
            ["eval_seconds"] = Math.Round(evalSeconds, 2),
            ["eval_cpu_seconds"] = Math.Round(evalCpuAll, 2),
            ["eval_projected"] = evalProjected,
            ["parameters_mb"] = Math.Round(parametersMb, 1),
            ["graph_mb"] = Math.Round(graphMb, 1),
            ["score_batch_mb"] = Math.Round((double)evaluator.Options.BatchSize * split.Dataset.NumItems * 4 / Mb, 1),
            ["rss_after_data_mb"] = Math.Round(rssData, 1),
            ["peak_rss_train_mb"] = Math.Round(peakTrain, 1),
            ["peak_rss_mb"] = Math.Round(peak, 1),
            ["threads"] = ThreadBudget.Fixed?.ToString(Inv) ?? "auto",
            ["load_avg_start"] = loadStart,
            ["load_avg_end"] = LoadAverage(),
        };
    }

    /// <summary>One size and model in a fresh copy of this program (<c>--in-process</c>, one size, one model); its progress lines are passed on.</summary>
    static JsonObject RunChild(Settings s, long n, string modelName, CancellationToken ct)
    {
        var (file, prefix) = SelfCommand();
        // The child's stdin is a pipe from here: when this process ends, however it ends, the child sees end of file and stops.
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.Environment[ChildVariable] = "1";
        foreach (string a in prefix) psi.ArgumentList.Add(a);
        string[] args =
        [
            "bench", "scale", "--in-process", "--sizes", n.ToString(Inv), "--models", modelName,
            "--epochs", s.Epochs.ToString(Inv), "--max-batches", s.MaxBatches.ToString(Inv), "--warmup-batches", s.WarmupBatches.ToString(Inv), "--eval-users", s.EvalUsers.ToString(Inv),
            "--per-user", s.PerUser.ToString(Inv), "--per-item", s.PerItem.ToString(Inv),
            "--user-zipf", s.UserZipf.ToString("R", Inv), "--item-zipf", s.ItemZipf.ToString("R", Inv), "--seed", s.Seed.ToString(Inv),
            "--dim", s.Dim.ToString(Inv), "--layers", s.Layers.ToString(Inv), "--batch", s.Batch.ToString(Inv), "--device", s.Device,
        ];
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (ThreadBudget.Fixed is int threads) { psi.ArgumentList.Add("--threads"); psi.ArgumentList.Add(threads.ToString(Inv)); }

        using var child = Process.Start(psi) ?? throw new InvalidOperationException($"bench scale: could not start {file}");
        using var stop = ct.Register(() => { try { child.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } });
        string? line, last = null;
        while ((line = child.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith('[')) Console.WriteLine(line);
            if (line.Length > 0) last = line;
        }
        child.WaitForExit();
        ct.ThrowIfCancellationRequested();
        JsonObject? run = null;
        try { run = JsonNode.Parse(last ?? "")?["runs"]?.AsArray().FirstOrDefault()?.AsObject(); }
        catch (System.Text.Json.JsonException) { }
        if (child.ExitCode == 0 && run is not null)
        {
            run.Parent?.AsArray().Remove(run);
            return run;
        }
        string why = child.ExitCode switch
        {
            137 => "exit 137: killed (most likely out of memory)",
            0 => "no result line",
            int code => string.Create(Inv, $"exit {code}"),
        };
        Progress(Tag(n, modelName), "failed: " + why);
        return new JsonObject { ["interactions"] = n, ["model"] = modelName, ["error"] = why };
    }

    const string ChildVariable = "BRIDGEREC_BENCH_SCALE_CHILD";

    /// <summary>In a child run: stop when the parent's end of the stdin pipe closes (the parent ended or was killed).</summary>
    static void ExitWithParent() => new Thread(() =>
    {
        try { while (Console.In.ReadLine() is not null) { } }
        catch (IOException) { }
        Console.Error.WriteLine("bench scale: the parent process ended; stopping this run");
        Environment.Exit(143);
    }) { IsBackground = true, Name = "parent watch" }.Start();

    /// <summary>How to start this program again: its own executable, or the dotnet host with this assembly.</summary>
    static (string File, string[] Prefix) SelfCommand()
    {
        string entry = typeof(ScaleBench).Assembly.Location;
        string? exe = Environment.ProcessPath;
        string name = Path.GetFileNameWithoutExtension(exe ?? "");
        if (exe is not null && name.Equals("bridgerec", StringComparison.OrdinalIgnoreCase)) return (exe, []);
        if (exe is not null && name.Equals("dotnet", StringComparison.OrdinalIgnoreCase)) return (exe, [entry]);
        if (File.Exists(entry)) return ("dotnet", [entry]);
        throw new InvalidOperationException("bench scale: cannot find this program to start a child process per run; use --in-process");
    }

    /// <summary>The model's own objective, with each epoch cut at <c>maxBatches</c>; records the sampling time and when the batches start.</summary>
    sealed class TimedObjective(IDsmObjective inner, int maxBatches) : IDsmObjective
    {
        public IReadOnlyList<Parameter> Parameters => inner.Parameters;
        public int FullBatches { get; private set; }
        public int TimedBatchesPerEpoch { get; private set; }
        public List<double> SamplingSeconds { get; } = [];
        public List<double> SamplingCpuSeconds { get; } = [];
        public long BatchesStartedAt { get; private set; }
        public TimeSpan CpuAtBatchesStart { get; private set; }

        public int StartEpoch(int epoch)
        {
            long t = Stopwatch.GetTimestamp();
            var cpu = CpuTime();
            FullBatches = inner.StartEpoch(epoch);
            SamplingSeconds.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            SamplingCpuSeconds.Add((CpuTime() - cpu).TotalSeconds);
            TimedBatchesPerEpoch = maxBatches > 0 ? Math.Min(FullBatches, maxBatches) : FullBatches;
            CpuAtBatchesStart = CpuTime();
            BatchesStartedAt = Stopwatch.GetTimestamp();
            return TimedBatchesPerEpoch;
        }

        public (Tensor Loss, double Reported) BatchLoss(DomainModel model, int batch) => inner.BatchLoss(model, batch);
    }

    const double Mb = 1 << 20;

    static string Tag(long n, string model) => $"[{SizeLabel(n)} {model}]";

    static void Progress(string tag, string message)
    {
        Console.WriteLine($"{tag} {message}");
        Console.Out.Flush();
    }


    /// <summary>A field of /proc/self/status in MiB (VmRSS: now; VmHWM: the peak so far).</summary>
    static double Status(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return double.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], Inv) / 1024.0;
        return field == "VmHWM" ? BenchCommands.PeakRssMb() : Environment.WorkingSet / Mb;
    }

    /// <summary>CPU time of this process, all threads (user + system).</summary>
    static TimeSpan CpuTime()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    static double LoadAverage()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], Inv); }
        catch (IOException) { return double.NaN; }
    }

    /// <summary>"1M,5M,20M" (K and M suffixes, decimals allowed: 2.5M) to interaction counts.</summary>
    public static long[] ParseSizes(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException("--sizes: at least one size is needed");
        return parts.Select(part =>
        {
            double scale = 1;
            string digits = part;
            if (part.EndsWith('K') || part.EndsWith('k')) { scale = 1e3; digits = part[..^1]; }
            else if (part.EndsWith('M') || part.EndsWith('m')) { scale = 1e6; digits = part[..^1]; }
            if (!double.TryParse(digits, NumberStyles.AllowDecimalPoint, Inv, out double v) || v <= 0)
                throw new ArgumentException($"--sizes: '{part}' is not a size (e.g. 500K, 1M, 2.5M, 20000000)");
            return (long)Math.Round(v * scale);
        }).ToArray();
    }

    static string[] ParseModels(string text)
    {
        var models = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (models.Length == 0) throw new ArgumentException("--models: at least one model is needed");
        foreach (string m in models)
            if (m is not ("lightgcn" or "mf")) throw new ArgumentException($"--models: '{m}' is not lightgcn or mf");
        return models;
    }

    static string SizeLabel(long n) =>
        n % 1_000_000 == 0 ? string.Create(Inv, $"{n / 1_000_000}M") : n % 1000 == 0 ? string.Create(Inv, $"{n / 1000}K") : n.ToString(Inv);
}
