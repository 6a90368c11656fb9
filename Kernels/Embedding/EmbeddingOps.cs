using ILGPU;
using Engine.Kernels.Gpu;
using Engine.Kernels.Workbench;
using static Engine.Kernels.Workbench.CaseData;

namespace Engine.Kernels.Embedding;

/// <summary>Embedding lookup and its deterministic scatter-add backward (EmbeddingGpu.cs).</summary>
public static class EmbeddingOps
{
    /// <summary>Rows of GPT-2 124M's width at most: the large shapes' 4096 columns would make a 0.8 GB table.</summary>
    static int Cols(Sizes s) => Math.Min(s.Cols, 768);

    /// <summary>How the GPU backend calls an embedding-backward version.</summary>
    public delegate void BackwardLaunch(LaunchContext kernels, int[] ids, ArrayView<float> dout, ArrayView<float> dtable,
        int vocab, int cols);

    /// <summary>Both versions sum each id's rows in ascending row order, then add the sum: the same bits.</summary>
    public static readonly (KernelVersion Version, BackwardLaunch Run)[] BackwardGpu =
    [
        (new(1, "host-groups", "rows grouped by id on the host, uploaded, summed in order (EmbeddingGpu.cs)"),
            (k, ids, dout, dtable, _, cols) => EmbeddingGpu.Backward(k, ids, dout, dtable, cols)),
        (new(2, "device-sort", "counting sort of rows by id on the device, then summed in order (EmbeddingSortGpu.cs)"),
            EmbeddingSortGpu.Backward),
    ];

    // Default 2: no host work and one upload per call instead of three, for the same bits; speed not yet measured.
    public static readonly OpDeclaration Backward = new("embedding-backward", nameof(IBackend.EmbeddingBackward),
        BackwardGpu.Select(v => v.Version).ToArray(), Default: 2, (s, r) =>
        {
            int[] ids = Ints(r, s.Tokens, Math.Max(1, s.Vocab / 4));        // repeated ids: the scatter must add them
            return [new OpCase("embedding-backward", nameof(IBackend.EmbeddingBackward), $"{s.Tokens} of {s.Vocab}x{Cols(s)}",
                Bytes(2, s.Tokens * Cols(s)), WorkUnit.Bytes, [Uniform(r, s.Tokens * Cols(s)), Uniform(r, s.Vocab * Cols(s))], [1],
                (be, x) => be.EmbeddingBackward(ids, x[0], x[1], s.Vocab, Cols(s)))];
        });

    public static readonly OpDeclaration[] All =
    [
        OpDeclaration.Single("embedding", nameof(IBackend.Embedding), "one thread per element (EmbeddingGpu.cs)", (s, r) =>
        {
            int[] ids = Ints(r, s.Tokens, s.Vocab);
            return [new OpCase("embedding", nameof(IBackend.Embedding), $"{s.Tokens} of {s.Vocab}x{Cols(s)}", Bytes(2, s.Tokens * Cols(s)),
                WorkUnit.Bytes, [Uniform(r, s.Vocab * Cols(s)), new float[s.Tokens * Cols(s)]], [1],
                (be, x) => be.Embedding(ids, x[0], x[1], s.Vocab, Cols(s)))];
        }),
        Backward,
    ];
}
