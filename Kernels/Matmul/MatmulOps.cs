using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Matmul;

/// <summary>The GEMM op: its GPU versions (one file each in this folder) and the three layouts of a linear layer.</summary>
public static class MatmulOps
{
    /// <summary>How the GPU backend calls a GEMM version.</summary>
    public delegate void Launch(LaunchContext kernels, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k,
        bool transA, bool transB, bool accumulate);

    /// <summary>The GPU versions, in order: adding one is a new file here and a line in this list.</summary>
    public static readonly (KernelVersion Version, Launch Run)[] Gpu =
    [
        (new(1, "naive", "one thread per output, the reference loop (MatmulNaiveGpu.cs)"), MatmulNaiveGpu.Run),
        (new(2, "tiled", "shared-memory tiles, 4×4 outputs per thread (MatmulGpu.cs)"), MatmulGpu.Run),
        (new(3, "tiled128", "128×128 tiles, 256 threads, 8×8 per thread, double-buffered, 128-bit loads " +
                            "(MatmulTiledGpu.cs)", Wide: true), MatmulTiledGpu.Run),
        (new(4, "skinny", "few rows of A: a warp (or thread) per column of C, 4 rows per pass " +
                          "(MatmulSkinnyGpu.cs)"), MatmulSkinnyGpu.Run),
    ];

    public static readonly OpDeclaration MatMul = new("matmul", nameof(IBackend.MatMul), Gpu.Select(v => v.Version).ToArray(),
        Default: 2, Cases);

    static IEnumerable<OpCase> Cases(Sizes s, Random rng)
    {
        int m = s.Gemm, n = s.Gemm + (s.Gemm > 1 && s.Gemm < 1000 ? 4 : 0), k = s.Gemm + (s.Gemm > 1 && s.Gemm < 1000 ? 2 : 0);
        foreach (var (ta, tb, acc, label) in new[]
                 {
                     (false, false, false, "A·B"), (false, true, false, "A·Bᵀ (linear fwd)"),
                         (true, false, true, "Aᵀ·B + C (linear dW)"),
                 })
            yield return new OpCase("matmul", nameof(IBackend.MatMul), $"{label} {m}x{n}x{k}", 2.0 * m * n * k, WorkUnit.Flops,
                [Uniform(rng, m * k), Uniform(rng, k * n), Uniform(rng, m * n)], [2],
                (be, x) => be.MatMul(x[0], x[1], x[2], m, n, k, ta, tb, acc));
    }
}
