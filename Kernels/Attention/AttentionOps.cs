using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Attention;

/// <summary>
/// Causal attention forward and backward (grouped-query heads), the KV-cache write and attention
/// against a cache (AttentionGpu.cs). Forward and backward have seven versions each: v1 row-per-thread, v2
/// FlashAttention-2 on CUDA cores, v3/v4 the same on tensor cores in TF32 / 3×TF32, v5/v6 v3/v4 with
/// register-resident accumulators (--precision tf32|3xtf32 picks v5/v6, forward and backward; see GpuBackend),
/// v7 v2 with the next streamed block prefetched into registers (D ≤ 64).
/// The backward's output and lse come from the CPU forward.
/// </summary>
public static class AttentionOps
{
    /// <summary>How the GPU backend calls a forward version: q,out [B,T,Hq,D]; k,v [B,T,Hkv,D]; lse [B,Hq,T].</summary>
    public delegate void ForwardLaunch(LaunchContext kernels, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> output, ArrayView<float> lse, int batch, int steps, int qHeads, int kvHeads, int headDim);

    /// <summary>How the GPU backend calls a backward version (dq, dk, dv are accumulated into).</summary>
    public delegate void BackwardLaunch(LaunchContext kernels, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<float> output, ArrayView<float> lse, ArrayView<float> dout, ArrayView<float> dq, ArrayView<float> dk,
        ArrayView<float> dv, int batch, int steps, int qHeads, int kvHeads, int headDim);

    /// <summary>Forward versions, in order: a new one is a new file here and a line in this list.</summary>
    public static readonly (KernelVersion Version, ForwardLaunch Run)[] ForwardGpu =
    [
        (new(1, "row-per-thread", "one thread per query row, K/V tiles in shared memory, online softmax (AttentionGpu.cs)"),
            AttentionGpu.Forward),
        (new(2, "flash2-simt", "FlashAttention-2 layout on CUDA cores: Br query rows per group, 4×4 register tiles, " +
            "shuffle softmax (AttentionForwardV2.cs)", Wide: true), AttentionForwardV2.Forward),
        (new(3, "flash2-tf32", "v2's layout with S = Q·Kᵀ and P·V on tensor cores, mma.sync m16n8k8 TF32 " +
            "(AttentionForwardV3.cs; --precision tf32)", Wide: true, Tolerance: Tf32Tolerance, Precision: "tf32"),
            AttentionForwardV3.Tf32),
        (new(4, "flash2-3xtf32", "v3 with each MMA input split into TF32 hi + lo, three MMAs: fp32-class accuracy " +
            "(AttentionForwardV3.cs; --precision 3xtf32)", Wide: true, Precision: "3xtf32"),
            AttentionForwardV3.ThreeTf32),
        (new(5, "flash2-tf32-regs", "v3 with the S and O accumulators in PTX-declared registers, no local memory " +
            "(AttentionForwardV3.cs, FlashUnits.cs)", Wide: true, Tolerance: Tf32Tolerance, Precision: "tf32"),
            AttentionForwardV3.Tf32Regs),
        (new(6, "flash2-3xtf32-regs", "v4 with the S and O accumulators in PTX-declared registers " +
            "(AttentionForwardV3.cs, FlashUnits.cs)", Wide: true, Precision: "3xtf32"),
            AttentionForwardV3.ThreeTf32Regs),
        (new(7, "flash2-simt-prefetch", "v2 with the next K/V block loaded into registers during the current " +
            "block's math, division-free 128-bit staging; D ≤ 64, else v2 (AttentionForwardV7.cs)", Wide: true),
            AttentionForwardV7.Forward),
    ];

    /// <summary>
    /// What the TF32 versions are held to against the fp32 reference (inputs in [−1, 1]): TF32 keeps 10 mantissa
    /// bits, a relative rounding error up to 2⁻¹¹ ≈ 4.9e-4 per input; scores over D products and outputs averaged over
    /// T values stay within a few of those; 2e-3 ≈ 4 units. The 3×TF32 versions are held to the fp32 tolerance.
    /// </summary>
    public const double Tf32Tolerance = 2e-3;

    /// <summary>The versions --precision tf32 and 3xtf32 run: the register-resident v5/v6, forward and backward (no
    /// local memory in their PTX, no stack or spills after ptxas, the same bits as v3/v4 on the CPU accelerator;
    /// not yet run on a GPU). Tf32Version / ThreeXTf32Version are the backward's.</summary>
    public const int Tf32Version = 5, ThreeXTf32Version = 6, ForwardTf32Version = 5, ForwardThreeXTf32Version = 6;

