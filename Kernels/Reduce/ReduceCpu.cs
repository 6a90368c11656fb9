namespace Engine.Kernels.Reduce;

/// <summary>Full reductions, accumulated in float64 (the CPU reference may be exact where it is cheap).</summary>
public static class ReduceCpu
{
    public static double Sum(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x) s += v;
        return s;
    }

    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (float v in x) s += (double)v * v;
        return s;
    }

    /// <summary>dx += scale·g — the backward of a sum (scale 1) or a mean (scale 1/n).</summary>
    public static void SumBackward(float g, float scale, Span<float> dx)
    {
        float add = g * scale;
        for (int i = 0; i < dx.Length; i++) dx[i] += add;
    }
}
