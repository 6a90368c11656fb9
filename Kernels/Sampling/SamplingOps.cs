using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Sampling;

/// <summary>Drawing next tokens on the device (SamplingGpu.cs): greedy, temperature, top-k, top-p, both.</summary>
public static class SamplingOps
{
    static readonly (string Label, float Temperature, int TopK, float TopP)[] Modes =
        [("greedy", 0f, 0, 1f), ("T=0.8", 0.8f, 0, 1f), ("top-k 5", 1f, 5, 1f), ("top-p 0.7", 1f, 0, 0.7f),
            ("top-k 9 top-p 0.9", 0.9f, 9, 0.9f)];

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("sample-tokens", nameof(IBackend.SampleTokens),
            "one group per row: reductions, bisection cuts over the logits' bits, a walk of one chunk (SamplingGpu.cs)", (s, r) =>
                Modes.Select(mode => new OpCase("sample-tokens", nameof(IBackend.SampleTokens),
                    $"{s.Tokens}x{s.Vocab}, {mode.Label}", Bytes(1, (long)s.Tokens * s.Vocab), WorkUnit.Bytes,
                    [Uniform(r, s.Tokens * s.Vocab, 4), Positive(r, s.Tokens, 0f, 0.999f), new float[s.Tokens],
                        new float[s.Tokens]], [2, 3],
                    (be, x) => be.SampleTokens(x[0], x[1], x[2], x[3], s.Tokens, s.Vocab, mode.Temperature, mode.TopK, mode.TopP)))),
    ];
}
