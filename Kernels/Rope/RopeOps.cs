using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Rope;

/// <summary>Rotary embedding, forward and backward (RopeGpu.cs).</summary>
public static class RopeOps
{
    const string Kernel = "one thread per rotated pair (RopeGpu.cs)";

    static OpCase Case(string op, string primitive, Sizes s, Random r, Action<IBackend, DeviceBuffer[], int[]> run)
    {
        int n = s.Batch * s.Steps * s.Heads * s.HeadDim;
        int[] positions = Enumerable.Range(0, s.Batch * s.Steps).Select(i => i % s.Steps + 2 * (i / s.Steps)).ToArray();
        return new OpCase(op, primitive, $"B{s.Batch} T{s.Steps} H{s.Heads} D{s.HeadDim}", Bytes(2, n), WorkUnit.Bytes,
            [Uniform(r, n), Uniform(r, n)], [1], (be, x) => run(be, x, positions));
    }

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("rope", nameof(IBackend.Rope), Kernel, (s, r) =>
            [Case("rope", nameof(IBackend.Rope), s, r,
                (be, x, p) => be.Rope(x[0], x[1], p, s.Batch, s.Steps, s.Heads, s.HeadDim, 10000f))]),
        OpDeclaration.Single("rope-backward", nameof(IBackend.RopeBackward), Kernel, (s, r) =>
            [Case("rope-backward", nameof(IBackend.RopeBackward), s, r,
                (be, x, p) => be.RopeBackward(x[0], x[1], p, s.Batch, s.Steps, s.Heads, s.HeadDim, 10000f))]),
    ];
}