    /// <summary>
    /// The version an attention forward or backward runs:
    /// <list type="bullet">
    /// <item>--precision tf32 or 3xtf32 on a device with 32-lane warps: the tensor-core version of that precision
    /// (above), whatever is pinned;</item>
    /// <item>else a pinned version (ENGINE_KERNEL_ATTENTION[_BACKWARD]=N, or KernelChoice.Pin);</item>
    /// <item>else v2 (flash2-simt, FlashAttention-2's layout on CUDA cores) where its groups fit: 32-lane warps and
    /// groups of 128 threads (a CUDA GPU, ILGPU's 32-wide CPU accelerator); v1 (a thread per query row, 0.014× SDPA on
    /// an H100 on 2026-11-24) elsewhere. v2 by design, as GEMM's v3 is: its GPU speed and v7's are owed.</item>
    /// </list>
    /// </summary>
    public static int Choose(OpDeclaration op, Precision precision, int? pinned, int warpSize, int maxGroup)
    {
        bool forward = op == Forward;
        return precision switch
        {
            Precision.Tf32 when warpSize == 32 => forward ? ForwardTf32Version : Tf32Version,
            Precision.ThreeXTf32 when warpSize == 32 => forward ? ForwardThreeXTf32Version : ThreeXTf32Version,
            _ => pinned ?? (warpSize == 32 && maxGroup >= 128 ? 2 : op.Default),
        };
    }

    /// <summary>Backward versions, in order.</summary>
    public static readonly (KernelVersion Version, BackwardLaunch Run)[] BackwardGpu =
    [
        (new(1, "row-per-thread", "recomputes P from lse; dk/dv per key row, then dq per query row (AttentionGpu.cs)"),
            AttentionGpu.Backward),
        (new(2, "flash2-simt", "FlashAttention-2 order on CUDA cores: dK/dV per key block in registers, then a " +
            "separate dQ pass, no atomics (AttentionBackwardV2.cs)", Wide: true), AttentionBackwardV2.Backward),
        (new(3, "flash2-tf32", "v2's passes with every block product on tensor cores, mma.sync m16n8k8 TF32 " +
            "(AttentionBackwardV3.cs; --precision tf32)", Wide: true, Tolerance: Tf32Tolerance,
            Precision: "tf32"), AttentionBackwardV3.Tf32),
        (new(4, "flash2-3xtf32", "v3 in 3×TF32: fp32-class accuracy (AttentionBackwardV3.cs; --precision 3xtf32)",
            Wide: true, Precision: "3xtf32"), AttentionBackwardV3.ThreeTf32),
        (new(5, "flash2-tf32-regs", "v3 with the dK, dV and dQ accumulators in PTX-declared registers, no local " +
            "memory; D > 64 runs v3's kernels (AttentionBackwardV3.cs, FlashBackUnits.cs)", Wide: true,
            Tolerance: Tf32Tolerance, Precision: "tf32"), AttentionBackwardV3.Tf32Regs),
        (new(6, "flash2-3xtf32-regs", "v4 with the accumulators in PTX-declared registers; D > 64 runs v4's " +
            "kernels (AttentionBackwardV3.cs, FlashBackUnits.cs)", Wide: true, Precision: "3xtf32"),
            AttentionBackwardV3.ThreeTf32Regs),
        (new(7, "flash2-simt-prefetch", "v2 with the next streamed block (Q and dout, or K and V) loaded into " +
            "registers during the current block's math, 128-bit staging; D ≤ 64, else v2 (AttentionBackwardV7.cs)",
            Wide: true), AttentionBackwardV7.Backward),
    ];

    public static readonly OpDeclaration Forward = new("attention", nameof(IBackend.Attention),
        ForwardGpu.Select(v => v.Version).ToArray(), Default: 1, ForwardCases);

    public static readonly OpDeclaration Backward = new("attention-backward", nameof(IBackend.AttentionBackward),
        BackwardGpu.Select(v => v.Version).ToArray(), Default: 1, BackwardCases);

    /// <summary>The attention issue's benchmark shapes (`Bench kernels --attention-shapes`, tools/torch_bench.py
    /// --attention-shapes): B2 H8 T1024 D64, GPT-2 124M's B4 H12 T1024 D64, and B1 H32 (8 kv heads) T4096
    /// D128.</summary>
    public static readonly Sizes[] IssueShapes =
    [
        Sizes.Large with { Name = "attention-1", Batch = 2, Steps = 1024, Heads = 8, KvHeads = 8, HeadDim = 64 },
        Sizes.Large with { Name = "attention-2", Batch = 4, Steps = 1024, Heads = 12, KvHeads = 12, HeadDim = 64 },
        Sizes.Large with { Name = "attention-3", Batch = 1, Steps = 4096, Heads = 32, KvHeads = 8, HeadDim = 128 },
    ];

    static string Shape(Sizes s) => $"B{s.Batch} T{s.Steps} H{s.Heads}/{s.KvHeads} D{s.HeadDim}";

    /// <summary>QKᵀ and PV over the causal half.</summary>
    static double Flops(Sizes s) => 4.0 * s.Batch * s.Heads * s.Steps * (s.Steps + 1) / 2 * s.HeadDim;

