using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.FlashTc;

namespace Engine.Kernels.Attention;

/// <summary>
/// Forward v3 (TF32) and v4 (3×TF32), and v5/v6 (the same with registers):
/// forward v2's FlashAttention-2 layout with both block products on tensor cores
/// (<see cref="FlashTc"/>, <c>mma.sync.m16n8k8</c>). A group owns Br query rows of one (batch, head), 16 per warp, Q
/// staged once pre-scaled by log2(e)/√D; per block of 32 keys: S = Q·Kᵀ (4 × Dp/8 MMAs per warp, ×3 in 3×TF32), the
/// online softmax in the accumulator layout (row max and sum over 4 lanes by xor shuffles), P turned into A fragments
/// by shuffles and O += P·V (Dp/8 × 4 MMAs), one division at the end, lse saved. Causal block skipping and diagonal
/// masking as in v2. Br (48 KB, padded pitches, see <see cref="FlashTc.Rows"/>): Dp 32 and 64 → 64, 128 → 16.
/// The softmax and the accumulation stay fp32; only the MMA inputs are TF32. MMAs run over D rounded up to 8, not
/// over the padding to 32. Needs 32-lane warps. v5 (TF32) / v6 (3×TF32): the same body with the S and O
/// accumulators in PTX-declared registers (<see cref="FlashRegisters"/>) instead of ILGPU values passed through
/// EmitRef's local memory; S comes back for the softmax through shared memory, O is stored by PTX. Their output MMAs
/// run in groups of 4 column tiles (D rounded up to 32, the zero padding included), their score MMAs on all 4 key
/// fragments of a block.
/// </summary>
public static class AttentionForwardV3
{
    static long Row(int b, int t, int heads, int h, int steps, int d) => (((long)b * steps + t) * heads + h) * d;

