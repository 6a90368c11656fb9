using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;
using Engine.Kernels.Gpu;
using F = Engine.Kernels.Attention.FlashRegsAsm;
using X = Engine.Kernels.Attention.FlashBackRegsAsm;

namespace Engine.Kernels.Attention;

/// <summary>
/// The tensor-core state of one warp in an attention backward pass, as a type parameter of the pass's body
/// (<see cref="AttentionBackwardV3"/>): accumulator X (dK in the dK/dV pass, dQ in the dQ pass) and Y (dV), each
/// 16 rows × Dp, and the block products on them. <see cref="FlashBackValues{TMma}"/> holds them in ILGPU values
/// (v3/v4, and the twin of v5/v6), <see cref="FlashBackRegisters"/> in PTX-declared registers (v5/v6 on CUDA).
/// </summary>
public interface IFlashBackward
{
    /// <summary>The warp's 16 × 32 block A·Bᵀ (<see cref="FlashTc.Abt{TMma}"/>'s contract: fragments from n on may
    /// hold anything that is masked or multiplied by a zero probability afterwards).</summary>
    Quad Product(ArrayView<float> sh, int a, int sa, int b, int sb, int tiles, bool three, int n);

    /// <summary>X += P·B (<see cref="FlashTc.Pv{TMma}"/>), or Y += P·B when <paramref name="y"/>.</summary>
    void Add(bool y, Quad p, ArrayView<float> sh, int b, int sb, int tiles, bool three, int n);

    /// <summary>Adds X times <paramref name="scale"/> to x, and Y (when <paramref name="withY"/>) to y: rows g (at
    /// element offset top, if topOk) and g + 8 (at bottom), columns below d; xAddress/yAddress are the device
    /// addresses of x and y in bytes.</summary>
    void Store(ArrayView<float> x, long xAddress, ArrayView<float> y, long yAddress, float scale, long top,
        long bottom, bool topOk, bool bottomOk, int d, int tiles, bool withY);
}

/// <summary>The accumulators in ILGPU values, MMAs through <typeparamref name="TMma"/>: v3/v4's code.</summary>
public struct FlashBackValues<TMma> : IFlashBackward where TMma : struct, IMmaUnit
{
    AccTc accX, accY;

    public Quad Product(ArrayView<float> sh, int a, int sa, int b, int sb, int tiles, bool three, int n) =>
        FlashTc.Abt<TMma>(sh, a, sa, b, sb, 8 * tiles, three, n);

    public void Add(bool y, Quad p, ArrayView<float> sh, int b, int sb, int tiles, bool three, int n)
    {
        if (y) accY = FlashTc.Pv<TMma>(accY, p, sh, b, sb, tiles, three, n);
        else accX = FlashTc.Pv<TMma>(accX, p, sh, b, sb, tiles, three, n);
    }

    public void Store(ArrayView<float> x, long xAddress, ArrayView<float> y, long yAddress, float scale, long top,
        long bottom, bool topOk, bool bottomOk, int d, int tiles, bool withY)
    {
        AccTc sx = FlashTc.Scale(accX, scale, scale, tiles);
        for (int j = 0; j < tiles; j++)
        {
            FragC cx = FlashTc.Tile(sx, j), cy = FlashTc.Tile(accY, j);
            if (topOk) FlashTc.Store(x, top, cx, j, true, d, add: true);
            if (topOk && withY) FlashTc.Store(y, top, cy, j, true, d, add: true);
            if (bottomOk) FlashTc.Store(x, bottom, cx, j, false, d, add: true);
            if (bottomOk && withY) FlashTc.Store(y, bottom, cy, j, false, d, add: true);
        }
    }
}

/// <summary>
/// The accumulators in registers the PTX declares (<see cref="FlashBackRegsPtx"/>; FlashBackRegsAsm.InitKv or InitQ
/// must come first in the kernel), for D ≤ 64: every rounding, MMA and store is an input-only Emit. The score
/// products are the forward's (<see cref="FlashRegisters.Scores"/>: all 4 key fragments, back to ILGPU values
/// through 4 floats of shared memory per lane); P and dS go back in as A fragments by shuffles, as in
/// <see cref="FlashTc.Pv{TMma}"/>, and their MMAs run in groups of 4 column tiles (D rounded up to 32).
/// </summary>
public struct FlashBackRegisters : IFlashBackward
{
    readonly FlashRegisters scores;

