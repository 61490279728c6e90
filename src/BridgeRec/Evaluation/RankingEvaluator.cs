using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using BridgeRec.Data;
using BridgeRec.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Evaluation;

/// <summary>
/// Full-ranking protocol (P1 graph-CF and P2 leave-one-out of DESIGN.md): every user with at
/// least one relevant item is ranked against all items, minus that user's excluded items, and
/// Recall / NDCG / Precision / HR at each K plus MRR are averaged over those users.
/// <para>
/// Per batch of users the scoring callback returns a [batch, numItems] score tensor; excluded
/// (user, item) positions are set to -inf through one flat index (index_fill_), torch.topk takes
/// max K + <see cref="RankingOptions.TieMargin"/> candidates per user, and the metrics are
/// computed in C# from those indices.
/// </para>
/// <para>
/// Ties: items are ranked by (score descending, item index ascending), exactly and
/// deterministically. topk's order among equal scores is unspecified, so its candidates are
/// re-sorted in C# by that key. That is exact whenever the lowest score topk returned is strictly
/// below the K-th best candidate's score (everything not returned then scores lower); otherwise
/// (ties reach past the margin, e.g. constant scores) the user's full score row is copied to the
/// CPU and ranked exactly there. <see cref="EvaluationResult.TieFallbackUsers"/> counts those users.
/// </para>
/// <para>
/// MRR is over the full ranking (not cut at K): the reciprocal 1-based rank of the best-ranked
/// relevant item among all non-excluded items: 1 + the number of items ranked before it under the
/// same tie rule. When that item is outside the top list, the count is a C# pass over the user's
/// score row (read in place for float32 CPU tensors).
/// </para>
/// <para>
/// A relevant item that is also excluded (e.g. a leave-one-out target that repeats a history item)
/// is removed from the ranking like any excluded item but still counts in |relevant|: a certain miss.
/// <see cref="EvaluationResult.ExcludedRelevantPairs"/> reports how many there were. Scores must not
/// be NaN (an error names the user).
/// </para>
/// </summary>
public sealed class RankingEvaluator
{
    readonly int[] _users;

    /// <param name="relevant">Relevant (test) items per user; users without any are skipped.</param>
    /// <param name="excluded">Items removed from each user's ranking (train, optionally plus validation); null ranks all items (the UniSRec / RecBole variant where history is not excluded).</param>
    /// <param name="options">Cut-offs and batch size; defaults to K = 20, batches of 1,024 users.</param>
    /// <param name="protocol">A label for reports.</param>
    public RankingEvaluator(UserItemIndex relevant, UserItemIndex? excluded, RankingOptions? options = null, string? protocol = null)
    {
        if (excluded is not null && (excluded.NumUsers != relevant.NumUsers || excluded.NumItems != relevant.NumItems))
            throw new ArgumentException(
                $"the excluded index is {excluded.NumUsers} users x {excluded.NumItems} items but the relevant index is {relevant.NumUsers} x {relevant.NumItems}",
                nameof(excluded));
        Options = options ?? RankingOptions.Default;
        Options.Validate();
        Relevant = relevant;
        Excluded = excluded;
        Protocol = protocol ?? (excluded is null ? "full ranking, nothing excluded" : "full ranking, seen items excluded");
        _users = Enumerable.Range(0, relevant.NumUsers).Where(u => relevant.CountOf(u) > 0).ToArray();
    }

    /// <summary>Test relevance; train and validation excluded, or nothing excluded when <paramref name="excludeHistory"/> is false.</summary>
    public static RankingEvaluator ForTest(Split split, RankingOptions? options = null, bool excludeHistory = true)
    {
        int nu = split.Dataset.NumUsers, ni = split.Dataset.NumItems;
        return new RankingEvaluator(new UserItemIndex(nu, ni, split.Test),
            excludeHistory ? new UserItemIndex(nu, ni, split.Train, split.Validation) : null, options,
            excludeHistory ? "full ranking (test), train + validation excluded" : "full ranking (test), history not excluded");
    }

