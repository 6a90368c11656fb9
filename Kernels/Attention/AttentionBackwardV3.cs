using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.FlashTc;

namespace Engine.Kernels.Attention;

/// <summary>
/// Backward v3 (TF32) and v4 (3×TF32): backward v2's passes and order with every block product on tensor cores
/// (<see cref="FlashTc"/>). dK/dV: a group owns 16 key rows per warp (K, V staged once), loops over the query heads
/// of its kv head and the 32-query blocks from its first key: Sᵀ = K·Qᵀ, P = exp2(Sᵀ − lse), dPᵀ = V·doutᵀ,
/// dSᵀ = P ⊙ (dPᵀ − D), dV += P·dout, dK += dSᵀ·Q in registers (accumulator fragments), added once. dQ: a separate
/// pass over query blocks, S and dP recomputed, dQ += dS·K. No atomics: the same bits every run. Rows per group and
/// the shared pitch by head size: <see cref="FlashTc.BackwardRows"/>. Needs 32-lane warps.
/// </summary>
public static class AttentionBackwardV3
{
    const float Ln2 = 0.693147180559945f, Log2E = 1.44269504f;
    const int Keys = FlashSimt.BlockKeys, WarpRows = FlashSimt.WarpRows;

    static long Row(int b, int t, int heads, int h, int steps, int d) => (((long)b * steps + t) * heads + h) * d;

