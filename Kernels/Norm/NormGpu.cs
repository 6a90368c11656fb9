using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Norm;

/// <summary>
/// LayerNorm and RMSNorm kernels (LayerNormCpu / RmsNormCpu are the references): one warp per row,
/// lanes stride over the columns, statistics reduced with warp shuffles. The weight and bias
/// gradients, sums over rows, are a second kernel with one thread per column (no atomics).
/// </summary>
public static class NormGpu
{
    static void LayerNormKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int cols, float eps) =>
        LayerNormRow(x, w, b, y, mean, rstd, Grid.IdxX, Group.IdxX, Group.DimX, cols, eps);

    /// <summary>One row's LayerNorm by one warp: lane strides over the columns by lanes (the warp's width). Version 2
    /// runs the same row code with several warps per group.</summary>
    internal static void LayerNormRow(ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int r, int lane, int lanes, int cols, float eps)
    {
        long o = (long)r * cols;
        float s = 0;
        for (int c = lane; c < cols; c += lanes) s += x[o + c];
        float mu = WarpReduce.Sum(s) / cols;
        float v = 0;
        for (int c = lane; c < cols; c += lanes) { float d = x[o + c] - mu; v += d * d; }
        float rs = XMath.Rsqrt(WarpReduce.Sum(v) / cols + eps);
        for (int c = lane; c < cols; c += lanes) y[o + c] = (x[o + c] - mu) * rs * w[c] + b[c];
        if (lane == 0) { mean[r] = mu; rstd[r] = rs; }
    }

    static void LayerNormBackwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> dx, int cols) =>
        LayerNormBackwardRow(x, w, mean, rstd, dout, dx, Grid.IdxX, Group.IdxX, Group.DimX, cols);

    internal static void LayerNormBackwardRow(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mean,
        ArrayView<float> rstd, ArrayView<float> dout, ArrayView<float> dx, int r, int lane, int lanes, int cols)
    {
        long o = (long)r * cols;
        float mu = mean[r], rs = rstd[r];
        float g = 0, gn = 0;
        for (int c = lane; c < cols; c += lanes)
        {
            float n = (x[o + c] - mu) * rs, gc = dout[o + c] * w[c];
            g += gc;
            gn += gc * n;
        }
        float gm = WarpReduce.Sum(g) / cols, gnm = WarpReduce.Sum(gn) / cols;
        for (int c = lane; c < cols; c += lanes)
        {
            float n = (x[o + c] - mu) * rs;
            dx[o + c] += rs * (dout[o + c] * w[c] - gm - n * gnm);
        }
    }

    /// <summary>dw[c] += Σ_r dout·n̂;  db[c] += Σ_r dout (hasBias) — n̂ from mean (LayerNorm) or 0 (RMSNorm).</summary>
    static void NormParamGradKernel(Index1D c, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dout,
        ArrayView<float> dw, ArrayView<float> db, int rows, int cols, int hasMean)
    {
        float sw = 0, sb = 0;
        for (int r = 0; r < rows; r++)
        {
            float mu = hasMean != 0 ? mean[r] : 0f;
            float d = dout[r * cols + c];
            sw += d * (x[r * cols + c] - mu) * rstd[r];
            sb += d;
        }
        dw[c] += sw;
        if (hasMean != 0) db[c] += sb;
    }

    static void RmsNormKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ArrayView<float> rstd, int cols,
        float eps) =>
        RmsNormRow(x, w, y, rstd, Grid.IdxX, Group.IdxX, Group.DimX, cols, eps);

    internal static void RmsNormRow(ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ArrayView<float> rstd,
        int r, int lane, int lanes, int cols, float eps)
    {
        long o = (long)r * cols;
        float ss = 0;
        for (int c = lane; c < cols; c += lanes) ss += x[o + c] * x[o + c];
        float rs = XMath.Rsqrt(WarpReduce.Sum(ss) / cols + eps);
        for (int c = lane; c < cols; c += lanes) y[o + c] = x[o + c] * rs * w[c];
        if (lane == 0) rstd[r] = rs;
    }

    static void RmsNormBackwardKernel(ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> dx, int cols) =>
        RmsNormBackwardRow(x, w, rstd, dout, dx, Grid.IdxX, Group.IdxX, Group.DimX, cols);

    internal static void RmsNormBackwardRow(ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> dx, int r, int lane, int lanes, int cols)
    {
        long o = (long)r * cols;
        float rs = rstd[r];
        float gn = 0;
        for (int c = lane; c < cols; c += lanes) gn += dout[o + c] * w[c] * x[o + c] * rs;
        float gnm = WarpReduce.Sum(gn) / cols;
        for (int c = lane; c < cols; c += lanes) dx[o + c] += rs * (dout[o + c] * w[c] - x[o + c] * rs * gnm);
    }

    static KernelConfig PerRow(LaunchContext k, int rows) => new(rows, k.WarpSize);

    public static void LayerNorm(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int rows, int cols, float eps)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, int, float>(LayerNormKernel)(
                PerRow(k, rows), x, w, b, y, mean, rstd, cols, eps);
    }

    public static void LayerNormBackward(LaunchContext k, ArrayView<float> x, ArrayView<float> w,
        ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dout, ArrayView<float> dx, ArrayView<float> dw, ArrayView<float> db, int rows, int cols)
    {
        if (rows == 0) return;
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int>(LayerNormBackwardKernel)(
            PerRow(k, rows), x, w, mean, rstd, dout, dx, cols);
        ParamGrad(k, x, mean, rstd, dout, dw, db, rows, cols, hasMean: true);
    }

    static void ParamGrad(LaunchContext k, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dout,
        ArrayView<float> dw, ArrayView<float> db, int rows, int cols, bool hasMean) =>
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int>(NormParamGradKernel)(
            cols, x, mean, rstd, dout, dw, db, rows, cols, hasMean ? 1 : 0);

    public static void RmsNorm(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y,
        ArrayView<float> rstd, int rows, int cols, float eps)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
                float>(RmsNormKernel)(PerRow(k, rows), x, w, y, rstd, cols, eps);
    }

    public static void RmsNormBackward(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> rstd,
        ArrayView<float> dout,
        ArrayView<float> dx, ArrayView<float> dw, int rows, int cols)
    {
        if (rows == 0) return;
        k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(RmsNormBackwardKernel)(
            PerRow(k, rows), x, w, rstd, dout, dx, cols);
        ParamGrad(k, x, rstd, rstd, dout, dw, dw, rows, cols, hasMean: false);
    }
}
