using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Rope;

/// <summary>Rotary embedding, one thread per (row, head, pair); RopeCpu is the reference.</summary>
public static class RopeGpu
{
    /// <summary>freqs[i] = θ^(−2i/D), computed on the host in float64 (as the reference), uploaded once per θ and D.</summary>
    static void Kernel(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<int> positions, ArrayView<float> freqs,
        int heads, int headDim, float sign, int accumulate, int n, int stride)
    {
        int half = headDim / 2;
        for (int j = i; j < n; j += stride)
        {
            int pair = j % half, h = j / half % heads, row = j / half / heads;
            float angle = positions[row] * freqs[pair];
            float cos = XMath.Cos(angle), sin = sign * XMath.Sin(angle);
            int o = (row * heads + h) * headDim;
            float x1 = x[o + pair], x2 = x[o + pair + half];
            float y1 = x1 * cos - x2 * sin, y2 = x2 * cos + x1 * sin;
            if (accumulate != 0) { y[o + pair] += y1; y[o + pair + half] += y2; }
            else { y[o + pair] = y1; y[o + pair + half] = y2; }
        }
    }

    public static void Run(LaunchContext k, ArrayView<float> x, ArrayView<float> y, int[] positions, int heads,
        int headDim, float theta, bool backward)
    {
        if (positions.Length * heads * (headDim / 2) == 0) return;
        using var pos = k.Upload(positions);
        Run(k, x, y, pos.View, positions.Length, heads, headDim, theta, backward);
    }

    /// <summary>The same with the rows' positions already on the device.</summary>
    public static void Run(LaunchContext k, ArrayView<float> x, ArrayView<float> y, ArrayView<int> positions, int rows,
        int heads, int headDim, float theta, bool backward)
    {
        int half = headDim / 2, n = rows * heads * half, t = k.Threads(n);
        if (n == 0) return;
        var freqs = k.Constant($"rope θ={theta:R} D={headDim}", () =>
        {
            var f = new float[half];
            for (int i = 0; i < half; i++) f[i] = (float)Math.Pow(theta, -2.0 * i / headDim);
            return f;
        });
        k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, float, int, int, int>(Kernel)(
            t, x, y, positions, freqs, heads, headDim, backward ? -1f : 1f, backward ? 1 : 0, n, t);
    }
}