    /// <summary>mode = pitch · 2 + (1 for 3×TF32): one argument, to stay within the launcher's arity.</summary>
    static void KeyValueKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dk, ArrayView<float> dv, FlashDims z, int mode)
    {
        var sh = SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4);
        bool three = (mode & 1) != 0;
        int pitch = mode >> 1, T = z.Steps, D = z.D, Dp = z.Dp, bc = z.Rows, tiles = (D + 7) / 8;
        int group = z.QHeads / z.KvHeads, lane = Group.IdxX % 32, warp = Group.IdxX / 32, g = lane / 4, t4 = lane % 4;
        int block = Grid.IdxX % z.Blocks;
        int bk = Grid.IdxX / z.Blocks, hk = bk % z.KvHeads, b = bk / z.KvHeads;
        int j0 = block * bc, vAt = bc * pitch, qAt = 2 * bc * pitch, oAt = qAt + Keys * pitch;
        Load(sh, 0, pitch, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, bc, T - j0, D, Dp, 1f);
        Load(sh, vAt, pitch, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, bc, T - j0, D, Dp, 1f);
        AccTc dK = default, dV = default;
        int first = j0 + warp * WarpRows, top = first + g, bottom = top + 8;
        for (int hh = 0; hh < group; hh++)
        {
            int h = hk * group + hh;
            long at = ((long)b * z.QHeads + h) * T;
            for (int i0 = j0; i0 < T; i0 += Keys)
            {
                Group.Barrier();
                Load(sh, qAt, pitch, q, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, Keys, T - i0, D, Dp, z.ScaleLog2);
                Load(sh, oAt, pitch, dout, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, Keys, T - i0, D, Dp, 1f);
                Group.Barrier();
                if (first >= T || i0 + Keys - 1 < first) continue;
                Quad st = ColumnStats(lse, rowDot, at, i0 + 2 * t4, T);
                int n = Fragments(i0, T);                                // query fragments past T: skipped
                Quad s = Abt<MmaEmitRef>(sh, warp * WarpRows * pitch, pitch, qAt, pitch, 8 * tiles, three, n);  // Sᵀ [16, 32]
                if (i0 < first + WarpRows - 1) s = MaskBelow(s, i0 + 2 * t4, top, bottom);
                s = ExpColumns(s, st);
                Quad dp = Abt<MmaEmitRef>(sh, vAt + warp * WarpRows * pitch, pitch, oAt, pitch, 8 * tiles, three, n);  // V·doutᵀ
                Quad ds = DsColumns(s, dp, st);
                dV = Pv<MmaEmitRef>(dV, s, sh, oAt, pitch, tiles, three, n);
                dK = Pv<MmaEmitRef>(dK, ds, sh, qAt, pitch, tiles, three, n);
            }
        }
        if (first >= T) return;
        dK = Scale(dK, Ln2, Ln2, tiles);                                 // Q was staged times log2(e)/√D
        for (int j = 0; j < tiles; j++)
        {
            FragC ck = Tile(dK, j), cv = Tile(dV, j);
            if (top < T)
            {
                Store(dk, Row(b, top, z.KvHeads, hk, T, D), ck, j, true, D, add: true);
                Store(dv, Row(b, top, z.KvHeads, hk, T, D), cv, j, true, D, add: true);
            }
            if (bottom < T)
            {
                Store(dk, Row(b, bottom, z.KvHeads, hk, T, D), ck, j, false, D, add: true);
                Store(dv, Row(b, bottom, z.KvHeads, hk, T, D), cv, j, false, D, add: true);
            }
        }
    }

    static void QueryKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dq, FlashDims z, int mode)
    {
        var sh = SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4);
        bool three = (mode & 1) != 0;
        int pitch = mode >> 1, T = z.Steps, D = z.D, Dp = z.Dp, br = z.Rows, tiles = (D + 7) / 8;
        int lane = Group.IdxX % 32, warp = Group.IdxX / 32, g = lane / 4, t4 = lane % 4;
        int block = z.Blocks - 1 - Grid.IdxX % z.Blocks;
        int bh = Grid.IdxX / z.Blocks, h = bh % z.QHeads, b = bh / z.QHeads, hk = h / (z.QHeads / z.KvHeads);
        int i0 = block * br, oAt = br * pitch, kAt = 2 * br * pitch, vAt = kAt + Keys * pitch;
        Load(sh, 0, pitch, q, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, br, T - i0, D, Dp, z.ScaleLog2);
        Load(sh, oAt, pitch, dout, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, br, T - i0, D, Dp, 1f);
        int first = i0 + warp * WarpRows, lastOfWarp = first + WarpRows - 1, top = first + g, bottom = top + 8;
        long at = (long)bh * T;
        // Rows past T keep lse = 0, D = 0: finite values that are never stored.
        float lTop = top < T ? lse[at + top] * Log2E : 0f, lBottom = bottom < T ? lse[at + bottom] * Log2E : 0f;
        float dTop = top < T ? rowDot[at + top] : 0f, dBottom = bottom < T ? rowDot[at + bottom] : 0f;
        AccTc dQ = default;
        int last = XMath.Min(T - 1, i0 + br - 1);
        for (int j0 = 0; j0 <= last; j0 += Keys)
        {
            Group.Barrier();
            Load(sh, kAt, pitch, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, Keys, T - j0, D, Dp, 1f);
            Load(sh, vAt, pitch, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, Keys, T - j0, D, Dp, 1f);
            Group.Barrier();
            if (first >= T || j0 > lastOfWarp) continue;
            int n = Fragments(j0, XMath.Min(T, lastOfWarp + 1));
            Quad s = Abt<MmaEmitRef>(sh, warp * WarpRows * pitch, pitch, kAt, pitch, 8 * tiles, three, n);
            if (j0 + Keys - 1 > first) s = MaskAbove(s, j0 + 2 * t4, top, bottom);
            s = Exp2(s, lTop, lBottom);
            Quad dp = Abt<MmaEmitRef>(sh, oAt + warp * WarpRows * pitch, pitch, vAt, pitch, 8 * tiles, three, n);  // dout·Vᵀ
            dQ = Pv<MmaEmitRef>(dQ, DsRows(s, dp, dTop, dBottom), sh, kAt, pitch, tiles, three, n);
        }
        if (first >= T) return;
        float scale = z.ScaleLog2 * Ln2;
        dQ = Scale(dQ, scale, scale, tiles);
        for (int j = 0; j < tiles; j++)
        {
            FragC c = Tile(dQ, j);
            if (top < T) Store(dq, Row(b, top, z.QHeads, h, T, D), c, j, true, D, add: true);
            if (bottom < T) Store(dq, Row(b, bottom, z.QHeads, h, T, D), c, j, false, D, add: true);
        }
    }

    static void Run(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        int batch, int steps, int qHeads, int kvHeads, int headDim, bool three)
    {
        TensorCore.RequireWarp32(k.WarpSize, "attention backward v3/v4");
        int dp = FlashSimt.PaddedHeadDim(headDim);
        var (rows, pitch) = BackwardRows(dp);
        rows = FlashSimt.RowsFor(steps, rows);
        int blocks = (steps + rows - 1) / rows, mode = pitch * 2 + (three ? 1 : 0);
        if (batch * qHeads * blocks == 0) return;
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, rows, blocks, Log2E / MathF.Sqrt(headDim));
        using var rowDot = k.Scratch(batch * qHeads * steps);
        AttentionGpu.RowDots(k, o, dout, rowDot.View, batch, steps, qHeads, headDim);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashDims, int>(KeyValueKernel)(
            new KernelConfig(batch * kvHeads * blocks, 2 * rows), q, kk, v, lse, rowDot.View, dout, dk, dv, z, mode);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, FlashDims, int>(QueryKernel)(
            new KernelConfig(batch * qHeads * blocks, 2 * rows), q, kk, v, lse, rowDot.View, dout, dq, z, mode);
    }

    public static void Tf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim, three: false);

    public static void ThreeTf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim, three: true);
}