    /// <param name="scratch">Shared memory from this lane's slot: lane l of a warp at warpBase + l, 128 floats per
    /// warp.</param>
    public FlashBackRegisters(ArrayView<float> scratch) => scores = new FlashRegisters(scratch);

    public Quad Product(ArrayView<float> sh, int a, int sa, int b, int sb, int tiles, bool three, int n) =>
        scores.Scores(sh, a, sa, b, sb, tiles, three, n);

    public void Add(bool y, Quad p, ArrayView<float> sh, int b, int sb, int tiles, bool three, int n)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, src = g * 4 + (t >> 1);
        bool odd = (t & 1) == 1;
        for (int kk = 0; kk < n; kk++)
        {
            FragA a = FlashTc.PFragment(p, kk, src, odd);
            if (three) CudaAsm.Emit(F.SplitA, a.A0, a.A1, a.A2, a.A3);
            else CudaAsm.Emit(F.LoadA, a.A0, a.A1, a.A2, a.A3);
            var r0 = sh.SubView(b + (8 * kk + t) * sb + g, 4 * sb + 8 * 8);
            Tiles(y, r0.SubView(0, 4 * sb + 32), sb, three, 0);
            if (tiles > 4) Tiles(y, r0.SubView(32, 4 * sb + 32), sb, three, 1);
        }
    }

    /// <summary>Tiles 4q .. 4q+3 of X (or Y) += A · B, B rows t and t + 4 of the 32 columns from r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tiles(bool y, ArrayView<float> r, int sb, bool three, int q)
    {
        if (three)
            CudaAsm.Emit(F.SplitB, r[0], r[4 * sb], r[8], r[4 * sb + 8], r[16], r[4 * sb + 16], r[24],
                r[4 * sb + 24]);
        else
            CudaAsm.Emit(F.LoadB, r[0], r[4 * sb], r[8], r[4 * sb + 8], r[16], r[4 * sb + 16], r[24],
                r[4 * sb + 24]);
        // One Emit per constant text: a conditional expression as the text is not a constant to ILGPU.
        if (!y && q == 0 && three) CudaAsm.Emit(X.MmaX30);
        if (!y && q == 0 && !three) CudaAsm.Emit(X.MmaX0);
        if (!y && q == 1 && three) CudaAsm.Emit(X.MmaX31);
        if (!y && q == 1 && !three) CudaAsm.Emit(X.MmaX1);
        if (y && q == 0 && three) CudaAsm.Emit(X.MmaY30);
        if (y && q == 0 && !three) CudaAsm.Emit(X.MmaY0);
        if (y && q == 1 && three) CudaAsm.Emit(X.MmaY31);
        if (y && q == 1 && !three) CudaAsm.Emit(X.MmaY1);
    }

    public void Store(ArrayView<float> x, long xAddress, ArrayView<float> y, long yAddress, float scale, long top,
        long bottom, bool topOk, bool bottomOk, int d, int tiles, bool withY)
    {
        int t = Warp.LaneIdx & 3;
        long x0 = xAddress + 4 * (top + 2 * t), x1 = xAddress + 4 * (bottom + 2 * t);
        int m0 = FlashRegisters.Mask(topOk, bottomOk, 2 * t, d);
        int m1 = FlashRegisters.Mask(topOk, bottomOk, 32 + 2 * t, d);
        CudaAsm.Emit(X.StoreX0, x0, x1, m0, scale);
        if (tiles > 4) CudaAsm.Emit(X.StoreX1, x0 + 128, x1 + 128, m1, scale);
        if (!withY) return;
        long y0 = yAddress + 4 * (top + 2 * t), y1 = yAddress + 4 * (bottom + 2 * t);
        CudaAsm.Emit(X.StoreY0, y0, y1, m0, 1f);
        if (tiles > 4) CudaAsm.Emit(X.StoreY1, y0 + 128, y1 + 128, m1, 1f);
    }
}
