namespace Engine.Kernels.Norm;

/// <summary>LayerNorm over the last axis: y = (x − μ)·rstd·w + b, rstd = 1/√(σ² + eps) (biased σ², as PyTorch).</summary>
public static class LayerNormCpu
{
    public static void Forward(float[] x, float[] weight, float[] bias, float[] output, float[] mean, float[] rstd,
        int rows, int cols, float eps)
    {
        RowParallel.For(rows, 4L * cols, r =>
        {
            var xr = x.AsSpan(r * cols, cols);
            double sum = 0;
            for (int c = 0; c < cols; c++) sum += xr[c];
            float mu = (float)(sum / cols);
            double var = 0;
            for (int c = 0; c < cols; c++) { double d = xr[c] - mu; var += d * d; }
            float rs = 1f / MathF.Sqrt((float)(var / cols) + eps);
            var yr = output.AsSpan(r * cols, cols);
            for (int c = 0; c < cols; c++) yr[c] = (xr[c] - mu) * rs * weight[c] + bias[c];
            mean[r] = mu;
            rstd[r] = rs;
        });
    }

    /// <summary>
    /// With n̂ = (x − μ)·rstd and g = dout·w:  dx += rstd·(g − mean(g) − n̂·mean(g·n̂));
    /// dw += Σ_r dout·n̂;  db += Σ_r dout.
    /// </summary>
    public static void Backward(float[] x, float[] weight, float[] mean, float[] rstd, float[] dout,
        float[] dx, float[] dweight, float[] dbias, int rows, int cols)
    {
        RowParallel.For(rows, 8L * cols, r =>
        {
            int o = r * cols;
            float mu = mean[r], rs = rstd[r];
            double gMean = 0, gnMean = 0;
            for (int c = 0; c < cols; c++)
            {
                float n = (x[o + c] - mu) * rs;
                float g = dout[o + c] * weight[c];
                gMean += g;
                gnMean += g * n;
            }
            float gm = (float)(gMean / cols), gnm = (float)(gnMean / cols);
            for (int c = 0; c < cols; c++)
            {
                float n = (x[o + c] - mu) * rs;
                float g = dout[o + c] * weight[c];
                dx[o + c] += rs * (g - gm - n * gnm);
            }
        });
        // Weight and bias gradients sum over rows: one pass, rows outer, so writes never race.
        for (int r = 0; r < rows; r++)
        {
            int o = r * cols;
            float mu = mean[r], rs = rstd[r];
            for (int c = 0; c < cols; c++)
            {
                dweight[c] += dout[o + c] * (x[o + c] - mu) * rs;
                dbias[c] += dout[o + c];
            }
        }
    }
}
