using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Softmax;

/// <summary>Row softmax and its backward (SoftmaxGpu.cs).</summary>
public static class SoftmaxOps
{
    const string Kernel = "one warp per row, shuffle reductions (SoftmaxGpu.cs)";

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

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("softmax", nameof(IBackend.Softmax), Kernel, (s, r) =>
            [new OpCase("softmax", nameof(IBackend.Softmax), $"{s.Rows}x{s.Cols}", Bytes(2, s.Elements), WorkUnit.Bytes,
                [Uniform(r, s.Elements, 3), new float[s.Elements]], [1], (be, x) => be.Softmax(x[0], x[1], s.Rows, s.Cols))]),
        OpDeclaration.Single("softmax-backward", nameof(IBackend.SoftmaxBackward), Kernel, (s, r) =>
            [new OpCase("softmax-backward", nameof(IBackend.SoftmaxBackward), $"{s.Rows}x{s.Cols}", Bytes(4, s.Elements), WorkUnit.Bytes,
                [Probabilities(r, s.Rows, s.Cols), Uniform(r, s.Elements), Uniform(r, s.Elements)], [2],
                (be, x) => be.SoftmaxBackward(x[0], x[1], x[2], s.Rows, s.Cols))]),
    ];
}
