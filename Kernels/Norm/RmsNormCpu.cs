namespace Engine.Kernels.Norm;

/// <summary>RMSNorm (Llama): y = x·rstd·w, rstd = 1/√(mean(x²) + eps). No mean, no bias.</summary>
public static class RmsNormCpu
{
    public static void Forward(float[] x, float[] weight, float[] output, float[] rstd, int rows, int cols, float eps)
    {
        RowParallel.For(rows, 3L * cols, r =>
        {
            var xr = x.AsSpan(r * cols, cols);
            double ss = 0;
            for (int c = 0; c < cols; c++) ss += (double)xr[c] * xr[c];
            float rs = 1f / MathF.Sqrt((float)(ss / cols) + eps);
            var yr = output.AsSpan(r * cols, cols);
            for (int c = 0; c < cols; c++) yr[c] = xr[c] * rs * weight[c];
            rstd[r] = rs;
        });
    }

    /// <summary>With n̂ = x·rstd and g = dout·w:  dx += rstd·(g − n̂·mean(g·n̂));  dw += Σ_r dout·n̂.</summary>
    public static void Backward(float[] x, float[] weight, float[] rstd, float[] dout, float[] dx, float[] dweight, int rows, int cols)
    {
        RowParallel.For(rows, 6L * cols, r =>
        {
            int o = r * cols;
            float rs = rstd[r];
            double gn = 0;
            for (int c = 0; c < cols; c++) gn += dout[o + c] * weight[c] * (x[o + c] * rs);
            float gnm = (float)(gn / cols);
            for (int c = 0; c < cols; c++)
            {
                float n = x[o + c] * rs;
                dx[o + c] += rs * (dout[o + c] * weight[c] - n * gnm);
            }
        });
        for (int r = 0; r < rows; r++)
        {
            int o = r * cols;
            float rs = rstd[r];
            for (int c = 0; c < cols; c++) dweight[c] += dout[o + c] * x[o + c] * rs;
        }
    }
}
