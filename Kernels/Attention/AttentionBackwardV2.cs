using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.AttentionForwardV2;
using static Engine.Kernels.Attention.FlashSimt;

namespace Engine.Kernels.Attention;

/// <summary>
/// Backward v2, FlashAttention-2 order on CUDA cores, deterministic. Pre-pass Dᵢ = doutᵢ·outᵢ. Then
/// <b>dK/dV</b>: a group owns Bc key rows of one (batch, kv head), 16 per warp, K and V staged once; the outer loop
/// runs over the query heads that share the kv head (in order), the inner one over blocks of 32 queries from the
/// group's first key on (Q, dout staged swizzled): Sᵀ = K·Qᵀ and P = exp2(Sᵀ − lse), dPᵀ = V·doutᵀ,
/// dSᵀ = P ⊙ (dPᵀ − D), dV += Pᵀ·dout and dK += dSᵀ·Q kept in registers, written once. <b>dQ</b>: a separate pass in
/// the forward's layout (a group owns Br query rows and walks the key blocks up to its diagonal), recomputing S
/// and dP: dQ += dS·K in registers. No float atomics anywhere, so two runs give the same bits; the price is S and
/// dP computed twice (7 instead of 5 block products per pair of blocks). Rows per group (Q, dout or K, V owned,
/// two 32-row blocks streamed, 48 KB): Dp 32, 64 → 64, 96 → 32, 128 → 16. Needs 32-lane warps.
/// </summary>
public static class AttentionBackwardV2
{
    const float Ln2 = 0.693147180559945f, Log2E = 1.44269504f;

    /// <summary>Per query column c·8 + cg of a block from i0: lse in the log2 domain (+∞ past T: P = 0 there) or
    /// Dᵢ.</summary>
    static F4 Column(ArrayView<float> x, long at, int i0, int cg, int steps, float mul, float past)
    {
        int i = i0 + cg;
        return new F4
        {
            X = i < steps ? x[at + i] * mul : past,
            Y = i + 8 < steps ? x[at + i + 8] * mul : past,
            Z = i + 16 < steps ? x[at + i + 16] * mul : past,
            W = i + 24 < steps ? x[at + i + 24] * mul : past,
        };
    }

    /// <summary>Where a dK/dV group's warp and lane are: (batch, kv head), the group's first key j0, this warp's
    /// first key and this lane's first key row, row group and column group. The first keys see the most queries:
    /// their groups start first.</summary>
    internal readonly struct KeyPlace
    {
        public readonly int B, Hk, J0, Warp, Rg, Cg, First, Key0;

        public KeyPlace(FlashDims z)
        {
            int lane = Group.IdxX % 32, bk = Grid.IdxX / z.Blocks;
            Hk = bk % z.KvHeads;
            B = bk / z.KvHeads;
            J0 = Grid.IdxX % z.Blocks * z.Rows;
            Warp = Group.IdxX / 32;
            Rg = lane / 8;
            Cg = lane % 8;
            First = J0 + Warp * WarpRows;
            Key0 = First + Rg * 4;
        }
    }

    /// <summary>A lane's dK and dV [4 key rows, Dp] each.</summary>
    internal struct KeyGrads
    {
        public Acc DK, DV;
    }

