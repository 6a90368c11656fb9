using System.Runtime.CompilerServices;
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
    internal static long Row(int b, int t, int heads, int h, int steps, int d) =>
        (((long)b * steps + t) * heads + h) * d;

    /// <summary>A lane's online-softmax state for its 4 rows: running max (log2 domain), its part of the running
    /// sums, and its share of the unnormalised output [4 rows, Dp].</summary>
    internal struct Online
    {
        public float M0, M1, M2, M3, L0, L1, L2, L3;
        public Acc Acc;

        public static Online Start() => new()
        {
            M0 = float.NegativeInfinity, M1 = float.NegativeInfinity, M2 = float.NegativeInfinity,
            M3 = float.NegativeInfinity,
        };
    }

    /// <summary>Where a group and its lanes are: (batch, query head, kv head), the group's first row i0, this warp's
    /// first row and this lane's row group and column group. The longest causal rows start first.</summary>
    internal readonly struct Place
    {
        public readonly int B, H, Hk, Bh, I0, Warp, Rg, Cg, First, LastOfWarp, Row0, Last;

        public Place(FlashDims z)
        {
            int block = z.Blocks - 1 - Grid.IdxX % z.Blocks, lane = Group.IdxX % 32;
            Bh = Grid.IdxX / z.Blocks;
            H = Bh % z.QHeads;
            B = Bh / z.QHeads;
            Hk = H / (z.QHeads / z.KvHeads);
            I0 = block * z.Rows;
            Warp = Group.IdxX / 32;
            Rg = lane / 8;
            Cg = lane % 8;
            First = I0 + Warp * WarpRows;
            LastOfWarp = First + WarpRows - 1;
            Row0 = First + Rg * 4;
            Last = XMath.Min(z.Steps - 1, I0 + z.Rows - 1);
        }
    }

    static void Kernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, br = z.Rows;
        var at = new Place(z);
        int kAt = br * Dp, vAt = kAt + BlockKeys * Dp;                   // float offsets: Q [Br, Dp], K, V [32, Dp]
        Load(shf, 0, q, Row(at.B, at.I0, z.QHeads, at.H, T, D), z.QHeads * D, br, T - at.I0, D, Dp, false, z.ScaleLog2);
        var state = Online.Start();
        for (int j0 = 0; j0 <= at.Last; j0 += BlockKeys)
        {
            Group.Barrier();                                             // the previous block is consumed
            Load(shf, kAt, k, Row(at.B, j0, z.KvHeads, at.Hk, T, D), z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Load(shf, vAt, v, Row(at.B, j0, z.KvHeads, at.Hk, T, D), z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Group.Barrier();
            Block(ref state, sh, at, j0, kAt / 4, vAt / 4, Dp / 32, z);
        }
        Finish(state, o, lse, at, Dp / 32, z);
    }

    /// <summary>One block of 32 keys (staged swizzled at F4 indices kAt4, vAt4) against the warp's 16 rows:
    /// S = Q·Kᵀ, the causal mask where the block crosses the warp's diagonal, the online-softmax update, O += P·V.
    /// A warp with nothing to see in the block (warp-uniform) does nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Block(ref Online st, ArrayView<F4> sh, Place at, int j0, int kAt4, int vAt4, int chunks,
        FlashDims z)
    {
        if (at.First >= z.Steps || j0 > at.LastOfWarp) return;
        int dp4 = z.Dp / 4;
        Tile s = Gemm(sh, at.Warp * WarpRows * dp4, kAt4, dp4, at.Rg, at.Cg);
        if (j0 + BlockKeys - 1 > at.First)                               // the block crosses this warp's diagonal
        {
            int limit = at.Row0 - j0 - at.Cg;                 // key c·8+cg is visible to row0+r when c·8 ≤ limit+r
            s.R0 = MaskAbove(s.R0, limit);
            s.R1 = MaskAbove(s.R1, limit + 1);
            s.R2 = MaskAbove(s.R2, limit + 2);
            s.R3 = MaskAbove(s.R3, limit + 3);
        }
        // Key 0 is in the first block and visible to every row, so the new max is finite from then on.
        float n0 = XMath.Max(st.M0, RowMax(s.R0)), n1 = XMath.Max(st.M1, RowMax(s.R1));
        float n2 = XMath.Max(st.M2, RowMax(s.R2)), n3 = XMath.Max(st.M3, RowMax(s.R3));
        float c0 = XMath.Exp2(st.M0 - n0), c1 = XMath.Exp2(st.M1 - n1);
        float c2 = XMath.Exp2(st.M2 - n2), c3 = XMath.Exp2(st.M3 - n3);
        s.R0 = Exp2(s.R0, n0);
        s.R1 = Exp2(s.R1, n1);
        s.R2 = Exp2(s.R2, n2);
        s.R3 = Exp2(s.R3, n3);
        st.L0 = st.L0 * c0 + Sum(s.R0);
        st.L1 = st.L1 * c1 + Sum(s.R1);
        st.L2 = st.L2 * c2 + Sum(s.R2);
        st.L3 = st.L3 * c3 + Sum(s.R3);
        st.Acc = Scale(st.Acc, c0, c1, c2, c3, chunks);
        st.Acc = Accumulate(st.Acc, s, sh, vAt4, dp4, chunks, at.Rg, at.Cg);
        st.M0 = n0;
        st.M1 = n1;
        st.M2 = n2;
        st.M3 = n3;
    }

    /// <summary>O = acc / l for the lane's rows, and lse = ln 2 · (m + log2 l).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Finish(Online st, ArrayView<float> o, ArrayView<float> lse, Place at, int chunks,
        FlashDims z)
    {
        // Every lane of a row group saw the same max, so the lane sums add up directly.
        float l0 = RowSum(st.L0), l1 = RowSum(st.L1), l2 = RowSum(st.L2), l3 = RowSum(st.L3);
        int T = z.Steps;
        if (at.First >= T) return;
        var acc = Scale(st.Acc, 1f / l0, 1f / l1, 1f / l2, 1f / l3, chunks);
        const float Ln2 = 0.693147180559945f;
        for (int r = 0; r < 4; r++)
        {
            int t = at.Row0 + r;
            if (t >= T) break;
            StoreRow(o, Row(at.B, t, z.QHeads, at.H, T, z.D), acc, r, chunks, at.Cg, z.D, add: false);
            float m = r == 0 ? st.M0 : r == 1 ? st.M1 : r == 2 ? st.M2 : st.M3;
            float l = r == 0 ? l0 : r == 1 ? l1 : r == 2 ? l2 : l3;
            if (at.Cg == 0) lse[(long)at.Bh * T + t] = Ln2 * (m + XMath.Log2(l));
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
