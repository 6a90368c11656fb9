using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Matmul.GemmTiles;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v3, SIMT: C[M,N] (+)= op(A)·op(B) (MatmulCpu.Reference is the definition) in 128×128 tiles of C per group of
/// 256 threads (16×16), BK = 8, each thread an 8×8 block of C in registers: rows 4·ty .. +3 and 64 + 4·ty .. +3,
/// columns 4·tx .. +3 and 64 + 4·tx .. +3, so its four 128-bit shared loads per k are spread over the banks.
/// Shared tiles are K-major (A stored transposed), their k rows <see cref="Pitch"/> floats apart, double-buffered:
/// while a slice is multiplied, the next one is already in registers and goes to the other buffer, one barrier per
/// slice. Tile sizes are constants, index
/// math is 32-bit (the launcher falls back to v2 when an operand has 2³¹ elements or more), the 8×8 update is
/// written out (ILGPU does not unroll, and an indexed local array would live in local memory). Edge tiles load
/// zeros and mask their stores, so any M, N, K works; every layout of a linear layer runs through the same code.
/// Needs 256-thread groups: a CUDA GPU or the 32-wide CPU accelerator (ilgpu-cpu32), refused elsewhere.
/// </summary>
public static class MatmulTiledGpu
{
    /// <summary>Floats between two k rows of a shared tile: Tile + 4, so the transposing stores (an operand stored
    /// with M or N as rows: A in A·B and A·Bᵀ, B in A·Bᵀ) hit 32 banks. At 128 a warp's scalar store put lanes 2i
    /// and 2i+1 (k and k + 4 of one row) in one bank: 2 wavefronts instead of 1, 4 extra per warp, slice and
    /// operand. The 128-bit reads are unaffected: all lanes of a read share its k row. 16.5 KiB of shared memory
    /// instead of 16.</summary>
    const int Pitch = Tile + 4;

    /// <summary>One thread's 8×8 block of C: Cij is row i of its rows (i &lt; 4: the first quad, else the second),
    /// column j alike (see <see cref="Body"/>).</summary>
    struct Block
    {
        public float C00, C01, C02, C03, C04, C05, C06, C07;
        public float C10, C11, C12, C13, C14, C15, C16, C17;
        public float C20, C21, C22, C23, C24, C25, C26, C27;
        public float C30, C31, C32, C33, C34, C35, C36, C37;
        public float C40, C41, C42, C43, C44, C45, C46, C47;
        public float C50, C51, C52, C53, C54, C55, C56, C57;
        public float C60, C61, C62, C63, C64, C65, C66, C67;
        public float C70, C71, C72, C73, C74, C75, C76, C77;
    }

    /// <summary>The rank-1 update of one k: a0/a1 are op(A)'s rows of the block, b0/b1 op(B)'s columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step(ref Block c, F4 a0, F4 a1, F4 b0, F4 b1)
    {
        c.C00 += a0.X * b0.X; c.C01 += a0.X * b0.Y; c.C02 += a0.X * b0.Z; c.C03 += a0.X * b0.W;
        c.C04 += a0.X * b1.X; c.C05 += a0.X * b1.Y; c.C06 += a0.X * b1.Z; c.C07 += a0.X * b1.W;
        c.C10 += a0.Y * b0.X; c.C11 += a0.Y * b0.Y; c.C12 += a0.Y * b0.Z; c.C13 += a0.Y * b0.W;
        c.C14 += a0.Y * b1.X; c.C15 += a0.Y * b1.Y; c.C16 += a0.Y * b1.Z; c.C17 += a0.Y * b1.W;
        c.C20 += a0.Z * b0.X; c.C21 += a0.Z * b0.Y; c.C22 += a0.Z * b0.Z; c.C23 += a0.Z * b0.W;
        c.C24 += a0.Z * b1.X; c.C25 += a0.Z * b1.Y; c.C26 += a0.Z * b1.Z; c.C27 += a0.Z * b1.W;
        c.C30 += a0.W * b0.X; c.C31 += a0.W * b0.Y; c.C32 += a0.W * b0.Z; c.C33 += a0.W * b0.W;
        c.C34 += a0.W * b1.X; c.C35 += a0.W * b1.Y; c.C36 += a0.W * b1.Z; c.C37 += a0.W * b1.W;
        c.C40 += a1.X * b0.X; c.C41 += a1.X * b0.Y; c.C42 += a1.X * b0.Z; c.C43 += a1.X * b0.W;
        c.C44 += a1.X * b1.X; c.C45 += a1.X * b1.Y; c.C46 += a1.X * b1.Z; c.C47 += a1.X * b1.W;
        c.C50 += a1.Y * b0.X; c.C51 += a1.Y * b0.Y; c.C52 += a1.Y * b0.Z; c.C53 += a1.Y * b0.W;
        c.C54 += a1.Y * b1.X; c.C55 += a1.Y * b1.Y; c.C56 += a1.Y * b1.Z; c.C57 += a1.Y * b1.W;
        c.C60 += a1.Z * b0.X; c.C61 += a1.Z * b0.Y; c.C62 += a1.Z * b0.Z; c.C63 += a1.Z * b0.W;
        c.C64 += a1.Z * b1.X; c.C65 += a1.Z * b1.Y; c.C66 += a1.Z * b1.Z; c.C67 += a1.Z * b1.W;
        c.C70 += a1.W * b0.X; c.C71 += a1.W * b0.Y; c.C72 += a1.W * b0.Z; c.C73 += a1.W * b0.W;
        c.C74 += a1.W * b1.X; c.C75 += a1.W * b1.Y; c.C76 += a1.W * b1.Z; c.C77 += a1.W * b1.W;
    }

