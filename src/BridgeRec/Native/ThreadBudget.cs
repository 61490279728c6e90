using System.Globalization;
using TorchSharp;

namespace BridgeRec.Native;

/// <summary>
/// How many threads torch's CPU operator pool may use in this process: a fixed number (<c>--threads N</c>,
/// or the <c>BRIDGEREC_THREADS</c> variable), else every core, except inside an <see cref="Adaptive"/> scope, where
/// it is the cores that nothing else on the machine is using right now.
/// <para>Why only in a scope: a reduction that libtorch splits across threads (a bias gradient summed over the batch)
/// adds in a different order with another thread count, so a language model trained under a changing count is not
/// bit-reproducible (seen: a test of two runs with one seed). Work whose numbers do not depend on the count opens the
/// scope: LightGCN and MF training (tested: the same weights with 1 and 2 threads) and LLM serving.</para>
/// <para>Why not always every core: libtorch runs each operator on an OpenMP team whose threads meet at a
/// barrier when the operator ends. On a busy machine (a second training job, a build) one of the team's
/// threads is often off its core, so every operator waits a scheduler time slice for it, while the other
/// spins. Measured on 2 cores: LightGCN on ML-100K went from 0.2 s to 6 s per epoch beside a second job,
/// and a 10 s run took 125-163 s beside two test runs. A team of one has no barrier to wait at, and the
/// graph product (on .NET's pool, which hands out work instead of waiting for every worker) still uses
/// whatever core is free.</para>
/// <para>The count follows the machine: every quarter second at most, <see cref="Refresh"/> reads the
/// number of runnable threads (<c>/proc/loadavg</c>) less this process's own, and uses the cores left over
/// by the busiest moment of the last three seconds (down at once, up after three quiet seconds). It must
/// run on the thread that calls torch: OpenMP keeps the thread count per calling thread.</para>
/// </summary>
public static class ThreadBudget
{
    const long SampleEveryMs = 250, WindowMs = 3000;
    static readonly object Gate = new();
    static readonly Queue<(long At, int Others)> Samples = new();
    static int? _fixed = Parse(Environment.GetEnvironmentVariable("BRIDGEREC_THREADS"), "BRIDGEREC_THREADS");
    static long _sampledAt = -SampleEveryMs; // TickCount64 counts from boot: the first call samples
    static int _threads = Environment.ProcessorCount;

    [ThreadStatic] static int _appliedOnThread;
    [ThreadStatic] static int _adaptiveDepth;
    static readonly bool Debug = Environment.GetEnvironmentVariable("BRIDGEREC_DEBUG") == "1";

    /// <summary>A thread count fixed by the user, used everywhere; null = every core, or the machine's share inside <see cref="Adaptive"/>.</summary>
    public static int? Fixed
    {
        get => _fixed;
        set
        {
            if (value is < 1 or > 1024) throw new ArgumentOutOfRangeException(nameof(value), $"--threads must be 1 to 1024 (got {value})");
            _fixed = value;
        }
    }

    /// <summary>Parses a <c>--threads</c> value: "auto" (or empty) = follow the load, else 1 to 1024.</summary>
    public static int? Parse(string? text, string source = "--threads")
    {
        if (string.IsNullOrWhiteSpace(text) || text.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)) return null;
        if (int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 1024) return n;
        throw new ArgumentException($"{source}: '{text}' is not a thread count (expected 'auto' or 1 to 1024)");
    }

    /// <summary>Threads outside an adaptive scope: the fixed count, else every core.</summary>
    public static int DefaultThreads => _fixed ?? Environment.ProcessorCount;

    /// <summary>
    /// Until disposed, <see cref="Refresh"/> on this thread follows the machine's load (unless a count is fixed); on
    /// leaving the outermost scope the thread goes back to <see cref="DefaultThreads"/>.
    /// </summary>
    public static IDisposable Adaptive()
    {
        _adaptiveDepth++;
        return new AdaptiveScope();
    }

    sealed class AdaptiveScope : IDisposable
    {
        bool _disposed;
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (--_adaptiveDepth == 0) Refresh();
        }
    }

    /// <summary>Threads the machine leaves to this process now (the fixed count when there is one).</summary>
    public static int SharedThreads
    {
        get
        {
            if (_fixed is int n) return n;
            lock (Gate)
            {
                long now = Environment.TickCount64;
                if (now - _sampledAt < SampleEveryMs) return _threads;
                _sampledAt = now;
                if (OthersRunnable() is not int others) return _threads;
                Samples.Enqueue((now, others));
                while (Samples.Peek().At < now - WindowMs) Samples.Dequeue();
                int busiest = Samples.Max(s => s.Others);
                _threads = Math.Clamp(Environment.ProcessorCount - busiest, 1, Environment.ProcessorCount);
                return _threads;
            }
        }
    }

    /// <summary>Sets torch's thread count for the calling thread when it should change. Cheap: call it before each step.</summary>
    public static void Refresh()
    {
        int n = _adaptiveDepth > 0 ? SharedThreads : DefaultThreads;
        if (n == _appliedOnThread) return;
        if (Debug) Console.Error.WriteLine($"[threads] {_appliedOnThread} -> {n} on thread {Environment.CurrentManagedThreadId}");
        torch.set_num_threads(n);
        _appliedOnThread = n;
    }

    /// <summary>Runnable threads of other processes now (Linux), or null where the kernel does not say.</summary>
    public static int? OthersRunnable()
    {
        try
        {
            // /proc/loadavg: "0.52 0.41 0.30 3/245 12345": the fourth field is runnable / all scheduling entities.
            string[] fields = File.ReadAllText("/proc/loadavg").Split(' ');
            if (fields.Length < 4) return null;
            int slash = fields[3].IndexOf('/');
            if (slash < 0 || !int.TryParse(fields[3].AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out int runnable)) return null;
            return Math.Max(0, runnable - OwnRunnable());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>This process's threads in state R (running or waiting for a core), this one included.</summary>
    static int OwnRunnable()
    {
        int count = 0;
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                // /proc/self/task/N/stat: "N (name) S ...": the state follows the last ')' (names may hold spaces or parentheses).
                string stat = File.ReadAllText(Path.Combine(task, "stat"));
                int close = stat.LastIndexOf(')');
                if (close >= 0 && close + 2 < stat.Length && stat[close + 2] == 'R') count++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // the thread ended while we looked
            }
        }
        return count;
    }
}
