namespace Engine.Kernels.Activation;

/// <summary>GELU (GPT-2's tanh form), SiLU and SwiGLU, each with its backward (+= into grads).</summary>
public static class ActivationCpu
{
    static readonly float GeluScale = MathF.Sqrt(2f / MathF.PI);   // √(2/π)

    /// <summary>gelu(x) = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> output)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float xi = x[i];
            float u = GeluScale * (xi + 0.044715f * xi * xi * xi);
            output[i] = 0.5f * xi * (1f + MathF.Tanh(u));
        }
    }

    /// <summary>dx += dout · [½(1 + tanh u) + ½x·sech²u · √(2/π)(1 + 3·0.044715·x²)].</summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dout, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float xi = x[i];
            float u = GeluScale * (xi + 0.044715f * xi * xi * xi);
            float th = MathF.Tanh(u);
            float sech2 = 1f - th * th;
            float grad = 0.5f * (1f + th) + 0.5f * xi * sech2 * GeluScale * (1f + 3f * 0.044715f * xi * xi);
            dx[i] += dout[i] * grad;
        }
    }

    static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>silu(x) = x·σ(x).</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> output)
    {
        for (int i = 0; i < x.Length; i++) output[i] = x[i] * Sigmoid(x[i]);
    }

    /// <summary>silu'(x) = σ(x)·(1 + x·(1 − σ(x))).</summary>
    static float SiluGrad(float x)
    {
        float s = Sigmoid(x);
        return s * (1f + x * (1f - s));
    }

    public static void SiluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dout, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++) dx[i] += dout[i] * SiluGrad(x[i]);
    }

    /// <summary>swiglu(gate, up) = silu(gate) ⊙ up — the Llama MLP's gating.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        for (int i = 0; i < gate.Length; i++) output[i] = gate[i] * Sigmoid(gate[i]) * up[i];
    }

    /// <summary>dgate += dout·up·silu'(gate);  dup += dout·silu(gate).</summary>
    public static void SwiGluBackward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dout, Span<float> dgate, Span<float> dup)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            dgate[i] += dout[i] * up[i] * SiluGrad(g);
            dup[i] += dout[i] * g * Sigmoid(g);
        }
    }
}
