using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Matmul.GemmTiles;
using P = Engine.Kernels.Matmul.GemmRegsAsm;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v8, TF32 tensor cores with register-resident MMA state: v5's tiling (128×128 tile, 256 threads, BK = 8,
/// double-buffered K-major shared tiles with rows 136 floats apart, 8 warps of 64×32, 4 × 4 m16n8k8 MMAs per
/// K slice), but the accumulators and fragments live in PTX-declared registers (<see cref="GemmRegsPtx"/>; the
/// texts are constants in GemmRegsAsm.g.cs) and
/// every MMA, rounding and store is an input-only <c>CudaAsm.Emit</c> on them. v5 passes them through
/// <c>CudaAsm.EmitRef</c>, whose out/ref operands ILGPU lowers through local memory (an 832-byte stack frame at
/// O1). C is written from the registers by PTX stores (the raw device address of C is a kernel parameter), masked
/// per row and column. The PTX path runs all 16 MMAs of a slice, also on edge tiles (their shared data is zero
/// padded and outputs outside C are never stored); the software twin (<c>CudaAsm.IsSupported</c> false: ILGPU's
/// CPU accelerator) holds the same state in ILGPU values, rounds with the same cvt.rna rule, runs the MMA twin in
/// the same fragment layout and order, skips tiles wholly outside C (the twin's shuffles are slow), and stores
/// through the same masks. v9 (Matmul3xTf32RegGpu.cs) is this body with the 3×TF32 split.
/// </summary>
public static class MatmulTf32RegGpu
{
    const int Stride = Tile + 8;   // v5's padded shared rows: fragment loads hit 32 different banks

    /// <summary>The twin's accumulators (v5's layout): Tij is the m16n8 tile at rows 16i, columns 8j.</summary>
    struct Acc
    {
        public FragC T00, T01, T02, T03;
        public FragC T10, T11, T12, T13;
        public FragC T20, T21, T22, T23;
        public FragC T30, T31, T32, T33;
    }

    /// <summary>A warp's 64×32 MMA state and what is done to it: the PTX form (<see cref="Registers"/>) or the
    /// software twin (<see cref="Twin"/>). The body is generic over it, so both run the same tiling code.</summary>
    internal interface IWarpTile
    {
        /// <summary>One K slice of 8: A fragments x0..x3 of the m-tiles, B fragments y0..y3 of the n-tiles, as
        /// loaded (fp32; rounded here). live: bit 4i + j set where tile (i, j) holds any output of C
        /// (warp-uniform).</summary>
        void Slice(FragA x0, FragA x1, FragA x2, FragA x3, FragB y0, FragB y1, FragB y2, FragB y3, int live,
            bool threeX);

        /// <summary>Writes the outputs at rows row + 8k, columns col + 8(l / 2) + l % 2 where bit k of rows and bit
        /// l of cols are set; address: C's device address of (row, col), in bytes.</summary>
        void Store(ArrayView<float> c, long address, int row, int col, int rows, int cols, int n, bool accumulate);
    }

    /// <summary>The PTX form: state in the registers GemmRegsAsm.Init declared; every call is one input-only
    /// Emit. All 16 MMAs run on every slice (tiles outside C see zero-padded data and are never stored).</summary>
    internal struct Registers : IWarpTile
    {
        public void Slice(FragA x0, FragA x1, FragA x2, FragA x3, FragB y0, FragB y1, FragB y2, FragB y3, int live,
            bool threeX)
        {
            if (threeX)
            {
                CudaAsm.Emit(P.SplitA01, x0.A0, x0.A1, x0.A2, x0.A3, x1.A0, x1.A1, x1.A2, x1.A3);
                CudaAsm.Emit(P.SplitA23, x2.A0, x2.A1, x2.A2, x2.A3, x3.A0, x3.A1, x3.A2, x3.A3);
                CudaAsm.Emit(P.SplitB, y0.B0, y0.B1, y1.B0, y1.B1, y2.B0, y2.B1, y3.B0, y3.B1);
                CudaAsm.Emit(P.Mma3);
            }
            else
            {
                CudaAsm.Emit(P.LoadA01, x0.A0, x0.A1, x0.A2, x0.A3, x1.A0, x1.A1, x1.A2, x1.A3);
                CudaAsm.Emit(P.LoadA23, x2.A0, x2.A1, x2.A2, x2.A3, x3.A0, x3.A1, x3.A2, x3.A3);
                CudaAsm.Emit(P.LoadB, y0.B0, y0.B1, y1.B0, y1.B1, y2.B0, y2.B1, y3.B0, y3.B1);
                CudaAsm.Emit(P.Mma);
            }
        }

