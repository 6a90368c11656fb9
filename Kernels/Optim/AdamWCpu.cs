namespace Engine.Kernels.Optim;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter, 2019), the decoupled-decay form PyTorch implements:
///   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ)
///   p ← p − lr·(m̂/(√v̂ + eps) + λ·p)
/// </summary>
public static class AdamWCpu
{
    public static void Step(float[] param, float[] grad, float[] m, float[] v,
        float lr, float beta1, float beta2, float eps, float weightDecay, int step)
    {
        float c1 = 1f - MathF.Pow(beta1, step), c2 = 1f - MathF.Pow(beta2, step);
        RowParallel.For(1 + param.Length / 4096, 4096 * 8, chunk =>
        {
            int start = chunk * 4096, end = Math.Min(param.Length, start + 4096);
            for (int i = start; i < end; i++)
            {
                float g = grad[i];
                m[i] = beta1 * m[i] + (1f - beta1) * g;
                v[i] = beta2 * v[i] + (1f - beta2) * g * g;
                float mHat = m[i] / c1, vHat = v[i] / c2;
                param[i] -= lr * (mHat / (MathF.Sqrt(vHat) + eps) + weightDecay * param[i]);
            }
        });
    }
}
