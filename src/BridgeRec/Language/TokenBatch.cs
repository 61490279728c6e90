using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Language;

/// <summary>
/// A right-padded batch of token sequences, row-major with shape (BatchSize, SequenceLength): input ids, the
/// attention mask (1 on real tokens, 0 on padding) and token type ids (all 0 for single sentences).
/// </summary>
public sealed record TokenBatch
{
    public TokenBatch(long[] inputIds, long[] attentionMask, long[] tokenTypeIds, int batchSize, int sequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batchSize);
        ArgumentOutOfRangeException.ThrowIfNegative(sequenceLength);
        long size = (long)batchSize * sequenceLength;
        InputIds = Check(inputIds, size, nameof(inputIds));
        AttentionMask = Check(attentionMask, size, nameof(attentionMask));
        TokenTypeIds = Check(tokenTypeIds, size, nameof(tokenTypeIds));
        BatchSize = batchSize;
        SequenceLength = sequenceLength;
    }

    /// <summary>Token ids, BatchSize × SequenceLength, row-major.</summary>
    public long[] InputIds { get; }

    /// <summary>1 where a row has a real token, 0 on its padding.</summary>
    public long[] AttentionMask { get; }

    /// <summary>Segment ids (0 throughout for single sentences).</summary>
    public long[] TokenTypeIds { get; }

    public int BatchSize { get; }

    /// <summary>The length of the longest row; shorter rows are padded to it.</summary>
    public int SequenceLength { get; }

    /// <summary>The number of real tokens (specials included) in row <paramref name="row"/>.</summary>
    public int RowLength(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, BatchSize);
        int n = 0;
        for (int j = 0; j < SequenceLength; j++) n += (int)AttentionMask[row * SequenceLength + j];
        return n;
    }

    /// <summary>The three arrays as int64 tensors of shape (BatchSize, SequenceLength), copied, on <paramref name="device"/> (the CPU by default).</summary>
    public TokenTensors ToTensors(Device? device = null)
    {
        long[] shape = { BatchSize, SequenceLength };
        Tensor? ids = null, mask = null;
        try
        {
            ids = tensor(InputIds, shape, ScalarType.Int64, device);
            mask = tensor(AttentionMask, shape, ScalarType.Int64, device);
            var types = tensor(TokenTypeIds, shape, ScalarType.Int64, device);
            return new TokenTensors(ids, mask, types);
        }
        catch
        {
            ids?.Dispose();
            mask?.Dispose();
            throw;
        }
    }

    static long[] Check(long[] values, long size, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (values.LongLength != size) throw new ArgumentException($"{name} has {values.LongLength} values; the shape needs {size}.", name);
        return values;
    }
}

/// <summary>A <see cref="TokenBatch"/> as int64 tensors of shape (batch, seq). Disposing disposes all three.</summary>
public sealed record TokenTensors(Tensor InputIds, Tensor AttentionMask, Tensor TokenTypeIds) : IDisposable
{
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        TokenTypeIds.Dispose();
    }
}
