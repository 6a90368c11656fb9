using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v4, skinny: C[M,N] (+)= op(A)·op(B) for few rows of A (decode: M = 1…64 tokens against a weight), where a
/// 128×128 tile would be mostly padding and the cost is reading B. Work item (j, r): column j of C for the 4 rows
/// 4r .. 4r+3 (4 accumulators in registers), all ⌈M/4⌉ · N items in parallel.
/// <list type="bullet">
/// <item>B stored [N][K] (transB, a linear layer's forward x·Wᵀ): a warp per item walks the row W[j] with its lanes
/// (coalesced; 128-bit loads when A is row-major and K % 4 == 0), then one shuffle reduction of the 4 sums. The
/// ⌈M/4⌉ row blocks of a column are adjacent warps, so they read W[j] at about the same time and it comes from DRAM
/// once (at 64 decode rows, 16 warps per row: when they were N warps apart, GPT-2's 154 MB LM head, three times an
/// H100's L2, would have been read from DRAM 16 times a token). A, a few rows, stays in cache.</item>
/// <item>B stored [K][N]: a thread per item, the threads of a warp reading adjacent columns of each B row.</item>
/// </list>
/// Works for any M, N, K and any warp size; it is the default only for x·Wᵀ with small M (see MatmulOps.Choose).
/// </summary>
public static class MatmulSkinnyGpu
{
    const int Rows = 4;

    static float A(ArrayView<float> a, int i, int kk, int m, int k, bool transA) =>
        i < m ? (transA ? a[kk * m + i] : a[i * k + kk]) : 0f;

    static void Put(ArrayView<float> c, int i, int j, int m, int n, float v, bool accumulate)
    {
        if (i >= m) return;
        int at = i * n + j;
        c[at] = accumulate ? c[at] + v : v;
    }

    // transB: global warp g owns item (j, r) = (g / blocks, g % blocks), blocks = ⌈m / 4⌉; lanes stride over K.
    static void WarpPerColumn(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4,
        ArrayView<float> c, int m, int n, int k, int flags)
    {
        int lane = Warp.LaneIdx, ws = Warp.WarpSize;
        int item = Grid.IdxX * (Group.DimX / ws) + Warp.WarpIdx;
        int blocks = (m + Rows - 1) / Rows;
        if (item >= n * blocks) return;   // whole warps leave together: shuffles stay warp-uniform
        bool transA = (flags & GemmFlags.TransA) != 0, accumulate = (flags & GemmFlags.Accumulate) != 0;
        bool vec = (flags & (GemmFlags.VecA | GemmFlags.VecB)) == (GemmFlags.VecA | GemmFlags.VecB) && !transA;
        int j = item / blocks, i0 = item % blocks * Rows, wRow = j * k;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (vec)
        {
            for (int q = lane; q < k >> 2; q += ws)   // q: index in F4 along K
            {
                F4 w = b4[(wRow >> 2) + q];
                s0 += Dot(a4, i0, q, m, k, w);
                s1 += Dot(a4, i0 + 1, q, m, k, w);
                s2 += Dot(a4, i0 + 2, q, m, k, w);
                s3 += Dot(a4, i0 + 3, q, m, k, w);
            }
        }
        else
        {
            for (int kk = lane; kk < k; kk += ws)
            {
                float w = b[wRow + kk];
                s0 += A(a, i0, kk, m, k, transA) * w;
                s1 += A(a, i0 + 1, kk, m, k, transA) * w;
                s2 += A(a, i0 + 2, kk, m, k, transA) * w;
                s3 += A(a, i0 + 3, kk, m, k, transA) * w;
            }
        }
        var sum = Sum(new F4 { X = s0, Y = s1, Z = s2, W = s3 });
        if (lane == 0)
        {
            Put(c, i0, j, m, n, sum.X, accumulate);
            Put(c, i0 + 1, j, m, n, sum.Y, accumulate);
            Put(c, i0 + 2, j, m, n, sum.Z, accumulate);
            Put(c, i0 + 3, j, m, n, sum.W, accumulate);
        }
    }

    /// <summary>The four row sums over the warp, complete in lane 0: one shuffle of all four per level (the same
    /// instructions as four float shuffles on a GPU; a quarter of the warp synchronisations on the CPU
    /// accelerator, where each costs milliseconds).</summary>
    static F4 Sum(F4 v)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
        {
            F4 o = Warp.ShuffleDown(v, offset);
            v.X += o.X;
            v.Y += o.Y;
            v.Z += o.Z;
            v.W += o.W;
        }
        return v;
    }

    static float Dot(ArrayView<F4> a4, int i, int q, int m, int k, F4 w)
    {
        if (i >= m) return 0f;
        F4 x = a4[((i * k) >> 2) + q];
        return x.X * w.X + x.Y * w.Y + x.Z * w.Z + x.W * w.W;
    }

    // B stored [K][N]: thread t owns item (j, r) = (t % n, t / n), so a warp reads adjacent columns of B.
    static void ThreadPerColumn(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k,
        int flags)
    {
        int item = Grid.IdxX * Group.DimX + Group.IdxX;
        if (item >= n * ((m + Rows - 1) / Rows)) return;
        bool transA = (flags & GemmFlags.TransA) != 0, accumulate = (flags & GemmFlags.Accumulate) != 0;
        int j = item % n, i0 = item / n * Rows;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int kk = 0; kk < k; kk++)
        {
            float w = b[kk * n + j];
            s0 += A(a, i0, kk, m, k, transA) * w;
            s1 += A(a, i0 + 1, kk, m, k, transA) * w;
            s2 += A(a, i0 + 2, kk, m, k, transA) * w;
            s3 += A(a, i0 + 3, kk, m, k, transA) * w;
        }
        Put(c, i0, j, m, n, s0, accumulate);
        Put(c, i0 + 1, j, m, n, s1, accumulate);
        Put(c, i0 + 2, j, m, n, s2, accumulate);
        Put(c, i0 + 3, j, m, n, s3, accumulate);
    }

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) Elementwise.ElementwiseGpu.Fill(kernels, c, 0f);
            return;
        }
        if (!GemmFlags.Fits32(m, n, k))
        {
            MatmulGpu.Run(kernels, a, b, c, m, n, k, transA, transB, accumulate);   // 64-bit indices
            return;
        }
        int flags = GemmFlags.Of(a, b, c, m, n, k, transA, transB, accumulate);
        int group = Math.Min(256, kernels.MaxGroup);
        long items = (long)n * ((m + Rows - 1) / Rows);
        if (transB)
        {
            int warps = group / kernels.WarpSize;
            kernels.Grouped<ArrayView<float>, ArrayView<F4>, ArrayView<float>, ArrayView<F4>, ArrayView<float>, int,
                int, int, int>(WarpPerColumn)(new KernelConfig((int)((items + warps - 1) / warps),
                warps * kernels.WarpSize), a,
                MatmulTiledGpu.Vec(a, flags, GemmFlags.VecA), b, MatmulTiledGpu.Vec(b, flags, GemmFlags.VecB), c, m, n,
                k, flags);
        }
        else
        {
            kernels.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(ThreadPerColumn)(
                new KernelConfig((int)((items + group - 1) / group), group), a, b, c, m, n, k, flags);
        }
    }
}
