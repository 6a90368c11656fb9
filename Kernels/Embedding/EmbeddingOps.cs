using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Embedding;

/// <summary>Embedding lookup and its deterministic scatter-add backward (EmbeddingGpu.cs).</summary>
public static class EmbeddingOps
{
    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("embedding", nameof(IBackend.Embedding), "one thread per element (EmbeddingGpu.cs)", (s, r) =>
        {
            int[] ids = Ints(r, s.Tokens, s.Vocab);
            return [new OpCase("embedding", nameof(IBackend.Embedding), $"{s.Tokens} of {s.Vocab}x{s.Cols}", Bytes(2, s.Tokens * s.Cols),
                WorkUnit.Bytes, [Uniform(r, s.Vocab * s.Cols), new float[s.Tokens * s.Cols]], [1],
                (be, x) => be.Embedding(ids, x[0], x[1], s.Vocab, s.Cols))];
        }),
        OpDeclaration.Single("embedding-backward", nameof(IBackend.EmbeddingBackward),
            "rows grouped by id, summed in a fixed order (EmbeddingGpu.cs)", (s, r) =>
        {
            int[] ids = Ints(r, s.Tokens, Math.Max(1, s.Vocab / 4));        // repeated ids: the scatter must add them
            return [new OpCase("embedding-backward", nameof(IBackend.EmbeddingBackward), $"{s.Tokens} of {s.Vocab}x{s.Cols}",
                Bytes(2, s.Tokens * s.Cols), WorkUnit.Bytes, [Uniform(r, s.Tokens * s.Cols), Uniform(r, s.Vocab * s.Cols)], [1],
                (be, x) => be.EmbeddingBackward(ids, x[0], x[1], s.Vocab, s.Cols))];
        }),
    ];
}
