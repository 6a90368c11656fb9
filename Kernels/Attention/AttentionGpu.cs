using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Attention;

/// <summary>
/// Fused causal attention, flash-style (AttentionCpu is the reference). A group of R threads owns R
/// consecutive query rows of one (batch, head); it walks the key/value rows in tiles of R staged in
/// shared memory and keeps, per query, a running max m, running sum l and an unnormalised output
/// (the online softmax), so the [T, T] scores never exist in global memory. It saves
/// lse = m + log l. The backward recomputes P = exp(S − lse) tile by tile: one kernel per key tile
/// for dK, dV (looping over the query tiles and the query heads that share the kv head, so no two
/// groups write one key row), one per query tile for dQ; Dᵢ = doutᵢ·outᵢ comes from a small pre-pass.
/// Head size ≤ 128 (per-thread accumulators in local memory); any T; grouped-query heads.
/// </summary>
public static class AttentionGpu
{
    public const int MaxHeadDim = 128, MaxTile = 32;

    static long Row(int b, int t, int heads, int h, int steps, int D) => (((long)b * steps + t) * heads + h) * D;

    /// <summary>The group stages rows j0..j0+R−1 of x and y (one head) into shared memory, zero past the end.</summary>
    static void LoadTile(ArrayView<float> xs, ArrayView<float> ys, ArrayView<float> x, ArrayView<float> y,
        int b, int j0, int heads, int h, int steps, int D, int R, int tid)
    {
        for (int idx = tid; idx < R * D; idx += R)
        {
            int s = idx / D, d = idx % D, row = j0 + s;
            bool ok = row < steps;
            xs[s * MaxHeadDim + d] = ok ? x[Row(b, row, heads, h, steps, D) + d] : 0f;
            ys[s * MaxHeadDim + d] = ok ? y[Row(b, row, heads, h, steps, D) + d] : 0f;
        }
    }

    /// <summary>The sizes every attention kernel takes, in one by-value struct.</summary>
    public readonly record struct Dims(int Steps, int QHeads, int KvHeads, int D, int Tiles, float Scale);

