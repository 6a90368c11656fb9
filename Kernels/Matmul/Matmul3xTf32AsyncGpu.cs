using ILGPU;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v11, 3×TF32 tensor cores fed by the asynchronous pipeline: v9's arithmetic (x = hi + lo, lo·hi + hi·lo + hi·hi
/// per tile) in v10's body (MatmulTf32AsyncGpu.Body with threeX; the split is done in the registers the fragments
/// are loaded into). Operands a 16-byte cp.async cannot read (unaligned, or a contiguous dimension not a multiple
/// of 4) are copied in 4-byte words, as in v10.
/// </summary>
public static class Matmul3xTf32AsyncGpu
{
    static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, long aAddress, long bAddress,
        long cAddress, int m, int n, int k, int flags) =>
        MatmulTf32AsyncGpu.Body(a, b, c, aAddress, bAddress, cAddress, m, n, k, flags, threeX: true);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        MatmulTf32AsyncGpu.Launch(kernels, Kernel, "matmul v11 (3xtf32, async)", a, b, c, m, n, k, transA,
            transB, accumulate);
}