    static IEnumerable<OpCase> ForwardCases(Sizes s, Random r)
    {
        int nq = s.Batch * s.Steps * s.Heads * s.HeadDim, nk = s.Batch * s.Steps * s.KvHeads * s.HeadDim;
        return [new OpCase("attention", nameof(IBackend.Attention), Shape(s), Flops(s), WorkUnit.Flops,
            [Uniform(r, nq), Uniform(r, nk), Uniform(r, nk), new float[nq], new float[s.Batch * s.Heads * s.Steps]], [3, 4],
            (be, x) => be.Attention(x[0], x[1], x[2], x[3], x[4], s.Batch, s.Steps, s.Heads, s.KvHeads, s.HeadDim))];
    }

    static IEnumerable<OpCase> BackwardCases(Sizes s, Random r)
    {
        int nq = s.Batch * s.Steps * s.Heads * s.HeadDim, nk = s.Batch * s.Steps * s.KvHeads * s.HeadDim;
        var (q, k, v) = (Uniform(r, nq), Uniform(r, nk), Uniform(r, nk));
        var cpu = new CpuBackend();
        var bufs = new[] { q, k, v }.Select(a => { var b = cpu.Allocate(a.Length); b.CopyFrom(a); return b; }).ToArray();
        var (o, lse) = (cpu.Allocate(nq), cpu.Allocate(s.Batch * s.Heads * s.Steps));
        cpu.Attention(bufs[0], bufs[1], bufs[2], o, lse, s.Batch, s.Steps, s.Heads, s.KvHeads, s.HeadDim);
        return [new OpCase("attention-backward", nameof(IBackend.AttentionBackward), Shape(s), 2.5 * Flops(s), WorkUnit.Flops,
            [q, k, v, o.ToArray(), lse.ToArray(), Uniform(r, nq), Uniform(r, nq), Uniform(r, nk), Uniform(r, nk)], [6, 7, 8],
            (be, x) => be.AttentionBackward(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8],
                s.Batch, s.Steps, s.Heads, s.KvHeads, s.HeadDim))];
    }


    /// <summary>How the GPU backend calls a cached-attention (decode) version.</summary>
    public delegate void CachedLaunch(LaunchContext kernels, ArrayView<float> q, ArrayView<float> kCache,
        ArrayView<float> vCache, ArrayView<float> o, ArrayView<int> positions, int batch, int steps, int maxSteps, int qHeads,
        int kvHeads, int headDim);

    // Version 2 is the default by design (rows × splits warps instead of one thread per row), not yet measured.
    public static readonly (KernelVersion Version, CachedLaunch Run)[] CachedGpu =
    [
        (new(1, "row-per-thread", "one thread per query row over the cache (AttentionGpu.cs)"), AttentionGpu.Cached),
        (new(2, "flash-decoding", "a warp per (query row, 64-key split), lanes over D, then the splits combined " +
            "(AttentionDecodeGpu.cs)"), AttentionDecodeGpu.Cached),
    ];

    public static readonly OpDeclaration Cached = new("attention-cached", nameof(IBackend.AttentionCached),
        CachedGpu.Select(v => v.Version).ToArray(), 2, (s, r) =>
        {
            int maxSteps = s.Steps + 3, nq = s.Batch * s.Steps * s.Heads * s.HeadDim, nc = s.Batch * maxSteps * s.KvHeads * s.HeadDim;
            int[] positions = Enumerable.Range(0, s.Batch * s.Steps).Select(i => 3 + i % s.Steps).ToArray();
            return [new OpCase("attention-cached", nameof(IBackend.AttentionCached), Shape(s) + $" cache {maxSteps}",
                4.0 * s.Batch * s.Heads * s.Steps * maxSteps * s.HeadDim, WorkUnit.Flops,
                [Uniform(r, nq), Uniform(r, nc), Uniform(r, nc), new float[nq]], [3],
                (be, x) => be.AttentionCached(x[0], x[1], x[2], x[3], positions, s.Batch, s.Steps, maxSteps, s.Heads,
                    s.KvHeads, s.HeadDim))];
        });

    public static readonly OpDeclaration[] All =
    [
        Forward, Backward,
        OpDeclaration.Single("kv-cache-write", nameof(IBackend.KvCacheWrite), "one thread per element (AttentionGpu.cs)", (s, r) =>
        {
            int cols = s.KvHeads * s.HeadDim, maxSteps = s.Steps + 3;
            int[] positions = Enumerable.Range(0, s.Batch * s.Steps).Select(i => 3 + i % s.Steps).ToArray();
            return [new OpCase("kv-cache-write", nameof(IBackend.KvCacheWrite), Shape(s),
                Bytes(2, s.Batch * s.Steps * cols), WorkUnit.Bytes,
                [Uniform(r, s.Batch * s.Steps * cols), Uniform(r, s.Batch * maxSteps * cols)], [1],
                (be, x) => be.KvCacheWrite(x[0], x[1], positions, s.Batch, s.Steps, maxSteps, cols))];
        }),
        Cached,
    ];
}
