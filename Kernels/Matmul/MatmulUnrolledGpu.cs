using ILGPU;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v12, SIMT: v7 (warp tiles) with each slice's 8 k-steps written out. ILGPU does not unroll loops and ptxas kept
/// v3/v7's loop over the slice rolled (their SASS holds 64 FFMA: one k-step of the 8×8 block), so every k-step paid
/// its loop branch and address arithmetic and no shared load could be hoisted above the previous step's FFMAs.
/// Written out, a slice is 512 FFMA between two barriers with constant shared offsets (sub-views at the thread's
/// first quads), which is what the design and siboehm's unrolled kernels rely on. Same products, same order:
/// the same bits as v3 and v7.
/// </summary>
public static class MatmulUnrolledGpu
{
    static void Kernel(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c,
        ArrayView<F4> c4, int m, int n, int k, int flags) =>
        MatmulTiledGpu.Body(a, a4, b, b4, c, c4, m, n, k, flags, warpTiled: true, unrolled: true);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        MatmulTiledGpu.Launch(kernels, Kernel, "matmul v12", a, b, c, m, n, k, transA, transB, accumulate);
}
