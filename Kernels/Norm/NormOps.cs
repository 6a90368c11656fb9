using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Norm;

/// <summary>LayerNorm and RMSNorm, forward and backward (NormGpu.cs); the backward's saved statistics come from the CPU forward.</summary>
public static class NormOps
{
    const string Kernel = "one warp per row, shuffle reductions (NormGpu.cs)";

    static OpCase Case(string op, string primitive, Sizes s, int arrays, float[][] inputs, int[] outputs,
        Action<IBackend, DeviceBuffer[]> run) =>
        new(op, primitive, $"{s.Rows}x{s.Cols}", Bytes(arrays, s.Elements), WorkUnit.Bytes, inputs, outputs, run);

    /// <summary>mean and rstd of x as the forward saves them.</summary>
    static (float[] Mean, float[] Rstd) LayerNormStats(float[] x, float[] w, float[] b, int rows, int cols)
    {
        var cpu = new CpuBackend();
        var (xb, wb, bb, ob, mb, rb) = (Up(cpu, x), Up(cpu, w), Up(cpu, b), cpu.Allocate(x.Length), cpu.Allocate(rows), cpu.Allocate(rows));
        cpu.LayerNorm(xb, wb, bb, ob, mb, rb, rows, cols, 1e-5f);
        return (mb.ToArray(), rb.ToArray());
    }

    static float[] RmsStats(float[] x, float[] w, int rows, int cols)
    {
        var cpu = new CpuBackend();
        var (xb, wb, ob, rb) = (Up(cpu, x), Up(cpu, w), cpu.Allocate(x.Length), cpu.Allocate(rows));
        cpu.RmsNorm(xb, wb, ob, rb, rows, cols, 1e-6f);
        return rb.ToArray();
    }

    static DeviceBuffer Up(IBackend be, float[] x)
    {
        var b = be.Allocate(x.Length);
        b.CopyFrom(x);
        return b;
    }

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("layernorm", nameof(IBackend.LayerNorm), Kernel, (s, r) =>
            [Case("layernorm", nameof(IBackend.LayerNorm), s, 2,
                [Uniform(r, s.Elements, 2), Uniform(r, s.Cols), Uniform(r, s.Cols), new float[s.Elements],
                    new float[s.Rows], new float[s.Rows]],
                [3, 4, 5], (be, x) => be.LayerNorm(x[0], x[1], x[2], x[3], x[4], x[5], s.Rows, s.Cols, 1e-5f))]),
        OpDeclaration.Single("layernorm-backward", nameof(IBackend.LayerNormBackward), Kernel, (s, r) =>
        {
            var (x, w, b) = (Uniform(r, s.Elements, 2), Uniform(r, s.Cols), Uniform(r, s.Cols));
            var (mean, rstd) = LayerNormStats(x, w, b, s.Rows, s.Cols);
            return [Case("layernorm-backward", nameof(IBackend.LayerNormBackward), s, 3,
                [x, w, mean, rstd, Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Cols), Uniform(r, s.Cols)], [5, 6, 7],
                (be, v) => be.LayerNormBackward(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], s.Rows, s.Cols))];
        }),
        OpDeclaration.Single("rmsnorm", nameof(IBackend.RmsNorm), Kernel, (s, r) =>
            [Case("rmsnorm", nameof(IBackend.RmsNorm), s, 2,
                [Uniform(r, s.Elements, 2), Uniform(r, s.Cols), new float[s.Elements], new float[s.Rows]],
                [2, 3], (be, x) => be.RmsNorm(x[0], x[1], x[2], x[3], s.Rows, s.Cols, 1e-6f))]),
        OpDeclaration.Single("rmsnorm-backward", nameof(IBackend.RmsNormBackward), Kernel, (s, r) =>
        {
            var (x, w) = (Uniform(r, s.Elements, 2), Uniform(r, s.Cols));
            var rstd = RmsStats(x, w, s.Rows, s.Cols);
            return [Case("rmsnorm-backward", nameof(IBackend.RmsNormBackward), s, 3,
                [x, w, rstd, Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Cols)], [4, 5],
                (be, v) => be.RmsNormBackward(v[0], v[1], v[2], v[3], v[4], v[5], s.Rows, s.Cols))];
        }),
    ];
}