        public void Store(ArrayView<float> c, long address, int row, int col, int rows, int cols, int n,
            bool accumulate)
        {
            long step = 32L * n;   // bytes from row to row + 8
            if (accumulate) CudaAsm.Emit(P.StoreAdd, address, step, rows, cols);
            else CudaAsm.Emit(P.Store, address, step, rows, cols);
        }
    }

    /// <summary>The software twin: v5's ILGPU-value accumulators, the same cvt.rna rounding and split, the MMA twin
    /// in the PTX's fragment layout and order; tiles outside C are skipped (the twin's shuffles are slow). v10/v11's
    /// twin (MatmulTf32AsyncGpu) runs its MMAs and stores through this one.</summary>
    internal struct Twin : IWarpTile
    {
        Acc s;

        public void Slice(FragA x0, FragA x1, FragA x2, FragA x3, FragB y0, FragB y1, FragB y2, FragB y3, int live,
            bool threeX)
        {
            if ((live & 1 << 0) != 0) s.T00 = Step(s.T00, x0, y0, threeX);
            if ((live & 1 << 1) != 0) s.T01 = Step(s.T01, x0, y1, threeX);
            if ((live & 1 << 2) != 0) s.T02 = Step(s.T02, x0, y2, threeX);
            if ((live & 1 << 3) != 0) s.T03 = Step(s.T03, x0, y3, threeX);
            if ((live & 1 << 4) != 0) s.T10 = Step(s.T10, x1, y0, threeX);
            if ((live & 1 << 5) != 0) s.T11 = Step(s.T11, x1, y1, threeX);
            if ((live & 1 << 6) != 0) s.T12 = Step(s.T12, x1, y2, threeX);
            if ((live & 1 << 7) != 0) s.T13 = Step(s.T13, x1, y3, threeX);
            if ((live & 1 << 8) != 0) s.T20 = Step(s.T20, x2, y0, threeX);
            if ((live & 1 << 9) != 0) s.T21 = Step(s.T21, x2, y1, threeX);
            if ((live & 1 << 10) != 0) s.T22 = Step(s.T22, x2, y2, threeX);
            if ((live & 1 << 11) != 0) s.T23 = Step(s.T23, x2, y3, threeX);
            if ((live & 1 << 12) != 0) s.T30 = Step(s.T30, x3, y0, threeX);
            if ((live & 1 << 13) != 0) s.T31 = Step(s.T31, x3, y1, threeX);
            if ((live & 1 << 14) != 0) s.T32 = Step(s.T32, x3, y2, threeX);
            if ((live & 1 << 15) != 0) s.T33 = Step(s.T33, x3, y3, threeX);
        }

        public void Store(ArrayView<float> c, long address, int row, int col, int rows, int cols, int n,
            bool accumulate)
        {
            StoreTwin(c, s.T00, row + 0, col + 0, rows, cols, n, accumulate);
            StoreTwin(c, s.T01, row + 0, col + 8, rows, cols >> 2, n, accumulate);
            StoreTwin(c, s.T02, row + 0, col + 16, rows, cols >> 4, n, accumulate);
            StoreTwin(c, s.T03, row + 0, col + 24, rows, cols >> 6, n, accumulate);
            StoreTwin(c, s.T10, row + 16, col + 0, rows >> 2, cols, n, accumulate);
            StoreTwin(c, s.T11, row + 16, col + 8, rows >> 2, cols >> 2, n, accumulate);
            StoreTwin(c, s.T12, row + 16, col + 16, rows >> 2, cols >> 4, n, accumulate);
            StoreTwin(c, s.T13, row + 16, col + 24, rows >> 2, cols >> 6, n, accumulate);
            StoreTwin(c, s.T20, row + 32, col + 0, rows >> 4, cols, n, accumulate);
            StoreTwin(c, s.T21, row + 32, col + 8, rows >> 4, cols >> 2, n, accumulate);
            StoreTwin(c, s.T22, row + 32, col + 16, rows >> 4, cols >> 4, n, accumulate);
            StoreTwin(c, s.T23, row + 32, col + 24, rows >> 4, cols >> 6, n, accumulate);
            StoreTwin(c, s.T30, row + 48, col + 0, rows >> 6, cols, n, accumulate);
            StoreTwin(c, s.T31, row + 48, col + 8, rows >> 6, cols >> 2, n, accumulate);
            StoreTwin(c, s.T32, row + 48, col + 16, rows >> 6, cols >> 4, n, accumulate);
            StoreTwin(c, s.T33, row + 48, col + 24, rows >> 6, cols >> 6, n, accumulate);
        }
    }

