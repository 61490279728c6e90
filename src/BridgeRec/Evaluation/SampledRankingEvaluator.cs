using System.Diagnostics;
using BridgeRec.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Evaluation;

/// <summary>
/// Sampled protocol (the "target + 99 random unseen items" variant of P2): each test case
/// (user, target) ranks the target among itself and <see cref="NumNegatives"/> negatives drawn
/// uniformly without replacement from the items the user has not interacted with (not in the
/// <c>seen</c> index, which should hold train + validation + test), and HR@K, NDCG@K and MRR are
/// averaged over cases.
/// <para>
/// Negatives are drawn once, at construction, so every model evaluated by one evaluator sees the
/// same lists. The generator is SplitMix64 seeded from (seed, user, target) alone, so a case's
/// negatives do not depend on case order, batch size, platform or .NET version: same seed, same
/// negatives, same metrics. When a user has fewer unseen items than negatives wanted, all of them
/// are used (that case's list is shorter).
/// </para>
/// <para>
/// Scoring reuses the full-score callback, once per distinct user of a batch of cases, and gathers
/// the candidates' scores (the full matmul is cheap next to an LLM forward pass, and one callback
/// serves both protocols). The list is ordered
/// like full ranking: score descending, ties by lower item index; the target's 1-based rank is
/// 1 + #(negatives scoring higher) + #(negatives scoring equal with a lower index).
/// </para>
/// </summary>
public sealed class SampledRankingEvaluator
{
    readonly int[] _users, _targets;
    readonly int[][] _negatives;

    /// <param name="cases">One test case per row: (user, target item).</param>
    /// <param name="seen">Every item each user has interacted with (train + validation + test); never drawn as a negative.</param>
    public SampledRankingEvaluator(Interactions cases, UserItemIndex seen, RankingOptions? options = null,
        int numNegatives = 99, int seed = 0, string? protocol = null)
    {
        if (numNegatives <= 0) throw new ArgumentOutOfRangeException(nameof(numNegatives), numNegatives, "at least one negative is needed");
        Options = options ?? RankingOptions.LeaveOneOut;
        Options.Validate();
        NumItems = seen.NumItems;
        NumNegatives = numNegatives;
        Seed = seed;
        Protocol = protocol ?? $"sampled ranking, target + {numNegatives} unseen negatives (seed {seed})";
        _users = cases.Users.ToArray();
        _targets = cases.Items.ToArray();
        _negatives = new int[cases.Count][];
        for (int c = 0; c < cases.Count; c++)
        {
            int u = _users[c], t = _targets[c];
            if ((uint)u >= (uint)seen.NumUsers || (uint)t >= (uint)NumItems)
                throw new ArgumentOutOfRangeException(nameof(cases), $"test case {c}: ({u}, {t}) outside {seen.NumUsers} users x {NumItems} items");
            _negatives[c] = DrawNegatives(seen.ItemsOf(u), u, t, NumItems, numNegatives, seed);
        }
    }

    /// <summary>Test cases from the split's test part; seen = train + validation + test.</summary>
    public static SampledRankingEvaluator ForTest(Split split, RankingOptions? options = null, int numNegatives = 99, int seed = 0)
    {
        int nu = split.Dataset.NumUsers, ni = split.Dataset.NumItems;
        return new SampledRankingEvaluator(split.Test, new UserItemIndex(nu, ni, split.Train, split.Validation, split.Test),
            options, numNegatives, seed);
    }

    public RankingOptions Options { get; }
    public int NumItems { get; }
    public int NumNegatives { get; }
    public int Seed { get; }
    public string Protocol { get; }
    public int Cases => _users.Length;

    /// <summary>The negatives drawn for case <paramref name="c"/> (in draw order).</summary>
    public IReadOnlyList<int> NegativesOf(int c) => _negatives[c];

