namespace Engine.Kernels.Rope;

/// <summary>
/// Rotary position embedding on x [B, T, H, D], in Llama/HF's "rotate half" layout: the pair
/// (x[i], x[i + D/2]) is rotated by angle pos·θ^(−2i/D), pos = positions[b·T + t] (so a KV-cache
/// step or a right-padded batch gives each row its own position). The backward rotates back.
/// </summary>
public static class RopeCpu
{
    public static void Forward(float[] x, float[] output, int[] positions, int heads, int headDim, float theta)
        => Rotate(x, output, positions, heads, headDim, theta, sign: 1f, accumulate: false);

    /// <summary>dx += R(−angle)·dout.</summary>
    public static void Backward(float[] dout, float[] dx, int[] positions, int heads, int headDim, float theta)
        => Rotate(dout, dx, positions, heads, headDim, theta, sign: -1f, accumulate: true);

    static void Rotate(float[] x, float[] y, int[] positions, int heads, int headDim, float theta, float sign, bool accumulate)
    {
        int half = headDim / 2;
        RowParallel.For(positions.Length, (long)heads * headDim * 4, bt =>
        {
            int pos = positions[bt];
            for (int i = 0; i < half; i++)
            {
                double angle = pos * Math.Pow(theta, -2.0 * i / headDim);
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
