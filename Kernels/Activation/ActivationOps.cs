using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Activation;

/// <summary>GELU, SiLU and SwiGLU, forward and backward (ActivationGpu.cs).</summary>
public static class ActivationOps
{
    const string Kernel = "grid-stride loop (ActivationGpu.cs)";

    static OpDeclaration Op(string name, string primitive, int arrays, Func<Sizes, Random, float[][]> inputs, int[] outputs,
        Action<IBackend, DeviceBuffer[]> run) =>
        OpDeclaration.Single(name, primitive, Kernel, (s, r) =>
            [new OpCase(name, primitive, $"{s.Elements}", Bytes(arrays, s.Elements), WorkUnit.Bytes, inputs(s, r), outputs, run)]);

    public static readonly OpDeclaration[] All =
    [
        Op("gelu", nameof(IBackend.Gelu), 2, (s, r) => [Uniform(r, s.Elements, 3), new float[s.Elements]], [1],
            (be, x) => be.Gelu(x[0], x[1])),
        Op("gelu-backward", nameof(IBackend.GeluBackward), 4,
            (s, r) => [Uniform(r, s.Elements, 3), Uniform(r, s.Elements), Uniform(r, s.Elements)],
            [2], (be, x) => be.GeluBackward(x[0], x[1], x[2])),
        Op("silu", nameof(IBackend.Silu), 2, (s, r) => [Uniform(r, s.Elements, 3), new float[s.Elements]], [1],
            (be, x) => be.Silu(x[0], x[1])),
        Op("silu-backward", nameof(IBackend.SiluBackward), 4,
            (s, r) => [Uniform(r, s.Elements, 3), Uniform(r, s.Elements), Uniform(r, s.Elements)],
            [2], (be, x) => be.SiluBackward(x[0], x[1], x[2])),
        Op("swiglu", nameof(IBackend.SwiGlu), 3, (s, r) => [Uniform(r, s.Elements, 3), Uniform(r, s.Elements), new float[s.Elements]], [2],
            (be, x) => be.SwiGlu(x[0], x[1], x[2])),
        Op("swiglu-backward", nameof(IBackend.SwiGluBackward), 7,
            (s, r) => [Uniform(r, s.Elements, 3), Uniform(r, s.Elements), Uniform(r, s.Elements),
                Uniform(r, s.Elements), Uniform(r, s.Elements)],
            [3, 4], (be, x) => be.SwiGluBackward(x[0], x[1], x[2], x[3], x[4])),
    ];
}
