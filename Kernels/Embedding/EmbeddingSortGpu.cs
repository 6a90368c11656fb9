using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Embedding;

/// <summary>
/// Embedding backward with the grouping done on the device (version 2; version 1 builds the same groups on the
/// host and uploads them). A counting sort puts each batch row under its id: a histogram of ids (integer atomics:
/// the counts do not depend on their order), an exclusive scan into bucket offsets, a scatter (the order inside a
/// bucket does depend on the atomics, so each bucket is then sorted by row), and one thread per (bucket, column)
/// sums its rows in ascending order and adds the sum — as version 1 does, so the same bits as version 1.
/// </summary>
public static class EmbeddingSortGpu
{
    const int ScanThreads = 256;

    static void HistogramKernel(Index1D i, ArrayView<int> ids, ArrayView<int> counts, int n, int stride)
    {
        for (int j = i; j < n; j += stride) Atomic.Add(ref counts[ids[j]], 1);
    }

    /// <summary>One group: offsets[v] = Σ counts[0..v) for v in [0, vocab]; each thread scans one chunk.</summary>
    static void ScanKernel(ArrayView<int> counts, ArrayView<int> offsets, int vocab)
    {
        var partial = SharedMemory.Allocate<int>(ScanThreads);
        int t = Group.IdxX, threads = Group.DimX;
        int chunk = (vocab + threads - 1) / threads, begin = Math.Min(vocab, t * chunk), end = Math.Min(vocab, begin + chunk);
        int sum = 0;
        for (int v = begin; v < end; v++) sum += counts[v];
        partial[t] = sum;
        Group.Barrier();
        if (t == 0)
        {
            int run = 0;                                    // exclusive scan of the chunk sums, in order
            for (int u = 0; u < threads; u++) { int s = partial[u]; partial[u] = run; run += s; }
            offsets[vocab] = run;
        }
        Group.Barrier();
        int at = partial[t];
        for (int v = begin; v < end; v++) { offsets[v] = at; at += counts[v]; }
    }

    static void ScatterKernel(Index1D i, ArrayView<int> ids, ArrayView<int> offsets, ArrayView<int> cursor,
        ArrayView<int> rows, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            int id = ids[j];
            rows[offsets[id] + Atomic.Add(ref cursor[id], 1)] = j;
        }
    }

    /// <summary>Insertion sort of each bucket's rows (buckets are short: a token's repeats within one batch).</summary>
    static void SortBucketsKernel(Index1D i, ArrayView<int> offsets, ArrayView<int> rows, int vocab, int stride)
    {
        for (int v = i; v < vocab; v += stride)
        {
            int begin = offsets[v], end = offsets[v + 1];
            for (int p = begin + 1; p < end; p++)
            {
                int row = rows[p], q = p - 1;
                while (q >= begin && rows[q] > row) { rows[q + 1] = rows[q]; q--; }
                rows[q + 1] = row;
            }
        }
    }

    /// <summary>One thread per (sorted position, column); the first position of each bucket adds the bucket's rows.</summary>
    static void SumKernel(Index1D i, ArrayView<int> ids, ArrayView<int> rows, ArrayView<float> dout, ArrayView<float> dtable,
        int cols, long n, int stride)
    {
        int count = (int)(n / cols);
        for (long j = i; j < n; j += stride)
        {
            int p = (int)(j / cols), c = (int)(j % cols);
            int id = ids[rows[p]];
            if (p > 0 && ids[rows[p - 1]] == id) continue;       // not the first row of its bucket
            float s = 0;
            for (int q = p; q < count && ids[rows[q]] == id; q++) s += dout[(long)rows[q] * cols + c];
            dtable[(long)id * cols + c] += s;
        }
    }

    public static void Backward(LaunchContext k, int[] ids, ArrayView<float> dout, ArrayView<float> dtable, int vocab, int cols)
    {
        int n = ids.Length;
        if (n == 0) return;
        using var dids = k.Upload(ids);
        using var counts = k.IntScratch(vocab);
        using var offsets = k.IntScratch(vocab + 1);
        using var rows = k.IntScratch(n);
        k.Auto<ArrayView<int>, ArrayView<int>, int, int>(HistogramKernel)(k.Threads(n), dids.View, counts.View, n, k.Threads(n));
        int threads = Math.Min(ScanThreads, k.MaxGroup);
        k.Grouped<ArrayView<int>, ArrayView<int>, int>(ScanKernel)(new KernelConfig(1, threads), counts.View, offsets.View, vocab);
        counts.View.MemSetToZero(k.Stream);                                     // reused as each bucket's fill cursor
        k.Auto<ArrayView<int>, ArrayView<int>, ArrayView<int>, ArrayView<int>, int, int>(ScatterKernel)(
            k.Threads(n), dids.View, offsets.View, counts.View, rows.View, n, k.Threads(n));
        k.Auto<ArrayView<int>, ArrayView<int>, int, int>(SortBucketsKernel)(
            k.Threads(vocab), offsets.View, rows.View, vocab, k.Threads(vocab));
        long total = (long)n * cols;
        int t = k.Threads(total);
        k.Auto<ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, long, int>(SumKernel)(
            t, dids.View, rows.View, dout, dtable, cols, total, t);
    }
}
