using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Softmax;

/// <summary>Row softmax and its backward, one warp per row (SoftmaxCpu is the reference).</summary>
public static class SoftmaxGpu
{
    static void ForwardKernel(ArrayView<float> x, ArrayView<float> y, int cols)
    {
        int r = Grid.IdxX, lane = Group.IdxX, o = r * cols;
        float m = float.NegativeInfinity;
        for (int c = lane; c < cols; c += Group.DimX) m = XMath.Max(m, x[o + c]);
        m = WarpReduce.Max(m);
        float s = 0;
        for (int c = lane; c < cols; c += Group.DimX) s += XMath.Exp(x[o + c] - m);
        float inv = 1f / WarpReduce.Sum(s);
        for (int c = lane; c < cols; c += Group.DimX) y[o + c] = XMath.Exp(x[o + c] - m) * inv;
    }

    static void BackwardKernel(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int cols) =>
        BackwardRow(y, dy, dx, Grid.IdxX, Group.IdxX, Group.DimX, cols);

    /// <summary>dx += y ∘ (dy − Σ y·dy) for one row, one warp (lanes apart); version 2 runs it with more rows per group.</summary>
    internal static void BackwardRow(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int r, int lane, int lanes,
        int cols)
    {
        long o = (long)r * cols;
        float d = 0;
        for (int c = lane; c < cols; c += lanes) d += y[o + c] * dy[o + c];
        d = WarpReduce.Sum(d);
        for (int c = lane; c < cols; c += lanes) dx[o + c] += y[o + c] * (dy[o + c] - d);
    }

    public static void Forward(LaunchContext k, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        if (rows > 0) k.Grouped<ArrayView<float>, ArrayView<float>, int>(ForwardKernel)(new KernelConfig(rows, k.WarpSize), x, y, cols);
    }

    public static void Backward(LaunchContext k, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int rows, int cols)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>,
                int>(BackwardKernel)(new KernelConfig(rows, k.WarpSize), y, dy, dx, cols);
    }
}