    /// <summary>Validation relevance; train excluded, or nothing excluded when <paramref name="excludeHistory"/> is false.</summary>
    public static RankingEvaluator ForValidation(Split split, RankingOptions? options = null, bool excludeHistory = true)
    {
        int nu = split.Dataset.NumUsers, ni = split.Dataset.NumItems;
        return new RankingEvaluator(new UserItemIndex(nu, ni, split.Validation),
            excludeHistory ? new UserItemIndex(nu, ni, split.Train) : null, options,
            excludeHistory ? "full ranking (validation), train excluded" : "full ranking (validation), history not excluded");
    }

    public UserItemIndex Relevant { get; }
    public UserItemIndex? Excluded { get; }
    public RankingOptions Options { get; }
    public string Protocol { get; }
    public int NumItems => Relevant.NumItems;

    /// <summary>The users evaluated by default: those with at least one relevant item, ascending.</summary>
    public IReadOnlyList<int> Users => _users;

    /// <summary>Metric keys in report order: for each K ascending recall, ndcg, precision, hr; then mrr.</summary>
    public static List<string> MetricNamesFor(IEnumerable<int> ks)
    {
        var names = new List<string>();
        foreach (int k in ks.Order())
        {
            names.Add(EvaluationResult.Key("recall", k));
            names.Add(EvaluationResult.Key("ndcg", k));
            names.Add(EvaluationResult.Key("precision", k));
            names.Add(EvaluationResult.Key("hr", k));
        }
        names.Add("mrr");
        return names;
    }

    /// <summary>
    /// Ranks and scores the users. <paramref name="score"/> gets a batch of user ids and returns a
    /// fresh [batch, NumItems] floating-point tensor (any device); the evaluator owns it: it writes
    /// -inf into excluded positions in place and disposes it. Do not return a view of a tensor you keep.
    /// </summary>
    /// <param name="users">A subset of users to evaluate (those without relevant items are skipped); default all.</param>
    public EvaluationResult Evaluate(Func<int[], Tensor> score, IEnumerable<int>? users = null)
    {
        var clock = Stopwatch.StartNew();
        int[] evalUsers = users is null ? _users : SelectUsers(users);
        if (evalUsers.Length == 0) throw new InvalidOperationException($"{Protocol}: no users with relevant items to evaluate");
        int[] ks = Options.Ks.Order().ToArray();
        var names = MetricNamesFor(ks);
        int n = evalUsers.Length;
        var columns = new double[names.Count][];
        for (int m = 0; m < columns.Length; m++) columns[m] = new double[n];
        var top = new int[n][];
        var relevant = new int[n][];
        var stats = new Stats();

        using (no_grad())
        {
            for (int start = 0; start < n; start += Options.BatchSize)
            {
                int b = Math.Min(Options.BatchSize, n - start);
                int[] batch = evalUsers.AsSpan(start, b).ToArray();
                using var scope = NewDisposeScope();
                var scores = score(batch);
                CheckScores(scores, b);
                RankBatch(scores, batch, start, ks, columns, top, relevant, stats);
            }
        }
        return new EvaluationResult(Protocol, ks, names, columns, evalUsers, relevant, top, clock.Elapsed.TotalSeconds,
            stats.Fallbacks, stats.ExcludedRelevant);
    }

    sealed class Stats
    {
        public int Fallbacks;
        public int ExcludedRelevant;
    }

    int[] SelectUsers(IEnumerable<int> users)
    {
        var list = new List<int>();
        foreach (int u in users)
        {
            if ((uint)u >= (uint)Relevant.NumUsers)
                throw new ArgumentOutOfRangeException(nameof(users), u, $"user outside 0..{Relevant.NumUsers - 1}");
            if (Relevant.CountOf(u) > 0) list.Add(u);
        }
        return list.ToArray();
    }

    void CheckScores(Tensor scores, int batch)
    {
        if (scores.dim() != 2 || scores.shape[0] != batch || scores.shape[1] != NumItems)
            throw new ArgumentException(
                $"the scoring callback returned shape [{string.Join(", ", scores.shape)}] for {batch} users; expected [{batch}, {NumItems}]");
        if (!scores.is_floating_point())
            throw new ArgumentException($"the scoring callback returned {scores.dtype} scores; expected a floating-point tensor");
    }

