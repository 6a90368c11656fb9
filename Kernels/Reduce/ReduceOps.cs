using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Reduce;

/// <summary>Sum, its backward, and the sum of squares behind gradient clipping (ReduceGpu.cs).</summary>
public static class ReduceOps
{
    public delegate void SumLaunch(LaunchContext k, ArrayView<float> x, ArrayView<float> output);

    // Version 2 is the default by design (8 times the threads per group), not yet by a GPU measurement.
    static readonly KernelVersion V1 = new(1, "warp-partials", "one-warp groups' partials, then one warp (ReduceGpu.cs)");
    static readonly KernelVersion V2 = new(2, "block-partials",
        "8-warp groups' partials combined in shared memory, then one group (ReduceBlocksGpu.cs)");

    public static readonly (KernelVersion Version, SumLaunch Run)[] SumGpu =
        [(V1, (k, x, o) => ReduceGpu.Sum(k, x, o)), (V2, (k, x, o) => ReduceBlocksGpu.Sum(k, x, o))];
    public static readonly (KernelVersion Version, SumLaunch Run)[] SumOfSquaresGpu =
        [(V1, (k, x, o) => ReduceGpu.Sum(k, x, o, square: true)), (V2, ReduceBlocksGpu.SumOfSquares)];

    public static readonly OpDeclaration Sum = new("sum", nameof(IBackend.Sum), [V1, V2], 2, (s, r) =>
        [new OpCase("sum", nameof(IBackend.Sum), $"{s.Elements}", Bytes(1, s.Elements), WorkUnit.Bytes,
            [Uniform(r, s.Elements), new float[1]], [1], (be, x) => be.Sum(x[0], x[1]))]);

    public static readonly OpDeclaration SumOfSquares = new("sum-of-squares-into", nameof(IBackend.SumOfSquaresInto),
        [V1, V2], 2, (s, r) =>
        [new OpCase("sum-of-squares-into", nameof(IBackend.SumOfSquaresInto), $"{s.Elements} into slot 2 of 4",
            Bytes(1, s.Elements), WorkUnit.Bytes, [Uniform(r, s.Elements), Uniform(r, 4)], [1],
            (be, x) => be.SumOfSquaresInto(x[0], x[1], 2))]);

    public static readonly OpDeclaration[] All =
    [
        Sum,
        OpDeclaration.Single("sum-backward", nameof(IBackend.SumBackward), "grid-stride loop (ReduceGpu.cs)", (s, r) =>
            [new OpCase("sum-backward", nameof(IBackend.SumBackward), $"{s.Elements}", Bytes(2, s.Elements), WorkUnit.Bytes,
                [Uniform(r, 1), Uniform(r, s.Elements)], [1], (be, x) => be.SumBackward(x[0], x[1], 0.5f))]),
        SumOfSquares,
    ];
}
