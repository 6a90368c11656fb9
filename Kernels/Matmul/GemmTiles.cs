using System.Runtime.CompilerServices;
using ILGPU;
using Engine.Kernels.Gpu;
using ILGPU.Runtime;

namespace Engine.Kernels.Matmul;

/// <summary>Four floats, 16 bytes: a view cast to it (<c>view.Cast&lt;F4&gt;()</c>) loads and stores 128 bits at
/// once.</summary>
public struct F4
{
    public float X, Y, Z, W;
}

/// <summary>Flags of the tiled GEMM kernels, one int so the kernels keep few parameters.</summary>
static class GemmFlags
{
    public const int TransA = 1, TransB = 2, Accumulate = 4, VecA = 8, VecB = 16, VecC = 32;

    /// <summary>The flags of a launch. VecX: the view starts on a 16-byte boundary and its rows are a whole number of
    /// F4 (leading dimension % 4 == 0), so a run of 4 floats at a column that is a multiple of 4 is one aligned
    /// 128-bit access. Device allocations are 256-byte aligned, so the view's element offset decides.</summary>
    public static int Of(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k, bool transA,
        bool transB, bool accumulate)
    {
        bool vecA = DeviceAddress.Aligned16(a) && (transA ? m : k) % 4 == 0;
        bool vecB = DeviceAddress.Aligned16(b) && (transB ? k : n) % 4 == 0;
        bool vecC = DeviceAddress.Aligned16(c) && n % 4 == 0;
        return (transA ? TransA : 0) | (transB ? TransB : 0) | (accumulate ? Accumulate : 0) | (vecA ? VecA : 0) |
               (vecB ? VecB : 0) | (vecC ? VecC : 0);
    }


    /// <summary>Whether every element index of the operands fits the kernels' 32-bit index math.</summary>
    public static bool Fits32(int m, int n, int k) =>
        (long)m * k < int.MaxValue && (long)k * n < int.MaxValue && (long)m * n < int.MaxValue;
}

/// <summary>
/// Global ↔ register ↔ shared moves shared by the 128×128 tiled kernels (v3 SIMT, v5/v6 tensor cores): 256 threads
/// stage a 128 × BK = 8 slice of op(A) and of op(B) per step, each thread 4 consecutive floats of its operand's
/// storage, as one 128-bit load where aligned and in bounds, else 4 predicated scalar loads (zeros outside the
/// matrix, so edge tiles need no other masking). Shared tiles are K-major ([k][m] for A, [k][n] for B).
/// </summary>
static class GemmTiles
{
    public const int Threads = 256, Tile = 128, BK = 8;

    /// <summary>Elements [row][col .. col+3] of a row-major rows×cols matrix, zero outside it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 Load4(ArrayView<float> x, ArrayView<F4> x4, int row, int col, int rows, int cols, bool vec)
    {
        int at = row * cols + col;
        if (vec && row < rows && col + 3 < cols) return x4[at >> 2];
        return Spaced(x, at, row < rows, col, cols, 1);
    }

    /// <summary>x[at + e·gap] for e = 0..3, each zero unless inRow and its column col + e·gap &lt; cols.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static F4 Spaced(ArrayView<float> x, int at, bool inRow, int col, int cols, int gap) => new()
    {
        X = inRow && col < cols ? x[at] : 0f,
        Y = inRow && col + gap < cols ? x[at + gap] : 0f,
        Z = inRow && col + 2 * gap < cols ? x[at + 2 * gap] : 0f,
        W = inRow && col + 3 * gap < cols ? x[at + 3 * gap] : 0f,
    };

