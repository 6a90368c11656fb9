using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Matmul.GemmTiles;
using P = Engine.Kernels.Matmul.GemmRegsAsm;
using Q = Engine.Kernels.Matmul.GemmAsyncAsm;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v10, TF32 tensor cores fed by an asynchronous pipeline: v8's warp tiling and register-resident MMA state
/// (128×128 tile of C, 256 threads, 8 warps of 64×32, 4 × 4 m16n8k8 MMAs per K slice of 8, accumulators and
/// fragments in PTX-declared registers, masked PTX stores; v8's Init/Mma/Mma3/Store texts), with the staging
/// replaced. Choices and why:
/// <list type="bullet">
/// <item>The warp tile stays v8's 64×32 (64 accumulators a thread): v8's register texts, store masks and twin carry
/// over unchanged, and so do its bits; 64×64 would take 128 accumulator registers a thread.</item>
/// <item>BK = 16 and 3 stages: a stage is 128×16 floats of A and of B (16 KB), so three fill ILGPU's 48 KB of
/// static shared memory exactly (BK = 32 would need 96 KB). A stage is two slices of 8, run in K order, so the
/// order of accumulation is v8's and the twin gives v8's bits (v11: v9's); a second slice wholly past K is
/// skipped (warp-uniform).</item>
/// <item>Global → shared by <c>cp.async.cg</c> (16 bytes, no registers in between): each thread copies 2 chunks of
/// A and 2 of B per stage; chunks outside the matrix are zero-filled (src-size 0, nothing read). The pipeline:
/// K tiles 0, 1 are issued first; before K tile kt is read, <c>cp.async.wait_group 1</c> + a barrier make it
/// visible, then K tile kt + 2 is issued into the stage K tile kt − 1 used (every warp passed the barrier, so it
/// is free) and committed (an empty group past the end keeps the count uniform). One barrier per 16 of K.</item>
/// <item>cp.async cannot transpose, so a shared tile keeps its operand's global layout: K-contiguous ([128][16],
/// 64-byte rows: A for A·B, B for A·Bᵀ) or K-major ([16][128], 512-byte rows: A for Aᵀ·B, B for A·B). Swizzled,
/// not padded (a pad of 8 per row would need 52 KB): K-contiguous chunk c of row r is stored at chunk c ^ ((r / 2)
/// % 4), so the 8 row addresses of an ldmatrix phase hit 8 different 16-byte bank groups; K-major chunk c of k row
/// r at c ^ 2(r % 4), so a scalar fragment load (k row t, column g, per lane) hits 32 different banks.</item>
/// <item>Fragments are loaded by PTX into the fragment registers directly (ILGPU never holds them): ldmatrix.x4
/// where K is contiguous (A: one per m16 tile; B: one per two n8 tiles; each tf32 value is two b16, matrix j of A
/// = (rows 8(j % 2).., k 4(j / 2)..) → a_j), scalar ld.shared where it is not (four lane offsets, see
/// <see cref="ScalarLane"/>, make every other offset a constant).</item>
/// </list>
/// A 16-byte cp.async needs a 16-byte-aligned global chunk: the operand's view must start 16-byte aligned and its
/// contiguous dimension (K for A, N for B; M for Aᵀ, K for Bᵀ) be a multiple of 4 (GemmFlags' VecA and VecB).
/// Where it is not (GPT-2's vocabulary of 50,257 makes the LM head's dX and dW such GEMMs), that operand's chunk
/// is copied as four 4-byte <c>cp.async.ca</c> words, each zero-filled on its own at the edge
/// (<see cref="WordCopies"/>): the shared layout, the pipeline and the bits stay the same, only that operand's
/// copy instructions are four times as many.
/// The software twin (<c>CudaAsm.IsSupported</c> false: ILGPU's CPU accelerator): cp.async → a plain copy of the
/// same 16 bytes (zeros where the PTX zero-fills), commit/wait → nothing (the barrier that follows the wait gives
/// the ordering), ldmatrix → the shared reads ldmatrix delivers (register j of a lane = matrix j's row lane / 4,
/// column lane % 4, the row's address being the one lane 8j + lane / 4 supplies), scalar loads the same
/// addresses, and MMAs and stores through v8's twin (<see cref="MatmulTf32RegGpu.Twin"/>). Nothing here has run on
/// a GPU yet: the structure is checked offline (TensorCorePtxTests, tools/gpu/ptxas-offline.sh), the speed is owed.
/// v11 (Matmul3xTf32AsyncGpu.cs) is this body with the 3×TF32 split.
/// </summary>
public static class MatmulTf32AsyncGpu
{
    public const int Stages = 3, Depth = 16;   // Depth: BK, the K extent of a stage
    const int OperandBytes = Tile * Depth * 4, StageBytes = 2 * OperandBytes;   // 8 KB, 16 KB
    const int KMajorRow = Tile * 4, KRow = Depth * 4;   // bytes per shared row: K-major tile, K-contiguous tile

