using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
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

    static long Row(int b, int t, int heads, int h, int steps, int d) => (((long)b * steps + t) * heads + h) * d;

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

    static void KeyValueKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dk, ArrayView<float> dv, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, dp4 = Dp / 4, bc = z.Rows, chunks = Dp / 32, group = z.QHeads / z.KvHeads;
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, rg = lane / 8, cg = lane % 8;
        int block = Grid.IdxX % z.Blocks;                                // the first keys see the most queries: first
        int bk = Grid.IdxX / z.Blocks, hk = bk % z.KvHeads, b = bk / z.KvHeads;
        int j0 = block * bc, vAt = bc * Dp, qAt = 2 * bc * Dp, oAt = qAt + BlockKeys * Dp;   // float offsets
        Load(shf, 0, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, bc, T - j0, D, Dp, false, 1f);
        Load(shf, vAt, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, bc, T - j0, D, Dp, false, 1f);
        Acc dK = default, dV = default;                                  // [4 key rows, Dp] each
        int first = j0 + warp * WarpRows, key0 = first + rg * 4;
        for (int hh = 0; hh < group; hh++)
        {
            int h = hk * group + hh;
            long bh = (long)b * z.QHeads + h;
            for (int i0 = j0; i0 < T; i0 += BlockKeys)           // queries before the group's keys never see them
            {
                Group.Barrier();
                Load(shf, qAt, q, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, BlockKeys, T - i0, D, Dp, true,
                    z.ScaleLog2);
                Load(shf, oAt, dout, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, BlockKeys, T - i0, D, Dp, true, 1f);
                Group.Barrier();
                if (first >= T || i0 + BlockKeys - 1 < first) continue;   // warp-uniform: no query here sees its keys
                F4 l = Column(lse, bh * T, i0, cg, T, Log2E, float.PositiveInfinity);
                F4 di = Column(rowDot, bh * T, i0, cg, T, 1f, 0f);
                Tile s = Gemm(sh, warp * WarpRows * dp4, qAt / 4, dp4, rg, cg);       // Sᵀ [16 keys, 32 queries]
                if (i0 < first + WarpRows - 1)                                       // the block crosses the diagonal
                {
                    int limit = key0 - i0 - cg;                  // query c·8+cg sees key key0+r when c·8 ≥ limit+r
                    s.R0 = MaskBelow(s.R0, limit);
                    s.R1 = MaskBelow(s.R1, limit + 1);
                    s.R2 = MaskBelow(s.R2, limit + 2);
                    s.R3 = MaskBelow(s.R3, limit + 3);
                }
                s.R0 = Exp2(s.R0, l);
                s.R1 = Exp2(s.R1, l);
                s.R2 = Exp2(s.R2, l);
                s.R3 = Exp2(s.R3, l);
                Tile dp = Gemm(sh, (vAt / 4) + warp * WarpRows * dp4, oAt / 4, dp4, rg, cg);   // dPᵀ = V·doutᵀ
                Tile ds = new() { R0 = Ds(s.R0, dp.R0, di), R1 = Ds(s.R1, dp.R1, di), R2 = Ds(s.R2, dp.R2, di),
                    R3 = Ds(s.R3, dp.R3, di) };
                dV = Accumulate(dV, s, sh, oAt / 4, dp4, chunks, rg, cg);
                dK = Accumulate(dK, ds, sh, qAt / 4, dp4, chunks, rg, cg);
            }
        }
        if (first >= T) return;
        dK = Scale(dK, Ln2, Ln2, Ln2, Ln2, chunks);                      // Q was staged times log2(e)/√D; dK wants 1/√D
        for (int r = 0; r < 4; r++)
        {
            int j = key0 + r;
            if (j >= T) break;
            StoreRow(dk, Row(b, j, z.KvHeads, hk, T, D), dK, r, chunks, cg, D, add: true);
            StoreRow(dv, Row(b, j, z.KvHeads, hk, T, D), dV, r, chunks, cg, D, add: true);
        }
    }

    static void QueryKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dq, FlashDims z)
    {
        var sh = SharedMemory.Allocate<F4>(SharedF4);
        var shf = sh.Cast<float>();
        int T = z.Steps, D = z.D, Dp = z.Dp, dp4 = Dp / 4, br = z.Rows, chunks = Dp / 32;
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, rg = lane / 8, cg = lane % 8;
        int block = z.Blocks - 1 - Grid.IdxX % z.Blocks;
        int bh = Grid.IdxX / z.Blocks, h = bh % z.QHeads, b = bh / z.QHeads, hk = h / (z.QHeads / z.KvHeads);
        int i0 = block * br, oAt = br * Dp, kAt = 2 * br * Dp, vAt = kAt + BlockKeys * Dp;
        Load(shf, 0, q, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, br, T - i0, D, Dp, false, z.ScaleLog2);
        Load(shf, oAt, dout, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, br, T - i0, D, Dp, false, 1f);
        int first = i0 + warp * WarpRows, lastOfWarp = first + WarpRows - 1, row0 = first + rg * 4;
        long at = (long)bh * T;
        // Rows past T keep lse = 0, D = 0: finite garbage that is never stored.
        float l0 = row0 < T ? lse[at + row0] * Log2E : 0f, l1 = row0 + 1 < T ? lse[at + row0 + 1] * Log2E : 0f;
        float l2 = row0 + 2 < T ? lse[at + row0 + 2] * Log2E : 0f, l3 = row0 + 3 < T ? lse[at + row0 + 3] * Log2E : 0f;
        float d0 = row0 < T ? rowDot[at + row0] : 0f, d1 = row0 + 1 < T ? rowDot[at + row0 + 1] : 0f;
        float d2 = row0 + 2 < T ? rowDot[at + row0 + 2] : 0f, d3 = row0 + 3 < T ? rowDot[at + row0 + 3] : 0f;
        Acc dQ = default;
        int last = XMath.Min(T - 1, i0 + br - 1);
        for (int j0 = 0; j0 <= last; j0 += BlockKeys)
        {
            Group.Barrier();
            Load(shf, kAt, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Load(shf, vAt, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, BlockKeys, T - j0, D, Dp, true, 1f);
            Group.Barrier();
            if (first >= T || j0 > lastOfWarp) continue;
            Tile s = Gemm(sh, warp * WarpRows * dp4, kAt / 4, dp4, rg, cg);
            if (j0 + BlockKeys - 1 > first)
            {
                int limit = row0 - j0 - cg;
                s.R0 = MaskAbove(s.R0, limit);
                s.R1 = MaskAbove(s.R1, limit + 1);
                s.R2 = MaskAbove(s.R2, limit + 2);
                s.R3 = MaskAbove(s.R3, limit + 3);
            }
            s.R0 = Exp2(s.R0, l0);
            s.R1 = Exp2(s.R1, l1);
            s.R2 = Exp2(s.R2, l2);
            s.R3 = Exp2(s.R3, l3);
            Tile dp = Gemm(sh, oAt / 4 + warp * WarpRows * dp4, vAt / 4, dp4, rg, cg);     // dP = dout·Vᵀ
            Tile ds = new() { R0 = Ds(s.R0, dp.R0, d0), R1 = Ds(s.R1, dp.R1, d1), R2 = Ds(s.R2, dp.R2, d2),
                R3 = Ds(s.R3, dp.R3, d3) };
            dQ = Accumulate(dQ, ds, sh, kAt / 4, dp4, chunks, rg, cg);
        }
        if (first >= T) return;
        float scale = z.ScaleLog2 * Ln2;
        dQ = Scale(dQ, scale, scale, scale, scale, chunks);
        for (int r = 0; r < 4; r++)
        {
            int t = row0 + r;
            if (t >= T) break;
            StoreRow(dq, Row(b, t, z.QHeads, h, T, D), dQ, r, chunks, cg, D, add: true);
        }
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