    /// <summary>The 8 k-steps of one slice written out, for the unrolled version: va, vb are sub-views whose element
    /// 0 is the thread's first A and B quad at k = 0, so every offset below is a constant ptxas folds into the
    /// shared load (rows of a slice are Pitch / 4 = 33 F4 apart); ra, cb: the F4 gaps to the second quads.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Slice(ref Block s, ArrayView<F4> va, ArrayView<F4> vb, int ra, int cb)
    {
        const int R = Pitch / 4;
        Step(ref s, va[0], va[ra], vb[0], vb[cb]);
        Step(ref s, va[R], va[R + ra], vb[R], vb[R + cb]);
        Step(ref s, va[2 * R], va[2 * R + ra], vb[2 * R], vb[2 * R + cb]);
        Step(ref s, va[3 * R], va[3 * R + ra], vb[3 * R], vb[3 * R + cb]);
        Step(ref s, va[4 * R], va[4 * R + ra], vb[4 * R], vb[4 * R + cb]);
        Step(ref s, va[5 * R], va[5 * R + ra], vb[5 * R], vb[5 * R + cb]);
        Step(ref s, va[6 * R], va[6 * R + ra], vb[6 * R], vb[6 * R + cb]);
        Step(ref s, va[7 * R], va[7 * R + ra], vb[7 * R], vb[7 * R + cb]);
    }

    static void Kernel(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c,
        ArrayView<F4> c4, int m, int n, int k, int flags) =>
        Body(a, a4, b, b4, c, c4, m, n, k, flags, warpTiled: false, unrolled: false);

