using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v4, skinny: C[M,N] (+)= op(A)·op(B) for few rows of A (decode: M = 1…64 tokens against a weight), where a
/// 128×128 tile would be mostly padding and the cost is reading B. Work items cover the 4 rows 4r .. 4r+3 of C each,
/// all in parallel.
/// <list type="bullet">
/// <item>B stored [N][K] (transB, a linear layer's forward x·Wᵀ): a warp per item of 4 columns (weight rows
/// W[4jb .. +3]) walks them with its lanes (coalesced; 128-bit loads when A is row-major and K % 4 == 0), 16 sums,
/// then one shuffle reduction per column. The ⌈M/4⌉ row blocks of a column block are adjacent warps, so they read
/// its weight rows at about the same time and they come from DRAM once (at 64 decode rows, 16 warps: when they were
/// N warps apart, GPT-2's 154 MB LM head, three times an H100's L2, would have been read from DRAM 16 times a
/// token). A, a few rows, stays in cache; 4 columns per warp make it pass through L1 a quarter as often.</item>
/// <item>B stored [K][N]: a thread per item (column j, 4 rows), the threads of a warp reading adjacent columns of
/// each B row.</item>
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

    // transB: global warp g owns item (jb, r) = (g / blocks, g % blocks), blocks = ⌈m / 4⌉: columns 4·jb .. +3
    // (weight rows) for rows 4r .. +3 of A, 16 sums; lanes stride over K. Per step a lane loads 4 values of W and 4
    // of A for 16 products (one weight row at a time was 1 + 4 loads for 4), so at 64 decode rows the A rows pass
    // through L1 a quarter as often per weight byte. Each sum adds the same products in the same order as one
    // column at a time did: the same bits.
    static void WarpPerColumn(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4,
        ArrayView<float> c, int m, int n, int k, int flags)
    {
        int lane = Warp.LaneIdx, ws = Warp.WarpSize;
        int item = Grid.IdxX * (Group.DimX / ws) + Warp.WarpIdx;
        int blocks = (m + Rows - 1) / Rows, columns = (n + Cols - 1) / Cols;
        if (item >= columns * blocks) return;   // whole warps leave together: shuffles stay warp-uniform
        bool transA = (flags & GemmFlags.TransA) != 0, accumulate = (flags & GemmFlags.Accumulate) != 0;
        bool vec = (flags & (GemmFlags.VecA | GemmFlags.VecB)) == (GemmFlags.VecA | GemmFlags.VecB) && !transA;
        int j0 = item / blocks * Cols, i0 = item % blocks * Rows;
        F4 c0 = default, c1 = default, c2 = default, c3 = default;   // column j0 + e: rows i0 .. i0 + 3 in X .. W
        if (vec)
        {
            for (int q = lane; q < k >> 2; q += ws)   // q: index in F4 along K
            {
                F4 x0 = Row4(a4, i0, q, m, k), x1 = Row4(a4, i0 + 1, q, m, k);
                F4 x2 = Row4(a4, i0 + 2, q, m, k), x3 = Row4(a4, i0 + 3, q, m, k);
                c0 = Add(c0, x0, x1, x2, x3, Row4(b4, j0, q, n, k));
                c1 = Add(c1, x0, x1, x2, x3, Row4(b4, j0 + 1, q, n, k));
                c2 = Add(c2, x0, x1, x2, x3, Row4(b4, j0 + 2, q, n, k));
                c3 = Add(c3, x0, x1, x2, x3, Row4(b4, j0 + 3, q, n, k));
            }
        }
        else
        {
            for (int kk = lane; kk < k; kk += ws)
            {
                var x = new F4
                {
                    X = A(a, i0, kk, m, k, transA), Y = A(a, i0 + 1, kk, m, k, transA),
                    Z = A(a, i0 + 2, kk, m, k, transA), W = A(a, i0 + 3, kk, m, k, transA),
                };
                c0 = Add(c0, x, j0 < n ? b[j0 * k + kk] : 0f);
                c1 = Add(c1, x, j0 + 1 < n ? b[(j0 + 1) * k + kk] : 0f);
                c2 = Add(c2, x, j0 + 2 < n ? b[(j0 + 2) * k + kk] : 0f);
                c3 = Add(c3, x, j0 + 3 < n ? b[(j0 + 3) * k + kk] : 0f);
            }
        }
        c0 = Sum(c0);
        c1 = Sum(c1);
        c2 = Sum(c2);
        c3 = Sum(c3);
        if (lane == 0)
        {
            PutColumn(c, i0, j0, m, n, c0, accumulate);
            PutColumn(c, i0, j0 + 1, m, n, c1, accumulate);
            PutColumn(c, i0, j0 + 2, m, n, c2, accumulate);
            PutColumn(c, i0, j0 + 3, m, n, c3, accumulate);
        }
    }

    /// <summary>Weight rows per warp item (transB).</summary>
    const int Cols = 4;

    /// <summary>Row i's F4 number q of a row-major [rows, k] matrix viewed as F4; zeros past the last row.</summary>
    static F4 Row4(ArrayView<F4> x4, int i, int q, int rows, int k) => i < rows ? x4[((i * k) >> 2) + q] : default;

    /// <summary>acc + (x0·w, x1·w, x2·w, x3·w), each dot product summed X, Y, Z, W in order.</summary>
    static F4 Add(F4 acc, F4 x0, F4 x1, F4 x2, F4 x3, F4 w) => new()
    {
        X = acc.X + Dot(x0, w), Y = acc.Y + Dot(x1, w), Z = acc.Z + Dot(x2, w), W = acc.W + Dot(x3, w),
    };

    /// <summary>acc + x·w for 4 rows' values x of one k and the weight w there.</summary>
    static F4 Add(F4 acc, F4 x, float w) => new()
    {
        X = acc.X + x.X * w, Y = acc.Y + x.Y * w, Z = acc.Z + x.Z * w, W = acc.W + x.W * w,
    };

    static float Dot(F4 x, F4 w) => x.X * w.X + x.Y * w.Y + x.Z * w.Z + x.W * w.W;

    /// <summary>Column j of C, rows i0 .. i0 + 3 from v's X .. W, where inside C.</summary>
    static void PutColumn(ArrayView<float> c, int i0, int j, int m, int n, F4 v, bool accumulate)
    {
        if (j >= n) return;
        Put(c, i0, j, m, n, v.X, accumulate);
        Put(c, i0 + 1, j, m, n, v.Y, accumulate);
        Put(c, i0 + 2, j, m, n, v.Z, accumulate);
        Put(c, i0 + 3, j, m, n, v.W, accumulate);
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
            items = (long)((n + Cols - 1) / Cols) * ((m + Rows - 1) / Rows);
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
