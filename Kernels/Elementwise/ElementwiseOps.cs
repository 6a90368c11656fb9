using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Elementwise;

/// <summary>The elementwise primitives (ElementwiseGpu.cs): fill, copy, add, mul and its backward, scale, axpy, bias.</summary>
public static class ElementwiseOps
{
    const string Kernel = "grid-stride loop (ElementwiseGpu.cs)";

    static OpCase Case(string op, string primitive, Sizes s, int arrays, float[][] inputs, int[] outputs,
        Action<IBackend, DeviceBuffer[]> run) =>
        new(op, primitive, $"{s.Elements}", Bytes(arrays, s.Elements), WorkUnit.Bytes, inputs, outputs, run);

    public delegate void ColumnSumLaunch(LaunchContext k, ArrayView<float> dout, ArrayView<float> dcol, int rows, int cols);

    // Version 2 is the default by design (rows/32 times the threads), not yet by a GPU measurement.
    public static readonly (KernelVersion Version, ColumnSumLaunch Run)[] BiasBackwardGpu =
    [
        (new(1, "thread-per-column", "column sums, one thread per column over every row (ElementwiseGpu.cs)"),
            ElementwiseGpu.ColumnSum),
        (new(2, "two-stage", "partial sums per 32-row chunk and column, then the chunks in order (ColumnSumGpu.cs)"),
            ColumnSumGpu.Sum),
    ];

    public static readonly OpDeclaration BiasBackward = new("bias-backward", nameof(IBackend.BiasBackward),
        BiasBackwardGpu.Select(v => v.Version).ToArray(), 2, (s, r) =>
            [Case("bias-backward", nameof(IBackend.BiasBackward), s, 1, [Uniform(r, s.Elements), Uniform(r, s.Cols)], [1],
                (be, x) => be.BiasBackward(x[0], x[1], s.Rows, s.Cols))]);

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("fill", nameof(IBackend.Fill), Kernel, (s, r) =>
            [Case("fill", nameof(IBackend.Fill), s, 1, [Uniform(r, s.Elements)], [0], (be, x) => be.Fill(x[0], 0.25f))]),
        OpDeclaration.Single("copy", nameof(IBackend.Copy), "device copy", (s, r) =>
            [Case("copy", nameof(IBackend.Copy), s, 2, [Uniform(r, s.Elements), new float[s.Elements]], [1],
                (be, x) => be.Copy(x[0], x[1]))]),
        OpDeclaration.Single("add", nameof(IBackend.Add), Kernel, (s, r) =>
            [Case("add", nameof(IBackend.Add), s, 3, [Uniform(r, s.Elements), Uniform(r, s.Elements), new float[s.Elements]], [2],
                (be, x) => be.Add(x[0], x[1], x[2]))]),
        OpDeclaration.Single("mul", nameof(IBackend.Mul), Kernel, (s, r) =>
            [Case("mul", nameof(IBackend.Mul), s, 3, [Uniform(r, s.Elements), Uniform(r, s.Elements), new float[s.Elements]], [2],
                (be, x) => be.Mul(x[0], x[1], x[2]))]),
        OpDeclaration.Single("mul-backward", nameof(IBackend.MulBackward), Kernel, (s, r) =>
            [Case("mul-backward", nameof(IBackend.MulBackward), s, 5,
                [Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Elements)],
                [3, 4], (be, x) => be.MulBackward(x[0], x[1], x[2], x[3], x[4]))]),
        OpDeclaration.Single("scale", nameof(IBackend.Scale), Kernel, (s, r) =>
            [Case("scale", nameof(IBackend.Scale), s, 2, [Uniform(r, s.Elements), new float[s.Elements]], [1],
                (be, x) => be.Scale(x[0], -1.5f, x[1]))]),
        OpDeclaration.Single("axpy", nameof(IBackend.Axpy), Kernel, (s, r) =>
            [Case("axpy", nameof(IBackend.Axpy), s, 3, [Uniform(r, s.Elements), Uniform(r, s.Elements)], [1],
                (be, x) => be.Axpy(0.5f, x[0], x[1]))]),
        OpDeclaration.Single("bias-add", nameof(IBackend.BiasAdd), Kernel, (s, r) =>
            [Case("bias-add", nameof(IBackend.BiasAdd), s, 2, [Uniform(r, s.Elements), Uniform(r, s.Cols), new float[s.Elements]], [2],
                (be, x) => be.BiasAdd(x[0], x[1], x[2], s.Rows, s.Cols))]),
        BiasBackward,
    ];
}
