using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Softmax;

/// <summary>
/// Row softmax, version 2: one warp per row with up to 8 rows per group (version 1's one-warp groups fill half a
/// multiprocessor at most), and the row's max and normaliser in one pass (online softmax), so x is read twice
/// instead of three times.
/// </summary>
public static class SoftmaxRowsGpu
{
    static void ForwardKernel(ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        int r = WarpReduce.Row, lane = Warp.LaneIdx;
        if (r >= rows) return;
        long o = (long)r * cols;
        float m = float.NegativeInfinity, s = 0;
        for (int c = lane; c < cols; c += Warp.WarpSize) WarpReduce.Fold(x[o + c], ref m, ref s);
        WarpReduce.Combine(ref m, ref s);
        float inv = 1f / s;
        for (int c = lane; c < cols; c += Warp.WarpSize) y[o + c] = XMath.Exp(x[o + c] - m) * inv;
    }

    static void BackwardKernel(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int rows, int cols)
    {
        int r = WarpReduce.Row;
        if (r < rows) SoftmaxGpu.BackwardRow(y, dy, dx, r, Warp.LaneIdx, Warp.WarpSize, cols);
    }

    public static void Forward(LaunchContext k, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, int, int>(ForwardKernel)(WarpReduce.RowsPerWarp(k, rows), x, y,
                rows, cols);
    }

    public static void Backward(LaunchContext k, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int rows,
        int cols)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(BackwardKernel)(
                WarpReduce.RowsPerWarp(k, rows), y, dy, dx, rows, cols);
    }
}
