using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Reduce;

/// <summary>Sum, its backward, and the sum of squares behind gradient clipping (ReduceGpu.cs).</summary>
public static class ReduceOps
{
    const string Kernel = "fixed-order block partials, then one block (ReduceGpu.cs)";

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("sum", nameof(IBackend.Sum), Kernel, (s, r) =>
            [new OpCase("sum", nameof(IBackend.Sum), $"{s.Elements}", Bytes(1, s.Elements), WorkUnit.Bytes,
                [Uniform(r, s.Elements), new float[1]], [1], (be, x) => be.Sum(x[0], x[1]))]),
        OpDeclaration.Single("sum-backward", nameof(IBackend.SumBackward), "grid-stride loop (ReduceGpu.cs)", (s, r) =>
            [new OpCase("sum-backward", nameof(IBackend.SumBackward), $"{s.Elements}", Bytes(2, s.Elements), WorkUnit.Bytes,
                [Uniform(r, 1), Uniform(r, s.Elements)], [1], (be, x) => be.SumBackward(x[0], x[1], 0.5f))]),
        OpDeclaration.Single("sum-of-squares-into", nameof(IBackend.SumOfSquaresInto), Kernel, (s, r) =>
            [new OpCase("sum-of-squares-into", nameof(IBackend.SumOfSquaresInto), $"{s.Elements} into slot 2 of 4", Bytes(1, s.Elements),
                WorkUnit.Bytes, [Uniform(r, s.Elements), Uniform(r, 4)], [1], (be, x) => be.SumOfSquaresInto(x[0], x[1], 2))]),
    ];
}