    /// <summary>A's fragment of m-tile i from the sub-view whose element 0 is (k row t, column wm + g).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA LoadA(ArrayView<float> v, int i) => new()
        { A0 = v[16 * i], A1 = v[16 * i + 8], A2 = v[16 * i + 4 * Stride], A3 = v[16 * i + 4 * Stride + 8] };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB LoadB(ArrayView<float> v, int j) => new() { B0 = v[8 * j], B1 = v[8 * j + 4 * Stride] };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA Round(FragA x) => new()
    {
        A0 = TensorCore.RoundTf32Soft(x.A0), A1 = TensorCore.RoundTf32Soft(x.A1),
        A2 = TensorCore.RoundTf32Soft(x.A2), A3 = TensorCore.RoundTf32Soft(x.A3),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB Round(FragB x) => new() { B0 = TensorCore.RoundTf32Soft(x.B0), B1 = TensorCore.RoundTf32Soft(x.B1) };

    /// <summary>The 3×TF32 remainder tf32(x − hi), as the PTX's sub.f32 + cvt.rna.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA Low(FragA x, FragA hi) => Round(new FragA
        { A0 = x.A0 - hi.A0, A1 = x.A1 - hi.A1, A2 = x.A2 - hi.A2, A3 = x.A3 - hi.A3 });

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB Low(FragB x, FragB hi) => Round(new FragB { B0 = x.B0 - hi.B0, B1 = x.B1 - hi.B1 });

    /// <summary>One twin MMA step on tile c (TF32, or 3×TF32 in the PTX's order lo·hi, hi·lo, hi·hi). The *Soft
    /// twins, not TensorCore.Mma: ILGPU keeps this dead branch in the PTX, and Mma's EmitRef would put local memory
    /// there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC Step(FragC c, FragA x, FragB y, bool threeX)
    {
        FragA ah = Round(x);
        FragB bh = Round(y);
        if (threeX) TensorCore.Mma3Soft(ah, Low(x, ah), bh, Low(y, bh), ref c);
        else TensorCore.MmaSoft(ah, bh, ref c);
        return c;
    }

    /// <summary>The twin's store of tile fragment f at (row, col), where bits 0, 1 of rows say whether rows row and
    /// row + 8 are inside C and bits 0, 1 of cols whether columns col and col + 1 are (the PTX store's masks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreTwin(ArrayView<float> c, FragC f, int row, int col, int rows, int cols, int n, bool accumulate)
    {
        Store1(c, row * n + col, (rows & cols & 1) != 0, f.C0, accumulate);
        Store1(c, row * n + col + 1, (rows & (cols >> 1) & 1) != 0, f.C1, accumulate);
        Store1(c, (row + 8) * n + col, ((rows >> 1) & cols & 1) != 0, f.C2, accumulate);
        Store1(c, (row + 8) * n + col + 1, ((rows >> 1) & (cols >> 1) & 1) != 0, f.C3, accumulate);
    }

    /// <summary>The store masks of a thread's 64 outputs (v8-v11): bit k of Rows says row + 8k is a row of C, bit l of
    /// Cols that column col + 8(l / 2) + l % 2 is a column of C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (int Rows, int Cols) Masks(int row, int col, int m, int n)
    {
        int rows = 0, cols = 0;
        for (int q = 0; q < 8; q++)
        {
            if (row + 8 * q < m) rows |= 1 << q;
            if (col + 8 * (q >> 1) + (q & 1) < n) cols |= 1 << q;
        }
        return (rows, cols);
    }