    void RankBatch(Tensor scores, int[] batch, int offset, int[] ks, double[][] columns, int[][] top, int[][] relevantOut, Stats stats)
    {
        int b = batch.Length, numItems = NumItems, maxK = ks[^1];
        if (!scores.is_contiguous()) scores = scores.contiguous();
        var device = scores.device;
        var flat = scores.view(-1);

        // 1. Excluded (user, item) positions -> -inf, through one flat index for the whole batch.
        if (Excluded is not null)
        {
            long[] flatExcluded = FlatIndex(Excluded, batch, numItems, skipExcluded: false);
            if (flatExcluded.Length > 0)
                flat.index_fill_(0, tensor(flatExcluded, device: device), Scalars.Of(double.NegativeInfinity));
        }

        // 2. topk of max K + margin candidates per user, to the CPU.
        int kk = Math.Min(maxK + Options.TieMargin, numItems);
        var (values, indices) = scores.topk(kk, dim: 1, largest: true, sorted: true);
        double[] topScores = HostCopy<double>(values.to(ScalarType.Float64));
        long[] topItems = HostCopy<long>(indices);
        // topk orders NaN above every number, so a NaN anywhere outside the excluded positions shows up first.
        for (int r = 0; r < b; r++)
            if (double.IsNaN(topScores[r * kk]))
                throw new ArgumentException($"the scoring callback returned NaN scores for user {batch[r]}");

        // 3. Scores of the relevant items that are not excluded (to find each user's best-ranked one).
        long[] flatRelevant = FlatIndex(Relevant, batch, numItems, skipExcluded: true);
        double[] relevantScores = flatRelevant.Length == 0 ? []
            : HostCopy<double>(flat.index_select(0, tensor(flatRelevant, device: device)).to(ScalarType.Float64));

        var candScores = new double[kk];
        var candItems = new int[kk];
        var firstRank = new double[b];           // reciprocal rank per row, filled below
        var countRows = new List<int>();         // rows whose best relevant lies beyond the top list
        var countThreshold = new List<double>();
        var countItem = new List<long>();
        int relCursor = 0;

        for (int r = 0; r < b; r++)
        {
            int u = batch[r];
            ReadOnlySpan<int> rel = Relevant.ItemsOf(u);
            ReadOnlySpan<int> excl = Excluded is null ? [] : Excluded.ItemsOf(u);
            int length = Math.Min(maxK, numItems - excl.Length);

            // Best-ranked rankable relevant item: max by (score desc, item asc).
            int best = -1;
            double bestScore = double.NegativeInfinity;
            foreach (int item in rel)
            {
                if (excl.BinarySearch(item) >= 0) { stats.ExcludedRelevant++; continue; }
                double s = relevantScores[relCursor++];
                if (best < 0 || RankOrder.Before(s, item, bestScore, best)) { best = item; bestScore = s; }
            }

            // Candidates from topk minus excluded ones, in exact rank order.
            int c = 0;
            for (int j = 0; j < kk; j++)
            {
                int item = (int)topItems[r * kk + j];
                if (excl.Length > 0 && excl.BinarySearch(item) >= 0) continue;
                candScores[c] = topScores[r * kk + j];
                candItems[c++] = item;
            }
            RankOrder.Sort(candScores.AsSpan(0, c), candItems.AsSpan(0, c));
            double lowestReturned = topScores[r * kk + kk - 1];
            bool exact = kk == numItems || length == 0 || (c >= length && lowestReturned < candScores[length - 1]);

            int[] list;
            double rr = 0;
            if (exact && !(best >= 0 && double.IsNegativeInfinity(bestScore)))
            {
                list = candItems.AsSpan(0, length).ToArray();
                if (best >= 0)
                {
                    int p = Array.IndexOf(list, best);
                    if (p >= 0) rr = 1.0 / (p + 1);
                    else { countRows.Add(r); countThreshold.Add(bestScore); countItem.Add(best); }
                }
            }
            else
            {
                // Exact slow path on the CPU copy of this user's row.
                stats.Fallbacks++;
                double[] row = HostCopy<double>(scores[r].to(ScalarType.Float64));
                list = RankOrder.TopOfRow(row, excl, length);
                if (best >= 0) rr = 1.0 / RankOrder.RankInRow(row, excl, best);
            }
            firstRank[r] = rr;
            top[offset + r] = list;
            relevantOut[offset + r] = rel.ToArray();
        }

        // 4. Full-ranking position of the best relevant item where it lies beyond the top list:
        //    1 + #(items scoring higher) + #(items scoring equal with a lower index), counted in C#
        //    over the score buffer (read in place for float32 on the CPU). Excluded items hold -inf
        //    and the threshold is finite or +inf here, so they never count.
        if (countRows.Count > 0)
        {
            if (scores.device_type == DeviceType.CPU && scores.dtype == ScalarType.Float32)
            {
                var all = MemoryMarshal.Cast<byte, float>(scores.bytes);
                for (int j = 0; j < countRows.Count; j++)
                {
                    int r = countRows[j];
                    var row = all.Slice(r * numItems, numItems);
                    firstRank[r] = 1.0 / (CountAhead(row, (float)countThreshold[j], (int)countItem[j]) + 1);
                }
            }
            else
            {
                var rowsT = tensor(countRows.Select(x => (long)x).ToArray(), device: device);
                double[] sub = HostCopy<double>(scores.index_select(0, rowsT).to(ScalarType.Float64));
                for (int j = 0; j < countRows.Count; j++)
                    firstRank[countRows[j]] = 1.0 / (CountAhead(sub.AsSpan(j * numItems, numItems), countThreshold[j], (int)countItem[j]) + 1);
            }
        }

        // 5. Metrics per user.
        var hits = new bool[maxK];
        for (int r = 0; r < b; r++)
        {
            int c = offset + r;
            int[] list = top[c];
            var h = hits.AsSpan(0, list.Length);
            RankingMetrics.FillHits(list, relevantOut[c], h);
            int nRel = relevantOut[c].Length, m = 0;
            foreach (int k in ks)
            {
                columns[m++][c] = RankingMetrics.Recall(h, nRel, k);
                columns[m++][c] = RankingMetrics.Ndcg(h, nRel, k);
                columns[m++][c] = RankingMetrics.Precision(h, k);
                columns[m++][c] = RankingMetrics.HitRate(h, k);
            }
            columns[m][c] = firstRank[r];
        }
    }