    /// <summary>One block of 32 queries from i0 of query head h (Q times log2(e)/√D and dout staged swizzled at F4
    /// indices qAt4, oAt4; the group's V in rows from vAt4) against the warp's 16 keys: Sᵀ = K·Qᵀ, the causal mask
    /// where the block crosses the warp's diagonal, P, dPᵀ = V·doutᵀ, dSᵀ, dV += Pᵀ·dout, dK += dSᵀ·Q. A warp no
    /// query of the block sees (warp-uniform) does nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void KeyBlock(ref KeyGrads g, ArrayView<F4> sh, KeyPlace at, int h, int i0, int vAt4, int qAt4,
        int oAt4, ArrayView<float> lse, ArrayView<float> rowDot, int chunks, FlashDims z)
    {
        int T = z.Steps, dp4 = z.Dp / 4;
        if (at.First >= T || i0 + BlockKeys - 1 < at.First) return;
        long bh = (long)at.B * z.QHeads + h;
        F4 l = Column(lse, bh * T, i0, at.Cg, T, Log2E, float.PositiveInfinity);
        F4 di = Column(rowDot, bh * T, i0, at.Cg, T, 1f, 0f);
        Tile s = Gemm(sh, at.Warp * WarpRows * dp4, qAt4, dp4, at.Rg, at.Cg);          // Sᵀ [16 keys, 32 queries]
        if (i0 < at.First + WarpRows - 1)                                             // the block crosses the diagonal
        {
            int limit = at.Key0 - i0 - at.Cg;                // query c·8+cg sees key key0+r when c·8 ≥ limit+r
            s.R0 = MaskBelow(s.R0, limit);
            s.R1 = MaskBelow(s.R1, limit + 1);
            s.R2 = MaskBelow(s.R2, limit + 2);
            s.R3 = MaskBelow(s.R3, limit + 3);
        }
        s.R0 = Exp2(s.R0, l);
        s.R1 = Exp2(s.R1, l);
        s.R2 = Exp2(s.R2, l);
        s.R3 = Exp2(s.R3, l);
        Tile dp = Gemm(sh, vAt4 + at.Warp * WarpRows * dp4, oAt4, dp4, at.Rg, at.Cg);    // dPᵀ = V·doutᵀ
        Tile ds = new() { R0 = Ds(s.R0, dp.R0, di), R1 = Ds(s.R1, dp.R1, di), R2 = Ds(s.R2, dp.R2, di),
            R3 = Ds(s.R3, dp.R3, di) };
        g.DV = Accumulate(g.DV, s, sh, oAt4, dp4, chunks, at.Rg, at.Cg);
        g.DK = Accumulate(g.DK, ds, sh, qAt4, dp4, chunks, at.Rg, at.Cg);
    }

    /// <summary>Adds the lane's dK (times ln 2: Q was staged times log2(e)/√D, dK wants 1/√D) and dV rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void KeyFinish(KeyGrads g, ArrayView<float> dk, ArrayView<float> dv, KeyPlace at, int chunks,
        FlashDims z)
    {
        int T = z.Steps, D = z.D;
        if (at.First >= T) return;
        var dK = Scale(g.DK, Ln2, Ln2, Ln2, Ln2, chunks);
        for (int r = 0; r < 4; r++)
        {
            int j = at.Key0 + r;
            if (j >= T) break;
            StoreRow(dk, Row(at.B, j, z.KvHeads, at.Hk, T, D), dK, r, chunks, at.Cg, D, add: true);
            StoreRow(dv, Row(at.B, j, z.KvHeads, at.Hk, T, D), g.DV, r, chunks, at.Cg, D, add: true);
        }
    }

    static void KeyValueKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dk, ArrayView<float> dv, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, bc = z.Rows, group = z.QHeads / z.KvHeads;
        var at = new KeyPlace(z);
        int vAt = bc * Dp, qAt = 2 * bc * Dp, oAt = qAt + BlockKeys * Dp;              // float offsets
        Load(shf, 0, k, Row(at.B, at.J0, z.KvHeads, at.Hk, T, D), z.KvHeads * D, bc, T - at.J0, D, Dp, false, 1f);
        Load(shf, vAt, v, Row(at.B, at.J0, z.KvHeads, at.Hk, T, D), z.KvHeads * D, bc, T - at.J0, D, Dp, false, 1f);
        KeyGrads g = default;
        for (int hh = 0; hh < group; hh++)
        {
            int h = at.Hk * group + hh;
            for (int i0 = at.J0; i0 < T; i0 += BlockKeys)        // queries before the group's keys never see them
            {
                Group.Barrier();
                Load(shf, qAt, q, Row(at.B, i0, z.QHeads, h, T, D), z.QHeads * D, BlockKeys, T - i0, D, Dp, true,
                    z.ScaleLog2);
                Load(shf, oAt, dout, Row(at.B, i0, z.QHeads, h, T, D), z.QHeads * D, BlockKeys, T - i0, D, Dp, true,
                    1f);
                Group.Barrier();
                KeyBlock(ref g, sh, at, h, i0, vAt / 4, qAt / 4, oAt / 4, lse, rowDot, Dp / 32, z);
            }
        }
        KeyFinish(g, dk, dv, at, Dp / 32, z);
    }

    /// <summary>A dQ lane's state: its rows' lse (log2 domain) and Dᵢ, and dQ [4 query rows, Dp]. The floats come
    /// first, as in the forward's <see cref="Online"/>: with the Acc first, ILGPU 1.5.3 failed to compile the dQ
    /// kernel once a forward kernel had been compiled in the same context (an internal compiler error converting a
    /// struct of 8 floats to one of 64), apparently two structs with the same flattened fields sharing one IR
    /// type.</summary>
    internal struct QueryState
    {
        public float L0, L1, L2, L3, D0, D1, D2, D3;
        public Acc DQ;
    }

    /// <summary>The lane's rows' lse and Dᵢ; rows past T keep lse = 0, D = 0: finite garbage that is never
    /// stored.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static QueryState QueryStart(ArrayView<float> lse, ArrayView<float> rowDot, Place p, FlashDims z)
    {
        int T = z.Steps, row0 = p.Row0;
        long at = (long)p.Bh * T;
        return new QueryState
        {
            L0 = row0 < T ? lse[at + row0] * Log2E : 0f, L1 = row0 + 1 < T ? lse[at + row0 + 1] * Log2E : 0f,
            L2 = row0 + 2 < T ? lse[at + row0 + 2] * Log2E : 0f, L3 = row0 + 3 < T ? lse[at + row0 + 3] * Log2E : 0f,
            D0 = row0 < T ? rowDot[at + row0] : 0f, D1 = row0 + 1 < T ? rowDot[at + row0 + 1] : 0f,
            D2 = row0 + 2 < T ? rowDot[at + row0 + 2] : 0f, D3 = row0 + 3 < T ? rowDot[at + row0 + 3] : 0f,
        };
    }

    /// <summary>One block of 32 keys from j0 (K and V staged swizzled at F4 indices kAt4, vAt4; the group's dout in
    /// rows from oAt4, Q times log2(e)/√D from 0) against the warp's 16 query rows: S, the causal mask where the
    /// block crosses the warp's diagonal, P, dP = dout·Vᵀ, dS, dQ += dS·K. A warp with nothing to see in the block
    /// (warp-uniform) does nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void QueryBlock(ref QueryState st, ArrayView<F4> sh, Place at, int j0, int oAt4, int kAt4,
        int vAt4, int chunks, FlashDims z)
    {
        if (at.First >= z.Steps || j0 > at.LastOfWarp) return;
        int dp4 = z.Dp / 4;
        Tile s = Gemm(sh, at.Warp * WarpRows * dp4, kAt4, dp4, at.Rg, at.Cg);
        if (j0 + BlockKeys - 1 > at.First)
        {
            int limit = at.Row0 - j0 - at.Cg;
            s.R0 = MaskAbove(s.R0, limit);
            s.R1 = MaskAbove(s.R1, limit + 1);
            s.R2 = MaskAbove(s.R2, limit + 2);
            s.R3 = MaskAbove(s.R3, limit + 3);
        }
        s.R0 = Exp2(s.R0, st.L0);
        s.R1 = Exp2(s.R1, st.L1);
        s.R2 = Exp2(s.R2, st.L2);
        s.R3 = Exp2(s.R3, st.L3);
        Tile dp = Gemm(sh, oAt4 + at.Warp * WarpRows * dp4, vAt4, dp4, at.Rg, at.Cg);     // dP = dout·Vᵀ
        Tile ds = new() { R0 = Ds(s.R0, dp.R0, st.D0), R1 = Ds(s.R1, dp.R1, st.D1), R2 = Ds(s.R2, dp.R2, st.D2),
            R3 = Ds(s.R3, dp.R3, st.D3) };
        st.DQ = Accumulate(st.DQ, ds, sh, kAt4, dp4, chunks, at.Rg, at.Cg);
    }

    /// <summary>Adds the lane's dQ rows (times 1/√D: S was in the log2 domain).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void QueryFinish(QueryState st, ArrayView<float> dq, Place at, int chunks, FlashDims z)
    {
        int T = z.Steps;
        if (at.First >= T) return;
        float scale = z.ScaleLog2 * Ln2;
        var dQ = Scale(st.DQ, scale, scale, scale, scale, chunks);
        for (int r = 0; r < 4; r++)
        {
            int t = at.Row0 + r;
            if (t >= T) break;
            StoreRow(dq, Row(at.B, t, z.QHeads, at.H, T, z.D), dQ, r, chunks, at.Cg, z.D, add: true);
        }
    }

    static void QueryKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dq, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, br = z.Rows;
        var at = new Place(z);                                           // the forward's: the longest rows first
        int oAt = br * Dp, kAt = 2 * br * Dp, vAt = kAt + BlockKeys * Dp;
        Load(shf, 0, q, Row(at.B, at.I0, z.QHeads, at.H, T, D), z.QHeads * D, br, T - at.I0, D, Dp, false,
            z.ScaleLog2);
        Load(shf, oAt, dout, Row(at.B, at.I0, z.QHeads, at.H, T, D), z.QHeads * D, br, T - at.I0, D, Dp, false, 1f);
        var st = QueryStart(lse, rowDot, at, z);
        for (int j0 = 0; j0 <= at.Last; j0 += BlockKeys)
        {
            Group.Barrier();
            long kv = Row(at.B, j0, z.KvHeads, at.Hk, T, D);
            Load(shf, kAt, k, kv, z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Load(shf, vAt, v, kv, z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Group.Barrier();
            QueryBlock(ref st, sh, at, j0, oAt / 4, kAt / 4, vAt / 4, Dp / 32, z);
        }
        QueryFinish(st, dq, at, Dp / 32, z);
    }

    /// <summary>Rows per group: two owned blocks [rows, Dp] and two streamed [32, Dp] in 48 KB.</summary>
    public static int Rows(int dp) => RowsPerGroup(dp, own: 2, streamed: 2);

    public static void Backward(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        AttentionForwardV2.RequireWarp32(k, "attention backward v2");
        int dp = PaddedHeadDim(headDim), rows = RowsFor(steps, Rows(dp)), blocks = (steps + rows - 1) / rows;
        if (batch * qHeads * blocks == 0) return;
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, rows, blocks, Log2E / MathF.Sqrt(headDim));
        using var rowDot = k.Scratch(batch * qHeads * steps);
        AttentionGpu.RowDots(k, o, dout, rowDot.View, batch, steps, qHeads, headDim);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashDims>(KeyValueKernel)(
            new KernelConfig(batch * kvHeads * blocks, 2 * rows), q, kk, v, lse, rowDot.View, dout, dk, dv, z);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, FlashDims>(QueryKernel)(
            new KernelConfig(batch * qHeads * blocks, 2 * rows), q, kk, v, lse, rowDot.View, dout, dq, z);
    }
}
