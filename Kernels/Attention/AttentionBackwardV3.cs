using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.FlashTc;

namespace Engine.Kernels.Attention;

/// <summary>
/// Backward v3 (TF32) and v4 (3×TF32): backward v2's passes and order with every block product on tensor cores
/// (<see cref="FlashTc"/>). dK/dV: a group owns 16 key rows per warp (K, V staged once), loops over the query heads
/// of its kv head and the 32-query blocks from its first key: Sᵀ = K·Qᵀ, P = exp2(Sᵀ − lse), dPᵀ = V·doutᵀ,
/// dSᵀ = P ⊙ (dPᵀ − D), dV += P·dout, dK += dSᵀ·Q in registers (accumulator fragments), added once. dQ: a separate
/// pass over query blocks, S and dP recomputed, dQ += dS·K. No atomics: the same bits every run. Rows per group and
/// the shared pitch by head size: <see cref="FlashTc.BackwardRows"/>. Needs 32-lane warps. v5 (TF32) / v6 (3×TF32):
/// the same bodies, generic over the accumulator unit (<see cref="IFlashBackward"/>), with dK, dV and dQ in
/// PTX-declared registers (<see cref="FlashBackRegisters"/>) for D ≤ 64; S and dP come back to ILGPU through 4
/// floats of shared memory per lane after the four blocks, the gradients are added to memory by PTX. Larger heads
/// run v3/v4's kernels: at D = 128 the four blocks fill all 48 KB, and dK/dV would hold 128 accumulators a lane.
/// </summary>
public static class AttentionBackwardV3
{
    const float Ln2 = 0.693147180559945f, Log2E = 1.44269504f;
    const int Keys = FlashSimt.BlockKeys, WarpRows = FlashSimt.WarpRows;

    static long Row(int b, int t, int heads, int h, int steps, int d) => (((long)b * steps + t) * heads + h) * d;

    /// <summary>Device addresses (bytes) of the gradients the register form's PTX stores add to: X = dk (dK/dV
    /// pass) or dq (dQ pass), Y = dv.</summary>
    public readonly record struct Targets(long X, long Y);