    /// <summary>Items ranked before (threshold, best): scoring higher, or equal with a lower index.</summary>
    static long CountAhead<T>(ReadOnlySpan<T> row, T threshold, int best) where T : struct, IComparisonOperators<T, T, bool>
    {
        long ahead = 0;
        for (int i = 0; i < best; i++) if (row[i] >= threshold) ahead++;
        for (int i = best + 1; i < row.Length; i++) if (row[i] > threshold) ahead++;
        return ahead;
    }

    /// <summary>A CPU array copy of a tensor's elements (through its contiguous host buffer, not element by element).</summary>
    internal static T[] HostCopy<T>(Tensor t) where T : unmanaged
    {
        var host = t.cpu().contiguous();
        return MemoryMarshal.Cast<byte, T>(host.bytes).ToArray();
    }

    /// <summary>row * numItems + item for every item of every batch user in <paramref name="index"/>; optionally leaving out excluded items.</summary>
    long[] FlatIndex(UserItemIndex index, int[] batch, int numItems, bool skipExcluded)
    {
        int total = 0;
        foreach (int u in batch) total += index.CountOf(u);
        var flat = new List<long>(total);
        for (int r = 0; r < batch.Length; r++)
        {
            long rowStart = (long)r * numItems;
            ReadOnlySpan<int> excl = skipExcluded && Excluded is not null ? Excluded.ItemsOf(batch[r]) : [];
            foreach (int item in index.ItemsOf(batch[r]))
                if (excl.Length == 0 || excl.BinarySearch(item) < 0) flat.Add(rowStart + item);
        }
        return flat.ToArray();
    }
}