    /// <summary>v8's and v9's kernel. The PTX form's register declarations must come first in the PTX text, and
    /// ILGPU lays blocks out so that a block precedes those it dominates: so the PTX form runs wholly inside the
    /// branch that declares them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Body(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4,
        ArrayView<float> c, long cAddress, int m, int n, int k, int flags, bool threeX)
    {
        // Shared tiles are allocated here, once: each instantiation of Tiles would allocate its own (ILGPU keeps the
        // dead branch), doubling the group's shared memory.
        var as4 = SharedMemory.Allocate<F4>(2 * BK * Stride / 4);
        var bs4 = SharedMemory.Allocate<F4>(2 * BK * Stride / 4);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(P.Init);
            Tiles(new Registers(), as4, bs4, a, a4, b, b4, c, cAddress, m, n, k, flags, threeX);
        }
        else Tiles(new Twin(), as4, bs4, a, a4, b, b4, c, cAddress, m, n, k, flags, threeX);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tiles<T>(T tile, ArrayView<F4> as4, ArrayView<F4> bs4, ArrayView<float> a, ArrayView<F4> a4,
        ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c, long cAddress, int m, int n, int k, int flags,
        bool threeX) where T : struct, IWarpTile
    {
        var asf = as4.Cast<float>();
        var bsf = bs4.Cast<float>();
        int tid = Group.IdxX, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
        int m0 = Grid.IdxY * Tile, n0 = Grid.IdxX * Tile;
        bool aK = (flags & GemmFlags.TransA) != 0, bK = (flags & GemmFlags.TransB) == 0;
        bool vecA = (flags & GemmFlags.VecA) != 0, vecB = (flags & GemmFlags.VecB) != 0;
        F4 pa = Fetch(a, a4, tid, 0, m0, m, k, aK, vecA), pb = Fetch(b, b4, tid, 0, n0, n, k, bK, vecB);
        Stage(asf, as4, 0, Stride, tid, pa, aK);
        Stage(bsf, bs4, 0, Stride, tid, pb, bK);
        Group.Barrier();
        int live = 0;   // bit 4i + j: m16 tile i and n8 tile j of the warp hold outputs of C (warp-uniform)
        for (int q = 0; q < 16; q++)
            if (m0 + wm + 16 * (q >> 2) < m && n0 + wn + 8 * (q & 3) < n) live |= 1 << q;
        int buffer = 0;
        for (int k0 = 0; k0 < k; k0 += BK)
        {
            bool more = k0 + BK < k;
            if (more)
            {
                pa = Fetch(a, a4, tid, k0 + BK, m0, m, k, aK, vecA);
                pb = Fetch(b, b4, tid, k0 + BK, n0, n, k, bK, vecB);
            }
            // Sub-views at the thread's first fragment element, so the fragment offsets are constants.
            int at = buffer * BK * Stride + t * Stride;
            var va = asf.SubView(at + wm + g, 4 * Stride + 48 + 9);
            var vb = bsf.SubView(at + wn + g, 4 * Stride + 24 + 1);
            tile.Slice(LoadA(va, 0), LoadA(va, 1), LoadA(va, 2), LoadA(va, 3), LoadB(vb, 0), LoadB(vb, 1),
                LoadB(vb, 2), LoadB(vb, 3), live, threeX);
            if (more)
            {
                int next = (buffer ^ 1) * BK * Stride;
                Stage(asf, as4, next, Stride, tid, pa, aK);
                Stage(bsf, bs4, next, Stride, tid, pb, bK);
            }
            Group.Barrier();
            buffer ^= 1;
        }
        int row = m0 + wm + g, col = n0 + wn + 2 * t;
        var (rows, cols) = MatmulTf32RegGpu.Masks(row, col, m, n);
        tile.Store(c, cAddress + 4L * ((long)row * n + col), row, col, rows, cols, n,
            (flags & GemmFlags.Accumulate) != 0);
    }

    static void Kernel(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c,
        long cAddress, int m, int n, int k, int flags) =>
        Body(a, a4, b, b4, c, cAddress, m, n, k, flags, threeX: false);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        Launch(kernels, Kernel, "matmul v8 (tf32, registers)", a, b, c, m, n, k, transA, transB, accumulate);

    /// <summary>Launches v8 or v9: v5's checks, plus C's raw device address for the PTX stores.</summary>
    internal static void Launch(LaunchContext kernels, Action<ArrayView<float>, ArrayView<F4>, ArrayView<float>,
            ArrayView<F4>, ArrayView<float>, long, int, int, int, int> kernel, string name, ArrayView<float> a,
        ArrayView<float> b, ArrayView<float> c, int m, int n, int k, bool transA, bool transB, bool accumulate)
    {
        if (!MatmulTf32Gpu.Prepare(kernels, name, c, m, n, k, accumulate)) return;
        int flags = GemmFlags.Of(a, b, c, m, n, k, transA, transB, accumulate);
        long address = DeviceAddress.Of(c);
        kernels.Grouped(kernel)(MatmulTiledGpu.Config(m, n), a, MatmulTiledGpu.Vec(a, flags, GemmFlags.VecA), b,
            MatmulTiledGpu.Vec(b, flags, GemmFlags.VecB), c, address, m, n, k, flags);
    }
}
