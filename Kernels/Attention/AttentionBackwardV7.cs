using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.AttentionBackwardV2;
using static Engine.Kernels.Attention.AttentionForwardV2;
using static Engine.Kernels.Attention.FlashPrefetch;
using static Engine.Kernels.Attention.FlashSimt;

namespace Engine.Kernels.Attention;

/// <summary>
/// Backward v7, v2 with the next streamed block in flight (forward v7's staging): v2 stages every streamed block
/// with a load, a barrier and then the math. Here each thread holds its share of the next two streamed blocks in
/// registers (up to 4 + 4 16-byte slots), issued right after the current blocks are in shared memory and written
/// there after the math. dK/dV pass: the streamed blocks are Q (times log2(e)/√D, the same single multiplication as
/// v2) and dout, walked over the query heads of the kv head and the query blocks from the group's first key, so
/// the block after a head's last one is the next head's first. dQ pass: K and V, as in forward v7. A thread owns
/// column slot c4 = tid mod Dp/4 of rows tid / (Dp/4) + i · 128 / (Dp/4) of each block, written with 128-bit shared
/// stores into v2's swizzled layout. Groups are always 4 warps (64 rows; warps past T only stage), so Dp ≤ 64
/// only; larger heads run v2. Shared memory: 2 owned [64, Dp] + 2 streamed [32, Dp] blocks at Dp = 64, 48 KB (as
/// v2). The math is v2's code (AttentionBackwardV2.KeyBlock, QueryBlock) on the same layout: v2's bits.
/// </summary>
public static class AttentionBackwardV7
{
    const int SharedF4Needed = (2 * GroupRows + 2 * BlockKeys) * MaxDp / 4;
    const float Log2E = 1.44269504f;

    static void KeyValueKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dk, ArrayView<float> dv, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4Needed);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, dp4 = Dp / 4, group = z.QHeads / z.KvHeads, stride = z.QHeads * D;
        var at = new KeyPlace(z);
        var p = new Share(z);
        int vAt4 = GroupRows * dp4, qAt4 = 2 * GroupRows * dp4, oAt4 = qAt4 + BlockKeys * dp4;   // K, V, Q, dout
        Load(shf, 0, k, Row(at.B, at.J0, z.KvHeads, at.Hk, T, D), z.KvHeads * D, GroupRows, T - at.J0, D, Dp, false,
            1f);
        Load(shf, 4 * vAt4, v, Row(at.B, at.J0, z.KvHeads, at.Hk, T, D), z.KvHeads * D, GroupRows, T - at.J0, D, Dp,
            false, 1f);
        int h = at.Hk * group, last = h + group, i0 = at.J0;              // the block (h, i0) runs next
        Slots next = Fetch(q, dout, Row(at.B, 0, z.QHeads, h, T, D), stride, i0, z.ScaleLog2, p, z);
        KeyGrads g = default;
        while (h < last)
        {
            Group.Barrier();                                             // the previous block is consumed
            Put(sh, next, qAt4, oAt4, p);
            Group.Barrier();
            // v2's order: query heads of the kv head, then blocks from the group's first key (queries before it never
            // see its keys); after a head's last block comes the next head's first.
            int nh = h, ni0 = i0 + BlockKeys;
            if (ni0 >= T)
            {
                nh = h + 1;
                ni0 = at.J0;
            }
            if (nh < last) next = Fetch(q, dout, Row(at.B, 0, z.QHeads, nh, T, D), stride, ni0, z.ScaleLog2, p, z);
            // The chunk count as a literal (D ≤ 64: 1 or 2): dK and dV's chunks 2 and 3 are then never touched and
            // hold no registers (v2 keeps all four live for D = 128, which left no room for the slots).
            if (Dp == 64) KeyBlock(ref g, sh, at, h, i0, vAt4, qAt4, oAt4, lse, rowDot, 2, z);
            else KeyBlock(ref g, sh, at, h, i0, vAt4, qAt4, oAt4, lse, rowDot, 1, z);
            h = nh;
            i0 = ni0;
        }
        if (Dp == 64) KeyFinish(g, dk, dv, at, 2, z);
        else KeyFinish(g, dk, dv, at, 1, z);
    }

    static void QueryKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dq, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4Needed);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, dp4 = Dp / 4, stride = z.KvHeads * D;
        var at = new Place(z);
        var p = new Share(z);
        int oAt4 = GroupRows * dp4, kAt4 = 2 * GroupRows * dp4, vAt4 = kAt4 + BlockKeys * dp4;   // Q, dout, K, V
        Load(shf, 0, q, Row(at.B, at.I0, z.QHeads, at.H, T, D), z.QHeads * D, GroupRows, T - at.I0, D, Dp, false,
            z.ScaleLog2);
        Load(shf, 4 * oAt4, dout, Row(at.B, at.I0, z.QHeads, at.H, T, D), z.QHeads * D, GroupRows, T - at.I0, D, Dp,
            false, 1f);
        var st = QueryStart(lse, rowDot, at, z);
        long start = Row(at.B, 0, z.KvHeads, at.Hk, T, D);
        Slots next = Fetch(k, v, start, stride, 0, 1f, p, z);
        for (int j0 = 0; j0 <= at.Last; j0 += BlockKeys)
        {
            Group.Barrier();                                             // the previous block is consumed
            Put(sh, next, kAt4, vAt4, p);
            Group.Barrier();
            // The next block's loads are issued now and land while this block is multiplied.
            if (j0 + BlockKeys <= at.Last) next = Fetch(k, v, start, stride, j0 + BlockKeys, 1f, p, z);
            if (Dp == 64) QueryBlock(ref st, sh, at, j0, oAt4, kAt4, vAt4, 2, z);    // chunks as a literal
            else QueryBlock(ref st, sh, at, j0, oAt4, kAt4, vAt4, 1, z);
        }
        if (Dp == 64) QueryFinish(st, dq, at, 2, z);
        else QueryFinish(st, dq, at, 1, z);
    }

    public static void Backward(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        RequireWarp32(k, "attention backward v7");
        int dp = PaddedHeadDim(headDim);
        if (dp > MaxDp)
        {
            AttentionBackwardV2.Backward(k, q, kk, v, o, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads,
                headDim);
            return;
        }
        int blocks = (steps + GroupRows - 1) / GroupRows;
        if (batch * qHeads * blocks == 0) return;
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, GroupRows, blocks, Log2E / MathF.Sqrt(headDim),
            Vec(headDim, q, kk, v, dout));
        using var rowDot = k.Scratch(batch * qHeads * steps);
        AttentionGpu.RowDots(k, o, dout, rowDot.View, batch, steps, qHeads, headDim);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashDims>(KeyValueKernel)(
            new KernelConfig(batch * kvHeads * blocks, Threads), q, kk, v, lse, rowDot.View, dout, dk, dv, z);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, FlashDims>(QueryKernel)(
            new KernelConfig(batch * qHeads * blocks, Threads), q, kk, v, lse, rowDot.View, dout, dq, z);
    }
}
