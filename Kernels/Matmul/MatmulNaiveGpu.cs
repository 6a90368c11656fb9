using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// GEMM version 1: one thread per output element, the reference loop over K read straight from
/// global memory. Slow by design; it is the baseline the tiled versions are measured against.
/// </summary>
public static class MatmulNaiveGpu
{
    static void Kernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k, int transA,
        int transB, int accumulate)
    {
        int row = i / n, col = i % n;
        float sum = 0f;
        for (int p = 0; p < k; p++)
        {
            float x = transA != 0 ? a[(long)p * m + row] : a[(long)row * k + p];
            float y = transB != 0 ? b[(long)col * k + p] : b[(long)p * n + col];
            sum += x * y;
        }
        c[i] = accumulate != 0 ? c[i] + sum : sum;
    }

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k,
        bool transA, bool transB, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        kernels.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(Kernel)(
            m * n, a, b, c, m, n, k, transA ? 1 : 0, transB ? 1 : 0, accumulate ? 1 : 0);
    }
}
