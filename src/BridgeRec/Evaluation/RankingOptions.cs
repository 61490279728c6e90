namespace BridgeRec.Evaluation;

/// <summary>Cut-offs and batching shared by the ranking protocols.</summary>
public sealed record RankingOptions
{
    /// <summary>The cut-offs K (P1: 20; leave-one-out: 5, 10, 20).</summary>
    public IReadOnlyList<int> Ks { get; init; } = [20];

    /// <summary>Users (or test cases) scored per call of the scoring callback.</summary>
    public int BatchSize { get; init; } = 1024;

    /// <summary>
    /// Extra candidates taken by topk beyond the largest K, so that ties at the cut can be put in
    /// (score desc, item asc) order in C#. Correctness does not depend on it (a user whose ties
    /// reach past the margin is re-ranked exactly from the full row); it only sets how often that
    /// slower path runs.
    /// </summary>
    public int TieMargin { get; init; } = 16;

    /// <summary>The P1 defaults: K = 20.</summary>
    public static RankingOptions Default { get; } = new();

    /// <summary>The leave-one-out cut-offs: K = 5, 10, 20.</summary>
    public static RankingOptions LeaveOneOut { get; } = new() { Ks = [5, 10, 20] };

    internal int MaxK => Ks.Max();

    internal void Validate()
    {
        if (Ks.Count == 0) throw new ArgumentException("at least one cut-off K is needed", nameof(Ks));
        foreach (int k in Ks)
            if (k <= 0) throw new ArgumentOutOfRangeException(nameof(Ks), k, "each cut-off K must be positive");
        if (Ks.Distinct().Count() != Ks.Count) throw new ArgumentException($"cut-offs repeat: {string.Join(", ", Ks)}", nameof(Ks));
        if (BatchSize <= 0) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "the batch size must be positive");
        if (TieMargin < 0) throw new ArgumentOutOfRangeException(nameof(TieMargin), TieMargin, "the tie margin must be >= 0");
    }
}
