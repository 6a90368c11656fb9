using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.AttentionForwardV2;
using static Engine.Kernels.Attention.FlashPrefetch;
using static Engine.Kernels.Attention.FlashSimt;

namespace Engine.Kernels.Attention;

/// <summary>
/// Forward v7, v2 with the next K/V block in flight: v2 stages each block of 32 keys with a load, a barrier and then
/// the math, so with 8–12 warps per multiprocessor (BENCHMARKS.md, offline PTX check) every block waits out a
/// global-memory latency. Here each thread holds its share of the next K and V block in registers (up to 4 + 4
/// 16-byte slots, FlashPrefetch), issued right after the current block is in shared memory and written there after
/// the math, as GEMM v3 does with its slices (and FlashAttention-2 with its pipeline). The staging also loses v2's
/// per-element division: a thread's column slot and rows are fixed for the whole kernel, written with 128-bit
/// shared stores. Groups are always 4 warps (64 query rows), so a
/// thread's share of a block is fixed: Dp ≤ 64 only; larger heads run v2. Shared memory is what Dp ≤ 64 needs
/// (32 KB, not v2's 48). The scores, softmax and P·V are v2's code (AttentionForwardV2.Block), on the same shared
/// layout: the same bits as v2.
/// </summary>
public static class AttentionForwardV7
{
    const int SharedF4Needed = (GroupRows + 2 * BlockKeys) * MaxDp / 4;

    static void Kernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4Needed);
        int T = z.Steps, D = z.D, dp4 = z.Dp / 4;
        var at = new Place(z);
        var p = new Share(z);
        int kAt4 = GroupRows * dp4, vAt4 = kAt4 + BlockKeys * dp4;       // Q [64, Dp], K, V [32, Dp], in F4
        Load(sh.Cast<float>(), 0, q, Row(at.B, at.I0, z.QHeads, at.H, T, D), z.QHeads * D, GroupRows, T - at.I0, D,
            z.Dp, false, z.ScaleLog2);
        long start = Row(at.B, 0, z.KvHeads, at.Hk, T, D);
        int stride = z.KvHeads * D;
        Slots next = Fetch(k, v, start, stride, 0, 1f, p, z);
        var state = Online.Start();
        for (int j0 = 0; j0 <= at.Last; j0 += BlockKeys)
        {
            Group.Barrier();                                             // the previous block is consumed
            Put(sh, next, kAt4, vAt4, p);
            Group.Barrier();
            // The next block's loads are issued now and land while this block is multiplied.
            if (j0 + BlockKeys <= at.Last) next = Fetch(k, v, start, stride, j0 + BlockKeys, 1f, p, z);
            // The chunk count as a literal (D ≤ 64: 1 or 2): the output's chunks 2 and 3 then hold no registers.
            if (dp4 == 16) Block(ref state, sh, at, j0, kAt4, vAt4, 2, z);
            else Block(ref state, sh, at, j0, kAt4, vAt4, 1, z);
        }
        if (dp4 == 16) Finish(state, o, lse, at, 2, z);
        else Finish(state, o, lse, at, 1, z);
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
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, GroupRows, blocks, scale, Vec(headDim, kk, v));
        if (batch * qHeads * blocks == 0) return;
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            FlashDims>(Kernel)(new KernelConfig(batch * qHeads * blocks, Threads), q, kk, v, o, lse, z);
    }
}
