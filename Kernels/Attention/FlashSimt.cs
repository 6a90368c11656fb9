using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace Engine.Kernels.Attention;

/// <summary>Four floats: one 128-bit shared-memory load or one row of a lane's 4×4 tile.</summary>
public struct F4
{
    public float X, Y, Z, W;
}

/// <summary>A lane's 4×4 register tile (rows R0..R3, columns X..W). Structs, not local arrays: ILGPU keeps struct
/// fields in registers, while a local array indexed in a loop lives in local memory.</summary>
public struct Tile
{
    public F4 R0, R1, R2, R3;
}

/// <summary>A lane's share of an output block [16 rows per warp, D ≤ 128]: up to four 4×4 tiles, one per 32 columns.
/// Chunks past the padded head size are never touched (a warp-uniform branch on the chunk count).</summary>
public struct Acc
{
    public Tile C0, C1, C2, C3;
}

/// <summary>
/// The sizes of the v2 (FlashAttention-2 layout, CUDA cores) attention kernels. Dp is the head size rounded up to 32
/// (the padding is zero in shared memory), Rows the rows a group owns (queries in the forward and the dQ pass, keys
/// in the dK/dV pass: 16 per warp), Blocks the groups per (batch, head), ScaleLog2 = log2(e)/√D (scores are kept in
/// the log2 domain so the kernels call exp2). Vec (the prefetching v7 only; 1 or 0, as a kernel argument cannot
/// hold a bool): D % 4 == 0 and the streamed views start 16-byte aligned, so a thread's 16-byte slot of a row is one
/// 128-bit global load.
/// </summary>
public readonly record struct FlashDims(int Steps, int QHeads, int KvHeads, int D, int Dp, int Rows, int Blocks,
    float ScaleLog2, int Vec = 0);

/// <summary>
/// The building blocks the v2 attention kernels share. A warp owns a 16 × 32 block of scores: lane = rg·8 + cg
/// (rg = 0..3, cg = 0..7) holds rows rg·4 + r (r = 0..3) and columns (keys) c·8 + cg (c = 0..3) — the 8 lanes of one
/// row group hold whole rows, so row max and row sum take three xor shuffles. Shared memory holds two layouts:
/// "rows" (row-major [n, Dp], read by a quarter-warp that shares rg: one broadcast address) and "swizzled" (the
/// 16-byte slot d/4 of row j stored at slot (d/4) xor (j mod 8): the 8 lanes of a quarter-warp read 8 different
/// rows at the same d, or 8 consecutive slots of one row, and both land in different banks, no padding needed).
/// Needs 32-lane warps.
/// </summary>
public static class FlashSimt
{
    public const int WarpRows = 16, BlockKeys = 32;

    /// <summary>Shared memory per group, in F4: 48 KB, ILGPU's cap (no opt-in to more).</summary>
    public const int SharedF4 = 3072;

    /// <summary>The rows a group owns when its shared memory holds <paramref name="own"/> blocks of its rows and
    /// <paramref name="streamed"/> blocks of 32 streamed rows, each [rows, Dp]: a multiple of 16, at most 64 (more
    /// rows per group would leave too few groups to fill an H100's 132 multiprocessors at T = 1024).</summary>
    public static int RowsPerGroup(int dp, int own, int streamed) =>
        Math.Min(64, (4 * SharedF4 / dp - streamed * BlockKeys) / own / WarpRows * WarpRows);

    /// <summary>Rows per group for T steps: no more warps than T needs (short sequences, T = 1).</summary>
    public static int RowsFor(int steps, int rows) =>
        Math.Min(rows, Math.Max(1, (steps + WarpRows - 1) / WarpRows) * WarpRows);

    public static int PaddedHeadDim(int d) => (d + 31) / 32 * 32;

