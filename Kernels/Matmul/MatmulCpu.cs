using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels.Matmul;

/// <summary>
/// C[M,N] (+)= op(A)[M,K] · op(B)[K,N], op = transpose when the flag is set.
/// The three layouts a linear layer needs (y = x·Wᵀ, dx = dy·W, dW = dyᵀ·x) are all this one op.
///
/// <see cref="Reference"/> is the definition. <see cref="Gemm"/> is the fast path, shaped like
/// OpenBLAS/BLIS: pack a KC×NC panel of B and an MC×KC block of A into contiguous micro-panels,
/// then an MR×NR register-blocked FMA micro-kernel (<see cref="GemmMicroKernel"/>) walks them.
/// Packing turns every transpose layout into the same unit-stride stream, so one kernel serves all.
/// </summary>
public static class MatmulCpu
{
    /// <summary>The definition, a triple loop accumulated in float64. Slow; for tests and reading.</summary>
    public static void Reference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c,
        int m, int n, int k, bool transA, bool transB, bool accumulate)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = accumulate ? c[i * n + j] : 0.0;
                for (int p = 0; p < k; p++)
                {
                    float aip = transA ? a[p * m + i] : a[i * k + p];   // A is [K,M] when transposed
                    float bpj = transB ? b[j * k + p] : b[p * n + j];   // B is [N,K] when transposed
                    sum += (double)aip * bpj;
                }
                c[i * n + j] = (float)sum;
            }
    }

    // Blocking: KC×NR of packed B (the micro-panel the kernel re-reads for every A sliver) stays in
    // L1, the MC×KC block of A in L2, the KC×NC panel of B in L3. Tuned on the 2-core EPYC (Zen 4).
    static readonly int KC = Env("ENGINE_GEMM_KC", 256);
    static readonly int MC = Env("ENGINE_GEMM_MC", 144);
    const int NC = 4096;
    static int Env(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;
    const int SerialFlops = 1 << 18; // below this a Parallel.For costs more than it saves

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gemm(float[] a, float[] b, float[] c, int m, int n, int k,
        bool transA, bool transB, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (!accumulate) Array.Clear(c, 0, m * n);
        if (k == 0) return;

        int mr = GemmMicroKernel.MR, nr = GemmMicroKernel.NR;
        int ncMax = Math.Min(NC, RoundUp(n, nr));
        float[] packedB = ArrayPool<float>.Shared.Rent(KC * ncMax);
        try
        {
            for (int jc = 0; jc < n; jc += NC)
            {
                int nc = Math.Min(NC, n - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    PackB(b, packedB, n, k, transB, pc, kc, jc, nc, nr);
                    int icBlocks = (m + MC - 1) / MC;
                    int jrPanels = (nc + nr - 1) / nr;
                    // Split N as well when M alone gives too few work items (small-M GEMMs, decoding).
                    int threads = (long)m * nc * kc * 2 < SerialFlops ? 1 : Environment.ProcessorCount;
                    int nSplit = Math.Clamp((2 * threads + icBlocks - 1) / icBlocks, 1, jrPanels);
                    if (threads == 1) nSplit = 1;
                    int items = icBlocks * nSplit;
                    int panelsPerSplit = (jrPanels + nSplit - 1) / nSplit;
                    var ctx = new Block(a, c, packedB, m, n, k, transA, pc, kc, jc, nc, panelsPerSplit, jrPanels, nSplit);
                    if (items == 1 || threads == 1)
                        for (int item = 0; item < items; item++) ctx.Run(item);
                    else
                        Parallel.For(0, items, new ParallelOptions { MaxDegreeOfParallelism = threads }, ctx.Run);
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(packedB); }
    }

    static int RoundUp(int x, int to) => (x + to - 1) / to * to;

    /// <summary>One (jc, pc) step: items are (MC block of rows) × (range of NR panels).</summary>
    sealed class Block(float[] a, float[] c, float[] packedB, int m, int n, int k, bool transA,
        int pc, int kc, int jc, int nc, int panelsPerSplit, int jrPanels, int nSplit)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot from the first call: skip tier-0
        public unsafe void Run(int item)
        {
            int mr = GemmMicroKernel.MR, nr = GemmMicroKernel.NR;
            int ic = item / nSplit * MC;
            int split = item % nSplit;
            int mcLen = Math.Min(MC, m - ic);
            int p0 = split * panelsPerSplit, p1 = Math.Min(jrPanels, p0 + panelsPerSplit);
            if (p0 >= p1) return;
            float[] packedA = ArrayPool<float>.Shared.Rent(RoundUp(MC, mr) * KC);
            try
            {
                PackA(a, packedA, m, k, transA, ic, mcLen, pc, kc, mr);
                fixed (float* pA = packedA, pB = packedB, pC = c)
                {
                    float* tile = stackalloc float[GemmMicroKernel.MR * GemmMicroKernel.NR];
                    for (int jp = p0; jp < p1; jp++)
                    {
                        int jr = jp * nr;
                        int nLen = Math.Min(nr, nc - jr);
                        float* bPanel = pB + (long)jp * nr * kc;
                        for (int ir = 0; ir < mcLen; ir += mr)
                        {
                            int mLen = Math.Min(mr, mcLen - ir);
                            float* aPanel = pA + (long)ir * kc;
                            float* cTile = pC + (long)(ic + ir) * n + jc + jr;
                            if (mLen == mr && nLen == nr)
                                GemmMicroKernel.Run(kc, aPanel, bPanel, cTile, n);
                            else
                            {
                                // Edge tile: the kernel writes a full MR×NR tile; keep only the valid part.
                                new Span<float>(tile, mr * nr).Clear();
                                GemmMicroKernel.Run(kc, aPanel, bPanel, tile, nr);
                                for (int i = 0; i < mLen; i++)
                                    for (int j = 0; j < nLen; j++)
                                        cTile[(long)i * n + j] += tile[i * nr + j];
                            }
                        }
                    }
                }
            }
            finally { ArrayPool<float>.Shared.Return(packedA); }
        }
    }

    /// <summary>
    /// Packs rows [ic, ic+mc) × cols [pc, pc+kc) of op(A) into slivers of MR rows:
    /// sliver s holds, for each p, the MR values A[ic+s·MR+0..MR-1, pc+p] (zero-padded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackA(float[] a, float[] packed, int m, int k, bool transA, int ic, int mc, int pc, int kc, int mr)
    {
        int dst = 0;
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            for (int p = 0; p < kc; p++)
            {
                int i = 0;
                if (transA)
                {
                    int src = (pc + p) * m + ic + ir;          // A stored [K, M]: a row of op(A)'s column is contiguous
                    for (; i < rows; i++) packed[dst + i] = a[src + i];
                }
                else
                {
                    int src = (ic + ir) * k + pc + p;          // A stored [M, K]
                    for (; i < rows; i++) packed[dst + i] = a[src + i * k];
                }
                for (; i < mr; i++) packed[dst + i] = 0f;
                dst += mr;
            }
        }
    }

    /// <summary>
    /// Packs rows [pc, pc+kc) × cols [jc, jc+nc) of op(B) into panels of NR columns:
    /// panel q holds, for each p, the NR values B[pc+p, jc+q·NR+0..NR-1] (zero-padded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void PackB(float[] b, float[] packed, int n, int k, bool transB, int pc, int kc, int jc, int nc, int nr)
    {
        int panels = (nc + nr - 1) / nr;
        void Panel(int q)
        {
            int jr = q * nr;
            int cols = Math.Min(nr, nc - jr);
            int dst = q * nr * kc;
            for (int p = 0; p < kc; p++)
            {
                int j = 0;
                if (transB)
                {
                    int src = (jc + jr) * k + pc + p;          // B stored [N, K]
                    for (; j < cols; j++) packed[dst + j] = b[src + j * k];
                }
                else
                {
                    int src = (pc + p) * n + jc + jr;          // B stored [K, N]: contiguous row
                    b.AsSpan(src, cols).CopyTo(packed.AsSpan(dst, cols));
                    j = cols;
                }
                for (; j < nr; j++) packed[dst + j] = 0f;
                dst += nr;
            }
        }
        if ((long)kc * nc < 1 << 16) for (int q = 0; q < panels; q++) Panel(q);
        else Parallel.For(0, panels, Panel);
    }
}