    /// <summary>A lane's shared byte offsets, computed once: ldmatrix row addresses of A (slice 0, 1) and B, and the
    /// four scalar-load offsets.</summary>
    struct Lanes
    {
        public int A0, A1, B0, B1, L0, L1, L2, L3, Lane;
    }

    /// <summary>The PTX form (<see cref="Registers"/>) or the software twin (<see cref="Twin"/>) of the
    /// pipeline's steps; the body is generic over it.</summary>
    interface IAsyncTile
    {
        /// <summary>16 bytes, x[index .. index + 3] (global address: address + 4·index) to the shared array at byte
        /// offset; zeros where !inside.</summary>
        void Copy(ArrayView<F4> shared, int offset, ArrayView<float> x, long address, int index, bool inside);

        /// <summary>The same 16 shared bytes as four 4-byte copies of x[index + e], e = 0..3, each zero where !row or
        /// contig + e ≥ limit (contig: the chunk's first coordinate along the contiguous dimension, limit its
        /// length).</summary>
        void CopyWords(ArrayView<F4> shared, int offset, ArrayView<float> x, long address, int index, bool row,
            int contig, int limit);

        void Commit();

        /// <summary>Until at most the newest committed group is in flight (then a barrier).</summary>
        void Wait();

        /// <summary>K slice s (0, 1) of the stage whose A and B tiles of this warp start at byte offsets a, b: loads,
        /// rounds and multiplies. live: bit 4i + j where MMA tile (i, j) holds outputs of C (the twin skips the
        /// others).</summary>
        void Slice(ArrayView<float> shared, int a, int b, Lanes l, bool aK, bool bK, int s, int live, bool threeX);

        /// <summary>v8's store (<see cref="MatmulTf32RegGpu.IWarpTile.Store"/>).</summary>
        void Store(ArrayView<float> c, long address, int row, int col, int rows, int cols, int n, bool accumulate);
    }

    /// <summary>The PTX form: every step one input-only Emit; the state in GemmRegsAsm.Init's registers.</summary>
    struct Registers : IAsyncTile
    {
        public void Copy(ArrayView<F4> shared, int offset, ArrayView<float> x, long address, int index, bool inside) =>
            CudaAsm.Emit(Q.Copy, offset, inside ? address + 4L * index : address, inside ? 16 : 0);

