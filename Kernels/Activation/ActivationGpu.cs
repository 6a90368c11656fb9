using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Activation;

/// <summary>GELU (tanh), SiLU and SwiGLU kernels with their backwards; ActivationCpu is the reference.</summary>
public static class ActivationGpu
{
    const float GeluScale = 0.7978845608028654f;   // √(2/π)

    static void GeluKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            float v = x[j];
            y[j] = 0.5f * v * (1f + XMath.Tanh(GeluScale * (v + 0.044715f * v * v * v)));
        }
    }

    static void GeluBackwardKernel(Index1D i, ArrayView<float> x, ArrayView<float> dout, ArrayView<float> dx, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            float v = x[j];
            float t = XMath.Tanh(GeluScale * (v + 0.044715f * v * v * v));
            dx[j] += dout[j] * (0.5f * (1f + t) + 0.5f * v * (1f - t * t) * GeluScale * (1f + 3f * 0.044715f * v * v));
        }
    }

    static float Sigmoid(float v) => 1f / (1f + XMath.Exp(-v));

    static void SiluKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int n, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] = x[j] * Sigmoid(x[j]);
    }

    static void SiluBackwardKernel(Index1D i, ArrayView<float> x, ArrayView<float> dout, ArrayView<float> dx, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            float s = Sigmoid(x[j]);
            dx[j] += dout[j] * s * (1f + x[j] * (1f - s));
        }
    }

    static void SwiGluKernel(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> y, int n, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] = gate[j] * Sigmoid(gate[j]) * up[j];
    }

    static void SwiGluBackwardKernel(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> dout,
        ArrayView<float> dgate, ArrayView<float> dup, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            float g = gate[j], s = Sigmoid(g);
            dgate[j] += dout[j] * up[j] * s * (1f + g * (1f - s));
            dup[j] += dout[j] * g * s;
        }
    }

    static void Unary(LaunchContext k, Action<Index1D, ArrayView<float>, ArrayView<float>, int, int> kernel,
        ArrayView<float> x, ArrayView<float> y)
    {
        int n = (int)x.Length, t = k.Threads(n);
        if (n > 0) k.Auto(kernel)(t, x, y, n, t);
    }

    static void UnaryBackward(LaunchContext k, Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> kernel,
        ArrayView<float> x, ArrayView<float> dout, ArrayView<float> dx)
    {
        int n = (int)x.Length, t = k.Threads(n);
        if (n > 0) k.Auto(kernel)(t, x, dout, dx, n, t);
    }

    public static void Gelu(LaunchContext k, ArrayView<float> x, ArrayView<float> y) => Unary(k, GeluKernel, x, y);
    public static void GeluBackward(LaunchContext k, ArrayView<float> x, ArrayView<float> dout,
        ArrayView<float> dx) => UnaryBackward(k, GeluBackwardKernel, x, dout, dx);
    public static void Silu(LaunchContext k, ArrayView<float> x, ArrayView<float> y) => Unary(k, SiluKernel, x, y);
    public static void SiluBackward(LaunchContext k, ArrayView<float> x, ArrayView<float> dout,
        ArrayView<float> dx) => UnaryBackward(k, SiluBackwardKernel, x, dout, dx);

    public static void SwiGlu(LaunchContext k, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> y)
    {
        int n = (int)gate.Length, t = k.Threads(n);
        if (n > 0) k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(SwiGluKernel)(t, gate, up, y, n, t);
    }

    public static void SwiGluBackward(LaunchContext k, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> dout,
        ArrayView<float> dgate, ArrayView<float> dup)
    {
        int n = (int)gate.Length, t = k.Threads(n);
        if (n > 0)
            k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
                int>(SwiGluBackwardKernel)(t, gate, up, dout, dgate, dup, n, t);
    }
}
