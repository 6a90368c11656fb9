using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;
using Engine.Kernels.Gpu;
using X = Engine.Kernels.Attention.FlashRegsAsm;

namespace Engine.Kernels.Attention;

/// <summary>
/// The tensor-core state of one warp in the attention forward (its 16 × Dp output accumulator) and the block
/// products on it, as a type parameter of the kernel body: <see cref="FlashValues{TMma}"/> holds the state in ILGPU
/// values (v3/v4, and the twin of v5/v6), <see cref="FlashRegisters"/> in PTX-declared registers (v5/v6 on CUDA).
/// </summary>
public interface IFlashForward
{
    /// <summary>S = A·Bᵀ for the warp's 16 × 32 block (<see cref="FlashTc.Abt{TMma}"/>'s contract: fragments from
    /// n on may hold anything the causal mask then hides).</summary>
    Quad Scores(ArrayView<float> sh, int a, int sa, int b, int sb, int tiles, bool three, int n);

    /// <summary>Output row g times top, row g + 8 times bottom.</summary>
    void Rescale(float top, float bottom, int tiles);

    /// <summary>O += P·B (<see cref="FlashTc.Pv{TMma}"/>).</summary>
    void AddPv(Quad p, ArrayView<float> sh, int b, int sb, int tiles, bool three, int n);

    /// <summary>Writes rows g (at top, if topOk) and g + 8 (at bottom) of O, columns below d: top/bottom are element
    /// offsets of the rows in o; address is o's device address in bytes.</summary>
    void Store(ArrayView<float> o, long address, long top, long bottom, bool topOk, bool bottomOk, int d, int tiles);
}

/// <summary>The accumulator in ILGPU values, MMAs through <typeparamref name="TMma"/>: v3/v4's code.</summary>
public struct FlashValues<TMma> : IFlashForward where TMma : struct, IMmaUnit
{
    AccTc acc;

    public Quad Scores(ArrayView<float> sh, int a, int sa, int b, int sb, int tiles, bool three, int n) =>
        FlashTc.Abt<TMma>(sh, a, sa, b, sb, 8 * tiles, three, n);

    public void Rescale(float top, float bottom, int tiles) => acc = FlashTc.Scale(acc, top, bottom, tiles);

    public void AddPv(Quad p, ArrayView<float> sh, int b, int sb, int tiles, bool three, int n) =>
        acc = FlashTc.Pv<TMma>(acc, p, sh, b, sb, tiles, three, n);

    public void Store(ArrayView<float> o, long address, long top, long bottom, bool topOk, bool bottomOk, int d,
        int tiles)
    {
        for (int j = 0; j < tiles; j++)
        {
            FragC c = FlashTc.Tile(acc, j);
            if (topOk) FlashTc.Store(o, top, c, j, true, d, add: false);
            if (bottomOk) FlashTc.Store(o, bottom, c, j, false, d, add: false);
        }
    }
}

/// <summary>
/// The accumulator in registers the PTX declares (<see cref="FlashRegsPtx"/>; FlashRegsAsm.Init must come first in
/// the kernel): every rounding, MMA, rescale and store is an input-only Emit. S comes back to ILGPU once per block,
/// for the softmax, through 4 floats of shared memory per lane, 32 apart (an Emit's <c>out</c> operand aimed at
/// shared memory is a shared store; aimed at a local variable, ILGPU would give it a local-memory slot). The
/// score MMAs run on all 4 key fragments (the twin skips those from n on: the causal mask hides them either way).
/// </summary>
public struct FlashRegisters : IFlashForward
{
    readonly ArrayView<float> scratch;   // 4 floats of this lane: scratch[0], [32], [64], [96]

    /// <param name="scratch">Shared memory from this lane's slot: lane l of a warp at warpBase + l.</param>
    public FlashRegisters(ArrayView<float> scratch) => this.scratch = scratch;

    public Quad Scores(ArrayView<float> sh, int a, int sa, int b, int sb, int tiles, bool three, int n)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3;
        CudaAsm.Emit(X.ZeroS);
        var va = sh.SubView(a + g * sa + t, 8 * sa + 8 * tiles);
        var vb = sh.SubView(b + g * sb + t, 24 * sb + 8 * tiles);
        for (int k0 = 0; k0 < 8 * tiles; k0 += 8)
        {
            var ak = va.SubView(k0, 8 * sa + 5);
            var bk = vb.SubView(k0, 24 * sb + 5);
            if (three) CudaAsm.Emit(X.SplitA, ak[0], ak[8 * sa], ak[4], ak[8 * sa + 4]);
            else CudaAsm.Emit(X.LoadA, ak[0], ak[8 * sa], ak[4], ak[8 * sa + 4]);
            if (three)
                CudaAsm.Emit(X.SplitB, bk[0], bk[4], bk[8 * sb], bk[8 * sb + 4], bk[16 * sb], bk[16 * sb + 4],
                    bk[24 * sb], bk[24 * sb + 4]);
            else
                CudaAsm.Emit(X.LoadB, bk[0], bk[4], bk[8 * sb], bk[8 * sb + 4], bk[16 * sb], bk[16 * sb + 4],
                    bk[24 * sb], bk[24 * sb + 4]);
            if (three) CudaAsm.Emit(X.MmaS3);
            else CudaAsm.Emit(X.MmaS);
        }
        // Back to ILGPU values through this lane's shared slot, one fragment at a time. ILGPU reads an Emit's text
        // at its own call site, so each move is spelled out.
        var r = new Quad();
        CudaAsm.Emit(X.S0, out scratch[0]);
        CudaAsm.Emit(X.S1, out scratch[32]);
        CudaAsm.Emit(X.S2, out scratch[64]);
        CudaAsm.Emit(X.S3, out scratch[96]);
        r.S0 = Slot();
        CudaAsm.Emit(X.S4, out scratch[0]);
        CudaAsm.Emit(X.S5, out scratch[32]);
        CudaAsm.Emit(X.S6, out scratch[64]);
        CudaAsm.Emit(X.S7, out scratch[96]);
        r.S1 = Slot();
        CudaAsm.Emit(X.S8, out scratch[0]);
        CudaAsm.Emit(X.S9, out scratch[32]);
        CudaAsm.Emit(X.S10, out scratch[64]);
        CudaAsm.Emit(X.S11, out scratch[96]);
        r.S2 = Slot();
        CudaAsm.Emit(X.S12, out scratch[0]);
        CudaAsm.Emit(X.S13, out scratch[32]);
        CudaAsm.Emit(X.S14, out scratch[64]);
        CudaAsm.Emit(X.S15, out scratch[96]);
        r.S3 = Slot();
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    readonly FragC Slot() => new() { C0 = scratch[0], C1 = scratch[32], C2 = scratch[64], C3 = scratch[96] };