    static void ForwardKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<float> lse, Dims z)
    {
        int steps = z.Steps, qHeads = z.QHeads, kvHeads = z.KvHeads, D = z.D, tiles = z.Tiles;
        float scale = z.Scale;
        var Ks = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var Vs = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var qv = LocalMemory.Allocate<float>(MaxHeadDim);
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        int R = Group.DimX, tid = Group.IdxX;
        int tile = Grid.IdxX % tiles, bh = Grid.IdxX / tiles, h = bh % qHeads, b = bh / qHeads, hk = h / (qHeads / kvHeads);
        int t = tile * R + tid;
        bool active = t < steps;
        float m = float.NegativeInfinity, l = 0f;
        if (active)
        {
            long qo = Row(b, t, qHeads, h, steps, D);
            for (int d = 0; d < D; d++) { qv[d] = q[qo + d] * scale; acc[d] = 0f; }
        }
        int lastKey = XMath.Min(steps - 1, tile * R + R - 1);                 // the causal mask bounds the whole tile
        for (int j0 = 0; j0 <= lastKey; j0 += R)
        {
            LoadTile(Ks, Vs, k, v, b, j0, kvHeads, hk, steps, D, R, tid);
            Group.Barrier();
            if (active)
            {
                for (int s = 0; s < R; s++)
                {
                    int key = j0 + s;
                    if (key > t) break;
                    float score = 0f;
                    for (int d = 0; d < D; d++) score += qv[d] * Ks[s * MaxHeadDim + d];
                    float mNew = XMath.Max(m, score);
                    float correction = XMath.Exp(m - mNew), p = XMath.Exp(score - mNew);
                    l = l * correction + p;
                    for (int d = 0; d < D; d++) acc[d] = acc[d] * correction + p * Vs[s * MaxHeadDim + d];
                    m = mNew;
                }
            }
            Group.Barrier();
        }
        if (active)
        {
            long oo = Row(b, t, qHeads, h, steps, D);
            float inv = 1f / l;
            for (int d = 0; d < D; d++) o[oo + d] = acc[d] * inv;
            lse[(long)bh * steps + t] = m + XMath.Log(l);
        }
    }

    /// <summary>Dᵢ = doutᵢ·outᵢ, one thread per (b, h, t), stored [B, Hq, T] like lse.</summary>
    static void RowDotKernel(Index1D i, ArrayView<float> o, ArrayView<float> dout, ArrayView<float> rowDot, int steps,
        int qHeads, int D, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            int t = j % steps, h = j / steps % qHeads, b = j / steps / qHeads;
            long oo = Row(b, t, qHeads, h, steps, D);
            float s = 0f;
            for (int d = 0; d < D; d++) s += dout[oo + d] * o[oo + d];
            rowDot[j] = s;
        }
    }

    /// <summary>One thread per key row j of (b, kv head): dK_j, dV_j over every query i ≥ j of every query head in the group.</summary>
    static void KeyValueGradKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse,
        ArrayView<float> rowDot,
        ArrayView<float> dout, ArrayView<float> dk, ArrayView<float> dv, Dims z)
    {
        int steps = z.Steps, qHeads = z.QHeads, kvHeads = z.KvHeads, D = z.D, tiles = z.Tiles;
        float scale = z.Scale;
        var Qs = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var dOs = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var kv = LocalMemory.Allocate<float>(MaxHeadDim);
        var vv = LocalMemory.Allocate<float>(MaxHeadDim);
        var dkAcc = LocalMemory.Allocate<float>(MaxHeadDim);
        var dvAcc = LocalMemory.Allocate<float>(MaxHeadDim);
        int R = Group.DimX, tid = Group.IdxX;
        int tile = Grid.IdxX % tiles, bk = Grid.IdxX / tiles, hk = bk % kvHeads, b = bk / kvHeads, group = qHeads / kvHeads;
        int j = tile * R + tid;
        bool active = j < steps;
        if (active)
        {
            long ko = Row(b, j, kvHeads, hk, steps, D);
            for (int d = 0; d < D; d++) { kv[d] = k[ko + d]; vv[d] = v[ko + d]; dkAcc[d] = 0f; dvAcc[d] = 0f; }
        }
        for (int h = hk * group; h < (hk + 1) * group; h++)
        {
            long bh = (long)b * qHeads + h;
            for (int i0 = tile * R; i0 < steps; i0 += R)                   // queries before the tile never see its keys
            {
                LoadTile(Qs, dOs, q, dout, b, i0, qHeads, h, steps, D, R, tid);
                Group.Barrier();
                if (active)
                {
                    for (int s = 0; s < R; s++)
                    {
                        int qi = i0 + s;
                        if (qi >= steps) break;
                        if (qi < j) continue;
                        float score = 0f, dp = 0f;
                        for (int d = 0; d < D; d++)
                        {
                            score += Qs[s * MaxHeadDim + d] * kv[d];
                            dp += dOs[s * MaxHeadDim + d] * vv[d];
                        }
                        float p = XMath.Exp(score * scale - lse[bh * steps + qi]);
                        float ds = p * (dp - rowDot[bh * steps + qi]) * scale;
                        for (int d = 0; d < D; d++)
                        {
                            dvAcc[d] += p * dOs[s * MaxHeadDim + d];
                            dkAcc[d] += ds * Qs[s * MaxHeadDim + d];
                        }
                    }
                }
                Group.Barrier();
            }
        }
        if (active)
        {
            long ko = Row(b, j, kvHeads, hk, steps, D);
            for (int d = 0; d < D; d++) { dk[ko + d] += dkAcc[d]; dv[ko + d] += dvAcc[d]; }
        }
    }

    /// <summary>One thread per query row i of (b, h): dQ_i = Σ_{j ≤ i} dS_ij·k_j·scale, keys staged by tiles.</summary>
    static void QueryGradKernel(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> lse, ArrayView<float> rowDot,
        ArrayView<float> dout, ArrayView<float> dq, Dims z)
    {
        int steps = z.Steps, qHeads = z.QHeads, kvHeads = z.KvHeads, D = z.D, tiles = z.Tiles;
        float scale = z.Scale;
        var Ks = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var Vs = SharedMemory.Allocate<float>(MaxTile * MaxHeadDim);
        var qv = LocalMemory.Allocate<float>(MaxHeadDim);
        var dov = LocalMemory.Allocate<float>(MaxHeadDim);
        var dqAcc = LocalMemory.Allocate<float>(MaxHeadDim);
        int R = Group.DimX, tid = Group.IdxX;
        int tile = Grid.IdxX % tiles, bh = Grid.IdxX / tiles, h = bh % qHeads, b = bh / qHeads, hk = h / (qHeads / kvHeads);
        int i = tile * R + tid;
        bool active = i < steps;
        float l = 0f, di = 0f;
        if (active)
        {
            long qo = Row(b, i, qHeads, h, steps, D);
            for (int d = 0; d < D; d++) { qv[d] = q[qo + d]; dov[d] = dout[qo + d]; dqAcc[d] = 0f; }
            l = lse[(long)bh * steps + i];
            di = rowDot[(long)bh * steps + i];
        }
        int lastKey = XMath.Min(steps - 1, tile * R + R - 1);
        for (int j0 = 0; j0 <= lastKey; j0 += R)
        {
            LoadTile(Ks, Vs, k, v, b, j0, kvHeads, hk, steps, D, R, tid);
            Group.Barrier();
            if (active)
            {
                for (int s = 0; s < R; s++)
                {
                    int key = j0 + s;
                    if (key > i) break;
                    float score = 0f, dp = 0f;
                    for (int d = 0; d < D; d++)
                    {
                        score += qv[d] * Ks[s * MaxHeadDim + d];
                        dp += dov[d] * Vs[s * MaxHeadDim + d];
                    }
                    float p = XMath.Exp(score * scale - l);
                    float ds = p * (dp - di) * scale;
                    for (int d = 0; d < D; d++) dqAcc[d] += ds * Ks[s * MaxHeadDim + d];
                }
            }
            Group.Barrier();
        }
        if (active)
        {
            long qo = Row(b, i, qHeads, h, steps, D);
            for (int d = 0; d < D; d++) dq[qo + d] += dqAcc[d];
        }
    }

    /// <summary>KV-cache decoding: one thread per (b, t, h) query, online softmax over cache rows 0..position.</summary>
    static void CachedKernel(Index1D i, ArrayView<float> q, ArrayView<float> kc, ArrayView<float> vc,
        ArrayView<float> o, ArrayView<int> positions,
        Dims z, int maxSteps, int n)
    {
        int steps = z.Steps, qHeads = z.QHeads, kvHeads = z.KvHeads, D = z.D;
        var acc = LocalMemory.Allocate<float>(MaxHeadDim);
        if (i >= n) return;
        int h = i % qHeads, bt = i / qHeads, b = bt / steps, hk = h / (qHeads / kvHeads);
        int pos = positions[bt];
        long qo = (long)(int)i * D;
        float scale = 1f / XMath.Sqrt(D);
        float m = float.NegativeInfinity, l = 0f;
        for (int d = 0; d < D; d++) acc[d] = 0f;
        for (int s = 0; s <= pos; s++)
        {
            long ko = (((long)b * maxSteps + s) * kvHeads + hk) * D;
            float score = 0f;
            for (int d = 0; d < D; d++) score += q[qo + d] * kc[ko + d];
            score *= scale;
            float mNew = XMath.Max(m, score);
            float c = XMath.Exp(m - mNew), p = XMath.Exp(score - mNew);
            l = l * c + p;
            for (int d = 0; d < D; d++) acc[d] = acc[d] * c + p * vc[ko + d];
            m = mNew;
        }
        for (int d = 0; d < D; d++) o[qo + d] = acc[d] / l;
    }

    static void CacheWriteKernel(Index1D i, ArrayView<float> x, ArrayView<float> cache, ArrayView<int> positions,
        int steps, int maxSteps, int cols, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            int c = j % cols, bt = j / cols, b = bt / steps;
            cache[((long)b * maxSteps + positions[bt]) * cols + c] = x[j];
        }
    }

    static int TileRows(LaunchContext k) => Math.Min(MaxTile, k.MaxGroup);

    public static void Forward(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse,
        int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        int R = TileRows(k), tiles = (steps + R - 1) / R;
        var z = new Dims(steps, qHeads, kvHeads, headDim, tiles, 1f / MathF.Sqrt(headDim));
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims>(ForwardKernel)(
            new KernelConfig(batch * qHeads * tiles, R), q, kk, v, o, lse, z);
    }

    public static void Backward(LaunchContext k, ArrayView<float> q, ArrayView<float> kk, ArrayView<float> v,
        ArrayView<float> o, ArrayView<float> lse,
        ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, int batch, int steps,
            int qHeads, int kvHeads, int headDim)
    {
        int R = TileRows(k), tiles = (steps + R - 1) / R;
        var z = new Dims(steps, qHeads, kvHeads, headDim, tiles, 1f / MathF.Sqrt(headDim));
        using var rowDot = k.Scratch(batch * qHeads * steps);
        RowDots(k, o, dout, rowDot.View, batch, steps, qHeads, headDim);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, Dims>(KeyValueGradKernel)(
            new KernelConfig(batch * kvHeads * tiles, R), q, kk, v, lse, rowDot.View, dout, dk, dv, z);
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, Dims>(QueryGradKernel)(
            new KernelConfig(batch * qHeads * tiles, R), q, kk, v, lse, rowDot.View, dout, dq, z);
    }

    /// <summary>Dᵢ = doutᵢ·outᵢ into rowDot [B, Hq, T], the backward's pre-pass (shared by the backward
    /// versions).</summary>
    internal static void RowDots(LaunchContext k, ArrayView<float> o, ArrayView<float> dout, ArrayView<float> rowDot,
        int batch, int steps, int qHeads, int headDim)
    {
        int n = batch * qHeads * steps, t = k.Threads(n);
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int,
            int>(RowDotKernel)(t, o, dout, rowDot, steps, qHeads, headDim, n, t);
    }

    /// <summary>positions [B·T] on the device (uploaded by the backend, or the decode loop's own).</summary>
    public static void Cached(LaunchContext k, ArrayView<float> q, ArrayView<float> kc, ArrayView<float> vc,
        ArrayView<float> o, ArrayView<int> positions,
        int batch, int steps, int maxSteps, int qHeads, int kvHeads, int headDim)
    {
        int n = batch * steps * qHeads;
        var z = new Dims(steps, qHeads, kvHeads, headDim, 0, 1f / MathF.Sqrt(headDim));
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, Dims, int,
            int>(CachedKernel)(n, q, kc, vc, o, positions, z, maxSteps, n);
    }

    /// <summary>positions [B·T] on the device.</summary>
    public static void CacheWrite(LaunchContext k, ArrayView<float> x, ArrayView<float> cache, ArrayView<int> positions,
        int batch, int steps, int maxSteps, int cols)
    {
        int n = batch * steps * cols, t = k.Threads(n);
        if (n == 0) return;
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int,
            int>(CacheWriteKernel)(t, x, cache, positions, steps, maxSteps, cols, n, t);
    }
}
