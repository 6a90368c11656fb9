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
        (new(4, "skinny", "few rows of A: a warp (or thread) per column and 4 rows of C " +
                          "(MatmulSkinnyGpu.cs)"), MatmulSkinnyGpu.Run),
        // TF32 rounds each input to 10 mantissa bits: against the fp32 reference at K ≤ 40 with inputs in [-1, 1]
        // that is ~1e-3; 1e-2 still catches any tiling or fragment error (those are O(1)). GemmGpuTests checks v5
        // tightly against a reference computed on TF32-rounded inputs.
        (new(5, "tf32", "TF32 tensor cores, m16n8k8 MMA, 128×128 tiles, 64×32 per warp (MatmulTf32Gpu.cs)",
            Wide: true, Tolerance: 1e-2, Precision: "tf32"), MatmulTf32Gpu.Run),
        (new(6, "3xtf32", "3×TF32 tensor cores, fp32-class accuracy (Matmul3xTf32Gpu.cs)", Wide: true,
            Precision: "3xtf32"), Matmul3xTf32Gpu.Run),
        (new(7, "warptiled", "v3 with 32×64 warp tiles, lanes 4×8 (MatmulWarpTiledGpu.cs)", Wide: true),
            MatmulWarpTiledGpu.Run),
        (new(8, "tf32-regs", "v5 with the MMA state in PTX-declared registers, input-only inline PTX " +
                             "(MatmulTf32RegGpu.cs)", Wide: true, Tolerance: 1e-2, Precision: "tf32"),
            MatmulTf32RegGpu.Run),
        (new(9, "3xtf32-regs", "v6 with the MMA state in PTX-declared registers (Matmul3xTf32RegGpu.cs)",
            Wide: true, Precision: "3xtf32"), Matmul3xTf32RegGpu.Run),
        (new(10, "tf32-async", "v8 fed by a 3-stage cp.async pipeline, BK 16, swizzled shared tiles, ldmatrix where " +
                               "K is contiguous; 4-byte copies where 16 cannot be (MatmulTf32AsyncGpu.cs)", Wide: true,
            Tolerance: 1e-2, Precision: "tf32"), MatmulTf32AsyncGpu.Run),
        (new(11, "3xtf32-async", "v9 on v10's pipeline (Matmul3xTf32AsyncGpu.cs)",
            Wide: true, Precision: "3xtf32"), Matmul3xTf32AsyncGpu.Run),
        (new(12, "unrolled", "v7 with each slice's 8 k-steps written out: 512 FFMA between barriers, constant " +
                             "shared offsets (MatmulUnrolledGpu.cs)", Wide: true), MatmulUnrolledGpu.Run),
    ];

    /// <summary>Rows of A up to which the skinny version (v4) is the fp32 default for x·Wᵀ: the decode range
    /// (1…64 tokens against a weight). Not measured on a GPU yet: the crossover with v3 is owed (BENCHMARKS.md).
    /// </summary>
    public const int SkinnyRows = 64;

    /// <summary>
    /// The version a GEMM runs when none is pinned (ENGINE_KERNEL_MATMUL or KernelChoice.Pin win over this):
    /// <list type="bullet">
    /// <item>tf32 → v8, 3xtf32 → v9 (tensor cores, v5/v6 with the MMA state in registers: no local memory in
    /// their PTX at O1 or O2, 0-byte stack frames under ptxas, and the same results as v5/v6 on the CPU
    /// accelerator; they refuse devices without 32-lane warps);</item>
    /// <item>fp32 on a device whose groups hold fewer than 256 threads (ILGPU's default CPU accelerator, used by
    /// most tests) → v2, as before these versions existed;</item>
    /// <item>fp32 otherwise: x·Wᵀ (transB) with M ≤ <see cref="SkinnyRows"/> → v4 (skinny: a warp walks a weight
    /// row), else v3 (128×128 tiles; it hands operands of 2³¹ elements or more to v2). v4's other layouts run a
    /// thread per (column, 4 rows), at small M too few threads to fill a GPU, so they are never its default.</item>
    /// </list>
    /// v10/v11 (v8/v9 fed by the cp.async pipeline) are no default until a GPU has measured them against v8/v9:
    /// ENGINE_KERNEL_MATMUL=10 (or 11) pins them.
    /// </summary>
    public static int Choose(Precision precision, int m, bool transB, int maxGroup) => precision switch
    {
        Precision.Tf32 => 8,
        Precision.ThreeXTf32 => 9,
        _ => maxGroup < GemmTiles.Threads ? 2 : m <= SkinnyRows && transB ? 4 : 3,
    };

    /// <summary>Default: the version <see cref="KernelChoice.Of"/> reports; the GPU backend picks by
    /// <see cref="Choose"/> instead unless a version is pinned.</summary>
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
            yield return Case(rng, new Gemm(label, m, n, k, ta, tb, acc));
    }

    /// <summary>One GEMM of a benchmark: C[M,N] (+)= op(A)·op(B); Shape is how tables and tools/torch_bench.py name
    /// it.</summary>
    public sealed record Gemm(string Label, int M, int N, int K, bool TransA, bool TransB, bool Accumulate)
    {
        public string Shape => $"{Label} {M}x{N}x{K}";
    }

    /// <summary>GPT-2 124M's linear layers at B·T = 4096 tokens, each in its three GEMMs (forward y = x·Wᵀ,
    /// dx = dy·W, dW += dyᵀ·x), then 4096³ in the workbench's three layouts. tools/torch_bench.py --gemm-shapes
    /// spells the same list.</summary>
    public static IEnumerable<Gemm> Gpt2Shapes()
    {
        const int tokens = 4096;
        foreach (var (name, inputs, outputs) in new[]
                 {
                     ("qkv", 768, 2304), ("attn proj", 768, 768), ("fc", 768, 3072), ("fc proj", 3072, 768),
                     ("lm head", 768, 50257),
                 })
        {
            yield return new Gemm($"{name} fwd A·Bᵀ", tokens, outputs, inputs, false, true, false);
            yield return new Gemm($"{name} dX A·B", tokens, inputs, outputs, false, false, false);
            yield return new Gemm($"{name} dW Aᵀ·B + C", outputs, inputs, tokens, true, false, true);
        }
        yield return new Gemm("A·B", 4096, 4096, 4096, false, false, false);
        yield return new Gemm("A·Bᵀ (linear fwd)", 4096, 4096, 4096, false, true, false);
        yield return new Gemm("Aᵀ·B + C (linear dW)", 4096, 4096, 4096, true, false, true);
    }

    public static OpCase Case(Random rng, Gemm g) =>
        new("matmul", nameof(IBackend.MatMul), g.Shape, 2.0 * g.M * g.N * g.K, WorkUnit.Flops,
            [Uniform(rng, g.M * g.K), Uniform(rng, g.K * g.N), Uniform(rng, g.M * g.N)], [2],
            (be, x) => be.MatMul(x[0], x[1], x[2], g.M, g.N, g.K, g.TransA, g.TransB, g.Accumulate));
}
