using System.Numerics.Tensors;

namespace Engine.Kernels.Activation;

/// <summary>GELU (GPT-2's tanh form), SiLU and SwiGLU, each with its backward (+= into grads).</summary>
public static class ActivationCpu
{
    static readonly float GeluScale = MathF.Sqrt(2f / MathF.PI);   // √(2/π)

    const int Chunk = 1024;   // a slice per task: large enough to amortise a thread, small enough to stay in L1/L2

    /// <summary>gelu(x) = ½·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³). Vectorised tanh (TensorPrimitives).</summary>
    public static void Gelu(float[] x, float[] output)
    {
        ForChunks(x.Length, (start, length) =>
        {
            var xs = x.AsSpan(start, length);
            var y = output.AsSpan(start, length);
            GeluInner(xs, y);                                   // y = u
            TensorPrimitives.Tanh(y, y);                        // y = tanh u
            for (int i = 0; i < length; i++) y[i] = 0.5f * xs[i] * (1f + y[i]);
        });
    }

    static void GeluInner(ReadOnlySpan<float> x, Span<float> u)
    {
        for (int i = 0; i < x.Length; i++) u[i] = GeluScale * (x[i] + 0.044715f * x[i] * x[i] * x[i]);
    }

    /// <summary>dx += dout · [½(1 + tanh u) + ½x·(1 − tanh²u) · √(2/π)(1 + 3·0.044715·x²)].</summary>
    public static void GeluBackward(float[] x, float[] dout, float[] dx)
    {
        ForChunks(x.Length, (start, length) =>
        {
            var xs = x.AsSpan(start, length);
            Span<float> th = length <= 1024 ? stackalloc float[length] : new float[length];
            GeluInner(xs, th);
            TensorPrimitives.Tanh(th, th);
            for (int i = 0; i < length; i++)
            {
                float xi = xs[i], t = th[i];
                float grad = 0.5f * (1f + t) + 0.5f * xi * (1f - t * t) * GeluScale * (1f + 3f * 0.044715f * xi * xi);
                dx[start + i] += dout[start + i] * grad;
            }
        });
    }

    static void ForChunks(int length, Action<int, int> body)
    {
        int chunks = (length + Chunk - 1) / Chunk;
        if (chunks <= 1) { if (length > 0) body(0, length); return; }
        Parallel.For(0, chunks, c => body(c * Chunk, Math.Min(Chunk, length - c * Chunk)));
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
    public static void SwiGluBackward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dout,
        Span<float> dgate, Span<float> dup)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            dgate[i] += dout[i] * up[i] * SiluGrad(g);
            dup[i] += dout[i] * g * Sigmoid(g);
        }
    }
}