        public void CopyWords(ArrayView<F4> shared, int offset, ArrayView<float> x, long address, int index, bool row,
            int contig, int limit)
        {
            Word(offset, address, index, row && contig < limit);
            Word(offset + 4, address, index + 1, row && contig + 1 < limit);
            Word(offset + 8, address, index + 2, row && contig + 2 < limit);
            Word(offset + 12, address, index + 3, row && contig + 3 < limit);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Word(int offset, long address, int index, bool inside) =>
            CudaAsm.Emit(Q.CopyWord, offset, inside ? address + 4L * index : address, inside ? 4 : 0);

        public void Commit() => CudaAsm.Emit(Q.Commit);

        public void Wait() => CudaAsm.Emit(Q.Wait);

        public void Slice(ArrayView<float> shared, int a, int b, Lanes l, bool aK, bool bK, int s, int live,
            bool threeX)
        {
            int sa = aK ? a + s * 8 * KMajorRow : a + (s == 0 ? l.A0 : l.A1);
            int sb = bK ? b + s * 8 * KMajorRow : b + (s == 0 ? l.B0 : l.B1);
            if (threeX)
            {
                if (aK) CudaAsm.Emit(Q.SplitAScalar, sa, l.L0, l.L1, l.L2, l.L3);
                else CudaAsm.Emit(Q.SplitAMatrix, sa);
                if (bK) CudaAsm.Emit(Q.SplitBScalar, sb, l.L0, l.L1, l.L2, l.L3);
                else CudaAsm.Emit(Q.SplitBMatrix, sb);
                CudaAsm.Emit(P.Mma3);
            }
            else
            {
                if (aK) CudaAsm.Emit(Q.LoadAScalar, sa, l.L0, l.L1, l.L2, l.L3);
                else CudaAsm.Emit(Q.LoadAMatrix, sa);
                if (bK) CudaAsm.Emit(Q.LoadBScalar, sb, l.L0, l.L1, l.L2, l.L3);
                else CudaAsm.Emit(Q.LoadBMatrix, sb);
                CudaAsm.Emit(P.Mma);
            }
        }

        public void Store(ArrayView<float> c, long address, int row, int col, int rows, int cols, int n,
            bool accumulate) => default(MatmulTf32RegGpu.Registers).Store(c, address, row, col, rows, cols, n,
            accumulate);
    }

    /// <summary>The software twin: plain copies, the shared reads ldmatrix and the scalar loads make, v8's
    /// twin for the arithmetic and the stores.</summary>
    struct Twin : IAsyncTile
    {
        MatmulTf32RegGpu.Twin inner;

        public void Copy(ArrayView<F4> shared, int offset, ArrayView<float> x, long address, int index, bool inside)
        {
            shared[offset >> 4] = inside
                ? new F4 { X = x[index], Y = x[index + 1], Z = x[index + 2], W = x[index + 3] }
                : default;
        }

        public void CopyWords(ArrayView<F4> shared, int offset, ArrayView<float> x, long address, int index, bool row,
            int contig, int limit)
        {
            shared[offset >> 4] = new F4
            {
                X = row && contig < limit ? x[index] : 0, Y = row && contig + 1 < limit ? x[index + 1] : 0,
                Z = row && contig + 2 < limit ? x[index + 2] : 0, W = row && contig + 3 < limit ? x[index + 3] : 0,
            };
        }

        public void Commit() { }

        public void Wait() { }

        public void Slice(ArrayView<float> shared, int a, int b, Lanes l, bool aK, bool bK, int s, int live,
            bool threeX)
        {
            int g = l.Lane >> 2, t = l.Lane & 3;
            FragA x0, x1, x2, x3;
            FragB y0, y1, y2, y3;
            if (aK)
            {
                int at = a + s * 8 * KMajorRow;
                x0 = ScalarA(shared, at, l, 0);
                x1 = ScalarA(shared, at, l, 1);
                x2 = ScalarA(shared, at, l, 2);
                x3 = ScalarA(shared, at, l, 3);
            }
            else
            {
                x0 = MatrixA(shared, a, s, g, t);
                x1 = MatrixA(shared, a + 16 * KRow, s, g, t);
                x2 = MatrixA(shared, a + 32 * KRow, s, g, t);
                x3 = MatrixA(shared, a + 48 * KRow, s, g, t);
            }
            if (bK)
            {
                int at = b + s * 8 * KMajorRow;
                y0 = ScalarB(shared, at, l, 0);
                y1 = ScalarB(shared, at, l, 1);
                y2 = ScalarB(shared, at, l, 2);
                y3 = ScalarB(shared, at, l, 3);
            }
            else
            {
                y0 = MatrixB(shared, b, s, g, t, 0);
                y1 = MatrixB(shared, b, s, g, t, 1);
                y2 = MatrixB(shared, b + 16 * KRow, s, g, t, 0);
                y3 = MatrixB(shared, b + 16 * KRow, s, g, t, 1);
            }
            inner.Slice(x0, x1, x2, x3, y0, y1, y2, y3, live, threeX);
        }

        public void Store(ArrayView<float> c, long address, int row, int col, int rows, int cols, int n,
            bool accumulate) => inner.Store(c, address, row, col, rows, cols, n, accumulate);
    }