    /// <summary>v3/v4: the accumulator in ILGPU values, the MMAs through TensorCore's EmitRef calls.</summary>
    static void Kernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, long oAddress, FlashDims z, int threeTf32) =>
        Body(new FlashValues<MmaEmitRef>(), SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4), q, k, v, o, lse,
            oAddress, z, threeTf32);

    /// <summary>v5/v6: the same body with the accumulators in PTX-declared registers (FlashRegisters). They are
    /// declared first, in a branch that dominates every use (so the declaration precedes the uses in the PTX text);
    /// the twin branch holds no PTX. Shared memory is allocated once, before the branch: each branch would
    /// allocate its own.</summary>
    static void KernelRegs(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, long oAddress, FlashDims z, int threeTf32)
    {
        var sh = SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4);
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit(FlashRegsAsm.Init);
            int scratch = Scratch(z.Rows, z.Dp) + Group.IdxX / 32 * 128 + Group.IdxX % 32;
            Body(new FlashRegisters(sh.SubView(scratch, 97)), sh, q, k, v, o, lse, oAddress, z, threeTf32);
        }
        else Body(new FlashValues<MmaSoft>(), sh, q, k, v, o, lse, oAddress, z, threeTf32);
    }

    /// <summary>Where v5/v6's scratch starts in shared memory (floats): after Q [Br, Dp + 4], K [32, Dp + 4] and
    /// V [32, Dp + 8]; 128 floats per warp follow.</summary>
    static int Scratch(int rows, int dp) =>
        (rows + FlashSimt.BlockKeys) * PitchA(dp) + FlashSimt.BlockKeys * PitchB(dp);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Body<TUnit>(TUnit acc, ArrayView<float> sh, ArrayView<float> q, ArrayView<float> k,
        ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, long oAddress, FlashDims z, int threeTf32)
        where TUnit : struct, IFlashForward
    {
        bool three = threeTf32 != 0;
        int T = z.Steps, D = z.D, Dp = z.Dp, br = z.Rows, tiles = (D + 7) / 8, sa = PitchA(Dp), sv = PitchB(Dp);
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
        int block = z.Blocks - 1 - Grid.IdxX % z.Blocks;
        int bh = Grid.IdxX / z.Blocks, h = bh % z.QHeads, b = bh / z.QHeads, hk = h / (z.QHeads / z.KvHeads);
        int i0 = block * br, kAt = br * sa, vAt = kAt + FlashSimt.BlockKeys * sa;  // Q [Br, sa], K [32, sa], V [32, sv]
        Load(sh, 0, sa, q, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, br, T - i0, D, Dp, z.ScaleLog2);
        float mTop = float.NegativeInfinity, mBottom = mTop, lTop = 0f, lBottom = 0f;
        int first = i0 + warp * FlashSimt.WarpRows, lastOfWarp = first + FlashSimt.WarpRows - 1;
        int top = first + g, bottom = top + 8;
        int last = XMath.Min(T - 1, i0 + br - 1);
        for (int j0 = 0; j0 <= last; j0 += FlashSimt.BlockKeys)
        {
            Group.Barrier();
            Load(sh, kAt, sa, k, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, FlashSimt.BlockKeys, T - j0, D, Dp,
                1f);
            Load(sh, vAt, sv, v, Row(b, j0, z.KvHeads, hk, T, D), z.KvHeads * D, FlashSimt.BlockKeys, T - j0, D, Dp,
                1f);
            Group.Barrier();
            if (first >= T || j0 > lastOfWarp) continue;
            int n = Fragments(j0, XMath.Min(T, lastOfWarp + 1));         // keys past T or past the warp's rows: skipped
            Quad s = acc.Scores(sh, warp * FlashSimt.WarpRows * sa, sa, kAt, sa, tiles, three, n);
            if (j0 + FlashSimt.BlockKeys - 1 > first)
                s = MaskAbove(s, j0 + 2 * t4, top, bottom);
            float nTop = XMath.Max(mTop, RowMax(s, true)), nBottom = XMath.Max(mBottom, RowMax(s, false));
            float cTop = XMath.Exp2(mTop - nTop), cBottom = XMath.Exp2(mBottom - nBottom);
            s = Exp2(s, nTop, nBottom);
            lTop = lTop * cTop + LaneSum(s, true);
            lBottom = lBottom * cBottom + LaneSum(s, false);
            acc.Rescale(cTop, cBottom, tiles);
            acc.AddPv(s, sh, vAt, sv, tiles, three, n);
            mTop = nTop;
            mBottom = nBottom;
        }
        lTop = RowSum(lTop);
        lBottom = RowSum(lBottom);
        if (first >= T) return;
        acc.Rescale(1f / lTop, 1f / lBottom, tiles);
        acc.Store(o, oAddress, Row(b, top, z.QHeads, h, T, D), Row(b, bottom, z.QHeads, h, T, D), top < T,
            bottom < T, D, tiles);
        const float Ln2 = 0.693147180559945f;
        if (t4 == 0 && top < T) lse[(long)bh * T + top] = Ln2 * (mTop + XMath.Log2(lTop));
        if (t4 == 0 && bottom < T) lse[(long)bh * T + bottom] = Ln2 * (mBottom + XMath.Log2(lBottom));
    }

    static void Run(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim, bool three,
        bool registers = false)
    {
        TensorCore.RequireWarp32(k.WarpSize, registers ? "attention forward v5/v6" : "attention forward v3/v4");
        int dp = FlashSimt.PaddedHeadDim(headDim), br = FlashSimt.RowsFor(steps, Rows(dp));
        int blocks = (steps + br - 1) / br;
        if (batch * qHeads * blocks == 0) return;
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, br, blocks, 1.44269504f / MathF.Sqrt(headDim));
        if (registers && Scratch(br, dp) + br / FlashSimt.WarpRows * 128 > 4 * FlashSimt.SharedF4)
            throw new NotSupportedException($"attention forward v5/v6: no room for the scratch at D = {headDim}");
        long address = DeviceAddress.Of(o);   // the PTX stores of v5/v6 take o's device address
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, long,
            FlashDims, int>(registers ? KernelRegs : Kernel)(new KernelConfig(batch * qHeads * blocks, 2 * br), q, kk,
            v, o, lse, address, z, three ? 1 : 0);
    }

    public static void Tf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, batch, steps, qHeads, kvHeads, headDim, three: false);

    public static void ThreeTf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, batch, steps, qHeads, kvHeads, headDim, three: true);

    public static void Tf32Regs(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, batch, steps, qHeads, kvHeads, headDim, three: false, registers: true);

    public static void ThreeTf32Regs(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, batch, steps, qHeads, kvHeads, headDim, three: true, registers: true);
}