    /// <summary>
    /// The group copies rows 0..rows−1 of a [T, heads, D] slice (row 0 at <paramref name="start"/>) into shared
    /// memory at float offset <paramref name="at"/>, times <paramref name="mul"/>; rows past
    /// <paramref name="valid"/> (≥ 1) and columns past D become zero. Consecutive threads read consecutive floats
    /// (a warp's load is one 128-byte row piece: 4 sectors). A thread takes <see cref="LoadBatch"/> elements per pass
    /// and issues all their loads before the first store: a load followed by its store per element made every
    /// element wait out a full memory latency (16 waits per thread per K or V block at D = 64 and 128 threads, 128
    /// at D = 128 in a one-warp backward group), with the block's math waiting behind the barrier. The element's
    /// row and column advance by a fixed step instead of a division per element.
    /// </summary>
    public static void Load(ArrayView<float> shared, int at, ArrayView<float> x, long start, int stride, int rows,
        int valid, int d, int dp, bool swizzle, float mul)
    {
        int n = rows * dp, step = Group.DimX, dr = step / dp, dc = step - dr * dp;
        int r = Group.IdxX / dp, c = Group.IdxX - r * dp;
        for (int idx = Group.IdxX; idx < n; idx += LoadBatch * step)
        {
            int r0 = r, c0 = c;
            Advance(ref r, ref c, dr, dc, dp);
            int r1 = r, c1 = c;
            Advance(ref r, ref c, dr, dc, dp);
            int r2 = r, c2 = c;
            Advance(ref r, ref c, dr, dc, dp);
            int r3 = r, c3 = c;
            Advance(ref r, ref c, dr, dc, dp);
            float v0 = Element(x, start, stride, r0, c0, valid, d, mul);
            float v1 = Element(x, start, stride, r1, c1, valid, d, mul);
            float v2 = Element(x, start, stride, r2, c2, valid, d, mul);
            float v3 = Element(x, start, stride, r3, c3, valid, d, mul);
            Put(shared, at, r0, c0, dp, swizzle, v0);
            if (idx + step < n) Put(shared, at, r1, c1, dp, swizzle, v1);
            if (idx + 2 * step < n) Put(shared, at, r2, c2, dp, swizzle, v2);
            if (idx + 3 * step < n) Put(shared, at, r3, c3, dp, swizzle, v3);
        }
    }

    /// <summary>Elements per thread per pass of <see cref="Load"/>: loads in flight at once.</summary>
    public const int LoadBatch = 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Advance(ref int r, ref int c, int dr, int dc, int dp)
    {
        r += dr;
        c += dc;
        if (c >= dp)
        {
            c -= dp;
            r++;
        }
    }

