namespace Engine.Kernels.Rope;

/// <summary>
/// Rotary position embedding on x [B, T, H, D], in Llama/HF's "rotate half" layout: the pair
/// (x[i], x[i + D/2]) is rotated by angle pos·θ^(−2i/D). Positions start at posOffset (the KV cache).
/// The backward is the rotation by the opposite angle.
/// </summary>
public static class RopeCpu
{
    public static void Forward(float[] x, float[] output, int batch, int steps, int heads, int headDim, float theta, int posOffset)
        => Rotate(x, output, batch, steps, heads, headDim, theta, posOffset, sign: 1f, accumulate: false);

    /// <summary>dx += R(−angle)·dout.</summary>
    public static void Backward(float[] dout, float[] dx, int batch, int steps, int heads, int headDim, float theta, int posOffset)
        => Rotate(dout, dx, batch, steps, heads, headDim, theta, posOffset, sign: -1f, accumulate: true);

    static void Rotate(float[] x, float[] y, int batch, int steps, int heads, int headDim, float theta, int posOffset, float sign, bool accumulate)
    {
        int half = headDim / 2;
        Rows.For(batch * steps, (long)heads * headDim * 4, bt =>
        {
            int pos = posOffset + bt % steps;
            for (int i = 0; i < half; i++)
            {
                double freq = Math.Pow(theta, -2.0 * i / headDim);
                double angle = pos * freq;
                float cos = (float)Math.Cos(angle), sin = sign * (float)Math.Sin(angle);
                for (int h = 0; h < heads; h++)
                {
                    int o = (bt * heads + h) * headDim;
                    float x1 = x[o + i], x2 = x[o + i + half];
                    float y1 = x1 * cos - x2 * sin, y2 = x2 * cos + x1 * sin;
                    if (accumulate) { y[o + i] += y1; y[o + i + half] += y2; }
                    else { y[o + i] = y1; y[o + i + half] = y2; }
                }
            }
        });
    }
}
