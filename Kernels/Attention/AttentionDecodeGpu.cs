using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Attention;

/// <summary>
/// Attention against a KV cache, version 2: flash-decoding (Dao et al. 2023). Decoding has one query row per
/// sequence and head, too few rows to fill a GPU when each row is one thread walking the whole cache (version 1).
/// So the cache is cut into splits of <see cref="SplitKeys"/> keys: one warp per (query row, split), lanes across the
/// head dimension (coalesced K and V rows, the dot product reduced with shuffles), an online softmax over the split's
/// keys, and a partial (max, sum, unnormalised output) per split; a second kernel combines a row's partials in split
/// order (deterministic). Each lane keeps up to four head dimensions in registers, so D ≤ 4 × warp size (128 on a
/// GPU); larger heads fall back to version 1.
/// </summary>
public static class AttentionDecodeGpu
{
    public const int SplitKeys = 64;

    public readonly record struct Dims(int Steps, int QHeads, int KvHeads, int D, int MaxSteps, int Splits, float Scale);

    static void SplitKernel(ArrayView<float> q, ArrayView<float> kc, ArrayView<float> vc, ArrayView<int> positions,
        ArrayView<float> partMax, ArrayView<float> partSum, ArrayView<float> partOut, Dims z, int work)
    {
        int w = Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx, lane = Warp.LaneIdx, W = Warp.WarpSize;
        if (w >= work) return;
        int split = w % z.Splits, row = w / z.Splits;                  // row = (b·T + t)·Hq + h
        int h = row % z.QHeads, bt = row / z.QHeads, b = bt / z.Steps, hk = h / (z.QHeads / z.KvHeads);
        int D = z.D, first = split * SplitKeys, last = Math.Min(positions[bt], first + SplitKeys - 1);
        long qo = (long)row * D;
        // This lane's head dimensions: lane, lane + W, lane + 2W, lane + 3W (those below D).
        int d0 = lane, d1 = lane + W, d2 = lane + 2 * W, d3 = lane + 3 * W;
        float q0 = d0 < D ? q[qo + d0] : 0f, q1 = d1 < D ? q[qo + d1] : 0f;
        float q2 = d2 < D ? q[qo + d2] : 0f, q3 = d3 < D ? q[qo + d3] : 0f;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, m = float.NegativeInfinity, l = 0;
        // Key s's K and V rows are in registers before its iteration starts: the next key's loads are issued first,
        // so their latency overlaps this key's shuffles and exps. Loading K, reducing, then loading V (the order the
        // compiler kept) waited out two memory latencies per key. The row offset advances by a stride, not
        // recomputed from (b, s, hk) each key. The arithmetic is unchanged.
        long kStride = (long)z.KvHeads * D, ko = (((long)b * z.MaxSteps + first) * z.KvHeads + hk) * D;
        bool any = first <= last;
        float k0 = any && d0 < D ? kc[ko + d0] : 0f, k1 = any && d1 < D ? kc[ko + d1] : 0f;
        float k2 = any && d2 < D ? kc[ko + d2] : 0f, k3 = any && d3 < D ? kc[ko + d3] : 0f;
        float v0 = any && d0 < D ? vc[ko + d0] : 0f, v1 = any && d1 < D ? vc[ko + d1] : 0f;
        float v2 = any && d2 < D ? vc[ko + d2] : 0f, v3 = any && d3 < D ? vc[ko + d3] : 0f;
        for (int s = first; s <= last; s++)
        {
            long nko = ko + kStride;
            bool more = s < last;
            float nk0 = more && d0 < D ? kc[nko + d0] : 0f, nk1 = more && d1 < D ? kc[nko + d1] : 0f;
            float nk2 = more && d2 < D ? kc[nko + d2] : 0f, nk3 = more && d3 < D ? kc[nko + d3] : 0f;
            float nv0 = more && d0 < D ? vc[nko + d0] : 0f, nv1 = more && d1 < D ? vc[nko + d1] : 0f;
            float nv2 = more && d2 < D ? vc[nko + d2] : 0f, nv3 = more && d3 < D ? vc[nko + d3] : 0f;
            float part = (d0 < D ? q0 * k0 : 0f) + (d1 < D ? q1 * k1 : 0f)
                         + (d2 < D ? q2 * k2 : 0f) + (d3 < D ? q3 * k3 : 0f);
            float score = WarpReduce.Sum(part) * z.Scale;
            float mNew = XMath.Max(m, score);
            float c = XMath.Exp(m - mNew), p = XMath.Exp(score - mNew);
            l = l * c + p;
            if (d0 < D) a0 = a0 * c + p * v0;
            if (d1 < D) a1 = a1 * c + p * v1;
            if (d2 < D) a2 = a2 * c + p * v2;
            if (d3 < D) a3 = a3 * c + p * v3;
            m = mNew;
            (k0, k1, k2, k3, v0, v1, v2, v3) = (nk0, nk1, nk2, nk3, nv0, nv1, nv2, nv3);
            ko = nko;
        }
        long po = (long)w * D;                                          // an empty split: max −∞, sum 0, zeros
        if (d0 < D) partOut[po + d0] = a0;
        if (d1 < D) partOut[po + d1] = a1;
        if (d2 < D) partOut[po + d2] = a2;
        if (d3 < D) partOut[po + d3] = a3;
        if (lane == 0) { partMax[w] = m; partSum[w] = l; }
    }

    /// <summary>One thread per (query row, head dimension): the row's splits rescaled to the common max, in order.</summary>
    static void CombineKernel(Index1D i, ArrayView<float> partMax, ArrayView<float> partSum, ArrayView<float> partOut,
        ArrayView<float> o, int D, int splits, int n)
    {
        if (i >= n) return;
        int row = i / D, d = i % D;
        float M = float.NegativeInfinity;
        for (int j = 0; j < splits; j++) M = XMath.Max(M, partMax[row * splits + j]);
        float L = 0, acc = 0;
        for (int j = 0; j < splits; j++)
        {
            int w = row * splits + j;
            if (partMax[w] == float.NegativeInfinity) continue;       // an empty split adds nothing
            float c = XMath.Exp(partMax[w] - M);
            L += partSum[w] * c;
            acc += partOut[(long)w * D + d] * c;
        }
        o[i] = acc / L;
    }

    public static void Cached(LaunchContext k, ArrayView<float> q, ArrayView<float> kc, ArrayView<float> vc,
        ArrayView<float> o, ArrayView<int> positions, int batch, int steps, int maxSteps, int qHeads, int kvHeads,
        int headDim)
    {
        if (headDim > 4 * k.WarpSize)
        {
            AttentionGpu.Cached(k, q, kc, vc, o, positions, batch, steps, maxSteps, qHeads, kvHeads, headDim);
            return;
        }
        int rows = batch * steps * qHeads, splits = (maxSteps + SplitKeys - 1) / SplitKeys, work = rows * splits;
        if (rows == 0) return;
        using var partMax = k.Scratch(work);
        using var partSum = k.Scratch(work);
        using var partOut = k.Scratch(work * headDim);
        var z = new Dims(steps, qHeads, kvHeads, headDim, maxSteps, splits, 1f / MathF.Sqrt(headDim));
        int warps = Math.Max(1, Math.Min(4, k.MaxGroup / k.WarpSize));
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Dims, int>(SplitKernel)(
            new KernelConfig((work + warps - 1) / warps, warps * k.WarpSize), q, kc, vc, positions, partMax.View,
            partSum.View, partOut.View, z, work);
        int n = rows * headDim;
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(CombineKernel)(
            n, partMax.View, partSum.View, partOut.View, o, headDim, splits, n);
    }
}