    /// <summary>Byte offset (from the warp's m16 tile in a K-contiguous A tile) of the row this lane hands
    /// ldmatrix.x4 for K slice s: lanes 8j .. 8j + 7 give matrix j's rows, matrix j = rows 8(j % 2) .. + 7, k
    /// 8s + 4(j / 2) .. + 3, whose lane (g, t) element is a_j (g = lane / 4, t = lane % 4). Swizzled.</summary>
    static int MatrixLaneA(int lane, int s) => (lane & 15) * KRow + (((2 * s + (lane >> 4)) ^ ((lane >> 1) & 3)) << 4);

    /// <summary>The same for B stored [N][K] (two n8 tiles per ldmatrix.x4): matrix j = n rows 8(j / 2) .. + 7, k
    /// 8s + 4(j % 2) .. + 3, so registers 0..3 are b0, b1 of the first tile and b0, b1 of the second.</summary>
    static int MatrixLaneB(int lane, int s) =>
        ((lane & 7) + 8 * (lane >> 4)) * KRow + (((2 * s + ((lane >> 3) & 1)) ^ ((lane >> 1) & 3)) << 4);

    /// <summary>Scalar loads from a K-major tile: element (k row t, column 8u + g) of a slice, g = lane / 4, t = lane
    /// % 4, is stored at chunk (2u + g / 4) ^ 2t of row t, i.e. at ScalarLane(lane, u % 4) + 128·(u / 4) bytes
    /// from the warp's slice (the swizzle only touches the chunk's low 3 bits); k row t + 4 is 2048 bytes
    /// further.</summary>
    static int ScalarLane(int lane, int q)
    {
        int g = lane >> 2, t = lane & 3;
        return t * KMajorRow + ((2 * (q ^ t) + (g >> 2)) << 4) + 4 * (g & 3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int L(Lanes l, int q) => q == 0 ? l.L0 : q == 1 ? l.L1 : q == 2 ? l.L2 : l.L3;

    /// <summary>The twin of ldmatrix.x4 for A's m16 tile at byte offset at: register j of lane (g, t) is element t
    /// of the row whose address lane 8j + g gives.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA MatrixA(ArrayView<float> s, int at, int slice, int g, int t) => new()
    {
        A0 = s[((at + MatrixLaneA(g, slice)) >> 2) + t], A1 = s[((at + MatrixLaneA(8 + g, slice)) >> 2) + t],
        A2 = s[((at + MatrixLaneA(16 + g, slice)) >> 2) + t], A3 = s[((at + MatrixLaneA(24 + g, slice)) >> 2) + t],
    };

    /// <summary>The twin of ldmatrix.x4 for B's two n8 tiles at at: registers 0, 1 (half 0) or 2, 3 (half 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB MatrixB(ArrayView<float> s, int at, int slice, int g, int t, int half) => new()
    {
        B0 = s[((at + MatrixLaneB(16 * half + g, slice)) >> 2) + t],
        B1 = s[((at + MatrixLaneB(16 * half + 8 + g, slice)) >> 2) + t],
    };

    /// <summary>A's fragment of m-tile i from a K-major slice (the PTX's scalar loads, <see cref="ScalarLane"/>):
    /// a0, a1 are columns 8u + g with u = 2i, 2i + 1; a2, a3 the same at k + 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA ScalarA(ArrayView<float> s, int at, Lanes l, int i)
    {
        int p0 = at + L(l, (2 * i) & 3) + 128 * (i >> 1), p1 = at + L(l, ((2 * i) & 3) + 1) + 128 * (i >> 1);
        return new FragA { A0 = s[p0 >> 2], A1 = s[p1 >> 2], A2 = s[(p0 + 2048) >> 2], A3 = s[(p1 + 2048) >> 2] };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragB ScalarB(ArrayView<float> s, int at, Lanes l, int j)
    {
        int p = at + L(l, j);
        return new FragB { B0 = s[p >> 2], B1 = s[(p + 2048) >> 2] };
    }

    /// <summary>Issues one operand's copies for K tile kt into the stage tile at byte offset at: 2 chunks of 16 bytes
    /// per thread. kMajor: global [k][mn] → 16 rows of 32 chunks (rows tid / 32 and + 8); else global [mn][k] → 128
    /// rows of 4 chunks (rows tid / 4 and + 64). The two chunks share the swizzle, so the second is a constant
    /// further. words: the operand cannot be read in 16-byte chunks (<see cref="WordCopies"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void CopyOperand<T>(T tile, ArrayView<F4> shared, int at, ArrayView<float> x, long address, bool kMajor,
        bool words, int base0, int mn, int k, int kt, int tid) where T : struct, IAsyncTile
    {
        if (kMajor)
        {
            int row = tid >> 5, chunk = tid & 31, col = base0 + 4 * chunk, kk = kt * Depth + row;
            int offset = at + row * KMajorRow + ((chunk ^ ((row & 3) << 1)) << 4);
            if (words)
            {
                tile.CopyWords(shared, offset, x, address, kk * mn + col, kk < k, col, mn);
                tile.CopyWords(shared, offset + 8 * KMajorRow, x, address, (kk + 8) * mn + col, kk + 8 < k, col, mn);
                return;
            }
            tile.Copy(shared, offset, x, address, kk * mn + col, kk < k && col < mn);
            tile.Copy(shared, offset + 8 * KMajorRow, x, address, (kk + 8) * mn + col, kk + 8 < k && col < mn);
        }
        else
        {
            int row = tid >> 2, chunk = tid & 3, kk = kt * Depth + 4 * chunk, r = base0 + row;
            int offset = at + row * KRow + ((chunk ^ ((row >> 1) & 3)) << 4);
            if (words)
            {
                tile.CopyWords(shared, offset, x, address, r * k + kk, r < mn, kk, k);
                tile.CopyWords(shared, offset + 64 * KRow, x, address, (r + 64) * k + kk, r + 64 < mn, kk, k);
                return;
            }
            tile.Copy(shared, offset, x, address, r * k + kk, r < mn && kk < k);
            tile.Copy(shared, offset + 64 * KRow, x, address, (r + 64) * k + kk, r + 64 < mn && kk < k);
        }
    }

    /// <summary>v10's and v11's kernel. As v8: one shared allocation before the branch (it is
    /// <c>__shared_alloca0</c> in the PTX), and the PTX form wholly inside the branch that declares its
    /// registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Body(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, long aAddress,
        long bAddress, long cAddress, int m, int n, int k, int flags, bool threeX)
    {
        var shared = SharedMemory.Allocate<F4>(Stages * StageBytes / 16);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(P.Init);
            Tiles(new Registers(), shared, a, b, c, aAddress, bAddress, cAddress, m, n, k, flags, threeX);
        }
        else Tiles(new Twin(), shared, a, b, c, aAddress, bAddress, cAddress, m, n, k, flags, threeX);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tiles<T>(T tile, ArrayView<F4> shared, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c,
        long aAddress, long bAddress, long cAddress, int m, int n, int k, int flags, bool threeX)
        where T : struct, IAsyncTile
    {
        var sf = shared.Cast<float>();
        int tid = Group.IdxX, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
        int wm = (warp >> 2) * 64, wn = (warp & 3) * 32;
        int m0 = Grid.IdxY * Tile, n0 = Grid.IdxX * Tile;
        bool aK = (flags & GemmFlags.TransA) != 0, bK = (flags & GemmFlags.TransB) == 0;
        bool aWords = (flags & GemmFlags.VecA) == 0, bWords = (flags & GemmFlags.VecB) == 0;
        var l = new Lanes
        {
            A0 = MatrixLaneA(lane, 0), A1 = MatrixLaneA(lane, 1), B0 = MatrixLaneB(lane, 0),
            B1 = MatrixLaneB(lane, 1), L0 = ScalarLane(lane, 0), L1 = ScalarLane(lane, 1),
            L2 = ScalarLane(lane, 2), L3 = ScalarLane(lane, 3), Lane = lane,
        };
        // The warp's tiles in a stage: K-major tiles are column-offset (4 bytes a column), K-contiguous row-offset.
        int aWarp = aK ? 4 * wm : KRow * wm, bWarp = OperandBytes + (bK ? 4 * wn : KRow * wn);
        int live = 0;   // bit 4i + j: m16 tile i and n8 tile j of the warp hold outputs of C (warp-uniform)
        for (int q = 0; q < 16; q++)
            if (m0 + wm + 16 * (q >> 2) < m && n0 + wn + 8 * (q & 3) < n) live |= 1 << q;
        int tiles = (k + Depth - 1) / Depth;
        for (int p = 0; p < Stages - 1; p++)
        {
            if (p < tiles)
            {
                CopyOperand(tile, shared, p * StageBytes, a, aAddress, aK, aWords, m0, m, k, p, tid);
                CopyOperand(tile, shared, p * StageBytes + OperandBytes, b, bAddress, bK, bWords, n0, n, k, p, tid);
            }
            tile.Commit();
        }
        int stage = 0, free = Stages - 1;   // the stage read now, the one the next copy fills
        for (int kt = 0; kt < tiles; kt++)
        {
            tile.Wait();
            Group.Barrier();   // stage kt is visible to all; every warp is done with stage kt − 1 (= free)
            if (kt + Stages - 1 < tiles)
            {
                CopyOperand(tile, shared, free * StageBytes, a, aAddress, aK, aWords, m0, m, k, kt + Stages - 1,
                    tid);
                CopyOperand(tile, shared, free * StageBytes + OperandBytes, b, bAddress, bK, bWords, n0, n, k,
                    kt + Stages - 1, tid);
            }
            tile.Commit();
            int at = stage * StageBytes;
            tile.Slice(sf, at + aWarp, at + bWarp, l, aK, bK, 0, live, threeX);
            if (kt * Depth + 8 < k) tile.Slice(sf, at + aWarp, at + bWarp, l, aK, bK, 1, live, threeX);
            stage = stage == Stages - 1 ? 0 : stage + 1;
            free = free == Stages - 1 ? 0 : free + 1;
        }
        int row = m0 + wm + g, col = n0 + wn + 2 * t;
        var (rows, cols) = MatmulTf32RegGpu.Masks(row, col, m, n);
        tile.Store(c, cAddress + 4L * ((long)row * n + col), row, col, rows, cols, n,
            (flags & GemmFlags.Accumulate) != 0);
    }

    static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, long aAddress, long bAddress,
        long cAddress, int m, int n, int k, int flags) =>
        Body(a, b, c, aAddress, bAddress, cAddress, m, n, k, flags, threeX: false);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        Launch(kernels, Kernel, "matmul v10 (tf32, async)", a, b, c, m, n, k, transA, transB, accumulate);

