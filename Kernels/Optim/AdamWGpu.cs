using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Optim;

/// <summary>The AdamW update as one elementwise kernel (AdamWCpu is the reference).</summary>
public static class AdamWGpu
{
    /// <summary>The step's scalars in one struct (kernel arguments are passed by value).</summary>
    public readonly record struct Hyper(float Lr, float Beta1, float Beta2, float Eps, float WeightDecay, float C1, float C2);

    static void StepKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        Hyper h, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            float gj = g[j];
            float mj = h.Beta1 * m[j] + (1f - h.Beta1) * gj;
            float vj = h.Beta2 * v[j] + (1f - h.Beta2) * gj * gj;
            m[j] = mj;
            v[j] = vj;
            p[j] -= h.Lr * (mj / h.C1 / (XMath.Sqrt(vj / h.C2) + h.Eps) + h.WeightDecay * p[j]);
        }
    }

    public static void Step(LaunchContext k, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        int n = (int)p.Length, t = k.Threads(n);
        var h = new Hyper(lr, beta1, beta2, eps, weightDecay, 1f - MathF.Pow(beta1, step), 1f - MathF.Pow(beta2, step));
        if (n > 0)
            k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Hyper, int,
                int>(StepKernel)(t, p, g, m, v, h, n, t);
    }
}
