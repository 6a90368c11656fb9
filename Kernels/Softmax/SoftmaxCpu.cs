namespace Engine.Kernels.Softmax;

/// <summary>Softmax over the last axis of [R, C], max-subtracted for stability.</summary>
public static class SoftmaxCpu
{
    public static void Forward(float[] x, float[] output, int rows, int cols)
    {
        RowParallel.For(rows, 3L * cols, r => Row(x.AsSpan(r * cols, cols), output.AsSpan(r * cols, cols)));
    }

    /// <summary>y = exp(x − max) / Σ exp(x − max) for one row. Shared with attention.</summary>
    public static void Row(ReadOnlySpan<float> x, Span<float> y)
    {
        float max = float.NegativeInfinity;
        for (int c = 0; c < x.Length; c++) max = MathF.Max(max, x[c]);
        double sum = 0;
        for (int c = 0; c < x.Length; c++) { float e = MathF.Exp(x[c] - max); y[c] = e; sum += e; }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < x.Length; c++) y[c] *= inv;
    }

    /// <summary>dx += y ⊙ (dy − Σ y·dy).</summary>
    public static void Backward(float[] y, float[] dy, float[] dx, int rows, int cols)
    {
        RowParallel.For(rows, 3L * cols, r =>
        {
            int o = r * cols;
            double dot = 0;
            for (int c = 0; c < cols; c++) dot += y[o + c] * dy[o + c];
            for (int c = 0; c < cols; c++) dx[o + c] += y[o + c] * (dy[o + c] - (float)dot);
        });
    }
}
