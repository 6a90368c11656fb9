using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Elementwise;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Norm;

/// <summary>
/// LayerNorm and RMSNorm, version 2: still one warp per row (shuffle reductions, no shared memory), but up to 8 rows
/// per group, since version 1's one-warp groups can fill only half of a multiprocessor's threads; and the weight and
/// bias gradients as two-stage column sums (<see cref="ColumnSumGpu"/>) instead of one thread per column over every
/// row. Each row runs version 1's row code.
/// </summary>
public static class NormRowsGpu
{
    // The row code is version 1's (NormGpu.*Row); what changes is how many rows a group holds.
    static void LayerNormKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int rows, int cols, float eps)
    {
        int r = WarpReduce.Row;
        if (r < rows) NormGpu.LayerNormRow(x, w, b, y, mean, rstd, r, Warp.LaneIdx, Warp.WarpSize, cols, eps);
    }

    static void LayerNormBackwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> dx, int rows, int cols)
    {
        int r = WarpReduce.Row;
        if (r < rows) NormGpu.LayerNormBackwardRow(x, w, mean, rstd, dout, dx, r, Warp.LaneIdx, Warp.WarpSize, cols);
    }

    static void RmsNormKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ArrayView<float> rstd, int rows,
        int cols, float eps)
    {
        int r = WarpReduce.Row;
        if (r < rows) NormGpu.RmsNormRow(x, w, y, rstd, r, Warp.LaneIdx, Warp.WarpSize, cols, eps);
    }

    static void RmsNormBackwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd, ArrayView<float> dout,
        ArrayView<float> dx, int rows, int cols)
    {
        int r = WarpReduce.Row;
        if (r < rows) NormGpu.RmsNormBackwardRow(x, w, rstd, dout, dx, r, Warp.LaneIdx, Warp.WarpSize, cols);
    }

    /// <summary>Per (chunk of rows, column): Σ dout·n̂ into pw and Σ dout into pb, n̂ = (x − mean)·rstd
    /// (mean 0 for RMSNorm).</summary>
    static void ParamPartialKernel(Index1D i, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> pw, ArrayView<float> pb, int rows, int cols, int hasMean)
    {
        int chunk = i / cols, c = i % cols;
        int r0 = chunk * ColumnSumGpu.ChunkRows, r1 = Math.Min(rows, r0 + ColumnSumGpu.ChunkRows);
        float sw = 0, sb = 0;
        for (int r = r0; r < r1; r++)
        {
            float mu = hasMean != 0 ? mean[r] : 0f;
            float d = dout[(long)r * cols + c];
            sw += d * (x[(long)r * cols + c] - mu) * rstd[r];
            sb += d;
        }
        pw[i] = sw;
        pb[i] = sb;
    }

    static void ParamGrad(LaunchContext k, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> dw, ArrayView<float>? db, int rows, int cols)
    {
        int chunks = ColumnSumGpu.Chunks(rows);
        using var pw = k.Scratch(chunks * cols);
        using var pb = k.Scratch(chunks * cols);
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            int, int, int>(ParamPartialKernel)(
            chunks * cols, x, mean, rstd, dout, pw.View, pb.View, rows, cols, db is null ? 0 : 1);
        ColumnSumGpu.Finish(k, pw.View, dw, cols, chunks);
        if (db is { } bias) ColumnSumGpu.Finish(k, pb.View, bias, cols, chunks);
    }

    public static void LayerNorm(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, int rows, int cols, float eps)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, int, int, float>(LayerNormKernel)(
                WarpReduce.RowsPerWarp(k, rows), x, w, b, y, mean, rstd, rows, cols, eps);
    }

    public static void LayerNormBackward(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> dout, ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> db,
        int rows, int cols)
    {
        if (rows == 0) return;
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int>(LayerNormBackwardKernel)(
            WarpReduce.RowsPerWarp(k, rows), x, w, mean, rstd, dout, dx, rows, cols);
        ParamGrad(k, x, mean, rstd, dout, dw, db, rows, cols);
    }

    public static void RmsNorm(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y,
        ArrayView<float> rstd, int rows, int cols, float eps)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(
                RmsNormKernel)(WarpReduce.RowsPerWarp(k, rows), x, w, y, rstd, rows, cols, eps);
    }

    public static void RmsNormBackward(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> dx, ArrayView<float> dw, int rows, int cols)
    {
        if (rows == 0) return;
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(
            RmsNormBackwardKernel)(WarpReduce.RowsPerWarp(k, rows), x, w, rstd, dout, dx, rows, cols);
        ParamGrad(k, x, rstd, rstd, dout, dw, null, rows, cols);
    }
}
