using ILGPU;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v9, 3×TF32 tensor cores with register-resident MMA state: v6's arithmetic (x = hi + lo, lo·hi + hi·lo + hi·hi
/// per tile) in v8's register-resident body (MatmulTf32RegGpu.Body with threeX).
/// </summary>
public static class Matmul3xTf32RegGpu
{
    static void Kernel(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c,
        long cAddress, int m, int n, int k, int flags) =>
        MatmulTf32RegGpu.Body(a, a4, b, b4, c, cAddress, m, n, k, flags, threeX: true);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        MatmulTf32RegGpu.Launch(kernels, Kernel, "matmul v9 (3xtf32, registers)", a, b, c, m, n, k, transA, transB,
            accumulate);
}
