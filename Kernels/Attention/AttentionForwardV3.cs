using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;
using static Engine.Kernels.Attention.FlashTc;

namespace Engine.Kernels.Attention;

/// <summary>
/// Forward v3 (TF32) and v4 (3×TF32): forward v2's FlashAttention-2 layout with both block products on tensor cores
/// (<see cref="FlashTc"/>, <c>mma.sync.m16n8k8</c>). A group owns Br query rows of one (batch, head), 16 per warp, Q
/// staged once pre-scaled by log2(e)/√D; per block of 32 keys: S = Q·Kᵀ (4 × Dp/8 MMAs per warp, ×3 in 3×TF32), the
/// online softmax in the accumulator layout (row max and sum over 4 lanes by xor shuffles), P turned into A fragments
/// by shuffles and O += P·V (Dp/8 × 4 MMAs), one division at the end, lse saved. Causal block skipping and diagonal
/// masking as in v2. Br (48 KB, padded pitches, see <see cref="FlashTc.Rows"/>): Dp 32 and 64 → 64, 128 → 16.
/// The softmax and the accumulation stay fp32; only the MMA inputs are TF32. MMAs run over D rounded up to 8, not
/// over the padding to 32. Needs 32-lane warps.
/// </summary>
public static class AttentionForwardV3
{
    static long Row(int b, int t, int heads, int h, int steps, int d) => (((long)b * steps + t) * heads + h) * d;

    static void Kernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, FlashDims z, int threeTf32)
    {
        var sh = SharedMemory.Allocate<float>(4 * FlashSimt.SharedF4);
        bool three = threeTf32 != 0;
        int T = z.Steps, D = z.D, Dp = z.Dp, br = z.Rows, tiles = (D + 7) / 8, sa = PitchA(Dp), sv = PitchB(Dp);
        int tid = Group.IdxX, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
        int block = z.Blocks - 1 - Grid.IdxX % z.Blocks;
        int bh = Grid.IdxX / z.Blocks, h = bh % z.QHeads, b = bh / z.QHeads, hk = h / (z.QHeads / z.KvHeads);
        int i0 = block * br, kAt = br * sa, vAt = kAt + FlashSimt.BlockKeys * sa;  // Q [Br, sa], K [32, sa], V [32, sv]
        Load(sh, 0, sa, q, Row(b, i0, z.QHeads, h, T, D), z.QHeads * D, br, T - i0, D, Dp, z.ScaleLog2);
        float mTop = float.NegativeInfinity, mBottom = mTop, lTop = 0f, lBottom = 0f;
        AccTc acc = default;
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
            Quad s = Abt(sh, warp * FlashSimt.WarpRows * sa, sa, kAt, sa, 8 * tiles, three, n);
            if (j0 + FlashSimt.BlockKeys - 1 > first)
                s = MaskAbove(s, j0 + 2 * t4, top, bottom);
            float nTop = XMath.Max(mTop, RowMax(s, true)), nBottom = XMath.Max(mBottom, RowMax(s, false));
            float cTop = XMath.Exp2(mTop - nTop), cBottom = XMath.Exp2(mBottom - nBottom);
            s = Exp2(s, nTop, nBottom);
            lTop = lTop * cTop + LaneSum(s, true);
            lBottom = lBottom * cBottom + LaneSum(s, false);
            acc = Scale(acc, cTop, cBottom, tiles);
            acc = Pv(acc, s, sh, vAt, sv, tiles, three, n);
            mTop = nTop;
            mBottom = nBottom;
        }
        lTop = RowSum(lTop);
        lBottom = RowSum(lBottom);
        if (first >= T) return;
        acc = Scale(acc, 1f / lTop, 1f / lBottom, tiles);
        for (int j = 0; j < tiles; j++)
        {
            FragC c = Tile(acc, j);
            if (top < T) Store(o, Row(b, top, z.QHeads, h, T, D), c, j, true, D, add: false);
            if (bottom < T) Store(o, Row(b, bottom, z.QHeads, h, T, D), c, j, false, D, add: false);
        }
        const float Ln2 = 0.693147180559945f;
        if (t4 == 0 && top < T) lse[(long)bh * T + top] = Ln2 * (mTop + XMath.Log2(lTop));
        if (t4 == 0 && bottom < T) lse[(long)bh * T + bottom] = Ln2 * (mBottom + XMath.Log2(lBottom));
    }

    static void Run(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v, ArrayView<float> o,
        ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim, bool three)
    {
        TensorCore.RequireWarp32(k.WarpSize, "attention forward v3/v4");
        int dp = FlashSimt.PaddedHeadDim(headDim), br = FlashSimt.RowsFor(steps, Rows(dp));
        int blocks = (steps + br - 1) / br;
        if (batch * qHeads * blocks == 0) return;
        var z = new FlashDims(steps, qHeads, kvHeads, headDim, dp, br, blocks, 1.44269504f / MathF.Sqrt(headDim));
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, FlashDims,
            int>(Kernel)(new KernelConfig(batch * qHeads * blocks, 2 * br), q, kk, v, o, lse, z, three ? 1 : 0);
    }

    public static void Tf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, batch, steps, qHeads, kvHeads, headDim, three: false);

    public static void ThreeTf32(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim) =>
        Run(k, q, kk, v, o, lse, batch, steps, qHeads, kvHeads, headDim, three: true);
}
