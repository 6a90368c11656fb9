using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Optim;

/// <summary>The AdamW step (AdamWGpu.cs): parameters and both moments are its results.</summary>
public static class AdamWOps
{
    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("adamw", nameof(IBackend.AdamW), "grid-stride loop (AdamWGpu.cs)", (s, r) =>
            [new OpCase("adamw", nameof(IBackend.AdamW), $"{s.Elements}", Bytes(7, s.Elements), WorkUnit.Bytes,
                [Uniform(r, s.Elements), Uniform(r, s.Elements), Uniform(r, s.Elements, 0.1f),
                    Positive(r, s.Elements, 0f, 0.01f)], [0, 2, 3],
                (be, x) => be.AdamW(x[0], x[1], x[2], x[3], 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 10))]),
    ];
}