    public void Rescale(float top, float bottom, int tiles)
    {
        CudaAsm.Emit(X.ScaleO0, top, bottom);
        if (tiles > 4) CudaAsm.Emit(X.ScaleO1, top, bottom);
        if (tiles > 8) CudaAsm.Emit(X.ScaleO2, top, bottom);
        if (tiles > 12) CudaAsm.Emit(X.ScaleO3, top, bottom);
    }

    public void AddPv(Quad p, ArrayView<float> sh, int b, int sb, int tiles, bool three, int n)
    {
        int lane = Warp.LaneIdx, g = lane >> 2, t = lane & 3, src = g * 4 + (t >> 1);
        bool odd = (t & 1) == 1;
        for (int kk = 0; kk < n; kk++)
        {
            FragA a = FlashTc.PFragment(p, kk, src, odd);
            if (three) CudaAsm.Emit(X.SplitA, a.A0, a.A1, a.A2, a.A3);
            else CudaAsm.Emit(X.LoadA, a.A0, a.A1, a.A2, a.A3);
            var r0 = sh.SubView(b + (8 * kk + t) * sb + g, 4 * sb + 8 * 16);
            Tiles(r0.SubView(0, 4 * sb + 32), sb, three, 0);
            if (tiles > 4) Tiles(r0.SubView(32, 4 * sb + 32), sb, three, 1);
            if (tiles > 8) Tiles(r0.SubView(64, 4 * sb + 32), sb, three, 2);
            if (tiles > 12) Tiles(r0.SubView(96, 4 * sb + 32), sb, three, 3);
        }
    }

    /// <summary>O tiles 4q .. 4q+3 += A · B, B rows t and t + 4 of the 32 columns from r.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Tiles(ArrayView<float> r, int sb, bool three, int q)
    {
        if (three)
            CudaAsm.Emit(X.SplitB, r[0], r[4 * sb], r[8], r[4 * sb + 8], r[16], r[4 * sb + 16], r[24],
                r[4 * sb + 24]);
        else
            CudaAsm.Emit(X.LoadB, r[0], r[4 * sb], r[8], r[4 * sb + 8], r[16], r[4 * sb + 16], r[24],
                r[4 * sb + 24]);
        // One Emit per constant text: a conditional expression as the text is not a constant to ILGPU.
        if (q == 0 && three) CudaAsm.Emit(X.MmaO30);
        if (q == 0 && !three) CudaAsm.Emit(X.MmaO0);
        if (q == 1 && three) CudaAsm.Emit(X.MmaO31);
        if (q == 1 && !three) CudaAsm.Emit(X.MmaO1);
        if (q == 2 && three) CudaAsm.Emit(X.MmaO32);
        if (q == 2 && !three) CudaAsm.Emit(X.MmaO2);
        if (q == 3 && three) CudaAsm.Emit(X.MmaO33);
        if (q == 3 && !three) CudaAsm.Emit(X.MmaO3);
    }

    public void Store(ArrayView<float> o, long address, long top, long bottom, bool topOk, bool bottomOk, int d,
        int tiles)
    {
        int t = Warp.LaneIdx & 3;
        long at0 = address + 4 * (top + 2 * t), at1 = address + 4 * (bottom + 2 * t);
        CudaAsm.Emit(X.StoreO0, at0, at1, Mask(topOk, bottomOk, 2 * t, d));
        if (tiles > 4) CudaAsm.Emit(X.StoreO1, at0 + 128, at1 + 128, Mask(topOk, bottomOk, 32 + 2 * t, d));
        if (tiles > 8) CudaAsm.Emit(X.StoreO2, at0 + 256, at1 + 256, Mask(topOk, bottomOk, 64 + 2 * t, d));
        if (tiles > 12) CudaAsm.Emit(X.StoreO3, at0 + 384, at1 + 384, Mask(topOk, bottomOk, 96 + 2 * t, d));
    }

    /// <summary>Bit 2jj + c: column col + 8jj + c (jj = 0..3, c = 0, 1) is below d, in row g if topOk; bits 8.. the
    /// same for row g + 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int Mask(bool topOk, bool bottomOk, int col, int d)
    {
        int cols = 0;
        for (int e = 0; e < 8; e++)
            if (col + 8 * (e >> 1) + (e & 1) < d) cols |= 1 << e;
        return (topOk ? cols : 0) | (bottomOk ? cols << 8 : 0);
    }
}
