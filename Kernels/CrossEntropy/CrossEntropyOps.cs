using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.CrossEntropy;

/// <summary>The fused log-softmax + cross-entropy with its gradient (CrossEntropyGpu.cs); the loss is compared too.</summary>
public static class CrossEntropyOps
{
    public delegate float Launch(LaunchContext k, ArrayView<float> logits, int[] targets, ArrayView<float>? dlogits,
        int rows, int vocab, int ignoreIndex, float scale);

    // Version 2 is the default by design (more warps resident, one pass fewer), not yet by a GPU measurement.
    public static readonly (KernelVersion Version, Launch Run)[] Gpu =
    [
        (new(1, "warp-per-group", "one warp per row and per group: max, sum, then loss and dlogits (CrossEntropyGpu.cs)"),
            CrossEntropyGpu.Forward),
        (new(2, "online-rows", "one warp per row, up to 8 rows per group, online log-sum-exp: two passes " +
            "(CrossEntropyOnlineGpu.cs)"), CrossEntropyOnlineGpu.Forward),
    ];

    public static readonly OpDeclaration CrossEntropy = new("cross-entropy", nameof(IBackend.CrossEntropy),
        Gpu.Select(v => v.Version).ToArray(), 2, (s, r) =>
        {
            int n = s.Tokens, v = s.Vocab;
            int[] targets = Ints(r, n, v);
            for (int i = 1; i < n; i += 3) targets[i] = -1;                  // ignored rows
            return [new OpCase("cross-entropy", nameof(IBackend.CrossEntropy), $"{n}x{v}", Bytes(2, (long)n * v), WorkUnit.Bytes,
                [Uniform(r, n * v, 4), new float[n * v], new float[1]], [1, 2],
                (be, x) => x[2].CopyFrom([be.CrossEntropy(x[0], targets, x[1], n, v, -1, 0.5f)]))];
        });

    public static readonly OpDeclaration[] All = [CrossEntropy];
}
