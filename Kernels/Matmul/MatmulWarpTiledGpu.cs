using ILGPU;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Matmul;

/// <summary>
/// v7, SIMT with warp tiles: v3's 128×128 tile, staging, double buffering and 8×8 outputs per thread, with the
/// threads mapped the way CUTLASS's SIMT GEMM maps them: each warp owns a 32×64 warp tile (warps 4 × 2), each lane
/// a 2 × 2 grid of 4×4 quads in it (lanes 4 × 8, interleaved by 2 as CUTLASS's RowMajorInterleaved&lt;2&gt;), so
/// every one of a warp's four 128-bit shared loads per k has each address read by two lanes: 2 wavefronts each on
/// an H100 by the pairing rule (MatmulTiledGpu.Body), 8 per k-step where v3 (and v7's first, plain lane layout)
/// take 12; not yet measured on a GPU. Same arithmetic and summation order as v3, so the same results bit for bit.
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
