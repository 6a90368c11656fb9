using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Attention;

/// <summary>A warp's 16 × 32 block of scores as four m16n8 accumulator fragments (keys 8j .. 8j+7 in Sj).</summary>
public struct Quad
{
    public FragC S0, S1, S2, S3;
}

/// <summary>A warp's 16 × Dp output block as up to 16 m16n8 accumulator fragments (columns 8j .. 8j+7 in Nj); the
/// fragments past Dp/8 are never touched (warp-uniform branches).</summary>
public struct AccTc
{
    public FragC N0, N1, N2, N3, N4, N5, N6, N7, N8, N9, N10, N11, N12, N13, N14, N15;
}

/// <summary>
/// The tensor-core building blocks of the v3 attention kernels: the two block products every attention pass is made
/// of, on <c>mma.sync.m16n8k8</c> TF32 (<see cref="TensorCore.Mma"/>). A warp owns 16 rows; lane = g·4 + t holds rows
/// g and g + 8 of each fragment (columns 2t, 2t+1). Shared blocks are fp32, row-major with a padded stride; every
/// fragment element is rounded to TF32 when loaded (<c>three</c> = false) or split into hi + lo for 3×TF32 (hi·lo,
/// lo·hi, then hi·hi, the small terms first). Padding: stride Dp + 4 for the blocks read as A or as Bᵀ (lanes
/// (g, t) hit bank 4g + t), Dp + 8 for the blocks read as B (row t, column g: bank 8t + g).
/// </summary>
public static class FlashTc
{
    // Fragments are built as values, not through out parameters: an out parameter is an address, which ILGPU turns
    // into a local-memory slot that each MMA then reads back. The tensor-core operations come from the type
    // parameter TMma (Kernels/Gpu/MmaUnits.cs): MmaEmitRef for v3/v4, MmaSoft for the twin of forward v5/v6.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Tf32<TMma>(float x) where TMma : struct, IMmaUnit => default(TMma).Round(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA High<TMma>(float a0, float a1, float a2, float a3) where TMma : struct, IMmaUnit =>
        new() { A0 = Tf32<TMma>(a0), A1 = Tf32<TMma>(a1), A2 = Tf32<TMma>(a2), A3 = Tf32<TMma>(a3) };

    /// <summary>The 3×TF32 remainder tf32(x − hi) of each element (zero when not splitting).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragA Low<TMma>(float a0, float a1, float a2, float a3, FragA hi, bool three)
        where TMma : struct, IMmaUnit => three
        ? new()
        {
            A0 = Tf32<TMma>(a0 - hi.A0), A1 = Tf32<TMma>(a1 - hi.A1), A2 = Tf32<TMma>(a2 - hi.A2),
            A3 = Tf32<TMma>(a3 - hi.A3),
        }
        : default;

    /// <summary>c += a·b on one m16n8k8 tile, in TF32 or 3×TF32 (hi·lo, lo·hi, then hi·hi).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC Step<TMma>(FragC c, FragA hi, FragA lo, float b0, float b1, bool three)
        where TMma : struct, IMmaUnit
    {
        FragB bh = new() { B0 = Tf32<TMma>(b0), B1 = Tf32<TMma>(b1) };
        FragB bl = three ? new() { B0 = Tf32<TMma>(b0 - bh.B0), B1 = Tf32<TMma>(b1 - bh.B1) } : default;
        if (three)
        {
            c = default(TMma).Mma(hi, bl, c);
            c = default(TMma).Mma(lo, bh, c);
        }
        return default(TMma).Mma(hi, bh, c);
    }