    /// <summary>The kernel of v3 and, with <paramref name="warpTiled"/>, of v7 (MatmulWarpTiledGpu.cs): only which
    /// 8×8 block of the tile a thread owns differs. v3: thread (ty, tx) = (tid / 16, tid % 16) owns rows
    /// 4·ty + {0..3, 64..67}, columns 4·tx + {0..3, 64..67}. v7: warp w owns the 32×64 warp tile at rows 32·(w / 2),
    /// columns 64·(w % 2); its lane (lm, ln) (see below) owns rows 4·lm + {0..3, 16..19} and columns
    /// 4·ln + {0..3, 32..35} of it, so a warp's shared reads per k touch 16 floats of A and 32 of B per 128-bit
    /// load (v3: 8 and 64). <paramref name="unrolled"/> (v12): the slice's 8 k-steps
    /// written out (<see cref="Slice"/>) instead of a loop ptxas keeps rolled (64 FFMA in v3/v7's SASS, one k-step);
    /// the same products in the same order, so the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Body(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4,
        ArrayView<float> c, ArrayView<F4> c4, int m, int n, int k, int flags, bool warpTiled, bool unrolled)
    {
        // [2 buffers][BK][Pitch] floats per operand; allocated as F4 so 128-bit accesses are aligned.
        var as4 = SharedMemory.Allocate<F4>(2 * BK * Pitch / 4);
        var bs4 = SharedMemory.Allocate<F4>(2 * BK * Pitch / 4);
        var asf = as4.Cast<float>();
        var bsf = bs4.Cast<float>();
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & 31;
        // Offsets in F4 within a shared row, and the gaps between a thread's two row and column quads. v7's lane
        // (lm, ln) = (bit 0 + 2·bit 4, bits 1-3), CUTLASS's interleaved SIMT lane layout: lanes 2i, 2i+1 read the
        // same B quad and lanes i, i^2 the same A quad. An LDS.128 returns 512 bytes, 4 wavefronts at 128 bytes
        // each, unless every lane pair n, n^1 (or n, n^2) shares its address: then 2 (NVIDIA's forum, a rule for
        // CC 7.x, and an ncu measurement on an H100 that fits it). Lanes (lane / 8, lane % 8) paired only A's reads:
        // 2 + 2 + 4 + 4 = 12 wavefronts per k-step, as many as v3's 16 × 16 threads; paired both ways, 8.
        int ar0 = warpTiled ? (warp >> 1) * 8 + ((lane & 1) | ((lane >> 4) << 1)) : tid >> 4;
        int bc0 = warpTiled ? (warp & 1) * 16 + ((lane >> 1) & 7) : tid & 15;
        int rowGap = warpTiled ? 16 : 64, colGap = warpTiled ? 32 : 64;
        int ar1 = ar0 + rowGap / 4, bc1 = bc0 + colGap / 4;
        int m0 = Grid.IdxY * Tile, n0 = Grid.IdxX * Tile;
        bool aK = (flags & GemmFlags.TransA) != 0, bK = (flags & GemmFlags.TransB) == 0;   // stored with K as rows
        bool vecA = (flags & GemmFlags.VecA) != 0, vecB = (flags & GemmFlags.VecB) != 0;
        var s = new Block();
        F4 pa = Get(a, a4, tid, 0, m0, m, k, aK, vecA), pb = Get(b, b4, tid, 0, n0, n, k, bK, vecB);
        Put(asf, as4, 0, tid, pa, aK, vecA);
        Put(bsf, bs4, 0, tid, pb, bK, vecB);
        Group.Barrier();
        int buffer = 0;
        for (int k0 = 0; k0 < k; k0 += BK)
        {
            bool more = k0 + BK < k;
            if (more)
            {
                // Next slice into registers now; its global latency hides behind the 8 steps below.
                pa = Get(a, a4, tid, k0 + BK, m0, m, k, aK, vecA);
                pb = Get(b, b4, tid, k0 + BK, n0, n, k, bK, vecB);
            }
            int at = buffer * (BK * Pitch / 4);   // in F4
            if (unrolled)
            {
                int last = (BK - 1) * (Pitch / 4) + 1;   // F4 from a thread's first quad at k = 0 to its last read
                Slice(ref s, as4.SubView(at + ar0, last + rowGap / 4), bs4.SubView(at + bc0, last + colGap / 4),
                    rowGap / 4, colGap / 4);
            }
            else
                for (int kk = 0; kk < BK; kk++)
                {
                    int row = at + kk * (Pitch / 4);
                    Step(ref s, as4[row + ar0], as4[row + ar1], bs4[row + bc0], bs4[row + bc1]);
                }
            if (more)
            {
                int next = (buffer ^ 1) * BK * Pitch;
                Put(asf, as4, next, tid, pa, aK, vecA);
                Put(bsf, bs4, next, tid, pb, bK, vecB);
            }
            // One barrier: the other buffer is complete, and nobody reads this one again before it is overwritten.
            Group.Barrier();
            buffer ^= 1;
        }
        int r0 = m0 + 4 * ar0, r1 = r0 + rowGap, col0 = n0 + 4 * bc0, col1 = col0 + colGap;
        Store4(c, c4, r0 + 0, col0, new F4 { X = s.C00, Y = s.C01, Z = s.C02, W = s.C03 }, m, n, flags);
        Store4(c, c4, r0 + 0, col1, new F4 { X = s.C04, Y = s.C05, Z = s.C06, W = s.C07 }, m, n, flags);
        Store4(c, c4, r0 + 1, col0, new F4 { X = s.C10, Y = s.C11, Z = s.C12, W = s.C13 }, m, n, flags);
        Store4(c, c4, r0 + 1, col1, new F4 { X = s.C14, Y = s.C15, Z = s.C16, W = s.C17 }, m, n, flags);
        Store4(c, c4, r0 + 2, col0, new F4 { X = s.C20, Y = s.C21, Z = s.C22, W = s.C23 }, m, n, flags);
        Store4(c, c4, r0 + 2, col1, new F4 { X = s.C24, Y = s.C25, Z = s.C26, W = s.C27 }, m, n, flags);
        Store4(c, c4, r0 + 3, col0, new F4 { X = s.C30, Y = s.C31, Z = s.C32, W = s.C33 }, m, n, flags);
        Store4(c, c4, r0 + 3, col1, new F4 { X = s.C34, Y = s.C35, Z = s.C36, W = s.C37 }, m, n, flags);
        Store4(c, c4, r1 + 0, col0, new F4 { X = s.C40, Y = s.C41, Z = s.C42, W = s.C43 }, m, n, flags);
        Store4(c, c4, r1 + 0, col1, new F4 { X = s.C44, Y = s.C45, Z = s.C46, W = s.C47 }, m, n, flags);
        Store4(c, c4, r1 + 1, col0, new F4 { X = s.C50, Y = s.C51, Z = s.C52, W = s.C53 }, m, n, flags);
        Store4(c, c4, r1 + 1, col1, new F4 { X = s.C54, Y = s.C55, Z = s.C56, W = s.C57 }, m, n, flags);
        Store4(c, c4, r1 + 2, col0, new F4 { X = s.C60, Y = s.C61, Z = s.C62, W = s.C63 }, m, n, flags);
        Store4(c, c4, r1 + 2, col1, new F4 { X = s.C64, Y = s.C65, Z = s.C66, W = s.C67 }, m, n, flags);
        Store4(c, c4, r1 + 3, col0, new F4 { X = s.C70, Y = s.C71, Z = s.C72, W = s.C73 }, m, n, flags);
        Store4(c, c4, r1 + 3, col1, new F4 { X = s.C74, Y = s.C75, Z = s.C76, W = s.C77 }, m, n, flags);
    }

    /// <summary>The next slice of an operand into registers: 128-bit where its rows are whole F4 (VecX), else
    /// scalar loads, coalesced by GemmTiles.FetchSpread where the operand is K-major; the flags are uniform, so the
    /// branches are.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static F4 Get(ArrayView<float> x, ArrayView<F4> x4, int tid, int k0, int base0, int mn, int k, bool kMajor,
        bool vec) =>
        vec || !kMajor ? Fetch(x, x4, tid, k0, base0, mn, k, kMajor, vec) : FetchSpread(x, tid, k0, base0, mn, k);

    /// <summary>What <see cref="Get"/> read into the shared tile at <paramref name="at"/> (floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(ArrayView<float> s, ArrayView<F4> s4, int at, int tid, F4 v, bool kMajor, bool vec)
    {
        if (vec || !kMajor) Stage(s, s4, at, Pitch, tid, v, kMajor);
        else StageSpread(s, at, Pitch, tid, v);
    }

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        Launch(kernels, Kernel, "matmul v3", a, b, c, m, n, k, transA, transB, accumulate);

    /// <summary>Launches a kernel of this signature (v3, v7) on the 128×128 grid; GEMMs beyond 32-bit indices or the
    /// grid go to v2, devices without 256-thread groups are refused.</summary>
    internal static void Launch(LaunchContext kernels, Action<ArrayView<float>, ArrayView<F4>, ArrayView<float>,
            ArrayView<F4>, ArrayView<float>, ArrayView<F4>, int, int, int, int> kernel, string name,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k, bool transA, bool transB,
        bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) Elementwise.ElementwiseGpu.Fill(kernels, c, 0f);
            return;
        }
        if (!CanRun(kernels, m, n, k))
        {
            if (kernels.MaxGroup < Threads)
                throw new NotSupportedException($"{name}: needs {Threads}-thread groups, this device allows " +
                                                $"{kernels.MaxGroup} (on ILGPU's CPU accelerator use ilgpu-cpu32)");
            MatmulGpu.Run(kernels, a, b, c, m, n, k, transA, transB, accumulate);   // beyond 32-bit indices or the grid
            return;
        }
        int flags = GemmFlags.Of(a, b, c, m, n, k, transA, transB, accumulate);
        kernels.Grouped(kernel)(Config(m, n), a, Vec(a, flags, GemmFlags.VecA), b,
            Vec(b, flags, GemmFlags.VecB), c, Vec(c, flags, GemmFlags.VecC), m, n, k, flags);
    }

    /// <summary>Whether the 128×128 kernels take this GEMM: 256-thread groups, 32-bit indices, ≤ 65535 tile
    /// rows.</summary>
    public static bool CanRun(LaunchContext kernels, int m, int n, int k) =>
        kernels.MaxGroup >= Threads && GemmFlags.Fits32(m, n, k) && (m + Tile - 1) / Tile <= 65535;

    public static KernelConfig Config(int m, int n) =>
        new(new Index3D((n + Tile - 1) / Tile, (m + Tile - 1) / Tile, 1), new Index3D(Threads, 1, 1));

    /// <summary>The F4 view of an operand, read only where <paramref name="flag"/> is set in
    /// <paramref name="flags"/>. Always a view of the operand's own buffer (never a default view, whose null
    /// buffer a GPU launch would have to marshal); where the path is off, the cast may be misaligned and is unused.
    /// </summary>
    public static ArrayView<F4> Vec(ArrayView<float> x, int flags, int flag) =>
        (flags & flag) != 0 ? x.SubView(0, x.Length & ~3L).Cast<F4>() : x.SubView(0, 0).Cast<F4>();
}
