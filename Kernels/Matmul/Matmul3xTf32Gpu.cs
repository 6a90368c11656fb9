using ILGPU;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v6, 3×TF32 tensor cores: fp32-class accuracy from TF32 MMAs (CUTLASS's OpMultiplyAddFastF32). Each input
/// x = hi + lo with hi = tf32(x) and lo = tf32(x − hi); three MMAs per tile, lo·hi + hi·lo + hi·hi, drop only lo·lo
/// (about 2⁻²² of the product). v5's tiling and staging (MatmulTf32Gpu.Body with threeX); 3× its MMAs.
/// --precision 3xtf32 selects it.
/// </summary>
public static class Matmul3xTf32Gpu
{
    static void Kernel(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c,
        int m, int n, int k, int flags) => MatmulTf32Gpu.Body(a, a4, b, b4, c, m, n, k, flags, threeX: true);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        MatmulTf32Gpu.Launch(kernels, Kernel, "matmul v6 (3xtf32)", a, b, c, m, n, k, transA, transB, accumulate);
}
