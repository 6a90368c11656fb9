using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Softmax;

/// <summary>Row softmax and its backward (SoftmaxGpu.cs).</summary>
public static class SoftmaxOps
{
    const string V1 = "one warp per row and per group, shuffle reductions, three passes (SoftmaxGpu.cs)";
    const string V2 = "one warp per row, up to 8 rows per group, online max and sum: two passes (SoftmaxRowsGpu.cs)";

    public delegate void ForwardLaunch(LaunchContext k, ArrayView<float> x, ArrayView<float> y, int rows, int cols);
    public delegate void BackwardLaunch(LaunchContext k, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx,
        int rows, int cols);

    // Version 2 is the default by design (more warps resident, one pass fewer), not yet by a GPU measurement.
    public static readonly (KernelVersion Version, ForwardLaunch Run)[] ForwardGpu =
        [(new(1, "warp-per-group", V1), SoftmaxGpu.Forward), (new(2, "rows-per-group", V2), SoftmaxRowsGpu.Forward)];
    public static readonly (KernelVersion Version, BackwardLaunch Run)[] BackwardGpu =
        [(new(1, "warp-per-group", V1), SoftmaxGpu.Backward), (new(2, "rows-per-group", V2), SoftmaxRowsGpu.Backward)];

    /// <summary>A softmax output to differentiate through: rows of positive numbers summing to 1.</summary>
    static float[] Probabilities(Random rng, int rows, int cols)
    {
        var y = Positive(rng, rows * cols);
        for (int r = 0; r < rows; r++)
        {
            float sum = 0;
            for (int c = 0; c < cols; c++) sum += y[r * cols + c];
            for (int c = 0; c < cols; c++) y[r * cols + c] /= sum;
        }
        return y;
    }

    public static readonly OpDeclaration Forward = new("softmax", nameof(IBackend.Softmax),
        ForwardGpu.Select(v => v.Version).ToArray(), 2, (s, r) =>
            [new OpCase("softmax", nameof(IBackend.Softmax), $"{s.Rows}x{s.Cols}", Bytes(2, s.Elements), WorkUnit.Bytes,
                [Uniform(r, s.Elements, 3), new float[s.Elements]], [1], (be, x) => be.Softmax(x[0], x[1], s.Rows, s.Cols))]);

    public static readonly OpDeclaration Backward = new("softmax-backward", nameof(IBackend.SoftmaxBackward),
        BackwardGpu.Select(v => v.Version).ToArray(), 2, (s, r) =>
            [new OpCase("softmax-backward", nameof(IBackend.SoftmaxBackward), $"{s.Rows}x{s.Cols}", Bytes(4, s.Elements),
                WorkUnit.Bytes, [Probabilities(r, s.Rows, s.Cols), Uniform(r, s.Elements), Uniform(r, s.Elements)], [2],
                (be, x) => be.SoftmaxBackward(x[0], x[1], x[2], s.Rows, s.Cols))]);

    public static readonly OpDeclaration[] All = [Forward, Backward];
}