    /// <summary>This thread's 4 floats of the operand's next K slice. kMajor: the operand is stored with K as its rows
    /// (A when transA, B when not transB): thread t reads k row t/32, 4 columns at 4·(t%32) of the 128-wide
    /// tile.
    /// Otherwise the tile's rows are M (or N): thread t reads row t/2, k columns 4·(t%2) .. +3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 Fetch(ArrayView<float> x, ArrayView<F4> x4, int tid, int k0, int base0, int mn, int k, bool kMajor,
        bool vec) =>
        kMajor
            ? Load4(x, x4, k0 + (tid >> 5), base0 + ((tid & 31) << 2), k, mn, vec)
            : Load4(x, x4, base0 + (tid >> 1), k0 + ((tid & 1) << 2), mn, k, vec);

    /// <summary>Writes what <see cref="Fetch"/> read into a K-major shared tile whose rows are
    /// <paramref name="stride"/> floats apart (stride % 4 == 0): one 128-bit store when the source was K-major,
    /// else 4 scalar stores (the transpose that makes A's columns contiguous in shared memory).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Stage(ArrayView<float> s, ArrayView<F4> s4, int at, int stride, int tid, F4 v, bool kMajor)
    {
        if (kMajor)
        {
            s4[(at + (tid >> 5) * stride + ((tid & 31) << 2)) >> 2] = v;
            return;
        }
        int row = tid >> 1, kc = (tid & 1) << 2;
        int i = at + kc * stride + row;
        s[i] = v.X;
        s[i + stride] = v.Y;
        s[i + 2 * stride] = v.Z;
        s[i + 3 * stride] = v.W;
    }

    /// <summary>The scalar path's <see cref="Fetch"/> of a K-major operand (VecX off: every load is 32-bit anyway):
    /// thread t holds columns t % 32 + {0, 32, 64, 96} of k row t / 32, so a warp's load c reads 128 consecutive
    /// floats (4-5 32-byte sectors) where Fetch's 4 floats per thread, 16 bytes apart, touch 17 per instruction: per
    /// warp and slice 20 sectors instead of 68. The LM head's dW (Aᵀ·B, M = 50257) reads A this way. Operands with
    /// K along their rows keep Fetch: the same idea there (8 k of 4 rows per load, 8 sectors instead of 24) needs
    /// the runtime stride 32·K between a thread's elements, and ptxas then held 157 registers in v12 at O1 (126).
    /// <see cref="StageSpread"/> puts every value where <see cref="Stage"/> would, so the sums do not change.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static F4 FetchSpread(ArrayView<float> x, int tid, int k0, int base0, int mn, int k)
    {
        int row = k0 + (tid >> 5), col = base0 + (tid & 31);
        return Spaced(x, row * mn + col, row < k, col, mn, 32);
    }

    /// <summary>Writes what <see cref="FetchSpread"/> read: 4 scalar stores of 32 consecutive floats per warp, one
    /// wavefront each (Stage's one 128-bit store takes 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StageSpread(ArrayView<float> s, int at, int stride, int tid, F4 v)
    {
        int i = at + (tid >> 5) * stride + (tid & 31);
        s[i] = v.X;
        s[i + 32] = v.Y;
        s[i + 64] = v.Z;
        s[i + 96] = v.W;
    }

    /// <summary>C[row][col .. col+3] (+)= v, masked to the matrix; one 128-bit access where aligned and
    /// inside.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store4(ArrayView<float> c, ArrayView<F4> c4, int row, int col, F4 v, int m, int n, int flags)
    {
        if (row >= m) return;
        bool accumulate = (flags & GemmFlags.Accumulate) != 0;
        int at = row * n + col;
        if ((flags & GemmFlags.VecC) != 0 && col + 3 < n)
        {
            if (accumulate)
            {
                F4 old = c4[at >> 2];
                v.X += old.X;
                v.Y += old.Y;
                v.Z += old.Z;
                v.W += old.W;
            }
            c4[at >> 2] = v;
            return;
        }
        Store1(c, at, col < n, v.X, accumulate);
        Store1(c, at + 1, col + 1 < n, v.Y, accumulate);
        Store1(c, at + 2, col + 2 < n, v.Z, accumulate);
        Store1(c, at + 3, col + 3 < n, v.W, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store1(ArrayView<float> c, int at, bool inside, float v, bool accumulate)
    {
        if (inside) c[at] = accumulate ? c[at] + v : v;
    }
}
