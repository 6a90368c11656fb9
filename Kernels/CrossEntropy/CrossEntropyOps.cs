using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.CrossEntropy;

/// <summary>The fused log-softmax + cross-entropy with its gradient (CrossEntropyGpu.cs); the loss is compared too.</summary>
public static class CrossEntropyOps
{
    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("cross-entropy", nameof(IBackend.CrossEntropy),
            "one group per row, loss and dlogits in one pass (CrossEntropyGpu.cs)",
            (s, r) =>
        {
            int n = s.Tokens, v = s.Vocab;
            int[] targets = Ints(r, n, v);
            for (int i = 1; i < n; i += 3) targets[i] = -1;                  // ignored rows
            return [new OpCase("cross-entropy", nameof(IBackend.CrossEntropy), $"{n}x{v}", Bytes(2, (long)n * v), WorkUnit.Bytes,
                [Uniform(r, n * v, 4), new float[n * v], new float[1]], [1, 2],
                (be, x) => x[2].CopyFrom([be.CrossEntropy(x[0], targets, x[1], n, v, -1, 0.5f)]))];
        }),
    ];
}
