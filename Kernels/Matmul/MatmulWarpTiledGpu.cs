using ILGPU;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v7, SIMT with warp tiles: v3's 128×128 tile, staging, double buffering and 8×8 outputs per thread, with the
/// threads mapped the way CUTLASS's SIMT GEMM maps them: each warp owns a 32×64 warp tile (warps 4 × 2), each lane
/// a 2 × 2 grid of 4×4 quads in it (lanes 4 × 8). A warp's four 128-bit shared loads per k then read 32 floats of
/// A and 64 of B, one shared-memory wavefront each (v3's 16 threads along N read 128 floats of B, two
/// wavefronts). Same arithmetic and summation order as v3, so the same results bit for bit.
/// </summary>
public static class MatmulWarpTiledGpu
{
    static void Kernel(ArrayView<float> a, ArrayView<F4> a4, ArrayView<float> b, ArrayView<F4> b4, ArrayView<float> c,
        ArrayView<F4> c4, int m, int n, int k, int flags) =>
        MatmulTiledGpu.Body(a, a4, b, b4, c, c4, m, n, k, flags, warpTiled: true, unrolled: false);

    public static void Run(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m,
        int n, int k, bool transA, bool transB, bool accumulate) =>
        MatmulTiledGpu.Launch(kernels, Kernel, "matmul v7", a, b, c, m, n, k, transA, transB, accumulate);
}
