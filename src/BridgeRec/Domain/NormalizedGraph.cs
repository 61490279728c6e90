using System.Runtime.Intrinsics;
using BridgeRec.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Domain;

/// <summary>
/// The symmetric-normalised user-item bipartite adjacency A_hat = D^-1/2 A D^-1/2 over
/// users (nodes 0..U-1) then items (nodes U..U+I-1), stored as compressed rows. A(u, U+i) = 1
/// when u has i in training. Its product with a dense node table is LightGCN's propagation step;
/// because A_hat is symmetric, the same product is also its own backward.
/// </summary>
public sealed class NormalizedGraph
{
    public int NumUsers { get; }
    public int NumItems { get; }
    public int NumNodes => NumUsers + NumItems;
    public int[] RowPtr { get; }
    public int[] Cols { get; }
    public float[] Values { get; }
    public long Nnz => Cols.Length;

    /// <summary>Balanced row ranges (by non-zeros) for the parallel product.</summary>
    readonly (int Start, int End)[] _chunks;

    public NormalizedGraph(UserItemIndex train)
    {
        NumUsers = train.NumUsers; NumItems = train.NumItems;
        int n = NumNodes;
        int[] itemDeg = train.ItemDegrees();
        var deg = new int[n];
        for (int u = 0; u < NumUsers; u++) deg[u] = train.CountOf(u);
        for (int i = 0; i < NumItems; i++) deg[NumUsers + i] = itemDeg[i];

        RowPtr = new int[n + 1];
        for (int r = 0; r < n; r++) RowPtr[r + 1] = RowPtr[r] + deg[r];
        Cols = new int[RowPtr[n]];
        Values = new float[RowPtr[n]];
        var fill = new int[n];
        Array.Copy(RowPtr, fill, n);
        // Users ascending, so every item row also ends up sorted by column.
        for (int u = 0; u < NumUsers; u++)
            foreach (int i in train.ItemsOf(u))
            {
                int node = NumUsers + i;
                float w = (float)(1.0 / Math.Sqrt((double)deg[u] * deg[node]));
                Cols[fill[u]] = node; Values[fill[u]++] = w;
                Cols[fill[node]] = u; Values[fill[node]++] = w;
            }
        _chunks = Partition(Math.Max(1, Environment.ProcessorCount * 4));
    }

    (int, int)[] Partition(int parts)
    {
        var chunks = new List<(int, int)>();
        long total = Nnz + NumNodes, per = Math.Max(1, total / parts), acc = 0;
        int start = 0;
        for (int r = 0; r < NumNodes; r++)
        {
            acc += RowPtr[r + 1] - RowPtr[r] + 1;
            if (acc >= per) { chunks.Add((start, r + 1)); start = r + 1; acc = 0; }
        }
        if (start < NumNodes) chunks.Add((start, NumNodes));
        return chunks.ToArray();
    }

    /// <summary>y = A_hat x for a node table x [nodes, dim]; differentiable (the backward is the same product).</summary>
    public Tensor Propagate(Tensor x) => GraphPropagation.apply(this, x);

    /// <summary>A dense copy, for tests on small graphs.</summary>
    public float[,] ToDense()
    {
        var d = new float[NumNodes, NumNodes];
        for (int r = 0; r < NumNodes; r++)
            for (int k = RowPtr[r]; k < RowPtr[r + 1]; k++) d[r, Cols[k]] = Values[k];
        return d;
    }

    /// <summary>y = A_hat x without autograd. CPU tensors use the parallel SIMD kernel; other devices torch's sparse product.</summary>
    public Tensor Multiply(Tensor x)
    {
        if (x.dim() != 2 || x.shape[0] != NumNodes)
            throw new ArgumentException($"expected a [{NumNodes}, d] node table, got [{string.Join(", ", x.shape)}]");
        if (x.device_type != DeviceType.CPU) return MultiplyOnDevice(x);
        using var xc = x.to(ScalarType.Float32).contiguous();
        var y = empty_like(xc);
        unsafe
        {
            int dim = (int)x.shape[1];
            fixed (byte* xb = xc.bytes, yb = y.bytes)
            {
                float* xp = (float*)xb, yp = (float*)yb;
                Parallel.For(0, _chunks.Length, c =>
                {
                    var (s, e) = _chunks[c];
                    MultiplyRows(xp, yp, dim, s, e);
                });
            }
        }
        return y;
    }

    unsafe void MultiplyRows(float* x, float* y, int dim, int rowStart, int rowEnd)
    {
        int vecEnd = Vector256.IsHardwareAccelerated ? dim - dim % 32 : 0;
        fixed (int* rowPtr = RowPtr, cols = Cols)
        fixed (float* vals = Values)
        {
            for (int r = rowStart; r < rowEnd; r++)
            {
                float* yr = y + (long)r * dim;
                int k0 = rowPtr[r], k1 = rowPtr[r + 1];
                // 32 columns at a time in four registers, then a scalar tail.
                for (int j = 0; j < vecEnd; j += 32)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (int k = k0; k < k1; k++)
                    {
                        var v = Vector256.Create(vals[k]);
                        float* xr = x + (long)cols[k] * dim + j;
                        a0 = MulAdd(v, Vector256.Load(xr), a0);
                        a1 = MulAdd(v, Vector256.Load(xr + 8), a1);
                        a2 = MulAdd(v, Vector256.Load(xr + 16), a2);
                        a3 = MulAdd(v, Vector256.Load(xr + 24), a3);
                    }
                    a0.Store(yr + j); a1.Store(yr + j + 8); a2.Store(yr + j + 16); a3.Store(yr + j + 24);
                }
                for (int j = vecEnd; j < dim; j++)
                {
                    float acc = 0;
                    for (int k = k0; k < k1; k++) acc += vals[k] * x[(long)cols[k] * dim + j];
                    yr[j] = acc;
                }
            }
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        System.Runtime.Intrinsics.X86.Fma.IsSupported ? System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a, b, c) : a * b + c;

    Tensor? _deviceMatrix;

    Tensor MultiplyOnDevice(Tensor x)
    {
        if (_deviceMatrix is null || _deviceMatrix.device != x.device)
        {
            var rows = new long[Nnz];
            for (int r = 0; r < NumNodes; r++) for (int k = RowPtr[r]; k < RowPtr[r + 1]; k++) rows[k] = r;
            using var idx = stack([tensor(rows), tensor(Cols.Select(c => (long)c).ToArray())]);
            _deviceMatrix = sparse_coo_tensor(idx, tensor(Values), [NumNodes, NumNodes]).to(x.device);
        }
        return mm(_deviceMatrix, x);
    }

    /// <summary>Autograd node for y = A_hat x; A_hat is symmetric, so dL/dx = A_hat dL/dy.</summary>
    sealed class GraphPropagation : autograd.SingleTensorFunction<GraphPropagation>
    {
        public override string Name => nameof(GraphPropagation);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var graph = (NormalizedGraph)vars[0];
            ctx.save_data("graph", graph);
            return graph.Multiply((Tensor)vars[1]);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var graph = (NormalizedGraph)ctx.get_data("graph");
            return [null!, graph.Multiply(grad)]; // no gradient for the graph argument
        }
    }
}
