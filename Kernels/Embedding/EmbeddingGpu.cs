using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Embedding;

/// <summary>
/// Row lookup and its scatter-add backward (EmbeddingCpu is the reference). The backward avoids
/// float atomics, whose order would change the sums from run to run: the host groups the batch's
/// positions by id (ids arrive from the host anyway), and one thread per (distinct id, column)
/// adds that id's rows in order.
/// </summary>
public static class EmbeddingGpu
{
    static void ForwardKernel(Index1D i, ArrayView<int> ids, ArrayView<float> table, ArrayView<float> y, int cols, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            int row = j / cols, c = j % cols;
            y[j] = table[(long)ids[row] * cols + c];
        }
    }

    static void BackwardKernel(Index1D i, ArrayView<int> uniqueIds, ArrayView<int> offsets, ArrayView<int> rows,
        ArrayView<float> dout, ArrayView<float> dtable, int cols, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            int u = j / cols, c = j % cols;
            float s = 0;
            for (int p = offsets[u]; p < offsets[u + 1]; p++) s += dout[(long)rows[p] * cols + c];
            dtable[(long)uniqueIds[u] * cols + c] += s;
        }
    }

    public static void Forward(LaunchContext k, int[] ids, ArrayView<float> table, ArrayView<float> y, int cols)
    {
        if (ids.Length * cols == 0) return;
        using var d = k.Upload(ids);
        Forward(k, d.View, ids.Length, table, y, cols);
    }

    /// <summary>The same with the ids already on the device (the device-resident decode loop feeds its sampled
    /// tokens straight back in).</summary>
    public static void Forward(LaunchContext k, ArrayView<int> ids, int count, ArrayView<float> table, ArrayView<float> y,
        int cols)
    {
        int n = count * cols, t = k.Threads(n);
        if (n == 0) return;
        k.Auto<ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int>(ForwardKernel)(t, ids, table, y, cols, n, t);
    }

    public static void Backward(LaunchContext k, int[] ids, ArrayView<float> dout, ArrayView<float> dtable, int cols)
    {
        if (ids.Length == 0) return;
        // CSR on the host: the distinct ids, and for each the batch rows that hold it (in order).
        var groups = ids.Select((id, row) => (id, row)).GroupBy(p => p.id).OrderBy(g => g.Key).ToList();
        int[] unique = groups.Select(g => g.Key).ToArray();
        int[] offsets = new int[unique.Length + 1];
        int[] rows = new int[ids.Length];
        int at = 0;
        for (int u = 0; u < groups.Count; u++)
        {
            offsets[u] = at;
            foreach (var (_, row) in groups[u]) rows[at++] = row;
        }
        offsets[^1] = at;
        using var du = k.Upload(unique);
        using var doff = k.Upload(offsets);
        using var drows = k.Upload(rows);
        int n = unique.Length * cols, t = k.Threads(n);
        k.Auto<ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int>(BackwardKernel)(
            t, du.View, doff.View, drows.View, dout, dtable, cols, n, t);
    }
}