    /// <summary>
    /// The warp's 16 × 32 block of A·Bᵀ over the first <paramref name="dp"/> columns (D rounded up to 8: the MMAs
    /// skip the zero padding up to a multiple of 32): A = 16 rows from float offset <paramref name="a"/> (stride
    /// <paramref name="sa"/>), B = 32 rows from <paramref name="b"/> (stride <paramref name="sb"/>). Only the first
    /// <paramref name="n"/> fragments (8 B rows each) are computed: the rest are past T or wholly masked for this
    /// warp (warp-uniform), stay 0 and must be masked or multiplied by a zero probability by the caller.
    /// </summary>
    public static Quad Abt<TMma>(ArrayView<float> sh, int a, int sa, int b, int sb, int dp, bool three, int n)
        where TMma : struct, IMmaUnit
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        Quad s = default;
        int ra = a + g * sa + t, rb = b + g * sb + t;
        for (int k0 = 0; k0 < dp; k0 += 8)
        {
            float a0 = sh[ra + k0], a1 = sh[ra + 8 * sa + k0], a2 = sh[ra + k0 + 4], a3 = sh[ra + 8 * sa + k0 + 4];
            FragA hi = High<TMma>(a0, a1, a2, a3), lo = Low<TMma>(a0, a1, a2, a3, hi, three);
            s.S0 = Step<TMma>(s.S0, hi, lo, sh[rb + k0], sh[rb + k0 + 4], three);
            if (n > 1) s.S1 = Step<TMma>(s.S1, hi, lo, sh[rb + 8 * sb + k0], sh[rb + 8 * sb + k0 + 4], three);
            if (n > 2) s.S2 = Step<TMma>(s.S2, hi, lo, sh[rb + 16 * sb + k0], sh[rb + 16 * sb + k0 + 4], three);
            if (n > 3) s.S3 = Step<TMma>(s.S3, hi, lo, sh[rb + 24 * sb + k0], sh[rb + 24 * sb + k0 + 4], three);
        }
        return s;
    }

    /// <summary>Tile kk of P, held in the accumulator layout the score MMAs leave, as the A fragment of the P·V MMA:
    /// lane (g, t) gathers by shuffles from lanes src = g·4 + t/2 and src + 2, taking the second value of each pair
    /// where t is odd (odd). FlashTc.Pv, FlashRegisters.AddPv and FlashBackRegisters.Add all feed P (or dS) this
    /// way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FragA PFragment(Quad p, int kk, int src, bool odd)
    {
        FragC c = kk == 0 ? p.S0 : kk == 1 ? p.S1 : kk == 2 ? p.S2 : p.S3;
        float x0 = Warp.Shuffle(c.C0, src), x1 = Warp.Shuffle(c.C1, src);
        float y0 = Warp.Shuffle(c.C0, src + 2), y1 = Warp.Shuffle(c.C1, src + 2);
        float u0 = Warp.Shuffle(c.C2, src), u1 = Warp.Shuffle(c.C3, src);
        float w0 = Warp.Shuffle(c.C2, src + 2), w1 = Warp.Shuffle(c.C3, src + 2);
        float a0 = odd ? x1 : x0, a1 = odd ? u1 : u0, a2 = odd ? y1 : y0, a3 = odd ? w1 : w0;
        return new FragA { A0 = a0, A1 = a1, A2 = a2, A3 = a3 };
    }

    /// <summary>
    /// o += P·B for the warp's 16 × 32 block P (as <see cref="Abt"/> leaves it) and 32 rows of B from float offset
    /// <paramref name="b"/> (stride <paramref name="sb"/>), over <paramref name="tiles"/> = Dp/8 column tiles. P's
    /// accumulator layout becomes an A fragment by shuffles: A[g][t] = P[g][8k + t] sits in lane g·4 + t/2,
    /// component t mod 2, and A[g][t + 4] two lanes further.
    /// </summary>
    public static AccTc Pv<TMma>(AccTc o, Quad p, ArrayView<float> sh, int b, int sb, int tiles, bool three,
        int n) where TMma : struct, IMmaUnit
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, src = g * 4 + (t >> 1);
        bool odd = (t & 1) == 1;
        for (int kk = 0; kk < n; kk++)                                   // P is 0 past the first n fragments
        {
            FragA a = PFragment(p, kk, src, odd);
            FragA hi = High<TMma>(a.A0, a.A1, a.A2, a.A3), lo = Low<TMma>(a.A0, a.A1, a.A2, a.A3, hi, three);
            int row0 = b + (8 * kk + t) * sb + g, row4 = row0 + 4 * sb;
            o.N0 = Step<TMma>(o.N0, hi, lo, sh[row0 + 0], sh[row4 + 0], three);
            if (tiles > 1) o.N1 = Step<TMma>(o.N1, hi, lo, sh[row0 + 8], sh[row4 + 8], three);
            if (tiles > 2) o.N2 = Step<TMma>(o.N2, hi, lo, sh[row0 + 16], sh[row4 + 16], three);
            if (tiles > 3) o.N3 = Step<TMma>(o.N3, hi, lo, sh[row0 + 24], sh[row4 + 24], three);
            if (tiles > 4) o.N4 = Step<TMma>(o.N4, hi, lo, sh[row0 + 32], sh[row4 + 32], three);
            if (tiles > 5) o.N5 = Step<TMma>(o.N5, hi, lo, sh[row0 + 40], sh[row4 + 40], three);
            if (tiles > 6) o.N6 = Step<TMma>(o.N6, hi, lo, sh[row0 + 48], sh[row4 + 48], three);
            if (tiles > 7) o.N7 = Step<TMma>(o.N7, hi, lo, sh[row0 + 56], sh[row4 + 56], three);
            if (tiles > 8) o.N8 = Step<TMma>(o.N8, hi, lo, sh[row0 + 64], sh[row4 + 64], three);
            if (tiles > 9) o.N9 = Step<TMma>(o.N9, hi, lo, sh[row0 + 72], sh[row4 + 72], three);
            if (tiles > 10) o.N10 = Step<TMma>(o.N10, hi, lo, sh[row0 + 80], sh[row4 + 80], three);
            if (tiles > 11) o.N11 = Step<TMma>(o.N11, hi, lo, sh[row0 + 88], sh[row4 + 88], three);
            if (tiles > 12) o.N12 = Step<TMma>(o.N12, hi, lo, sh[row0 + 96], sh[row4 + 96], three);
            if (tiles > 13) o.N13 = Step<TMma>(o.N13, hi, lo, sh[row0 + 104], sh[row4 + 104], three);
            if (tiles > 14) o.N14 = Step<TMma>(o.N14, hi, lo, sh[row0 + 112], sh[row4 + 112], three);
            if (tiles > 15) o.N15 = Step<TMma>(o.N15, hi, lo, sh[row0 + 120], sh[row4 + 120], three);
        }
        return o;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC Scale(FragC c, float top, float bottom) =>
        new() { C0 = c.C0 * top, C1 = c.C1 * top, C2 = c.C2 * bottom, C3 = c.C3 * bottom };

    /// <summary>Row g of every fragment times <paramref name="top"/>, row g + 8 times
    /// <paramref name="bottom"/>.</summary>
    public static AccTc Scale(AccTc o, float top, float bottom, int tiles)
    {
        o.N0 = Scale(o.N0, top, bottom);
        if (tiles > 1) o.N1 = Scale(o.N1, top, bottom);
        if (tiles > 2) o.N2 = Scale(o.N2, top, bottom);
        if (tiles > 3) o.N3 = Scale(o.N3, top, bottom);
        if (tiles > 4) o.N4 = Scale(o.N4, top, bottom);
        if (tiles > 5) o.N5 = Scale(o.N5, top, bottom);
        if (tiles > 6) o.N6 = Scale(o.N6, top, bottom);
        if (tiles > 7) o.N7 = Scale(o.N7, top, bottom);
        if (tiles > 8) o.N8 = Scale(o.N8, top, bottom);
        if (tiles > 9) o.N9 = Scale(o.N9, top, bottom);
        if (tiles > 10) o.N10 = Scale(o.N10, top, bottom);
        if (tiles > 11) o.N11 = Scale(o.N11, top, bottom);
        if (tiles > 12) o.N12 = Scale(o.N12, top, bottom);
        if (tiles > 13) o.N13 = Scale(o.N13, top, bottom);
        if (tiles > 14) o.N14 = Scale(o.N14, top, bottom);
        if (tiles > 15) o.N15 = Scale(o.N15, top, bottom);
        return o;
    }

    /// <summary>Fragment j (columns 8j .. 8j+7) of an output block.</summary>
    public static FragC Tile(AccTc o, int j) => j switch
    {
        0 => o.N0,
        1 => o.N1,
        2 => o.N2,
        3 => o.N3,
        4 => o.N4,
        5 => o.N5,
        6 => o.N6,
        7 => o.N7,
        8 => o.N8,
        9 => o.N9,
        10 => o.N10,
        11 => o.N11,
        12 => o.N12,
        13 => o.N13,
        14 => o.N14,
        _ => o.N15,
    };

    /// <summary>Writes (or adds) the lane's two columns of fragment j, row g (top) or g + 8, to y at
    /// <paramref name="at"/> (columns past D are padding).</summary>
    public static void Store(ArrayView<float> y, long at, FragC c, int j, bool top, int d, bool add)
    {
        int col = 8 * j + 2 * (Warp.LaneIdx & 3);
        float v0 = top ? c.C0 : c.C2, v1 = top ? c.C1 : c.C3;
        if (col < d) y[at + col] = add ? y[at + col] + v0 : v0;
        if (col + 1 < d) y[at + col + 1] = add ? y[at + col + 1] + v1 : v1;
    }

    /// <summary>How many 8-wide fragments of a 32-wide block from <paramref name="start"/> hold anything below
    /// <paramref name="end"/> (at least 1).</summary>
    public static int Fragments(int start, int end) => XMath.Max(1, XMath.Min(4, (end - start + 7) / 8));

    /// <summary>Padded strides of the shared blocks: A and Bᵀ operands, and B operands.</summary>
    public static int PitchA(int dp) => dp + 4;
    public static int PitchB(int dp) => dp + 8;

    /// <summary>Rows per group: Q (or the owned block) [rows, Dp + 4] plus K [32, Dp + 4] and V [32, Dp + 8] in 48 KB,
    /// a multiple of 16, at most 64: Dp 32 and 64 → 64, 96 → 48, 128 → 16.</summary>
    public static int Rows(int dp) =>
        Math.Min(64, (4 * FlashSimt.SharedF4 - FlashSimt.BlockKeys * (PitchA(dp) + PitchB(dp))) / PitchA(dp)
            / FlashSimt.WarpRows * FlashSimt.WarpRows);

    /// <summary>The group copies rows 0..rows−1 of a [T, heads, D] slice into shared memory at <paramref name="at"/>
    /// with row pitch <paramref name="pitch"/>, times <paramref name="mul"/>; rows past <paramref name="valid"/> and
    /// columns past D (up to Dp) become zero.</summary>
    public static void Load(ArrayView<float> shared, int at, int pitch, ArrayView<float> x, long start, int stride,
        int rows, int valid, int d, int dp, float mul)
    {
        for (int idx = Group.IdxX; idx < rows * dp; idx += Group.DimX)
        {
            int r = idx / dp, c = idx - r * dp;
            shared[at + r * pitch + c] = r < valid && c < d ? x[start + (long)r * stride + c] * mul : 0f;
        }
    }

    /// <summary>The causal mask on fragment j of a 16 × 32 block: key j0 + 8j + 2t (+1) is hidden from a row
    /// before it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FragC MaskAbove(FragC c, int key, int top, int bottom) => new()
    {
        C0 = key > top ? float.NegativeInfinity : c.C0,
        C1 = key + 1 > top ? float.NegativeInfinity : c.C1,
        C2 = key > bottom ? float.NegativeInfinity : c.C2,
        C3 = key + 1 > bottom ? float.NegativeInfinity : c.C3,
    };

    /// <summary>The causal mask on a whole 16 × 32 block from key <paramref name="key"/> = j0 + 2t.</summary>
    public static Quad MaskAbove(Quad s, int key, int top, int bottom) => new()
    {
        S0 = MaskAbove(s.S0, key, top, bottom), S1 = MaskAbove(s.S1, key + 8, top, bottom),
        S2 = MaskAbove(s.S2, key + 16, top, bottom), S3 = MaskAbove(s.S3, key + 24, top, bottom),
    };

    /// <summary>The causal mask seen from key rows (top, bottom) whose columns are queries from
    /// <paramref name="query"/> = i0 + 2t: a query before the key does not see it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC MaskBelow(FragC c, int query, int top, int bottom) => new()
    {
        C0 = query < top ? float.NegativeInfinity : c.C0,
        C1 = query + 1 < top ? float.NegativeInfinity : c.C1,
        C2 = query < bottom ? float.NegativeInfinity : c.C2,
        C3 = query + 1 < bottom ? float.NegativeInfinity : c.C3,
    };

    public static Quad MaskBelow(Quad s, int query, int top, int bottom) => new()
    {
        S0 = MaskBelow(s.S0, query, top, bottom), S1 = MaskBelow(s.S1, query + 8, top, bottom),
        S2 = MaskBelow(s.S2, query + 16, top, bottom), S3 = MaskBelow(s.S3, query + 24, top, bottom),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC Stats(ArrayView<float> lse, ArrayView<float> rowDot, long at, int i, int steps) => new()
    {
        C0 = i < steps ? lse[at + i] * 1.44269504f : float.PositiveInfinity,
        C1 = i + 1 < steps ? lse[at + i + 1] * 1.44269504f : float.PositiveInfinity,
        C2 = i < steps ? rowDot[at + i] : 0f,
        C3 = i + 1 < steps ? rowDot[at + i + 1] : 0f,
    };

    /// <summary>Per query column of a block from <paramref name="query"/> = i0 + 2t: fragment j holds lse·log2(e) of
    /// columns 8j + 2t, +1 in C0, C1 (+∞ past T, so P = 0 there) and their Dᵢ in C2, C3.</summary>
    public static Quad ColumnStats(ArrayView<float> lse, ArrayView<float> rowDot, long at, int query, int steps) =>
        new()
        {
            S0 = Stats(lse, rowDot, at, query, steps), S1 = Stats(lse, rowDot, at, query + 8, steps),
            S2 = Stats(lse, rowDot, at, query + 16, steps), S3 = Stats(lse, rowDot, at, query + 24, steps),
        };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC ExpColumns(FragC c, FragC st) => new()
    {
        C0 = XMath.Exp2(c.C0 - st.C0), C1 = XMath.Exp2(c.C1 - st.C1),
        C2 = XMath.Exp2(c.C2 - st.C0), C3 = XMath.Exp2(c.C3 - st.C1),
    };

    /// <summary>P = exp2(Sᵀ − lse) with lse per column (<see cref="ColumnStats"/>).</summary>
    public static Quad ExpColumns(Quad s, Quad st) => new()
    {
        S0 = ExpColumns(s.S0, st.S0), S1 = ExpColumns(s.S1, st.S1),
        S2 = ExpColumns(s.S2, st.S2), S3 = ExpColumns(s.S3, st.S3),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC DsColumns(FragC p, FragC dp, FragC st) => new()
    {
        C0 = p.C0 * (dp.C0 - st.C2), C1 = p.C1 * (dp.C1 - st.C3),
        C2 = p.C2 * (dp.C2 - st.C2), C3 = p.C3 * (dp.C3 - st.C3),
    };

    /// <summary>dSᵀ = P ⊙ (dPᵀ − D) with D per column.</summary>
    public static Quad DsColumns(Quad p, Quad dp, Quad st) => new()
    {
        S0 = DsColumns(p.S0, dp.S0, st.S0), S1 = DsColumns(p.S1, dp.S1, st.S1),
        S2 = DsColumns(p.S2, dp.S2, st.S2), S3 = DsColumns(p.S3, dp.S3, st.S3),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC DsRows(FragC p, FragC dp, float top, float bottom) => new()
    {
        C0 = p.C0 * (dp.C0 - top), C1 = p.C1 * (dp.C1 - top),
        C2 = p.C2 * (dp.C2 - bottom), C3 = p.C3 * (dp.C3 - bottom),
    };

    /// <summary>dS = P ⊙ (dP − D) with D per row (top: row g).</summary>
    public static Quad DsRows(Quad p, Quad dp, float top, float bottom) => new()
    {
        S0 = DsRows(p.S0, dp.S0, top, bottom), S1 = DsRows(p.S1, dp.S1, top, bottom),
        S2 = DsRows(p.S2, dp.S2, top, bottom), S3 = DsRows(p.S3, dp.S3, top, bottom),
    };

    /// <summary>Rows per group of the backward passes and the pitch of every block: two owned blocks [rows, pitch]
    /// and two streamed [32, pitch] in 48 KB, pitch Dp + 4 where 16 rows still fit, else Dp (D = 128: bank
    /// conflicts accepted). Dp 32 → 64 rows, 64 → 48, 96 → 16, 128 → 16 (pitch 128).</summary>
    public static (int Rows, int Pitch) BackwardRows(int dp)
    {
        int pitch = (2 * FlashSimt.WarpRows + 2 * FlashSimt.BlockKeys) * PitchA(dp) <= 4 * FlashSimt.SharedF4
            ? PitchA(dp) : dp;
        int rows = Math.Min(64, (4 * FlashSimt.SharedF4 / pitch - 2 * FlashSimt.BlockKeys) / 2
            / FlashSimt.WarpRows * FlashSimt.WarpRows);
        return (rows, pitch);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static FragC Exp2(FragC c, float top, float bottom) => new()
    {
        C0 = XMath.Exp2(c.C0 - top), C1 = XMath.Exp2(c.C1 - top),
        C2 = XMath.Exp2(c.C2 - bottom), C3 = XMath.Exp2(c.C3 - bottom),
    };

    /// <summary>exp2(S − m) with m per row (top: row g, bottom: row g + 8).</summary>
    public static Quad Exp2(Quad s, float top, float bottom) => new()
    {
        S0 = Exp2(s.S0, top, bottom), S1 = Exp2(s.S1, top, bottom),
        S2 = Exp2(s.S2, top, bottom), S3 = Exp2(s.S3, top, bottom),
    };

    /// <summary>This lane's part of a row's sum (top: row g).</summary>
    public static float LaneSum(Quad s, bool top) => top
        ? s.S0.C0 + s.S0.C1 + s.S1.C0 + s.S1.C1 + s.S2.C0 + s.S2.C1 + s.S3.C0 + s.S3.C1
        : s.S0.C2 + s.S0.C3 + s.S1.C2 + s.S1.C3 + s.S2.C2 + s.S2.C3 + s.S3.C2 + s.S3.C3;

    /// <summary>Max over the 8 values of a row the lane's 4 fragments hold (top: row g) and its 3 partner
    /// lanes.</summary>
    public static float RowMax(Quad s, bool top)
    {
        float m = top
            ? XMath.Max(XMath.Max(XMath.Max(s.S0.C0, s.S0.C1), XMath.Max(s.S1.C0, s.S1.C1)),
                XMath.Max(XMath.Max(s.S2.C0, s.S2.C1), XMath.Max(s.S3.C0, s.S3.C1)))
            : XMath.Max(XMath.Max(XMath.Max(s.S0.C2, s.S0.C3), XMath.Max(s.S1.C2, s.S1.C3)),
                XMath.Max(XMath.Max(s.S2.C2, s.S2.C3), XMath.Max(s.S3.C2, s.S3.C3)));
        m = XMath.Max(m, Warp.ShuffleXor(m, 1));
        return XMath.Max(m, Warp.ShuffleXor(m, 2));
    }

    /// <summary>The sum of a row over its 4 lanes, the same order on every lane.</summary>
    public static float RowSum(float s)
    {
        s += Warp.ShuffleXor(s, 1);
        return s + Warp.ShuffleXor(s, 2);
    }
}
