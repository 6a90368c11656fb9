using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Norm;

/// <summary>LayerNorm and RMSNorm, forward and backward (NormGpu.cs); the backward's saved statistics come from the CPU forward.</summary>
public static class NormOps
{
    const string V1 = "one warp per row and per group, shuffle reductions; param grads one thread per column (NormGpu.cs)";
    const string V2 = "one warp per row, up to 8 rows per group; param grads as two-stage column sums (NormRowsGpu.cs)";

    public delegate void LayerNormLaunch(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, int rows, int cols, float eps);
    public delegate void LayerNormBackwardLaunch(LaunchContext k, ArrayView<float> x, ArrayView<float> w,
        ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dout, ArrayView<float> dx, ArrayView<float> dw,
        ArrayView<float> db, int rows, int cols);
    public delegate void RmsNormLaunch(LaunchContext k, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y,
        ArrayView<float> rstd, int rows, int cols, float eps);
    public delegate void RmsNormBackwardLaunch(LaunchContext k, ArrayView<float> x, ArrayView<float> w,
        ArrayView<float> rstd, ArrayView<float> dout, ArrayView<float> dx, ArrayView<float> dw, int rows, int cols);

    // Version 2 is the default by design (more warps resident, a parallel column sum), not yet by a GPU measurement:
    // tools/gpu/bench.sh times both.
    public static readonly (KernelVersion Version, LayerNormLaunch Run)[] LayerNormGpu =
        [(new(1, "warp-per-group", V1), NormGpu.LayerNorm), (new(2, "rows-per-group", V2), NormRowsGpu.LayerNorm)];
    public static readonly (KernelVersion Version, LayerNormBackwardLaunch Run)[] LayerNormBackwardGpu =
    [
        (new(1, "warp-per-group", V1), NormGpu.LayerNormBackward),
        (new(2, "rows-per-group", V2), NormRowsGpu.LayerNormBackward),
    ];
    public static readonly (KernelVersion Version, RmsNormLaunch Run)[] RmsNormGpu =
        [(new(1, "warp-per-group", V1), NormGpu.RmsNorm), (new(2, "rows-per-group", V2), NormRowsGpu.RmsNorm)];
    public static readonly (KernelVersion Version, RmsNormBackwardLaunch Run)[] RmsNormBackwardGpu =
    [
        (new(1, "warp-per-group", V1), NormGpu.RmsNormBackward),
        (new(2, "rows-per-group", V2), NormRowsGpu.RmsNormBackward),
    ];

    static KernelVersion[] Of<T>((KernelVersion Version, T Run)[] list) => list.Select(v => v.Version).ToArray();

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

    public static readonly OpDeclaration LayerNorm = new("layernorm", nameof(IBackend.LayerNorm), Of(LayerNormGpu), 2,
        (s, r) =>
            [Case("layernorm", nameof(IBackend.LayerNorm), s, 2,
                [Uniform(r, s.Elements, 2), Uniform(r, s.Cols), Uniform(r, s.Cols), new float[s.Elements],
                    new float[s.Rows], new float[s.Rows]],
                [3, 4, 5], (be, x) => be.LayerNorm(x[0], x[1], x[2], x[3], x[4], x[5], s.Rows, s.Cols, 1e-5f))]);

    public static readonly OpDeclaration LayerNormBackward = new("layernorm-backward", nameof(IBackend.LayerNormBackward),
        Of(LayerNormBackwardGpu), 2, (s, r) =>
        {
            var (x, w, b) = (Uniform(r, s.Elements, 2), Uniform(r, s.Cols), Uniform(r, s.Cols));
            var (mean, rstd) = LayerNormStats(x, w, b, s.Rows, s.Cols);
            return [Case("layernorm-backward", nameof(IBackend.LayerNormBackward), s, 3,
                [x, w, mean, rstd, Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Cols), Uniform(r, s.Cols)], [5, 6, 7],
                (be, v) => be.LayerNormBackward(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], s.Rows, s.Cols))];
        });

    public static readonly OpDeclaration RmsNorm = new("rmsnorm", nameof(IBackend.RmsNorm), Of(RmsNormGpu), 2, (s, r) =>
            [Case("rmsnorm", nameof(IBackend.RmsNorm), s, 2,
                [Uniform(r, s.Elements, 2), Uniform(r, s.Cols), new float[s.Elements], new float[s.Rows]],
                [2, 3], (be, x) => be.RmsNorm(x[0], x[1], x[2], x[3], s.Rows, s.Cols, 1e-6f))]);

    public static readonly OpDeclaration RmsNormBackward = new("rmsnorm-backward", nameof(IBackend.RmsNormBackward),
        Of(RmsNormBackwardGpu), 2, (s, r) =>
        {
            var (x, w) = (Uniform(r, s.Elements, 2), Uniform(r, s.Cols));
            var rstd = RmsStats(x, w, s.Rows, s.Cols);
            return [Case("rmsnorm-backward", nameof(IBackend.RmsNormBackward), s, 3,
                [x, w, rstd, Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Cols)], [4, 5],
                (be, v) => be.RmsNormBackward(v[0], v[1], v[2], v[3], v[4], v[5], s.Rows, s.Cols))];
        });

    public static readonly OpDeclaration[] All = [LayerNorm, LayerNormBackward, RmsNorm, RmsNormBackward];
}
