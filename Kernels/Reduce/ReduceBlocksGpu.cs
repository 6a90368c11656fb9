using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Reduce;

/// <summary>
/// Sum (and sum of squares), version 2: groups of 8 warps (version 1: one warp) over contiguous chunks, warp sums
/// combined in shared memory in warp order, then one group adds the partials in order — deterministic, with enough
/// threads in flight to stream a whole model's gradients (one call over joined buffers, see GradClip).
/// </summary>
public static class ReduceBlocksGpu
{
    const int MaxThreads = 256, MaxWarps = 32;

    static void PartialKernel(ArrayView<float> x, ArrayView<float> partials, long n, long chunk, int square)
    {
        var warpSums = SharedMemory.Allocate<float>(MaxWarps);
        long start = Grid.IdxX * chunk, end = Math.Min(n, start + chunk);
        float s = 0;
        for (long i = start + Group.IdxX; i < end; i += Group.DimX)
        {
            float v = x[i];
            s += square != 0 ? v * v : v;
        }
        GroupSum(s, warpSums, out float total);
        if (Group.IdxX == 0) partials[Grid.IdxX] = total;
    }

    /// <summary>output[0] = scale · Σ partials, in a fixed order.</summary>
    static void FinalKernel(ArrayView<float> partials, ArrayView<float> output, int count, float scale)
    {
        var warpSums = SharedMemory.Allocate<float>(MaxWarps);
        float s = 0;
        for (int i = Group.IdxX; i < count; i += Group.DimX) s += partials[i];
        GroupSum(s, warpSums, out float total);
        if (Group.IdxX == 0) output[0] = total * scale;
    }

    /// <summary>The group's sum, valid in thread 0: shuffles within each warp, then the warps' sums in order.</summary>
    static void GroupSum(float s, ArrayView<float> warpSums, out float total)
    {
        s = WarpReduce.Sum(s);
        if (Warp.LaneIdx == 0) warpSums[Warp.WarpIdx] = s;
        Group.Barrier();
        total = 0;
        if (Group.IdxX == 0)
            for (int w = 0; w < Group.DimX / Warp.WarpSize; w++) total += warpSums[w];
    }

    public static void Sum(LaunchContext k, ArrayView<float> x, ArrayView<float> output, bool square = false)
    {
        long n = x.Length;
        int threads = Math.Max(k.WarpSize, Math.Min(MaxThreads, k.MaxGroup) / k.WarpSize * k.WarpSize);
        int groups = (int)Math.Clamp((n + 16383) / 16384, 1, 2048);
        long chunk = Math.Max(1, (n + groups - 1) / groups);
        using var partials = k.Scratch(groups);
        k.Grouped<ArrayView<float>, ArrayView<float>, long, long, int>(PartialKernel)(
            new KernelConfig(groups, threads), x, partials.View, n, chunk, square ? 1 : 0);
        k.Grouped<ArrayView<float>, ArrayView<float>, int, float>(FinalKernel)(
            new KernelConfig(1, threads), partials.View, output, groups, 1f);
    }

    public static void SumOfSquares(LaunchContext k, ArrayView<float> x, ArrayView<float> output) =>
        Sum(k, x, output, square: true);
}
