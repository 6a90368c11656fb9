using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Reduce;

/// <summary>
/// Σx and Σx² in two deterministic passes (no float atomics, so the same input always gives the
/// same bits): each warp sums a contiguous chunk into partials[w] with shuffles; one warp then sums
/// the partials in order. ReduceCpu is the reference.
/// </summary>
public static class ReduceGpu
{
    static float WarpSum(float s)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) s += Warp.ShuffleDown(s, offset);
        return s;
    }

    /// <summary>Group g (one warp) sums x[g·chunk .. (g+1)·chunk) (squared when square ≠ 0) into partials[g].</summary>
    static void PartialKernel(ArrayView<float> x, ArrayView<float> partials, int n, int chunk, int square)
    {
        int g = Grid.IdxX, lane = Group.IdxX;
        int start = g * chunk, end = Math.Min(n, start + chunk);
        float s = 0;
        for (int i = start + lane; i < end; i += Group.DimX) s += square != 0 ? x[i] * x[i] : x[i];
        s = WarpSum(s);
        if (lane == 0) partials[g] = s;
    }

    /// <summary>out[0] = scale · Σ partials[0..count).</summary>
    static void FinalKernel(ArrayView<float> partials, ArrayView<float> output, int count, float scale)
    {
        int lane = Group.IdxX;
        float s = 0;
        for (int i = lane; i < count; i += Group.DimX) s += partials[i];
        s = WarpSum(s);
        if (lane == 0) output[0] = s * scale;
    }

    /// <summary>dx += scale · g[0] (the backward of a sum or a mean).</summary>
    static void BroadcastAddKernel(Index1D i, ArrayView<float> g, ArrayView<float> dx, float scale, int n, int stride)
    {
        float add = g[0] * scale;
        for (int j = i; j < n; j += stride) dx[j] += add;
    }

    public static void Sum(LaunchContext k, ArrayView<float> x, ArrayView<float> output, bool square = false)
    {
        int n = (int)x.Length, warp = k.WarpSize;
        int groups = Math.Clamp((n + 4095) / 4096, 1, 1024);
        int chunk = Math.Max(1, (n + groups - 1) / groups);
        using var partials = k.Scratch(groups);
        k.Grouped<ArrayView<float>, ArrayView<float>, int, int,
            int>(PartialKernel)(new KernelConfig(groups, warp), x, partials.View, n, chunk, square ? 1 : 0);
        k.Grouped<ArrayView<float>, ArrayView<float>, int,
            float>(FinalKernel)(new KernelConfig(1, warp), partials.View, output, groups, 1f);
    }

    public static void SumBackward(LaunchContext k, ArrayView<float> g, ArrayView<float> dx, float scale)
    {
        int n = (int)dx.Length, t = k.Threads(n);
        if (n > 0) k.Auto<ArrayView<float>, ArrayView<float>, float, int, int>(BroadcastAddKernel)(t, g, dx, scale, n, t);
    }
}