    /// <summary>mode = pitch · 2 + (1 for 3×TF32): one argument, to stay within the launcher's arity.</summary>
    static void KeyValueKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dk, ArrayView<float> dv, FlashDims z,
        int mode) =>
        KeyValueBody(new FlashBackValues<MmaEmitRef>(), SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4), q, k,
            v, lse, rowDot, dout, dk, dv, default, z, mode);

    /// <summary>v5/v6: the same body with dK, dV in PTX-declared registers (FlashBackRegisters), declared first in
    /// a branch that dominates every use; the twin branch holds no PTX. Shared memory is allocated once, before the
    /// branch.</summary>
    static void KeyValueKernelRegs(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dk, ArrayView<float> dv, Targets at,
        FlashDims z, int mode)
    {
        var sh = SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(FlashBackRegsAsm.InitKv);
            int scratch = Scratch(z.Rows, mode >> 1) + Group.IdxX / 32 * 128 + Group.IdxX % 32;
            KeyValueBody(new FlashBackRegisters(sh.SubView(scratch, 97)), sh, q, k, v, lse, rowDot, dout, dk, dv, at,
                z, mode);
        }
        else KeyValueBody(new FlashBackValues<MmaSoft>(), sh, q, k, v, lse, rowDot, dout, dk, dv, at, z, mode);
    }

    /// <summary>Where v5/v6's scratch starts in shared memory (floats): after two owned blocks [rows, pitch] and two
    /// streamed [32, pitch]; 128 floats per warp follow.</summary>
    static int Scratch(int rows, int pitch) => (2 * rows + 2 * Keys) * pitch;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void KeyValueBody<TUnit>(TUnit acc, ArrayView<float> sh, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dk,
        ArrayView<float> dv, Targets targets, FlashDims z, int mode) where TUnit : struct, IFlashBackward
    {
        bool three = (mode & 1) != 0;
        int pitch = mode >> 1, T = z.Steps, D = z.D, Dp = z.Dp, bc = z.Rows, tiles = (D + 7) / 8;
        int group = z.QHeads / z.KvHeads, lane = Group.IdxX % 32, warp = Group.IdxX / 32, g = lane / 4, t4 = lane % 4;
        int block = Grid.IdxX % z.Blocks;
        int bk = Grid.IdxX / z.Blocks, hk = bk % z.KvHeads, b = bk / z.KvHeads;
        int j0 = block * bc, vAt = bc * pitch, qAt = 2 * bc * pitch, oAt = qAt + Keys * pitch;
        Load(sh, 0, pitch, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, bc, T - j0, D, Dp, 1f);
        Load(sh, vAt, pitch, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, bc, T - j0, D, Dp, 1f);
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
                Quad s = acc.Product(sh, warp * WarpRows * pitch, pitch, qAt, pitch, tiles, three, n);  // Sᵀ [16, 32]
                if (i0 < first + WarpRows - 1) s = MaskBelow(s, i0 + 2 * t4, top, bottom);
                s = ExpColumns(s, st);
                // dPᵀ = V·doutᵀ
                Quad dp = acc.Product(sh, vAt + warp * WarpRows * pitch, pitch, oAt, pitch, tiles, three, n);
                Quad ds = DsColumns(s, dp, st);
                acc.Add(true, s, sh, oAt, pitch, tiles, three, n);      // dV += P·dout
                acc.Add(false, ds, sh, qAt, pitch, tiles, three, n);    // dK += dSᵀ·Q
            }
        }
        if (first >= T) return;
        // Q was staged times log2(e)/√D: dK times ln 2.
        acc.Store(dk, targets.X, dv, targets.Y, Ln2, Row(b, top, z.KvHeads, hk, T, D), Row(b, bottom, z.KvHeads, hk,
            T, D), top < T, bottom < T, D, tiles, withY: true);
    }

    static void QueryKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dq, FlashDims z, int mode) =>
        QueryBody(new FlashBackValues<MmaEmitRef>(), SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4), q, k, v,
            lse, rowDot, dout, dq, default, z, mode);

    /// <summary>v5/v6's dQ pass: dQ in PTX-declared registers, as <see cref="KeyValueKernelRegs"/>.</summary>
    static void QueryKernelRegs(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dq, Targets at, FlashDims z, int mode)
    {
        var sh = SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(FlashBackRegsAsm.InitQ);
            int scratch = Scratch(z.Rows, mode >> 1) + Group.IdxX / 32 * 128 + Group.IdxX % 32;
            QueryBody(new FlashBackRegisters(sh.SubView(scratch, 97)), sh, q, k, v, lse, rowDot, dout, dq, at, z,
                mode);
        }
        else QueryBody(new FlashBackValues<MmaSoft>(), sh, q, k, v, lse, rowDot, dout, dq, at, z, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void QueryBody<TUnit>(TUnit acc, ArrayView<float> sh, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> lse, ArrayView<float> rowDot, ArrayView<float> dout, ArrayView<float> dq,
        Targets targets, FlashDims z, int mode) where TUnit : struct, IFlashBackward
    {
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
        int last = XMath.Min(T - 1, i0 + br - 1);
        for (int j0 = 0; j0 <= last; j0 += Keys)
        {
            Group.Barrier();
            Load(sh, kAt, pitch, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, Keys, T - j0, D, Dp, 1f);
            Load(sh, vAt, pitch, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, Keys, T - j0, D, Dp, 1f);
            Group.Barrier();
            if (first >= T || j0 > lastOfWarp) continue;
            int n = Fragments(j0, XMath.Min(T, lastOfWarp + 1));
            Quad s = acc.Product(sh, warp * WarpRows * pitch, pitch, kAt, pitch, tiles, three, n);
            if (j0 + Keys - 1 > first) s = MaskAbove(s, j0 + 2 * t4, top, bottom);
            s = Exp2(s, lTop, lBottom);
            Quad dp = acc.Product(sh, oAt + warp * WarpRows * pitch, pitch, vAt, pitch, tiles, three, n);  // dout·Vᵀ
            acc.Add(false, DsRows(s, dp, dTop, dBottom), sh, kAt, pitch, tiles, three, n);   // dQ += dS·K
        }
        if (first >= T) return;
        acc.Store(dq, targets.X, dq, 0, z.ScaleLog2 * Ln2, Row(b, top, z.QHeads, h, T, D),
            Row(b, bottom, z.QHeads, h, T, D), top < T, bottom < T, D, tiles, withY: false);
    }

    static void Run(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        int batch, int steps, int qHeads, int kvHeads, int headDim, bool three, bool registers = false)
    {
        TensorCore.RequireWarp32(k.WarpSize, registers ? "attention backward v5/v6" : "attention backward v3/v4");
        int dp = FlashSimt.PaddedHeadDim(headDim);
        var (rows, pitch) = BackwardRows(dp);
        rows = FlashSimt.RowsFor(steps, rows);
        int blocks = (steps + rows - 1) / rows, mode = pitch * 2 + (three ? 1 : 0);
        if (batch * qHeads * blocks == 0) return;
        // The register form holds D ≤ 64 (FlashBackRegsPtx.MaxDp); larger heads run v3/v4's kernels.
        registers &= dp <= FlashBackRegsPtx.MaxDp;
        if (registers && Scratch(rows, pitch) + rows / WarpRows * 128 > 4 * FlashSimt.SharedF4)
            throw new NotSupportedException($"attention backward v5/v6: no room for the scratch at D = {headDim}");
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, rows, blocks, Log2E / MathF.Sqrt(headDim));
        using var rowDot = k.Scratch(batch * qHeads * steps);
        AttentionGpu.RowDots(k, o, dout, rowDot.View, batch, steps, qHeads, headDim);
        var kvConfig = new KernelConfig(batch * kvHeads * blocks, 2 * rows);
        var qConfig = new KernelConfig(batch * qHeads * blocks, 2 * rows);
        if (!registers)
        {
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashDims, int>(KeyValueKernel)(
                kvConfig, q, kk, v, lse, rowDot.View, dout, dk, dv, z, mode);
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, FlashDims, int>(QueryKernel)(
                qConfig, q, kk, v, lse, rowDot.View, dout, dq, z, mode);
            return;
        }
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, Targets, FlashDims, int>(KeyValueKernelRegs)(
            kvConfig, q, kk, v, lse, rowDot.View, dout, dk, dv,
            new Targets(DeviceAddress.Of(dk), DeviceAddress.Of(dv)), z, mode);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Targets, FlashDims, int>(QueryKernelRegs)(
            qConfig, q, kk, v, lse, rowDot.View, dout, dq, new Targets(DeviceAddress.Of(dq), 0), z, mode);
    }

    public static void Tf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim, three: false);

    public static void ThreeTf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim, three: true);

    public static void Tf32Regs(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim, three: false,
            registers: true);

    public static void ThreeTf32Regs(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, dout, dq, dk, dv, batch, steps, qHeads, kvHeads, headDim, three: true,
            registers: true);
}
