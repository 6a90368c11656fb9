using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.AttentionForwardV2;
using static Engine.Kernels.Attention.FlashSimt;

namespace Engine.Kernels.Attention;

/// <summary>
/// Forward v7, v2 with the next K/V block in flight: v2 stages each block of 32 keys with a load, a barrier and then
/// the math, so with 8–12 warps per multiprocessor (BENCHMARKS.md, offline PTX check) every block waits out a
/// global-memory latency. Here each thread holds its share of the next K and V block in registers (up to 4 + 4
/// 16-byte slots), issued right after the current block is in shared memory and written there after the math, as
/// GEMM v3 does with its slices (and FlashAttention-2 with its pipeline). The staging also loses v2's per-element
/// division: a thread owns one 4-float column slot c4 = tid mod Dp/4 of rows tid / (Dp/4) + i · 128 / (Dp/4), fixed
/// for the whole kernel, and writes it with one 128-bit shared store. Groups are always 4 warps (64 query rows), so a
/// thread's share of a block is fixed: Dp ≤ 64 only; larger heads run v2. Shared memory is what Dp ≤ 64 needs
/// (32 KB, not v2's 48). The scores, softmax and P·V are v2's code (AttentionForwardV2.Block), on the same shared
/// layout: the same bits as v2.
/// </summary>
public static class AttentionForwardV7
{
    const int Threads = 128, GroupRows = 64;          // 4 warps of 16 query rows
    const int MaxDp = 64, SharedF4Needed = (GroupRows + 2 * BlockKeys) * MaxDp / 4;

    /// <summary>A thread's share of one K and one V block [32, Dp]: slots i = 0 .. Dp/16 − 1 of each, slot i at row
    /// r0 + i · step (see <see cref="Fetch"/>).</summary>
    struct Slots
    {
        public F4 K0, K1, K2, K3, V0, V1, V2, V3;
    }

    /// <summary>Columns c .. c+3 of a row of x that starts at <paramref name="row"/> (zero past D, or for a row past
    /// T).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static F4 Read(ArrayView<float> x, long row, bool ok, int c, int d) => new()
    {
        X = ok && c < d ? x[row + c] : 0f,
        Y = ok && c + 1 < d ? x[row + c + 1] : 0f,
        Z = ok && c + 2 < d ? x[row + c + 2] : 0f,
        W = ok && c + 3 < d ? x[row + c + 3] : 0f,
    };

    /// <summary>The thread's slots of the K and V block at key j0: rows r0 + i · step, columns 4·c4 .. +3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Slots Fetch(ArrayView<float> k, ArrayView<float> v, Place at, int j0, int r0, int step, int c4, int slots,
        FlashDims z)
    {
        int c = 4 * c4, t = j0 + r0;
        Slots s = default;
        (s.K0, s.V0) = Pair(k, v, at, t, c, z);
        if (slots > 1) (s.K1, s.V1) = Pair(k, v, at, t + step, c, z);
        if (slots > 2) (s.K2, s.V2) = Pair(k, v, at, t + 2 * step, c, z);
        if (slots > 3) (s.K3, s.V3) = Pair(k, v, at, t + 3 * step, c, z);
        return s;
    }

    /// <summary>Columns c .. c+3 of key row t of K and of V.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (F4, F4) Pair(ArrayView<float> k, ArrayView<float> v, Place at, int t, int c, FlashDims z)
    {
        long row = Row(at.B, t, z.KvHeads, at.Hk, z.Steps, z.D);
        return (Read(k, row, t < z.Steps, c, z.D), Read(v, row, t < z.Steps, c, z.D));
    }

    /// <summary>Writes the slots into the swizzled K and V blocks (F4 indices kAt4, vAt4): slot c4 of row r at
    /// r · Dp/4 + (c4 xor r mod 8), v2's layout (FlashSimt.Load with swizzle).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(ArrayView<F4> sh, Slots s, int kAt4, int vAt4, int r0, int step, int c4, int slots, int dp4)
    {
        Put1(sh, kAt4, vAt4, r0, c4, dp4, s.K0, s.V0);
        if (slots > 1) Put1(sh, kAt4, vAt4, r0 + step, c4, dp4, s.K1, s.V1);
        if (slots > 2) Put1(sh, kAt4, vAt4, r0 + 2 * step, c4, dp4, s.K2, s.V2);
        if (slots > 3) Put1(sh, kAt4, vAt4, r0 + 3 * step, c4, dp4, s.K3, s.V3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put1(ArrayView<F4> sh, int kAt4, int vAt4, int r, int c4, int dp4, F4 kx, F4 vx)
    {
        int at = r * dp4 + (c4 ^ (r & 7));
        sh[kAt4 + at] = kx;
        sh[vAt4 + at] = vx;
    }

    static void Kernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4Needed);
        int T = z.Steps, D = z.D, dp4 = z.Dp / 4, tid = Group.IdxX;
        var at = new Place(z);
        int kAt4 = GroupRows * dp4, vAt4 = kAt4 + BlockKeys * dp4;       // Q [64, Dp], K, V [32, Dp], in F4
        int c4 = tid % dp4, r0 = tid / dp4, step = Threads / dp4, slots = dp4 / 4;
        Load(sh.Cast<float>(), 0, q, Row(at.B, at.I0, z.QHeads, at.H, T, D), z.QHeads * D, GroupRows, T - at.I0, D,
            z.Dp, false, z.ScaleLog2);
        Slots next = Fetch(k, v, at, 0, r0, step, c4, slots, z);
        var state = Online.Start();
        for (int j0 = 0; j0 <= at.Last; j0 += BlockKeys)
        {
            Group.Barrier();                                             // the previous block is consumed
            Put(sh, next, kAt4, vAt4, r0, step, c4, slots, dp4);
            Group.Barrier();
            // The next block's loads are issued now and land while this block is multiplied.
            if (j0 + BlockKeys <= at.Last) next = Fetch(k, v, at, j0 + BlockKeys, r0, step, c4, slots, z);
            Block(ref state, sh, at, j0, kAt4, vAt4, z);
        }
        Finish(state, o, lse, at, z);
    }

    public static void Forward(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        RequireWarp32(k, "attention forward v7");
        int dp = PaddedHeadDim(headDim);
        if (dp > MaxDp)
        {
            AttentionForwardV2.Forward(k, q, kk, v, o, lse, batch, steps, qHeads, kvHeads, headDim);
            return;
        }
        int blocks = (steps + GroupRows - 1) / GroupRows;
        float scale = 1.44269504f / MathF.Sqrt(headDim);
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, GroupRows, blocks, scale);
        if (batch * qHeads * blocks == 0) return;
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            FlashDims>(Kernel)(new KernelConfig(batch * qHeads * blocks, Threads), q, kk, v, o, lse, z);
    }
}
