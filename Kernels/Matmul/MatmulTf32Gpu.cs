using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Matmul.GemmTiles;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v5, TF32 tensor cores: C[M,N] (+)= op(A)·op(B) with A and B rounded to TF32 (cvt.rna: 10 mantissa bits) and
/// fp32 accumulation, as PyTorch's allow_tf32 (and cuBLAS's TF32 mode) computes; --precision tf32 selects it.
/// The group staging is v3's (128×128 tile of C, 256 threads, BK = 8, double-buffered K-major shared tiles,
/// 128-bit loads where aligned, zero-padded edges), with shared rows 136 floats apart instead of 128: a fragment
/// load reads rows t and columns g of a tile (t = lane % 4, g = lane / 4), and the pad of 8 puts those 32 reads in
/// 32 different banks. Each of the 8 warps owns a 64×32 sub-tile: 4 × 4 m16n8k8 MMAs per K slice
/// (TensorCore.Mma), 64 accumulators per thread written out as 16 fragments; MMA tiles wholly outside C are
/// skipped. The same body with
/// <c>threeX</c> is v6 (Matmul3xTf32Gpu.cs). On ILGPU's CPU accelerator the MMA and the rounding run as their
/// software twins, so tiling and fragment indexing are tested there; the GPU confirms the PTX path.
/// </summary>
public static class MatmulTf32Gpu
{
    const int Stride = Tile + 8;   // floats between two k rows of a shared tile (see above)

    /// <summary>A warp's 64×32 accumulators: Tij is the m16n8 tile at rows 16·i, columns 8·j of the sub-tile.</summary>
    struct Acc
    {
        public FragC T00, T01, T02, T03;
        public FragC T10, T11, T12, T13;
        public FragC T20, T21, T22, T23;
        public FragC T30, T31, T32, T33;
    }

    /// <summary>A's fragment of the m16 tile at row r (of the 128-row tile) from the K-major shared slice at.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA LoadA(ArrayView<float> s, int at, int r, int g, int t)
    {
        int i = at + t * Stride + r + g;
        return new FragA { A0 = s[i], A1 = s[i + 8], A2 = s[i + 4 * Stride], A3 = s[i + 4 * Stride + 8] };
    }

