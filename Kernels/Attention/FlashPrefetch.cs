using System.Runtime.CompilerServices;
using ILGPU;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.FlashSimt;

namespace Engine.Kernels.Attention;

/// <summary>
/// The staging the prefetching attention versions share (forward v7, backward v7): a 128-thread group holds its share
/// of the next two streamed blocks [32, Dp] in registers while the current ones are multiplied, then writes them into
/// v2's swizzled shared layout with 128-bit stores. A thread owns column slot c4 = tid mod Dp/4 of rows
/// tid / (Dp/4) + i · 128 / (Dp/4) of each block, fixed for the whole kernel (no per-element division), so Dp ≤ 64:
/// at most 4 + 4 slots of 16 bytes.
/// </summary>
internal static class FlashPrefetch
{
    /// <summary>Threads per group (4 warps of 16 rows) and the largest padded head size the staging serves.</summary>
    public const int Threads = 128, GroupRows = 64, MaxDp = 64;

    /// <summary>A thread's share of two streamed blocks X, Y [32, Dp]: slots i = 0 .. Dp/16 − 1 of each, slot i at
    /// row r0 + i · step (see <see cref="Fetch"/>).</summary>
    internal struct Slots
    {
        public F4 X0, X1, X2, X3, Y0, Y1, Y2, Y3;
    }

    /// <summary>Where a thread's slots are: column slot c4, first row r0, row step and slots per block.</summary>
    internal readonly struct Share
    {
        public readonly int C4, R0, Step, Count, Dp4;

        public Share(FlashDims z)
        {
            Dp4 = z.Dp / 4;
            C4 = Group.IdxX % Dp4;
            R0 = Group.IdxX / Dp4;
            Step = Threads / Dp4;
            Count = Dp4 / 4;
        }
    }

    /// <summary>Columns c .. c+3 of the row at <paramref name="row"/>, times <paramref name="mul"/> (zero past D,
    /// or for a row past T). vec (<see cref="FlashDims.Vec"/>): one 128-bit load — c is a multiple of 4 and so is
    /// D, so the slot is wholly inside D or wholly past it; 4 scalar loads, each its own 32-byte sector for the
    /// warp's 32 slots 16 bytes apart, read 4 times the L1 sectors. The same values either way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static F4 Read(ArrayView<float> x, long row, bool ok, int c, int d, float mul, bool vec)
    {
        if (vec)
        {
            if (!ok || c >= d) return default;
            F4 w = x.Cast<F4>()[(row + c) >> 2];
            return new F4 { X = w.X * mul, Y = w.Y * mul, Z = w.Z * mul, W = w.W * mul };
        }
        return new F4
        {
            X = ok && c < d ? x[row + c] * mul : 0f,
            Y = ok && c + 1 < d ? x[row + c + 1] * mul : 0f,
            Z = ok && c + 2 < d ? x[row + c + 2] * mul : 0f,
            W = ok && c + 3 < d ? x[row + c + 3] * mul : 0f,
        };
    }

    /// <summary><see cref="FlashDims.Vec"/> for views x, y streamed by <see cref="Fetch"/> at head size d.</summary>
    internal static int Vec(int d, params ArrayView<float>[] views) =>
        d % 4 == 0 && views.All(DeviceAddress.Aligned16) ? 1 : 0;

    /// <summary>The thread's slots of the blocks of x (times <paramref name="mul"/>) and y from row t0 of a
    /// [T, heads, D] slice whose row 0 starts at <paramref name="start"/>: rows t0 + r0 + i · step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Slots Fetch(ArrayView<float> x, ArrayView<float> y, long start, int stride, int t0, float mul, Share p,
        FlashDims z)
    {
        int c = 4 * p.C4, t = t0 + p.R0;
        Slots s = default;
        (s.X0, s.Y0) = Pair(x, y, start, stride, t, c, mul, z);
        if (p.Count > 1) (s.X1, s.Y1) = Pair(x, y, start, stride, t + p.Step, c, mul, z);
        if (p.Count > 2) (s.X2, s.Y2) = Pair(x, y, start, stride, t + 2 * p.Step, c, mul, z);
        if (p.Count > 3) (s.X3, s.Y3) = Pair(x, y, start, stride, t + 3 * p.Step, c, mul, z);
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (F4, F4) Pair(ArrayView<float> x, ArrayView<float> y, long start, int stride, int t, int c, float mul,
        FlashDims z)
    {
        long row = start + (long)t * stride;
        return (Read(x, row, t < z.Steps, c, z.D, mul, z.Vec != 0), Read(y, row, t < z.Steps, c, z.D, 1f, z.Vec != 0));
    }

    /// <summary>Writes the slots into the swizzled blocks at F4 indices xAt4, yAt4: slot c4 of row r at
    /// r · Dp/4 + (c4 xor r mod 8), v2's layout (FlashSimt.Load with swizzle).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Put(ArrayView<F4> sh, Slots s, int xAt4, int yAt4, Share p)
    {
        Put1(sh, xAt4, yAt4, p.R0, p.C4, p.Dp4, s.X0, s.Y0);
        if (p.Count > 1) Put1(sh, xAt4, yAt4, p.R0 + p.Step, p.C4, p.Dp4, s.X1, s.Y1);
        if (p.Count > 2) Put1(sh, xAt4, yAt4, p.R0 + 2 * p.Step, p.C4, p.Dp4, s.X2, s.Y2);
        if (p.Count > 3) Put1(sh, xAt4, yAt4, p.R0 + 3 * p.Step, p.C4, p.Dp4, s.X3, s.Y3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put1(ArrayView<F4> sh, int xAt4, int yAt4, int r, int c4, int dp4, F4 x, F4 y)
    {
        int at = r * dp4 + (c4 ^ (r & 7));
        sh[xAt4 + at] = x;
        sh[yAt4 + at] = y;
    }
}
