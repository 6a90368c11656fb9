using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Elementwise;

/// <summary>
/// Column sums over many rows in two deterministic stages (version 2 of bias-backward; also the norms' weight and
/// bias gradients): one thread per (chunk of rows, column) sums its chunk, then one thread per column adds the
/// chunks' partials in order. Version 1 runs one thread per column over every row: 768 threads for a GPT-2
/// layer, far too few to fill a GPU.
/// </summary>
public static class ColumnSumGpu
{
    /// <summary>Rows per partial sum.</summary>
    public const int ChunkRows = 32;

    public static int Chunks(int rows) => (rows + ChunkRows - 1) / ChunkRows;

    static void PartialKernel(Index1D i, ArrayView<float> dout, ArrayView<float> partials, int rows, int cols)
    {
        int chunk = i / cols, c = i % cols;
        int r0 = chunk * ChunkRows, r1 = Math.Min(rows, r0 + ChunkRows);
        float s = 0;
        for (int r = r0; r < r1; r++) s += dout[(long)r * cols + c];
        partials[i] = s;
    }

    /// <summary>dst[c] += Σ_chunk partials[chunk, c], chunks in order.</summary>
    static void FinishKernel(Index1D c, ArrayView<float> partials, ArrayView<float> dst, int cols, int chunks)
    {
        float s = 0;
        for (int j = 0; j < chunks; j++) s += partials[(long)j * cols + c];
        dst[c] += s;
    }

    /// <summary>dcol[c] += Σ_r dout[r, c].</summary>
    public static void Sum(LaunchContext k, ArrayView<float> dout, ArrayView<float> dcol, int rows, int cols)
    {
        if (cols == 0 || rows == 0) return;
        int chunks = Chunks(rows);
        using var partials = k.Scratch(chunks * cols);
        k.Auto<ArrayView<float>, ArrayView<float>, int, int>(PartialKernel)(chunks * cols, dout, partials.View, rows, cols);
        Finish(k, partials.View, dcol, cols, chunks);
    }

    public static void Finish(LaunchContext k, ArrayView<float> partials, ArrayView<float> dst, int cols, int chunks) =>
        k.Auto<ArrayView<float>, ArrayView<float>, int, int>(FinishKernel)(cols, partials, dst, cols, chunks);
}
