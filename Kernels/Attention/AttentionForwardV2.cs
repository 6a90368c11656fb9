using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.FlashSimt;

namespace Engine.Kernels.Attention;

/// <summary>
/// Forward v2, the FlashAttention-2 layout on CUDA cores. A group owns Br query rows of one (batch, head), 16 per
/// warp, staged once in shared memory pre-scaled by log2(e)/√D; it walks the keys in blocks of 32 (K and V staged
/// swizzled): S = Q·Kᵀ as a register-blocked micro-GEMM (<see cref="FlashSimt.Gemm"/>, 4×4 per lane), the online
/// softmax with row max through xor shuffles, P·V into the lane's registers (<see cref="FlashSimt.Accumulate"/>),
/// and one division by the row sum at the end; lse = ln 2 · (m + log2 l) is saved. Causal: the group stops at its
/// last row's block, a warp skips blocks wholly above its rows and masks only the blocks that cross its diagonal.
/// Br by head size (Dp = D rounded up to 32; shared = Br·Dp + 2·32·Dp floats ≤ 48 KB, Br ≤ 64 so that T = 1024 at
/// B2 H8 still gives 256 groups): Dp 32, 64 and 96 → 64, 128 → 32. Any T, grouped-query heads (kv head
/// h / (Hq/Hkv)), D ≤ 128. Needs 32-lane warps.
/// </summary>
public static class AttentionForwardV2
{
    static long Row(int b, int t, int heads, int h, int steps, int d) => (((long)b * steps + t) * heads + h) * d;

    static void Kernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, dp4 = Dp / 4, br = z.Rows, chunks = Dp / 32;
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, rg = lane / 8, cg = lane % 8;
        int block = z.Blocks - 1 - Grid.IdxX % z.Blocks;                 // the longest causal rows start first
        int bh = Grid.IdxX / z.Blocks, h = bh % z.QHeads, b = bh / z.QHeads, hk = h / (z.QHeads / z.KvHeads);
        int i0 = block * br, kAt = br * Dp, vAt = kAt + BlockKeys * Dp;   // float offsets: Q [Br, Dp], K, V [32, Dp]
        Load(shf, 0, q, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, br, T - i0, D, Dp, false, z.ScaleLog2);

        float m0 = float.NegativeInfinity, m1 = m0, m2 = m0, m3 = m0;   // running max per row (log2 domain)
        float l0 = 0f, l1 = 0f, l2 = 0f, l3 = 0f;                        // this lane's part of the running sums
        Acc acc = default;                                                // [4 rows, Dp] unnormalised output
        int first = i0 + warp * WarpRows, lastOfWarp = first + WarpRows - 1, row0 = first + rg * 4;
        int last = XMath.Min(T - 1, i0 + br - 1);
        for (int j0 = 0; j0 <= last; j0 += BlockKeys)
        {
            Group.Barrier();                                             // the previous block is consumed
            Load(shf, kAt, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Load(shf, vAt, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Group.Barrier();
            if (first >= T || j0 > lastOfWarp) continue;                 // warp-uniform: nothing of this block is seen
            Tile s = Gemm(sh, warp * WarpRows * dp4, kAt / 4, dp4, rg, cg);
            if (j0 + BlockKeys - 1 > first)                              // the block crosses this warp's diagonal
            {
                int limit = row0 - j0 - cg;                     // key c·8+cg is visible to row0+r when c·8 ≤ limit+r
                s.R0 = MaskAbove(s.R0, limit);
                s.R1 = MaskAbove(s.R1, limit + 1);
                s.R2 = MaskAbove(s.R2, limit + 2);
                s.R3 = MaskAbove(s.R3, limit + 3);
            }
            // Key 0 is in the first block and visible to every row, so the new max is finite from then on.
            float n0 = XMath.Max(m0, RowMax(s.R0)), n1 = XMath.Max(m1, RowMax(s.R1));
            float n2 = XMath.Max(m2, RowMax(s.R2)), n3 = XMath.Max(m3, RowMax(s.R3));
            float c0 = XMath.Exp2(m0 - n0), c1 = XMath.Exp2(m1 - n1);
            float c2 = XMath.Exp2(m2 - n2), c3 = XMath.Exp2(m3 - n3);
            s.R0 = Exp2(s.R0, n0);
            s.R1 = Exp2(s.R1, n1);
            s.R2 = Exp2(s.R2, n2);
            s.R3 = Exp2(s.R3, n3);
            l0 = l0 * c0 + Sum(s.R0);
            l1 = l1 * c1 + Sum(s.R1);
            l2 = l2 * c2 + Sum(s.R2);
            l3 = l3 * c3 + Sum(s.R3);
            acc = Scale(acc, c0, c1, c2, c3, chunks);
            acc = Accumulate(acc, s, sh, vAt / 4, dp4, chunks, rg, cg);
            m0 = n0;
            m1 = n1;
            m2 = n2;
            m3 = n3;
        }
        // Every lane of a row group saw the same max, so the lane sums add up directly.
        l0 = RowSum(l0);
        l1 = RowSum(l1);
        l2 = RowSum(l2);
        l3 = RowSum(l3);
        if (first >= T) return;
        acc = Scale(acc, 1f / l0, 1f / l1, 1f / l2, 1f / l3, chunks);
        const float Ln2 = 0.693147180559945f;
        for (int r = 0; r < 4; r++)
        {
            int t = row0 + r;
            if (t >= T) break;
            StoreRow(o, Row(b, t, z.QHeads, h, T, D), acc, r, chunks, cg, D, add: false);
            float m = r == 0 ? m0 : r == 1 ? m1 : r == 2 ? m2 : m3, l = r == 0 ? l0 : r == 1 ? l1 : r == 2 ? l2 : l3;
            if (cg == 0) lse[(long)bh * T + t] = Ln2 * (m + XMath.Log2(l));
        }
    }

    /// <summary>Query rows per group for padded head size <paramref name="dp"/>: shared holds Q [Br, Dp] and
    /// K, V [32, Dp].</summary>
    public static int Rows(int dp) => RowsPerGroup(dp, own: 1, streamed: 2);

    public static void Forward(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        RequireWarp32(k, "attention forward v2");
        int dp = PaddedHeadDim(headDim), br = RowsFor(steps, Rows(dp)), blocks = (steps + br - 1) / br;
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, br, blocks, 1.44269504f / MathF.Sqrt(headDim));
        if (batch * qHeads * blocks == 0) return;
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            FlashDims>(Kernel)(new KernelConfig(batch * qHeads * blocks, 2 * br), q, kk, v, o, lse, z);
    }

    public static void RequireWarp32(LaunchContext k, string kernel)
    {
        if (k.WarpSize != 32)
            throw new NotSupportedException($"{kernel}: the lane layout needs warp size 32, this device has " +
                                            $"{k.WarpSize} " +
                                            "(on ILGPU's CPU accelerator use the 32-wide device 'ilgpu-cpu32')");
    }
}