    /// <summary>B's fragment of the n8 tile at column col.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB LoadB(ArrayView<float> s, int at, int col, int g, int t)
    {
        int i = at + t * Stride + col + g;
        return new FragB { B0 = s[i], B1 = s[i + 4 * Stride] };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA Round(FragA x) => new()
    {
        A0 = TensorCore.RoundTf32(x.A0), A1 = TensorCore.RoundTf32(x.A1), A2 = TensorCore.RoundTf32(x.A2),
        A3 = TensorCore.RoundTf32(x.A3),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB Round(FragB x) => new() { B0 = TensorCore.RoundTf32(x.B0), B1 = TensorCore.RoundTf32(x.B1) };

    /// <summary>x − tf32(x), the remainder 3×TF32 multiplies too (rounded to TF32 by the caller).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA Minus(FragA x, FragA hi) => new()
        { A0 = x.A0 - hi.A0, A1 = x.A1 - hi.A1, A2 = x.A2 - hi.A2, A3 = x.A3 - hi.A3 };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB Minus(FragB x, FragB hi) => new() { B0 = x.B0 - hi.B0, B1 = x.B1 - hi.B1 };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreFrag(ArrayView<float> c, FragC f, int row, int col, int m, int n, bool accumulate)
    {
        if (col < n)
        {
            if (row < m) Store1(c, row * n + col, true, f.C0, accumulate);
            if (row + 8 < m) Store1(c, (row + 8) * n + col, true, f.C2, accumulate);
        }
        if (col + 1 < n)
        {
            if (row < m) Store1(c, row * n + col + 1, true, f.C1, accumulate);
            if (row + 8 < m) Store1(c, (row + 8) * n + col + 1, true, f.C3, accumulate);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Body(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4,
        ArrayView<float> c, int m, int n, int k, int flags, bool threeX)
    {
        // [2 buffers][BK][136] floats per operand, 8.5 KiB each.
        var as4 = SharedMemory.Allocate<F4>(2 * BK * Stride / 4);
        var bs4 = SharedMemory.Allocate<F4>(2 * BK * Stride / 4);
        var asf = as4.Cast<float>();
        var bsf = bs4.Cast<float>();
        int tid = Group.IdxX, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;   // the warp's sub-tile in the 128×128 tile
        int m0 = Grid.IdxY * Tile, n0 = Grid.IdxX * Tile;
        bool aK = (flags & GemmFlags.TransA) != 0, bK = (flags & GemmFlags.TransB) == 0;
        bool vecA = (flags & GemmFlags.VecA) != 0, vecB = (flags & GemmFlags.VecB) != 0;
        var s = new Acc();
        F4 pa = Fetch(a, a4, tid, 0, m0, m, k, aK, vecA), pb = Fetch(b, b4, tid, 0, n0, n, k, bK, vecB);
        Stage(asf, as4, 0, Stride, tid, pa, aK);
        Stage(bsf, bs4, 0, Stride, tid, pb, bK);
        Group.Barrier();
        int buffer = 0;
        for (int k0 = 0; k0 < k; k0 += BK)
        {
            bool more = k0 + BK < k;
            if (more)
            {
                pa = Fetch(a, a4, tid, k0 + BK, m0, m, k, aK, vecA);
                pb = Fetch(b, b4, tid, k0 + BK, n0, n, k, bK, vecB);
            }
            int at = buffer * BK * Stride;
            // MMA tiles wholly outside C are skipped (warp-uniform, so the warp stays converged): edge tiles only.
            bool r0 = m0 + wm < m, r1 = m0 + wm + 16 < m, r2 = m0 + wm + 32 < m, r3 = m0 + wm + 48 < m;
            bool c0 = n0 + wn < n, c1 = n0 + wn + 8 < n, c2 = n0 + wn + 16 < n, c3 = n0 + wn + 24 < n;
            FragA x0 = LoadA(asf, at, wm, g, t), x1 = LoadA(asf, at, wm + 16, g, t);
            FragA x2 = LoadA(asf, at, wm + 32, g, t), x3 = LoadA(asf, at, wm + 48, g, t);
            FragB y0 = LoadB(bsf, at, wn, g, t), y1 = LoadB(bsf, at, wn + 8, g, t);
            FragB y2 = LoadB(bsf, at, wn + 16, g, t), y3 = LoadB(bsf, at, wn + 24, g, t);
            FragA ah0 = Round(x0), ah1 = Round(x1), ah2 = Round(x2), ah3 = Round(x3);
            FragB bh0 = Round(y0), bh1 = Round(y1), bh2 = Round(y2), bh3 = Round(y3);
            if (threeX)
            {
                FragA al0 = Round(Minus(x0, ah0)), al1 = Round(Minus(x1, ah1));
                FragA al2 = Round(Minus(x2, ah2)), al3 = Round(Minus(x3, ah3));
                FragB bl0 = Round(Minus(y0, bh0)), bl1 = Round(Minus(y1, bh1));
                FragB bl2 = Round(Minus(y2, bh2)), bl3 = Round(Minus(y3, bh3));
                if (r0 && c0) TensorCore.Mma3(ah0, al0, bh0, bl0, ref s.T00);
                if (r0 && c1) TensorCore.Mma3(ah0, al0, bh1, bl1, ref s.T01);
                if (r0 && c2) TensorCore.Mma3(ah0, al0, bh2, bl2, ref s.T02);
                if (r0 && c3) TensorCore.Mma3(ah0, al0, bh3, bl3, ref s.T03);
                if (r1 && c0) TensorCore.Mma3(ah1, al1, bh0, bl0, ref s.T10);
                if (r1 && c1) TensorCore.Mma3(ah1, al1, bh1, bl1, ref s.T11);
                if (r1 && c2) TensorCore.Mma3(ah1, al1, bh2, bl2, ref s.T12);
                if (r1 && c3) TensorCore.Mma3(ah1, al1, bh3, bl3, ref s.T13);
                if (r2 && c0) TensorCore.Mma3(ah2, al2, bh0, bl0, ref s.T20);
                if (r2 && c1) TensorCore.Mma3(ah2, al2, bh1, bl1, ref s.T21);
                if (r2 && c2) TensorCore.Mma3(ah2, al2, bh2, bl2, ref s.T22);
                if (r2 && c3) TensorCore.Mma3(ah2, al2, bh3, bl3, ref s.T23);
                if (r3 && c0) TensorCore.Mma3(ah3, al3, bh0, bl0, ref s.T30);
                if (r3 && c1) TensorCore.Mma3(ah3, al3, bh1, bl1, ref s.T31);
                if (r3 && c2) TensorCore.Mma3(ah3, al3, bh2, bl2, ref s.T32);
                if (r3 && c3) TensorCore.Mma3(ah3, al3, bh3, bl3, ref s.T33);
            }
            else
            {
                FragA a0 = ah0, a1 = ah1, a2 = ah2, a3 = ah3;
                FragB b0 = bh0, b1 = bh1, b2 = bh2, b3 = bh3;
                if (r0 && c0) TensorCore.Mma(a0, b0, ref s.T00);
                if (r0 && c1) TensorCore.Mma(a0, b1, ref s.T01);
                if (r0 && c2) TensorCore.Mma(a0, b2, ref s.T02);
                if (r0 && c3) TensorCore.Mma(a0, b3, ref s.T03);
                if (r1 && c0) TensorCore.Mma(a1, b0, ref s.T10);
                if (r1 && c1) TensorCore.Mma(a1, b1, ref s.T11);
                if (r1 && c2) TensorCore.Mma(a1, b2, ref s.T12);
                if (r1 && c3) TensorCore.Mma(a1, b3, ref s.T13);
                if (r2 && c0) TensorCore.Mma(a2, b0, ref s.T20);
                if (r2 && c1) TensorCore.Mma(a2, b1, ref s.T21);
                if (r2 && c2) TensorCore.Mma(a2, b2, ref s.T22);
                if (r2 && c3) TensorCore.Mma(a2, b3, ref s.T23);
                if (r3 && c0) TensorCore.Mma(a3, b0, ref s.T30);
                if (r3 && c1) TensorCore.Mma(a3, b1, ref s.T31);
                if (r3 && c2) TensorCore.Mma(a3, b2, ref s.T32);
                if (r3 && c3) TensorCore.Mma(a3, b3, ref s.T33);
            }
            if (more)
            {
                int next = (buffer ^ 1) * BK * Stride;
                Stage(asf, as4, next, Stride, tid, pa, aK);
                Stage(bsf, bs4, next, Stride, tid, pb, bK);
            }
            Group.Barrier();
            buffer ^= 1;
        }
        bool accumulate = (flags & GemmFlags.Accumulate) != 0;
        int row = m0 + wm + g, col = n0 + wn + 2 * t;
        StoreFrag(c, s.T00, row + 0, col + 0, m, n, accumulate);
        StoreFrag(c, s.T01, row + 0, col + 8, m, n, accumulate);
        StoreFrag(c, s.T02, row + 0, col + 16, m, n, accumulate);
        StoreFrag(c, s.T03, row + 0, col + 24, m, n, accumulate);
        StoreFrag(c, s.T10, row + 16, col + 0, m, n, accumulate);
        StoreFrag(c, s.T11, row + 16, col + 8, m, n, accumulate);
        StoreFrag(c, s.T12, row + 16, col + 16, m, n, accumulate);
        StoreFrag(c, s.T13, row + 16, col + 24, m, n, accumulate);
        StoreFrag(c, s.T20, row + 32, col + 0, m, n, accumulate);
        StoreFrag(c, s.T21, row + 32, col + 8, m, n, accumulate);
        StoreFrag(c, s.T22, row + 32, col + 16, m, n, accumulate);
        StoreFrag(c, s.T23, row + 32, col + 24, m, n, accumulate);
        StoreFrag(c, s.T30, row + 48, col + 0, m, n, accumulate);
        StoreFrag(c, s.T31, row + 48, col + 8, m, n, accumulate);
        StoreFrag(c, s.T32, row + 48, col + 16, m, n, accumulate);
        StoreFrag(c, s.T33, row + 48, col + 24, m, n, accumulate);
    }

    static void Kernel(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c,
        int m, int n, int k, int flags) => Body(a, a4, b, b4, c, m, n, k, flags, threeX: false);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        Launch(kernels, Kernel, "matmul v5 (tf32)", a, b, c, m, n, k, transA, transB, accumulate);

    /// <summary>What every tensor-core GEMM launch (v5, v6, v8, v9) does first: the empty cases (nothing, or C = 0
    /// for K = 0), then the refusals; true when the kernel should run.</summary>
    internal static bool Prepare(LaunchContext kernels, string name, ArrayView<float> c, int m, int n, int k,
        bool accumulate)
    {
        if (m == 0 || n == 0) return false;
        if (k == 0)
        {
            if (!accumulate) Elementwise.ElementwiseGpu.Fill(kernels, c, 0f);
            return false;
        }
        TensorCore.RequireWarp32(kernels.WarpSize, name);
        if (!MatmulTiledGpu.CanRun(kernels, m, n, k))
            throw new NotSupportedException($"{name}: {m}x{n}x{k} needs 256-thread groups, 32-bit indices and at " +
                                            "most 65535 row tiles");
        return true;
    }

    /// <summary>Launches a tensor-core kernel of this file's signature (v5, v6); refuses narrow warps, small groups
    /// and shapes beyond 32-bit indices or the grid (there is no lower-precision fallback to fall back to).</summary>
    internal static void Launch(LaunchContext kernels, Action<ArrayView<float>, ArrayView<F4>, ArrayView<float>,
            ArrayView<F4>, ArrayView<float>, int, int, int, int> kernel, string name, ArrayView<float> a,
        ArrayView<float> b, ArrayView<float> c, int m, int n, int k, bool transA, bool transB, bool accumulate)
    {
        if (!Prepare(kernels, name, c, m, n, k, accumulate)) return;
        int flags = GemmFlags.Of(a, b, c, m, n, k, transA, transB, accumulate);
        kernels.Grouped(kernel)(MatmulTiledGpu.Config(m, n), a, MatmulTiledGpu.Vec(a, flags, GemmFlags.VecA), b,
            MatmulTiledGpu.Vec(b, flags, GemmFlags.VecB), c, m, n, k, flags);
    }
}
