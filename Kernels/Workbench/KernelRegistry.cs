using Engine.Kernels.Activation;
using Engine.Kernels.Attention;
using Engine.Kernels.CrossEntropy;
using Engine.Kernels.Elementwise;
using Engine.Kernels.Embedding;
using Engine.Kernels.Matmul;
using Engine.Kernels.Norm;
using Engine.Kernels.Optim;
using Engine.Kernels.Reduce;
using Engine.Kernels.RL;
using Engine.Kernels.Rope;
using Engine.Kernels.Softmax;

namespace Engine.Kernels.Workbench;

/// <summary>
/// Every op the backends implement, as each Kernels/&lt;Op&gt;/ folder declares it (&lt;Op&gt;Ops.cs): its GPU
/// versions and its cases. Tests and `Bench kernels` both iterate this list, so an op or a version
/// declared in its folder is checked and timed with no other file touched.
/// </summary>
public static class KernelRegistry
{
    public static readonly IReadOnlyList<OpDeclaration> Ops =
    [
        MatmulOps.MatMul, .. ElementwiseOps.All, .. Sampling.SamplingOps.All, .. ActivationOps.All, .. NormOps.All,
            .. SoftmaxOps.All, .. AttentionOps.All,
        .. RopeOps.All, .. EmbeddingOps.All, .. CrossEntropyOps.All, .. ReduceOps.All, .. AdamWOps.All, .. RlOps.All,
    ];

    public static OpDeclaration Find(string name) =>
        Ops.FirstOrDefault(o => o.Name == name)
        ?? throw new ArgumentException($"unknown op '{name}'; the ops are {string.Join(", ", Ops.Select(o => o.Name))}");
}
