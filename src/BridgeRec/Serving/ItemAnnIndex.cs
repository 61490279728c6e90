using System.Numerics.Tensors;
using Cloud.Unum.USearch;

namespace BridgeRec.Serving;

/// <summary>When and how the DSM fast path uses an approximate nearest-neighbour index instead of scoring every item.</summary>
public sealed record AnnOptions
{
    /// <summary>Catalogs with at least this many items get an HNSW index at load; smaller ones are scored exactly.</summary>
    public int Threshold { get; init; } = 200_000;

    /// <summary>
    /// HNSW graph degree (M): more links, better recall, more memory and a slower build. 32 with efConstruction 128:
    /// recall@10 0.991 on 1M clustered items where 16 / 64 gave 0.954 (docs/benchmarks.md, `bench ann`).
    /// </summary>
    public int Connectivity { get; init; } = 32;

    /// <summary>Candidate list size while inserting (efConstruction): a better graph for a slower build.</summary>
    public int ExpansionAdd { get; init; } = 128;

    /// <summary>Candidate list size while searching (ef); a search that asks for more candidates uses that many.</summary>
    public int ExpansionSearch { get; init; } = 64;

    /// <summary>
    /// Candidates fetched per request before they are re-scored exactly, at least k; the user's seen items are added
    /// on top, so that k unseen ones are left even when every seen item is among the nearest.
    /// </summary>
    public int Candidates { get; init; } = 100;

    public void Validate()
    {
        if (Threshold < 1) throw new ArgumentOutOfRangeException(nameof(Threshold), $"the ANN threshold must be >= 1 item (got {Threshold})");
        if (Connectivity is < 2 or > 256) throw new ArgumentOutOfRangeException(nameof(Connectivity), $"HNSW connectivity must be 2 to 256 (got {Connectivity})");
        if (ExpansionAdd is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(ExpansionAdd), $"HNSW expansion (add) must be 1 to 4096 (got {ExpansionAdd})");
        if (ExpansionSearch is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(ExpansionSearch), $"HNSW expansion (search) must be 1 to 4096 (got {ExpansionSearch})");
        if (Candidates is < 1 or > 100_000) throw new ArgumentOutOfRangeException(nameof(Candidates), $"ANN candidates must be 1 to 100000 (got {Candidates})");
    }
}

/// <summary>
/// An HNSW index (USearch, inner product) over a DSM's final item vectors. It proposes candidates only: the
/// <see cref="DsmIndex"/> re-scores them exactly from its own float matrix, so scores and tie order are the exact
/// path's, and only an item the graph search missed can differ. An item bias is folded in as one more dimension
/// (item [v, b], query [u, 1]), so the index ranks by the same score as the exact path. Searches may run on many
/// threads at once; the native memory is freed by <see cref="Dispose"/>.
/// </summary>
internal sealed class ItemAnnIndex : IDisposable
{
    readonly USearchIndex _index;
    readonly int _dim; // the model's dimension; the index has one more when there is a bias
    readonly bool _bias;

    [ThreadStatic] static float[]? t_query;

    public AnnOptions Options { get; }

    ItemAnnIndex(USearchIndex index, int dim, bool bias, AnnOptions options)
    {
        _index = index; _dim = dim; _bias = bias; Options = options;
    }

    /// <summary>Inserts every item, one at a time on the calling thread (the 2-core hosts this runs on serve meanwhile).</summary>
    public static ItemAnnIndex Build(ReadOnlySpan<float> items, ReadOnlySpan<float> bias, int dim, AnnOptions options)
    {
        options.Validate();
        int n = items.Length / dim, width = bias.IsEmpty ? dim : dim + 1;
        var index = new USearchIndex(MetricKind.Ip, ScalarKind.Float32, (ulong)width,
            (ulong)options.Connectivity, (ulong)options.ExpansionAdd, (ulong)options.ExpansionSearch);
        try
        {
            var row = new float[width]; // USearch copies each vector into its own storage
            for (int i = 0; i < n; i++)
            {
                items.Slice(i * dim, dim).CopyTo(row);
                if (!bias.IsEmpty) row[dim] = bias[i];
                index.Add((ulong)i, row);
            }
            return new ItemAnnIndex(index, dim, !bias.IsEmpty, options);
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>Up to <paramref name="count"/> item indices with the largest inner products with <paramref name="user"/> (approximately), in no promised order.</summary>
    public ulong[] Search(ReadOnlySpan<float> user, int count)
    {
        int width = _bias ? _dim + 1 : _dim;
        var query = t_query is { } q && q.Length == width ? q : t_query = new float[width];
        user.CopyTo(query);
        if (_bias) query[_dim] = 1f;
        int found = _index.Search(query, count, out var keys, out _);
        return found == keys.Length ? keys : keys[..found];
    }

    public void Dispose() => _index.Dispose();
}