    /// <summary>Metric keys in report order: for each K ascending hr, ndcg; then mrr.</summary>
    public static List<string> MetricNamesFor(IEnumerable<int> ks)
    {
        var names = new List<string>();
        foreach (int k in ks.Order())
        {
            names.Add(EvaluationResult.Key("hr", k));
            names.Add(EvaluationResult.Key("ndcg", k));
        }
        names.Add("mrr");
        return names;
    }

    /// <summary>
    /// Scores every case. Consecutive cases are batched up to <see cref="RankingOptions.BatchSize"/>
    /// distinct users; <paramref name="score"/> gets those users (each scored once however many cases
    /// it has) and returns a [users, NumItems] tensor, which the evaluator disposes.
    /// </summary>
    public EvaluationResult Evaluate(Func<int[], Tensor> score)
    {
        var clock = Stopwatch.StartNew();
        if (Cases == 0) throw new InvalidOperationException($"{Protocol}: no test cases to evaluate");
        int[] ks = Options.Ks.Order().ToArray();
        int maxK = ks[^1];
        var names = MetricNamesFor(ks);
        var columns = new double[names.Count][];
        for (int m = 0; m < columns.Length; m++) columns[m] = new double[Cases];
        var top = new int[Cases][];
        var relevant = new int[Cases][];
        int width = 1 + NumNegatives;

        using (no_grad())
        {
            var rowOfUser = new Dictionary<int, int>();
            var batchUsers = new List<int>();
            int maxCases = checked(Options.BatchSize * 64);
            for (int start = 0, end; start < Cases; start = end)
            {
                // A batch: consecutive cases with at most BatchSize distinct users (and 64x as many cases).
                rowOfUser.Clear();
                batchUsers.Clear();
                for (end = start; end < Cases && end - start < maxCases; end++)
                {
                    int u = _users[end];
                    if (rowOfUser.ContainsKey(u)) continue;
                    if (batchUsers.Count == Options.BatchSize) break;
                    rowOfUser[u] = batchUsers.Count;
                    batchUsers.Add(u);
                }
                int b = end - start;
                using var scope = NewDisposeScope();
                var scores = score(batchUsers.ToArray());
                if (scores.dim() != 2 || scores.shape[0] != batchUsers.Count || scores.shape[1] != NumItems)
                    throw new ArgumentException(
                        $"the scoring callback returned shape [{string.Join(", ", scores.shape)}] for {batchUsers.Count} users; expected [{batchUsers.Count}, {NumItems}]");
                if (!scores.is_contiguous()) scores = scores.contiguous();

                // Candidates per case: the target first, then the negatives; short lists padded with the
                // target (ignored below). Gathered from the flat scores at row * NumItems + item.
                var candidates = new long[b * width];
                var flatIndex = new long[b * width];
                for (int r = 0; r < b; r++)
                {
                    int c = start + r;
                    var negs = _negatives[c];
                    long rowStart = (long)rowOfUser[_users[c]] * NumItems;
                    for (int j = 0; j < width; j++)
                    {
                        int item = j == 0 || j - 1 >= negs.Length ? _targets[c] : negs[j - 1];
                        candidates[r * width + j] = item;
                        flatIndex[r * width + j] = rowStart + item;
                    }
                }
                var index = tensor(flatIndex, device: scores.device);
                double[] gathered = RankingEvaluator.HostCopy<double>(scores.view(-1).index_select(0, index).to(ScalarType.Float64));

                var topScores = new double[maxK];
                var topItems = new int[maxK];
                var hits = new bool[maxK];
                for (int r = 0; r < b; r++)
                {
                    int c = start + r, target = _targets[c], n = 1 + _negatives[c].Length;
                    var listScores = gathered.AsSpan(r * width, n);
                    double targetScore = listScores[0];
                    long ahead = 0; // negatives ranked before the target
                    for (int j = 0; j < n; j++)
                    {
                        if (double.IsNaN(listScores[j]))
                            throw new ArgumentException($"the scoring callback returned a NaN score for user {_users[c]}, item {candidates[r * width + j]}");
                        if (j > 0 && RankOrder.Before(listScores[j], (int)candidates[r * width + j], targetScore, target)) ahead++;
                    }
                    // The first max K of the list (for breakdowns), by partial insertion.
                    int filled = 0;
                    for (int j = 0; j < n; j++)
                    {
                        double sj = listScores[j];
                        int item = (int)candidates[r * width + j];
                        if (filled == maxK && !RankOrder.Before(sj, item, topScores[maxK - 1], topItems[maxK - 1])) continue;
                        int p = filled < maxK ? filled++ : maxK - 1;
                        while (p > 0 && RankOrder.Before(sj, item, topScores[p - 1], topItems[p - 1]))
                        {
                            topScores[p] = topScores[p - 1];
                            topItems[p] = topItems[p - 1];
                            p--;
                        }
                        topScores[p] = sj;
                        topItems[p] = item;
                    }
                    var ranked = topItems.AsSpan(0, filled);
                    var h = hits.AsSpan(0, filled);
                    RankingMetrics.FillHits(ranked, [target], h);
                    int m = 0;
                    foreach (int k in ks)
                    {
                        columns[m++][c] = RankingMetrics.HitRate(h, k);
                        columns[m++][c] = RankingMetrics.Ndcg(h, 1, k);
                    }
                    columns[m][c] = 1.0 / (ahead + 1); // RR over the whole candidate list
                    top[c] = ranked.ToArray();
                    relevant[c] = [target];
                }
            }
        }
        return new EvaluationResult(Protocol, ks, names, columns, _users, relevant, top, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Up to <paramref name="count"/> distinct items, uniform without replacement over the items not
    /// in <paramref name="seenSorted"/> and not <paramref name="target"/>. Rejection sampling when unseen
    /// items are plentiful; a partial Fisher-Yates shuffle of the unseen list when they are scarce.
    /// </summary>
    internal static int[] DrawNegatives(ReadOnlySpan<int> seenSorted, int user, int target, int numItems, int count, int seed)
    {
        var rng = new SplitMix64(seed, user, target);
        bool targetSeen = seenSorted.BinarySearch(target) >= 0;
        int available = numItems - seenSorted.Length - (targetSeen ? 0 : 1);
        if (available <= 4 * count)
        {
            var pool = new List<int>(Math.Max(available, 0));
            for (int i = 0; i < numItems; i++)
                if (i != target && seenSorted.BinarySearch(i) < 0) pool.Add(i);
            int take = Math.Min(count, pool.Count);
            for (int j = 0; j < take; j++)
            {
                int pick = j + rng.NextBelow(pool.Count - j);
                (pool[j], pool[pick]) = (pool[pick], pool[j]);
            }
            return pool.GetRange(0, take).ToArray();
        }
        var drawn = new int[count];
        var taken = new HashSet<int>(count);
        int n = 0;
        while (n < count)
        {
            int i = rng.NextBelow(numItems);
            if (i == target || seenSorted.BinarySearch(i) >= 0 || !taken.Add(i)) continue;
            drawn[n++] = i;
        }
        return drawn;
    }

    /// <summary>SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose stream is fixed by its seed forever.</summary>
    internal struct SplitMix64
    {
        ulong _state;

        public SplitMix64(int seed, int user, int target)
        {
            _state = (ulong)(uint)seed;
            _state = Mix(_state) ^ (ulong)(uint)user;
            _state = Mix(_state) ^ ((ulong)(uint)target << 32);
        }

        static ulong Mix(ulong z)
        {
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public ulong Next()
        {
            _state += 0x9E3779B97F4A7C15UL;
            ulong z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, n) by Lemire's multiply-shift (bias below n / 2^64, negligible).</summary>
        public int NextBelow(int n) => (int)(((UInt128)Next() * (ulong)n) >> 64);
    }
}