    /// <summary>x at (r, c) times mul, or zero past the valid rows or D. The address is clamped into the slice (row
    /// valid − 1 at most: T − 1 from the caller's first row) so the load needs no branch and the batch's loads are
    /// issued together; the clamped value is discarded by the select, so the kept values are v2's bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Element(ArrayView<float> x, long start, int stride, int r, int c, int valid, int d, float mul)
    {
        float value = x[start + (long)XMath.Min(r, valid - 1) * stride + XMath.Min(c, d - 1)];
        return r < valid && c < d ? value * mul : 0f;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(ArrayView<float> shared, int at, int r, int c, int dp, bool swizzle, float value)
    {
        int col = swizzle ? ((((c >> 2) ^ (r & 7)) << 2) | (c & 3)) : c;
        shared[at + r * dp + col] = value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(float acc, F4 a, F4 b) => acc + a.X * b.X + a.Y * b.Y + a.Z * b.Z + a.W * b.W;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static F4 Row(F4 acc, F4 a, F4 b0, F4 b1, F4 b2, F4 b3) =>
        new() { X = Dot(acc.X, a, b0), Y = Dot(acc.Y, a, b1), Z = Dot(acc.Z, a, b2), W = Dot(acc.W, a, b3) };

    /// <summary>
    /// The warp's 16 × 32 block of A·Bᵀ over Dp: A = 16 rows in the "rows" layout from F4 index
    /// <paramref name="a"/>, B = 32 rows swizzled from F4 index <paramref name="b"/>. Per 4 columns of Dp a lane
    /// loads 8 F4 and does 64 FMAs (the register blocking).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Tile Gemm(ArrayView<F4> sh, int a, int b, int dp4, int rg, int cg)
    {
        Tile s = default;
        int a0 = a + rg * 4 * dp4, b0 = b + cg * dp4;
        for (int d4 = 0; d4 < dp4; d4++)
        {
            F4 x0 = sh[a0 + d4], x1 = sh[a0 + dp4 + d4], x2 = sh[a0 + 2 * dp4 + d4], x3 = sh[a0 + 3 * dp4 + d4];
            int sw = d4 ^ cg;                                     // rows cg, cg+8, cg+16, cg+24 all have row mod 8 = cg
            F4 y0 = sh[b0 + sw], y1 = sh[b0 + 8 * dp4 + sw], y2 = sh[b0 + 16 * dp4 + sw], y3 = sh[b0 + 24 * dp4 + sw];
            s.R0 = Row(s.R0, x0, y0, y1, y2, y3);
            s.R1 = Row(s.R1, x1, y0, y1, y2, y3);
            s.R2 = Row(s.R2, x2, y0, y1, y2, y3);
            s.R3 = Row(s.R3, x3, y0, y1, y2, y3);
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static F4 Axpy(F4 acc, float p, F4 v) =>
        new() { X = acc.X + p * v.X, Y = acc.Y + p * v.Y, Z = acc.Z + p * v.Z, W = acc.W + p * v.W };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Tile Axpy(Tile t, float p0, float p1, float p2, float p3, F4 v) =>
        new() { R0 = Axpy(t.R0, p0, v), R1 = Axpy(t.R1, p1, v), R2 = Axpy(t.R2, p2, v), R3 = Axpy(t.R3, p3, v) };

    /// <summary>Adds p_r · row j of a swizzled block (F4 index <paramref name="row"/> of that row) to every
    /// chunk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Acc Key(Acc o, float p0, float p1, float p2, float p3, ArrayView<F4> sh, int row, int j7, int chunks, int cg)
    {
        o.C0 = Axpy(o.C0, p0, p1, p2, p3, sh[row + (cg ^ j7)]);
        if (chunks > 1) o.C1 = Axpy(o.C1, p0, p1, p2, p3, sh[row + ((8 + cg) ^ j7)]);
        if (chunks > 2) o.C2 = Axpy(o.C2, p0, p1, p2, p3, sh[row + ((16 + cg) ^ j7)]);
        if (chunks > 3) o.C3 = Axpy(o.C3, p0, p1, p2, p3, sh[row + ((24 + cg) ^ j7)]);
        return o;
    }

    /// <summary>
    /// o += P·B for the warp's 16 × 32 block P (held as <see cref="Gemm"/> leaves it) and 32 swizzled rows of B from
    /// F4 index <paramref name="b"/>: lane (rg, cg) owns columns ch·32 + cg·4 .. +3 of its 4 rows; P[row][j] comes
    /// from lane (rg, j mod 8), component j / 8, by a shuffle (no shared-memory round trip for P).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Acc Accumulate(Acc o, Tile p, ArrayView<F4> sh, int b, int dp4, int chunks, int rg, int cg)
    {
        for (int src = 0; src < 8; src++)
        {
            int lane = rg * 8 + src;
            o = Key(o, Warp.Shuffle(p.R0.X, lane), Warp.Shuffle(p.R1.X, lane), Warp.Shuffle(p.R2.X, lane),
                Warp.Shuffle(p.R3.X, lane), sh, b + src * dp4, src, chunks, cg);
            o = Key(o, Warp.Shuffle(p.R0.Y, lane), Warp.Shuffle(p.R1.Y, lane), Warp.Shuffle(p.R2.Y, lane),
                Warp.Shuffle(p.R3.Y, lane), sh, b + (src + 8) * dp4, src, chunks, cg);
            o = Key(o, Warp.Shuffle(p.R0.Z, lane), Warp.Shuffle(p.R1.Z, lane), Warp.Shuffle(p.R2.Z, lane),
                Warp.Shuffle(p.R3.Z, lane), sh, b + (src + 16) * dp4, src, chunks, cg);
            o = Key(o, Warp.Shuffle(p.R0.W, lane), Warp.Shuffle(p.R1.W, lane), Warp.Shuffle(p.R2.W, lane),
                Warp.Shuffle(p.R3.W, lane), sh, b + (src + 24) * dp4, src, chunks, cg);
        }
        return o;
    }

    /// <summary>Keeps column c·8 + cg of a row when c·8 ≤ <paramref name="limit"/>, else −∞ (the causal mask for a
    /// row whose distance from the block's first key, minus cg, is <paramref name="limit"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 MaskAbove(F4 x, int limit) => new()
    {
        X = limit >= 0 ? x.X : float.NegativeInfinity,
        Y = limit >= 8 ? x.Y : float.NegativeInfinity,
        Z = limit >= 16 ? x.Z : float.NegativeInfinity,
        W = limit >= 24 ? x.W : float.NegativeInfinity,
    };

    /// <summary>Keeps column c·8 + cg when c·8 ≥ <paramref name="limit"/>, else −∞ (the causal mask seen from a key
    /// row, whose columns are queries: a query before the key does not see it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 MaskBelow(F4 x, int limit) => new()
    {
        X = 0 >= limit ? x.X : float.NegativeInfinity,
        Y = 8 >= limit ? x.Y : float.NegativeInfinity,
        Z = 16 >= limit ? x.Z : float.NegativeInfinity,
        W = 24 >= limit ? x.W : float.NegativeInfinity,
    };

    /// <summary>exp2(x − m) with a value of m per column.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 Exp2(F4 x, F4 m) => new()
    {
        X = XMath.Exp2(x.X - m.X), Y = XMath.Exp2(x.Y - m.Y), Z = XMath.Exp2(x.Z - m.Z), W = XMath.Exp2(x.W - m.W),
    };

    /// <summary>p ⊙ (dp − d) elementwise (dS from P, dP and the row dots).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 Ds(F4 p, F4 dp, F4 d) => new()
    {
        X = p.X * (dp.X - d.X), Y = p.Y * (dp.Y - d.Y), Z = p.Z * (dp.Z - d.Z), W = p.W * (dp.W - d.W),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 Ds(F4 p, F4 dp, float d) => new()
    {
        X = p.X * (dp.X - d), Y = p.Y * (dp.Y - d), Z = p.Z * (dp.Z - d), W = p.W * (dp.W - d),
    };

    /// <summary>The max over a row group's 8 lanes of their 4 values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RowMax(F4 x)
    {
        float m = XMath.Max(XMath.Max(x.X, x.Y), XMath.Max(x.Z, x.W));
        m = XMath.Max(m, Warp.ShuffleXor(m, 1));
        m = XMath.Max(m, Warp.ShuffleXor(m, 2));
        return XMath.Max(m, Warp.ShuffleXor(m, 4));
    }

    /// <summary>The sum over a row group's 8 lanes (each lane's value once), the same order on every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RowSum(float s)
    {
        s += Warp.ShuffleXor(s, 1);
        s += Warp.ShuffleXor(s, 2);
        return s + Warp.ShuffleXor(s, 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(F4 x) => x.X + x.Y + x.Z + x.W;

    /// <summary>exp2(x − m), elementwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 Exp2(F4 x, float m) => new()
    {
        X = XMath.Exp2(x.X - m), Y = XMath.Exp2(x.Y - m), Z = XMath.Exp2(x.Z - m), W = XMath.Exp2(x.W - m),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 Scale(F4 x, float s) => new() { X = x.X * s, Y = x.Y * s, Z = x.Z * s, W = x.W * s };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Tile Scale(Tile t, float s0, float s1, float s2, float s3) =>
        new() { R0 = Scale(t.R0, s0), R1 = Scale(t.R1, s1), R2 = Scale(t.R2, s2), R3 = Scale(t.R3, s3) };

    /// <summary>Multiplies row r of every chunk by s_r (the online-softmax correction, or a final factor).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Acc Scale(Acc o, float s0, float s1, float s2, float s3, int chunks)
    {
        o.C0 = Scale(o.C0, s0, s1, s2, s3);
        if (chunks > 1) o.C1 = Scale(o.C1, s0, s1, s2, s3);
        if (chunks > 2) o.C2 = Scale(o.C2, s0, s1, s2, s3);
        if (chunks > 3) o.C3 = Scale(o.C3, s0, s1, s2, s3);
        return o;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(ArrayView<float> y, long at, int col, int d, F4 x, bool add)
    {
        // Columns past D are padding; a head size that is a multiple of 4 never splits an F4.
        if (col >= d) return;
        if (add)
        {
            y[at + col] += x.X; y[at + col + 1] += x.Y; y[at + col + 2] += x.Z; y[at + col + 3] += x.W;
        }
        else
        {
            y[at + col] = x.X; y[at + col + 1] = x.Y; y[at + col + 2] = x.Z; y[at + col + 3] = x.W;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static F4 RowOf(Tile t, int r) => r == 0 ? t.R0 : r == 1 ? t.R1 : r == 2 ? t.R2 : t.R3;

    /// <summary>Writes (or adds) row r of the lane's chunks to y at element offset <paramref name="at"/> (columns
    /// past D are skipped).</summary>
    public static void StoreRow(ArrayView<float> y, long at, Acc o, int r, int chunks, int cg, int d, bool add)
    {
        if (d % 4 != 0)
        {
            StoreRowScalar(y, at, o, r, chunks, cg, d, add);
            return;
        }
        Store4(y, at, cg * 4, d, RowOf(o.C0, r), add);
        if (chunks > 1) Store4(y, at, 32 + cg * 4, d, RowOf(o.C1, r), add);
        if (chunks > 2) Store4(y, at, 64 + cg * 4, d, RowOf(o.C2, r), add);
        if (chunks > 3) Store4(y, at, 96 + cg * 4, d, RowOf(o.C3, r), add);
    }

    static void StoreRowScalar(ArrayView<float> y, long at, Acc o, int r, int chunks, int cg, int d, bool add)
    {
        for (int ch = 0; ch < chunks; ch++)
        {
            F4 x = RowOf(ch == 0 ? o.C0 : ch == 1 ? o.C1 : ch == 2 ? o.C2 : o.C3, r);
            int col = ch * 32 + cg * 4;
            for (int e = 0; e < 4; e++)
            {
                if (col + e >= d) return;
                float value = e == 0 ? x.X : e == 1 ? x.Y : e == 2 ? x.Z : x.W;
                if (add) y[at + col + e] += value;
                else y[at + col + e] = value;
            }
        }
    }
}