    /// <summary>Which operands v10/v11 copy in 4-byte words instead of 16-byte chunks: those whose view does not start
    /// 16-byte aligned or whose contiguous dimension is not a multiple of 4 floats (GemmFlags' VecA, VecB
    /// unset).</summary>
    public static (bool A, bool B) WordCopies(ArrayView<float> a, ArrayView<float> b, int m, int n, int k,
        bool transA, bool transB)
    {
        int flags = GemmFlags.Of(a, b, b, m, n, k, transA, transB, false);
        return ((flags & GemmFlags.VecA) == 0, (flags & GemmFlags.VecB) == 0);
    }


    /// <summary>Launches v10 or v11: the tensor-core checks (MatmulTf32Gpu.Prepare), then the kernel with the
    /// operands' raw device addresses (cp.async and the PTX stores take them; ILGPU cannot give a view's address
    /// inside a kernel).</summary>
    internal static void Launch(LaunchContext kernels, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            long, long, long, int, int, int, int> kernel, string name, ArrayView<float> a, ArrayView<float> b,
        ArrayView<float> c, int m, int n, int k, bool transA, bool transB, bool accumulate)
    {
        if (!MatmulTf32Gpu.Prepare(kernels, name, c, m, n, k, accumulate)) return;
        int flags = GemmFlags.Of(a, b, c, m, n, k, transA, transB, accumulate);
        kernels.Grouped(kernel)(MatmulTiledGpu.Config(m, n), a, b, c, DeviceAddress.Of(a), DeviceAddress.Of(b),
            DeviceAddress.Of(c), m, n, k,
            flags);
    }
}
