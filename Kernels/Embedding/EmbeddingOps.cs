using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Embedding;

/// <summary>Embedding lookup and its deterministic scatter-add backward (EmbeddingGpu.cs).</summary>
public static class EmbeddingOps
{
    /// <summary>Rows of GPT-2 124M's width at most: the large shapes' 4096 columns would make a 0.8 GB table.</summary>
    static int Cols(Sizes s) => Math.Min(s.Cols, 768);

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("embedding", nameof(IBackend.Embedding), "one thread per element (EmbeddingGpu.cs)", (s, r) =>
        {
            int[] ids = Ints(r, s.Tokens, s.Vocab);
            return [new OpCase("embedding", nameof(IBackend.Embedding), $"{s.Tokens} of {s.Vocab}x{Cols(s)}", Bytes(2, s.Tokens * Cols(s)),
                WorkUnit.Bytes, [Uniform(r, s.Vocab * Cols(s)), new float[s.Tokens * Cols(s)]], [1],
                (be, x) => be.Embedding(ids, x[0], x[1], s.Vocab, Cols(s)))];
        }),
        OpDeclaration.Single("embedding-backward", nameof(IBackend.EmbeddingBackward),
            "rows grouped by id, summed in a fixed order (EmbeddingGpu.cs)", (s, r) =>
        {
            int[] ids = Ints(r, s.Tokens, Math.Max(1, s.Vocab / 4));        // repeated ids: the scatter must add them
            return [new OpCase("embedding-backward", nameof(IBackend.EmbeddingBackward), $"{s.Tokens} of {s.Vocab}x{Cols(s)}",
                Bytes(2, s.Tokens * Cols(s)), WorkUnit.Bytes, [Uniform(r, s.Tokens * Cols(s)), Uniform(r, s.Vocab * Cols(s))], [1],
                (be, x) => be.EmbeddingBackward(ids, x[0], x[1], s.Vocab, Cols(s)))];
        }),
    ];
}
